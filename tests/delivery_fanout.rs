//! Fan-out isolation: a pipeline with a healthy and a failing exporter keeps delivering to the
//! healthy one, every acknowledged item exactly once and on time.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use common::{free_port, Backend, Collector};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;

const CONNECTIONS: usize = 2;
const REQUESTS_PER_CONNECTION: usize = 40;
const SPANS_PER_REQUEST: usize = 10;
/// Batch timeout of the config below, plus the 2 s the guarantee allows.
const ON_TIME: Duration = Duration::from_millis(200 + 2000);

fn request(c: usize, r: usize) -> ExportTraceServiceRequest {
    common::named_spans_request(c, r, SPANS_PER_REQUEST)
}

fn yaml(grpc_port: u16, healthy: &str, failing: &str, metrics_port: u16) -> String {
    format!(
        "receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:{grpc_port}
processors:
  batch:
    send_batch_size: 50
    timeout: 200ms
exporters:
  otlp/healthy:
    endpoint: {healthy}
    tls: {{insecure: true}}
    timeout: 2s
    retry_on_failure: {{initial_interval: 100ms, max_interval: 200ms, max_elapsed_time: 20s}}
  otlp/failing:
    endpoint: {failing}
    tls: {{insecure: true}}
    timeout: 1s
    retry_on_failure: {{initial_interval: 100ms, max_interval: 200ms, max_elapsed_time: 20s}}
    sending_queue: {{queue_size: 5, num_consumers: 2}}
service:
  telemetry:
    logs:
      level: info
    metrics:
      readers:
        - pull:
            exporter:
              prometheus:
                host: 127.0.0.1
                port: {metrics_port}
  pipelines:
    traces:
      receivers: [otlp]
      processors: [batch]
      exporters: [otlp/failing, otlp/healthy]
shards:
  cores: {}
  drain_timeout: 1s
  # Small enough that a dead exporter holding every copy for its retries would fill it.
  pending_bytes_max: 16384
",
        common::two_shards()
    )
}

/// Sends the load; returns each accepted span's name with the time its request was answered.
fn send(grpc_port: u16) -> (HashMap<String, Instant>, usize) {
    let rt = common::runtime();
    rt.block_on(async move {
        let mut tasks = Vec::new();
        for c in 0..CONNECTIONS {
            tasks.push(tokio::spawn(async move {
                let url = format!("http://127.0.0.1:{grpc_port}");
                let mut client = TraceServiceClient::connect(url).await.expect("connect");
                let mut accepted = HashMap::new();
                let mut refused = 0;
                for r in 0..REQUESTS_PER_CONNECTION {
                    match client.export(request(c, r)).await {
                        Ok(_) => {
                            let at = Instant::now();
                            for i in 0..SPANS_PER_REQUEST {
                                accepted.insert(format!("{c}/{r}/{i}"), at);
                            }
                        }
                        Err(status) => {
                            assert_eq!(status.code(), tonic::Code::Unavailable, "{status:?}");
                            refused += 1;
                        }
                    }
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                (accepted, refused)
            }));
        }
        let mut all = HashMap::new();
        let mut refused = 0;
        for task in tasks {
            let (accepted, r) = task.await.expect("client task");
            all.extend(accepted);
            refused += r;
        }
        (all, refused)
    })
}

/// The sum over shards of `name` for `exporter` on the Prometheus endpoint.
fn metric_sum(metrics_port: u16, name: &str, exporter: &str) -> f64 {
    common::metric_sum(metrics_port, name, &format!("exporter=\"{exporter}\""))
}

fn check(failing_endpoint: &str, failing: Option<&Backend>) -> (Collector, u16) {
    let healthy = Backend::start();
    let grpc_port = free_port();
    let metrics_port = free_port();
    let mut collector = Collector::start_yaml(&yaml(
        grpc_port,
        &healthy.endpoint(),
        failing_endpoint,
        metrics_port,
    ));
    collector.wait_ready("fan-out");
    let (accepted, refused) = send(grpc_port);
    // The healthy exporter is never gated by the failing one: nothing is refused.
    assert_eq!(
        refused, 0,
        "requests refused because of the failing exporter"
    );
    assert_eq!(
        accepted.len(),
        CONNECTIONS * REQUESTS_PER_CONNECTION * SPANS_PER_REQUEST
    );
    assert!(
        healthy.wait_for_items(accepted.len(), 0, 0, common::WAIT),
        "healthy backend got {} of {} spans\n{}",
        healthy.spans().len(),
        accepted.len(),
        collector.logs()
    );
    std::thread::sleep(Duration::from_millis(500));
    let mut seen: HashMap<String, usize> = HashMap::new();
    for recorded in healthy.trace_requests() {
        for rs in &recorded.request.resource_spans {
            for ss in &rs.scope_spans {
                for span in &ss.spans {
                    *seen.entry(span.name.clone()).or_default() += 1;
                    let sent = accepted.get(&span.name).expect("unknown span");
                    let late = recorded.at.saturating_duration_since(*sent);
                    assert!(late <= ON_TIME, "span {} arrived {late:?} late", span.name);
                }
            }
        }
    }
    let duplicated: Vec<_> = seen.iter().filter(|(_, n)| **n > 1).collect();
    assert!(duplicated.is_empty(), "duplicated: {duplicated:?}");
    assert_eq!(seen.len(), accepted.len());
    if let Some(failing) = failing {
        assert!(
            failing.rejected() > 0,
            "the failing backend was never tried"
        );
        assert!(failing.spans().is_empty());
    }
    (collector, metrics_port)
}

/// Scenario: one of two exporters gets INVALID_ARGUMENT for everything (permanent).
/// Guarantee: the healthy backend receives every acknowledged span exactly once, within batch
/// timeout + 2 s of its acknowledgement, and no client is refused.
#[test]
fn permanent_failure_does_not_touch_the_healthy_exporter() {
    let failing = Backend::start();
    failing.fail_next(100_000, tonic::Code::InvalidArgument, "bad data");
    let _ = check(&failing.endpoint(), Some(&failing));
}

/// Scenario: one of two exporters points at a port nobody listens on (retryable, its small
/// queue fills and overflows). Guarantee: the healthy backend still receives every
/// acknowledged span exactly once and on time; the dead exporter's overflow is its own.
#[test]
fn dead_backend_does_not_stall_the_healthy_exporter() {
    let dead = format!("127.0.0.1:{}", free_port());
    let (_collector, metrics_port) = check(&dead, None);
    // What the dead exporter could not take is counted for it alone.
    let dropped = metric_sum(
        metrics_port,
        "otelcol_exporter_enqueue_failed_spans_total",
        "otlp/failing",
    );
    assert!(
        dropped > 0.0,
        "no enqueue_failed counted for the dead exporter"
    );
    let healthy_dropped = metric_sum(
        metrics_port,
        "otelcol_exporter_enqueue_failed_spans_total",
        "otlp/healthy",
    );
    assert_eq!(healthy_dropped, 0.0);
}

/// Two traces pipelines on one receiver, no batch (the client's answer waits for both), one
/// shard: `traces/a` to backend `a`, `traces/b` to backend `b` whose queue holds one request.
fn two_pipelines_yaml(grpc_port: u16, a: &str, b: &str) -> String {
    format!(
        "receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:{grpc_port}
exporters:
  otlp/a:
    endpoint: {a}
    tls: {{insecure: true}}
    timeout: 10s
  otlp/b:
    endpoint: {b}
    tls: {{insecure: true}}
    timeout: 10s
    sending_queue: {{queue_size: 1, num_consumers: 1}}
service:
  pipelines:
    traces/a:
      receivers: [otlp]
      exporters: [otlp/a]
    traces/b:
      receivers: [otlp]
      exporters: [otlp/b]
shards:
  cores: 1
"
    )
}

/// Scenario: two pipelines on one receiver; backend `a` answers after 300 ms, backend `b`
/// after 2 s and its exporter's queue holds one request. Two clients send one request each
/// at the same moment and retry every 200 ms while refused (UNAVAILABLE). The second finds
/// no room in pipeline `b` while pipeline `a` had room. Guarantee: every request is
/// acknowledged in the end, and each span reaches each backend exactly once: a refusal by
/// pipeline `b` never follows a hand-off to pipeline `a`.
#[test]
fn a_pipeline_without_room_never_duplicates_into_another() {
    let a = Backend::start();
    let b = Backend::start();
    a.set_delay(Duration::from_millis(300));
    b.set_delay(Duration::from_secs(2));
    let grpc_port = free_port();
    let _collector =
        Collector::start_yaml(&two_pipelines_yaml(grpc_port, &a.endpoint(), &b.endpoint()));
    let refusals = common::runtime().block_on(async move {
        let mut tasks = Vec::new();
        for c in 0..2 {
            tasks.push(tokio::spawn(async move {
                let url = format!("http://127.0.0.1:{grpc_port}");
                let mut client = TraceServiceClient::connect(url).await.expect("connect");
                let mut refusals = 0;
                loop {
                    match client.export(request(c, 0)).await {
                        Ok(_) => return refusals,
                        Err(status) => {
                            assert_eq!(status.code(), tonic::Code::Unavailable, "{status:?}");
                            refusals += 1;
                            assert!(refusals < 100, "refused for 20 s");
                            tokio::time::sleep(Duration::from_millis(200)).await;
                        }
                    }
                }
            }));
        }
        let mut refusals = 0;
        for task in tasks {
            refusals += task.await.expect("client");
        }
        refusals
    });
    assert!(refusals > 0, "the test must make one pipeline refuse");
    for (name, backend) in [("a", &a), ("b", &b)] {
        let mut names: Vec<String> = backend.spans().into_iter().map(|s| s.item.name).collect();
        names.sort();
        let expected: Vec<String> = (0..2)
            .flat_map(|c| (0..SPANS_PER_REQUEST).map(move |i| format!("{c}/0/{i}")))
            .collect();
        assert_eq!(names, expected, "backend {name}: each span exactly once");
    }
}
