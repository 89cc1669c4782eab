//! One exporter's durable queue on one shard: a writer task that owns the shard's
//! [`ShardLog`] and makes appended records durable in groups (every request waiting while a
//! sync runs rides the next one), and [`Hold`]s that release a record when the data read
//! from it is gone.
//!
//! The in-memory path is unchanged: the data stays in memory and is delivered from there.
//! The log is what a restart replays. A record is released when the last slice of the data
//! built on it is dropped (delivered, given up on and counted, or dropped by an exporter's
//! full queue and counted), except while the shard stops: what is still held then stays on
//! disk for the next start.

use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use futures_channel::{mpsc, oneshot};
use futures_lite::StreamExt;
use shardgate_shards::task;

use super::log::{LogError, LogLimits, RecordId, ShardLog};
use crate::config::ComponentId;
use crate::extension::file_storage::config::{FileStorageConfig, FsyncPolicy};
use crate::observe::StorageCounters;

/// Why the durable queue did not take a record.
#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    /// The log could not be opened.
    #[error("exporter {exporter}: durable queue: {source}")]
    Open {
        /// The exporter.
        exporter: ComponentId,
        /// What the log said.
        source: LogError,
    },
    /// The log refused or failed to write the record (max_size, disk full, I/O).
    #[error("exporter {exporter}: durable queue: {reason}")]
    Refused {
        /// The exporter.
        exporter: ComponentId,
        /// What the log said.
        reason: String,
    },
    /// The queue's writer is gone (the shard is stopping).
    #[error("exporter {exporter}: durable queue is closed")]
    Closed {
        /// The exporter.
        exporter: ComponentId,
    },
}

/// What the writer is asked. The channel is futures' mpsc, not a shard-local one, only
/// because a [`Hold`] lives inside `Bytes::from_owner`, which requires `Send`: every command
/// is still sent and received on the shard that owns the queue.
enum Command {
    Append {
        record: Bytes,
        reply: oneshot::Sender<Result<RecordId, String>>,
    },
    Release(RecordId),
    Sync,
    Close(oneshot::Sender<()>),
}

/// One exporter's durable queue on one shard.
pub struct DurableQueue {
    exporter: ComponentId,
    commands: mpsc::UnboundedSender<Command>,
    stopping: Arc<AtomicBool>,
    counters: Option<Arc<StorageCounters>>,
}

/// A record found on disk at start, with the hold that releases it once delivered.
pub struct Replay {
    /// The record as appended.
    pub record: Bytes,
}

impl DurableQueue {
    /// Opens `dir` (and the `adopted` directories of shards that no longer run), starts the
    /// writer task and returns the records to deliver again, oldest first. Cut tails are
    /// logged and counted.
    pub async fn open(
        exporter: &ComponentId,
        dir: &Path,
        adopted: &[PathBuf],
        config: &FileStorageConfig,
        counters: Option<Arc<StorageCounters>>,
    ) -> Result<(Rc<DurableQueue>, Vec<Replay>), StorageError> {
        let limits = LogLimits {
            segment_bytes: config.segment_size,
            max_bytes: match config.max_size {
                0 => u64::MAX,
                max => max,
            },
        };
        let (log, replayed, cuts) =
            ShardLog::open(dir, adopted, limits)
                .await
                .map_err(|source| StorageError::Open {
                    exporter: exporter.clone(),
                    source,
                })?;
        for cut in &cuts {
            tracing::warn!(
                exporter = %exporter,
                segment = %cut.path.display(),
                end = ?cut.end,
                dropped_bytes = cut.dropped_bytes,
                "Durable queue: a torn or corrupt segment tail was cut; the records before it are replayed"
            );
        }
        if let Some(c) = &counters {
            c.cut_tails.add(cuts.len() as u64);
            c.cut_bytes
                .add(cuts.iter().map(|c| c.dropped_bytes).sum::<u64>());
            c.replayed_records.add(replayed.len() as u64);
        }
        if !replayed.is_empty() {
            tracing::info!(
                exporter = %exporter,
                records = replayed.len(),
                "Durable queue: replaying records not delivered before the last stop"
            );
        }
        let (commands, inbox) = mpsc::unbounded();
        let queue = Rc::new(DurableQueue {
            exporter: exporter.clone(),
            commands,
            stopping: Arc::new(AtomicBool::new(false)),
            counters: counters.clone(),
        });
        let replays = replayed
            .into_iter()
            .map(|r| (r.id, Bytes::from(r.payload)))
            .collect::<Vec<_>>();
        let held = replays
            .iter()
            .map(|(id, record)| (queue.hold(*id), record.clone()))
            .collect::<Vec<_>>();
        publish(&log, counters.as_deref());
        task::spawn_local(write_forever(log, inbox, config.fsync_policy, counters)).detach();
        if config.fsync_policy == FsyncPolicy::Interval {
            let commands = queue.commands.clone();
            let interval = config.fsync_interval;
            task::spawn_local(async move {
                loop {
                    task::sleep(interval).await;
                    if commands.unbounded_send(Command::Sync).is_err() {
                        return;
                    }
                }
            })
            .detach();
        }
        let replays = held
            .into_iter()
            .map(|(hold, record)| Replay {
                record: Bytes::from_owner(Held {
                    bytes: record,
                    _holds: vec![hold],
                }),
            })
            .collect();
        Ok((queue, replays))
    }

    /// The exporter this queue belongs to.
    pub fn exporter(&self) -> &ComponentId {
        &self.exporter
    }

    /// Appends `record` and waits until the fsync policy's promise holds for it (durable
    /// with `always`, written to the device otherwise). A refusal is counted.
    pub async fn append(&self, record: Bytes) -> Result<Hold, StorageError> {
        let (reply, answer) = oneshot::channel();
        let sent = self
            .commands
            .unbounded_send(Command::Append { record, reply });
        let outcome = match sent {
            Ok(()) => answer.await.ok(),
            Err(_) => None,
        };
        let refused = |e| {
            if let Some(c) = &self.counters {
                c.refused_requests.add(1);
            }
            e
        };
        match outcome {
            Some(Ok(id)) => Ok(self.hold(id)),
            Some(Err(reason)) => Err(refused(StorageError::Refused {
                exporter: self.exporter.clone(),
                reason,
            })),
            None => Err(refused(StorageError::Closed {
                exporter: self.exporter.clone(),
            })),
        }
    }

    /// Stops releasing records (what is held now stays on disk for the next start), then
    /// closes the current segment.
    pub async fn close(&self) {
        self.stopping.store(true, Ordering::Release);
        let (reply, done) = oneshot::channel();
        if self.commands.unbounded_send(Command::Close(reply)).is_ok() {
            let _ = done.await;
        }
    }

    fn hold(&self, id: RecordId) -> Hold {
        Hold {
            id,
            commands: self.commands.clone(),
            stopping: self.stopping.clone(),
        }
    }
}

/// Releases one record when dropped, unless its shard is stopping.
pub struct Hold {
    id: RecordId,
    commands: mpsc::UnboundedSender<Command>,
    stopping: Arc<AtomicBool>,
}

impl Drop for Hold {
    fn drop(&mut self) {
        if !self.stopping.load(Ordering::Acquire) {
            let _ = self.commands.unbounded_send(Command::Release(self.id));
        }
    }
}

/// The owner of a record's bytes: slices of it (the chunks built on the record) keep its
/// holds, so the record is released when the last slice is gone.
pub struct Held {
    /// The record.
    pub bytes: Bytes,
    /// One per queue the record was appended to.
    pub _holds: Vec<Hold>,
}

impl AsRef<[u8]> for Held {
    fn as_ref(&self) -> &[u8] {
        &self.bytes
    }
}

/// Most appends made durable by one sync: bounds how long the first of them waits.
const GROUP_MAX: usize = 256;

/// The writer: takes every command waiting, appends, syncs once per group (per policy),
/// answers, and repeats until closed.
async fn write_forever(
    mut log: ShardLog,
    mut inbox: mpsc::UnboundedReceiver<Command>,
    policy: FsyncPolicy,
    counters: Option<Arc<StorageCounters>>,
) {
    let mut appended = Vec::new();
    let mut closing = None;
    while let Some(first) = inbox.next().await {
        let mut next = Some(first);
        let mut sync = false;
        while let Some(command) = next.take() {
            match command {
                Command::Append { record, reply } => {
                    let id = log.append(&record).await;
                    appended.push((id, reply));
                }
                Command::Release(id) => {
                    if let Err(error) = log.release(id).await {
                        tracing::warn!(%error, "Durable queue: a delivered segment could not be deleted");
                    }
                }
                Command::Sync => sync = true,
                Command::Close(done) => {
                    closing = Some(done);
                    break;
                }
            }
            if appended.len() >= GROUP_MAX {
                break;
            }
            next = inbox.try_recv().ok();
        }
        if !appended.is_empty() {
            let written = match policy {
                FsyncPolicy::Always => log.commit().await,
                FsyncPolicy::Interval | FsyncPolicy::Never => log.flush().await,
            };
            let written = written.map_err(|e| describe(&e));
            for (id, reply) in appended.drain(..) {
                let answer = match (&written, id) {
                    (Ok(()), Ok(id)) => Ok(id),
                    (Err(e), _) => Err(e.clone()),
                    (_, Err(e)) => Err(describe(&e)),
                };
                let _ = reply.send(answer);
            }
        } else if sync {
            if let Err(error) = log.commit().await {
                tracing::warn!(%error, "Durable queue: periodic sync failed");
            }
        }
        publish(&log, counters.as_deref());
        if let Some(done) = closing.take() {
            if let Err(error) = log.close().await {
                tracing::warn!(%error, "Durable queue: closing the current segment failed");
            }
            let _ = done.send(());
            return;
        }
    }
}

/// A refusal's reason for the client and the log.
fn describe(error: &LogError) -> String {
    if error.is_disk_full() {
        format!("disk full: {error}")
    } else {
        error.to_string()
    }
}

fn publish(log: &ShardLog, counters: Option<&StorageCounters>) {
    if let Some(c) = counters {
        c.bytes.set(log.bytes_on_disk());
        c.segments.set(log.segments() as u64);
    }
}
