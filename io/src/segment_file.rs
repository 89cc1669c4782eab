//! Append-only segment files: what a shard's durable queue writes its records into, either
//! with O_DIRECT on the shard's own io_uring (glommio's DMA files) or through the kernel's page
//! cache ([`WriteMode`]).
//!
//! One writer per file and per shard, no lock and no background thread. Appends are held
//! as the caller's buffers until a flush copies them, once: with direct I/O into aligned
//! buffers behind the bytes of the file's last partial block (that block is the only part
//! ever written twice), through the page cache with one `pwritev` per flush, over a
//! delivered segment's file when the caller has one ([`SegmentWriter::recycle`]).
//! [`SegmentWriter::commit`] is the group commit: a flush, then `fdatasync`,
//! so everything appended before it is durable when it returns. A partial last direct-I/O
//! block is padded with zeros (the next flush overwrites the padding). Files written by earlier
//! versions may end in stale bytes of older records instead (glommio's stream writer padded
//! with its reused buffer); a crash can leave a torn record at the tail; the record format
//! (`src/storage/record.rs`) finds where valid data ends in either case.

use std::path::{Path, PathBuf};
use std::rc::Rc;

use bytes::Bytes;
use futures_lite::AsyncReadExt;
use glommio::io::{BufferedFile, DmaFile, DmaStreamReaderBuilder};

/// Why a segment file operation failed, naming the file.
#[derive(Debug, thiserror::Error)]
pub enum SegmentError {
    /// Creating, writing, syncing or reading the file failed (disk full, permissions, I/O).
    #[error("{path}: {source}")]
    Io {
        /// The segment file.
        path: PathBuf,
        /// The system's reason.
        source: std::io::Error,
    },
}

impl SegmentError {
    fn at(path: &Path) -> impl FnOnce(glommio::GlommioError<()>) -> SegmentError + '_ {
        move |error| SegmentError::Io {
            path: path.to_owned(),
            source: error.into(),
        }
    }

    fn io(path: &Path) -> impl FnOnce(std::io::Error) -> SegmentError + '_ {
        move |source| SegmentError::Io {
            path: path.to_owned(),
            source,
        }
    }

    /// Whether the disk is full (or the quota spent): new data must be refused, retryably.
    pub fn is_disk_full(&self) -> bool {
        let SegmentError::Io { source, .. } = self;
        matches!(source.raw_os_error(), Some(libc::ENOSPC | libc::EDQUOT))
    }
}

/// Most bytes one write of a flush carries: a larger group is written in several.
const WRITE_BYTES_MAX: usize = 1 << 20;

/// How a segment's flushes reach the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteMode {
    /// Direct I/O (O_DIRECT): each flush is written to the device, and a commit's sync only
    /// has the device's cache left to flush.
    Direct,
    /// Through the kernel's page cache: a flush hands the bytes to the kernel, so they survive
    /// the process (a crash, kill -9) but not a power loss until a commit syncs them; the
    /// kernel writes them back in large runs, and a segment delivered and deleted before that
    /// is never written at all.
    Cached,
}

/// The open file a segment is written through.
enum Sink {
    /// O_DIRECT writes and syncs on the shard's ring.
    Direct(DmaFile),
    /// `pwrite` into the page cache (it copies and returns, it does not wait for the device,
    /// unless the kernel throttles a writer whose dirty pages outrun the disk: then it blocks
    /// the shard for that while, as any write must wait then), and syncs on the shard's ring
    /// through a second handle of the same file.
    Cached {
        file: std::fs::File,
        /// Shared with syncs running apart from the writer ([`SegmentWriter::sync_later`]).
        ring: Rc<BufferedFile>,
    },
}

/// An append-only segment being written.
///
/// Appends are only remembered (the caller's buffers, not copied); [`SegmentWriter::flush`]
/// copies what was appended since the last flush, behind the bytes of the file's last partial
/// block, into direct-I/O buffers and writes them, so each appended byte is copied once and
/// written once, plus at most one block rewritten per flush. Padding after the last record is
/// zeros.
pub struct SegmentWriter {
    path: PathBuf,
    sink: Sink,
    /// The file's block size: direct writes start and end on it.
    align: usize,
    /// Appended since the last flush, in order.
    pending: Vec<Bytes>,
    /// The bytes of the file's last partial block, already written; the next flush writes
    /// that block again with them in front.
    tail: Vec<u8>,
    /// Where that block starts in the file.
    tail_at: u64,
    appended: u64,
    flushed: u64,
    synced: u64,
    /// A write failed: what is on the device is unknown, so nothing more is written.
    failed: Option<std::io::ErrorKind>,
    /// Written after the data by each page-cache flush, overwritten by the next (see
    /// [`SegmentWriter::set_end_marker`]).
    end_marker: Vec<u8>,
}

impl SegmentWriter {
    /// Creates the segment `path`, which must not exist yet, written as `mode` says. With
    /// direct I/O its directory entry is made durable here (a commit must cover the file's
    /// name as well as its data); through the page cache that is left to the caller's next
    /// sync ([`sync_dir`]), which is when the data becomes durable too.
    pub async fn create(path: &Path, mode: WriteMode) -> Result<SegmentWriter, SegmentError> {
        let (sink, align) = match mode {
            WriteMode::Direct => {
                let file = glommio::io::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .dma_open(path)
                    .await
                    .map_err(SegmentError::at(path))?;
                let align = usize::try_from(file.alignment()).unwrap_or(4096).max(1);
                (Sink::Direct(file), align)
            }
            WriteMode::Cached => {
                let file = std::fs::OpenOptions::new()
                    .write(true)
                    .create_new(true)
                    .open(path)
                    .map_err(SegmentError::io(path))?;
                let ring = ring_handle(&file).map_err(SegmentError::io(path))?;
                return Ok(SegmentWriter::new(path, Sink::Cached { file, ring }, 1));
            }
        };
        sync_parent(path).await?;
        Ok(SegmentWriter::new(path, sink, align))
    }

    /// Makes the file `spare` (a segment whose records were all delivered) the new segment
    /// `path`, written through the page cache. Its pages are cached and its blocks allocated
    /// already, so writing over them costs a copy, where a new file's pages are each
    /// allocated, reserved on disk, and freed again when it is deleted: measured, most of
    /// what the page-cache queue cost per request. `marker` (the caller's end marker) is
    /// written at its start before the rename, so none of the old records under the new
    /// name is read as the new segment's. The new name is made durable by the caller's next
    /// sync ([`sync_dir`]).
    pub async fn recycle(
        spare: &Path,
        path: &Path,
        marker: &[u8],
    ) -> Result<SegmentWriter, SegmentError> {
        let file = std::fs::OpenOptions::new()
            .write(true)
            .open(spare)
            .map_err(SegmentError::io(spare))?;
        std::os::unix::fs::FileExt::write_all_at(&file, marker, 0)
            .map_err(SegmentError::io(spare))?;
        rename_segment(spare, path).await?;
        let ring = ring_handle(&file).map_err(SegmentError::io(path))?;
        Ok(SegmentWriter::new(path, Sink::Cached { file, ring }, 1))
    }

    fn new(path: &Path, sink: Sink, align: usize) -> SegmentWriter {
        SegmentWriter {
            path: path.to_owned(),
            sink,
            align,
            pending: Vec::new(),
            tail: Vec::with_capacity(align),
            tail_at: 0,
            appended: 0,
            flushed: 0,
            synced: 0,
            failed: None,
            end_marker: Vec::new(),
        }
    }

    /// Sets the bytes each page-cache flush writes right after the data, where the next
    /// flush's data then goes: in a recycled file older bytes follow the data, and this
    /// marker (a record format's own) is what tells a reader after a crash where the valid
    /// data ends. Direct-I/O files are new, and end in zero padding instead.
    pub fn set_end_marker(&mut self, marker: &[u8]) {
        self.end_marker.clear();
        self.end_marker.extend_from_slice(marker);
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Bytes appended so far, written or not.
    pub fn appended_bytes(&self) -> u64 {
        self.appended
    }

    /// Bytes written to the device so far.
    pub fn flushed_bytes(&self) -> u64 {
        self.flushed
    }

    /// Appends `bytes` (parts of whole records); written by the next
    /// [`SegmentWriter::flush`], durable after the next [`SegmentWriter::commit`].
    pub fn append(&mut self, bytes: Bytes) {
        self.appended += bytes.len() as u64;
        if !bytes.is_empty() {
            self.pending.push(bytes);
        }
    }

    /// Writes everything appended so far to the device without a sync: it then survives the
    /// process (a crash, kill -9), not necessarily a power loss. Returns the written length.
    /// After a failed write every later flush fails too (the file's end is unknown).
    pub async fn flush(&mut self) -> Result<u64, SegmentError> {
        if let Some(kind) = self.failed {
            return Err(self.error(kind.into()));
        }
        if self.pending.is_empty() {
            return Ok(self.flushed);
        }
        let pending = std::mem::take(&mut self.pending);
        let written = self.write(&pending).await;
        self.pending = pending;
        self.pending.clear();
        if let Err(source) = written {
            self.failed = Some(source.kind());
            return Err(self.error(source));
        }
        self.flushed = self.appended;
        Ok(self.flushed)
    }

    /// Writes `pending` after what was flushed before.
    async fn write(&mut self, pending: &[Bytes]) -> std::io::Result<()> {
        let Sink::Cached { file, .. } = &self.sink else {
            return self.write_direct(pending).await;
        };
        let mut slices: Vec<std::io::IoSlice<'_>> = pending
            .iter()
            .map(|p| std::io::IoSlice::new(p))
            .chain((!self.end_marker.is_empty()).then(|| std::io::IoSlice::new(&self.end_marker)))
            .collect();
        pwrite_all(file, &mut slices, self.flushed)
    }

    /// Writes the tail block's bytes and `pending` from `tail_at`, in buffers of at most
    /// [`WRITE_BYTES_MAX`], each padded with zeros to the block size.
    async fn write_direct(&mut self, pending: &[Bytes]) -> std::io::Result<()> {
        let Sink::Direct(file) = &self.sink else {
            return Ok(());
        };
        let tail = std::mem::take(&mut self.tail);
        let mut parts = Parts::new(&tail, pending);
        let mut left = tail.len() + pending.iter().map(Bytes::len).sum::<usize>();
        let mut at = self.tail_at;
        while left > 0 {
            let take = left.min(WRITE_BYTES_MAX);
            let size = take.div_ceil(self.align) * self.align;
            let mut buffer = file.alloc_dma_buffer(size);
            let bytes = buffer.as_bytes_mut();
            parts.copy_to(&mut bytes[..take]);
            bytes[take..].fill(0);
            left -= take;
            let next_tail = (left == 0).then(|| {
                let from = take / self.align * self.align;
                (at + from as u64, bytes[from..take].to_vec())
            });
            let written = file
                .write_at(buffer, at)
                .await
                .map_err(std::io::Error::from)?;
            if written != size {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::WriteZero,
                    format!("short direct write: {written} of {size} bytes"),
                ));
            }
            if let Some((tail_at, tail)) = next_tail {
                self.tail_at = tail_at;
                self.tail = tail;
            }
            at += take as u64;
        }
        Ok(())
    }

    /// Makes everything appended so far durable; returns how many bytes that is.
    pub async fn commit(&mut self) -> Result<u64, SegmentError> {
        let flushed = self.flush().await?;
        if self.synced < flushed {
            let synced = match &self.sink {
                Sink::Direct(file) => file.fdatasync().await,
                Sink::Cached { ring, .. } => ring.fdatasync().await,
            };
            if let Err(error) = synced {
                // After a failed sync the device's state is unknown (as after a failed write).
                let source = std::io::Error::from(error);
                self.failed = Some(source.kind());
                return Err(self.error(source));
            }
            self.synced = flushed;
        }
        Ok(flushed)
    }

    /// A sync of everything flushed so far, to run apart from the writer, which goes on
    /// flushing meanwhile (page-cache mode; `None` with direct I/O, or when nothing was
    /// flushed since the last): a sync can take milliseconds, and a flush promises only the
    /// page cache, so it need not wait for one.
    pub fn sync_later(
        &mut self,
    ) -> Option<impl std::future::Future<Output = Result<(), SegmentError>> + 'static> {
        let Sink::Cached { ring, .. } = &self.sink else {
            return None;
        };
        if self.synced >= self.flushed || self.failed.is_some() {
            return None;
        }
        self.synced = self.flushed;
        let (ring, path) = (ring.clone(), self.path.clone());
        Some(async move { ring.fdatasync().await.map_err(SegmentError::at(&path)) })
    }

    /// Writes what is pending, cuts the padding after the last record off, syncs (with
    /// `sync`) and closes the file.
    pub async fn close(mut self, sync: bool) -> Result<(), SegmentError> {
        self.flush().await?;
        let path = self.path.clone();
        let at = SegmentError::at(&path);
        match self.sink {
            Sink::Direct(file) => {
                file.truncate(self.appended).await.map_err(at)?;
                if sync {
                    file.fdatasync().await.map_err(SegmentError::at(&path))?;
                }
                file.close().await.map_err(SegmentError::at(&path))
            }
            Sink::Cached { file, ring } => {
                drop(file);
                if sync {
                    ring.fdatasync().await.map_err(at)?;
                }
                close_shared(ring).await.map_err(SegmentError::at(&path))
            }
        }
    }

    /// Closes the file without writing what is pending (after a failed write).
    pub async fn abandon(self) {
        match self.sink {
            Sink::Direct(file) => {
                let _ = file.close().await;
            }
            Sink::Cached { file, ring } => {
                drop(file);
                let _ = close_shared(ring).await;
            }
        }
    }

    fn error(&self, source: std::io::Error) -> SegmentError {
        SegmentError::Io {
            path: self.path.clone(),
            source,
        }
    }
}

/// The bytes of a flush, read in order across its pieces.
struct Parts<'a> {
    current: &'a [u8],
    rest: std::slice::Iter<'a, Bytes>,
}

impl<'a> Parts<'a> {
    fn new(first: &'a [u8], rest: &'a [Bytes]) -> Parts<'a> {
        Parts {
            current: first,
            rest: rest.iter(),
        }
    }

    /// Fills `out` with the next bytes (it is never longer than what is left).
    fn copy_to(&mut self, mut out: &mut [u8]) {
        while !out.is_empty() {
            if self.current.is_empty() {
                match self.rest.next() {
                    Some(next) => self.current = next,
                    None => return,
                }
                continue;
            }
            let n = out.len().min(self.current.len());
            let (now, later) = out.split_at_mut(n);
            now.copy_from_slice(&self.current[..n]);
            out = later;
            self.current = &self.current[n..];
        }
    }
}

/// A second handle of `file` for syncs on the shard's ring: a duplicate of its descriptor,
/// where opening the path again would be an `openat` the ring hands to a worker thread.
fn ring_handle(file: &std::fs::File) -> std::io::Result<Rc<BufferedFile>> {
    use std::os::fd::{FromRawFd, IntoRawFd};
    let fd = file.try_clone()?.into_raw_fd();
    // SAFETY: `fd` is a fresh duplicate this handle owns from here on (glommio closes it).
    Ok(Rc::new(unsafe { BufferedFile::from_raw_fd(fd) }))
}

/// Makes `path`'s directory entry durable (a file created or renamed after a crash's last
/// sync must not vanish with its data).
async fn sync_parent(path: &Path) -> Result<(), SegmentError> {
    match path.parent() {
        Some(dir) => sync_dir(dir).await,
        None => Ok(()),
    }
}

/// Makes the entries of directory `dir` durable: the segments created or renamed in it.
pub async fn sync_dir(dir: &Path) -> Result<(), SegmentError> {
    let handle = glommio::io::Directory::open(dir)
        .await
        .map_err(SegmentError::at(dir))?;
    let synced = handle.sync().await.map_err(SegmentError::at(dir));
    let _ = handle.close().await;
    synced
}

/// A segment opened to read records back at their offsets (a queue's backlog).
pub struct SegmentReader {
    path: PathBuf,
    file: DmaFile,
}

impl SegmentReader {
    /// Opens `path` for reading.
    pub async fn open(path: &Path) -> Result<SegmentReader, SegmentError> {
        let file = DmaFile::open(path).await.map_err(SegmentError::at(path))?;
        Ok(SegmentReader {
            path: path.to_owned(),
            file,
        })
    }

    /// Reads `len` bytes at `offset` (written and flushed before).
    pub async fn read(&self, offset: u64, len: usize) -> Result<Vec<u8>, SegmentError> {
        let read = self
            .file
            .read_at(offset, len)
            .await
            .map_err(SegmentError::at(&self.path))?;
        Ok(read.to_vec())
    }

    /// Closes the file.
    pub async fn close(self) {
        let _ = self.file.close().await;
    }
}

/// Closes a page-cache segment's ring handle, or leaves that to the sync still using it.
async fn close_shared(ring: Rc<BufferedFile>) -> glommio::Result<(), ()> {
    match Rc::try_unwrap(ring) {
        Ok(ring) => ring.close().await,
        Err(_) => Ok(()),
    }
}

/// Writes all of `slices` at `at`, one `pwritev` per [`IOV_MAX`] slices (a flush of a
/// group of records is one system call, not one per record part).
fn pwrite_all(
    file: &std::fs::File,
    mut slices: &mut [std::io::IoSlice<'_>],
    mut at: u64,
) -> std::io::Result<()> {
    use std::os::fd::AsRawFd;
    while !slices.is_empty() {
        let count = slices.len().min(IOV_MAX);
        let offset = libc::off_t::try_from(at)
            .map_err(|_| std::io::Error::from(std::io::ErrorKind::InvalidInput))?;
        // SAFETY: `IoSlice` is ABI-compatible with `iovec` on unix (std guarantees it), the
        // `count` slices are live borrows for the call, and the fd is open.
        let written = unsafe {
            libc::pwritev(
                file.as_raw_fd(),
                slices.as_ptr().cast::<libc::iovec>(),
                count as libc::c_int,
                offset,
            )
        };
        match written {
            n if n < 0 => {
                let error = std::io::Error::last_os_error();
                if error.kind() != std::io::ErrorKind::Interrupted {
                    return Err(error);
                }
            }
            0 => return Err(std::io::ErrorKind::WriteZero.into()),
            n => {
                at += n as u64;
                std::io::IoSlice::advance_slices(&mut slices, n as usize);
            }
        }
    }
    Ok(())
}

/// Most slices one `pwritev` takes (Linux's `UIO_MAXIOV`).
const IOV_MAX: usize = 1024;

/// Renames the segment file `from` to `to` (a delivered segment kept as a spare, or a spare
/// made a new segment), in the same directory.
pub async fn rename_segment(from: &Path, to: &Path) -> Result<(), SegmentError> {
    // Called in place: glommio's rename goes through its blocking-thread pool, and the hand-off
    // there and back (two wake-ups) costs more than a rename within one directory, which
    // changes cached directory blocks and does not wait for the disk.
    std::fs::rename(from, to).map_err(SegmentError::io(from))
}

/// Deletes the segment `path` (everything in it was delivered).
pub async fn remove_segment(path: &Path) -> Result<(), SegmentError> {
    glommio::io::remove(path)
        .await
        .map_err(SegmentError::at(path))
}

/// Reads the whole segment `path` (after a restart, to replay it).
pub async fn read_segment(path: &Path) -> Result<Vec<u8>, SegmentError> {
    let file = DmaFile::open(path).await.map_err(SegmentError::at(path))?;
    let mut reader = DmaStreamReaderBuilder::new(file).build();
    let mut bytes = Vec::new();
    let read = reader.read_to_end(&mut bytes).await;
    let _ = reader.close().await;
    read.map_err(SegmentError::io(path))?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run<T>(future: impl std::future::Future<Output = T>) -> T {
        let Ok(executor) = glommio::LocalExecutorBuilder::default().make() else {
            panic!("no executor");
        };
        executor.run(future)
    }

    fn dir() -> PathBuf {
        let dir = std::env::temp_dir().join(format!(
            "shardgate-segment-{}-{:?}",
            std::process::id(),
            std::thread::current().id()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        let made = std::fs::create_dir_all(&dir);
        assert!(made.is_ok(), "{made:?}");
        dir
    }

    /// Scenario: records appended in three commits, the writer then dropped without a
    /// close (as a crash leaves it), in either write mode. Guarantee: every committed byte
    /// reads back, in order, followed at most by zero padding.
    #[test]
    fn committed_bytes_survive_a_writer_that_never_closed() {
        committed_bytes_survive(WriteMode::Direct);
        committed_bytes_survive(WriteMode::Cached);
    }

    fn committed_bytes_survive(mode: WriteMode) {
        let dir = dir();
        let path = dir.join("segment-0");
        let written = run(async {
            let mut writer = SegmentWriter::create(&path, mode)
                .await
                .map_err(|e| e.to_string())?;
            let mut written = Vec::new();
            for round in 0..3u8 {
                let chunk: Vec<u8> = (0..5000u32).map(|i| (i as u8) ^ round).collect();
                writer.append(Bytes::copy_from_slice(&chunk));
                written.extend_from_slice(&chunk);
                let durable = writer.commit().await.map_err(|e| e.to_string())?;
                assert_eq!(durable, written.len() as u64);
            }
            drop(writer);
            Ok::<_, String>(written)
        });
        let written = match written {
            Ok(w) => w,
            Err(e) => panic!("{e}"),
        };
        let read = run(read_segment(&path));
        let read = match read {
            Ok(r) => r,
            Err(e) => panic!("{e}"),
        };
        assert!(read.len() >= written.len());
        assert_eq!(&read[..written.len()], &written[..]);
        assert!(read[written.len()..].iter().all(|b| *b == 0));
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// Scenario: appends of odd sizes, each flushed, then a close, in either write mode.
    /// Guarantee: the file holds exactly the appended bytes, in order.
    #[test]
    fn flushes_of_odd_sizes_read_back_exactly() {
        flushes_read_back(WriteMode::Direct);
        flushes_read_back(WriteMode::Cached);
    }

    fn flushes_read_back(mode: WriteMode) {
        let dir = dir();
        let path = dir.join("segment-2");
        let written = run(async {
            let mut writer = SegmentWriter::create(&path, mode)
                .await
                .map_err(|e| e.to_string())?;
            let mut written = Vec::new();
            for round in 0..40u32 {
                let chunk: Vec<u8> = (0..(round * 397 % 5000 + 1))
                    .map(|i| (i ^ round) as u8 | 1)
                    .collect();
                writer.append(Bytes::copy_from_slice(&chunk));
                written.extend_from_slice(&chunk);
                let flushed = writer.flush().await.map_err(|e| e.to_string())?;
                assert_eq!(flushed, written.len() as u64);
            }
            writer.close(true).await.map_err(|e| e.to_string())?;
            Ok::<_, String>(written)
        });
        let written = match written {
            Ok(w) => w,
            Err(e) => panic!("{e}"),
        };
        let read = match run(read_segment(&path)) {
            Ok(r) => r,
            Err(e) => panic!("{e}"),
        };
        assert_eq!(read, written);
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// Scenario: a segment path that exists already. Guarantee: creating it is refused,
    /// naming the file (a segment is never overwritten).
    #[test]
    fn an_existing_segment_is_never_overwritten() {
        let dir = dir();
        let path = dir.join("segment-1");
        assert!(std::fs::write(&path, b"old").is_ok());
        let result = run(async {
            SegmentWriter::create(&path, WriteMode::Cached)
                .await
                .map(|_| ())
        });
        let Err(error) = result else {
            panic!("created over an existing segment");
        };
        assert!(error.to_string().contains("segment-1"), "{error}");
        assert_eq!(std::fs::read(&path).ok(), Some(b"old".to_vec()));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
