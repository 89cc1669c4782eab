//! Where a pipeline makes data durable: at the stage that acknowledges it (its first batch
//! processor, or its exporters when it has none), before the client is answered.
//!
//! A record is `[signal][Export*ServiceRequest body]`: readable OTLP behind one tag byte.
//! It is handed to the log as pieces (the framing bytes, the chunks' own bytes), which the
//! log copies once, into its direct-I/O buffer. Once appended, each chunk of the payload is
//! owned by a wrapper holding the record's [`Hold`](crate::storage::queue::Hold)s (shared by
//! all its chunks): the record is released when the last piece of the data is dropped,
//! however the batch split or merged it.

use std::rc::Rc;

use std::sync::Arc;

use bytes::Bytes;

use crate::exporter::ExportError;
use crate::otlp::{self, ResourceChunk};
use crate::pipeline::budget::Reservation;
use crate::pipeline::payload::Payload;
use crate::signal::Signal;
use crate::storage::queue::{DurableQueue, Held, Hold};

/// Why a record read back from disk cannot be delivered.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// The record does not start with a known signal tag.
    #[error("record has no signal tag")]
    NoSignal,
    /// Its body does not scan as an export request of its signal.
    #[error("record is not an export request: {0}")]
    Scan(#[from] otlp::ScanError),
}

/// The durable queues of one pipeline's exporters, on one shard.
pub struct WriteAhead {
    queues: Vec<Rc<DurableQueue>>,
    covers_all: bool,
}

impl WriteAhead {
    /// Writes through `queues` (one per exporter of the pipeline that keeps its queue on
    /// disk); `covers_all` when every exporter of the pipeline does.
    pub fn new(queues: Vec<Rc<DurableQueue>>, covers_all: bool) -> WriteAhead {
        WriteAhead { queues, covers_all }
    }

    /// Whether data may be taken on disk alone when memory is full: only when every
    /// exporter of the pipeline would read it back from its own queue.
    pub fn can_spill(&self) -> bool {
        self.covers_all
    }

    /// Whether some queue has records on disk only: new data then spills behind them.
    pub fn has_backlog(&self) -> bool {
        self.queues.iter().any(|q| q.has_backlog())
    }

    /// Writes `payload` to every queue's backlog, on disk only, and drops it from memory.
    pub async fn spill(&self, payload: Payload) -> Result<(), ExportError> {
        let record = encode(&payload);
        drop(payload);
        for queue in &self.queues {
            queue
                .spill(record.clone())
                .await
                .map_err(|e| ExportError::retryable(e.to_string()))?;
        }
        Ok(())
    }

    /// Appends `payload` to every queue, waiting for each fsync policy's promise, and makes
    /// its chunks hold the records. A refusal is retryable: the client keeps its data.
    pub async fn write(&self, payload: &mut Payload) -> Result<(), ExportError> {
        let record = encode(payload);
        let mut holds = Vec::with_capacity(self.queues.len());
        for queue in &self.queues {
            // A refusal drops the holds taken so far, which releases those records.
            let hold = queue
                .append(record.clone())
                .await
                .map_err(|e| ExportError::retryable(e.to_string()))?;
            holds.push(hold);
        }
        drop(record);
        hold(&mut payload.chunks, holds);
        Ok(())
    }
}

/// A record's first byte: the signal's place in [`Signal::ALL`].
fn signal_tag(signal: Signal) -> u8 {
    crate::observe::signal_index(signal) as u8
}

/// The record of `payload`, as pieces written back to back (the chunks are not copied).
fn encode(payload: &Payload) -> Vec<Bytes> {
    otlp::encode_request_pieces(&payload.chunks, &[signal_tag(payload.signal)])
        .pieces()
        .cloned()
        .collect()
}

/// Makes every chunk own `holds` (one per queue the record went to), shared among them.
fn hold(chunks: &mut [ResourceChunk], holds: Vec<Hold>) {
    let holds: Arc<[Hold]> = Arc::from(holds);
    for chunk in chunks {
        let bytes = std::mem::take(&mut chunk.bytes);
        chunk.bytes = Bytes::from_owner(Held {
            bytes,
            _holds: holds.clone(),
        });
    }
}

/// The signal of a record read back.
pub fn record_signal(record: &[u8]) -> Result<Signal, ReplayError> {
    record
        .first()
        .and_then(|tag| Signal::ALL.get(usize::from(*tag)))
        .copied()
        .ok_or(ReplayError::NoSignal)
}

/// Budget bytes a record read back holds as a payload.
pub fn payload_bytes(record: &[u8]) -> usize {
    record.len().saturating_sub(1)
}

/// A record read back, as a payload of `signal` holding `reservation`.
pub fn replayed(
    record: &Bytes,
    signal: Signal,
    reservation: Reservation,
) -> Result<Payload, ReplayError> {
    let scanned = otlp::scan_request(signal, &record.slice(1..))?;
    Ok(Payload::new(signal, scanned.chunks, reservation))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_record_reads_back_as_the_same_chunks() {
        use crate::pipeline::budget::Budget;
        let budget = Budget::new(1 << 20);
        use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
        use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
        use prost::Message;
        let resource = |n: u8| ResourceSpans {
            scope_spans: vec![ScopeSpans {
                spans: vec![
                    Span {
                        trace_id: vec![n; 16],
                        span_id: vec![n; 8],
                        ..Default::default()
                    };
                    usize::from(n)
                ],
                ..Default::default()
            }],
            ..Default::default()
        };
        let request = ExportTraceServiceRequest {
            resource_spans: vec![resource(1), resource(3)],
        };
        let body = Bytes::from(request.encode_to_vec());
        let scanned = otlp::scan_request(Signal::Traces, &body).unwrap();
        let payload = Payload::new(
            Signal::Traces,
            scanned.chunks.clone(),
            budget.try_reserve(body.len()).unwrap(),
        );
        // What the log writes: the pieces back to back.
        let record = Bytes::from(encode(&payload).concat());
        let signal = record_signal(&record).unwrap();
        assert_eq!(signal, Signal::Traces);
        let reservation = budget.try_reserve(payload_bytes(&record)).unwrap();
        let back = replayed(&record, signal, reservation).unwrap();
        assert_eq!(back.items, payload.items);
        assert_eq!(back.chunks.len(), payload.chunks.len());
        for (a, b) in back.chunks.iter().zip(&scanned.chunks) {
            assert_eq!(a.bytes, b.bytes);
            assert_eq!(a.items, b.items);
        }
        assert!(record_signal(b"\x07").is_err());
    }
}
