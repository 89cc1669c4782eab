//! `sending_queue.batch` of an exporter (otelcol's exporterhelper batching): `flush_timeout`,
//! `min_size`, `max_size`, `sizer`, read into the `batch` processor's settings, which the
//! pipeline builder runs in front of that exporter (see `pipeline::build`).

use std::time::Duration;

use serde::Deserialize;
use serde_yaml::Value;

use super::client::QueueSizer;
use super::de::{self, join, Text};
use super::duration::GoDuration;
use super::error::Errors;
use crate::processor::batch::config::BatchConfig;

/// Default `flush_timeout` (exporterhelper's).
pub const DEFAULT_FLUSH_TIMEOUT: Duration = Duration::from_millis(200);
/// Default `min_size` in items (exporterhelper's).
pub const DEFAULT_MIN_SIZE: u32 = 8192;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawQueueBatch {
    flush_timeout: Option<GoDuration>,
    min_size: Option<i64>,
    max_size: Option<i64>,
    sizer: Option<Text>,
}

/// What of the queue the batch settings are checked against.
pub(crate) struct Queue {
    /// Whether `sending_queue.sizer` was written (then it is the batch's default sizer).
    pub sizer_set: bool,
    /// `sending_queue.sizer`.
    pub sizer: QueueSizer,
    /// `sending_queue.queue_size`.
    pub queue_size: u32,
}

/// Reads `sending_queue.batch` at `path` (a null body is every default, as otelcol's).
pub(crate) fn parse(
    body: Value,
    queue: &Queue,
    path: &str,
    errs: &mut Errors,
) -> Option<BatchConfig> {
    let raw: RawQueueBatch = errs.take(de::decode(body, path))?;
    let at = |key: &str| join(path, key);
    let sizer = match raw.sizer.as_ref().map(|t| t.0.as_str()) {
        None if queue.sizer_set => queue.sizer,
        None | Some("items") => QueueSizer::Items,
        Some("bytes") => QueueSizer::Bytes,
        Some("requests") => QueueSizer::Requests,
        Some(other) => {
            errs.invalid(at("sizer"), format!("unknown sizer \"{other}\""));
            return None;
        }
    };
    match sizer {
        QueueSizer::Items => {}
        QueueSizer::Requests => {
            errs.invalid(
                at("sizer"),
                "`batch` supports only `items` or `bytes` sizer, found \"requests\"",
            );
            return None;
        }
        QueueSizer::Bytes => {
            errs.invalid(
                at("sizer"),
                "the bytes sizer is not supported by this build's batching; use items",
            );
            return None;
        }
    }
    let flush_timeout = raw.flush_timeout.map_or(DEFAULT_FLUSH_TIMEOUT, |t| t.0);
    if flush_timeout.is_zero() {
        errs.invalid(at("flush_timeout"), "`flush_timeout` must be positive");
    }
    let size = |key: &str, value: Option<i64>, default: u32, errs: &mut Errors| match value {
        None => default,
        Some(n) => u32::try_from(n).unwrap_or_else(|_| {
            errs.invalid(
                at(key),
                format!("`{key}` must be between 0 and {}, found {n}", u32::MAX),
            );
            default
        }),
    };
    let min_size = size("min_size", raw.min_size, DEFAULT_MIN_SIZE, errs);
    let max_size = size("max_size", raw.max_size, 0, errs);
    if max_size > 0 && max_size < min_size {
        errs.invalid(
            at("max_size"),
            format!("`max_size` ({max_size}) must be greater or equal to `min_size` ({min_size})"),
        );
    }
    if queue.sizer == QueueSizer::Items && min_size > queue.queue_size {
        errs.invalid(
            at("min_size"),
            "`min_size` must be less than or equal to `queue_size`",
        );
    }
    Some(BatchConfig {
        send_batch_size: min_size,
        timeout: flush_timeout,
        send_batch_max_size: max_size,
        ..BatchConfig::default()
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn read(yaml: &str, queue: &Queue) -> Option<BatchConfig> {
        let body: Value = serde_yaml::from_str(yaml).unwrap();
        let mut errs = Errors::default();
        let config = parse(
            body,
            queue,
            "exporters::otlp::sending_queue::batch",
            &mut errs,
        );
        errs.finish(config).unwrap()
    }

    const REQUESTS: Queue = Queue {
        sizer_set: false,
        sizer: QueueSizer::Requests,
        queue_size: 1000,
    };

    /// A null body is exporterhelper's defaults: 200ms, 8192 items, no maximum.
    #[test]
    fn defaults_are_exporterhelper_s() {
        let b = read("", &REQUESTS).unwrap();
        assert_eq!(b.timeout, DEFAULT_FLUSH_TIMEOUT);
        assert_eq!(b.send_batch_size, 8192);
        assert_eq!(b.send_batch_max_size, 0);
        assert!(b.metadata_keys.is_empty());
    }

    /// The batch counts in the queue's sizer when only the queue's is written.
    #[test]
    fn the_queue_s_sizer_is_the_default() {
        let items = Queue {
            sizer_set: true,
            sizer: QueueSizer::Items,
            queue_size: 100_000,
        };
        assert!(read("{min_size: 10}", &items).is_some());
        let requests = Queue {
            sizer_set: true,
            ..REQUESTS
        };
        let body: Value = serde_yaml::from_str("{min_size: 10}").unwrap();
        let mut errs = Errors::default();
        assert!(parse(body, &requests, "b", &mut errs).is_none());
    }
}
