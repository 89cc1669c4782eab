//! The `kafka` exporter: each request becomes one Kafka message (or one per trace id or
//! resource, when partitioning asks for keys), produced through librdkafka.
//!
//! An export attempt succeeds once Kafka acknowledged every message of the request (per
//! `producer.required_acks`); any failure fails the attempt, which `retry_on_failure` retries
//! whole (so a retry may write a message twice: Kafka delivery here is at least once, as in
//! otelcol). With the sending queue on (the default) the client is answered when the request
//! is queued; with it off, only after Kafka's acknowledgement.
//!
//! Splitting by trace id or resource works on the encoded bytes, as the loadbalancing
//! exporter's routing does: each part keeps its resource and scope.

pub mod config;
pub mod producer;

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::{Rc, Weak};
use std::sync::Arc;
use std::time::Instant;

use bytes::Bytes;
use sha2::{Digest, Sha256};

use self::config::{KafkaExporterConfig, MessageKey};
use self::producer::{KafkaProducer, ProduceError};
use super::delivery::Delivery;
use super::loadbalancing::route::{self, RoutingKey};
use super::ExportError;
use crate::config::ComponentId;
use crate::kafka::encoding::Encoding;
use crate::otlp::ResourceChunk;
// Keys are lower-case hex, as otelcol writes trace ids in them.
use crate::ottl::value::hex;
use crate::pipeline::parts::{BuildError, DeliveryParts};
use crate::pipeline::payload::Payload;
use crate::signal::Signal;

thread_local! {
    /// This shard's producers by exporter id: the three signals of one exporter share one
    /// librdkafka client (and its connections) on a shard.
    static PRODUCERS: RefCell<HashMap<String, Weak<KafkaProducer>>> = RefCell::new(HashMap::new());
}

/// One shard's kafka exporter for one signal.
pub struct KafkaExporter {
    signal: Signal,
    topic: Arc<str>,
    encoding: Encoding,
    key: MessageKey,
    max_message_bytes: usize,
    timeout: std::time::Duration,
    producer: Rc<KafkaProducer>,
}

/// One `kafka` exporter instance behind its queue (registered in `crate::registry`).
pub(crate) fn delivery(
    config: &KafkaExporterConfig,
    parts: DeliveryParts<'_>,
) -> Result<Delivery, BuildError> {
    let exporter = KafkaExporter::new(parts.id, config, parts.signal)
        .map_err(|e| BuildError::Exporter(format!("exporters::{}: {e}", parts.id)))?;
    let exporter = super::Exporter::Kafka(exporter);
    Ok(parts.queued(exporter, &config.sending_queue, &config.retry_on_failure))
}

impl KafkaExporter {
    /// Builds the exporter of `signal`, sharing this shard's producer of exporter `id`.
    pub fn new(
        id: &ComponentId,
        config: &KafkaExporterConfig,
        signal: Signal,
    ) -> Result<KafkaExporter, String> {
        let name = id.to_string();
        let shared = PRODUCERS.with(|p| p.borrow().get(&name).and_then(Weak::upgrade));
        let producer = match shared {
            Some(producer) => producer,
            None => {
                let producer = Rc::new(KafkaProducer::start(&name, config)?);
                PRODUCERS.with(|p| p.borrow_mut().insert(name, Rc::downgrade(&producer)));
                producer
            }
        };
        let topic = config.topic(signal);
        Ok(KafkaExporter {
            signal,
            topic: Arc::from(topic.topic.as_str()),
            encoding: topic.encoding,
            key: config.key(signal),
            max_message_bytes: config.producer.max_message_bytes,
            timeout: config.timeout,
            producer,
        })
    }

    /// Produces `payload` once: every message acknowledged, or the first failure.
    pub async fn export(&self, payload: &Payload) -> Result<(), ExportError> {
        let messages = self.messages(payload)?;
        let mut answers = Vec::with_capacity(messages.len());
        for (key, body) in messages {
            if body.len() > self.max_message_bytes {
                return Err(ExportError::permanent(format!(
                    "a message of {} bytes is larger than producer::max_message_bytes ({})",
                    body.len(),
                    self.max_message_bytes
                )));
            }
            answers.push(
                self.producer
                    .send(&self.topic, key, body)
                    .map_err(export_error)?,
            );
        }
        // librdkafka gives up on a message after message.timeout.ms (= timeout); the slack
        // lets its own answer arrive first.
        let deadline = Instant::now() + self.timeout + std::time::Duration::from_secs(1);
        for answer in answers {
            let left = deadline.saturating_duration_since(Instant::now());
            match shardgate_io::timer::timeout(left, answer).await {
                Some(Ok(Ok(()))) => {}
                Some(Ok(Err(error))) => return Err(export_error(error)),
                Some(Err(_)) => return Err(export_error(ProduceError::Stopped)),
                None => {
                    return Err(ExportError::retryable(format!(
                        "kafka did not acknowledge within {:?}",
                        self.timeout
                    )))
                }
            }
        }
        Ok(())
    }

    /// The messages of `payload`: (key, payload) pairs.
    fn messages(&self, payload: &Payload) -> Result<Vec<(Option<Bytes>, Bytes)>, ExportError> {
        let encode = |chunks: &[ResourceChunk]| {
            self.encoding.encode(self.signal, chunks).map_err(|e| {
                ExportError::permanent(format!("encoding {}: {e}", self.encoding.name()))
            })
        };
        match self.key {
            MessageKey::None => Ok(vec![(None, encode(&payload.chunks)?)]),
            MessageKey::TraceId => self.by_trace_id(payload, encode),
            MessageKey::Resource => payload
                .chunks
                .iter()
                .map(|chunk| {
                    let identity = route::resource_key(chunk)
                        .map_err(|e| ExportError::permanent(e.to_string()))?;
                    let digest = Sha256::digest(&identity);
                    let key = Bytes::from(hex(digest.get(..16).unwrap_or_default()));
                    Ok((Some(key), encode(std::slice::from_ref(chunk))?))
                })
                .collect(),
        }
    }

    /// One message per trace id, keyed by its hex (items without one share an unkeyed message).
    fn by_trace_id(
        &self,
        payload: &Payload,
        encode: impl Fn(&[ResourceChunk]) -> Result<Bytes, ExportError>,
    ) -> Result<Vec<(Option<Bytes>, Bytes)>, ExportError> {
        // A batch may hold thousands of traces: a map keeps finding a trace's index O(1).
        let mut ids: Vec<Vec<u8>> = Vec::new();
        let mut index: HashMap<Vec<u8>, usize> = HashMap::new();
        let mut parts = Vec::new();
        for chunk in &payload.chunks {
            let mut owner = |id: &[u8]| match index.get(id) {
                Some(at) => *at,
                None => {
                    ids.push(id.to_vec());
                    index.insert(id.to_vec(), ids.len() - 1);
                    ids.len() - 1
                }
            };
            route::route_chunk(
                self.signal,
                RoutingKey::TraceId,
                chunk,
                &mut owner,
                &mut parts,
            )
            .map_err(|e| ExportError::permanent(e.to_string()))?;
        }
        let mut grouped: Vec<Vec<ResourceChunk>> = vec![Vec::new(); ids.len()];
        for (owner, chunk) in parts {
            if let Some(group) = grouped.get_mut(owner) {
                group.push(chunk);
            }
        }
        ids.iter()
            .zip(grouped)
            .filter(|(_, chunks)| !chunks.is_empty())
            .map(|(id, chunks)| {
                // An empty or all-zero trace id is "none": the record is left without a key.
                let key = (!id.iter().all(|b| *b == 0)).then(|| Bytes::from(hex(id)));
                Ok((key, encode(&chunks)?))
            })
            .collect()
    }
}

fn export_error(error: ProduceError) -> ExportError {
    if error.is_retryable() {
        ExportError::retryable(error.to_string())
    } else {
        ExportError::permanent(error.to_string())
    }
}
