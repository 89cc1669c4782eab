//! The kafka exporter and receiver against a real Kafka-protocol broker (tansu, installed by
//! `.ci/run` from crates.io), on loopback: one shardgate produces what its OTLP clients send,
//! another consumes it in a consumer group (one consumer per shard) and exports it to a sink.
//! Traces, metrics and logs arrive intact; a broker restart loses nothing acknowledged.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_types)]

mod common;

use std::collections::HashMap;
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use common::{free_port, runtime, two_shards, wait_until, Backend, Collector};
use opentelemetry_proto::tonic::collector::logs::v1::logs_service_client::LogsServiceClient;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_client::MetricsServiceClient;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::metrics::v1::{
    metric, number_data_point, Gauge, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};

/// How long data may take from the first collector to the sink.
const ARRIVAL: Duration = Duration::from_secs(90);

/// The broker binary: `$SHARDGATE_TANSU`, else `tansu` on the PATH.
fn tansu() -> String {
    std::env::var("SHARDGATE_TANSU").unwrap_or_else(|_| "tansu".to_owned())
}

/// A tansu broker on loopback, its data in a SQLite file of its own directory (so a restart
/// keeps what it acknowledged).
struct Broker {
    dir: tempfile::TempDir,
    port: u16,
    child: Option<Child>,
    /// Starts so far: each start logs to its own file.
    starts: u32,
}

impl Broker {
    fn start() -> Broker {
        let mut broker = Broker {
            dir: tempfile::tempdir().unwrap(),
            port: free_port(),
            child: None,
            starts: 0,
        };
        broker.spawn();
        broker
    }

    fn url(&self) -> String {
        format!("tcp://127.0.0.1:{}", self.port)
    }

    fn address(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    fn spawn(&mut self) {
        self.starts += 1;
        let log =
            std::fs::File::create(self.dir.path().join(format!("broker-{}.log", self.starts)))
                .unwrap();
        let child = Command::new(tansu())
            .current_dir(self.dir.path())
            .args([
                "broker",
                "--listener-url",
                &self.url(),
                "--advertised-listener-url",
                &self.url(),
                "--storage-engine",
                "sqlite://tansu.db",
            ])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot run the Kafka broker `{}` ({e}): install it with `cargo install tansu --locked --features libsql` (.ci/run does)",
                    tansu()
                )
            });
        self.child = Some(child);
        let up = wait_until(Duration::from_secs(20), || {
            TcpStream::connect(("127.0.0.1", self.port)).is_ok()
        });
        assert!(up, "the broker did not listen on {}", self.port);
    }

    fn create_topic(&self, name: &str, partitions: u32) {
        let status = Command::new(tansu())
            .args([
                "topic",
                "create",
                name,
                "--broker",
                &self.url(),
                "--partitions",
                &partitions.to_string(),
            ])
            .stdout(Stdio::null())
            .status()
            .unwrap();
        assert!(status.success(), "creating topic {name}");
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    fn restart(&mut self) {
        self.stop();
        self.spawn();
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Prometheus pull endpoint of a collector's own metrics.
fn telemetry(port: u16) -> String {
    format!(
        "  telemetry:
    metrics:
      readers:
        - pull:
            exporter:
              prometheus: {{host: 127.0.0.1, port: {port}}}"
    )
}

/// The producing collector: OTLP/gRPC in, kafka out.
fn producer_yaml(grpc: u16, metrics: u16, broker: &Broker, topics: &Topics) -> String {
    format!(
        "receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:{grpc}
processors:
  batch: {{timeout: 50ms}}
exporters:
  kafka:
    brokers: [{broker}]
    partition_traces_by_id: true
    traces: {{topic: {t}}}
    metrics: {{topic: {m}, encoding: otlp_json}}
    logs: {{topic: {l}}}
    timeout: 3s
    retry_on_failure: {{initial_interval: 100ms, max_interval: 500ms, max_elapsed_time: 0}}
    sending_queue: {{queue_size: 100000}}
service:
{telemetry}
  pipelines:
    traces: {{receivers: [otlp], processors: [batch], exporters: [kafka]}}
    metrics: {{receivers: [otlp], processors: [batch], exporters: [kafka]}}
    logs: {{receivers: [otlp], processors: [batch], exporters: [kafka]}}
shards:
  cores: 1
  drain_timeout: 5s
",
        broker = broker.address(),
        t = topics.traces,
        m = topics.metrics,
        l = topics.logs,
        telemetry = telemetry(metrics),
    )
}

/// The consuming collector: kafka in (a group of one consumer per shard), OTLP/gRPC out.
fn consumer_yaml(metrics: u16, broker: &Broker, topics: &Topics, sink: &str) -> String {
    format!(
        "receivers:
  kafka:
    brokers: [{broker}]
    group_id: shardgate-test
    initial_offset: earliest
    traces: {{topics: [{t}]}}
    metrics: {{topics: [{m}], encoding: otlp_json}}
    logs: {{topics: [{l}]}}
    autocommit: {{interval: 200ms}}
exporters:
  otlp:
    endpoint: {sink}
    tls: {{insecure: true}}
service:
{telemetry}
  pipelines:
    traces: {{receivers: [kafka], exporters: [otlp]}}
    metrics: {{receivers: [kafka], exporters: [otlp]}}
    logs: {{receivers: [kafka], exporters: [otlp]}}
shards:
  cores: {cores}
  rebalance: {{enabled: false}}
",
        broker = broker.address(),
        t = topics.traces,
        m = topics.metrics,
        l = topics.logs,
        telemetry = telemetry(metrics),
        cores = two_shards(),
    )
}

struct Topics {
    traces: &'static str,
    metrics: &'static str,
    logs: &'static str,
}

const TOPICS: Topics = Topics {
    traces: "sg_spans",
    metrics: "sg_metrics",
    logs: "sg_logs",
};

fn create_topics(broker: &Broker) {
    broker.create_topic(TOPICS.traces, 4);
    broker.create_topic(TOPICS.metrics, 2);
    broker.create_topic(TOPICS.logs, 2);
}

fn string(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.into())),
        }),
        ..Default::default()
    }
}

fn resource(service: &str) -> Option<Resource> {
    Some(Resource {
        attributes: vec![string("service.name", service)],
        ..Default::default()
    })
}

/// Request `n`: two traces of three spans each, with attributes.
fn traces(n: u64) -> ExportTraceServiceRequest {
    let spans = (0..6u64)
        .map(|i| Span {
            trace_id: [n.to_be_bytes(), (i / 3).to_be_bytes()].concat(),
            span_id: (n * 10 + i + 1).to_be_bytes().to_vec(),
            name: format!("span-{n}-{i}"),
            start_time_unix_nano: 1_700_000_000_000_000_000 + n,
            end_time_unix_nano: 1_700_000_000_000_000_100 + n,
            attributes: vec![string("request", &n.to_string())],
            ..Default::default()
        })
        .collect();
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: resource("kafka-test"),
            scope_spans: vec![ScopeSpans {
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

fn metrics(n: u64) -> ExportMetricsServiceRequest {
    let point = NumberDataPoint {
        time_unix_nano: 1_700_000_000_000_000_000 + n,
        value: Some(number_data_point::Value::AsDouble(n as f64 + 0.5)),
        attributes: vec![string("request", &n.to_string())],
        ..Default::default()
    };
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            resource: resource("kafka-test"),
            scope_metrics: vec![ScopeMetrics {
                metrics: vec![Metric {
                    name: format!("gauge-{n}"),
                    unit: "1".into(),
                    data: Some(metric::Data::Gauge(Gauge {
                        data_points: vec![point],
                    })),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

fn logs(n: u64) -> ExportLogsServiceRequest {
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: resource("kafka-test"),
            scope_logs: vec![ScopeLogs {
                log_records: vec![LogRecord {
                    time_unix_nano: 1_700_000_000_000_000_000 + n,
                    severity_text: "INFO".into(),
                    body: Some(AnyValue {
                        value: Some(any_value::Value::StringValue(format!("log-{n}"))),
                    }),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

/// A client of the producing collector's three OTLP services.
struct Client {
    port: u16,
    rt: tokio::runtime::Runtime,
}

impl Client {
    fn new(port: u16) -> Client {
        Client {
            port,
            rt: runtime(),
        }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn traces(&self, n: u64) -> Result<(), tonic::Status> {
        self.rt.block_on(async {
            let mut c = TraceServiceClient::connect(self.url()).await.unwrap();
            answer(c.export(traces(n))).await
        })
    }

    fn metrics(&self, n: u64) -> Result<(), tonic::Status> {
        self.rt.block_on(async {
            let mut c = MetricsServiceClient::connect(self.url()).await.unwrap();
            answer(c.export(metrics(n))).await
        })
    }

    fn logs(&self, n: u64) -> Result<(), tonic::Status> {
        self.rt.block_on(async {
            let mut c = LogsServiceClient::connect(self.url()).await.unwrap();
            answer(c.export(logs(n))).await
        })
    }
}

/// The answer to an export, or DEADLINE_EXCEEDED after 10 s (not acknowledged).
async fn answer<T>(
    call: impl std::future::Future<Output = Result<tonic::Response<T>, tonic::Status>>,
) -> Result<(), tonic::Status> {
    match tokio::time::timeout(Duration::from_secs(10), call).await {
        Ok(result) => result.map(|_| ()),
        Err(_) => Err(tonic::Status::deadline_exceeded("no answer within 10 s")),
    }
}

/// How many times each span name reached the sink.
fn span_counts(sink: &Backend) -> HashMap<String, usize> {
    let mut counts = HashMap::new();
    for request in sink.trace_requests() {
        for rs in &request.request.resource_spans {
            for ss in &rs.scope_spans {
                for span in &ss.spans {
                    *counts.entry(span.name.clone()).or_default() += 1;
                }
            }
        }
    }
    counts
}

/// A producing and a consuming collector around `broker` (topics created), and a sink.
struct Pair {
    sink: Backend,
    consumer: Collector,
    producer: Collector,
    client: Client,
}

impl Pair {
    fn start(broker: &Broker) -> Pair {
        create_topics(broker);
        let sink = Backend::start();
        let consumer = Collector::start_yaml(&consumer_yaml(
            free_port(),
            broker,
            &TOPICS,
            &sink.endpoint(),
        ));
        let grpc = free_port();
        let producer = Collector::start_yaml(&producer_yaml(grpc, free_port(), broker, &TOPICS));
        Pair {
            sink,
            consumer,
            producer,
            client: Client::new(grpc),
        }
    }
}

/// Scenario: 40 requests of each signal through collector → kafka → collector (2 shards in
/// one consumer group) → sink. Guarantee: every span, data point and log record arrives,
/// with its resource, scope, attributes and values as sent; spans of one trace travel
/// together (partition_traces_by_id); metrics cross as OTLP/JSON and come back equal.
#[test]
fn traces_metrics_and_logs_cross_kafka_intact() {
    let broker = Broker::start();
    let Pair {
        sink,
        consumer,
        producer,
        client,
    } = Pair::start(&broker);
    const REQUESTS: u64 = 40;
    for n in 0..REQUESTS {
        client.traces(n).unwrap();
        client.metrics(n).unwrap();
        client.logs(n).unwrap();
    }
    let arrived = wait_until(ARRIVAL, || {
        let (spans, points, records) = sink.item_counts();
        spans >= 6 * REQUESTS as usize
            && points >= REQUESTS as usize
            && records >= REQUESTS as usize
    });
    assert!(
        arrived,
        "sink has {:?}; consumer logs:\n{}\nproducer logs:\n{}\nbroker dir {:?}",
        sink.item_counts(),
        consumer.logs(),
        producer.logs(),
        broker.path()
    );
    // Every span exactly once here (no failure happened), each with its own attributes.
    let counts = span_counts(&sink);
    assert_eq!(counts.len(), 6 * REQUESTS as usize);
    assert!(counts.values().all(|c| *c == 1), "duplicates: {counts:?}");
    // A trace's spans share a message, so each exported request holds whole traces.
    let mut trace_of_request: HashMap<Vec<u8>, usize> = HashMap::new();
    for (i, request) in sink.trace_requests().iter().enumerate() {
        for rs in &request.request.resource_spans {
            assert_eq!(rs.resource, resource("kafka-test"));
            for ss in &rs.scope_spans {
                for span in &ss.spans {
                    let n: u64 = span.name.split('-').nth(1).unwrap().parse().unwrap();
                    assert_eq!(span.attributes, vec![string("request", &n.to_string())]);
                    assert_eq!(span.start_time_unix_nano, 1_700_000_000_000_000_000 + n);
                    let seen = trace_of_request.entry(span.trace_id.clone()).or_insert(i);
                    assert_eq!(*seen, i, "a trace was split over exports");
                }
            }
        }
    }
    // Metrics went through OTLP/JSON and back: values, names and attributes as sent.
    let mut gauges: Vec<(String, f64)> = sink
        .metric_requests()
        .iter()
        .flat_map(|r| r.request.resource_metrics.clone())
        .flat_map(|rm| rm.scope_metrics)
        .flat_map(|sm| sm.metrics)
        .map(|m| {
            let Some(metric::Data::Gauge(g)) = m.data else {
                panic!("not a gauge: {m:?}")
            };
            let Some(number_data_point::Value::AsDouble(v)) = g.data_points[0].value else {
                panic!("not a double")
            };
            (m.name, v)
        })
        .collect();
    gauges.sort_by(|a, b| a.0.cmp(&b.0));
    let mut expected: Vec<(String, f64)> = (0..REQUESTS)
        .map(|n| (format!("gauge-{n}"), n as f64 + 0.5))
        .collect();
    expected.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(gauges, expected);
    let mut bodies: Vec<String> = sink
        .log_requests()
        .iter()
        .flat_map(|r| r.request.resource_logs.clone())
        .flat_map(|rl| rl.scope_logs)
        .flat_map(|sl| sl.log_records)
        .map(|r| match r.body.and_then(|b| b.value) {
            Some(any_value::Value::StringValue(s)) => s,
            other => panic!("body {other:?}"),
        })
        .collect();
    bodies.sort();
    let mut expected: Vec<String> = (0..REQUESTS).map(|n| format!("log-{n}")).collect();
    expected.sort();
    assert_eq!(bodies, expected);
}

/// Scenario: spans are sent while the broker is killed and started again on the same data.
/// Guarantee: every span the producing collector acknowledged reaches the sink (duplicates
/// are allowed: a retried produce or a re-read after a commit is at-least-once; counted).
#[test]
fn a_broker_restart_loses_nothing_acknowledged() {
    let mut broker = Broker::start();
    let Pair {
        sink,
        consumer,
        producer,
        client,
    } = Pair::start(&broker);
    let mut acknowledged = Vec::new();
    for n in 0..60u64 {
        if n == 20 {
            broker.stop();
            // Long enough for several produce attempts to fail.
            std::thread::sleep(Duration::from_secs(2));
        }
        if n == 40 {
            broker.restart();
        }
        if client.traces(n).is_ok() {
            acknowledged.push(n);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        acknowledged.len() >= 40,
        "the producer acknowledged {} of 60",
        acknowledged.len()
    );
    let expected: Vec<String> = acknowledged
        .iter()
        .flat_map(|n| (0..6).map(move |i| format!("span-{n}-{i}")))
        .collect();
    let arrived = wait_until(ARRIVAL, || {
        let counts = span_counts(&sink);
        expected.iter().all(|name| counts.contains_key(name))
    });
    let counts = span_counts(&sink);
    let missing: Vec<&String> = expected
        .iter()
        .filter(|n| !counts.contains_key(*n))
        .collect();
    assert!(
        arrived,
        "{} acknowledged spans missing, e.g. {:?}; consumer logs:\n{}\nproducer logs:\n{}",
        missing.len(),
        missing.iter().take(5).collect::<Vec<_>>(),
        consumer.logs(),
        producer.logs()
    );
    let duplicates: usize = counts.values().map(|c| c - 1).sum();
    eprintln!(
        "broker restart: {} spans acknowledged, all delivered, {duplicates} duplicate deliveries",
        expected.len()
    );
}
