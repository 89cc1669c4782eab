//! Receivers: where data enters a shard.
//!
//! Every receiver kind has the same entry point: `start` (bind its listeners on the shard
//! and serve until the shard drains). Each shard binds its own SO_REUSEPORT sockets.

pub mod attributes;
pub mod handoff;
pub mod http1;
pub mod jaeger;
pub mod kafka;
pub mod listen;
pub mod otlp;
pub mod prometheus;
pub mod tls;
pub mod zipkin;

use shardgate_shards::DrainSignal;

use crate::config::ShardsConfig;
use crate::pipeline::budget::Budget;
use listen::Connections;

/// Every shard's hand-off mailbox, for requests taken in by the receivers' intakes.
pub type Mailboxes = handoff::Mailboxes<otlp::ingest::IngestError>;

/// Everything a shard's receivers share.
pub struct ShardIo {
    /// The shard index.
    pub shard: usize,
    /// How many shards run (scrape targets are spread over them).
    pub shard_count: usize,
    /// The shard's admission budget.
    pub budget: Budget,
    /// Open connections on this shard.
    pub connections: Connections,
    /// The shard's drain signal.
    pub drain: DrainSignal,
    /// Runtime knobs.
    pub shards: ShardsConfig,
    /// Configured extensions, for the receivers' authenticators.
    pub extensions:
        std::collections::BTreeMap<crate::config::ComponentId, crate::config::ExtensionConfig>,
    /// This shard's side of rebalancing, when it hands work to peers.
    pub handoff: Option<std::rc::Rc<otlp::ingest::ShardHandoff>>,
}
