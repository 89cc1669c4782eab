//! `receivers:` section: one variant per receiver type; each type's config lives with it.

use std::net::SocketAddr;

use crate::config::ComponentId;
use crate::receiver::jaeger::config::JaegerReceiverConfig;
use crate::receiver::otlp::config::OtlpReceiverConfig;
use crate::receiver::prometheus::config::PrometheusReceiverConfig;
use crate::receiver::zipkin::config::ZipkinReceiverConfig;

/// One configured receiver.
// One value per configured receiver, read once at start: its size does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq)]
pub enum ReceiverConfig {
    /// `otlp`: OTLP over gRPC and/or HTTP.
    Otlp(Box<OtlpReceiverConfig>),
    /// `zipkin`: Zipkin v1 and v2 spans over HTTP.
    Zipkin(Box<ZipkinReceiverConfig>),
    /// `jaeger`: Jaeger api_v2 gRPC, Thrift over HTTP and the agent's Thrift over UDP.
    Jaeger(Box<JaegerReceiverConfig>),
    /// `prometheus`: scrapes Prometheus endpoints.
    Prometheus(PrometheusReceiverConfig),
    /// `kafka`: consumes OTLP from Kafka topics.
    Kafka(Box<crate::receiver::kafka::config::KafkaReceiverConfig>),
}

impl ReceiverConfig {
    /// The addresses this receiver listens on, to detect two receivers sharing a port.
    pub fn listen_addrs(&self) -> Vec<SocketAddr> {
        match self {
            ReceiverConfig::Otlp(otlp) => otlp
                .grpc
                .iter()
                .map(|g| g.endpoint)
                .chain(otlp.http.iter().map(|h| h.endpoint))
                .collect(),
            ReceiverConfig::Prometheus(_) | ReceiverConfig::Kafka(_) => Vec::new(),
            ReceiverConfig::Zipkin(zipkin) => vec![zipkin.server.endpoint],
            ReceiverConfig::Jaeger(jaeger) => jaeger
                .grpc
                .iter()
                .map(|g| g.endpoint)
                .chain(jaeger.thrift_http.iter().map(|h| h.endpoint))
                .collect(),
        }
    }

    /// The UDP addresses this receiver reads datagrams on (a namespace apart from TCP's).
    pub fn udp_listen_addrs(&self) -> Vec<SocketAddr> {
        match self {
            ReceiverConfig::Jaeger(jaeger) => jaeger
                .thrift_compact
                .iter()
                .chain(jaeger.thrift_binary.iter())
                .map(|u| u.endpoint)
                .collect(),
            _ => Vec::new(),
        }
    }

    /// The transports this receiver takes data in over, as the `transport` label of its
    /// metrics says; each is one intake (`<id>/<transport>`) on every shard.
    pub fn transports(&self) -> Vec<&'static str> {
        match self {
            ReceiverConfig::Otlp(otlp) => {
                let grpc = otlp.grpc.as_ref().map(|_| "grpc");
                let http = otlp.http.as_ref().map(|_| "http");
                grpc.into_iter().chain(http).collect()
            }
            ReceiverConfig::Prometheus(_) => vec![crate::receiver::prometheus::TRANSPORT],
            ReceiverConfig::Kafka(_) => vec![crate::receiver::kafka::TRANSPORT],
            ReceiverConfig::Zipkin(_) => vec![crate::receiver::zipkin::TRANSPORT],
            ReceiverConfig::Jaeger(jaeger) => {
                use crate::receiver::jaeger::{
                    TRANSPORT_GRPC, TRANSPORT_THRIFT_HTTP, TRANSPORT_UDP_BINARY,
                    TRANSPORT_UDP_COMPACT,
                };
                let grpc = jaeger.grpc.as_ref().map(|_| TRANSPORT_GRPC);
                let http = jaeger.thrift_http.as_ref().map(|_| TRANSPORT_THRIFT_HTTP);
                let compact = jaeger
                    .thrift_compact
                    .as_ref()
                    .map(|_| TRANSPORT_UDP_COMPACT);
                let binary = jaeger.thrift_binary.as_ref().map(|_| TRANSPORT_UDP_BINARY);
                grpc.into_iter()
                    .chain(http)
                    .chain(compact)
                    .chain(binary)
                    .collect()
            }
        }
    }

    /// Every `auth.authenticator` it names, with the key path under the receiver's id.
    pub fn authenticators(&self) -> Vec<(&'static str, &ComponentId)> {
        match self {
            ReceiverConfig::Otlp(otlp) => {
                let grpc = otlp.grpc.as_ref().and_then(|g| g.auth.as_ref());
                let http = otlp.http.as_ref().and_then(|h| h.auth.as_ref());
                let grpc = grpc.map(|a| ("protocols::grpc::auth::authenticator", a));
                let http = http.map(|a| ("protocols::http::auth::authenticator", a));
                grpc.into_iter().chain(http).collect()
            }
            ReceiverConfig::Prometheus(_) | ReceiverConfig::Kafka(_) => Vec::new(),
            ReceiverConfig::Zipkin(zipkin) => zipkin
                .server
                .auth
                .iter()
                .map(|a| ("auth::authenticator", a))
                .collect(),
            ReceiverConfig::Jaeger(jaeger) => {
                let grpc = jaeger.grpc.as_ref().and_then(|g| g.auth.as_ref());
                let http = jaeger.thrift_http.as_ref().and_then(|h| h.auth.as_ref());
                let grpc = grpc.map(|a| ("protocols::grpc::auth::authenticator", a));
                let http = http.map(|a| ("protocols::thrift_http::auth::authenticator", a));
                grpc.into_iter().chain(http).collect()
            }
        }
    }
}
