//! Bytes → the gRPC unary framing (`UnaryReader`), fed in chunks whose boundaries the input
//! chooses, and the `grpc-message`/`grpc-status` decoders. Must never panic.
//!
//! Asserts what a receiver relies on: the result does not depend on where the body's chunks
//! split; an accepted message is exactly the declared bytes after the 5-byte prefix and never
//! over the limit; a body with a byte past the message is refused.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use shardgate_io::grpc::{percent_decode, Code, FrameError, Message, UnaryReader};

/// Small enough that "too large" is reachable with fuzz-sized inputs.
const LIMIT: usize = 1024;

fn read(chunks: &[&[u8]]) -> Result<Message, FrameError> {
    let mut reader = UnaryReader::new(LIMIT);
    for chunk in chunks {
        reader.push(Bytes::copy_from_slice(chunk))?;
    }
    reader.finish()
}

fuzz_target!(|data: &[u8]| {
    let Some((&split, body)) = data.split_first() else {
        return;
    };
    let whole = read(&[body]);
    // The same body in pieces of `split` bytes (at least 1), with an empty chunk in between
    // (HTTP/2 allows empty DATA frames).
    let size = usize::from(split).max(1);
    let mut pieces: Vec<&[u8]> = Vec::new();
    for piece in body.chunks(size) {
        pieces.push(piece);
        pieces.push(&[]);
    }
    let pieced = read(&pieces);
    match (&whole, &pieced) {
        (Ok(a), Ok(b)) => assert_eq!(a, b, "chunking changed the message"),
        (Err(a), Err(b)) => assert_eq!(
            std::mem::discriminant(a),
            std::mem::discriminant(b),
            "chunking changed the refusal: {a:?} vs {b:?}"
        ),
        _ => panic!("chunking changed the outcome: {whole:?} vs {pieced:?}"),
    }
    if let Ok(message) = whole {
        let declared = u32::from_be_bytes([body[1], body[2], body[3], body[4]]) as usize;
        assert!(declared <= LIMIT);
        assert_eq!(body.len(), 5 + declared, "accepted with bytes past the message");
        assert_eq!(&message.payload[..], &body[5..]);
        assert_eq!(message.compressed, body[0] == 1);
    }
    // What an exporter reads from a backend's trailers.
    let _ = percent_decode(body);
    let _ = Code::from_decimal(body);
});
