//! The `tail_sampling` processor end to end on two shards: spans of one trace arrive on
//! different connections (so on different shards) and seconds apart; each trace is kept or
//! dropped whole by its policies, late spans follow the decision, /metrics counts each
//! decision once, and `num_traces` bounds what is held under a flood of new trace ids.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use common::{free_port, metric_sum, two_shards, wait_until, Backend, Collector, WAIT};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::trace::v1::{status, ResourceSpans, ScopeSpans, Span, Status};
use shardgate::processor::tail_sampling::policy::{hash_trace_id, threshold};
use tonic::transport::Channel;

const TRACES: u64 = 300;
const CONNECTIONS: u64 = 8;
const PERCENT: f64 = 25.0;
/// Long enough that every trace's third span, sent after all first spans, is in time.
const DECISION_WAIT: Duration = Duration::from_secs(4);

fn config(port: u16, metrics_port: u16, backend: &Backend, tail: &str) -> String {
    format!(
        r#"receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:{port}
processors:
  tail_sampling:
{tail}
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
      processors: [tail_sampling, batch]
      exporters: [otlp]
shards:
  cores: {cores}
"#,
        endpoint = backend.endpoint(),
        cores = two_shards(),
    )
}

fn trace_id(t: u64) -> [u8; 16] {
    let mut id = [0u8; 16];
    id[..8].copy_from_slice(&t.wrapping_mul(0x9e37_79b9_7f4a_7c15).to_be_bytes());
    id[8..].copy_from_slice(
        &(t ^ 0xfeed)
            .wrapping_mul(0xc2b2_ae3d_27d4_eb4f)
            .to_be_bytes(),
    );
    id
}

/// Trace `t`: every tenth has an error in its third span, every tenth (shifted by one) lasts
/// a second by its third span; the rest last 10 ms.
fn span(t: u64, i: u64) -> Span {
    let base = 1_700_000_000_000_000_000u64 + t * 1_000_000;
    let slow = t % 10 == 1 && i == 2;
    let error = t.is_multiple_of(10) && i == 2;
    Span {
        trace_id: trace_id(t).to_vec(),
        span_id: (t * 16 + i + 1).to_be_bytes().to_vec(),
        name: format!("span-{i}"),
        start_time_unix_nano: base,
        end_time_unix_nano: base + if slow { 1_000_000_000 } else { 10_000_000 },
        status: error.then(|| Status {
            code: status::StatusCode::Error as i32,
            ..Default::default()
        }),
        attributes: vec![KeyValue {
            key: "i".into(),
            value: Some(AnyValue {
                value: Some(any_value::Value::IntValue(i as i64)),
            }),
            ..Default::default()
        }],
        ..Default::default()
    }
}

fn request(spans: Vec<Span>) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            scope_spans: vec![ScopeSpans {
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

async fn channels(url: &str, n: u64) -> Vec<Channel> {
    let mut out = Vec::new();
    for _ in 0..n {
        out.push(
            Channel::from_shared(url.to_owned())
                .unwrap()
                .connect()
                .await
                .unwrap(),
        );
    }
    out
}

/// Sends span `i` of every trace, each on connection `(t + i) % CONNECTIONS`, the
/// connections side by side.
async fn send_round(channels: &[Channel], i: u64) {
    let mut tasks = Vec::new();
    for (c, channel) in channels.iter().enumerate() {
        let channel = channel.clone();
        tasks.push(tokio::spawn(async move {
            for t in (0..TRACES).filter(|t| ((t + i) % CONNECTIONS) as usize == c) {
                TraceServiceClient::new(channel.clone())
                    .export(request(vec![span(t, i)]))
                    .await
                    .unwrap();
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
}

fn expected_kept() -> BTreeSet<Vec<u8>> {
    let share = threshold(PERCENT / 100.0);
    (0..TRACES)
        .filter(|t| {
            t.is_multiple_of(10)
                || t % 10 == 1
                || hash_trace_id("default-hash-seed", &trace_id(*t)) <= share
        })
        .map(|t| trace_id(t).to_vec())
        .collect()
}

/// Scenario: 300 traces over 8 connections to 2 shards, spans 0 and 1 first, span 2 of every
/// trace after all of those (within the 4 s decision wait), then span 3 after every trace is
/// decided; policies: status_code ERROR, latency ≥ 500 ms, probabilistic 25 %, with decision
/// caches. Guarantee: each trace is kept whole (4 spans, each once) or not at all: errors and
/// slow traces kept, the rest as otelcol's salted hash decides; late spans follow their
/// trace's decision; /metrics counts every trace's decision once.
#[test]
fn traces_are_decided_whole_across_shards_and_late_spans_follow() {
    let backend = Backend::start();
    let (port, metrics_port) = (free_port(), free_port());
    let tail = format!(
        r#"    decision_wait: {wait}s
    decision_cache: {{sampled_cache_size: 10000, non_sampled_cache_size: 10000}}
    policies:
      - {{name: errors, type: status_code, status_code: {{status_codes: [ERROR]}}}}
      - {{name: slow, type: latency, latency: {{threshold_ms: 500}}}}
      - {{name: share, type: probabilistic, probabilistic: {{sampling_percentage: {PERCENT}}}}}"#,
        wait = DECISION_WAIT.as_secs()
    );
    let _collector = Collector::start_yaml(&config(port, metrics_port, &backend, &tail));
    let url = format!("http://127.0.0.1:{port}");
    let rt = common::runtime();
    let channels = rt.block_on(channels(&url, CONNECTIONS));
    rt.block_on(send_round(&channels, 0));
    rt.block_on(send_round(&channels, 1));
    // The third spans come a second later, still within every trace's wait.
    std::thread::sleep(Duration::from_secs(1));
    rt.block_on(send_round(&channels, 2));
    // Every trace is decided DECISION_WAIT after its first span: wait past the last one.
    std::thread::sleep(DECISION_WAIT + Duration::from_millis(1500));
    let expected = expected_kept();
    assert!(
        backend.wait_for_items(expected.len() * 3, 0, 0, WAIT),
        "expected {} spans, got {:?}",
        expected.len() * 3,
        backend.item_counts()
    );
    rt.block_on(send_round(&channels, 3));
    assert!(
        backend.wait_for_items(expected.len() * 4, 0, 0, WAIT),
        "late spans: expected {} spans, got {:?}",
        expected.len() * 4,
        backend.item_counts()
    );
    std::thread::sleep(Duration::from_millis(500));

    let mut per_trace: BTreeMap<Vec<u8>, BTreeSet<Vec<u8>>> = BTreeMap::new();
    let mut received = 0;
    for flat in backend.spans() {
        received += 1;
        per_trace
            .entry(flat.item.trace_id.clone())
            .or_default()
            .insert(flat.item.span_id.clone());
    }
    assert_eq!(received, expected.len() * 4, "a span arrived twice");
    assert!(
        per_trace.values().all(|s| s.len() == 4),
        "a trace was split"
    );
    let kept: BTreeSet<Vec<u8>> = per_trace.into_keys().collect();
    assert_eq!(
        kept, expected,
        "kept traces differ from the policies' decisions"
    );

    let m = |name: &str, label: &str| {
        metric_sum(
            metrics_port,
            &format!("otelcol_processor_tail_sampling_{name}"),
            label,
        )
    };
    let kept_n = kept.len() as f64;
    assert_eq!(m("global_count_traces_sampled_total", ""), TRACES as f64);
    assert_eq!(
        m("global_count_traces_sampled_total", "decision=\"sampled\""),
        kept_n
    );
    assert_eq!(m("new_trace_id_received_total", ""), TRACES as f64);
    assert_eq!(m("sampling_trace_dropped_too_early_total", ""), 0.0);
    assert_eq!(
        m(
            "early_releases_from_cache_decision_total",
            "sampled=\"true\""
        ),
        kept_n
    );
    assert_eq!(
        m(
            "early_releases_from_cache_decision_total",
            "sampled=\"false\""
        ),
        TRACES as f64 - kept_n
    );
    for policy in ["errors", "slow", "share"] {
        let label = format!("policy=\"{policy}\"");
        assert_eq!(
            m("count_traces_sampled_total", &label),
            TRACES as f64,
            "{policy}"
        );
    }
    assert_eq!(
        m(
            "count_traces_sampled_total",
            "policy=\"errors\",processor=\"tail_sampling\",sampled=\"true\""
        ),
        (TRACES / 10) as f64
    );
    let handed = metric_sum(
        metrics_port,
        "shardgate_processor_tail_sampling_affinity_spans_total",
        "direction=\"handed\"",
    );
    let taken = metric_sum(
        metrics_port,
        "shardgate_processor_tail_sampling_affinity_spans_total",
        "direction=\"taken\"",
    );
    assert!(handed > 0.0, "no span changed shard");
    assert_eq!(handed, taken);
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
    assert_eq!(incoming, (TRACES * 4) as f64);
    assert_eq!(outgoing, kept_n * 4.0);
}

fn rss_kib(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

/// Scenario: 40 000 new trace ids (one 1 KiB span each, 100 per request, 4 connections) into
/// `num_traces: 1000` with a 60 s decision wait and always_sample, then SIGTERM.
/// Guarantee: no more than 1000 traces are held; the traces decided early to make room are
/// counted in /metrics; the collector's RSS stays bounded; on SIGTERM every held trace is
/// decided and every span arrives once (nothing acknowledged is lost).
#[test]
fn num_traces_bounds_memory_under_a_flood_of_new_traces() {
    const FLOOD: u64 = 40_000;
    const PER_REQUEST: u64 = 100;
    let backend = Backend::start();
    let (port, metrics_port) = (free_port(), free_port());
    let tail = r#"    decision_wait: 60s
    num_traces: 1000
    policies:
      - {name: all, type: always_sample}"#;
    let mut collector = Collector::start_yaml(&config(port, metrics_port, &backend, tail));
    let url = format!("http://127.0.0.1:{port}");
    let rt = common::runtime();
    let channels = rt.block_on(channels(&url, 4));
    let padding = "x".repeat(1024);
    let mut rss_max = 0;
    rt.block_on(async {
        for r in 0..FLOOD / PER_REQUEST {
            let spans = (0..PER_REQUEST)
                .map(|k| {
                    let mut s = span(r * PER_REQUEST + k, 0);
                    s.name = padding.clone();
                    s
                })
                .collect();
            TraceServiceClient::new(channels[(r % 4) as usize].clone())
                .export(request(spans))
                .await
                .unwrap();
            if r % 50 == 0 {
                rss_max = rss_max.max(rss_kib(collector.pid()));
            }
        }
    });
    rss_max = rss_max.max(rss_kib(collector.pid()));
    let m = |name: &str| {
        metric_sum(
            metrics_port,
            &format!("otelcol_processor_tail_sampling_{name}"),
            "",
        )
    };
    // Spans owned by the other shard cross to it after the client's answer: the counts
    // settle a moment later.
    wait_until(WAIT, || {
        m("sampling_trace_dropped_too_early_total") + m("sampling_traces_on_memory") >= FLOOD as f64
    });
    let held = m("sampling_traces_on_memory");
    let early = m("sampling_trace_dropped_too_early_total");
    assert!(held <= 1000.0, "held {held}");
    assert_eq!(early + held, FLOOD as f64, "early {early} + held {held}");
    assert_eq!(m("new_trace_id_received_total"), FLOOD as f64);
    // 40 MB of spans went in; held data is bounded by 1000 traces of about 1 KiB.
    assert!(rss_max < 300 * 1024, "RSS reached {rss_max} KiB");
    collector.sigterm();
    assert!(collector.wait_exit(WAIT).success());
    assert_eq!(
        backend.item_counts().0,
        FLOOD as usize,
        "a span was lost or doubled"
    );
}
