//! `NaN`, `Infinity` and `-Infinity` in metric doubles, which OTLP/JSON writes as strings
//! (protobuf JSON mapping) but opentelemetry-proto's serde derives read and write only as
//! numbers (except summary quantiles, which it handles itself).
//!
//! Input: such a string at a double key is replaced in the JSON tree by a sentinel subnormal
//! number, the typed request is decoded, and the sentinels in its metric doubles are turned
//! back into the special values. Output: the special values are replaced by sentinels, the
//! request is serialized to a JSON tree, and the sentinels become strings. Sentinels are three
//! fixed subnormal bit patterns; a finite input double with exactly one of those bit patterns
//! (a ~4.9e-309-scale value no instrument produces) would be read as the special value.

use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::metrics::v1::{
    exemplar, metric::Data, number_data_point, Exemplar,
};
use serde_json::Value;

/// JSON keys of metric double fields whose values opentelemetry-proto reads as plain numbers.
const DOUBLE_KEYS: &[&str] = &["asDouble", "sum", "min", "max", "zeroThreshold"];
/// JSON key of the repeated double field.
const DOUBLE_LIST_KEY: &str = "explicitBounds";

/// (special value's JSON string, sentinel bits); NaN is compared by kind, not bits.
const SENTINELS: [(&str, u64); 3] = [
    ("NaN", 0x000F_ACE0_0000_0001),
    ("Infinity", 0x000F_ACE0_0000_0002),
    ("-Infinity", 0x000F_ACE0_0000_0003),
];

fn special_of_str(text: &str) -> Option<u64> {
    SENTINELS.iter().find(|(s, _)| *s == text).map(|(_, b)| *b)
}

fn sentinel_number(bits: u64) -> Value {
    serde_json::Number::from_f64(f64::from_bits(bits)).map_or(Value::Null, Value::Number)
}

/// Input side, on one JSON object's entry: a special string at a double key becomes a sentinel.
pub(super) fn encode_entry(key: &str, value: &mut Value) {
    if DOUBLE_KEYS.contains(&key) {
        if let Value::String(s) = value {
            if let Some(bits) = special_of_str(s) {
                *value = sentinel_number(bits);
            }
        }
    } else if key == DOUBLE_LIST_KEY {
        if let Value::Array(items) = value {
            for item in items {
                if let Value::String(s) = item {
                    if let Some(bits) = special_of_str(s) {
                        *item = sentinel_number(bits);
                    }
                }
            }
        }
    }
}

/// Input side, after decoding: sentinels back to special values.
pub(super) fn restore(request: &mut ExportMetricsServiceRequest) {
    for_each_double(request, &mut |d| {
        *d = match d.to_bits() {
            b if b == SENTINELS[0].1 => f64::NAN,
            b if b == SENTINELS[1].1 => f64::INFINITY,
            b if b == SENTINELS[2].1 => f64::NEG_INFINITY,
            _ => return,
        };
    });
}

/// Output side, before serializing: special values to sentinels; whether there were any.
pub(super) fn mark(request: &mut ExportMetricsServiceRequest) -> bool {
    let mut any = false;
    for_each_double(request, &mut |d| {
        let bits = if d.is_nan() {
            SENTINELS[0].1
        } else if *d == f64::INFINITY {
            SENTINELS[1].1
        } else if *d == f64::NEG_INFINITY {
            SENTINELS[2].1
        } else {
            return;
        };
        *d = f64::from_bits(bits);
        any = true;
    });
    any
}

/// Output side, on the serialized tree: sentinel numbers become their strings.
pub(super) fn sentinels_to_strings(value: &mut Value) {
    let mut stack = vec![value];
    while let Some(v) = stack.pop() {
        match v {
            Value::Array(items) => stack.extend(items.iter_mut()),
            Value::Object(map) => stack.extend(map.values_mut()),
            Value::Number(n) => {
                if let Some(bits) = n.as_f64().map(f64::to_bits) {
                    if let Some((text, _)) = SENTINELS.iter().find(|(_, b)| *b == bits) {
                        *v = Value::String((*text).to_owned());
                    }
                }
            }
            _ => {}
        }
    }
}

fn exemplars(list: &mut [Exemplar], f: &mut impl FnMut(&mut f64)) {
    for e in list {
        if let Some(exemplar::Value::AsDouble(d)) = &mut e.value {
            f(d);
        }
    }
}

/// Calls `f` on every metric double that the serde derives read as a plain number.
fn for_each_double(request: &mut ExportMetricsServiceRequest, f: &mut impl FnMut(&mut f64)) {
    let metrics = request
        .resource_metrics
        .iter_mut()
        .flat_map(|rm| rm.scope_metrics.iter_mut())
        .flat_map(|sm| sm.metrics.iter_mut());
    for metric in metrics {
        match &mut metric.data {
            Some(Data::Gauge(g)) => number_points(&mut g.data_points, f),
            Some(Data::Sum(s)) => number_points(&mut s.data_points, f),
            Some(Data::Histogram(h)) => {
                for p in &mut h.data_points {
                    p.sum
                        .iter_mut()
                        .chain(&mut p.min)
                        .chain(&mut p.max)
                        .for_each(&mut *f);
                    p.explicit_bounds.iter_mut().for_each(&mut *f);
                    exemplars(&mut p.exemplars, f);
                }
            }
            Some(Data::ExponentialHistogram(e)) => {
                for p in &mut e.data_points {
                    p.sum
                        .iter_mut()
                        .chain(&mut p.min)
                        .chain(&mut p.max)
                        .for_each(&mut *f);
                    f(&mut p.zero_threshold);
                    exemplars(&mut p.exemplars, f);
                }
            }
            Some(Data::Summary(s)) => s.data_points.iter_mut().for_each(|p| f(&mut p.sum)),
            None => {}
        }
    }
}

fn number_points(
    points: &mut [opentelemetry_proto::tonic::metrics::v1::NumberDataPoint],
    f: &mut impl FnMut(&mut f64),
) {
    for p in points {
        if let Some(number_data_point::Value::AsDouble(d)) = &mut p.value {
            f(d);
        }
        exemplars(&mut p.exemplars, f);
    }
}
