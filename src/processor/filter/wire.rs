//! The filter's fast path for span and log record conditions: the resource message is
//! walked on the wire, each item is decoded from only the fields its conditions read (for
//! `attributes["k"]`, only the attributes named), and a chunk where items are dropped is
//! rebuilt by copying the bytes of what is kept. A full prost decode of every item costs more
//! than the rest of the pipeline (`benches/RESULTS.md`: prost decodes 12× slower than the
//! structural scan); this reads each item's fields once and decodes a handful.
//!
//! Layout (the same for traces and logs): the chunk has field 1 = resource, field 2 = scope
//! message (ScopeSpans / ScopeLogs), field 3 = schema_url; a scope message has field 1 =
//! scope, field 2 = item (Span / LogRecord), field 3 = schema_url.
//!
//! Steps: 1. walk the chunk and its scope messages, merging every field 1 into the resource
//! and scope as a decoder would; 2. for each item, copy the fields the conditions read into a
//! scratch buffer and merge it into one reused item; evaluate; 3. if nothing was dropped (and
//! no scope was empty), the chunk passes as it came; otherwise write the chunk again from the
//! kept fields' bytes with new scope lengths, leaving out scopes with no item left.

use bytes::Bytes;
use opentelemetry_proto::tonic::common::v1::InstrumentationScope;
use opentelemetry_proto::tonic::resource::v1::Resource;
use prost::encoding::{decode_varint, encode_key, encode_varint, WireType};
use prost::Message;

use crate::ottl::paths::Field;
use crate::ottl::projection::Reads;
use crate::processor::chunk::{walk, TransformError};
use crate::processor::transform::Rewritten;

/// Which item fields to decode.
pub struct Plan {
    /// Bit n: copy field n.
    numbers: u64,
    /// The attributes field's number.
    attributes: u32,
    /// Whether attributes are read, and which keys (`None`: all).
    attribute_keys: Option<Option<Vec<Vec<u8>>>>,
    /// Whether the resource and scopes must be decoded (conditions read them).
    pub outer: bool,
    /// Whether an item whose read fields are byte for byte those of the item before it (in
    /// the same scope) may take its verdict: the conditions read nothing else (no clock).
    repeats: bool,
}

impl Plan {
    fn new(reads: &Reads, attributes: u32, number: fn(Field) -> Option<u32>) -> Option<Plan> {
        if reads.everything {
            return None;
        }
        let mut numbers = 0u64;
        for f in &reads.fields {
            numbers |= 1 << number(*f)?;
        }
        let keys = reads
            .attribute_keys
            .as_ref()
            .map(|k| k.iter().map(|s| s.as_bytes().to_vec()).collect());
        Some(Plan {
            numbers,
            attributes,
            attribute_keys: reads.attributes.then_some(keys),
            outer: reads.outer,
            repeats: !reads.clock,
        })
    }

    /// A plan for span conditions, or `None` when they read something unmapped.
    pub fn spans(reads: &Reads) -> Option<Plan> {
        use Field as F;
        Plan::new(reads, 9, |f| {
            Some(match f {
                F::TraceId(_) => 1,
                F::SpanId(_) => 2,
                F::TraceState => 3,
                F::ParentSpanId(_) => 4,
                F::SpanName => 5,
                F::Kind => 6,
                F::SpanStartNanos | F::SpanStart => 7,
                F::SpanEndNanos | F::SpanEnd => 8,
                F::SpanDroppedAttributes => 10,
                F::SpanDroppedEvents => 12,
                F::SpanDroppedLinks => 14,
                F::StatusCode | F::StatusMessage => 15,
                F::SpanFlags => 16,
                _ => return None,
            })
        })
    }

    /// A plan for log record conditions, or `None` when they read something unmapped.
    pub fn logs(reads: &Reads) -> Option<Plan> {
        use Field as F;
        Plan::new(reads, 6, |f| {
            Some(match f {
                F::LogNanos | F::LogTime => 1,
                F::SeverityNumber => 2,
                F::SeverityText => 3,
                F::Body | F::BodyString => 5,
                F::LogDroppedAttributes => 7,
                F::LogFlags => 8,
                F::LogTraceId(_) => 9,
                F::LogSpanId(_) => 10,
                F::LogObservedNanos | F::LogObservedTime => 11,
                F::EventNameOfLog => 12,
                _ => return None,
            })
        })
    }

    /// Copies the fields of `item` this plan reads into `scratch`. The fields are read with
    /// [`field_end`] rather than [`walk`]: this runs once per item and field, and most keys
    /// and lengths are one byte.
    fn project(&self, item: &[u8], scratch: &mut Vec<u8>) -> Result<(), TransformError> {
        scratch.clear();
        let mut at = 0;
        while at < item.len() {
            let start = at;
            let (number, body, end) = field_end(item, &mut at)?;
            let wanted = match body {
                Some(body) if number == self.attributes => match &self.attribute_keys {
                    None => false,
                    Some(None) => true,
                    Some(Some(keys)) => key_of(&item[body..end])?
                        .is_some_and(|k| keys.iter().any(|w| w.len() == k.len() && w == k)),
                },
                _ => number < 64 && self.numbers & (1 << number) != 0,
            };
            if wanted {
                scratch.extend_from_slice(&item[start..end]);
            }
        }
        Ok(())
    }
}

/// Reads the field at `*at` of `msg` and moves past it: its number, where its body starts
/// (length-delimited fields only) and where it ends. Refuses what [`walk`] refuses.
#[inline]
fn field_end(msg: &[u8], at: &mut usize) -> Result<(u32, Option<usize>, usize), TransformError> {
    let key = varint(msg, at)?;
    let number = u32::try_from(key >> 3)
        .ok()
        .filter(|n| *n != 0 && key <= u64::from(u32::MAX))
        .ok_or(TransformError::Malformed("invalid field key"))?;
    let end = match key & 7 {
        0 => {
            varint(msg, at)?;
            *at
        }
        1 => *at + 8,
        5 => *at + 4,
        2 => {
            let len = usize::try_from(varint(msg, at)?)
                .map_err(|_| TransformError::Malformed("length overflows usize"))?;
            at.checked_add(len)
                .ok_or(TransformError::Malformed("field overruns the message"))?
        }
        3 | 4 => return Err(TransformError::Malformed("groups are not allowed")),
        _ => return Err(TransformError::Malformed("invalid wire type")),
    };
    if end > msg.len() {
        return Err(TransformError::Malformed("field overruns the message"));
    }
    let body = (key & 7 == 2).then_some(*at);
    *at = end;
    Ok((number, body, end))
}

/// The varint at `*at`, moving past it (one byte without a call, longer ones with prost's).
#[inline]
fn varint(msg: &[u8], at: &mut usize) -> Result<u64, TransformError> {
    let rest = msg.get(*at..).unwrap_or_default();
    if let Some(&byte) = rest.first() {
        if byte < 0x80 {
            *at += 1;
            return Ok(u64::from(byte));
        }
    }
    let mut buf = rest;
    let value = decode_varint(&mut buf)?;
    *at += rest.len() - buf.len();
    Ok(value)
}

/// The key of an encoded KeyValue (its last field 1, as a decoder keeps).
fn key_of(kv: &[u8]) -> Result<Option<&[u8]>, TransformError> {
    // Encoders write the key first and once: read it directly when the value follows it
    // (or nothing does); otherwise walk the message.
    if let [0x0a, rest @ ..] = kv {
        let mut buf = rest;
        let len = usize::try_from(decode_varint(&mut buf)?)
            .map_err(|_| TransformError::Malformed("length overflows usize"))?;
        if len <= buf.len() {
            let (key, mut after) = buf.split_at(len);
            if after.is_empty() {
                return Ok(Some(key));
            }
            if after[0] == 0x12 {
                after = &after[1..];
                let value = decode_varint(&mut after)?;
                if usize::try_from(value).ok() == Some(after.len()) {
                    return Ok(Some(key));
                }
            }
        }
    }
    let mut key = None;
    walk(kv, |f| {
        if f.number == 1 && f.wire == WireType::LengthDelimited {
            key = Some(f.body);
        }
        Ok(())
    })?;
    Ok(key)
}

enum Part<'a> {
    Raw(&'a [u8]),
    Item(&'a [u8], &'a [u8]),
}

enum Top<'a> {
    Raw(&'a [u8]),
    Scope(InstrumentationScope, Vec<Part<'a>>),
}

/// What the conditions said of one item.
pub struct Verdict {
    /// Whether to drop it.
    pub drop: bool,
    /// Whether no condition failed on it (a failure is reported per item, so such a verdict
    /// is not reused for the next item).
    pub clean: bool,
}

/// Filters `chunk`: `drop` decides per item; `resource_drops` on the resource first.
pub fn filter<T: Message + Default>(
    chunk: &[u8],
    plan: &Plan,
    resource_drops: &mut dyn FnMut(&mut Resource) -> Result<bool, TransformError>,
    drop: &mut dyn FnMut(
        &mut Resource,
        &mut InstrumentationScope,
        &mut T,
    ) -> Result<Verdict, TransformError>,
) -> Result<Rewritten, TransformError> {
    let mut resource = Resource::default();
    let mut tops = Vec::new();
    walk(chunk, |f| {
        match (f.number, f.wire) {
            (1, WireType::LengthDelimited) => {
                if plan.outer {
                    resource.merge(f.body)?;
                }
                tops.push(Top::Raw(f.raw));
            }
            (2, WireType::LengthDelimited) => {
                let mut scope = InstrumentationScope::default();
                let mut parts = Vec::new();
                walk(f.body, |g| {
                    match (g.number, g.wire) {
                        (1, WireType::LengthDelimited) => {
                            if plan.outer {
                                scope.merge(g.body)?;
                            }
                            parts.push(Part::Raw(g.raw));
                        }
                        (2, WireType::LengthDelimited) => parts.push(Part::Item(g.raw, g.body)),
                        _ => parts.push(Part::Raw(g.raw)),
                    }
                    Ok(())
                })?;
                tops.push(Top::Scope(scope, parts));
            }
            _ => tops.push(Top::Raw(f.raw)),
        }
        Ok(())
    })?;
    if resource_drops(&mut resource)? {
        return Ok(Rewritten::Emptied);
    }
    let (mut scratch, mut item) = (Vec::new(), T::default());
    // The read fields of the last item decided (its verdict is `last_drop`).
    let mut last = Vec::new();
    let (mut before, mut kept_total, mut changed) = (0u32, 0u32, false);
    let mut keep: Vec<bool> = Vec::new();
    for top in &mut tops {
        let Top::Scope(scope, parts) = top else {
            continue;
        };
        let (mut items, mut kept) = (0u32, 0u32);
        let mut last_drop: Option<bool> = None;
        for part in parts.iter() {
            let Part::Item(_, body) = part else { continue };
            items += 1;
            plan.project(body, &mut scratch)?;
            // Same read fields, same resource and scope: the same verdict, without decoding
            // or evaluating again (an attribute most items lack projects to nothing).
            let dropped = match last_drop {
                Some(verdict) if plan.repeats && same(&last, &scratch) => verdict,
                _ => {
                    item.clear();
                    item.merge(scratch.as_slice())?;
                    let verdict = drop(&mut resource, scope, &mut item)?;
                    last_drop = (plan.repeats && verdict.clean).then_some(verdict.drop);
                    std::mem::swap(&mut last, &mut scratch);
                    verdict.drop
                }
            };
            keep.push(!dropped);
            kept += u32::from(!dropped);
        }
        // A scope left with no item goes, as does one that had none (otelcol removes both).
        changed |= kept < items || items == 0;
        before += items;
        kept_total += kept;
    }
    if !changed {
        return Ok(Rewritten::Unchanged);
    }
    Ok(rebuild(&tops, &keep, chunk.len(), kept_total, before))
}

/// Whether two projections are equal (most are empty: no call to compare no bytes).
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && (a.is_empty() || a == b)
}

/// Step 3: the chunk from the kept bytes (`keep`: one flag per item, in order).
fn rebuild(tops: &[Top<'_>], keep: &[bool], len: usize, kept: u32, before: u32) -> Rewritten {
    let mut out = Vec::with_capacity(len);
    let mut flags = keep.iter().copied();
    let mut scopes = 0;
    let mut pieces: Vec<&[u8]> = Vec::new();
    for top in tops {
        match top {
            Top::Raw(raw) => out.extend_from_slice(raw),
            Top::Scope(_, parts) => {
                pieces.clear();
                let mut items_kept = 0;
                for part in parts {
                    match part {
                        Part::Raw(raw) => pieces.push(raw),
                        Part::Item(raw, _) => {
                            if flags.next().unwrap_or(true) {
                                items_kept += 1;
                                pieces.push(raw);
                            }
                        }
                    }
                }
                if items_kept == 0 {
                    continue;
                }
                scopes += 1;
                let body: usize = pieces.iter().map(|p| p.len()).sum();
                encode_key(2, WireType::LengthDelimited, &mut out);
                encode_varint(body as u64, &mut out);
                pieces.iter().for_each(|p| out.extend_from_slice(p));
            }
        }
    }
    match scopes {
        0 => Rewritten::Emptied,
        _ if kept == before => Rewritten::Edited(Bytes::from(out)),
        _ => Rewritten::Reduced {
            bytes: Bytes::from(out),
            items: kept,
        },
    }
}
