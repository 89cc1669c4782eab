//! The transport-independent half of receiving OTLP: from a decoded-transport body to data
//! safely in the shard's pipelines. gRPC and HTTP both end here, so limits, validation and
//! admission are the same whatever the client speaks.
//!
//! Steps, each of which may refuse the request:
//! 1. decompress, the decompressed size bounded by the receiver's limit;
//! 2. validate and count in one structural scan;
//! 3. reserve the bytes in the shard's budget, once per pipeline (refused when full, or when
//!    a healthy exporter's sending queue is full: see `exporter::queue`), and prepare every
//!    pipeline (processors rewrite, exporters' queues take their places);
//! 4. only when every pipeline is prepared, hand the data to all of them. A refusal in step 3
//!    undoes everything, so the client's retry never duplicates data in a pipeline that took
//!    it the first time.

use std::cell::Cell;
use std::rc::Rc;
use std::time::Instant;

use bytes::Bytes;
use shardgate_io::compression::{self, Codec, DecompressError};

use crate::exporter::ExportError;
use crate::extension::auth::ServerAuth;
use crate::observe::TransportCounters;
use crate::otlp::{self, ScanError};
use crate::pipeline::budget::Budget;
use crate::pipeline::downstream::Downstream;
use crate::pipeline::metadata::Metadata;
use crate::pipeline::payload::Payload;
use crate::pipeline::routes::Routes;
use crate::pipeline::PipelineError;
use crate::processor::chunk::TransformError;
use crate::receiver::handoff::{Handoff, Intake, Offer, Reply};
use crate::signal::Signal;

/// Why a body was not taken; transports map each to their status codes.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// No pipeline takes this signal from this receiver.
    #[error("{0} are not accepted by this receiver (no {0} pipeline uses it)")]
    SignalNotServed(Signal),
    /// Decompression failed or exceeded the limit.
    #[error("{0}")]
    Decompress(#[from] DecompressError),
    /// The payload is not a valid OTLP export request.
    #[error("invalid OTLP request: {0}")]
    Scan(#[from] ScanError),
    /// The shard holds as much undelivered data as it may.
    #[error("shardgate is at its limit of pending data on this core; retry later")]
    Overloaded,
    /// The request did not pass the receiver's authenticator.
    #[error("the request is not authenticated")]
    Unauthenticated,
    /// A `memory_limiter` says memory is short (otelcol's message).
    #[error("data refused due to high memory usage")]
    MemoryPressure,
    /// The pipeline's exporters failed (only without a batch processor).
    #[error("{0}")]
    Export(#[from] ExportError),
    /// A processor failed on the data; it was refused rather than passed on unprocessed.
    #[error("processor failed, data refused: {0}")]
    Processor(#[from] TransformError),
    /// The request was handed to another shard, which stopped before it answered; nothing
    /// of it was taken in.
    #[error("the shard this request was handed to stopped before answering; retry")]
    HandoffLost,
}

impl From<PipelineError> for IngestError {
    fn from(error: PipelineError) -> IngestError {
        match error {
            PipelineError::Export(error) => IngestError::Export(error),
            PipelineError::Processor(error) => IngestError::Processor(error),
        }
    }
}

/// The shard's hand-off side, fed with this shard's intakes.
pub type ShardHandoff = Handoff<Ingest>;

impl Intake for Ingest {
    type Error = IngestError;

    fn lost() -> IngestError {
        IngestError::HandoffLost
    }

    fn take_over(
        self: Rc<Self>,
        signal: Signal,
        body: Bytes,
        codec: Option<Codec>,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), IngestError>>>> {
        Box::pin(async move { self.take_in(signal, body, codec).await })
    }
}

/// What one receiver needs on one shard to take data in.
pub struct Ingest {
    /// `grpc` or `http`, as the official collector's `transport` metric label says.
    pub transport: &'static str,
    routes: Rc<Routes>,
    budget: Budget,
    /// Largest body accepted, compressed or decompressed.
    pub max_body_bytes: usize,
    /// The authenticator every request must pass, if `auth` is set.
    auth: Option<ServerAuth>,
    /// Where busy shards send requests, and this intake's position there.
    handoff: Option<(Rc<Handoff<Ingest>>, usize)>,
    /// Whether requests' headers travel with their data (`include_metadata`).
    include_metadata: bool,
}

impl Ingest {
    /// Ingest over `transport` into `routes`, admitting against `budget`.
    pub fn new(
        transport: &'static str,
        routes: Rc<Routes>,
        budget: Budget,
        max_body_bytes: usize,
    ) -> Ingest {
        Ingest {
            transport,
            routes,
            budget,
            max_body_bytes,
            auth: None,
            handoff: None,
            include_metadata: false,
        }
    }

    /// Keeps every request's headers with its data when `include_metadata` is set.
    pub fn with_metadata(mut self, include_metadata: bool) -> Ingest {
        self.include_metadata = include_metadata;
        self
    }

    /// The client metadata of a request whose headers are `headers`: empty (and nothing
    /// allocated or read) unless this receiver has `include_metadata`.
    pub fn metadata<'h>(&self, headers: impl FnOnce() -> Vec<(&'h str, &'h str)>) -> Metadata {
        match self.include_metadata {
            true => Metadata::from_pairs(headers()),
            false => Metadata::default(),
        }
    }

    /// This intake, shared, as `name` (`receiver/transport`) in the shard's rebalancing (if
    /// it rebalances), so peers can hand it requests and it can hand them some.
    pub fn shared(mut self, handoff: Option<&Rc<Handoff<Ingest>>>, name: &str) -> Rc<Ingest> {
        let Some(handoff) = handoff else {
            return Rc::new(self);
        };
        let index = handoff.names_position(name);
        self.handoff = index.map(|i| (handoff.clone(), i));
        let ingest = Rc::new(self);
        handoff.register(name, &ingest);
        ingest
    }

    /// Makes every request pass `auth` first.
    pub fn with_auth(mut self, auth: Option<ServerAuth>) -> Ingest {
        self.auth = auth;
        self
    }

    /// The `WWW-Authenticate` challenge of this receiver's 401s, if it authenticates.
    pub fn challenge(&self) -> Option<&'static str> {
        self.auth.as_ref().map(ServerAuth::challenge)
    }

    /// Checks the request's credentials (`header` gives a request header's value) before
    /// anything else is read; a refusal is counted and reaches no pipeline.
    pub fn authenticate<'h>(
        &self,
        header: impl FnOnce(&str) -> Option<&'h [u8]>,
    ) -> Result<(), IngestError> {
        let Some(auth) = &self.auth else {
            return Ok(());
        };
        if auth.accepts(header(auth.header())) {
            return Ok(());
        }
        if let Some(counters) = self.counters() {
            counters.unauthenticated_requests.add(1);
        }
        Err(IngestError::Unauthenticated)
    }

    /// This receiver's counters of its transport on this shard (none in unit tests).
    pub(crate) fn counters(&self) -> Option<&TransportCounters> {
        self.routes
            .probe()
            .and_then(|p| p.counters.transport(self.transport))
    }

    /// Whether any pipeline takes `signal` from this receiver.
    pub fn serves(&self, signal: Signal) -> bool {
        !self.routes.for_signal(signal).is_empty()
    }

    /// Refuses new data while a `memory_limiter` reports pressure (soft or hard), before the
    /// body is read. Counts the refused request (its items are unknown: the body is not read).
    pub fn check_pressure(&self, signal: Signal) -> Result<(), IngestError> {
        if shardgate_shards::pressure::current() == shardgate_shards::pressure::Level::Normal {
            return Ok(());
        }
        if let Some(counters) = self.counters() {
            counters.memory_refused_requests[crate::observe::signal_index(signal)].add(1);
        }
        Err(IngestError::MemoryPressure)
    }

    /// Takes one protobuf export request of `signal`, compressed with `codec` if given, here
    /// or on a less loaded shard (see `receiver::handoff`). `Ok` means the data is in the
    /// pipelines and may be acknowledged.
    pub async fn protobuf(
        &self,
        signal: Signal,
        body: Bytes,
        codec: Option<Codec>,
    ) -> Result<(), IngestError> {
        self.protobuf_with(signal, body, codec, Metadata::default())
            .await
    }

    /// [`Ingest::protobuf`] of a request whose client metadata is `metadata`. A request
    /// carrying metadata is taken in here, never handed to a peer: its metadata stays with it
    /// in the shard that read it.
    pub async fn protobuf_with(
        &self,
        signal: Signal,
        body: Bytes,
        codec: Option<Codec>,
        metadata: Metadata,
    ) -> Result<(), IngestError> {
        let handoff = self.handoff.as_ref().filter(|_| metadata.is_empty());
        let body = match handoff {
            None => body,
            Some((handoff, intake)) => match handoff.offer(*intake, signal, body, codec) {
                Offer::Kept(body) => body,
                Offer::Sent(answer) => match answer.await {
                    Ok(Reply::Done(result)) => return result,
                    Ok(Reply::Bounced(body)) => body,
                    // A dropped sender: the peer stopped (it failed) without taking it in.
                    Err(_) => return Err(IngestError::HandoffLost),
                },
            },
        };
        self.take_in_with(signal, body, codec, metadata).await
    }

    /// [`Ingest::take_in_with`] of a request without client metadata.
    pub async fn take_in(
        &self,
        signal: Signal,
        body: Bytes,
        codec: Option<Codec>,
    ) -> Result<(), IngestError> {
        self.take_in_with(signal, body, codec, Metadata::default())
            .await
    }

    /// Takes the request in on this shard, whichever shard's client sent it.
    ///
    /// Counts the items as otelcol's receivers do: accepted; refused when a downstream stage
    /// said no (pending-data limit, exporter failure without batch); failed otherwise (items
    /// of a request that does not scan are unknown and count 0). Records the time from here
    /// to the answer of accepted requests in the shard's receive latency.
    pub async fn take_in_with(
        &self,
        signal: Signal,
        body: Bytes,
        codec: Option<Codec>,
        metadata: Metadata,
    ) -> Result<(), IngestError> {
        let started = Instant::now();
        let items = Cell::new(0);
        let result = self.admit(signal, body, codec, metadata, &items).await;
        let Some(probe) = self.routes.probe() else {
            return result;
        };
        let Some(counters) = probe.counters.transport(self.transport) else {
            return result;
        };
        let i = crate::observe::signal_index(signal);
        match &result {
            Ok(()) => {
                counters.accepted[i].add(items.get());
                probe.shard.receive.record(started.elapsed());
            }
            Err(
                IngestError::Overloaded
                | IngestError::MemoryPressure
                | IngestError::Export(_)
                | IngestError::HandoffLost,
            ) => {
                counters.refused[i].add(items.get());
            }
            Err(_) => counters.failed[i].add(items.get()),
        }
        result
    }

    /// [`Ingest::protobuf`] without the counting; sets `items` once the request is scanned.
    async fn admit(
        &self,
        signal: Signal,
        body: Bytes,
        codec: Option<Codec>,
        metadata: Metadata,
        items: &Cell<u64>,
    ) -> Result<(), IngestError> {
        let stages = self.routes.for_signal(signal);
        if stages.is_empty() {
            return Err(IngestError::SignalNotServed(signal));
        }
        let body = match codec {
            None => body,
            Some(codec) => compression::decompress(codec, &body, self.max_body_bytes)?,
        };
        let scanned = otlp::scan_request(signal, &body)?;
        items.set(scanned.items);
        if crate::fault::Fault::ShardPanic.trips(&body) {
            panic!("injected fault: shard_panic");
        }
        let bytes = body.len();
        if let [only] = stages {
            if let Some(write_ahead) = only.spill_point() {
                // Every exporter keeps its queue on disk: with no memory room (or records
                // already waiting on disk only, so that order is kept) the data goes to
                // disk alone and is read back when room frees up.
                let in_memory = only.has_room() && !write_ahead.has_backlog();
                let reservation = in_memory.then(|| self.budget.try_reserve(bytes)).flatten();
                return match reservation {
                    Some(reservation) => {
                        let payload = Payload::new(signal, scanned.chunks, reservation)
                            .with_metadata(metadata);
                        Ok(only.prepare(payload)?.commit().await?)
                    }
                    None => {
                        let payload = Payload::new(signal, scanned.chunks, self.budget.empty())
                            .with_metadata(metadata);
                        Ok(only.spill(payload).await?)
                    }
                };
            }
        }
        // Every pipeline holds the data until its exporters are done: reserve for each, and
        // every pipeline's healthy exporters must have sending-queue room. All of it before
        // any pipeline takes the data (dropping `prepared` undoes it), and without waiting,
        // so no other request can take the room in between.
        if !stages.iter().all(|stage| stage.has_room()) {
            return Err(IngestError::Overloaded);
        }
        if let [only] = stages {
            // The common case: one pipeline, nothing to coordinate and no allocation.
            let reservation = self
                .budget
                .try_reserve(bytes)
                .ok_or(IngestError::Overloaded)?;
            let payload = Payload::new(signal, scanned.chunks, reservation).with_metadata(metadata);
            let prepared = only.prepare(payload)?;
            return Ok(prepared.commit().await?);
        }
        let last = stages.len() - 1;
        let mut chunks = Some(scanned.chunks);
        let mut prepared = Vec::with_capacity(stages.len());
        for (i, stage) in stages.iter().enumerate() {
            let reservation = self
                .budget
                .try_reserve(bytes)
                .ok_or(IngestError::Overloaded)?;
            let chunks = if i == last {
                chunks.take().unwrap_or_default()
            } else {
                chunks.clone().unwrap_or_default()
            };
            let payload = Payload::new(signal, chunks, reservation).with_metadata(metadata.clone());
            prepared.push(stage.prepare(payload)?);
        }
        // Several pipelines commit side by side: a batch commits at once, an export without
        // batch answers when its exporters do. The first error wins.
        let commits: Vec<_> = prepared
            .into_iter()
            .map(|p| shardgate_shards::task::spawn_local(p.commit()))
            .collect();
        let mut result = Ok(());
        for commit in commits {
            if let Err(error) = commit.await {
                if result.is_ok() {
                    result = Err(IngestError::Export(error));
                }
            }
        }
        result
    }
}
