//! Schema-guided random messages for the property tests: they follow the tables of
//! [`super`], with corruption at a chosen rate, so prost (the oracle) catches any table that
//! is wrong.
#![allow(clippy::unwrap_used)]
use super::{resource_schema, Field, Kind, Schema};
use crate::otlp::wire::put_varint;
use crate::signal::Signal;

/// A tiny deterministic PRNG (xorshift64*), seeded by proptest.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed | 1)
    }
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    /// True with probability `permille`/1000.
    pub fn chance(&mut self, permille: u64) -> bool {
        self.below(1000) < permille
    }
}

fn put_key(out: &mut Vec<u8>, field: u32, wt: u8) {
    put_varint((u64::from(field) << 3) | u64::from(wt), out);
}

fn put_len(out: &mut Vec<u8>, field: u32, body: &[u8]) {
    put_key(out, field, 2);
    put_varint(body.len() as u64, out);
    out.extend_from_slice(body);
}

fn random_bytes(rng: &mut Rng, max: u64) -> Vec<u8> {
    (0..rng.below(max)).map(|_| rng.next() as u8).collect()
}

/// A random value for `kind`, encoded with the right wire type (packed sometimes).
fn put_value(rng: &mut Rng, out: &mut Vec<u8>, field: &Field, depth: u32, bad: u64) {
    let n = field.number;
    match field.kind {
        Kind::Varint if field.packable && rng.chance(500) => {
            let mut body = Vec::new();
            for _ in 0..rng.below(4) {
                put_varint(rng.next() >> rng.below(64), &mut body);
            }
            put_len(out, n, &body);
        }
        Kind::Fixed64 if field.packable && rng.chance(500) => {
            let body = vec![7u8; 8 * rng.below(4) as usize];
            put_len(out, n, &body);
        }
        Kind::Varint => {
            put_key(out, n, 0);
            put_varint(rng.next() >> rng.below(64), out);
        }
        Kind::Fixed64 => {
            put_key(out, n, 1);
            out.extend_from_slice(&rng.next().to_le_bytes());
        }
        Kind::Fixed32 => {
            put_key(out, n, 5);
            out.extend_from_slice(&(rng.next() as u32).to_le_bytes());
        }
        Kind::Str => {
            let s: String = (0..rng.below(6))
                .map(|_| ['a', 'é', '€', '𝄞'][rng.below(4) as usize])
                .collect();
            let mut b = s.into_bytes();
            if rng.chance(bad) && !b.is_empty() {
                let i = rng.below(b.len() as u64) as usize;
                b[i] = rng.next() as u8;
            }
            put_len(out, n, &b);
        }
        Kind::Bytes => put_len(out, n, &random_bytes(rng, 17)),
        Kind::Msg(inner) => put_len(out, n, &random_message(rng, inner, depth + 1, bad)),
        Kind::Unknown => {}
    }
}

/// A field with a random wire type and payload (for unknown numbers and corruption).
fn put_random_field(rng: &mut Rng, out: &mut Vec<u8>, n: u32, depth: u32) {
    match rng.below(6) {
        0 => {
            put_key(out, n, 0);
            put_varint(rng.next(), out);
        }
        1 => {
            put_key(out, n, 1);
            out.extend_from_slice(&[0; 8]);
        }
        2 => put_len(out, n, &random_bytes(rng, 12)),
        3 if depth < 8 => {
            put_key(out, n, 3);
            for _ in 0..rng.below(3) {
                let inner = 1 + rng.below(20) as u32;
                put_random_field(rng, out, inner, depth + 1);
            }
            put_key(out, if rng.chance(20) { n + 1 } else { n }, 4);
        }
        4 => {
            put_key(out, n, 5);
            out.extend_from_slice(&[0; 4]);
        }
        _ => {
            put_key(out, n, 0);
            put_varint(rng.below(300), out);
        }
    }
}

/// A random message that follows `schema` except with probability `bad`‰ per field
/// (wrong wire type, broken UTF-8), with unknown fields mixed in.
pub fn random_message(rng: &mut Rng, schema: &'static Schema, depth: u32, bad: u64) -> Vec<u8> {
    let mut out = Vec::new();
    let known: Vec<&Field> = schema.fields.iter().filter(|f| f.number != 0).collect();
    let fields = if depth > 6 {
        rng.below(2)
    } else {
        rng.below(7)
    };
    for _ in 0..fields {
        if rng.chance(100) || known.is_empty() {
            let n = 1 + rng.below(40) as u32;
            put_random_field(rng, &mut out, n, depth);
        } else if rng.chance(bad) {
            let f = known[rng.below(known.len() as u64) as usize];
            put_random_field(rng, &mut out, f.number, depth);
        } else {
            let f = known[rng.below(known.len() as u64) as usize];
            put_value(rng, &mut out, f, depth, bad);
        }
    }
    out
}

/// A random export request of `signal`: resource messages built by [`random_message`].
pub fn random_request(signal: Signal, seed: u64, bad: u64) -> Vec<u8> {
    let mut rng = Rng::new(seed);
    let mut out = Vec::new();
    for _ in 0..rng.below(4) {
        if rng.chance(50) {
            let n = 1 + rng.below(5) as u32;
            put_random_field(&mut rng, &mut out, n, 0);
        } else {
            let body = random_message(&mut rng, resource_schema(signal), 1, bad);
            put_len(&mut out, 1, &body);
        }
    }
    out
}
