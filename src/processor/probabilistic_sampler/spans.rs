//! Sampling spans: randomness from the trace id or the tracestate, `sampling.priority`
//! overrides, and the threshold written back into the tracestate.

use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, Span};

use super::decide::{check, on_error, Policy, SampleError};
use super::threshold::{Randomness, Threshold};
use super::tracestate::TraceState;
use super::ProbabilisticSampler;

/// Keeps the sampled spans of `rs` (and the scopes left with any); returns how many.
pub(super) fn sample(s: &ProbabilisticSampler, rs: &mut ResourceSpans) -> u32 {
    let mut kept = 0usize;
    rs.scope_spans.retain_mut(|ss| {
        ss.spans.retain_mut(|span| decide(s, span));
        kept += ss.spans.len();
        !ss.spans.is_empty()
    });
    u32::try_from(kept).unwrap_or(u32::MAX)
}

/// What step 1 found for one span.
struct Found {
    rnd: Option<Randomness>,
    policy: Policy,
    carrier: Option<TraceState>,
    error: Option<SampleError>,
}

/// Decides one span, marking it when kept.
fn decide(s: &ProbabilisticSampler, span: &mut Span) -> bool {
    let mut found = randomness(s, span);
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
    match priority(span) {
        Some(true) => (threshold, policy) = (Threshold::ALWAYS, Policy::SamplingPriority),
        Some(false) => (threshold, policy) = (Threshold::NEVER, Policy::SamplingPriority),
        None => {}
    }
    let sampled = threshold.samples(found.rnd.unwrap_or(Randomness::ALL));
    if let (true, Some(ts)) = (sampled, &mut found.carrier) {
        if let Err(error) = ts.update_threshold(threshold) {
            tracing::debug!(error, "probabilistic_sampler: tracestate threshold kept");
        }
        span.trace_state = ts.serialize();
    }
    s.count(policy, sampled);
    sampled
}

/// Step 1 for a span.
fn randomness(s: &ProbabilisticSampler, span: &Span) -> Found {
    let parsed = TraceState::parse(&span.trace_state);
    if let Some(seed) = s.rule.hash_seed() {
        // The legacy mode hashes whatever the trace id holds, even all zeros.
        let rnd = Randomness::from_hash(&span.trace_id, seed);
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
            let (rnd, policy) = match (ts.randomness(), trace_id(span)) {
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
fn trace_id(span: &Span) -> Option<[u8; 16]> {
    let id: [u8; 16] = span.trace_id.as_slice().try_into().ok()?;
    (id != [0; 16]).then_some(id)
}

/// The OpenTracing `sampling.priority` attribute: 0 drops, above 0 keeps, otherwise (absent,
/// negative, not a number) the sampler decides.
fn priority(span: &Span) -> Option<bool> {
    let value = span
        .attributes
        .iter()
        .find(|kv| kv.key == "sampling.priority")?
        .value
        .as_ref()?
        .value
        .as_ref()?;
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
