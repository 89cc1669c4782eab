//! The scan's fast pass: the same walk as the detailed pass ([`super::scan_detailed`]), leaner.
//!
//! Step by step, per field of the current message:
//! 1. Read the key: one byte (fields 1–15) or two (fields 16–2047), anything longer goes slow.
//! 2. Look the key up in the schema's action table ([`Schema::actions`]): one load says whether
//!    the field is known, has the wire type of its kind, and what kind it is.
//! 3. Skip the value (varint, fixed width, length-delimited), check a string's UTF-8, or enter a
//!    nested message (explicit stack, as the detailed pass).
//! 4. Anything the table leaves out (unknown fields, packed values, groups, odd keys) goes
//!    through the general per-field code of the detailed pass, one field at a time.
//! 5. An attribute (`KeyValue`) in the shape every SDK writes (key, then a value holding one
//!    scalar) is checked in straight-line code without entering its two messages (measured:
//!    −20% on the benchmark, where attributes are most of the bytes, as in real traffic).
//!
//! Items are one running total, not a count per message: the detailed pass's count is a plain
//! sum of item messages except where prost replaces a `Metric.data` set twice, and a second
//! `Metric.data` bails. Measured: per-message counters (a 48-byte [`super::Level`] copied on
//! every entry and exit) cost ~15% of the loop.
//!
//! Bounds: positions are plain indices into the reader's slice, read with `get` (never past the
//! slice). A value may be *read* past the current message's end while still inside the slice;
//! every step ends by checking its new position is ≤ that end, so such a read is never accepted.
//!
//! Any failure is a bare [`Bail`]: no error is built here (measured: building the detailed
//! error inline made the loop spill registers). The caller then re-runs the detailed pass,
//! which is the authority on both the verdict and the error, so a bail is always safe; only an
//! `Ok` from here must equal the detailed pass's.

use super::super::schema::{Action, Kind, Role, Schema, KEY_VALUE};
use super::super::wire::Reader;
use super::{scan_packed, scan_string, skip_field, MAX_LEVELS};

/// The fast pass gave up: the detailed pass decides (and builds the error).
#[derive(Debug)]
pub(super) struct Bail;

/// Validates the reader's unread bytes against `schema` and returns the item count, as
/// [`super::scan_detailed`] would when it succeeds; on success the reader is at its end.
pub(super) fn scan(r: &mut Reader<'_>, schema: &'static Schema, budget: u32) -> Result<u64, Bail> {
    let data = r.slice();
    let mut pos = r.pos();
    let mut cur = Frame {
        schema,
        end: r.end(),
        oneof_set: 0,
    };
    let mut stack = [cur; MAX_LEVELS];
    let mut depth: usize = 0;
    let mut items: u64 = 0;
    loop {
        if pos >= cur.end {
            // Keys and varint or fixed-width values are bounded here, not where they are read:
            // one compare per field for both checks.
            if pos > cur.end {
                return Err(Bail);
            }
            // The current message is complete: back to its parent, or done.
            if depth == 0 {
                r.set_pos(pos);
                return Ok(items);
            }
            depth -= 1;
            cur = *stack.get(depth).ok_or(Bail)?;
            continue;
        }
        let (key, value) = read_key(data, pos)?;
        match cur.schema.action(key) {
            Action::Varint => pos = skip_varint(data, value)?,
            Action::Fixed64 => pos = value + 8,
            Action::Fixed32 => pos = value + 4,
            Action::Bytes => pos = read_len(data, value, cur.end)?.1,
            Action::Str => {
                let (start, stop) = read_len(data, value, cur.end)?;
                if !is_utf8(data, start, stop) {
                    return Err(Bail);
                }
                pos = stop;
            }
            Action::Msg => {
                let (start, stop) = read_len(data, value, cur.end)?;
                // prost's recursion budget: this message's fields get `budget - depth`.
                if depth as u32 >= budget {
                    return Err(Bail);
                }
                let via = cur.schema.fields.get(key >> 3).ok_or(Bail)?;
                let Kind::Msg(inner) = via.kind else {
                    return Err(Bail);
                };
                // An attribute (KeyValue at depth + 1, its AnyValue at depth + 2) in the shape
                // every SDK writes: checked in straight-line code, no frames.
                if std::ptr::eq(inner, &KEY_VALUE)
                    && depth as u32 + 1 < budget
                    && key_value(data, start, stop)
                {
                    pos = stop;
                    continue;
                }
                items += u64::from(via.role == Role::Item);
                if via.role == Role::OneofCarrier {
                    // A second `Metric.data` (prost replaces or merges): the detailed pass.
                    if cur.oneof_set != 0 {
                        return Err(Bail);
                    }
                    cur.oneof_set = 1;
                }
                *stack.get_mut(depth).ok_or(Bail)? = cur;
                depth += 1;
                cur = Frame {
                    schema: inner,
                    end: stop,
                    oneof_set: 0,
                };
                pos = start;
            }
            Action::Slow => {
                let here = budget.saturating_sub(depth as u32);
                pos = slow_field(r, pos, cur.end, cur.schema, here)?;
            }
        }
    }
}

/// One message being walked: its schema, where it ends, whether its `Metric.data` is set.
#[derive(Clone, Copy)]
struct Frame {
    schema: &'static Schema,
    end: usize,
    /// 1 once `Metric.data` is set, else 0. A `usize`, not a `bool`: the frame then has no
    /// padding, which LLVM otherwise copied with overlapping unaligned moves that stalled
    /// store forwarding (measured: 30% of the loop).
    oneof_set: usize,
}

/// Whether `data[start..stop]` is a `KeyValue` of the usual shape, valid: its `key` (field 1)
/// then its `value` (field 2) holding one scalar `AnyValue` field, or less. `false` means "not
/// that shape or not valid": the caller walks it the general way, which decides.
#[inline(always)]
fn key_value(data: &[u8], start: usize, stop: usize) -> bool {
    if data.get(start) != Some(&0x0A) {
        return false;
    }
    let Ok((key_start, key_stop)) = read_len(data, start + 1, stop) else {
        return false;
    };
    if !is_utf8(data, key_start, key_stop) {
        return false;
    }
    if key_stop == stop {
        return true;
    }
    if data.get(key_stop) != Some(&0x12) {
        return false;
    }
    match read_len(data, key_stop + 1, stop) {
        Ok((value_start, value_stop)) if value_stop == stop => any_value(data, value_start, stop),
        _ => false,
    }
}

/// Whether `data[start..stop]` is an `AnyValue` holding one scalar (or nothing), valid.
#[inline(always)]
fn any_value(data: &[u8], start: usize, stop: usize) -> bool {
    if start == stop {
        return true;
    }
    let Some(&key) = data.get(start) else {
        return false;
    };
    let value = start + 1;
    let next = match key {
        // string_value
        0x0A => match read_len(data, value, stop) {
            Ok((s, e)) if is_utf8(data, s, e) => e,
            _ => return false,
        },
        // bool_value, int_value, string_value_strindex
        0x10 | 0x18 | 0x40 => match skip_varint(data, value) {
            Ok(next) => next,
            Err(Bail) => return false,
        },
        // double_value
        0x21 => value + 8,
        // bytes_value
        0x3A => match read_len(data, value, stop) {
            Ok((_, e)) => e,
            Err(Bail) => return false,
        },
        _ => return false,
    };
    next == stop
}

/// Reads a one- or two-byte key at `pos`; returns the key value and where its value starts.
/// Longer keys give a key value past the action table, so they take the slow path.
#[inline(always)]
fn read_key(data: &[u8], pos: usize) -> Result<(usize, usize), Bail> {
    let b0 = *data.get(pos).ok_or(Bail)?;
    if b0 < 0x80 {
        return Ok((usize::from(b0), pos + 1));
    }
    match data.get(pos + 1) {
        Some(&b1) if b1 < 0x80 => Ok((usize::from(b0 & 0x7F) | usize::from(b1) << 7, pos + 2)),
        _ => Ok((usize::MAX, pos)),
    }
}

/// Skips a varint at `pos` with prost's rules (≤ 10 bytes, a 10th byte of 0 or 1); returns
/// where it ends (possibly past the message end: the caller checks).
#[inline(always)]
fn skip_varint(data: &[u8], pos: usize) -> Result<usize, Bail> {
    match data.get(pos) {
        Some(&b) if b < 0x80 => Ok(pos + 1),
        _ => skip_varint_multi(data, pos),
    }
}

#[inline(never)]
fn skip_varint_multi(data: &[u8], pos: usize) -> Result<usize, Bail> {
    let rest = data.get(pos..).ok_or(Bail)?;
    for (i, &b) in rest.iter().take(10).enumerate() {
        if b < 0x80 {
            return if i == 9 && b >= 0x02 {
                Err(Bail)
            } else {
                Ok(pos + i + 1)
            };
        }
    }
    Err(Bail)
}

/// Reads a length prefix at `pos` and returns the payload's `(start, end)`, checked to end by
/// `end`. One- and two-byte lengths (payloads under 16 KiB) are decoded inline.
#[inline(always)]
fn read_len(data: &[u8], pos: usize, end: usize) -> Result<(usize, usize), Bail> {
    let b0 = *data.get(pos).ok_or(Bail)?;
    let (len, start) = if b0 < 0x80 {
        (usize::from(b0), pos + 1)
    } else {
        match data.get(pos + 1) {
            Some(&b1) if b1 < 0x80 => (usize::from(b0 & 0x7F) | usize::from(b1) << 7, pos + 2),
            _ => return read_len_multi(data, pos, end),
        }
    };
    // `start` ≤ slice length + 2 and `len` < 2^14: no overflow.
    let stop = start + len;
    if stop > end {
        return Err(Bail);
    }
    Ok((start, stop))
}

#[inline(never)]
fn read_len_multi(data: &[u8], pos: usize, end: usize) -> Result<(usize, usize), Bail> {
    if pos >= end {
        return Err(Bail);
    }
    let mut r = Reader::new(data.get(..end).ok_or(Bail)?, 0);
    r.set_pos(pos);
    let sub = r.len_delimited().map_err(|_| Bail)?;
    let start = sub.offset();
    Ok((start, start + sub.remaining()))
}

/// The high bit of each of 16 bytes: set in a number holding any non-ASCII byte.
const HIGH_BITS: u128 = 0x8080_8080_8080_8080_8080_8080_8080_8080;

/// The 16 bytes at `at` as a little-endian number, if they are all in `data`.
#[inline(always)]
fn word(data: &[u8], at: usize) -> Option<u128> {
    let bytes = data.get(at..at.checked_add(16)?)?;
    bytes.try_into().ok().map(u128::from_le_bytes)
}

/// Whether `data[start..stop]` is UTF-8.
///
/// Most OTLP strings are short ASCII (keys, names, enum-like values): they are checked 16
/// bytes at a time (see [`ascii_words`]); anything else goes to the standard checks.
#[inline(always)]
fn is_utf8(data: &[u8], start: usize, stop: usize) -> bool {
    if ascii_words(data, start, stop) == Some(true) {
        return true;
    }
    is_utf8_slow(data.get(start..stop))
}

/// Whether `data[start..stop]` is ASCII, 16 bytes at a time. Strings of up to 32 bytes (most
/// keys and values) take one or two loads and no loop, whose trip count changes from string
/// to string. Measured on `cargo bench --bench scan`: the whole scan 11% faster than with
/// 8-byte words and a loop (the loop was its hottest spot after the field dispatch in
/// `perf annotate`). Reads may pass `stop` (never `data`'s end); bytes past `stop` are masked
/// off or lie in an overlapping load. `None` near the ends of `data`.
#[inline(always)]
fn ascii_words(data: &[u8], start: usize, stop: usize) -> Option<bool> {
    let len = stop.checked_sub(start)?;
    let seen = if len <= 16 {
        // The first `len` bytes of one load; `len` = 0 shifts by 128, which masks everything.
        let mask = u128::MAX.checked_shr(128 - 8 * len as u32).unwrap_or(0);
        word(data, start)? & mask
    } else if len <= 32 {
        // The first and the last 16 bytes, overlapping, cover the string.
        word(data, start)? | word(data, stop - 16)?
    } else {
        let mut seen = 0;
        let mut at = start;
        while at + 16 < stop {
            seen |= word(data, at)?;
            at += 16;
        }
        seen | word(data, stop - 16)?
    };
    Some(seen & HIGH_BITS == 0)
}

#[inline(never)]
fn is_utf8_slow(bytes: Option<&[u8]>) -> bool {
    bytes.is_some_and(|b| b.is_ascii() || std::str::from_utf8(b).is_ok())
}

/// One field the action table leaves to the general code; returns where it ends.
#[inline(never)]
fn slow_field(
    r: &Reader<'_>,
    pos: usize,
    end: usize,
    schema: &'static Schema,
    here: u32,
) -> Result<usize, Bail> {
    let mut f = r.clone();
    f.set_pos(pos);
    f.set_end(end);
    let key = f.key(schema.name).map_err(|_| Bail)?;
    let done = match schema.field(key.field) {
        None => skip_field(&mut f, key, here),
        Some(field) if key.wire_type != field.wire_type => scan_packed(&mut f, key, field, schema),
        Some(field) => match field.kind {
            Kind::Varint => f.varint().map(|_| ()),
            Kind::Fixed64 => f.skip_fixed(8),
            Kind::Fixed32 => f.skip_fixed(4),
            Kind::Str => scan_string(&mut f, field, schema),
            Kind::Bytes => f.len_delimited().map(|_| ()),
            // A known message under a key longer than two bytes (a zero-padded key): rare
            // enough to leave to the detailed pass.
            Kind::Msg(_) | Kind::Unknown => return Err(Bail),
        },
    };
    done.map_err(|_| Bail)?;
    Ok(f.pos())
}

#[cfg(test)]
mod tests {
    use super::{ascii_words, is_utf8};

    /// Every length up to 80 and every position of one non-ASCII byte, inside the string and
    /// just outside it on either side (which must not count), against `<[u8]>::is_ascii`.
    #[test]
    fn ascii_words_sees_exactly_the_string() {
        for len in 0..=80usize {
            for bad in 0..len + 2 {
                // 20 bytes of margin each side, so every load stays inside `data`.
                let mut data = vec![b'a'; len + 40];
                let (start, stop) = (20, 20 + len);
                // `bad` = 0 is the byte before the string, `len + 1` the one after it.
                data[start + bad - 1] = 0xC3;
                let expected = data[start..stop].is_ascii();
                assert_eq!(
                    ascii_words(&data, start, stop),
                    Some(expected),
                    "len {len} bad {bad}"
                );
            }
        }
    }

    /// At the very ends of the buffer the word check gives up and the standard one decides.
    #[test]
    fn strings_at_the_buffer_ends_are_still_checked() {
        for len in 0..=40usize {
            let ok = vec![b'k'; len];
            assert!(is_utf8(&ok, 0, len));
            let mut bad = ok.clone();
            if let Some(last) = bad.last_mut() {
                *last = 0xFF;
                assert!(!is_utf8(&bad, 0, len), "len {len}");
            }
        }
        assert!(is_utf8("é1234567890123456789".as_bytes(), 0, 21));
    }
}
