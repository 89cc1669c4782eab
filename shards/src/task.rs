//! The shard-local task and timer primitives the collector uses, so `src/` names the runtime
//! through this crate rather than reaching into glommio.

pub use glommio::sync::Semaphore;
pub use glommio::{spawn_local, Task};
/// Timers cut any duration to a year, so no config value or peer's delay can panic one.
pub use shardgate_io::timer::{deadline_after, sleep, timeout};

use std::time::Duration;

/// Time this shard's executor has spent running tasks since it started (idle and spin time
/// excluded), for the busy ratio: its growth per wall-clock second is the share of the core
/// the shard used.
pub fn busy_time() -> Duration {
    // glommio's `executor_stats()` hands out the stats gathered since its previous call and
    // resets them (`mem::take`), so keep the running total here, per executor thread.
    thread_local! {
        static BUSY_TOTAL: std::cell::Cell<Duration> = const { std::cell::Cell::new(Duration::ZERO) };
    }
    let delta = glommio::executor().executor_stats().executor_runtime();
    BUSY_TOTAL.with(|total| {
        let now = total.get().saturating_add(delta);
        total.set(now);
        now
    })
}

/// Lets the shard poll its sockets and run its other tasks before this one continues: for long
/// CPU work (compressing a batch) cut into slices, so receivers keep answering meanwhile.
pub async fn yield_to_io() {
    glommio::executor().yield_task_queue_now().await;
}
