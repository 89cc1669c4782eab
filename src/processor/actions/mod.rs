//! The action engine shared by the `attributes` and `resource` processors: otelcol's
//! insert/update/upsert/delete/hash/extract/convert on one attribute list.
//!
//! Actions run in config order on a `Vec<KeyValue>`. OTLP attribute lists are small (tens of
//! keys), so lookups are linear scans, as in pdata's `Map`. Keys are unique in well-formed
//! data; when a sender repeats a key, the first occurrence is the one read and written (as
//! pdata's `Map.Get`), and `delete` removes every occurrence.

pub mod config;

use base64::Engine;
use opentelemetry_proto::tonic::common::v1::{any_value::Value, AnyValue, KeyValue};
use sha2::{Digest, Sha256};

use crate::config::{ActionConfig, ActionKind, ConfigValue, ConvertType, ValueSource};

/// A config value as an OTLP value.
pub fn any_value(v: &ConfigValue) -> Value {
    match v {
        ConfigValue::Str(s) => Value::StringValue(s.clone()),
        ConfigValue::Int(i) => Value::IntValue(*i),
        ConfigValue::Double(d) => Value::DoubleValue(*d),
        ConfigValue::Bool(b) => Value::BoolValue(*b),
    }
}

fn position(attrs: &[KeyValue], key: &str) -> Option<usize> {
    attrs.iter().position(|kv| kv.key == key)
}

/// The value of `key`, if present.
pub fn get<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a AnyValue> {
    position(attrs, key).and_then(|i| attrs[i].value.as_ref())
}

fn set(attrs: &mut Vec<KeyValue>, key: &str, value: AnyValue) {
    match position(attrs, key) {
        Some(i) => attrs[i].value = Some(value),
        None => attrs.push(KeyValue {
            key: key.to_owned(),
            value: Some(value),
            ..KeyValue::default()
        }),
    }
}

/// Applies `actions` in order to `attrs`.
pub fn apply(actions: &[ActionConfig], attrs: &mut Vec<KeyValue>) {
    for action in actions {
        apply_one(action, attrs);
    }
}

fn apply_one(a: &ActionConfig, attrs: &mut Vec<KeyValue>) {
    match a.action {
        ActionKind::Insert | ActionKind::Update | ActionKind::Upsert => {
            let value = match &a.source {
                Some(ValueSource::Value(v)) => AnyValue {
                    value: Some(any_value(v)),
                },
                Some(ValueSource::FromAttribute(from)) => match get(attrs, from) {
                    Some(v) => v.clone(),
                    None => return,
                },
                None => return,
            };
            let present = position(attrs, &a.key).is_some();
            let write = match a.action {
                ActionKind::Insert => !present,
                ActionKind::Update => present,
                _ => true,
            };
            if write {
                set(attrs, &a.key, value);
            }
        }
        ActionKind::Delete => {
            attrs.retain(|kv| {
                kv.key != a.key && !a.pattern.as_ref().is_some_and(|p| p.0.is_match(&kv.key))
            });
        }
        ActionKind::Hash => {
            // As otelcol: the key first, then every key the pattern matches, so a key that is
            // both named and matched is hashed twice.
            if let Some(i) = position(attrs, &a.key) {
                hash_in_place(&mut attrs[i]);
            }
            if let Some(p) = &a.pattern {
                attrs
                    .iter_mut()
                    .filter(|kv| p.0.is_match(&kv.key))
                    .for_each(hash_in_place);
            }
        }
        ActionKind::Extract => extract(a, attrs),
        ActionKind::Convert => {
            if let (Some(i), Some(to)) = (position(attrs, &a.key), a.converted_type) {
                if let Some(v) = attrs[i].value.as_mut() {
                    if let Some(new) = convert(v.value.as_ref(), to) {
                        v.value = Some(new);
                    }
                }
            }
        }
    }
}

fn hash_in_place(kv: &mut KeyValue) {
    let hashed = hash(kv.value.as_ref().and_then(|v| v.value.as_ref()));
    kv.value = Some(AnyValue {
        value: Some(Value::StringValue(hashed)),
    });
}

/// otelcol's `sha2Hasher`: SHA-256 over the value's bytes, lowercase hex. Strings hash their
/// UTF-8 bytes, bools one byte (1/0), ints and doubles their 8 little-endian bytes (doubles as
/// IEEE-754 bits). Other types (bytes, arrays, maps, empty) have no byte form there and
/// become the empty string.
pub fn hash(value: Option<&Value>) -> String {
    let bytes: Vec<u8> = match value {
        Some(Value::StringValue(s)) => s.as_bytes().to_vec(),
        Some(Value::BoolValue(b)) => vec![u8::from(*b)],
        Some(Value::IntValue(i)) => i.to_le_bytes().to_vec(),
        Some(Value::DoubleValue(d)) => d.to_bits().to_le_bytes().to_vec(),
        _ => Vec::new(),
    };
    if bytes.is_empty() {
        return String::new();
    }
    let digest = Sha256::digest(&bytes);
    let mut out = String::with_capacity(64);
    for b in digest.iter() {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

/// otelcol's `extractAttributes`: only string values; on a match every named group is
/// upserted as a string (a group that took no part in the match gives "").
fn extract(a: &ActionConfig, attrs: &mut Vec<KeyValue>) {
    let Some(pattern) = &a.pattern else { return };
    let text = match get(attrs, &a.key).and_then(|v| v.value.as_ref()) {
        Some(Value::StringValue(s)) => s.clone(),
        _ => return,
    };
    let Some(caps) = pattern.0.captures(&text) else {
        return;
    };
    for (i, name) in pattern.0.capture_names().enumerate().skip(1) {
        let Some(name) = name else { continue };
        let got = caps.get(i).map_or("", |m| m.as_str()).to_owned();
        set(
            attrs,
            name,
            AnyValue {
                value: Some(Value::StringValue(got)),
            },
        );
    }
}

/// otelcol's `convertValue`; `None` (value unchanged) when the conversion fails.
pub fn convert(value: Option<&Value>, to: ConvertType) -> Option<Value> {
    let Some(v) = value else {
        // An empty value becomes "" when converted to string (pdata's AsString).
        return (to == ConvertType::String).then(|| Value::StringValue(String::new()));
    };
    match to {
        ConvertType::String => match v {
            Value::StringValue(_) => None,
            other => Some(Value::StringValue(as_string(Some(other)))),
        },
        ConvertType::Int => match v {
            Value::StringValue(s) => s.parse::<i64>().ok().map(Value::IntValue),
            Value::IntValue(_) => None,
            // Go's int64(float64): truncation toward zero (NaN/out of range saturate here).
            #[allow(clippy::cast_possible_truncation)]
            Value::DoubleValue(d) => Some(Value::IntValue(*d as i64)),
            Value::BoolValue(b) => Some(Value::IntValue(i64::from(*b))),
            _ => None,
        },
        ConvertType::Double => match v {
            Value::StringValue(s) => go_parse_float(s).map(Value::DoubleValue),
            #[allow(clippy::cast_precision_loss)]
            Value::IntValue(i) => Some(Value::DoubleValue(*i as f64)),
            Value::DoubleValue(_) => None,
            Value::BoolValue(b) => Some(Value::DoubleValue(if *b { 1.0 } else { 0.0 })),
            _ => None,
        },
    }
}

/// pdata's `Value.AsString`: strings as is, numbers and bools as text, bytes as standard
/// base64, arrays and maps as JSON (map keys sorted, as Go's encoder does), empty as "".
pub fn as_string(v: Option<&Value>) -> String {
    match v {
        None => String::new(),
        Some(Value::StringValue(s)) => s.clone(),
        Some(Value::IntValue(i)) => i.to_string(),
        Some(Value::DoubleValue(d)) => float_string(*d),
        Some(Value::BoolValue(b)) => b.to_string(),
        Some(Value::BytesValue(b)) => base64::engine::general_purpose::STANDARD.encode(b),
        Some(other) => json(Some(other)).to_string(),
    }
}

/// A value as JSON, for [`as_string`] of arrays and maps.
fn json(v: Option<&Value>) -> serde_json::Value {
    use serde_json::Value as J;
    match v {
        None => J::Null,
        Some(Value::StringValue(s)) => J::String(s.clone()),
        Some(Value::IntValue(i)) => J::from(*i),
        Some(Value::DoubleValue(d)) => J::from(*d),
        Some(Value::BoolValue(b)) => J::Bool(*b),
        Some(Value::BytesValue(b)) => {
            J::String(base64::engine::general_purpose::STANDARD.encode(b))
        }
        Some(Value::ArrayValue(a)) => {
            J::Array(a.values.iter().map(|x| json(x.value.as_ref())).collect())
        }
        Some(Value::KvlistValue(l)) => J::Object(
            l.values
                .iter()
                .map(|kv| {
                    (
                        kv.key.clone(),
                        json(kv.value.as_ref().and_then(|x| x.value.as_ref())),
                    )
                })
                .collect(),
        ),
        // Dictionary references (profiles only) have no value of their own here.
        Some(_) => J::Null,
    }
}

/// Go's `strconv.ParseFloat(s, 64)` for the forms users write: Rust's parser also accepts
/// "inf"/"nan" spellings Go accepts; it rejects Go's hex floats and underscores (rare).
fn go_parse_float(s: &str) -> Option<f64> {
    s.parse::<f64>().ok()
}

/// pdata's `AsString` for doubles (ES6 number-to-string): shortest round-trip digits, plain
/// notation unless |v| < 1e-6 or ≥ 1e21, exponents without padding and with a sign.
pub fn float_string(d: f64) -> String {
    if d.is_nan() {
        return "json: unsupported value: NaN".to_owned();
    }
    if d.is_infinite() {
        let sign = if d > 0.0 { "+" } else { "-" };
        return format!("json: unsupported value: {sign}Inf");
    }
    let abs = d.abs();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        let s = format!("{d:e}");
        match s.split_once('e') {
            Some((m, e)) if !e.starts_with('-') => format!("{m}e+{e}"),
            _ => s,
        }
    } else {
        format!("{d}")
    }
}

#[cfg(test)]
pub(crate) mod tests;
