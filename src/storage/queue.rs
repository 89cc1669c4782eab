//! One exporter's durable queue on one shard: a writer task that owns the shard's
//! [`ShardLog`] and makes appended records durable in groups (every request waiting while a
//! sync runs rides the next one), and [`Hold`]s that release a record when the data read
//! from it is gone.
//!
//! Data taken while the shard has memory room stays in memory as well and is delivered from
//! there; the log is what a restart replays. Data taken when memory is full is *spilled*: on
//! disk only, in the queue's backlog, read back in order when room frees up (as is what a
//! restart finds on disk). A record is released when the last slice of the data built on it
//! is dropped (delivered, given up on and counted, or dropped by an exporter's full queue
//! and counted), except while the shard stops: what is still held then stays on disk for
//! the next start.

use std::cell::Cell;
use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use futures_channel::{mpsc, oneshot};
use futures_lite::StreamExt;
use shardgate_io::segment_file::WriteMode;
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

/// A backlog record read back: its id and payload, or why it could not be read.
type ReadBack = Result<(RecordId, Vec<u8>), String>;

/// One append of a group: where it went (or why not), whether it spills, whom to answer.
type Pending = (
    Result<RecordId, LogError>,
    bool,
    oneshot::Sender<Result<RecordId, String>>,
);

/// What the writer is asked. The channel is futures' mpsc, not a shard-local one, only
/// because a [`Hold`] lives inside `Bytes::from_owner`, which requires `Send`: every command
/// is still sent and received on the shard that owns the queue.
enum Command {
    Append {
        /// The record's payload, in parts written back to back.
        record: Vec<Bytes>,
        /// On disk only: the record joins the backlog instead of being held in memory.
        spill: bool,
        reply: oneshot::Sender<Result<RecordId, String>>,
    },
    Release(RecordId),
    Sync,
    /// The oldest record of the backlog, read back; `wait`: until there is one.
    Next {
        wait: bool,
        reply: oneshot::Sender<Option<ReadBack>>,
    },
    Close(oneshot::Sender<()>),
}

/// One exporter's durable queue on one shard.
pub struct DurableQueue {
    exporter: ComponentId,
    commands: mpsc::UnboundedSender<Command>,
    stopping: Arc<AtomicBool>,
    counters: Option<Arc<StorageCounters>>,
    /// Records on disk only, not yet read back (spilled, or found at start).
    backlog: Rc<Cell<usize>>,
}

impl DurableQueue {
    /// Opens `dir` (and the `adopted` directories of shards that no longer run) and starts
    /// the writer task. What the segments hold becomes the backlog, oldest first, read back
    /// with [`DurableQueue::next`]. Cut tails are logged and counted.
    pub async fn open(
        exporter: &ComponentId,
        dir: &Path,
        adopted: &[PathBuf],
        config: &FileStorageConfig,
        counters: Option<Arc<StorageCounters>>,
    ) -> Result<Rc<DurableQueue>, StorageError> {
        let limits = LogLimits {
            segment_bytes: config.segment_size,
            max_bytes: match config.max_size {
                0 => u64::MAX,
                max => max,
            },
            // `always` answers after a sync, which direct writes make cheap; `interval` and
            // `never` promise only that the kernel has the data (it survives kill -9), which
            // the page cache gives without a device write per request.
            mode: match config.fsync_policy {
                FsyncPolicy::Always => WriteMode::Direct,
                FsyncPolicy::Interval | FsyncPolicy::Never => WriteMode::Cached,
            },
            sync_closed: config.fsync_policy != FsyncPolicy::Never,
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
        let backlog = Rc::new(Cell::new(replayed.len()));
        let queue = Rc::new(DurableQueue {
            exporter: exporter.clone(),
            commands,
            stopping: Arc::new(AtomicBool::new(false)),
            counters: counters.clone(),
            backlog: backlog.clone(),
        });
        publish(&log, counters.as_deref());
        let writer = Writer {
            log,
            policy: config.fsync_policy,
            counters,
            backlog: replayed.into_iter().collect(),
            backlog_len: backlog,
            parked: None,
            syncing: Rc::new(Cell::new(false)),
        };
        task::spawn_local(writer.run(inbox)).detach();
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
        Ok(queue)
    }

    /// Appends `record` and waits until the fsync policy's promise holds for it (durable
    /// with `always`, written to the device otherwise). A refusal is counted.
    pub async fn append(&self, record: Vec<Bytes>) -> Result<Hold, StorageError> {
        let id = self.write(record, false).await?;
        Ok(self.hold(id))
    }

    /// Appends `record` to the backlog, on disk only (memory is full), with the same
    /// promise as [`DurableQueue::append`].
    pub async fn spill(&self, record: Vec<Bytes>) -> Result<(), StorageError> {
        // Counted at once, so that requests behind this one spill too and the backlog
        // keeps its order.
        self.backlog.set(self.backlog.get() + 1);
        let written = self.write(record, true).await;
        if written.is_err() {
            self.backlog.set(self.backlog.get().saturating_sub(1));
        }
        written.map(|_| ())
    }

    /// Whether records wait on disk only (new data then spills too, behind them).
    pub fn has_backlog(&self) -> bool {
        self.backlog.get() > 0
    }

    /// The oldest backlog record, read back, with the hold that releases it once its data
    /// is gone; `None` when the backlog is empty and `wait` is false, or the queue closed.
    /// A record that cannot be read back is logged and skipped.
    pub async fn next(&self, wait: bool) -> Option<Bytes> {
        loop {
            let (reply, answer) = oneshot::channel();
            self.commands
                .unbounded_send(Command::Next { wait, reply })
                .ok()?;
            match answer.await.ok()?? {
                Ok((id, payload)) => {
                    return Some(Bytes::from_owner(Held {
                        bytes: Bytes::from(payload),
                        _holds: Arc::from([self.hold(id)]),
                    }))
                }
                Err(error) => tracing::error!(
                    exporter = %self.exporter,
                    %error,
                    "Durable queue: a record could not be read back; it is lost"
                ),
            }
        }
    }

    async fn write(&self, record: Vec<Bytes>, spill: bool) -> Result<RecordId, StorageError> {
        let (reply, answer) = oneshot::channel();
        let sent = self.commands.unbounded_send(Command::Append {
            record,
            spill,
            reply,
        });
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
            Some(Ok(id)) => Ok(id),
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

/// The owner of a record's bytes, or of one chunk of a record: slices of it keep its holds,
/// shared by every chunk of the record, so the record is released when the last slice of
/// the last chunk is gone.
pub struct Held {
    /// The record, or one chunk of it.
    pub bytes: Bytes,
    /// One per queue the record was appended to.
    pub _holds: Arc<[Hold]>,
}

impl AsRef<[u8]> for Held {
    fn as_ref(&self) -> &[u8] {
        &self.bytes
    }
}

/// Most appends made durable by one sync: bounds how long the first of them waits.
const GROUP_MAX: usize = 256;

/// The task that owns the log: appends, syncs, releases, reads the backlog back.
struct Writer {
    log: ShardLog,
    policy: FsyncPolicy,
    counters: Option<Arc<StorageCounters>>,
    /// Records on disk only, oldest first.
    backlog: VecDeque<RecordId>,
    /// Shared with the queue: spilled records announced plus `backlog`, minus those read.
    backlog_len: Rc<Cell<usize>>,
    /// A reader waiting for the backlog to have a record.
    parked: Option<oneshot::Sender<Option<ReadBack>>>,
    /// The interval's last sync is still running (in its own task).
    syncing: Rc<Cell<bool>>,
}

impl Writer {
    /// Takes every command waiting, appends, syncs once per group (per policy), answers,
    /// and repeats until closed.
    async fn run(mut self, mut inbox: mpsc::UnboundedReceiver<Command>) {
        let mut appended = Vec::new();
        let mut closing = None;
        while let Some(first) = inbox.next().await {
            let mut next = Some(first);
            let mut sync = false;
            while let Some(command) = next.take() {
                match command {
                    Command::Append {
                        record,
                        spill,
                        reply,
                    } => {
                        let id = self.log.append(&record).await;
                        appended.push((id, spill, reply));
                    }
                    Command::Release(id) => {
                        if let Err(error) = self.log.release(id).await {
                            tracing::warn!(%error, "Durable queue: a delivered segment could not be deleted");
                        }
                    }
                    Command::Sync => sync = true,
                    Command::Next { wait, reply } => {
                        if self.backlog.is_empty() && wait {
                            self.parked = Some(reply);
                        } else {
                            let record = self.read_next().await;
                            let _ = reply.send(record);
                        }
                    }
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
                self.finish_group(&mut appended, sync).await;
            } else if sync {
                if let Err(error) = self.sync_in_background().await {
                    tracing::warn!(%error, "Durable queue: periodic sync failed");
                }
            }
            if !self.backlog.is_empty() {
                if let Some(reply) = self.parked.take() {
                    let record = self.read_next().await;
                    let _ = reply.send(record);
                }
            }
            publish(&self.log, self.counters.as_deref());
            if let Some(done) = closing.take() {
                if let Err(error) = self.log.close().await {
                    tracing::warn!(%error, "Durable queue: closing the current segment failed");
                }
                let _ = done.send(());
                return;
            }
        }
    }

    /// Makes a group of appends keep the policy's promise and answers each; `sync`: the
    /// interval's sync is due too (it is not skipped for a group that has appends).
    async fn finish_group(&mut self, appended: &mut Vec<Pending>, sync: bool) {
        let written = match self.policy {
            FsyncPolicy::Always => self.log.commit().await,
            FsyncPolicy::Interval if sync => self.sync_in_background().await,
            FsyncPolicy::Interval | FsyncPolicy::Never => self.log.flush().await,
        };
        let written = written.map_err(|e| describe(&e));
        for (id, spill, reply) in appended.drain(..) {
            let answer = match (&written, id) {
                (Ok(()), Ok(id)) => Ok(id),
                (Err(e), _) => Err(e.clone()),
                (_, Err(e)) => Err(describe(&e)),
            };
            if let (true, Ok(id)) = (spill, &answer) {
                self.backlog.push_back(*id);
            }
            let _ = reply.send(answer);
        }
    }

    /// Flushes, and starts the interval's sync in its own task, so that appends (which need
    /// only the page cache) do not wait the milliseconds a sync takes: measured, that wait
    /// was most of what `interval` added to the client p99. While the last sync still runs
    /// this one is skipped, and its records ride the next: syncs never queue up behind a
    /// slow disk.
    async fn sync_in_background(&mut self) -> Result<(), LogError> {
        if self.syncing.get() {
            return self.log.flush().await;
        }
        let pending = self.log.flush_for_sync().await?;
        if !pending.is_empty() {
            self.syncing.set(true);
            let syncing = self.syncing.clone();
            task::spawn_local(async move {
                pending.run().await;
                syncing.set(false);
            })
            .detach();
        }
        Ok(())
    }

    /// Pops and reads the oldest backlog record (`None` when there is none).
    async fn read_next(&mut self) -> Option<ReadBack> {
        let id = self.backlog.pop_front()?;
        self.backlog_len
            .set(self.backlog_len.get().saturating_sub(1));
        Some(
            self.log
                .read(id)
                .await
                .map(|p| (id, p))
                .map_err(|e| describe(&e)),
        )
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
