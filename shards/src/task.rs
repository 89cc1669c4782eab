//! The shard-local task and timer primitives the collector uses, so `src/` names the runtime
//! through this crate rather than reaching into glommio.

pub use glommio::sync::Semaphore;
pub use glommio::timer::sleep;
pub use glommio::{spawn_local, Task};

use std::future::Future;
use std::time::Duration;

/// Runs `future` but gives up after `duration`, returning `None` then.
pub async fn timeout<T>(duration: Duration, future: impl Future<Output = T>) -> Option<T> {
    glommio::timer::timeout(duration, async { Ok(future.await) })
        .await
        .ok()
}
