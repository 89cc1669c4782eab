//! Config of the `jaeger` receiver, with otelcol-contrib's keys and defaults:
//! `protocols.grpc` (configgrpc server settings), `protocols.thrift_http` (confighttp
//! server settings), and the agent's UDP ports `protocols.thrift_compact` and
//! `protocols.thrift_binary` (`endpoint`, `max_packet_size`, `socket_buffer_size`; otelcol's
//! `queue_size` and `workers` are accepted and not acted on: each shard reads its own socket).

use std::net::SocketAddr;

use serde::Deserialize;
use serde_yaml::Value;

use crate::config::de::{self, join, present, Text};
use crate::config::error::Errors;
use crate::config::server::listen_addr;
use crate::receiver::otlp::config::{
    grpc_server, plain_http_server, GrpcServerConfig, HttpServerConfig, RawGrpc,
};

/// Default `protocols.grpc.endpoint` (Jaeger's collector gRPC port, on localhost).
pub const DEFAULT_GRPC_ENDPOINT: &str = "localhost:14250";
/// Default `protocols.thrift_http.endpoint` (Jaeger's collector HTTP port, on localhost).
pub const DEFAULT_THRIFT_HTTP_ENDPOINT: &str = "localhost:14268";
/// Default `protocols.thrift_compact.endpoint` (the Jaeger agent's compact UDP port).
pub const DEFAULT_THRIFT_COMPACT_ENDPOINT: &str = "localhost:6831";
/// Default `protocols.thrift_binary.endpoint` (the Jaeger agent's binary UDP port).
pub const DEFAULT_THRIFT_BINARY_ENDPOINT: &str = "localhost:6832";
/// Default `max_packet_size` of the UDP ports (otelcol's).
pub const DEFAULT_MAX_PACKET_SIZE: usize = 65_000;
/// The largest UDP payload there is.
const UDP_PAYLOAD_MAX: u64 = 65_507;

/// The `jaeger` receiver: at least one protocol.
#[derive(Clone, Debug, PartialEq)]
pub struct JaegerReceiverConfig {
    /// `protocols.grpc`: `jaeger.api_v2.CollectorService/PostSpans`.
    pub grpc: Option<GrpcServerConfig>,
    /// `protocols.thrift_http`: Thrift binary batches posted to `/api/traces`.
    pub thrift_http: Option<HttpServerConfig>,
    /// `protocols.thrift_compact`: agent `emitBatch` datagrams, Thrift compact protocol.
    pub thrift_compact: Option<UdpServerConfig>,
    /// `protocols.thrift_binary`: agent `emitBatch` datagrams, Thrift binary protocol.
    pub thrift_binary: Option<UdpServerConfig>,
}

/// One UDP port of the Jaeger agent protocols.
#[derive(Clone, Debug, PartialEq)]
pub struct UdpServerConfig {
    /// Address every shard binds (SO_REUSEPORT).
    pub endpoint: SocketAddr,
    /// Largest datagram read; a longer one is dropped as failed.
    pub max_packet_size: usize,
    /// The kernel receive buffer of each shard's socket, if set (0 or absent: the system's).
    pub socket_buffer_size: Option<usize>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawUdp {
    endpoint: Option<Text>,
    queue_size: Option<Value>,
    max_packet_size: Option<u64>,
    workers: Option<Value>,
    socket_buffer_size: Option<u64>,
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
    thrift_binary: Option<RawUdp>,
    #[serde(deserialize_with = "present")]
    thrift_compact: Option<RawUdp>,
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
    let none = [
        protocols.grpc.is_none(),
        protocols.thrift_http.is_none(),
        protocols.thrift_compact.is_none(),
        protocols.thrift_binary.is_none(),
    ];
    if none.iter().all(|n| *n) {
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
    let udp = |raw: Option<RawUdp>, key: &str, default: &str, errs: &mut Errors| {
        raw.map(|raw| udp_server(raw, default, &join(&path, key), errs))
    };
    let thrift_compact = udp(
        protocols.thrift_compact,
        "thrift_compact",
        DEFAULT_THRIFT_COMPACT_ENDPOINT,
        errs,
    );
    let thrift_binary = udp(
        protocols.thrift_binary,
        "thrift_binary",
        DEFAULT_THRIFT_BINARY_ENDPOINT,
        errs,
    );
    Some(JaegerReceiverConfig {
        grpc,
        thrift_http,
        thrift_compact,
        thrift_binary,
    })
}

fn udp_server(raw: RawUdp, default: &str, path: &str, errs: &mut Errors) -> UdpServerConfig {
    let at = |key: &str| join(path, key);
    for (key, value) in [("queue_size", &raw.queue_size), ("workers", &raw.workers)] {
        if value.is_some() {
            errs.warn(
                &at(key),
                "not acted on: each shard reads its own socket and takes each datagram in as it is read",
            );
        }
    }
    let max_packet_size = match raw.max_packet_size {
        None | Some(0) => DEFAULT_MAX_PACKET_SIZE,
        Some(n) if n > UDP_PAYLOAD_MAX => {
            errs.invalid(
                at("max_packet_size"),
                format!("{n} is more than the largest UDP payload ({UDP_PAYLOAD_MAX} bytes)"),
            );
            DEFAULT_MAX_PACKET_SIZE
        }
        Some(n) => usize::try_from(n).unwrap_or(DEFAULT_MAX_PACKET_SIZE),
    };
    UdpServerConfig {
        endpoint: listen_addr(raw.endpoint, default, &at("endpoint"), errs),
        max_packet_size,
        socket_buffer_size: raw
            .socket_buffer_size
            .filter(|n| *n > 0)
            .map(|n| usize::try_from(n).unwrap_or(usize::MAX)),
    }
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
        assert_eq!(j.thrift_compact, None);
    }

    #[test]
    fn agent_udp_ports_as_otelcol() {
        let j = parse("protocols:\n  thrift_compact:\n  thrift_binary:\n").unwrap();
        let compact = j.thrift_compact.unwrap();
        assert_eq!(compact.endpoint, "127.0.0.1:6831".parse().unwrap());
        assert_eq!(compact.max_packet_size, 65_000);
        assert_eq!(compact.socket_buffer_size, None);
        let binary = j.thrift_binary.unwrap();
        assert_eq!(binary.endpoint, "127.0.0.1:6832".parse().unwrap());
        let j = parse(
            "protocols:\n  thrift_compact:\n    endpoint: 0.0.0.0:7831\n    max_packet_size: 1000\n    socket_buffer_size: 4194304\n    queue_size: 5000\n    workers: 50\n",
        )
        .unwrap();
        let compact = j.thrift_compact.unwrap();
        assert_eq!(compact.endpoint, "0.0.0.0:7831".parse().unwrap());
        assert_eq!(compact.max_packet_size, 1000);
        assert_eq!(compact.socket_buffer_size, Some(4_194_304));
        assert_eq!(j.thrift_binary, None);
    }

    #[test]
    fn queue_size_and_workers_are_warned_about() {
        let body = serde_yaml::from_str(
            "protocols:\n  thrift_binary:\n    queue_size: 5000\n    workers: 50\n",
        )
        .unwrap();
        let mut errs = Errors::default();
        assert!(super::parse(body, "receivers::jaeger", &mut errs).is_some());
        let warnings = errs.take_warnings().join("\n");
        assert!(
            warnings.contains("thrift_binary::queue_size: not acted on"),
            "{warnings}"
        );
        assert!(
            warnings.contains("thrift_binary::workers: not acted on"),
            "{warnings}"
        );
    }

    #[test]
    fn refusals_say_why() {
        let err = parse("protocols: {}\n").unwrap_err().to_string();
        assert!(
            err.contains("receivers::jaeger::protocols: must specify at least one protocol"),
            "{err}"
        );
        let err = parse("protocols:\n  thrift_compact:\n    max_packet_size: 70000\n")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains(
                "thrift_compact::max_packet_size: 70000 is more than the largest UDP payload"
            ),
            "{err}"
        );
        let err = parse("protocols:\n  thrift_binary:\n    endpoint: nowhere\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("thrift_binary::endpoint"), "{err}");
        let err = parse("protocols:\n  thrift_binary:\n    queue: 1\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown field `queue`"), "{err}");
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
