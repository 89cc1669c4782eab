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

/// The `batch` processor.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BatchConfig {
    /// Items that trigger sending a batch (default 8192).
    pub send_batch_size: u32,
    /// Longest time an item waits before its batch is sent regardless of size (default 200ms).
    pub timeout: Duration,
    /// Upper bound on items per batch; 0 = no cap (default). Never below `send_batch_size`.
    pub send_batch_max_size: u32,
}

impl Default for BatchConfig {
    fn default() -> Self {
        BatchConfig {
            send_batch_size: DEFAULT_SEND_BATCH_SIZE,
            timeout: DEFAULT_BATCH_TIMEOUT,
            send_batch_max_size: 0,
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
    let cfg = BatchConfig {
        send_batch_size: raw.send_batch_size.unwrap_or(d.send_batch_size),
        timeout: raw.timeout.map_or(d.timeout, |t| t.0),
        send_batch_max_size: raw.send_batch_max_size.unwrap_or(d.send_batch_max_size),
    };
    if cfg.send_batch_max_size != 0 && cfg.send_batch_max_size < cfg.send_batch_size {
        errs.invalid(
            join(path, "send_batch_max_size"),
            "send_batch_max_size must be greater or equal to send_batch_size",
        );
    }
    if raw.metadata_keys.as_ref().is_some_and(|k| !k.is_empty()) {
        errs.invalid(
            join(path, "metadata_keys"),
            "batching by metadata is not supported yet; remove metadata_keys",
        );
    }
    if raw.metadata_cardinality_limit.is_some() {
        tracing::debug!(key = %join(path, "metadata_cardinality_limit"), "ignored without metadata_keys");
    }
    cfg
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
        let err = parse("metadata_keys: [tenant]").unwrap_err().to_string();
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
