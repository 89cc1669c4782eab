//! `sending_queue.batch` on exporters (otelcol's exporterhelper batching), run by the batch
//! processor's code in front of that exporter only.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::http_backend::HttpBackend;
use common::{free_port, named_spans_request, Backend, Collector, WAIT};

/// Scenario: a pipeline without a batch processor exports to `otlp` with
/// `sending_queue.batch {flush_timeout: 300ms, min_size: 10, max_size: 10}` and to `otlphttp`
/// without batching; 25 one-span requests are sent one after another. Guarantee: every
/// request is acknowledged; the otlp backend gets the spans in batches of 10, 10 and then the
/// last 5 once the flush timeout passes; the otlphttp backend gets 25 requests of one span.
#[test]
fn an_exporter_batches_its_own_copy_and_the_others_do_not() {
    let grpc_backend = Backend::start();
    let http_backend = HttpBackend::start();
    let port = free_port();
    let yaml = format!(
        "receivers:
  otlp:
    protocols:
      grpc: {{endpoint: 127.0.0.1:{port}}}
exporters:
  otlp:
    endpoint: {grpc}
    tls: {{insecure: true}}
    sending_queue:
      batch: {{flush_timeout: 300ms, min_size: 10, max_size: 10}}
  otlphttp: {{endpoint: {http}}}
service:
  pipelines:
    traces: {{receivers: [otlp], exporters: [otlp, otlphttp]}}
shards: {{cores: 1}}
",
        grpc = grpc_backend.endpoint(),
        http = http_backend.url(),
    );
    let _collector = Collector::start_yaml(&yaml);
    for i in 0..25 {
        let request = named_spans_request(0, i, 1);
        common::export_traces(port, request).unwrap();
    }
    assert!(common::wait_until(WAIT, || grpc_backend.spans().len()
        >= 25
        && http_backend.traces().len() >= 25));
    std::thread::sleep(Duration::from_millis(500));
    let sizes: Vec<usize> = grpc_backend
        .trace_requests()
        .iter()
        .map(|r| {
            let scopes = r.request.resource_spans.iter().flat_map(|r| &r.scope_spans);
            scopes.map(|s| s.spans.len()).sum()
        })
        .collect();
    assert_eq!(sizes, [10, 10, 5]);
    let http_sizes: Vec<usize> = http_backend
        .traces()
        .iter()
        .map(|r| r.resource_spans.len())
        .collect();
    assert_eq!(http_sizes, [1; 25]);
}

/// Scenario: an exporter batch waiting for `min_size: 1000` with `flush_timeout: 60s` holds 5
/// acknowledged spans when the collector gets SIGTERM. Guarantee: the drain sends them; the
/// process exits cleanly.
#[test]
fn a_drain_sends_what_the_exporter_batch_holds() {
    let backend = Backend::start();
    let port = free_port();
    let yaml = format!(
        "receivers:
  otlp:
    protocols:
      grpc: {{endpoint: 127.0.0.1:{port}}}
exporters:
  otlp:
    endpoint: {}
    tls: {{insecure: true}}
    sending_queue: {{batch: {{flush_timeout: 60s, min_size: 1000}}}}
service:
  pipelines:
    traces: {{receivers: [otlp], exporters: [otlp]}}
",
        backend.endpoint(),
    );
    let mut collector = Collector::start_yaml(&yaml);
    for i in 0..5 {
        common::export_traces(port, named_spans_request(0, i, 1)).unwrap();
    }
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(
        backend.spans().len(),
        0,
        "held in the batch until the drain"
    );
    collector.sigterm();
    assert!(collector.wait_exit(WAIT).success());
    assert_eq!(backend.spans().len(), 5);
}

/// A pipeline exporting to `otlp/disk` (durable queue in `dir`, to `disk`) and to
/// `otlp/batched` (`sending_queue.batch`, to `batched`), receiving on `port`.
fn durable_and_batched(dir: &std::path::Path, port: u16, disk: &str, batched: &str) -> String {
    format!(
        "receivers:
  otlp:
    protocols:
      grpc: {{endpoint: 127.0.0.1:{port}}}
extensions:
  file_storage: {{directory: {dir}, fsync_policy: always}}
exporters:
  otlp/disk:
    endpoint: {disk}
    tls: {{insecure: true}}
    timeout: 1s
    retry_on_failure: {{initial_interval: 20ms, max_interval: 100ms, max_elapsed_time: 0}}
    sending_queue: {{storage: file_storage}}
  otlp/batched:
    endpoint: {batched}
    tls: {{insecure: true}}
    sending_queue: {{batch: {{flush_timeout: 100ms, min_size: 1000}}}}
service:
  extensions: [file_storage]
  pipelines:
    traces: {{receivers: [otlp], exporters: [otlp/disk, otlp/batched]}}
shards: {{cores: 1}}
",
        dir = dir.display(),
    )
}

/// Scenario: a pipeline exports to `otlp/disk` (durable queue, its backend down) and to
/// `otlp/batched` (`sending_queue.batch`); 10 spans are acknowledged; shardgate is killed
/// with SIGKILL and restarted with `otlp/disk`'s backend up. Guarantee: the batched exporter
/// delivered its copy before the kill, and the durable exporter's copy, written to disk
/// before the client was answered, arrives after the restart.
#[test]
fn a_durable_exporter_beside_a_batched_one_keeps_its_copy_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let batched = Backend::start();
    let dead = format!("127.0.0.1:{}", free_port());
    let port = free_port();
    let collector = Collector::start_yaml(&durable_and_batched(
        dir.path(),
        port,
        &dead,
        &batched.endpoint(),
    ));
    for i in 0..10 {
        common::export_traces(port, named_spans_request(0, i, 1)).unwrap();
    }
    assert!(common::wait_until(WAIT, || batched.spans().len() >= 10));
    drop(collector); // SIGKILL
    let disk = Backend::start();
    let port = free_port();
    let _collector = Collector::start_yaml(&durable_and_batched(
        dir.path(),
        port,
        &disk.endpoint(),
        &batched.endpoint(),
    ));
    assert!(common::wait_until(WAIT, || disk.spans().len() >= 10));
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(disk.spans().len(), 10);
    assert_eq!(batched.spans().len(), 10);
}

/// Runs `shardgate validate --config FILE` on `yaml`: whether it passed, and its stderr.
fn validate(yaml: &str) -> (bool, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("collector.yaml");
    std::fs::write(&path, yaml).expect("write config");
    let output = std::process::Command::new(common::binary())
        .args(["validate", "--config"])
        .arg(&path)
        .env("NO_COLOR", "1")
        .output()
        .expect("run validate");
    let stderr = common::strip_ansi(&String::from_utf8_lossy(&output.stderr));
    (output.status.success(), stderr)
}

/// A config whose `otlp` exporter has `sending_queue: <queue>`, beside a `file_storage`
/// extension and a `loadbalancing` exporter (unused) whose backends batch.
fn queue_yaml(queue: &str) -> String {
    format!(
        "receivers:
  otlp:
    protocols:
      grpc: {{endpoint: 127.0.0.1:{}}}
extensions:
  file_storage: {{directory: /tmp}}
exporters:
  otlp:
    endpoint: 127.0.0.1:4317
    tls: {{insecure: true}}
    sending_queue: {queue}
  loadbalancing:
    protocol: {{otlp: {{tls: {{insecure: true}}, sending_queue: {{batch: {{}}}}}}}}
    resolver: {{static: {{hostnames: [127.0.0.1]}}}}
service:
  extensions: [file_storage]
  pipelines:
    traces: {{receivers: [otlp], exporters: [otlp]}}
",
        free_port()
    )
}

/// Scenario: `validate` on `sending_queue.batch` as otelcol users write it, then on each
/// mistake. Guarantee: the forms otelcol accepts pass (a null body is every default); each
/// mistake, and each combination this build does not run, is refused naming its key.
#[test]
fn validate_checks_sending_queue_batch() {
    let (ok, stderr) = validate(&queue_yaml(
        "{batch: {flush_timeout: 1s, min_size: 100, max_size: 200, sizer: items}}",
    ));
    assert!(!ok, "loadbalancing's batch must be refused");
    assert!(
        stderr.contains("exporters::loadbalancing::protocol::otlp::sending_queue::batch: not supported inside loadbalancing"),
        "{stderr}"
    );
    let without_loadbalancing = |queue: &str| {
        let yaml = queue_yaml(queue);
        let start = yaml.find("  loadbalancing:").unwrap();
        let end = yaml.find("service:").unwrap();
        format!("{}{}", &yaml[..start], &yaml[end..])
    };
    for good in [
        "{batch: {flush_timeout: 1s, min_size: 100, max_size: 200, sizer: items}}",
        "{batch: {}}",
        "{batch: }",
        "{sizer: items, queue_size: 10000, batch: {min_size: 5000}}",
    ] {
        let (ok, stderr) = validate(&without_loadbalancing(good));
        assert!(ok, "{good}: {stderr}");
    }
    for (bad, needle) in [
        ("{batch: {sizer: bytes}}", "sending_queue::batch::sizer: the bytes sizer is not supported"),
        ("{batch: {sizer: requests}}", "sending_queue::batch::sizer: `batch` supports only `items` or `bytes` sizer"),
        ("{batch: {flush_timeout: 0s}}", "sending_queue::batch::flush_timeout: `flush_timeout` must be positive"),
        ("{batch: {min_size: 10, max_size: 5}}", "sending_queue::batch::max_size: `max_size` (5) must be greater or equal to `min_size` (10)"),
        ("{batch: {min_size: -1}}", "sending_queue::batch::min_size"),
        ("{sizer: items, queue_size: 100, batch: {min_size: 200}}", "sending_queue::batch::min_size: `min_size` must be less than or equal to `queue_size`"),
        ("{storage: file_storage, batch: {}}", "sending_queue::batch: batching in front of a durable queue"),
        ("{batch: {flush_timeout: 1s, min_items: 5}}", "min_items"),
    ] {
        let (ok, stderr) = validate(&without_loadbalancing(bad));
        assert!(!ok, "{bad} must be refused");
        assert!(stderr.contains(needle), "{bad}: want {needle:?} in:\n{stderr}");
    }
}
