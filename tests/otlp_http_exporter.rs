//! The `otlphttp` exporter end to end: OTLP/gRPC in (generated tonic clients) → shardgate (two
//! shards, batch) → `otlphttp` out to a recording HTTP/1.1 backend. Every item must arrive
//! exactly once and intact (decoded requests compared item by item with their resource and
//! scope), in every encoding × compression; retryable and permanent backend answers are
//! handled as the OTLP/HTTP spec says.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::http_backend::HttpBackend;
use common::{
    assert_same_items, flatten_logs, flatten_metrics, flatten_traces, free_port, hex, two_shards,
    wait_until, Collector, WAIT,
};
use opentelemetry_proto::tonic::collector::logs::v1::logs_service_client::LogsServiceClient;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_client::MetricsServiceClient;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{
    any_value::Value as V, AnyValue, ArrayValue, InstrumentationScope, KeyValue,
};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::metrics::v1::{
    metric, number_data_point, Gauge, Histogram, HistogramDataPoint, Metric, NumberDataPoint,
    ResourceMetrics, ScopeMetrics, Sum,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{
    span, status, ResourceSpans, ScopeSpans, Span, Status,
};
use prost::Message;
use tonic::transport::Channel;

/// Requests of each signal sent per test.
const REQUESTS: u64 = 6;

fn kv(key: &str, value: V) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(value) }),
        ..Default::default()
    }
}

fn attrs(n: u64) -> Vec<KeyValue> {
    vec![
        kv("s", V::StringValue(format!("text-{n} ü ✓ \"q\""))),
        kv("i", V::IntValue(-(n as i64) * 1_000_000_007)),
        kv("d", V::DoubleValue(n as f64 + 0.25)),
        kv("b", V::BoolValue(n.is_multiple_of(2))),
        kv("bytes", V::BytesValue(vec![0, 255, n as u8, 10])),
        kv(
            "arr",
            V::ArrayValue(ArrayValue {
                values: vec![AnyValue {
                    value: Some(V::IntValue(n as i64)),
                }],
            }),
        ),
    ]
}

fn resource(batch: u64, r: u64) -> Option<Resource> {
    Some(Resource {
        attributes: vec![kv(
            "service.name",
            V::StringValue(format!("svc-{batch}-{r}")),
        )],
        dropped_attributes_count: 0,
        entity_refs: vec![],
    })
}

fn scope(r: u64) -> Option<InstrumentationScope> {
    Some(InstrumentationScope {
        name: format!("scope-{r}"),
        version: "1.2.3".into(),
        attributes: attrs(r),
        dropped_attributes_count: 1,
    })
}

fn id(batch: u64, n: u64, len: usize) -> Vec<u8> {
    let mut v = (batch * 1000 + n + 1).to_be_bytes().to_vec();
    v.resize(len, 0xab);
    v
}

fn trace_request(batch: u64) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: (0..2)
            .map(|r| ResourceSpans {
                resource: resource(batch, r),
                scope_spans: vec![ScopeSpans {
                    scope: scope(r),
                    spans: (0..5)
                        .map(|s| {
                            let n = r * 10 + s;
                            Span {
                                trace_id: id(batch, n, 16),
                                span_id: id(batch, n, 8),
                                parent_span_id: id(batch, n + 100, 8),
                                name: format!("span-{batch}-{n}"),
                                kind: span::SpanKind::Server as i32,
                                start_time_unix_nano: 1_700_000_000_000_000_000 + n,
                                end_time_unix_nano: 1_700_000_001_000_000_000 + n,
                                attributes: attrs(n),
                                status: Some(Status {
                                    message: "bad".into(),
                                    code: status::StatusCode::Error as i32,
                                }),
                                flags: 257,
                                ..Default::default()
                            }
                        })
                        .collect(),
                    schema_url: "https://s/1".into(),
                }],
                schema_url: "https://r/1".into(),
            })
            .collect(),
    }
}

fn metric_request(batch: u64) -> ExportMetricsServiceRequest {
    let point = |n: u64| NumberDataPoint {
        attributes: attrs(n),
        start_time_unix_nano: 1,
        time_unix_nano: 1_700_000_000_000_000_000 + n,
        value: Some(if n.is_multiple_of(2) {
            number_data_point::Value::AsInt(n as i64 - 5)
        } else {
            number_data_point::Value::AsDouble(n as f64 * 1.5)
        }),
        ..Default::default()
    };
    let metrics = vec![
        Metric {
            name: format!("gauge-{batch}"),
            unit: "1".into(),
            data: Some(metric::Data::Gauge(Gauge {
                data_points: vec![point(1), point(2)],
            })),
            ..Default::default()
        },
        Metric {
            name: format!("sum-{batch}"),
            description: "a sum".into(),
            data: Some(metric::Data::Sum(Sum {
                data_points: vec![point(3)],
                aggregation_temporality: 2,
                is_monotonic: true,
            })),
            ..Default::default()
        },
        Metric {
            name: format!("hist-{batch}"),
            data: Some(metric::Data::Histogram(Histogram {
                data_points: vec![HistogramDataPoint {
                    count: 3,
                    sum: Some(4.5),
                    bucket_counts: vec![1, 2],
                    explicit_bounds: vec![1.0],
                    min: Some(0.5),
                    max: Some(3.0),
                    time_unix_nano: 9,
                    ..Default::default()
                }],
                aggregation_temporality: 1,
            })),
            ..Default::default()
        },
    ];
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: resource(batch, 0),
            scope_metrics: vec![ScopeMetrics {
                scope: scope(0),
                metrics,
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        }],
    }
}

fn log_request(batch: u64) -> ExportLogsServiceRequest {
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: resource(batch, 0),
            scope_logs: vec![ScopeLogs {
                scope: scope(1),
                log_records: (0..4)
                    .map(|n| LogRecord {
                        time_unix_nano: 1_700_000_000_000_000_000 + n,
                        severity_number: 9,
                        severity_text: "INFO".into(),
                        body: Some(AnyValue {
                            value: Some(V::StringValue(format!("log-{batch}-{n}"))),
                        }),
                        attributes: attrs(n),
                        trace_id: id(batch, n, 16),
                        span_id: id(batch, n, 8),
                        event_name: "ev".into(),
                        ..Default::default()
                    })
                    .collect(),
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        }],
    }
}

/// Sends `REQUESTS` requests of each signal over gRPC; each must be accepted.
async fn send_all(url: String) {
    let channel = Channel::from_shared(url).unwrap().connect().await.unwrap();
    let mut traces = TraceServiceClient::new(channel.clone());
    let mut metrics = MetricsServiceClient::new(channel.clone());
    let mut logs = LogsServiceClient::new(channel);
    for batch in 0..REQUESTS {
        traces.export(trace_request(batch)).await.unwrap();
        metrics.export(metric_request(batch)).await.unwrap();
        logs.export(log_request(batch)).await.unwrap();
    }
}

fn send(grpc_port: u16) {
    common::runtime().block_on(send_all(format!("http://127.0.0.1:{grpc_port}")));
}

/// A config: gRPC receiver → batch → `otlphttp` with `extra` YAML lines under the exporter.
fn yaml(grpc_port: u16, backend: &HttpBackend, extra: &str) -> String {
    let mut exporter = format!("    endpoint: {}\n    timeout: 10s\n", backend.url());
    for line in extra.lines() {
        exporter.push_str(&format!("    {line}\n"));
    }
    let mut y = format!(
        "receivers:\n  otlp:\n    protocols:\n      grpc:\n        endpoint: 127.0.0.1:{grpc_port}\n\
         processors:\n  batch:\n    timeout: 100ms\n\
         exporters:\n  otlphttp:\n{exporter}\
         service:\n  telemetry:\n    logs:\n      level: debug\n  pipelines:\n"
    );
    for signal in ["traces", "metrics", "logs"] {
        y.push_str(&format!(
            "    {signal}:\n      receivers: [otlp]\n      processors: [batch]\n      exporters: [otlphttp]\n"
        ));
    }
    y.push_str(&format!("shards:\n  cores: {}\n", two_shards()));
    y
}

fn span_key(s: &Span) -> String {
    hex(&s.span_id)
}

fn point_key(m: &Metric) -> String {
    let time = match &m.data {
        Some(metric::Data::Gauge(g)) => g.data_points[0].time_unix_nano,
        Some(metric::Data::Sum(s)) => s.data_points[0].time_unix_nano,
        Some(metric::Data::Histogram(h)) => h.data_points[0].time_unix_nano,
        _ => 0,
    };
    format!("{}/{time}", m.name)
}

fn log_key(r: &LogRecord) -> String {
    hex(&r.span_id)
}

/// Waits until the backend holds every item, then compares them with what was sent.
fn assert_backend_has_everything(backend: &HttpBackend, collector: &Collector) {
    let traces: Vec<_> = (0..REQUESTS).map(trace_request).collect();
    let metrics: Vec<_> = (0..REQUESTS).map(metric_request).collect();
    let logs: Vec<_> = (0..REQUESTS).map(log_request).collect();
    let (spans, points, records) = (
        flatten_traces(&traces),
        flatten_metrics(&metrics),
        flatten_logs(&logs),
    );
    let arrived = wait_until(WAIT, || {
        flatten_traces(&backend.traces()).len() >= spans.len()
            && flatten_metrics(&backend.metrics()).len() >= points.len()
            && flatten_logs(&backend.logs()).len() >= records.len()
    });
    assert!(
        arrived,
        "not everything arrived; requests: {:?}\nlogs:\n{}",
        backend
            .requests()
            .iter()
            .map(|r| (&r.path, r.status))
            .collect::<Vec<_>>(),
        collector.logs()
    );
    // Late duplicates would show up here.
    std::thread::sleep(Duration::from_millis(300));
    assert_same_items("span", &spans, &flatten_traces(&backend.traces()), span_key);
    assert_same_items(
        "data point",
        &points,
        &flatten_metrics(&backend.metrics()),
        point_key,
    );
    assert_same_items(
        "log record",
        &records,
        &flatten_logs(&backend.logs()),
        log_key,
    );
}

/// Runs the round trip with `encoding` and `compression` and checks the wire headers.
fn round_trip(encoding: &str, compression: &str) {
    let backend = HttpBackend::start();
    let port = free_port();
    let config = yaml(
        port,
        &backend,
        &format!("encoding: {encoding}\ncompression: {compression}\nheaders: {{x-tenant: acme}}"),
    );
    let collector = Collector::start_yaml(&config);
    send(port);
    assert_backend_has_everything(&backend, &collector);
    let content_type = if encoding == "json" {
        "application/json"
    } else {
        "application/x-protobuf"
    };
    for request in backend.requests() {
        assert_eq!(request.header("content-type"), Some(content_type));
        let want_encoding = (compression != "none").then_some(compression);
        assert_eq!(request.header("content-encoding"), want_encoding);
        assert_eq!(request.header("x-tenant"), Some("acme"));
        assert!(request
            .header("user-agent")
            .is_some_and(|ua| ua.starts_with("shardgate/")));
    }
    // Keep-alive: far fewer connections than requests would be needed without it.
    let requests = backend.requests().len();
    assert!(
        backend.connections() <= 2 * 3 * 10,
        "{} connections for {requests} requests",
        backend.connections()
    );
    drop(collector);
}

/// Scenario: traces, metrics and logs with every value type, `encoding: proto`,
/// `compression: gzip` (the default). Guarantee: every item arrives once, intact, as gzip'd
/// `application/x-protobuf` POSTs to `/v1/<signal>` with the configured header.
#[test]
fn proto_gzip_delivers_every_item_once() {
    round_trip("proto", "gzip");
}

/// Scenario: as above with `compression: zstd`. Guarantee: zstd bodies decode to every item,
/// once, intact.
#[test]
fn proto_zstd_delivers_every_item_once() {
    round_trip("proto", "zstd");
}

/// Scenario: as above with `compression: none`. Guarantee: plain protobuf bodies, no
/// `Content-Encoding`, every item once.
#[test]
fn proto_uncompressed_delivers_every_item_once() {
    round_trip("proto", "none");
}

/// Scenario: `encoding: json`, gzip. Guarantee: OTLP/JSON bodies (decoded by
/// opentelemetry-proto's serde, independent of shardgate) hold every item once, intact.
#[test]
fn json_gzip_delivers_every_item_once() {
    round_trip("json", "gzip");
}

/// Scenario: `encoding: json`, zstd. Guarantee: as above.
#[test]
fn json_zstd_delivers_every_item_once() {
    round_trip("json", "zstd");
}

/// Scenario: `encoding: json`, no compression. Guarantee: as above.
#[test]
fn json_uncompressed_delivers_every_item_once() {
    round_trip("json", "none");
}

/// Scenario: the backend answers the first 3 requests 503 with `Retry-After: 1`, then 200.
/// Guarantee: shardgate retries no sooner than the server's delay (not its own 50 ms backoff),
/// and every item arrives exactly once.
#[test]
fn retry_after_503_then_delivered_once() {
    let backend = HttpBackend::start();
    backend.fail_next(3, 503, &[("retry-after", "1")], b"");
    let port = free_port();
    let config = yaml(
        port,
        &backend,
        "retry_on_failure: {initial_interval: 50ms, max_interval: 200ms, max_elapsed_time: 60s}",
    );
    let collector = Collector::start_yaml(&config);
    send(port);
    assert_backend_has_everything(&backend, &collector);
    let refused = backend
        .requests()
        .iter()
        .filter(|r| r.status == 503)
        .count();
    assert_eq!(refused, 3, "the backend refused the first 3 requests");
    // Each refused body came again, no sooner than the server's Retry-After: 1 asked.
    let requests = backend.requests();
    for refused in requests.iter().filter(|r| r.status == 503) {
        let again = requests
            .iter()
            .find(|r| r.at > refused.at && r.path == refused.path && r.body == refused.body)
            .expect("a refused request is sent again");
        let waited = again.at - refused.at;
        assert!(
            waited >= Duration::from_millis(950),
            "retried after {waited:?}, before the 1 s Retry-After"
        );
    }
    assert!(
        collector.logs().contains("Will retry"),
        "retries are logged; logs:\n{}",
        collector.logs()
    );
    drop(collector);
}

/// Scenario: the backend answers every request 400 with a `google.rpc.Status` body.
/// Guarantee: each batch is tried once and logged as dropped (permanent) with the backend's
/// message; no retry storm.
#[test]
fn bad_request_is_permanent_and_not_retried() {
    let backend = HttpBackend::start();
    let status = shardgate::exporter::grpc_status::RpcStatus {
        code: 3,
        message: "span name too long".into(),
        details: vec![],
    };
    backend.fail_next(1000, 400, &[], &status.encode_to_vec());
    let port = free_port();
    let config = yaml(
        port,
        &backend,
        "retry_on_failure: {initial_interval: 50ms, max_interval: 50ms, max_elapsed_time: 60s}",
    );
    let collector = Collector::start_yaml(&config);
    common::runtime().block_on(async {
        let channel = Channel::from_shared(format!("http://127.0.0.1:{port}"))
            .unwrap()
            .connect()
            .await
            .unwrap();
        TraceServiceClient::new(channel)
            .export(trace_request(0))
            .await
            .unwrap();
    });
    assert!(
        collector.wait_for_log("Dropping data", WAIT),
        "the permanent failure is logged as dropped; logs:\n{}",
        collector.logs()
    );
    std::thread::sleep(Duration::from_millis(500));
    let requests = backend.requests().len();
    assert!(
        (1..=2).contains(&requests),
        "one try per batch (a batch per shard at most), got {requests}"
    );
    let logs = collector.logs();
    assert!(logs.contains("span name too long"), "logs:\n{logs}");
    assert!(!logs.contains("Will retry"), "logs:\n{logs}");
    drop(collector);
}
