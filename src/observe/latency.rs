//! Per-shard latency: an hdrhistogram the shard records into, and a snapshot slot the
//! admin thread reads.
//!
//! Protocol (a seqlock with one writer):
//! 1. the shard records each duration into its own `Histogram` (shard-local, no atomics);
//! 2. once a second it publishes: sequence → odd, write every field, sequence → even;
//! 3. a reader reads the sequence, the fields, the sequence again, and retries (bounded) if it
//!    was odd or changed. No lock, and the shard never waits for a reader.

use std::cell::RefCell;
use std::sync::atomic::{fence, AtomicU64, Ordering};
use std::time::Duration;

use hdrhistogram::Histogram;

/// Upper bounds in seconds of the exposed latency buckets.
pub const LATENCY_BOUNDS_SECONDS: [f64; 16] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];
/// Largest latency the histogram tracks (longer ones are clamped), in microseconds.
const LATENCY_MAX_MICROS: u64 = 300_000_000;
/// How many times a reader retries a snapshot being rewritten before taking what it read.
const READ_RETRIES_MAX: usize = 64;

/// What a reader gets from a [`LatencySlot`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LatencySnapshot {
    /// Cumulative counts at each bound of [`LATENCY_BOUNDS_SECONDS`].
    pub cumulative: Vec<u64>,
    /// All observations.
    pub count: u64,
    /// Sum of observations, seconds.
    pub sum_seconds: f64,
    /// Median, seconds.
    pub p50_seconds: f64,
    /// 99th percentile, seconds.
    pub p99_seconds: f64,
}

/// The published snapshot, written by one shard.
#[derive(Debug, Default)]
pub struct LatencySlot {
    sequence: AtomicU64,
    cumulative: [AtomicU64; LATENCY_BOUNDS_SECONDS.len()],
    count: AtomicU64,
    sum_micros: AtomicU64,
    p50_micros: AtomicU64,
    p99_micros: AtomicU64,
}

impl LatencySlot {
    fn publish(&self, hist: &Histogram<u64>, sum_micros: u64) {
        let seq = self.sequence.load(Ordering::Relaxed);
        self.sequence.store(seq.wrapping_add(1), Ordering::Relaxed);
        fence(Ordering::Release);
        let mut cumulative = [0u64; LATENCY_BOUNDS_SECONDS.len()];
        for v in hist.iter_recorded() {
            let micros = hist.lowest_equivalent(v.value_iterated_to());
            let seconds = micros as f64 / 1e6;
            let first = LATENCY_BOUNDS_SECONDS.partition_point(|b| *b < seconds);
            for c in cumulative.iter_mut().skip(first) {
                *c += v.count_at_value();
            }
        }
        for (cell, v) in self.cumulative.iter().zip(cumulative) {
            cell.store(v, Ordering::Relaxed);
        }
        self.count.store(hist.len(), Ordering::Relaxed);
        self.sum_micros.store(sum_micros, Ordering::Relaxed);
        self.p50_micros
            .store(hist.value_at_quantile(0.5), Ordering::Relaxed);
        self.p99_micros
            .store(hist.value_at_quantile(0.99), Ordering::Relaxed);
        self.sequence.store(seq.wrapping_add(2), Ordering::Release);
    }

    /// Reads the latest published snapshot.
    pub fn read(&self) -> LatencySnapshot {
        let mut snapshot = LatencySnapshot::default();
        for _ in 0..READ_RETRIES_MAX {
            let before = self.sequence.load(Ordering::Acquire);
            snapshot = LatencySnapshot {
                cumulative: self
                    .cumulative
                    .iter()
                    .map(|c| c.load(Ordering::Relaxed))
                    .collect(),
                count: self.count.load(Ordering::Relaxed),
                sum_seconds: self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6,
                p50_seconds: self.p50_micros.load(Ordering::Relaxed) as f64 / 1e6,
                p99_seconds: self.p99_micros.load(Ordering::Relaxed) as f64 / 1e6,
            };
            fence(Ordering::Acquire);
            let after = self.sequence.load(Ordering::Relaxed);
            if before == after && before.is_multiple_of(2) {
                break;
            }
            std::thread::yield_now();
        }
        snapshot
    }
}

/// The shard-local recorder feeding one [`LatencySlot`].
#[derive(Debug)]
pub struct LatencyRecorder {
    hist: RefCell<Option<Histogram<u64>>>,
    sum_micros: std::cell::Cell<u64>,
}

impl Default for LatencyRecorder {
    fn default() -> Self {
        LatencyRecorder {
            // 2 significant digits over 1 µs..300 s: ~1% error, a few KiB per histogram.
            hist: RefCell::new(Histogram::new_with_bounds(1, LATENCY_MAX_MICROS, 2).ok()),
            sum_micros: std::cell::Cell::new(0),
        }
    }
}

impl LatencyRecorder {
    /// Records one duration.
    pub fn record(&self, elapsed: Duration) {
        let micros = u64::try_from(elapsed.as_micros())
            .unwrap_or(u64::MAX)
            .clamp(1, LATENCY_MAX_MICROS);
        if let Some(hist) = self.hist.borrow_mut().as_mut() {
            hist.saturating_record(micros);
        }
        self.sum_micros
            .set(self.sum_micros.get().saturating_add(micros));
    }

    /// Publishes the histogram into `slot`.
    pub fn publish(&self, slot: &LatencySlot) {
        if let Some(hist) = self.hist.borrow().as_ref() {
            slot.publish(hist, self.sum_micros.get());
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn publish_and_read() {
        let r = LatencyRecorder::default();
        let slot = LatencySlot::default();
        for ms in [1u64, 2, 3, 100] {
            r.record(Duration::from_millis(ms));
        }
        r.publish(&slot);
        let s = slot.read();
        assert_eq!(s.count, 4);
        assert_eq!(s.cumulative.last().copied(), Some(4));
        // 1 ms falls in the 1 ms bucket (le), 100 ms in the 0.1 s bucket.
        assert_eq!(s.cumulative[3], 1);
        assert_eq!(s.cumulative[9], 4);
        assert!((s.p50_seconds - 0.002).abs() < 0.0001, "{s:?}");
        assert!((s.sum_seconds - 0.106).abs() < 0.001);
    }
}
