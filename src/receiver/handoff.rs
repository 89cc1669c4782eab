//! Rebalancing on the receive side: a shard clearly busier than its least-loaded peer hands
//! whole requests to it, and the peer takes them in as if its own receiver had read them.
//!
//! What moves is a request as the transport read it (body bytes, owned and moved, plus its
//! signal and codec), before any admission: the peer decompresses, scans, reserves its own
//! budget, runs its own copy of the pipelines and exports on its own connections, and counts
//! the request on its own counters. Its answer comes back on a oneshot channel to the shard
//! holding the client's connection, which acknowledges or refuses as the peer said. So an
//! item is admitted once (by the shard that will hold it), counted once and delivered once.
//!
//! A full or closed mailbox leaves the request with the busy shard, which takes it in (or
//! refuses it retryably) as it would without rebalancing; so does a peer whose own budget
//! has no room for it when it takes it out: it sends the request back untouched.

use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::rc::{Rc, Weak};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_channel::oneshot;
use shardgate_io::compression::Codec;
use shardgate_shards::handoff::{Mesh, Refused};
use shardgate_shards::load::{self, Balancer, Load, Thresholds};
use shardgate_shards::{task, DrainSignal, LoadPublisher};

use crate::config::{Config, RebalanceConfig};
use crate::observe::ShardCounters;
use crate::pipeline::budget::Budget;
use crate::signal::Signal;

/// A change of load score (in thousandths) worth telling the peers at once.
const REPUBLISH_DELTA_PERMILLE: u16 = 20;
/// How often an unchanged load is told again (a peer that started late hears it).
const REPUBLISH_INTERVAL: Duration = Duration::from_secs(1);

/// What a receiver takes requests in with on a shard, as a peer's hand-off reaches it.
pub trait Intake: 'static {
    /// Why a request was not taken in; it goes back to the shard holding the client.
    type Error: Send + 'static;

    /// The refusal for a request whose peer stopped before it answered.
    fn lost() -> Self::Error;

    /// Takes a request handed over by a peer in on this shard.
    fn take_over(
        self: Rc<Self>,
        signal: Signal,
        body: Bytes,
        codec: Option<Codec>,
    ) -> Pin<Box<dyn Future<Output = Result<(), Self::Error>>>>;
}

/// A request handed to another shard, with the way back for its answer.
pub struct Work<E> {
    intake: usize,
    signal: Signal,
    body: Bytes,
    codec: Option<Codec>,
    reply: oneshot::Sender<Reply<E>>,
}

/// A peer's answer to a request handed to it.
pub enum Reply<E> {
    /// It took the request in (`Ok`: acknowledge) or refused it.
    Done(Result<(), E>),
    /// It had no room for the request and did not look at it: the body comes back.
    Bounced(Bytes),
}

/// Every shard's hand-off mailbox (created once, before the shards start).
pub type Mailboxes<E> = Mesh<Work<E>>;

/// Where the answer to a handed-off request comes from.
pub type Answer<E> = oneshot::Receiver<Reply<E>>;

/// What [`Handoff::offer`] did with a request.
pub enum Offer<E> {
    /// It went to a peer; await its answer.
    Sent(Answer<E>),
    /// It stays here: take it in locally.
    Kept(Bytes),
}

/// One shard's side of rebalancing: its balancer, its mailbox and the receivers' intakes
/// that requests taken over are fed to.
pub struct Handoff<I: Intake> {
    shard: usize,
    mesh: Mailboxes<I::Error>,
    budget: Budget,
    counters: Arc<ShardCounters>,
    thresholds: Thresholds,
    interval: Duration,
    balancer: RefCell<Balancer>,
    target: Cell<Option<usize>>,
    /// `receiver/transport` of every intake, in the same order on every shard (config order):
    /// a request names its intake by position.
    names: Vec<String>,
    intakes: RefCell<Vec<Option<Weak<I>>>>,
    /// Requests taken over and not yet answered.
    taking_over: Rc<Cell<usize>>,
}

impl<I: Intake> Handoff<I> {
    /// Shard `shard`'s side of rebalancing for `config`, or `None` when it is off or there
    /// is no peer to hand to.
    pub fn new(
        shard: usize,
        config: &Config,
        mesh: Option<Mailboxes<I::Error>>,
        budget: &Budget,
        counters: Arc<ShardCounters>,
    ) -> Option<Rc<Handoff<I>>> {
        let settings: &RebalanceConfig = &config.shards.rebalance;
        let mesh = mesh.filter(|m| settings.enabled && m.len() > 1)?;
        let shards = u16::try_from(mesh.len()).unwrap_or(u16::MAX);
        // Evenly spread over n shards, the peers do (n-1)/n of the work; the margin above
        // lets the receiving shard, which also reads every request off the wire, shed a
        // little more.
        let even = 1000 - 1000 / shards.max(1);
        let names = config
            .used_receivers()
            .flat_map(|(id, r)| r.transports().into_iter().map(move |t| format!("{id}/{t}")))
            .collect::<Vec<_>>();
        Some(Rc::new(Handoff {
            shard,
            thresholds: Thresholds {
                busy_permille: settings.busy_threshold_permille,
                pending_permille: settings.pending_threshold_permille,
                max_share_permille: even.saturating_add(load::MARGIN_PERMILLE).min(900),
            },
            interval: settings.publish_interval,
            mesh,
            budget: budget.clone(),
            counters,
            balancer: RefCell::new(Balancer::default()),
            target: Cell::new(None),
            intakes: RefCell::new(vec![None; names.len()]),
            names,
            taking_over: Rc::new(Cell::new(0)),
        }))
    }

    /// The position of intake `name` (`receiver/transport`), which every shard agrees on.
    pub fn names_position(&self, name: &str) -> Option<usize> {
        self.names.iter().position(|n| n == name)
    }

    /// Makes `ingest`, the intake `name`, the one requests for it taken over from peers go
    /// to (held weakly: the receiver owns it).
    pub fn register(&self, name: &str, ingest: &Rc<I>) {
        let Some(index) = self.names_position(name) else {
            return;
        };
        if let Some(slot) = self.intakes.borrow_mut().get_mut(index) {
            *slot = Some(Rc::downgrade(ingest));
        }
    }

    /// Sends the request to the least-loaded peer if this shard's share says so and the
    /// peer's mailbox has room; otherwise gives the body back.
    pub fn offer(
        &self,
        intake: usize,
        signal: Signal,
        body: Bytes,
        codec: Option<Codec>,
    ) -> Offer<I::Error> {
        let Some(target) = self.target.get() else {
            return Offer::Kept(body);
        };
        if !self.balancer.borrow_mut().take() {
            return Offer::Kept(body);
        }
        let (reply, answer) = oneshot::channel();
        let bytes = body.len();
        let work = Work {
            intake,
            signal,
            body,
            codec,
            reply,
        };
        let c = &self.counters.rebalance;
        match self.mesh.push(target, work, bytes) {
            Ok(()) => {
                c.handed_off_requests.add(1);
                c.handed_off_bytes.add(bytes as u64);
                Offer::Sent(answer)
            }
            Err(Refused::Full(work)) => {
                self.balancer.borrow_mut().untake();
                c.kept_full.add(1);
                Offer::Kept(work.body)
            }
            Err(Refused::Closed(work)) => {
                self.balancer.borrow_mut().untake();
                c.kept_closed.add(1);
                Offer::Kept(work.body)
            }
        }
    }

    /// Measures this shard's load every interval, publishes it to the peers and moves the
    /// hand-off share; runs for the shard's life.
    pub async fn balance_forever(self: Rc<Self>, publisher: LoadPublisher) {
        let mut busy_before = task::busy_time();
        let mut at_before = Instant::now();
        let mut published = Load::default();
        let mut published_at = at_before;
        publisher.publish(published);
        loop {
            task::sleep(self.interval).await;
            let busy = task::busy_time();
            let now = Instant::now();
            let wall = now.saturating_duration_since(at_before);
            let spent = busy.saturating_sub(busy_before);
            (busy_before, at_before) = (busy, now);
            let own = Load {
                busy_permille: permille(spent.as_secs_f64(), wall.as_secs_f64()),
                pending_permille: permille(
                    self.budget.used_bytes() as f64,
                    self.budget.max_bytes() as f64,
                ),
                queue_permille: self.mesh.fill_permille(self.shard),
            };
            // An unchanged load is re-sent once a second only: idle peers are not woken
            // 20 times a second to hear that nothing changed.
            let moved = own.score().abs_diff(published.score()) >= REPUBLISH_DELTA_PERMILLE;
            if moved || now.saturating_duration_since(published_at) >= REPUBLISH_INTERVAL {
                publisher.publish(own);
                (published, published_at) = (own, now);
            }
            let peer = load::least_loaded_peer(self.shard);
            self.target.set(peer.map(|(i, _)| i));
            let mut balancer = self.balancer.borrow_mut();
            balancer.update(own, peer.map(|(_, l)| l), &self.thresholds);
            let c = &self.counters.rebalance;
            c.share_permille.set(u64::from(balancer.share_permille()));
            c.queue_bytes.set(self.mesh.queued_bytes(self.shard) as u64);
        }
    }

    /// Takes requests out of this shard's mailbox as they come, for the shard's life. It
    /// keeps serving while the shard drains: a peer's connections may wait on requests
    /// handed here while this shard waits for its own connections to close, and two shards
    /// handing to each other must never wait on each other. [`Handoff::close`] takes in
    /// the last ones.
    pub async fn serve(self: Rc<Self>, drain: DrainSignal) {
        if crate::fault::Fault::HandoffStall.is_armed() {
            drain.wait().await;
        }
        loop {
            while let Some(work) = self.mesh.pop(self.shard) {
                self.take_over(work);
            }
            self.mesh.ready(self.shard).await;
        }
    }

    /// Refuses further hand-offs to this shard, takes in everything already handed to it,
    /// and waits (until `deadline`) for those requests to be answered.
    pub async fn close(&self, deadline: Instant) {
        self.mesh.close(self.shard);
        while let Some(work) = self.mesh.pop(self.shard) {
            self.take_over(work);
        }
        while self.taking_over.get() > 0 && Instant::now() < deadline {
            task::sleep(Duration::from_millis(5)).await;
        }
        self.counters.rebalance.queue_bytes.set(0);
    }

    fn take_over(&self, work: Work<I::Error>) {
        let c = &self.counters.rebalance;
        let ingest = self
            .intakes
            .borrow()
            .get(work.intake)
            .cloned()
            .flatten()
            .and_then(|w| w.upgrade());
        let Some(ingest) = ingest else {
            // Every shard registers the same intakes; a miss is a bug, answered retryably.
            let _ = work.reply.send(Reply::Done(Err(I::lost())));
            return;
        };
        // Full here too: the busy shard may still have room, so it gets the request back
        // rather than the client a refusal. (The check is on the body as sent; admission
        // proper reserves its decompressed size.)
        if !self.budget.has_room(work.body.len()) {
            c.bounced.add(1);
            let _ = work.reply.send(Reply::Bounced(work.body));
            return;
        }
        c.taken_over_requests.add(1);
        c.taken_over_bytes.add(work.body.len() as u64);
        let taking_over = self.taking_over.clone();
        taking_over.set(taking_over.get() + 1);
        task::spawn_local(async move {
            let result = ingest.take_over(work.signal, work.body, work.codec).await;
            // The client may be gone (its shard answered nobody); the data is in either way.
            let _ = work.reply.send(Reply::Done(result));
            taking_over.set(taking_over.get().saturating_sub(1));
        })
        .detach();
    }
}

fn permille(part: f64, whole: f64) -> u16 {
    if whole <= 0.0 {
        return 0;
    }
    (part / whole * 1000.0).clamp(0.0, 1000.0) as u16
}

/// Closes a shard's mailbox when dropped and drops what is left in it, so a peer waiting on
/// a request handed here hears that it was lost (and refuses it retryably) instead of
/// waiting out its drain; after a normal drain the mailbox is already empty.
pub struct Abandon<I: Intake>(pub Rc<Handoff<I>>);

impl<I: Intake> Drop for Abandon<I> {
    fn drop(&mut self) {
        let handoff = &self.0;
        handoff.mesh.close(handoff.shard);
        while handoff.mesh.pop(handoff.shard).is_some() {}
    }
}
