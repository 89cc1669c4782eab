//! `exporters:` section: the OTLP/gRPC exporter (`otlp`, `otlp_grpc`) and the debug exporter.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;
use serde_yaml::Value;

pub use super::client::{Compression, Endpoint, QueueConfig, QueueSizer, RetryConfig};

use super::client::{self, RawQueue, RawRetry, Scheme};
use super::de::{self, join, reject_set, warn_ignored, Text};
use super::duration::GoDuration;
use super::error::Errors;
use super::otlp_http::{otlp_http, OtlpHttpExporterConfig, RawOtlpHttp};
use super::tls::{warn_unused_tls, RawTls};
use crate::signal::Signal;

/// Default export request `timeout` (otelcol's).
pub const DEFAULT_EXPORT_TIMEOUT: Duration = Duration::from_secs(5);

/// One configured exporter.
#[derive(Clone, Debug, PartialEq)]
pub enum ExporterConfig {
    /// `otlp` / `otlp_grpc`: OTLP over gRPC to a backend.
    Otlp(OtlpExporterConfig),
    /// `otlphttp` / `otlp_http`: OTLP over HTTP/1.1 to a backend.
    OtlpHttp(OtlpHttpExporterConfig),
    /// `debug`: writes what passes through to the collector's log.
    Debug(DebugExporterConfig),
}

impl ExporterConfig {
    /// Whether this exporter can end a pipeline of `signal` (both handle all three).
    pub fn supports(&self, signal: Signal) -> bool {
        match self {
            ExporterConfig::Otlp(_) | ExporterConfig::OtlpHttp(_) | ExporterConfig::Debug(_) => {
                matches!(signal, Signal::Traces | Signal::Metrics | Signal::Logs)
            }
        }
    }
}

/// The OTLP/gRPC exporter.
#[derive(Clone, Debug, PartialEq)]
pub struct OtlpExporterConfig {
    /// Backend to connect to (plaintext: TLS is not supported yet).
    pub endpoint: Endpoint,
    /// Request compression (default gzip).
    pub compression: Compression,
    /// Deadline of one export request (default 5s).
    pub timeout: Duration,
    /// Extra request headers, names lowercased, in name order.
    pub headers: Vec<(String, String)>,
    /// Retry of failed exports.
    pub retry_on_failure: RetryConfig,
    /// Queue of requests waiting for export.
    pub sending_queue: QueueConfig,
}

/// How much the debug exporter prints.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Verbosity {
    /// Counts per batch (default).
    #[default]
    Basic,
    /// One line per item.
    Normal,
    /// Every field of every item.
    Detailed,
}

/// The debug exporter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DebugExporterConfig {
    /// How much is printed (default basic).
    pub verbosity: Verbosity,
    /// Log lines per second printed before sampling starts (default 2).
    pub sampling_initial: u32,
    /// After that, print every Nth line (default 1).
    pub sampling_thereafter: u32,
}

impl Default for DebugExporterConfig {
    fn default() -> Self {
        DebugExporterConfig {
            verbosity: Verbosity::Basic,
            sampling_initial: 2,
            sampling_thereafter: 1,
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawOtlp {
    endpoint: Option<Text>,
    compression: Option<Text>,
    compression_params: Option<Value>,
    timeout: Option<GoDuration>,
    headers: Option<BTreeMap<String, Text>>,
    tls: Option<RawTls>,
    retry_on_failure: Option<RawRetry>,
    sending_queue: Option<RawQueue>,
    balancer_name: Option<Value>,
    keepalive: Option<Value>,
    write_buffer_size: Option<Value>,
    read_buffer_size: Option<Value>,
    wait_for_ready: Option<Value>,
    authority: Option<Value>,
    auth: Option<Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawDebug {
    verbosity: Option<Text>,
    sampling_initial: Option<u32>,
    sampling_thereafter: Option<u32>,
    use_internal_logger: Option<bool>,
}

/// `otlp` (registered in `super::registry`); `path` is e.g. `exporters::otlp/backend`.
pub(crate) fn parse_otlp(body: Value, path: &str, errs: &mut Errors) -> Option<ExporterConfig> {
    let raw: RawOtlp = errs.take(de::decode(body, path))?;
    otlp(raw, path, errs).map(ExporterConfig::Otlp)
}

/// `otlphttp` (registered in `super::registry`).
pub(crate) fn parse_otlp_http(
    body: Value,
    path: &str,
    errs: &mut Errors,
) -> Option<ExporterConfig> {
    let raw: RawOtlpHttp = errs.take(de::decode(body, path))?;
    otlp_http(raw, path, errs).map(ExporterConfig::OtlpHttp)
}

/// `debug` (registered in `super::registry`).
pub(crate) fn parse_debug(body: Value, path: &str, errs: &mut Errors) -> Option<ExporterConfig> {
    let raw: RawDebug = errs.take(de::decode(body, path))?;
    Some(ExporterConfig::Debug(debug(raw, path, errs)))
}

fn otlp(raw: RawOtlp, path: &str, errs: &mut Errors) -> Option<OtlpExporterConfig> {
    let at = |key: &str| join(path, key);
    reject_set(
        errs,
        &at("auth"),
        &raw.auth,
        "client authentication is not supported yet",
    );
    for (key, value) in [
        ("compression_params", &raw.compression_params),
        ("balancer_name", &raw.balancer_name),
        ("keepalive", &raw.keepalive),
        ("write_buffer_size", &raw.write_buffer_size),
        ("read_buffer_size", &raw.read_buffer_size),
        ("wait_for_ready", &raw.wait_for_ready),
        ("authority", &raw.authority),
    ] {
        warn_ignored(errs, &at(key), value);
    }
    let client::SharedClient {
        compression,
        headers,
        retry_on_failure,
        sending_queue,
    } = client::shared(
        raw.compression,
        raw.headers,
        raw.retry_on_failure,
        raw.sending_queue,
        path,
        errs,
    );
    let endpoint = endpoint(raw.endpoint, raw.tls.unwrap_or_default(), path, errs)?;
    Some(OtlpExporterConfig {
        endpoint,
        compression,
        timeout: raw.timeout.map_or(DEFAULT_EXPORT_TIMEOUT, |t| t.0),
        headers,
        retry_on_failure,
        sending_queue,
    })
}

/// Parses the endpoint and decides plaintext vs TLS the way otelcol does: `https://` always
/// means TLS, `http://` plaintext, a bare `host:port` TLS unless `tls.insecure: true`.
fn endpoint(raw: Option<Text>, tls: RawTls, path: &str, errs: &mut Errors) -> Option<Endpoint> {
    let Some(Text(text)) = raw else {
        errs.invalid(join(path, "endpoint"), "endpoint is required");
        return None;
    };
    let (scheme, endpoint) = match client::parse_endpoint(&text) {
        Ok(parsed) => parsed,
        Err(reason) => {
            errs.invalid(join(path, "endpoint"), reason);
            return None;
        }
    };
    let plaintext = match scheme {
        Scheme::Http => true,
        Scheme::Bare => tls.insecure == Some(true),
        Scheme::Https => {
            errs.invalid(
                join(path, "endpoint"),
                "an https:// endpoint needs TLS, which is not supported yet; use an http:// endpoint, or host:port with tls.insecure: true",
            );
            return None;
        }
    };
    if !plaintext {
        errs.invalid(
            path,
            "TLS is not supported yet; set tls.insecure: true or use an http:// endpoint",
        );
        return None;
    }
    warn_unused_tls(&tls, &join(path, "tls"), errs);
    Some(endpoint)
}

fn debug(raw: RawDebug, path: &str, errs: &mut Errors) -> DebugExporterConfig {
    let d = DebugExporterConfig::default();
    let verbosity = match raw.verbosity.map(|t| t.0.to_ascii_lowercase()).as_deref() {
        None | Some("basic") => Verbosity::Basic,
        Some("normal") => Verbosity::Normal,
        Some("detailed") => Verbosity::Detailed,
        Some(other) => {
            errs.invalid(
                join(path, "verbosity"),
                format!("unknown verbosity \"{other}\"; expected basic, normal or detailed"),
            );
            Verbosity::Basic
        }
    };
    if raw.use_internal_logger == Some(false) {
        errs.warn(&join(path, "use_internal_logger"), de::IGNORED);
    }
    DebugExporterConfig {
        verbosity,
        sampling_initial: raw.sampling_initial.unwrap_or(d.sampling_initial),
        sampling_thereafter: raw.sampling_thereafter.unwrap_or(d.sampling_thereafter),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::config::ConfigError;

    fn parse(kind: &str, yaml: &str) -> Result<ExporterConfig, ConfigError> {
        let mut errs = Errors::default();
        let body: Value = serde_yaml::from_str(yaml).unwrap();
        let path = format!("exporters::{kind}");
        let e =
            super::super::registry::build_exporter(&kind.parse().unwrap(), body, &path, &mut errs);
        errs.finish(e).map(|e| e.unwrap())
    }

    fn otlp(yaml: &str) -> OtlpExporterConfig {
        match parse("otlp", yaml).unwrap() {
            ExporterConfig::Otlp(o) => o,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn otlp_defaults() {
        let o = otlp("endpoint: backend:4317\ntls: {insecure: true}");
        assert_eq!(
            o.endpoint,
            Endpoint {
                host: "backend".into(),
                port: 4317
            }
        );
        assert_eq!(o.compression, Compression::Gzip);
        assert_eq!(o.timeout, Duration::from_secs(5));
        assert!(o.headers.is_empty());
        assert_eq!(o.retry_on_failure, RetryConfig::default());
        assert_eq!(o.sending_queue, QueueConfig::default());
        let r = &o.retry_on_failure;
        assert!(r.enabled);
        assert_eq!(
            (r.initial_interval, r.max_interval, r.max_elapsed_time),
            (
                Duration::from_secs(5),
                Duration::from_secs(30),
                Duration::from_secs(300)
            )
        );
        assert_eq!((r.multiplier, r.randomization_factor), (1.5, 0.5));
        let q = &o.sending_queue;
        assert_eq!((q.enabled, q.num_consumers, q.queue_size), (true, 10, 1000));
        assert_eq!(
            (q.block_on_overflow, q.sizer),
            (false, QueueSizer::Requests)
        );
    }

    #[test]
    fn otlp_grpc_is_the_same_exporter() {
        let e = parse("otlp_grpc/x", "endpoint: http://backend:4317").unwrap();
        assert!(matches!(e, ExporterConfig::Otlp(_)));
    }

    #[test]
    fn tls_rules() {
        let err = parse("otlp/b", "endpoint: backend:4317").unwrap_err();
        assert_eq!(
            err.to_string(),
            "exporters::otlp/b: TLS is not supported yet; set tls.insecure: true or use an http:// endpoint"
        );
        let err = parse(
            "otlp",
            "endpoint: https://backend:4317\ntls: {insecure: true}",
        )
        .unwrap_err();
        assert!(err
            .to_string()
            .starts_with("exporters::otlp::endpoint: an https:// endpoint needs TLS"));
        let o = otlp("endpoint: http://backend:4317\ntls: {ca_file: /x}");
        assert_eq!(o.endpoint.authority(), "backend:4317");
    }

    #[test]
    fn otlp_errors_name_the_key() {
        let err = parse("otlp/backend", "endpont: x").unwrap_err().to_string();
        assert!(err.starts_with("exporters::otlp/backend"), "{err}");
        assert!(
            err.contains("unknown field `endpont`, expected one of `endpoint`"),
            "{err}"
        );
        let err = parse("otlp", "tls: {insecure: true}")
            .unwrap_err()
            .to_string();
        assert_eq!(err, "exporters::otlp::endpoint: endpoint is required");
        let err = parse("otlp", "endpoint: http://b:1\ncompression: snappy")
            .unwrap_err()
            .to_string();
        assert_eq!(err, "exporters::otlp::compression: compression \"snappy\" is not supported yet; use gzip, zstd or none");
        let err = parse("otlp", "endpoint: http://b:1\nauth: {authenticator: basic}")
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "exporters::otlp::auth: client authentication is not supported yet"
        );
        let err = parse("otlp", "endpoint: http://b:1\nsending_queue: {batch: {}}")
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with(
                "exporters::otlp::sending_queue::batch: sending_queue.batch is not supported yet"
            ),
            "{err}"
        );
        let err = parse(
            "otlp",
            "endpoint: http://b:1\nretry_on_failure: {multiplier: x}",
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.starts_with("exporters::otlp::retry_on_failure::multiplier: invalid type"),
            "{err}"
        );
        let err = parse("otlp", "endpoint: http://b:1\ntimeout: 5 seconds")
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("exporters::otlp::timeout: invalid duration"),
            "{err}"
        );
        let err = parse("otlp", "endpoint: http://b:1\ntls: {insecure: yes}")
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("exporters::otlp::tls::insecure: invalid type"),
            "{err}"
        );
    }

    #[test]
    fn accepted_but_unused_keys() {
        let o = otlp("endpoint: http://b:1\nbalancer_name: round_robin\nkeepalive: {time: 10s}\nwait_for_ready: true\nauthority: x\nwrite_buffer_size: 1\nread_buffer_size: 1\ncompression: none");
        assert_eq!(o.compression, Compression::None);
    }

    #[test]
    fn debug_defaults_and_values() {
        let ExporterConfig::Debug(d) = parse("debug", "").unwrap() else {
            panic!()
        };
        assert_eq!(d, DebugExporterConfig::default());
        assert_eq!(
            (d.verbosity, d.sampling_initial, d.sampling_thereafter),
            (Verbosity::Basic, 2, 1)
        );
        let ExporterConfig::Debug(d) = parse("debug", "verbosity: Detailed\nsampling_initial: 5\nsampling_thereafter: 200\nuse_internal_logger: true").unwrap() else { panic!() };
        assert_eq!(
            (d.verbosity, d.sampling_initial, d.sampling_thereafter),
            (Verbosity::Detailed, 5, 200)
        );
        let err = parse("debug", "verbosity: loud").unwrap_err().to_string();
        assert_eq!(err, "exporters::debug::verbosity: unknown verbosity \"loud\"; expected basic, normal or detailed");
    }

    #[test]
    fn unknown_type() {
        let err = parse("kafka", "").unwrap_err().to_string();
        assert_eq!(err, "exporters: unknown type \"kafka\" for id \"kafka\"; this build supports: otlp, otlp_grpc, otlphttp, otlp_http, debug");
    }
}
