//! OTLP/HTTP with requests built by hand: protobuf and JSON, compressed or not, Content-Length
//! or chunked, `Expect: 100-continue`, keep-alive, HTTP/1.0; through shardgate (two shards) to
//! the recording gRPC backend.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_types)]

mod common;

use std::io::Write;

use common::http::{connect, post, read_response, request, send, HttpConfig};
use common::{Backend, Collector, Config, WAIT};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;

fn traces(name: &str, n: usize) -> ExportTraceServiceRequest {
    let spans = (0..n)
        .map(|i| Span {
            trace_id: vec![0xab; 16],
            span_id: (i as u64 + 1).to_be_bytes().to_vec(),
            name: format!("{name}-{i}"),
            start_time_unix_nano: 1_700_000_000_000_000_000,
            end_time_unix_nano: 1_700_000_000_000_000_100,
            attributes: vec![KeyValue {
                key: "k".into(),
                value: Some(AnyValue {
                    value: Some(any_value::Value::IntValue(-(i as i64))),
                }),
                key_strindex: 0,
            }],
            ..Default::default()
        })
        .collect();
    common::spans_request(spans)
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

const METRICS_JSON: &str = r#"{"resourceMetrics":[{"resource":{"attributes":[{"key":"service.name","value":{"stringValue":"json"}}]},
 "scopeMetrics":[{"scope":{"name":"s"},"metrics":[{"name":"gauge","gauge":{"dataPoints":[
   {"asDouble":1.5,"timeUnixNano":"1700000000000000000"},{"asInt":"7","timeUnixNano":1700000000000000001}]}}]}]}]}"#;

const LOGS_JSON: &str = r#"{"resourceLogs":[{"scopeLogs":[{"logRecords":[
  {"severityNumber":9,"body":{"stringValue":"hello"},"traceId":"5B8EFFF798038103D269B633813FC60C","spanId":"EEE19B7EC3C1B174"}]}]}]}"#;

/// Scenario: protobuf and JSON requests of every signal, plain, gzip, zstd and deflate,
/// Content-Length and chunked with `Expect: 100-continue`, several on one keep-alive
/// connection, and an HTTP/1.0 one. Guarantee: each is answered 200 with an empty response
/// in its own encoding and every item reaches the backend exactly once, intact.
#[test]
fn hand_built_requests_arrive_exactly_once() {
    let backend = Backend::start();
    let config = HttpConfig::new(Config::to_backend(&backend));
    let _collector = Collector::start_yaml(&config.yaml());
    let port = config.http_port;

    // protobuf, plain.
    let r = post(
        port,
        "/v1/traces",
        "application/x-protobuf",
        None,
        &traces("pb", 3).encode_to_vec(),
    );
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.header("content-type"), Some("application/x-protobuf"));
    assert!(r.body.is_empty());
    // protobuf, gzip; zstd; deflate.
    let r = post(
        port,
        "/v1/traces",
        "application/x-protobuf",
        Some("gzip"),
        &gzip(&traces("gz", 2).encode_to_vec()),
    );
    assert_eq!(r.status, 200, "{r:?}");
    let zstd = zstd::encode_all(&traces("zs", 2).encode_to_vec()[..], 3).unwrap();
    let r = post(
        port,
        "/v1/traces",
        "application/x-protobuf",
        Some("zstd"),
        &zstd,
    );
    assert_eq!(r.status, 200, "{r:?}");
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::fast());
    z.write_all(&traces("df", 1).encode_to_vec()).unwrap();
    let r = post(
        port,
        "/v1/traces",
        "application/x-protobuf",
        Some("deflate"),
        &z.finish().unwrap(),
    );
    assert_eq!(r.status, 200, "{r:?}");

    // JSON, with a charset parameter; gzip JSON.
    let r = post(
        port,
        "/v1/metrics",
        "application/json; charset=utf-8",
        None,
        METRICS_JSON.as_bytes(),
    );
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.header("content-type"), Some("application/json"));
    assert_eq!(r.body, b"{}");
    let r = post(
        port,
        "/v1/logs",
        "application/json",
        Some("gzip"),
        &gzip(LOGS_JSON.as_bytes()),
    );
    assert_eq!(r.status, 200, "{r:?}");

    // Chunked with Expect: 100-continue, then a second request on the same connection.
    let mut stream = connect(port);
    let body = traces("chunked", 2).encode_to_vec();
    let (a, b) = body.split_at(body.len() / 2);
    let head = "POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\nTransfer-Encoding: chunked\r\nExpect: 100-continue\r\n\r\n";
    stream.write_all(head.as_bytes()).unwrap();
    let mut chunked = Vec::new();
    for part in [a, b] {
        chunked.extend_from_slice(format!("{:x}\r\n", part.len()).as_bytes());
        chunked.extend_from_slice(part);
        chunked.extend_from_slice(b"\r\n");
    }
    chunked.extend_from_slice(b"0\r\n\r\n");
    stream.write_all(&chunked).unwrap();
    let r = read_response(&mut stream).unwrap();
    assert_eq!(r.status, 200, "{r:?}");
    stream
        .write_all(&request(
            "/v1/traces",
            &[("Content-Type", "application/x-protobuf")],
            &traces("again", 1).encode_to_vec(),
        ))
        .unwrap();
    let r = read_response(&mut stream).unwrap();
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.header("connection"), None);

    // HTTP/1.0: answered, then closed.
    let body = traces("http10", 1).encode_to_vec();
    let mut raw = format!("POST /v1/traces HTTP/1.0\r\nContent-Type: application/x-protobuf\r\nContent-Length: {}\r\n\r\n", body.len()).into_bytes();
    raw.extend_from_slice(&body);
    let r = send(port, &raw);
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.header("connection"), Some("close"));

    // 3 + 2 + 2 + 1 + 2 + 1 + 1 spans, 2 points, 1 log record.
    assert!(
        backend.wait_for_items(12, 2, 1, WAIT),
        "got {:?}",
        backend.item_counts()
    );
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert_eq!(backend.item_counts(), (12, 2, 1));
    let mut names: Vec<String> = backend
        .spans()
        .iter()
        .map(|f| f.item.name.clone())
        .collect();
    names.sort();
    assert_eq!(
        names,
        [
            "again-0",
            "chunked-0",
            "chunked-1",
            "df-0",
            "gz-0",
            "gz-1",
            "http10-0",
            "pb-0",
            "pb-1",
            "pb-2",
            "zs-0",
            "zs-1"
        ]
    );
    let logs = backend.log_records();
    assert_eq!(
        hex_id(&logs[0].item.trace_id),
        "5b8efff798038103d269b633813fc60c"
    );
    assert_eq!(hex_id(&logs[0].item.span_id), "eee19b7ec3c1b174");
}

fn hex_id(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Scenario: a client holds an idle keep-alive connection (and another has sent half a head)
/// when shardgate gets SIGTERM. Guarantee: the data already acknowledged reaches the backend,
/// the idle connection is closed by the server, and shardgate exits 0 well within its drain
/// timeout instead of waiting for the clients.
#[test]
fn drain_closes_idle_keep_alive_connections() {
    let backend = Backend::start();
    let config = HttpConfig::new(Config::to_backend(&backend));
    let mut collector = Collector::start_yaml(&config.yaml());
    let port = config.http_port;
    let mut idle = connect(port);
    idle.write_all(&request(
        "/v1/traces",
        &[("Content-Type", "application/x-protobuf")],
        &traces("before-drain", 2).encode_to_vec(),
    ))
    .unwrap();
    assert_eq!(read_response(&mut idle).unwrap().status, 200);
    let mut partial = connect(port);
    partial
        .write_all(b"POST /v1/traces HTTP/1.1\r\nHost: x\r\n")
        .unwrap();

    let started = std::time::Instant::now();
    collector.sigterm();
    let status = collector.wait_exit(WAIT);
    assert!(status.success(), "{status:?}\n{}", collector.logs());
    assert!(
        started.elapsed() < std::time::Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
    assert!(common::http::closed_within(
        &mut idle,
        std::time::Duration::from_secs(5)
    ));
    assert_eq!(backend.item_counts().0, 2);
}
