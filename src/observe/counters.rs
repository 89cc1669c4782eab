//! Single-writer counter cells.
//!
//! Invariant: every cell is written by exactly one shard (the one that owns the component it
//! counts) and read by the admin thread on scrape. Because there is one writer, an update is a
//! plain `load` + `store(Relaxed)`: no `fetch_add` (a locked read-modify-write that bounces
//! the line between cores when contended), no lock, no queue. Readers may see a value a few
//! nanoseconds old, never a torn one (64-bit atomics). Each cell sits on its own cache line
//! so the scraper's reads never share a line with another shard's writes.

use std::sync::atomic::{AtomicU64, Ordering};

/// A monotonically increasing count written by one shard.
#[repr(align(64))]
#[derive(Debug, Default)]
pub struct Counter(AtomicU64);

impl Counter {
    /// Adds `n`. Only the owning shard may call this (single writer, see module docs).
    pub fn add(&self, n: u64) {
        let now = self.0.load(Ordering::Relaxed);
        self.0.store(now.wrapping_add(n), Ordering::Relaxed);
    }

    /// The current value.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

/// A value that goes up and down, written by one shard.
#[repr(align(64))]
#[derive(Debug, Default)]
pub struct Gauge(AtomicU64);

impl Gauge {
    /// Sets the value.
    pub fn set(&self, v: u64) {
        self.0.store(v, Ordering::Relaxed);
    }

    /// Adds `n` (single writer).
    pub fn inc(&self, n: u64) {
        self.set(self.get().saturating_add(n));
    }

    /// Subtracts `n`, stopping at 0 (single writer).
    pub fn dec(&self, n: u64) {
        self.set(self.get().saturating_sub(n));
    }

    /// The current value.
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }

    /// Stores a float (its bits).
    pub fn set_f64(&self, v: f64) {
        self.set(v.to_bits());
    }

    /// Reads a float stored with [`Gauge::set_f64`].
    pub fn get_f64(&self) -> f64 {
        f64::from_bits(self.get())
    }
}

/// A histogram with fixed bucket bounds, written by one shard, each bucket its own cell.
/// The reader builds the cumulative counts and the total from the buckets it read, so a scrape
/// is always self-consistent (`+Inf` equals `_count`).
#[derive(Debug)]
pub struct Buckets {
    bounds: &'static [f64],
    /// One cell per bound, plus the overflow bucket.
    counts: Box<[Counter]>,
    sum: Gauge,
}

impl Buckets {
    /// Buckets with upper bounds `bounds` (ascending) and an overflow bucket.
    pub fn new(bounds: &'static [f64]) -> Buckets {
        Buckets {
            bounds,
            counts: (0..=bounds.len()).map(|_| Counter::default()).collect(),
            sum: Gauge::default(),
        }
    }

    /// Records one observation of `v` (single writer).
    pub fn observe(&self, v: f64) {
        let i = self.bounds.partition_point(|b| *b < v);
        if let Some(cell) = self.counts.get(i) {
            cell.add(1);
        }
        self.sum.set_f64(self.sum.get_f64() + v);
    }

    /// The upper bounds.
    pub fn bounds(&self) -> &'static [f64] {
        self.bounds
    }

    /// Per-bucket (non-cumulative) counts, the last one for values above every bound.
    pub fn counts(&self) -> Vec<u64> {
        self.counts.iter().map(Counter::get).collect()
    }

    /// Sum of observed values.
    pub fn sum(&self) -> f64 {
        self.sum.get_f64()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn cells_are_padded_and_count() {
        assert_eq!(std::mem::align_of::<Counter>(), 64);
        let c = Counter::default();
        c.add(2);
        c.add(3);
        assert_eq!(c.get(), 5);
        let g = Gauge::default();
        g.inc(2);
        g.dec(5);
        assert_eq!(g.get(), 0);
        g.set_f64(0.25);
        assert_eq!(g.get_f64(), 0.25);
    }

    #[test]
    fn buckets_place_values_le() {
        static BOUNDS: [f64; 2] = [10.0, 100.0];
        let b = Buckets::new(&BOUNDS);
        for v in [1.0, 10.0, 11.0, 1000.0] {
            b.observe(v);
        }
        assert_eq!(b.counts(), [2, 1, 1]);
        assert_eq!(b.sum(), 1022.0);
    }
}
