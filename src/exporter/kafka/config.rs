//! `exporters: kafka`: otelcol's keys and defaults (topics `otlp_spans`, `otlp_metrics`,
//! `otlp_logs`; `encoding: otlp_proto`; `timeout: 5s`; `producer.required_acks: 1`;
//! `max_message_bytes: 1000000`; the sending queue on).

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;
use serde_yaml::Value;

use crate::config::client::{self, QueueConfig, RawQueue, RawRetry, RetryConfig};
use crate::config::de::{join, warn_ignored, Text};
use crate::config::duration::GoDuration;
use crate::config::error::Errors;
use crate::kafka::client::KafkaClientConfig;
use crate::kafka::encoding::Encoding;
use crate::signal::Signal;

/// otelcol's default `timeout` of one produce attempt.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

/// Where one signal goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignalTopic {
    /// The topic.
    pub topic: String,
    /// The payload encoding.
    pub encoding: Encoding,
}

/// How messages are keyed, which decides their partition.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum MessageKey {
    /// No key: librdkafka spreads messages over the partitions.
    #[default]
    None,
    /// One message per trace id, keyed by its hex (`partition_traces_by_id`,
    /// `partition_logs_by_trace_id`).
    TraceId,
    /// One message per resource, keyed by a hash of its attributes
    /// (`partition_metrics_by_resource_attributes`, `partition_logs_by_resource_attributes`).
    Resource,
}

/// `producer:` settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProducerConfig {
    /// Largest message payload, before compression.
    pub max_message_bytes: usize,
    /// `acks`: 0, 1 or -1 (all in-sync replicas).
    pub required_acks: i16,
    /// `compression.type`.
    pub compression: String,
    /// `compression.level` (-1: the codec's default).
    pub compression_level: i32,
    /// Messages per produce request.
    pub flush_max_messages: u32,
    /// How long a partition waits for more messages before its request is built.
    pub linger: Duration,
}

impl Default for ProducerConfig {
    fn default() -> Self {
        ProducerConfig {
            max_message_bytes: 1_000_000,
            required_acks: 1,
            compression: "none".into(),
            compression_level: -1,
            flush_max_messages: 10_000,
            linger: Duration::from_millis(10),
        }
    }
}

/// The kafka exporter.
#[derive(Clone, Debug, PartialEq)]
pub struct KafkaExporterConfig {
    /// Brokers, client id, TLS and SASL.
    pub client: KafkaClientConfig,
    /// Trace messages.
    pub traces: SignalTopic,
    /// Metric messages.
    pub metrics: SignalTopic,
    /// Log messages.
    pub logs: SignalTopic,
    /// Keying of trace messages.
    pub traces_key: MessageKey,
    /// Keying of metric messages.
    pub metrics_key: MessageKey,
    /// Keying of log messages.
    pub logs_key: MessageKey,
    /// Static headers on every record (`record_headers`).
    pub record_headers: Vec<(String, String)>,
    /// Producer settings.
    pub producer: ProducerConfig,
    /// Deadline of one produce attempt (every message of a request acknowledged).
    pub timeout: Duration,
    /// Retry of failed attempts.
    pub retry_on_failure: RetryConfig,
    /// Queue of requests waiting for export.
    pub sending_queue: QueueConfig,
}

impl KafkaExporterConfig {
    /// The topic and encoding of `signal`.
    pub fn topic(&self, signal: Signal) -> &SignalTopic {
        match signal {
            Signal::Traces => &self.traces,
            Signal::Metrics => &self.metrics,
            Signal::Logs => &self.logs,
        }
    }

    /// The message keying of `signal`.
    pub fn key(&self, signal: Signal) -> MessageKey {
        match signal {
            Signal::Traces => self.traces_key,
            Signal::Metrics => self.metrics_key,
            Signal::Logs => self.logs_key,
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawKafkaExporter {
    topic: Option<Text>,
    encoding: Option<Text>,
    traces: Option<RawSignal>,
    metrics: Option<RawSignal>,
    logs: Option<RawSignal>,
    profiles: Option<Value>,
    topic_from_attribute: Option<Text>,
    include_metadata_keys: Option<Vec<Text>>,
    record_headers: Option<BTreeMap<String, Text>>,
    partition_traces_by_id: Option<bool>,
    partition_metrics_by_resource_attributes: Option<bool>,
    partition_logs_by_resource_attributes: Option<bool>,
    partition_logs_by_trace_id: Option<bool>,
    record_partitioner: Option<Value>,
    timeout: Option<GoDuration>,
    retry_on_failure: Option<RawRetry>,
    sending_queue: Option<RawQueue>,
    producer: Option<RawProducer>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawSignal {
    topic: Option<Text>,
    encoding: Option<Text>,
    topic_from_metadata_key: Option<Text>,
    message_key_from_metadata_key: Option<Text>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawProducer {
    max_message_bytes: Option<u64>,
    max_broker_write_bytes: Option<Value>,
    required_acks: Option<i64>,
    compression: Option<Text>,
    compression_params: Option<RawCompressionParams>,
    flush_max_messages: Option<u32>,
    allow_auto_topic_creation: Option<bool>,
    linger: Option<GoDuration>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawCompressionParams {
    level: Option<i32>,
}

/// Decodes and checks a `kafka` exporter body at `path`.
pub(crate) fn parse(body: Value, path: &str, errs: &mut Errors) -> Option<KafkaExporterConfig> {
    let (client, rest) = crate::kafka::client::split(body, path, errs)?;
    let raw: RawKafkaExporter = errs.take(crate::config::de::decode(rest, path))?;
    kafka(raw, client, path, errs)
}

fn kafka(
    raw: RawKafkaExporter,
    client: KafkaClientConfig,
    path: &str,
    errs: &mut Errors,
) -> Option<KafkaExporterConfig> {
    let at = |key: &str| join(path, key);
    warn_ignored(errs, &at("profiles"), &raw.profiles);
    if raw.record_partitioner.is_some() {
        errs.warn(
            &at("record_partitioner"),
            "librdkafka's own partitioner places keyed messages (consistent_random); this setting is not acted on",
        );
    }
    if raw
        .topic_from_attribute
        .as_ref()
        .is_some_and(|t| !t.0.is_empty())
    {
        errs.invalid(
            at("topic_from_attribute"),
            "is not built yet; set each signal's topic",
        );
    }
    if raw
        .include_metadata_keys
        .as_ref()
        .is_some_and(|k| !k.is_empty())
    {
        errs.invalid(
            at("include_metadata_keys"),
            "is not built yet for the kafka exporter",
        );
    }
    let common_encoding = raw.encoding.as_ref().map(|t| t.0.clone());
    let common_topic = raw.topic.as_ref().map(|t| t.0.clone());
    let mut signal = |name: &str, raw: Option<RawSignal>, default_topic: &str| {
        let raw = raw.unwrap_or_default();
        let path = at(name);
        for (key, value) in [
            ("topic_from_metadata_key", &raw.topic_from_metadata_key),
            (
                "message_key_from_metadata_key",
                &raw.message_key_from_metadata_key,
            ),
        ] {
            if value.as_ref().is_some_and(|t| !t.0.is_empty()) {
                errs.invalid(join(&path, key), "is not built yet for the kafka exporter");
            }
        }
        let encoding = Encoding::from_config(
            raw.encoding.map(|t| t.0),
            common_encoding.as_deref(),
            &join(&path, "encoding"),
            errs,
        );
        let topic = raw
            .topic
            .map(|t| t.0)
            .or(common_topic.clone())
            .filter(|t| !t.is_empty())
            .unwrap_or_else(|| default_topic.to_owned());
        SignalTopic { topic, encoding }
    };
    let traces = signal("traces", raw.traces, "otlp_spans");
    let metrics = signal("metrics", raw.metrics, "otlp_metrics");
    let logs = signal("logs", raw.logs, "otlp_logs");
    let logs_key = match (
        raw.partition_logs_by_trace_id.unwrap_or(false),
        raw.partition_logs_by_resource_attributes.unwrap_or(false),
    ) {
        (true, true) => {
            errs.invalid(
                at("partition_logs_by_trace_id"),
                "partition_logs_by_resource_attributes and partition_logs_by_trace_id are mutually exclusive",
            );
            MessageKey::None
        }
        (true, false) => MessageKey::TraceId,
        (false, true) => MessageKey::Resource,
        (false, false) => MessageKey::None,
    };
    let key_if = |on: Option<bool>, key: MessageKey| {
        if on.unwrap_or(false) {
            key
        } else {
            MessageKey::None
        }
    };
    let producer = producer(raw.producer.unwrap_or_default(), &at("producer"), errs);
    let record_headers = raw
        .record_headers
        .unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k, v.0))
        .collect();
    let sending_queue = client::queue(
        raw.sending_queue.unwrap_or_default(),
        &at("sending_queue"),
        errs,
    );
    let retry_on_failure = client::retry(
        raw.retry_on_failure.unwrap_or_default(),
        &at("retry_on_failure"),
        errs,
    );
    Some(KafkaExporterConfig {
        client,
        traces,
        metrics,
        logs,
        traces_key: key_if(raw.partition_traces_by_id, MessageKey::TraceId),
        metrics_key: key_if(
            raw.partition_metrics_by_resource_attributes,
            MessageKey::Resource,
        ),
        logs_key,
        record_headers,
        producer,
        timeout: raw.timeout.map_or(DEFAULT_TIMEOUT, |t| t.0),
        retry_on_failure,
        sending_queue,
    })
}

fn producer(raw: RawProducer, path: &str, errs: &mut Errors) -> ProducerConfig {
    let d = ProducerConfig::default();
    let at = |key: &str| join(path, key);
    warn_ignored(
        errs,
        &at("max_broker_write_bytes"),
        &raw.max_broker_write_bytes,
    );
    if raw.allow_auto_topic_creation == Some(false) {
        errs.warn(
            &at("allow_auto_topic_creation"),
            "the broker's auto.create.topics.enable decides; this setting is not acted on",
        );
    }
    let required_acks = match raw.required_acks {
        None => d.required_acks,
        Some(acks @ -1..=1) => acks as i16,
        Some(other) => {
            errs.invalid(
                at("required_acks"),
                format!("{other}: expected 0, 1 or -1 (all replicas)"),
            );
            d.required_acks
        }
    };
    let compression = match raw.compression.map(|t| t.0) {
        None => d.compression,
        Some(c) if ["none", "gzip", "snappy", "lz4", "zstd"].contains(&c.as_str()) => c,
        Some(other) => {
            errs.invalid(
                at("compression"),
                format!(
                    "unknown compression \"{other}\"; expected none, gzip, snappy, lz4 or zstd"
                ),
            );
            d.compression
        }
    };
    let max_message_bytes = match raw.max_message_bytes {
        None => d.max_message_bytes,
        Some(n) if (1_000..=1_000_000_000).contains(&n) => n as usize,
        Some(other) => {
            errs.invalid(
                at("max_message_bytes"),
                format!("{other}: expected 1000 to 1000000000"),
            );
            d.max_message_bytes
        }
    };
    let flush_max_messages = match raw.flush_max_messages {
        None => d.flush_max_messages,
        Some(n @ 1..=1_000_000) => n,
        Some(other) => {
            errs.invalid(
                at("flush_max_messages"),
                format!("{other}: expected 1 to 1000000"),
            );
            d.flush_max_messages
        }
    };
    ProducerConfig {
        max_message_bytes,
        required_acks,
        compression,
        compression_level: raw.compression_params.and_then(|p| p.level).unwrap_or(-1),
        flush_max_messages,
        linger: raw.linger.map_or(d.linger, |l| l.0),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn parse_ok(yaml: &str) -> KafkaExporterConfig {
        let mut errs = Errors::default();
        let body: Value = serde_yaml::from_str(yaml).unwrap();
        let got = parse(body, "exporters::kafka", &mut errs);
        assert!(errs.is_empty(), "{errs:?}");
        got.unwrap()
    }

    fn parse_err(yaml: &str) -> String {
        let mut errs = Errors::default();
        let body: Value = serde_yaml::from_str(yaml).unwrap();
        let _ = parse(body, "exporters::kafka", &mut errs);
        assert!(!errs.is_empty(), "no error for {yaml}");
        format!("{errs:?}")
    }

    #[test]
    fn defaults_are_otelcols() {
        let c = parse_ok("");
        assert_eq!(c.traces.topic, "otlp_spans");
        assert_eq!(c.metrics.topic, "otlp_metrics");
        assert_eq!(c.logs.topic, "otlp_logs");
        assert_eq!(c.traces.encoding, Encoding::OtlpProto);
        assert_eq!(c.timeout, Duration::from_secs(5));
        assert_eq!(c.producer, ProducerConfig::default());
        assert!(c.sending_queue.enabled);
        assert_eq!(c.key(Signal::Traces), MessageKey::None);
    }

    #[test]
    fn the_deprecated_top_level_topic_and_encoding_apply_to_every_signal_unless_overridden() {
        let c = parse_ok("topic: all\nencoding: otlp_json\nlogs: {topic: mine, encoding: otlp_proto}\npartition_traces_by_id: true\n");
        assert_eq!(c.traces.topic, "all");
        assert_eq!(c.metrics.encoding, Encoding::OtlpJson);
        assert_eq!(
            c.logs,
            SignalTopic {
                topic: "mine".into(),
                encoding: Encoding::OtlpProto
            }
        );
        assert_eq!(c.key(Signal::Traces), MessageKey::TraceId);
    }

    #[test]
    fn bad_values_name_their_key() {
        assert!(parse_err("producer: {required_acks: 2}").contains("required_acks"));
        assert!(parse_err("producer: {compression: brotli}").contains("compression"));
        assert!(parse_err("traces: {encoding: jaeger_proto}").contains("not built"));
        assert!(parse_err(
            "partition_logs_by_trace_id: true\npartition_logs_by_resource_attributes: true"
        )
        .contains("mutually exclusive"));
        assert!(parse_err("topc: x").contains("topc"));
    }
}
