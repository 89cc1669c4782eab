//! The one-pass structural scan of an export request: validate, count, slice.
//!
//! Why hand-written: the receiver must reject anything prost would reject, count items and cut
//! the request into per-resource byte ranges, on every request, on the hot path. A prost decode
//! would do the validation, but it allocates a `String`/`Vec` per field and a struct per item
//! only for the collector to throw them away and forward the original bytes. This scan walks
//! the bytes once against static schema tables (`super::schema`), allocating nothing but the
//! output `Vec` of chunks, and hands out zero-copy `Bytes` slices of the body.
//!
//! It mirrors prost 0.14's decoder rule for rule (see [`super`] for the list): a request this
//! accepts, prost decodes; one it rejects, prost rejects.
//!
//! Each message is walked by a lean fast pass (`fast`) that only says yes or "not sure";
//! on "not sure" the detailed pass here walks it again, decides and names the error. Tests
//! hold the fast pass to the detailed one (same verdict and count whenever the fast pass says
//! yes) and both to prost.

use bytes::Bytes;

use super::schema::{self, Field, Kind, Role, Schema};
use super::wire::{
    Key, Reader, ScanError, RECURSION_LIMIT, WT_END_GROUP, WT_FIXED32, WT_FIXED64, WT_LEN,
    WT_START_GROUP, WT_VARINT,
};
use crate::signal::Signal;

mod fast;

/// One encoded ResourceSpans/ResourceMetrics/ResourceLogs message body and how many items it holds.
#[derive(Debug, Clone, PartialEq)]
pub struct ResourceChunk {
    /// The message body (without the request's field-1 tag and length prefix).
    pub bytes: Bytes,
    /// Spans, metric data points or log records in it.
    pub items: u32,
}

/// What a request scan found.
#[derive(Debug, Clone, Default)]
pub struct ScannedRequest {
    /// Each top-level resource message, in request order.
    pub chunks: Vec<ResourceChunk>,
    /// The sum of the chunks' items.
    pub items: u64,
}

/// Validates an `Export{Trace,Metrics,Logs}ServiceRequest` body against the OTLP schema in one
/// pass, counts its items and returns each top-level resource message as a zero-copy slice of
/// `body`. Fields of the request other than 1 are checked as wire format only and dropped.
pub fn scan_request(signal: Signal, body: &Bytes) -> Result<ScannedRequest, ScanError> {
    let schema = schema::resource_schema(signal);
    let request = schema::request_name(signal);
    let mut r = Reader::new(body, 0);
    let mut out = ScannedRequest::default();
    while r.has_remaining() {
        let key = r.key(request)?;
        if key.field != 1 {
            skip_field(&mut r, key, RECURSION_LIMIT)?;
            continue;
        }
        if key.wire_type != WT_LEN {
            return Err(ScanError::WrongWireType {
                field: 1,
                name: schema::resource_field_name(signal),
                message: request,
                actual: key.wire_type,
                expected: WT_LEN,
                offset: key.offset,
            });
        }
        let mut sub = r.len_delimited()?;
        let start = sub.offset();
        let end = start + sub.remaining();
        let items = scan_message(&mut sub, schema, RECURSION_LIMIT - 1)?;
        let items = u32::try_from(items).map_err(|_| ScanError::TooManyItems { offset: start })?;
        if end > body.len() {
            // Unreachable: `len_delimited` bounds the payload by the body.
            return Err(ScanError::LengthOverrun {
                len: 0,
                offset: start,
                left: 0,
            });
        }
        out.chunks.push(ResourceChunk {
            bytes: body.slice(start..end),
            items,
        });
        out.items += u64::from(items);
    }
    Ok(out)
}

/// Validates one resource message body (what a [`ResourceChunk`] holds) as if it were field 1
/// of a request, and returns its item count.
pub(crate) fn scan_resource(signal: Signal, body: &[u8]) -> Result<u64, ScanError> {
    let mut r = Reader::new(body, 0);
    scan_message(&mut r, schema::resource_schema(signal), RECURSION_LIMIT - 1)
}

/// One message being scanned: its schema, where it ends, its items so far, and the field of
/// the enclosing message it is the value of.
#[derive(Clone, Copy)]
struct Level {
    schema: &'static Schema,
    /// The reader limit while inside this message.
    end: usize,
    items: u64,
    /// The item-carrying oneof (Metric.data): which variant is set and its items so far.
    oneof_field: u32,
    oneof_items: u64,
    /// The field of the parent this message is the value of (`ROOT` for the outermost).
    via: &'static Field,
}

static ROOT: Field = Field::UNKNOWN;

impl Level {
    #[inline(always)]
    fn new(schema: &'static Schema, end: usize, via: &'static Field) -> Level {
        Level {
            schema,
            end,
            items: 0,
            oneof_field: 0,
            oneof_items: 0,
            via,
        }
    }

    #[inline(always)]
    fn total(&self) -> u64 {
        self.items.saturating_add(self.oneof_items)
    }

    /// Adds a finished child message's `n` items, entered through `via`.
    #[inline(always)]
    fn add_child(&mut self, via: &'static Field, n: u64) {
        if via.role == Role::OneofCarrier {
            // prost merges a repeat of the set variant and replaces a different one.
            if via.number == self.oneof_field {
                self.oneof_items = self.oneof_items.saturating_add(n);
            } else {
                self.oneof_field = via.number;
                self.oneof_items = n;
            }
        } else {
            // Plain messages hold no items (n = 0); an item message counts one.
            let item = u64::from(via.role == Role::Item);
            self.items = self.items.saturating_add(n).saturating_add(item);
        }
    }
}

/// Enough levels for prost's recursion limit (a message at budget 0 has no nested messages).
const MAX_LEVELS: usize = RECURSION_LIMIT as usize + 1;

/// Validates a message body (the reader's unread bytes) against `schema` and returns the items
/// it holds.
///
/// `budget` is prost's `DecodeContext::recurse_count` for this message's fields: a nested
/// message (or unknown field) needs `budget > 0` and its fields get `budget - 1`.
///
/// Two passes, the well-known trick for validating parsers: the lean [`fast`] pass walks the
/// bytes and answers `Ok` or a bare bail; only on a bail does the detailed pass walk them
/// again, to decide and to build the [`ScanError`]. Measured on `benches/scan.rs`: the fast
/// pass alone runs at ~2.5x the speed of the detailed one; garbage pays both passes.
pub(crate) fn scan_message(
    r: &mut Reader<'_>,
    schema: &'static Schema,
    budget: u32,
) -> Result<u64, ScanError> {
    let mut fast_reader = r.clone();
    match fast::scan(&mut fast_reader, schema, budget) {
        Ok(items) => {
            *r = fast_reader;
            Ok(items)
        }
        Err(fast::Bail) => scan_detailed(r, schema, budget),
    }
}

/// The detailed pass: the reference walk, which names what is wrong and where. Nested
/// messages are walked with an explicit stack rather than recursion: no call per message.
fn scan_detailed(
    r: &mut Reader<'_>,
    schema: &'static Schema,
    budget: u32,
) -> Result<u64, ScanError> {
    let mut stack = [Level::new(schema, 0, &ROOT); MAX_LEVELS];
    let mut depth: usize = 0;
    let mut cur = Level::new(schema, r.end(), &ROOT);
    loop {
        if !r.has_remaining() {
            // The current message is complete: back to its parent, or done.
            let Some(parent) = depth.checked_sub(1).and_then(|d| stack.get(d)) else {
                return Ok(cur.total());
            };
            let (n, via) = (cur.total(), cur.via);
            cur = *parent;
            depth -= 1;
            r.set_end(cur.end);
            cur.add_child(via, n);
            continue;
        }
        let key = r.key(cur.schema.name)?;
        // prost's recursion budget for this message's fields.
        let here = budget.saturating_sub(depth as u32);
        let Some(field) = cur.schema.field(key.field) else {
            skip_field(r, key, here)?;
            continue;
        };
        if key.wire_type != field.wire_type {
            scan_packed(r, key, field, cur.schema)?;
            continue;
        }
        // One dispatch per field: the wire type already matches the kind.
        match field.kind {
            Kind::Varint => {
                r.varint()?;
            }
            Kind::Fixed64 => r.skip_fixed(8)?,
            Kind::Fixed32 => r.skip_fixed(4)?,
            Kind::Str => scan_string(r, field, cur.schema)?,
            Kind::Bytes => {
                r.len_delimited()?;
            }
            Kind::Unknown => skip_field(r, key, here)?,
            Kind::Msg(inner) => {
                if here == 0 {
                    return Err(too_deep(key));
                }
                let parent_end = r.enter()?;
                let Some(slot) = stack.get_mut(depth) else {
                    return Err(too_deep(key));
                };
                *slot = Level {
                    end: parent_end,
                    ..cur
                };
                depth += 1;
                cur = Level::new(inner, r.end(), field);
            }
        }
    }
}

/// Validates a `string` field's payload as UTF-8.
#[inline(always)]
fn scan_string(
    r: &mut Reader<'_>,
    field: &'static Field,
    schema: &'static Schema,
) -> Result<(), ScanError> {
    let s = r.len_delimited()?;
    // Most strings are ASCII: a cheap word-at-a-time check before full UTF-8 validation.
    let bytes = s.data();
    if !bytes.is_ascii() && std::str::from_utf8(bytes).is_err() {
        return Err(ScanError::InvalidUtf8 {
            message: schema.name,
            name: field.name,
            offset: s.offset(),
        });
    }
    Ok(())
}

/// A field whose key does not carry its kind's wire type: packed values if the field is a
/// repeated numeric (`bucket_counts`, `explicit_bounds`) and the key is length-delimited,
/// otherwise a wire-type error.
#[inline(never)]
fn scan_packed(
    r: &mut Reader<'_>,
    key: Key,
    field: &'static Field,
    schema: &'static Schema,
) -> Result<(), ScanError> {
    let scalar_wire_type = field.wire_type;
    if !field.packable || key.wire_type != WT_LEN {
        return Err(wrong_wire_type(key, field, schema, scalar_wire_type));
    }
    let mut packed = r.len_delimited()?;
    let width = match scalar_wire_type {
        WT_FIXED64 => 8,
        WT_FIXED32 => 4,
        _ => {
            while packed.has_remaining() {
                packed.varint()?;
            }
            return Ok(());
        }
    };
    let len = packed.remaining();
    if len % width != 0 {
        return Err(ScanError::PackedLength {
            message: schema.name,
            name: field.name,
            len,
            width,
            offset: packed.offset(),
        });
    }
    Ok(())
}

#[cold]
fn wrong_wire_type(key: Key, field: &Field, schema: &Schema, expected: u8) -> ScanError {
    ScanError::WrongWireType {
        field: key.field,
        name: field.name,
        message: schema.name,
        actual: key.wire_type,
        expected,
        offset: key.offset,
    }
}

#[cold]
fn too_deep(key: Key) -> ScanError {
    ScanError::TooDeep {
        limit: RECURSION_LIMIT,
        offset: key.offset,
    }
}

/// Skips an unknown field exactly as prost's `skip_field`: it needs `budget > 0` whatever the
/// wire type; a group is skipped field by field (each with `budget - 1`) up to the end-group key
/// with the same field number; a stray end-group key is an error.
pub(crate) fn skip_field(r: &mut Reader<'_>, key: Key, budget: u32) -> Result<(), ScanError> {
    if budget == 0 {
        return Err(too_deep(key));
    }
    match key.wire_type {
        WT_VARINT => r.varint().map(|_| ()),
        WT_FIXED64 => r.skip_fixed(8),
        WT_FIXED32 => r.skip_fixed(4),
        WT_LEN => r.len_delimited().map(|_| ()),
        WT_START_GROUP => loop {
            let inner = r.key("a group")?;
            if inner.wire_type == WT_END_GROUP {
                if inner.field != key.field {
                    return Err(ScanError::UnexpectedEndGroup {
                        field: inner.field,
                        offset: inner.offset,
                    });
                }
                return Ok(());
            }
            skip_field(r, inner, budget - 1)?;
        },
        _ => Err(ScanError::UnexpectedEndGroup {
            field: key.field,
            offset: key.offset,
        }),
    }
}

#[cfg(test)]
mod tests;
