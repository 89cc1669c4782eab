//! The life of one shard: build its pipelines, bind its receivers, serve, drain.
//!
//! Draining follows these steps, all bounded by `shards.drain_timeout`:
//! 1. receivers stop accepting and tell open connections to finish (HTTP/2 GOAWAY);
//! 2. once connections have closed, the shard's hand-off mailbox closes: busy peers keep
//!    their work from then on, and what they had handed over is taken in and answered;
//! 3. the trace-affinity mailbox closes and what landed in it is taken in; every tail
//!    sampler decides what it holds; every batch buffer is flushed;
//! 4. the shard waits until every acknowledged byte is delivered or has failed and been
//!    counted (its budget is empty), then stops.
//!
//! Data still held when the timeout ends is logged with its size, never dropped silently.

use std::collections::HashMap;
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use shardgate_shards::{task, ShardContext};

use crate::config::{ComponentId, Config};
use crate::exporter::delivery::Fanout;
use crate::observe::{ShardCounters, ShardObserver};
use crate::pipeline::budget::Budget;
use crate::pipeline::build::{self, ShardGraph};
use crate::pipeline::durable;
use crate::processor::tail_sampling::{self, affinity::AffinityMesh};
use crate::receiver::handoff::{Abandon, Handoff};
use crate::receiver::listen::Connections;
use crate::receiver::{Mailboxes, ShardIo};
use crate::signal::Signal;
use crate::storage::dirs::QueueEntry;
use crate::storage::queue::DurableQueue;
use bytes::Bytes;
use shardgate_shards::DrainSignal;

/// The durable queues of the process (locked by the main thread) and the shard count, from
/// which each shard finds its own directories and the ones it adopts.
pub struct Durable {
    /// One per exporter with `sending_queue.storage`.
    pub queues: Arc<Vec<QueueEntry>>,
    /// Shards running now.
    pub shards: usize,
}

/// How often the drain checks whether connections and exports have finished.
const DRAIN_POLL_INTERVAL: Duration = Duration::from_millis(10);

/// Runs one shard from start to stop; `counters` are this shard's (it is their only writer),
/// or `None` to count into counters nobody reads; `mailboxes` are every shard's hand-off
/// mailboxes when shards rebalance, `affinity` every shard's trace-affinity mailboxes when
/// a pipeline samples whole traces over several shards.
pub async fn run(
    ctx: ShardContext,
    config: Arc<Config>,
    counters: Option<Arc<ShardCounters>>,
    mailboxes: Option<Mailboxes>,
    affinity: Option<AffinityMesh>,
    durable: Durable,
) -> Result<(), String> {
    let drain = ctx.drain_signal();
    let budget = Budget::new(config.shards.pending_bytes_max);
    let observer = match counters {
        Some(counters) => ShardObserver::new(counters),
        None => ShardObserver::detached(ctx.shard, &config),
    };
    task::spawn_local(observer.clone().publish_forever()).detach();
    let queues = open_queues(ctx.shard, &durable, &observer.counters).await?;
    let graph = build::build(
        &config,
        &budget,
        &observer,
        &queues,
        affinity.as_ref().map(|m| (m, ctx.shard)),
    )
    .map_err(|e| e.to_string())?;
    // However the shard ends, nothing handed to it stays stranded in its affinity mailbox.
    let _abandon_affinity = affinity
        .clone()
        .map(|m| tail_sampling::affinity::Abandon(m, ctx.shard));
    // What the last run acknowledged and did not deliver goes out before new data comes in
    // (as much of it as the budget holds; the rest follows as room frees up).
    for (exporter, queue) in &queues {
        let feeder = Feeder::new(exporter, queue, &graph, &budget);
        let waiting = feeder.feed_what_fits().await;
        task::spawn_local(feeder.run(waiting, drain.clone())).detach();
    }
    let handoff = Handoff::new(
        ctx.shard,
        &config,
        mailboxes,
        &budget,
        observer.counters.clone(),
    );
    // However the shard ends, nothing handed to it stays stranded in its mailbox.
    let _abandon = handoff.clone().map(Abandon);
    let io = ShardIo {
        shard: ctx.shard,
        shard_count: ctx.shards,
        budget: budget.clone(),
        connections: Connections::default(),
        drain: drain.clone(),
        shards: config.shards.clone(),
        extensions: config.extensions.clone(),
        handoff: handoff.clone(),
    };
    for (id, receiver) in &config.receivers {
        let Some(routes) = graph.routes.get(id) else {
            continue; // Configured but used by no pipeline: not started, as otelcol does.
        };
        crate::registry::receiver_start(id)
            .and_then(|start| start(id, receiver, routes.clone(), &io))
            .map_err(|e| e.to_string())?;
    }
    for batch in &graph.batches {
        task::spawn_local(batch.clone().run_timer(drain.clone())).detach();
    }
    for tail in &graph.tails {
        task::spawn_local(tail.clone().run_timer(drain.clone())).detach();
    }
    if let Some(mesh) = &affinity {
        let stages = Rc::new(graph.tails.clone());
        task::spawn_local(tail_sampling::affinity::serve(
            mesh.clone(),
            ctx.shard,
            stages,
        ))
        .detach();
    }
    if let Some(handoff) = &handoff {
        task::spawn_local(handoff.clone().balance_forever(ctx.load_publisher())).detach();
        task::spawn_local(handoff.clone().serve(drain.clone())).detach();
    }
    tracing::debug!(shard = ctx.shard, cpu = ctx.cpu, "shard ready");
    ctx.ready();
    drain.wait().await;
    finish(
        ctx.shard,
        &graph,
        &io,
        affinity.as_ref(),
        config.shards.drain_timeout,
    )
    .await;
    for queue in queues.values() {
        queue.close().await;
    }
    Ok(())
}

/// Opens this shard's durable queue of every exporter that keeps one.
async fn open_queues(
    shard: usize,
    durable: &Durable,
    counters: &ShardCounters,
) -> Result<HashMap<ComponentId, Rc<DurableQueue>>, String> {
    let mut queues = HashMap::new();
    for entry in durable.queues.iter() {
        let (dir, adopted) = entry.for_shard(shard, durable.shards);
        let queue = DurableQueue::open(
            &entry.exporter,
            &dir,
            &adopted,
            &entry.storage,
            counters.storage(&entry.exporter),
        )
        .await
        .map_err(|e| e.to_string())?;
        queues.insert(entry.exporter.clone(), queue);
    }
    Ok(queues)
}

/// How long a backlog record waits for memory room before it is tried again.
const BACKLOG_RETRY: Duration = Duration::from_millis(10);

/// Reads one exporter's backlog back (what the last run left on disk, and what was spilled
/// since) and hands it to the exporter as memory room frees up. The records were processed
/// before they were written, so they go straight to the exporter.
struct Feeder {
    exporter: ComponentId,
    queue: Rc<DurableQueue>,
    /// This exporter alone, per signal it carries.
    fanouts: HashMap<Signal, Fanout>,
    budget: Budget,
}

impl Feeder {
    fn new(
        exporter: &ComponentId,
        queue: &Rc<DurableQueue>,
        graph: &ShardGraph,
        budget: &Budget,
    ) -> Feeder {
        let fanouts = graph
            .deliveries
            .iter()
            .filter(|((id, _), _)| id == exporter)
            .map(|((_, signal), delivery)| (*signal, Fanout::new(vec![delivery.clone()])))
            .collect();
        Feeder {
            exporter: exporter.clone(),
            queue: queue.clone(),
            fanouts,
            budget: budget.clone(),
        }
    }

    /// Hands on backlog records while they fit; returns the first that did not.
    async fn feed_what_fits(&self) -> Option<Bytes> {
        while let Some(record) = self.queue.next(false).await {
            if let Some(back) = self.try_send(record) {
                return Some(back);
            }
        }
        None
    }

    /// Feeds the backlog until the shard drains (what is left stays on disk).
    async fn run(self, mut waiting: Option<Bytes>, drain: DrainSignal) {
        while !drain.is_draining() {
            let mut record = match waiting.take() {
                Some(record) => record,
                None => match self.queue.next(true).await {
                    Some(record) => record,
                    None => return,
                },
            };
            while let Some(back) = self.try_send(record) {
                task::sleep(BACKLOG_RETRY).await;
                record = back;
            }
        }
    }

    /// Hands `record` to its exporter, or gives it back when there is no room for it yet
    /// (checked before anything is reserved or scanned, so waiting costs nothing).
    fn try_send(&self, record: Bytes) -> Option<Bytes> {
        let dropped = |error: &dyn std::fmt::Display| {
            tracing::error!(
                exporter = %self.exporter,
                %error,
                "Durable queue: a record read back cannot be delivered; dropping it"
            );
            None
        };
        let signal = match durable::record_signal(&record) {
            Ok(signal) => signal,
            Err(error) => return dropped(&error),
        };
        let Some(fanout) = self.fanouts.get(&signal) else {
            return dropped(&format_args!(
                "no {signal} pipeline sends to this exporter now"
            ));
        };
        if !fanout.has_room() {
            return Some(record);
        }
        let Some(reservation) = self.budget.try_reserve(durable::payload_bytes(&record)) else {
            return Some(record);
        };
        match durable::replayed(&record, signal, reservation) {
            Ok(payload) => fanout.dispatch(payload),
            Err(error) => return dropped(&error),
        }
        None
    }
}

async fn finish(
    shard: usize,
    graph: &ShardGraph,
    io: &ShardIo,
    affinity: Option<&AffinityMesh>,
    timeout: Duration,
) {
    let deadline = task::deadline_after(timeout);
    while io.connections.open() > 0 && Instant::now() < deadline {
        task::sleep(DRAIN_POLL_INTERVAL).await;
    }
    if let Some(handoff) = &io.handoff {
        handoff.close(deadline).await;
    }
    if let Some(mesh) = affinity {
        tail_sampling::affinity::close(mesh, shard, &graph.tails);
    }
    loop {
        // Requests still in progress may add data after a flush; flush until all is out.
        for tail in &graph.tails {
            tail.flush();
        }
        for batch in &graph.batches {
            batch.flush();
        }
        if io.budget.used_bytes() == 0 || Instant::now() >= deadline {
            break;
        }
        task::sleep(DRAIN_POLL_INTERVAL).await;
    }
    let left = io.budget.used_bytes();
    if left > 0 {
        tracing::error!(
            shard,
            undelivered_bytes = left,
            open_connections = io.connections.open(),
            "drain timeout reached with data not yet delivered; it is lost"
        );
    } else {
        tracing::debug!(shard, "drained");
    }
}
