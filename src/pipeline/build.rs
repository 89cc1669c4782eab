//! Builds one shard's pipelines from the config.
//!
//! Every shard builds its own copy: its own batch buffers, its own exporter instances and
//! connections. As in the official collector, one exporter id used by several pipelines of
//! the same signal is one instance (one queue, one connection) on the shard.

use std::collections::HashMap;
use std::rc::Rc;

use crate::config::{ComponentId, Config, ExporterConfig, ProcessorConfig, QueueSizer};
use crate::exporter::debug::DebugExporter;
use crate::exporter::delivery::{Delivery, Fanout};
use crate::exporter::otlp_grpc::OtlpGrpcExporter;
use crate::exporter::otlp_http::OtlpHttpExporter;
use crate::exporter::queue::{self, Queue};
use crate::exporter::Exporter;
use crate::observe::{ReceiverProbe, ShardObserver};
use crate::pipeline::budget::Budget;
use crate::pipeline::{Next, Stage};
use crate::processor::attributes::AttributesProcessor;
use crate::processor::batch::BatchProcessor;
use crate::processor::resource::ResourceProcessor;
use crate::processor::transform::{Rewrite, Transform};
use crate::signal::Signal;

/// Why a shard's pipelines could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// A pipeline names a component the config does not define (validation should catch it).
    #[error("service.pipelines::{pipeline}: {kind} {id} is not configured")]
    Missing {
        /// The pipeline id.
        pipeline: String,
        /// receiver, processor or exporter.
        kind: &'static str,
        /// The missing id.
        id: ComponentId,
    },
    /// An exporter could not be created.
    #[error("{0}")]
    Exporter(String),
}

/// Where a receiver sends each signal: the first stage of every pipeline listing it.
#[derive(Default)]
pub struct Routes {
    traces: Vec<Next>,
    metrics: Vec<Next>,
    logs: Vec<Next>,
    /// The receiver's counters on this shard.
    probe: Option<ReceiverProbe>,
}

impl Routes {
    /// The pipelines fed with `signal`; empty when no pipeline takes it from this receiver.
    pub fn for_signal(&self, signal: Signal) -> &[Next] {
        match signal {
            Signal::Traces => &self.traces,
            Signal::Metrics => &self.metrics,
            Signal::Logs => &self.logs,
        }
    }

    /// Where the receiver counts its items and latency on this shard.
    pub fn probe(&self) -> Option<&ReceiverProbe> {
        self.probe.as_ref()
    }

    fn push(&mut self, signal: Signal, stage: Next) {
        match signal {
            Signal::Traces => self.traces.push(stage),
            Signal::Metrics => self.metrics.push(stage),
            Signal::Logs => self.logs.push(stage),
        }
    }
}

/// One shard's pipelines.
pub struct ShardGraph {
    /// Per receiver id, where its data goes.
    pub routes: HashMap<ComponentId, Rc<Routes>>,
    /// Every batch processor, for the timer tasks and the final flush.
    pub batches: Vec<Rc<BatchProcessor>>,
}

/// Builds the pipelines of `config` for one shard, admitting data against `budget`.
pub fn build(
    config: &Config,
    budget: &Budget,
    observer: &Rc<ShardObserver>,
) -> Result<ShardGraph, BuildError> {
    let mut deliveries: HashMap<(ComponentId, Signal), Rc<Delivery>> = HashMap::new();
    let mut routes: HashMap<ComponentId, Routes> = HashMap::new();
    let mut batches = Vec::new();
    let share_bytes = exporter_share_bytes(config, budget);
    budget.publish_to(observer.counters.clone());
    for pipeline in &config.service.pipelines {
        let signal = pipeline.id.signal;
        let name = pipeline.id.to_string();
        let mut fanout = Vec::with_capacity(pipeline.exporters.len());
        for id in &pipeline.exporters {
            let key = (id.clone(), signal);
            if let Some(delivery) = deliveries.get(&key) {
                fanout.push(delivery.clone());
                continue;
            }
            let exporter_config = config
                .exporters
                .get(id)
                .ok_or_else(|| BuildError::Missing {
                    pipeline: name.clone(),
                    kind: "exporter",
                    id: id.clone(),
                })?;
            let queue_capacity = match exporter_config {
                ExporterConfig::Otlp(otlp) => u64::from(otlp.sending_queue.queue_size),
                ExporterConfig::OtlpHttp(http) => u64::from(http.sending_queue.queue_size),
                ExporterConfig::Debug(_) => 0,
            };
            let probe = observer.exporter_probe(id, signal, queue_capacity);
            let delivery = make_delivery(id, exporter_config, signal)?
                .observed(probe)
                .queued(make_queue(exporter_config, share_bytes));
            let delivery = Rc::new(delivery);
            deliveries.insert(key, delivery.clone());
            fanout.push(delivery);
        }
        let mut next: Next = Rc::new(Stage::Export(Rc::new(Fanout::new(fanout))));
        for id in pipeline.processors.iter().rev() {
            let processor = config
                .processors
                .get(id)
                .ok_or_else(|| BuildError::Missing {
                    pipeline: name.clone(),
                    kind: "processor",
                    id: id.clone(),
                })?;
            next = match processor {
                ProcessorConfig::Batch(batch) => {
                    let batch = BatchProcessor::new(signal, batch, budget, next)
                        .observed(observer.batch(id));
                    let batch = Rc::new(batch);
                    batches.push(batch.clone());
                    Rc::new(Stage::Batch(batch))
                }
                ProcessorConfig::Attributes(attrs) => {
                    let rewrite = Rewrite::Attributes(AttributesProcessor::new(attrs));
                    let transform =
                        Transform::new(id.clone(), rewrite).observed(observer.counters.clone());
                    Rc::new(Stage::Transform(Rc::new(transform), next))
                }
                ProcessorConfig::Resource(res) => {
                    let rewrite = Rewrite::Resource(ResourceProcessor::new(res));
                    let transform =
                        Transform::new(id.clone(), rewrite).observed(observer.counters.clone());
                    Rc::new(Stage::Transform(Rc::new(transform), next))
                }
                // Acts at the receivers, before a body is read (see processor::memory_limiter).
                ProcessorConfig::MemoryLimiter(_) => next,
            };
        }
        for id in &pipeline.receivers {
            routes
                .entry(id.clone())
                .or_default()
                .push(signal, next.clone());
        }
    }
    Ok(ShardGraph {
        routes: routes
            .into_iter()
            .map(|(k, mut v)| {
                v.probe = observer.receiver_probe(&k);
                (k, Rc::new(v))
            })
            .collect(),
        batches,
    })
}

/// Each exporter instance's share of the shard budget: what a failing exporter may hold
/// (see `exporter::queue`).
fn exporter_share_bytes(config: &Config, budget: &Budget) -> usize {
    let mut instances = std::collections::HashSet::new();
    for pipeline in &config.service.pipelines {
        for id in &pipeline.exporters {
            instances.insert((id, pipeline.id.signal));
        }
    }
    budget.max_bytes() / instances.len().max(1)
}

fn make_queue(config: &ExporterConfig, share_bytes: usize) -> Rc<Queue> {
    match config {
        ExporterConfig::Otlp(otlp) => queue::from_config(&otlp.sending_queue, share_bytes),
        ExporterConfig::OtlpHttp(http) => queue::from_config(&http.sending_queue, share_bytes),
        ExporterConfig::Debug(_) => Queue::new(QueueSizer::Requests, u64::MAX, true, share_bytes),
    }
}

fn make_delivery(
    id: &ComponentId,
    config: &ExporterConfig,
    signal: Signal,
) -> Result<Delivery, BuildError> {
    match config {
        ExporterConfig::Otlp(otlp) => {
            let exporter = OtlpGrpcExporter::new(id.clone(), otlp).map_err(BuildError::Exporter)?;
            Ok(Delivery::new(
                id.clone(),
                Exporter::OtlpGrpc(exporter),
                queue::consumers(&otlp.sending_queue),
                otlp.retry_on_failure.clone(),
            ))
        }
        ExporterConfig::OtlpHttp(http) => {
            let exporter =
                OtlpHttpExporter::new(id.clone(), http, signal).map_err(BuildError::Exporter)?;
            Ok(Delivery::new(
                id.clone(),
                Exporter::OtlpHttp(exporter),
                queue::consumers(&http.sending_queue),
                http.retry_on_failure.clone(),
            ))
        }
        ExporterConfig::Debug(debug) => {
            let exporter = DebugExporter::new(id.clone(), debug);
            let no_retry = crate::config::RetryConfig {
                enabled: false,
                ..crate::config::RetryConfig::default()
            };
            Ok(Delivery::new(
                id.clone(),
                Exporter::Debug(exporter),
                1,
                no_retry,
            ))
        }
    }
}
