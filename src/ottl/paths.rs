//! Paths: which field of which context a path names (resolved once, at compile time), and
//! reading and writing that field on a [`Target`].
//!
//! A path's first name may be a context (`resource.attributes`, `span.name` in a spanevent
//! statement): it must be the statement's context or one that encloses it. Otherwise the
//! path names a field of the statement's own context. Setting a field to a value of the wrong
//! type leaves it unchanged, as otelcol's setters do.

use std::borrow::Cow;

use opentelemetry_proto::tonic::common::v1::{
    any_value, AnyValue, ArrayValue, KeyValue, KeyValueList,
};
use opentelemetry_proto::tonic::metrics::v1::number_data_point;
use opentelemetry_proto::tonic::trace::v1::{Span, Status};

use super::ast::{Key, PathExpr};
use super::context::{Context, Item, Target};
use super::points;
use super::types::Ty;
use super::value::{hex, Value};
use super::{CompileError, EvalError};

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

fn span_mut<'t>(t: &'t mut Target<'_>) -> Option<&'t mut Span> {
    match &mut t.item {
        Item::Span(s) | Item::SpanEvent(s, _) => Some(s),
        _ => None,
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

/// The map `path` names (attributes, `cache`, or a map value inside them), for editors that
/// change maps in place; `None` when a nested key is absent or not a map.
pub fn map_mut<'t>(
    path: &Path,
    t: &'t mut Target<'_>,
) -> Result<Option<&'t mut Vec<KeyValue>>, EvalError> {
    let root: Option<&mut Vec<KeyValue>> = match path.field {
        F::Cache => Some(t.cache),
        F::ResourceAttributes => Some(&mut t.resource.attributes),
        F::ScopeAttributes => Some(&mut t.scope.attributes),
        F::SpanAttributes => span_mut(t).map(|s| &mut s.attributes),
        F::EventAttributes => match &mut t.item {
            Item::SpanEvent(s, i) => s.events.get_mut(*i).map(|e| &mut e.attributes),
            _ => None,
        },
        F::PointAttributes => match &mut t.item {
            Item::DataPoint(m, i) => points::attributes_mut(m, *i),
            _ => None,
        },
        F::LogAttributes => match &mut t.item {
            Item::Log(l) => Some(&mut l.attributes),
            _ => None,
        },
        F::Body => match &mut t.item {
            Item::Log(l) => match l.body.as_mut().and_then(|b| b.value.as_mut()) {
                Some(any_value::Value::KvlistValue(m)) => Some(&mut m.values),
                _ => None,
            },
            _ => None,
        },
        _ => return Err(EvalError::new("expected a map")),
    };
    let mut map = root;
    for key in &path.keys {
        let (Some(m), Key::Str(k)) = (map, key) else {
            return Ok(None);
        };
        map = match m
            .iter_mut()
            .find(|kv| &kv.key == k)
            .and_then(|kv| kv.value.as_mut())
            .and_then(|v| v.value.as_mut())
        {
            Some(any_value::Value::KvlistValue(inner)) => Some(&mut inner.values),
            _ => None,
        };
    }
    Ok(map)
}

/// Stores `v` in a map under `keys`, creating maps on the way.
pub fn set_in(map: &mut Vec<KeyValue>, keys: &[Key], v: AnyValue) -> Result<(), EvalError> {
    let Some((Key::Str(k), rest)) = keys.split_first() else {
        return Err(EvalError::new("a map must be indexed by a string"));
    };
    let pos = match map.iter().position(|kv| &kv.key == k) {
        Some(p) => p,
        None => {
            map.push(KeyValue {
                key: k.clone(),
                value: None,
                ..Default::default()
            });
            map.len() - 1
        }
    };
    let slot = &mut map[pos].value;
    if rest.is_empty() {
        *slot = Some(v);
        return Ok(());
    }
    set_in_any(slot.get_or_insert_with(AnyValue::default), rest, v)
}

fn set_in_any(slot: &mut AnyValue, keys: &[Key], v: AnyValue) -> Result<(), EvalError> {
    match (&mut slot.value, keys.first()) {
        (Some(any_value::Value::KvlistValue(m)), Some(Key::Str(_))) => {
            set_in(&mut m.values, keys, v)
        }
        (Some(any_value::Value::ArrayValue(a)), Some(Key::Int(i))) => {
            let len = a.values.len();
            let item = usize::try_from(*i)
                .ok()
                .and_then(|i| a.values.get_mut(i))
                .ok_or_else(|| EvalError::new(format!("index {i} out of bounds (length {len})")))?;
            if keys.len() == 1 {
                *item = v;
                Ok(())
            } else {
                set_in_any(item, &keys[1..], v)
            }
        }
        (None, Some(Key::Str(_))) => {
            slot.value = Some(any_value::Value::KvlistValue(KeyValueList::default()));
            set_in_any(slot, keys, v)
        }
        _ => Err(EvalError::new(
            "the value at this path cannot be indexed that way",
        )),
    }
}

/// An empty array value (for tests and `Split`).
pub fn array(values: Vec<AnyValue>) -> AnyValue {
    AnyValue {
        value: Some(any_value::Value::ArrayValue(ArrayValue { values })),
    }
}

/// Writes `v` to `path` on `t` (a no-op for nil and for values of the wrong type).
pub fn set(path: &Path, t: &mut Target<'_>, v: Value<'static>) -> Result<(), EvalError> {
    if !path.keys.is_empty() || matches!(path.ty, Ty::Map) {
        return set_keyed(path, t, v);
    }
    match path.field {
        F::ResourceDroppedAttributesCount => {
            if let Some(n) = u32_of(&v) {
                t.resource.dropped_attributes_count = n
            }
        }
        F::ScopeName => {
            if let Value::Str(s) = v {
                t.scope.name = s.into_owned()
            }
        }
        F::ScopeVersion => {
            if let Value::Str(s) = v {
                t.scope.version = s.into_owned()
            }
        }
        F::ScopeDroppedAttributesCount => {
            if let Some(n) = u32_of(&v) {
                t.scope.dropped_attributes_count = n
            }
        }
        _ => match &mut t.item {
            Item::Span(s) => set_span(path.field, s, v),
            Item::SpanEvent(s, i) => set_event(path.field, s, *i, v),
            Item::Metric(m) => set_metric(path.field, m, v),
            Item::DataPoint(m, i) => set_point(path.field, m, *i, v),
            Item::Log(l) => super::log_fields::set(path.field, l, v)?,
            Item::None => {}
        },
    }
    Ok(())
}

fn set_keyed(path: &Path, t: &mut Target<'_>, v: Value<'static>) -> Result<(), EvalError> {
    if path.keys.is_empty() {
        // Replacing a whole map: only a map value does.
        let Value::Map(new) = v else { return Ok(()) };
        let no_keys = Path {
            keys: Vec::new(),
            ..path.clone()
        };
        if let Some(m) = map_mut(&no_keys, t)? {
            *m = new.into_owned();
        } else if let (F::Body, Item::Log(l)) = (path.field, &mut t.item) {
            l.body = Value::Map(new).into_any()?;
        }
        return Ok(());
    }
    let Some(any) = v.into_any()? else {
        return Ok(());
    };
    if let (F::Body, Item::Log(l)) = (path.field, &mut t.item) {
        let body = l.body.get_or_insert_with(AnyValue::default);
        return set_in_any(body, &path.keys, any);
    }
    let root = Path {
        keys: Vec::new(),
        ..path.clone()
    };
    match map_mut(&root, t)? {
        Some(m) => set_in(m, &path.keys, any),
        None => Ok(()),
    }
}

/// A non-negative int as u32 (counts), `None` otherwise.
pub fn u32_of(v: &Value<'_>) -> Option<u32> {
    match v {
        Value::Int(i) => u32::try_from(*i).ok(),
        _ => None,
    }
}

/// An int or time as Unix nanoseconds.
pub fn nanos_of(v: &Value<'_>, time: bool) -> Option<u64> {
    match (v, time) {
        (Value::Int(i), false) | (Value::Time(i), true) => u64::try_from(*i).ok(),
        _ => None,
    }
}

/// Bytes of an id: raw bytes, or hex text for the `.string` forms; `None` when malformed.
pub fn id_of(v: &Value<'_>, string: bool, len: usize) -> Option<Vec<u8>> {
    let bytes = match (v, string) {
        (Value::Bytes(b), false) => b.to_vec(),
        (Value::Str(s), true) => super::lexer::hex_bytes(s)?,
        _ => return None,
    };
    (bytes.len() == len || bytes.is_empty()).then_some(bytes)
}

fn set_span(f: Field, s: &mut Span, v: Value<'static>) {
    match f {
        F::TraceId(string) => {
            if let Some(b) = id_of(&v, string, 16) {
                s.trace_id = b
            }
        }
        F::SpanId(string) => {
            if let Some(b) = id_of(&v, string, 8) {
                s.span_id = b
            }
        }
        F::ParentSpanId(string) => {
            if let Some(b) = id_of(&v, string, 8) {
                s.parent_span_id = b
            }
        }
        F::TraceState => {
            if let Value::Str(x) = v {
                s.trace_state = x.into_owned()
            }
        }
        F::SpanName => {
            if let Value::Str(x) = v {
                s.name = x.into_owned()
            }
        }
        F::Kind => {
            if let Value::Int(k) = v {
                s.kind = i32::try_from(k).unwrap_or(0)
            }
        }
        F::SpanStartNanos | F::SpanStart => {
            if let Some(n) = nanos_of(&v, f == F::SpanStart) {
                s.start_time_unix_nano = n
            }
        }
        F::SpanEndNanos | F::SpanEnd => {
            if let Some(n) = nanos_of(&v, f == F::SpanEnd) {
                s.end_time_unix_nano = n
            }
        }
        F::SpanDroppedAttributes => {
            if let Some(n) = u32_of(&v) {
                s.dropped_attributes_count = n
            }
        }
        F::SpanDroppedEvents => {
            if let Some(n) = u32_of(&v) {
                s.dropped_events_count = n
            }
        }
        F::SpanDroppedLinks => {
            if let Some(n) = u32_of(&v) {
                s.dropped_links_count = n
            }
        }
        F::StatusCode => {
            if let Value::Int(c) = v {
                s.status.get_or_insert_with(Status::default).code = i32::try_from(c).unwrap_or(0)
            }
        }
        F::StatusMessage => {
            if let Value::Str(m) = v {
                s.status.get_or_insert_with(Status::default).message = m.into_owned()
            }
        }
        F::SpanFlags => {
            if let Some(n) = u32_of(&v) {
                s.flags = n
            }
        }
        _ => {}
    }
}

fn set_event(f: Field, s: &mut Span, i: usize, v: Value<'static>) {
    let Some(e) = s.events.get_mut(i) else { return };
    match f {
        F::EventName => {
            if let Value::Str(x) = v {
                e.name = x.into_owned()
            }
        }
        F::EventNanos | F::EventTime => {
            if let Some(n) = nanos_of(&v, f == F::EventTime) {
                e.time_unix_nano = n
            }
        }
        F::EventDroppedAttributes => {
            if let Some(n) = u32_of(&v) {
                e.dropped_attributes_count = n
            }
        }
        _ => set_span(f, s, v),
    }
}

fn set_metric(
    f: Field,
    m: &mut opentelemetry_proto::tonic::metrics::v1::Metric,
    v: Value<'static>,
) {
    let Value::Str(x) = v else { return };
    match f {
        F::MetricName => m.name = x.into_owned(),
        F::MetricDescription => m.description = x.into_owned(),
        F::MetricUnit => m.unit = x.into_owned(),
        _ => {}
    }
}

fn set_point(
    f: Field,
    m: &mut opentelemetry_proto::tonic::metrics::v1::Metric,
    i: usize,
    v: Value<'static>,
) {
    use number_data_point::Value as N;
    match (f, &v) {
        (F::PointStartNanos | F::PointStart, _) => {
            if let Some(n) = nanos_of(&v, f == F::PointStart) {
                points::set_time(m, i, true, n)
            }
        }
        (F::PointNanos | F::PointTime, _) => {
            if let Some(n) = nanos_of(&v, f == F::PointTime) {
                points::set_time(m, i, false, n)
            }
        }
        (F::PointValueInt, Value::Int(x)) => points::set_number(m, i, N::AsInt(*x)),
        (F::PointValueDouble, Value::Double(x)) => points::set_number(m, i, N::AsDouble(*x)),
        (F::PointFlags, _) => {
            if let Some(n) = u32_of(&v) {
                points::set_flags(m, i, n)
            }
        }
        _ => set_metric(f, m, v),
    }
}
