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
            let parts = DeliveryParts {
                id,
                signal,
                share_bytes,
                observer,
                extensions: &config.extensions,
            };
            let mut delivery = registry::exporter_delivery(id)?(exporter_config, parts)?;
            if durable.contains_key(id) {
                delivery = delivery.durable();
            }
            let delivery = Rc::new(delivery);
            deliveries.insert(key, delivery.clone());
            fanout.push(delivery);
        }
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
        let mut next: Next = Rc::new(Stage::Export(Rc::new(Fanout::new(fanout))));
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
