//! A bounded queue from a thread outside the shards (a client library's own thread) into one
//! shard, which awaits it without polling.
//!
//! The sender pushes into a bounded crossbeam channel (lock-free while there is room) and
//! wakes the shard's task through an [`AtomicWaker`]; glommio turns a wake from a foreign
//! thread into a write to the executor's eventfd. The receiver registers its waker before it
//! looks at the queue again, so a push between its look and its sleep is never missed.
//!
//! Used where a library runs threads of its own (librdkafka): they hand the shard work here,
//! and the shard's answers go back through a plain crossbeam channel the thread drains.

use std::future::poll_fn;
use std::sync::Arc;
use std::task::Poll;

use atomic_waker::AtomicWaker;
use crossbeam_channel::{bounded, Receiver, Sender, TryRecvError, TrySendError};

/// The outside thread's end.
pub struct BridgeSender<T> {
    /// Always `Some` until drop, which closes it before the last wake.
    queue: Option<Sender<T>>,
    waker: Arc<AtomicWaker>,
}

/// The shard's end.
pub struct BridgeReceiver<T> {
    queue: Receiver<T>,
    waker: Arc<AtomicWaker>,
}

/// A bridge holding at most `capacity` items (at least one).
pub fn bridge<T>(capacity: usize) -> (BridgeSender<T>, BridgeReceiver<T>) {
    let (queue, receiver) = bounded(capacity.max(1));
    let waker = Arc::new(AtomicWaker::new());
    (
        BridgeSender {
            queue: Some(queue),
            waker: waker.clone(),
        },
        BridgeReceiver {
            queue: receiver,
            waker,
        },
    )
}

/// Why an item was not sent; it comes back to the caller.
#[derive(Debug, PartialEq, Eq)]
pub enum BridgeSendError<T> {
    /// The shard has not taken the items already queued.
    Full(T),
    /// The shard's end is gone.
    Closed(T),
}

impl<T> BridgeSender<T> {
    /// Queues `item` and wakes the shard.
    pub fn try_send(&self, item: T) -> Result<(), BridgeSendError<T>> {
        let Some(queue) = &self.queue else {
            return Err(BridgeSendError::Closed(item));
        };
        match queue.try_send(item) {
            Ok(()) => {
                self.waker.wake();
                Ok(())
            }
            Err(TrySendError::Full(item)) => Err(BridgeSendError::Full(item)),
            Err(TrySendError::Disconnected(item)) => Err(BridgeSendError::Closed(item)),
        }
    }
}

impl<T> Drop for BridgeSender<T> {
    fn drop(&mut self) {
        // The receiver must see the end of the queue even when it is asleep: close the
        // queue first, then wake it.
        drop(self.queue.take());
        self.waker.wake();
    }
}

impl<T> BridgeReceiver<T> {
    /// The next item, or `None` once the sender is gone and the queue is empty.
    pub async fn recv(&self) -> Option<T> {
        poll_fn(|cx| match self.queue.try_recv() {
            Ok(item) => Poll::Ready(Some(item)),
            Err(TryRecvError::Disconnected) => Poll::Ready(None),
            Err(TryRecvError::Empty) => {
                self.waker.register(cx.waker());
                match self.queue.try_recv() {
                    Ok(item) => Poll::Ready(Some(item)),
                    Err(TryRecvError::Disconnected) => Poll::Ready(None),
                    Err(TryRecvError::Empty) => Poll::Pending,
                }
            }
        })
        .await
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use std::time::Duration;

    /// Scenario: a plain thread sends while the shard's task sleeps in `recv`.
    /// Guarantee: every item arrives in order, and the end of the sender ends the stream.
    #[test]
    fn a_foreign_thread_wakes_the_shard_task() {
        let (tx2, rx2) = bridge::<u32>(4);
        let sender = std::thread::spawn(move || {
            for i in 0..100 {
                let mut item = i;
                loop {
                    match tx2.try_send(item) {
                        Ok(()) => break,
                        Err(BridgeSendError::Full(back)) => {
                            item = back;
                            std::thread::sleep(Duration::from_millis(1));
                        }
                        Err(BridgeSendError::Closed(_)) => panic!("closed"),
                    }
                }
            }
        });
        let got = crate::run_local(None, async move {
            let mut got = Vec::new();
            while let Some(item) = rx2.recv().await {
                got.push(item);
            }
            got
        })
        .unwrap();
        sender.join().unwrap();
        assert_eq!(got, (0..100).collect::<Vec<_>>());
    }

    /// Scenario: the shard's end is dropped. Guarantee: a send is refused as closed.
    #[test]
    fn a_dropped_receiver_closes_the_bridge() {
        let (tx, rx) = bridge::<u32>(1);
        drop(rx);
        assert_eq!(tx.try_send(1), Err(BridgeSendError::Closed(1)));
    }
}
