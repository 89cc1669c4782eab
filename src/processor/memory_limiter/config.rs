//! `processors: memory_limiter`: otelcol's keys, defaults and validation errors.
//!
//! The limit is either absolute (`limit_mib`, `spike_limit_mib`) or a percentage of the memory
//! available to the process (`limit_percentage`, `spike_limit_percentage`); `limit_mib` wins
//! when both are set, as in otelcol. A spike of 0 means 20% of the limit. The percentages are
//! turned into bytes at start, by `processor::memory_limiter`.

use std::time::Duration;

use serde::Deserialize;
use serde_yaml::Value;

use crate::config::de::{self, join};
use crate::config::duration::GoDuration;
use crate::config::error::Errors;

/// The `memory_limiter` processor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemoryLimiterConfig {
    /// How often the process's memory is sampled (required, > 0).
    pub check_interval: Duration,
    /// Hard limit in MiB; 0 = use `limit_percentage`.
    pub limit_mib: u32,
    /// Allowance for growth between checks in MiB; 0 = 20% of the limit.
    pub spike_limit_mib: u32,
    /// Hard limit as a percentage of the available memory (used when `limit_mib` is 0).
    pub limit_percentage: u32,
    /// Spike allowance as a percentage of the available memory; 0 = 20% of the limit.
    pub spike_limit_percentage: u32,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawMemoryLimiter {
    check_interval: Option<GoDuration>,
    limit_mib: Option<u32>,
    spike_limit_mib: Option<u32>,
    limit_percentage: Option<u32>,
    spike_limit_percentage: Option<u32>,
    /// Go GC tuning in otelcol; nothing to tune here.
    min_gc_interval_when_soft_limited: Option<GoDuration>,
    /// Go GC tuning in otelcol; nothing to tune here.
    min_gc_interval_when_hard_limited: Option<GoDuration>,
}

/// Decodes and checks a `memory_limiter` body; `path` is e.g. `processors::memory_limiter`.
pub(crate) fn parse(body: Value, path: &str, errs: &mut Errors) -> Option<MemoryLimiterConfig> {
    let raw: RawMemoryLimiter = errs.take(de::decode(body, path))?;
    if raw.min_gc_interval_when_soft_limited.is_some()
        || raw.min_gc_interval_when_hard_limited.is_some()
    {
        errs.warn(
            path,
            "min_gc_interval_* tune Go's garbage collector; ignored",
        );
    }
    let cfg = MemoryLimiterConfig {
        check_interval: raw.check_interval.map_or(Duration::ZERO, |d| d.0),
        limit_mib: raw.limit_mib.unwrap_or(0),
        spike_limit_mib: raw.spike_limit_mib.unwrap_or(0),
        limit_percentage: raw.limit_percentage.unwrap_or(0),
        spike_limit_percentage: raw.spike_limit_percentage.unwrap_or(0),
    };
    let at = |key: &str| join(path, key);
    if cfg.check_interval.is_zero() {
        errs.invalid(
            at("check_interval"),
            "'check_interval' must be greater than zero",
        );
    }
    if cfg.limit_mib == 0 && cfg.limit_percentage == 0 {
        errs.invalid(
            at("limit_mib"),
            "'limit_mib' or 'limit_percentage' must be greater than zero",
        );
    } else if cfg.limit_mib != 0 {
        if cfg.spike_limit_mib >= cfg.limit_mib {
            errs.invalid(
                at("spike_limit_mib"),
                "'spike_limit_mib' must be smaller than 'limit_mib'",
            );
        }
    } else if cfg.limit_percentage > 100 || cfg.spike_limit_percentage > 100 {
        errs.invalid(
            at("limit_percentage"),
            "'limit_percentage' and 'spike_limit_percentage' must be greater than zero and less than or equal to hundred",
        );
    } else if cfg.spike_limit_percentage >= cfg.limit_percentage {
        errs.invalid(
            at("spike_limit_percentage"),
            "'spike_limit_percentage' must be smaller than 'limit_percentage'",
        );
    }
    Some(cfg)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn parse(yaml: &str) -> Result<MemoryLimiterConfig, String> {
        let mut errs = Errors::default();
        let body: Value = serde_yaml::from_str(yaml).unwrap();
        let cfg = super::parse(body, "processors::memory_limiter", &mut errs);
        errs.finish(cfg)
            .map(Option::unwrap)
            .map_err(|e| e.to_string())
    }

    #[test]
    fn absolute_limit() {
        let c = parse("check_interval: 1s\nlimit_mib: 4000\nspike_limit_mib: 800").unwrap();
        assert_eq!(c.check_interval, Duration::from_secs(1));
        assert_eq!((c.limit_mib, c.spike_limit_mib), (4000, 800));
        let c = parse("check_interval: 100ms\nlimit_percentage: 75\nspike_limit_percentage: 15")
            .unwrap();
        assert_eq!((c.limit_percentage, c.spike_limit_percentage), (75, 15));
    }

    #[test]
    fn otelcol_validation_errors() {
        let e = parse("limit_mib: 100").unwrap_err();
        assert!(
            e.contains("processors::memory_limiter::check_interval: 'check_interval' must be greater than zero"),
            "{e}"
        );
        let e = parse("check_interval: 1s").unwrap_err();
        assert!(
            e.contains("'limit_mib' or 'limit_percentage' must be greater than zero"),
            "{e}"
        );
        let e = parse("check_interval: 1s\nlimit_mib: 100\nspike_limit_mib: 100").unwrap_err();
        assert!(
            e.contains("'spike_limit_mib' must be smaller than 'limit_mib'"),
            "{e}"
        );
        let e = parse("check_interval: 1s\nlimit_percentage: 101").unwrap_err();
        assert!(e.contains("less than or equal to hundred"), "{e}");
        let e = parse("check_interval: 1s\nlimit_percentage: 50\nspike_limit_percentage: 60")
            .unwrap_err();
        assert!(
            e.contains("'spike_limit_percentage' must be smaller"),
            "{e}"
        );
        let e = parse("check_interval: 1s\nlimit_mib: 10\nlimit_mb: 3").unwrap_err();
        assert!(e.contains("limit_mb"), "{e}");
    }
}
