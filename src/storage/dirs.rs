//! The durable queues a config runs, locked by this process before any shard starts: one
//! directory per exporter with `sending_queue.storage`, and the `shard-N` directories an
//! earlier run left in it (listed once, so every shard adopts from the same list).

use std::path::PathBuf;

use super::layout::{self, LayoutError, QueueDir};
use crate::config::{ComponentId, Config, ExtensionConfig};
use crate::extension::file_storage::config::FileStorageConfig;

/// One exporter's durable queue directory, locked.
#[derive(Debug)]
pub struct QueueEntry {
    /// The exporter.
    pub exporter: ComponentId,
    /// Its directory, locked for as long as this lives.
    pub dir: QueueDir,
    /// The `shard-N` directories present at start.
    pub found: Vec<(usize, PathBuf)>,
    /// The `file_storage` extension's settings.
    pub storage: FileStorageConfig,
}

impl QueueEntry {
    /// Shard `shard`'s own directory and the directories it adopts, for `shards` shards.
    pub fn for_shard(&self, shard: usize, shards: usize) -> (PathBuf, Vec<PathBuf>) {
        (
            self.dir.shard_dir(shard),
            layout::adopted(&self.found, shard, shards),
        )
    }
}

/// Locks the directory of every exporter in use whose queue is kept in storage. Refuses a
/// missing `directory` without `create_directory`, and a directory another running
/// shardgate holds.
pub fn lock_all(config: &Config) -> Result<Vec<QueueEntry>, LayoutError> {
    let mut entries = Vec::new();
    for (id, exporter) in config.used_exporters() {
        let Some(storage) = exporter.storage() else {
            continue;
        };
        let Some(ExtensionConfig::FileStorage(fs)) = config.extensions.get(storage) else {
            continue; // validate refuses this
        };
        if !fs.create_directory && !fs.directory.is_dir() {
            return Err(LayoutError::Io {
                path: fs.directory.clone(),
                source: std::io::Error::new(
                    std::io::ErrorKind::NotFound,
                    "file_storage directory does not exist (set create_directory: true)",
                ),
            });
        }
        let dir = QueueDir::lock(&fs.directory, &id.to_string(), true)?;
        let found = dir.shard_dirs()?;
        entries.push(QueueEntry {
            exporter: id.clone(),
            dir,
            found,
            storage: fs.clone(),
        });
    }
    Ok(entries)
}
