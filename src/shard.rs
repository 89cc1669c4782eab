//! The life of one shard: build its pipelines, bind its receivers, serve, drain.
//!
//! Draining follows these steps, all bounded by `shards.drain_timeout`:
//! 1. receivers stop accepting and tell open connections to finish (HTTP/2 GOAWAY);
//! 2. once connections have closed, the shard's hand-off mailbox closes: busy peers keep
//!    their work from then on, and what they had handed over is taken in and answered;
//! 3. every batch buffer is flushed;
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
use crate::exporter::delivery::{Delivery, Fanout};
use crate::observe::{ShardCounters, ShardObserver};
use crate::pipeline::budget::Budget;
use crate::pipeline::build::{self, ShardGraph};
use crate::pipeline::durable;
use crate::receiver::handoff::{Abandon, Handoff};
use crate::receiver::listen::Connections;
use crate::receiver::{Mailboxes, ShardIo};
use crate::signal::Signal;
use crate::storage::dirs::QueueEntry;
use crate::storage::queue::{DurableQueue, Replay};

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
/// mailboxes when shards rebalance.
pub async fn run(
    ctx: ShardContext,
    config: Arc<Config>,
    counters: Option<Arc<ShardCounters>>,
    mailboxes: Option<Mailboxes>,
    durable: Durable,
) -> Result<(), String> {
    let drain = ctx.drain_signal();
    let budget = Budget::new(config.shards.pending_bytes_max);
    let observer = match counters {
        Some(counters) => ShardObserver::new(counters),
        None => ShardObserver::detached(ctx.shard, &config),
    };
    task::spawn_local(observer.clone().publish_forever()).detach();
    let (queues, replays) = open_queues(ctx.shard, &durable, &observer.counters).await?;
    let graph = build::build(&config, &budget, &observer, &queues).map_err(|e| e.to_string())?;
    // What the last run acknowledged and did not deliver goes out before new data comes in
    // (as much of it as the budget holds; the rest follows as room frees up).
    replay(&graph, &budget, replays).await;
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
    if let Some(handoff) = &handoff {
        task::spawn_local(handoff.clone().balance_forever(ctx.load_publisher())).detach();
        task::spawn_local(handoff.clone().serve(drain.clone())).detach();
    }
    tracing::debug!(shard = ctx.shard, cpu = ctx.cpu, "shard ready");
    ctx.ready();
    drain.wait().await;
    finish(ctx.shard, &graph, &io, config.shards.drain_timeout).await;
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
) -> Result<
    (
        HashMap<ComponentId, Rc<DurableQueue>>,
        Vec<(ComponentId, Replay)>,
    ),
    String,
> {
    let mut queues = HashMap::new();
    let mut replays = Vec::new();
    for entry in durable.queues.iter() {
        let (dir, adopted) = entry.for_shard(shard, durable.shards);
        let (queue, replayed) = DurableQueue::open(
            &entry.exporter,
            &dir,
            &adopted,
            &entry.storage,
            counters.storage(&entry.exporter),
        )
        .await
        .map_err(|e| e.to_string())?;
        replays.extend(replayed.into_iter().map(|r| (entry.exporter.clone(), r)));
        queues.insert(entry.exporter.clone(), queue);
    }
    Ok((queues, replays))
}

/// How long a replay waits for budget room before trying again.
const REPLAY_RETRY: Duration = Duration::from_millis(10);

/// Sends replayed records straight to their exporter (they were processed before they were
/// written). Records that fit the budget now are handed on before this returns; the rest
/// follow in a task as room frees up.
async fn replay(graph: &ShardGraph, budget: &Budget, replays: Vec<(ComponentId, Replay)>) {
    let mut left = replays.into_iter();
    let mut waiting = None;
    for item in left.by_ref() {
        if !send_replayed(&graph.deliveries, budget, &item) {
            waiting = Some(item);
            break;
        }
    }
    let Some(first) = waiting else {
        return;
    };
    let deliveries = graph.deliveries.clone();
    let budget = budget.clone();
    task::spawn_local(async move {
        for item in std::iter::once(first).chain(left) {
            while !send_replayed(&deliveries, &budget, &item) {
                task::sleep(REPLAY_RETRY).await;
            }
        }
    })
    .detach();
}

/// Hands one replayed record to its exporter; `false` when the budget has no room for it yet.
fn send_replayed(
    deliveries: &HashMap<(ComponentId, Signal), Rc<Delivery>>,
    budget: &Budget,
    (exporter, replay): &(ComponentId, Replay),
) -> bool {
    match durable::replayed(&replay.record, budget) {
        Ok(Some((signal, payload))) => match deliveries.get(&(exporter.clone(), signal)) {
            Some(delivery) => Fanout::new(vec![delivery.clone()]).dispatch(payload),
            None => tracing::error!(
                exporter = %exporter,
                %signal,
                items = payload.items,
                "Durable queue: no pipeline of this signal sends to this exporter now; dropping replayed data"
            ),
        },
        Ok(None) => return false,
        Err(error) => tracing::error!(
            exporter = %exporter,
            %error,
            "Durable queue: a replayed record is unreadable; dropping it"
        ),
    }
    true
}
async fn finish(shard: usize, graph: &ShardGraph, io: &ShardIo, timeout: Duration) {
    let deadline = task::deadline_after(timeout);
    while io.connections.open() > 0 && Instant::now() < deadline {
        task::sleep(DRAIN_POLL_INTERVAL).await;
    }
    if let Some(handoff) = &io.handoff {
        handoff.close(deadline).await;
    }
    loop {
        // Requests still in progress may add data after a flush; flush until all is out.
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
