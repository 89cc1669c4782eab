//! The `kafka` receiver: every shard runs one consumer per signal its pipelines take, all in
//! the receiver's `group_id`, so Kafka spreads the partitions over the shards (and over
//! every shardgate process in the group).
//!
//! Per message, on the shard: decode (`otlp_proto` or `otlp_json`), take it in as an OTLP
//! request is taken in, then mark it. A retryable refusal (pending-data limit, memory
//! pressure, a failed export without a batch processor) is retried with a backoff and the
//! message is not marked meanwhile: its partition waits, nothing is skipped. Data that can
//! never be taken (it does not decode, or is not OTLP) is logged, counted as failed and
//! marked, so one bad message cannot block its partition forever.

pub mod config;
pub mod consumer;

use std::rc::Rc;
use std::time::Duration;

use shardgate_shards::{task, DrainSignal};

use crate::config::ComponentId;
use crate::kafka::encoding::Encoding;
use crate::pipeline::routes::Routes;
use crate::receiver::otlp::ingest::{Ingest, IngestError};
use crate::receiver::ShardIo;
use crate::signal::Signal;
use config::KafkaReceiverConfig;
use consumer::{ConsumerLink, Incoming};

/// The `transport` label of this receiver's metrics (as otelcol's kafka receiver).
pub const TRANSPORT: &str = "kafka";
/// First wait before a refused message is offered again.
const RETRY_FIRST: Duration = Duration::from_millis(100);
/// Longest wait between offers of a refused message.
const RETRY_MAX: Duration = Duration::from_secs(5);
/// How long a draining shard waits for its consumers' last commit.
const CLOSE_WAIT: Duration = Duration::from_secs(10);

/// Starts this shard's consumers of receiver `id`, one per signal its pipelines take.
pub fn start(
    id: &ComponentId,
    config: &KafkaReceiverConfig,
    routes: Rc<Routes>,
    io: &ShardIo,
) -> Result<(), String> {
    // Messages arrive whole from Kafka; the broker's and fetch limits bound them.
    let ingest = Rc::new(Ingest::new(
        TRANSPORT,
        routes,
        io.budget.clone(),
        usize::MAX,
    ));
    for signal in Signal::ALL {
        if !ingest.serves(signal) {
            continue;
        }
        let link = consumer::start(&id.to_string(), config, signal, io.shard)
            .map_err(|e| format!("receivers::{id}: {e}"))?;
        let worker = Worker {
            id: id.clone(),
            signal,
            encoding: config.topics(signal).encoding,
            ingest: ingest.clone(),
        };
        task::spawn_local(worker.run(link, io.drain.clone())).detach();
    }
    Ok(())
}

/// One signal's consumer loop on a shard.
struct Worker {
    id: ComponentId,
    signal: Signal,
    encoding: Encoding,
    ingest: Rc<Ingest>,
}

/// What woke the loop.
enum Next {
    Message(Option<Incoming>),
    Drain,
}

impl Worker {
    async fn run(self, link: ConsumerLink, drain: DrainSignal) {
        let ConsumerLink {
            messages,
            marks,
            closed,
        } = link;
        loop {
            let next =
                futures_lite::future::or(async { Next::Message(messages.recv().await) }, async {
                    drain.wait().await;
                    Next::Drain
                })
                .await;
            let message = match next {
                Next::Message(Some(message)) => message,
                Next::Message(None) | Next::Drain => break,
            };
            if self.take(&message, &drain).await {
                let _ = marks.send(message.mark());
            } else {
                // Draining with the message still refused: it stays unmarked, so the
                // group reads it again after the restart.
                break;
            }
        }
        drop(marks);
        let _ = shardgate_io::timer::timeout(CLOSE_WAIT, closed).await;
    }

    /// Takes `message` in; `true` once it is done with (accepted, or refused for good),
    /// `false` if the shard drains while it is still refused.
    async fn take(&self, message: &Incoming, drain: &DrainSignal) -> bool {
        let body = match self.encoding.decode(self.signal, message.payload.clone()) {
            Ok(body) => body,
            Err(error) => {
                self.skip(message, &error.to_string());
                return true;
            }
        };
        let mut wait = RETRY_FIRST;
        loop {
            match self.ingest.take_in(self.signal, body.clone(), None).await {
                Ok(()) => return true,
                Err(error) if retryable(&error) => {
                    if drain.is_draining() {
                        return false;
                    }
                    tracing::debug!(receiver = %self.id, %error, "kafka message refused; offered again");
                    shardgate_io::timer::sleep(wait).await;
                    wait = (wait * 2).min(RETRY_MAX);
                }
                Err(error) => {
                    self.skip(message, &error.to_string());
                    return true;
                }
            }
        }
    }

    fn skip(&self, message: &Incoming, reason: &str) {
        tracing::warn!(
            receiver = %self.id,
            topic = %message.topic,
            partition = message.partition,
            offset = message.offset,
            %reason,
            "kafka message dropped: its data can never be taken in"
        );
    }
}

/// Whether a refusal may pass if offered again later.
fn retryable(error: &IngestError) -> bool {
    match error {
        IngestError::Overloaded | IngestError::MemoryPressure | IngestError::HandoffLost => true,
        IngestError::Export(e) => e.is_retryable(),
        _ => false,
    }
}
