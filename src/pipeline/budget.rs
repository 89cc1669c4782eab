//! The shard's admission budget: bytes acknowledged to clients but not yet delivered.
//!
//! Invariant: a receiver acknowledges data only after reserving its bytes here, and the
//! reservation is released only when every exporter of every pipeline has finished with the
//! data (delivered, or failed and counted). So `used()` bounds what a shard holds, and a
//! shard with no room refuses new data with a retryable error instead of dropping any.

use std::cell::{Cell, OnceCell};
use std::rc::Rc;
use std::sync::Arc;

use crate::observe::ShardCounters;

struct Inner {
    used_bytes: Cell<usize>,
    max_bytes: usize,
    /// Where the use is published for the main thread (this shard is the only writer).
    published: OnceCell<Arc<ShardCounters>>,
}

impl Inner {
    fn set_used(&self, bytes: usize) {
        self.used_bytes.set(bytes);
        if let Some(counters) = self.published.get() {
            counters.pending_bytes.set(bytes as u64);
        }
    }
}

/// A shard-local byte budget; clones share it.
#[derive(Clone)]
pub struct Budget {
    inner: Rc<Inner>,
}

impl Budget {
    /// A budget of `max_bytes`.
    pub fn new(max_bytes: usize) -> Budget {
        Budget {
            inner: Rc::new(Inner {
                used_bytes: Cell::new(0),
                max_bytes,
                published: OnceCell::new(),
            }),
        }
    }

    /// Bytes reserved now.
    pub fn used_bytes(&self) -> usize {
        self.inner.used_bytes.get()
    }

    /// Publishes the use into `counters.pending_bytes` from now on.
    pub fn publish_to(&self, counters: Arc<ShardCounters>) {
        let _ = self.inner.published.set(counters);
    }

    /// The most bytes this budget holds.
    pub fn max_bytes(&self) -> usize {
        self.inner.max_bytes
    }

    /// Whether `bytes` more would fit.
    pub fn has_room(&self, bytes: usize) -> bool {
        self.used_bytes().saturating_add(bytes) <= self.inner.max_bytes
    }

    /// Reserves `bytes` if they fit.
    pub fn try_reserve(&self, bytes: usize) -> Option<Reservation> {
        if !self.has_room(bytes) {
            return None;
        }
        self.inner.set_used(self.used_bytes() + bytes);
        debug_assert!(self.used_bytes() <= self.inner.max_bytes);
        Some(Reservation {
            budget: self.clone(),
            bytes,
        })
    }

    /// An empty reservation to merge others into.
    pub fn empty(&self) -> Reservation {
        Reservation {
            budget: self.clone(),
            bytes: 0,
        }
    }
}

/// Bytes held against a [`Budget`]; released when dropped.
pub struct Reservation {
    budget: Budget,
    bytes: usize,
}

impl Reservation {
    /// The bytes this reservation holds.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Moves everything `other` holds into `self`.
    pub fn merge(&mut self, mut other: Reservation) {
        self.bytes += std::mem::take(&mut other.bytes);
    }

    /// An empty reservation on the same budget (for data derived from this data, whose
    /// bytes this reservation already holds).
    pub fn detached(&self) -> Reservation {
        self.budget.empty()
    }

    /// Moves up to `bytes` out of `self` into a new reservation.
    pub fn split_off(&mut self, bytes: usize) -> Reservation {
        let moved = bytes.min(self.bytes);
        self.bytes -= moved;
        Reservation {
            budget: self.budget.clone(),
            bytes: moved,
        }
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        let inner = &self.budget.inner;
        // Invariant: reservations only move bytes between themselves (merge, split_off), so
        // the budget's use is their sum and a release never takes it below zero.
        debug_assert!(
            inner.used_bytes.get() >= self.bytes,
            "budget would go negative"
        );
        inner.set_used(inner.used_bytes.get().saturating_sub(self.bytes));
    }
}

impl std::fmt::Debug for Reservation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Reservation({} bytes)", self.bytes)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn reservations_release_on_drop_and_refuse_past_the_limit() {
        let budget = Budget::new(100);
        let mut a = budget.try_reserve(60).unwrap();
        assert!(budget.try_reserve(41).is_none());
        let b = budget.try_reserve(40).unwrap();
        a.merge(b);
        assert_eq!(budget.used_bytes(), 100);
        let part = a.split_off(30);
        drop(a);
        assert_eq!(budget.used_bytes(), 30);
        drop(part);
        assert_eq!(budget.used_bytes(), 0);
    }
}
