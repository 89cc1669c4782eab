//! `processors:` section: the batch processor, with otelcol's keys, defaults and checks.

use std::time::Duration;

use serde::Deserialize;
use serde_yaml::Value;

use super::de::{self, join, Text};
use super::duration::GoDuration;
use super::error::Errors;
use crate::signal::Signal;

/// Default `send_batch_size` (otelcol's).
pub const DEFAULT_SEND_BATCH_SIZE: u32 = 8192;
/// Default batch `timeout` (otelcol's).
pub const DEFAULT_BATCH_TIMEOUT: Duration = Duration::from_millis(200);

/// One configured processor.
#[derive(Clone, Debug, PartialEq)]
pub enum ProcessorConfig {
    /// `batch`: groups items into larger export requests.
    Batch(BatchConfig),
    /// `attributes`: actions on span, log record and data point attributes.
    Attributes(super::AttributesConfig),
    /// `resource`: actions on resource attributes.
    Resource(super::ResourceConfig),
    /// `memory_limiter`: refuses new data at receivers while memory is short.
    MemoryLimiter(super::MemoryLimiterConfig),
}

impl ProcessorConfig {
    /// Whether this processor can sit in a pipeline of `signal` (batch handles all three).
    pub fn supports(&self, signal: Signal) -> bool {
        match self {
            ProcessorConfig::Batch(_) => {
                matches!(signal, Signal::Traces | Signal::Metrics | Signal::Logs)
            }
            ProcessorConfig::Attributes(a) => a.check_signal(signal).is_ok(),
            ProcessorConfig::Resource(_) => true,
            ProcessorConfig::MemoryLimiter(_) => true,
        }
    }
}

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

/// `batch` (registered in `super::registry`); `path` is e.g. `processors::batch`.
pub(crate) fn parse_batch(body: Value, path: &str, errs: &mut Errors) -> Option<ProcessorConfig> {
    let raw: RawBatch = errs.take(de::decode(body, path))?;
    Some(ProcessorConfig::Batch(batch(raw, path, errs)))
}

/// `attributes` (registered in `super::registry`).
pub(crate) fn parse_attributes(
    body: Value,
    path: &str,
    errs: &mut Errors,
) -> Option<ProcessorConfig> {
    super::attributes::attributes(body, path, errs).map(ProcessorConfig::Attributes)
}

/// `resource` (registered in `super::registry`).
pub(crate) fn parse_resource(
    body: Value,
    path: &str,
    errs: &mut Errors,
) -> Option<ProcessorConfig> {
    super::attributes::resource(body, path, errs).map(ProcessorConfig::Resource)
}

/// `memory_limiter` (registered in `super::registry`).
pub(crate) fn parse_memory_limiter(
    body: Value,
    path: &str,
    errs: &mut Errors,
) -> Option<ProcessorConfig> {
    super::memory_limiter::memory_limiter(body, path, errs).map(ProcessorConfig::MemoryLimiter)
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
    use crate::config::{ComponentId, ConfigError};

    fn parse(yaml: &str) -> Result<BatchConfig, ConfigError> {
        let mut errs = Errors::default();
        let body: Value = serde_yaml::from_str(yaml).unwrap();
        let p = super::super::registry::build_processor(
            &ComponentId::new("batch"),
            body,
            "processors::batch",
            &mut errs,
        );
        errs.finish(p).map(|p| match p.unwrap() {
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

    #[test]
    fn unknown_type() {
        let mut errs = Errors::default();
        super::super::registry::build_processor(
            &ComponentId::new("filter"),
            Value::Null,
            "processors::filter",
            &mut errs,
        );
        let err = errs.finish(()).unwrap_err().to_string();
        assert_eq!(
            err,
            "processors: unknown type \"filter\" for id \"filter\"; this build supports: attributes, batch, memory_limiter, resource"
        );
    }
}
