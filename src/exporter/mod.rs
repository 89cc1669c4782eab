//! Exporters: where a shard's batches leave it.
//!
//! Every exporter kind has the same entry points: `new` (from its config, on a shard) and
//! `export` (one request, one attempt). Retry and in-flight limits live in [`delivery`], the
//! same for every kind.

pub mod compress;
pub mod debug;
pub mod delivery;
pub mod grpc_status;
pub mod headers;
pub mod kafka;
pub mod loadbalancing;
pub mod otlp_grpc;
pub mod otlp_http;
pub mod queue;
pub mod tls;

use std::time::Duration;

use crate::pipeline::payload::Payload;

/// Why one export attempt failed, in the OTLP spec's two classes.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ExportError {
    /// Worth retrying later (UNAVAILABLE, 503, a broken connection, a timeout…).
    #[error("{reason}")]
    Retryable {
        /// What went wrong.
        reason: String,
        /// The delay the server asked for (RetryInfo, Retry-After), if any.
        retry_after: Option<Duration>,
    },
    /// Retrying the same data cannot succeed (INVALID_ARGUMENT, 400…).
    #[error("{reason}")]
    Permanent {
        /// What went wrong.
        reason: String,
    },
}

impl ExportError {
    /// A retryable error with no server-given delay.
    pub fn retryable(reason: impl Into<String>) -> ExportError {
        ExportError::Retryable {
            reason: reason.into(),
            retry_after: None,
        }
    }

    /// A permanent error.
    pub fn permanent(reason: impl Into<String>) -> ExportError {
        ExportError::Permanent {
            reason: reason.into(),
        }
    }

    /// Whether the OTLP spec allows retrying.
    pub fn is_retryable(&self) -> bool {
        matches!(self, ExportError::Retryable { .. })
    }
}

/// One configured exporter instance on one shard.
pub enum Exporter {
    /// OTLP over gRPC.
    OtlpGrpc(otlp_grpc::OtlpGrpcExporter),
    /// OTLP over HTTP/1.1.
    OtlpHttp(otlp_http::OtlpHttpExporter),
    /// Logs what passes.
    Debug(debug::DebugExporter),
    /// Routes by key to one otlp exporter per backend.
    LoadBalancing(loadbalancing::LoadBalancingExporter),
    /// Produces to Kafka topics.
    Kafka(kafka::KafkaExporter),
}

impl Exporter {
    /// Makes one export attempt of `payload`.
    pub async fn export(&self, payload: &Payload) -> Result<(), ExportError> {
        match self {
            Exporter::OtlpGrpc(exporter) => exporter.export(payload).await,
            Exporter::OtlpHttp(exporter) => exporter.export(payload).await,
            Exporter::Debug(exporter) => exporter.export(payload),
            Exporter::LoadBalancing(exporter) => exporter.export(payload).await,
            Exporter::Kafka(exporter) => exporter.export(payload).await,
        }
    }
}
