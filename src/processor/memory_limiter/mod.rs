//! The `memory_limiter` processor: keeps the process under its memory limit by refusing new
//! data at the receivers, before a body is read or decoded.
//!
//! How it works, step by step:
//! 1. At start the limit is resolved to bytes: `limit_mib`, or `limit_percentage` of the
//!    cgroup's limit (`/sys/fs/cgroup/memory.max` on v2, `memory.limit_in_bytes` on v1), or of
//!    `MemTotal` in `/proc/meminfo` when there is no cgroup limit. A spike of 0 is 20% of it.
//! 2. Every `check_interval` the main thread reads the process RSS (VmRSS of `/proc/self/status`)
//!    and computes the level with `shardgate_shards::pressure::decide` (normal / soft / hard).
//! 3. When the level changes it is broadcast to every shard over the control channel; each
//!    shard keeps it in a shard-local cell.
//! 4. At soft or hard, the OTLP receivers refuse every new request with a retryable error
//!    (gRPC UNAVAILABLE, HTTP 503 + Retry-After) before reading its body, so the client keeps
//!    its data and memory stops growing; data already acknowledged is still delivered.
//!
//! With the shard budget: `shards.pending_bytes_max` bounds what each shard holds of
//! acknowledged data (per shard, exact, checked per request, before anything is acknowledged);
//! the RSS sampling bounds the whole process (all shards, buffers, connections). A sample
//! comes too late for a burst (clients on a fast link deliver tens of MiB between two
//! samples), so the limiter also caps each shard's budget at [`shard_share_bytes`]: half of
//! the soft limit, split over the shards. The other half covers what the budget does not
//! see (export copies of in-flight batches, receive buffers, allocator slack): measured in
//! `tests/memory_limiter.rs`, RSS peaks near baseline + 1.4 × pending bytes.
//! Above the soft limit, RSS is read after handing the allocator's free memory back to the
//! kernel, so that memory freed after a burst does not keep the level up.
//! Several `memory_limiter` processors in one config share the strictest limit.

pub mod config;

use std::time::Duration;

use shardgate_shards::pressure::{self, Level, Limits};

use crate::config::MemoryLimiterConfig;
use crate::observe::process;

const MIB: u64 = 1 << 20;

/// Why the memory limit could not be resolved.
#[derive(Debug, thiserror::Error)]
pub enum MemoryLimiterError {
    /// `limit_percentage` is used but the available memory could not be read.
    #[error("memory_limiter: cannot read the available memory for limit_percentage ({0}); set limit_mib instead")]
    TotalMemory(String),
    /// The resolved spike is not below the resolved limit.
    #[error("memory_limiter: the spike limit ({spike_bytes} bytes) must be smaller than the limit ({limit_bytes} bytes)")]
    Spike {
        /// Resolved limit.
        limit_bytes: u64,
        /// Resolved spike.
        spike_bytes: u64,
    },
}

/// Resolves `config` to byte limits, reading the available memory when it is a percentage.
pub fn resolve(config: &MemoryLimiterConfig) -> Result<Limits, MemoryLimiterError> {
    let (limit_bytes, spike_bytes) = if config.limit_mib != 0 {
        (
            u64::from(config.limit_mib) * MIB,
            u64::from(config.spike_limit_mib) * MIB,
        )
    } else {
        let total = available_memory_bytes().map_err(MemoryLimiterError::TotalMemory)?;
        (
            total / 100 * u64::from(config.limit_percentage),
            total / 100 * u64::from(config.spike_limit_percentage),
        )
    };
    limits(limit_bytes, spike_bytes)
}

/// otelcol's rule: a spike of 0 means 20% of the limit; the spike must be below the limit.
fn limits(limit_bytes: u64, spike_bytes: u64) -> Result<Limits, MemoryLimiterError> {
    if spike_bytes >= limit_bytes {
        return Err(MemoryLimiterError::Spike {
            limit_bytes,
            spike_bytes,
        });
    }
    let spike_bytes = if spike_bytes == 0 {
        limit_bytes / 5
    } else {
        spike_bytes
    };
    Ok(Limits {
        limit_bytes,
        spike_bytes,
    })
}

/// The strictest of several limiters (the one that refuses first).
pub fn strictest(
    configs: &[&MemoryLimiterConfig],
) -> Result<Option<(Limits, Duration)>, MemoryLimiterError> {
    let mut best: Option<(Limits, Duration)> = None;
    for config in configs {
        let limits = resolve(config)?;
        let interval = config.check_interval;
        best = Some(match best {
            Some((b, i)) if b.soft_bytes() <= limits.soft_bytes() => (b, i.min(interval)),
            Some((_, i)) => (limits, i.min(interval)),
            None => (limits, interval),
        });
    }
    Ok(best)
}

/// Memory available to the process: the cgroup limit if one is set, else `MemTotal`.
fn available_memory_bytes() -> Result<u64, String> {
    if let Some(limit) = cgroup_limit_bytes() {
        return Ok(limit);
    }
    let meminfo = std::fs::read_to_string("/proc/meminfo").map_err(|e| e.to_string())?;
    parse_meminfo_total(&meminfo).ok_or_else(|| "no MemTotal in /proc/meminfo".into())
}

fn cgroup_limit_bytes() -> Option<u64> {
    for path in [
        "/sys/fs/cgroup/memory.max",
        "/sys/fs/cgroup/memory/memory.limit_in_bytes",
    ] {
        if let Ok(text) = std::fs::read_to_string(path) {
            if let Some(limit) = parse_cgroup_limit(&text) {
                return Some(limit);
            }
        }
    }
    None
}

/// `max` (v2) or a huge sentinel (v1, about 2^63 rounded to pages) mean no limit.
fn parse_cgroup_limit(text: &str) -> Option<u64> {
    let value: u64 = text.trim().parse().ok()?;
    (value < (1u64 << 62)).then_some(value)
}

fn parse_meminfo_total(text: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// The most acknowledged bytes one of `shards` shards may hold under `limits` (see the
/// module documentation for why half of the soft limit).
pub fn shard_share_bytes(limits: &Limits, shards: usize) -> usize {
    let share = limits.soft_bytes() / 2 / (shards.max(1) as u64);
    usize::try_from(share).unwrap_or(usize::MAX)
}

/// The RSS to compare against the limits: when `monitor` is above normal or the raw sample is
/// at the soft limit, measured again after the allocator returned its free memory.
pub fn sample_rss(monitor: Option<&Monitor>) -> Option<u64> {
    let monitor = monitor?;
    let rss = process::rss_bytes()?;
    if monitor.level == Level::Normal && rss < monitor.limits.soft_bytes() {
        return Some(rss);
    }
    shardgate_io::system::release_free_memory();
    process::rss_bytes()
}

/// The main thread's side: samples RSS and says when the level changes.
#[derive(Debug)]
pub struct Monitor {
    limits: Limits,
    level: Level,
}

impl Monitor {
    /// A monitor starting at the normal level.
    pub fn new(limits: Limits) -> Monitor {
        Monitor {
            limits,
            level: Level::Normal,
        }
    }

    /// Feeds one usage sample; returns the new level when it changed.
    pub fn observe(&mut self, used_bytes: u64) -> Option<Level> {
        let next = pressure::decide(&self.limits, self.level, used_bytes);
        if next == self.level {
            return None;
        }
        self.level = next;
        Some(next)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn spike_defaults_to_a_fifth_and_must_be_below_the_limit() {
        let l = limits(100 * MIB, 0).unwrap();
        assert_eq!(l.spike_bytes, 20 * MIB);
        assert_eq!(l.soft_bytes(), 80 * MIB);
        assert!(limits(100, 100).is_err());
    }

    #[test]
    fn parses_cgroup_and_meminfo() {
        assert_eq!(parse_cgroup_limit("max\n"), None);
        assert_eq!(parse_cgroup_limit("9223372036854771712\n"), None);
        assert_eq!(parse_cgroup_limit("1073741824\n"), Some(1 << 30));
        let meminfo = "MemTotal:       24576000 kB\nMemFree:  1 kB\n";
        assert_eq!(parse_meminfo_total(meminfo), Some(24_576_000 * 1024));
    }

    #[test]
    fn shard_share_is_half_the_soft_limit_split_over_shards() {
        let l = limits(100 * MIB, 20 * MIB).unwrap();
        assert_eq!(shard_share_bytes(&l, 2), (20 * MIB) as usize);
        assert_eq!(shard_share_bytes(&l, 0), (40 * MIB) as usize);
    }

    #[test]
    fn monitor_reports_changes_only() {
        let mut m = Monitor::new(limits(100 * MIB, 20 * MIB).unwrap());
        assert_eq!(m.observe(10 * MIB), None);
        assert_eq!(m.observe(85 * MIB), Some(Level::Soft));
        assert_eq!(m.observe(86 * MIB), None);
        assert_eq!(m.observe(120 * MIB), Some(Level::Hard));
        assert_eq!(m.observe(10 * MIB), Some(Level::Normal));
    }

    #[test]
    fn strictest_wins() {
        let a = MemoryLimiterConfig {
            check_interval: Duration::from_secs(1),
            limit_mib: 100,
            spike_limit_mib: 0,
            limit_percentage: 0,
            spike_limit_percentage: 0,
        };
        let b = MemoryLimiterConfig {
            check_interval: Duration::from_millis(100),
            limit_mib: 50,
            ..a.clone()
        };
        let (l, i) = strictest(&[&a, &b]).unwrap().unwrap();
        assert_eq!(l.limit_bytes, 50 * MIB);
        assert_eq!(i, Duration::from_millis(100));
        assert!(strictest(&[]).unwrap().is_none());
    }
}
