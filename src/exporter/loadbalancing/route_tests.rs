//! Routing splits compared with a prost decode of the parts.
#![allow(clippy::unwrap_used)]

use bytes::Bytes;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::metrics::v1::{
    metric, Gauge, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use prost::Message;

use super::*;
use crate::otlp::scan_request;

const OWNERS: u32 = 3;

fn owner_of(key: &[u8]) -> usize {
    (crc32fast::hash(key) % OWNERS) as usize
}

fn attribute(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.into())),
        }),
        ..KeyValue::default()
    }
}

fn resource_of(service: &str, extra: &str) -> Option<Resource> {
    Some(Resource {
        attributes: vec![attribute("service.name", service), attribute("host", extra)],
        ..Resource::default()
    })
}

fn scope(name: &str) -> Option<InstrumentationScope> {
    Some(InstrumentationScope {
        name: name.into(),
        ..InstrumentationScope::default()
    })
}

fn traces() -> ExportTraceServiceRequest {
    let span = |trace: u8, n: u32| Span {
        trace_id: vec![trace; 16],
        span_id: n.to_le_bytes().repeat(2),
        name: format!("span-{trace}-{n}"),
        ..Span::default()
    };
    let resource_spans = (0..3u8)
        .map(|r| ResourceSpans {
            resource: resource_of(&format!("svc-{r}"), "h"),
            scope_spans: (0..2u8)
                .map(|s| ScopeSpans {
                    scope: scope(&format!("scope-{r}-{s}")),
                    spans: (0..12u32).map(|n| span((n % 7) as u8 + r, n)).collect(),
                    schema_url: "https://scope.example".into(),
                })
                .chain(std::iter::once(ScopeSpans {
                    scope: scope("empty"),
                    ..ScopeSpans::default()
                }))
                .collect(),
            schema_url: format!("https://resource.example/{r}"),
        })
        .collect();
    ExportTraceServiceRequest { resource_spans }
}

/// Routes every chunk of `body` and returns the parts.
fn route(signal: Signal, key: RoutingKey, body: Vec<u8>) -> Vec<Part> {
    let scanned = scan_request(signal, &Bytes::from(body)).unwrap();
    let mut parts = Vec::new();
    for chunk in &scanned.chunks {
        route_chunk(signal, key, chunk, &mut owner_of, &mut parts).unwrap();
    }
    parts
}

/// Each part's chunk as a prost request (one resource message).
fn decoded<M: Message + Default>(part: &Part) -> M {
    let mut body = Vec::new();
    encode_key(1, WireType::LengthDelimited, &mut body);
    encode_varint(part.1.bytes.len() as u64, &mut body);
    body.extend_from_slice(&part.1.bytes);
    M::decode(&body[..]).unwrap()
}

#[test]
fn trace_id_splits_keep_resource_and_scope_of_every_span() {
    let request = traces();
    let parts = route(Signal::Traces, RoutingKey::TraceId, request.encode_to_vec());
    let mut seen = Vec::new();
    for part in &parts {
        let got: ExportTraceServiceRequest = decoded(part);
        let [rs] = &got.resource_spans[..] else {
            panic!("one resource per part")
        };
        let mut count = 0;
        for ss in &rs.scope_spans {
            for span in &ss.spans {
                assert_eq!(owner_of(&span.trace_id), part.0, "{}", span.name);
                seen.push((
                    rs.resource.clone(),
                    rs.schema_url.clone(),
                    ss.scope.clone(),
                    span.clone(),
                ));
                count += 1;
            }
        }
        assert_eq!(part.1.items, count);
    }
    let mut expected = Vec::new();
    for rs in &request.resource_spans {
        for ss in &rs.scope_spans {
            for span in &ss.spans {
                expected.push((
                    rs.resource.clone(),
                    rs.schema_url.clone(),
                    ss.scope.clone(),
                    span.clone(),
                ));
            }
        }
    }
    let key = |t: &(Option<Resource>, String, Option<InstrumentationScope>, Span)| t.3.name.clone();
    seen.sort_by_key(key);
    expected.sort_by_key(key);
    assert_eq!(seen, expected);
    // The scope with no span travels with one part, not lost.
    let empty_scopes = parts
        .iter()
        .map(decoded::<ExportTraceServiceRequest>)
        .flat_map(|r| r.resource_spans)
        .flat_map(|rs| rs.scope_spans)
        .filter(|ss| ss.spans.is_empty())
        .count();
    assert_eq!(empty_scopes, 3);
}

#[test]
fn trace_id_routes_log_records_by_their_trace_id() {
    let request = ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: resource_of("svc", "h"),
            scope_logs: vec![ScopeLogs {
                scope: scope("s"),
                log_records: (0..20u8)
                    .map(|n| LogRecord {
                        trace_id: vec![n; 16],
                        severity_text: format!("r{n}"),
                        ..LogRecord::default()
                    })
                    .collect(),
                ..ScopeLogs::default()
            }],
            ..ResourceLogs::default()
        }],
    };
    let parts = route(Signal::Logs, RoutingKey::TraceId, request.encode_to_vec());
    let mut total = 0;
    for part in &parts {
        let got: ExportLogsServiceRequest = decoded(part);
        for record in &got.resource_logs[0].scope_logs[0].log_records {
            assert_eq!(owner_of(&record.trace_id), part.0);
            total += 1;
        }
        assert_eq!(
            got.resource_logs[0].resource,
            request.resource_logs[0].resource
        );
    }
    assert_eq!(total, 20);
}

#[test]
fn service_and_resource_route_whole_resources() {
    let request = traces();
    let parts = route(Signal::Traces, RoutingKey::Service, request.encode_to_vec());
    assert_eq!(parts.len(), 3);
    for (part, rs) in parts.iter().zip(&request.resource_spans) {
        assert_eq!(
            owner_of(format!("svc-{}", &rs.schema_url[rs.schema_url.len() - 1..]).as_bytes()),
            part.0
        );
        let got: ExportTraceServiceRequest = decoded(part);
        assert_eq!(&got.resource_spans[0], rs);
        assert_eq!(part.1.items, 24);
    }
    // The same attributes in another order have the same identity.
    let metrics = |attributes: Vec<KeyValue>| ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: Some(Resource {
                attributes,
                ..Resource::default()
            }),
            ..ResourceMetrics::default()
        }],
    };
    let a = metrics(vec![attribute("a", "1"), attribute("b", "2")]);
    let b = metrics(vec![attribute("b", "2"), attribute("a", "1")]);
    let mut owners = Vec::new();
    let mut record = |key: &[u8]| {
        owners.push(key.to_vec());
        0
    };
    for request in [a, b] {
        let scanned = scan_request(Signal::Metrics, &Bytes::from(request.encode_to_vec())).unwrap();
        let mut parts = Vec::new();
        route_chunk(
            Signal::Metrics,
            RoutingKey::Resource,
            &scanned.chunks[0],
            &mut record,
            &mut parts,
        )
        .unwrap();
    }
    assert_eq!(owners[0], owners[1]);
    // A resource without service.name cannot be routed by service.
    let anonymous = ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans::default()],
    };
    let scanned = scan_request(Signal::Traces, &Bytes::from(anonymous.encode_to_vec())).unwrap();
    let err = route_chunk(
        Signal::Traces,
        RoutingKey::Service,
        &scanned.chunks[0],
        &mut owner_of,
        &mut Vec::new(),
    );
    assert!(matches!(err, Err(RouteError::NoServiceName)));
}

#[test]
fn metric_routes_each_metric_with_its_points() {
    let gauge = |name: &str, points: usize| Metric {
        name: name.into(),
        unit: "1".into(),
        data: Some(metric::Data::Gauge(Gauge {
            data_points: vec![NumberDataPoint::default(); points],
        })),
        ..Metric::default()
    };
    let request = ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: resource_of("svc", "h"),
            scope_metrics: vec![ScopeMetrics {
                scope: scope("meter"),
                metrics: (0..10).map(|n| gauge(&format!("m{n}"), n + 1)).collect(),
                ..ScopeMetrics::default()
            }],
            ..ResourceMetrics::default()
        }],
    };
    let parts = route(Signal::Metrics, RoutingKey::Metric, request.encode_to_vec());
    let mut names = Vec::new();
    for part in &parts {
        let got: ExportMetricsServiceRequest = decoded(part);
        let rm = &got.resource_metrics[0];
        assert_eq!(rm.resource, request.resource_metrics[0].resource);
        assert_eq!(rm.scope_metrics[0].scope, scope("meter"));
        let mut points = 0;
        for m in &rm.scope_metrics[0].metrics {
            assert_eq!(owner_of(m.name.as_bytes()), part.0);
            let original = request.resource_metrics[0].scope_metrics[0]
                .metrics
                .iter()
                .find(|o| o.name == m.name)
                .unwrap();
            assert_eq!(m, original);
            points += crate::otlp::testgen::metric_points(m) as u32;
            names.push(m.name.clone());
        }
        assert_eq!(part.1.items, points);
    }
    names.sort();
    assert_eq!(names.len(), 10);
    assert!(route_chunk(
        Signal::Traces,
        RoutingKey::Metric,
        &ResourceChunk {
            bytes: Bytes::new(),
            items: 0
        },
        &mut owner_of,
        &mut Vec::new()
    )
    .is_err());
}

#[test]
fn a_chunk_with_one_owner_goes_whole_without_a_copy() {
    let request = traces();
    let body = Bytes::from(request.encode_to_vec());
    let scanned = scan_request(Signal::Traces, &body).unwrap();
    let mut parts = Vec::new();
    route_chunk(
        Signal::Traces,
        RoutingKey::TraceId,
        &scanned.chunks[0],
        &mut |_| 2,
        &mut parts,
    )
    .unwrap();
    let [(owner, chunk)] = &parts[..] else {
        panic!("one part")
    };
    assert_eq!(*owner, 2);
    assert_eq!(chunk, &scanned.chunks[0]);
    assert_eq!(chunk.bytes.as_ptr(), scanned.chunks[0].bytes.as_ptr());
}
