//! Durable storage for sending queues (`sending_queue.storage` on a `file_storage`
//! extension): each shard appends the data it acknowledges for an exporter to its own segment
//! files, and replays what was not delivered after a restart.
//!
//! The parts: the record format ([`record`]), which finds where a crash cut a segment; the
//! directory layout and its lock ([`layout`]); one shard's log of segments with group
//! commit, replay, a size cap and deletion of delivered segments ([`log`]); the queue a
//! shard's pipelines write through ([`queue`]). Segment files (direct I/O or page
//! cache) are in `shardgate_io::segment_file`.

pub mod dirs;
pub mod layout;
pub mod log;
pub mod queue;
pub mod record;
