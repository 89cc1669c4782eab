//! Builds one shard's pipelines from the config.
//!
//! Every shard builds its own copy: its own batch buffers, its own exporter instances and
//! connections. As in the official collector, one exporter id used by several pipelines of
//! the same signal is one instance (one queue, one connection) on the shard.

use std::collections::HashMap;
use std::rc::Rc;

use crate::config::{ComponentId, Config};
use crate::exporter::delivery::{Delivery, Fanout};
use crate::observe::ShardObserver;
use crate::pipeline::budget::Budget;
use crate::pipeline::durable::WriteAhead;
use crate::pipeline::parts::{BuildError, DeliveryParts, StageParts};
use crate::pipeline::routes::Routes;
use crate::pipeline::tee::Tee;
use crate::pipeline::{Next, Stage};
use crate::processor::batch::BatchProcessor;
use crate::processor::tail_sampling::affinity::AffinityMesh;
use crate::processor::tail_sampling::TailSampler;
use crate::registry;
use crate::signal::Signal;
use crate::storage::queue::DurableQueue;

/// One shard's pipelines.
pub struct ShardGraph {
    /// Per receiver id, where its data goes.
    pub routes: HashMap<ComponentId, Rc<Routes>>,
    /// Every batch processor, for the timer tasks and the final flush.
    pub batches: Vec<Rc<BatchProcessor>>,
    /// Every tail-sampling stage, in the order every shard builds them (a parcel from a peer
    /// names its stage by position).
    pub tails: Vec<Rc<TailSampler>>,
    /// Every exporter instance, per id and signal (replay sends to them directly).
    pub deliveries: HashMap<(ComponentId, Signal), Rc<Delivery>>,
}

/// Builds the pipelines of `config` for one shard, admitting data against `budget`;
/// `durable` holds this shard's durable queue of every exporter that keeps one; `affinity`
/// is the trace-affinity mesh and this shard's index when traces are sampled whole.
pub fn build(
    config: &Config,
    budget: &Budget,
    observer: &Rc<ShardObserver>,
    durable: &HashMap<ComponentId, Rc<DurableQueue>>,
    affinity: Option<(&AffinityMesh, usize)>,
) -> Result<ShardGraph, BuildError> {
    let mut deliveries: HashMap<(ComponentId, Signal), Rc<Delivery>> = HashMap::new();
    let mut routes: HashMap<ComponentId, Routes> = HashMap::new();
    let mut batches = Vec::new();
    let mut tails: Vec<Rc<TailSampler>> = Vec::new();
    // Per exporter instance with `sending_queue.batch`: its batch stage (shared, as the
    // instance is, by every pipeline of the signal that lists it).
    let mut exporter_batches: HashMap<(ComponentId, Signal), Next> = HashMap::new();
    let share_bytes = exporter_share_bytes(config, budget);
    budget.publish_to(observer.counters.clone());
    let end = Ends {
        config,
        budget,
        observer,
        durable,
        share_bytes,
    };
    for pipeline in &config.service.pipelines {
        let signal = pipeline.id.signal;
        let name = pipeline.id.to_string();
        let exporters = end.build(pipeline, &mut deliveries, &mut exporter_batches)?;
        let queues: Vec<Rc<DurableQueue>> = pipeline
            .exporters
            .iter()
            .filter_map(|id| durable.get(id).cloned())
            .collect();
        let covers_all = queues.len() == pipeline.exporters.len();
        let write_ahead =
            (!queues.is_empty()).then(|| Rc::new(WriteAhead::new(queues, covers_all)));
        // Data is made durable where it is acknowledged: entering the first batch, or the
        // exporters when there is none (validate refuses processors after that batch).
        let first_batch = pipeline.processors.iter().position(|id| {
            matches!(
                config.processors.get(id),
                Some(crate::config::ProcessorConfig::Batch(_))
            )
        });
        let mut next: Next = exporters;
        if let (Some(w), None) = (&write_ahead, first_batch) {
            next = Rc::new(Stage::Durable(w.clone(), next));
        }
        for (index, id) in pipeline.processors.iter().enumerate().rev() {
            let processor = config
                .processors
                .get(id)
                .ok_or_else(|| BuildError::Missing {
                    pipeline: name.clone(),
                    kind: "processor",
                    id: id.clone(),
                })?;
            let parts = StageParts {
                id,
                signal,
                budget,
                observer,
                next,
                affinity: affinity.map(|(mesh, shard)| (mesh, shard, tails.len())),
            };
            next = registry::processor_stage(id)?(processor, parts)?;
            match &*next {
                Stage::Batch(batch) => batches.push(batch.clone()),
                Stage::TailSampling(tail) => tails.push(tail.clone()),
                _ => {}
            }
            if let (Some(w), Some(first)) = (&write_ahead, first_batch) {
                if index == first {
                    next = Rc::new(Stage::Durable(w.clone(), next));
                }
            }
        }
        for id in &pipeline.receivers {
            routes
                .entry(id.clone())
                .or_default()
                .push(signal, next.clone());
        }
    }
    for stage in exporter_batches.values() {
        if let Stage::Batch(batch) = &**stage {
            batches.push(batch.clone());
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
        tails,
        deliveries,
    })
}

/// What the ends of a shard's pipelines (their exporters) are made with.
struct Ends<'a> {
    config: &'a Config,
    budget: &'a Budget,
    observer: &'a Rc<ShardObserver>,
    durable: &'a HashMap<ComponentId, Rc<DurableQueue>>,
    share_bytes: usize,
}

impl Ends<'_> {
    /// The end of `pipeline`: one fan-out over its exporters without `sending_queue.batch`,
    /// and each exporter with it behind its batch stage; a tee when there are several.
    /// Exporter instances (and their batch stages) are made once per id and signal.
    fn build(
        &self,
        pipeline: &crate::config::PipelineConfig,
        deliveries: &mut HashMap<(ComponentId, Signal), Rc<Delivery>>,
        exporter_batches: &mut HashMap<(ComponentId, Signal), Next>,
    ) -> Result<Next, BuildError> {
        let signal = pipeline.id.signal;
        let mut fanout = Vec::with_capacity(pipeline.exporters.len());
        let mut ends: Vec<Next> = Vec::new();
        for id in &pipeline.exporters {
            let exporter_config =
                self.config
                    .exporters
                    .get(id)
                    .ok_or_else(|| BuildError::Missing {
                        pipeline: pipeline.id.to_string(),
                        kind: "exporter",
                        id: id.clone(),
                    })?;
            let key = (id.clone(), signal);
            let delivery = match deliveries.get(&key) {
                Some(delivery) => delivery.clone(),
                None => {
                    let delivery = Rc::new(self.delivery(id, signal, exporter_config)?);
                    deliveries.insert(key.clone(), delivery.clone());
                    delivery
                }
            };
            let Some(batch) = exporter_config.batch() else {
                fanout.push(delivery);
                continue;
            };
            let stage = exporter_batches.entry(key).or_insert_with(|| {
                let end: Next = Rc::new(Stage::Export(Rc::new(Fanout::new(vec![delivery]))));
                let batch = BatchProcessor::new(signal, batch, self.budget, end);
                Rc::new(Stage::Batch(Rc::new(batch)))
            });
            ends.push(stage.clone());
        }
        // The unbatched fan-out goes first: the durable write in front of a tee finds the
        // data of the exporters that keep a durable queue there (`Prepared::payload_mut`).
        if !fanout.is_empty() || ends.is_empty() {
            ends.insert(0, Rc::new(Stage::Export(Rc::new(Fanout::new(fanout)))));
        }
        Ok(match ends.pop() {
            Some(only) if ends.is_empty() => only,
            Some(last) => {
                ends.push(last);
                Rc::new(Stage::Tee(Rc::new(Tee::new(self.budget, ends))))
            }
            None => Rc::new(Stage::Export(Rc::new(Fanout::new(Vec::new())))),
        })
    }

    /// Exporter `id`'s instance for `signal` on this shard.
    fn delivery(
        &self,
        id: &ComponentId,
        signal: Signal,
        exporter_config: &crate::config::ExporterConfig,
    ) -> Result<Delivery, BuildError> {
        let parts = DeliveryParts {
            id,
            signal,
            share_bytes: self.share_bytes,
            observer: self.observer,
            extensions: &self.config.extensions,
        };
        let delivery = registry::exporter_delivery(id)?(exporter_config, parts)?;
        Ok(match self.durable.contains_key(id) {
            true => delivery.durable(),
            false => delivery,
        })
    }
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
