//! SIGTERM drains: batches held in memory are flushed and delivered before the process exits 0.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::{Backend, Batch, Collector, Config, SHUTDOWN_LINE};
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
use opentelemetry_proto::tonic::trace::v1::Span;
use tonic::transport::Channel;

const CONNECTIONS: usize = 4;
const REQUESTS_PER_CONNECTION: usize = 5;
const ITEMS_PER_REQUEST: usize = 25;
const N: usize = CONNECTIONS * REQUESTS_PER_CONNECTION * ITEMS_PER_REQUEST;

fn id(c: usize, r: usize, i: usize) -> String {
    format!("{c}/{r}/{i}")
}

fn id_attr(id: String) -> Vec<KeyValue> {
    vec![KeyValue {
        key: "id".into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(id)),
        }),
        ..Default::default()
    }]
}

fn traces(c: usize, r: usize) -> ExportTraceServiceRequest {
    let spans = (0..ITEMS_PER_REQUEST)
        .map(|i| Span {
            trace_id: vec![1; 16],
            span_id: ((c * 1_000_000 + r * 1000 + i + 1) as u64)
                .to_be_bytes()
                .to_vec(),
            name: id(c, r, i),
            ..Default::default()
        })
        .collect();
    common::spans_request(spans)
}

fn metrics(c: usize, r: usize) -> ExportMetricsServiceRequest {
    let data_points = (0..ITEMS_PER_REQUEST)
        .map(|i| NumberDataPoint {
            attributes: id_attr(id(c, r, i)),
            time_unix_nano: 1,
            value: Some(number_data_point::Value::AsInt(i as i64)),
            ..Default::default()
        })
        .collect();
    ExportMetricsServiceRequest {
        resource_metrics: vec![ResourceMetrics {
            scope_metrics: vec![ScopeMetrics {
                metrics: vec![Metric {
                    name: "drain.gauge".into(),
                    data: Some(metric::Data::Gauge(Gauge { data_points })),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

fn logs(c: usize, r: usize) -> ExportLogsServiceRequest {
    let log_records = (0..ITEMS_PER_REQUEST)
        .map(|i| LogRecord {
            attributes: id_attr(id(c, r, i)),
            ..Default::default()
        })
        .collect();
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            scope_logs: vec![ScopeLogs {
                log_records,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

fn first_attr(attributes: &[KeyValue]) -> String {
    match attributes
        .first()
        .and_then(|kv| kv.value.as_ref())
        .and_then(|v| v.value.as_ref())
    {
        Some(any_value::Value::StringValue(s)) => s.clone(),
        other => format!("unexpected {other:?}"),
    }
}

/// How often each id arrived.
fn counts(ids: impl Iterator<Item = String>) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for id in ids {
        *out.entry(id).or_insert(0) += 1;
    }
    out
}

fn assert_each_once(what: &str, got: BTreeMap<String, usize>) {
    let dup: Vec<_> = got.iter().filter(|(_, &n)| n != 1).collect();
    assert!(
        dup.is_empty(),
        "{what}: ids received more than once: {dup:?}"
    );
    let mut missing = Vec::new();
    for c in 0..CONNECTIONS {
        for r in 0..REQUESTS_PER_CONNECTION {
            for i in 0..ITEMS_PER_REQUEST {
                if !got.contains_key(&id(c, r, i)) {
                    missing.push(id(c, r, i));
                }
            }
        }
    }
    assert!(
        missing.is_empty(),
        "{what}: {} of {N} never arrived, e.g. {:?}",
        missing.len(),
        &missing[..missing.len().min(5)]
    );
    assert_eq!(got.len(), N, "{what}: nothing else arrived");
}

/// Scenario: batch `timeout: 60s` and `send_batch_size: 100000`, so nothing leaves before the
/// stop; 500 spans, 500 data points and 500 log records are sent in 20 requests per signal over
/// 4 connections (kept open), then SIGTERM. Guarantee: nothing reached the backend before the
/// signal; the process exits 0 within the drain timeout, logging `Shutdown complete.`; and at
/// the moment it has exited, the backend already holds all 500 items of each signal, each
/// exactly once, every one received before the exit was observed.
#[test]
fn sigterm_flushes_every_batch_before_exit() {
    let backend = Backend::start();
    let mut config = Config::to_backend(&backend);
    config.batch = Some(Batch {
        send_batch_size: 100_000,
        timeout: "60s".into(),
        send_batch_max_size: 0,
    });
    config.drain_timeout = "20s".into();
    let mut collector = Collector::start(&config);
    let rt = common::runtime();
    let url = config.grpc_url();
    // The channels stay open across the signal, as a real client's would.
    let channels = rt.block_on(async move {
        let mut tasks = Vec::new();
        for c in 0..CONNECTIONS {
            let url = url.clone();
            tasks.push(tokio::spawn(async move {
                let channel = Channel::from_shared(url)
                    .expect("url")
                    .connect()
                    .await
                    .expect("connect");
                let mut t = TraceServiceClient::new(channel.clone());
                let mut m = MetricsServiceClient::new(channel.clone());
                let mut l = LogsServiceClient::new(channel.clone());
                for r in 0..REQUESTS_PER_CONNECTION {
                    t.export(traces(c, r)).await.expect("trace export");
                    m.export(metrics(c, r)).await.expect("metrics export");
                    l.export(logs(c, r)).await.expect("logs export");
                }
                channel
            }));
        }
        let mut channels = Vec::new();
        for task in tasks {
            channels.push(task.await.expect("sender"));
        }
        channels
    });
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        backend.item_counts(),
        (0, 0, 0),
        "with a 60s batch timeout nothing is exported before the stop"
    );

    let signalled = Instant::now();
    collector.sigterm();
    let status = collector.wait_exit(Duration::from_secs(20 + 10));
    let exited = Instant::now();
    // Read the backend at once: anything still missing now was not delivered before the exit.
    let spans = backend.spans();
    let points = backend.points();
    let records = backend.log_records();
    assert!(
        status.success(),
        "exit status {status}; logs:\n{}",
        collector.logs()
    );
    assert!(
        collector.logs().contains(SHUTDOWN_LINE),
        "logs:\n{}",
        collector.logs()
    );
    println!("drained and exited in {:?}", exited - signalled);

    assert_each_once("spans", counts(spans.iter().map(|f| f.item.name.clone())));
    assert_each_once(
        "data points",
        counts(points.iter().map(|f| match &f.item.data {
            Some(metric::Data::Gauge(g)) => first_attr(&g.data_points[0].attributes),
            other => format!("unexpected {other:?}"),
        })),
    );
    assert_each_once(
        "log records",
        counts(records.iter().map(|f| first_attr(&f.item.attributes))),
    );
    let late: Vec<Duration> = backend
        .trace_requests()
        .iter()
        .map(|r| r.at)
        .chain(backend.metric_requests().iter().map(|r| r.at))
        .chain(backend.log_requests().iter().map(|r| r.at))
        .filter(|&at| at < signalled || at > exited)
        .map(|at| at.saturating_duration_since(signalled))
        .collect();
    assert!(
        late.is_empty(),
        "every export arrived between the signal and the exit: {late:?}"
    );
    drop(channels);
}
