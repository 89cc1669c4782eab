//! The cross-core control channel: the one place where shards and the main thread talk.
//!
//! Messages are small and `Copy`; payload bytes never cross cores here (requests handed off
//! for rebalancing go through [`crate::handoff`]). Each shard owns a bounded inbox (main and
//! peers → shard) and all shards share one outbox (shard → main). It carries the lifecycle,
//! memory-pressure changes ([`crate::pressure`]) and each shard's load ([`crate::load`]).
//!
//! A sender wakes the inbox's owner through an [`AtomicWaker`] beside the inbox (glommio
//! turns a foreign wake into a write to the executor's eventfd), so an idle shard does not
//! poll its inbox on a short timer.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use atomic_waker::AtomicWaker;
use crossbeam_channel::{bounded, Receiver, SendTimeoutError, Sender};

use crate::load::Load;
use crate::ShardError;

/// How many lifecycle and pressure messages may wait for a shard; lifecycle needs only a
/// handful. Each inbox has room for two loads from every peer on top.
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
    /// A peer's load, published every rebalance interval.
    Load {
        /// The peer's index.
        shard: usize,
        /// Its load.
        load: Load,
    },
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

/// Every shard's inbox sender and waker, shared by the main thread and the shards.
struct Inboxes {
    senders: Vec<Sender<ToShard>>,
    wakers: Vec<AtomicWaker>,
}

impl Inboxes {
    fn wake(&self, shard: usize) {
        if let Some(waker) = self.wakers.get(shard) {
            waker.wake();
        }
    }
}

/// The main thread's end: one sender per shard and the shared receiver.
pub struct ControlPlane {
    inboxes: Arc<Inboxes>,
    pub(crate) from_shards: Receiver<FromShard>,
}

/// A shard's end of the control channel.
#[derive(Clone)]
pub struct ShardLink {
    shard: usize,
    inbox: Receiver<ToShard>,
    inboxes: Arc<Inboxes>,
    pub(crate) outbox: Sender<FromShard>,
}

/// Room in each inbox of `shards` shards.
fn inbox_len(shards: usize) -> usize {
    INBOX_LEN_MAX.saturating_add(shards.saturating_mul(2))
}

/// Creates the channels for `shards` shards.
pub fn channels(shards: usize) -> (ControlPlane, Vec<ShardLink>) {
    // Each shard sends at most ready + stopped/failed; main never falls behind by more.
    let (outbox, from_shards) = bounded(shards.saturating_mul(4).max(4));
    let mut senders = Vec::with_capacity(shards);
    let mut receivers = Vec::with_capacity(shards);
    for _ in 0..shards {
        let (tx, inbox) = bounded(inbox_len(shards));
        senders.push(tx);
        receivers.push(inbox);
    }
    let inboxes = Arc::new(Inboxes {
        senders,
        wakers: (0..shards).map(|_| AtomicWaker::new()).collect(),
    });
    let links = receivers
        .into_iter()
        .enumerate()
        .map(|(shard, inbox)| ShardLink {
            shard,
            inbox,
            inboxes: inboxes.clone(),
            outbox: outbox.clone(),
        })
        .collect();
    (
        ControlPlane {
            inboxes,
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

    /// Completes once this shard's inbox holds a message.
    pub(crate) fn readable(&self) -> Readable<'_> {
        Readable { link: self }
    }

    /// Tells every peer this shard's `load`. A peer whose inbox is full misses this one; the
    /// next interval brings a newer one, so a load is never worth waiting for.
    pub(crate) fn publish_load(&self, load: Load) {
        let message = ToShard::Load {
            shard: self.shard,
            load,
        };
        for (peer, tx) in self.inboxes.senders.iter().enumerate() {
            if peer != self.shard && tx.try_send(message).is_ok() {
                self.inboxes.wake(peer);
            }
        }
    }
}

/// Future returned by [`ShardLink::readable`].
pub(crate) struct Readable<'a> {
    link: &'a ShardLink,
}

impl Future for Readable<'_> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if !self.link.inbox.is_empty() {
            return Poll::Ready(());
        }
        let Some(waker) = self.link.inboxes.wakers.get(self.link.shard) else {
            return Poll::Pending;
        };
        waker.register(cx.waker());
        // A message sent between the check and the registration woke nobody: look again.
        if self.link.inbox.is_empty() {
            Poll::Pending
        } else {
            Poll::Ready(())
        }
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
        for (shard, tx) in self.inboxes.senders.iter().enumerate() {
            match tx.send_timeout(message, timeout) {
                Ok(()) => self.inboxes.wake(shard),
                Err(SendTimeoutError::Disconnected(_)) => {}
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
        for _ in 0..inbox_len(1) {
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
        assert_eq!(seen.len(), inbox_len(1) + 1);
        assert_eq!(seen.last(), Some(&ToShard::Drain));
    }

    /// Scenario: one shard never reads its full inbox; another has stopped. Guarantee: the
    /// stuck one is reported by index, the stopped one is not an error.
    #[test]
    fn a_stuck_shard_is_reported_and_a_stopped_one_is_not() {
        let (plane, mut links) = channels(2);
        drop(links.pop());
        let stuck = links;
        for _ in 0..inbox_len(2) {
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
