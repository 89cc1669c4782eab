//! The Zipkin → OTLP mapping, from payloads shaped as Zipkin's documentation shows.
#![allow(clippy::unwrap_used)]

use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;
use prost::Message;

use super::proto::{ListOfSpans, ProtoAnnotation, ProtoEndpoint, Span as ProtoSpan};
use super::{model, proto, translate, v1};

fn attr<'a>(attributes: &'a [KeyValue], key: &str) -> Option<&'a Value> {
    attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref())
        .and_then(|v| v.value.as_ref())
}

fn text(s: &str) -> Value {
    Value::StringValue(s.to_owned())
}

/// zipkin-api's example, two services, plus the OTLP-era tags.
const V2: &str = r#"[
 {"traceId":"5af7183fb1d4cf5f463ac35c9f6413ad","parentId":"6b221d5bc9e6496c","id":"5b4185666d50f68b",
  "kind":"SERVER","name":"post /api","timestamp":1556604172355737,"duration":1431,
  "localEndpoint":{"serviceName":"backend","ipv4":"192.168.99.101","port":9000},
  "remoteEndpoint":{"serviceName":"frontend","ipv6":"::1","port":63965},
  "annotations":[{"timestamp":1556604172355800,"value":"wr"}],
  "tags":{"http.method":"POST","http.status_code":"500","error":"boom","host.name":"h1",
          "otel.library.name":"lib","otel.library.version":"1.2","w3c.tracestate":"a=b"}},
 {"traceId":"463ac35c9f6413ad","id":"6b221d5bc9e6496c","name":"get",
  "timestamp":1556604172355000,"duration":2000,
  "localEndpoint":{"serviceName":"frontend"},
  "tags":{"span.kind":"internal","otel.status_code":"STATUS_CODE_OK","otel.status_description":"fine","error":"true"}},
 {"traceId":"463ac35c9f6413ad","id":"0000000000000007","duration":5,"tags":{"n":"12"}}
]"#;

#[test]
fn v2_json_maps_as_the_official_translator() {
    let request = translate::to_request(model::decode_json(V2.as_bytes()).unwrap(), false).unwrap();
    let rs = &request.resource_spans;
    // Sorted by service name: the sentinel of "no service" sorts first ("O" < "b" < "f").
    assert_eq!(rs.len(), 3);
    assert!(rs[0].resource.as_ref().unwrap().attributes.is_empty());
    let no_service = &rs[0].scope_spans[0].spans[0];
    assert_eq!(no_service.start_time_unix_nano, 0);
    assert_eq!(no_service.end_time_unix_nano, 5000);
    assert_eq!(
        attr(&no_service.attributes, "otel.zipkin.absentField.startTime"),
        Some(&Value::BoolValue(true))
    );
    assert_eq!(attr(&no_service.attributes, "n"), Some(&text("12")));

    let backend = &rs[1];
    let resource = &backend.resource.as_ref().unwrap().attributes;
    assert_eq!(attr(resource, "service.name"), Some(&text("backend")));
    assert_eq!(attr(resource, "host.name"), Some(&text("h1")));
    let scope = backend.scope_spans[0].scope.as_ref().unwrap();
    assert_eq!(
        (scope.name.as_str(), scope.version.as_str()),
        ("lib", "1.2")
    );
    let span = &backend.scope_spans[0].spans[0];
    assert_eq!(hex(&span.trace_id), "5af7183fb1d4cf5f463ac35c9f6413ad");
    assert_eq!(hex(&span.span_id), "5b4185666d50f68b");
    assert_eq!(hex(&span.parent_span_id), "6b221d5bc9e6496c");
    assert_eq!(span.kind, SpanKind::Server as i32);
    assert_eq!(span.trace_state, "a=b");
    assert_eq!(span.start_time_unix_nano, 1_556_604_172_355_737_000);
    assert_eq!(span.end_time_unix_nano, 1_556_604_172_357_168_000);
    // Any `error` tag makes the status ERROR; a value other than "true" stays an attribute.
    let status = span.status.as_ref().unwrap();
    assert_eq!(status.code, StatusCode::Error as i32);
    assert_eq!(attr(&span.attributes, "error"), Some(&text("boom")));
    assert_eq!(
        attr(&span.attributes, "http.status_code"),
        Some(&text("500"))
    );
    for key in ["host.name", "otel.library.name", "w3c.tracestate"] {
        assert_eq!(attr(&span.attributes, key), None, "{key}");
    }
    assert_eq!(
        attr(&span.attributes, "net.host.ip"),
        Some(&text("192.168.99.101"))
    );
    assert_eq!(
        attr(&span.attributes, "net.host.port"),
        Some(&Value::IntValue(9000))
    );
    assert_eq!(
        attr(&span.attributes, "peer.service"),
        Some(&text("frontend"))
    );
    assert_eq!(attr(&span.attributes, "net.peer.ip"), Some(&text("::1")));
    assert_eq!(
        attr(&span.attributes, "net.peer.port"),
        Some(&Value::IntValue(63965))
    );
    assert_eq!(span.events[0].name, "wr");
    assert_eq!(span.events[0].time_unix_nano, 1_556_604_172_355_800_000);

    let frontend = &rs[2].scope_spans[0].spans[0];
    // A 64-bit trace id is the low half of the 128-bit one.
    assert_eq!(hex(&frontend.trace_id), "0000000000000000463ac35c9f6413ad");
    assert!(frontend.parent_span_id.is_empty());
    assert_eq!(frontend.kind, SpanKind::Internal as i32);
    let status = frontend.status.as_ref().unwrap();
    assert_eq!(status.code, StatusCode::Error as i32);
    assert_eq!(status.message, "fine");
    assert!(frontend.attributes.is_empty(), "{:?}", frontend.attributes);
}

#[test]
fn parse_string_tags_types_values() {
    let request = translate::to_request(model::decode_json(V2.as_bytes()).unwrap(), true).unwrap();
    let span = &request.resource_spans[0].scope_spans[0].spans[0];
    assert_eq!(attr(&span.attributes, "n"), Some(&Value::IntValue(12)));
    let backend = &request.resource_spans[1].scope_spans[0].spans[0];
    assert_eq!(
        attr(&backend.attributes, "http.status_code"),
        Some(&Value::IntValue(500))
    );
}

#[test]
fn v2_protobuf_maps_like_json() {
    let span = ProtoSpan {
        trace_id: vec![0x46; 16],
        parent_id: vec![0x6b; 8],
        id: vec![0x5b; 8],
        kind: 3,
        name: "send".into(),
        timestamp: 1_000_000,
        duration: 10,
        local_endpoint: Some(ProtoEndpoint {
            service_name: "queue".into(),
            ipv4: vec![127, 0, 0, 1],
            ipv6: Vec::new(),
            port: 0,
        }),
        remote_endpoint: None,
        annotations: vec![ProtoAnnotation {
            timestamp: 1_000_005,
            value: "ms".into(),
        }],
        tags: [("k".to_owned(), "v".to_owned())].into(),
        debug: true,
        shared: false,
    };
    let body = ListOfSpans { spans: vec![span] }.encode_to_vec();
    let request = translate::to_request(proto::decode(&body).unwrap(), false).unwrap();
    let rs = &request.resource_spans[0];
    let resource = &rs.resource.as_ref().unwrap().attributes;
    assert_eq!(attr(resource, "service.name"), Some(&text("queue")));
    let span = &rs.scope_spans[0].spans[0];
    assert_eq!(span.trace_id, vec![0x46; 16]);
    assert_eq!(span.kind, SpanKind::Producer as i32);
    assert_eq!(span.start_time_unix_nano, 1_000_000_000);
    assert_eq!(span.end_time_unix_nano, 1_000_010_000);
    assert_eq!(attr(&span.attributes, "k"), Some(&text("v")));
    assert_eq!(
        attr(&span.attributes, "net.host.ip"),
        Some(&text("127.0.0.1"))
    );
    assert_eq!(span.events[0].name, "ms");
}

/// zipkin-api's v1 example: a client span with core annotations and binary annotations.
const V1: &str = r#"[
 {"traceId":"5af7183fb1d4cf5f","name":"get /","id":"6b221d5bc9e6496c","timestamp":1556604172355737,"duration":1431,
  "annotations":[
    {"timestamp":1556604172355737,"value":"cs","endpoint":{"serviceName":"frontend","ipv4":"192.168.99.1","port":9000}},
    {"timestamp":1556604172356000,"value":"custom","endpoint":{"serviceName":"frontend"}},
    {"timestamp":1556604172357168,"value":"cr","endpoint":{"serviceName":"frontend","ipv4":"192.168.99.1","port":9000}}],
  "binaryAnnotations":[{"key":"http.path","value":"/"},{"key":"http.status_code","value":"503"},
    {"key":"census.status_code","value":"0"},{"key":"lc","value":"servlet"}]},
 {"traceId":"5af7183fb1d4cf5f","name":"local","id":"6b221d5bc9e6496d","parentId":"6b221d5bc9e6496c",
  "binaryAnnotations":[{"key":"lc","value":"worker"},{"key":"error","value":"oops"},
    {"key":"otel.status_description","value":"bad"}]}
]"#;

#[test]
fn v1_json_maps_as_the_official_translator() {
    let request = v1::to_request(V1.as_bytes(), false).unwrap();
    let rs = &request.resource_spans;
    assert_eq!(rs.len(), 2);
    let resource = &rs[0].resource.as_ref().unwrap().attributes;
    assert_eq!(attr(resource, "service.name"), Some(&text("frontend")));
    assert_eq!(attr(resource, "ipv4"), Some(&text("192.168.99.1")));
    assert_eq!(attr(resource, "port"), Some(&text("9000")));
    let span = &rs[0].scope_spans[0].spans[0];
    assert_eq!(span.kind, SpanKind::Client as i32);
    assert_eq!(hex(&span.trace_id), "00000000000000005af7183fb1d4cf5f");
    assert_eq!(span.start_time_unix_nano, 1_556_604_172_355_737_000);
    assert_eq!(span.end_time_unix_nano, 1_556_604_172_357_168_000);
    assert_eq!(span.events.len(), 1);
    assert_eq!(span.events[0].name, "custom");
    assert_eq!(attr(&span.attributes, "component"), Some(&text("servlet")));
    assert_eq!(
        attr(&span.attributes, "http.status_code"),
        Some(&text("503"))
    );
    assert_eq!(attr(&span.attributes, "census.status_code"), None);
    // census.status_code wins over http.status_code.
    assert_eq!(span.status.as_ref().unwrap().code, StatusCode::Ok as i32);

    // No core annotation: the `lc` value names the service; no time at all: now, flagged.
    let resource = &rs[1].resource.as_ref().unwrap().attributes;
    assert_eq!(attr(resource, "service.name"), Some(&text("worker")));
    let span = &rs[1].scope_spans[0].spans[0];
    assert_eq!(hex(&span.parent_span_id), "6b221d5bc9e6496c");
    assert!(span.start_time_unix_nano > 0);
    assert_eq!(
        attr(&span.attributes, "otel.zipkin.absentField.startTime"),
        Some(&Value::BoolValue(true))
    );
    let status = span.status.as_ref().unwrap();
    assert_eq!(status.code, StatusCode::Error as i32);
    assert_eq!(status.message, "bad");
    assert_eq!(attr(&span.attributes, "error"), None);
}

#[test]
fn v1_refuses_what_the_translator_refuses() {
    for (body, want) in [
        (
            r#"[{"traceId":"5af7183fb1d4cf","id":"6b221d5bc9e6496c"}]"#,
            "traceId",
        ),
        (r#"[{"traceId":"5af7183fb1d4cf5f","id":"6b22"}]"#, "id"),
        (
            r#"[{"traceId":"5af7183fb1d4cf5f","id":"6b221d5bc9e6496c","parentId":"0000000000000000"}]"#,
            "parentId",
        ),
        (r#"{"traceId":"5af7183fb1d4cf5f"}"#, "invalid Zipkin JSON"),
    ] {
        let err = v1::to_request(body.as_bytes(), false)
            .unwrap_err()
            .to_string();
        assert!(err.contains(want), "{body}: {err}");
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

mod properties {
    use bytes::Bytes;
    use proptest::prelude::*;
    use prost::Message;

    use super::super::{model, proto, translate, v1};
    use crate::otlp::scan_request;
    use crate::signal::Signal;

    /// Tag keys a translator treats specially, mixed with plain ones.
    fn tag_key() -> impl Strategy<Value = String> {
        prop_oneof![
            Just("error".to_owned()),
            Just("span.kind".to_owned()),
            Just("otel.status_code".to_owned()),
            Just("otel.library.name".to_owned()),
            Just("host.name".to_owned()),
            Just("otlp.service.name.source".to_owned()),
            Just("w3c.tracestate".to_owned()),
            "[a-z.]{1,8}",
        ]
    }

    fn span_json() -> impl Strategy<Value = serde_json::Value> {
        (
            "[0-9a-f]{1,32}",
            "[0-9a-f]{16}",
            prop::option::of("[a-z]{0,3}"),
            prop_oneof![
                Just("CLIENT"),
                Just("SERVER"),
                Just("PRODUCER"),
                Just(""),
                Just("x")
            ],
            any::<u32>(),
            prop::collection::btree_map(tag_key(), "[a-z0-9.|-]{0,6}", 0..6),
            prop::collection::vec("[a-z|]{0,6}", 0..3),
        )
            .prop_map(|(trace, id, service, kind, time, tags, notes)| {
                let annotations: Vec<_> = notes
                    .iter()
                    .map(|v| serde_json::json!({"timestamp": 5, "value": v}))
                    .collect();
                serde_json::json!({
                    "traceId": trace, "id": id, "kind": kind, "timestamp": time,
                    "localEndpoint": service.map(|s| serde_json::json!({"serviceName": s})),
                    "tags": tags, "annotations": annotations,
                })
            })
    }

    /// Every span of an accepted payload is one OTLP span of a request that scans as valid.
    fn check(
        request: &opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest,
        spans: usize,
    ) {
        let body = Bytes::from(request.encode_to_vec());
        let scanned = scan_request(Signal::Traces, &body).unwrap();
        assert_eq!(scanned.items, spans as u64);
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Zipkin v2 JSON with ids, kinds, services and tags drawn at random. Guarantee: it
        /// is refused with a reason or translated into a valid OTLP request with as many
        /// spans (no span lost or doubled by the grouping).
        #[test]
        fn v2_json_spans_are_kept_one_for_one(spans in prop::collection::vec(span_json(), 0..6)) {
            let body = serde_json::to_vec(&spans).unwrap();
            let decoded = model::decode_json(&body);
            prop_assume!(decoded.is_ok());
            let decoded = decoded.unwrap();
            if let Ok(request) = translate::to_request(decoded, true) {
                check(&request, spans.len());
            }
        }

        /// Arbitrary bytes as v2 JSON, v2 protobuf and v1 JSON. Guarantee: no panic; what is
        /// accepted is valid OTLP.
        #[test]
        fn arbitrary_bytes_never_panic(body in prop::collection::vec(any::<u8>(), 0..256)) {
            if let Ok(spans) = proto::decode(&body) {
                let n = spans.len();
                if let Ok(request) = translate::to_request(spans, false) {
                    check(&request, n);
                }
            }
            if let Ok(spans) = model::decode_json(&body) {
                let n = spans.len();
                if let Ok(request) = translate::to_request(spans, false) {
                    check(&request, n);
                }
            }
            let _ = v1::to_request(&body, true);
        }
    }
}
