//! Trace affinity across shards: spans of a trace another shard owns are handed to it.
//!
//! What moves is a [`Parcel`]: the parts of one payload that one peer owns, encoded as a
//! `TracesData` (each part with its resource and scope), with the stage it is for. The
//! sender releases their budget once they are handed over; the owner reserves its own before
//! it holds them (waiting for room; the mailbox, bounded in bytes, stays full meanwhile, so
//! senders refuse new data retryably instead of piling it up).
//!
//! Draining, per shard: 1. the mailbox closes (a peer's later push comes back, and the peer
//! decides those traces itself: nothing is lost, affinity ends with the process); 2. what
//! landed is taken in, over budget if need be (it was acknowledged); 3. every held trace is
//! decided ([`super::TailSampler::flush`]).

use std::rc::Rc;

use bytes::Bytes;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, TracesData};
use prost::Message;
use shardgate_shards::handoff::{Mesh, Refused};

use super::TailSampler;

/// Every shard's affinity mailbox (created once, before the shards start).
pub type AffinityMesh = Mesh<Parcel>;

/// A share of a shard's pending-bytes budget a peer may park in its mailbox: enough for
/// many requests in flight, small enough that held traces keep most of the budget.
pub const MAILBOX_SHARE_DIVISOR: usize = 4;

/// Spans handed to the shard that owns their trace.
pub struct Parcel {
    stage: usize,
    body: Bytes,
    spans: u64,
}

impl Parcel {
    /// `parts` for tail-sampling stage `stage` of the owner, encoded.
    pub fn new(stage: usize, parts: Vec<ResourceSpans>, spans: u64) -> Parcel {
        let body = Bytes::from(
            TracesData {
                resource_spans: parts,
            }
            .encode_to_vec(),
        );
        Parcel { stage, body, spans }
    }

    /// Encoded bytes.
    pub fn bytes(&self) -> usize {
        self.body.len()
    }

    /// Spans in it.
    pub fn spans(&self) -> u64 {
        self.spans
    }

    /// Its resource messages.
    pub fn decode(&self) -> Result<Vec<ResourceSpans>, prost::DecodeError> {
        Ok(TracesData::decode(&self.body[..])?.resource_spans)
    }
}

/// Why a parcel came back.
pub enum Pushed {
    /// The owner's mailbox is full.
    Full(Parcel),
    /// The owner is draining.
    Closed(Parcel),
}

/// One tail-sampling stage's place in the mesh.
#[derive(Clone)]
pub struct Link {
    mesh: AffinityMesh,
    shard: usize,
    stage: usize,
}

impl Link {
    /// Stage `stage` (its index among the shard's tail-sampling stages, the same on every
    /// shard) of shard `shard`.
    pub fn new(mesh: &AffinityMesh, shard: usize, stage: usize) -> Link {
        Link {
            mesh: mesh.clone(),
            shard,
            stage,
        }
    }

    /// Shards sharing the trace-id space.
    pub fn shards(&self) -> usize {
        self.mesh.len()
    }

    /// This shard.
    pub fn shard(&self) -> usize {
        self.shard
    }

    /// This stage's index.
    pub fn stage(&self) -> usize {
        self.stage
    }

    /// The shard owning `id`.
    pub fn owner(&self, id: &[u8; 16]) -> usize {
        shardgate_shards::affinity::owner(id, self.mesh.len())
    }

    /// Whether `owner` can take `bytes` now (a draining owner takes nothing, and the parcel
    /// then stays here, so it counts as room).
    pub fn has_room(&self, owner: usize, bytes: usize) -> bool {
        !self.mesh.is_open(owner) || self.mesh.has_room(owner, bytes)
    }

    /// Hands `parcel` to `owner`.
    pub fn push(&self, owner: usize, parcel: Parcel) -> Result<(), Pushed> {
        let bytes = parcel.bytes();
        match self.mesh.push(owner, parcel, bytes) {
            Ok(()) => Ok(()),
            Err(Refused::Full(p)) => Err(Pushed::Full(p)),
            Err(Refused::Closed(p)) => Err(Pushed::Closed(p)),
        }
    }
}

/// Takes parcels out of shard `shard`'s mailbox as they come, for the shard's life.
pub async fn serve(mesh: AffinityMesh, shard: usize, stages: Rc<Vec<Rc<TailSampler>>>) {
    loop {
        while let Some(parcel) = mesh.pop(shard) {
            let Some(stage) = stages.get(parcel.stage) else {
                // Every shard builds the same stages; a miss is a bug, reported.
                tracing::error!(stage = parcel.stage, "tail_sampling: parcel for no stage");
                continue;
            };
            let reservation = stage.reserve_for(parcel.bytes()).await;
            stage.take_from_peer(parcel, reservation);
        }
        mesh.ready(shard).await;
    }
}

/// Drain steps 1 and 2: closes shard `shard`'s mailbox and takes in what landed.
pub fn close(mesh: &AffinityMesh, shard: usize, stages: &[Rc<TailSampler>]) {
    for stage in stages {
        stage.start_draining();
    }
    mesh.close(shard);
    while let Some(parcel) = mesh.pop(shard) {
        if let Some(stage) = stages.get(parcel.stage) {
            let reservation = stage
                .budget
                .try_reserve(parcel.bytes())
                .unwrap_or_else(|| stage.budget.empty());
            stage.take_from_peer(parcel, reservation);
        }
    }
}

/// Closes a shard's mailbox when dropped and drops what is left, so a shard that fails
/// strands nothing its peers wait on; after a normal drain it is already empty.
pub struct Abandon(pub AffinityMesh, pub usize);

impl Drop for Abandon {
    fn drop(&mut self) {
        self.0.close(self.1);
        while self.0.pop(self.1).is_some() {}
    }
}
