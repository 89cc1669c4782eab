//! Config of the `otlp` receiver (gRPC and HTTP protocols), with otelcol's keys and defaults.

use std::net::SocketAddr;
use std::time::Duration;

use serde::Deserialize;
use serde_yaml::Value;

use crate::config::auth::RawAuth;
use crate::config::de::{self, join, present, warn_ignored, Text};
use crate::config::duration::GoDuration;
use crate::config::error::Errors;
use crate::config::id::ComponentId;
use crate::config::server::listen_addr;
use crate::config::tls::{RawTls, ServerTlsConfig};
use shardgate_io::h2_server::Keepalive;
use shardgate_io::tls::{ALPN_H2, ALPN_HTTP1};

/// Default gRPC listen endpoint (otelcol binds localhost by default).
pub const DEFAULT_GRPC_ENDPOINT: &str = "localhost:4317";
/// Default HTTP listen endpoint.
pub const DEFAULT_HTTP_ENDPOINT: &str = "localhost:4318";
/// Default `max_recv_msg_size_mib`.
pub const DEFAULT_MAX_RECV_MSG_SIZE_MIB: u64 = 64;
/// Concurrent streams per connection when `max_concurrent_streams` is 0 or unset (otelcol's 0
/// means unlimited; a bound keeps one client from holding unbounded per-stream state). 100 is
/// RFC 9113's recommended floor and what grpc-go's servers announce; an exporter keeps far
/// fewer requests in flight on one connection.
pub const DEFAULT_MAX_CONCURRENT_STREAMS: u32 = 100;
/// Default HTTP request body limit, as otelcol: 20 MiB.
pub const DEFAULT_MAX_REQUEST_BODY_SIZE: usize = 20 * 1024 * 1024;

/// The `otlp` receiver: `protocols: {grpc: ..., http: ...}`; at least one is set.
#[derive(Clone, Debug, PartialEq)]
pub struct OtlpReceiverConfig {
    /// `protocols.grpc`: the OTLP/gRPC server, if enabled.
    pub grpc: Option<GrpcServerConfig>,
    /// `protocols.http`: the OTLP/HTTP server, if enabled.
    pub http: Option<HttpServerConfig>,
}

/// An OTLP/gRPC server.
#[derive(Clone, Debug, PartialEq)]
pub struct GrpcServerConfig {
    /// Address to listen on; `localhost` resolves to 127.0.0.1 and an empty host to 0.0.0.0.
    pub endpoint: SocketAddr,
    /// Largest request message accepted, from `max_recv_msg_size_mib` (0 = default 64).
    pub max_recv_msg_size_bytes: usize,
    /// HTTP/2 concurrent streams per connection (0 or unset = 100).
    pub max_concurrent_streams: u32,
    /// TLS (ALPN `h2`); `None` = plaintext.
    pub tls: Option<ServerTlsConfig>,
    /// The authenticator extension every request must pass (`auth.authenticator`).
    pub auth: Option<ComponentId>,
    /// Connection age, idle time, liveness pings (`keepalive.server_parameters`) and the
    /// client's ping rate (`keepalive.enforcement_policy`).
    pub keepalive: Keepalive,
    /// Whether each request's gRPC metadata travels with its data (`include_metadata`,
    /// default false).
    pub include_metadata: bool,
}

/// An OTLP/HTTP server.
#[derive(Clone, Debug, PartialEq)]
pub struct HttpServerConfig {
    /// Address to listen on.
    pub endpoint: SocketAddr,
    /// Path of the traces export endpoint (default `/v1/traces`).
    pub traces_url_path: String,
    /// Path of the metrics export endpoint (default `/v1/metrics`).
    pub metrics_url_path: String,
    /// Path of the logs export endpoint (default `/v1/logs`).
    pub logs_url_path: String,
    /// Largest request body accepted, from `max_request_body_size` (0 = default 20 MiB).
    pub max_request_body_size_bytes: usize,
    /// Time allowed to receive a request head (`read_header_timeout`; default 10s, tighter
    /// than otelcol's 1m so a slow-loris client holds a connection slot for less long).
    pub read_header_timeout: Duration,
    /// Time allowed to receive a request body (`read_timeout`; default 30s).
    pub read_timeout: Duration,
    /// Keep-alive idle time before the server closes a connection (`idle_timeout`; default 1m).
    pub idle_timeout: Duration,
    /// Browser CORS, when `cors.allowed_origins` is set.
    pub cors: Option<CorsConfig>,
    /// TLS (HTTP/1.1 over TLS, ALPN `http/1.1`); `None` = plaintext.
    pub tls: Option<ServerTlsConfig>,
    /// The authenticator extension every request must pass (`auth.authenticator`).
    pub auth: Option<ComponentId>,
    /// Whether each request's headers travel with its data (`include_metadata`, default
    /// false).
    pub include_metadata: bool,
}

/// `cors:` of an OTLP/HTTP server (otelcol's confighttp keys).
#[derive(Clone, Debug, PartialEq, Default)]
pub struct CorsConfig {
    /// Origins allowed; `*` in an entry matches any run of characters.
    pub allowed_origins: Vec<String>,
    /// Extra request headers allowed in preflight (beyond the CORS-safelisted ones).
    pub allowed_headers: Vec<String>,
    /// Seconds a browser may cache a preflight answer (`max_age`; 0 = header not sent).
    pub max_age_secs: u64,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawCors {
    allowed_origins: Vec<String>,
    allowed_headers: Vec<String>,
    max_age: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawOtlp {
    protocols: Option<RawProtocols>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawProtocols {
    #[serde(deserialize_with = "present")]
    grpc: Option<RawGrpc>,
    #[serde(deserialize_with = "present")]
    http: Option<RawHttp>,
}

/// The keys of a gRPC server (otelcol's configgrpc server settings).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct RawGrpc {
    endpoint: Option<Text>,
    transport: Option<Text>,
    max_recv_msg_size_mib: Option<u64>,
    max_concurrent_streams: Option<u32>,
    read_buffer_size: Option<Value>,
    write_buffer_size: Option<Value>,
    keepalive: Option<Value>,
    include_metadata: Option<bool>,
    auth: Option<RawAuth>,
    tls: Option<RawTls>,
}

/// The keys of an HTTP server (otelcol's confighttp server settings, plus the OTLP paths).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct RawHttp {
    endpoint: Option<Text>,
    traces_url_path: Option<Text>,
    metrics_url_path: Option<Text>,
    logs_url_path: Option<Text>,
    max_request_body_size: Option<u64>,
    tls: Option<RawTls>,
    auth: Option<RawAuth>,
    cors: Option<RawCors>,
    include_metadata: Option<bool>,
    response_headers: Option<Value>,
    compression_algorithms: Option<Value>,
    read_timeout: Option<GoDuration>,
    read_header_timeout: Option<GoDuration>,
    write_timeout: Option<Value>,
    idle_timeout: Option<GoDuration>,
    keep_alives_enabled: Option<Value>,
}

/// Decodes and checks an `otlp` receiver body at `path`; `path` is e.g. `receivers::otlp/2`.
pub(crate) fn parse(body: Value, path: &str, errs: &mut Errors) -> Option<OtlpReceiverConfig> {
    let raw: RawOtlp = errs.take(de::decode(body, path))?;
    Some(otlp(raw, path, errs))
}

fn otlp(raw: RawOtlp, path: &str, errs: &mut Errors) -> OtlpReceiverConfig {
    let protocols = raw.protocols.unwrap_or_default();
    let path = join(path, "protocols");
    if protocols.grpc.is_none() && protocols.http.is_none() {
        errs.invalid(
            &path,
            "must specify at least one protocol when using the OTLP receiver",
        );
    }
    OtlpReceiverConfig {
        grpc: protocols.grpc.map(|g| grpc(g, &join(&path, "grpc"), errs)),
        http: protocols.http.map(|h| http(h, &join(&path, "http"), errs)),
    }
}

fn grpc(raw: RawGrpc, path: &str, errs: &mut Errors) -> GrpcServerConfig {
    grpc_server(raw, DEFAULT_GRPC_ENDPOINT, path, errs)
}

/// A gRPC server's settings from `raw` at `path`, listening on `default_endpoint` unless set.
pub(crate) fn grpc_server(
    raw: RawGrpc,
    default_endpoint: &str,
    path: &str,
    errs: &mut Errors,
) -> GrpcServerConfig {
    let at = |key: &str| join(path, key);
    if let Some(Text(transport)) = &raw.transport {
        if transport != "tcp" {
            errs.invalid(
                at("transport"),
                format!("transport \"{transport}\" is not supported; only \"tcp\" is"),
            );
        }
    }
    for (key, value) in [
        ("read_buffer_size", &raw.read_buffer_size),
        ("write_buffer_size", &raw.write_buffer_size),
    ] {
        warn_ignored(errs, &at(key), value);
    }
    let keepalive = super::keepalive::parse(raw.keepalive, &at("keepalive"), errs);
    let mib = match raw.max_recv_msg_size_mib {
        None | Some(0) => DEFAULT_MAX_RECV_MSG_SIZE_MIB,
        Some(mib) => mib,
    };
    let max_recv_msg_size_bytes = mib_to_bytes(mib).unwrap_or_else(|| {
        errs.invalid(
            at("max_recv_msg_size_mib"),
            format!("{mib} MiB is too large"),
        );
        0
    });
    let tls = raw
        .tls
        .and_then(|tls| crate::config::tls::server(tls, &[ALPN_H2], &at("tls"), errs));
    let auth = raw
        .auth
        .and_then(|a| crate::config::auth::authenticator(a, &at("auth"), errs));
    GrpcServerConfig {
        tls,
        auth,
        keepalive,
        include_metadata: raw.include_metadata.unwrap_or(false),
        endpoint: listen_addr(raw.endpoint, default_endpoint, &at("endpoint"), errs),
        max_recv_msg_size_bytes,
        max_concurrent_streams: match raw.max_concurrent_streams {
            None | Some(0) => DEFAULT_MAX_CONCURRENT_STREAMS,
            Some(n) => n,
        },
    }
}

fn http(raw: RawHttp, path: &str, errs: &mut Errors) -> HttpServerConfig {
    http_server(raw, DEFAULT_HTTP_ENDPOINT, path, errs)
}

/// An HTTP server's settings from `raw` at `path`, listening on `default_endpoint` unless set.
pub(crate) fn http_server(
    raw: RawHttp,
    default_endpoint: &str,
    path: &str,
    errs: &mut Errors,
) -> HttpServerConfig {
    let at = |key: &str| join(path, key);
    for (key, value) in [
        ("response_headers", &raw.response_headers),
        ("compression_algorithms", &raw.compression_algorithms),
        ("write_timeout", &raw.write_timeout),
        ("keep_alives_enabled", &raw.keep_alives_enabled),
    ] {
        warn_ignored(errs, &at(key), value);
    }
    let body = match raw.max_request_body_size {
        None | Some(0) => DEFAULT_MAX_REQUEST_BODY_SIZE,
        Some(n) => usize::try_from(n).unwrap_or(usize::MAX),
    };
    let tls = raw
        .tls
        .and_then(|tls| crate::config::tls::server(tls, &[ALPN_HTTP1], &at("tls"), errs));
    let auth = raw
        .auth
        .and_then(|a| crate::config::auth::authenticator(a, &at("auth"), errs));
    HttpServerConfig {
        tls,
        auth,
        include_metadata: raw.include_metadata.unwrap_or(false),
        endpoint: listen_addr(raw.endpoint, default_endpoint, &at("endpoint"), errs),
        traces_url_path: url_path(raw.traces_url_path, "/v1/traces"),
        metrics_url_path: url_path(raw.metrics_url_path, "/v1/metrics"),
        logs_url_path: url_path(raw.logs_url_path, "/v1/logs"),
        max_request_body_size_bytes: body,
        read_header_timeout: positive(raw.read_header_timeout, Duration::from_secs(10)),
        read_timeout: positive(raw.read_timeout, Duration::from_secs(30)),
        idle_timeout: positive(raw.idle_timeout, Duration::from_secs(60)),
        cors: raw
            .cors
            .filter(|c| !c.allowed_origins.is_empty())
            .map(|c| CorsConfig {
                allowed_origins: c.allowed_origins,
                allowed_headers: c.allowed_headers,
                max_age_secs: c.max_age.unwrap_or(0),
            }),
    }
}

/// Keys of the OTLP/HTTP server that other HTTP receivers do not have.
const OTLP_PATH_KEYS: [&str; 3] = ["traces_url_path", "metrics_url_path", "logs_url_path"];

/// The settings of an HTTP server that is not OTLP's (no `*_url_path` keys) from `body` at
/// `path`, listening on `default_endpoint` unless set.
pub(crate) fn plain_http_server(
    mut body: serde_yaml::Mapping,
    default_endpoint: &str,
    served: &str,
    path: &str,
    errs: &mut Errors,
) -> Option<HttpServerConfig> {
    for key in OTLP_PATH_KEYS {
        if body.remove(key).is_some() {
            errs.invalid(
                join(path, key),
                format!("unknown field: this server serves {served}"),
            );
        }
    }
    let raw: RawHttp = errs.take(de::decode(Value::Mapping(body), path))?;
    let config = http_server(raw, default_endpoint, path, errs);
    if config.include_metadata {
        errs.warn(
            &join(path, "include_metadata"),
            format!("this server ({served}) keeps no client metadata; ignored"),
        );
    }
    Some(config)
}

/// otelcol treats a zero timeout as "none"; we never run without one, so zero means default.
fn positive(raw: Option<GoDuration>, default: Duration) -> Duration {
    match raw {
        Some(GoDuration(d)) if !d.is_zero() => d,
        _ => default,
    }
}

/// otelcol prefixes a missing leading `/`.
fn url_path(raw: Option<Text>, default: &str) -> String {
    match raw {
        None => default.to_owned(),
        Some(Text(p)) if p.starts_with('/') => p,
        Some(Text(p)) => format!("/{p}"),
    }
}

fn mib_to_bytes(mib: u64) -> Option<usize> {
    usize::try_from(mib.checked_mul(1024 * 1024)?).ok()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::config::resolve_listen;
    use crate::config::{ConfigError, ReceiverConfig};

    fn parse(yaml: &str) -> Result<ReceiverConfig, ConfigError> {
        crate::registry::testing::receiver("otlp", yaml)
    }

    fn otlp(yaml: &str) -> OtlpReceiverConfig {
        match parse(yaml).unwrap() {
            ReceiverConfig::Otlp(o) => *o,
            other => panic!("not otlp: {other:?}"),
        }
    }

    #[test]
    fn null_protocol_bodies_mean_defaults() {
        let o = otlp("protocols:\n  grpc:\n  http:\n");
        let grpc = o.grpc.unwrap();
        assert_eq!(grpc.endpoint, "127.0.0.1:4317".parse().unwrap());
        assert_eq!(grpc.max_recv_msg_size_bytes, 64 * 1024 * 1024);
        assert_eq!(grpc.max_concurrent_streams, 100);
        let http = o.http.unwrap();
        assert_eq!(http.endpoint, "127.0.0.1:4318".parse().unwrap());
        assert_eq!(http.traces_url_path, "/v1/traces");
        assert_eq!(http.metrics_url_path, "/v1/metrics");
        assert_eq!(http.logs_url_path, "/v1/logs");
        assert_eq!(http.max_request_body_size_bytes, 20 * 1024 * 1024);
        assert_eq!(http.read_header_timeout, Duration::from_secs(10));
        assert_eq!(http.read_timeout, Duration::from_secs(30));
        assert_eq!(http.idle_timeout, Duration::from_secs(60));
        assert_eq!(http.cors, None);
    }

    #[test]
    fn include_metadata_is_off_unless_set() {
        let o = otlp("protocols:\n  grpc:\n  http:\n");
        assert!(!o.grpc.unwrap().include_metadata);
        assert!(!o.http.unwrap().include_metadata);
        let o = otlp(
            "protocols:\n  grpc: {include_metadata: true}\n  http: {include_metadata: true}\n",
        );
        assert!(o.grpc.unwrap().include_metadata);
        assert!(o.http.unwrap().include_metadata);
    }

    #[test]
    fn http_timeouts_and_cors() {
        let o = otlp(
            "protocols:\n  http:\n    read_header_timeout: 2s\n    read_timeout: 0s\n    idle_timeout: 90s\n    cors:\n      allowed_origins: [\"https://*.example.com\"]\n      allowed_headers: [X-Custom]\n      max_age: 7200\n",
        );
        let http = o.http.unwrap();
        assert_eq!(http.read_header_timeout, Duration::from_secs(2));
        assert_eq!(http.read_timeout, Duration::from_secs(30));
        assert_eq!(http.idle_timeout, Duration::from_secs(90));
        let cors = http.cors.unwrap();
        assert_eq!(cors.allowed_origins, ["https://*.example.com"]);
        assert_eq!(cors.allowed_headers, ["X-Custom"]);
        assert_eq!(cors.max_age_secs, 7200);
        let err = parse("protocols:\n  http:\n    cors:\n      allowed_origin: [x]\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("http::cors"), "{err}");
        assert!(err.contains("allowed_origin"), "{err}");
    }

    #[test]
    fn endpoint_forms() {
        for (text, want) in [
            ("0.0.0.0:4317", "0.0.0.0:4317"),
            ("[::]:4317", "[::]:4317"),
            (":4317", "0.0.0.0:4317"),
            ("localhost:14317", "127.0.0.1:14317"),
            ("127.0.0.2:1", "127.0.0.2:1"),
        ] {
            assert_eq!(
                resolve_listen(text).unwrap(),
                want.parse().unwrap(),
                "{text}"
            );
        }
        assert!(resolve_listen("localhost").unwrap_err().contains("no port"));
        assert!(resolve_listen("localhost:http")
            .unwrap_err()
            .contains("invalid port"));
    }

    #[test]
    fn explicit_values_and_zero_defaults() {
        let o = otlp(
            "protocols:\n  grpc:\n    endpoint: 0.0.0.0:5317\n    max_recv_msg_size_mib: 16\n    max_concurrent_streams: 0\n    transport: tcp\n    keepalive: {server_parameters: {time: 10s}}\n  http:\n    traces_url_path: traces\n    max_request_body_size: 1024\n",
        );
        let grpc = o.grpc.unwrap();
        assert_eq!(grpc.endpoint.port(), 5317);
        assert_eq!(grpc.max_recv_msg_size_bytes, 16 << 20);
        assert_eq!(grpc.max_concurrent_streams, DEFAULT_MAX_CONCURRENT_STREAMS);
        let http = o.http.unwrap();
        assert_eq!(http.traces_url_path, "/traces");
        assert_eq!(http.max_request_body_size_bytes, 1024);
    }

    #[test]
    fn at_least_one_protocol() {
        for yaml in ["", "protocols:", "protocols: {}"] {
            let err = parse(yaml).unwrap_err().to_string();
            assert_eq!(
                err,
                "receivers::otlp::protocols: must specify at least one protocol when using the OTLP receiver"
            );
        }
    }

    #[test]
    fn unsupported_and_unknown_keys() {
        let err = parse(
            "protocols:\n  grpc:\n    tls: {cert_file: a}\n    auth: {}\n    transport: unix\n",
        )
        .unwrap_err();
        let msg = err.to_string();
        assert!(
            msg.contains(
                "receivers::otlp::protocols::grpc::tls::key_file: cert_file is set but key_file (or key_pem) is not"
            ),
            "{msg}"
        );
        assert!(
            msg.contains(
                "receivers::otlp::protocols::grpc::auth::authenticator: authenticator is required"
            ),
            "{msg}"
        );
        assert!(
            msg.contains("receivers::otlp::protocols::grpc::transport: transport \"unix\""),
            "{msg}"
        );
        let err = parse("protocols:\n  grpc:\n    endpont: x\n")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("receivers::otlp::protocols::grpc"), "{err}");
        assert!(err.contains("unknown field `endpont`"), "{err}");
        let err = parse("protocols:\n  thrift:\n").unwrap_err().to_string();
        assert!(
            err.contains("unknown field `thrift`, expected `grpc` or `http`"),
            "{err}"
        );
    }

    #[test]
    fn type_errors_name_the_key() {
        let err = parse("protocols:\n  grpc:\n    max_recv_msg_size_mib: x\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            "receivers::otlp::protocols::grpc::max_recv_msg_size_mib: invalid type: string \"x\", expected u64"
        );
        let err = parse("protocols:\n  grpc:\n    endpoint: \"nope\"\n").unwrap_err();
        assert!(err.to_string().starts_with(
            "receivers::otlp::protocols::grpc::endpoint: endpoint \"nope\" has no port"
        ));
    }
}
