//! Checks of the schema tables against prost's generated types.
#![allow(clippy::unwrap_used)]

use std::collections::BTreeSet;

use proptest::strategy::{Strategy, ValueTree};
use proptest::test_runner::TestRunner;

use super::*;
use crate::otlp::testgen::{self, Req};
use crate::otlp::wire::{Reader, WT_FIXED32, WT_FIXED64, WT_LEN, WT_VARINT};

/// Walks a prost encoding, requiring every field to be in the tables with the wire type
/// prost wrote; records each (message, field) seen.
fn strict(schema: &'static Schema, data: &[u8], seen: &mut BTreeSet<(&str, u32)>) {
    let mut r = Reader::new(data, 0);
    while r.has_remaining() {
        let key = r.key(schema.name).unwrap();
        let field = schema.field(key.field);
        let field = field.unwrap_or_else(|| panic!("{}.{} missing", schema.name, key.field));
        seen.insert((schema.name, field.number));
        let wt = match field.kind {
            Kind::Varint => WT_VARINT,
            Kind::Fixed64 => WT_FIXED64,
            Kind::Fixed32 => WT_FIXED32,
            _ => WT_LEN,
        };
        let packed = field.packable && key.wire_type == WT_LEN;
        assert!(
            key.wire_type == wt || packed,
            "{}.{}: wire type",
            schema.name,
            field.name
        );
        match field.kind {
            Kind::Varint if !packed => drop(r.varint().unwrap()),
            Kind::Fixed64 if !packed => r.skip_fixed(8).unwrap(),
            Kind::Fixed32 => r.skip_fixed(4).unwrap(),
            Kind::Msg(inner) => strict(inner, r.len_delimited().unwrap().data(), seen),
            _ => drop(r.len_delimited().unwrap()),
        }
    }
}

/// Every field of every table shows up, with its table wire type, in prost encodings of
/// generated requests: field numbers and types match opentelemetry-proto's.
#[test]
fn tables_cover_exactly_what_prost_encodes() {
    let mut runner = TestRunner::deterministic();
    let mut seen = BTreeSet::new();
    let strategy = testgen::request();
    for _ in 0..3000 {
        let req: Req = strategy.new_tree(&mut runner).unwrap().current();
        let bytes = req.encode();
        let mut top = Reader::new(&bytes, 0);
        while top.has_remaining() {
            let key = top.key("request").unwrap();
            assert_eq!((key.field, key.wire_type), (1, WT_LEN));
            let body = top.len_delimited().unwrap();
            strict(resource_schema(req.signal()), body.data(), &mut seen);
        }
    }
    for schema in ALL {
        for f in schema.fields.iter().filter(|f| f.number != 0) {
            assert!(
                seen.contains(&(schema.name, f.number)),
                "{}.{} never",
                schema.name,
                f.name
            );
        }
    }
}

#[test]
fn tables_are_indexed_by_field_number() {
    for schema in ALL {
        for (i, f) in schema.fields.iter().enumerate() {
            assert!(f.number == 0 || f.number as usize == i, "{}", schema.name);
            assert!(!f.packable || matches!(f.kind, Kind::Varint | Kind::Fixed64));
        }
        let oneofs = schema
            .fields
            .iter()
            .filter(|f| f.role == Role::OneofCarrier)
            .count();
        assert!(
            oneofs == 0 || oneofs == 5,
            "one item-carrying oneof at most"
        );
    }
}
