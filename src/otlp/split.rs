//! Splitting one resource chunk into two by item count, still encoded.
//!
//! The walk follows the schema roles (`super::schema::Role`): in each message on the path to
//! the split point, fields that carry no items (resource, scope, schema_url, a metric's name,
//! unit and temporality, unknown fields, …) are copied to both halves; children wholly before
//! the split point go left, those wholly after go right, and the one child that straddles it is
//! split recursively. So every item keeps its resource and scope (and, for metrics, its metric
//! and data type fields) on both sides.
//!
//! Container messages with no items at all (an empty scope, a metric without data points) go to
//! the side their position falls on, so nothing is lost. Within a `Metric` being split, the
//! `data` oneof is taken as prost sees it: occurrences a later, different variant overrides are
//! dropped (every decoder discards them anyway, and keeping them could revive them on the side
//! that lacks the later variant), and repeated occurrences of the live variant, which protobuf
//! merges, are merged into one before splitting, so both halves see the merged non-item fields
//! (e.g. `aggregation_temporality`).

use bytes::Bytes;

use super::scan::{scan_message, scan_resource, skip_field, ResourceChunk};
use super::schema::{self, Kind, Role, Schema};
use super::wire::{put_varint, Reader, ScanError, RECURSION_LIMIT, WT_LEN};
use crate::signal::Signal;

/// Splits a chunk into one holding its first `first_items` items and one holding the rest;
/// both keep every non-item field of the resource message (resource, schema_url, …) and each
/// scope message's non-item fields (scope, schema_url), so a split never loses an item's
/// resource or scope. Scope messages with no items left on one side are omitted from that side
/// (a scope or metric with no items at all stays on the side where it sits);
/// precondition 0 < first_items < chunk.items (return an error otherwise). The chunk is
/// validated first; a chunk whose `items` does not match its bytes is an error.
pub fn split_chunk(
    signal: Signal,
    chunk: &ResourceChunk,
    first_items: u32,
) -> Result<(ResourceChunk, ResourceChunk), ScanError> {
    if first_items == 0 || first_items >= chunk.items {
        return Err(ScanError::BadSplit {
            items: chunk.items,
            first: first_items,
        });
    }
    let found = scan_resource(signal, &chunk.bytes)?;
    if found != u64::from(chunk.items) {
        return Err(ScanError::ItemCountMismatch {
            claimed: chunk.items,
            found,
        });
    }
    let (left, right) = split_message(
        &chunk.bytes,
        0,
        schema::resource_schema(signal),
        u64::from(first_items),
        RECURSION_LIMIT - 1,
    )?;
    Ok((
        ResourceChunk {
            bytes: Bytes::from(left),
            items: first_items,
        },
        ResourceChunk {
            bytes: Bytes::from(right),
            items: chunk.items - first_items,
        },
    ))
}

/// Splits a validated message body holding more than `k` items so the left half holds the first
/// `k` items. `base` is the absolute offset of `data` (for errors); `budget` as in the scan.
fn split_message(
    data: &[u8],
    base: usize,
    schema: &'static Schema,
    k: u64,
    budget: u32,
) -> Result<(Vec<u8>, Vec<u8>), ScanError> {
    let oneof = live_oneof(data, base, schema, budget)?;
    let mut halves = Halves {
        left: Vec::with_capacity(data.len()),
        right: Vec::with_capacity(data.len()),
        seen: 0,
        k,
        budget,
    };
    let mut r = Reader::new(data, base);
    while r.has_remaining() {
        let start = r.pos();
        let key = r.key(schema.name)?;
        let (role, kind) = schema
            .field(key.field)
            .map_or((Role::Plain, Kind::Unknown), |f| (f.role, f.kind));
        let (Role::Carrier | Role::OneofCarrier | Role::Item, Kind::Msg(inner)) = (role, kind)
        else {
            skip_field(&mut r, key, budget)?;
            let raw = slice(data, start, r.pos())?;
            halves.left.extend_from_slice(raw);
            halves.right.extend_from_slice(raw);
            continue;
        };
        let sub = r.len_delimited()?;
        let raw = slice(data, start, r.pos())?;
        match (&oneof, role) {
            (Some(live), Role::OneofCarrier) => {
                // Dead variants are dropped; the live run is routed once, merged, at its start.
                if start == live.from {
                    halves.route_merged(key.field, inner, &live.merged, sub.offset())?;
                }
            }
            _ => halves.route(key.field, inner, role, raw, &sub)?,
        }
    }
    Ok((halves.left, halves.right))
}

/// The two halves being written and how many items have gone by.
struct Halves {
    left: Vec<u8>,
    right: Vec<u8>,
    seen: u64,
    k: u64,
    budget: u32,
}

impl Halves {
    /// Sends one child (`raw` is its whole field: key, length, body) left, right, or splits it.
    fn route(
        &mut self,
        field: u32,
        inner: &'static Schema,
        role: Role,
        raw: &[u8],
        body: &Reader<'_>,
    ) -> Result<(), ScanError> {
        if self.seen >= self.k {
            self.right.extend_from_slice(raw);
            return Ok(());
        }
        let n = if role == Role::Item {
            1
        } else {
            self.count(inner, body)?
        };
        if self.seen.saturating_add(n) <= self.k {
            self.left.extend_from_slice(raw);
        } else {
            self.split_child(field, inner, body)?;
        }
        self.seen = self.seen.saturating_add(n);
        Ok(())
    }

    /// As `route` for a child given as a body only (the merged live run of a oneof).
    fn route_merged(
        &mut self,
        field: u32,
        inner: &'static Schema,
        merged: &[u8],
        base: usize,
    ) -> Result<(), ScanError> {
        let body = Reader::new(merged, base);
        let n = self.count(inner, &body)?;
        if self.seen >= self.k {
            put_child(&mut self.right, field, merged);
        } else if self.seen.saturating_add(n) <= self.k {
            put_child(&mut self.left, field, merged);
        } else {
            self.split_child(field, inner, &body)?;
        }
        self.seen = self.seen.saturating_add(n);
        Ok(())
    }

    fn count(&self, inner: &'static Schema, body: &Reader<'_>) -> Result<u64, ScanError> {
        scan_message(&mut body.clone(), inner, self.budget.saturating_sub(1))
    }

    fn split_child(
        &mut self,
        field: u32,
        inner: &'static Schema,
        body: &Reader<'_>,
    ) -> Result<(), ScanError> {
        let k = self.k - self.seen;
        let sub_budget = self.budget.saturating_sub(1);
        let (l, r) = split_message(body.data(), body.offset(), inner, k, sub_budget)?;
        put_child(&mut self.left, field, &l);
        put_child(&mut self.right, field, &r);
        Ok(())
    }
}

/// The live run of a message's item-carrying oneof: where its first occurrence starts and the
/// concatenation of its bodies (protobuf merges repeated occurrences of a message field, so the
/// concatenation is exactly the value prost ends up with).
struct LiveOneof {
    from: usize,
    merged: Vec<u8>,
}

/// Finds the live run of `schema`'s item-carrying oneof, if it has one and it is set. Earlier
/// occurrences of a different variant are overridden (dead).
fn live_oneof(
    data: &[u8],
    base: usize,
    schema: &'static Schema,
    budget: u32,
) -> Result<Option<LiveOneof>, ScanError> {
    if !schema.fields.iter().any(|f| f.role == Role::OneofCarrier) {
        return Ok(None);
    }
    let mut live: Option<(u32, LiveOneof)> = None;
    let mut r = Reader::new(data, base);
    while r.has_remaining() {
        let start = r.pos();
        let key = r.key(schema.name)?;
        if !schema
            .field(key.field)
            .is_some_and(|f| f.role == Role::OneofCarrier)
        {
            skip_field(&mut r, key, budget.max(1))?;
            continue;
        }
        let body = r.len_delimited()?;
        match &mut live {
            Some((field, run)) if *field == key.field => run.merged.extend_from_slice(body.data()),
            _ => {
                live = Some((
                    key.field,
                    LiveOneof {
                        from: start,
                        merged: body.data().to_vec(),
                    },
                ))
            }
        }
    }
    Ok(live.map(|(_, run)| run))
}

fn slice(data: &[u8], start: usize, end: usize) -> Result<&[u8], ScanError> {
    data.get(start..end).ok_or(ScanError::LengthOverrun {
        len: end.saturating_sub(start) as u64,
        offset: start,
        left: data.len().saturating_sub(start),
    })
}

/// Appends `field` as a length-delimited field holding `body`.
fn put_child(out: &mut Vec<u8>, field: u32, body: &[u8]) {
    put_varint((u64::from(field) << 3) | u64::from(WT_LEN), out);
    put_varint(body.len() as u64, out);
    out.extend_from_slice(body);
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use bytes::BytesMut;
    use proptest::prelude::*;

    use super::*;
    use crate::otlp::testgen::{self, flatten_resource, Req};
    use crate::otlp::{encode_request, scan_request};

    fn ld(field: u32, body: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        put_child(&mut out, field, body);
        out
    }
    fn chunk(bytes: Vec<u8>, items: u32) -> ResourceChunk {
        ResourceChunk {
            bytes: Bytes::from(bytes),
            items,
        }
    }

    /// Checks the split property for every split point of `c`: both halves valid (scan and
    /// prost), item counts add up, and the items, each with its context, are those of `c`.
    fn check_all_splits(signal: Signal, c: &ResourceChunk) {
        let all = flatten_resource(signal, &c.bytes);
        assert_eq!(all.len(), c.items as usize);
        for k in 1..c.items {
            let (l, r) = split_chunk(signal, c, k).unwrap();
            assert_eq!((l.items, r.items), (k, c.items - k));
            assert_eq!(scan_resource(signal, &l.bytes).unwrap(), u64::from(k));
            assert_eq!(
                scan_resource(signal, &r.bytes).unwrap(),
                u64::from(c.items - k)
            );
            let mut both = flatten_resource(signal, &l.bytes);
            both.extend(flatten_resource(signal, &r.bytes));
            assert_eq!(both, all, "split at {k}");
            let mut req = BytesMut::new();
            encode_request([&l, &r], &mut req);
            assert_eq!(
                Req::decode(signal, &req).unwrap().items(),
                u64::from(c.items)
            );
        }
    }

    #[test]
    fn rejects_impossible_splits() {
        let span = ld(2, &[]);
        let c = chunk(ld(2, &[span.clone(), span].concat()), 2);
        for k in [0, 2, 3] {
            let err = split_chunk(Signal::Traces, &c, k).unwrap_err();
            assert_eq!(err, ScanError::BadSplit { items: 2, first: k });
        }
        let lying = ResourceChunk {
            items: 3,
            ..c.clone()
        };
        let err = split_chunk(Signal::Traces, &lying, 1).unwrap_err();
        assert_eq!(
            err,
            ScanError::ItemCountMismatch {
                claimed: 3,
                found: 2
            }
        );
        let garbage = chunk(vec![0x12, 0x05], 2);
        assert!(split_chunk(Signal::Traces, &garbage, 1).is_err());
    }

    #[test]
    fn splits_traces_across_and_within_scopes() {
        let resource = ld(
            1,
            &ld(1, &[ld(1, b"service.name"), ld(2, &ld(1, b"api"))].concat()),
        );
        let span = |name: &[u8]| ld(2, &ld(5, name));
        let scope = |name: &[u8], spans: &[Vec<u8>]| {
            ld(
                2,
                &[ld(1, &ld(1, name)), spans.concat(), ld(3, b"scope-url")].concat(),
            )
        };
        let body = [
            resource,
            scope(b"a", &[span(b"a1"), span(b"a2")]),
            scope(b"empty", &[]),
            scope(b"b", &[span(b"b1"), span(b"b2"), span(b"b3")]),
            ld(3, b"resource-url"),
        ]
        .concat();
        let c = chunk(body, 5);
        check_all_splits(Signal::Traces, &c);
        // At 1 the first scope straddles: both halves carry it, the right has no empty scope
        // before its first item... the empty scope falls on the right, where its position is.
        let (l, r) = split_chunk(Signal::Traces, &c, 1).unwrap();
        let rs = |b: &Bytes| {
            use prost::Message;
            opentelemetry_proto::tonic::trace::v1::ResourceSpans::decode(b.clone()).unwrap()
        };
        let (l, r) = (rs(&l.bytes), rs(&r.bytes));
        assert_eq!(l.scope_spans.len(), 1);
        assert_eq!(r.scope_spans.len(), 3);
        assert_eq!(l.schema_url, "resource-url");
        assert_eq!(l.resource, r.resource);
        assert_eq!(r.scope_spans[0].scope, l.scope_spans[0].scope);
        // At 2 the first scope goes left whole and is omitted on the right.
        let (l, r) = split_chunk(Signal::Traces, &c, 2).unwrap();
        assert_eq!(
            (
                rs(&l.bytes).scope_spans.len(),
                rs(&r.bytes).scope_spans.len()
            ),
            (1, 2)
        );
    }

    #[test]
    fn splits_a_metric_inside_its_data_points() {
        let dp = |t: u8| ld(1, &[&[0x19][..], &[t; 8]].concat()); // time_unix_nano
        let sum = ld(
            7,
            &[dp(1), dp(2), ld(20, &[]), dp(3), vec![0x10, 2, 0x18, 1]].concat(),
        );
        let metric = ld(2, &[ld(1, b"requests"), ld(3, b"1"), sum].concat());
        let body = ld(2, &[ld(1, &ld(1, b"scope")), metric].concat());
        let c = chunk(body, 3);
        check_all_splits(Signal::Metrics, &c);
    }

    #[test]
    fn metric_oneof_is_split_as_prost_sees_it() {
        let points = |n: usize| {
            (0..n)
                .map(|i| ld(1, &[0x19, i as u8, 0, 0, 0, 0, 0, 0, 0]))
                .collect::<Vec<_>>()
                .concat()
        };
        let gauge = |n: usize| ld(5, &points(n));
        let sum = |n: usize, temporality: u8| ld(7, &[points(n), vec![0x10, temporality]].concat());
        let metrics = [
            [gauge(2), sum(2, 1), ld(1, b"m"), sum(1, 2)].concat(),
            [sum(1, 1), gauge(3)].concat(),
            [gauge(1), gauge(1), gauge(1)].concat(),
        ];
        for m in metrics {
            let body = ld(2, &ld(2, &m));
            let s = scan_request(Signal::Metrics, &Bytes::from(ld(1, &body))).unwrap();
            check_all_splits(Signal::Metrics, &s.chunks[0]);
        }
    }

    #[test]
    fn splits_logs() {
        let rec = |b: &[u8]| ld(2, &ld(5, &ld(1, b)));
        let scope = ld(
            2,
            &[rec(b"1"), rec(b"2"), ld(1, &ld(2, b"v1")), rec(b"3")].concat(),
        );
        let body = [ld(1, &[]), scope.clone(), scope].concat();
        check_all_splits(Signal::Logs, &chunk(body, 6));
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

        #[test]
        fn split_keeps_every_item_with_its_context(req in testgen::request(), k in any::<prop::sample::Index>()) {
            let signal = req.signal();
            let s = scan_request(signal, &Bytes::from(req.encode())).unwrap();
            // A case with nothing to split checks nothing: rejected, so every counted case
            // splits a chunk (proptest fails when too many cases are rejected).
            prop_assume!(s.chunks.iter().any(|c| c.items >= 2));
            for c in s.chunks.iter().filter(|c| c.items >= 2) {
                let k = 1 + k.index(c.items as usize - 1) as u32;
                let (l, r) = split_chunk(signal, c, k).unwrap();
                prop_assert_eq!(l.items + r.items, c.items);
                let mut both = flatten_resource(signal, &l.bytes);
                both.extend(flatten_resource(signal, &r.bytes));
                prop_assert_eq!(both, flatten_resource(signal, &c.bytes));
            }
        }

        #[test]
        fn split_handles_odd_but_valid_encodings(seed in any::<u64>()) {
            let mut checked = 0;
            for signal in Signal::ALL {
                let bytes = Bytes::from(crate::otlp::schema::random::random_request(signal, seed, 0));
                let Ok(s) = scan_request(signal, &bytes) else { continue };
                for c in s.chunks.iter().filter(|c| c.items >= 2) {
                    check_all_splits(signal, c);
                    checked += 1;
                }
            }
            prop_assume!(checked > 0);
        }
    }
}
