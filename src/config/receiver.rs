//! `receivers:` section: one variant per receiver type; each type's config lives with it.

use std::net::SocketAddr;

use crate::config::ComponentId;
use crate::receiver::otlp::config::OtlpReceiverConfig;
use crate::receiver::zipkin::config::ZipkinReceiverConfig;

/// One configured receiver.
#[derive(Clone, Debug, PartialEq)]
pub enum ReceiverConfig {
    /// `otlp`: OTLP over gRPC and/or HTTP.
    Otlp(Box<OtlpReceiverConfig>),
    /// `zipkin`: Zipkin v1 and v2 spans over HTTP.
    Zipkin(Box<ZipkinReceiverConfig>),
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
            ReceiverConfig::Zipkin(zipkin) => vec![zipkin.server.endpoint],
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
            ReceiverConfig::Zipkin(_) => vec!["http"],
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
            ReceiverConfig::Zipkin(zipkin) => zipkin
                .server
                .auth
                .iter()
                .map(|a| ("auth::authenticator", a))
                .collect(),
        }
    }
}
