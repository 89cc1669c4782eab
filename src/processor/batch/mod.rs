//! The `batch` processor: batch buffers per shard per pipeline.
//!
//! A buffer holds encoded resource messages as received. It is sent on when it holds
//! `send_batch_size` items, or `timeout` after its oldest item arrived, or when the shard
//! drains. A send holds at most `send_batch_max_size` items (0 = no cap); a resource message
//! larger than what is left is split so that every item keeps its resource and scope.
//!
//! Without `metadata_keys` there is one buffer, never removed, and batches are sent without
//! client metadata (as otelcol's). With them, each distinct combination of those keys' values
//! (a missing key is its own value) has its own buffer, so one export never mixes clients, and
//! its batches carry that combination as their metadata (what `headers_setter` reads). A
//! keyed buffer lives while it holds data and is removed when it empties, so at most
//! `metadata_cardinality_limit` combinations hold data at once: a request that would start one
//! more is refused when it is admitted, retryably (it can succeed once a buffer is sent).
//! otelcol keeps its buffers for the process's life and refuses such data permanently.
//!
//! Invariants, checked by `debug_assert!` in every debug build (the test suite runs them):
//! - a buffer's `items` is the sum of its chunks' items: each item counted once;
//! - a send takes at most what the buffer holds and at most `send_batch_max_size` (when set);
//! - a buffer's reservation is what its chunks were admitted with, and an empty buffer
//!   holds no items.

pub mod config;

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use shardgate_shards::{task, DrainSignal};

use crate::config::BatchConfig;
use crate::exporter::ExportError;
use crate::observe::BatchCounters;
use crate::otlp::{self, ResourceChunk};
use crate::pipeline::budget::{Budget, Reservation};
use crate::pipeline::downstream::Downstream;
use crate::pipeline::metadata::Metadata;
use crate::pipeline::payload::Payload;
use crate::signal::Signal;

struct Buffer {
    chunks: VecDeque<ResourceChunk>,
    items: u64,
    reservation: Reservation,
    oldest: Option<Instant>,
}

impl Buffer {
    fn new(budget: &Budget) -> Buffer {
        Buffer {
            chunks: VecDeque::new(),
            items: 0,
            reservation: budget.empty(),
            oldest: None,
        }
    }

    /// Whether `items` is the sum of the chunks' items (an invariant of the module).
    fn counts_agree(&self) -> bool {
        self.items == self.chunks.iter().map(|c| u64::from(c.items)).sum::<u64>()
    }
}

/// One pipeline's batch buffers on one shard.
pub struct BatchProcessor {
    signal: Signal,
    send_batch_size: u64,
    send_batch_max_size: u64,
    timeout: Duration,
    metadata_keys: Vec<String>,
    cardinality_limit: usize,
    /// Per combination of `metadata_keys` values; the one buffer (empty key) without them.
    buffers: RefCell<HashMap<Metadata, Buffer>>,
    budget: Budget,
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
        let mut buffers = HashMap::new();
        if config.metadata_keys.is_empty() {
            buffers.insert(Metadata::default(), Buffer::new(budget));
        }
        BatchProcessor {
            signal,
            send_batch_size: u64::from(config.send_batch_size.max(1)),
            send_batch_max_size: u64::from(config.send_batch_max_size),
            timeout: config.timeout,
            metadata_keys: config.metadata_keys.clone(),
            cardinality_limit: usize::try_from(config.metadata_cardinality_limit)
                .unwrap_or(usize::MAX),
            buffers: RefCell::new(buffers),
            budget: budget.clone(),
            next,
            counters: None,
        }
    }

    /// Counts batch sizes and triggers into `counters`.
    pub fn observed(mut self, counters: Option<Arc<BatchCounters>>) -> Self {
        self.counters = counters;
        self
    }

    /// The buffer `metadata` belongs to: its values of `metadata_keys`, or the one buffer.
    fn key_of(&self, metadata: &Metadata) -> Metadata {
        match self.metadata_keys.is_empty() {
            true => Metadata::default(),
            false => metadata.select(&self.metadata_keys),
        }
    }

    /// Checks, before data is acknowledged, that its buffer exists or may be started:
    /// refused (retryably) when `metadata_cardinality_limit` combinations already hold data.
    pub fn admit(&self, payload: &Payload) -> Result<(), ExportError> {
        if self.metadata_keys.is_empty() {
            return Ok(());
        }
        let buffers = self.buffers.borrow();
        if buffers.len() < self.cardinality_limit
            || buffers.contains_key(&self.key_of(&payload.metadata))
        {
            return Ok(());
        }
        Err(ExportError::retryable(format!(
            "too many batcher metadata-value combinations (metadata_cardinality_limit {}); retry later",
            self.cardinality_limit
        )))
    }

    /// Appends `payload`, admitted by [`BatchProcessor::admit`], sending full batches on.
    pub fn consume_admitted(&self, payload: Payload) {
        self.append(payload, true);
    }

    /// Appends `payload` that an earlier stage has already acknowledged, sending full batches
    /// on; past `metadata_cardinality_limit` it is dropped (logged with its count).
    pub fn consume(&self, payload: Payload) {
        self.append(payload, false);
    }

    fn append(&self, payload: Payload, admitted: bool) {
        let key = self.key_of(&payload.metadata);
        let full = {
            let mut buffers = self.buffers.borrow_mut();
            if !buffers.contains_key(&key) {
                // Admitted data was counted in when it was checked; a buffer sent in between
                // may make it start a new one even at the limit.
                if !admitted && buffers.len() >= self.cardinality_limit {
                    tracing::error!(
                        dropped_items = payload.items,
                        signal = %self.signal,
                        "too many batcher metadata-value combinations (metadata_cardinality_limit {}). Dropping data.",
                        self.cardinality_limit
                    );
                    return;
                }
                buffers.insert(key.clone(), Buffer::new(&self.budget));
                if let Some(c) = &self.counters {
                    c.metadata_cardinality.inc(1);
                }
            }
            let Some(buffer) = buffers.get_mut(&key) else {
                return;
            };
            buffer.items += payload.items;
            buffer.chunks.extend(payload.chunks);
            buffer.reservation.merge(payload.reservation);
            buffer.oldest.get_or_insert_with(Instant::now);
            debug_assert!(buffer.counts_agree());
            buffer.items >= self.send_batch_size
        };
        if full {
            while self.buffered_in(&key) >= self.send_batch_size {
                self.send_one(&key, Trigger::Size);
            }
        }
    }

    fn buffered_in(&self, key: &Metadata) -> u64 {
        self.buffers.borrow().get(key).map_or(0, |b| b.items)
    }

    /// Sends everything buffered, in batches of at most `send_batch_max_size` items.
    pub fn flush(&self) {
        self.flush_where(Trigger::Flush, |_| true);
    }

    /// Sends every buffer whose oldest item `due(oldest)` says is due.
    fn flush_where(&self, trigger: Trigger, due: impl Fn(Instant) -> bool) {
        let keys: Vec<Metadata> = self
            .buffers
            .borrow()
            .iter()
            .filter(|(_, b)| b.oldest.is_some_and(&due) && !b.chunks.is_empty())
            .map(|(k, _)| k.clone())
            .collect();
        for key in keys {
            while self
                .buffers
                .borrow()
                .get(&key)
                .is_some_and(|b| !b.chunks.is_empty())
            {
                self.send_one(&key, trigger);
            }
        }
    }

    /// The stage batches are sent to.
    pub fn next(&self) -> &dyn Downstream {
        &*self.next
    }

    /// Items waiting in the buffers.
    pub fn buffered_items(&self) -> u64 {
        self.buffers.borrow().values().map(|b| b.items).sum()
    }

    /// Sends buffers whose oldest item is `timeout` old, until the shard drains.
    pub async fn run_timer(self: Rc<Self>, drain: DrainSignal) {
        while !drain.is_draining() {
            let oldest = self
                .buffers
                .borrow()
                .values()
                .filter_map(|b| b.oldest)
                .min();
            let wait = match oldest {
                Some(oldest) => self.timeout.saturating_sub(oldest.elapsed()),
                None => self.timeout,
            };
            if wait.is_zero() {
                let timeout = self.timeout;
                self.flush_where(Trigger::Timeout, |oldest| oldest.elapsed() >= timeout);
                continue;
            }
            let drained = task::timeout(wait, drain.wait()).await;
            if drained.is_some() {
                return;
            }
        }
    }

    /// Takes one batch from the front of buffer `key` and hands it to the next stage; a keyed
    /// buffer left empty is removed.
    fn send_one(&self, key: &Metadata, trigger: Trigger) {
        let payload = {
            let mut buffers = self.buffers.borrow_mut();
            let Some(buffer) = buffers.get_mut(key) else {
                return;
            };
            let (payload, emptied) = self.take_batch(buffer);
            if emptied && !self.metadata_keys.is_empty() {
                buffers.remove(key);
                if let Some(c) = &self.counters {
                    c.metadata_cardinality.dec(1);
                }
            }
            payload.with_metadata(key.clone())
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

    /// One batch from the front of `buffer`, and whether that left it empty.
    fn take_batch(&self, buffer: &mut Buffer) -> (Payload, bool) {
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
        let emptied = buffer.chunks.is_empty();
        let reservation = if emptied {
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
        let payload = Payload {
            signal: self.signal,
            chunks,
            items,
            bytes,
            reservation,
            metadata: Metadata::default(),
        };
        (payload, emptied)
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

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::cell::RefCell;

    use bytes::Bytes;

    use super::*;

    /// A batch as sent on: its metadata pairs and item count.
    type Sent = (Vec<(String, String)>, u64);

    /// Records every batch sent on.
    #[derive(Default)]
    struct Sink(RefCell<Vec<Sent>>);

    impl Downstream for Sink {
        fn dispatch(&self, payload: Payload) {
            let metadata = payload.metadata.iter();
            let metadata = metadata
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect();
            self.0.borrow_mut().push((metadata, payload.items));
        }

        fn has_room(&self) -> bool {
            true
        }
    }

    fn span(budget: &Budget, tenant: Option<&str>) -> Payload {
        let chunk = ResourceChunk {
            bytes: Bytes::from_static(b"x"),
            items: 1,
        };
        let mut headers = vec![("user-agent", "test")];
        headers.extend(tenant.map(|t| ("X-Tenant", t)));
        Payload::new(Signal::Traces, vec![chunk], budget.try_reserve(1).unwrap())
            .with_metadata(Metadata::from_pairs(headers))
    }

    fn processor(keys: &[&str], limit: u32, budget: &Budget) -> (BatchProcessor, Rc<Sink>) {
        let config = BatchConfig {
            send_batch_size: 2,
            metadata_keys: keys.iter().map(|k| (*k).to_owned()).collect(),
            metadata_cardinality_limit: limit,
            ..BatchConfig::default()
        };
        let sink = Rc::new(Sink::default());
        let batch = BatchProcessor::new(Signal::Traces, &config, budget, sink.clone());
        (batch, sink)
    }

    fn tenant(t: &str) -> Vec<(String, String)> {
        vec![("x-tenant".to_owned(), t.to_owned())]
    }

    /// Scenario: keys `[x-tenant]`, a limit of 2 combinations, batches of 2 items. Guarantee:
    /// each batch holds one tenant and carries only that key; a third tenant is refused
    /// while two hold data and admitted once one was sent; every reservation is released.
    #[test]
    fn batches_by_tenant_within_the_cardinality_limit() {
        let budget = Budget::new(1 << 20);
        let (batch, sink) = processor(&["x-tenant"], 2, &budget);
        for t in [Some("a"), Some("b")] {
            let payload = span(&budget, t);
            batch.admit(&payload).unwrap();
            batch.consume_admitted(payload);
        }
        let c = span(&budget, Some("c"));
        assert!(batch.admit(&c).unwrap_err().is_retryable());
        batch.consume_admitted(span(&budget, Some("a")));
        assert_eq!(*sink.0.borrow(), [(tenant("a"), 2)]);
        batch.admit(&c).unwrap();
        batch.consume_admitted(c);
        let none = span(&budget, None);
        assert!(
            batch.admit(&none).is_err(),
            "a missing key is a combination too"
        );
        batch.flush();
        let mut sent = sink.0.borrow().clone();
        sent.sort();
        assert_eq!(sent, [(tenant("a"), 2), (tenant("b"), 1), (tenant("c"), 1)]);
        assert_eq!(batch.buffered_items(), 0);
        drop(none);
        assert_eq!(budget.used_bytes(), 0);
    }

    /// Without `metadata_keys`, one batch takes every client's data and carries no metadata.
    #[test]
    fn without_keys_one_batch_carries_no_metadata() {
        let budget = Budget::new(1 << 20);
        let (batch, sink) = processor(&[], 1, &budget);
        for t in [Some("a"), Some("b"), None, Some("c")] {
            let payload = span(&budget, t);
            batch.admit(&payload).unwrap();
            batch.consume_admitted(payload);
        }
        assert_eq!(*sink.0.borrow(), [(vec![], 2), (vec![], 2)]);
    }
}
