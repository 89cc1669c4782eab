//! Sampling log records: randomness from `sampling.randomness`, the trace id or the
//! `from_attribute` value, the `sampling_priority` attribute as a minimum percentage, and
//! the threshold written as the `sampling.threshold` attribute.

use opentelemetry_proto::tonic::common::v1::{any_value::Value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs};

use super::config::AttributeSource;
use super::decide::{check, on_error, Policy, SampleError};
use super::threshold::{Randomness, Threshold};
use super::ProbabilisticSampler;

const THRESHOLD_KEY: &str = "sampling.threshold";
const RANDOMNESS_KEY: &str = "sampling.randomness";

/// Keeps the sampled records of `rl` (and the scopes left with any); returns how many.
pub(super) fn sample(s: &ProbabilisticSampler, rl: &mut ResourceLogs) -> u32 {
    let mut kept = 0usize;
    rl.scope_logs.retain_mut(|sl| {
        sl.log_records.retain_mut(|record| decide(s, record));
        kept += sl.log_records.len();
        !sl.log_records.is_empty()
    });
    u32::try_from(kept).unwrap_or(u32::MAX)
}

/// The sampling attributes a record arrived with.
struct Carrier {
    threshold: Option<Threshold>,
    randomness: Option<Randomness>,
}

/// Decides one record, marking it when kept.
fn decide(s: &ProbabilisticSampler, record: &mut LogRecord) -> bool {
    let (rnd, mut policy, carrier, mut error) = randomness(s, record);
    let mut carrier = carrier;
    if error.is_none() {
        let arriving = carrier.as_ref().and_then(|c| c.threshold);
        if let Err(e) = check(rnd, arriving) {
            if let Some(c) = &mut carrier {
                c.threshold = None;
                record.attributes.retain(|kv| kv.key != THRESHOLD_KEY);
            }
            error = Some(e);
        }
    }
    let mut threshold = match &error {
        Some(e) => on_error(e, s.config.fail_closed),
        None => s.rule.threshold(carrier.as_ref().and_then(|c| c.threshold)),
    };
    if let Some(priority) = priority_threshold(s, record) {
        if priority < threshold {
            (threshold, policy) = (priority, Policy::SamplingPriority);
        }
    }
    let sampled = threshold.samples(rnd.unwrap_or(Randomness::ALL));
    if let (true, Some(c)) = (sampled, &carrier) {
        if c.threshold.is_some_and(|old| threshold < old) {
            tracing::debug!("probabilistic_sampler: cannot raise existing sampling probability");
        } else {
            put(record, THRESHOLD_KEY, threshold.tvalue());
        }
    }
    s.count(policy, sampled);
    sampled
}

/// Step 1 for a record.
fn randomness(
    s: &ProbabilisticSampler,
    record: &mut LogRecord,
) -> (
    Option<Randomness>,
    Policy,
    Option<Carrier>,
    Option<SampleError>,
) {
    let parsed = carrier(record);
    let config = &s.config;
    let by_attribute = |record: &LogRecord, seed: u32| {
        (!config.from_attribute.is_empty())
            .then(|| attribute(record, &config.from_attribute))
            .flatten()
            .map(|bytes| Randomness::from_hash(&bytes, seed))
    };
    if let Some(seed) = s.rule.hash_seed() {
        let (mut rnd, mut policy) = (None, Policy::MissingRandomness);
        if config.attribute_source == AttributeSource::TraceId {
            (rnd, policy) = (
                Some(Randomness::from_hash(&record.trace_id, seed)),
                Policy::TraceIdHash,
            );
        }
        if rnd.is_none() {
            if let Some(r) = by_attribute(record, seed) {
                (rnd, policy) = (Some(r), Policy::Attribute);
            }
        }
        return match parsed {
            Err(e) => (rnd, policy, None, Some(e)),
            Ok(c) if c.randomness.is_some() => {
                (rnd, policy, Some(c), Some(SampleError::RandomnessInUse))
            }
            Ok(c) if c.threshold.is_some() => {
                (rnd, policy, Some(c), Some(SampleError::ThresholdInUse))
            }
            Ok(c) => {
                if let Some(r) = rnd {
                    put(record, RANDOMNESS_KEY, r.rvalue());
                }
                (rnd, policy, Some(c), None)
            }
        };
    }
    match parsed {
        Err(e) => (None, Policy::MissingRandomness, None, Some(e)),
        Ok(c) => {
            let trace_id: Option<[u8; 16]> = record.trace_id.as_slice().try_into().ok();
            let (rnd, policy) = if let Some(r) = c.randomness {
                (Some(r), Policy::SamplingRandomness)
            } else if let Some(id) = trace_id.filter(|id| *id != [0; 16]) {
                (Some(Randomness::from_trace_id(&id)), Policy::TraceIdW3c)
            } else if let Some(r) = by_attribute(record, config.hash_seed) {
                (Some(r), Policy::Attribute)
            } else {
                (None, Policy::MissingRandomness)
            };
            (rnd, policy, Some(c), None)
        }
    }
}

/// The record's `sampling.threshold` / `sampling.randomness` string attributes.
fn carrier(record: &LogRecord) -> Result<Carrier, SampleError> {
    let text = |key: &str| match find(record, key) {
        Some(Value::StringValue(s)) if !s.is_empty() => Some(s.as_str()),
        _ => None,
    };
    Ok(Carrier {
        threshold: text(THRESHOLD_KEY).map(Threshold::parse).transpose()?,
        randomness: text(RANDOMNESS_KEY).map(Randomness::parse).transpose()?,
    })
}

/// The `sampling_priority` attribute as a threshold: a percentage (int or double) that
/// raises the record's sampling probability; 0 or absent changes nothing.
fn priority_threshold(s: &ProbabilisticSampler, record: &LogRecord) -> Option<Threshold> {
    if s.config.sampling_priority.is_empty() {
        return None;
    }
    let percent = match find(record, &s.config.sampling_priority)? {
        Value::IntValue(i) => *i as f64,
        Value::DoubleValue(d) => *d,
        _ => return None,
    };
    if percent == 0.0 {
        return None;
    }
    Threshold::from_probability((percent / 100.0).min(1.0), s.config.sampling_precision)
}

fn find<'a>(record: &'a LogRecord, key: &str) -> Option<&'a Value> {
    record
        .attributes
        .iter()
        .find(|kv| kv.key == key)?
        .value
        .as_ref()?
        .value
        .as_ref()
}

/// The bytes of an attribute's value that are hashed: raw for bytes, else its string form
/// (as otelcol's `AsString`).
fn attribute(record: &LogRecord, key: &str) -> Option<Vec<u8>> {
    Some(match find(record, key)? {
        Value::BytesValue(b) => b.clone(),
        Value::StringValue(s) => s.clone().into_bytes(),
        Value::IntValue(i) => i.to_string().into_bytes(),
        Value::DoubleValue(d) => d.to_string().into_bytes(),
        Value::BoolValue(b) => b.to_string().into_bytes(),
        other => format!("{other:?}").into_bytes(),
    })
}

/// Sets a string attribute, replacing any of the same key.
fn put(record: &mut LogRecord, key: &str, value: String) {
    let value = Some(AnyValue {
        value: Some(Value::StringValue(value)),
    });
    match record.attributes.iter_mut().find(|kv| kv.key == key) {
        Some(kv) => kv.value = value,
        None => record.attributes.push(KeyValue {
            key: key.to_owned(),
            value,
            ..Default::default()
        }),
    }
}
