//! Starts one pinned glommio executor per CPU and manages their lifecycle.
//!
//! Lifecycle, as seen from the main thread:
//! 1. [`start`] checks the host (CPUs, io_uring, memlock) and spawns one thread per CPU; each
//!    builds its executor pinned to its CPU and runs the shard body.
//! 2. The body binds its sockets and calls [`ShardContext::ready`]; [`Runtime::wait_ready`]
//!    returns once every shard has, or with the first failure.
//! 3. [`Runtime::drain`] tells every shard to drain; each shard's [`DrainSignal`] fires, the body
//!    winds down and returns, and the shard reports `Stopped`.
//! 4. [`Runtime::join`] waits for every shard thread.

use std::future::Future;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError};
use glommio::{LocalExecutorBuilder, Placement};

use crate::control::{self, ControlPlane, FromShard, ShardLink, ToShard};
use crate::{preflight, DrainSignal, ShardError};

/// How long an idle shard's inbox watcher sleeps before looking at its inbox without being
/// woken. Senders wake it (see [`crate::control`]), so this is only a backstop should a
/// wake-up ever be lost; once a second costs an idle shard one wake-up a second.
const CONTROL_BACKSTOP_INTERVAL: Duration = Duration::from_secs(1);

/// What the runtime needs to know to start shards.
#[derive(Debug, Clone)]
pub struct RuntimeSettings {
    /// One shard per CPU id, in this order; shard `i` runs on `cpus[i]`.
    pub cpus: Vec<usize>,
    /// io_uring submission queue depth per shard.
    pub ring_depth: usize,
    /// Registered (locked) io memory per shard, in bytes.
    pub io_memory_bytes: usize,
    /// Busy-poll this long before parking an idle executor; `None` parks at once.
    pub spin_before_park: Option<Duration>,
}

/// What a shard body gets: who it is and its end of the control channel.
pub struct ShardContext {
    /// Shard index, 0-based.
    pub shard: usize,
    /// The CPU this shard is pinned to.
    pub cpu: usize,
    /// How many shards run.
    pub shards: usize,
    drain: DrainSignal,
    link: ShardLink,
}

impl ShardContext {
    /// The signal that fires when this shard must drain.
    pub fn drain_signal(&self) -> DrainSignal {
        self.drain.clone()
    }

    /// Reports that this shard listens and serves.
    pub fn ready(&self) {
        self.link.send(FromShard::Ready { shard: self.shard });
    }

    /// What this shard publishes its load with, for the task that measures it.
    pub fn load_publisher(&self) -> LoadPublisher {
        LoadPublisher {
            link: self.link.clone(),
        }
    }
}

/// Sends this shard's load to every peer (see [`crate::load`]).
pub struct LoadPublisher {
    link: ShardLink,
}

impl LoadPublisher {
    /// Tells every peer `load`; never waits.
    pub fn publish(&self, load: crate::load::Load) {
        self.link.publish_load(load);
    }
}

/// The running shards, as the main thread holds them.
pub struct Runtime {
    plane: ControlPlane,
    threads: Vec<JoinHandle<()>>,
    cpus: Vec<usize>,
}

/// Checks the host and starts one shard per CPU, each running `body`.
///
/// `body` runs the shard's whole life: set up, call [`ShardContext::ready`], serve until the
/// drain signal fires, wind down, return. An `Err` is reported as the shard's failure.
pub fn start<F, Fut>(settings: RuntimeSettings, body: F) -> Result<Runtime, ShardError>
where
    F: Fn(ShardContext) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), String>> + 'static,
{
    preflight::check_cpus(&settings.cpus)?;
    preflight::check_io_uring()?;
    preflight::check_memlock(settings.cpus.len(), settings.io_memory_bytes)?;
    let shards = settings.cpus.len();
    let (plane, links) = control::channels(shards);
    let body = Arc::new(body);
    let mut threads = Vec::with_capacity(shards);
    for (shard, (cpu, link)) in settings.cpus.iter().copied().zip(links).enumerate() {
        let body = body.clone();
        let settings = settings.clone();
        let thread = std::thread::Builder::new()
            .name(format!("shard{shard}"))
            .stack_size(SHARD_STACK_BYTES)
            .spawn(move || run_shard(shard, cpu, shards, &settings, link, &*body))
            .map_err(|source| ShardError::Thread { shard, source })?;
        threads.push(thread);
    }
    Ok(Runtime {
        plane,
        threads,
        cpus: settings.cpus,
    })
}

/// Stack of each shard thread. glommio runs a spawned task at once on the spawner's stack,
/// so task polls nest (a batch timer's flush runs the export it starts); in debug builds
/// each async frame of an export took ~150 KiB and the default 2 MiB overflowed (an abort,
/// not a panic). Only touched pages are committed, so 16 MiB costs nothing unused.
const SHARD_STACK_BYTES: usize = 16 << 20;

fn run_shard<F, Fut>(
    shard: usize,
    cpu: usize,
    shards: usize,
    settings: &RuntimeSettings,
    link: ShardLink,
    body: &F,
) where
    F: Fn(ShardContext) -> Fut,
    Fut: Future<Output = Result<(), String>>,
{
    let mut builder = LocalExecutorBuilder::new(Placement::Fixed(cpu))
        .ring_depth(settings.ring_depth)
        .io_memory(settings.io_memory_bytes);
    if let Some(spin) = settings.spin_before_park {
        builder = builder.spin_before_park(spin);
    }
    let executor = match builder.make() {
        Ok(executor) => executor,
        Err(error) => {
            let reason = error.to_string();
            let hint = preflight::executor_hint(&reason);
            let error = ShardError::Executor {
                shard,
                cpu,
                reason,
                hint,
            };
            link.send(FromShard::Failed {
                shard,
                reason: error.to_string(),
            });
            return;
        }
    };
    // A panic anywhere on the shard (a task, the body) unwinds out of `run`: catch it so the
    // main thread hears of it as it hears of any failure. Nothing of the shard is used after
    // the panic: the executor, its tasks and its sockets are dropped, so its listening
    // sockets leave the kernel's reuseport group and no new connection lands on a dead shard.
    let ran = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        executor.run(async {
            let drain = DrainSignal::new();
            glommio::spawn_local(watch_inbox(link.clone(), drain.clone())).detach();
            let context = ShardContext {
                shard,
                cpu,
                shards,
                drain,
                link: link.clone(),
            };
            body(context).await
        })
    }));
    let message = match ran {
        Ok(Ok(())) => FromShard::Stopped { shard },
        Ok(Err(reason)) => FromShard::Failed { shard, reason },
        Err(panic) => FromShard::Failed {
            shard,
            reason: format!("panicked: {}", panic_message(panic.as_ref())),
        },
    };
    drop(executor);
    link.send(message);
}

/// The text a panic was raised with (`panic!` passes a `&str` or a `String`).
fn panic_message(panic: &(dyn std::any::Any + Send)) -> &str {
    if let Some(text) = panic.downcast_ref::<&str>() {
        text
    } else if let Some(text) = panic.downcast_ref::<String>() {
        text
    } else {
        "(no message)"
    }
}

async fn watch_inbox(link: ShardLink, drain: DrainSignal) {
    while !drain.is_draining() {
        match link.try_recv() {
            Some(ToShard::Drain) => drain.trigger(),
            Some(ToShard::Pressure(level)) => crate::pressure::set_current(level),
            Some(ToShard::Load { shard, load }) => crate::load::set_peer(shard, load),
            None => {
                let _ =
                    shardgate_io::timer::timeout(CONTROL_BACKSTOP_INTERVAL, link.readable()).await;
            }
        }
    }
}

/// Runs `future` to completion on a glommio executor on the calling thread, pinned to `cpu`
/// if given. For tools and tests that need the shard environment without a whole runtime.
pub fn run_local<T>(cpu: Option<usize>, future: impl Future<Output = T>) -> Result<T, ShardError> {
    let placement = cpu.map_or(Placement::Unbound, Placement::Fixed);
    let executor = LocalExecutorBuilder::new(placement)
        .make()
        .map_err(|error| {
            let reason = error.to_string();
            let hint = preflight::executor_hint(&reason);
            ShardError::Executor {
                shard: 0,
                cpu: cpu.unwrap_or_default(),
                reason,
                hint,
            }
        })?;
    Ok(executor.run(future))
}

impl Runtime {
    /// The CPU of each shard.
    pub fn cpus(&self) -> &[usize] {
        &self.cpus
    }

    /// Messages from the shards (for a main loop that also waits on signals).
    pub fn events(&self) -> &Receiver<FromShard> {
        &self.plane.from_shards
    }

    /// Waits until every shard is ready, or returns the first failure.
    pub fn wait_ready(&self, timeout: Duration) -> Result<(), ShardError> {
        let deadline = shardgate_io::timer::deadline_after(timeout);
        let mut ready = vec![false; self.threads.len()];
        while ready.iter().any(|r| !r) {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.plane.from_shards.recv_timeout(left) {
                Ok(FromShard::Ready { shard }) => {
                    if let Some(slot) = ready.get_mut(shard) {
                        *slot = true;
                    }
                }
                Ok(FromShard::Failed { shard, reason }) => return Err(self.failure(shard, reason)),
                Ok(FromShard::Stopped { shard }) => {
                    return Err(self.failure(shard, "stopped before it was ready".to_owned()))
                }
                Err(RecvTimeoutError::Timeout | RecvTimeoutError::Disconnected) => {
                    return Err(ShardError::StartTimeout(timeout))
                }
            }
        }
        Ok(())
    }

    fn failure(&self, shard: usize, reason: String) -> ShardError {
        let cpu = self.cpus.get(shard).copied().unwrap_or_default();
        ShardError::Failed { shard, cpu, reason }
    }

    /// Tells every shard the new memory pressure level (call only when it changes).
    pub fn set_pressure(&self, level: crate::pressure::Level) -> Result<(), ShardError> {
        self.plane.broadcast(ToShard::Pressure(level))
    }

    /// Tells every shard to stop accepting, flush and stop.
    pub fn drain(&self) -> Result<(), ShardError> {
        self.plane.broadcast(ToShard::Drain)
    }

    /// Waits for every shard thread to end; returns the first failure any shard reported.
    pub fn join(self) -> Result<(), ShardError> {
        let mut first_error = None;
        for (shard, thread) in self.threads.into_iter().enumerate() {
            if thread.join().is_err() && first_error.is_none() {
                first_error = Some(ShardError::Panicked(shard));
            }
        }
        while let Ok(message) = self.plane.from_shards.try_recv() {
            if let FromShard::Failed { shard, reason } = message {
                if first_error.is_none() {
                    let cpu = self.cpus.get(shard).copied().unwrap_or_default();
                    first_error = Some(ShardError::Failed { shard, cpu, reason });
                }
            }
        }
        first_error.map_or(Ok(()), Err)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Scenario: two shards on the first available CPU(s). Guarantee: each runs pinned to its
    /// CPU, reports ready, drains on request and stops.
    #[test]
    fn shards_start_pinned_and_drain() {
        let cpus: Vec<usize> = preflight::available_cpus().into_iter().take(2).collect();
        let settings = RuntimeSettings {
            cpus: cpus.clone(),
            ring_depth: 64,
            io_memory_bytes: 128 * 1024,
            spin_before_park: None,
        };
        let runtime = start(settings, |ctx: ShardContext| async move {
            let allowed =
                std::fs::read_to_string("/proc/thread-self/status").map_err(|e| e.to_string())?;
            let line = allowed
                .lines()
                .find(|l| l.starts_with("Cpus_allowed_list:"))
                .unwrap_or_default()
                .to_owned();
            if !line.ends_with(&format!("\t{}", ctx.cpu)) {
                return Err(format!("not pinned: {line}"));
            }
            ctx.ready();
            ctx.drain_signal().wait().await;
            Ok(())
        });
        let runtime = match runtime {
            Ok(runtime) => runtime,
            Err(error) => panic!("start failed: {error}"),
        };
        assert_eq!(runtime.cpus(), &cpus[..]);
        let ready = runtime.wait_ready(Duration::from_secs(10));
        assert!(runtime.drain().is_ok());
        let joined = runtime.join();
        assert!(ready.is_ok(), "{ready:?}");
        assert!(joined.is_ok(), "{joined:?}");
    }
}
