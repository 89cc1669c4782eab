//! The `tail_sampling` processor: otelcol-contrib's sampling of whole traces, decided
//! `decision_wait` after a trace's first span from everything received for it by then.
//!
//! Like `batch`, it is a stage that acknowledges at once and sends on later:
//! 1. a payload is decoded and its spans regrouped per trace, each part keeping its resource
//!    and scope ([`split`]); a part whose trace was decided already follows that decision
//!    when the decision caches remember it;
//! 2. with several shards, parts whose trace another shard owns ([`affinity`]) are handed to
//!    it encoded; the owner holds them as if its own receiver had read them;
//! 3. held parts keep the budget reservation they were admitted with, so a shard's pending
//!    bytes (and the memory_limiter) see them; a shard holds at most its share of
//!    `num_traces`, and the oldest trace is decided early to make room (counted as otelcol's
//!    `sampling_trace_dropped_too_early`);
//! 4. a timer decides each trace `decision_wait` after its first span ([`decide`]); kept
//!    traces go to the next stage, the others are released;
//! 5. on drain every held trace is decided at once (or dropped with
//!    `drop_pending_traces_on_shutdown`) and the kept ones passed on.
//!
//! Invariant: a held trace's `spans` is the sum of its parts' spans, and the table's
//! arrival queue names every held trace (stale entries of decided traces are skipped).

pub mod affinity;
pub mod config;
pub mod decide;
pub mod policy;
pub mod split;

use std::cell::{Cell, RefCell};
use std::collections::{HashMap, VecDeque};
use std::rc::Rc;
use std::sync::Arc;
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::trace::v1::ResourceSpans;
use prost::Message;
use shardgate_shards::{task, DrainSignal};

use crate::observe::{ProcessorCounters, TailCounters};
use crate::otlp::ResourceChunk;
use crate::pipeline::budget::{Budget, Reservation};
use crate::pipeline::downstream::Downstream;
use crate::pipeline::payload::Payload;
use crate::processor::chunk::TransformError;
use crate::signal::Signal;
use affinity::{Link, Parcel};
use config::TailSamplingConfig;
use decide::DecisionCache;
use policy::{Decision, Evaluator, TraceView};
use split::{Piece, TracePart};

/// One held trace.
struct Held {
    parts: Vec<Piece>,
    spans: u64,
    arrival: Instant,
    reservation: Reservation,
}

/// A shard's held traces and past decisions.
struct Table {
    traces: HashMap<[u8; 16], Held>,
    /// Trace ids in arrival order, with their arrival (to skip stale entries).
    order: VecDeque<([u8; 16], Instant)>,
    sampled: DecisionCache,
    not_sampled: DecisionCache,
    /// Drop policies first, as otelcol evaluates them.
    evaluators: Vec<Evaluator>,
}

/// A payload sorted by trace owner, not yet visible to anything: dropping it undoes it.
pub struct Sorted {
    local: Vec<(TracePart, Reservation)>,
    remote: Vec<(usize, Parcel)>,
    /// What is left of the admission reservation, released once the parcels are handed.
    rest: Reservation,
    /// Spans in the payload.
    items: u64,
}

/// One pipeline's `tail_sampling` stage on one shard.
pub struct TailSampler {
    decision_wait: Duration,
    traces_max: usize,
    first_match: bool,
    drop_on_shutdown: bool,
    table: RefCell<Table>,
    pub(super) budget: Budget,
    next: Rc<dyn Downstream>,
    affinity: Option<Link>,
    counters: Option<Arc<TailCounters>>,
    items: Option<Arc<ProcessorCounters>>,
    clock: Instant,
    draining: Cell<bool>,
}

/// How often a held part waits for budget room on its owner, or a full mailbox for room.
const ROOM_RETRY: Duration = Duration::from_millis(2);
/// The decision timer's granularity: a trace is decided at most this late, and the timer
/// wakes at most this often under load (otelcol ticks once a second).
const DECISION_TICK: Duration = Duration::from_millis(10);

impl TailSampler {
    /// A stage deciding as `config` says and sending kept traces to `next`; `affinity`
    /// is this shard's place among the shards that share the trace-id space.
    pub fn new(
        config: &TailSamplingConfig,
        budget: &Budget,
        next: Rc<dyn Downstream>,
        affinity: Option<Link>,
    ) -> TailSampler {
        let shards = affinity.as_ref().map_or(1, |a| a.shards()) as u64;
        let traces_max =
            usize::try_from(config.num_traces.div_ceil(shards).max(1)).unwrap_or(usize::MAX);
        TailSampler {
            decision_wait: config.decision_wait,
            traces_max,
            first_match: config.sample_on_first_match,
            drop_on_shutdown: config.drop_pending_traces_on_shutdown,
            table: RefCell::new(Table {
                traces: HashMap::with_capacity(traces_max.min(65_536)),
                order: VecDeque::new(),
                sampled: DecisionCache::new(config.sampled_cache_size),
                not_sampled: DecisionCache::new(config.non_sampled_cache_size),
                evaluators: ordered(config),
            }),
            budget: budget.clone(),
            next,
            affinity,
            counters: None,
            items: None,
            clock: Instant::now(),
            draining: Cell::new(false),
        }
    }

    /// Counts into `items` (items in and out) and its tail-sampling counters.
    pub fn observed(mut self, items: Option<Arc<ProcessorCounters>>) -> TailSampler {
        self.counters = items.as_ref().and_then(|i| i.tail.clone());
        self.items = items;
        self
    }

    /// The stage kept traces go to.
    pub fn next(&self) -> &dyn Downstream {
        &*self.next
    }

    /// Traces held now.
    pub fn held_traces(&self) -> usize {
        self.table.borrow().traces.len()
    }

    /// Step 1 and 2 without side effects: decodes and regroups `payload`, encodes the parts
    /// other shards own, and checks their mailboxes have room (a full one refuses, which
    /// the receiver answers retryably).
    pub fn sort(&self, payload: Payload) -> Result<Sorted, SortError> {
        let sorted = self.split(payload)?;
        if let Some(link) = &self.affinity {
            let full = sorted
                .remote
                .iter()
                .find(|(o, p)| !link.has_room(*o, p.bytes()));
            if let Some((owner, _)) = full {
                return Err(SortError::PeerFull(*owner));
            }
        }
        Ok(sorted)
    }

    /// Decodes and regroups `payload` by trace and by the shard owning each trace.
    fn split(&self, payload: Payload) -> Result<Sorted, TransformError> {
        let mut rest = payload.reservation;
        let mut local = Vec::new();
        let mut remote: split::Remote = Vec::new();
        for chunk in &payload.chunks {
            let rs = ResourceSpans::decode(&chunk.bytes[..])?;
            let parts = split::sort(rs, |id| self.away(id), &mut remote);
            for part in parts {
                let bytes = part.pieces.iter().map(Piece::spans_len).sum();
                let reservation = rest.split_off(bytes);
                local.push((part, reservation));
            }
        }
        Ok(Sorted {
            local,
            remote: self.parcels(remote),
            rest,
            items: payload.items,
        })
    }

    /// The shard owning trace `id`, when it is not this one.
    fn away(&self, id: &[u8; 16]) -> Option<usize> {
        let link = self.affinity.as_ref()?;
        let owner = link.owner(id);
        (owner != link.shard()).then_some(owner)
    }

    /// One parcel per owner.
    fn parcels(&self, remote: split::Remote) -> Vec<(usize, Parcel)> {
        let mut per_owner: Vec<(usize, Vec<ResourceSpans>, u64)> = Vec::new();
        for (owner, rs, spans) in remote {
            match per_owner.iter_mut().find(|(o, _, _)| *o == owner) {
                Some((_, list, n)) => {
                    list.push(rs);
                    *n += spans;
                }
                None => per_owner.push((owner, vec![rs], spans)),
            }
        }
        per_owner
            .into_iter()
            .map(|(owner, parts, spans)| (owner, Parcel::new(self.stage(), parts, spans)))
            .collect()
    }

    fn stage(&self) -> usize {
        self.affinity.as_ref().map_or(0, |a| a.stage())
    }

    /// Step 2 and 3 for data admitted on this shard: hands the parcels to their owners
    /// (waiting for room if a mailbox filled since [`TailSampler::sort`]; keeping them here
    /// if the owner is draining), then holds the local parts.
    pub async fn commit(&self, sorted: Sorted) {
        let Sorted {
            local,
            remote,
            rest,
            items,
        } = sorted;
        self.count_incoming(items);
        for (owner, parcel) in remote {
            let mut parcel = parcel;
            let spans = parcel.spans();
            loop {
                match self.affinity.as_ref().map(|a| a.push(owner, parcel)) {
                    Some(Ok(())) => {
                        self.count(|c| c.handed_spans.add(spans));
                        break;
                    }
                    None => break,
                    Some(Err(affinity::Pushed::Full(back))) => {
                        parcel = back;
                        task::sleep(ROOM_RETRY).await;
                    }
                    Some(Err(affinity::Pushed::Closed(back))) => {
                        self.take_parcel_here(back, self.budget.empty());
                        break;
                    }
                }
            }
        }
        drop(rest);
        self.hold(local);
    }

    /// Data already acknowledged upstream: held or handed on without waiting (a parcel a
    /// peer cannot take now stays on this shard).
    pub fn consume(&self, payload: Payload) {
        let sorted = match self.split(payload) {
            Ok(sorted) => sorted,
            Err(error) => {
                tracing::warn!(%error, "tail_sampling: spans that do not decode are left out");
                return;
            }
        };
        self.count_incoming(sorted.items);
        for (owner, parcel) in sorted.remote {
            let spans = parcel.spans();
            match self.affinity.as_ref().map(|a| a.push(owner, parcel)) {
                Some(Err(affinity::Pushed::Full(back) | affinity::Pushed::Closed(back))) => {
                    self.take_parcel_here(back, self.budget.empty())
                }
                Some(Ok(())) => self.count(|c| c.handed_spans.add(spans)),
                None => {}
            }
        }
        drop(sorted.rest);
        self.hold(sorted.local);
    }

    fn count_incoming(&self, items: u64) {
        if let Some(counters) = &self.items {
            counters.incoming[crate::observe::signal_index(Signal::Traces)].add(items);
        }
    }

    /// A parcel from a peer (or one that could not be handed over): its traces are held
    /// here with `reservation`.
    pub fn take_parcel_here(&self, parcel: Parcel, reservation: Reservation) {
        let mut reservation = reservation;
        let mut local = Vec::new();
        match parcel.decode() {
            Ok(parts) => {
                let mut remote = Vec::new();
                for rs in parts {
                    // A parcel holds only traces this shard owns.
                    for part in split::sort(rs, |_| None, &mut remote) {
                        let bytes = part.pieces.iter().map(Piece::spans_len).sum();
                        let r = reservation.split_off(bytes);
                        local.push((part, r));
                    }
                }
            }
            Err(error) => {
                // Encoded by a peer from decoded data: unreachable short of a bug.
                tracing::error!(%error, "tail_sampling: a parcel from a peer does not decode");
            }
        }
        self.hold(local);
    }

    /// Step 3: holds each part with its trace, or passes it on or releases it at once when
    /// its trace's decision is remembered.
    fn hold(&self, parts: Vec<(TracePart, Reservation)>) {
        let mut out = Vec::new();
        let mut early = Vec::new();
        {
            let mut table = self.table.borrow_mut();
            let now = Instant::now();
            for (part, reservation) in parts {
                if table.sampled.contains(&part.id) {
                    self.count(|c| c.released_sampled.add(part.spans));
                    out.push((part.pieces, part.spans, reservation));
                    continue;
                }
                if table.not_sampled.contains(&part.id) {
                    self.count(|c| c.released_not_sampled.add(part.spans));
                    continue;
                }
                if let Some(held) = table.traces.get_mut(&part.id) {
                    held.spans += part.spans;
                    held.parts.extend(part.pieces);
                    held.reservation.merge(reservation);
                    continue;
                }
                while table.traces.len() >= self.traces_max {
                    let Some(oldest) = pop_oldest(&mut table) else {
                        break;
                    };
                    self.count(|c| c.dropped_too_early.add(1));
                    early.push(oldest);
                }
                self.count(|c| c.new_traces.add(1));
                table.order.push_back((part.id, now));
                table.traces.insert(
                    part.id,
                    Held {
                        parts: part.pieces,
                        spans: part.spans,
                        arrival: now,
                        reservation,
                    },
                );
            }
        }
        for (id, held) in early {
            self.decide_one(id, held, &mut out);
        }
        self.send(out);
        self.publish();
    }

    /// Step 4: decides every trace whose wait is over (all of them when `all`).
    fn decide_due(&self, all: bool) {
        let mut out = Vec::new();
        loop {
            let due = {
                let mut table = self.table.borrow_mut();
                let Some(&(id, arrival)) = table.order.front() else {
                    break;
                };
                if !all && arrival.elapsed() < self.decision_wait {
                    break;
                }
                table.order.pop_front();
                match table.traces.get(&id) {
                    Some(h) if h.arrival == arrival => table.traces.remove(&id).map(|h| (id, h)),
                    _ => None,
                }
            };
            if let Some((id, held)) = due {
                self.decide_one(id, held, &mut out);
            }
        }
        self.send(out);
        self.publish();
    }

    /// One trace's decision; a kept trace joins `out`.
    fn decide_one(&self, id: [u8; 16], held: Held, out: &mut Vec<(Vec<Piece>, u64, Reservation)>) {
        if self.draining.get() && self.drop_on_shutdown {
            return;
        }
        let second = self.clock.elapsed().as_secs();
        let decision = {
            let mut table = self.table.borrow_mut();
            let view = TraceView {
                id: &id,
                parts: &held.parts,
                spans: held.spans,
            };
            let counters = self.counters.clone();
            let d = decide::decide(
                &mut table.evaluators,
                &view,
                second,
                self.first_match,
                |i, d| {
                    if let Some(p) = counters.as_ref().and_then(|c| c.policies.get(i)) {
                        p.count(d);
                    }
                },
            );
            match d {
                Decision::Sampled => table.sampled.put(id),
                _ => table.not_sampled.put(id),
            }
            d
        };
        self.count(|c| c.global.count(decision));
        if decision == Decision::Sampled {
            out.push((held.parts, held.spans, held.reservation));
        }
    }

    /// Hands kept traces to the next stage, one payload per trace part list.
    fn send(&self, out: Vec<(Vec<Piece>, u64, Reservation)>) {
        for (parts, spans, reservation) in out {
            let chunks: Vec<ResourceChunk> = parts
                .into_iter()
                .map(|p| {
                    let items = u32::try_from(p.spans.len()).unwrap_or(u32::MAX);
                    ResourceChunk {
                        bytes: split::encode(&p.into_resource_spans()),
                        items,
                    }
                })
                .collect();
            if let Some(items) = &self.items {
                items.outgoing[crate::observe::signal_index(Signal::Traces)].add(spans);
            }
            self.next
                .dispatch(Payload::new(Signal::Traces, chunks, reservation));
        }
    }

    fn publish(&self) {
        let held = self.table.borrow().traces.len() as u64;
        self.count(|c| c.traces_on_memory.set(held));
    }

    fn count(&self, f: impl FnOnce(&TailCounters)) {
        if let Some(c) = &self.counters {
            f(c);
        }
    }

    /// Decides traces as their wait ends, until the shard drains.
    pub async fn run_timer(self: Rc<Self>, drain: DrainSignal) {
        while !drain.is_draining() {
            let front = self.table.borrow().order.front().map(|(_, at)| *at);
            let wait = match front {
                Some(at) => self.decision_wait.saturating_sub(at.elapsed()),
                None => self.decision_wait,
            };
            if wait.is_zero() {
                self.decide_due(false);
                continue;
            }
            if task::timeout(wait.max(DECISION_TICK), drain.wait())
                .await
                .is_some()
            {
                return;
            }
        }
    }

    /// Step 5: decides every held trace now (the shard is draining).
    pub fn flush(&self) {
        self.draining.set(true);
        self.decide_due(true);
    }

    /// Waits until the budget has room for `bytes` (or the shard drains, when the data is
    /// taken regardless: it was acknowledged by a peer) and reserves them.
    pub async fn reserve_for(&self, bytes: usize) -> Reservation {
        loop {
            if let Some(r) = self.budget.try_reserve(bytes) {
                return r;
            }
            if self.draining.get() {
                return self.budget.empty();
            }
            task::sleep(ROOM_RETRY).await;
        }
    }

    /// Marks the shard as draining: parcels are taken without waiting for room.
    pub fn start_draining(&self) {
        self.draining.set(true);
    }

    /// A peer's parcel, held here with `reservation`.
    pub fn take_from_peer(&self, parcel: Parcel, reservation: Reservation) {
        self.count(|c| c.taken_spans.add(parcel.spans()));
        self.take_parcel_here(parcel, reservation);
    }
}

/// Removes the oldest held trace.
fn pop_oldest(table: &mut Table) -> Option<([u8; 16], Held)> {
    while let Some((id, arrival)) = table.order.pop_front() {
        if table.traces.get(&id).is_some_and(|h| h.arrival == arrival) {
            return table.traces.remove(&id).map(|h| (id, h));
        }
    }
    None
}

/// The evaluators of `config`'s policies, drop policies first (otelcol's order).
fn ordered(config: &TailSamplingConfig) -> Vec<Evaluator> {
    let all: Vec<Evaluator> = config.policies.iter().map(Evaluator::new).collect();
    let (mut drops, rest): (Vec<_>, Vec<_>) = all.into_iter().partition(|e| e.is_drop());
    drops.extend(rest);
    drops
}

/// The policy names in evaluation order (drop policies first), for the counters.
pub fn policy_names(config: &TailSamplingConfig) -> Vec<String> {
    ordered(config).into_iter().map(|e| e.name).collect()
}

/// Why a payload was not taken.
#[derive(Debug, thiserror::Error)]
pub enum SortError {
    /// Its spans do not decode.
    #[error("{0}")]
    Decode(#[from] TransformError),
    /// The shard owning some of its traces has no room in its mailbox now.
    #[error("tail_sampling: the shard owning some of these traces (shard {0}) is full")]
    PeerFull(usize),
}

#[cfg(test)]
mod tests;
