//! `receivers: kafka`: otelcol's keys and defaults (topics `otlp_spans`, `otlp_metrics`,
//! `otlp_logs`; `group_id` and `client_id` `otel-collector`; `initial_offset: latest`).

use std::time::Duration;

use serde::Deserialize;
use serde_yaml::Value;

use crate::config::de::{join, warn_ignored, Text};
use crate::config::duration::GoDuration;
use crate::config::error::Errors;
use crate::kafka::client::KafkaClientConfig;
use crate::kafka::encoding::Encoding;
use crate::signal::Signal;

/// otelcol's default consumer group.
pub const DEFAULT_GROUP_ID: &str = "otel-collector";

/// Where one signal is read from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignalTopics {
    /// The topics (a `^` prefix makes a regular expression, as librdkafka reads it).
    pub topics: Vec<String>,
    /// The payload encoding.
    pub encoding: Encoding,
}

/// Where a new consumer group starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum InitialOffset {
    /// Only messages written from now on (otelcol's default).
    #[default]
    Latest,
    /// Everything the topic still holds.
    Earliest,
}

/// The kafka receiver.
#[derive(Clone, Debug, PartialEq)]
pub struct KafkaReceiverConfig {
    /// Brokers, client id, TLS and SASL.
    pub client: KafkaClientConfig,
    /// Trace topics.
    pub traces: SignalTopics,
    /// Metric topics.
    pub metrics: SignalTopics,
    /// Log topics.
    pub logs: SignalTopics,
    /// The consumer group every shard's consumer joins.
    pub group_id: String,
    /// Where a group with no committed offset starts.
    pub initial_offset: InitialOffset,
    /// The group's session timeout.
    pub session_timeout: Duration,
    /// Heartbeats to the group coordinator.
    pub heartbeat_interval: Duration,
    /// How often accepted offsets are committed.
    pub commit_interval: Duration,
    /// Most bytes fetched per request.
    pub max_fetch_size: u32,
    /// Most bytes fetched per partition and request.
    pub max_partition_fetch_size: u32,
    /// How long the broker may hold a fetch for `min_fetch_size` bytes.
    pub max_fetch_wait: Duration,
    /// Fewest bytes a fetch waits for.
    pub min_fetch_size: u32,
    /// librdkafka's `partition.assignment.strategy`.
    pub assignment_strategy: String,
    /// A static group member id, if set (`group.instance.id`; each shard appends its index).
    pub group_instance_id: Option<String>,
}

impl KafkaReceiverConfig {
    /// The topics and encoding of `signal`.
    pub fn topics(&self, signal: Signal) -> &SignalTopics {
        match signal {
            Signal::Traces => &self.traces,
            Signal::Metrics => &self.metrics,
            Signal::Logs => &self.logs,
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawKafkaReceiver {
    topic: Option<Text>,
    encoding: Option<Text>,
    traces: Option<RawSignal>,
    metrics: Option<RawSignal>,
    logs: Option<RawSignal>,
    profiles: Option<Value>,
    group_id: Option<Text>,
    initial_offset: Option<Text>,
    session_timeout: Option<GoDuration>,
    heartbeat_interval: Option<GoDuration>,
    group_rebalance_strategy: Option<Text>,
    group_rebalance_strategies: Option<Vec<Text>>,
    group_instance_id: Option<Text>,
    min_fetch_size: Option<u32>,
    default_fetch_size: Option<Value>,
    max_fetch_size: Option<u32>,
    max_fetch_wait: Option<GoDuration>,
    max_partition_fetch_size: Option<u32>,
    autocommit: Option<RawAutocommit>,
    message_marking: Option<RawMarking>,
    partition_processing: Option<Value>,
    header_extraction: Option<RawHeaderExtraction>,
    error_backoff: Option<Value>,
    telemetry: Option<Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawSignal {
    topic: Option<Text>,
    topics: Option<Vec<Text>>,
    encoding: Option<Text>,
    exclude_topic: Option<Value>,
    exclude_topics: Option<Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawAutocommit {
    enable: Option<bool>,
    interval: Option<GoDuration>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawMarking {
    after: Option<bool>,
    on_error: Option<bool>,
    on_permanent_error: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawHeaderExtraction {
    extract_headers: Option<bool>,
    headers: Option<Value>,
}

/// Decodes and checks a `kafka` receiver body at `path`.
pub(crate) fn parse(body: Value, path: &str, errs: &mut Errors) -> Option<KafkaReceiverConfig> {
    let (client, rest) = crate::kafka::client::split(body, path, errs)?;
    let raw: RawKafkaReceiver = errs.take(crate::config::de::decode(rest, path))?;
    kafka(raw, client, path, errs)
}

fn kafka(
    raw: RawKafkaReceiver,
    client: KafkaClientConfig,
    path: &str,
    errs: &mut Errors,
) -> Option<KafkaReceiverConfig> {
    let at = |key: &str| join(path, key);
    for (key, value) in [
        ("profiles", &raw.profiles),
        ("default_fetch_size", &raw.default_fetch_size),
        ("telemetry", &raw.telemetry),
        ("error_backoff", &raw.error_backoff),
        ("partition_processing", &raw.partition_processing),
    ] {
        warn_ignored(errs, &at(key), value);
    }
    marking(
        raw.message_marking.unwrap_or_default(),
        &at("message_marking"),
        errs,
    );
    if let Some(h) = raw.header_extraction {
        if h.extract_headers == Some(true) {
            errs.invalid(
                at("header_extraction"),
                "is not built yet for the kafka receiver",
            );
        }
        let _ = h.headers;
    }
    let autocommit = raw.autocommit.unwrap_or_default();
    if autocommit.enable == Some(false) {
        errs.warn(
            &at("autocommit::enable"),
            "offsets are always committed, and only for messages the pipeline accepted",
        );
    }
    let common_topic = raw.topic.map(|t| t.0).filter(|t| !t.is_empty());
    let common_encoding = raw.encoding.map(|t| t.0);
    let mut signal = |name: &str, raw: Option<RawSignal>, default_topic: &str| {
        let raw = raw.unwrap_or_default();
        let path = at(name);
        if raw.exclude_topic.is_some() || raw.exclude_topics.is_some() {
            errs.invalid(
                join(&path, "exclude_topics"),
                "is not built yet for the kafka receiver",
            );
        }
        let mut topics: Vec<String> = raw
            .topics
            .unwrap_or_default()
            .into_iter()
            .map(|t| t.0)
            .chain(raw.topic.map(|t| t.0))
            .filter(|t| !t.is_empty())
            .collect();
        if topics.is_empty() {
            topics.push(
                common_topic
                    .clone()
                    .unwrap_or_else(|| default_topic.to_owned()),
            );
        }
        let encoding = Encoding::from_config(
            raw.encoding.map(|t| t.0),
            common_encoding.as_deref(),
            &join(&path, "encoding"),
            errs,
        );
        SignalTopics { topics, encoding }
    };
    let traces = signal("traces", raw.traces, "otlp_spans");
    let metrics = signal("metrics", raw.metrics, "otlp_metrics");
    let logs = signal("logs", raw.logs, "otlp_logs");
    let initial_offset = match raw.initial_offset.map(|t| t.0).as_deref() {
        None | Some("latest") => InitialOffset::Latest,
        Some("earliest") => InitialOffset::Earliest,
        Some(other) => {
            errs.invalid(
                at("initial_offset"),
                format!("\"{other}\": must be latest or earliest"),
            );
            InitialOffset::Latest
        }
    };
    let assignment_strategy = strategy(
        raw.group_rebalance_strategy,
        raw.group_rebalance_strategies,
        path,
        errs,
    );
    let min_fetch_size = raw.min_fetch_size.unwrap_or(1);
    let max_fetch_size = raw.max_fetch_size.unwrap_or(1_048_576);
    if max_fetch_size < min_fetch_size {
        errs.invalid(at("max_fetch_size"), "must not be less than min_fetch_size");
    }
    Some(KafkaReceiverConfig {
        client,
        traces,
        metrics,
        logs,
        group_id: raw
            .group_id
            .map(|t| t.0)
            .filter(|g| !g.is_empty())
            .unwrap_or_else(|| DEFAULT_GROUP_ID.to_owned()),
        initial_offset,
        session_timeout: raw.session_timeout.map_or(Duration::from_secs(10), |d| d.0),
        heartbeat_interval: raw
            .heartbeat_interval
            .map_or(Duration::from_secs(3), |d| d.0),
        commit_interval: autocommit.interval.map_or(Duration::from_secs(1), |d| d.0),
        max_fetch_size,
        max_partition_fetch_size: raw.max_partition_fetch_size.unwrap_or(1_048_576),
        max_fetch_wait: raw
            .max_fetch_wait
            .map_or(Duration::from_millis(250), |d| d.0),
        min_fetch_size,
        assignment_strategy,
        group_instance_id: raw.group_instance_id.map(|t| t.0).filter(|s| !s.is_empty()),
    })
}

/// `message_marking`: shardgate always marks after the pipeline accepted a message, and marks
/// a message whose data is permanently refused (it would block its partition forever).
fn marking(raw: RawMarking, path: &str, errs: &mut Errors) {
    if raw.after == Some(false) {
        errs.warn(
            &join(path, "after"),
            "offsets are marked only after the pipeline accepted the data (no loss on restart)",
        );
    }
    if raw.on_error == Some(true) {
        errs.warn(
            &join(path, "on_error"),
            "a retryable refusal is retried, never marked, so nothing is lost",
        );
    }
    let _ = raw.on_permanent_error;
}

/// librdkafka's assignment strategy for otelcol's names.
fn strategy(one: Option<Text>, many: Option<Vec<Text>>, path: &str, errs: &mut Errors) -> String {
    let names: Vec<String> = match (one, many) {
        (Some(_), Some(_)) => {
            errs.invalid(
                join(path, "group_rebalance_strategy"),
                "set group_rebalance_strategies or group_rebalance_strategy, not both",
            );
            Vec::new()
        }
        (Some(one), None) => vec![one.0],
        (None, Some(many)) => many.into_iter().map(|t| t.0).collect(),
        (None, None) => Vec::new(),
    };
    let mut out = Vec::new();
    for name in names {
        match name.as_str() {
            "range" | "roundrobin" | "cooperative-sticky" => out.push(name),
            "sticky" => out.push("cooperative-sticky".to_owned()),
            other => errs.invalid(
                join(path, "group_rebalance_strategies"),
                format!("\"{other}\": expected range, roundrobin, sticky or cooperative-sticky"),
            ),
        }
    }
    if out.is_empty() {
        "range,roundrobin".to_owned()
    } else {
        out.join(",")
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn parse_with(yaml: &str) -> (Option<KafkaReceiverConfig>, Errors) {
        let mut errs = Errors::default();
        let body: Value = serde_yaml::from_str(yaml).unwrap();
        let got = parse(body, "receivers::kafka", &mut errs);
        (got, errs)
    }

    #[test]
    fn defaults_are_otelcols() {
        let (c, errs) = parse_with("");
        assert!(errs.is_empty());
        let c = c.unwrap();
        assert_eq!(c.traces.topics, vec!["otlp_spans"]);
        assert_eq!(c.metrics.topics, vec!["otlp_metrics"]);
        assert_eq!(c.logs.topics, vec!["otlp_logs"]);
        assert_eq!(c.group_id, "otel-collector");
        assert_eq!(c.initial_offset, InitialOffset::Latest);
    }

    #[test]
    fn topics_lists_the_old_topic_key_and_bad_values() {
        let (c, errs) = parse_with(
            "topic: old\ntraces: {topics: [a, b], encoding: otlp_json}\ninitial_offset: earliest\n",
        );
        assert!(errs.is_empty());
        let c = c.unwrap();
        assert_eq!(c.traces.topics, vec!["a", "b"]);
        assert_eq!(c.traces.encoding, Encoding::OtlpJson);
        assert_eq!(c.logs.topics, vec!["old"]);
        assert_eq!(c.initial_offset, InitialOffset::Earliest);
        let (_, errs) = parse_with("initial_offset: newest");
        assert!(!errs.is_empty());
        let (_, errs) = parse_with("header_extraction: {extract_headers: true}");
        assert!(!errs.is_empty());
    }
}
