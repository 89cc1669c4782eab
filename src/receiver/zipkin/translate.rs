//! Zipkin v2 spans → an OTLP `ExportTraceServiceRequest`, as otelcol-contrib's zipkinv2
//! translator maps them.
//!
//! 1. Spans are ordered by local service name, then by their `otel.library.name` tag; each
//!    run of one service is a `ResourceSpans` and, within it, each run of one library a
//!    `ScopeSpans`. The first span of a run gives the resource (`service.name`, or the key
//!    its `otlp.service.name.source` tag names, plus its resource-convention tags) and the
//!    scope (`otel.library.name`/`otel.library.version`). A span without a local service
//!    name is in a resource without attributes.
//! 2. Per span: ids (a 64-bit trace id is the low half), the parent unless it equals the
//!    span's own id, `w3c.tracestate` → trace state, kind (`span.kind=internal` when Zipkin's
//!    kind is unset), status (`otel.status_code`/`otel.status_description`, then any `error`
//!    tag means ERROR; `error=true` is dropped, other values stay as attributes),
//!    `otlp.link.N` tags → links, other tags → attributes (typed with `parse_string_tags`),
//!    endpoints → `net.host.ip`/`net.host.port`/`peer.service`/`net.peer.ip`/`net.peer.port`,
//!    µs → ns times (no timestamp: start 0 and `otel.zipkin.absentField.startTime=true`),
//!    annotations → events (`name|{json attributes}|dropped count` is unpacked).
//!
//! Zipkin's `debug` and `shared` flags have no OTLP field and are not carried, as upstream.

use std::collections::BTreeMap;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::InstrumentationScope;
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{
    span, status, ResourceSpans, ScopeSpans, Span, Status,
};

use super::attributes::{self as attrs, Attributes};
use super::links::{events, links};
use super::model::{DecodeError, ZipkinSpan};

/// The ordering key of spans without a local service name (the translator's sentinel).
const NO_SERVICE_NAME: &str = "OTLPResourceNoServiceName";
/// Set on spans that had no timestamp.
const START_TIME_ABSENT: &str = "otel.zipkin.absentField.startTime";

/// Converts decoded spans; `parse_string_tags` types tag values that read as numbers or bools.
pub fn to_request(
    mut spans: Vec<ZipkinSpan>,
    parse_string_tags: bool,
) -> Result<ExportTraceServiceRequest, DecodeError> {
    spans.sort_by(|a, b| {
        service_name(a)
            .cmp(service_name(b))
            .then_with(|| library_name(a).cmp(library_name(b)))
    });
    let mut out: Vec<ResourceSpans> = Vec::new();
    let mut current: Option<(String, String)> = None;
    for (index, zspan) in spans.into_iter().enumerate() {
        let service = service_name(&zspan).to_owned();
        let library = library_name(&zspan).to_owned();
        let mut tags = zspan.tags.clone();
        let new_resource = current.as_ref().is_none_or(|(s, _)| *s != service);
        if new_resource {
            out.push(ResourceSpans {
                resource: Some(resource(&service, &mut tags)),
                ..Default::default()
            });
        }
        let new_scope = new_resource || current.as_ref().is_some_and(|(_, l)| *l != library);
        let Some(resource_spans) = out.last_mut() else {
            continue;
        };
        if new_scope {
            resource_spans.scope_spans.push(ScopeSpans {
                scope: Some(scope(&library, &mut tags)),
                ..Default::default()
            });
        }
        current = Some((service, library));
        let Some(scope_spans) = resource_spans.scope_spans.last_mut() else {
            continue;
        };
        let span = to_span(index, zspan, tags, parse_string_tags)?;
        scope_spans.spans.push(span);
    }
    Ok(ExportTraceServiceRequest {
        resource_spans: out,
    })
}

fn service_name(span: &ZipkinSpan) -> &str {
    match &span.local_endpoint {
        Some(e) if !e.service_name.is_empty() => &e.service_name,
        _ => NO_SERVICE_NAME,
    }
}

fn library_name(span: &ZipkinSpan) -> &str {
    span.tags
        .get(attrs::TAG_LIBRARY_NAME)
        .map_or("", String::as_str)
}

/// The resource of a run of spans of `service`, taking its tags from the first span's.
fn resource(service: &str, tags: &mut BTreeMap<String, String>) -> Resource {
    let mut attributes = Attributes::default();
    if service != NO_SERVICE_NAME {
        let key = tags
            .remove(attrs::TAG_SERVICE_NAME_SOURCE)
            .filter(|k| !k.is_empty())
            .unwrap_or_else(|| "service.name".to_owned());
        attributes.put_str(&key, service);
        let keys: Vec<String> = tags
            .keys()
            .filter(|k| attrs::is_resource_tag(k))
            .cloned()
            .collect();
        for key in keys {
            if let Some(value) = tags.remove(&key) {
                attributes.put_str(&key, &value);
            }
        }
    }
    Resource {
        attributes: attributes.into_vec(),
        ..Default::default()
    }
}

fn scope(library: &str, tags: &mut BTreeMap<String, String>) -> InstrumentationScope {
    let mut scope = InstrumentationScope::default();
    if !library.is_empty() {
        scope.name = tags.remove(attrs::TAG_LIBRARY_NAME).unwrap_or_default();
        scope.version = tags.remove(attrs::TAG_LIBRARY_VERSION).unwrap_or_default();
    }
    scope
}

fn to_span(
    index: usize,
    zspan: ZipkinSpan,
    mut tags: BTreeMap<String, String>,
    parse_string_tags: bool,
) -> Result<Span, DecodeError> {
    let trace_state = tags.remove("w3c.tracestate").unwrap_or_default();
    let parent_span_id = zspan
        .parent_id
        .filter(|p| *p != zspan.id)
        .map_or_else(Vec::new, |p| p.to_vec());
    let kind = kind(&zspan.kind, &mut tags);
    let status = span_status(&mut tags);
    let links = links(index, &mut tags)?;
    let mut attributes = Attributes::default();
    for (key, value) in &tags {
        if !attrs::is_non_span_tag(key) {
            attrs::put_tag(&mut attributes, key, value, parse_string_tags);
        }
    }
    endpoint_attributes(&zspan, &mut attributes);
    let micros = |us: u64| us.saturating_mul(1000);
    let (start, end) = if zspan.timestamp_us == 0 {
        attributes.put(
            START_TIME_ABSENT,
            opentelemetry_proto::tonic::common::v1::any_value::Value::BoolValue(true),
        );
        (0, micros(zspan.duration_us))
    } else {
        let start = micros(zspan.timestamp_us);
        (start, start.saturating_add(micros(zspan.duration_us)))
    };
    Ok(Span {
        trace_id: zspan.trace_id.to_vec(),
        span_id: zspan.id.to_vec(),
        trace_state,
        parent_span_id,
        name: zspan.name,
        kind: kind as i32,
        start_time_unix_nano: start,
        end_time_unix_nano: end,
        attributes: attributes.into_vec(),
        events: events(index, zspan.annotations)?,
        links,
        status: Some(status),
        ..Default::default()
    })
}

fn kind(zipkin: &str, tags: &mut BTreeMap<String, String>) -> span::SpanKind {
    match zipkin {
        "CLIENT" => span::SpanKind::Client,
        "SERVER" => span::SpanKind::Server,
        "PRODUCER" => span::SpanKind::Producer,
        "CONSUMER" => span::SpanKind::Consumer,
        _ => match tags.remove("span.kind").as_deref() {
            Some("internal") => span::SpanKind::Internal,
            _ => span::SpanKind::Unspecified,
        },
    }
}

fn span_status(tags: &mut BTreeMap<String, String>) -> Status {
    let mut status = Status::default();
    if let Some(code) = tags.remove("otel.status_code") {
        // OTLP's enum names, and the names older zipkin exporters wrote.
        status.code = match code.as_str() {
            "STATUS_CODE_OK" | "Ok" => status::StatusCode::Ok,
            "STATUS_CODE_ERROR" | "Error" => status::StatusCode::Error,
            _ => status::StatusCode::Unset,
        } as i32;
        if let Some(message) = tags.remove("otel.status_description") {
            status.message = message;
        }
    }
    if let Some(error) = tags.get("error") {
        status.code = status::StatusCode::Error as i32;
        if error == "true" {
            tags.remove("error");
        }
    }
    status
}

fn endpoint_attributes(zspan: &ZipkinSpan, attributes: &mut Attributes) {
    use opentelemetry_proto::tonic::common::v1::any_value::Value;
    if let Some(local) = &zspan.local_endpoint {
        if let Some(ip) = local.ipv4 {
            attributes.put_str("net.host.ip", &ip.to_string());
        }
        if let Some(ip) = local.ipv6 {
            attributes.put_str("net.host.ip", &ip.to_string());
        }
        if local.port > 0 {
            attributes.put("net.host.port", Value::IntValue(i64::from(local.port)));
        }
    }
    if let Some(remote) = &zspan.remote_endpoint {
        if !remote.service_name.is_empty() {
            attributes.put_str("peer.service", &remote.service_name);
        }
        if let Some(ip) = remote.ipv4 {
            attributes.put_str("net.peer.ip", &ip.to_string());
        }
        if let Some(ip) = remote.ipv6 {
            attributes.put_str("net.peer.ip", &ip.to_string());
        }
        if remote.port > 0 {
            attributes.put("net.peer.port", Value::IntValue(i64::from(remote.port)));
        }
    }
}
