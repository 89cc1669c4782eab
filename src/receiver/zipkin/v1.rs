//! Zipkin v1 JSON (`POST /api/v1/spans`) → OTLP, as otelcol-contrib's zipkinv1 translator
//! maps it. v1 has no kind, endpoints or tags of its own; they come from annotations:
//!
//! 1. ids: `traceId` is 16 or 32 hex digits, `id` and `parentId` 16, none of them zero;
//! 2. annotations: the first of `cs`/`cr` (client), `ss`/`sr` (server), `ms` (producer),
//!    `mr` (consumer) gives the kind, the first such one naming a service gives the span's
//!    endpoint; the earliest and latest annotation times are the span's start and end unless
//!    `timestamp` is set; every other annotation is an event;
//! 3. binary annotations (string values) are attributes (`lc` is renamed `component` and
//!    names the service when no annotation did); status tags are read and dropped:
//!    `census.status_code` (0 = OK, else ERROR), `otel.status_code` (a number), `error`
//!    (ERROR), with `*.status_description` as message; else `http.status_code` (100–399
//!    unset, else ERROR) with `http.status_message`;
//! 4. a span without any time gets now as start and end and
//!    `otel.zipkin.absentField.startTime=true`;
//! 5. spans are grouped into one resource per endpoint: `service.name` (`unknown-service`
//!    when none is known) and `ipv4`, `ipv6`, `port` resource attributes.

use std::time::{SystemTime, UNIX_EPOCH};

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::span::{Event, SpanKind};
use opentelemetry_proto::tonic::trace::v1::{status, ResourceSpans, ScopeSpans, Span, Status};
use serde::Deserialize;

use super::attributes::{typed, Attributes};
use super::model::DecodeError;

/// The service of a span whose annotations name none.
const UNKNOWN_SERVICE: &str = "unknown-service";

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct V1Span {
    #[serde(default)]
    trace_id: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    parent_id: String,
    #[serde(default)]
    id: String,
    #[serde(default)]
    timestamp: i64,
    #[serde(default)]
    duration: i64,
    #[serde(default)]
    annotations: Option<Vec<Option<V1Annotation>>>,
    #[serde(default)]
    binary_annotations: Option<Vec<Option<V1BinaryAnnotation>>>,
}

#[derive(Deserialize, Clone, Default, PartialEq)]
#[serde(rename_all = "camelCase")]
struct V1Endpoint {
    #[serde(default)]
    service_name: String,
    #[serde(default)]
    ipv4: String,
    #[serde(default)]
    ipv6: String,
    #[serde(default)]
    port: i32,
}

#[derive(Deserialize)]
struct V1Annotation {
    #[serde(default)]
    timestamp: i64,
    #[serde(default)]
    value: String,
    endpoint: Option<V1Endpoint>,
}

#[derive(Deserialize)]
struct V1BinaryAnnotation {
    #[serde(default)]
    key: String,
    #[serde(default)]
    value: String,
    endpoint: Option<V1Endpoint>,
}

/// Decodes a v1 JSON span list and converts it.
pub fn to_request(
    body: &[u8],
    parse_string_tags: bool,
) -> Result<ExportTraceServiceRequest, DecodeError> {
    let spans: Vec<Option<V1Span>> = serde_json::from_slice(body)?;
    let mut groups: Vec<(V1Endpoint, Vec<Span>)> = Vec::new();
    for (index, span) in spans.into_iter().enumerate() {
        let Some(span) = span else { continue };
        let (span, endpoint) = convert(index, span, parse_string_tags)?;
        match groups.iter_mut().find(|(e, _)| *e == endpoint) {
            Some((_, spans)) => spans.push(span),
            None => groups.push((endpoint, vec![span])),
        }
    }
    let resource_spans = groups
        .into_iter()
        .map(|(endpoint, spans)| ResourceSpans {
            resource: Some(resource(&endpoint)),
            scope_spans: vec![ScopeSpans {
                spans,
                ..Default::default()
            }],
            ..Default::default()
        })
        .collect();
    Ok(ExportTraceServiceRequest { resource_spans })
}

fn resource(endpoint: &V1Endpoint) -> Resource {
    let mut attributes = Attributes::default();
    attributes.put_str("service.name", &endpoint.service_name);
    if !endpoint.ipv4.is_empty() {
        attributes.put_str("ipv4", &endpoint.ipv4);
    }
    if !endpoint.ipv6.is_empty() {
        attributes.put_str("ipv6", &endpoint.ipv6);
    }
    if endpoint.port != 0 {
        attributes.put_str("port", &endpoint.port.to_string());
    }
    Resource {
        attributes: attributes.into_vec(),
        ..Default::default()
    }
}

fn convert(
    index: usize,
    v1: V1Span,
    parse_string_tags: bool,
) -> Result<(Span, V1Endpoint), DecodeError> {
    let bad = |field, value: &str, reason| DecodeError::Id {
        index,
        field,
        value: value.to_owned(),
        reason,
    };
    if v1.trace_id.len() != 16 && v1.trace_id.len() != 32 {
        return Err(bad("traceId", &v1.trace_id, "expected 16 or 32 hex digits"));
    }
    let trace_id = super::model::trace_id_hex(index, &v1.trace_id)?;
    let id = exact_span_id(index, "id", &v1.id)?;
    let parent_span_id = match v1.parent_id.as_str() {
        "" => Vec::new(),
        hex => exact_span_id(index, "parentId", hex)?.to_vec(),
    };
    let mut span = Span {
        trace_id: trace_id.to_vec(),
        span_id: id.to_vec(),
        parent_span_id,
        name: v1.name,
        ..Default::default()
    };
    let mut endpoint = annotations(&mut span, v1.annotations.unwrap_or_default());
    let mut attributes = Attributes::default();
    let fallback = binary_annotations(
        &mut span,
        &mut attributes,
        v1.binary_annotations.unwrap_or_default(),
        parse_string_tags,
    );
    if endpoint.service_name == UNKNOWN_SERVICE && !fallback.is_empty() {
        endpoint.service_name = fallback;
    }
    if v1.timestamp != 0 {
        span.start_time_unix_nano = micros_to_nanos(v1.timestamp);
        span.end_time_unix_nano = micros_to_nanos(v1.timestamp.saturating_add(v1.duration));
    }
    if span.start_time_unix_nano == 0 {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
        span.start_time_unix_nano = now;
        span.end_time_unix_nano = now;
        attributes.put("otel.zipkin.absentField.startTime", Value::BoolValue(true));
    }
    span.attributes = attributes.into_vec();
    Ok((span, endpoint))
}

/// Exactly 16 hex digits, not zero.
fn exact_span_id(index: usize, field: &'static str, hex: &str) -> Result<[u8; 8], DecodeError> {
    if hex.len() != 16 {
        return Err(DecodeError::Id {
            index,
            field,
            value: hex.to_owned(),
            reason: "expected 16 hex digits",
        });
    }
    let id = super::model::span_id_hex(index, field, hex)?;
    if id == [0; 8] {
        return Err(DecodeError::Id {
            index,
            field,
            value: hex.to_owned(),
            reason: "zero",
        });
    }
    Ok(id)
}

fn micros_to_nanos(us: i64) -> u64 {
    u64::try_from(us).map_or(0, |us| us.saturating_mul(1000))
}

/// Kind, times and events from the annotations; returns the span's endpoint.
fn annotations(span: &mut Span, annotations: Vec<Option<V1Annotation>>) -> V1Endpoint {
    let mut earliest = i64::MAX;
    let mut latest = i64::MIN;
    let mut endpoint: Option<V1Endpoint> = None;
    let mut kind_set = false;
    for a in annotations.into_iter().flatten() {
        if a.value.is_empty() {
            continue;
        }
        let kind = match a.value.as_str() {
            "cs" | "cr" => Some(SpanKind::Client),
            "ms" => Some(SpanKind::Producer),
            "mr" => Some(SpanKind::Consumer),
            "ss" | "sr" => Some(SpanKind::Server),
            _ => None,
        };
        let named = a.endpoint.as_ref().filter(|e| !e.service_name.is_empty());
        if endpoint.is_none() && kind.is_some() {
            endpoint = named.cloned();
        }
        if let (false, Some(kind)) = (kind_set, kind) {
            span.kind = kind as i32;
            kind_set = true;
        }
        let time = micros_to_nanos(a.timestamp);
        if a.timestamp < earliest {
            earliest = a.timestamp;
            span.start_time_unix_nano = time;
        }
        if a.timestamp > latest {
            latest = a.timestamp;
            span.end_time_unix_nano = time;
        }
        if kind.is_none() {
            span.events.push(Event {
                time_unix_nano: time,
                name: a.value,
                ..Default::default()
            });
        }
    }
    endpoint.unwrap_or_else(|| V1Endpoint {
        service_name: UNKNOWN_SERVICE.to_owned(),
        ..V1Endpoint::default()
    })
}

/// Where the span's status comes from, best first.
#[derive(Default)]
struct StatusSources {
    census: (Option<status::StatusCode>, String),
    otel: (Option<i32>, String),
    error: Option<status::StatusCode>,
    http: (Option<status::StatusCode>, String),
}

/// Attributes and status from the binary annotations; returns the fallback service name.
fn binary_annotations(
    span: &mut Span,
    attributes: &mut Attributes,
    binary: Vec<Option<V1BinaryAnnotation>>,
    parse_string_tags: bool,
) -> String {
    let mut fallback = String::new();
    let mut local_component = String::new();
    let mut sources = StatusSources::default();
    let code = |value: &str| {
        value
            .parse::<i64>()
            .ok()
            .and_then(|v| i32::try_from(v).ok())
    };
    for b in binary.into_iter().flatten() {
        if let Some(e) = b.endpoint.as_ref().filter(|e| !e.service_name.is_empty()) {
            fallback = e.service_name.clone();
        }
        let mut key = b.key;
        if key == "lc" {
            key = "component".to_owned();
            local_component = b.value.clone();
        }
        match key.as_str() {
            "census.status_code" => {
                if let Some(c) = code(&b.value) {
                    sources.census.0 = Some(if c == 0 {
                        status::StatusCode::Ok
                    } else {
                        status::StatusCode::Error
                    });
                }
                continue;
            }
            "census.status_description" | "opencensus.status_description" => {
                sources.census.1 = b.value;
                continue;
            }
            "otel.status_code" => {
                sources.otel.0 = code(&b.value).or(sources.otel.0);
                continue;
            }
            "otel.status_description" => {
                sources.otel.1 = b.value;
                continue;
            }
            "error" => {
                sources.error = Some(status::StatusCode::Error);
                continue;
            }
            "http.status_code" => {
                if let Some(c) = code(&b.value) {
                    sources.http.0 = Some(if (100..400).contains(&c) {
                        status::StatusCode::Unset
                    } else {
                        status::StatusCode::Error
                    });
                }
            }
            "http.status_message" => sources.http.1 = b.value.clone(),
            _ => {}
        }
        let value = parse_string_tags
            .then(|| typed(&b.value))
            .flatten()
            .unwrap_or(Value::StringValue(b.value));
        attributes.put(&key, value);
    }
    span.status = status(sources);
    if fallback.is_empty() {
        local_component
    } else {
        fallback
    }
}

fn status(sources: StatusSources) -> Option<Status> {
    let (code, message) = if let (Some(code), message) = sources.census {
        (code as i32, message)
    } else if let (Some(code), message) = sources.otel {
        (code, message)
    } else if let Some(code) = sources.error {
        let message = if sources.census.1.is_empty() {
            sources.otel.1
        } else {
            sources.census.1
        };
        (code as i32, message)
    } else if let (Some(code), message) = sources.http {
        (code as i32, message)
    } else {
        return None;
    };
    Some(Status { code, message })
}
