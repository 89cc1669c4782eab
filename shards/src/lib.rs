//! The per-core runtime of shardgate.
//!
//! One glommio executor per configured CPU, each on its own pinned thread, started and
//! stopped together. Shards share nothing on the data path: the only cross-core traffic is
//! the small control messages in [`control`], which carry the lifecycle (ready, drain,
//! stopped), memory-pressure changes ([`pressure`]) and shard loads ([`load`]); the one
//! path for request bytes between cores is the mailboxes of [`handoff`] (rebalancing, and
//! trace [`affinity`] for pipelines that sample whole traces).
#![warn(missing_docs)]
#![forbid(unsafe_code)]

pub mod affinity;
pub mod bridge;
pub mod control;
pub mod drain;
pub mod error;
pub mod handoff;
pub mod load;
pub mod preflight;
pub mod pressure;
pub mod runtime;
pub mod task;

pub use drain::DrainSignal;
pub use error::ShardError;
pub use runtime::{run_local, start, LoadPublisher, Runtime, RuntimeSettings, ShardContext};
