//! The Jaeger agent's UDP ports (`thrift_compact`, `thrift_binary`) on one shard: its own
//! SO_REUSEPORT socket, read one datagram at a time until the shard drains.
//!
//! A datagram is one `emitBatch` call ([`super::agent`]); it is decoded, translated as the
//! Thrift HTTP path translates, and taken in as an OTLP request is. UDP has no answer, so
//! nothing the receiver refuses can be retried by the sender: a datagram that is too long or
//! does not decode counts as one failed span (its spans are unknown) and is dropped; spans
//! refused for load (pending-data limit, memory pressure) count as refused and are dropped.
//! Both are logged at debug level, at most once a second per socket.

use std::cell::Cell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_lite::future;
use prost::Message;
use shardgate_io::UdpSocket;
use shardgate_shards::{task, DrainSignal};

use super::agent::{self, AgentProtocol};
use super::model::DecodeError;
use super::translate;
use crate::config::ComponentId;
use crate::receiver::otlp::ingest::{Ingest, IngestError};
use crate::signal::Signal;

/// How long to pause reading after a socket error so the loop cannot spin.
const READ_ERROR_PAUSE: Duration = Duration::from_millis(50);
/// At most one debug line per this interval per socket.
const LOG_INTERVAL: Duration = Duration::from_secs(1);

/// Why a datagram was dropped.
#[derive(Debug, thiserror::Error)]
pub enum DatagramError {
    /// Longer than `max_packet_size`.
    #[error("datagram longer than max_packet_size ({0} bytes)")]
    TooLarge(usize),
    /// Not an `emitBatch` message.
    #[error("{0}")]
    Decode(#[from] DecodeError),
    /// Refused by ingest (for load, or by the pipeline).
    #[error("{0}")]
    Ingest(#[from] IngestError),
}

/// One agent UDP port of one `jaeger` receiver on one shard.
pub struct UdpIntake {
    /// The receiver and its transport, for logs.
    pub name: String,
    /// The Thrift protocol of the port.
    pub protocol: AgentProtocol,
    /// Where its batches go.
    pub ingest: Rc<Ingest>,
    /// Largest datagram taken.
    pub max_packet_size: usize,
}

impl UdpIntake {
    /// Takes one datagram in.
    pub async fn take(&self, datagram: &[u8]) -> Result<(), DatagramError> {
        let batch = match self.decode(datagram) {
            Ok(batch) => batch,
            Err(error) => {
                self.count(|c| &c.failed, 1);
                return Err(error);
            }
        };
        let spans = u64::try_from(batch.spans.len()).unwrap_or(u64::MAX);
        if let Err(error) = self.ingest.check_pressure(Signal::Traces) {
            self.count(|c| &c.refused, spans);
            return Err(error.into());
        }
        let request = translate::to_request(vec![batch], translate::Source::Thrift);
        let otlp = Bytes::from(request.encode_to_vec());
        Ok(self.ingest.protobuf(Signal::Traces, otlp, None).await?)
    }

    fn decode(&self, datagram: &[u8]) -> Result<super::model::Batch, DatagramError> {
        if datagram.len() > self.max_packet_size {
            return Err(DatagramError::TooLarge(self.max_packet_size));
        }
        Ok(agent::decode(self.protocol, datagram)?)
    }

    fn count(
        &self,
        which: impl FnOnce(&crate::observe::TransportCounters) -> &crate::observe::registry::PerSignal,
        n: u64,
    ) {
        if let Some(counters) = self.ingest.counters() {
            which(counters)[crate::observe::signal_index(Signal::Traces)].add(n);
        }
    }
}

/// Reads datagrams from `socket` into `intake` until `drain` fires.
pub async fn serve(socket: UdpSocket, intake: UdpIntake, drain: DrainSignal) {
    // One byte more than the limit, so a longer datagram is seen (the kernel truncates it).
    let mut buf = vec![0u8; intake.max_packet_size.saturating_add(1)];
    let log = LogLimit::default();
    loop {
        let received = future::or(async { Some(socket.recv_from(&mut buf).await) }, async {
            drain.wait().await;
            None
        })
        .await;
        let len = match received {
            None => break,
            Some(Ok((len, _))) => len,
            Some(Err(error)) => {
                if log.allows() {
                    tracing::warn!(receiver = %intake.name, %error, "reading a datagram failed");
                }
                task::sleep(READ_ERROR_PAUSE).await;
                continue;
            }
        };
        let datagram = buf.get(..len).unwrap_or(&buf);
        if let Err(error) = intake.take(datagram).await {
            if log.allows() {
                tracing::debug!(receiver = %intake.name, %error, "dropped a Jaeger agent datagram");
            }
        }
    }
    tracing::debug!(receiver = %intake.name, "stopped reading");
}

/// Lets one log line through per [`LOG_INTERVAL`].
#[derive(Default)]
struct LogLimit {
    last: Cell<Option<Instant>>,
}

impl LogLimit {
    fn allows(&self) -> bool {
        let now = Instant::now();
        match self.last.get() {
            Some(last) if now.duration_since(last) < LOG_INTERVAL => false,
            _ => {
                self.last.set(Some(now));
                true
            }
        }
    }
}

/// Builds the id of an intake for logs.
pub fn intake_name(id: &ComponentId, transport: &str) -> String {
    format!("{id}/{transport}")
}
