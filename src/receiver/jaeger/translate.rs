//! Jaeger batches → an OTLP `ExportTraceServiceRequest`, as otelcol-contrib's jaeger
//! translator maps api_v2 protobuf and Thrift batches.
//!
//! 1. Spans are grouped by process: the batch's, or a span's own when it has one (protobuf
//!    only); each process is a `ResourceSpans` (in order of first appearance):
//!    `service.name` from `serviceName` (none for an empty name or the
//!    `OTLPResourceNoServiceName` sentinel), process tags as attributes, `hostname` →
//!    `host.name` and `jaeger.version` → `opencensus.exporterversion` (`Jaeger-<version>`)
//!    unless those are already set.
//! 2. Protobuf only: within a resource, spans are grouped into scopes by their
//!    `otel.scope.name` and `otel.scope.version` tags (taken out of the span's tags), and
//!    `w3c.tracestate` becomes the trace state. Thrift batches are one scope and keep the tag.
//! 3. Per span: ids, name, start and start + duration; the parent (see
//!    [`super::model::parent_from_references`]; Thrift's `parentSpanId` first); tags →
//!    attributes; `span.kind` → kind; status: `error=true` (a bool) → ERROR with
//!    `otel.status_description` (or `http.status_message`) as message, else `otel.status_code`
//!    (`OK`/`ERROR`), else `http.status_code` (5xx, and 4xx on a client span → ERROR); logs →
//!    events (`event` field → name); references other than the CHILD_OF one to the parent →
//!    links with `opentracing.ref_type` (`child_of`/`follows_from`).
//!
//! A span equal to an empty one is skipped, as upstream; a resource without spans is left
//! out (it carries no data).

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::InstrumentationScope;
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::span::{Event, Link, SpanKind};
use opentelemetry_proto::tonic::trace::v1::{status, ResourceSpans, ScopeSpans, Span, Status};

use super::model::{Batch, JaegerSpan, Log, Process, Reference, Tag, TagValue};
use crate::receiver::attributes::Attributes;

/// The service name of a process that stands for "no service".
const NO_SERVICE_NAME: &str = "OTLPResourceNoServiceName";

/// Which wire form the batches came in (the official translator treats them a little
/// differently).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// api_v2 protobuf (gRPC).
    Protobuf,
    /// Thrift (HTTP).
    Thrift,
}

/// Converts batches into one request.
pub fn to_request(batches: Vec<Batch>, source: Source) -> ExportTraceServiceRequest {
    let mut groups: Vec<(Option<Process>, Vec<JaegerSpan>)> = Vec::new();
    for batch in batches {
        for mut span in batch.spans {
            let process = span.process.take().or_else(|| batch.process.clone());
            match groups.iter_mut().find(|(p, _)| *p == process) {
                Some((_, spans)) => spans.push(span),
                None => groups.push((process, vec![span])),
            }
        }
    }
    let resource_spans = groups
        .into_iter()
        .filter_map(|(process, spans)| {
            let scope_spans = scopes(spans, source);
            (!scope_spans.is_empty()).then(|| ResourceSpans {
                resource: Some(resource(process.as_ref())),
                scope_spans,
                ..Default::default()
            })
        })
        .collect();
    ExportTraceServiceRequest { resource_spans }
}

fn resource(process: Option<&Process>) -> Resource {
    let mut attributes = Attributes::default();
    if let Some(p) = process {
        let empty = p.service_name.is_empty() && p.tags.is_empty();
        if p.service_name != NO_SERVICE_NAME && !empty {
            if !p.service_name.is_empty() {
                attributes.put_str("service.name", &p.service_name);
            }
            put_tags(&mut attributes, &p.tags);
            if !attributes.contains("host.name") {
                if let Some(hostname) = attributes.remove("hostname") {
                    attributes.put("host.name", hostname);
                }
            }
            if attributes.contains("jaeger.version")
                && !attributes.contains("opencensus.exporterversion")
            {
                let version = attributes.get_str("jaeger.version");
                attributes.put_str("opencensus.exporterversion", &format!("Jaeger-{version}"));
                attributes.remove("jaeger.version");
            }
        }
    }
    Resource {
        attributes: attributes.into_vec(),
        ..Default::default()
    }
}

fn scopes(spans: Vec<JaegerSpan>, source: Source) -> Vec<ScopeSpans> {
    let mut scopes: Vec<ScopeSpans> = Vec::new();
    for mut span in spans {
        if span == JaegerSpan::default() {
            continue;
        }
        let mut scope = InstrumentationScope::default();
        if source == Source::Protobuf {
            if let Some(name) = take_tag(&mut span.tags, "otel.scope.name") {
                scope.name = name;
                scope.version = take_tag(&mut span.tags, "otel.scope.version").unwrap_or_default();
            }
        }
        let span = to_span(span, source);
        match scopes
            .iter_mut()
            .find(|s| s.scope.as_ref().is_some_and(|s| *s == scope))
        {
            Some(s) => s.spans.push(span),
            None => scopes.push(ScopeSpans {
                scope: Some(scope),
                spans: vec![span],
                ..Default::default()
            }),
        }
    }
    scopes
}

/// Removes the first tag `key`, returning its string value (empty when not a string).
fn take_tag(tags: &mut Vec<Tag>, key: &str) -> Option<String> {
    let at = tags.iter().position(|t| t.key == key)?;
    match tags.remove(at).value {
        TagValue::Str(s) => Some(s),
        _ => Some(String::new()),
    }
}

fn put_tags(attributes: &mut Attributes, tags: &[Tag]) {
    for tag in tags {
        let value = match &tag.value {
            TagValue::Str(s) => Value::StringValue(s.clone()),
            TagValue::Bool(b) => Value::BoolValue(*b),
            TagValue::Int(i) => Value::IntValue(*i),
            TagValue::Double(d) => Value::DoubleValue(*d),
            TagValue::Binary(b) => Value::BytesValue(b.clone()),
            TagValue::Unknown(t) => Value::StringValue(format!("<Unknown Jaeger TagType \"{t}\">")),
        };
        attributes.put(&tag.key, value);
    }
}

fn to_span(span: JaegerSpan, source: Source) -> Span {
    let mut attributes = Attributes::default();
    put_tags(&mut attributes, &span.tags);
    let kind = match attributes.remove("span.kind") {
        Some(Value::StringValue(kind)) => span_kind(&kind),
        _ => SpanKind::Unspecified,
    };
    let status = span_status(&mut attributes, kind);
    let trace_state = match source {
        Source::Protobuf => match attributes.remove("w3c.tracestate") {
            Some(Value::StringValue(state)) => state,
            _ => String::new(),
        },
        Source::Thrift => String::new(),
    };
    let parent = span.parent_span_id;
    let events = span.logs.into_iter().map(event).collect();
    let links = links(span.references, parent);
    Span {
        trace_id: span.trace_id.to_vec(),
        span_id: span.span_id.to_vec(),
        trace_state,
        parent_span_id: if parent == [0; 8] {
            Vec::new()
        } else {
            parent.to_vec()
        },
        name: span.operation_name,
        kind: kind as i32,
        start_time_unix_nano: span.start_unix_nano,
        end_time_unix_nano: span.start_unix_nano.saturating_add(span.duration_nano),
        attributes: attributes.into_vec(),
        events,
        links,
        status,
        ..Default::default()
    }
}

/// A log as an event, named by its `event` field.
fn event(log: Log) -> Event {
    let mut fields = Attributes::default();
    put_tags(&mut fields, &log.fields);
    let name = match fields.remove("event") {
        Some(Value::StringValue(name)) => name,
        _ => String::new(),
    };
    Event {
        time_unix_nano: log.time_unix_nano,
        name,
        attributes: fields.into_vec(),
        ..Default::default()
    }
}

/// The references other than the CHILD_OF one to `parent`, as links.
fn links(references: Vec<Reference>, parent: [u8; 8]) -> Vec<Link> {
    references
        .into_iter()
        .filter(|r| r.follows_from || r.span_id != parent)
        .map(|r| {
            let mut attributes = Attributes::default();
            let ref_type = if r.follows_from {
                "follows_from"
            } else {
                "child_of"
            };
            attributes.put_str("opentracing.ref_type", ref_type);
            Link {
                trace_id: r.trace_id.to_vec(),
                span_id: r.span_id.to_vec(),
                attributes: attributes.into_vec(),
                ..Default::default()
            }
        })
        .collect()
}

fn span_kind(kind: &str) -> SpanKind {
    match kind {
        "client" => SpanKind::Client,
        "server" => SpanKind::Server,
        "producer" => SpanKind::Producer,
        "consumer" => SpanKind::Consumer,
        "internal" => SpanKind::Internal,
        _ => SpanKind::Unspecified,
    }
}

fn span_status(attributes: &mut Attributes, kind: SpanKind) -> Option<Status> {
    let set = |code: status::StatusCode, message: String| {
        Some(Status {
            code: code as i32,
            message,
        })
    };
    let mut status: Option<Status> = None;
    if attributes.get("error") == Some(&Value::BoolValue(true)) {
        attributes.remove("error");
        let message = match attributes.remove("otel.status_description") {
            Some(Value::StringValue(m)) => m,
            Some(_) => String::new(),
            None => attributes.get_str("http.status_message"),
        };
        status = set(status::StatusCode::Error, message);
    }
    let explicit = status.is_some();
    if let Some(code) = attributes.remove("otel.status_code") {
        if !explicit {
            let text = match code {
                Value::StringValue(s) => s.to_ascii_uppercase(),
                _ => String::new(),
            };
            let code = match text.as_str() {
                "OK" => status::StatusCode::Ok,
                "ERROR" => status::StatusCode::Error,
                _ => status::StatusCode::Unset,
            };
            let message = match attributes.remove("otel.status_description") {
                Some(Value::StringValue(m)) => m,
                _ => String::new(),
            };
            status = set(code, message);
        }
    } else if !explicit {
        if let Some(code) = attributes.get("http.status_code").and_then(http_code) {
            let code = match (code, kind) {
                (400..=499, SpanKind::Client) => status::StatusCode::Error,
                (400..=499, SpanKind::Server) => status::StatusCode::Unset,
                (100..=399, _) => status::StatusCode::Unset,
                _ => status::StatusCode::Error,
            };
            let message = attributes.get_str("http.status_message");
            if code != status::StatusCode::Unset {
                status = set(code, message);
            }
        }
    }
    status
}

/// An HTTP status code from an int or a decimal string attribute.
fn http_code(value: &Value) -> Option<i64> {
    match value {
        Value::IntValue(i) => Some(*i),
        Value::StringValue(s) => s.parse().ok(),
        _ => None,
    }
}
