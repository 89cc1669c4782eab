//! Running the collector: start the shards, wait for a signal or a failure, drain, exit.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use crossbeam_channel::{select, unbounded};
use shardgate_shards::control::FromShard;
use shardgate_shards::{preflight, RuntimeSettings};
use signal_hook::consts::{SIGINT, SIGTERM};
use signal_hook::iterator::Signals;

use crate::config::{Config, CoresSpec, ProcessorConfig};
use crate::observe::{Phase, Registry};
use crate::processor::memory_limiter::{self, Monitor};
use crate::processor::tail_sampling::affinity::{self, AffinityMesh};
use crate::receiver::Mailboxes;
use crate::shard;
use shardgate_shards::pressure::Limits;

/// How long shards may take to bind their sockets and report ready.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// Extra time past `drain_timeout` before the main thread stops waiting for shards.
const JOIN_GRACE: Duration = Duration::from_secs(5);

/// Runs the collector until SIGTERM/SIGINT, then drains and returns.
pub fn run(mut config: Config) -> anyhow::Result<()> {
    let started = Instant::now();
    let cpus = resolve_cores(&config.shards.cores)?;
    crate::kafka::threads::set_shard_cpus(&cpus);
    let settings = RuntimeSettings {
        cpus: cpus.clone(),
        ring_depth: usize::try_from(config.shards.ring_depth).unwrap_or(usize::MAX),
        io_memory_bytes: config.shards.io_memory_bytes,
        spin_before_park: config.shards.spin_before_park,
    };
    for (_, receiver) in config.used_receivers() {
        for addr in receiver.listen_addrs() {
            shardgate_io::listener::ensure_free(addr)?;
        }
        for addr in receiver.udp_listen_addrs() {
            shardgate_io::udp::ensure_free(addr)?;
        }
    }
    let drain_timeout = config.shards.drain_timeout;
    let mut signals = Signals::new([SIGTERM, SIGINT]).context("installing signal handlers")?;
    // Counters exist before the shards: each shard gets its own, the admin thread reads all.
    let registry = Arc::new(Registry::new(cpus.len(), &config));
    crate::admin::start(&config, &registry)?;
    let limiter = memory_limiter(&config)?;
    if let Some((limits, _)) = &limiter {
        let share = memory_limiter::shard_share_bytes(limits, cpus.len());
        if share < config.shards.pending_bytes_max {
            tracing::info!(
                pending_bytes_max = share,
                "memory_limiter caps each shard's pending data at its share of the soft limit"
            );
            config.shards.pending_bytes_max = share;
        }
    }
    let rebalance = &config.shards.rebalance;
    let mailboxes = (rebalance.enabled && cpus.len() > 1)
        .then(|| Mailboxes::new(cpus.len(), rebalance.queue_bytes_max));
    // Trace affinity: only when a pipeline samples whole traces over several shards.
    let samples_traces = config
        .processors
        .values()
        .any(|p| matches!(p, ProcessorConfig::TailSampling(_)));
    let affinity = (samples_traces && cpus.len() > 1).then(|| {
        AffinityMesh::new(
            cpus.len(),
            config.shards.pending_bytes_max / affinity::MAILBOX_SHARE_DIVISOR,
        )
    });
    // Held (locked) until the process ends.
    let queues = Arc::new(crate::storage::dirs::lock_all(&config)?);
    let config = Arc::new(config);
    let counters = registry.shards.clone();
    let shards = cpus.len();
    let runtime = shardgate_shards::start(settings, move |ctx| {
        let own = counters.get(ctx.shard).cloned();
        let durable = shard::Durable {
            queues: queues.clone(),
            shards,
        };
        shard::run(
            ctx,
            config.clone(),
            own,
            mailboxes.clone(),
            affinity.clone(),
            durable,
        )
    })?;
    if let Err(error) = runtime.wait_ready(START_TIMEOUT) {
        if let Err(unsent) = runtime.drain() {
            tracing::error!(error = %unsent, "Drain not delivered to every shard");
        }
        let _ = runtime.join();
        return Err(error.into());
    }
    tracing::info!(
        shards = cpus.len(),
        ?cpus,
        startup_ms = started.elapsed().as_millis() as u64,
        "Everything is ready. Begin running and processing data."
    );
    registry.set_phase(Phase::Ready);
    let (signal_tx, signal_rx) = unbounded();
    let handle = signals.handle();
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            for signal in signals.forever() {
                if signal_tx.send(signal).is_err() {
                    break;
                }
            }
        })
        .context("spawning the signal thread")?;
    let (mut monitor, tick) = match limiter {
        Some((limits, interval)) => (
            Some(Monitor::new(limits)),
            crossbeam_channel::tick(interval),
        ),
        None => (None, crossbeam_channel::never()),
    };
    let failure = loop {
        select! {
            recv(signal_rx) -> signal => {
                tracing::info!(signal = signal.unwrap_or_default(), "Received signal, draining");
                break None;
            }
            recv(runtime.events()) -> event => {
                let failure = match event {
                    Ok(FromShard::Failed { shard, reason }) => {
                        shard_failed(&registry, shard, &reason);
                        format!("shard {shard} failed: {reason}")
                    }
                    other => format!("shard stopped unexpectedly: {other:?}"),
                };
                break Some(failure);
            }
            recv(tick) -> _ => {
                let rss = memory_limiter::sample_rss(monitor.as_ref());
                let sample = monitor.as_mut().zip(rss);
                if let Some(level) = sample.and_then(|(m, rss)| m.observe(rss)) {
                    // The shards' published budget use says how much of the RSS is data
                    // waiting for delivery (vs. buffers, connections, allocator slack).
                    let pending_bytes: u64 =
                        registry.shards.iter().map(|s| s.pending_bytes.get()).sum();
                    tracing::warn!(?level, rss_bytes = rss, pending_bytes, "Memory pressure changed");
                    if let Err(error) = runtime.set_pressure(level) {
                        tracing::error!(%error, "Memory pressure change not delivered to every shard");
                    }
                }
            }
        }
    };
    registry.set_phase(Phase::Draining);
    if let Err(error) = runtime.drain() {
        tracing::error!(%error, "Drain not delivered to every shard");
    }
    handle.close();
    join_within(runtime, drain_timeout + JOIN_GRACE)?;
    if let Some(failure) = failure {
        bail!(failure);
    }
    tracing::info!("Shutdown complete.");
    Ok(())
}

/// A shard died while serving (a panic, or its body failed): health turns unavailable at
/// once, the failure is counted and logged with what the shard held. The caller then drains
/// the other shards and the process exits non-zero, for its supervisor to restart it: the
/// dead shard's undelivered data cannot be recovered in-process, and a restarted shard would
/// hide a bug that may strike again.
fn shard_failed(registry: &Registry, shard: usize, reason: &str) {
    registry.set_phase(Phase::Draining);
    registry.record_shard_failure(shard);
    let lost_bytes = registry
        .shards
        .get(shard)
        .map_or(0, |s| s.pending_bytes.get());
    tracing::error!(
        shard,
        reason,
        lost_bytes,
        "Shard failed; draining the other shards, then exiting with an error"
    );
}

/// The memory limit to watch and how often: the strictest `memory_limiter` used by a pipeline.
fn memory_limiter(config: &Config) -> anyhow::Result<Option<(Limits, Duration)>> {
    let used: Vec<_> = config
        .service
        .pipelines
        .iter()
        .flat_map(|p| p.processors.iter())
        .filter_map(|id| match config.processors.get(id) {
            Some(ProcessorConfig::MemoryLimiter(m)) => Some(m),
            _ => None,
        })
        .collect();
    Ok(memory_limiter::strictest(&used)?)
}

/// Waits for the shards to stop, but not forever: a stuck shard must not keep a stopping
/// host waiting past its drain budget.
fn join_within(runtime: shardgate_shards::Runtime, limit: Duration) -> anyhow::Result<()> {
    let (done_tx, done_rx) = crossbeam_channel::bounded(1);
    std::thread::spawn(move || {
        let _ = done_tx.send(runtime.join());
    });
    match done_rx.recv_timeout(limit) {
        Ok(result) => Ok(result?),
        Err(_) => bail!("shards did not stop within {limit:?}"),
    }
}

/// The CPU ids to run shards on.
pub fn resolve_cores(spec: &CoresSpec) -> anyhow::Result<Vec<usize>> {
    let available = preflight::available_cpus();
    match spec {
        CoresSpec::All => Ok(available),
        CoresSpec::Count(count) => {
            if *count == 0 || *count > available.len() {
                bail!(
                    "shards.cores: {count} shards asked for, but this process may use {} CPU(s): {available:?}",
                    available.len()
                );
            }
            Ok(available.into_iter().take(*count).collect())
        }
        CoresSpec::List(list) => {
            preflight::check_cpus(list)?;
            Ok(list.clone())
        }
    }
}
