//! One shard's Kafka producer: librdkafka on a thread of its own, off the shard cores.
//!
//! The shard hands each message to the thread through a bounded channel and awaits a oneshot
//! answer, which librdkafka's delivery callback completes once the broker acknowledged the
//! message (per `required_acks`) or librdkafka gave up on it. The thread only moves messages
//! into librdkafka's queue; librdkafka's own threads batch, compress, send and retry within
//! `message.timeout.ms`. When the shard drops its handle, the thread flushes what librdkafka
//! still holds (bounded by the timeout) and ends.

use std::time::Duration;

use bytes::Bytes;
use crossbeam_channel::{Receiver, Sender, TrySendError};
use futures_channel::oneshot;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{BaseRecord, DeliveryResult, Producer, ProducerContext, ThreadedProducer};
use rdkafka::util::Timeout;
use rdkafka::{ClientConfig, ClientContext};

use super::config::KafkaExporterConfig;
use crate::kafka::client::millis;

/// Messages that may wait for the producer thread per shard; beyond, exports are refused
/// retryably (librdkafka's own queue holds far more behind it).
const OUTBOX_LEN: usize = 4096;
/// How long the thread retries a message while librdkafka's queue is full.
const QUEUE_FULL_WAIT: Duration = Duration::from_millis(500);

/// Why a message was not acknowledged by Kafka.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ProduceError {
    /// The producer thread has more messages waiting than it may hold.
    #[error("the kafka producer of this shard has {0} messages waiting; retry later")]
    Backlog(usize),
    /// The producer thread stopped (its client could not be created, or it is shutting down).
    #[error("the kafka producer stopped")]
    Stopped,
    /// Kafka or librdkafka refused or lost the message.
    #[error("kafka: {reason}")]
    Kafka {
        /// What librdkafka said.
        reason: String,
        /// Whether sending it again may succeed.
        retryable: bool,
    },
}

impl ProduceError {
    /// Whether the OTLP spec's retry applies.
    pub fn is_retryable(&self) -> bool {
        match self {
            ProduceError::Backlog(_) | ProduceError::Stopped => true,
            ProduceError::Kafka { retryable, .. } => *retryable,
        }
    }

    fn from_kafka(error: &KafkaError) -> ProduceError {
        let code = error.rdkafka_error_code();
        // The broker will refuse these again: the message is too large, the topic name is
        // invalid, or the client may not write there.
        let permanent = matches!(
            code,
            Some(
                RDKafkaErrorCode::MessageSizeTooLarge
                    | RDKafkaErrorCode::InvalidMessageSize
                    | RDKafkaErrorCode::MessageBatchTooLarge
                    | RDKafkaErrorCode::InvalidTopic
                    | RDKafkaErrorCode::TopicAuthorizationFailed
                    | RDKafkaErrorCode::ClusterAuthorizationFailed
                    | RDKafkaErrorCode::InvalidRecord
            )
        );
        ProduceError::Kafka {
            reason: error.to_string(),
            retryable: !permanent,
        }
    }
}

/// The answer to one message.
type Answer = oneshot::Sender<Result<(), ProduceError>>;

/// One message for the thread.
struct Outgoing {
    topic: std::sync::Arc<str>,
    key: Option<Bytes>,
    payload: Bytes,
    answer: Answer,
}

/// The shard's handle on its producer thread.
pub struct KafkaProducer {
    outbox: Sender<Outgoing>,
}

impl KafkaProducer {
    /// Starts the producer thread of exporter `name` on this shard, and waits until its
    /// librdkafka client exists (a bad setting fails here, at start).
    pub fn start(name: &str, config: &KafkaExporterConfig) -> Result<KafkaProducer, String> {
        let settings = settings(config);
        let headers = config.record_headers.clone();
        let (outbox, inbox) = crossbeam_channel::bounded::<Outgoing>(OUTBOX_LEN);
        let (ready_tx, ready_rx) = crossbeam_channel::bounded(1);
        let thread_name = format!("kafka-{name}");
        let flush_within = config.timeout;
        crate::kafka::threads::spawn_off_shard(&thread_name, move || {
            let producer: ThreadedProducer<Delivery> = match settings.create_with_context(Delivery)
            {
                Ok(p) => p,
                Err(e) => {
                    let _ = ready_tx.send(Err(e.to_string()));
                    return;
                }
            };
            let _ = ready_tx.send(Ok(()));
            run(&producer, &inbox, &headers);
            let _ = producer.flush(Timeout::After(flush_within));
        })
        .map_err(|e| format!("cannot start the kafka producer thread: {e}"))?;
        match ready_rx.recv() {
            Ok(Ok(())) => Ok(KafkaProducer { outbox }),
            Ok(Err(reason)) => Err(format!("kafka producer: {reason}")),
            Err(_) => Err("the kafka producer thread ended before it started".into()),
        }
    }

    /// Hands one message to the thread; the receiver answers once Kafka acknowledged it.
    pub fn send(
        &self,
        topic: &std::sync::Arc<str>,
        key: Option<Bytes>,
        payload: Bytes,
    ) -> Result<oneshot::Receiver<Result<(), ProduceError>>, ProduceError> {
        let (answer, receiver) = oneshot::channel();
        let message = Outgoing {
            topic: topic.clone(),
            key,
            payload,
            answer,
        };
        match self.outbox.try_send(message) {
            Ok(()) => Ok(receiver),
            Err(TrySendError::Full(_)) => Err(ProduceError::Backlog(OUTBOX_LEN)),
            Err(TrySendError::Disconnected(_)) => Err(ProduceError::Stopped),
        }
    }
}

/// The librdkafka settings of a producer for `config`.
fn settings(config: &KafkaExporterConfig) -> ClientConfig {
    let p = &config.producer;
    let mut c = config.client.rdkafka();
    let acks = match p.required_acks {
        -1 => "all".to_owned(),
        n => n.to_string(),
    };
    // librdkafka counts the protocol overhead in message.max.bytes; the payload limit itself
    // is checked by the exporter before a message is handed over.
    let request_max = p
        .max_message_bytes
        .saturating_add(64 * 1024)
        .min(1_000_000_000);
    c.set("acks", acks)
        .set("compression.type", &p.compression)
        .set("compression.level", p.compression_level.to_string())
        .set("batch.num.messages", p.flush_max_messages.to_string())
        .set("linger.ms", millis(p.linger))
        .set("message.max.bytes", request_max.to_string())
        .set("message.timeout.ms", millis(config.timeout));
    c
}

/// The thread's loop: move each message into librdkafka until the shard's handle is gone.
fn run(
    producer: &ThreadedProducer<Delivery>,
    inbox: &Receiver<Outgoing>,
    headers: &[(String, String)],
) {
    while let Ok(message) = inbox.recv() {
        let Outgoing {
            topic,
            key,
            payload,
            answer,
        } = message;
        let mut record = BaseRecord::with_opaque_to(&topic, Box::new(answer)).payload(&payload[..]);
        if let Some(key) = &key {
            record = record.key(&key[..]);
        }
        if !headers.is_empty() {
            let mut owned = OwnedHeaders::new_with_capacity(headers.len());
            for (name, value) in headers {
                owned = owned.insert(Header {
                    key: name,
                    value: Some(value.as_bytes()),
                });
            }
            record = record.headers(owned);
        }
        let waited_since = std::time::Instant::now();
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back))
                    if waited_since.elapsed() < QUEUE_FULL_WAIT =>
                {
                    record = back;
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err((error, back)) => {
                    let _ = back
                        .delivery_opaque
                        .send(Err(ProduceError::from_kafka(&error)));
                    break;
                }
            }
        }
    }
}

/// librdkafka's callbacks: logs through `tracing`, answers deliveries.
struct Delivery;

impl ClientContext for Delivery {
    fn log(&self, level: rdkafka::config::RDKafkaLogLevel, fac: &str, log_message: &str) {
        crate::kafka::client::forward_log(level, fac, log_message);
    }
}

impl ProducerContext for Delivery {
    type DeliveryOpaque = Box<Answer>;

    fn delivery(&self, result: &DeliveryResult<'_>, answer: Self::DeliveryOpaque) {
        let outcome = match result {
            Ok(_) => Ok(()),
            Err((error, _)) => Err(ProduceError::from_kafka(error)),
        };
        // The shard may have stopped waiting (timeout): nobody to tell then.
        let _ = answer.send(outcome);
    }
}
