//! What a component type's factory is given to make its part of one shard's pipelines, and
//! why that can fail. The component registry holds one factory per type; the pipeline
//! builder calls them.

use std::rc::Rc;

use crate::config::{
    BatchConfig, ComponentId, ExporterConfig, ProcessorConfig, QueueConfig, ReceiverConfig,
    RetryConfig,
};
use crate::exporter::delivery::Delivery;
use crate::exporter::queue::{self, Queue};
use crate::exporter::Exporter;
use crate::observe::ShardObserver;
use crate::pipeline::budget::Budget;
use crate::pipeline::routes::Routes;
use crate::pipeline::{Next, Stage};
use crate::processor::batch::BatchProcessor;
use crate::processor::tail_sampling::affinity::{AffinityMesh, Link};
use crate::processor::tail_sampling::config::TailSamplingConfig;
use crate::processor::tail_sampling::TailSampler;
use crate::processor::transform::{Rewrite, Transform};
use crate::receiver::ShardIo;
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
    /// The registry has no runtime for this id's type, or its config is of another type; the
    /// config loader makes both impossible, so this is a bug reported, not a panic.
    #[error("{id}: no runtime of this type for its config (a bug in the component registry)")]
    Unbuildable {
        /// The component.
        id: ComponentId,
    },
    /// An exporter could not be created.
    #[error("{0}")]
    Exporter(String),
    /// A receiver could not start (its listeners could not be bound).
    #[error("{0}")]
    Receiver(String),
}

/// Makes a processor's stage in front of `parts.next`.
pub type MakeStage = fn(&ProcessorConfig, StageParts<'_>) -> Result<Next, BuildError>;
/// Makes one exporter instance for one signal, with its queue and retry.
pub type MakeDelivery = fn(&ExporterConfig, DeliveryParts<'_>) -> Result<Delivery, BuildError>;
/// Binds a receiver's listeners on this shard and starts serving into `routes`.
pub type StartReceiver =
    fn(&ComponentId, &ReceiverConfig, Rc<Routes>, &ShardIo) -> Result<(), BuildError>;

/// What a processor's stage is made with.
pub struct StageParts<'a> {
    /// The processor's id.
    pub id: &'a ComponentId,
    /// The signal of the pipeline it sits in.
    pub signal: Signal,
    /// The shard's admission budget.
    pub budget: &'a Budget,
    /// The shard's counters.
    pub observer: &'a Rc<ShardObserver>,
    /// The stage that follows it.
    pub next: Next,
    /// The shards' trace-affinity mailboxes (several shards, a pipeline with
    /// `tail_sampling`), this shard's index, and the index the next tail-sampling stage built
    /// on this shard gets (the same on every shard).
    pub affinity: Option<(&'a AffinityMesh, usize, usize)>,
}

impl StageParts<'_> {
    /// A `batch` stage with `config`.
    pub fn batch(self, config: &BatchConfig) -> Next {
        let batch = BatchProcessor::new(self.signal, config, self.budget, self.next)
            .observed(self.observer.batch(self.id));
        Rc::new(Stage::Batch(Rc::new(batch)))
    }

    /// A synchronous rewrite stage (`attributes`, `resource`).
    pub fn transform(self, rewrite: Rewrite) -> Next {
        let transform =
            Transform::new(self.id.clone(), rewrite).observed(self.observer.counters.clone());
        Rc::new(Stage::Transform(Rc::new(transform), self.next))
    }

    /// A `tail_sampling` stage with `config`.
    pub fn tail_sampling(self, config: &TailSamplingConfig) -> Next {
        let link = self
            .affinity
            .map(|(mesh, shard, stage)| Link::new(mesh, shard, stage));
        let sampler = TailSampler::new(config, self.budget, self.next, link)
            .observed(self.observer.counters.processor(self.id));
        Rc::new(Stage::TailSampling(Rc::new(sampler)))
    }

    /// The error for a config this type's factory cannot run.
    pub fn unbuildable(&self) -> BuildError {
        BuildError::Unbuildable {
            id: self.id.clone(),
        }
    }
}

/// What an exporter instance is made with.
pub struct DeliveryParts<'a> {
    /// The exporter's id.
    pub id: &'a ComponentId,
    /// The signal this instance carries.
    pub signal: Signal,
    /// What this instance may hold of the shard budget while its backend fails.
    pub share_bytes: usize,
    /// The shard's counters.
    pub observer: &'a Rc<ShardObserver>,
    /// Configured extensions, for the exporter's authenticator.
    pub extensions: &'a std::collections::BTreeMap<ComponentId, crate::config::ExtensionConfig>,
}

impl DeliveryParts<'_> {
    /// The error for a config this type's factory cannot run.
    pub fn unbuildable(&self) -> BuildError {
        BuildError::Unbuildable {
            id: self.id.clone(),
        }
    }

    /// `exporter` behind its `sending_queue` and `retry_on_failure`, observed on this shard.
    pub fn queued(self, exporter: Exporter, queue: &QueueConfig, retry: &RetryConfig) -> Delivery {
        let capacity = u64::from(queue.queue_size);
        let probe = self.observer.exporter_probe(self.id, self.signal, capacity);
        Delivery::new(
            self.id.clone(),
            exporter,
            queue::consumers(queue),
            retry.clone(),
        )
        .observed(probe)
        .queued(queue::from_config(queue, self.share_bytes))
    }

    /// `exporter` with no retry and an unbounded queue of its own (it cannot fail slowly),
    /// observed on this shard.
    pub fn unqueued(self, exporter: Exporter) -> Delivery {
        let probe = self.observer.exporter_probe(self.id, self.signal, 0);
        let no_retry = RetryConfig {
            enabled: false,
            ..RetryConfig::default()
        };
        let queue = Queue::new(
            crate::config::QueueSizer::Requests,
            u64::MAX,
            true,
            self.share_bytes,
        );
        Delivery::new(self.id.clone(), exporter, 1, no_retry)
            .observed(probe)
            .queued(queue)
    }
}
