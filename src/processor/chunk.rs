//! A resource chunk split for a field rewrite: decode only what a processor touches.
//!
//! A chunk is one encoded `ResourceSpans`/`ResourceMetrics`/`ResourceLogs` (field 1 =
//! `resource`, then scope messages and `schema_url`). Steps:
//! 1. [`split_resource`] walks the chunk's top-level fields once, decodes every field-1
//!    occurrence into one `Resource` (protobuf merges repeated singular message fields, so all
//!    occurrences are merged, as prost would) and copies the other fields' bytes untouched.
//! 2. The processor changes the `Resource`, or decides from it that no item can match.
//! 3. [`join_resource`] writes one field 1 with the new resource followed by the untouched
//!    bytes. The original field-1 bytes are dropped, not kept: a second field 1 would be merged
//!    with the new one by a decoder, resurrecting deleted attributes.
//!
//! Processors that need item fields decode the whole chunk with prost instead.

use bytes::{BufMut, Bytes, BytesMut};
use opentelemetry_proto::tonic::resource::v1::Resource;
use prost::encoding::{decode_key, decode_varint, encode_key, encode_varint, WireType};
use prost::Message;

/// Why a chunk could not be rewritten (the scan validated it, so this means a bug upstream).
#[derive(Debug, thiserror::Error)]
pub enum TransformError {
    /// The chunk is not valid protobuf.
    #[error("resource message does not decode: {0}")]
    Decode(#[from] prost::DecodeError),
    /// The chunk's top-level wire format is broken.
    #[error("resource message is malformed: {0}")]
    Malformed(&'static str),
    /// An OTTL statement or condition failed with `error_mode: propagate`.
    #[error("{0}")]
    Ottl(String),
    /// A test armed `rewrite_fails` (`crate::fault`; only in builds with fault injection).
    #[error("injected fault: rewrite_fails")]
    Injected,
}

/// One field of a message on the wire.
pub(crate) struct WireField<'a> {
    /// Its field number.
    pub number: u32,
    /// Its wire type.
    pub wire: WireType,
    /// Key and body.
    pub raw: &'a [u8],
    /// The body (for length-delimited fields, without its length).
    pub body: &'a [u8],
}

/// Calls `f` with each field of `msg`, in order.
pub(crate) fn walk<'a>(
    msg: &'a [u8],
    mut f: impl FnMut(WireField<'a>) -> Result<(), TransformError>,
) -> Result<(), TransformError> {
    let mut buf = msg;
    while !buf.is_empty() {
        let start = msg.len() - buf.len();
        let (number, wire) = decode_key(&mut buf)?;
        let len = match wire {
            WireType::Varint => {
                decode_varint(&mut buf)?;
                0
            }
            WireType::SixtyFourBit => 8,
            WireType::ThirtyTwoBit => 4,
            WireType::LengthDelimited => usize::try_from(decode_varint(&mut buf)?)
                .map_err(|_| TransformError::Malformed("length overflows usize"))?,
            WireType::StartGroup | WireType::EndGroup => {
                return Err(TransformError::Malformed("groups are not allowed"))
            }
        };
        let body_start = msg.len() - buf.len();
        if wire == WireType::Varint {
            f(WireField {
                number,
                wire,
                raw: &msg[start..body_start],
                body: &msg[start..body_start],
            })?;
            continue;
        }
        if len > buf.len() {
            return Err(TransformError::Malformed("field overruns the message"));
        }
        buf = &buf[len..];
        f(WireField {
            number,
            wire,
            raw: &msg[start..body_start + len],
            body: &msg[body_start..body_start + len],
        })?;
    }
    Ok(())
}

/// A resource chunk with its `resource` decoded and everything else kept as bytes.
pub struct SplitChunk {
    /// The merged `resource` field.
    pub resource: Resource,
    /// The chunk's other fields, byte for byte.
    pub rest: Vec<u8>,
}

/// Step 1: decodes field 1 of `chunk` and keeps the other fields' bytes.
pub fn split_resource(chunk: &[u8]) -> Result<SplitChunk, TransformError> {
    let mut buf = chunk;
    let mut resource = Resource::default();
    let mut rest = Vec::with_capacity(chunk.len());
    while !buf.is_empty() {
        let start = chunk.len() - buf.len();
        let (field, wire_type) = decode_key(&mut buf)?;
        let body_len = match wire_type {
            WireType::Varint => {
                decode_varint(&mut buf)?;
                0
            }
            WireType::SixtyFourBit => 8,
            WireType::ThirtyTwoBit => 4,
            WireType::LengthDelimited => usize::try_from(decode_varint(&mut buf)?)
                .map_err(|_| TransformError::Malformed("length overflows usize"))?,
            WireType::StartGroup | WireType::EndGroup => {
                return Err(TransformError::Malformed("groups are not allowed"))
            }
        };
        if body_len > buf.len() {
            return Err(TransformError::Malformed("field overruns the message"));
        }
        let (body, tail) = buf.split_at(body_len);
        buf = tail;
        if field == 1 && wire_type == WireType::LengthDelimited {
            resource.merge(body)?;
        } else {
            rest.extend_from_slice(&chunk[start..chunk.len() - buf.len()]);
        }
    }
    Ok(SplitChunk { resource, rest })
}

/// Step 3: field 1 = `resource`, then the untouched fields.
pub fn join_resource(split: &SplitChunk) -> Bytes {
    let len = split.resource.encoded_len();
    let mut out = BytesMut::with_capacity(len + 11 + split.rest.len());
    encode_key(1, WireType::LengthDelimited, &mut out);
    encode_varint(len as u64, &mut out);
    // Encoding into a BytesMut cannot run out of space (it grows), so this never fails.
    let _ = split.resource.encode(&mut out);
    out.put_slice(&split.rest);
    out.freeze()
}
