//! Paths: which field of which context a path names (resolved once, at compile time), and
//! reading and writing that field on a [`Target`].
//!
//! A path's first name may be a context (`resource.attributes`, `span.name` in a spanevent
//! statement): it must be the statement's context or one that encloses it. Otherwise the
//! path names a field of the statement's own context. Setting a field to a value of the wrong
//! type leaves it unchanged, as otelcol's setters do.

use std::borrow::Cow;

use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::metrics::v1::number_data_point;
use opentelemetry_proto::tonic::trace::v1::Span;

use super::ast::{Key, PathExpr};
use super::context::{Context, Item, Target};
use super::points;
use super::types::Ty;
use super::value::{hex, Value};
use super::{CompileError, EvalError};

pub use super::setters::{id_of, map_mut, nanos_of, set, set_in, u32_of};

/// A field, across all contexts.
#[allow(missing_docs)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Field {
    Cache,
    ResourceAttributes,
    ResourceDroppedAttributesCount,
    ScopeName,
    ScopeVersion,
    ScopeAttributes,
    ScopeDroppedAttributesCount,
    TraceId(bool),
    SpanId(bool),
    ParentSpanId(bool),
    TraceState,
    SpanName,
    Kind,
    SpanStartNanos,
    SpanEndNanos,
    SpanStart,
    SpanEnd,
    SpanAttributes,
    SpanDroppedAttributes,
    SpanDroppedEvents,
    SpanDroppedLinks,
    StatusCode,
    StatusMessage,
    SpanFlags,
    EventName,
    EventNanos,
    EventTime,
    EventAttributes,
    EventDroppedAttributes,
    MetricName,
    MetricDescription,
    MetricUnit,
    MetricType,
    PointAttributes,
    PointStartNanos,
    PointNanos,
    PointStart,
    PointTime,
    PointValueInt,
    PointValueDouble,
    PointFlags,
    PointCount,
    PointSum,
    LogNanos,
    LogObservedNanos,
    LogTime,
    LogObservedTime,
    SeverityNumber,
    SeverityText,
    Body,
    BodyString,
    LogAttributes,
    LogDroppedAttributes,
    LogFlags,
    LogTraceId(bool),
    LogSpanId(bool),
    EventNameOfLog,
}

use Field as F;

/// (context, name after the context, field, type, settable).
const FIELDS: &[(Context, &str, Field, Ty, bool)] = &[
    (
        Context::Resource,
        "attributes",
        F::ResourceAttributes,
        Ty::Map,
        true,
    ),
    (
        Context::Resource,
        "dropped_attributes_count",
        F::ResourceDroppedAttributesCount,
        Ty::Int,
        true,
    ),
    (Context::Scope, "name", F::ScopeName, Ty::Str, true),
    (Context::Scope, "version", F::ScopeVersion, Ty::Str, true),
    (
        Context::Scope,
        "attributes",
        F::ScopeAttributes,
        Ty::Map,
        true,
    ),
    (
        Context::Scope,
        "dropped_attributes_count",
        F::ScopeDroppedAttributesCount,
        Ty::Int,
        true,
    ),
    (
        Context::Span,
        "trace_id",
        F::TraceId(false),
        Ty::Bytes,
        true,
    ),
    (
        Context::Span,
        "trace_id.string",
        F::TraceId(true),
        Ty::Str,
        true,
    ),
    (Context::Span, "span_id", F::SpanId(false), Ty::Bytes, true),
    (
        Context::Span,
        "span_id.string",
        F::SpanId(true),
        Ty::Str,
        true,
    ),
    (
        Context::Span,
        "parent_span_id",
        F::ParentSpanId(false),
        Ty::Bytes,
        true,
    ),
    (
        Context::Span,
        "parent_span_id.string",
        F::ParentSpanId(true),
        Ty::Str,
        true,
    ),
    (Context::Span, "trace_state", F::TraceState, Ty::Str, true),
    (Context::Span, "name", F::SpanName, Ty::Str, true),
    (Context::Span, "kind", F::Kind, Ty::Int, true),
    (
        Context::Span,
        "start_time_unix_nano",
        F::SpanStartNanos,
        Ty::Int,
        true,
    ),
    (
        Context::Span,
        "end_time_unix_nano",
        F::SpanEndNanos,
        Ty::Int,
        true,
    ),
    (Context::Span, "start_time", F::SpanStart, Ty::Time, true),
    (Context::Span, "end_time", F::SpanEnd, Ty::Time, true),
    (
        Context::Span,
        "attributes",
        F::SpanAttributes,
        Ty::Map,
        true,
    ),
    (
        Context::Span,
        "dropped_attributes_count",
        F::SpanDroppedAttributes,
        Ty::Int,
        true,
    ),
    (
        Context::Span,
        "dropped_events_count",
        F::SpanDroppedEvents,
        Ty::Int,
        true,
    ),
    (
        Context::Span,
        "dropped_links_count",
        F::SpanDroppedLinks,
        Ty::Int,
        true,
    ),
    (Context::Span, "status.code", F::StatusCode, Ty::Int, true),
    (
        Context::Span,
        "status.message",
        F::StatusMessage,
        Ty::Str,
        true,
    ),
    (Context::Span, "flags", F::SpanFlags, Ty::Int, true),
    (Context::SpanEvent, "name", F::EventName, Ty::Str, true),
    (
        Context::SpanEvent,
        "time_unix_nano",
        F::EventNanos,
        Ty::Int,
        true,
    ),
    (Context::SpanEvent, "time", F::EventTime, Ty::Time, true),
    (
        Context::SpanEvent,
        "attributes",
        F::EventAttributes,
        Ty::Map,
        true,
    ),
    (
        Context::SpanEvent,
        "dropped_attributes_count",
        F::EventDroppedAttributes,
        Ty::Int,
        true,
    ),
    (Context::Metric, "name", F::MetricName, Ty::Str, true),
    (
        Context::Metric,
        "description",
        F::MetricDescription,
        Ty::Str,
        true,
    ),
    (Context::Metric, "unit", F::MetricUnit, Ty::Str, true),
    (Context::Metric, "type", F::MetricType, Ty::Int, false),
    (
        Context::DataPoint,
        "attributes",
        F::PointAttributes,
        Ty::Map,
        true,
    ),
    (
        Context::DataPoint,
        "start_time_unix_nano",
        F::PointStartNanos,
        Ty::Int,
        true,
    ),
    (
        Context::DataPoint,
        "time_unix_nano",
        F::PointNanos,
        Ty::Int,
        true,
    ),
    (
        Context::DataPoint,
        "start_time",
        F::PointStart,
        Ty::Time,
        true,
    ),
    (Context::DataPoint, "time", F::PointTime, Ty::Time, true),
    (
        Context::DataPoint,
        "value_int",
        F::PointValueInt,
        Ty::Int,
        true,
    ),
    (
        Context::DataPoint,
        "value_double",
        F::PointValueDouble,
        Ty::Double,
        true,
    ),
    (Context::DataPoint, "flags", F::PointFlags, Ty::Int, true),
    (Context::DataPoint, "count", F::PointCount, Ty::Int, false),
    (Context::DataPoint, "sum", F::PointSum, Ty::Double, false),
    (Context::Log, "time_unix_nano", F::LogNanos, Ty::Int, true),
    (
        Context::Log,
        "observed_time_unix_nano",
        F::LogObservedNanos,
        Ty::Int,
        true,
    ),
    (Context::Log, "time", F::LogTime, Ty::Time, true),
    (
        Context::Log,
        "observed_time",
        F::LogObservedTime,
        Ty::Time,
        true,
    ),
    (
        Context::Log,
        "severity_number",
        F::SeverityNumber,
        Ty::Int,
        true,
    ),
    (
        Context::Log,
        "severity_text",
        F::SeverityText,
        Ty::Str,
        true,
    ),
    (Context::Log, "body", F::Body, Ty::Any, true),
    (Context::Log, "body.string", F::BodyString, Ty::Str, true),
    (Context::Log, "attributes", F::LogAttributes, Ty::Map, true),
    (
        Context::Log,
        "dropped_attributes_count",
        F::LogDroppedAttributes,
        Ty::Int,
        true,
    ),
    (Context::Log, "flags", F::LogFlags, Ty::Int, true),
    (
        Context::Log,
        "trace_id",
        F::LogTraceId(false),
        Ty::Bytes,
        true,
    ),
    (
        Context::Log,
        "trace_id.string",
        F::LogTraceId(true),
        Ty::Str,
        true,
    ),
    (
        Context::Log,
        "span_id",
        F::LogSpanId(false),
        Ty::Bytes,
        true,
    ),
    (
        Context::Log,
        "span_id.string",
        F::LogSpanId(true),
        Ty::Str,
        true,
    ),
    (Context::Log, "event_name", F::EventNameOfLog, Ty::Str, true),
];

/// A resolved path.
#[derive(Clone, Debug, PartialEq)]
pub struct Path {
    /// The field.
    pub field: Field,
    /// Indexes into it.
    pub keys: Vec<Key>,
    /// Its static type.
    pub ty: Ty,
    /// Whether `set` may write it.
    pub settable: bool,
}

/// The context a path's first name qualifies it with, if any (`resource.attributes`).
pub fn qualifier(p: &PathExpr) -> Option<Context> {
    if p.names.len() < 2 {
        return None;
    }
    Context::parse(&p.names[0])
}

/// Resolves `p` in a statement of context `ctx`.
pub fn resolve(ctx: Context, p: &PathExpr) -> Result<Path, CompileError> {
    let written = p.names.join(".");
    let (owner, rest) = match qualifier(p) {
        Some(c) if ctx.chain().contains(&c) => (c, &p.names[1..]),
        Some(c) if !(c == Context::Scope && p.names[0] == "scope" && ctx == Context::Scope) => {
            return Err(CompileError::at(
                p.at,
                format!(
                    "path {written:?}: the {} context is not available in a {} statement",
                    c.name(),
                    ctx.name()
                ),
            ))
        }
        _ => (ctx, &p.names[..]),
    };
    let name = rest.join(".");
    if name == "cache" {
        return Ok(Path {
            field: F::Cache,
            keys: p.keys.clone(),
            ty: keyed(Ty::Map, &p.keys),
            settable: true,
        });
    }
    let Some((_, _, field, ty, settable)) =
        FIELDS.iter().find(|(c, n, ..)| *c == owner && *n == name)
    else {
        return Err(CompileError::at(
            p.at,
            format!(
                "bad path {written:?}: the {} context has no field {name:?}",
                owner.name()
            ),
        ));
    };
    if !p.keys.is_empty() && !matches!(ty, Ty::Map | Ty::Any) {
        return Err(CompileError::at(
            p.at,
            format!(
                "bad path {written:?}: a {} field cannot be indexed",
                ty.name()
            ),
        ));
    }
    Ok(Path {
        field: *field,
        keys: p.keys.clone(),
        ty: keyed(*ty, &p.keys),
        settable: *settable,
    })
}

fn keyed(ty: Ty, keys: &[Key]) -> Ty {
    if keys.is_empty() {
        ty
    } else {
        Ty::Any
    }
}

fn id(bytes: &[u8], string: bool) -> Value<'_> {
    if string {
        Value::Str(Cow::Owned(hex(bytes)))
    } else {
        Value::Bytes(Cow::Borrowed(bytes))
    }
}

fn int<T: TryInto<i64>>(v: T) -> Value<'static> {
    v.try_into().map_or(Value::Nil, Value::Int)
}

fn time(nanos: u64) -> Value<'static> {
    i64::try_from(nanos).map_or(Value::Nil, Value::Time)
}

fn map(m: &[KeyValue]) -> Value<'_> {
    Value::Map(Cow::Borrowed(m))
}

/// The value of `path` on `t`.
pub fn get<'t>(path: &Path, t: &'t Target<'_>) -> Result<Value<'t>, EvalError> {
    let v = field(path.field, t);
    index(v, &path.keys)
}

fn field<'t>(f: Field, t: &'t Target<'_>) -> Value<'t> {
    let str = |s: &'t str| Value::Str(Cow::Borrowed(s));
    match f {
        F::Cache => map(t.cache),
        F::ResourceAttributes => map(&t.resource.attributes),
        F::ResourceDroppedAttributesCount => int(t.resource.dropped_attributes_count),
        F::ScopeName => str(&t.scope.name),
        F::ScopeVersion => str(&t.scope.version),
        F::ScopeAttributes => map(&t.scope.attributes),
        F::ScopeDroppedAttributesCount => int(t.scope.dropped_attributes_count),
        _ => match &t.item {
            Item::Span(s) => span_field(f, s),
            Item::SpanEvent(s, i) => match s.events.get(*i) {
                Some(e) => match f {
                    F::EventName => str(&e.name),
                    F::EventNanos => int(e.time_unix_nano),
                    F::EventTime => time(e.time_unix_nano),
                    F::EventAttributes => map(&e.attributes),
                    F::EventDroppedAttributes => int(e.dropped_attributes_count),
                    _ => span_field(f, s),
                },
                None => Value::Nil,
            },
            Item::Metric(m) => metric_field(f, m),
            Item::DataPoint(m, i) => point_field(f, m, *i),
            Item::Log(l) => super::log_fields::get(f, l),
            Item::None => Value::Nil,
        },
    }
}

fn span_field(f: Field, s: &Span) -> Value<'_> {
    let str = |x: &'_ str| Value::Str(Cow::Borrowed(x)).into_owned();
    match f {
        F::TraceId(string) => id(&s.trace_id, string),
        F::SpanId(string) => id(&s.span_id, string),
        F::ParentSpanId(string) => id(&s.parent_span_id, string),
        F::TraceState => Value::Str(Cow::Borrowed(&s.trace_state)),
        F::SpanName => Value::Str(Cow::Borrowed(&s.name)),
        F::Kind => Value::Int(i64::from(s.kind)),
        F::SpanStartNanos => int(s.start_time_unix_nano),
        F::SpanEndNanos => int(s.end_time_unix_nano),
        F::SpanStart => time(s.start_time_unix_nano),
        F::SpanEnd => time(s.end_time_unix_nano),
        F::SpanAttributes => map(&s.attributes),
        F::SpanDroppedAttributes => int(s.dropped_attributes_count),
        F::SpanDroppedEvents => int(s.dropped_events_count),
        F::SpanDroppedLinks => int(s.dropped_links_count),
        F::StatusCode => Value::Int(s.status.as_ref().map_or(0, |st| i64::from(st.code))),
        F::StatusMessage => match &s.status {
            Some(st) => Value::Str(Cow::Borrowed(&st.message)),
            None => str(""),
        },
        F::SpanFlags => int(s.flags),
        _ => Value::Nil,
    }
}

fn metric_field(f: Field, m: &opentelemetry_proto::tonic::metrics::v1::Metric) -> Value<'_> {
    match f {
        F::MetricName => Value::Str(Cow::Borrowed(&m.name)),
        F::MetricDescription => Value::Str(Cow::Borrowed(&m.description)),
        F::MetricUnit => Value::Str(Cow::Borrowed(&m.unit)),
        F::MetricType => Value::Int(points::metric_type(m)),
        _ => Value::Nil,
    }
}

fn point_field(
    f: Field,
    m: &opentelemetry_proto::tonic::metrics::v1::Metric,
    i: usize,
) -> Value<'_> {
    use number_data_point::Value as N;
    match f {
        F::PointAttributes => map(points::attributes(m, i)),
        F::PointStartNanos => int(points::times(m, i).0),
        F::PointNanos => int(points::times(m, i).1),
        F::PointStart => time(points::times(m, i).0),
        F::PointTime => time(points::times(m, i).1),
        F::PointValueInt => match points::number(m, i) {
            Some(N::AsInt(v)) => Value::Int(v),
            Some(N::AsDouble(_)) => Value::Int(0),
            None => Value::Nil,
        },
        F::PointValueDouble => match points::number(m, i) {
            Some(N::AsDouble(v)) => Value::Double(v),
            Some(N::AsInt(_)) => Value::Double(0.0),
            None => Value::Nil,
        },
        F::PointFlags => int(points::flags(m, i)),
        F::PointCount => points::count_sum(m, i).map_or(Value::Nil, |(c, _)| int(c)),
        F::PointSum => match points::count_sum(m, i) {
            Some((_, Some(s))) => Value::Double(s),
            _ => Value::Nil,
        },
        _ => metric_field(f, m),
    }
}

/// Indexes into a value: string keys into maps, integer keys into slices.
pub fn index<'t>(mut v: Value<'t>, keys: &[Key]) -> Result<Value<'t>, EvalError> {
    for key in keys {
        v = match (v, key) {
            (Value::Nil, _) => return Ok(Value::Nil),
            (Value::Map(Cow::Borrowed(m)), Key::Str(k)) => Value::of_any(
                m.iter()
                    .find(|kv| &kv.key == k)
                    .and_then(|kv| kv.value.as_ref()),
            ),
            (Value::Map(Cow::Owned(m)), Key::Str(k)) => Value::of_any(
                m.iter()
                    .find(|kv| &kv.key == k)
                    .and_then(|kv| kv.value.as_ref()),
            )
            .into_owned(),
            (Value::Slice(s), Key::Int(i)) => {
                let item = usize::try_from(*i)
                    .ok()
                    .filter(|i| *i < s.len())
                    .ok_or_else(|| {
                        EvalError::new(format!("index {i} out of bounds (length {})", s.len()))
                    })?;
                match s {
                    Cow::Borrowed(s) => Value::of_any(s.get(item)),
                    Cow::Owned(s) => Value::of_any(s.get(item)).into_owned(),
                }
            }
            (other, Key::Str(_)) => {
                return Err(EvalError::new(format!(
                    "a {} cannot be indexed by a string",
                    other.type_name()
                )))
            }
            (other, Key::Int(_)) => {
                return Err(EvalError::new(format!(
                    "a {} cannot be indexed by an integer",
                    other.type_name()
                )))
            }
        };
    }
    Ok(v)
}
