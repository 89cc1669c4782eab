//! Pipelines inside one shard: receivers → processors → exporters, all shard-local.
//!
//! A pipeline is a chain of stages built from its end: the exporters' fan-out last, each
//! processor in front of what follows it. Receivers hold, per signal, the first stage of every
//! pipeline that lists them.

pub mod budget;
pub mod build;
pub mod payload;

use std::rc::Rc;

use crate::exporter::delivery::Fanout;
use crate::exporter::ExportError;
use crate::processor::batch::BatchProcessor;
use payload::Payload;

/// A stage data can be handed to.
pub enum Stage {
    /// A batch processor, which acknowledges at once and sends on later.
    Batch(Rc<BatchProcessor>),
    /// The exporters of the pipeline.
    Export(Rc<Fanout>),
    /// A synchronous field rewrite (attributes, resource), then what follows it.
    Transform(Rc<crate::processor::transform::Transform>, Next),
}

/// What follows a stage.
pub type Next = Rc<Stage>;

impl Stage {
    /// Takes data from a receiver; `Ok` means the data is safe to acknowledge.
    pub async fn consume(&self, payload: Payload) -> Result<(), ExportError> {
        match self {
            Stage::Batch(batch) => {
                batch.consume(payload);
                Ok(())
            }
            Stage::Export(fanout) => fanout.deliver(payload).await,
            Stage::Transform(transform, next) => {
                let mut payload = payload;
                transform.apply(&mut payload);
                Box::pin(next.consume(payload)).await
            }
        }
    }

    /// Whether the exporters at the end of this stage's chain let new data be acknowledged
    /// (their sending queues have room; the rule is in `exporter::queue`).
    pub fn has_room(&self) -> bool {
        match self {
            Stage::Batch(batch) => batch.next().has_room(),
            Stage::Export(fanout) => fanout.has_room(),
            Stage::Transform(_, next) => next.has_room(),
        }
    }

    /// Takes data from an earlier stage that has already acknowledged it.
    pub fn dispatch(&self, payload: Payload) {
        match self {
            Stage::Batch(batch) => batch.consume(payload),
            Stage::Export(fanout) => fanout.dispatch(payload),
            Stage::Transform(transform, next) => {
                let mut payload = payload;
                transform.apply(&mut payload);
                next.dispatch(payload);
            }
        }
    }
}
