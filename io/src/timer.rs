//! Timers from bounded durations only.
//!
//! glommio arms a timer at `Instant::now() + duration`, which panics when the sum leaves
//! `Instant`'s range. Durations reach timers from config and from peers (a backend's retry
//! delay), so every timer and deadline in shardgate is built here, from a duration first cut
//! to [`TIMER_DURATION_MAX`]: no value can panic a shard through a timer.

use std::future::Future;
use std::time::{Duration, Instant};

/// The longest wait any timer arms: a year, far past every real timeout and retry interval,
/// and far inside `Instant`'s range whenever the machine booted.
pub const TIMER_DURATION_MAX: Duration = Duration::from_secs(365 * 24 * 3600);

/// `duration`, cut to [`TIMER_DURATION_MAX`].
pub fn bounded(duration: Duration) -> Duration {
    duration.min(TIMER_DURATION_MAX)
}

/// The instant `duration` from now (cut to [`TIMER_DURATION_MAX`]).
pub fn deadline_after(duration: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(bounded(duration)).unwrap_or(now)
}

/// Waits `duration` (cut to [`TIMER_DURATION_MAX`]).
pub async fn sleep(duration: Duration) {
    glommio::timer::sleep(bounded(duration)).await;
}

/// A timer firing `duration` from now (cut to [`TIMER_DURATION_MAX`]), for hand-written
/// `poll` code that cannot await [`sleep`].
pub fn timer(duration: Duration) -> glommio::timer::Timer {
    glommio::timer::Timer::new(bounded(duration))
}

/// Runs `future`, giving up after `duration` (cut to [`TIMER_DURATION_MAX`]): `None` then.
pub async fn timeout<T>(duration: Duration, future: impl Future<Output = T>) -> Option<T> {
    glommio::timer::timeout(bounded(duration), async { Ok(future.await) })
        .await
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn any_duration_makes_a_timer() {
        let executor = glommio::LocalExecutorBuilder::default().make();
        let Ok(executor) = executor else {
            panic!("no executor");
        };
        executor.run(async {
            let huge = Duration::from_secs(u64::MAX);
            assert!(deadline_after(huge) > Instant::now());
            // A timer that would panic unbounded: it is armed and cancelled by the timeout.
            let waited = timeout(Duration::from_millis(5), sleep(huge)).await;
            assert!(waited.is_none());
            assert_eq!(timeout(huge, async { 7 }).await, Some(7));
        });
    }
}
