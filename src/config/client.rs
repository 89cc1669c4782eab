//! Client-side settings of the OTLP exporter: endpoint, compression, headers, retry and queue,
//! with otelcol's keys, defaults and checks.

use std::fmt;
use std::time::Duration;

use serde::Deserialize;

use super::de::{join, Text};
use super::duration::GoDuration;
use super::error::Errors;
use super::id::ComponentId;

/// Where an OTLP/gRPC exporter connects: a host name or IP literal and a port.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Endpoint {
    /// Host name or IP address (an IPv6 literal without brackets).
    pub host: String,
    /// TCP port.
    pub port: u16,
}

impl Endpoint {
    /// `host:port` (`[v6]:port` for IPv6 literals): the HTTP/2 `:authority` and dial target.
    pub fn authority(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.authority())
    }
}

/// The scheme an exporter endpoint was written with; it decides plaintext vs TLS as in otelcol.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Scheme {
    /// `host:port` (or `dns:///host:port`): TLS unless `tls.insecure: true`.
    Bare,
    /// `http://host:port`: plaintext.
    Http,
    /// `https://host:port`: always TLS.
    Https,
}

/// Parses an otelcol gRPC client endpoint: `host:port`, `http://host:port`, `https://host:port`,
/// `dns:///host:port`; IPv6 as `[::1]:4317`. Without a port, 443 (80 for `http://`) as gRPC does.
pub(crate) fn parse_endpoint(text: &str) -> Result<(Scheme, Endpoint), String> {
    let lower = text.to_ascii_lowercase();
    let (scheme, rest) = if lower.starts_with("http://") {
        (Scheme::Http, &text[7..])
    } else if lower.starts_with("https://") {
        (Scheme::Https, &text[8..])
    } else if lower.starts_with("dns:///") {
        (Scheme::Bare, &text[7..])
    } else if let Some((scheme, _)) = text.split_once("://") {
        return Err(format!("endpoint \"{text}\": scheme \"{scheme}\" is not supported; use host:port, http:// or https://"));
    } else {
        (Scheme::Bare, text)
    };
    let authority = rest.strip_suffix('/').unwrap_or(rest);
    if authority.contains('/') {
        return Err(format!("endpoint \"{text}\" must not have a path"));
    }
    let default_port = if scheme == Scheme::Http { 80 } else { 443 };
    let (host, port) = split_host_port(authority, default_port)
        .map_err(|reason| format!("endpoint \"{text}\": {reason}"))?;
    if host.is_empty() {
        return Err(format!("endpoint \"{text}\" has no host"));
    }
    Ok((scheme, Endpoint { host, port }))
}

fn split_host_port(authority: &str, default_port: u16) -> Result<(String, u16), String> {
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (host, after) = v6.split_once(']').ok_or("unclosed \"[\"")?;
        match after {
            "" => (host, None),
            _ => (
                host,
                Some(after.strip_prefix(':').ok_or("junk after \"]\"")?),
            ),
        }
    } else if authority.matches(':').count() > 1 {
        (authority, None)
    } else {
        match authority.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        }
    };
    let port = match port {
        None => default_port,
        Some(p) => p.parse().map_err(|_| format!("invalid port \"{p}\""))?,
    };
    Ok((host.to_owned(), port))
}

/// Payload compression of export requests (gRPC message compression).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Compression {
    /// No compression (`none` or `""`).
    None,
    /// gzip, otelcol's default.
    #[default]
    Gzip,
    /// zstd (parsed; whether the exporter implements it is the exporter's concern).
    Zstd,
}

impl Compression {
    /// Parses otelcol's compression names; known-but-unimplemented ones get a clear error.
    pub fn parse(text: &str) -> Result<Compression, String> {
        match text {
            "" | "none" => Ok(Compression::None),
            "gzip" => Ok(Compression::Gzip),
            "zstd" => Ok(Compression::Zstd),
            "snappy" | "x-snappy-framed" | "zlib" | "deflate" | "lz4" => Err(format!(
                "compression \"{text}\" is not supported yet; use gzip, zstd or none"
            )),
            _ => Err(format!(
                "unknown compression \"{text}\"; expected gzip, zstd or none"
            )),
        }
    }

    /// The `grpc-encoding` name (`identity` for none).
    pub fn grpc_encoding(self) -> &'static str {
        match self {
            Compression::None => "identity",
            Compression::Gzip => "gzip",
            Compression::Zstd => "zstd",
        }
    }
}

/// Header names gRPC or HTTP/2 reserve for the transport; a user may not set them.
const RESERVED_HEADERS: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "transfer-encoding",
    "upgrade",
    "te",
    "content-type",
    "host",
];

/// `headers:` as otelcol reads it (`configopaque.MapList`): a map of name to value, or a
/// list of `{name, value}` entries, kept in the order written.
#[derive(Debug, Default)]
pub(crate) struct RawHeaders(Vec<(String, Text)>);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHeader {
    name: String,
    value: Text,
}

impl<'de> Deserialize<'de> for RawHeaders {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(HeadersVisitor)
    }
}

struct HeadersVisitor;

impl<'de> serde::de::Visitor<'de> for HeadersVisitor {
    type Value = RawHeaders;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a map of header names to values, or a list of {name, value}")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<RawHeaders, A::Error> {
        let mut out = Vec::new();
        while let Some((name, value)) = map.next_entry::<String, Text>()? {
            out.push((name, value));
        }
        Ok(RawHeaders(out))
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<RawHeaders, A::Error> {
        let mut out = Vec::new();
        while let Some(RawHeader { name, value }) = seq.next_element()? {
            out.push((name, value));
        }
        Ok(RawHeaders(out))
    }

    fn visit_unit<E: serde::de::Error>(self) -> Result<RawHeaders, E> {
        Ok(RawHeaders::default())
    }
}

/// Checks and lowercases `headers:` into HTTP/2-valid (name, value) pairs, sorted by name
/// (a map's order; a list's duplicates are errors either way).
pub(crate) fn headers(raw: RawHeaders, path: &str, errs: &mut Errors) -> Vec<(String, String)> {
    let mut raw = raw.0;
    raw.sort_by(|a, b| a.0.cmp(&b.0));
    let mut out: Vec<(String, String)> = Vec::with_capacity(raw.len());
    for (name, Text(value)) in raw {
        let at = join(path, &name);
        let lower = name.to_ascii_lowercase();
        let token = |c: char| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c);
        if lower.is_empty() || !lower.chars().all(token) {
            errs.invalid(&at, format!("\"{name}\" is not a valid HTTP/2 header name"));
        } else if RESERVED_HEADERS.contains(&lower.as_str()) || lower.starts_with("grpc-") {
            errs.invalid(
                &at,
                format!("header \"{lower}\" is reserved by gRPC/HTTP/2"),
            );
        } else if value
            .chars()
            .any(|c| !(c == '\t' || (' '..='~').contains(&c)))
        {
            errs.invalid(&at, "header values must be visible ASCII, spaces or tabs");
        } else if out.iter().any(|(n, _)| *n == lower) {
            errs.invalid(
                &at,
                format!("header \"{lower}\" is set twice (names are case-insensitive)"),
            );
        } else {
            out.push((lower, value));
        }
    }
    out
}

/// `retry_on_failure`: exponential backoff for retryable export failures.
#[derive(Clone, Debug, PartialEq)]
pub struct RetryConfig {
    /// Whether failed exports are retried (default true).
    pub enabled: bool,
    /// Wait before the first retry (default 5s).
    pub initial_interval: Duration,
    /// Cap on the wait between retries (default 30s).
    pub max_interval: Duration,
    /// Give up after this long; zero = retry forever (default 300s).
    pub max_elapsed_time: Duration,
    /// Growth factor of the wait per retry (default 1.5).
    pub multiplier: f64,
    /// Jitter: each wait is scaled by a random factor in `1 ± randomization_factor` (default 0.5).
    pub randomization_factor: f64,
}

impl Default for RetryConfig {
    fn default() -> Self {
        RetryConfig {
            enabled: true,
            initial_interval: Duration::from_secs(5),
            max_interval: Duration::from_secs(30),
            max_elapsed_time: Duration::from_secs(300),
            multiplier: 1.5,
            randomization_factor: 0.5,
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct RawRetry {
    enabled: Option<bool>,
    initial_interval: Option<GoDuration>,
    max_interval: Option<GoDuration>,
    max_elapsed_time: Option<GoDuration>,
    multiplier: Option<f64>,
    randomization_factor: Option<f64>,
}

/// Applies defaults to `retry_on_failure` and checks it as otelcol's `configretry` does: the
/// ranges of every field whether or not retry is enabled, and, when it is with a
/// `max_elapsed_time`, that the budget is not shorter than one wait.
pub(crate) fn retry(raw: RawRetry, path: &str, errs: &mut Errors) -> RetryConfig {
    let d = RetryConfig::default();
    let cfg = RetryConfig {
        enabled: raw.enabled.unwrap_or(d.enabled),
        initial_interval: raw.initial_interval.map_or(d.initial_interval, |v| v.0),
        max_interval: raw.max_interval.map_or(d.max_interval, |v| v.0),
        max_elapsed_time: raw.max_elapsed_time.map_or(d.max_elapsed_time, |v| v.0),
        multiplier: raw.multiplier.unwrap_or(d.multiplier),
        randomization_factor: raw.randomization_factor.unwrap_or(d.randomization_factor),
    };
    // Negative durations are refused by the duration parser; NaN and infinities here.
    if !(cfg.multiplier.is_finite() && cfg.multiplier >= 0.0) {
        errs.invalid(
            join(path, "multiplier"),
            "must be a finite number, zero or more",
        );
    }
    if !(0.0..=1.0).contains(&cfg.randomization_factor) {
        errs.invalid(join(path, "randomization_factor"), "must be within [0, 1]");
    }
    if cfg.enabled && !cfg.max_elapsed_time.is_zero() {
        if cfg.max_elapsed_time < cfg.initial_interval {
            errs.invalid(
                join(path, "max_elapsed_time"),
                "must not be less than 'initial_interval'",
            );
        }
        if cfg.max_elapsed_time < cfg.max_interval {
            errs.invalid(
                join(path, "max_elapsed_time"),
                "must not be less than 'max_interval'",
            );
        }
    }
    cfg
}

/// What `sending_queue.queue_size` counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum QueueSizer {
    /// Export requests (otelcol's default).
    #[default]
    Requests,
    /// Items: spans, data points or log records.
    Items,
    /// Serialized bytes.
    Bytes,
}

/// `sending_queue`: requests waiting for export, per shard.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QueueConfig {
    /// Whether requests are queued (default true); off = the batch waits for its export.
    pub enabled: bool,
    /// Export requests in flight at once per shard (default 10).
    pub num_consumers: u32,
    /// Queue capacity in `sizer` units (default 1000).
    pub queue_size: u32,
    /// When full, wait for room instead of rejecting (default false).
    pub block_on_overflow: bool,
    /// Unit of `queue_size` (default requests).
    pub sizer: QueueSizer,
    /// `storage`: the `file_storage` extension whose directory holds this queue on disk
    /// (none: the queue is in memory only).
    pub storage: Option<ComponentId>,
    /// `batch`: batching in front of the exporter, run by the `batch` processor's code.
    pub batch: Option<crate::processor::batch::config::BatchConfig>,
}

impl Default for QueueConfig {
    fn default() -> Self {
        QueueConfig {
            enabled: true,
            num_consumers: 10,
            queue_size: 1000,
            block_on_overflow: false,
            sizer: QueueSizer::Requests,
            storage: None,
            batch: None,
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct RawQueue {
    enabled: Option<bool>,
    num_consumers: Option<u32>,
    queue_size: Option<u32>,
    block_on_overflow: Option<bool>,
    blocking: Option<bool>,
    sizer: Option<Text>,
    wait_for_result: Option<bool>,
    storage: Option<Text>,
    batch: Option<serde_yaml::Value>,
}

/// Applies defaults to `sending_queue` and checks it as otelcol does (only when enabled).
pub(crate) fn queue(raw: RawQueue, path: &str, errs: &mut Errors) -> QueueConfig {
    let d = QueueConfig::default();
    let at = |key: &str| join(path, key);
    let sizer = match raw.sizer.as_ref().map(|t| t.0.as_str()) {
        None | Some("requests") => QueueSizer::Requests,
        Some("items") => QueueSizer::Items,
        Some("bytes") => QueueSizer::Bytes,
        Some(other) => {
            errs.invalid(
                at("sizer"),
                format!("unknown sizer \"{other}\"; expected requests, items or bytes"),
            );
            QueueSizer::Requests
        }
    };
    let settings = super::queue_batch::Queue {
        sizer_set: raw.sizer.is_some(),
        sizer,
        queue_size: raw.queue_size.unwrap_or(d.queue_size),
    };
    let batch = raw
        .batch
        .and_then(|b| super::queue_batch::parse(b, &settings, &at("batch"), errs));
    let cfg = QueueConfig {
        batch,
        enabled: raw.enabled.unwrap_or(d.enabled),
        num_consumers: raw.num_consumers.unwrap_or(d.num_consumers),
        queue_size: raw.queue_size.unwrap_or(d.queue_size),
        block_on_overflow: raw
            .block_on_overflow
            .or(raw.blocking)
            .unwrap_or(d.block_on_overflow),
        sizer,
        storage: raw.storage.and_then(|t| match t.0.parse::<ComponentId>() {
            Ok(id) => Some(id),
            Err(e) => {
                errs.invalid(at("storage"), e);
                None
            }
        }),
    };
    if cfg.batch.is_some() && cfg.storage.is_some() {
        let reason = "batching in front of a durable queue (storage) is not supported yet";
        errs.invalid(at("batch"), format!("{reason}; use the batch processor"));
    }
    if raw.wait_for_result == Some(true) {
        errs.warn(&at("wait_for_result"), super::de::IGNORED);
    }
    if cfg.enabled {
        if cfg.num_consumers == 0 {
            errs.invalid(at("num_consumers"), "`num_consumers` must be positive");
        }
        if cfg.queue_size == 0 {
            errs.invalid(at("queue_size"), "`queue_size` must be positive");
        }
    }
    cfg
}

/// The client keys every OTLP exporter shares, checked.
pub(crate) struct SharedClient {
    /// `compression`.
    pub compression: Compression,
    /// `headers`.
    pub headers: Vec<(String, String)>,
    /// `retry_on_failure`.
    pub retry_on_failure: RetryConfig,
    /// `sending_queue`.
    pub sending_queue: QueueConfig,
}

/// Checks the keys both `otlp` and `otlphttp` take, as otelcol's exporter helper does.
pub(crate) fn shared(
    compression: Option<Text>,
    raw_headers: Option<RawHeaders>,
    raw_retry: Option<RawRetry>,
    raw_queue: Option<RawQueue>,
    path: &str,
    errs: &mut Errors,
) -> SharedClient {
    let compression = match compression {
        None => Compression::default(),
        Some(Text(text)) => Compression::parse(&text).unwrap_or_else(|reason| {
            errs.invalid(join(path, "compression"), reason);
            Compression::default()
        }),
    };
    SharedClient {
        compression,
        headers: headers(
            raw_headers.unwrap_or_default(),
            &join(path, "headers"),
            errs,
        ),
        retry_on_failure: retry(
            raw_retry.unwrap_or_default(),
            &join(path, "retry_on_failure"),
            errs,
        ),
        sending_queue: queue(
            raw_queue.unwrap_or_default(),
            &join(path, "sending_queue"),
            errs,
        ),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn ep(text: &str) -> (Scheme, String) {
        let (scheme, e) = parse_endpoint(text).unwrap();
        (scheme, e.authority())
    }

    #[test]
    fn endpoint_forms() {
        assert_eq!(ep("backend:4317"), (Scheme::Bare, "backend:4317".into()));
        assert_eq!(
            ep("http://backend:4317"),
            (Scheme::Http, "backend:4317".into())
        );
        assert_eq!(
            ep("https://backend:4317/"),
            (Scheme::Https, "backend:4317".into())
        );
        assert_eq!(
            ep("HTTP://10.0.0.1:4317"),
            (Scheme::Http, "10.0.0.1:4317".into())
        );
        assert_eq!(
            ep("dns:///backend:4317"),
            (Scheme::Bare, "backend:4317".into())
        );
        assert_eq!(ep("[::1]:4317"), (Scheme::Bare, "[::1]:4317".into()));
        assert_eq!(ep("http://[::1]"), (Scheme::Http, "[::1]:80".into()));
        assert_eq!(ep("https://backend"), (Scheme::Https, "backend:443".into()));
        assert_eq!(ep("backend"), (Scheme::Bare, "backend:443".into()));
        let (_, e) = parse_endpoint("[2001:db8::1]:9").unwrap();
        assert_eq!(e.host, "2001:db8::1");
        assert_eq!(e.port, 9);
    }

    #[test]
    fn bad_endpoints() {
        for (text, want) in [
            ("unix:///tmp/s", "scheme \"unix\" is not supported"),
            ("http://h:4317/v1/traces", "must not have a path"),
            ("h:port", "invalid port \"port\""),
            (":4317", "has no host"),
            ("[::1", "unclosed"),
            ("h:70000", "invalid port"),
        ] {
            let err = parse_endpoint(text).unwrap_err();
            assert!(err.contains(want), "{text}: {err}");
        }
    }

    #[test]
    fn compression_names() {
        assert_eq!(Compression::default(), Compression::Gzip);
        assert_eq!(Compression::parse("").unwrap(), Compression::None);
        assert_eq!(Compression::parse("none").unwrap(), Compression::None);
        assert_eq!(Compression::parse("zstd").unwrap(), Compression::Zstd);
        assert!(Compression::parse("snappy")
            .unwrap_err()
            .contains("not supported yet"));
        assert!(Compression::parse("brotli")
            .unwrap_err()
            .contains("unknown compression"));
    }

    /// otelcol's `configopaque.MapList`: both spellings give the same headers.
    #[test]
    fn headers_come_as_a_map_or_as_a_list_of_name_and_value() {
        let want = vec![
            ("x-a".to_owned(), "b".to_owned()),
            ("x-c".to_owned(), "1".to_owned()),
        ];
        for text in [
            "{X-A: b, x-c: 1}",
            "[{name: x-c, value: 1}, {name: X-A, value: b}]",
        ] {
            let value: serde_yaml::Value = serde_yaml::from_str(text).unwrap();
            let raw: RawHeaders = super::super::de::decode(value, "h").unwrap();
            let mut errs = Errors::default();
            assert_eq!(headers(raw, "h", &mut errs), want, "{text}");
            assert!(errs.is_empty(), "{text}: {errs:?}");
        }
        let value: serde_yaml::Value = serde_yaml::from_str("[{name: a, val: b}]").unwrap();
        let err = super::super::de::decode::<RawHeaders>(value, "h").unwrap_err();
        assert!(err.to_string().contains("unknown field `val`"), "{err}");
        let value: serde_yaml::Value = serde_yaml::from_str("just-text").unwrap();
        let err = super::super::de::decode::<RawHeaders>(value, "h").unwrap_err();
        assert!(err.to_string().contains("a map of header names"), "{err}");
    }

    #[test]
    fn headers_are_lowercased_and_checked() {
        let mut errs = Errors::default();
        let raw = RawHeaders(
            [
                ("X-Scope-OrgID", "tenant1"),
                ("api-key", "12345"),
                ("bad header", "x"),
                ("Content-Type", "x"),
                ("grpc-timeout", "1S"),
                ("x-nl", "a\nb"),
                ("x-scope-orgid", "dup"),
            ]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), Text(v.to_owned())))
            .collect(),
        );
        let out = headers(raw, "h", &mut errs);
        assert_eq!(
            out,
            vec![
                ("x-scope-orgid".to_owned(), "tenant1".to_owned()),
                ("api-key".to_owned(), "12345".to_owned())
            ]
        );
        let msg = errs.finish(()).unwrap_err().to_string();
        assert!(
            msg.contains("h::bad header: \"bad header\" is not a valid HTTP/2 header name"),
            "{msg}"
        );
        assert!(
            msg.contains("h::Content-Type: header \"content-type\" is reserved"),
            "{msg}"
        );
        assert!(
            msg.contains("h::grpc-timeout: header \"grpc-timeout\" is reserved"),
            "{msg}"
        );
        assert!(msg.contains("h::x-nl: header values"), "{msg}");
        assert!(
            msg.contains("h::x-scope-orgid: header \"x-scope-orgid\" is set twice"),
            "{msg}"
        );
    }

    #[test]
    fn retry_and_queue_defaults_and_checks() {
        let mut errs = Errors::default();
        assert_eq!(
            retry(RawRetry::default(), "r", &mut errs),
            RetryConfig::default()
        );
        assert_eq!(
            queue(RawQueue::default(), "q", &mut errs),
            QueueConfig::default()
        );
        assert!(errs.is_empty());
        let raw = RawRetry {
            multiplier: Some(-0.5),
            randomization_factor: Some(2.0),
            initial_interval: Some(GoDuration(Duration::from_secs(10))),
            max_interval: Some(GoDuration(Duration::from_secs(60))),
            max_elapsed_time: Some(GoDuration(Duration::from_secs(5))),
            ..RawRetry::default()
        };
        retry(raw, "r", &mut errs);
        let raw = RawQueue {
            num_consumers: Some(0),
            queue_size: Some(0),
            sizer: Some(Text("pages".into())),
            ..RawQueue::default()
        };
        queue(raw, "q", &mut errs);
        let msg = errs.finish(()).unwrap_err().to_string();
        assert!(
            msg.contains("r::multiplier: must be a finite number, zero or more"),
            "{msg}"
        );
        assert!(
            msg.contains("r::randomization_factor: must be within [0, 1]"),
            "{msg}"
        );
        assert!(
            msg.contains("r::max_elapsed_time: must not be less than 'initial_interval'"),
            "{msg}"
        );
        assert!(
            msg.contains("r::max_elapsed_time: must not be less than 'max_interval'"),
            "{msg}"
        );
        assert!(
            msg.contains("q::num_consumers: `num_consumers` must be positive"),
            "{msg}"
        );
        assert!(
            msg.contains("q::queue_size: `queue_size` must be positive"),
            "{msg}"
        );
        assert!(msg.contains("q::sizer: unknown sizer \"pages\""), "{msg}");
    }

    #[test]
    fn retry_ranges_are_checked_even_when_disabled() {
        let mut errs = Errors::default();
        for (multiplier, ok) in [(0.0, true), (0.5, true), (1e30, true), (f64::NAN, false)] {
            let raw = RawRetry {
                enabled: Some(false),
                multiplier: Some(multiplier),
                ..RawRetry::default()
            };
            retry(raw, "r", &mut errs);
            assert_eq!(errs.is_empty(), ok, "multiplier {multiplier}");
        }
    }

    #[test]
    fn disabled_sections_are_not_checked() {
        let mut errs = Errors::default();
        let raw = RawRetry {
            enabled: Some(false),
            max_elapsed_time: Some(GoDuration(Duration::from_millis(1))),
            ..RawRetry::default()
        };
        assert!(!retry(raw, "r", &mut errs).enabled);
        let raw = RawQueue {
            enabled: Some(false),
            num_consumers: Some(0),
            blocking: Some(true),
            ..RawQueue::default()
        };
        let q = queue(raw, "q", &mut errs);
        assert!(q.block_on_overflow);
        assert!(errs.is_empty());
    }
}
