//! `exporters:` section: one variant per exporter type; each type's config lives with it.

use crate::exporter::debug::config::DebugExporterConfig;
use crate::exporter::otlp_grpc::config::OtlpExporterConfig;
use crate::exporter::otlp_http::config::OtlpHttpExporterConfig;

/// One configured exporter.
#[derive(Clone, Debug, PartialEq)]
pub enum ExporterConfig {
    /// `otlp` / `otlp_grpc`: OTLP over gRPC to a backend.
    Otlp(OtlpExporterConfig),
    /// `otlphttp` / `otlp_http`: OTLP over HTTP/1.1 to a backend.
    OtlpHttp(OtlpHttpExporterConfig),
    /// `debug`: writes what passes through to the collector's log.
    Debug(DebugExporterConfig),
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use serde_yaml::Value;

    use super::*;
    use crate::config::error::Errors;
    use crate::config::ConfigError;

    fn parse(kind: &str, yaml: &str) -> Result<ExporterConfig, ConfigError> {
        let mut errs = Errors::default();
        let body: Value = serde_yaml::from_str(yaml).unwrap();
        let path = format!("exporters::{kind}");
        let e = crate::registry::parse_exporter(&kind.parse().unwrap(), body, &path, &mut errs);
        errs.finish(e).map(|e| e.unwrap())
    }

    #[test]
    fn unknown_type() {
        let err = parse("kafka", "").unwrap_err().to_string();
        assert_eq!(err, "exporters: unknown type \"kafka\" for id \"kafka\"; this build supports: otlp, otlp_grpc, otlphttp, otlp_http, debug");
    }
}
