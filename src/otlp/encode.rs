//! Writing chunks back out as an export request.
//!
//! A request is nothing but field 1 repeated: `0x0A`, the chunk's length as a varint, the
//! chunk's bytes. Protobuf concatenates repeated fields, so any sequence of chunks (of one
//! signal) encodes a valid `Export*ServiceRequest` holding exactly those resource messages.

use bytes::{BufMut, BytesMut};

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
        }
    }
}
