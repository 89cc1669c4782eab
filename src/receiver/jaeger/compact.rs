//! The Thrift compact protocol, read (the Jaeger agent's `thrift_compact` UDP port).
//!
//! Wire facts (Apache Thrift's compact protocol specification):
//! - integers: i16, i32 and i64 are zigzag-encoded ULEB128 varints; lengths, counts and the
//!   message sequence id are plain (unsigned) varints; a byte is one byte; a double is 8
//!   bytes little-endian;
//! - a field header is one byte: the id's delta from the previous field of the same struct
//!   (high nibble, 1..=15) and the type (low nibble); a delta of 0 means a zigzag varint
//!   i16 id follows. Byte 0 is STOP. A bool field's value is its type: 1 true, 2 false;
//! - type nibbles: 1/2 bool, 3 byte, 4 i16, 5 i32, 6 i64, 7 double, 8 binary, 9 list,
//!   10 set, 11 map, 12 struct;
//! - a list or set header is one byte, the count (high nibble, 0..=14) and the element type;
//!   a count nibble of 15 means a varint count follows. A bool element is one byte (1 true);
//! - a map header is a varint count, then (unless 0) one byte: key type and value type;
//! - a message starts with the protocol id 0x82, a byte of type (top 3 bits) and version 1
//!   (low 5 bits), a varint sequence id and the method name (varint length, bytes).

use super::model::DecodeError;
use super::thrift::{self, error, Cursor, MessageHead, Protocol};

const PROTOCOL_ID: u8 = 0x82;
const VERSION: u8 = 1;
/// The longest varint of a 64-bit value.
const VARINT_BYTES_MAX: usize = 10;

/// A compact-protocol reader over one message.
pub(crate) struct Compact<'a> {
    cursor: Cursor<'a>,
    /// The previous field id in the struct being read.
    last_id: i16,
    /// A bool field's value, carried by its header.
    pending_bool: Option<bool>,
}

impl<'a> Compact<'a> {
    /// A reader of `buf`.
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Compact {
            cursor: Cursor::new(buf),
            last_id: 0,
            pending_bool: None,
        }
    }

    fn varint(&mut self) -> Result<u64, DecodeError> {
        let mut value = 0u64;
        for i in 0..VARINT_BYTES_MAX {
            let byte = self.cursor.byte()?;
            value |= u64::from(byte & 0x7f) << (7 * i);
            if byte & 0x80 == 0 {
                return Ok(value);
            }
        }
        Err(error("a varint is longer than 10 bytes"))
    }

    fn zigzag(&mut self) -> Result<i64, DecodeError> {
        let n = self.varint()?;
        Ok(((n >> 1) as i64) ^ -((n & 1) as i64))
    }

    fn length(&mut self) -> Result<usize, DecodeError> {
        let n = self.varint()?;
        usize::try_from(n)
            .ok()
            .filter(|n| u32::try_from(*n).is_ok())
            .ok_or_else(|| error(format!("length {n} is too large")))
    }
}

/// A compact type nibble as the binary protocol's type code; `bool` marks bool's two codes.
fn type_code(nibble: u8) -> Result<u8, DecodeError> {
    Ok(match nibble {
        1 | 2 => thrift::BOOL,
        3 => thrift::BYTE,
        4 => thrift::I16,
        5 => thrift::I32,
        6 => thrift::I64,
        7 => thrift::DOUBLE,
        8 => thrift::STRING,
        9 => thrift::LIST,
        10 => thrift::SET,
        11 => thrift::MAP,
        12 => thrift::STRUCT,
        other => return Err(error(format!("unknown compact type {other}"))),
    })
}

impl Protocol for Compact<'_> {
    fn message_begin(&mut self) -> Result<MessageHead, DecodeError> {
        let id = self.cursor.byte()?;
        if id != PROTOCOL_ID {
            return Err(error(format!(
                "not a compact-protocol message (first byte {id:#04x})"
            )));
        }
        let type_version = self.cursor.byte()?;
        if type_version & 0x1f != VERSION {
            return Err(error(format!(
                "compact protocol version {}",
                type_version & 0x1f
            )));
        }
        self.varint()?;
        let len = self.length()?;
        let name = self.cursor.take(len)?.to_vec();
        let name = String::from_utf8(name).map_err(|_| error("a method name is not UTF-8"))?;
        Ok(MessageHead {
            name,
            kind: type_version >> 5,
        })
    }

    fn field(&mut self) -> Result<Option<(i16, u8)>, DecodeError> {
        let header = self.cursor.byte()?;
        if header == thrift::STOP {
            return Ok(None);
        }
        let (delta, nibble) = (header >> 4, header & 0x0f);
        let id = match delta {
            0 => i16::try_from(self.zigzag()?).map_err(|_| error("a field id is not an i16"))?,
            delta => self
                .last_id
                .checked_add(i16::from(delta))
                .ok_or_else(|| error("a field id is not an i16"))?,
        };
        self.last_id = id;
        let kind = type_code(nibble)?;
        self.pending_bool = (kind == thrift::BOOL).then_some(nibble == 1);
        Ok(Some((id, kind)))
    }

    fn enter(&mut self) -> i16 {
        std::mem::replace(&mut self.last_id, 0)
    }

    fn leave(&mut self, saved: i16) {
        self.last_id = saved;
    }

    fn bool(&mut self) -> Result<bool, DecodeError> {
        match self.pending_bool.take() {
            Some(value) => Ok(value),
            None => Ok(self.cursor.byte()? == 1),
        }
    }

    fn byte(&mut self) -> Result<u8, DecodeError> {
        self.cursor.byte()
    }

    fn i16(&mut self) -> Result<i16, DecodeError> {
        i16::try_from(self.zigzag()?).map_err(|_| error("an i16 is out of range"))
    }

    fn i32(&mut self) -> Result<i32, DecodeError> {
        i32::try_from(self.zigzag()?).map_err(|_| error("an i32 is out of range"))
    }

    fn i64(&mut self) -> Result<i64, DecodeError> {
        self.zigzag()
    }

    fn double(&mut self) -> Result<f64, DecodeError> {
        Ok(f64::from_le_bytes(self.cursor.array()?))
    }

    fn binary(&mut self) -> Result<Vec<u8>, DecodeError> {
        let len = self.length()?;
        Ok(self.cursor.take(len)?.to_vec())
    }

    fn list_begin(&mut self) -> Result<(u8, usize), DecodeError> {
        let header = self.cursor.byte()?;
        let n = match header >> 4 {
            15 => self.length()?,
            n => usize::from(n),
        };
        let element = type_code(header & 0x0f)?;
        Ok((element, self.cursor.count(n)?))
    }

    fn map_begin(&mut self) -> Result<(u8, u8, usize), DecodeError> {
        let n = self.length()?;
        if n == 0 {
            return Ok((thrift::STOP, thrift::STOP, 0));
        }
        let types = self.cursor.byte()?;
        let (key, value) = (type_code(types >> 4)?, type_code(types & 0x0f)?);
        Ok((key, value, self.cursor.count(n)?))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
pub(crate) mod tests {
    use proptest::prelude::*;

    use super::super::model::{Batch, JaegerSpan, Log, Process, Reference, Tag, TagValue};
    use super::*;

    /// A minimal compact-protocol writer for tests (the client side of the protocol).
    pub(crate) struct Encoder {
        pub(crate) out: Vec<u8>,
        last: Vec<i16>,
    }

    impl Encoder {
        /// A message header of `name` (type ONEWAY), then the args struct is open.
        pub(crate) fn message(name: &str) -> Self {
            let mut e = Encoder {
                out: vec![PROTOCOL_ID, (4 << 5) | VERSION],
                last: vec![0],
            };
            e.varint(9);
            e.bytes(name.as_bytes());
            e
        }
        fn varint(&mut self, mut v: u64) {
            while v >= 0x80 {
                self.out.push((v as u8) | 0x80);
                v >>= 7;
            }
            self.out.push(v as u8);
        }
        fn zigzag(&mut self, v: i64) {
            self.varint(((v << 1) ^ (v >> 63)) as u64);
        }
        fn bytes(&mut self, b: &[u8]) {
            self.varint(b.len() as u64);
            self.out.extend_from_slice(b);
        }
        /// A field header: the short form when the delta fits, else the long one.
        pub(crate) fn field(&mut self, id: i16, nibble: u8) -> &mut Self {
            let last = self.last.last_mut().unwrap();
            match id - *last {
                delta @ 1..=15 => self.out.push(((delta as u8) << 4) | nibble),
                _ => {
                    self.out.push(nibble);
                    let id = i64::from(id);
                    *last = 0;
                    self.zigzag(id);
                }
            }
            *self.last.last_mut().unwrap() = id;
            self
        }
        pub(crate) fn begin(&mut self) -> &mut Self {
            self.last.push(0);
            self
        }
        pub(crate) fn end(&mut self) -> &mut Self {
            self.out.push(0);
            self.last.pop();
            self
        }
        pub(crate) fn i64(&mut self, id: i16, v: i64) -> &mut Self {
            self.field(id, 6).zigzag(v);
            self
        }
        pub(crate) fn i32(&mut self, id: i16, v: i32) -> &mut Self {
            self.field(id, 5).zigzag(i64::from(v));
            self
        }
        pub(crate) fn string(&mut self, id: i16, s: &[u8]) -> &mut Self {
            self.field(id, 8).bytes(s);
            self
        }
        /// A list field header of `n` elements of type `nibble`.
        pub(crate) fn list(&mut self, id: i16, nibble: u8, n: usize) -> &mut Self {
            self.field(id, 9);
            if n < 15 {
                self.out.push(((n as u8) << 4) | nibble);
            } else {
                self.out.push(0xf0 | nibble);
                self.varint(n as u64);
            }
            self
        }
        fn tags(&mut self, id: i16, tags: &[Tag]) {
            self.list(id, 12, tags.len());
            for tag in tags {
                self.begin().string(1, tag.key.as_bytes());
                match &tag.value {
                    TagValue::Str(s) => {
                        self.i32(2, 0).string(3, s.as_bytes());
                    }
                    TagValue::Double(d) => {
                        self.i32(2, 1).field(4, 7);
                        self.out.extend_from_slice(&d.to_le_bytes());
                    }
                    TagValue::Bool(b) => {
                        self.i32(2, 2).field(5, if *b { 1 } else { 2 });
                    }
                    TagValue::Int(n) => {
                        self.i32(2, 3).i64(6, *n);
                    }
                    TagValue::Binary(b) => {
                        self.i32(2, 4).string(7, b);
                    }
                    TagValue::Unknown(t) => {
                        self.i32(2, *t);
                    }
                }
                self.end();
            }
        }
        fn span(&mut self, s: &JaegerSpan) {
            let half = |b: &[u8]| i64::from_be_bytes(b.try_into().unwrap());
            self.begin();
            self.i64(1, half(&s.trace_id[8..]))
                .i64(2, half(&s.trace_id[..8]));
            self.i64(3, half(&s.span_id))
                .i64(4, half(&s.parent_span_id));
            self.string(5, s.operation_name.as_bytes());
            self.list(6, 12, s.references.len());
            for r in &s.references {
                self.begin().i32(1, i32::from(r.follows_from));
                self.i64(2, half(&r.trace_id[8..]))
                    .i64(3, half(&r.trace_id[..8]));
                self.i64(4, half(&r.span_id)).end();
            }
            // `flags`, unread.
            self.i32(7, 1);
            self.i64(8, (s.start_unix_nano / 1000) as i64);
            self.i64(9, (s.duration_nano / 1000) as i64);
            self.tags(10, &s.tags);
            self.list(11, 12, s.logs.len());
            for log in &s.logs {
                self.begin().i64(1, (log.time_unix_nano / 1000) as i64);
                self.tags(2, &log.fields);
                self.end();
            }
            // Unknown fields of every shape, skipped: a bool, a map, a list of bools.
            self.field(300, 1);
            self.field(301, 11).varint(1);
            self.out.push(0x85);
            self.bytes(b"k");
            self.zigzag(-3);
            self.list(302, 1, 2).out.extend_from_slice(&[1, 0]);
            self.end();
        }
    }

    /// `batch` as a compact `emitBatch` message.
    pub(crate) fn batch_message(batch: &Batch) -> Vec<u8> {
        let mut e = Encoder::message(EMIT);
        e.field(1, 12).begin();
        if let Some(p) = &batch.process {
            e.field(1, 12).begin().string(1, p.service_name.as_bytes());
            e.tags(2, &p.tags);
            e.end();
        }
        e.list(2, 12, batch.spans.len());
        for span in &batch.spans {
            e.span(span);
        }
        e.end().end();
        e.out
    }

    const EMIT: &str = "emitBatch";

    fn micros() -> impl Strategy<Value = u64> {
        (0u64..1 << 50).prop_map(|us| us * 1000)
    }

    fn tag() -> impl Strategy<Value = Tag> {
        let value = prop_oneof![
            "[a-z ]{0,10}".prop_map(TagValue::Str),
            any::<bool>().prop_map(TagValue::Bool),
            any::<i64>().prop_map(TagValue::Int),
            (-1e12f64..1e12).prop_map(TagValue::Double),
            proptest::collection::vec(any::<u8>(), 0..8).prop_map(TagValue::Binary),
            (5i32..50).prop_map(TagValue::Unknown),
        ];
        ("[a-z.]{0,8}", value).prop_map(|(key, value)| Tag { key, value })
    }

    fn span() -> impl Strategy<Value = JaegerSpan> {
        let reference = (any::<[u8; 16]>(), any::<[u8; 8]>(), any::<bool>()).prop_map(
            |(trace_id, span_id, follows_from)| Reference {
                trace_id,
                span_id,
                follows_from,
            },
        );
        let log = (micros(), proptest::collection::vec(tag(), 0..3)).prop_map(
            |(time_unix_nano, fields)| Log {
                time_unix_nano,
                fields,
            },
        );
        let parent = prop_oneof![Just([0u8; 8]), any::<[u8; 8]>()];
        (
            (any::<[u8; 16]>(), any::<[u8; 8]>(), parent, "[a-z/]{0,12}"),
            proptest::collection::vec(reference, 0..3),
            (micros(), micros()),
            proptest::collection::vec(tag(), 0..20),
            proptest::collection::vec(log, 0..3),
        )
            .prop_map(
                |((trace_id, span_id, parent, name), references, (start, duration), tags, logs)| {
                    let mut span = JaegerSpan {
                        trace_id,
                        span_id,
                        parent_span_id: parent,
                        operation_name: name,
                        references,
                        start_unix_nano: start,
                        duration_nano: duration,
                        tags,
                        logs,
                        process: None,
                    };
                    if span.parent_span_id == [0; 8] {
                        // What a decoder reads for "no parent id": the references' parent.
                        span.parent_span_id = super::super::model::parent_from_references(
                            span.trace_id,
                            &span.references,
                        );
                    }
                    span
                },
            )
    }

    /// Random batches of what jaeger.thrift carries.
    pub(crate) fn random_batch() -> impl Strategy<Value = Batch> {
        let process = ("[a-z-]{0,10}", proptest::collection::vec(tag(), 0..3))
            .prop_map(|(service_name, tags)| Process { service_name, tags });
        (
            proptest::option::of(process),
            proptest::collection::vec(span(), 0..20),
        )
            .prop_map(|(process, spans)| Batch { process, spans })
    }

    proptest! {
        /// Encoded by the test encoder and decoded back, every batch is the same.
        #[test]
        fn batches_round_trip(batch in random_batch()) {
            let message = batch_message(&batch);
            let decoded = super::super::agent::decode(
                super::super::agent::AgentProtocol::Compact,
                &message,
            ).unwrap();
            prop_assert_eq!(decoded, batch);
        }
    }

    #[test]
    fn hostile_headers_are_refused() {
        let decode =
            |b: &[u8]| super::super::agent::decode(super::super::agent::AgentProtocol::Compact, b);
        // A list claiming 2^31 elements in a few bytes.
        let mut e = Encoder::message(EMIT);
        e.field(1, 12).begin().list(2, 12, 1 << 31);
        assert!(decode(&e.out)
            .unwrap_err()
            .to_string()
            .contains("more than the bytes left"));
        // A string longer than the datagram, an endless varint, a bad version, deep nesting.
        let mut e = Encoder::message(EMIT);
        e.field(1, 12)
            .begin()
            .field(1, 12)
            .begin()
            .field(1, 8)
            .varint(1 << 30);
        assert!(decode(&e.out).is_err());
        let mut e = Encoder::message(EMIT);
        e.out.extend_from_slice(&[
            0x16, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01,
        ]);
        assert!(decode(&e.out).unwrap_err().to_string().contains("varint"));
        assert!(decode(&[PROTOCOL_ID, 0x82])
            .unwrap_err()
            .to_string()
            .contains("version"));
        let mut e = Encoder::message(EMIT);
        for _ in 0..100 {
            e.field(1, 12).begin();
        }
        assert!(decode(&e.out).unwrap_err().to_string().contains("too deep"));
        assert!(decode(&[]).is_err());
    }
}
