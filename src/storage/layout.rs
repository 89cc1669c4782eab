//! Where a durable queue keeps its files, and who owns them: `DIRECTORY/<exporter id>/
//! shard-N/` per shard, one lock file per exporter directory held by the running process.
//!
//! A restart may run a different number of shards than the one that wrote the files. Every
//! `shard-N` directory found is then given to a running shard (`N mod shards`), so the
//! data of a shard that no longer exists is still replayed and delivered.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

/// Why a queue directory cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum LayoutError {
    /// Another running process holds the directory's lock.
    #[error("{dir} is in use by another running shardgate (lock file {lock}, {holder})")]
    Locked {
        /// The exporter's queue directory.
        dir: PathBuf,
        /// The lock file.
        lock: PathBuf,
        /// What the lock file says about its holder.
        holder: String,
    },
    /// The directory could not be created, listed or locked.
    #[error("{path}: {source}")]
    Io {
        /// What was being accessed.
        path: PathBuf,
        /// The system's reason.
        source: std::io::Error,
    },
}

/// The lock file's name inside an exporter's queue directory.
pub const LOCK_FILE: &str = "lock";

/// An exporter's queue directory, locked by this process for as long as this lives (the
/// lock is the kernel's `flock`, so it goes with the process however it ends: no stale
/// lock after a kill -9).
#[derive(Debug)]
pub struct QueueDir {
    dir: PathBuf,
    _lock: File,
}

impl QueueDir {
    /// Locks `root/<exporter>` (created when `create` is set), refusing it if another
    /// running process holds it.
    pub fn lock(root: &Path, exporter: &str, create: bool) -> Result<QueueDir, LayoutError> {
        let io = |path: &Path| {
            let path = path.to_owned();
            move |source| LayoutError::Io { path, source }
        };
        let dir = root.join(sanitize(exporter));
        if create {
            std::fs::create_dir_all(&dir).map_err(io(&dir))?;
        }
        let lock_path = dir.join(LOCK_FILE);
        let mut lock = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&lock_path)
            .map_err(io(&lock_path))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                let holder = std::fs::read_to_string(&lock_path)
                    .ok()
                    .map(|t| t.trim().to_owned())
                    .filter(|t| !t.is_empty())
                    .unwrap_or_else(|| "holder unknown".to_owned());
                return Err(LayoutError::Locked {
                    dir,
                    lock: lock_path,
                    holder,
                });
            }
            Err(std::fs::TryLockError::Error(source)) => {
                return Err(LayoutError::Io {
                    path: lock_path,
                    source,
                })
            }
        }
        // Who holds it, for the refusal another process prints.
        let _ = lock.set_len(0);
        let _ = writeln!(lock, "pid {}", std::process::id());
        Ok(QueueDir { dir, _lock: lock })
    }

    /// The exporter's queue directory.
    pub fn path(&self) -> &Path {
        &self.dir
    }

    /// Shard `shard`'s own directory.
    pub fn shard_dir(&self, shard: usize) -> PathBuf {
        self.dir.join(format!("shard-{shard}"))
    }

    /// The `shard-N` directories present, as (N, path), in N order.
    pub fn shard_dirs(&self) -> Result<Vec<(usize, PathBuf)>, LayoutError> {
        let entries = std::fs::read_dir(&self.dir).map_err(|source| LayoutError::Io {
            path: self.dir.clone(),
            source,
        })?;
        let mut found: Vec<(usize, PathBuf)> = entries
            .filter_map(Result::ok)
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .filter_map(|e| {
                let name = e.file_name();
                let n = name.to_str()?.strip_prefix("shard-")?.parse().ok()?;
                Some((n, e.path()))
            })
            .collect();
        found.sort();
        Ok(found)
    }
}

/// Which directories shard `shard` of `shards` replays: its own and those of shards that no
/// longer run (`N mod shards == shard`).
pub fn adopted(found: &[(usize, PathBuf)], shard: usize, shards: usize) -> Vec<PathBuf> {
    found
        .iter()
        .filter(|(n, _)| n % shards.max(1) == shard)
        .map(|(_, path)| path.clone())
        .collect()
}

/// An exporter id as a directory name: `otlp/backend` → `otlp_backend` (ids are
/// `type[/name]`; the name may hold characters a path must not).
fn sanitize(id: &str) -> String {
    id.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "-_.".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn root(name: &str) -> PathBuf {
        let root =
            std::env::temp_dir().join(format!("shardgate-layout-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        root
    }

    #[test]
    fn a_second_holder_is_refused_and_the_lock_goes_with_its_holder() {
        let root = root("lock");
        let first = QueueDir::lock(&root, "otlp/backend", true).unwrap();
        assert!(first.path().ends_with("otlp_backend"));
        let second = QueueDir::lock(&root, "otlp/backend", true).unwrap_err();
        let text = second.to_string();
        assert!(
            text.contains("in use by another running shardgate"),
            "{text}"
        );
        assert!(
            text.contains(&format!("pid {}", std::process::id())),
            "{text}"
        );
        drop(first);
        assert!(QueueDir::lock(&root, "otlp/backend", true).is_ok());
        let _ = std::fs::remove_dir_all(&root);
    }

    #[test]
    fn a_missing_directory_without_create_is_an_error_naming_it() {
        let root = root("missing");
        let err = QueueDir::lock(&root, "otlp", false)
            .unwrap_err()
            .to_string();
        assert!(err.contains("shardgate-layout"), "{err}");
    }

    /// Scenario: files written by 4 shards, restarted with 2 (and with 3, and with 6).
    /// Guarantee: every shard directory is replayed by exactly one running shard.
    #[test]
    fn every_shard_directory_is_adopted_once_whatever_the_shard_count() {
        let root = root("adopt");
        let dir = QueueDir::lock(&root, "otlp", true).unwrap();
        for n in 0..4 {
            std::fs::create_dir_all(dir.shard_dir(n)).unwrap();
        }
        std::fs::create_dir_all(dir.path().join("not-a-shard")).unwrap();
        let found = dir.shard_dirs().unwrap();
        assert_eq!(
            found.iter().map(|(n, _)| *n).collect::<Vec<_>>(),
            [0, 1, 2, 3]
        );
        for shards in [1, 2, 3, 4, 6] {
            let mut all: Vec<PathBuf> = (0..shards)
                .flat_map(|s| adopted(&found, s, shards))
                .collect();
            all.sort();
            let mut want: Vec<PathBuf> = found.iter().map(|(_, p)| p.clone()).collect();
            want.sort();
            assert_eq!(all, want, "{shards} shards");
        }
        assert_eq!(adopted(&found, 0, 2).len(), 2);
        let _ = std::fs::remove_dir_all(&root);
    }
}
