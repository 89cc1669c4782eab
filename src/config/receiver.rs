//! `receivers:` section: one variant per receiver type; each type's config lives with it.

use std::net::SocketAddr;

use crate::receiver::otlp::config::OtlpReceiverConfig;
use crate::receiver::prometheus::config::PrometheusReceiverConfig;

/// One configured receiver.
// One value per configured receiver, read once at start: its size does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug, PartialEq)]
pub enum ReceiverConfig {
    /// `otlp`: OTLP over gRPC and/or HTTP.
    Otlp(OtlpReceiverConfig),
    /// `prometheus`: scrapes Prometheus endpoints.
    Prometheus(PrometheusReceiverConfig),
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
            ReceiverConfig::Prometheus(_) => Vec::new(),
        }
    }

    /// The `transport` labels its counters carry (`grpc`, `http`).
    pub fn transports(&self) -> Vec<&'static str> {
        match self {
            ReceiverConfig::Otlp(otlp) => otlp
                .grpc
                .as_ref()
                .map(|_| "grpc")
                .into_iter()
                .chain(otlp.http.as_ref().map(|_| "http"))
                .collect(),
            ReceiverConfig::Prometheus(_) => vec![crate::receiver::prometheus::TRANSPORT],
        }
    }
}
