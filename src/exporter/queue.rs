//! The bounded sending queue of one exporter on one shard, and the fan-out rule.
//!
//! Every exporter of every pipeline has its own queue per shard. A queue counts what its
//! exporter holds (waiting for one of `num_consumers` slots, or being sent and retried) in
//! `sending_queue.sizer` units against `sending_queue.queue_size`, and the bytes of it against
//! the exporter's share of the shard budget (`shards.pending_bytes_max` divided by the number
//! of exporter instances on the shard).
//!
//! The rule, step by step:
//! 1. Admission (before a client is answered): a request is accepted only if every exporter
//!    that is *healthy* (its last attempt succeeded, or none was made yet) has room below
//!    `queue_size`, and at least one exporter of the pipeline is not failing or has room.
//!    Otherwise the client gets a retryable refusal and keeps its data. A failing exporter
//!    never gates admission, so a dead backend cannot starve the healthy ones.
//! 2. Enqueue (data already acknowledged): a copy always enters the queue of a healthy
//!    exporter (it may go past `queue_size` by what the batch buffers held when admission
//!    stopped; the shard budget, where those bytes are reserved, bounds that).
//! 3. A failing exporter whose queue or byte share is full, with `block_on_overflow: false`,
//!    drops its copy when at least one other exporter of the fan-out is healthy: logged and
//!    counted in `otelcol_exporter_enqueue_failed_*` for that exporter only. The healthy ones
//!    still get theirs, exactly once. When every exporter is failing (e.g. the only backend is
//!    down) nothing is dropped: the copies are kept (bounded by the shard budget) and step 1
//!    refuses new data once the queues are full.
//! 4. With `block_on_overflow: true` a copy is never dropped: it is kept until delivered or
//!    `max_elapsed_time` runs out, and the shard budget (step 1 of the receivers) pushes back
//!    on clients instead — a dead backend then stalls the pipeline, as in otelcol.

use std::cell::Cell;
use std::rc::Rc;

use crate::config::{QueueConfig, QueueSizer};

/// The queue `sending_queue` asks for. `enabled: false` exports synchronously as otelcol does:
/// one request at a time (see [`consumers`]) and no waiting room, so admission refuses while
/// that request is out, and the acknowledged data is never dropped (it waits instead).
pub fn from_config(config: &QueueConfig, share_bytes: usize) -> Rc<Queue> {
    if !config.enabled {
        return Queue::new(QueueSizer::Requests, 1, true, share_bytes);
    }
    Queue::new(
        config.sizer,
        u64::from(config.queue_size),
        config.block_on_overflow,
        share_bytes,
    )
}

/// Requests in flight at once: `num_consumers`, or 1 when the queue is disabled.
pub fn consumers(config: &QueueConfig) -> u32 {
    if config.enabled {
        config.num_consumers
    } else {
        1
    }
}

/// Per-exporter queue accounting; clones of its [`Ticket`]s release on drop.
#[derive(Debug)]
pub struct Queue {
    sizer: QueueSizer,
    capacity: u64,
    block_on_overflow: bool,
    used: Cell<u64>,
    bytes_held: Cell<usize>,
    bytes_max: usize,
    failing: Cell<bool>,
}

/// Why a copy was not queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum EnqueueError {
    /// The exporter is failing and its queue or byte share is full.
    #[error("sending queue is full")]
    Full,
}

impl Queue {
    /// A queue of `capacity` `sizer` units and at most `bytes_max` bytes.
    pub fn new(
        sizer: QueueSizer,
        capacity: u64,
        block_on_overflow: bool,
        bytes_max: usize,
    ) -> Rc<Queue> {
        Rc::new(Queue {
            sizer,
            capacity,
            block_on_overflow,
            used: Cell::new(0),
            bytes_held: Cell::new(0),
            bytes_max: bytes_max.max(1),
            failing: Cell::new(false),
        })
    }

    /// The size of a request of `items` items and `bytes` bytes in this queue's units.
    pub fn size_of(&self, items: u64, bytes: usize) -> u64 {
        match self.sizer {
            QueueSizer::Requests => 1,
            QueueSizer::Items => items,
            QueueSizer::Bytes => bytes as u64,
        }
    }

    /// Units held now.
    pub fn used(&self) -> u64 {
        self.used.get()
    }

    /// Whether the last export attempt failed.
    pub fn is_failing(&self) -> bool {
        self.failing.get()
    }

    /// Records the outcome of an export attempt.
    pub fn set_failing(&self, failing: bool) {
        self.failing.set(failing);
    }

    /// Whether new data may be acknowledged as far as this queue is concerned.
    pub fn has_room(&self) -> bool {
        self.used.get() < self.capacity && self.bytes_held.get() < self.bytes_max
    }

    /// Takes a copy of `items`/`bytes` per the rule in the module docs.
    /// `keep` forces the copy in (no healthy exporter would have the data otherwise).
    pub fn try_enqueue(
        self: &Rc<Self>,
        items: u64,
        bytes: usize,
        keep: bool,
    ) -> Result<Ticket, EnqueueError> {
        let size = self.size_of(items, bytes);
        let fits_bytes = self.bytes_held.get().saturating_add(bytes) <= self.bytes_max
            || self.bytes_held.get() == 0;
        let fits_queue = self.used.get().saturating_add(size) <= self.capacity || self.used() == 0;
        // A healthy exporter takes every acknowledged copy: the shard budget bounds the bytes,
        // since every copy's bytes were reserved there before the client was answered.
        let take =
            keep || self.block_on_overflow || !self.failing.get() || (fits_bytes && fits_queue);
        if !take {
            return Err(EnqueueError::Full);
        }
        self.used.set(self.used.get().saturating_add(size));
        self.bytes_held
            .set(self.bytes_held.get().saturating_add(bytes));
        Ok(Ticket {
            queue: self.clone(),
            size,
            bytes,
        })
    }
}

/// One queued copy; gives its room back when dropped (delivered or given up).
#[derive(Debug)]
pub struct Ticket {
    queue: Rc<Queue>,
    size: u64,
    bytes: usize,
}

impl Drop for Ticket {
    fn drop(&mut self) {
        let q = &self.queue;
        // Invariant: a ticket gives back exactly what it took, so the queue never goes below 0.
        debug_assert!(q.used.get() >= self.size && q.bytes_held.get() >= self.bytes);
        q.used.set(q.used.get().saturating_sub(self.size));
        q.bytes_held
            .set(q.bytes_held.get().saturating_sub(self.bytes));
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    impl Queue {
        fn try_enqueue_t(
            self: &Rc<Self>,
            items: u64,
            bytes: usize,
        ) -> Result<Ticket, EnqueueError> {
            self.try_enqueue(items, bytes, false)
        }
    }

    #[test]
    fn a_copy_nobody_healthy_would_have_is_kept() {
        let q = Queue::new(QueueSizer::Requests, 1, false, 100);
        q.set_failing(true);
        let _a = q.try_enqueue(1, 10, false).unwrap();
        assert!(q.try_enqueue(1, 10, false).is_err());
        assert!(q.try_enqueue(1, 10, true).is_ok());
    }

    #[test]
    fn disabled_queue_is_synchronous() {
        let config = QueueConfig {
            enabled: false,
            ..QueueConfig::default()
        };
        assert_eq!(consumers(&config), 1);
        assert_eq!(consumers(&QueueConfig::default()), 10);
        let q = from_config(&config, 1000);
        let _a = q.try_enqueue_t(100, 10).unwrap();
        assert!(!q.has_room());
        q.set_failing(true);
        assert!(
            q.try_enqueue_t(100, 10).is_ok(),
            "never dropped: waits instead"
        );
    }

    #[test]
    fn sizers_count_their_unit() {
        let q = Queue::new(QueueSizer::Requests, 10, false, 1000);
        assert_eq!(q.size_of(7, 300), 1);
        let q = Queue::new(QueueSizer::Items, 10, false, 1000);
        assert_eq!(q.size_of(7, 300), 7);
        let q = Queue::new(QueueSizer::Bytes, 10, false, 1000);
        assert_eq!(q.size_of(7, 300), 300);
    }

    #[test]
    fn healthy_queue_keeps_acknowledged_data_past_capacity_but_refuses_admission() {
        let q = Queue::new(QueueSizer::Requests, 2, false, 1000);
        let a = q.try_enqueue_t(1, 10).unwrap();
        let b = q.try_enqueue_t(1, 10).unwrap();
        assert!(!q.has_room());
        // Already acknowledged data for a healthy exporter is kept.
        let c = q.try_enqueue_t(1, 10).unwrap();
        assert_eq!(q.used(), 3);
        drop((a, b, c));
        assert_eq!(q.used(), 0);
        assert!(q.has_room());
    }

    #[test]
    fn failing_queue_drops_on_overflow_unless_blocking() {
        let q = Queue::new(QueueSizer::Items, 10, false, 1000);
        q.set_failing(true);
        let _a = q.try_enqueue_t(8, 10).unwrap();
        assert_eq!(q.try_enqueue_t(3, 10).unwrap_err(), EnqueueError::Full);
        let _b = q.try_enqueue_t(2, 10).unwrap();
        let blocking = Queue::new(QueueSizer::Items, 10, true, 1000);
        blocking.set_failing(true);
        let _c = blocking.try_enqueue_t(8, 10).unwrap();
        assert!(blocking.try_enqueue_t(8, 10).is_ok());
    }

    #[test]
    fn byte_share_bounds_a_failing_exporter() {
        let q = Queue::new(QueueSizer::Requests, 100, false, 100);
        q.set_failing(true);
        let _a = q.try_enqueue_t(1, 80).unwrap();
        assert!(q.has_room());
        assert!(q.try_enqueue_t(1, 30).is_err());
        let _b = q.try_enqueue_t(1, 20).unwrap();
        assert!(!q.has_room());
        q.set_failing(false);
        assert!(q.try_enqueue_t(1, 30).is_ok());
        // An empty queue always takes one request, however large, so nothing is stuck.
        let empty = Queue::new(QueueSizer::Bytes, 10, false, 10);
        assert!(empty.try_enqueue_t(1, 500).is_ok());
    }
}
