//! Converters: functions that return a value and change nothing.

use std::borrow::Cow;
use std::time::{SystemTime, UNIX_EPOCH};

use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue};
use sha2::{Digest, Sha256};

use super::compile::{Arg, Call};
use super::context::{Item, Target};
use super::eval::eval;
use super::functions::Func;
use super::value::{hex, Value};
use super::EvalError;

fn get<'t>(c: &'t Call, i: usize, t: &'t Target<'_>) -> Result<Value<'t>, EvalError> {
    match c.args.get(i) {
        Some(Arg::Get(g)) => eval(g, t),
        _ => Ok(Value::Nil),
    }
}

fn lit_str(c: &Call, i: usize) -> &str {
    match c.args.get(i) {
        Some(Arg::Str(s)) => s,
        _ => "",
    }
}

fn string(v: String) -> Value<'static> {
    Value::Str(Cow::Owned(v))
}

/// The result of converter call `c` on `t`.
pub fn call<'t>(c: &'t Call, t: &'t Target<'_>) -> Result<Value<'t>, EvalError> {
    let arg = |i| get(c, i, t);
    Ok(match c.func {
        Func::IsMatch => {
            let Some(Arg::Regex(re)) = c.args.get(1) else {
                return Ok(Value::Bool(false));
            };
            let v = arg(0)?;
            Value::Bool(v.to_text().is_some_and(|s| re.is_match(&s)))
        }
        Func::Concat => concat(c, t)?,
        Func::Split => match arg(0)?.as_str()? {
            None => Value::Nil,
            Some(s) => Value::Slice(Cow::Owned(
                s.split(lit_str(c, 1))
                    .map(|p| AnyValue {
                        value: Some(any_value::Value::StringValue(p.to_owned())),
                    })
                    .collect(),
            )),
        },
        Func::ConvertCase => match arg(0)?.as_str()? {
            None => Value::Nil,
            Some(s) => string(super::case::convert(s, lit_str(c, 1))),
        },
        Func::Int => to_int(arg(0)?),
        Func::Double => to_double(arg(0)?),
        Func::String => arg(0)?
            .to_text()
            .map_or(Value::Nil, |s| string(s.into_owned())),
        Func::IsString => Value::Bool(matches!(arg(0)?, Value::Str(_))),
        Func::IsInt => Value::Bool(matches!(arg(0)?, Value::Int(_))),
        Func::Len => len(arg(0)?)?,
        Func::Sha256 => match arg(0)?.as_str()? {
            None => Value::Nil,
            Some(s) => string(hex(&Sha256::digest(s.as_bytes()))),
        },
        Func::ParseJson => match arg(0)?.as_str()? {
            None => Value::Nil,
            Some(s) => {
                let json: serde_json::Value = serde_json::from_str(s)
                    .map_err(|e| EvalError::new(format!("ParseJSON: {e}")))?;
                match json {
                    serde_json::Value::Object(_) | serde_json::Value::Array(_) => {
                        Value::of_any(Some(&super::json::any_of_json(json))).into_owned()
                    }
                    _ => {
                        return Err(EvalError::new(
                            "ParseJSON: the target is not a JSON object or array",
                        ))
                    }
                }
            }
        },
        Func::Substring => substring(arg(0)?, arg(1)?, arg(2)?)?,
        Func::Duration => match arg(0)?.as_str()? {
            None => Value::Nil,
            Some(s) => Value::Duration(super::duration::parse(s)?),
        },
        Func::UnixNano => match arg(0)? {
            Value::Time(n) => Value::Int(n),
            Value::Nil => Value::Nil,
            other => {
                return Err(EvalError::new(format!(
                    "UnixNano: expected a time, got {}",
                    other.type_name()
                )))
            }
        },
        Func::Now => Value::Time(
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX)),
        ),
        Func::TraceId => id(arg(0)?, 16, "TraceID")?,
        Func::SpanId => id(arg(0)?, 8, "SpanID")?,
        Func::IsRootSpan => match &t.item {
            Item::Span(s) => Value::Bool(s.parent_span_id.is_empty()),
            _ => Value::Bool(false),
        },
        Func::HasAttrKeyOnDatapoint | Func::HasAttrOnDatapoint => datapoint_attr(c, t),
        _ => return Err(EvalError::new("an editor cannot be used as a value")),
    })
}

fn concat<'t>(c: &'t Call, t: &'t Target<'_>) -> Result<Value<'t>, EvalError> {
    let Some(Arg::Gets(items)) = c.args.first() else {
        return Ok(Value::Nil);
    };
    let delimiter = lit_str(c, 1);
    let mut out = String::new();
    for (i, g) in items.iter().enumerate() {
        if i > 0 {
            out.push_str(delimiter);
        }
        match eval(g, t)?.to_text() {
            Some(s) => out.push_str(&s),
            None => out.push_str("<nil>"),
        }
    }
    Ok(string(out))
}

fn to_int(v: Value<'_>) -> Value<'static> {
    match v {
        Value::Int(i) => Value::Int(i),
        Value::Double(d) => Value::Int(d as i64),
        Value::Bool(b) => Value::Int(i64::from(b)),
        Value::Str(s) => s.trim().parse().map_or(Value::Nil, Value::Int),
        _ => Value::Nil,
    }
}

fn to_double(v: Value<'_>) -> Value<'static> {
    match v {
        Value::Int(i) => Value::Double(i as f64),
        Value::Double(d) => Value::Double(d),
        Value::Bool(b) => Value::Double(if b { 1.0 } else { 0.0 }),
        Value::Str(s) => s.trim().parse().map_or(Value::Nil, Value::Double),
        _ => Value::Nil,
    }
}

fn len(v: Value<'_>) -> Result<Value<'static>, EvalError> {
    let n = match &v {
        Value::Str(s) => s.len(),
        Value::Map(m) => m.len(),
        Value::Slice(s) => s.len(),
        Value::Bytes(b) => b.len(),
        other => {
            return Err(EvalError::new(format!(
                "Len: a {} has no length",
                other.type_name()
            )))
        }
    };
    Ok(Value::Int(i64::try_from(n).unwrap_or(i64::MAX)))
}

fn substring(
    s: Value<'_>,
    start: Value<'_>,
    length: Value<'_>,
) -> Result<Value<'static>, EvalError> {
    let Some(s) = s.as_str()? else {
        return Ok(Value::Nil);
    };
    let (Value::Int(start), Value::Int(length)) = (start, length) else {
        return Err(EvalError::new("Substring: start and length must be ints"));
    };
    let bad = || {
        EvalError::new(format!(
            "Substring: invalid range start {start}, length {length} of a {}-byte string",
            s.len()
        ))
    };
    let from = usize::try_from(start).map_err(|_| bad())?;
    let count = usize::try_from(length)
        .ok()
        .filter(|l| *l > 0)
        .ok_or_else(bad)?;
    let to = from
        .checked_add(count)
        .filter(|e| *e <= s.len())
        .ok_or_else(bad)?;
    s.get(from..to)
        .map(|x| string(x.to_owned()))
        .ok_or_else(bad)
}

fn id(v: Value<'_>, len: usize, name: &str) -> Result<Value<'static>, EvalError> {
    match v {
        Value::Bytes(b) if b.len() == len => Ok(Value::Bytes(Cow::Owned(b.into_owned()))),
        other => Err(EvalError::new(format!(
            "{name}: expected {len} bytes, got {}",
            match other {
                Value::Bytes(b) => format!("{} bytes", b.len()),
                o => o.type_name().to_owned(),
            }
        ))),
    }
}

/// Whether any data point of the metric has the attribute (with the value, if given).
fn datapoint_attr(c: &Call, t: &Target<'_>) -> Value<'static> {
    let Item::Metric(m) = &t.item else {
        return Value::Bool(false);
    };
    let key = lit_str(c, 0);
    let want = match c.func {
        Func::HasAttrOnDatapoint => Some(lit_str(c, 1)),
        _ => None,
    };
    let hit = (0..super::points::count(m)).any(|i| {
        super::points::attributes(m, i).iter().any(|kv| {
            kv.key == key
                && want.is_none_or(|w| {
                    matches!(kv.value.as_ref().and_then(|v| v.value.as_ref()), Some(any_value::Value::StringValue(s)) if s == w)
                })
        })
    });
    Value::Bool(hit)
}
