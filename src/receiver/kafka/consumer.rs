//! One shard's Kafka consumer for one signal: librdkafka on a thread of its own, off the
//! shard cores.
//!
//! The thread polls librdkafka and hands each message to the shard through a
//! `shardgate_shards::bridge` (lock-free while there is room; the shard sleeps until woken).
//! The shard answers with a mark once the pipeline accepted the message's data (or refused it
//! for good); only marked offsets are stored, and librdkafka commits stored offsets every
//! `autocommit.interval`. So a restart re-reads at most what was accepted since the last
//! commit (duplicates, never loss); a message is never committed before it was accepted.
//!
//! While the shard has not taken the last message, the thread stops polling (it waits for
//! marks instead), which holds the partition back: librdkafka's prefetch is bounded too.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use crossbeam_channel::{Receiver, RecvTimeoutError, Sender};
use futures_channel::oneshot;
use rdkafka::consumer::{BaseConsumer, CommitMode, Consumer, ConsumerContext};
use rdkafka::message::Message as _;
use rdkafka::{ClientConfig, ClientContext};
use shardgate_shards::bridge::{bridge, BridgeReceiver, BridgeSendError, BridgeSender};

use super::config::{InitialOffset, KafkaReceiverConfig};
use crate::kafka::client::millis;
use crate::signal::Signal;

/// Messages handed to the shard and not yet taken.
const BRIDGE_LEN: usize = 64;
/// How long one poll of librdkafka waits for a message.
const POLL_WAIT: Duration = Duration::from_millis(100);
/// How long the thread waits for a mark while the shard is busy.
const MARK_WAIT: Duration = Duration::from_millis(20);

/// One Kafka message for the shard.
pub struct Incoming {
    /// Its topic.
    pub topic: Arc<str>,
    /// Its partition.
    pub partition: i32,
    /// Its offset.
    pub offset: i64,
    /// Its payload (empty for a null payload).
    pub payload: Bytes,
}

/// A message the shard is done with: its offset may be committed.
pub struct Mark {
    topic: Arc<str>,
    partition: i32,
    offset: i64,
}

impl Incoming {
    /// The mark of this message.
    pub fn mark(&self) -> Mark {
        Mark {
            topic: self.topic.clone(),
            partition: self.partition,
            offset: self.offset,
        }
    }
}

/// The shard's end of its consumer thread.
pub struct ConsumerLink {
    /// Messages, in partition order.
    pub messages: BridgeReceiver<Incoming>,
    /// Marks back to the thread; dropping it stops the thread (after a last commit).
    pub marks: Sender<Mark>,
    /// Completes when the thread made its last commit and closed its consumer.
    pub closed: oneshot::Receiver<()>,
}

/// Starts the consumer thread of receiver `name` for `signal` on shard `shard`, and waits
/// until its librdkafka client exists and is subscribed.
pub fn start(
    name: &str,
    config: &KafkaReceiverConfig,
    signal: Signal,
    shard: usize,
) -> Result<ConsumerLink, String> {
    let settings = settings(name, config, signal, shard);
    let topics = config.topics(signal).topics.clone();
    let (to_shard, messages) = bridge(BRIDGE_LEN);
    let (marks, marked) = crossbeam_channel::unbounded();
    let (ready_tx, ready_rx) = crossbeam_channel::bounded(1);
    let (closed_tx, closed) = oneshot::channel();
    let thread_name = format!("kafka-{name}-{}-{shard}", signal.as_str());
    crate::kafka::threads::spawn_off_shard(&thread_name, move || {
        let consumer: BaseConsumer<Logged> = match settings.create_with_context(Logged) {
            Ok(c) => c,
            Err(e) => {
                let _ = ready_tx.send(Err(e.to_string()));
                return;
            }
        };
        let names: Vec<&str> = topics.iter().map(String::as_str).collect();
        if let Err(e) = consumer.subscribe(&names) {
            let _ = ready_tx.send(Err(format!("subscribing to {topics:?}: {e}")));
            return;
        }
        let _ = ready_tx.send(Ok(()));
        run(&consumer, &to_shard, &marked);
        // The last marks are committed now rather than at the next interval.
        let _ = consumer.commit_consumer_state(CommitMode::Sync);
        drop(consumer);
        let _ = closed_tx.send(());
    })
    .map_err(|e| format!("cannot start the kafka consumer thread: {e}"))?;
    match ready_rx.recv() {
        Ok(Ok(())) => Ok(ConsumerLink {
            messages,
            marks,
            closed,
        }),
        Ok(Err(reason)) => Err(format!("kafka consumer: {reason}")),
        Err(_) => Err("the kafka consumer thread ended before it started".into()),
    }
}

/// The librdkafka settings of one shard's consumer.
fn settings(
    name: &str,
    config: &KafkaReceiverConfig,
    signal: Signal,
    shard: usize,
) -> ClientConfig {
    let mut c = config.client.rdkafka();
    let reset = match config.initial_offset {
        InitialOffset::Latest => "latest",
        InitialOffset::Earliest => "earliest",
    };
    c.set("group.id", &config.group_id)
        // Offsets are stored by hand, only for accepted messages; librdkafka commits the
        // stored ones on its timer.
        .set("enable.auto.commit", "true")
        .set("enable.auto.offset.store", "false")
        .set("auto.commit.interval.ms", millis(config.commit_interval))
        .set("auto.offset.reset", reset)
        .set("session.timeout.ms", millis(config.session_timeout))
        .set("heartbeat.interval.ms", millis(config.heartbeat_interval))
        .set(
            "fetch.max.bytes",
            config.max_fetch_size.max(1024).to_string(),
        )
        .set(
            "max.partition.fetch.bytes",
            config.max_partition_fetch_size.max(1).to_string(),
        )
        .set("fetch.wait.max.ms", millis(config.max_fetch_wait))
        .set("fetch.min.bytes", config.min_fetch_size.max(1).to_string())
        .set("partition.assignment.strategy", &config.assignment_strategy)
        .set("allow.auto.create.topics", "true");
    if let Some(instance) = &config.group_instance_id {
        c.set(
            "group.instance.id",
            format!("{instance}-{name}-{}-{shard}", signal.as_str()),
        );
    }
    c
}

/// The thread's loop, until the shard drops its marks sender.
fn run(
    consumer: &BaseConsumer<Logged>,
    to_shard: &BridgeSender<Incoming>,
    marked: &Receiver<Mark>,
) {
    let mut waiting: Option<Incoming> = None;
    loop {
        loop {
            match marked.try_recv() {
                Ok(mark) => store(consumer, &mark),
                Err(crossbeam_channel::TryRecvError::Empty) => break,
                Err(crossbeam_channel::TryRecvError::Disconnected) => return,
            }
        }
        if let Some(message) = waiting.take() {
            match to_shard.try_send(message) {
                Ok(()) => {}
                Err(BridgeSendError::Full(message)) => {
                    waiting = Some(message);
                    match marked.recv_timeout(MARK_WAIT) {
                        Ok(mark) => store(consumer, &mark),
                        Err(RecvTimeoutError::Timeout) => {}
                        Err(RecvTimeoutError::Disconnected) => return,
                    }
                    continue;
                }
                Err(BridgeSendError::Closed(_)) => return,
            }
        }
        match consumer.poll(POLL_WAIT) {
            None => {}
            Some(Ok(message)) => {
                waiting = Some(Incoming {
                    topic: Arc::from(message.topic()),
                    partition: message.partition(),
                    offset: message.offset(),
                    payload: message
                        .payload()
                        .map(Bytes::copy_from_slice)
                        .unwrap_or_default(),
                });
            }
            Some(Err(error)) => {
                tracing::warn!(%error, "kafka consumer");
            }
        }
    }
}

fn store(consumer: &BaseConsumer<Logged>, mark: &Mark) {
    // A partition revoked meanwhile refuses the store: its new owner re-reads from the last
    // commit, which is at-least-once, as documented.
    if let Err(error) = consumer.store_offset(&mark.topic, mark.partition, mark.offset) {
        tracing::debug!(%error, topic = %mark.topic, partition = mark.partition, "kafka: offset not stored");
    }
}

/// librdkafka's callbacks: logs through `tracing`.
struct Logged;

impl ClientContext for Logged {
    fn log(&self, level: rdkafka::config::RDKafkaLogLevel, fac: &str, log_message: &str) {
        crate::kafka::client::forward_log(level, fac, log_message);
    }
}

impl ConsumerContext for Logged {}
