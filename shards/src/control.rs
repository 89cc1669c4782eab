//! The cross-core control channel: the one place where shards and the main thread talk.
//!
//! Messages are small and `Copy`; payload bytes never cross cores. Each shard owns a bounded
//! inbox (main → shard) and all shards share one outbox (shard → main).
//! It carries the lifecycle and memory-pressure changes ([`crate::pressure`]); rebalancing
//! comes later.

use crossbeam_channel::{bounded, Receiver, Sender};

/// How many control messages may wait for a shard; lifecycle needs only a handful.
pub const INBOX_LEN_MAX: usize = 64;

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
    /// Tells every shard to drain.
    pub fn broadcast(&self, message: ToShard) {
        for tx in &self.to_shards {
            let _ = tx.try_send(message);
        }
    }
}
