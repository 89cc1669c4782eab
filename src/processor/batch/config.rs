//! Config of the `batch` processor: otelcol's keys, defaults and checks.

use std::time::Duration;

use serde::Deserialize;
use serde_yaml::Value;

use crate::config::de::{self, join, Text};
use crate::config::duration::GoDuration;
use crate::config::error::Errors;

/// Default `send_batch_size` (otelcol's).
pub const DEFAULT_SEND_BATCH_SIZE: u32 = 8192;
/// Default batch `timeout` (otelcol's).
pub const DEFAULT_BATCH_TIMEOUT: Duration = Duration::from_millis(200);
/// Default `metadata_cardinality_limit` (otelcol's).
pub const DEFAULT_METADATA_CARDINALITY_LIMIT: u32 = 1000;
/// The limit used for `metadata_cardinality_limit: 0`, which otelcol takes as "no limit":
/// every combination holds a buffer, so clients sending ever new values must meet a bound.
pub const METADATA_CARDINALITY_CEILING: u32 = 100_000;

/// The `batch` processor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BatchConfig {
    /// Items that trigger sending a batch (default 8192).
    pub send_batch_size: u32,
    /// Longest time an item waits before its batch is sent regardless of size (default 200ms).
    pub timeout: Duration,
    /// Upper bound on items per batch; 0 = no cap (default). Never below `send_batch_size`.
    pub send_batch_max_size: u32,
    /// Client metadata keys (lowercased, config order) whose values make separate batches;
    /// empty = one batch for all data, sent without metadata.
    pub metadata_keys: Vec<String>,
    /// Most distinct value combinations of `metadata_keys` batched at once (default 1000).
    pub metadata_cardinality_limit: u32,
}

impl Default for BatchConfig {
    fn default() -> Self {
        BatchConfig {
            send_batch_size: DEFAULT_SEND_BATCH_SIZE,
            timeout: DEFAULT_BATCH_TIMEOUT,
            send_batch_max_size: 0,
            metadata_keys: Vec::new(),
            metadata_cardinality_limit: DEFAULT_METADATA_CARDINALITY_LIMIT,
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawBatch {
    send_batch_size: Option<u32>,
    timeout: Option<GoDuration>,
    send_batch_max_size: Option<u32>,
    metadata_keys: Option<Vec<Text>>,
    metadata_cardinality_limit: Option<u32>,
}

/// Decodes and checks a `batch` body at `path` (e.g. `processors::batch`).
pub(crate) fn parse(body: Value, path: &str, errs: &mut Errors) -> Option<BatchConfig> {
    let raw: RawBatch = errs.take(de::decode(body, path))?;
    Some(batch(raw, path, errs))
}

fn batch(raw: RawBatch, path: &str, errs: &mut Errors) -> BatchConfig {
    let d = BatchConfig::default();
    let metadata_keys = metadata_keys(raw.metadata_keys.unwrap_or_default(), path, errs);
    let metadata_cardinality_limit = match raw.metadata_cardinality_limit {
        None => d.metadata_cardinality_limit,
        Some(0) => {
            if !metadata_keys.is_empty() {
                errs.warn(
                    &join(path, "metadata_cardinality_limit"),
                    format!("0 (no limit) is taken as {METADATA_CARDINALITY_CEILING}"),
                );
            }
            METADATA_CARDINALITY_CEILING
        }
        Some(n) => n,
    };
    let cfg = BatchConfig {
        send_batch_size: raw.send_batch_size.unwrap_or(d.send_batch_size),
        timeout: raw.timeout.map_or(d.timeout, |t| t.0),
        send_batch_max_size: raw.send_batch_max_size.unwrap_or(d.send_batch_max_size),
        metadata_keys,
        metadata_cardinality_limit,
    };
    if cfg.send_batch_max_size != 0 && cfg.send_batch_max_size < cfg.send_batch_size {
        errs.invalid(
            join(path, "send_batch_max_size"),
            "send_batch_max_size must be greater or equal to send_batch_size",
        );
    }
    cfg
}

/// `metadata_keys`, lowercased; a key named twice (in any case) is an error, as in otelcol.
fn metadata_keys(raw: Vec<Text>, path: &str, errs: &mut Errors) -> Vec<String> {
    let mut keys: Vec<String> = Vec::with_capacity(raw.len());
    for Text(key) in raw {
        let key = key.to_ascii_lowercase();
        if keys.contains(&key) {
            errs.invalid(
                join(path, "metadata_keys"),
                format!("duplicate entry in metadata_keys: \"{key}\" (case-insensitive)"),
            );
            continue;
        }
        keys.push(key);
    }
    keys
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::config::{ConfigError, ProcessorConfig};

    fn parse(yaml: &str) -> Result<BatchConfig, ConfigError> {
        crate::registry::testing::processor("batch", yaml).map(|p| match p {
            ProcessorConfig::Batch(b) => b,
            other => panic!("not batch: {other:?}"),
        })
    }

    #[test]
    fn defaults() {
        let b = parse("").unwrap();
        assert_eq!(b, BatchConfig::default());
        assert_eq!(b.send_batch_size, 8192);
        assert_eq!(b.timeout, Duration::from_millis(200));
        assert_eq!(b.send_batch_max_size, 0);
    }

    #[test]
    fn explicit_values() {
        let b = parse("send_batch_size: 100\ntimeout: 1s\nsend_batch_max_size: 100\nmetadata_keys: []\nmetadata_cardinality_limit: 10").unwrap();
        assert_eq!(b.send_batch_size, 100);
        assert_eq!(b.timeout, Duration::from_secs(1));
        assert_eq!(b.send_batch_max_size, 100);
        assert!(b.metadata_keys.is_empty());
        assert_eq!(b.metadata_cardinality_limit, 10);
    }

    #[test]
    fn metadata_keys_are_lowercased_with_otelcol_s_default_limit() {
        let b = parse("metadata_keys: [X-Tenant, x-env]").unwrap();
        assert_eq!(b.metadata_keys, ["x-tenant", "x-env"]);
        assert_eq!(b.metadata_cardinality_limit, 1000);
        let b = parse("metadata_keys: [x-tenant]\nmetadata_cardinality_limit: 0").unwrap();
        assert_eq!(b.metadata_cardinality_limit, METADATA_CARDINALITY_CEILING);
        let err = parse("metadata_keys: [X-Tenant, x-tenant]").unwrap_err();
        assert_eq!(
            err.to_string(),
            "processors::batch::metadata_keys: duplicate entry in metadata_keys: \"x-tenant\" (case-insensitive)"
        );
    }

    #[test]
    fn max_below_size_is_rejected() {
        let err = parse("send_batch_size: 100\nsend_batch_max_size: 10").unwrap_err();
        assert_eq!(
            err.to_string(),
            "processors::batch::send_batch_max_size: send_batch_max_size must be greater or equal to send_batch_size"
        );
    }

    #[test]
    fn bad_values_name_the_key() {
        let err = parse("timeout: soon").unwrap_err().to_string();
        assert!(
            err.starts_with("processors::batch::timeout: invalid duration \"soon\""),
            "{err}"
        );
        let err = parse("metadata_keys: tenant").unwrap_err().to_string();
        assert!(
            err.starts_with("processors::batch::metadata_keys: "),
            "{err}"
        );
        let err = parse("send_batch_size: -1").unwrap_err().to_string();
        assert!(
            err.starts_with("processors::batch::send_batch_size: invalid value"),
            "{err}"
        );
    }
}
