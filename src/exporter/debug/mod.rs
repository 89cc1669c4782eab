//! The `debug` exporter: logs what passes, as the official collector's does.
//!
//! `basic` logs one line per request with its counts and never decodes; `normal` one line per
//! item; `detailed` every field. Lines are sampled like the official exporter's logger:
//! the first `sampling_initial` requests each second are logged, then every
//! `sampling_thereafter`-th.

pub mod config;

use std::cell::Cell;
use std::time::Instant;

use bytes::BytesMut;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;

use self::config::{DebugExporterConfig, Verbosity};
use super::delivery::Delivery;
use super::ExportError;
use crate::config::ComponentId;
use crate::otlp;
use crate::pipeline::parts::DeliveryParts;
use crate::pipeline::payload::Payload;
use crate::signal::Signal;

/// One shard's debug exporter.
pub struct DebugExporter {
    id: ComponentId,
    verbosity: Verbosity,
    sampling_initial: u32,
    sampling_thereafter: u32,
    window_start: Cell<Option<Instant>>,
    window_count: Cell<u32>,
}

/// One `debug` exporter instance (registered in `crate::registry`): it cannot fail, so it
/// has no retry and its queue never refuses.
pub(crate) fn delivery(config: &DebugExporterConfig, parts: DeliveryParts<'_>) -> Delivery {
    let exporter = DebugExporter::new(parts.id.clone(), config);
    parts.unqueued(super::Exporter::Debug(exporter))
}

impl DebugExporter {
    /// Builds the exporter from its config.
    pub fn new(id: ComponentId, config: &DebugExporterConfig) -> DebugExporter {
        DebugExporter {
            id,
            verbosity: config.verbosity,
            sampling_initial: config.sampling_initial,
            sampling_thereafter: config.sampling_thereafter.max(1),
            window_start: Cell::new(None),
            window_count: Cell::new(0),
        }
    }

    /// Logs `payload`; never fails.
    pub fn export(&self, payload: &Payload) -> Result<(), ExportError> {
        if !self.sampled() {
            return Ok(());
        }
        let kind = match payload.signal {
            Signal::Traces => "TracesExporter",
            Signal::Metrics => "MetricsExporter",
            Signal::Logs => "LogsExporter",
        };
        tracing::info!(
            exporter = %self.id,
            resources = payload.chunks.len(),
            items = payload.items,
            "{kind}: {} resource(s), {} {}",
            payload.chunks.len(),
            payload.items,
            payload.signal.item_name()
        );
        if self.verbosity != Verbosity::Basic {
            self.log_items(payload);
        }
        Ok(())
    }

    fn sampled(&self) -> bool {
        let now = Instant::now();
        let fresh = self
            .window_start
            .get()
            .is_none_or(|start| now.duration_since(start).as_secs() >= 1);
        if fresh {
            self.window_start.set(Some(now));
            self.window_count.set(0);
        }
        let n = self.window_count.get().saturating_add(1);
        self.window_count.set(n);
        n <= self.sampling_initial
            || (n - self.sampling_initial).is_multiple_of(self.sampling_thereafter)
    }

    fn log_items(&self, payload: &Payload) {
        let mut body = BytesMut::with_capacity(otlp::encoded_request_len(&payload.chunks));
        otlp::encode_request(&payload.chunks, &mut body);
        let detailed = self.verbosity == Verbosity::Detailed;
        match payload.signal {
            Signal::Traces => {
                if let Ok(request) = ExportTraceServiceRequest::decode(&body[..]) {
                    self.log_spans(&request, detailed);
                }
            }
            Signal::Metrics => {
                if let Ok(request) = ExportMetricsServiceRequest::decode(&body[..]) {
                    self.log_metrics(&request, detailed);
                }
            }
            Signal::Logs => {
                if let Ok(request) = ExportLogsServiceRequest::decode(&body[..]) {
                    self.log_logs(&request, detailed);
                }
            }
        }
    }

    fn log_spans(&self, request: &ExportTraceServiceRequest, detailed: bool) {
        for resource in &request.resource_spans {
            for scope in &resource.scope_spans {
                for span in &scope.spans {
                    if detailed {
                        tracing::info!(exporter = %self.id, "{span:#?}");
                    } else {
                        tracing::info!(
                            exporter = %self.id,
                            "{} {} {}",
                            span.name,
                            hex(&span.trace_id),
                            hex(&span.span_id)
                        );
                    }
                }
            }
        }
    }

    fn log_metrics(&self, request: &ExportMetricsServiceRequest, detailed: bool) {
        for resource in &request.resource_metrics {
            for scope in &resource.scope_metrics {
                for metric in &scope.metrics {
                    if detailed {
                        tracing::info!(exporter = %self.id, "{metric:#?}");
                    } else {
                        tracing::info!(exporter = %self.id, "{} {}", metric.name, metric.unit);
                    }
                }
            }
        }
    }

    fn log_logs(&self, request: &ExportLogsServiceRequest, detailed: bool) {
        for resource in &request.resource_logs {
            for scope in &resource.scope_logs {
                for record in &scope.log_records {
                    if detailed {
                        tracing::info!(exporter = %self.id, "{record:#?}");
                    } else {
                        tracing::info!(
                            exporter = %self.id,
                            "{} {:?}",
                            record.severity_text,
                            record.body.as_ref().and_then(|b| b.value.as_ref())
                        );
                    }
                }
            }
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
