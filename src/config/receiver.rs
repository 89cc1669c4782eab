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

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use serde_yaml::Value;

    use crate::config::error::Errors;
    use crate::config::ComponentId;

    #[test]
    fn unknown_type() {
        let mut errs = Errors::default();
        let r = crate::registry::parse_receiver(
            &ComponentId::new("jaeger"),
            Value::Null,
            "receivers::jaeger",
            &mut errs,
        );
        assert!(r.is_none());
        assert_eq!(
            errs.finish(()).unwrap_err().to_string(),
            "receivers: unknown type \"jaeger\" for id \"jaeger\"; this build supports: otlp"
        );
    }
}
