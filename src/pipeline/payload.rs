//! The unit of data inside a shard: encoded resource messages of one signal.

use crate::otlp::ResourceChunk;
use crate::pipeline::budget::Reservation;
use crate::pipeline::metadata::Metadata;
use crate::signal::Signal;

/// Encoded `ResourceSpans`/`ResourceMetrics`/`ResourceLogs` of one signal, with their counts
/// and the budget they hold. An export request is their concatenation.
#[derive(Debug)]
pub struct Payload {
    /// The signal of every chunk.
    pub signal: Signal,
    /// The resource messages, as received (zero-copy slices of request bodies).
    pub chunks: Vec<ResourceChunk>,
    /// Items (spans, data points, log records) in all chunks.
    pub items: u64,
    /// Encoded bytes in all chunks.
    pub bytes: usize,
    /// Budget held until every exporter is done with this data.
    pub reservation: Reservation,
    /// The client metadata it came with (empty unless a receiver keeps it).
    pub metadata: Metadata,
}

impl Payload {
    /// Builds a payload from chunks, computing its counts.
    pub fn new(signal: Signal, chunks: Vec<ResourceChunk>, reservation: Reservation) -> Payload {
        let items = chunks.iter().map(|c| u64::from(c.items)).sum();
        let bytes = chunks.iter().map(|c| c.bytes.len()).sum();
        Payload {
            signal,
            chunks,
            items,
            bytes,
            reservation,
            metadata: Metadata::default(),
        }
    }

    /// This payload, carrying `metadata`.
    pub fn with_metadata(mut self, metadata: Metadata) -> Payload {
        self.metadata = metadata;
        self
    }
}
