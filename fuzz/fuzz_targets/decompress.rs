//! Bytes → the bounded gzip, deflate and zstd decoders a receiver runs on request bodies
//! (`grpc-encoding`, `Content-Encoding`). Must never panic.
//!
//! Asserts the bound: no decoder returns more than the limit, whatever the input claims
//! (a compression bomb is refused, not inflated).
#![no_main]

use libfuzzer_sys::fuzz_target;
use shardgate_io::compression::{decompress, Codec};

/// Small enough that inputs can expand past it.
const LIMIT: usize = 64 * 1024;

fuzz_target!(|data: &[u8]| {
    for codec in [Codec::Gzip, Codec::Deflate, Codec::Zstd] {
        if let Ok(out) = decompress(codec, data, LIMIT) {
            assert!(out.len() <= LIMIT, "{codec:?} gave {} bytes", out.len());
        }
    }
});
