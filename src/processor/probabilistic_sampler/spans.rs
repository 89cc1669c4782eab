//! Sampling spans on the wire: randomness from the trace id or the tracestate,
//! `sampling.priority` overrides, and the threshold written back into the tracestate.
//!
//! A span's decision reads three of its fields (`trace_id` = 1, `trace_state` = 3, and the
//! `sampling.priority` entry of `attributes` = 9), so the chunk is walked on the wire rather
//! than decoded (a prost decode and re-encode of every span cost 2.85× batch alone,
//! `benches/RESULTS.md`). A kept span is copied with its field 3 replaced; a dropped one is
//! left out; a scope message (ResourceSpans field 2) left with no span is left out.

use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use prost::encoding::{encode_key, encode_varint, encoded_len_varint, WireType};
use prost::Message;

use super::decide::{check, on_error, Policy, SampleError};
use super::threshold::{Randomness, Threshold};
use super::tracestate::TraceState;
use super::ProbabilisticSampler;
use crate::processor::chunk::{walk, TransformError};

const PRIORITY_KEY: &[u8] = b"sampling.priority";

/// The chunk with only its sampled spans, and how many that is.
pub(super) fn sample(
    s: &ProbabilisticSampler,
    chunk: &[u8],
) -> Result<(Vec<u8>, u32), TransformError> {
    let mut out = Vec::with_capacity(chunk.len());
    let mut scope = Vec::new();
    let mut kept = 0u32;
    walk(chunk, |top| {
        if top.number != 2 || top.wire != WireType::LengthDelimited {
            out.extend_from_slice(top.raw);
            return Ok(());
        }
        scope.clear();
        let mut kept_here = 0u32;
        walk(top.body, |f| {
            if f.number != 2 || f.wire != WireType::LengthDelimited {
                scope.extend_from_slice(f.raw);
                return Ok(());
            }
            if decide(s, f.body, &mut scope)? {
                kept_here += 1;
            }
            Ok(())
        })?;
        if kept_here > 0 {
            put_message(2, &scope, &mut out);
            kept += kept_here;
        }
        Ok(())
    })?;
    Ok((out, kept))
}

/// Writes `body` as length-delimited field `number`.
fn put_message(number: u32, body: &[u8], out: &mut Vec<u8>) {
    encode_key(number, WireType::LengthDelimited, out);
    encode_varint(body.len() as u64, out);
    out.extend_from_slice(body);
}

/// The fields a decision reads of one span.
struct SpanView<'a> {
    trace_id: &'a [u8],
    trace_state: &'a str,
    priority: Option<bool>,
}

/// Reads what the decision needs of `span`: the last `trace_id` and `trace_state` (protobuf
/// keeps the last of a repeated singular field) and the first `sampling.priority` entry.
fn view(span: &[u8]) -> Result<SpanView<'_>, TransformError> {
    let mut v = SpanView {
        trace_id: &[],
        trace_state: "",
        priority: None,
    };
    let mut priority_seen = false;
    walk(span, |f| {
        match (f.number, f.wire) {
            (1, WireType::LengthDelimited) => v.trace_id = f.body,
            (3, WireType::LengthDelimited) => {
                v.trace_state = std::str::from_utf8(f.body)
                    .map_err(|_| TransformError::Malformed("trace_state is not UTF-8"))?;
            }
            (9, WireType::LengthDelimited) if !priority_seen => {
                if let Some(kv) = priority_entry(f.body)? {
                    priority_seen = true;
                    v.priority = kv.value.and_then(|a| a.value).as_ref().and_then(priority);
                }
            }
            _ => {}
        }
        Ok(())
    })?;
    Ok(v)
}

/// The attribute `kv` decoded, when its key is `sampling.priority` (others stay bytes).
fn priority_entry(kv: &[u8]) -> Result<Option<KeyValue>, TransformError> {
    let mut key: &[u8] = &[];
    walk(kv, |f| {
        if f.number == 1 && f.wire == WireType::LengthDelimited {
            key = f.body;
        }
        Ok(())
    })?;
    if key != PRIORITY_KEY {
        return Ok(None);
    }
    Ok(Some(KeyValue::decode(kv)?))
}

/// What step 1 found for one span.
struct Found {
    rnd: Option<Randomness>,
    policy: Policy,
    carrier: Option<TraceState>,
    error: Option<SampleError>,
}

/// Decides one span; a kept one is appended to `out` as ScopeSpans field 2, its tracestate
/// marked. Returns whether it was kept.
fn decide(
    s: &ProbabilisticSampler,
    span: &[u8],
    out: &mut Vec<u8>,
) -> Result<bool, TransformError> {
    let v = view(span)?;
    let mut found = randomness(s, &v);
    if found.error.is_none() {
        let arriving = found.carrier.as_ref().and_then(TraceState::threshold);
        if let Err(error) = check(found.rnd, arriving) {
            if let Some(ts) = &mut found.carrier {
                ts.clear_threshold();
            }
            found.error = Some(error);
        }
    }
    let mut threshold = match &found.error {
        Some(error) => on_error(error, s.config.fail_closed),
        None => s
            .rule
            .threshold(found.carrier.as_ref().and_then(TraceState::threshold)),
    };
    let mut policy = found.policy;
    match v.priority {
        Some(true) => (threshold, policy) = (Threshold::ALWAYS, Policy::SamplingPriority),
        Some(false) => (threshold, policy) = (Threshold::NEVER, Policy::SamplingPriority),
        None => {}
    }
    let sampled = threshold.samples(found.rnd.unwrap_or(Randomness::ALL));
    s.count(policy, sampled);
    if !sampled {
        return Ok(false);
    }
    match &mut found.carrier {
        None => put_message(2, span, out),
        Some(ts) => {
            if let Err(error) = ts.update_threshold(threshold) {
                tracing::debug!(error, "probabilistic_sampler: tracestate threshold kept");
            }
            put_marked(span, &ts.serialize(), out)?;
        }
    }
    Ok(true)
}

/// Appends `span` with its `trace_state` (field 3) replaced by `trace_state`, written
/// straight into `out` (its new length is known before its fields are copied).
fn put_marked(span: &[u8], trace_state: &str, out: &mut Vec<u8>) -> Result<(), TransformError> {
    let mut old_state = 0;
    walk(span, |f| {
        if f.number == 3 {
            old_state += f.raw.len();
        }
        Ok(())
    })?;
    let new_state = if trace_state.is_empty() {
        0
    } else {
        1 + encoded_len_varint(trace_state.len() as u64) + trace_state.len()
    };
    encode_key(2, WireType::LengthDelimited, out);
    encode_varint((span.len() - old_state + new_state) as u64, out);
    walk(span, |f| {
        if f.number != 3 {
            out.extend_from_slice(f.raw);
        }
        Ok(())
    })?;
    if !trace_state.is_empty() {
        put_message(3, trace_state.as_bytes(), out);
    }
    Ok(())
}

/// Step 1 for a span.
fn randomness(s: &ProbabilisticSampler, v: &SpanView<'_>) -> Found {
    let parsed = TraceState::parse(v.trace_state);
    if let Some(seed) = s.rule.hash_seed() {
        // The legacy mode hashes whatever the trace id holds, even all zeros.
        let rnd = Randomness::from_hash(v.trace_id, seed);
        let mut found = Found {
            rnd: Some(rnd),
            policy: Policy::TraceIdHash,
            carrier: None,
            error: None,
        };
        match parsed {
            Err(error) => found.error = Some(error.into()),
            Ok(ts) if ts.randomness().is_some() => {
                found.error = Some(SampleError::RandomnessInUse);
                found.carrier = Some(ts);
            }
            Ok(ts) if ts.threshold().is_some() => {
                found.error = Some(SampleError::ThresholdInUse);
                found.carrier = Some(ts);
            }
            Ok(mut ts) => {
                ts.set_randomness(rnd);
                found.carrier = Some(ts);
            }
        }
        return found;
    }
    match parsed {
        Err(error) => Found {
            rnd: None,
            policy: Policy::MissingRandomness,
            carrier: None,
            error: Some(error.into()),
        },
        Ok(ts) => {
            let (rnd, policy) = match (ts.randomness(), trace_id(v.trace_id)) {
                (Some(rv), _) => (Some(rv), Policy::SamplingRandomness),
                (None, Some(id)) => (Some(Randomness::from_trace_id(&id)), Policy::TraceIdW3c),
                (None, None) => (None, Policy::MissingRandomness),
            };
            Found {
                rnd,
                policy,
                carrier: Some(ts),
                error: None,
            }
        }
    }
}

/// A valid (16-byte, not all-zero) trace id.
fn trace_id(bytes: &[u8]) -> Option<[u8; 16]> {
    let id: [u8; 16] = bytes.try_into().ok()?;
    (id != [0; 16]).then_some(id)
}

/// The OpenTracing `sampling.priority` value: 0 drops, above 0 keeps, otherwise (negative,
/// not a number) the sampler decides.
fn priority(value: &Value) -> Option<bool> {
    let number = match value {
        Value::IntValue(i) => *i as f64,
        Value::DoubleValue(d) => *d,
        Value::StringValue(s) => s.parse::<f64>().ok()?,
        _ => return None,
    };
    if number == 0.0 {
        Some(false)
    } else if number > 0.0 {
        Some(true)
    } else {
        None
    }
}
