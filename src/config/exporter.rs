//! `exporters:` section: one variant per exporter type; each type's config lives with it.

use crate::exporter::debug::config::DebugExporterConfig;
use crate::exporter::otlp_grpc::config::OtlpExporterConfig;
use crate::exporter::otlp_http::config::OtlpHttpExporterConfig;

/// One configured exporter.
#[derive(Clone, Debug, PartialEq)]
pub enum ExporterConfig {
    /// `otlp` / `otlp_grpc`: OTLP over gRPC to a backend.
    Otlp(Box<OtlpExporterConfig>),
    /// `otlphttp` / `otlp_http`: OTLP over HTTP/1.1 to a backend.
    OtlpHttp(Box<OtlpHttpExporterConfig>),
    /// `debug`: writes what passes through to the collector's log.
    Debug(DebugExporterConfig),
}
