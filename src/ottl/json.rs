//! JSON for `ParseJSON` (JSON → map/slice values) and for maps and slices turned to strings.

use opentelemetry_proto::tonic::common::v1::{
    any_value, AnyValue, ArrayValue, KeyValue, KeyValueList,
};
use serde_json::Value as Json;

use super::value::Value;

/// The attribute value of a JSON value (numbers stay ints when they are).
pub fn any_of_json(j: Json) -> AnyValue {
    use any_value::Value as V;
    let v = match j {
        Json::Null => None,
        Json::Bool(b) => Some(V::BoolValue(b)),
        Json::Number(n) => Some(match n.as_i64() {
            Some(i) => V::IntValue(i),
            None => V::DoubleValue(n.as_f64().unwrap_or(0.0)),
        }),
        Json::String(s) => Some(V::StringValue(s)),
        Json::Array(a) => Some(V::ArrayValue(ArrayValue {
            values: a.into_iter().map(any_of_json).collect(),
        })),
        Json::Object(o) => Some(V::KvlistValue(KeyValueList {
            values: o
                .into_iter()
                .map(|(key, v)| KeyValue {
                    key,
                    value: Some(any_of_json(v)),
                    ..Default::default()
                })
                .collect(),
        })),
    };
    AnyValue { value: v }
}

fn json_of_any(v: Option<&AnyValue>) -> Json {
    json_of(&Value::of_any(v))
}

fn json_of(v: &Value<'_>) -> Json {
    match v {
        Value::Nil => Json::Null,
        Value::Bool(b) => Json::Bool(*b),
        Value::Int(i) | Value::Time(i) | Value::Duration(i) => Json::from(*i),
        Value::Double(d) => serde_json::Number::from_f64(*d).map_or(Json::Null, Json::Number),
        Value::Str(s) => Json::String(s.to_string()),
        Value::Bytes(b) => Json::String(super::value::hex(b)),
        Value::Map(m) => Json::Object(
            m.iter()
                .map(|kv| (kv.key.clone(), json_of_any(kv.value.as_ref())))
                .collect(),
        ),
        Value::Slice(s) => Json::Array(s.iter().map(|v| json_of_any(Some(v))).collect()),
    }
}

/// A map or slice as JSON text (keys sorted, as pcommon's `AsString` writes maps).
pub fn to_json(v: &Value<'_>) -> String {
    json_of(v).to_string()
}
