//! Writing paths: `set` on a field (values of the wrong type leave it unchanged, as
//! otelcol's setters do), nested keys in maps and slices, and the mutable maps that map
//! editors (`delete_key`, `keep_keys`, ...) change in place.

use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue, KeyValueList};
use opentelemetry_proto::tonic::metrics::v1::number_data_point;
use opentelemetry_proto::tonic::trace::v1::{Span, Status};

use super::ast::Key;
use super::context::{Item, Target};
use super::paths::{Field, Field as F, Path};
use super::points;
use super::types::Ty;
use super::value::Value;
use super::EvalError;

fn span_mut<'t>(t: &'t mut Target<'_>) -> Option<&'t mut Span> {
    match &mut t.item {
        Item::Span(s) | Item::SpanEvent(s, _) => Some(s),
        _ => None,
    }
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
