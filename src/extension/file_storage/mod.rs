//! The `file_storage` extension: a directory for exporters' durable sending queues
//! (`sending_queue.storage`). It serves nothing itself; the queues live in `crate::storage`.

pub mod config;
