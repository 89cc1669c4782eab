//! The `batch` processor: one buffer per shard per pipeline.
//!
//! The buffer holds encoded resource messages as received. It is sent on when it holds
//! `send_batch_size` items, or `timeout` after its oldest item arrived, or when the shard
//! drains. A send holds at most `send_batch_max_size` items (0 = no cap); a resource message
//! larger than what is left is split so that every item keeps its resource and scope.
//!
//! Invariants, checked by `debug_assert!` in every debug build (the test suite runs them):
//! - the buffer's `items` is the sum of its chunks' items: each item counted once;
//! - a send takes at most what the buffer holds and at most `send_batch_max_size` (when set);
//! - the buffer's reservation is what its chunks were admitted with, and an empty buffer
//!   holds no items.

pub mod config;

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use shardgate_shards::{task, DrainSignal};

use crate::config::BatchConfig;
use crate::observe::BatchCounters;
use crate::otlp::{self, ResourceChunk};
use crate::pipeline::budget::{Budget, Reservation};
use crate::pipeline::downstream::Downstream;
use crate::pipeline::payload::Payload;
use crate::signal::Signal;

struct Buffer {
    chunks: VecDeque<ResourceChunk>,
    items: u64,
    reservation: Reservation,
    oldest: Option<Instant>,
}

impl Buffer {
    /// Whether `items` is the sum of the chunks' items (an invariant of the module).
    fn counts_agree(&self) -> bool {
        self.items == self.chunks.iter().map(|c| u64::from(c.items)).sum::<u64>()
    }
}

/// One pipeline's batch buffer on one shard.
pub struct BatchProcessor {
    signal: Signal,
    send_batch_size: u64,
    send_batch_max_size: u64,
    timeout: Duration,
    buffer: RefCell<Buffer>,
    next: Rc<dyn Downstream>,
    counters: Option<Arc<BatchCounters>>,
}

/// Why a batch was sent, for otelcol's trigger counters.
#[derive(Clone, Copy)]
enum Trigger {
    Size,
    Timeout,
    /// Drain flush: counted in neither, as otelcol counts shutdown flushes in neither.
    Flush,
}

impl BatchProcessor {
    /// A processor that sends its batches to `next`.
    pub fn new(
        signal: Signal,
        config: &BatchConfig,
        budget: &Budget,
        next: Rc<dyn Downstream>,
    ) -> Self {
        BatchProcessor {
            signal,
            send_batch_size: u64::from(config.send_batch_size.max(1)),
            send_batch_max_size: u64::from(config.send_batch_max_size),
            timeout: config.timeout,
            buffer: RefCell::new(Buffer {
                chunks: VecDeque::new(),
                items: 0,
                reservation: budget.empty(),
                oldest: None,
            }),
            next,
            counters: None,
        }
    }

    /// Counts batch sizes and triggers into `counters`.
    pub fn observed(mut self, counters: Option<Arc<BatchCounters>>) -> Self {
        self.counters = counters;
        self
    }

    /// Appends `payload`, sending full batches on.
    pub fn consume(&self, payload: Payload) {
        {
            let mut buffer = self.buffer.borrow_mut();
            buffer.items += payload.items;
            buffer.chunks.extend(payload.chunks);
            buffer.reservation.merge(payload.reservation);
            buffer.oldest.get_or_insert_with(Instant::now);
        }
        debug_assert!(self.buffer.borrow().counts_agree());
        while self.buffer.borrow().items >= self.send_batch_size {
            self.send_one(Trigger::Size);
        }
    }

    /// Sends everything buffered, in batches of at most `send_batch_max_size` items.
    pub fn flush(&self) {
        self.flush_for(Trigger::Flush);
    }

    fn flush_for(&self, trigger: Trigger) {
        while !self.buffer.borrow().chunks.is_empty() {
            self.send_one(trigger);
        }
    }

    /// The stage batches are sent to.
    pub fn next(&self) -> &dyn Downstream {
        &*self.next
    }

    /// Items waiting in the buffer.
    pub fn buffered_items(&self) -> u64 {
        self.buffer.borrow().items
    }

    /// Sends buffers whose oldest item is `timeout` old, until the shard drains.
    pub async fn run_timer(self: Rc<Self>, drain: DrainSignal) {
        while !drain.is_draining() {
            let oldest = self.buffer.borrow().oldest;
            let wait = match oldest {
                Some(oldest) => self.timeout.saturating_sub(oldest.elapsed()),
                None => self.timeout,
            };
            if wait.is_zero() {
                self.flush_for(Trigger::Timeout);
                continue;
            }
            let drained = task::timeout(wait, drain.wait()).await;
            if drained.is_some() {
                return;
            }
        }
    }

    /// Takes one batch from the front of the buffer and hands it to the next stage.
    fn send_one(&self, trigger: Trigger) {
        let payload = {
            let mut buffer = self.buffer.borrow_mut();
            let cap = match self.send_batch_max_size {
                0 => buffer.items,
                max => max.min(buffer.items),
            };
            let (chunks, items) = take_items(self.signal, &mut buffer.chunks, cap);
            debug_assert!(
                items <= cap && items <= buffer.items,
                "batch takes more than it holds"
            );
            buffer.items -= items;
            let bytes: usize = chunks.iter().map(|c| c.bytes.len()).sum();
            let reservation = if buffer.chunks.is_empty() {
                buffer.oldest = None;
                buffer.items = 0;
                let empty = buffer.reservation.split_off(0);
                std::mem::replace(&mut buffer.reservation, empty)
            } else {
                buffer.oldest = Some(Instant::now());
                buffer.reservation.split_off(bytes)
            };
            debug_assert!(buffer.counts_agree());
            debug_assert!(!buffer.chunks.is_empty() || buffer.items == 0);
            Payload {
                signal: self.signal,
                chunks,
                items,
                bytes,
                reservation,
            }
        };
        if let Some(c) = &self.counters {
            c.send_size.observe(payload.items as f64);
            match trigger {
                Trigger::Size => c.size_trigger.add(1),
                Trigger::Timeout => c.timeout_trigger.add(1),
                Trigger::Flush => {}
            }
        }
        self.next.dispatch(payload);
    }
}

/// Takes chunks holding up to `cap` items from the front, splitting the last one if needed.
/// Chunks with no items ride along with the batch they are in front of.
fn take_items(
    signal: Signal,
    chunks: &mut VecDeque<ResourceChunk>,
    cap: u64,
) -> (Vec<ResourceChunk>, u64) {
    let mut taken = Vec::new();
    let mut items = 0u64;
    while let Some(chunk) = chunks.pop_front() {
        debug_assert!(items <= cap);
        let room = cap - items;
        let chunk_items = u64::from(chunk.items);
        if chunk_items <= room {
            items += chunk_items;
            taken.push(chunk);
            continue;
        }
        if room == 0 {
            chunks.push_front(chunk);
            break;
        }
        // room < chunk.items here, so room fits u32.
        let first = u32::try_from(room).unwrap_or(u32::MAX);
        match otlp::split_chunk(signal, &chunk, first) {
            Ok((head, tail)) => {
                items += u64::from(head.items);
                taken.push(head);
                chunks.push_front(tail);
            }
            Err(error) => {
                // Unreachable for chunks that passed the scan; send it whole rather than lose it.
                tracing::warn!(%error, "cannot split a resource message; sending it whole");
                items += chunk_items;
                taken.push(chunk);
            }
        }
        break;
    }
    (taken, items)
}
