//! The collector's own metrics: shard-local single-writer counters, per-shard latency
//! histograms and busy ratio, and their Prometheus text rendering.
//!
//! Data flow: the main thread builds a [`Registry`] (one [`ShardCounters`] per shard) before
//! the shards start; shard `i` is handed `shards[i]` and is its only writer; the admin thread
//! only reads, on scrape. Nothing here sits on a cross-core queue or takes a lock.

pub mod counters;
pub mod latency;
pub mod loadbalancer;
pub mod process;
pub mod prometheus;
pub mod registry;

pub use registry::{
    signal_index, BatchCounters, ExporterCounters, ExporterProbe, Phase, PolicyCounters,
    ProcessorCounters, RebalanceCounters, ReceiverCounters, ReceiverProbe, Registry, ShardCounters,
    ShardObserver, StorageCounters, TailCounters, TransportCounters,
};
