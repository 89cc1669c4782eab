//! Every shard's counters, created on the main thread before the shards start.
//!
//! The main thread builds one [`ShardCounters`] per shard from the config (one entry per
//! receiver × transport, exporter × signal, batch processor × pipeline) and keeps them in the
//! [`Registry`] the admin thread reads. Shard `i` gets `shards[i]` and is its only writer.

use std::cell::Cell;
use std::rc::Rc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use shardgate_shards::task;

use super::counters::{Buckets, Counter, Gauge};
use super::latency::{LatencyRecorder, LatencySlot};
use crate::config::{ComponentId, Config};
use crate::signal::Signal;

/// otelcol's bucket bounds for `otelcol_processor_batch_batch_send_size`.
pub static BATCH_SEND_SIZE_BOUNDS: [f64; 22] = [
    10.0, 25.0, 50.0, 75.0, 100.0, 250.0, 500.0, 750.0, 1000.0, 2000.0, 3000.0, 4000.0, 5000.0,
    6000.0, 7000.0, 8000.0, 9000.0, 10000.0, 20000.0, 30000.0, 50000.0, 100000.0,
];

/// Index of `signal` in per-signal arrays.
pub fn signal_index(signal: Signal) -> usize {
    match signal {
        Signal::Traces => 0,
        Signal::Metrics => 1,
        Signal::Logs => 2,
    }
}

/// One counter per signal.
pub type PerSignal = [Counter; 3];

/// A receiver's counters over one transport.
#[derive(Debug)]
pub struct TransportCounters {
    /// `grpc` or `http`.
    pub transport: &'static str,
    /// Items taken into the pipelines.
    pub accepted: PerSignal,
    /// Items refused because the shard was at its pending-data limit (the client may retry).
    pub refused: PerSignal,
    /// Items not taken for any other reason (bad payload, export failure without batch).
    pub failed: PerSignal,
    /// Requests refused unread because a `memory_limiter` reported memory pressure.
    pub memory_refused_requests: PerSignal,
    /// Requests refused because they did not pass the receiver's authenticator.
    pub unauthenticated_requests: Counter,
    /// TLS handshakes that failed (no or an untrusted client certificate, not TLS, timeout).
    pub tls_handshake_failures: Counter,
    /// HTTP/2 connections closed for abuse, per `Abuse::ALL` reason.
    pub abusive_connections: [Counter; shardgate_io::h2_server::Abuse::ALL.len()],
}

/// One receiver's counters on one shard.
#[derive(Debug)]
pub struct ReceiverCounters {
    /// The receiver id, the `receiver` label.
    pub id: String,
    /// One entry per configured transport.
    pub transports: Vec<TransportCounters>,
}

impl ReceiverCounters {
    /// The counters of `transport`, if that transport is configured.
    pub fn transport(&self, transport: &str) -> Option<&TransportCounters> {
        self.transports.iter().find(|t| t.transport == transport)
    }
}

/// One exporter instance's counters (one per exporter id and signal) on one shard.
#[derive(Debug)]
pub struct ExporterCounters {
    /// The exporter id, the `exporter` label.
    pub id: String,
    /// The signal this instance carries.
    pub signal: Signal,
    /// Items delivered.
    pub sent: Counter,
    /// Items given up on (permanent error or retries exhausted).
    pub send_failed: Counter,
    /// Items that could not be queued (no bounded queue yet: stays 0).
    pub enqueue_failed: Counter,
    /// Requests waiting for an in-flight slot.
    pub queue_size: Gauge,
    /// Most requests that may wait (`sending_queue.queue_size`).
    pub queue_capacity: Gauge,
    /// Requests being sent (including retry waits).
    pub in_flight: Gauge,
}

/// One exporter's durable queue (`sending_queue.storage`) on one shard.
#[derive(Debug, Default)]
pub struct StorageCounters {
    /// The exporter id, the `exporter` label.
    pub id: String,
    /// Bytes its segment files hold now.
    pub bytes: Gauge,
    /// Segment files on disk now.
    pub segments: Gauge,
    /// Requests refused because the queue could not take them (max_size, disk full, I/O).
    pub refused_requests: Counter,
    /// Records read back at start to deliver again.
    pub replayed_records: Counter,
    /// Segment tails cut at start (torn or corrupt), and the bytes cut.
    pub cut_tails: Counter,
    /// Bytes after a valid prefix that replay dropped.
    pub cut_bytes: Counter,
}

/// One batch processor's counters (per pipeline) on one shard.
#[derive(Debug)]
pub struct BatchCounters {
    /// The processor id, the `processor` label.
    pub id: String,
    /// Items per batch sent.
    pub send_size: Buckets,
    /// Batches sent because `send_batch_size` was reached.
    pub size_trigger: Counter,
    /// Batches sent because `timeout` passed.
    pub timeout_trigger: Counter,
    /// Distinct `metadata_keys` value combinations holding data.
    pub metadata_cardinality: Gauge,
}

/// Items into and out of one rewriting processor (`attributes`, samplers, filters) on one
/// shard, per signal: what it removed is the difference, as otelcol's
/// `otelcol_processor_incoming_items` / `outgoing_items` report it.
#[derive(Debug)]
pub struct ProcessorCounters {
    /// The processor id, the `processor` label.
    pub id: String,
    /// Its type (`probabilistic_sampler`, `filter`, ...), for the type's own metric names.
    pub kind: String,
    /// Items handed to it.
    pub incoming: PerSignal,
    /// Items it passed on.
    pub outgoing: PerSignal,
    /// A sampler's decisions by policy (`probabilistic_sampler`), in
    /// `probabilistic_sampler::Policy::ALL` order; empty for other types.
    pub policies: Vec<PolicyCounters>,
    /// A `tail_sampling` processor's own counters.
    pub tail: Option<Arc<TailCounters>>,
}

/// Decisions of one kind, as otelcol's `decision` label names them.
#[derive(Debug, Default)]
pub struct DecisionCounters {
    /// `sampled` (and inverted sampled).
    pub sampled: Counter,
    /// `not_sampled` (and inverted not sampled).
    pub not_sampled: Counter,
    /// `dropped` (a drop policy).
    pub dropped: Counter,
}

impl DecisionCounters {
    /// Counts one decision under otelcol's label.
    pub fn count(&self, decision: crate::processor::tail_sampling::policy::Decision) {
        use crate::processor::tail_sampling::policy::Decision;
        match decision {
            Decision::Sampled | Decision::InvertSampled => self.sampled.add(1),
            Decision::NotSampled | Decision::InvertNotSampled => self.not_sampled.add(1),
            Decision::Dropped => self.dropped.add(1),
        }
    }
}

/// One policy's trace decisions.
#[derive(Debug, Default)]
pub struct TailPolicyCounters {
    /// The `policy` label (`name`, or `processor-name.name` for a named processor id).
    pub policy: String,
    /// Its decisions.
    pub decisions: DecisionCounters,
}

impl TailPolicyCounters {
    /// Counts one decision.
    pub fn count(&self, decision: crate::processor::tail_sampling::policy::Decision) {
        self.decisions.count(decision);
    }
}

/// One `tail_sampling` processor's counters on one shard (otelcol's metric names).
#[derive(Debug, Default)]
pub struct TailCounters {
    /// Per policy, in evaluation order (drop policies first).
    pub policies: Vec<TailPolicyCounters>,
    /// Final decisions.
    pub global: DecisionCounters,
    /// Traces seen for the first time.
    pub new_traces: Counter,
    /// Traces decided before their wait ended to make room (`num_traces` reached).
    pub dropped_too_early: Counter,
    /// Spans of decided traces passed on at once (sampled decision remembered).
    pub released_sampled: Counter,
    /// Spans of decided traces released at once (not-sampled decision remembered).
    pub released_not_sampled: Counter,
    /// Traces held now.
    pub traces_on_memory: Gauge,
    /// Spans handed to the shard owning their trace.
    pub handed_spans: Counter,
    /// Spans taken from peers for traces this shard owns.
    pub taken_spans: Counter,
}

/// The counters of processor `id` when it is a `tail_sampling`.
fn tail_counters(config: &Config, id: &ComponentId) -> Option<Arc<TailCounters>> {
    let Some(crate::config::ProcessorConfig::TailSampling(tail)) = config.processors.get(id) else {
        return None;
    };
    let policies = crate::processor::tail_sampling::policy_names(tail)
        .into_iter()
        .map(|name| TailPolicyCounters {
            policy: match &id.name {
                Some(processor) if !processor.is_empty() => format!("{processor}.{name}"),
                _ => name,
            },
            ..TailPolicyCounters::default()
        })
        .collect();
    Some(Arc::new(TailCounters {
        policies,
        ..TailCounters::default()
    }))
}

/// One sampling policy's decisions, per signal.
#[derive(Debug, Default)]
pub struct PolicyCounters {
    /// The `policy` label.
    pub policy: String,
    /// Items kept.
    pub sampled: PerSignal,
    /// Items dropped.
    pub dropped: PerSignal,
}

/// The policy counters of processor `id`: one per policy for a `probabilistic_sampler`.
fn policy_counters(config: &Config, id: &ComponentId) -> Vec<PolicyCounters> {
    use crate::processor::probabilistic_sampler::Policy;
    let Some(crate::config::ProcessorConfig::ProbabilisticSampler(sampler)) =
        config.processors.get(id)
    else {
        return Vec::new();
    };
    Policy::ALL
        .iter()
        .map(|p| PolicyCounters {
            policy: p.label(&sampler.from_attribute).to_owned(),
            ..PolicyCounters::default()
        })
        .collect()
}

/// What one shard handed to its peers and took over from them (rebalancing).
#[derive(Debug, Default)]
pub struct RebalanceCounters {
    /// Requests this shard's receivers handed to a peer.
    pub handed_off_requests: Counter,
    /// Their body bytes.
    pub handed_off_bytes: Counter,
    /// Requests this shard took over from peers.
    pub taken_over_requests: Counter,
    /// Their body bytes.
    pub taken_over_bytes: Counter,
    /// Requests kept because the chosen peer's mailbox was full.
    pub kept_full: Counter,
    /// Requests kept because the chosen peer was draining.
    pub kept_closed: Counter,
    /// Requests taken out of this shard's mailbox and sent back: its budget had no room.
    pub bounced: Counter,
    /// Share of its requests the shard hands off now, in thousandths.
    pub share_permille: Gauge,
    /// Bytes waiting in this shard's mailbox, as of its last load measurement.
    pub queue_bytes: Gauge,
}

/// Everything one shard counts; written only by that shard.
#[derive(Debug)]
pub struct ShardCounters {
    /// The shard index, the `shard` label.
    pub shard: usize,
    /// Per receiver.
    pub receivers: Vec<Arc<ReceiverCounters>>,
    /// Per exporter and signal.
    pub exporters: Vec<Arc<ExporterCounters>>,
    /// Per batch processor and pipeline, in pipeline order.
    pub batches: Vec<Arc<BatchCounters>>,
    /// Per processor that runs as a rewrite stage (not batch, not memory_limiter).
    pub processors: Vec<Arc<ProcessorCounters>>,
    /// Receive → acknowledge latency snapshot.
    pub receive_latency: LatencySlot,
    /// Export round-trip latency snapshot.
    pub export_latency: LatencySlot,
    /// Share of wall time the executor ran tasks over the last second (f64).
    pub busy_ratio: Gauge,
    /// Bytes the shard holds acknowledged but undelivered (its budget's use), for the main
    /// thread's memory monitor and /metrics.
    pub pending_bytes: Gauge,
    /// Items of acknowledged data left out because a processor failed on them (never sent
    /// on unprocessed), per signal.
    pub processor_failed_items: PerSignal,
    /// Hand-offs to and from peers.
    pub rebalance: RebalanceCounters,
    /// Per exporter with a durable queue.
    pub storage: Vec<Arc<StorageCounters>>,
    /// Per loadbalancing exporter and signal.
    pub loadbalancers: Vec<Arc<super::loadbalancer::LoadBalancerCounters>>,
}

impl ShardCounters {
    /// Counters for every component `config` runs, for shard `shard`.
    pub fn new(shard: usize, config: &Config) -> ShardCounters {
        let receivers = config
            .used_receivers()
            .map(|(id, r)| {
                let transports = r
                    .transports()
                    .into_iter()
                    .map(TransportCounters::new)
                    .collect();
                Arc::new(ReceiverCounters {
                    id: id.to_string(),
                    transports,
                })
            })
            .collect();
        let mut exporters: Vec<Arc<ExporterCounters>> = Vec::new();
        let mut batches = Vec::new();
        let mut processors: Vec<Arc<ProcessorCounters>> = Vec::new();
        for pipeline in &config.service.pipelines {
            let signal = pipeline.id.signal;
            for id in &pipeline.exporters {
                let id = id.to_string();
                if !exporters.iter().any(|e| e.id == id && e.signal == signal) {
                    exporters.push(Arc::new(ExporterCounters::new(id, signal)));
                }
            }
            for id in &pipeline.processors {
                let rewrites = !matches!(id.kind.as_str(), "batch" | "memory_limiter");
                if rewrites && !processors.iter().any(|p| p.id == id.to_string()) {
                    processors.push(Arc::new(ProcessorCounters {
                        id: id.to_string(),
                        kind: id.kind.clone(),
                        incoming: Default::default(),
                        outgoing: Default::default(),
                        policies: policy_counters(config, id),
                        tail: tail_counters(config, id),
                    }));
                }
                // One id in several pipelines shares its counters: the same shard writes them.
                if id.kind == "batch"
                    && !batches
                        .iter()
                        .any(|b: &Arc<BatchCounters>| b.id == id.to_string())
                {
                    batches.push(Arc::new(BatchCounters {
                        id: id.to_string(),
                        send_size: Buckets::new(&BATCH_SEND_SIZE_BOUNDS),
                        size_trigger: Counter::default(),
                        timeout_trigger: Counter::default(),
                        metadata_cardinality: Gauge::default(),
                    }));
                }
            }
        }
        ShardCounters {
            shard,
            receivers,
            exporters,
            batches,
            processors,
            receive_latency: LatencySlot::default(),
            export_latency: LatencySlot::default(),
            busy_ratio: Gauge::default(),
            pending_bytes: Gauge::default(),
            processor_failed_items: Default::default(),
            rebalance: RebalanceCounters::default(),
            storage: config
                .used_exporters()
                .filter(|(_, e)| e.storage().is_some())
                .map(|(id, _)| {
                    Arc::new(StorageCounters {
                        id: id.to_string(),
                        ..StorageCounters::default()
                    })
                })
                .collect(),
            loadbalancers: super::loadbalancer::for_config(config),
        }
    }

    /// The durable-queue counters of exporter `id`.
    pub fn storage(&self, id: &ComponentId) -> Option<Arc<StorageCounters>> {
        let id = id.to_string();
        self.storage.iter().find(|s| s.id == id).cloned()
    }

    /// The item counters of rewriting processor `id`.
    pub fn processor(&self, id: &ComponentId) -> Option<Arc<ProcessorCounters>> {
        let id = id.to_string();
        self.processors.iter().find(|p| p.id == id).cloned()
    }

    /// The counters of receiver `id`.
    pub fn receiver(&self, id: &ComponentId) -> Option<Arc<ReceiverCounters>> {
        let id = id.to_string();
        self.receivers.iter().find(|r| r.id == id).cloned()
    }

    /// The counters of exporter `id` for `signal`.
    pub fn exporter(&self, id: &ComponentId, signal: Signal) -> Option<Arc<ExporterCounters>> {
        let id = id.to_string();
        self.exporters
            .iter()
            .find(|e| e.id == id && e.signal == signal)
            .cloned()
    }
}

impl TransportCounters {
    fn new(transport: &'static str) -> Self {
        TransportCounters {
            transport,
            accepted: Default::default(),
            refused: Default::default(),
            failed: Default::default(),
            memory_refused_requests: Default::default(),
            unauthenticated_requests: Counter::default(),
            tls_handshake_failures: Counter::default(),
            abusive_connections: Default::default(),
        }
    }
}

impl ExporterCounters {
    /// Counters for exporter `id` carrying `signal`.
    pub fn new(id: String, signal: Signal) -> Self {
        ExporterCounters {
            id,
            signal,
            sent: Counter::default(),
            send_failed: Counter::default(),
            enqueue_failed: Counter::default(),
            queue_size: Gauge::default(),
            queue_capacity: Gauge::default(),
            in_flight: Gauge::default(),
        }
    }
}

/// Where the collector is in its life, for `health_check` and the status page.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Shards are starting.
    Starting,
    /// Every shard serves.
    Ready,
    /// Draining after a signal or a failure.
    Draining,
}

/// The shared view the admin thread reads: every shard's counters and the lifecycle phase.
#[derive(Debug)]
pub struct Registry {
    /// One per shard, index = shard.
    pub shards: Vec<Arc<ShardCounters>>,
    /// When the process started.
    pub started: Instant,
    /// Wall-clock start, for `upSince`.
    pub started_wall: SystemTime,
    /// When the collector became ready, as seconds since the Unix epoch (0 = not yet).
    ready_since: super::counters::Gauge,
    phase: AtomicU8,
    /// Per shard, how often it died while running (written by the main thread only).
    shard_failures: Vec<super::counters::Counter>,
}

impl Registry {
    /// Counters for `shards` shards running `config`.
    pub fn new(shards: usize, config: &Config) -> Registry {
        Registry {
            shards: (0..shards)
                .map(|i| Arc::new(ShardCounters::new(i, config)))
                .collect(),
            started: Instant::now(),
            started_wall: SystemTime::now(),
            ready_since: Gauge::default(),
            phase: AtomicU8::new(0),
            shard_failures: (0..shards).map(|_| Default::default()).collect(),
        }
    }

    /// Counts a failure of `shard` (main thread only: the shard is gone).
    pub fn record_shard_failure(&self, shard: usize) {
        if let Some(counter) = self.shard_failures.get(shard) {
            counter.add(1);
        }
    }

    /// How often `shard` has failed.
    pub fn shard_failures(&self, shard: usize) -> u64 {
        self.shard_failures.get(shard).map_or(0, |c| c.get())
    }

    /// Moves to `phase` (main thread only).
    pub fn set_phase(&self, phase: Phase) {
        if phase == Phase::Ready {
            let now = SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .map_or(0.0, |d| d.as_secs_f64());
            self.ready_since.set_f64(now);
        }
        let v = match phase {
            Phase::Starting => 0,
            Phase::Ready => 1,
            Phase::Draining => 2,
        };
        self.phase.store(v, Ordering::Release);
    }

    /// The current phase.
    pub fn phase(&self) -> Phase {
        match self.phase.load(Ordering::Acquire) {
            1 => Phase::Ready,
            2 => Phase::Draining,
            _ => Phase::Starting,
        }
    }

    /// Seconds since the Unix epoch when the collector became ready (0 if never).
    pub fn ready_since_unix_seconds(&self) -> f64 {
        self.ready_since.get_f64()
    }
}

/// How often a shard publishes its latency snapshots and busy ratio.
pub const PUBLISH_INTERVAL: Duration = Duration::from_secs(1);

/// A shard's own side of its observability: its counters plus the shard-local recorders.
#[derive(Debug)]
pub struct ShardObserver {
    /// The counters this shard writes.
    pub counters: Arc<ShardCounters>,
    /// Receive → acknowledge times.
    pub receive: LatencyRecorder,
    /// Export round-trip times.
    pub export: LatencyRecorder,
    busy_before: Cell<Duration>,
    at_before: Cell<Instant>,
}

impl ShardObserver {
    /// The shard-local side for `counters`.
    pub fn new(counters: Arc<ShardCounters>) -> Rc<ShardObserver> {
        Rc::new(ShardObserver {
            counters,
            receive: LatencyRecorder::default(),
            export: LatencyRecorder::default(),
            busy_before: Cell::new(Duration::ZERO),
            at_before: Cell::new(Instant::now()),
        })
    }

    /// Counters not read by anyone, for a shard built without a registry (unit tests).
    pub fn detached(shard: usize, config: &Config) -> Rc<ShardObserver> {
        ShardObserver::new(Arc::new(ShardCounters::new(shard, config)))
    }

    /// Publishes snapshots every [`PUBLISH_INTERVAL`], forever (the task ends with the
    /// executor).
    pub async fn publish_forever(self: Rc<Self>) {
        self.busy_before.set(task::busy_time());
        self.at_before.set(Instant::now());
        loop {
            task::sleep(PUBLISH_INTERVAL).await;
            self.publish();
        }
    }

    /// Publishes the latency snapshots and the busy ratio since the last publish.
    pub fn publish(&self) {
        self.receive.publish(&self.counters.receive_latency);
        self.export.publish(&self.counters.export_latency);
        let busy = task::busy_time();
        let now = Instant::now();
        let wall = now.saturating_duration_since(self.at_before.get());
        let spent = busy.saturating_sub(self.busy_before.get());
        if !wall.is_zero() {
            let ratio = (spent.as_secs_f64() / wall.as_secs_f64()).clamp(0.0, 1.0);
            self.counters.busy_ratio.set_f64(ratio);
        }
        self.busy_before.set(busy);
        self.at_before.set(now);
    }
}

/// What a receiver on a shard counts into: its counters and the shard's latency recorder.
#[derive(Debug, Clone)]
pub struct ReceiverProbe {
    /// The shard's observer (latency).
    pub shard: Rc<ShardObserver>,
    /// The receiver's counters.
    pub counters: Arc<ReceiverCounters>,
}

/// What an exporter instance on a shard counts into.
#[derive(Debug, Clone)]
pub struct ExporterProbe {
    /// The shard's observer (latency).
    pub shard: Rc<ShardObserver>,
    /// The instance's counters.
    pub counters: Arc<ExporterCounters>,
}

impl ShardObserver {
    /// The probe for receiver `id`, if it runs.
    pub fn receiver_probe(self: &Rc<Self>, id: &ComponentId) -> Option<ReceiverProbe> {
        let counters = self.counters.receiver(id)?;
        Some(ReceiverProbe {
            shard: self.clone(),
            counters,
        })
    }

    /// The probe for exporter `id` carrying `signal`, with its queue capacity set.
    pub fn exporter_probe(
        self: &Rc<Self>,
        id: &ComponentId,
        signal: Signal,
        queue_capacity: u64,
    ) -> Option<ExporterProbe> {
        let counters = self.counters.exporter(id, signal)?;
        counters.queue_capacity.set(queue_capacity);
        Some(ExporterProbe {
            shard: self.clone(),
            counters,
        })
    }

    /// The counters of batch processor `id`.
    pub fn batch(&self, id: &ComponentId) -> Option<Arc<BatchCounters>> {
        let id = id.to_string();
        self.counters.batches.iter().find(|b| b.id == id).cloned()
    }
}
