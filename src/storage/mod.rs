//! Durable storage for sending queues (the `file_storage` extension, in progress): each shard
//! appends the data it acknowledges to its own segment files and replays what was not
//! delivered after a restart.
//!
//! Landed so far: the record format ([`record`]), which finds where a crash cut a segment;
//! the directory layout and its lock ([`layout`]); one shard's log of segments with group
//! commit, replay, a size cap and deletion of delivered segments ([`log`]); segment files
//! on DMA are in `shardgate_io::segment_file`.
//! Not yet wired to any exporter; `file_storage` is still refused by the config loader.

pub mod layout;
pub mod log;
pub mod record;
