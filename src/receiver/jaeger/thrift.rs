//! Thrift readers for the jaeger.thrift structs (jaeger-idl) Jaeger clients send: a `Batch`
//! posted over HTTP in the binary protocol, or wrapped in an agent `emitBatch` message over
//! UDP in the binary or the compact protocol ([`super::compact`], [`super::agent`]).
//!
//! Written by hand rather than generated: there is no Thrift compiler in the build, the Rust
//! Thrift crates are large for a few structs, and a hand reader can bound everything a hostile
//! body controls. Every read checks the bytes left; a container's element count must fit in
//! the bytes left (each element takes at least one byte), so no count allocates past the
//! body; unknown fields are skipped to a bounded nesting depth. The struct readers are written
//! once over [`Protocol`], which each wire protocol implements; field and element types are
//! the binary protocol's type codes whatever the wire says.
//!
//! The binary protocol: a struct is fields until a STOP byte (0); a field is its type (1
//! byte), its id (i16, big-endian) and its value. Values: bool and byte 1 byte, i16/i32/i64
//! and double 2/4/8 bytes big-endian, string/binary an i32 length then bytes, list and set
//! an element type byte and an i32 count, map key and value type bytes and an i32 count. A
//! message starts with an i32 `0x8001_0000 | type`, the method name (string) and an i32
//! sequence id (strict form), or with the name, a type byte and the id (the old form).
//!
//! jaeger.thrift fields read here (others are skipped):
//! - `Batch`: 1 `process` (Process), 2 `spans` (list<Span>);
//! - `Process`: 1 `serviceName`, 2 `tags` (list<Tag>);
//! - `Span`: 1 `traceIdLow`, 2 `traceIdHigh`, 3 `spanId`, 4 `parentSpanId` (i64; 0 means
//!   "from the references", as Jaeger reads it), 5
//!   `operationName`, 6 `references` (list<SpanRef>), 8 `startTime`, 9 `duration` (i64 µs),
//!   10 `tags`, 11 `logs` (list<Log>);
//! - `Tag`: 1 `key`, 2 `vType` (i32: 0 STRING, 1 DOUBLE, 2 BOOL, 3 LONG, 4 BINARY), 3 `vStr`,
//!   4 `vDouble`, 5 `vBool`, 6 `vLong`, 7 `vBinary`;
//! - `Log`: 1 `timestamp` (i64 µs), 2 `fields` (list<Tag>);
//! - `SpanRef`: 1 `refType` (i32: 0 CHILD_OF, 1 FOLLOWS_FROM), 2 `traceIdLow`, 3
//!   `traceIdHigh`, 4 `spanId`.

use super::model::{Batch, DecodeError, JaegerSpan, Log, Process, Reference, Tag, TagValue};

pub(crate) const STOP: u8 = 0;
pub(crate) const BOOL: u8 = 2;
pub(crate) const BYTE: u8 = 3;
pub(crate) const DOUBLE: u8 = 4;
pub(crate) const I16: u8 = 6;
pub(crate) const I32: u8 = 8;
pub(crate) const I64: u8 = 10;
pub(crate) const STRING: u8 = 11;
pub(crate) const STRUCT: u8 = 12;
pub(crate) const MAP: u8 = 13;
pub(crate) const SET: u8 = 14;
pub(crate) const LIST: u8 = 15;

/// Deepest nesting of skipped values; jaeger.thrift's deepest is 4 (batch, span, log, tag).
const DEPTH_MAX: usize = 16;

/// Decodes a Thrift binary `Batch`.
pub fn decode(body: &[u8]) -> Result<Batch, DecodeError> {
    batch(&mut Binary::new(body))
}

pub(crate) fn error(what: impl Into<String>) -> DecodeError {
    DecodeError::Thrift(what.into())
}

/// A message header: the method called and the message type (1 CALL, 4 ONEWAY).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct MessageHead {
    /// The method name.
    pub(crate) name: String,
    /// The message type.
    pub(crate) kind: u8,
}

/// One Thrift wire protocol, read. Types are the binary protocol's codes.
pub(crate) trait Protocol {
    /// A message header.
    fn message_begin(&mut self) -> Result<MessageHead, DecodeError>;
    /// A field header: its id and type, or `None` at the struct's STOP.
    fn field(&mut self) -> Result<Option<(i16, u8)>, DecodeError>;
    /// Entering a struct; returns what [`Protocol::leave`] restores.
    fn enter(&mut self) -> i16;
    /// Leaving a struct entered with [`Protocol::enter`].
    fn leave(&mut self, saved: i16);
    /// A bool (a field's, or a list element's).
    fn bool(&mut self) -> Result<bool, DecodeError>;
    /// A byte.
    fn byte(&mut self) -> Result<u8, DecodeError>;
    /// An i16.
    fn i16(&mut self) -> Result<i16, DecodeError>;
    /// An i32.
    fn i32(&mut self) -> Result<i32, DecodeError>;
    /// An i64.
    fn i64(&mut self) -> Result<i64, DecodeError>;
    /// A double.
    fn double(&mut self) -> Result<f64, DecodeError>;
    /// A string or binary value.
    fn binary(&mut self) -> Result<Vec<u8>, DecodeError>;
    /// A list or set header: element type and count (checked against the bytes left).
    fn list_begin(&mut self) -> Result<(u8, usize), DecodeError>;
    /// A map header: key type, value type and count (checked against the bytes left).
    fn map_begin(&mut self) -> Result<(u8, u8, usize), DecodeError>;
}

/// Bytes read front to back, every read bounded by what is left.
pub(crate) struct Cursor<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Cursor<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Cursor { buf, pos: 0 }
    }

    pub(crate) fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|end| *end <= self.buf.len())
            .ok_or_else(|| error(format!("truncated at byte {}", self.pos)))?;
        let bytes = &self.buf[self.pos..end];
        self.pos = end;
        Ok(bytes)
    }

    pub(crate) fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let mut out = [0; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    pub(crate) fn byte(&mut self) -> Result<u8, DecodeError> {
        Ok(self.array::<1>()?[0])
    }

    /// `n` as an element count: no more elements than bytes left.
    pub(crate) fn count(&self, n: usize) -> Result<usize, DecodeError> {
        if n > self.buf.len() - self.pos {
            return Err(error(format!(
                "element count {n} is more than the bytes left"
            )));
        }
        Ok(n)
    }
}

/// The binary protocol.
pub(crate) struct Binary<'a>(Cursor<'a>);

impl<'a> Binary<'a> {
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Binary(Cursor::new(buf))
    }

    fn length(&mut self) -> Result<usize, DecodeError> {
        let n = self.i32()?;
        usize::try_from(n).map_err(|_| error(format!("negative length {n}")))
    }
}

/// The strict message header's version, in the top half of its first i32.
const BINARY_VERSION_1: u32 = 0x8001_0000;

impl Protocol for Binary<'_> {
    fn message_begin(&mut self) -> Result<MessageHead, DecodeError> {
        let first = u32::from_be_bytes(self.0.array()?);
        let (name, kind) = if first & 0x8000_0000 != 0 {
            if first & 0xffff_0000 != BINARY_VERSION_1 {
                return Err(error(format!("bad message version {first:#x}")));
            }
            (self.binary()?, first.to_be_bytes()[3])
        } else {
            let len = usize::try_from(first).unwrap_or(usize::MAX);
            let name = self.0.take(len)?.to_vec();
            (name, self.byte()?)
        };
        self.i32()?;
        let name = String::from_utf8(name).map_err(|_| error("a method name is not UTF-8"))?;
        Ok(MessageHead { name, kind })
    }

    fn field(&mut self) -> Result<Option<(i16, u8)>, DecodeError> {
        let kind = self.byte()?;
        if kind == STOP {
            return Ok(None);
        }
        Ok(Some((self.i16()?, kind)))
    }

    fn enter(&mut self) -> i16 {
        0
    }

    fn leave(&mut self, _saved: i16) {}

    fn bool(&mut self) -> Result<bool, DecodeError> {
        Ok(self.byte()? != 0)
    }

    fn byte(&mut self) -> Result<u8, DecodeError> {
        self.0.byte()
    }

    fn i16(&mut self) -> Result<i16, DecodeError> {
        Ok(i16::from_be_bytes(self.0.array()?))
    }

    fn i32(&mut self) -> Result<i32, DecodeError> {
        Ok(i32::from_be_bytes(self.0.array()?))
    }

    fn i64(&mut self) -> Result<i64, DecodeError> {
        Ok(i64::from_be_bytes(self.0.array()?))
    }

    fn double(&mut self) -> Result<f64, DecodeError> {
        Ok(f64::from_be_bytes(self.0.array()?))
    }

    fn binary(&mut self) -> Result<Vec<u8>, DecodeError> {
        let len = self.length()?;
        Ok(self.0.take(len)?.to_vec())
    }

    fn list_begin(&mut self) -> Result<(u8, usize), DecodeError> {
        let element = self.byte()?;
        let n = self.i32()?;
        let n = usize::try_from(n).map_err(|_| error(format!("negative element count {n}")))?;
        Ok((element, self.0.count(n)?))
    }

    fn map_begin(&mut self) -> Result<(u8, u8, usize), DecodeError> {
        let (key, value) = (self.byte()?, self.byte()?);
        let n = self.i32()?;
        let n = usize::try_from(n).map_err(|_| error(format!("negative element count {n}")))?;
        Ok((key, value, self.0.count(n)?))
    }
}

fn string<P: Protocol>(r: &mut P) -> Result<String, DecodeError> {
    String::from_utf8(r.binary()?).map_err(|_| error("a string is not UTF-8"))
}

/// Reads a struct's fields up to STOP; `field` reads the ones it knows (returning true) and
/// the others are skipped.
pub(crate) fn fields<P: Protocol>(
    r: &mut P,
    mut field: impl FnMut(&mut P, i16, u8) -> Result<bool, DecodeError>,
) -> Result<(), DecodeError> {
    let saved = r.enter();
    while let Some((id, kind)) = r.field()? {
        if !field(r, id, kind)? {
            skip(r, kind, 0)?;
        }
    }
    r.leave(saved);
    Ok(())
}

fn list<P: Protocol, T>(
    r: &mut P,
    element: u8,
    mut read: impl FnMut(&mut P) -> Result<T, DecodeError>,
) -> Result<Vec<T>, DecodeError> {
    let (kind, n) = r.list_begin()?;
    if kind != element && n > 0 {
        return Err(error(format!("list of type {kind}, expected {element}")));
    }
    (0..n).map(|_| read(r)).collect()
}

fn skip<P: Protocol>(r: &mut P, kind: u8, depth: usize) -> Result<(), DecodeError> {
    if depth > DEPTH_MAX {
        return Err(error("values nested too deep"));
    }
    match kind {
        BOOL => r.bool().map(drop),
        BYTE => r.byte().map(drop),
        I16 => r.i16().map(drop),
        I32 => r.i32().map(drop),
        I64 => r.i64().map(drop),
        DOUBLE => r.double().map(drop),
        STRING => r.binary().map(drop),
        STRUCT => {
            let saved = r.enter();
            while let Some((_, field)) = r.field()? {
                skip(r, field, depth + 1)?;
            }
            r.leave(saved);
            Ok(())
        }
        LIST | SET => {
            let (element, n) = r.list_begin()?;
            (0..n).try_for_each(|_| skip(r, element, depth + 1))
        }
        MAP => {
            let (key, value, n) = r.map_begin()?;
            (0..n).try_for_each(|_| {
                skip(r, key, depth + 1)?;
                skip(r, value, depth + 1)
            })
        }
        other => Err(error(format!("unknown field type {other}"))),
    }
}

/// A `Batch` struct.
pub(crate) fn batch<P: Protocol>(r: &mut P) -> Result<Batch, DecodeError> {
    let mut batch = Batch::default();
    fields(r, |r, id, kind| match (id, kind) {
        (1, STRUCT) => {
            batch.process = Some(process(r)?);
            Ok(true)
        }
        (2, LIST) => {
            batch.spans = list(r, STRUCT, span)?;
            Ok(true)
        }
        _ => Ok(false),
    })?;
    Ok(batch)
}

fn process<P: Protocol>(r: &mut P) -> Result<Process, DecodeError> {
    let mut process = Process::default();
    fields(r, |r, id, kind| match (id, kind) {
        (1, STRING) => {
            process.service_name = string(r)?;
            Ok(true)
        }
        (2, LIST) => {
            process.tags = list(r, STRUCT, tag)?;
            Ok(true)
        }
        _ => Ok(false),
    })?;
    Ok(process)
}

fn span<P: Protocol>(r: &mut P) -> Result<JaegerSpan, DecodeError> {
    let mut span = JaegerSpan::default();
    let (mut low, mut high, mut start, mut duration) = (0i64, 0i64, 0i64, 0i64);
    fields(r, |r, id, kind| {
        match (id, kind) {
            (1, I64) => low = r.i64()?,
            (2, I64) => high = r.i64()?,
            (3, I64) => span.span_id = r.i64()?.to_be_bytes(),
            (4, I64) => span.parent_span_id = r.i64()?.to_be_bytes(),
            (5, STRING) => span.operation_name = string(r)?,
            (6, LIST) => span.references = list(r, STRUCT, reference)?,
            (8, I64) => start = r.i64()?,
            (9, I64) => duration = r.i64()?,
            (10, LIST) => span.tags = list(r, STRUCT, tag)?,
            (11, LIST) => span.logs = list(r, STRUCT, log)?,
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    span.trace_id = trace_id(high, low);
    if span.parent_span_id == [0; 8] {
        span.parent_span_id = super::model::parent_from_references(span.trace_id, &span.references);
    }
    span.start_unix_nano = micros(start);
    span.duration_nano = micros(duration);
    Ok(span)
}

fn reference<P: Protocol>(r: &mut P) -> Result<Reference, DecodeError> {
    let (mut kind_value, mut low, mut high, mut span_id) = (0i32, 0i64, 0i64, 0i64);
    fields(r, |r, id, kind| {
        match (id, kind) {
            (1, I32) => kind_value = r.i32()?,
            (2, I64) => low = r.i64()?,
            (3, I64) => high = r.i64()?,
            (4, I64) => span_id = r.i64()?,
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(Reference {
        trace_id: trace_id(high, low),
        span_id: span_id.to_be_bytes(),
        follows_from: kind_value == 1,
    })
}

fn log<P: Protocol>(r: &mut P) -> Result<Log, DecodeError> {
    let mut log = Log {
        time_unix_nano: 0,
        fields: Vec::new(),
    };
    fields(r, |r, id, kind| {
        match (id, kind) {
            (1, I64) => log.time_unix_nano = micros(r.i64()?),
            (2, LIST) => log.fields = list(r, STRUCT, tag)?,
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    Ok(log)
}

fn tag<P: Protocol>(r: &mut P) -> Result<Tag, DecodeError> {
    let mut key = String::new();
    let mut v_type = 0;
    let (mut text, mut double, mut flag, mut long, mut bytes) =
        (String::new(), 0.0, false, 0i64, Vec::new());
    fields(r, |r, id, kind| {
        match (id, kind) {
            (1, STRING) => key = string(r)?,
            (2, I32) => v_type = r.i32()?,
            (3, STRING) => text = string(r)?,
            (4, DOUBLE) => double = r.double()?,
            (5, BOOL) => flag = r.bool()?,
            (6, I64) => long = r.i64()?,
            (7, STRING) => bytes = r.binary()?,
            _ => return Ok(false),
        }
        Ok(true)
    })?;
    let value = match v_type {
        0 => TagValue::Str(text),
        1 => TagValue::Double(double),
        2 => TagValue::Bool(flag),
        3 => TagValue::Int(long),
        4 => TagValue::Binary(bytes),
        other => TagValue::Unknown(other),
    };
    Ok(Tag { key, value })
}

fn trace_id(high: i64, low: i64) -> [u8; 16] {
    let mut id = [0; 16];
    id[..8].copy_from_slice(&high.to_be_bytes());
    id[8..].copy_from_slice(&low.to_be_bytes());
    id
}

/// Epoch or duration microseconds as nanoseconds; negative is 0.
fn micros(us: i64) -> u64 {
    u64::try_from(us).map_or(0, |us| us.saturating_mul(1000))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
pub(crate) mod tests {
    use super::*;

    /// A minimal Thrift binary writer for tests (the client side of the protocol).
    #[derive(Default)]
    pub(crate) struct Writer(pub(crate) Vec<u8>);

    impl Writer {
        pub(crate) fn field(&mut self, kind: u8, id: i16) -> &mut Self {
            self.0.push(kind);
            self.0.extend_from_slice(&id.to_be_bytes());
            self
        }
        pub(crate) fn i32(&mut self, v: i32) -> &mut Self {
            self.0.extend_from_slice(&v.to_be_bytes());
            self
        }
        pub(crate) fn i64(&mut self, v: i64) -> &mut Self {
            self.0.extend_from_slice(&v.to_be_bytes());
            self
        }
        pub(crate) fn string(&mut self, s: &str) -> &mut Self {
            self.i32(i32::try_from(s.len()).unwrap());
            self.0.extend_from_slice(s.as_bytes());
            self
        }
        pub(crate) fn list(&mut self, element: u8, n: i32) -> &mut Self {
            self.0.push(element);
            self.i32(n)
        }
        pub(crate) fn stop(&mut self) -> &mut Self {
            self.0.push(STOP);
            self
        }
        pub(crate) fn string_tag(&mut self, key: &str, value: &str) -> &mut Self {
            self.field(STRING, 1).string(key);
            self.field(I32, 2).i32(0);
            self.field(STRING, 3).string(value).stop()
        }
    }

    pub(crate) const T_STRING: u8 = STRING;
    pub(crate) const T_STRUCT: u8 = STRUCT;
    pub(crate) const T_LIST: u8 = LIST;
    pub(crate) const T_I64: u8 = I64;
    pub(crate) const T_I32: u8 = I32;
    pub(crate) const T_BOOL: u8 = BOOL;

    #[test]
    fn reads_a_batch_and_skips_unknown_fields() {
        let mut w = Writer::default();
        w.field(STRUCT, 1);
        w.field(STRING, 1).string("svc");
        w.field(LIST, 2)
            .list(STRUCT, 1)
            .string_tag("hostname", "h1");
        w.stop();
        w.field(LIST, 2).list(STRUCT, 1);
        w.field(I64, 1).i64(7).field(I64, 2).i64(1);
        w.field(I64, 3).i64(9).field(I64, 4).i64(0);
        w.field(STRING, 5).string("op");
        w.field(I32, 7).i32(1);
        w.field(I64, 8).i64(1_000).field(I64, 9).i64(5);
        // An unknown map field is skipped.
        w.field(MAP, 99);
        w.0.extend_from_slice(&[STRING, I32]);
        w.i32(1).string("k").i32(3);
        w.stop();
        w.field(I64, 4).i64(42);
        w.stop();
        let batch = decode(&w.0).unwrap();
        let process = batch.process.unwrap();
        assert_eq!(process.service_name, "svc");
        assert_eq!(process.tags[0].key, "hostname");
        let span = &batch.spans[0];
        assert_eq!(span.trace_id[7], 1);
        assert_eq!(span.trace_id[15], 7);
        assert_eq!(span.span_id, 9i64.to_be_bytes());
        assert_eq!(span.start_unix_nano, 1_000_000);
        assert_eq!(span.duration_nano, 5_000);
    }

    #[test]
    fn hostile_bodies_are_refused_without_allocating() {
        // A list claiming 2^31-1 spans in 10 bytes.
        let mut w = Writer::default();
        w.field(LIST, 2).list(STRUCT, i32::MAX);
        assert!(decode(&w.0)
            .unwrap_err()
            .to_string()
            .contains("more than the bytes left"));
        // A string longer than the body; a negative length; truncation; deep nesting.
        let mut w = Writer::default();
        w.field(STRUCT, 1).field(STRING, 1).i32(1 << 30);
        assert!(decode(&w.0).is_err());
        let mut w = Writer::default();
        w.field(STRUCT, 1).field(STRING, 1).i32(-1);
        assert!(decode(&w.0).unwrap_err().to_string().contains("negative"));
        assert!(decode(&[STRUCT, 0]).is_err());
        let mut deep = Vec::new();
        for _ in 0..100 {
            deep.extend_from_slice(&[STRUCT, 0, 9]);
        }
        assert!(decode(&deep).unwrap_err().to_string().contains("too deep"));
        assert!(decode(&[200, 0, 1]).is_err());
    }
}
