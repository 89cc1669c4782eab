//! Config of the `otlp` (alias `otlp_grpc`) exporter: otelcol's keys, defaults and checks.

use std::time::Duration;

use serde::Deserialize;
use serde_yaml::Value;

use crate::config::auth::RawAuth;
use crate::config::client::{
    self, Compression, Endpoint, QueueConfig, RawQueue, RawRetry, RetryConfig, Scheme,
};
use crate::config::de::{self, join, warn_ignored, Text};
use crate::config::duration::GoDuration;
use crate::config::error::Errors;
use crate::config::id::ComponentId;
use crate::config::tls::{ClientTlsConfig, RawTls};
use shardgate_io::tls::ALPN_H2;

/// Default export request `timeout` (otelcol's).
pub const DEFAULT_EXPORT_TIMEOUT: Duration = Duration::from_secs(5);

/// The OTLP/gRPC exporter.
#[derive(Clone, Debug, PartialEq)]
pub struct OtlpExporterConfig {
    /// Backend to connect to.
    pub endpoint: Endpoint,
    /// TLS to the backend; `None` = plaintext (`http://` or `tls.insecure: true`).
    pub tls: Option<ClientTlsConfig>,
    /// The authenticator extension that signs every request (`auth.authenticator`).
    pub auth: Option<ComponentId>,
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

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawOtlp {
    endpoint: Option<Text>,
    compression: Option<Text>,
    compression_params: Option<Value>,
    timeout: Option<GoDuration>,
    headers: Option<crate::config::client::RawHeaders>,
    tls: Option<RawTls>,
    retry_on_failure: Option<RawRetry>,
    sending_queue: Option<RawQueue>,
    balancer_name: Option<Value>,
    keepalive: Option<Value>,
    write_buffer_size: Option<Value>,
    read_buffer_size: Option<Value>,
    wait_for_ready: Option<Value>,
    authority: Option<Value>,
    auth: Option<RawAuth>,
}

/// Decodes and checks an `otlp` exporter body at `path` (e.g. `exporters::otlp/backend`).
pub(crate) fn parse(body: Value, path: &str, errs: &mut Errors) -> Option<OtlpExporterConfig> {
    let raw: RawOtlp = errs.take(de::decode(body, path))?;
    otlp(raw, path, errs)
}

fn otlp(raw: RawOtlp, path: &str, errs: &mut Errors) -> Option<OtlpExporterConfig> {
    let at = |key: &str| join(path, key);
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
    let (endpoint, tls) = endpoint(raw.endpoint, raw.tls.unwrap_or_default(), path, errs)?;
    let auth = raw
        .auth
        .and_then(|a| crate::config::auth::authenticator(a, &at("auth"), errs));
    Some(OtlpExporterConfig {
        endpoint,
        tls,
        auth,
        compression,
        timeout: raw.timeout.map_or(DEFAULT_EXPORT_TIMEOUT, |t| t.0),
        headers,
        retry_on_failure,
        sending_queue,
    })
}

/// Parses the endpoint and decides plaintext vs TLS the way otelcol does: `https://` always
/// means TLS, `http://` plaintext, a bare `host:port` TLS unless `tls.insecure: true`. TLS
/// without a CA trusts the system's roots.
fn endpoint(
    raw: Option<Text>,
    tls: RawTls,
    path: &str,
    errs: &mut Errors,
) -> Option<(Endpoint, Option<ClientTlsConfig>)> {
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
        Scheme::Https => false,
    };
    let tls_path = join(path, "tls");
    if plaintext {
        crate::config::tls::warn_unused(&tls, &tls_path, errs);
        return Some((endpoint, None));
    }
    let tls = crate::config::tls::client(tls, &[ALPN_H2], &tls_path, errs)?;
    Some((endpoint, Some(tls)))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::config::{ExporterConfig, QueueSizer};

    use crate::registry::testing::exporter as parse;

    fn otlp(yaml: &str) -> OtlpExporterConfig {
        match parse("otlp", yaml).unwrap() {
            ExporterConfig::Otlp(o) => *o,
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
        // As otelcol: a bare host:port is TLS with the system's roots unless tls.insecure.
        let tls = otlp("endpoint: backend:4317").tls.expect("TLS by default");
        assert_eq!(tls.spec.ca, None);
        assert!(!tls.spec.skip_verify);
        assert_eq!(tls.spec.alpn, vec![b"h2".to_vec()]);
        assert!(otlp("endpoint: backend:4317\ntls: {insecure: true}")
            .tls
            .is_none());
        // https:// is TLS whatever insecure says; http:// is plaintext.
        assert!(
            otlp("endpoint: https://backend:4317\ntls: {insecure: true}")
                .tls
                .is_some()
        );
        let o = otlp("endpoint: http://backend:4317\ntls: {ca_file: /x}");
        assert_eq!(o.endpoint.authority(), "backend:4317");
        assert!(o.tls.is_none());
        let err = parse("otlp", "endpoint: b:1\ntls: {ca_file: /nonexistent/ca.pem}")
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("exporters::otlp::tls::ca_file: cannot read CA certificates file \"/nonexistent/ca.pem\""),
            "{err}"
        );
        let err = parse("otlp", "endpoint: b:1\ntls: {min_version: \"1.1\"}")
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("exporters::otlp::tls::min_version: TLS 1.1 is not supported"),
            "{err}"
        );
        let err = parse("otlp", "endpoint: b:1\ntls: {client_ca_file: /x}")
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with(
                "exporters::otlp::tls::client_ca_file: client_ca_file is a server setting"
            ),
            "{err}"
        );
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
        let o = otlp("endpoint: http://b:1\nauth: {authenticator: basicauth/out}");
        assert_eq!(o.auth, Some("basicauth/out".parse().unwrap()));
        let err = parse("otlp", "endpoint: http://b:1\nauth: {}")
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "exporters::otlp::auth::authenticator: authenticator is required"
        );
        let o = otlp("endpoint: http://b:1\nsending_queue: {batch: {min_size: 10}}");
        assert_eq!(o.sending_queue.batch.unwrap().send_batch_size, 10);
        let err = parse(
            "otlp",
            "endpoint: http://b:1\nsending_queue: {batch: {sizer: bytes}}",
        )
        .unwrap_err()
        .to_string();
        assert!(
            err.starts_with("exporters::otlp::sending_queue::batch::sizer: "),
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
}
