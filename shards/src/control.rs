//! The cross-core control channel: the one place where shards and the main thread talk.
//!
//! Messages are small and `Copy`; payload bytes never cross cores. Each shard owns a bounded
//! inbox (main → shard) and all shards share one outbox (shard → main).
//! It carries the lifecycle and memory-pressure changes ([`crate::pressure`]); rebalancing
//! comes later.

use std::time::Duration;

use crossbeam_channel::{bounded, Receiver, SendTimeoutError, Sender};

use crate::ShardError;

/// How many control messages may wait for a shard; lifecycle needs only a handful.
pub const INBOX_LEN_MAX: usize = 64;

/// How long the main thread waits for room in a shard's inbox before it reports the message
/// unsent. A live shard empties its inbox every control poll (50 ms), so only a stuck shard
/// makes a sender wait this long.
pub const SEND_TIMEOUT: Duration = Duration::from_secs(5);

/// A message from the main thread to one shard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ToShard {
    /// Stop accepting, flush, finish in-flight exports, then stop.
    Drain,
    /// The process's memory pressure changed (sent only on change; see [`crate::pressure`]).
    Pressure(crate::pressure::Level),
}

/// A message from a shard to the main thread.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FromShard {
    /// The shard listens and serves.
    Ready {
        /// Shard index.
        shard: usize,
    },
    /// The shard has finished draining and stopped.
    Stopped {
        /// Shard index.
        shard: usize,
    },
    /// The shard could not start or failed while running.
    Failed {
        /// Shard index.
        shard: usize,
        /// Why.
        reason: String,
    },
}

/// The main thread's end: one sender per shard and the shared receiver.
pub struct ControlPlane {
    pub(crate) to_shards: Vec<Sender<ToShard>>,
    pub(crate) from_shards: Receiver<FromShard>,
}

/// A shard's end of the control channel.
#[derive(Clone)]
pub struct ShardLink {
    pub(crate) inbox: Receiver<ToShard>,
    pub(crate) outbox: Sender<FromShard>,
}

/// Creates the channels for `shards` shards.
pub fn channels(shards: usize) -> (ControlPlane, Vec<ShardLink>) {
    // Each shard sends at most ready + stopped/failed; main never falls behind by more.
    let (outbox, from_shards) = bounded(shards.saturating_mul(4).max(4));
    let mut to_shards = Vec::with_capacity(shards);
    let mut links = Vec::with_capacity(shards);
    for _ in 0..shards {
        let (tx, inbox) = bounded(INBOX_LEN_MAX);
        to_shards.push(tx);
        links.push(ShardLink {
            inbox,
            outbox: outbox.clone(),
        });
    }
    (
        ControlPlane {
            to_shards,
            from_shards,
        },
        links,
    )
}

impl ShardLink {
    /// Sends to the main thread; a closed channel means main is gone and nobody listens.
    pub(crate) fn send(&self, message: FromShard) {
        let _ = self.outbox.send(message);
    }

    /// The next pending message for this shard, without waiting.
    pub(crate) fn try_recv(&self) -> Option<ToShard> {
        self.inbox.try_recv().ok()
    }
}

impl ControlPlane {
    /// Tells every shard `message`, waiting for room in a full inbox: a lifecycle or pressure
    /// message is never dropped. A shard that has stopped (its inbox is gone) needs no
    /// telling; one whose inbox stays full for [`SEND_TIMEOUT`] is reported.
    pub fn broadcast(&self, message: ToShard) -> Result<(), ShardError> {
        self.broadcast_within(message, SEND_TIMEOUT)
    }

    fn broadcast_within(&self, message: ToShard, timeout: Duration) -> Result<(), ShardError> {
        let mut unsent = Vec::new();
        for (shard, tx) in self.to_shards.iter().enumerate() {
            match tx.send_timeout(message, timeout) {
                Ok(()) | Err(SendTimeoutError::Disconnected(_)) => {}
                Err(SendTimeoutError::Timeout(_)) => unsent.push(shard),
            }
        }
        if unsent.is_empty() {
            Ok(())
        } else {
            Err(ShardError::Unsent {
                message: format!("{message:?}"),
                shards: unsent,
                waited: timeout,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pressure::Level;

    /// Scenario: a shard's inbox is full of pressure changes when the drain is sent, and the
    /// shard reads it 200 ms later. Guarantee: the drain waits for room and arrives, last.
    #[test]
    fn a_drain_behind_a_full_inbox_is_delivered() {
        let (plane, links) = channels(1);
        let Some(link) = links.into_iter().next() else {
            panic!("one link");
        };
        for _ in 0..INBOX_LEN_MAX {
            assert!(plane.broadcast(ToShard::Pressure(Level::Soft)).is_ok());
        }
        let reader = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(200));
            let mut seen = Vec::new();
            while let Ok(message) = link.inbox.recv_timeout(Duration::from_secs(5)) {
                seen.push(message);
                if message == ToShard::Drain {
                    break;
                }
            }
            seen
        });
        assert!(plane.broadcast(ToShard::Drain).is_ok());
        let seen = reader.join().unwrap_or_default();
        assert_eq!(seen.len(), INBOX_LEN_MAX + 1);
        assert_eq!(seen.last(), Some(&ToShard::Drain));
    }

    /// Scenario: one shard never reads its full inbox; another has stopped. Guarantee: the
    /// stuck one is reported by index, the stopped one is not an error.
    #[test]
    fn a_stuck_shard_is_reported_and_a_stopped_one_is_not() {
        let (plane, mut links) = channels(2);
        drop(links.pop());
        let stuck = links;
        for _ in 0..INBOX_LEN_MAX {
            assert!(plane.broadcast(ToShard::Pressure(Level::Hard)).is_ok());
        }
        let result = plane.broadcast_within(ToShard::Drain, Duration::from_millis(20));
        match result {
            Err(ShardError::Unsent { shards, .. }) => assert_eq!(shards, vec![0]),
            other => panic!("expected shard 0 unsent, got {other:?}"),
        }
        drop(stuck);
    }
}
