//! Whole-buffer compression for request bodies and export payloads (`grpc-encoding`,
//! `Content-Encoding`).
//!
//! The message is already in memory, so we use libdeflate's whole-buffer codec, several
//! times faster than a streaming zlib. Decompression is bounded: the output may never exceed
//! the configured limit, so a compression bomb costs at most `limit` bytes of work and memory.
//! The gzip fast path trusts a body's size trailer (ISIZE) only to size the output buffer,
//! and keeps the result only if libdeflate consumed the whole body as one member of exactly
//! that size; anything else (several members, a trailer that lies) takes the bounded
//! streaming path, which decides.

use std::cell::RefCell;
use std::io::Read;

use bytes::Bytes;
use libdeflater::{CompressionLvl, Compressor};

/// A body codec named by `grpc-encoding` or `Content-Encoding`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Codec {
    /// gzip (RFC 1952).
    Gzip,
    /// zlib-wrapped deflate (RFC 1950), which is what `deflate` means on the wire.
    Deflate,
    /// Zstandard (RFC 8878), decoded with a window of at most [`ZSTD_WINDOW_LOG_MAX`].
    Zstd,
}

/// Largest zstd window accepted: 2^23 = 8 MiB, what RFC 8878 §3.1.1.1.2 asks HTTP decoders to
/// support; a frame asking for more is refused rather than costing a large allocation.
pub const ZSTD_WINDOW_LOG_MAX: u32 = 23;

/// Why a body could not be decompressed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DecompressError {
    /// The decompressed body would exceed the limit.
    #[error("decompressed body exceeds the limit of {limit} bytes")]
    TooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// The body is not valid data of its codec.
    #[error("body is not valid {codec}: {reason}")]
    Corrupt {
        /// The codec name.
        codec: &'static str,
        /// What the decoder said.
        reason: String,
    },
}

impl Codec {
    /// The wire name.
    pub fn name(self) -> &'static str {
        match self {
            Codec::Gzip => "gzip",
            Codec::Deflate => "deflate",
            Codec::Zstd => "zstd",
        }
    }
}

/// Decompresses `data`, producing at most `limit` bytes.
pub fn decompress(codec: Codec, data: &[u8], limit: usize) -> Result<Bytes, DecompressError> {
    if codec == Codec::Gzip {
        if !data.starts_with(&GZIP_MAGIC) {
            return Err(DecompressError::Corrupt {
                codec: codec.name(),
                reason: "missing gzip header".to_owned(),
            });
        }
        if let Some(size) = gzip_stated_size(data) {
            if size <= limit {
                if let Some(out) = DECODER.with(|d| d.borrow_mut().single_member(data, size)) {
                    return Ok(Bytes::from(out));
                }
            }
        }
    }
    stream_decompress(codec, data, limit)
}

/// The first bytes of every gzip member (ID1, ID2, CM = deflate).
const GZIP_MAGIC: [u8; 3] = [0x1f, 0x8b, 0x08];

thread_local! {
    // One per shard thread: its tables are allocated once, not per request.
    static DECODER: RefCell<GzipDecoder> = RefCell::new(GzipDecoder::new());
}

/// The uncompressed size in a gzip trailer (ISIZE, the size mod 2^32).
fn gzip_stated_size(data: &[u8]) -> Option<usize> {
    let start = data.len().checked_sub(4)?;
    let tail: [u8; 4] = data.get(start..)?.try_into().ok()?;
    usize::try_from(u32::from_le_bytes(tail)).ok()
}

/// libdeflate's decompressor, used through `libdeflate_gzip_decompress_ex`, which the safe
/// wrapper crate does not offer and which alone says how much input one member took.
struct GzipDecoder {
    raw: *mut libdeflate_sys::libdeflate_decompressor,
}

impl GzipDecoder {
    fn new() -> GzipDecoder {
        // SAFETY: no preconditions; a null result (out of memory) is checked before every use.
        let raw = unsafe { libdeflate_sys::libdeflate_alloc_decompressor() };
        GzipDecoder { raw }
    }

    /// The output if `data` is exactly one gzip member of `size` bytes; `None` otherwise.
    fn single_member(&mut self, data: &[u8], size: usize) -> Option<Vec<u8>> {
        if self.raw.is_null() {
            return None;
        }
        let mut out = vec![0u8; size];
        let mut in_used = 0usize;
        let mut out_used = 0usize;
        // SAFETY: `self.raw` is a live decompressor owned by this thread; `data` and `out` are
        // valid for the lengths passed; the two result pointers are valid, exclusive usizes.
        let result = unsafe {
            libdeflate_sys::libdeflate_gzip_decompress_ex(
                self.raw,
                data.as_ptr().cast(),
                data.len(),
                out.as_mut_ptr().cast(),
                out.len(),
                &mut in_used,
                &mut out_used,
            )
        };
        let whole = result == libdeflate_sys::libdeflate_result_LIBDEFLATE_SUCCESS
            && in_used == data.len()
            && out_used == size;
        whole.then_some(out)
    }
}

impl Drop for GzipDecoder {
    fn drop(&mut self) {
        if !self.raw.is_null() {
            // SAFETY: `raw` came from libdeflate_alloc_decompressor and is freed once, here.
            unsafe { libdeflate_sys::libdeflate_free_decompressor(self.raw) };
        }
    }
}

fn stream_decompress(codec: Codec, data: &[u8], limit: usize) -> Result<Bytes, DecompressError> {
    let corrupt = |error: std::io::Error| DecompressError::Corrupt {
        codec: codec.name(),
        reason: error.to_string(),
    };
    // Read one byte past the limit so "exactly at the limit" and "over it" differ.
    let cap = u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1);
    let mut out = Vec::new();
    match codec {
        Codec::Gzip => flate2::read::MultiGzDecoder::new(data)
            .take(cap)
            .read_to_end(&mut out)
            .map_err(corrupt)?,
        Codec::Deflate => flate2::read::ZlibDecoder::new(data)
            .take(cap)
            .read_to_end(&mut out)
            .map_err(corrupt)?,
        Codec::Zstd => {
            // A frame that states its size refuses early, before any work.
            if let Ok(Some(size)) = zstd::zstd_safe::get_frame_content_size(data) {
                if size > cap.saturating_sub(1) {
                    return Err(DecompressError::TooLarge { limit });
                }
            }
            let mut decoder = zstd::stream::read::Decoder::with_buffer(data).map_err(corrupt)?;
            decoder
                .window_log_max(ZSTD_WINDOW_LOG_MAX)
                .map_err(corrupt)?;
            decoder.take(cap).read_to_end(&mut out).map_err(corrupt)?
        }
    };
    if out.len() > limit {
        return Err(DecompressError::TooLarge { limit });
    }
    Ok(Bytes::from(out))
}

// libdeflate's level 1 (its `fastest()` is level 0, which only stores).
const GZIP_LEVEL: CompressionLvl = match CompressionLvl::new(1) {
    Ok(level) => level,
    Err(_) => CompressionLvl::fastest(),
};

/// A reusable gzip compressor; one per shard and exporter, so its tables are allocated once.
pub struct GzipEncoder {
    compressor: Compressor,
}

impl GzipEncoder {
    /// libdeflate level 1: on OTLP payloads it is about 3× faster than level 6 for ~10% larger
    /// output, and compression dominates a forwarding gateway's CPU.
    pub fn new() -> GzipEncoder {
        GzipEncoder {
            compressor: Compressor::new(GZIP_LEVEL),
        }
    }

    /// Appends the gzip encoding of `data` to `out`.
    pub fn compress_into(&mut self, data: &[u8], out: &mut Vec<u8>) {
        let start = out.len();
        let bound = self.compressor.gzip_compress_bound(data.len());
        out.resize(start + bound, 0);
        let written = match out.get_mut(start..) {
            Some(tail) => self.compressor.gzip_compress(data, tail).unwrap_or(0),
            None => 0,
        };
        out.truncate(start + written);
    }
}

impl Default for GzipEncoder {
    fn default() -> Self {
        GzipEncoder::new()
    }
}

/// Why a body could not be compressed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CompressError {
    /// The deflate stream reported an error (a bug or an exhausted allocator, never the input).
    #[error("gzip compression failed: {0}")]
    Deflate(String),
}

/// A streaming gzip compressor (zlib-rs, level 1) for export bodies.
///
/// Why streaming when [`GzipEncoder`] is a whole-buffer libdeflate: compressing a 4 MiB batch
/// in one call holds the shard for about 6 ms (at libdeflate level 1's 708 MiB/s), and every
/// request arriving meanwhile waits (the p99 of a gzip pipeline was 10 ms). Fed in slices, the
/// caller can let the shard serve other work between them. `cargo bench --bench datapath` on an OTLP traces request: zlib-rs
/// level 1 1.74 GiB/s, libdeflate level 1 708 MiB/s (2026-11-24). Takes pieces, so a batch is
/// never joined first. One stream is one gzip member, as every decoder expects.
pub struct GzipStream {
    deflate: flate2::Compress,
}

impl GzipStream {
    /// A stream ready for a new body.
    pub fn new() -> GzipStream {
        GzipStream {
            deflate: flate2::Compress::new_gzip(flate2::Compression::new(1), 15),
        }
    }

    /// Starts a new body (drops whatever a failed or abandoned one left).
    pub fn begin(&mut self) {
        self.deflate.reset();
    }

    /// Compresses `input`, appending output to `out`.
    pub fn write(&mut self, mut input: &[u8], out: &mut Vec<u8>) -> Result<(), CompressError> {
        while !input.is_empty() {
            out.reserve(input.len() / 2 + 1024);
            let before = self.deflate.total_in();
            let out_before = out.len();
            self.deflate
                .compress_vec(input, out, flate2::FlushCompress::None)
                .map_err(|e| CompressError::Deflate(e.to_string()))?;
            let used = usize::try_from(self.deflate.total_in() - before).unwrap_or(usize::MAX);
            if used == 0 && out.len() == out_before {
                return Err(CompressError::Deflate("no progress".into()));
            }
            input = input.get(used..).unwrap_or_default();
        }
        Ok(())
    }

    /// Ends the body: flushes the last block and writes the gzip trailer into `out`.
    pub fn finish(&mut self, out: &mut Vec<u8>) -> Result<(), CompressError> {
        loop {
            out.reserve(64 << 10);
            let status = self
                .deflate
                .compress_vec(&[], out, flate2::FlushCompress::Finish)
                .map_err(|e| CompressError::Deflate(e.to_string()))?;
            if status == flate2::Status::StreamEnd {
                return Ok(());
            }
        }
    }
}

impl Default for GzipStream {
    fn default() -> Self {
        GzipStream::new()
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::io::Write;

    #[test]
    fn gzip_stream_round_trips_in_pieces_and_is_reusable() {
        let data: Vec<u8> = (0..300_000u32)
            .flat_map(|i| (i % 977).to_le_bytes())
            .collect();
        let mut stream = GzipStream::new();
        for _ in 0..2 {
            stream.begin();
            let mut out = Vec::new();
            for piece in data.chunks(70_001) {
                stream.write(piece, &mut out).unwrap();
            }
            stream.finish(&mut out).unwrap();
            let back = decompress(Codec::Gzip, &out, 10 << 20).unwrap();
            assert_eq!(&back[..], &data[..]);
            let mut single = Vec::new();
            flate2::read::GzDecoder::new(&out[..])
                .read_to_end(&mut single)
                .unwrap();
            assert_eq!(single, data, "one gzip member");
        }
    }

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        GzipEncoder::new().compress_into(data, &mut out);
        out
    }

    #[test]
    fn zstd_is_bounded() {
        let data = vec![7u8; 1 << 20];
        let packed = zstd::encode_all(&data[..], 3).unwrap();
        assert_eq!(decompress(Codec::Zstd, &packed, 1 << 20).unwrap(), data);
        assert_eq!(
            decompress(Codec::Zstd, &packed, (1 << 20) - 1),
            Err(DecompressError::TooLarge {
                limit: (1 << 20) - 1
            })
        );
        // Without a stated size (streamed frame), the streaming bound decides.
        let mut streamed = Vec::new();
        let mut enc = zstd::stream::write::Encoder::new(&mut streamed, 3).unwrap();
        enc.include_contentsize(false).unwrap();
        std::io::Write::write_all(&mut enc, &data).unwrap();
        enc.finish().unwrap();
        assert_eq!(
            decompress(Codec::Zstd, &streamed, 4096),
            Err(DecompressError::TooLarge { limit: 4096 })
        );
        assert!(matches!(
            decompress(Codec::Zstd, &packed[..packed.len() / 2], 1 << 20),
            Err(DecompressError::Corrupt { .. })
        ));
    }

    #[test]
    fn gzip_round_trip() {
        let data = b"hello hello hello hello".repeat(100);
        let packed = gzip(&data);
        assert!(packed.len() < data.len());
        assert_eq!(
            decompress(Codec::Gzip, &packed, data.len()).unwrap(),
            &data[..]
        );
    }

    #[test]
    fn limit_is_enforced_on_the_decompressed_size() {
        let data = vec![0u8; 1 << 20];
        let packed = gzip(&data);
        assert_eq!(
            decompress(Codec::Gzip, &packed, (1 << 20) - 1),
            Err(DecompressError::TooLarge {
                limit: (1 << 20) - 1
            })
        );
    }

    #[test]
    fn a_lying_trailer_is_still_bounded() {
        let data = vec![7u8; 1 << 20];
        let mut packed = gzip(&data);
        let n = packed.len();
        packed[n - 4..].copy_from_slice(&16u32.to_le_bytes());
        let result = decompress(Codec::Gzip, &packed, 4096);
        assert_eq!(result, Err(DecompressError::TooLarge { limit: 4096 }));
    }

    #[test]
    fn multi_member_gzip_is_accepted() {
        let mut packed = gzip(b"first ");
        packed.extend(gzip(b"second"));
        assert_eq!(
            decompress(Codec::Gzip, &packed, 100).unwrap(),
            &b"first second"[..]
        );
    }

    #[test]
    fn truncated_and_garbage_are_corrupt() {
        let packed = gzip(&b"abc".repeat(1000));
        let result = decompress(Codec::Gzip, &packed[..packed.len() / 2], 1 << 20);
        assert!(
            matches!(result, Err(DecompressError::Corrupt { .. })),
            "{result:?}"
        );
        assert!(matches!(
            decompress(Codec::Gzip, b"not gzip at all", 100),
            Err(DecompressError::Corrupt { .. })
        ));
    }

    #[test]
    fn deflate_is_zlib() {
        let mut encoder = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
        encoder.write_all(b"zlib data").unwrap();
        let packed = encoder.finish().unwrap();
        assert_eq!(
            decompress(Codec::Deflate, &packed, 100).unwrap(),
            &b"zlib data"[..]
        );
    }
}
