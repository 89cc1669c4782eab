//! Writing chunks back out as an export request.
//!
//! A request is nothing but field 1 repeated: `0x0A`, the chunk's length as a varint, the
//! chunk's bytes. Protobuf concatenates repeated fields, so any sequence of chunks (of one
//! signal) encodes a valid `Export*ServiceRequest` holding exactly those resource messages.

use bytes::{BufMut, BytesMut};
use shardgate_io::chunks::Chunks;

use super::scan::ResourceChunk;
use super::wire::{put_varint, varint_len};

/// The key of field 1, wire type 2 (length-delimited).
const FIELD_1_LEN: u8 = 0x0A;

/// Appends an export request (field 1 = each chunk, tag + varint length + bytes) to `out`; the
/// result is a valid Export*ServiceRequest because protobuf concatenates repeated fields.
pub fn encode_request<'a>(chunks: impl IntoIterator<Item = &'a ResourceChunk>, out: &mut BytesMut) {
    for chunk in chunks {
        let len = chunk.bytes.len();
        out.reserve(1 + varint_len(len as u64) + len);
        out.put_u8(FIELD_1_LEN);
        put_varint(len as u64, out);
        out.put_slice(&chunk.bytes);
    }
}

/// The request [`encode_request`] writes, behind `head` (e.g. the gRPC message prefix), as
/// pieces: the framing bytes live in one small buffer, sliced between the chunks' own bytes, so
/// a vectored write sends the batch without copying it.
pub fn encode_request_pieces(chunks: &[ResourceChunk], head: &[u8]) -> Chunks {
    // Tag (1 byte) + a length varint (at most 10 bytes) per chunk.
    let mut framing = BytesMut::with_capacity(head.len() + chunks.len() * 11);
    framing.put_slice(head);
    let mut ends = Vec::with_capacity(chunks.len());
    for chunk in chunks {
        framing.put_u8(FIELD_1_LEN);
        put_varint(chunk.bytes.len() as u64, &mut framing);
        ends.push(framing.len());
    }
    let framing = framing.freeze();
    let mut pieces = Chunks::with_capacity(chunks.len() * 2 + 1);
    let mut start = 0;
    for (chunk, end) in chunks.iter().zip(ends) {
        pieces.push(framing.slice(start..end));
        pieces.push(chunk.bytes.clone());
        start = end;
    }
    if chunks.is_empty() {
        pieces.push(framing);
    }
    pieces
}

/// The exact byte length [`encode_request`] would write.
pub fn encoded_request_len<'a>(chunks: impl IntoIterator<Item = &'a ResourceChunk>) -> usize {
    chunks
        .into_iter()
        .map(|c| {
            let len = c.bytes.len();
            1 + varint_len(len as u64) + len
        })
        .sum()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use bytes::Bytes;
    use proptest::prelude::*;

    use super::*;
    use crate::otlp::scan_request;
    use crate::otlp::testgen::{self, Req};
    use crate::signal::Signal;

    #[test]
    fn writes_tag_length_body_and_appends() {
        let small = ResourceChunk {
            bytes: Bytes::from_static(b"abc"),
            items: 1,
        };
        let big = ResourceChunk {
            bytes: Bytes::from(vec![0u8; 200]),
            items: 1,
        };
        let mut out = BytesMut::from(&b"xy"[..]);
        encode_request([&small, &big], &mut out);
        assert_eq!(&out[..7], b"xy\x0A\x03abc");
        assert_eq!(&out[7..10], &[0x0A, 0xC8, 0x01]);
        assert_eq!(out.len(), 2 + encoded_request_len([&small, &big]));
        assert_eq!(encoded_request_len([]), 0);
        let mut empty = BytesMut::new();
        encode_request(&[], &mut empty);
        assert!(empty.is_empty());
        for signal in Signal::ALL {
            assert!(
                Req::decode(signal, &out[2..]).is_err(),
                "the chunks are not valid bodies"
            );
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

        #[test]
        fn reencoded_chunks_decode_to_the_original(req in testgen::request()) {
            let bytes = req.encode();
            let s = scan_request(req.signal(), &Bytes::from(bytes.clone())).unwrap();
            let mut out = BytesMut::new();
            encode_request(&s.chunks, &mut out);
            prop_assert_eq!(out.len(), encoded_request_len(&s.chunks));
            prop_assert_eq!(Req::decode(req.signal(), &out).unwrap(), req);
            // prost writes minimal lengths too, so the bytes are the original's.
            prop_assert_eq!(&out[..], &bytes[..]);
            // The vectored form carries the same bytes behind its head.
            let pieces = encode_request_pieces(&s.chunks, b"HEAD!");
            prop_assert_eq!(pieces.len(), 5 + out.len());
            prop_assert_eq!(&pieces.to_bytes()[..], &[&b"HEAD!"[..], &out[..]].concat()[..]);
        }
    }
}
