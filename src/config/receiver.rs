//! `receivers:` section: one variant per receiver type; each type's config lives with it.

use std::net::SocketAddr;

use crate::receiver::otlp::config::OtlpReceiverConfig;

/// One configured receiver.
#[derive(Clone, Debug, PartialEq)]
pub enum ReceiverConfig {
    /// `otlp`: OTLP over gRPC and/or HTTP.
    Otlp(OtlpReceiverConfig),
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
        }
    }
}
