//! Config of the `jaeger` receiver, with otelcol-contrib's keys and defaults:
//! `protocols.grpc` (configgrpc server settings) and `protocols.thrift_http` (confighttp
//! server settings). The agent protocols over UDP are refused with a reason.

use serde::Deserialize;
use serde_yaml::Value;

use crate::config::de::{self, join, present};
use crate::config::error::Errors;
use crate::receiver::otlp::config::{
    grpc_server, plain_http_server, GrpcServerConfig, HttpServerConfig, RawGrpc,
};

/// Default `protocols.grpc.endpoint` (Jaeger's collector gRPC port, on localhost).
pub const DEFAULT_GRPC_ENDPOINT: &str = "localhost:14250";
/// Default `protocols.thrift_http.endpoint` (Jaeger's collector HTTP port, on localhost).
pub const DEFAULT_THRIFT_HTTP_ENDPOINT: &str = "localhost:14268";

/// The `jaeger` receiver: at least one protocol.
#[derive(Clone, Debug, PartialEq)]
pub struct JaegerReceiverConfig {
    /// `protocols.grpc`: `jaeger.api_v2.CollectorService/PostSpans`.
    pub grpc: Option<GrpcServerConfig>,
    /// `protocols.thrift_http`: Thrift binary batches posted to `/api/traces`.
    pub thrift_http: Option<HttpServerConfig>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawJaeger {
    protocols: Option<RawProtocols>,
    remote_sampling: Option<Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawProtocols {
    #[serde(deserialize_with = "present")]
    grpc: Option<RawGrpc>,
    #[serde(deserialize_with = "present")]
    thrift_http: Option<Value>,
    #[serde(deserialize_with = "present")]
    thrift_binary: Option<Value>,
    #[serde(deserialize_with = "present")]
    thrift_compact: Option<Value>,
}

/// Decodes and checks a `jaeger` receiver body at `path`.
pub(crate) fn parse(body: Value, path: &str, errs: &mut Errors) -> Option<JaegerReceiverConfig> {
    let raw: RawJaeger = errs.take(de::decode(body, path))?;
    if raw.remote_sampling.is_some() {
        errs.invalid(
            join(path, "remote_sampling"),
            "remote sampling is not served (otelcol removed it from this receiver too); serve sampling strategies from Jaeger itself",
        );
    }
    let protocols = raw.protocols.unwrap_or_default();
    let path = join(path, "protocols");
    for (key, value) in [
        ("thrift_binary", &protocols.thrift_binary),
        ("thrift_compact", &protocols.thrift_compact),
    ] {
        if value.is_some() {
            errs.invalid(
                join(&path, key),
                "the Jaeger agent's UDP protocols are not supported: send to grpc or thrift_http (Jaeger clients' HTTP sender, or an OTLP exporter)",
            );
        }
    }
    if protocols.grpc.is_none() && protocols.thrift_http.is_none() {
        errs.invalid(
            &path,
            "must specify at least one protocol when using the Jaeger receiver",
        );
    }
    let grpc = protocols
        .grpc
        .map(|g| grpc_server(g, DEFAULT_GRPC_ENDPOINT, &join(&path, "grpc"), errs));
    let thrift_http = match protocols.thrift_http {
        None => None,
        Some(value) => {
            let at = join(&path, "thrift_http");
            let body = match value {
                Value::Null => serde_yaml::Mapping::new(),
                Value::Mapping(m) => m,
                other => {
                    errs.invalid(&at, format!("expected a mapping, found {other:?}"));
                    return None;
                }
            };
            Some(plain_http_server(
                body,
                DEFAULT_THRIFT_HTTP_ENDPOINT,
                "/api/traces",
                &at,
                errs,
            )?)
        }
    };
    Some(JaegerReceiverConfig { grpc, thrift_http })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use crate::config::{ConfigError, ReceiverConfig};

    use super::*;

    fn parse(yaml: &str) -> Result<JaegerReceiverConfig, ConfigError> {
        match crate::registry::testing::receiver("jaeger", yaml)? {
            ReceiverConfig::Jaeger(j) => Ok(*j),
            other => panic!("not a jaeger config: {other:?}"),
        }
    }

    #[test]
    fn defaults_as_otelcol() {
        let j = parse("protocols:\n  grpc:\n  thrift_http:\n").unwrap();
        assert_eq!(j.grpc.unwrap().endpoint, "127.0.0.1:14250".parse().unwrap());
        let http = j.thrift_http.unwrap();
        assert_eq!(http.endpoint, "127.0.0.1:14268".parse().unwrap());
        assert_eq!(http.max_request_body_size_bytes, 20 * 1024 * 1024);
    }

    #[test]
    fn refusals_say_why() {
        let err = parse("protocols: {}\n").unwrap_err().to_string();
        assert!(
            err.contains("receivers::jaeger::protocols: must specify at least one protocol"),
            "{err}"
        );
        let err = parse("protocols:\n  grpc:\n  thrift_compact:\n    endpoint: 0.0.0.0:6831\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("receivers::jaeger::protocols::thrift_compact: the Jaeger agent's UDP protocols are not supported"),
            "{err}"
        );
        let err = parse("protocols:\n  thrift_binary:\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("thrift_binary"), "{err}");
        let err = parse("protocols:\n  thrift_http:\n    traces_url_path: /x\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("thrift_http::traces_url_path: unknown field"),
            "{err}"
        );
        let err = parse("protocols:\n  grpc:\n    endpont: x\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown field `endpont`"), "{err}");
        let err = parse("protocols:\n  grpc:\nremote_sampling: {}\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("remote_sampling"), "{err}");
    }
}
