//! The `jaeger` receiver end to end: api_v2 `PostSpans` from a tonic gRPC client (plain and
//! gzip) and Thrift batches posted to `/api/traces`, through shardgate (two shards) to the
//! recording gRPC backend; and the answers to what it refuses.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_types)]

mod common;

use std::time::Duration;

use common::http::post;
use common::{free_port, Backend, Collector, Config, Flat, WAIT};
use http::uri::PathAndQuery;
use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::KeyValue as OtlpKeyValue;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use opentelemetry_proto::tonic::trace::v1::status::StatusCode;
use opentelemetry_proto::tonic::trace::v1::Span as OtlpSpan;
use tonic::codec::CompressionEncoding;

/// jaeger-idl's api_v2 messages (model.proto, collector.proto), the fields this test sends;
/// written here so the test does not share the receiver's own declarations.
mod api_v2 {
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct PostSpansRequest {
        #[prost(message, optional, tag = "1")]
        pub batch: Option<Batch>,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct PostSpansResponse {}
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Batch {
        #[prost(message, repeated, tag = "1")]
        pub spans: Vec<Span>,
        #[prost(message, optional, tag = "2")]
        pub process: Option<Process>,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Span {
        #[prost(bytes = "vec", tag = "1")]
        pub trace_id: Vec<u8>,
        #[prost(bytes = "vec", tag = "2")]
        pub span_id: Vec<u8>,
        #[prost(string, tag = "3")]
        pub operation_name: String,
        #[prost(message, repeated, tag = "4")]
        pub references: Vec<SpanRef>,
        #[prost(message, optional, tag = "6")]
        pub start_time: Option<Timestamp>,
        #[prost(message, optional, tag = "7")]
        pub duration: Option<Timestamp>,
        #[prost(message, repeated, tag = "8")]
        pub tags: Vec<KeyValue>,
        #[prost(message, repeated, tag = "9")]
        pub logs: Vec<Log>,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct SpanRef {
        #[prost(bytes = "vec", tag = "1")]
        pub trace_id: Vec<u8>,
        #[prost(bytes = "vec", tag = "2")]
        pub span_id: Vec<u8>,
        #[prost(int32, tag = "3")]
        pub ref_type: i32,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Process {
        #[prost(string, tag = "1")]
        pub service_name: String,
        #[prost(message, repeated, tag = "2")]
        pub tags: Vec<KeyValue>,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Log {
        #[prost(message, optional, tag = "1")]
        pub timestamp: Option<Timestamp>,
        #[prost(message, repeated, tag = "2")]
        pub fields: Vec<KeyValue>,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct KeyValue {
        #[prost(string, tag = "1")]
        pub key: String,
        #[prost(int32, tag = "2")]
        pub v_type: i32,
        #[prost(string, tag = "3")]
        pub v_str: String,
        #[prost(bool, tag = "4")]
        pub v_bool: bool,
        #[prost(int64, tag = "5")]
        pub v_int64: i64,
    }
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Timestamp {
        #[prost(int64, tag = "1")]
        pub seconds: i64,
        #[prost(int32, tag = "2")]
        pub nanos: i32,
    }
}

use api_v2::{Batch, KeyValue, Log, PostSpansRequest, PostSpansResponse, Process, Span, SpanRef};

/// A collector taking Jaeger gRPC and Thrift HTTP on free ports (`extra` lines under
/// `thrift_http`) into the traces pipeline next to OTLP; and those ports.
fn start(backend: &Backend, extra: &str) -> (Collector, u16, u16) {
    let (collector, grpc, http, _) = start_with_metrics(backend, extra);
    (collector, grpc, http)
}

/// As [`start`], with the collector's metrics on a free port (the last one returned).
fn start_with_metrics(backend: &Backend, extra: &str) -> (Collector, u16, u16, u16) {
    let (grpc, http, metrics) = (free_port(), free_port(), free_port());
    let receiver = format!(
        "  jaeger:\n    protocols:\n      grpc:\n        endpoint: 127.0.0.1:{grpc}\n      thrift_http:\n        endpoint: 127.0.0.1:{http}\n{extra}"
    );
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
            "traces:\n      receivers: [otlp, jaeger]",
            1,
        );
    (Collector::start_yaml(&yaml), grpc, http, metrics)
}

fn kv(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.into(),
        v_str: value.into(),
        ..Default::default()
    }
}

fn time(seconds: i64, nanos: i32) -> Option<api_v2::Timestamp> {
    Some(api_v2::Timestamp { seconds, nanos })
}

fn post_spans_request(service: &str, names: &[&str]) -> PostSpansRequest {
    let trace_id: Vec<u8> = (1..=16).collect();
    let spans = names
        .iter()
        .enumerate()
        .map(|(i, name)| Span {
            trace_id: trace_id.clone(),
            span_id: vec![u8::try_from(i + 1).unwrap(); 8],
            operation_name: (*name).to_owned(),
            references: if i == 0 {
                Vec::new()
            } else {
                vec![SpanRef {
                    trace_id: trace_id.clone(),
                    span_id: vec![1; 8],
                    ref_type: 0,
                }]
            },
            start_time: time(1_700_000_000, 0),
            duration: time(0, 2_000_000),
            tags: vec![
                kv("span.kind", "server"),
                KeyValue {
                    key: "error".into(),
                    v_type: 1,
                    v_bool: i == 0,
                    ..Default::default()
                },
                KeyValue {
                    key: "n".into(),
                    v_type: 2,
                    v_int64: i64::try_from(i).unwrap(),
                    ..Default::default()
                },
            ],
            logs: vec![Log {
                timestamp: time(1_700_000_000, 1_000),
                fields: vec![kv("event", "checkpoint"), kv("detail", "x")],
            }],
        })
        .collect();
    PostSpansRequest {
        batch: Some(Batch {
            spans,
            process: Some(Process {
                service_name: service.into(),
                tags: vec![kv("hostname", "jaeger-host")],
            }),
        }),
    }
}

/// Calls PostSpans with tonic (gzip-compressed when asked).
fn call_post_spans(
    port: u16,
    request: PostSpansRequest,
    gzip: bool,
) -> Result<PostSpansResponse, tonic::Status> {
    common::runtime().block_on(async move {
        let channel = tonic::transport::Endpoint::from_shared(format!("http://127.0.0.1:{port}"))
            .unwrap()
            .connect()
            .await
            .expect("connect");
        let mut client = tonic::client::Grpc::new(channel);
        if gzip {
            client = client.send_compressed(CompressionEncoding::Gzip);
        }
        client.ready().await.expect("ready");
        let path = PathAndQuery::from_static("/jaeger.api_v2.CollectorService/PostSpans");
        let codec = tonic_prost::ProstCodec::<PostSpansRequest, PostSpansResponse>::default();
        let call = client.unary(tonic::Request::new(request), path, codec);
        tokio::time::timeout(Duration::from_secs(10), call)
            .await
            .expect("answered within 10 s")
            .map(tonic::Response::into_inner)
    })
}

/// A minimal Thrift binary writer: what jaeger-client's HTTP sender writes (TBinaryProtocol).
#[derive(Default)]
struct Thrift(Vec<u8>);

const T_STOP: u8 = 0;
const T_I32: u8 = 8;
const T_I64: u8 = 10;
const T_STRING: u8 = 11;
const T_STRUCT: u8 = 12;
const T_LIST: u8 = 15;

impl Thrift {
    fn field(&mut self, kind: u8, id: i16) -> &mut Self {
        self.0.push(kind);
        self.0.extend_from_slice(&id.to_be_bytes());
        self
    }
    fn i32(&mut self, v: i32) -> &mut Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    fn i64(&mut self, v: i64) -> &mut Self {
        self.0.extend_from_slice(&v.to_be_bytes());
        self
    }
    fn string(&mut self, s: &str) -> &mut Self {
        self.i32(i32::try_from(s.len()).unwrap());
        self.0.extend_from_slice(s.as_bytes());
        self
    }
    fn list(&mut self, n: i32) -> &mut Self {
        self.0.push(T_STRUCT);
        self.i32(n)
    }
    fn stop(&mut self) -> &mut Self {
        self.0.push(T_STOP);
        self
    }
    /// A `Tag` of type STRING.
    fn tag(&mut self, key: &str, value: &str) -> &mut Self {
        self.field(T_STRING, 1).string(key);
        self.field(T_I32, 2).i32(0);
        self.field(T_STRING, 3).string(value).stop()
    }
}

/// jaeger.thrift `Batch`: process `service` with a tag, one span `name`.
fn thrift_batch(service: &str, name: &str) -> Vec<u8> {
    let mut t = Thrift::default();
    t.field(T_STRUCT, 1).field(T_STRING, 1).string(service);
    t.field(T_LIST, 2).list(1).tag("client-uuid", "abc").stop();
    t.field(T_LIST, 2).list(1);
    t.field(T_I64, 1).i64(0x0a0b).field(T_I64, 2).i64(0x01);
    t.field(T_I64, 3).i64(0x77).field(T_I64, 4).i64(0);
    t.field(T_STRING, 5).string(name);
    t.field(T_I32, 7).i32(1);
    t.field(T_I64, 8).i64(1_700_000_000_000_000);
    t.field(T_I64, 9).i64(1_500);
    t.field(T_LIST, 10).list(1).tag("span.kind", "client");
    t.stop();
    t.stop();
    t.0
}

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

fn named<'a>(spans: &'a [Flat<OtlpSpan>], name: &str) -> &'a Flat<OtlpSpan> {
    let found: Vec<_> = spans.iter().filter(|s| s.item.name == name).collect();
    assert_eq!(found.len(), 1, "span {name} once");
    found[0]
}

fn resource_attr<'a>(span: &'a Flat<OtlpSpan>, key: &str) -> Option<&'a Value> {
    attr(&span.resource.as_ref()?.attributes, key)
}

/// Scenario: PostSpans from tonic, plain and gzip, and a Thrift batch posted by HTTP, to one
/// receiver on two shards. Guarantee: gRPC answers OK, HTTP 202, and every span reaches the
/// backend once, mapped as otelcol's jaeger translator maps it (process → resource with
/// `hostname` → `host.name`, parent from the CHILD_OF reference, `span.kind`, `error=true` →
/// ERROR, logs → events named by their `event` field, µs/Timestamp → ns).
#[test]
fn jaeger_batches_reach_the_backend_mapped() {
    let backend = Backend::start();
    let (_collector, grpc, http, metrics) = start_with_metrics(&backend, "");
    call_post_spans(
        grpc,
        post_spans_request("grpc-svc", &["g-root", "g-child"]),
        false,
    )
    .expect("PostSpans accepted");
    call_post_spans(grpc, post_spans_request("gzip-svc", &["z-root"]), true)
        .expect("gzip PostSpans accepted");
    let r = post(
        http,
        "/api/traces",
        "application/x-thrift",
        None,
        &thrift_batch("thrift-svc", "t-span"),
    );
    assert_eq!(r.status, 202, "{}", String::from_utf8_lossy(&r.body));
    assert!(backend.wait_for_items(4, 0, 0, WAIT), "4 spans delivered");
    std::thread::sleep(Duration::from_millis(300));
    let spans = backend.spans();
    assert_eq!(spans.len(), 4, "each span once");
    let accepted = |transport: &str| {
        common::metric_sum(
            metrics,
            "otelcol_receiver_accepted_spans_total{receiver=\"jaeger\"",
            &format!("transport=\"{transport}\""),
        )
    };
    assert_eq!(
        accepted("grpc"),
        3.0,
        "gRPC spans counted under otelcol's label"
    );
    assert_eq!(accepted("collector_http"), 1.0, "Thrift spans likewise");

    let root = named(&spans, "g-root");
    assert_eq!(resource_attr(root, "service.name"), Some(&text("grpc-svc")));
    assert_eq!(resource_attr(root, "host.name"), Some(&text("jaeger-host")));
    assert_eq!(root.item.trace_id, (1..=16).collect::<Vec<u8>>());
    assert_eq!(root.item.kind, SpanKind::Server as i32);
    assert_eq!(
        root.item.status.as_ref().unwrap().code,
        StatusCode::Error as i32
    );
    assert_eq!(root.item.start_time_unix_nano, 1_700_000_000_000_000_000);
    assert_eq!(root.item.end_time_unix_nano, 1_700_000_000_002_000_000);
    assert_eq!(root.item.events[0].name, "checkpoint");
    assert_eq!(
        attr(&root.item.events[0].attributes, "detail"),
        Some(&text("x"))
    );

    let child = named(&spans, "g-child");
    assert_eq!(child.item.parent_span_id, vec![1; 8]);
    assert!(child.item.links.is_empty());
    assert_eq!(
        attr(&child.item.attributes, "error"),
        Some(&Value::BoolValue(false))
    );
    assert_eq!(attr(&child.item.attributes, "n"), Some(&Value::IntValue(1)));

    let zipped = named(&spans, "z-root");
    assert_eq!(
        resource_attr(zipped, "service.name"),
        Some(&text("gzip-svc"))
    );

    let thrift = named(&spans, "t-span");
    assert_eq!(
        resource_attr(thrift, "service.name"),
        Some(&text("thrift-svc"))
    );
    assert_eq!(resource_attr(thrift, "client-uuid"), Some(&text("abc")));
    assert_eq!(thrift.item.kind, SpanKind::Client as i32);
    let mut want = [0u8; 16];
    want[7] = 1;
    want[14] = 0x0a;
    want[15] = 0x0b;
    assert_eq!(thrift.item.trace_id, want);
    assert_eq!(
        thrift.item.end_time_unix_nano - thrift.item.start_time_unix_nano,
        1_500_000
    );
}

/// Scenario: what the receiver refuses: a PostSpans message that is not protobuf, a gRPC call
/// to another method, Thrift bytes that do not decode, a JSON body, a body over a 4 KiB
/// limit, another path. Guarantee: gRPC INVALID_ARGUMENT / UNIMPLEMENTED, HTTP 400 / 415 /
/// 413 / 404 with the reason, and nothing reaches the backend; the shard then takes a valid
/// batch.
#[test]
fn refusals_are_clear_and_harm_nothing() {
    let backend = Backend::start();
    let (_collector, grpc, http) = start(&backend, "        max_request_body_size: 4096\n");
    let status = common::runtime().block_on(async move {
        let channel = tonic::transport::Endpoint::from_shared(format!("http://127.0.0.1:{grpc}"))
            .unwrap()
            .connect()
            .await
            .unwrap();
        let mut client = tonic::client::Grpc::new(channel);
        client.ready().await.unwrap();
        // A trace id of 5 bytes.
        let mut bad = post_spans_request("x", &["bad"]);
        bad.batch.as_mut().unwrap().spans[0].trace_id = vec![1; 5];
        let codec = tonic_prost::ProstCodec::<PostSpansRequest, PostSpansResponse>::default();
        let path = PathAndQuery::from_static("/jaeger.api_v2.CollectorService/PostSpans");
        let invalid = client
            .unary(tonic::Request::new(bad), path, codec)
            .await
            .unwrap_err();
        client.ready().await.unwrap();
        let codec = tonic_prost::ProstCodec::<PostSpansRequest, PostSpansResponse>::default();
        let path = PathAndQuery::from_static("/jaeger.api_v2.SamplingManager/GetSamplingStrategy");
        let unknown = client
            .unary(
                tonic::Request::new(PostSpansRequest::default()),
                path,
                codec,
            )
            .await
            .unwrap_err();
        (invalid, unknown)
    });
    assert_eq!(
        status.0.code(),
        tonic::Code::InvalidArgument,
        "{:?}",
        status.0
    );
    assert!(
        status.0.message().contains("trace_id is 5 bytes"),
        "{:?}",
        status.0
    );
    assert_eq!(
        status.1.code(),
        tonic::Code::Unimplemented,
        "{:?}",
        status.1
    );

    let cases = [
        (
            post(
                http,
                "/api/traces",
                "application/x-thrift",
                None,
                &[12, 0, 1, 11],
            ),
            400,
            "Thrift",
        ),
        (
            post(http, "/api/traces", "application/json", None, b"{}"),
            415,
            "application/json",
        ),
        (
            post(
                http,
                "/api/traces",
                "application/x-thrift",
                None,
                &vec![0; 5000],
            ),
            413,
            "",
        ),
        (
            post(http, "/api/spans", "application/x-thrift", None, b""),
            404,
            "/api/traces",
        ),
    ];
    for (response, status, reason) in cases {
        let body = String::from_utf8_lossy(&response.body).to_string();
        assert_eq!(response.status, status, "{body}");
        assert!(body.contains(reason), "{status}: {body}");
    }
    let r = post(
        http,
        "/api/traces",
        "application/vnd.apache.thrift.binary",
        None,
        &thrift_batch("ok", "valid"),
    );
    assert_eq!(r.status, 202);
    assert!(backend.wait_for_items(1, 0, 0, WAIT));
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(backend.spans().len(), 1, "only the valid batch's span");
}
