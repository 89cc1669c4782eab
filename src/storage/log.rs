//! One shard's durable log for one exporter: records appended to numbered segment files,
//! made durable by group commit, replayed after a restart, and a segment deleted once every
//! record in it is released (delivered, or given up on and counted). In page-cache mode a
//! delivered segment's file is kept as a spare instead, and the next segment written over
//! it; an end marker after each flush's last record tells replay where the new records end.
//!
//! Delivery state is not written per record: a segment goes when all of it is released.
//! So after a crash, the records of a segment that was partly delivered are replayed
//! again: the at-least-once window is what was delivered from segments still on disk, at
//! most one `segment_bytes` per segment not yet fully delivered.
//!
//! The log is shard-local and has one owner (`&mut self`); nothing here is shared.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use shardgate_io::segment_file::{self, SegmentError, SegmentReader, SegmentWriter, WriteMode};

use super::record::{self, End, RecordError};

/// Why the log could not take or keep a record.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// `max_size` is reached: the record is refused (retryably, by the caller).
    #[error("the queue's files hold {held} bytes of {max}: full")]
    Full {
        /// Bytes on disk now.
        held: u64,
        /// The cap.
        max: u64,
    },
    /// A segment file could not be written, read or removed (the disk may be full).
    #[error("{0}")]
    Segment(#[from] SegmentError),
    /// The record is larger than a record may be.
    #[error("{0}")]
    Record(#[from] RecordError),
    /// The record's segment was deleted (everything in it was released).
    #[error("record {seq} is no longer on disk")]
    Gone {
        /// The record's number.
        seq: u64,
    },
    /// A record read back does not check out (the disk changed under us).
    #[error("{}: the record at offset {offset} is unreadable ({end:?})", path.display())]
    Unreadable {
        /// The segment.
        path: PathBuf,
        /// Where the record starts.
        offset: u64,
        /// What the scan found.
        end: End,
    },
    /// The directory could not be created or listed.
    #[error("{path}: {source}")]
    Dir {
        /// The directory.
        path: PathBuf,
        /// The system's reason.
        source: std::io::Error,
    },
}

impl LogError {
    /// Whether the disk (not the configured cap) is what is full.
    pub fn is_disk_full(&self) -> bool {
        matches!(self, LogError::Segment(e) if e.is_disk_full())
    }
}

/// Sizes the log keeps to, and how it writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogLimits {
    /// A segment is closed and a new one started once it holds this many bytes (checked
    /// after each flush, so the last group written may take it past).
    pub segment_bytes: u64,
    /// Most bytes all this log's segment files may hold.
    pub max_bytes: u64,
    /// How segments are written: direct I/O, or through the page cache.
    pub mode: WriteMode,
    /// Whether a segment closed full is synced: when it is closed (direct I/O), or at the
    /// next [`ShardLog::commit`] unless it was delivered and deleted by then (page cache).
    pub sync_closed: bool,
}

/// Where a record lives, to read it back and to release it once delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct RecordId {
    segment: usize,
    /// The record's number.
    pub seq: u64,
    /// Where its header starts in the segment file.
    offset: u64,
    /// Header and payload bytes.
    len: u32,
}

/// One segment's sync, run apart from the writer.
type SegmentSync = std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), SegmentError>>>>;

/// Syncs a [`ShardLog::flush_for_sync`] left to run apart from the log's writer.
#[derive(Default)]
#[must_use = "the syncs only happen when run"]
pub struct PendingSync {
    /// The log's directory, when segments were created or renamed in it since its last sync.
    dir: Option<PathBuf>,
    current: Option<SegmentSync>,
    closed: Vec<SegmentWriter>,
}

impl PendingSync {
    /// Whether there is nothing to sync.
    pub fn is_empty(&self) -> bool {
        self.dir.is_none() && self.current.is_none() && self.closed.is_empty()
    }

    /// Runs the syncs; a failure is logged (the records were answered already, and new
    /// ones go on to the page cache; the next interval syncs again).
    pub async fn run(self) {
        if let Some(dir) = self.dir {
            if let Err(error) = segment_file::sync_dir(&dir).await {
                tracing::warn!(%error, "Durable queue: syncing the segments' directory failed");
            }
        }
        for writer in self.closed {
            let path = writer.path().to_owned();
            if let Err(error) = writer.close(true).await {
                tracing::warn!(segment = %path.display(), %error, "Durable queue: syncing a full segment failed");
            }
        }
        if let Some(sync) = self.current {
            if let Err(error) = sync.await {
                tracing::warn!(%error, "Durable queue: periodic sync failed");
            }
        }
    }
}

/// A segment whose tail was cut on replay: where, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cut {
    /// The segment file.
    pub path: PathBuf,
    /// How its valid data ended.
    pub end: End,
    /// Bytes after the valid prefix, never replayed.
    pub dropped_bytes: u64,
}

#[derive(Debug)]
struct Segment {
    path: PathBuf,
    bytes: u64,
    records: u64,
    released: u64,
    /// No record will be added (an old segment, or one rolled over).
    sealed: bool,
}

/// One shard's durable log for one exporter.
pub struct ShardLog {
    dir: PathBuf,
    limits: LogLimits,
    segments: BTreeMap<usize, Segment>,
    /// Key of the next segment in `segments` (replayed or new).
    next_key: usize,
    /// Number in the name of the next segment file in `dir`.
    next_file: usize,
    next_seq: u64,
    writer: Option<(usize, SegmentWriter)>,
    bytes_on_disk: u64,
    /// The segment read from last, kept open for the next read.
    reader: Option<(usize, SegmentReader)>,
    /// Records of the current segment appended since its last flush.
    unflushed: u64,
    /// Segments closed full in the page cache, not synced yet (see `LogLimits::sync_closed`).
    unsynced: Vec<(usize, SegmentWriter)>,
    /// Delivered segment files kept to be written over (page-cache mode), with their sizes.
    spares: Vec<(PathBuf, u64)>,
    /// Number in the name of the next spare file.
    next_spare: usize,
    /// Bytes the spares hold (they count toward `max_bytes`).
    spare_bytes: u64,
    /// Page-cache segments were created or renamed in `dir` since its last sync.
    dir_unsynced: bool,
}

const SEGMENT_PREFIX: &str = "segment-";
const SPARE_PREFIX: &str = "spare-";

/// Most delivered segment files kept for reuse: with a healthy backend two or three segments
/// are on disk at once, so two spares make nearly every new segment a reused one.
const SPARES_MAX: usize = 2;

impl ShardLog {
    /// Opens the log in `dir` (created), scanning the segments found there and in
    /// `adopted` (directories of shards that no longer run), oldest first. Returns the
    /// records to deliver again (read each with [`ShardLog::read`]) and which segment tails
    /// were cut.
    pub async fn open(
        dir: &Path,
        adopted: &[PathBuf],
        limits: LogLimits,
    ) -> Result<(ShardLog, Vec<RecordId>, Vec<Cut>), LogError> {
        std::fs::create_dir_all(dir).map_err(|source| LogError::Dir {
            path: dir.to_owned(),
            source,
        })?;
        let mut files = Vec::new();
        let mut dirs: Vec<&Path> = vec![dir];
        dirs.extend(adopted.iter().map(PathBuf::as_path).filter(|d| *d != dir));
        for d in dirs {
            // Spares of an earlier run go: their old records may be numbered above this
            // run's, and only a spare whose records are older than every new one is safe to
            // write over (see `record`'s end marker and stale records).
            for (_, _, spare) in numbered_files(d, SPARE_PREFIX)? {
                let _ = segment_file::remove_segment(&spare).await;
            }
            files.extend(numbered_files(d, SEGMENT_PREFIX)?);
        }
        let mut log = ShardLog {
            dir: dir.to_owned(),
            limits,
            segments: BTreeMap::new(),
            next_key: 0,
            next_file: 0,
            next_seq: 0,
            writer: None,
            bytes_on_disk: 0,
            reader: None,
            unflushed: 0,
            unsynced: Vec::new(),
            spares: Vec::new(),
            next_spare: 0,
            spare_bytes: 0,
            dir_unsynced: false,
        };
        // New segments are numbered after every one found here, so names never collide.
        log.next_file = files
            .iter()
            .filter(|(d, _, _)| d == dir)
            .map(|(_, n, _)| n + 1)
            .max()
            .unwrap_or(0);
        let mut replayed = Vec::new();
        let mut cuts = Vec::new();
        for (_, _, path) in files {
            let bytes = segment_file::read_segment(&path).await?;
            let scan = record::scan(&bytes, None);
            let valid = scan.valid_bytes() as u64;
            if scan.end != End::Clean {
                cuts.push(Cut {
                    path: path.clone(),
                    end: scan.end,
                    dropped_bytes: bytes.len() as u64 - valid,
                });
            }
            let key = log.next_key;
            log.next_key += 1;
            let records = scan.records.len() as u64;
            for r in &scan.records {
                log.next_seq = log.next_seq.max(r.seq.saturating_add(1));
                replayed.push(RecordId {
                    segment: key,
                    seq: r.seq,
                    offset: r.offset as u64,
                    len: (record::HEADER_BYTES + r.payload.len()) as u32,
                });
            }
            let on_disk = bytes.len() as u64;
            log.bytes_on_disk += on_disk;
            log.segments.insert(
                key,
                Segment {
                    path,
                    bytes: on_disk,
                    records,
                    released: 0,
                    sealed: true,
                },
            );
            if records == 0 {
                log.remove(key, false).await?;
            }
        }
        Ok((log, replayed, cuts))
    }

    /// Bytes all segment files hold now (what `max_size` bounds).
    pub fn bytes_on_disk(&self) -> u64 {
        self.bytes_on_disk
    }

    /// Segment files on disk now.
    pub fn segments(&self) -> usize {
        self.segments.len()
    }

    /// Appends the record whose payload is `parts` back to back; it is written by the next
    /// [`ShardLog::flush`] and durable once [`ShardLog::commit`] returns.
    pub async fn append(&mut self, parts: &[Bytes]) -> Result<RecordId, LogError> {
        let slices: Vec<&[u8]> = parts.iter().map(|p| &p[..]).collect();
        let header = record::header(self.next_seq, &slices)?;
        let size = (header.len() + slices.iter().map(|p| p.len()).sum::<usize>()) as u64;
        if self.held_bytes().saturating_add(size) > self.limits.max_bytes {
            // Spares count toward `max_size` but never refuse a record.
            self.drop_spares().await;
        }
        if self.bytes_on_disk.saturating_add(size) > self.limits.max_bytes {
            return Err(LogError::Full {
                held: self.bytes_on_disk,
                max: self.limits.max_bytes,
            });
        }
        let (key, mut writer) = match self.writer.take() {
            Some(current) => current,
            None => self.start_segment().await?,
        };
        let offset = writer.appended_bytes();
        // The payload is not copied here: the writer copies it once, into its write buffer.
        writer.append(Bytes::copy_from_slice(&header));
        parts.iter().for_each(|p| writer.append(p.clone()));
        self.writer = Some((key, writer));
        self.unflushed += 1;
        let id = RecordId {
            segment: key,
            seq: self.next_seq,
            offset,
            len: size as u32,
        };
        self.next_seq += 1;
        self.bytes_on_disk += size;
        if let Some(segment) = self.segments.get_mut(&key) {
            segment.bytes += size;
            segment.records += 1;
        }
        Ok(id)
    }

    /// Writes and makes durable every record appended so far (one fdatasync for all).
    pub async fn commit(&mut self) -> Result<(), LogError> {
        self.sync_closed().await;
        self.sync_dir().await?;
        self.write_out(true).await
    }

    /// Syncs the directory when page-cache segments were created in it since its last sync.
    async fn sync_dir(&mut self) -> Result<(), LogError> {
        if std::mem::take(&mut self.dir_unsynced) {
            segment_file::sync_dir(&self.dir).await?;
        }
        Ok(())
    }

    /// Writes every record appended so far, and returns the syncs that make all of it
    /// durable (the current segment's, and those of segments closed full since the last),
    /// to be run apart from the writer: in page-cache mode appends need not wait for a sync.
    /// With direct I/O this is [`ShardLog::commit`], and nothing is left to run.
    pub async fn flush_for_sync(&mut self) -> Result<PendingSync, LogError> {
        if self.limits.mode == WriteMode::Direct {
            self.commit().await?;
            return Ok(PendingSync::default());
        }
        self.write_out(false).await?;
        let mut pending = PendingSync {
            dir: std::mem::take(&mut self.dir_unsynced).then(|| self.dir.clone()),
            closed: self.take_unsynced(),
            current: None,
        };
        if let Some((_, writer)) = &mut self.writer {
            pending.current = writer.sync_later().map(|sync| Box::pin(sync) as _);
        }
        Ok(pending)
    }

    /// Syncs and closes the segments closed full since the last commit; one delivered and
    /// deleted meanwhile is only closed (its pages are gone with it, never written). A
    /// failure is logged: those records were answered already, and new ones go elsewhere.
    async fn sync_closed(&mut self) {
        let closed = self.take_unsynced();
        PendingSync {
            closed,
            ..PendingSync::default()
        }
        .run()
        .await;
    }

    /// The segments closed full and not synced yet that are still on disk; those delivered
    /// and deleted meanwhile are closed (dropped) here, their pages gone with them.
    fn take_unsynced(&mut self) -> Vec<SegmentWriter> {
        std::mem::take(&mut self.unsynced)
            .into_iter()
            .filter(|(key, _)| self.segments.contains_key(key))
            .map(|(_, writer)| writer)
            .collect()
    }

    /// Reads record `id`'s payload back (written and flushed or committed before), checking
    /// its checksum again.
    pub async fn read(&mut self, id: RecordId) -> Result<Vec<u8>, LogError> {
        let Some(path) = self.segments.get(&id.segment).map(|s| s.path.clone()) else {
            return Err(LogError::Gone { seq: id.seq });
        };
        if self
            .reader
            .as_ref()
            .is_none_or(|(key, _)| *key != id.segment)
        {
            if let Some((_, old)) = self.reader.take() {
                old.close().await;
            }
            self.reader = Some((id.segment, SegmentReader::open(&path).await?));
        }
        let Some((_, reader)) = &self.reader else {
            return Err(LogError::Gone { seq: id.seq });
        };
        let bytes = reader.read(id.offset, id.len as usize).await?;
        let scan = record::scan(&bytes, Some(id.seq));
        match scan.records.first() {
            Some(r) if scan.records.len() == 1 => Ok(r.payload.to_vec()),
            _ => Err(LogError::Unreadable {
                path,
                offset: id.offset,
                end: scan.end,
            }),
        }
    }

    /// Writes every record appended so far to the device without a sync (they survive the
    /// process, not a power loss).
    pub async fn flush(&mut self) -> Result<(), LogError> {
        self.write_out(false).await
    }

    /// Flushes (and with `sync`, commits) the current segment. When that fails the segment
    /// is sealed where its last good flush ended, without the records the failure lost (their
    /// appends are refused by the caller), so the next append starts a new segment.
    async fn write_out(&mut self, sync: bool) -> Result<(), LogError> {
        let Some((key, writer)) = &mut self.writer else {
            return Ok(());
        };
        writer.set_end_marker(&record::end_marker(self.next_seq));
        let done = match sync {
            true => writer.commit().await,
            false => writer.flush().await,
        };
        let Err(error) = done else {
            self.unflushed = 0;
            // Rolled over only here, with nothing pending: what closing the file does after
            // this (truncate, sync) cannot lose a record whose append was answered.
            if writer.appended_bytes() >= self.limits.segment_bytes {
                if let Err(error) = self.seal_current().await {
                    tracing::warn!(%error, "Durable queue: closing a full segment failed");
                }
            }
            return Ok(());
        };
        let key = *key;
        let lost_bytes = writer.appended_bytes() - writer.flushed_bytes();
        if let Some((_, writer)) = self.writer.take() {
            writer.abandon().await;
        }
        let lost = std::mem::take(&mut self.unflushed);
        self.bytes_on_disk = self.bytes_on_disk.saturating_sub(lost_bytes);
        let done = self.segments.get_mut(&key).is_some_and(|s| {
            s.records = s.records.saturating_sub(lost);
            s.bytes = s.bytes.saturating_sub(lost_bytes);
            s.sealed = true;
            s.released >= s.records
        });
        if done {
            self.remove(key, false).await?;
        }
        Err(error.into())
    }

    /// Marks record `id` delivered; its segment is deleted once all of it is.
    pub async fn release(&mut self, id: RecordId) -> Result<(), LogError> {
        let Some(segment) = self.segments.get_mut(&id.segment) else {
            return Ok(());
        };
        segment.released += 1;
        if segment.sealed && segment.released >= segment.records {
            self.remove(id.segment, true).await?;
        }
        Ok(())
    }

    async fn start_segment(&mut self) -> Result<(usize, SegmentWriter), LogError> {
        let key = self.next_key;
        let path = self
            .dir
            .join(format!("{SEGMENT_PREFIX}{:020}", self.next_file));
        self.next_file += 1;
        let writer = match self.spares.pop() {
            Some((spare, size)) => {
                self.spare_bytes = self.spare_bytes.saturating_sub(size);
                let marker = record::end_marker(self.next_seq);
                match SegmentWriter::recycle(&spare, &path, &marker).await {
                    Ok(writer) => writer,
                    Err(error) => {
                        tracing::warn!(%error, "Durable queue: reusing a spare segment failed; creating one");
                        // It failed before or after its rename: neither name holds a record.
                        let _ = segment_file::remove_segment(&spare).await;
                        let _ = segment_file::remove_segment(&path).await;
                        SegmentWriter::create(&path, self.limits.mode).await?
                    }
                }
            }
            None => SegmentWriter::create(&path, self.limits.mode).await?,
        };
        // A page-cache segment's name is made durable by the next sync, with its data.
        self.dir_unsynced |= self.limits.mode == WriteMode::Cached;
        self.next_key += 1;
        self.segments.insert(
            key,
            Segment {
                path,
                bytes: 0,
                records: 0,
                released: 0,
                sealed: false,
            },
        );
        Ok((key, writer))
    }

    async fn seal_current(&mut self) -> Result<(), LogError> {
        let Some((key, writer)) = self.writer.take() else {
            return Ok(());
        };
        match (self.limits.mode, self.limits.sync_closed) {
            (WriteMode::Cached, true) => {
                let mut writer = writer;
                writer.flush().await?;
                self.unsynced.push((key, writer));
            }
            _ => writer.close(self.limits.sync_closed).await?,
        }
        let done = self.segments.get_mut(&key).is_some_and(|s| {
            s.sealed = true;
            s.released >= s.records
        });
        if done {
            self.remove(key, true).await?;
        }
        Ok(())
    }

    /// Bytes the log's files hold: its records' and its spares'.
    fn held_bytes(&self) -> u64 {
        self.bytes_on_disk.saturating_add(self.spare_bytes)
    }

    async fn drop_spares(&mut self) {
        for (spare, _) in std::mem::take(&mut self.spares) {
            if let Err(error) = segment_file::remove_segment(&spare).await {
                tracing::warn!(%error, "Durable queue: a spare segment could not be deleted");
            }
        }
        self.spare_bytes = 0;
    }

    /// Deletes segment `key` (all of it released, or empty), or with `recycle` keeps its file
    /// as a spare to write the next segment over, when that is worth it and fits the cap.
    async fn remove(&mut self, key: usize, recycle: bool) -> Result<(), LogError> {
        let Some(segment) = self.segments.remove(&key) else {
            return Ok(());
        };
        self.bytes_on_disk = self.bytes_on_disk.saturating_sub(segment.bytes);
        if self.reader.as_ref().is_some_and(|(k, _)| *k == key) {
            if let Some((_, reader)) = self.reader.take() {
                reader.close().await;
            }
        }
        let keep = recycle
            && self.limits.mode == WriteMode::Cached
            && self.spares.len() < SPARES_MAX
            && segment.sealed
            && segment.path.parent() == Some(self.dir.as_path())
            && self.held_bytes().saturating_add(segment.bytes) <= self.limits.max_bytes;
        if keep {
            let spare = self
                .dir
                .join(format!("{SPARE_PREFIX}{:020}", self.next_spare));
            self.next_spare += 1;
            match segment_file::rename_segment(&segment.path, &spare).await {
                Ok(()) => {
                    self.spares.push((spare, segment.bytes));
                    self.spare_bytes += segment.bytes;
                    return Ok(());
                }
                Err(error) => {
                    tracing::warn!(%error, "Durable queue: keeping a delivered segment as a spare failed; deleting it");
                }
            }
        }
        segment_file::remove_segment(&segment.path).await?;
        // An adopted shard's directory goes once its last segment has.
        if let Some(parent) = segment.path.parent() {
            if parent != self.dir {
                let _ = std::fs::remove_dir(parent);
            }
        }
        Ok(())
    }

    /// Commits and closes the current segment (a clean stop); spares are deleted.
    pub async fn close(mut self) -> Result<(), LogError> {
        self.seal_current().await?;
        self.sync_closed().await;
        if self.limits.sync_closed {
            self.sync_dir().await?;
        }
        self.drop_spares().await;
        Ok(())
    }
}

/// The files of `dir` named `prefix` and a number, as (dir, number, path), in number order.
fn numbered_files(dir: &Path, prefix: &str) -> Result<Vec<(PathBuf, usize, PathBuf)>, LogError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(LogError::Dir {
                path: dir.to_owned(),
                source,
            })
        }
    };
    let mut found: Vec<(PathBuf, usize, PathBuf)> = entries
        .filter_map(Result::ok)
        .filter_map(|e| {
            let name = e.file_name();
            let n = name.to_str()?.strip_prefix(prefix)?.parse().ok()?;
            Some((dir.to_owned(), n, e.path()))
        })
        .collect();
    found.sort_by_key(|(_, n, _)| *n);
    Ok(found)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn run<T>(future: impl std::future::Future<Output = T>) -> T {
        shardgate_shards::run_local(None, future).unwrap()
    }

    fn root(name: &str) -> PathBuf {
        let root =
            std::env::temp_dir().join(format!("shardgate-log-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        root
    }

    const SMALL: LogLimits = LogLimits {
        segment_bytes: 1000,
        max_bytes: 1 << 20,
        mode: WriteMode::Direct,
        sync_closed: true,
    };

    fn payload(i: u64) -> Bytes {
        Bytes::from(format!("request {i} ").repeat(10).into_bytes())
    }

    /// Scenario: 50 records flushed in groups of 5 over several segments, committed, then
    /// the process "dies" (the log is dropped without close), in either write mode.
    /// Guarantee: a reopen replays all 50, in order, intact; releasing them all deletes every
    /// segment they were in.
    #[test]
    fn committed_records_replay_after_a_crash_and_released_segments_go() {
        replay_after_a_crash(SMALL, "crash");
        let cached = LogLimits {
            mode: WriteMode::Cached,
            ..SMALL
        };
        replay_after_a_crash(cached, "crash-cached");
    }

    fn replay_after_a_crash(limits: LogLimits, name: &str) {
        let dir = root(name).join("shard-0");
        run(async {
            let (mut log, replayed, _) = ShardLog::open(&dir, &[], limits).await.unwrap();
            assert!(replayed.is_empty());
            // Groups of 5, as the queue's writer flushes them: segments roll over between.
            for i in 0..50 {
                // Odd records in two parts: the log writes them back to back as one payload.
                let p = payload(i);
                match i % 2 {
                    0 => log.append(&[p]).await.unwrap(),
                    _ => log.append(&[p.slice(..7), p.slice(7..)]).await.unwrap(),
                };
                if i % 5 == 4 {
                    log.flush().await.unwrap();
                }
            }
            log.commit().await.unwrap();
            assert!(log.segments() > 3, "{} segments", log.segments());
            drop(log);
            let (mut log, replayed, cuts) = ShardLog::open(&dir, &[], limits).await.unwrap();
            assert!(cuts.is_empty(), "{cuts:?}");
            let mut got: Vec<Vec<u8>> = Vec::new();
            for r in &replayed {
                got.push(log.read(*r).await.unwrap());
            }
            let want: Vec<Vec<u8>> = (0..50).map(|i| payload(i).to_vec()).collect();
            assert_eq!(got, want);
            let segments = log.segments();
            for r in replayed {
                log.release(r).await.unwrap();
            }
            assert_eq!(
                log.segments(),
                0,
                "all {segments} replayed segments deleted"
            );
            assert_eq!(log.bytes_on_disk(), 0);
            // New records go to a new segment, numbered after the old ones.
            let id = log.append(&[Bytes::from_static(b"after")]).await.unwrap();
            assert_eq!(id.seq, 50);
            log.close().await.unwrap();
        });
        let _ = std::fs::remove_dir_all(dir.parent().unwrap());
    }

    /// Scenario: page-cache mode; segments delivered as they fill, so later segments are
    /// written over the files of delivered ones (long records first, then short ones, so
    /// older whole records and pieces of them follow the new data), then a crash (the log
    /// dropped without close). Guarantee: the files are reused (a handful of inodes for
    /// dozens of segments); a reopen replays the records not delivered, in order, after
    /// only the delivered ones of their segments, reports no cut tail, and leaves no spare.
    #[test]
    fn recycled_segment_files_replay_only_their_new_records() {
        // Sizes vary, so the old records of a reused file are not aligned with the new.
        let late = |i: u64| format!("late {i} {}", "-".repeat(i as usize % 7));
        use std::os::unix::fs::MetadataExt;
        let dir = root("recycle").join("shard-0");
        let limits = LogLimits {
            mode: WriteMode::Cached,
            ..SMALL
        };
        let names = |dir: &Path| -> Vec<(String, u64)> {
            std::fs::read_dir(dir)
                .unwrap()
                .map(|e| {
                    let e = e.unwrap();
                    let name = e.file_name().to_string_lossy().into_owned();
                    (name, e.metadata().unwrap().ino())
                })
                .collect()
        };
        let (kept, inodes, segments) = run(async {
            let (mut log, _, _) = ShardLog::open(&dir, &[], limits).await.unwrap();
            let mut inodes = std::collections::BTreeSet::new();
            let mut segments = std::collections::BTreeSet::new();
            let mut kept = Vec::new();
            for i in 0..200u64 {
                let p = match i < 100 {
                    true => payload(i),
                    false => Bytes::from(late(i)),
                };
                let id = log.append(std::slice::from_ref(&p)).await.unwrap();
                log.flush().await.unwrap();
                if i < 190 {
                    log.release(id).await.unwrap();
                } else {
                    kept.push(p.to_vec());
                }
                for (name, ino) in names(&dir) {
                    inodes.insert(ino);
                    segments.insert(name);
                }
            }
            log.commit().await.unwrap();
            (kept, inodes, segments)
        });
        let made = segments
            .iter()
            .filter(|n| n.starts_with("segment-"))
            .count();
        assert!(made >= 10, "{made} segments");
        assert!(
            inodes.len() <= 4,
            "{} files for {made} segments",
            inodes.len()
        );
        run(async {
            let (mut log, replayed, cuts) = ShardLog::open(&dir, &[], limits).await.unwrap();
            assert!(cuts.is_empty(), "{cuts:?}");
            let mut got = Vec::new();
            for r in &replayed {
                got.push(log.read(*r).await.unwrap());
            }
            // The undelivered records, after the delivered ones of their segments (the
            // at-least-once window): a run of the last records written, nothing stale.
            assert!(got.ends_with(&kept), "{} replayed", got.len());
            let want: Vec<Vec<u8>> = (200 - got.len() as u64..200)
                .map(|i| late(i).into_bytes())
                .collect();
            assert_eq!(got, want);
        });
        assert!(names(&dir).iter().all(|(n, _)| !n.starts_with("spare-")));
        let _ = std::fs::remove_dir_all(dir.parent().unwrap());
    }

    /// Scenario: page-cache mode; a delivered segment is kept as a spare, and the spare file
    /// is then deleted behind the log's back. Guarantee: the next segment is created new
    /// (a warning, no refused record), and every record appended replays.
    #[test]
    fn a_spare_gone_from_disk_is_replaced_by_a_new_segment() {
        let dir = root("spare-gone").join("shard-0");
        let limits = LogLimits {
            mode: WriteMode::Cached,
            ..SMALL
        };
        run(async {
            let (mut log, _, _) = ShardLog::open(&dir, &[], limits).await.unwrap();
            let mut i = 0;
            // Fill and deliver segments until one is kept as a spare.
            while log.spares.is_empty() {
                let id = log.append(&[payload(i)]).await.unwrap();
                log.flush().await.unwrap();
                log.release(id).await.unwrap();
                i += 1;
            }
            for (spare, _) in &log.spares {
                std::fs::remove_file(spare).unwrap();
            }
            let first = i;
            for j in first..first + 20 {
                log.append(&[payload(j)]).await.unwrap();
                log.flush().await.unwrap();
            }
            log.commit().await.unwrap();
            drop(log);
            let (mut log, replayed, _) = ShardLog::open(&dir, &[], limits).await.unwrap();
            let mut got = Vec::new();
            for r in &replayed {
                got.push(log.read(*r).await.unwrap());
            }
            let want: Vec<Vec<u8>> = (first..first + 20).map(|j| payload(j).to_vec()).collect();
            assert!(got.ends_with(&want), "{} replayed", got.len());
        });
        let _ = std::fs::remove_dir_all(dir.parent().unwrap());
    }

    /// Scenario: page-cache mode; segments close full, then a sync is started apart from the
    /// writer (as the `interval` policy does) and runs while more records are appended and
    /// more segments close; then a crash. Guarantee: the sync covers the closed segments and
    /// the current one, the writer is not held up by it, and a reopen replays every record.
    #[test]
    fn a_sync_running_apart_from_the_writer_loses_nothing() {
        let dir = root("sync-apart").join("shard-0");
        let limits = LogLimits {
            mode: WriteMode::Cached,
            ..SMALL
        };
        run(async {
            let (mut log, _, _) = ShardLog::open(&dir, &[], limits).await.unwrap();
            for i in 0..20 {
                log.append(&[payload(i)]).await.unwrap();
                log.flush().await.unwrap();
            }
            let pending = log.flush_for_sync().await.unwrap();
            assert!(!pending.closed.is_empty() && pending.current.is_some());
            let sync = shardgate_shards::task::spawn_local(pending.run());
            for i in 20..40 {
                log.append(&[payload(i)]).await.unwrap();
                log.flush().await.unwrap();
            }
            sync.await;
            // What was flushed meanwhile is due next; after that, nothing is.
            let again = log.flush_for_sync().await.unwrap();
            assert!(again.current.is_some());
            again.run().await;
            assert!(log.flush_for_sync().await.unwrap().is_empty());
            drop(log);
            let (mut log, replayed, cuts) = ShardLog::open(&dir, &[], limits).await.unwrap();
            assert!(cuts.is_empty(), "{cuts:?}");
            let mut got = Vec::new();
            for r in &replayed {
                got.push(log.read(*r).await.unwrap());
            }
            let want: Vec<Vec<u8>> = (0..40).map(|i| payload(i).to_vec()).collect();
            assert_eq!(got, want);
        });
        let _ = std::fs::remove_dir_all(dir.parent().unwrap());
    }

    /// Scenario: a crash leaves garbage after the last committed record. Guarantee: the
    /// committed records replay, the garbage is cut (reported with its size), never replayed.
    #[test]
    fn a_corrupted_tail_is_cut_and_reported() {
        let dir = root("tail").join("shard-0");
        run(async {
            let (mut log, _, _) = ShardLog::open(&dir, &[], SMALL).await.unwrap();
            for i in 0..3 {
                log.append(&[payload(i)]).await.unwrap();
            }
            log.close().await.unwrap();
        });
        let segment = std::fs::read_dir(&dir)
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path();
        let mut bytes = std::fs::read(&segment).unwrap();
        let clean = bytes.len();
        bytes.extend_from_slice(&[0x17, 0, 0, 0, 9, 9, 9, 9, 3, 0, 0, 0, 0, 0, 0, 0, 1, 2]);
        std::fs::write(&segment, &bytes).unwrap();
        run(async {
            let (_, replayed, cuts) = ShardLog::open(&dir, &[], SMALL).await.unwrap();
            assert_eq!(replayed.len(), 3);
            assert_eq!(cuts.len(), 1, "{cuts:?}");
            assert_eq!(cuts[0].dropped_bytes as usize, bytes.len() - clean);
            assert!(matches!(
                cuts[0].end,
                End::Torn { .. } | End::Corrupt { .. }
            ));
        });
        let _ = std::fs::remove_dir_all(dir.parent().unwrap());
    }

    /// Scenario: `max_bytes` of 2 KiB. Guarantee: appends past it are refused as `Full`,
    /// what was appended before stays and replays.
    #[test]
    fn the_size_cap_refuses_new_records_and_keeps_the_old() {
        let dir = root("cap").join("shard-0");
        let limits = LogLimits {
            segment_bytes: 1000,
            max_bytes: 2048,
            mode: WriteMode::Cached,
            sync_closed: true,
        };
        run(async {
            let (mut log, _, _) = ShardLog::open(&dir, &[], limits).await.unwrap();
            let mut taken = 0;
            let refused = loop {
                match log.append(&[payload(taken)]).await {
                    Ok(_) => taken += 1,
                    Err(e) => break e,
                }
            };
            assert!(matches!(refused, LogError::Full { .. }), "{refused}");
            assert!(!refused.is_disk_full());
            assert!(log.bytes_on_disk() <= 2048);
            log.commit().await.unwrap();
            drop(log);
            let (_, replayed, _) = ShardLog::open(&dir, &[], limits).await.unwrap();
            assert_eq!(replayed.len() as u64, taken);
        });
        let _ = std::fs::remove_dir_all(dir.parent().unwrap());
    }

    /// Scenario: two shards wrote logs; a restart runs one shard, which adopts the other's
    /// directory. Guarantee: it replays both, and the orphan directory goes once delivered.
    #[test]
    fn an_adopted_directory_is_replayed_and_removed_once_delivered() {
        let root = root("adopt");
        let (own, orphan) = (root.join("shard-0"), root.join("shard-1"));
        run(async {
            for (dir, first) in [(&own, 0), (&orphan, 100)] {
                let (mut log, _, _) = ShardLog::open(dir, &[], SMALL).await.unwrap();
                for i in first..first + 5 {
                    log.append(&[payload(i)]).await.unwrap();
                }
                log.close().await.unwrap();
            }
            let (mut log, replayed, _) = ShardLog::open(&own, std::slice::from_ref(&orphan), SMALL)
                .await
                .unwrap();
            assert_eq!(replayed.len(), 10);
            for r in replayed {
                log.release(r).await.unwrap();
            }
            assert_eq!(log.segments(), 0);
        });
        assert!(!orphan.exists(), "the adopted directory is gone");
        assert!(own.exists());
        let _ = std::fs::remove_dir_all(&root);
    }
}
