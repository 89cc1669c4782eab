//! What a stage that acknowledges data itself (the batch processor) hands it on to.
//!
//! A trait rather than the pipeline's `Stage` type, so that processors depend on the pipeline's
//! leaf modules (payload, budget, this) and the pipeline on them, never both ways.

use super::payload::Payload;

/// The rest of a pipeline, as seen from a stage that has already acknowledged its data.
pub trait Downstream {
    /// Takes acknowledged data; never refuses it (refusing is admission's job).
    fn dispatch(&self, payload: Payload);

    /// Whether the exporters at the end let new data be acknowledged (see `exporter::queue`).
    fn has_room(&self) -> bool;
}
