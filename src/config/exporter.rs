//! `exporters:` section: one variant per exporter type; each type's config lives with it.

use crate::exporter::debug::config::DebugExporterConfig;
use crate::exporter::kafka::config::KafkaExporterConfig;
use crate::exporter::loadbalancing::config::LoadBalancingExporterConfig;
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
    /// `loadbalancing`: routes by key to one otlp exporter per backend.
    LoadBalancing(Box<LoadBalancingExporterConfig>),
    /// `kafka`: produces to Kafka topics.
    Kafka(Box<KafkaExporterConfig>),
}

impl ExporterConfig {
    /// Its `sending_queue`, for the types that have one.
    pub fn sending_queue(&self) -> Option<&crate::config::QueueConfig> {
        match self {
            ExporterConfig::Otlp(o) => Some(&o.sending_queue),
            ExporterConfig::OtlpHttp(h) => Some(&h.sending_queue),
            ExporterConfig::LoadBalancing(l) => Some(&l.otlp.sending_queue),
            ExporterConfig::Kafka(k) => Some(&k.sending_queue),
            ExporterConfig::Debug(_) => None,
        }
    }

    /// Its `sending_queue.batch`, run in front of it (an enabled queue of `otlp` or
    /// `otlphttp` or `kafka`; validate refuses it inside `loadbalancing`).
    pub fn batch(&self) -> Option<&crate::config::BatchConfig> {
        match self {
            ExporterConfig::Otlp(_) | ExporterConfig::OtlpHttp(_) | ExporterConfig::Kafka(_) => {
                self.sending_queue()
                    .filter(|q| q.enabled)
                    .and_then(|q| q.batch.as_ref())
            }
            ExporterConfig::LoadBalancing(_) | ExporterConfig::Debug(_) => None,
        }
    }

    /// Why its settings do not fit a pipeline of `signal`, though its type does.
    pub fn refuses(&self, signal: crate::signal::Signal) -> Option<&'static str> {
        match self {
            ExporterConfig::LoadBalancing(l) => l.refuses(signal),
            ExporterConfig::Otlp(_)
            | ExporterConfig::OtlpHttp(_)
            | ExporterConfig::Debug(_)
            | ExporterConfig::Kafka(_) => None,
        }
    }

    /// The `file_storage` extension its queue is kept in, if any.
    pub fn storage(&self) -> Option<&crate::config::ComponentId> {
        self.sending_queue()
            .filter(|q| q.enabled)
            .and_then(|q| q.storage.as_ref())
    }
}
