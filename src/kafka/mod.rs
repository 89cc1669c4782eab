//! What the `kafka` exporter and receiver share: the client settings in otelcol's shape, the
//! payload encodings, and the threads librdkafka runs on.
//!
//! librdkafka (through the `rdkafka` crate) runs threads of its own and blocks in its calls,
//! so it never runs on a shard: each shard's producer or consumer lives on a thread of its
//! own ([`threads`]), and payloads cross between that thread and the shard through
//! `shardgate_shards::bridge` (lock-free while there is room) and crossbeam channels.

pub mod client;
pub mod encoding;
pub mod threads;
