//! Protobuf wire-format primitives for the structural scan: the error type, a bounds-checked
//! reader over one message body, and the varint rules prost applies.
//!
//! Every read here is checked: a reader never indexes past its slice and never panics, whatever
//! the bytes. Offsets in errors are absolute byte positions in the buffer handed to the scan
//! (the request body, or the chunk for `split_chunk`).

use std::fmt;

/// Why a payload was rejected: what is wrong and where, in words a client developer understands.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScanError {
    /// The buffer ended in the middle of a varint.
    #[error("truncated varint at byte {offset}")]
    TruncatedVarint {
        /// Where the varint starts.
        offset: usize,
    },
    /// A varint longer than 10 bytes, or whose 10th byte overflows 64 bits (prost rejects both).
    #[error("invalid varint at byte {offset}: longer than 10 bytes or overflows 64 bits")]
    OverlongVarint {
        /// Where the varint starts.
        offset: usize,
    },
    /// A field key that does not fit in 32 bits.
    #[error("invalid field key {key} at byte {offset}: larger than 32 bits")]
    InvalidKey {
        /// The decoded key.
        key: u64,
        /// Where the key starts.
        offset: usize,
    },
    /// Wire type 6 or 7, which protobuf does not define.
    #[error("invalid wire type {wire_type} for field {field} at byte {offset} in {message}")]
    InvalidWireType {
        /// The wire type found.
        wire_type: u8,
        /// The field number of the key.
        field: u32,
        /// The message being read.
        message: &'static str,
        /// Where the key starts.
        offset: usize,
    },
    /// Field number 0, which protobuf reserves.
    #[error("field number 0 at byte {offset} in {message}")]
    FieldNumberZero {
        /// The message being read.
        message: &'static str,
        /// Where the key starts.
        offset: usize,
    },
    /// A known field encoded with the wrong wire type.
    #[error(
        "field {field} ({name}) of {message} has wire type {actual} ({}), expected {expected} ({}), at byte {offset}",
        wire_type_name(*actual),
        wire_type_name(*expected)
    )]
    WrongWireType {
        /// The field number.
        field: u32,
        /// The field name in the .proto file.
        name: &'static str,
        /// The full name of the message.
        message: &'static str,
        /// The wire type found.
        actual: u8,
        /// The wire type the schema requires.
        expected: u8,
        /// Where the key starts.
        offset: usize,
    },
    /// A `string` field whose bytes are not UTF-8.
    #[error("invalid UTF-8 in string field {message}.{name} at byte {offset}")]
    InvalidUtf8 {
        /// The full name of the message.
        message: &'static str,
        /// The field name.
        name: &'static str,
        /// Where the string's bytes start.
        offset: usize,
    },
    /// A length prefix larger than what is left of the enclosing message.
    #[error("length {len} at byte {offset} runs past the end of the message ({left} bytes left)")]
    LengthOverrun {
        /// The declared length.
        len: u64,
        /// Where the length prefix starts.
        offset: usize,
        /// Bytes left in the enclosing message after the prefix.
        left: usize,
    },
    /// A fixed-width value cut off by the end of the enclosing message.
    #[error(
        "{width}-byte value at byte {offset} runs past the end of the message ({left} bytes left)"
    )]
    TruncatedFixed {
        /// 4 or 8.
        width: usize,
        /// Where the value starts.
        offset: usize,
        /// Bytes left in the enclosing message.
        left: usize,
    },
    /// Packed fixed-width values whose byte length is not a multiple of the value width.
    #[error(
        "packed field {message}.{name} at byte {offset} is {len} bytes long, not a multiple of {width}"
    )]
    PackedLength {
        /// The full name of the message.
        message: &'static str,
        /// The field name.
        name: &'static str,
        /// The packed payload's length.
        len: usize,
        /// The element width (4 or 8).
        width: usize,
        /// Where the packed payload starts.
        offset: usize,
    },
    /// Messages or groups nested beyond prost's recursion limit.
    #[error("messages nested deeper than {limit} at byte {offset}")]
    TooDeep {
        /// The limit (100, as prost).
        limit: u32,
        /// Where the field that went too deep starts.
        offset: usize,
    },
    /// An end-group key with no matching start-group.
    #[error("unexpected end-group tag for field {field} at byte {offset}")]
    UnexpectedEndGroup {
        /// The field number of the end-group key.
        field: u32,
        /// Where the key starts.
        offset: usize,
    },
    /// One resource message holds more items than a `u32` counts.
    #[error("resource message at byte {offset} holds more than 4294967295 items")]
    TooManyItems {
        /// Where the resource message body starts.
        offset: usize,
    },
    /// `split_chunk` was asked for an impossible split.
    #[error("cannot split a chunk of {items} items after {first} items (need 0 < first < items)")]
    BadSplit {
        /// The chunk's item count.
        items: u32,
        /// The requested first-half size.
        first: u32,
    },
    /// `split_chunk` was handed a chunk whose `items` does not match its bytes.
    #[error("chunk claims {claimed} items but its bytes hold {found}")]
    ItemCountMismatch {
        /// `chunk.items`.
        claimed: u32,
        /// What the scan counted.
        found: u64,
    },
}

/// The wire-type names used in messages.
pub(crate) fn wire_type_name(wire_type: u8) -> &'static str {
    match wire_type {
        WT_VARINT => "varint",
        WT_FIXED64 => "64-bit",
        WT_LEN => "length-delimited",
        WT_START_GROUP => "start group",
        WT_END_GROUP => "end group",
        WT_FIXED32 => "32-bit",
        _ => "invalid",
    }
}

pub(crate) const WT_VARINT: u8 = 0;
pub(crate) const WT_FIXED64: u8 = 1;
pub(crate) const WT_LEN: u8 = 2;
pub(crate) const WT_START_GROUP: u8 = 3;
pub(crate) const WT_END_GROUP: u8 = 4;
pub(crate) const WT_FIXED32: u8 = 5;

/// prost's `RECURSION_LIMIT`: how many message (and group) levels a decode may enter.
pub(crate) const RECURSION_LIMIT: u32 = 100;

/// A decoded field key.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Key {
    pub field: u32,
    pub wire_type: u8,
    /// Where the key starts (absolute).
    pub offset: usize,
}

/// A cursor over one message body: reads stay below `end` (≤ `data.len()`), which the scan
/// lowers on entering a nested message and restores on leaving it. `base` is the absolute
/// offset of `data[0]`.
#[derive(Clone)]
pub(crate) struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
    end: usize,
    base: usize,
}

impl fmt::Debug for Reader<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Reader(at {}, {} left)", self.offset(), self.remaining())
    }
}

impl<'a> Reader<'a> {
    /// A reader over `data`, whose first byte is at absolute offset `base`.
    #[inline]
    pub fn new(data: &'a [u8], base: usize) -> Self {
        Reader {
            data,
            pos: 0,
            end: data.len(),
            base,
        }
    }

    /// Whether any byte is left before `end`.
    #[inline(always)]
    pub fn has_remaining(&self) -> bool {
        self.pos < self.end
    }

    /// Bytes left before `end`.
    #[inline(always)]
    pub fn remaining(&self) -> usize {
        self.end.saturating_sub(self.pos)
    }

    /// Absolute offset of the next byte.
    #[inline(always)]
    pub fn offset(&self) -> usize {
        self.base + self.pos
    }

    /// Position relative to this reader's slice.
    #[inline(always)]
    pub fn pos(&self) -> usize {
        self.pos
    }

    /// The current limit (relative to this reader's slice).
    #[inline(always)]
    pub fn end(&self) -> usize {
        self.end
    }

    /// The whole slice (not just the unread part), for the scan's fast pass, which walks it
    /// with plain indices between [`Reader::pos`] and [`Reader::end`].
    #[inline(always)]
    pub fn slice(&self) -> &'a [u8] {
        self.data
    }

    /// Moves to `pos` (relative to this reader's slice; clamped to the slice).
    #[inline(always)]
    pub fn set_pos(&mut self, pos: usize) {
        self.pos = pos.min(self.data.len());
    }

    /// Restores a limit saved from [`Reader::end`] (on leaving a nested message).
    #[inline(always)]
    pub fn set_end(&mut self, end: usize) {
        self.end = end.min(self.data.len());
    }

    /// The unread bytes (up to `end`).
    #[inline(always)]
    pub fn data(&self) -> &'a [u8] {
        self.data.get(self.pos..self.end).unwrap_or_default()
    }

    /// Reads a varint with prost's acceptance rules: at most 10 bytes, and a 10th byte of 0 or 1.
    /// Non-canonical (zero-padded) encodings within 10 bytes are accepted, as prost does.
    #[inline(always)]
    pub fn varint(&mut self) -> Result<u64, ScanError> {
        if self.pos < self.end {
            if let Some(&b) = self.data.get(self.pos) {
                if b < 0x80 {
                    self.pos += 1;
                    return Ok(u64::from(b));
                }
            }
        }
        self.varint_multi()
    }

    #[inline(never)]
    fn varint_multi(&mut self) -> Result<u64, ScanError> {
        let start = self.pos;
        let rest = self.data.get(start..self.end).unwrap_or_default();
        let mut value: u64 = 0;
        for (i, &b) in rest.iter().take(10).enumerate() {
            value |= u64::from(b & 0x7F) << (7 * i);
            if b < 0x80 {
                if i == 9 && b >= 0x02 {
                    return Err(ScanError::OverlongVarint {
                        offset: self.base + start,
                    });
                }
                self.pos = start + i + 1;
                return Ok(value);
            }
        }
        if rest.len() >= 10 {
            Err(ScanError::OverlongVarint {
                offset: self.base + start,
            })
        } else {
            Err(ScanError::TruncatedVarint {
                offset: self.base + start,
            })
        }
    }

    /// Reads and checks a field key as prost's `decode_key` does (key fits 32 bits, wire type
    /// 0–5, field number ≥ 1). `message` names the message for errors.
    #[inline(always)]
    pub fn key(&mut self, message: &'static str) -> Result<Key, ScanError> {
        let offset = self.offset();
        let key = self.varint()?;
        if key > u64::from(u32::MAX) {
            return Err(ScanError::InvalidKey { key, offset });
        }
        let wire_type = (key & 7) as u8;
        let field = (key >> 3) as u32;
        if wire_type > WT_FIXED32 {
            return Err(ScanError::InvalidWireType {
                wire_type,
                field,
                message,
                offset,
            });
        }
        if field == 0 {
            return Err(ScanError::FieldNumberZero { message, offset });
        }
        Ok(Key {
            field,
            wire_type,
            offset,
        })
    }

    /// Skips `width` bytes of a fixed-width value.
    #[inline(always)]
    pub fn skip_fixed(&mut self, width: usize) -> Result<(), ScanError> {
        if self.remaining() < width {
            return Err(ScanError::TruncatedFixed {
                width,
                offset: self.offset(),
                left: self.remaining(),
            });
        }
        self.pos += width;
        Ok(())
    }

    /// Reads a length prefix and checks the payload fits before `end`; returns where the
    /// payload ends (relative), leaving the reader at the payload's start.
    #[inline(always)]
    fn length(&mut self) -> Result<usize, ScanError> {
        let offset = self.offset();
        let len = self.varint()?;
        let left = self.remaining();
        if len > left as u64 {
            return Err(ScanError::LengthOverrun { len, offset, left });
        }
        Ok(self.pos + len as usize)
    }

    /// Reads a length prefix and returns the length-delimited payload as a sub-reader
    /// (its `base` is the payload's absolute offset), advancing past it.
    #[inline(always)]
    pub fn len_delimited(&mut self) -> Result<Reader<'a>, ScanError> {
        let end = self.length()?;
        let start = self.pos;
        let payload = self.data.get(start..end).unwrap_or_default();
        self.pos = end;
        Ok(Reader::new(payload, self.base + start))
    }

    /// Reads a length prefix and enters the payload: the reader stays put and its limit becomes
    /// the payload's end. Returns the previous limit, to hand back to [`Reader::set_end`] once
    /// the payload is consumed.
    #[inline(always)]
    pub fn enter(&mut self) -> Result<usize, ScanError> {
        let end = self.length()?;
        Ok(std::mem::replace(&mut self.end, end))
    }
}

/// Number of bytes `value` takes as a varint (1–10).
#[inline]
pub(crate) const fn varint_len(value: u64) -> usize {
    let bits = 64 - (value | 1).leading_zeros() as usize;
    bits.div_ceil(7)
}

/// Appends `value` as a varint.
#[inline]
pub(crate) fn put_varint(mut value: u64, out: &mut impl bytes::BufMut) {
    while value >= 0x80 {
        out.put_u8((value as u8) | 0x80);
        value >>= 7;
    }
    out.put_u8(value as u8);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read(bytes: &[u8]) -> Result<(u64, usize), ScanError> {
        let mut r = Reader::new(bytes, 0);
        let v = r.varint()?;
        Ok((v, r.pos()))
    }

    #[test]
    fn varints_follow_prost() {
        assert_eq!(read(&[0x00]), Ok((0, 1)));
        assert_eq!(read(&[0x96, 0x01]), Ok((150, 2)));
        // Zero-padded encodings are accepted, as prost does.
        assert_eq!(read(&[0x80, 0x80, 0x00]), Ok((0, 3)));
        let max = [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01];
        assert_eq!(read(&max), Ok((u64::MAX, 10)));
        let overflow = [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x02];
        assert_eq!(
            read(&overflow),
            Err(ScanError::OverlongVarint { offset: 0 })
        );
        let eleven = [0x80; 11];
        assert_eq!(read(&eleven), Err(ScanError::OverlongVarint { offset: 0 }));
        assert_eq!(
            read(&[0x80, 0x80]),
            Err(ScanError::TruncatedVarint { offset: 0 })
        );
        assert_eq!(read(&[]), Err(ScanError::TruncatedVarint { offset: 0 }));
    }

    #[test]
    fn varints_agree_with_prost_on_every_shape() {
        for len in 1..=12usize {
            for last in [0x00u8, 0x01, 0x02, 0x7F, 0x80] {
                let mut bytes = vec![0xFFu8; len - 1];
                bytes.push(last);
                let mut slice = bytes.as_slice();
                let prost = prost::encoding::decode_varint(&mut slice);
                let ours = read(&bytes);
                assert_eq!(prost.is_ok(), ours.is_ok(), "{bytes:x?}");
                if let (Ok(p), Ok((o, _))) = (prost, ours) {
                    assert_eq!(p, o);
                }
            }
        }
    }

    #[test]
    fn varint_len_and_put_roundtrip() {
        for v in [0u64, 1, 127, 128, 300, 1 << 35, u64::MAX] {
            let mut out = Vec::new();
            put_varint(v, &mut out);
            assert_eq!(out.len(), varint_len(v));
            assert_eq!(out.len(), prost::encoding::encoded_len_varint(v));
            assert_eq!(read(&out), Ok((v, out.len())));
        }
    }

    #[test]
    fn keys_are_checked() {
        let mut r = Reader::new(&[0x00], 0);
        assert!(matches!(r.key("M"), Err(ScanError::FieldNumberZero { .. })));
        let mut r = Reader::new(&[0x0E], 0);
        assert!(matches!(
            r.key("M"),
            Err(ScanError::InvalidWireType { wire_type: 6, .. })
        ));
        let mut r = Reader::new(&[0x0F], 0);
        assert!(matches!(
            r.key("M"),
            Err(ScanError::InvalidWireType { wire_type: 7, .. })
        ));
        let mut r = Reader::new(&[0x80, 0x80, 0x80, 0x80, 0x10], 0);
        assert!(matches!(r.key("M"), Err(ScanError::InvalidKey { .. })));
    }

    #[test]
    fn lengths_are_bounded() {
        let mut r = Reader::new(&[0x05, 1, 2], 10);
        let err = r.len_delimited().err();
        assert_eq!(
            err,
            Some(ScanError::LengthOverrun {
                len: 5,
                offset: 10,
                left: 2
            })
        );
        assert_eq!(
            err.map(|e| e.to_string()).unwrap_or_default(),
            "length 5 at byte 10 runs past the end of the message (2 bytes left)"
        );
    }
}
