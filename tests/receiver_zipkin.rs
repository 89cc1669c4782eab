//! The `zipkin` receiver end to end: Zipkin v2 JSON (plain and gzip), v2 protobuf and v1
//! JSON posted by hand, and the OpenTelemetry SDK's Zipkin exporter, through shardgate (two
//! shards) to the recording gRPC backend; and the answers to what a Zipkin server refuses.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_types)]

mod common;

use std::io::Write;
use std::time::Duration;

use common::http::{post, send, Response};
use common::{free_port, Backend, Collector, Config, Flat, WAIT};
use opentelemetry::trace::{Span as _, SpanKind as SdkKind, Tracer as _, TracerProvider as _};
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;
use opentelemetry_proto::tonic::trace::v1::Span;

/// A collector taking Zipkin on a free port (with `extra` lines in the receiver's body) into
/// the traces pipeline next to OTLP, exporting to `backend`, with its metrics on another;
/// and those ports.
fn start_with_metrics(backend: &Backend, extra: &str) -> (Collector, u16, u16) {
    let (port, metrics) = (free_port(), free_port());
    let receiver = format!("  zipkin:\n    endpoint: 127.0.0.1:{port}\n{extra}");
    let yaml = Config::to_backend(backend)
        .yaml()
        .replacen("receivers:\n", &format!("receivers:\n{receiver}"), 1)
        .replacen(
            "  telemetry:\n",
            &format!("  telemetry:\n    metrics:\n      address: 127.0.0.1:{metrics}\n"),
            1,
        )
        .replacen(
            "traces:\n      receivers: [otlp]",
            "traces:\n      receivers: [otlp, zipkin]",
            1,
        );
    (Collector::start_yaml(&yaml), port, metrics)
}

fn start(backend: &Backend, extra: &str) -> (Collector, u16) {
    let (collector, port, _) = start_with_metrics(backend, extra);
    (collector, port)
}

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

fn service(span: &Flat<Span>) -> Option<&Value> {
    attr(&span.resource.as_ref()?.attributes, "service.name")
}

fn named<'a>(spans: &'a [Flat<Span>], name: &str) -> &'a Flat<Span> {
    let found: Vec<_> = spans.iter().filter(|s| s.item.name == name).collect();
    assert_eq!(found.len(), 1, "span {name} once in {:?}", spans.len());
    found[0]
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn accepted(r: &Response) {
    assert_eq!(r.status, 202, "{r:?} {}", String::from_utf8_lossy(&r.body));
    assert!(r.body.is_empty());
}

/// As zipkin-api's documentation shows a v2 span, with OTLP-era tags.
const V2_JSON: &str = r#"[{"traceId":"5af7183fb1d4cf5f463ac35c9f6413ad","parentId":"6b221d5bc9e6496c",
 "id":"5b4185666d50f68b","kind":"CLIENT","name":"v2-json","timestamp":1556604172355737,"duration":1431,
 "localEndpoint":{"serviceName":"frontend","ipv4":"192.168.99.1"},
 "remoteEndpoint":{"serviceName":"backend","ipv4":"172.19.0.2","port":9000},
 "annotations":[{"timestamp":1556604172355800,"value":"ws"}],
 "tags":{"http.method":"GET","http.path":"/api","error":"true"}}]"#;

const V2_GZIP_JSON: &str = r#"[{"traceId":"463ac35c9f6413ad","id":"00000000000000a1","name":"v2-gzip",
 "kind":"SERVER","timestamp":1556604172355737,"duration":5,"localEndpoint":{"serviceName":"backend"},
 "tags":{"otel.status_code":"STATUS_CODE_OK"}}]"#;

const V1_JSON: &str = r#"[{"traceId":"5af7183fb1d4cf5f","name":"v1-json","id":"6b221d5bc9e6496c",
 "annotations":[
  {"timestamp":1556604172355737,"value":"sr","endpoint":{"serviceName":"legacy","ipv4":"10.0.0.7","port":80}},
  {"timestamp":1556604172357168,"value":"ss","endpoint":{"serviceName":"legacy","ipv4":"10.0.0.7","port":80}}],
 "binaryAnnotations":[{"key":"http.url","value":"/old"}]}]"#;

/// Zipkin v2 protobuf `ListOfSpans` with one span, written field by field from zipkin.proto
/// (so the test does not share the receiver's own message types).
fn v2_protobuf() -> Vec<u8> {
    fn field(out: &mut Vec<u8>, tag: u8, wire: u8, payload: &[u8]) {
        out.push((tag << 3) | wire);
        if wire == 2 {
            out.push(u8::try_from(payload.len()).unwrap());
        }
        out.extend_from_slice(payload);
    }
    let mut endpoint = Vec::new();
    field(&mut endpoint, 1, 2, b"queue");
    let mut tag = Vec::new();
    field(&mut tag, 1, 2, b"messaging.system");
    field(&mut tag, 2, 2, b"kafka");
    let mut span = Vec::new();
    field(&mut span, 1, 2, &[0x11; 16]); // trace_id
    field(&mut span, 3, 2, &[0x22; 8]); // id
    field(&mut span, 4, 0, &[3]); // kind PRODUCER
    field(&mut span, 5, 2, b"v2-proto"); // name
    field(&mut span, 6, 1, &1_556_604_172_355_737u64.to_le_bytes()); // timestamp, fixed64
    field(&mut span, 7, 0, &[100]); // duration 100 µs
    field(&mut span, 8, 2, &endpoint); // local_endpoint
    field(&mut span, 11, 2, &tag); // tags entry
    let mut list = Vec::new();
    field(&mut list, 1, 2, &span);
    list
}

/// Scenario: v2 JSON, gzip v2 JSON, v2 protobuf and v1 JSON posted to one receiver on two
/// shards. Guarantee: each is answered 202 with no body, and each span reaches the backend
/// once, mapped as otelcol's zipkin translator maps it (service → resource, kind, ids,
/// times in ns, endpoints → net/peer attributes, error tag → status, annotations → events).
#[test]
fn zipkin_payloads_reach_the_backend_mapped() {
    let backend = Backend::start();
    let (_collector, port, metrics) = start_with_metrics(&backend, "");
    accepted(&post(
        port,
        "/api/v2/spans",
        "application/json",
        None,
        V2_JSON.as_bytes(),
    ));
    accepted(&post(
        port,
        "/api/v2/spans",
        "application/json; charset=utf-8",
        Some("gzip"),
        &gzip(V2_GZIP_JSON.as_bytes()),
    ));
    accepted(&post(
        port,
        "/api/v2/spans",
        "application/x-protobuf",
        None,
        &v2_protobuf(),
    ));
    accepted(&post(
        port,
        "/api/v1/spans",
        "application/json",
        None,
        V1_JSON.as_bytes(),
    ));
    assert!(backend.wait_for_items(4, 0, 0, WAIT), "4 spans delivered");
    std::thread::sleep(Duration::from_millis(300));
    let spans = backend.spans();
    assert_eq!(spans.len(), 4, "each span once");
    let accepted_spans = common::metric_sum(
        metrics,
        "otelcol_receiver_accepted_spans_total{receiver=\"zipkin\"",
        "transport=\"http\"",
    );
    assert_eq!(
        accepted_spans, 4.0,
        "otelcol_receiver_accepted_spans_total counts them"
    );

    let s = named(&spans, "v2-json");
    assert_eq!(service(s), Some(&text("frontend")));
    assert_eq!(s.item.kind, SpanKind::Client as i32);
    assert_eq!(hex(&s.item.trace_id), "5af7183fb1d4cf5f463ac35c9f6413ad");
    assert_eq!(hex(&s.item.parent_span_id), "6b221d5bc9e6496c");
    assert_eq!(s.item.start_time_unix_nano, 1_556_604_172_355_737_000);
    assert_eq!(s.item.end_time_unix_nano, 1_556_604_172_357_168_000);
    assert_eq!(
        s.item.status.as_ref().unwrap().code,
        StatusCode::Error as i32
    );
    assert_eq!(attr(&s.item.attributes, "error"), None);
    assert_eq!(attr(&s.item.attributes, "http.path"), Some(&text("/api")));
    assert_eq!(
        attr(&s.item.attributes, "net.host.ip"),
        Some(&text("192.168.99.1"))
    );
    assert_eq!(
        attr(&s.item.attributes, "peer.service"),
        Some(&text("backend"))
    );
    assert_eq!(
        attr(&s.item.attributes, "net.peer.port"),
        Some(&Value::IntValue(9000))
    );
    assert_eq!(s.item.events[0].name, "ws");

    let s = named(&spans, "v2-gzip");
    assert_eq!(service(s), Some(&text("backend")));
    assert_eq!(hex(&s.item.trace_id), "0000000000000000463ac35c9f6413ad");
    assert_eq!(s.item.status.as_ref().unwrap().code, StatusCode::Ok as i32);

    let s = named(&spans, "v2-proto");
    assert_eq!(service(s), Some(&text("queue")));
    assert_eq!(s.item.kind, SpanKind::Producer as i32);
    assert_eq!(s.item.trace_id, vec![0x11; 16]);
    assert_eq!(
        s.item.end_time_unix_nano - s.item.start_time_unix_nano,
        100_000
    );
    assert_eq!(
        attr(&s.item.attributes, "messaging.system"),
        Some(&text("kafka"))
    );

    let s = named(&spans, "v1-json");
    assert_eq!(service(s), Some(&text("legacy")));
    let resource = &s.resource.as_ref().unwrap().attributes;
    assert_eq!(attr(resource, "ipv4"), Some(&text("10.0.0.7")));
    assert_eq!(s.item.kind, SpanKind::Server as i32);
    assert_eq!(attr(&s.item.attributes, "http.url"), Some(&text("/old")));
}

/// Scenario: the OpenTelemetry SDK's Zipkin exporter (a real Zipkin client: v2 JSON to
/// `/api/v2/spans`) sends spans with attributes, a kind and an error status. Guarantee:
/// every span arrives once with its endpoint, attributes (typed by `parse_string_tags`), kind
/// and status.
///
/// The crate is deprecated (OpenTelemetry recommends OTLP, which Zipkin now takes), but it is
/// still a Zipkin v2 JSON client as deployed services run it.
#[test]
#[allow(deprecated)]
fn the_sdk_zipkin_exporter_is_received() {
    const SPANS: usize = 20;
    // reqwest here is built on rustls without a provider (as shardgate uses ring); Err means
    // another test of this binary installed it.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let backend = Backend::start();
    let (_collector, port) = start(&backend, "    parse_string_tags: true\n");
    let exporter = opentelemetry_zipkin::ZipkinExporter::builder()
        .with_collector_endpoint(format!("http://127.0.0.1:{port}/api/v2/spans"))
        .with_service_address("10.1.2.3:8080".parse().unwrap())
        .build()
        .unwrap();
    let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder()
        .with_simple_exporter(exporter)
        .with_resource(
            opentelemetry_sdk::Resource::builder()
                .with_service_name("sdk-zipkin")
                .build(),
        )
        .build();
    let tracer = provider.tracer("zipkin-test");
    for i in 0..SPANS {
        let mut span = tracer
            .span_builder(format!("sdk-{i}"))
            .with_kind(SdkKind::Server)
            .start(&tracer);
        span.set_attribute(opentelemetry::KeyValue::new("i", i as i64));
        span.set_attribute(opentelemetry::KeyValue::new("s", format!("value-{i}")));
        if i == 0 {
            span.set_status(opentelemetry::trace::Status::error("failed"));
        }
        span.end();
    }
    provider.shutdown().unwrap();
    assert!(backend.wait_for_items(SPANS, 0, 0, WAIT), "spans delivered");
    let spans = backend.spans();
    assert_eq!(spans.len(), SPANS);
    for i in 0..SPANS {
        let s = named(&spans, &format!("sdk-{i}"));
        // This exporter's localEndpoint carries the service address and no service name, so
        // the span is in a resource without one, as otelcol's translator leaves it.
        assert_eq!(service(s), None);
        assert_eq!(
            attr(&s.item.attributes, "net.host.ip"),
            Some(&text("10.1.2.3"))
        );
        assert_eq!(
            attr(&s.item.attributes, "net.host.port"),
            Some(&Value::IntValue(8080))
        );
        assert_eq!(s.item.kind, SpanKind::Server as i32);
        // parse_string_tags: the exporter sends every tag as a string.
        assert_eq!(
            attr(&s.item.attributes, "i"),
            Some(&Value::IntValue(i as i64))
        );
        assert_eq!(
            attr(&s.item.attributes, "s"),
            Some(&text(&format!("value-{i}")))
        );
        let want = if i == 0 {
            StatusCode::Error
        } else {
            StatusCode::Unset
        };
        assert_eq!(s.item.status.as_ref().unwrap().code, want as i32, "sdk-{i}");
        assert!(s.item.end_time_unix_nano >= s.item.start_time_unix_nano);
    }
}

/// Scenario: requests a Zipkin server refuses, each on its own connection, with a body limit
/// of 4 KiB. Guarantee: each gets its status with a readable reason (400 malformed JSON or
/// protobuf or ids, 415 unknown content type, v1 Thrift or coding, 413 over the limit raw or
/// decompressed, 404 other path, 405 other method) and nothing reaches the backend; a
/// valid request afterwards is taken.
#[test]
fn refusals_are_clear_and_harm_nothing() {
    let backend = Backend::start();
    let (_collector, port) = start(&backend, "    max_request_body_size: 4096\n");
    let v2 = "/api/v2/spans";
    let cases: Vec<(Response, u16, &str)> = vec![
        (
            post(port, v2, "application/json", None, b"[{\"traceId\":"),
            400,
            "invalid Zipkin JSON",
        ),
        (
            post(
                port,
                v2,
                "application/json",
                None,
                br#"[{"traceId":"xyz","id":"1"}]"#,
            ),
            400,
            "traceId",
        ),
        (
            post(port, v2, "application/x-protobuf", None, &[0x0a, 0x05, 1]),
            400,
            "protobuf",
        ),
        (post(port, v2, "text/plain", None, b"x"), 415, "text/plain"),
        (
            post(port, "/api/v1/spans", "application/x-thrift", None, b"x"),
            415,
            "Thrift",
        ),
        (
            post(port, v2, "application/json", Some("br"), b"x"),
            415,
            "br",
        ),
        (
            post(port, v2, "application/json", None, &vec![b' '; 5000]),
            413,
            "",
        ),
        (
            post(
                port,
                v2,
                "application/json",
                Some("gzip"),
                &gzip(&vec![b' '; 100_000]),
            ),
            413,
            "",
        ),
        (
            post(port, "/api/v3/spans", "application/json", None, b"[]"),
            404,
            "/api/v3/spans",
        ),
        (
            send(port, b"GET /api/v2/spans HTTP/1.1\r\nHost: x\r\n\r\n"),
            405,
            "POST",
        ),
    ];
    for (response, status, reason) in cases {
        let body = String::from_utf8_lossy(&response.body).to_string();
        assert_eq!(response.status, status, "{body}");
        assert!(body.contains(reason), "{status}: {body}");
    }
    accepted(&post(
        port,
        v2,
        "application/json",
        None,
        V2_JSON.as_bytes(),
    ));
    assert!(backend.wait_for_items(1, 0, 0, WAIT));
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(backend.spans().len(), 1, "only the valid request's span");
}

/// Scenario: a memory_limiter below any process's RSS in the traces pipeline. Guarantee: a
/// Zipkin client is told 503 with `Retry-After`, which Zipkin reporters retry.
#[test]
fn memory_pressure_is_a_retryable_503() {
    let port = free_port();
    let yaml = format!(
        "receivers:
  zipkin:
    endpoint: 127.0.0.1:{port}
processors:
  memory_limiter:
    check_interval: 20ms
    limit_mib: 2
    spike_limit_mib: 1
exporters:
  debug:
service:
  telemetry:
    metrics:
      level: none
  pipelines:
    traces:
      receivers: [zipkin]
      processors: [memory_limiter]
      exporters: [debug]
"
    );
    let _collector = Collector::start_yaml(&yaml);
    std::thread::sleep(Duration::from_millis(300));
    let r = post(
        port,
        "/api/v2/spans",
        "application/json",
        None,
        V2_JSON.as_bytes(),
    );
    assert_eq!(r.status, 503, "{}", String::from_utf8_lossy(&r.body));
    assert!(r.header("retry-after").is_some(), "{:?}", r.headers);
    assert!(String::from_utf8_lossy(&r.body).contains("high memory usage"));
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
