//! Receivers: where data enters a shard.
//!
//! Every receiver kind has the same entry point: `start` (bind its listeners on the shard
//! and serve until the shard drains). Each shard binds its own SO_REUSEPORT sockets.

pub mod listen;
pub mod otlp;
