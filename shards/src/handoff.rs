//! Hand-off mailboxes: the one way request bytes cross cores, for rebalancing.
//!
//! Every shard owns one bounded mailbox that the other shards push whole requests into (owned
//! values, moved, never shared). A mailbox is bounded twice: in requests (the crossbeam queue)
//! and in bytes (what the pushers say each request weighs), so a busy shard can never park
//! more than `bytes_max` of unadmitted data on a peer. A full or closed mailbox gives the work
//! back to the pusher, which keeps it.
//!
//! Waking: a pusher wakes the owner's waiting task through an [`AtomicWaker`]. A glommio waker
//! woken from another thread queues the task on its executor and writes that executor's
//! eventfd, so an idle owner sleeps in `io_uring_enter` without a poll timer and wakes on the
//! first hand-off.
//!
//! Closing: the owner closes its mailbox when it drains. `state` counts pushers in progress
//! beside a closed bit, so once [`Mesh::close`] returns no push can land any more and
//! everything that did land can be popped: nothing handed off is stranded in a queue.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use atomic_waker::AtomicWaker;
use crossbeam_channel::{bounded, Receiver, Sender, TrySendError};

/// Requests one mailbox holds at most, whatever their size.
pub const MAILBOX_REQUESTS_MAX: usize = 4096;

/// The closed bit of a slot's `state`; the bits below it count pushers in progress.
const CLOSED: usize = 1 << (usize::BITS - 1);

/// Why a push did not land; the work comes back to the pusher.
#[derive(Debug)]
pub enum Refused<W> {
    /// The mailbox holds as many requests or bytes as it may.
    Full(W),
    /// The owner is draining (or gone) and takes nothing more.
    Closed(W),
}

struct Slot<W> {
    tx: Sender<(W, usize)>,
    rx: Receiver<(W, usize)>,
    queued_bytes: AtomicUsize,
    state: AtomicUsize,
    waker: AtomicWaker,
}

/// Every shard's mailbox; clones share them (created once, before the shards start).
pub struct Mesh<W> {
    slots: Arc<[Slot<W>]>,
    bytes_max: usize,
}

impl<W> Clone for Mesh<W> {
    fn clone(&self) -> Self {
        Mesh {
            slots: self.slots.clone(),
            bytes_max: self.bytes_max,
        }
    }
}

impl<W: Send> Mesh<W> {
    /// One mailbox per shard, each holding at most `bytes_max` bytes.
    pub fn new(shards: usize, bytes_max: usize) -> Mesh<W> {
        let slots = (0..shards)
            .map(|_| {
                let (tx, rx) = bounded(MAILBOX_REQUESTS_MAX);
                Slot {
                    tx,
                    rx,
                    queued_bytes: AtomicUsize::new(0),
                    state: AtomicUsize::new(0),
                    waker: AtomicWaker::new(),
                }
            })
            .collect();
        Mesh { slots, bytes_max }
    }

    /// How many mailboxes (shards) there are.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// Moves `work`, weighing `bytes`, into shard `target`'s mailbox and wakes its owner.
    pub fn push(&self, target: usize, work: W, bytes: usize) -> Result<(), Refused<W>> {
        let Some(slot) = self.slots.get(target) else {
            return Err(Refused::Closed(work));
        };
        if slot.state.fetch_add(1, Ordering::AcqRel) & CLOSED != 0 {
            slot.state.fetch_sub(1, Ordering::AcqRel);
            return Err(Refused::Closed(work));
        }
        let result = self.enqueue(slot, work, bytes);
        slot.state.fetch_sub(1, Ordering::AcqRel);
        if result.is_ok() {
            slot.waker.wake();
        }
        result
    }

    fn enqueue(&self, slot: &Slot<W>, work: W, bytes: usize) -> Result<(), Refused<W>> {
        let before = slot.queued_bytes.fetch_add(bytes, Ordering::AcqRel);
        if before.saturating_add(bytes) > self.bytes_max {
            slot.queued_bytes.fetch_sub(bytes, Ordering::AcqRel);
            return Err(Refused::Full(work));
        }
        match slot.tx.try_send((work, bytes)) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full((work, _)) | TrySendError::Disconnected((work, _))) => {
                slot.queued_bytes.fetch_sub(bytes, Ordering::AcqRel);
                Err(Refused::Full(work))
            }
        }
    }

    /// The next request in shard `own`'s mailbox, without waiting (the owner calls this).
    pub fn pop(&self, own: usize) -> Option<W> {
        let slot = self.slots.get(own)?;
        let (work, bytes) = slot.rx.try_recv().ok()?;
        slot.queued_bytes.fetch_sub(bytes, Ordering::AcqRel);
        Some(work)
    }

    /// Completes once shard `own`'s mailbox holds something (or at once if it does).
    pub fn ready(&self, own: usize) -> Ready<'_, W> {
        Ready {
            slot: self.slots.get(own),
        }
    }

    /// Bytes waiting in shard `own`'s mailbox.
    pub fn queued_bytes(&self, own: usize) -> usize {
        self.slots
            .get(own)
            .map_or(0, |s| s.queued_bytes.load(Ordering::Acquire))
    }

    /// How full shard `shard`'s mailbox is, in thousandths of its byte bound.
    pub fn fill_permille(&self, shard: usize) -> u16 {
        let queued = self.queued_bytes(shard) as u128;
        let max = self.bytes_max.max(1) as u128;
        u16::try_from((queued * 1000 / max).min(1000)).unwrap_or(1000)
    }

    /// Whether `bytes` more would fit in shard `target`'s mailbox now (a later push may
    /// still find it full: other shards push too).
    pub fn has_room(&self, target: usize, bytes: usize) -> bool {
        self.queued_bytes(target).saturating_add(bytes) <= self.bytes_max
    }

    /// Stops shard `own`'s mailbox taking pushes; when this returns, no push is in progress,
    /// so what [`Mesh::pop`] finds after it is all there will ever be.
    pub fn close(&self, own: usize) {
        let Some(slot) = self.slots.get(own) else {
            return;
        };
        slot.state.fetch_or(CLOSED, Ordering::AcqRel);
        // A push in progress holds no lock and never waits: it finishes within microseconds.
        while slot.state.load(Ordering::Acquire) & !CLOSED != 0 {
            std::thread::yield_now();
        }
    }

    /// Whether shard `shard`'s mailbox takes pushes.
    pub fn is_open(&self, shard: usize) -> bool {
        self.slots
            .get(shard)
            .is_some_and(|s| s.state.load(Ordering::Acquire) & CLOSED == 0)
    }
}

/// Future returned by [`Mesh::ready`].
pub struct Ready<'a, W> {
    slot: Option<&'a Slot<W>>,
}

impl<W> Future for Ready<'_, W> {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let Some(slot) = self.slot else {
            return Poll::Pending;
        };
        if !slot.rx.is_empty() {
            return Poll::Ready(());
        }
        slot.waker.register(cx.waker());
        // A push between the check above and the registration woke nobody: look again.
        if slot.rx.is_empty() {
            Poll::Pending
        } else {
            Poll::Ready(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn pushes_are_bounded_in_bytes_and_come_back_when_refused() {
        let mesh: Mesh<u32> = Mesh::new(2, 100);
        assert!(mesh.push(1, 1, 60).is_ok());
        assert!(matches!(mesh.push(1, 2, 41), Err(Refused::Full(2))));
        assert!(mesh.push(1, 3, 40).is_ok());
        assert_eq!(mesh.queued_bytes(1), 100);
        assert_eq!(mesh.fill_permille(1), 1000);
        assert_eq!(mesh.pop(1), Some(1));
        assert_eq!(mesh.queued_bytes(1), 40);
        assert_eq!(mesh.pop(0), None);
        assert!(matches!(mesh.push(7, 4, 1), Err(Refused::Closed(4))));
    }

    #[test]
    fn a_closed_mailbox_refuses_and_keeps_what_landed() {
        let mesh: Mesh<u32> = Mesh::new(1, 1000);
        assert!(mesh.push(0, 1, 10).is_ok());
        mesh.close(0);
        assert!(!mesh.is_open(0));
        assert!(matches!(mesh.push(0, 2, 10), Err(Refused::Closed(2))));
        assert_eq!(mesh.pop(0), Some(1));
        assert_eq!(mesh.pop(0), None);
    }

    /// Scenario: another thread pushes while the owner's executor sleeps on `ready`.
    /// Guarantee: the foreign wake-up reaches the glommio task (no timer involved).
    #[test]
    fn a_push_from_another_thread_wakes_the_owner() {
        let mesh: Mesh<u32> = Mesh::new(1, 1000);
        let pusher = mesh.clone();
        let thread = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(100));
            pusher.push(0, 42, 8).is_ok()
        });
        let executor = glommio::LocalExecutor::default();
        let got = executor.run(async {
            mesh.ready(0).await;
            mesh.pop(0)
        });
        assert!(thread.join().unwrap_or(false));
        assert_eq!(got, Some(42));
    }

    /// Scenario: 4 threads push 10 000 requests each while the owner closes its mailbox.
    /// Guarantee: every push either was refused (and returned) or is popped: none is lost.
    #[test]
    fn closing_under_concurrent_pushes_strands_nothing() {
        let mesh: Mesh<u64> = Mesh::new(1, usize::MAX);
        let threads: Vec<_> = (0..4u64)
            .map(|t| {
                let mesh = mesh.clone();
                std::thread::spawn(move || {
                    let mut landed = 0u64;
                    for i in 0..10_000u64 {
                        if mesh.push(0, t * 100_000 + i, 1).is_ok() {
                            landed += 1;
                        }
                    }
                    landed
                })
            })
            .collect();
        let mut popped = 0u64;
        for _ in 0..200 {
            while mesh.pop(0).is_some() {
                popped += 1;
            }
            std::thread::yield_now();
        }
        mesh.close(0);
        while mesh.pop(0).is_some() {
            popped += 1;
        }
        let landed: u64 = threads.into_iter().map(|t| t.join().unwrap_or(0)).sum();
        assert_eq!(popped, landed);
        assert_eq!(mesh.queued_bytes(0), 0);
    }
}
