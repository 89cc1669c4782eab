//! Runtime values: borrowed from the item where possible (a path read allocates nothing),
//! owned when computed, and converted to and from OTLP `AnyValue`.

use std::borrow::Cow;
use std::cmp::Ordering;

use opentelemetry_proto::tonic::common::v1::{
    any_value, AnyValue, ArrayValue, KeyValue, KeyValueList,
};

use super::lexer::CmpOp;
use super::EvalError;

/// One OTTL value.
#[derive(Clone, Debug, PartialEq)]
pub enum Value<'a> {
    /// Absent.
    Nil,
    /// A boolean.
    Bool(bool),
    /// An integer (also enums).
    Int(i64),
    /// A float.
    Double(f64),
    /// A string.
    Str(Cow<'a, str>),
    /// Bytes (also trace and span ids).
    Bytes(Cow<'a, [u8]>),
    /// A map (attributes, a kvlist value).
    Map(Cow<'a, [KeyValue]>),
    /// A slice (an array value, a computed list).
    Slice(Cow<'a, [AnyValue]>),
    /// A timestamp, nanoseconds since the Unix epoch.
    Time(i64),
    /// A duration in nanoseconds.
    Duration(i64),
}

impl<'a> Value<'a> {
    /// A view of an attribute value.
    pub fn of_any(v: Option<&'a AnyValue>) -> Value<'a> {
        match v.and_then(|v| v.value.as_ref()) {
            None => Value::Nil,
            Some(any_value::Value::StringValue(s)) => Value::Str(Cow::Borrowed(s)),
            Some(any_value::Value::BoolValue(b)) => Value::Bool(*b),
            Some(any_value::Value::IntValue(i)) => Value::Int(*i),
            Some(any_value::Value::DoubleValue(d)) => Value::Double(*d),
            Some(any_value::Value::BytesValue(b)) => Value::Bytes(Cow::Borrowed(b)),
            Some(any_value::Value::KvlistValue(m)) => Value::Map(Cow::Borrowed(&m.values)),
            Some(any_value::Value::ArrayValue(a)) => Value::Slice(Cow::Borrowed(&a.values)),
            // Dictionary-encoded strings (profiles only) have no text here.
            Some(any_value::Value::StringValueStrindex(_)) => Value::Nil,
        }
    }

    /// The value with nothing borrowed.
    pub fn into_owned(self) -> Value<'static> {
        match self {
            Value::Nil => Value::Nil,
            Value::Bool(b) => Value::Bool(b),
            Value::Int(i) => Value::Int(i),
            Value::Double(d) => Value::Double(d),
            Value::Str(s) => Value::Str(Cow::Owned(s.into_owned())),
            Value::Bytes(b) => Value::Bytes(Cow::Owned(b.into_owned())),
            Value::Map(m) => Value::Map(Cow::Owned(m.into_owned())),
            Value::Slice(s) => Value::Slice(Cow::Owned(s.into_owned())),
            Value::Time(t) => Value::Time(t),
            Value::Duration(d) => Value::Duration(d),
        }
    }

    /// The attribute value to store (`None` for nil); times and durations cannot be stored.
    pub fn into_any(self) -> Result<Option<AnyValue>, EvalError> {
        use any_value::Value as V;
        let v = match self {
            Value::Nil => return Ok(None),
            Value::Bool(b) => V::BoolValue(b),
            Value::Int(i) => V::IntValue(i),
            Value::Double(d) => V::DoubleValue(d),
            Value::Str(s) => V::StringValue(s.into_owned()),
            Value::Bytes(b) => V::BytesValue(b.into_owned()),
            Value::Map(m) => V::KvlistValue(KeyValueList {
                values: m.into_owned(),
            }),
            Value::Slice(s) => V::ArrayValue(ArrayValue {
                values: s.into_owned(),
            }),
            Value::Time(_) | Value::Duration(_) => {
                return Err(EvalError::new(format!(
                    "a {} cannot be stored in an attribute",
                    self.type_name()
                )))
            }
        };
        Ok(Some(AnyValue { value: Some(v) }))
    }

    /// The type's name in error messages.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Nil => "nil",
            Value::Bool(_) => "bool",
            Value::Int(_) => "int",
            Value::Double(_) => "double",
            Value::Str(_) => "string",
            Value::Bytes(_) => "bytes",
            Value::Map(_) => "map",
            Value::Slice(_) => "slice",
            Value::Time(_) => "time",
            Value::Duration(_) => "duration",
        }
    }

    /// A string value, or an error naming what it was (a string getter's check).
    pub fn as_str(&self) -> Result<Option<&str>, EvalError> {
        match self {
            Value::Str(s) => Ok(Some(s)),
            Value::Nil => Ok(None),
            other => Err(EvalError::new(format!(
                "expected a string but got {}",
                other.type_name()
            ))),
        }
    }

    /// The value as text where otelcol's string-like getters convert it (`None` for nil).
    pub fn to_text(&self) -> Option<Cow<'_, str>> {
        match self {
            Value::Nil => None,
            Value::Str(s) => Some(Cow::Borrowed(s)),
            Value::Bool(b) => Some(Cow::Owned(b.to_string())),
            Value::Int(i) => Some(Cow::Owned(i.to_string())),
            Value::Double(d) => Some(Cow::Owned(format_double(*d))),
            Value::Bytes(b) => Some(Cow::Owned(hex(b))),
            Value::Map(_) | Value::Slice(_) => Some(Cow::Owned(super::json::to_json(self))),
            Value::Time(t) => Some(Cow::Owned(t.to_string())),
            Value::Duration(d) => Some(Cow::Owned(format!("{d}ns"))),
        }
    }
}

/// Lower-case hex, as pcommon prints ids and bytes.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}

/// A double as Go's `strconv.FormatFloat(d, 'f', -1, 64)` writes it (no exponent).
pub fn format_double(d: f64) -> String {
    if d.is_finite() && d == d.trunc() && d.abs() < 1e21 {
        format!("{d:.0}")
    } else {
        d.to_string()
    }
}

fn ordering(a: &Value<'_>, b: &Value<'_>) -> Option<Ordering> {
    match (a, b) {
        (Value::Int(x), Value::Int(y)) => Some(x.cmp(y)),
        (Value::Double(x), Value::Double(y)) => x.partial_cmp(y),
        (Value::Int(x), Value::Double(y)) => (*x as f64).partial_cmp(y),
        (Value::Double(x), Value::Int(y)) => x.partial_cmp(&(*y as f64)),
        (Value::Str(x), Value::Str(y)) => Some(x.cmp(y)),
        (Value::Bool(x), Value::Bool(y)) => Some(x.cmp(y)),
        (Value::Time(x), Value::Time(y)) | (Value::Duration(x), Value::Duration(y)) => {
            Some(x.cmp(y))
        }
        _ => None,
    }
}

/// OTTL comparison: numbers compare across int and double, nil equals only nil, values of
/// different types are never equal and never ordered (so `<` between them is false).
pub fn compare(op: CmpOp, a: &Value<'_>, b: &Value<'_>) -> bool {
    let equal = match (a, b) {
        (Value::Nil, Value::Nil) => true,
        (Value::Bytes(x), Value::Bytes(y)) => x == y,
        (Value::Map(x), Value::Map(y)) => x == y,
        (Value::Slice(x), Value::Slice(y)) => x == y,
        _ => ordering(a, b) == Some(Ordering::Equal),
    };
    match op {
        CmpOp::Eq => equal,
        CmpOp::Ne => !equal,
        CmpOp::Lt => ordering(a, b) == Some(Ordering::Less),
        CmpOp::Le => matches!(ordering(a, b), Some(Ordering::Less | Ordering::Equal)),
        CmpOp::Gt => ordering(a, b) == Some(Ordering::Greater),
        CmpOp::Ge => matches!(ordering(a, b), Some(Ordering::Greater | Ordering::Equal)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn comparisons_follow_ottl() {
        let s = |x: &'static str| Value::Str(Cow::Borrowed(x));
        assert!(compare(CmpOp::Eq, &Value::Int(1), &Value::Double(1.0)));
        assert!(compare(CmpOp::Lt, &Value::Int(1), &Value::Double(1.5)));
        assert!(compare(CmpOp::Ne, &s("1"), &Value::Int(1)));
        assert!(!compare(CmpOp::Lt, &s("1"), &Value::Int(2)));
        assert!(compare(CmpOp::Eq, &Value::Nil, &Value::Nil));
        assert!(compare(CmpOp::Ne, &Value::Nil, &s("")));
        assert!(compare(CmpOp::Gt, &s("b"), &s("a")));
    }

    #[test]
    fn doubles_print_without_exponent() {
        assert_eq!(format_double(3.0), "3");
        assert_eq!(format_double(1.25), "1.25");
    }
}
