//! The shard-local drain signal: set once, awaited by every task that must wind down.

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};

#[derive(Default)]
struct State {
    draining: bool,
    waiters: Vec<Waker>,
}

/// Tells a shard's tasks that it is draining. Cheap to clone; never crosses cores.
#[derive(Clone, Default)]
pub struct DrainSignal {
    state: Rc<RefCell<State>>,
}

impl DrainSignal {
    /// A signal that has not fired.
    pub fn new() -> DrainSignal {
        DrainSignal::default()
    }

    /// Fires the signal and wakes every waiter; later calls do nothing.
    pub fn trigger(&self) {
        let waiters = {
            let mut state = self.state.borrow_mut();
            if state.draining {
                return;
            }
            state.draining = true;
            std::mem::take(&mut state.waiters)
        };
        for waker in waiters {
            waker.wake();
        }
    }

    /// Whether the signal has fired.
    pub fn is_draining(&self) -> bool {
        self.state.borrow().draining
    }

    /// Completes once the signal has fired.
    pub fn wait(&self) -> Drained {
        Drained {
            state: self.state.clone(),
        }
    }
}

/// Future returned by [`DrainSignal::wait`].
pub struct Drained {
    state: Rc<RefCell<State>>,
}

impl Future for Drained {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let mut state = self.state.borrow_mut();
        if state.draining {
            return Poll::Ready(());
        }
        if !state.waiters.iter().any(|w| w.will_wake(cx.waker())) {
            state.waiters.push(cx.waker().clone());
        }
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wakes_every_waiter_once_fired() {
        let signal = DrainSignal::new();
        let executor = glommio::LocalExecutor::default();
        let done = executor.run(async {
            let a = glommio::spawn_local(signal.wait());
            let b = glommio::spawn_local(signal.wait());
            glommio::timer::sleep(std::time::Duration::from_millis(5)).await;
            assert!(!signal.is_draining());
            signal.trigger();
            a.await;
            b.await;
            signal.is_draining()
        });
        assert!(done);
    }
}
