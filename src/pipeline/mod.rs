//! Pipelines inside one shard: receivers → processors → exporters, all shard-local.
//!
//! A pipeline is a chain of stages built from its end: the exporters' fan-out last, each
//! processor in front of what follows it. Receivers hold, per signal, the first stage of every
//! pipeline that lists them.

pub mod budget;
pub mod build;
pub mod downstream;
pub mod durable;
pub mod metadata;
pub mod parts;
pub mod payload;
pub mod routes;
pub mod tee;

use std::rc::Rc;

use crate::exporter::delivery::{Enqueued, Fanout};
use crate::exporter::ExportError;
use crate::processor::batch::BatchProcessor;
use crate::processor::chunk::TransformError;
use crate::processor::tail_sampling::{SortError, Sorted, TailSampler};
use crate::processor::transform::Transform;
use downstream::Downstream;
use durable::WriteAhead;
use payload::Payload;
use tee::Tee;

/// Why a pipeline did not take data from a receiver.
#[derive(Debug, thiserror::Error)]
pub enum PipelineError {
    /// The exporters refused or failed it.
    #[error("{0}")]
    Export(#[from] ExportError),
    /// A processor could not apply itself to it: the data is refused, never passed on as it
    /// came (it may hold what the processor was told to delete or hash).
    #[error("processor failed, data refused: {0}")]
    Processor(#[from] TransformError),
}

/// A stage data can be handed to.
pub enum Stage {
    /// A batch processor, which acknowledges at once and sends on later.
    Batch(Rc<BatchProcessor>),
    /// The exporters of the pipeline.
    Export(Rc<Fanout>),
    /// A synchronous field rewrite (attributes, resource), then what follows it.
    Transform(Rc<Transform>, Next),
    /// The write to exporters' durable queues, in front of the stage that acknowledges.
    Durable(Rc<WriteAhead>, Next),
    /// A tail sampler, which acknowledges at once and sends kept traces on when decided.
    TailSampling(Rc<TailSampler>),
    /// Several ends of one pipeline: its exporters with and without `sending_queue.batch`.
    Tee(Rc<Tee>),
}

/// What follows a stage.
pub type Next = Rc<Stage>;

/// Data a pipeline has checked it can take, not yet visible to anything downstream: a
/// receiver prepares every pipeline first and commits only when all could take the data, so a
/// refusal by one never follows a hand-off to another (the client's retry would duplicate it).
pub enum Prepared {
    /// Rewritten data for a batch buffer.
    Batch(Rc<BatchProcessor>, Payload),
    /// Data with a place in every exporter's queue that must take it.
    Export(Rc<Fanout>, Enqueued),
    /// Data to make durable before it is handed on.
    Durable(Rc<WriteAhead>, Box<Prepared>),
    /// Nothing left to hand on: a processor removed every item (sampled or filtered out).
    Nothing,
    /// Spans sorted by the shard owning their trace, for a tail sampler.
    TailSampling(Rc<TailSampler>, Sorted),
    /// Every branch's part, for a tee.
    Tee(Vec<Prepared>),
}

impl Prepared {
    /// Hands the data on; `Ok` means it is safe to acknowledge.
    pub async fn commit(self) -> Result<(), ExportError> {
        match self {
            Prepared::Batch(batch, payload) => {
                batch.consume_admitted(payload);
                Ok(())
            }
            Prepared::Export(fanout, enqueued) => fanout.run(enqueued).await,
            Prepared::Durable(write_ahead, mut inner) => {
                if let Some(payload) = inner.payload_mut() {
                    write_ahead.write(payload).await?;
                }
                Box::pin(inner.commit()).await
            }
            Prepared::Nothing => Ok(()),
            Prepared::TailSampling(sampler, sorted) => {
                sampler.commit(sorted).await;
                Ok(())
            }
            Prepared::Tee(parts) => tee::commit_all(parts).await,
        }
    }

    /// The data, while nothing downstream has seen it.
    fn payload_mut(&mut self) -> Option<&mut Payload> {
        match self {
            Prepared::Batch(_, payload) => Some(payload),
            Prepared::Export(_, enqueued) => enqueued.payload_mut(),
            Prepared::Durable(_, inner) => inner.payload_mut(),
            // Only exporters without `sending_queue.batch` keep a durable queue, and their
            // fan-out is a tee's first branch (see `pipeline::build`).
            Prepared::Tee(parts) => parts.first_mut().and_then(Prepared::payload_mut),
            Prepared::Nothing | Prepared::TailSampling(..) => None,
        }
    }
}

impl Stage {
    /// The write-ahead that can take data on disk alone when memory is full: the pipeline's
    /// every exporter keeps its queue on disk, and only processors that rewrite in place
    /// come before it.
    pub fn spill_point(&self) -> Option<&Rc<WriteAhead>> {
        match self {
            Stage::Transform(_, next) => next.spill_point(),
            Stage::Durable(write_ahead, _) if write_ahead.can_spill() => Some(write_ahead),
            _ => None,
        }
    }

    /// Runs the processors in front of the write point, then writes the data to disk only
    /// (see [`Stage::spill_point`]); `Ok` means it is safe to acknowledge.
    pub async fn spill(&self, payload: Payload) -> Result<(), PipelineError> {
        let mut payload = payload;
        let mut stage = self;
        loop {
            match stage {
                Stage::Transform(transform, next) => {
                    if let Some(failure) = transform.apply(&mut payload) {
                        return Err(failure.error.into());
                    }
                    if payload.chunks.is_empty() {
                        return Ok(());
                    }
                    stage = next;
                }
                Stage::Durable(write_ahead, _) => return Ok(write_ahead.spill(payload).await?),
                Stage::Batch(_) | Stage::Export(_) | Stage::TailSampling(_) | Stage::Tee(_) => {
                    return Err(ExportError::retryable("no durable queue to take the data").into())
                }
            }
        }
    }

    /// Everything that can refuse data from a receiver, done without waiting: processors
    /// rewrite it, exporters' queues take their places. Dropping the result undoes it.
    pub fn prepare(&self, payload: Payload) -> Result<Prepared, PipelineError> {
        match self {
            Stage::Batch(batch) => {
                batch.admit(&payload)?;
                Ok(Prepared::Batch(batch.clone(), payload))
            }
            Stage::Export(fanout) => Ok(Prepared::Export(fanout.clone(), fanout.enqueue(payload)?)),
            Stage::Transform(transform, next) => {
                let mut payload = payload;
                if let Some(failure) = transform.apply(&mut payload) {
                    return Err(failure.error.into());
                }
                if payload.chunks.is_empty() {
                    return Ok(Prepared::Nothing);
                }
                next.prepare(payload)
            }
            Stage::Durable(write_ahead, next) => Ok(Prepared::Durable(
                write_ahead.clone(),
                Box::new(next.prepare(payload)?),
            )),
            Stage::TailSampling(sampler) => match sampler.sort(payload) {
                Ok(sorted) => Ok(Prepared::TailSampling(sampler.clone(), sorted)),
                Err(SortError::Decode(error)) => Err(error.into()),
                Err(full @ SortError::PeerFull(_)) => {
                    Err(ExportError::retryable(full.to_string()).into())
                }
            },
            Stage::Tee(tee) => tee.prepare(payload),
        }
    }
}

impl Downstream for Stage {
    /// Takes data from an earlier stage that has already acknowledged it. A chunk a processor
    /// fails on is left out (logged and counted), never sent on unchanged.
    fn dispatch(&self, payload: Payload) {
        match self {
            Stage::Batch(batch) => batch.consume(payload),
            Stage::Export(fanout) => fanout.dispatch(payload),
            Stage::Transform(transform, next) => {
                let mut payload = payload;
                transform.apply_acknowledged(&mut payload);
                if !payload.chunks.is_empty() {
                    next.dispatch(payload);
                }
            }
            // Nothing acknowledges in front of the write point, so data never arrives here
            // already acknowledged; if it did, it is handed on as it is.
            Stage::Durable(_, next) => next.dispatch(payload),
            Stage::TailSampling(sampler) => sampler.consume(payload),
            Stage::Tee(tee) => tee.dispatch(payload),
        }
    }

    /// Whether the exporters at the end of this stage's chain let new data be acknowledged
    /// (their sending queues have room; the rule is in `exporter::queue`).
    fn has_room(&self) -> bool {
        match self {
            Stage::Batch(batch) => batch.next().has_room(),
            Stage::TailSampling(sampler) => sampler.next().has_room(),
            Stage::Export(fanout) => fanout.has_room(),
            Stage::Tee(tee) => tee.has_room(),
            Stage::Transform(_, next) | Stage::Durable(_, next) => next.has_room(),
        }
    }
}
