//! Log record fields of the `log` context.

use std::borrow::Cow;

use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue};
use opentelemetry_proto::tonic::logs::v1::LogRecord;

use super::paths::{id_of, nanos_of, u32_of, Field as F};
use super::value::{hex, Value};
use super::EvalError;

/// Field `f` of `l`.
pub fn get(f: F, l: &LogRecord) -> Value<'_> {
    let time = |n: u64| i64::try_from(n).map_or(Value::Nil, Value::Time);
    let int = |n: u64| i64::try_from(n).map_or(Value::Nil, Value::Int);
    let id = |b: &[u8], string: bool| {
        if string {
            Value::Str(Cow::Owned(hex(b)))
        } else {
            Value::Bytes(Cow::Owned(b.to_vec()))
        }
    };
    match f {
        F::LogNanos => int(l.time_unix_nano),
        F::LogObservedNanos => int(l.observed_time_unix_nano),
        F::LogTime => time(l.time_unix_nano),
        F::LogObservedTime => time(l.observed_time_unix_nano),
        F::SeverityNumber => Value::Int(i64::from(l.severity_number)),
        F::SeverityText => Value::Str(Cow::Borrowed(&l.severity_text)),
        F::Body => Value::of_any(l.body.as_ref()),
        F::BodyString => Value::of_any(l.body.as_ref())
            .to_text()
            .map_or(Value::Str(Cow::Borrowed("")), |t| {
                Value::Str(Cow::Owned(t.into_owned()))
            }),
        F::LogAttributes => Value::Map(Cow::Borrowed(&l.attributes)),
        F::LogDroppedAttributes => Value::Int(i64::from(l.dropped_attributes_count)),
        F::LogFlags => Value::Int(i64::from(l.flags)),
        F::LogTraceId(string) => id(&l.trace_id, string),
        F::LogSpanId(string) => id(&l.span_id, string),
        F::EventNameOfLog => Value::Str(Cow::Borrowed(&l.event_name)),
        _ => Value::Nil,
    }
}

/// Sets field `f` of `l` (values of the wrong type leave it unchanged).
pub fn set(f: F, l: &mut LogRecord, v: Value<'static>) -> Result<(), EvalError> {
    match f {
        F::LogNanos | F::LogTime => {
            if let Some(n) = nanos_of(&v, f == F::LogTime) {
                l.time_unix_nano = n;
            }
        }
        F::LogObservedNanos | F::LogObservedTime => {
            if let Some(n) = nanos_of(&v, f == F::LogObservedTime) {
                l.observed_time_unix_nano = n;
            }
        }
        F::SeverityNumber => {
            if let Value::Int(n) = v {
                l.severity_number = i32::try_from(n).unwrap_or(0);
            }
        }
        F::SeverityText => {
            if let Value::Str(s) = v {
                l.severity_text = s.into_owned();
            }
        }
        F::Body => l.body = v.into_any()?,
        F::BodyString => {
            if let Value::Str(s) = v {
                l.body = Some(AnyValue {
                    value: Some(any_value::Value::StringValue(s.into_owned())),
                });
            }
        }
        F::LogDroppedAttributes => {
            if let Some(n) = u32_of(&v) {
                l.dropped_attributes_count = n;
            }
        }
        F::LogFlags => {
            if let Some(n) = u32_of(&v) {
                l.flags = n;
            }
        }
        F::LogTraceId(string) => {
            if let Some(b) = id_of(&v, string, 16) {
                l.trace_id = b;
            }
        }
        F::LogSpanId(string) => {
            if let Some(b) = id_of(&v, string, 8) {
                l.span_id = b;
            }
        }
        F::EventNameOfLog => {
            if let Value::Str(s) = v {
                l.event_name = s.into_owned();
            }
        }
        _ => {}
    }
    Ok(())
}
