//! The collector's own metrics on `/metrics`: otelcol's names and labels plus `shard`, counted
//! on each shard and read with a real Prometheus text-format parser.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::net::TcpStream;

use common::{free_port, runtime, wait_until, Backend, Batch, Collector, Config, WAIT};
use opentelemetry_proto::tonic::collector::logs::v1::logs_service_client::LogsServiceClient;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_client::MetricsServiceClient;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::metrics::v1::{
    metric, Gauge, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics,
};
use opentelemetry_proto::tonic::trace::v1::Span;
use prometheus_parse::{Sample, Scrape, Value};
use tonic::transport::Channel;

/// Separate connections; SO_REUSEPORT spreads them over the shards by hash, so with 16 the
/// chance that one shard gets none is 2 × 2⁻¹⁶.
const CONNECTIONS: u64 = 16;
/// Requests of each signal per connection.
const REQUESTS: u64 = 3;
const SPANS: u64 = 5;
const POINTS: u64 = 4;
const LOGS: u64 = 3;

/// `GET path`; status code and body (the collector must answer).
fn http_get(addr: &str, path: &str) -> (u16, String) {
    common::http_get(addr, path).expect("the admin endpoint answers")
}

fn scrape(addr: &str) -> Vec<Sample> {
    let (status, body) = http_get(addr, "/metrics");
    assert_eq!(status, 200, "{body}");
    Scrape::parse(body.lines().map(|l| Ok(l.to_owned())))
        .expect("valid Prometheus text")
        .samples
}

fn value(s: &Sample) -> f64 {
    match &s.value {
        Value::Counter(v) | Value::Gauge(v) | Value::Untyped(v) => *v,
        other => panic!("{} is not a number: {other:?}", s.metric),
    }
}

/// Per `shard` label, the sum of `metric`'s samples.
fn by_shard(samples: &[Sample], metric: &str) -> BTreeMap<String, f64> {
    let mut out = BTreeMap::new();
    for s in samples.iter().filter(|s| s.metric == metric) {
        let shard = s.labels.get("shard").expect("shard label").to_owned();
        *out.entry(shard).or_insert(0.0) += value(s);
    }
    out
}

fn total(samples: &[Sample], metric: &str) -> f64 {
    by_shard(samples, metric).values().sum()
}

fn trace_request(c: u64, r: u64) -> ExportTraceServiceRequest {
    let spans = (0..SPANS)
        .map(|i| Span {
            trace_id: vec![1; 16],
            span_id: (c * 1000 + r * 10 + i + 1).to_be_bytes().to_vec(),
            name: format!("span-{c}-{r}-{i}"),
            ..Default::default()
        })
        .collect();
    common::spans_request(spans)
}

fn metrics_request() -> ExportMetricsServiceRequest {
    let points = (0..POINTS)
        .map(|i| NumberDataPoint {
            time_unix_nano: i + 1,
            value: Some(
                opentelemetry_proto::tonic::metrics::v1::number_data_point::Value::AsInt(i as i64),
            ),
            ..Default::default()
        })
        .collect();
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            scope_metrics: vec![ScopeMetrics {
                metrics: vec![Metric {
                    name: "m".into(),
                    data: Some(metric::Data::Gauge(Gauge {
                        data_points: points,
                    })),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

fn logs_request() -> ExportLogsServiceRequest {
    let records = (0..LOGS)
        .map(|i| LogRecord {
            time_unix_nano: i + 1,
            ..Default::default()
        })
        .collect();
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            scope_logs: vec![ScopeLogs {
                log_records: records,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

/// Sends every request over `CONNECTIONS` separate connections.
async fn send_all(url: String) {
    let mut tasks = Vec::new();
    for c in 0..CONNECTIONS {
        let url = url.clone();
        tasks.push(tokio::spawn(async move {
            let channel = Channel::from_shared(url)
                .unwrap()
                .connect()
                .await
                .expect("connect");
            let mut traces = TraceServiceClient::new(channel.clone());
            let mut metrics = MetricsServiceClient::new(channel.clone());
            let mut logs = LogsServiceClient::new(channel);
            for r in 0..REQUESTS {
                traces.export(trace_request(c, r)).await.expect("traces");
                metrics.export(metrics_request()).await.expect("metrics");
                logs.export(logs_request()).await.expect("logs");
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
}

/// Config for `backend` with the Prometheus endpoint on `metrics_port` (pull reader shape).
fn config_yaml(backend: &Backend, metrics_port: u16) -> (Config, String) {
    let mut config = Config::to_backend(backend);
    config.cores = "[0, 1]".into();
    config.batch = Some(Batch {
        send_batch_size: 20,
        timeout: "100ms".into(),
        send_batch_max_size: 0,
    });
    let yaml = config.yaml().replace(
        "service:\n  telemetry:\n",
        &format!(
            "service:\n  telemetry:\n    metrics:\n      level: detailed\n      readers:\n        - pull:\n            exporter:\n              prometheus: {{host: 127.0.0.1, port: {metrics_port}}}\n"
        ),
    );
    (config, yaml)
}

/// Scenario: two shards (`cores: [0, 1]`), 16 connections each sending known numbers of
/// spans, metric points and log records through a batch processor to an OTLP backend; then
/// `/metrics` is scraped and parsed. Guarantee: summed `accepted`/`sent` counters equal what
/// was sent per signal, the `shard` label splits them with both shards non-zero, nothing is
/// refused or failed, and the batch processor's counters account for every item and batch.
#[test]
fn counters_add_up_across_two_shards() {
    common::require_cpus(2);
    let backend = Backend::start();
    let metrics_port = free_port();
    let (config, yaml) = config_yaml(&backend, metrics_port);
    let _collector = Collector::start_yaml(&yaml);
    let addr = format!("127.0.0.1:{metrics_port}");
    runtime().block_on(send_all(config.grpc_url()));
    let n = CONNECTIONS * REQUESTS;
    let (spans, points, logs) = (n * SPANS, n * POINTS, n * LOGS);
    assert!(backend.wait_for_items(spans as usize, points as usize, logs as usize, WAIT));
    let expected = [
        ("spans", spans),
        ("metric_points", points),
        ("log_records", logs),
    ];
    // Exporter counters are written after the backend answered: wait for them too.
    let settled = wait_until(WAIT, || {
        let samples = scrape(&addr);
        expected.iter().all(|(what, count)| {
            total(&samples, &format!("otelcol_exporter_sent_{what}_total")) == *count as f64
        })
    });
    let samples = scrape(&addr);
    assert!(settled, "exporter counters never settled: {samples:#?}");
    for (what, count) in expected {
        let accepted = by_shard(&samples, &format!("otelcol_receiver_accepted_{what}_total"));
        assert_eq!(accepted.len(), 2, "{what}: {accepted:?}");
        assert_eq!(accepted.values().sum::<f64>(), count as f64, "{what}");
        let sent = by_shard(&samples, &format!("otelcol_exporter_sent_{what}_total"));
        assert_eq!(sent.values().sum::<f64>(), count as f64, "{what}");
        // Each shard sends what it accepted.
        assert_eq!(sent, accepted, "{what}");
        for bad in [
            format!("otelcol_receiver_refused_{what}_total"),
            format!("otelcol_receiver_failed_{what}_total"),
            format!("otelcol_exporter_send_failed_{what}_total"),
            format!("otelcol_exporter_enqueue_failed_{what}_total"),
        ] {
            assert_eq!(total(&samples, &bad), 0.0, "{bad}");
        }
    }
    let per_shard_spans = by_shard(&samples, "otelcol_receiver_accepted_spans_total");
    assert!(
        per_shard_spans.values().all(|v| *v > 0.0),
        "both shards must get traffic: {per_shard_spans:?}"
    );
    let receiver = samples
        .iter()
        .find(|s| s.metric == "otelcol_receiver_accepted_spans_total")
        .unwrap();
    assert_eq!(receiver.labels.get("receiver"), Some("otlp"));
    assert_eq!(receiver.labels.get("transport"), Some("grpc"));
    // Batch processor: every item went out in some batch, each batch size- or timeout-triggered.
    let sizes = total(&samples, "otelcol_processor_batch_batch_send_size_sum");
    assert_eq!(sizes, (spans + points + logs) as f64);
    let batches = total(&samples, "otelcol_processor_batch_batch_send_size_count");
    let triggered = total(
        &samples,
        "otelcol_processor_batch_batch_size_trigger_send_total",
    ) + total(
        &samples,
        "otelcol_processor_batch_timeout_trigger_send_total",
    );
    assert!(batches > 0.0);
    assert_eq!(batches, triggered);
    let hist = samples
        .iter()
        .find(|s| s.metric == "otelcol_processor_batch_batch_send_size")
        .expect("batch_send_size histogram");
    assert_eq!(hist.labels.get("processor"), Some("batch"));
    // Exporter queue gauges are present and idle; in-flight settled back to 0.
    for gauge in [
        "otelcol_exporter_queue_size",
        "otelcol_exporter_in_flight_requests",
    ] {
        assert_eq!(total(&samples, gauge), 0.0, "{gauge}");
    }
    assert!(total(&samples, "otelcol_exporter_queue_capacity") > 0.0);
    // Process metrics and per-shard latency/busy series exist.
    assert!(total_unlabelled(&samples, "otelcol_process_memory_rss_bytes") > 0.0);
    assert!(total_unlabelled(&samples, "otelcol_process_uptime_seconds_total") > 0.0);
    assert!(samples
        .iter()
        .any(|s| s.metric == "otelcol_process_cpu_seconds_total"));
    assert_eq!(by_shard(&samples, "shardgate_shard_busy_ratio").len(), 2);
    // Rebalancing series exist per shard; what moved equals what was taken over.
    for metric in [
        "shardgate_rebalance_handed_off_requests_total",
        "shardgate_rebalance_taken_over_requests_total",
        "shardgate_rebalance_share_ratio",
        "shardgate_rebalance_queue_bytes",
    ] {
        assert_eq!(by_shard(&samples, metric).len(), 2, "{metric}");
    }
    assert_eq!(
        total(&samples, "shardgate_rebalance_handed_off_requests_total"),
        total(&samples, "shardgate_rebalance_taken_over_requests_total")
            + total(&samples, "shardgate_rebalance_bounced_requests_total")
    );
}

fn total_unlabelled(samples: &[Sample], metric: &str) -> f64 {
    samples
        .iter()
        .filter(|s| s.metric == metric)
        .map(value)
        .sum()
}

/// Scenario: traffic through two shards, then the latency histograms are read after the
/// shards' once-a-second publish. Guarantee: receive and export latency histograms count
/// requests on each shard that had traffic, with cumulative buckets ending at `_count`.
#[test]
fn latency_histograms_are_published() {
    let backend = Backend::start();
    let metrics_port = free_port();
    let (config, yaml) = config_yaml(&backend, metrics_port);
    let _collector = Collector::start_yaml(&yaml);
    let addr = format!("127.0.0.1:{metrics_port}");
    runtime().block_on(send_all(config.grpc_url()));
    let n = (CONNECTIONS * REQUESTS * 3) as f64;
    let published = wait_until(WAIT, || {
        let samples = scrape(&addr);
        total(
            &samples,
            "shardgate_receiver_request_duration_seconds_count",
        ) == n
            && total(
                &samples,
                "shardgate_exporter_request_duration_seconds_count",
            ) > 0.0
    });
    let samples = scrape(&addr);
    assert!(published, "{samples:#?}");
    for s in samples
        .iter()
        .filter(|s| s.metric == "shardgate_receiver_request_duration_seconds")
    {
        let Value::Histogram(buckets) = &s.value else {
            panic!("not a histogram")
        };
        assert!(buckets.windows(2).all(|w| w[0].count <= w[1].count));
    }
    let (status, json) = http_get(&addr, "/status.json");
    assert_eq!(status, 200);
    assert!(
        json.contains("\"shard\":0")
            && json.contains("receive_p99_ms")
            && json.contains("\"handed_off\":")
            && json.contains("\"taken_over\":"),
        "{json}"
    );
    let (status, html) = http_get(&addr, "/status");
    assert_eq!(status, 200);
    assert!(html.contains("status.json") && !html.contains("src=\"http"));
}

/// Scenario: the older `address: host:port` form, then `level: none` with an address, then an
/// explicitly configured port that is already taken. Guarantee: the address form serves
/// `/metrics`; `level: none` serves nothing there; a taken explicit port stops startup with
/// an error naming `service::telemetry::metrics`.
#[test]
fn address_form_level_none_and_taken_port() {
    let backend = Backend::start();
    let port = free_port();
    let with_metrics = |metrics: &str| {
        Config::to_backend(&backend).yaml().replace(
            "service:\n  telemetry:\n",
            &format!("service:\n  telemetry:\n    metrics: {metrics}\n"),
        )
    };
    let collector = Collector::start_yaml(&with_metrics(&format!(
        "{{level: basic, address: '127.0.0.1:{port}'}}"
    )));
    let samples = scrape(&format!("127.0.0.1:{port}"));
    assert!(samples
        .iter()
        .any(|s| s.metric == "otelcol_receiver_accepted_spans_total"));
    drop(collector);

    let port = free_port();
    let _quiet = Collector::start_yaml(&with_metrics(&format!(
        "{{level: none, address: '127.0.0.1:{port}'}}"
    )));
    assert!(TcpStream::connect(format!("127.0.0.1:{port}")).is_err());

    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.yaml");
    std::fs::write(
        &path,
        with_metrics(&format!("{{address: '127.0.0.1:{port}'}}")),
    )
    .unwrap();
    let mut failing = Collector::spawn(&["--config".into(), path.display().to_string()]);
    let status = failing.wait_exit(WAIT);
    assert!(!status.success());
    let logs = failing.logs();
    assert!(
        logs.contains("service::telemetry::metrics: cannot listen on"),
        "{logs}"
    );
}
