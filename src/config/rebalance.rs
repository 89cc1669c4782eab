//! `shards.rebalance:`: when a busy shard hands whole requests to a less loaded one
//! (shardgate's own section; see `receiver::handoff`).

use std::time::Duration;

use serde::Deserialize;
use serde_yaml::Value;

use super::de::{decode, join};
use super::duration::GoDuration;
use super::error::Errors;

/// The `shards.rebalance` section.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RebalanceConfig {
    /// Whether shards hand work to each other at all (default true; nothing moves while
    /// load is even).
    pub enabled: bool,
    /// A shard at least this busy hands work off, in thousandths (`busy_threshold: 0.8`).
    pub busy_threshold_permille: u16,
    /// A shard whose pending-data budget is at least this full hands work off
    /// (`pending_threshold: 0.5`).
    pub pending_threshold_permille: u16,
    /// Most bytes of not-yet-admitted requests one shard's hand-off mailbox holds (default
    /// 8 MiB); past it a busy shard keeps its work.
    pub queue_bytes_max: usize,
    /// How often each shard measures and publishes its load (default 50ms).
    pub publish_interval: Duration,
}

impl Default for RebalanceConfig {
    fn default() -> Self {
        RebalanceConfig {
            enabled: true,
            busy_threshold_permille: 800,
            pending_threshold_permille: 500,
            queue_bytes_max: 8 << 20,
            publish_interval: Duration::from_millis(50),
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawRebalance {
    enabled: Option<bool>,
    busy_threshold: Option<f64>,
    pending_threshold: Option<f64>,
    queue_bytes_max: Option<u64>,
    publish_interval: Option<GoDuration>,
}

/// Shortest publish interval: loads measured over less than this are mostly noise, and each
/// publish is a wake-up of every peer.
const PUBLISH_INTERVAL_MIN: Duration = Duration::from_millis(5);

/// Decodes and checks `shards.rebalance` (absent or null: all defaults).
pub(crate) fn build(body: Option<Value>, errs: &mut Errors) -> RebalanceConfig {
    let d = RebalanceConfig::default();
    let path = "shards::rebalance";
    let Some(body) = body else {
        return d;
    };
    let Some(raw) = errs.take(decode::<RawRebalance>(body, path)) else {
        return d;
    };
    let mut fraction = |key: &str, value: Option<f64>, default: u16| match value {
        None => default,
        Some(v) if (0.0..=1.0).contains(&v) => (v * 1000.0).round() as u16,
        Some(v) => {
            errs.invalid(join(path, key), format!("{v} is not between 0 and 1"));
            default
        }
    };
    let busy_threshold_permille = fraction(
        "busy_threshold",
        raw.busy_threshold,
        d.busy_threshold_permille,
    );
    let pending_threshold_permille = fraction(
        "pending_threshold",
        raw.pending_threshold,
        d.pending_threshold_permille,
    );
    let queue_bytes_max = match raw.queue_bytes_max {
        None => d.queue_bytes_max,
        Some(0) => {
            errs.invalid(join(path, "queue_bytes_max"), "must be greater than zero");
            d.queue_bytes_max
        }
        Some(n) => usize::try_from(n).unwrap_or(usize::MAX),
    };
    let publish_interval = match raw.publish_interval {
        None => d.publish_interval,
        Some(t) if t.0 < PUBLISH_INTERVAL_MIN => {
            errs.invalid(
                join(path, "publish_interval"),
                format!("must be at least {PUBLISH_INTERVAL_MIN:?}"),
            );
            d.publish_interval
        }
        Some(t) => t.0,
    };
    RebalanceConfig {
        enabled: raw.enabled.unwrap_or(d.enabled),
        busy_threshold_permille,
        pending_threshold_permille,
        queue_bytes_max,
        publish_interval,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn parse(yaml: &str) -> Result<RebalanceConfig, super::super::error::ConfigError> {
        let mut errs = Errors::default();
        let r = build(Some(serde_yaml::from_str(yaml).unwrap()), &mut errs);
        errs.finish(r)
    }

    #[test]
    fn defaults_and_values() {
        assert_eq!(parse("").unwrap(), RebalanceConfig::default());
        let r = parse(
            "{enabled: false, busy_threshold: 0.5, pending_threshold: 0.25, queue_bytes_max: 1024, publish_interval: 20ms}",
        )
        .unwrap();
        assert!(!r.enabled);
        assert_eq!(r.busy_threshold_permille, 500);
        assert_eq!(r.pending_threshold_permille, 250);
        assert_eq!(r.queue_bytes_max, 1024);
        assert_eq!(r.publish_interval, Duration::from_millis(20));
    }

    #[test]
    fn bad_values_name_their_keys() {
        let err = parse("{busy_threshold: 1.5, queue_bytes_max: 0, publish_interval: 1ms}")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("shards::rebalance::busy_threshold: 1.5 is not between 0 and 1"),
            "{err}"
        );
        assert!(
            err.contains("shards::rebalance::queue_bytes_max: must be greater than zero"),
            "{err}"
        );
        assert!(
            err.contains("shards::rebalance::publish_interval: must be at least"),
            "{err}"
        );
        let err = parse("{enable: true}").unwrap_err().to_string();
        assert!(err.contains("unknown field `enable`"), "{err}");
    }
}
