//! A shard that dies is never reported healthy: the process notices, says so, counts it,
//! drains the other shards and exits non-zero (README, "When a shard fails").
//!
//! The panic is provoked through the `fault-injection` hooks (`src/fault.rs`), which only
//! builds with that feature have; `scripts/test.sh` turns it on.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::{free_port, http_get, runtime, Backend, Collector, Config, Exporter, WAIT};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};

const CONNECTIONS: usize = 16;

fn request_named(name: &str) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            scope_spans: vec![ScopeSpans {
                spans: vec![Span {
                    trace_id: vec![1; 16],
                    span_id: vec![2; 8],
                    name: name.into(),
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

/// Scenario: two shards exporting to a backend that refuses every export (so acknowledged
/// data stays pending and the drain has to wait, bounded by a 5 s `drain_timeout`), with
/// `health_check` and the metrics endpoint on. 16 connections send one request each (both
/// shards hold data), then one request carries the `shard_panic` marker. Guarantee: health
/// answers 200 before and 503 after; `shardgate_shard_failures_total` is 1 for the shard
/// that died and 0 for the other; the log names the shard and the panic; the process exits
/// with a failure status once the other shard has drained.
#[test]
#[cfg_attr(
    not(feature = "fault-injection"),
    ignore = "needs --features fault-injection (scripts/test.sh turns it on)"
)]
fn a_panicked_shard_turns_health_unavailable_and_fails_the_process() {
    common::require_cpus(2);
    let backend = Backend::start();
    backend.fail_next(1_000_000, tonic::Code::Unavailable, "down for the test");
    let health_port = free_port();
    let metrics_port = free_port();
    let mut config = Config::to_backend(&backend);
    config.drain_timeout = "5s".into();
    config.log_level = "info".into();
    config.exporter = Exporter::Otlp {
        endpoint: backend.endpoint(),
        compression: "none".into(),
        retry: Some("{initial_interval: 100ms, max_interval: 100ms, max_elapsed_time: 60s}".into()),
    };
    let yaml = config.yaml().replacen(
        "service:\n  telemetry:\n",
        &format!(
            "extensions:\n  health_check:\n    endpoint: 127.0.0.1:{health_port}\n\
             service:\n  extensions: [health_check]\n  telemetry:\n    metrics:\n      readers:\n        - pull:\n            exporter:\n              prometheus: {{host: 127.0.0.1, port: {metrics_port}}}\n"
        ),
        1,
    );
    let mut collector =
        Collector::start_yaml_with_env(&yaml, &[("SHARDGATE_FAULTS", "shard_panic")]);
    let health = format!("127.0.0.1:{health_port}");
    let metrics = format!("127.0.0.1:{metrics_port}");
    assert_eq!(http_get(&health, "/").map(|(s, _)| s), Some(200));

    let url = config.grpc_url();
    let (acknowledged, marked) = runtime().block_on(async move {
        let mut acknowledged = 0;
        for c in 0..CONNECTIONS {
            let mut client = TraceServiceClient::connect(url.clone())
                .await
                .expect("connect");
            if client
                .export(request_named(&format!("ok/{c}")))
                .await
                .is_ok()
            {
                acknowledged += 1;
            }
        }
        let mut client = TraceServiceClient::connect(url).await.expect("connect");
        let call = client.export(request_named("shardgate.fault.shard_panic"));
        let marked = tokio::time::timeout(Duration::from_secs(10), call).await;
        (acknowledged, marked)
    });
    assert_eq!(
        acknowledged, CONNECTIONS,
        "every ordinary request acknowledged"
    );
    assert!(
        matches!(marked, Ok(Err(_))),
        "the request that killed its shard is not acknowledged: {marked:?}"
    );

    let started = Instant::now();
    let unavailable = common::wait_until(WAIT, || {
        http_get(&health, "/").is_some_and(|(status, _)| status == 503)
    });
    assert!(
        unavailable,
        "health turns unavailable; logs:\n{}",
        collector.logs()
    );
    let (_, text) = http_get(&metrics, "/metrics").expect("metrics while draining");
    let mut failures: Vec<String> = text
        .lines()
        .filter(|l| l.starts_with("shardgate_shard_failures_total{"))
        .map(str::to_owned)
        .collect();
    failures.sort_by_key(|l| l.ends_with(" 1"));
    assert_eq!(failures.len(), 2, "{text}");
    assert!(
        failures[0].ends_with(" 0") && failures[1].ends_with(" 1"),
        "{failures:?}"
    );

    let status = collector.wait_exit(Duration::from_secs(30));
    let logs = collector.logs();
    assert!(!status.success(), "exit status {status}; logs:\n{logs}");
    assert!(
        logs.contains("Shard failed") && logs.contains("panicked: injected fault: shard_panic"),
        "{logs}"
    );
    // The other shard drained (bounded by drain_timeout) before the process exited.
    assert!(started.elapsed() < Duration::from_secs(20));
    assert!(!logs.contains(common::SHUTDOWN_LINE), "{logs}");
}
