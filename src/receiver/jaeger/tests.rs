//! The Jaeger → OTLP mapping, from api_v2 protobuf and Thrift batches.
#![allow(clippy::unwrap_used)]

use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::KeyValue as OtlpKeyValue;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;
use prost::Message;

use super::proto::{self, Batch, KeyValue, Log, PostSpansRequest, Process, Span, SpanRef, Time};
use super::thrift::tests::{Writer, T_BOOL, T_I32, T_I64, T_LIST, T_STRING, T_STRUCT};
use super::translate::Source;
use super::{thrift, translate};

fn attr<'a>(attributes: &'a [OtlpKeyValue], key: &str) -> Option<&'a Value> {
    attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref())
        .and_then(|v| v.value.as_ref())
}

fn text(s: &str) -> Value {
    Value::StringValue(s.to_owned())
}

fn kv_str(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.into(),
        v_str: value.into(),
        ..Default::default()
    }
}

fn kv_bool(key: &str, value: bool) -> KeyValue {
    KeyValue {
        key: key.into(),
        v_type: 1,
        v_bool: value,
        ..Default::default()
    }
}

fn kv_int(key: &str, value: i64) -> KeyValue {
    KeyValue {
        key: key.into(),
        v_type: 2,
        v_int64: value,
        ..Default::default()
    }
}

fn trace_id() -> Vec<u8> {
    (1..=16).collect()
}

fn span(id: u8, name: &str, tags: Vec<KeyValue>) -> Span {
    Span {
        trace_id: trace_id(),
        span_id: vec![id; 8],
        operation_name: name.into(),
        start_time: Some(Time {
            seconds: 1_700_000_000,
            nanos: 5,
        }),
        duration: Some(Time {
            seconds: 0,
            nanos: 1500,
        }),
        tags,
        ..Default::default()
    }
}

fn request() -> Vec<u8> {
    let mut child = span(
        2,
        "child",
        vec![
            kv_str("span.kind", "client"),
            kv_bool("error", true),
            kv_str("otel.status_description", "boom"),
            kv_str("otel.status_code", "OK"),
            kv_str("w3c.tracestate", "a=b"),
            kv_str("otel.scope.name", "lib"),
            kv_str("otel.scope.version", "2"),
            KeyValue {
                key: "bin".into(),
                v_type: 4,
                v_binary: vec![0xff, 0x00],
                ..Default::default()
            },
        ],
    );
    child.references = vec![
        SpanRef {
            trace_id: trace_id(),
            span_id: vec![1; 8],
            ref_type: 0,
        },
        SpanRef {
            trace_id: vec![9; 16],
            span_id: vec![7; 8],
            ref_type: 1,
        },
    ];
    child.logs = vec![Log {
        timestamp: Some(Time {
            seconds: 1_700_000_000,
            nanos: 100,
        }),
        fields: vec![kv_str("event", "retry"), kv_int("attempt", 2)],
    }];
    let mut other = span(3, "other-process", vec![kv_int("http.status_code", 404)]);
    other.tags.push(kv_str("span.kind", "client"));
    other.process = Some(Process {
        service_name: "worker".into(),
        tags: Vec::new(),
    });
    PostSpansRequest {
        batch: Some(Batch {
            spans: vec![
                span(1, "root", vec![kv_int("http.status_code", 503)]),
                child,
                other,
                Span::default(),
            ],
            process: Some(Process {
                service_name: "api".into(),
                tags: vec![
                    kv_str("hostname", "h1"),
                    kv_str("jaeger.version", "Go-2.30"),
                    kv_str("ip", "10.0.0.1"),
                ],
            }),
        }),
    }
    .encode_to_vec()
}

#[test]
fn protobuf_maps_as_the_official_translator() {
    let request = translate::to_request(vec![proto::decode(&request()).unwrap()], Source::Protobuf);
    let rs = &request.resource_spans;
    assert_eq!(rs.len(), 2, "one resource per process");
    let resource = &rs[0].resource.as_ref().unwrap().attributes;
    assert_eq!(attr(resource, "service.name"), Some(&text("api")));
    assert_eq!(attr(resource, "host.name"), Some(&text("h1")));
    assert_eq!(attr(resource, "hostname"), None);
    assert_eq!(
        attr(resource, "opencensus.exporterversion"),
        Some(&text("Jaeger-Go-2.30"))
    );
    assert_eq!(attr(resource, "ip"), Some(&text("10.0.0.1")));
    // Two scopes: none, and lib 2; the blank span is skipped.
    assert_eq!(rs[0].scope_spans.len(), 2);
    let root = &rs[0].scope_spans[0].spans[0];
    assert_eq!(root.trace_id, trace_id());
    assert!(root.parent_span_id.is_empty());
    assert_eq!(root.start_time_unix_nano, 1_700_000_000_000_000_005);
    assert_eq!(root.end_time_unix_nano, 1_700_000_000_000_001_505);
    assert_eq!(root.status.as_ref().unwrap().code, StatusCode::Error as i32);
    assert_eq!(
        attr(&root.attributes, "http.status_code"),
        Some(&Value::IntValue(503))
    );

    let scope = rs[0].scope_spans[1].scope.as_ref().unwrap();
    assert_eq!((scope.name.as_str(), scope.version.as_str()), ("lib", "2"));
    let child = &rs[0].scope_spans[1].spans[0];
    assert_eq!(child.parent_span_id, vec![1; 8]);
    assert_eq!(child.kind, SpanKind::Client as i32);
    let status = child.status.as_ref().unwrap();
    // error=true wins over otel.status_code, and takes the description.
    assert_eq!(status.code, StatusCode::Error as i32);
    assert_eq!(status.message, "boom");
    assert_eq!(child.trace_state, "a=b");
    for key in [
        "error",
        "otel.status_code",
        "span.kind",
        "otel.library.name",
        "w3c.tracestate",
    ] {
        assert_eq!(attr(&child.attributes, key), None, "{key}");
    }
    assert_eq!(
        attr(&child.attributes, "bin"),
        Some(&Value::BytesValue(vec![0xff, 0]))
    );
    assert_eq!(child.links.len(), 1, "the parent reference is not a link");
    assert_eq!(child.links[0].span_id, vec![7; 8]);
    assert_eq!(
        attr(&child.links[0].attributes, "opentracing.ref_type"),
        Some(&text("follows_from"))
    );
    assert_eq!(child.events[0].name, "retry");
    assert_eq!(
        attr(&child.events[0].attributes, "attempt"),
        Some(&Value::IntValue(2))
    );

    let other = &rs[1];
    let resource = &other.resource.as_ref().unwrap().attributes;
    assert_eq!(attr(resource, "service.name"), Some(&text("worker")));
    let span = &other.scope_spans[0].spans[0];
    // A 4xx on a client span is an error.
    assert_eq!(span.status.as_ref().unwrap().code, StatusCode::Error as i32);
}

#[test]
fn protobuf_refuses_bad_ids() {
    let mut bad = span(1, "x", Vec::new());
    bad.trace_id = vec![1; 5];
    let body = PostSpansRequest {
        batch: Some(Batch {
            spans: vec![bad],
            process: None,
        }),
    }
    .encode_to_vec();
    let err = proto::decode(&body).unwrap_err().to_string();
    assert!(err.contains("trace_id is 5 bytes; expected 16"), "{err}");
    assert!(proto::decode(&[0x0a, 0x09]).is_err());
}

/// A Thrift `Batch` as jaeger-client's HTTP sender writes it.
pub(crate) fn thrift_batch(service: &str, name: &str) -> Vec<u8> {
    let mut w = Writer::default();
    w.field(T_STRUCT, 1);
    w.field(T_STRING, 1).string(service);
    w.field(T_LIST, 2)
        .list(T_STRUCT, 1)
        .string_tag("hostname", "host-9");
    w.stop();
    w.field(T_LIST, 2).list(T_STRUCT, 1);
    w.field(T_I64, 1).i64(0x0102).field(T_I64, 2).i64(0);
    w.field(T_I64, 3).i64(0x0a).field(T_I64, 4).i64(0x0b);
    w.field(T_STRING, 5).string(name);
    w.field(T_LIST, 6).list(T_STRUCT, 1);
    w.field(T_I32, 1)
        .i32(0)
        .field(T_I64, 2)
        .i64(0x0102)
        .field(T_I64, 3)
        .i64(0);
    w.field(T_I64, 4).i64(0x0b).stop();
    w.field(T_I32, 7).i32(1);
    w.field(T_I64, 8)
        .i64(1_700_000_000_000_000)
        .field(T_I64, 9)
        .i64(250);
    w.field(T_LIST, 10)
        .list(T_STRUCT, 2)
        .string_tag("span.kind", "server");
    w.field(T_STRING, 1).string("error");
    w.field(T_I32, 2).i32(2).field(T_BOOL, 5);
    w.0.push(1);
    w.stop();
    w.field(T_LIST, 11).list(T_STRUCT, 1);
    w.field(T_I64, 1).i64(1_700_000_000_000_100);
    w.field(T_LIST, 2)
        .list(T_STRUCT, 1)
        .string_tag("event", "cache miss");
    w.stop();
    w.stop();
    w.stop();
    w.0
}

#[test]
fn thrift_maps_like_protobuf() {
    let batch = thrift::decode(&thrift_batch("legacy", "get")).unwrap();
    let request = translate::to_request(vec![batch], Source::Thrift);
    let rs = &request.resource_spans[0];
    let resource = &rs.resource.as_ref().unwrap().attributes;
    assert_eq!(attr(resource, "service.name"), Some(&text("legacy")));
    assert_eq!(attr(resource, "host.name"), Some(&text("host-9")));
    let span = &rs.scope_spans[0].spans[0];
    assert_eq!(span.name, "get");
    let mut want_trace = [0u8; 16];
    want_trace[14] = 1;
    want_trace[15] = 2;
    assert_eq!(span.trace_id, want_trace);
    assert_eq!(span.parent_span_id, 0x0bi64.to_be_bytes());
    assert!(
        span.links.is_empty(),
        "the CHILD_OF parent reference is no link"
    );
    assert_eq!(span.kind, SpanKind::Server as i32);
    assert_eq!(span.status.as_ref().unwrap().code, StatusCode::Error as i32);
    assert_eq!(span.start_time_unix_nano, 1_700_000_000_000_000_000);
    assert_eq!(span.end_time_unix_nano, 1_700_000_000_000_250_000);
    assert_eq!(span.events[0].name, "cache miss");
    assert_eq!(span.events[0].time_unix_nano, 1_700_000_000_000_100_000);
    assert!(span.attributes.is_empty(), "{:?}", span.attributes);
}

mod properties {
    use bytes::Bytes;
    use proptest::prelude::*;

    use super::super::{proto, thrift, translate};
    use super::*;
    use crate::otlp::scan_request;
    use crate::signal::Signal;

    fn tag() -> impl Strategy<Value = KeyValue> {
        (
            prop_oneof![
                Just("span.kind".to_owned()),
                Just("error".to_owned()),
                Just("otel.status_code".to_owned()),
                Just("http.status_code".to_owned()),
                Just("otel.scope.name".to_owned()),
                Just("hostname".to_owned()),
                "[a-z]{1,6}",
            ],
            0..6i32,
            "[a-zA-Z0-9]{0,5}",
            any::<bool>(),
            any::<i64>(),
        )
            .prop_map(|(key, v_type, v_str, v_bool, v_int64)| KeyValue {
                key,
                v_type,
                v_str,
                v_bool,
                v_int64,
                ..Default::default()
            })
    }

    fn span_strategy() -> impl Strategy<Value = Span> {
        (
            1..4u8,
            1..4u8,
            prop::collection::vec(tag(), 0..5),
            prop::option::of(0..3u8),
            prop::option::of("[a-z]{0,3}"),
        )
            .prop_map(|(trace, id, tags, parent, service)| Span {
                trace_id: vec![trace; 16],
                span_id: vec![id; 8],
                operation_name: "op".into(),
                references: parent
                    .map(|p| SpanRef {
                        trace_id: vec![trace; 16],
                        span_id: vec![p; 8],
                        ref_type: i32::from(p % 2),
                    })
                    .into_iter()
                    .collect(),
                tags,
                process: service.map(|s| Process {
                    service_name: s,
                    tags: Vec::new(),
                }),
                ..Default::default()
            })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// PostSpans batches with random tags, references and per-span processes. Guarantee:
        /// a valid OTLP request with every span once (the regrouping by process and scope
        /// loses and doubles nothing).
        #[test]
        fn protobuf_spans_are_kept_one_for_one(
            spans in prop::collection::vec(span_strategy(), 0..6),
            service in "[a-z]{0,3}",
        ) {
            let n = spans.len();
            let body = PostSpansRequest {
                batch: Some(Batch {
                    spans,
                    process: Some(Process { service_name: service, tags: Vec::new() }),
                }),
            }
            .encode_to_vec();
            let request = translate::to_request(vec![proto::decode(&body).unwrap()], Source::Protobuf);
            let body = Bytes::from(request.encode_to_vec());
            prop_assert_eq!(scan_request(Signal::Traces, &body).unwrap().items, n as u64);
        }

        /// Arbitrary bytes as a Thrift batch and as PostSpans. Guarantee: no panic, and what
        /// is accepted translates into valid OTLP.
        #[test]
        fn arbitrary_bytes_never_panic(body in prop::collection::vec(any::<u8>(), 0..256)) {
            let thrift = thrift::decode(&body).ok().map(|b| (b, Source::Thrift));
            let proto = proto::decode(&body).ok().map(|b| (b, Source::Protobuf));
            for (batch, source) in [thrift, proto].into_iter().flatten() {
                let request = translate::to_request(vec![batch], source);
                let body = Bytes::from(request.encode_to_vec());
                prop_assert!(scan_request(Signal::Traces, &body).is_ok());
            }
        }
    }
}

#[test]
fn parent_is_child_of_then_follows_from_in_the_same_trace() {
    use super::model::{parent_from_references, Reference};
    let trace = [1; 16];
    let r = |trace_id, span: u8, follows_from| Reference {
        trace_id,
        span_id: [span; 8],
        follows_from,
    };
    let refs = [r([2; 16], 9, false), r(trace, 3, true), r(trace, 4, false)];
    assert_eq!(parent_from_references(trace, &refs), [4; 8]);
    assert_eq!(parent_from_references(trace, &refs[..2]), [3; 8]);
    assert_eq!(parent_from_references(trace, &refs[..1]), [0; 8]);
}
