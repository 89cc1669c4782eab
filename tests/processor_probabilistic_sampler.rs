//! The `probabilistic_sampler` processor end to end: spans and log records of many traces
//! reach two shards over many connections; each trace is kept or dropped whole, in both
//! signals, as otelcol's hash decides for the same seed, and /metrics counts every decision.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::{free_port, metric_sum, two_shards, Backend, Collector, WAIT};
use opentelemetry_proto::tonic::collector::logs::v1::logs_service_client::LogsServiceClient;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use shardgate::processor::probabilistic_sampler::threshold::{hash_seed_threshold, Randomness};
use tonic::transport::Channel;

const TRACES: u64 = 400;
const SPANS_PER_TRACE: u64 = 4;
const CONNECTIONS: u64 = 8;
const SEED: u32 = 22;
const PERCENT: f32 = 30.0;

fn config(port: u16, metrics_port: u16, backend: &Backend) -> String {
    format!(
        r#"receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:{port}
processors:
  probabilistic_sampler:
    sampling_percentage: {PERCENT}
    hash_seed: {SEED}
  batch:
    timeout: 50ms
exporters:
  otlp:
    endpoint: {endpoint}
    tls:
      insecure: true
service:
  telemetry:
    metrics:
      readers:
        - pull:
            exporter:
              prometheus: {{host: 127.0.0.1, port: {metrics_port}}}
  pipelines:
    traces:
      receivers: [otlp]
      processors: [probabilistic_sampler, batch]
      exporters: [otlp]
    logs:
      receivers: [otlp]
      processors: [probabilistic_sampler, batch]
      exporters: [otlp]
shards:
  cores: {cores}
"#,
        endpoint = backend.endpoint(),
        cores = two_shards(),
    )
}

fn trace_id(t: u64) -> Vec<u8> {
    let mut id = t.wrapping_mul(0x9e37_79b9_7f4a_7c15).to_be_bytes().to_vec();
    id.extend_from_slice(
        &(t ^ 0xdead_beef)
            .wrapping_mul(0xc2b2_ae3d_27d4_eb4f)
            .to_be_bytes(),
    );
    id
}

/// Span `i` of trace `t` goes on connection `(t + i) % CONNECTIONS`, each in its own request,
/// so a trace's spans reach the collector on several connections (and so shards).
async fn send(url: String) {
    let mut channels = Vec::new();
    for _ in 0..CONNECTIONS {
        channels.push(
            Channel::from_shared(url.clone())
                .unwrap()
                .connect()
                .await
                .unwrap(),
        );
    }
    for i in 0..SPANS_PER_TRACE {
        for t in 0..TRACES {
            let channel = channels[((t + i) % CONNECTIONS) as usize].clone();
            let span = Span {
                trace_id: trace_id(t),
                span_id: (t * 16 + i + 1).to_be_bytes().to_vec(),
                name: format!("span-{i}"),
                ..Default::default()
            };
            TraceServiceClient::new(channel.clone())
                .export(ExportTraceServiceRequest {
                    resource_spans: vec![ResourceSpans {
                        scope_spans: vec![ScopeSpans {
                            spans: vec![span],
                            ..Default::default()
                        }],
                        ..Default::default()
                    }],
                })
                .await
                .unwrap();
            if i == 0 {
                let record = LogRecord {
                    trace_id: trace_id(t),
                    ..Default::default()
                };
                LogsServiceClient::new(channel)
                    .export(ExportLogsServiceRequest {
                        resource_logs: vec![ResourceLogs {
                            scope_logs: vec![ScopeLogs {
                                log_records: vec![record],
                                ..Default::default()
                            }],
                            ..Default::default()
                        }],
                    })
                    .await
                    .unwrap();
            }
        }
    }
}

/// Scenario: 400 traces of 4 spans and one log record each, every span in its own request
/// over 8 connections to 2 shards, through `probabilistic_sampler` (30%, hash_seed 22).
/// Guarantee: every trace is kept or dropped whole, its log record with it; the kept set is
/// the one otelcol's hash keeps for that seed; kept spans say so in their tracestate; and
/// /metrics counts every decision once.
#[test]
fn traces_are_kept_whole_across_connections_as_otelcol_decides() {
    let backend = Backend::start();
    let (port, metrics_port) = (free_port(), free_port());
    let _collector = Collector::start_yaml(&config(port, metrics_port, &backend));
    common::runtime().block_on(send(format!("http://127.0.0.1:{port}")));

    let threshold = hash_seed_threshold(PERCENT).unwrap();
    let expected: BTreeSet<Vec<u8>> = (0..TRACES)
        .map(trace_id)
        .filter(|id| threshold.samples(Randomness::from_hash(id, SEED)))
        .collect();
    let want_spans = expected.len() * SPANS_PER_TRACE as usize;
    assert!(
        backend.wait_for_items(want_spans, 0, expected.len(), WAIT),
        "expected {want_spans} spans, got {:?}",
        backend.item_counts()
    );
    std::thread::sleep(std::time::Duration::from_millis(300));

    let mut per_trace: BTreeMap<Vec<u8>, usize> = BTreeMap::new();
    for flat in backend.spans() {
        *per_trace.entry(flat.item.trace_id.clone()).or_default() += 1;
        let ts = &flat.item.trace_state;
        assert!(ts.starts_with("ot=rv:") && ts.ends_with(";th:b334"), "{ts}");
    }
    assert!(
        per_trace.values().all(|n| *n == SPANS_PER_TRACE as usize),
        "a trace was split"
    );
    let kept: BTreeSet<Vec<u8>> = per_trace.into_keys().collect();
    assert_eq!(
        kept, expected,
        "kept traces differ from otelcol's hash decisions"
    );
    let share = kept.len() as f64 / TRACES as f64;
    assert!((0.2..0.4).contains(&share), "kept share {share}");
    let logs: BTreeSet<Vec<u8>> = backend
        .log_records()
        .into_iter()
        .map(|f| f.item.trace_id)
        .collect();
    assert_eq!(logs, expected, "log records did not follow their traces");

    let sent = (TRACES * SPANS_PER_TRACE) as f64;
    let name = "otelcol_processor_probabilistic_sampler_count_spans_processed_total";
    let policy = "policy=\"trace_id_hash\"";
    assert_eq!(
        metric_sum(metrics_port, name, "sampled=\"true\""),
        want_spans as f64
    );
    assert_eq!(metric_sum(metrics_port, name, policy), sent);
    let incoming = metric_sum(
        metrics_port,
        "otelcol_processor_incoming_items_total",
        "traces",
    );
    let outgoing = metric_sum(
        metrics_port,
        "otelcol_processor_outgoing_items_total",
        "traces",
    );
    assert_eq!((incoming, outgoing), (sent, want_spans as f64));
    let logs_name = "otelcol_processor_probabilistic_sampler_count_logs_sampled_total";
    assert_eq!(metric_sum(metrics_port, logs_name, ""), TRACES as f64);
}
