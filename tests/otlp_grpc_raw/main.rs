//! Raw prost-built OTLP requests, sent with the generated tonic clients to shardgate (two
//! shards), exercising every field of every message; with a small `send_batch_max_size` the
//! batches get split, and every item must still arrive exactly once with its resource and scope.
#![allow(clippy::unwrap_used, clippy::expect_used)]

#[path = "../common/mod.rs"]
mod common;
mod requests;

use std::time::Duration;

use common::{
    assert_same_items, flatten_logs, flatten_metrics, flatten_traces, hex, Backend, Batch,
    Collector, Config, Exporter, WAIT,
};
use opentelemetry_proto::tonic::collector::logs::v1::logs_service_client::LogsServiceClient;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_client::MetricsServiceClient;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{
    any_value::Value as V, AnyValue, ArrayValue, EntityRef, InstrumentationScope, KeyValue,
    KeyValueList,
};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::metrics::v1::{
    exemplar, exponential_histogram_data_point::Buckets, metric, number_data_point,
    summary_data_point::ValueAtQuantile, Exemplar, ExponentialHistogram,
    ExponentialHistogramDataPoint, Gauge, Histogram, HistogramDataPoint, Metric, NumberDataPoint,
    ResourceMetrics, ScopeMetrics, Sum, Summary, SummaryDataPoint,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{
    span, status, ResourceSpans, ScopeSpans, Span, Status,
};
use tonic::transport::Channel;

use requests::{log_request, metric_request, trace_request};

const MAX_BATCH: u32 = 7;

fn point_id(m: &Metric) -> String {
    let attrs = match &m.data {
        Some(metric::Data::Gauge(g)) => &g.data_points[0].attributes,
        Some(metric::Data::Sum(s)) => &s.data_points[0].attributes,
        Some(metric::Data::Histogram(h)) => &h.data_points[0].attributes,
        Some(metric::Data::ExponentialHistogram(h)) => &h.data_points[0].attributes,
        Some(metric::Data::Summary(s)) => &s.data_points[0].attributes,
        None => return "no data".into(),
    };
    match attrs
        .first()
        .and_then(|kv| kv.value.as_ref())
        .and_then(|v| v.value.as_ref())
    {
        Some(V::StringValue(id)) => format!("{} {id}", m.name),
        _ => "no point.id".into(),
    }
}

fn log_id(r: &LogRecord) -> String {
    match r
        .attributes
        .first()
        .and_then(|kv| kv.value.as_ref())
        .and_then(|v| v.value.as_ref())
    {
        Some(V::StringValue(id)) => id.clone(),
        _ => "no log.id".into(),
    }
}

/// Items in one request as the backend saw it.
fn items_per_request(backend: &Backend) -> Vec<usize> {
    let mut out = Vec::new();
    for r in backend.trace_requests() {
        out.push(flatten_traces(&[r.request]).len());
    }
    for r in backend.metric_requests() {
        out.push(flatten_metrics(&[r.request]).len());
    }
    for r in backend.log_requests() {
        out.push(flatten_logs(&[r.request]).len());
    }
    out
}

/// Sends `requests` batches of each signal over `connections` separate connections; every
/// request must succeed with an empty response (partial_success unset).
async fn send_all(url: String, requests: u64, connections: u64) {
    let mut tasks = Vec::new();
    for c in 0..connections {
        let url = url.clone();
        tasks.push(tokio::spawn(async move {
            let channel = Channel::from_shared(url)
                .expect("url")
                .connect()
                .await
                .expect("connect");
            let mut traces = TraceServiceClient::new(channel.clone());
            let mut metrics = MetricsServiceClient::new(channel.clone());
            let mut logs = LogsServiceClient::new(channel);
            for batch in (0..requests).filter(|b| b % connections == c) {
                let answer = traces
                    .export(trace_request(batch))
                    .await
                    .expect("trace export")
                    .into_inner();
                assert_eq!(
                    answer.partial_success, None,
                    "full success leaves partial_success unset"
                );
                let answer = metrics
                    .export(metric_request(batch))
                    .await
                    .expect("metrics export")
                    .into_inner();
                assert_eq!(
                    answer.partial_success, None,
                    "full success leaves partial_success unset"
                );
                let answer = logs
                    .export(log_request(batch))
                    .await
                    .expect("logs export")
                    .into_inner();
                assert_eq!(
                    answer.partial_success, None,
                    "full success leaves partial_success unset"
                );
            }
        }));
    }
    for task in tasks {
        task.await.expect("sender task");
    }
}

/// Every span, data point and log record of `requests` batches, flattened.
type Expected = (
    Vec<common::Flat<Span>>,
    Vec<common::Flat<Metric>>,
    Vec<common::Flat<LogRecord>>,
);

fn expected(requests: u64) -> Expected {
    let traces: Vec<_> = (0..requests).map(trace_request).collect();
    let metrics: Vec<_> = (0..requests).map(metric_request).collect();
    let logs: Vec<_> = (0..requests).map(log_request).collect();
    (
        flatten_traces(&traces),
        flatten_metrics(&metrics),
        flatten_logs(&logs),
    )
}

fn assert_backend_has(backend: &Backend, requests: u64) {
    let (spans, points, logs) = expected(requests);
    let arrived = backend.wait_for_items(spans.len(), points.len(), logs.len(), WAIT);
    // Give duplicates (which would travel in the same flushes) time to show up.
    std::thread::sleep(Duration::from_millis(1000));
    assert!(
        arrived,
        "backend got {:?} of ({}, {}, {}) spans/points/logs within {WAIT:?}",
        backend.item_counts(),
        spans.len(),
        points.len(),
        logs.len()
    );
    assert_same_items("span", &spans, &backend.spans(), |s: &Span| hex(&s.span_id));
    assert_same_items("data point", &points, &backend.points(), point_id);
    assert_same_items("log record", &logs, &backend.log_records(), log_id);
}

/// Scenario: 6 requests per signal (each with 2–3 resources × 2 scopes plus an empty scope or
/// metric; spans with events, links, status, flags, trace_state and dropped counts; every
/// AnyValue variant nested in arrays and kvlists; gauge, sum, histogram, exponential histogram
/// and summary points with exemplars; logs with every field) sent over 3 connections to
/// shardgate with two shards, batch `send_batch_size`=`send_batch_max_size`=7, gzip to the
/// backend. Guarantee: every request is answered with an empty success; the backend gets every
/// span, data point and log record exactly once and identical to what was sent, each with its
/// own resource and scope (schema URLs included) although batches were split; no backend
/// request holds more than 7 items; the exporter used gzip.
#[test]
fn raw_requests_with_every_field_survive_splitting() {
    let backend = Backend::start();
    let mut config = Config::to_backend(&backend);
    config.batch = Some(Batch {
        send_batch_size: MAX_BATCH,
        timeout: "100ms".into(),
        send_batch_max_size: MAX_BATCH,
    });
    if let Exporter::Otlp { compression, .. } = &mut config.exporter {
        *compression = "gzip".into();
    }
    let collector = Collector::start(&config);
    let requests = 6;
    common::runtime().block_on(send_all(config.grpc_url(), requests, 3));
    assert_backend_has(&backend, requests);

    let sizes = items_per_request(&backend);
    assert!(
        sizes.iter().all(|&n| (1..=MAX_BATCH as usize).contains(&n)),
        "every export holds 1..={MAX_BATCH} items (send_batch_max_size); sizes: {sizes:?}"
    );
    let encodings: Vec<Option<String>> = backend
        .trace_requests()
        .into_iter()
        .map(|r| r.encoding)
        .chain(backend.metric_requests().into_iter().map(|r| r.encoding))
        .chain(backend.log_requests().into_iter().map(|r| r.encoding))
        .collect();
    assert!(
        encodings.iter().all(|e| e.as_deref() == Some("gzip")),
        "compression: gzip is used for every export; got {encodings:?}"
    );
    drop(collector);
}

/// Scenario: the pipelines have no batch processor, so each request is exported on its own
/// before it is answered; same full-field requests over 2 connections. Guarantee: every item
/// arrives exactly once and intact, and every request's items arrived at the backend by the
/// time the client got its success.
#[test]
fn raw_requests_without_batch_processor_pass_through_intact() {
    let backend = Backend::start();
    let mut config = Config::to_backend(&backend);
    config.batch = None;
    let collector = Collector::start(&config);
    let requests = 4;
    common::runtime().block_on(send_all(config.grpc_url(), requests, 2));
    let (spans, points, logs) = expected(requests);
    assert_eq!(
        backend.item_counts(),
        (spans.len(), points.len(), logs.len()),
        "without a batch processor, success is answered after the export"
    );
    assert_backend_has(&backend, requests);
    drop(collector);
}

/// Scenario: the backend answers the first 4 exports with UNAVAILABLE (retryable), with
/// `retry_on_failure` set to short intervals. Guarantee: shardgate retries, and every item
/// still arrives exactly once and intact (nothing lost, nothing duplicated), after the backend
/// did refuse 4 requests.
#[test]
fn raw_requests_are_retried_after_backend_unavailable() {
    let backend = Backend::start();
    backend.fail_next(4, tonic::Code::Unavailable, "backend warming up");
    let mut config = Config::to_backend(&backend);
    config.exporter = Exporter::Otlp {
        endpoint: backend.endpoint(),
        compression: "none".into(),
        retry: Some(
            "{enabled: true, initial_interval: 50ms, max_interval: 200ms, max_elapsed_time: 60s}"
                .into(),
        ),
    };
    config.batch = Some(Batch {
        send_batch_size: MAX_BATCH,
        timeout: "100ms".into(),
        send_batch_max_size: MAX_BATCH,
    });
    let collector = Collector::start(&config);
    let requests = 2;
    common::runtime().block_on(send_all(config.grpc_url(), requests, 2));
    assert_backend_has(&backend, requests);
    assert_eq!(
        backend.rejected(),
        4,
        "the backend refused the first 4 exports"
    );
    assert!(
        collector.logs().contains("Will retry"),
        "retries are logged; logs:\n{}",
        collector.logs()
    );
    drop(collector);
}
