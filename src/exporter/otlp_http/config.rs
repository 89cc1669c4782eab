//! `exporters: otlphttp` (alias `otlp_http`): OTLP over HTTP/1.1, with otelcol's keys and
//! defaults (`encoding: proto`, `compression: gzip`, `timeout: 30s`).
//!
//! URL rules, as otelcol's `otlphttpexporter`: `endpoint` is a base URL to which
//! `/v1/traces`, `/v1/metrics` or `/v1/logs` is appended (a trailing `/` on the base is
//! dropped first); `traces_endpoint`, `metrics_endpoint`, `logs_endpoint` are full URLs used
//! as written. `https://` URLs use TLS (`tls:` keys; the system's roots without `ca_file`).

use std::time::Duration;

use serde::Deserialize;
use serde_yaml::Value;

use crate::config::auth::RawAuth;
use crate::config::client::{self, Compression, QueueConfig, RawQueue, RawRetry, RetryConfig};
use crate::config::de::{join, warn_ignored, Text};
use crate::config::duration::GoDuration;
use crate::config::error::Errors;
use crate::config::id::ComponentId;
use crate::config::tls::{ClientTlsConfig, RawTls};
use crate::signal::Signal;
use shardgate_io::tls::ALPN_HTTP1;

/// Default export request `timeout` of the OTLP/HTTP exporter (otelcol's).
pub const DEFAULT_HTTP_EXPORT_TIMEOUT: Duration = Duration::from_secs(30);

/// How request bodies are encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum HttpEncoding {
    /// Binary protobuf, `application/x-protobuf` (default).
    #[default]
    Proto,
    /// OTLP/JSON, `application/json`.
    Json,
}

/// One target URL: where to dial and what to put on the request line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HttpUrl {
    /// `https://`: the connection uses TLS.
    pub https: bool,
    /// The host, which a TLS server's certificate must name.
    pub host: String,
    /// `host:port` to dial and send as `Host`.
    pub authority: String,
    /// Path and query, starting with `/`.
    pub path: String,
}

impl std::fmt::Display for HttpUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let scheme = if self.https { "https" } else { "http" };
        write!(f, "{scheme}://{}{}", self.authority, self.path)
    }
}

/// The OTLP/HTTP exporter.
#[derive(Clone, Debug, PartialEq)]
pub struct OtlpHttpExporterConfig {
    /// Target of trace requests.
    pub traces_url: HttpUrl,
    /// Target of metric requests.
    pub metrics_url: HttpUrl,
    /// Target of log requests.
    pub logs_url: HttpUrl,
    /// TLS for the `https://` URLs (the system's roots unless `tls` names a CA).
    pub tls: Option<ClientTlsConfig>,
    /// The authenticator extension that signs every request (`auth.authenticator`).
    pub auth: Option<ComponentId>,
    /// Body encoding (default proto).
    pub encoding: HttpEncoding,
    /// Body compression (default gzip).
    pub compression: Compression,
    /// Deadline of one export request (default 30s).
    pub timeout: Duration,
    /// Extra request headers, names lowercased.
    pub headers: Vec<(String, String)>,
    /// Retry of failed exports.
    pub retry_on_failure: RetryConfig,
    /// Queue of requests waiting for export.
    pub sending_queue: QueueConfig,
}

impl OtlpHttpExporterConfig {
    /// The URL requests of `signal` go to.
    pub fn url(&self, signal: Signal) -> &HttpUrl {
        match signal {
            Signal::Traces => &self.traces_url,
            Signal::Metrics => &self.metrics_url,
            Signal::Logs => &self.logs_url,
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawOtlpHttp {
    endpoint: Option<Text>,
    traces_endpoint: Option<Text>,
    metrics_endpoint: Option<Text>,
    logs_endpoint: Option<Text>,
    profiles_endpoint: Option<Value>,
    encoding: Option<Text>,
    compression: Option<Text>,
    compression_params: Option<Value>,
    timeout: Option<GoDuration>,
    headers: Option<crate::config::client::RawHeaders>,
    tls: Option<RawTls>,
    retry_on_failure: Option<RawRetry>,
    sending_queue: Option<RawQueue>,
    auth: Option<RawAuth>,
    proxy_url: Option<Value>,
    read_buffer_size: Option<Value>,
    write_buffer_size: Option<Value>,
    max_idle_conns: Option<Value>,
    max_idle_conns_per_host: Option<Value>,
    max_conns_per_host: Option<Value>,
    idle_conn_timeout: Option<Value>,
    disable_keep_alives: Option<Value>,
    http2_read_idle_timeout: Option<Value>,
    http2_ping_timeout: Option<Value>,
    force_attempt_http2: Option<Value>,
    cookies: Option<Value>,
    middlewares: Option<Value>,
}

/// Decodes and checks an `otlphttp` exporter body at `path` (e.g. `exporters::otlphttp/x`).
pub(crate) fn parse(body: Value, path: &str, errs: &mut Errors) -> Option<OtlpHttpExporterConfig> {
    let raw: RawOtlpHttp = errs.take(crate::config::de::decode(body, path))?;
    otlp_http(raw, path, errs)
}

fn otlp_http(raw: RawOtlpHttp, path: &str, errs: &mut Errors) -> Option<OtlpHttpExporterConfig> {
    let at = |key: &str| join(path, key);
    for (key, value) in [
        ("profiles_endpoint", &raw.profiles_endpoint),
        ("compression_params", &raw.compression_params),
        ("proxy_url", &raw.proxy_url),
        ("read_buffer_size", &raw.read_buffer_size),
        ("write_buffer_size", &raw.write_buffer_size),
        ("max_idle_conns", &raw.max_idle_conns),
        ("max_idle_conns_per_host", &raw.max_idle_conns_per_host),
        ("max_conns_per_host", &raw.max_conns_per_host),
        ("idle_conn_timeout", &raw.idle_conn_timeout),
        ("disable_keep_alives", &raw.disable_keep_alives),
        ("http2_read_idle_timeout", &raw.http2_read_idle_timeout),
        ("http2_ping_timeout", &raw.http2_ping_timeout),
        ("force_attempt_http2", &raw.force_attempt_http2),
        ("cookies", &raw.cookies),
        ("middlewares", &raw.middlewares),
    ] {
        warn_ignored(errs, &at(key), value);
    }
    let encoding = match raw.encoding.as_ref().map(|t| t.0.as_str()) {
        None | Some("proto") => HttpEncoding::Proto,
        Some("json") => HttpEncoding::Json,
        Some(other) => {
            errs.invalid(
                at("encoding"),
                format!("unknown encoding \"{other}\"; expected proto or json"),
            );
            HttpEncoding::Proto
        }
    };
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
    let base = raw.endpoint.map(|t| t.0);
    // A bad or missing base `endpoint` is reported once, not once per signal.
    let mut base_reported = false;
    let mut url = |key: &str, own: Option<Text>, signal: Signal| {
        let resolved = resolve_url(base.as_deref(), own.map(|t| t.0).as_deref(), signal);
        match resolved {
            Ok(url) => Some(url),
            Err((Which::Own, reason)) => {
                errs.invalid(at(key), reason);
                None
            }
            Err((Which::Base, reason)) => {
                if !std::mem::replace(&mut base_reported, true) {
                    errs.invalid(at("endpoint"), reason);
                }
                None
            }
        }
    };
    let traces_url = url("traces_endpoint", raw.traces_endpoint, Signal::Traces);
    let metrics_url = url("metrics_endpoint", raw.metrics_endpoint, Signal::Metrics);
    let logs_url = url("logs_endpoint", raw.logs_endpoint, Signal::Logs);
    let (traces_url, metrics_url, logs_url) = (traces_url?, metrics_url?, logs_url?);
    let raw_tls = raw.tls.unwrap_or_default();
    let tls = if [&traces_url, &metrics_url, &logs_url]
        .iter()
        .any(|u| u.https)
    {
        Some(crate::config::tls::client(
            raw_tls,
            &[ALPN_HTTP1],
            &at("tls"),
            errs,
        )?)
    } else {
        crate::config::tls::warn_unused(&raw_tls, &at("tls"), errs);
        None
    };
    let auth = raw
        .auth
        .and_then(|a| crate::config::auth::authenticator(a, &at("auth"), errs));
    Some(OtlpHttpExporterConfig {
        traces_url,
        metrics_url,
        logs_url,
        tls,
        auth,
        encoding,
        compression,
        timeout: raw.timeout.map_or(DEFAULT_HTTP_EXPORT_TIMEOUT, |t| t.0),
        headers,
        retry_on_failure,
        sending_queue,
    })
}

/// Which key an URL error is about.
#[derive(Debug, PartialEq, Eq)]
enum Which {
    Base,
    Own,
}

/// The URL of `signal`: its own `*_endpoint` as written, else `base` + `/v1/<signal>`.
fn resolve_url(
    base: Option<&str>,
    own: Option<&str>,
    signal: Signal,
) -> Result<HttpUrl, (Which, String)> {
    if let Some(own) = own {
        return parse_url(own).map_err(|r| (Which::Own, r));
    }
    let Some(base) = base else {
        return Err((
            Which::Base,
            "endpoint is required (or traces_endpoint, metrics_endpoint and logs_endpoint)"
                .to_owned(),
        ));
    };
    let mut url = parse_url(base).map_err(|r| (Which::Base, r))?;
    let trimmed = url.path.trim_end_matches('/');
    url.path = format!("{trimmed}/v1/{}", signal.as_str());
    Ok(url)
}

/// Parses `http[s]://host[:port][/path]` (port 80, or 443 for https, by default).
fn parse_url(text: &str) -> Result<HttpUrl, String> {
    let lower = text.to_ascii_lowercase();
    let (https, rest) = if lower.starts_with("http://") {
        (false, text.get(7..).unwrap_or_default())
    } else if lower.starts_with("https://") {
        (true, text.get(8..).unwrap_or_default())
    } else {
        return Err(format!("\"{text}\" must be an http:// or https:// URL"));
    };
    let (authority, path) = match rest.find(['/', '?']) {
        Some(at) => rest.split_at(at),
        None => (rest, "/"),
    };
    let path = if path.starts_with('?') {
        format!("/{path}")
    } else {
        path.to_owned()
    };
    if path
        .chars()
        .any(|c| c.is_ascii_control() || c == ' ' || c == '#')
    {
        return Err(format!(
            "\"{text}\": the path has characters not allowed in a URL"
        ));
    }
    let scheme = if https { "https" } else { "http" };
    let endpoint = client::parse_endpoint(&format!("{scheme}://{authority}"))
        .map_err(|reason| format!("\"{text}\": {reason}"))?
        .1;
    Ok(HttpUrl {
        https,
        host: endpoint.host.clone(),
        authority: endpoint.authority(),
        path,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn url(base: Option<&str>, own: Option<&str>, signal: Signal) -> String {
        resolve_url(base, own, signal).unwrap().to_string()
    }

    #[test]
    fn base_url_gets_the_signal_path() {
        let t = Signal::Traces;
        assert_eq!(
            url(Some("http://b:4318"), None, t),
            "http://b:4318/v1/traces"
        );
        assert_eq!(
            url(Some("http://b:4318/"), None, t),
            "http://b:4318/v1/traces"
        );
        assert_eq!(
            url(Some("http://b:4318/otlp/"), None, Signal::Metrics),
            "http://b:4318/otlp/v1/metrics"
        );
        assert_eq!(
            url(Some("http://b"), None, Signal::Logs),
            "http://b:80/v1/logs"
        );
        assert_eq!(
            url(Some("http://[::1]:9/x"), None, Signal::Logs),
            "http://[::1]:9/x/v1/logs"
        );
    }

    #[test]
    fn per_signal_urls_are_used_as_written() {
        let t = Signal::Traces;
        assert_eq!(
            url(Some("http://b:1"), Some("http://c:2/custom/path/"), t),
            "http://c:2/custom/path/"
        );
        assert_eq!(url(None, Some("http://c:2"), t), "http://c:2/");
        assert_eq!(url(None, Some("http://c:2/in?x=1"), t), "http://c:2/in?x=1");
    }

    fn parse(kind: &str, yaml: &str) -> Result<OtlpHttpExporterConfig, String> {
        match crate::registry::testing::exporter(kind, yaml).map_err(|e| e.to_string())? {
            crate::config::ExporterConfig::OtlpHttp(c) => Ok(*c),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn defaults_and_aliases() {
        let c = parse("otlphttp", "endpoint: http://b:4318").unwrap();
        assert_eq!(c.encoding, HttpEncoding::Proto);
        assert_eq!(c.compression, Compression::Gzip);
        assert_eq!(c.timeout, Duration::from_secs(30));
        assert_eq!(c.sending_queue, QueueConfig::default());
        assert_eq!(c.retry_on_failure, RetryConfig::default());
        assert_eq!(c.url(Signal::Logs).to_string(), "http://b:4318/v1/logs");
        let c = parse(
            "otlp_http/x",
            "endpoint: http://b:4318\ntraces_endpoint: http://t:1/t\nencoding: json\ncompression: zstd\nmax_idle_conns: 5\nidle_conn_timeout: 3s\nhttp2_ping_timeout: 1s\nread_buffer_size: 1\ntls: {insecure: true}",
        )
        .unwrap();
        assert_eq!(c.url(Signal::Traces).to_string(), "http://t:1/t");
        assert_eq!(
            c.url(Signal::Metrics).to_string(),
            "http://b:4318/v1/metrics"
        );
        assert_eq!(
            (c.encoding, c.compression),
            (HttpEncoding::Json, Compression::Zstd)
        );
    }

    #[test]
    fn config_errors_name_the_key() {
        let err = parse("otlphttp", "endpoint: http://b:1\nendpont: x").unwrap_err();
        assert!(err.starts_with("exporters::otlphttp"), "{err}");
        assert!(err.contains("unknown field `endpont`"), "{err}");
        let err = parse("otlphttp", "endpoint: ftp://b:1").unwrap_err();
        assert!(err.starts_with("exporters::otlphttp::endpoint: "), "{err}");
        assert_eq!(err.lines().count(), 1, "reported once: {err}");
        let err = parse("otlphttp", "endpoint: http://b:1\nlogs_endpoint: ftp://l").unwrap_err();
        assert!(
            err.starts_with("exporters::otlphttp::logs_endpoint: "),
            "{err}"
        );
        let err = parse("otlphttp", "endpoint: http://b:1\nencoding: xml").unwrap_err();
        assert_eq!(
            err,
            "exporters::otlphttp::encoding: unknown encoding \"xml\"; expected proto or json"
        );
        let err = parse("otlphttp", "traces_endpoint: http://b:1").unwrap_err();
        assert!(
            err.contains("exporters::otlphttp::endpoint: endpoint is required"),
            "{err}"
        );
    }

    #[test]
    fn bad_urls_are_errors() {
        let err = resolve_url(Some("ftp://b:1"), None, Signal::Traces).unwrap_err();
        assert_eq!(err.0, Which::Base);
        assert!(
            err.1.contains("must be an http:// or https:// URL"),
            "{}",
            err.1
        );
        let err = resolve_url(None, None, Signal::Logs).unwrap_err();
        assert_eq!(
            err.1,
            "endpoint is required (or traces_endpoint, metrics_endpoint and logs_endpoint)"
        );
        let err = resolve_url(None, Some("b:4318"), Signal::Logs).unwrap_err();
        assert_eq!(
            (err.0, err.1.as_str()),
            (Which::Own, "\"b:4318\" must be an http:// or https:// URL")
        );
        assert!(resolve_url(Some("http://b:x"), None, Signal::Logs).is_err());
        assert!(resolve_url(Some("http://b:1/a b"), None, Signal::Logs).is_err());
    }
}
