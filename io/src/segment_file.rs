//! Append-only segment files on the shard's own io_uring, opened with O_DIRECT (glommio's
//! DMA files): what a shard's durable queue writes its records into.
//!
//! One writer per file and per shard, no lock and no background thread. Records are copied
//! into the writer's aligned buffers; [`SegmentWriter::commit`] is the group commit: it
//! writes every buffer, pads a partial last block (the next commit overwrites the padding),
//! and waits for `fdatasync`, so everything appended before it is durable when it returns.
//! The padding is whatever the reused write buffer held: zeros, or stale bytes of earlier
//! records (measured: a killed writer's tail held whole older records). A crash can leave a
//! torn record or such padding at the tail; the record format (`src/storage/record.rs`) finds
//! where valid data ends.

use std::path::{Path, PathBuf};

use futures_lite::{AsyncReadExt, AsyncWriteExt};
use glommio::io::{DmaFile, DmaStreamReaderBuilder, DmaStreamWriter, DmaStreamWriterBuilder};

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

/// Write buffer of a segment writer: large enough that a commit of many requests is a few
/// big writes; two of them in flight while the next fills.
const BUFFER_BYTES: usize = 128 << 10;

/// An append-only segment being written.
pub struct SegmentWriter {
    path: PathBuf,
    writer: DmaStreamWriter,
    appended: u64,
}

impl SegmentWriter {
    /// Creates the segment `path`, which must not exist yet, and makes its directory entry
    /// durable (a file created after a crash's last sync must not vanish with its data).
    pub async fn create(path: &Path) -> Result<SegmentWriter, SegmentError> {
        let file = glommio::io::OpenOptions::new()
            .write(true)
            .create_new(true)
            .dma_open(path)
            .await
            .map_err(SegmentError::at(path))?;
        sync_parent(path).await?;
        Ok(SegmentWriter::over(file, path))
    }

    fn over(file: DmaFile, path: &Path) -> SegmentWriter {
        let writer = DmaStreamWriterBuilder::new(file)
            .with_buffer_size(BUFFER_BYTES)
            .with_write_behind(2)
            .build();
        SegmentWriter {
            path: path.to_owned(),
            writer,
            appended: 0,
        }
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Bytes appended so far, durable or not.
    pub fn appended_bytes(&self) -> u64 {
        self.appended
    }

    /// Appends `bytes` (whole records); durable only after the next [`SegmentWriter::commit`].
    pub async fn append(&mut self, bytes: &[u8]) -> Result<(), SegmentError> {
        self.writer
            .write_all(bytes)
            .await
            .map_err(SegmentError::io(&self.path))?;
        self.appended += bytes.len() as u64;
        Ok(())
    }

    /// Writes everything appended so far to the device without a sync: it then survives the
    /// process (a crash, kill -9), not necessarily a power loss. Returns the written length.
    pub async fn flush(&mut self) -> Result<u64, SegmentError> {
        self.writer
            .flush()
            .await
            .map_err(SegmentError::io(&self.path))?;
        Ok(self.writer.current_flushed_pos())
    }

    /// Makes everything appended so far durable; returns how many bytes that is.
    pub async fn commit(&self) -> Result<u64, SegmentError> {
        self.writer
            .sync()
            .await
            .map_err(SegmentError::at(&self.path))
    }

    /// Commits and closes the file (its padding is cut off).
    pub async fn close(mut self) -> Result<(), SegmentError> {
        self.writer
            .close()
            .await
            .map_err(SegmentError::io(&self.path))
    }
}

/// Makes `path`'s directory entry durable (a file created or renamed after a crash's last
/// sync must not vanish with its data).
async fn sync_parent(path: &Path) -> Result<(), SegmentError> {
    if let Some(dir) = path.parent() {
        let dir = glommio::io::Directory::open(dir)
            .await
            .map_err(SegmentError::at(path))?;
        dir.sync().await.map_err(SegmentError::at(path))?;
        let _ = dir.close().await;
    }
    Ok(())
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
    /// close (as a crash leaves it). Guarantee: every committed byte reads back, in order,
    /// followed at most by zero padding.
    #[test]
    fn committed_bytes_survive_a_writer_that_never_closed() {
        let dir = dir();
        let path = dir.join("segment-0");
        let written = run(async {
            let mut writer = SegmentWriter::create(&path)
                .await
                .map_err(|e| e.to_string())?;
            let mut written = Vec::new();
            for round in 0..3u8 {
                let chunk: Vec<u8> = (0..5000u32).map(|i| (i as u8) ^ round).collect();
                writer.append(&chunk).await.map_err(|e| e.to_string())?;
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

    /// Scenario: appends of odd sizes, each flushed, then a close. Guarantee: the file holds
    /// exactly the appended bytes, in order.
    #[test]
    fn flushes_of_odd_sizes_read_back_exactly() {
        let dir = dir();
        let path = dir.join("segment-2");
        let written = run(async {
            let mut writer = SegmentWriter::create(&path)
                .await
                .map_err(|e| e.to_string())?;
            let mut written = Vec::new();
            for round in 0..40u32 {
                let chunk: Vec<u8> = (0..(round * 397 % 5000 + 1))
                    .map(|i| (i ^ round) as u8 | 1)
                    .collect();
                writer.append(&chunk).await.map_err(|e| e.to_string())?;
                written.extend_from_slice(&chunk);
                let flushed = writer.flush().await.map_err(|e| e.to_string())?;
                assert_eq!(flushed, written.len() as u64);
            }
            writer.close().await.map_err(|e| e.to_string())?;
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
        let result = run(async { SegmentWriter::create(&path).await.map(|_| ()) });
        let Err(error) = result else {
            panic!("created over an existing segment");
        };
        assert!(error.to_string().contains("segment-1"), "{error}");
        assert_eq!(std::fs::read(&path).ok(), Some(b"old".to_vec()));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
