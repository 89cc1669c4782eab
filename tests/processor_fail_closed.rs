//! Processors fail closed: data an `attributes` rewrite fails on is refused (before the client
//! is answered) or left out (after a batch acknowledged it), never exported as it came with
//! the attribute it was told to delete.
//!
//! The rewrite failure is provoked through the `fault-injection` hooks (`src/fault.rs`), on
//! chunks that carry the `rewrite_fails` marker; `scripts/test.sh` turns the feature on.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{free_port, http_get, Backend, Collector, WAIT};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value::Value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};

const MARKER: &str = "shardgate.fault.rewrite_fails";
const SECRET: &str = "hunter2-do-not-export";

/// One resource with two spans, each with `password` = [`SECRET`]; the first span is named
/// `name` (the marker trips the fault).
fn request(name: &str) -> ExportTraceServiceRequest {
    let span = |name: &str| Span {
        trace_id: vec![1; 16],
        span_id: vec![2; 8],
        name: name.into(),
        attributes: vec![KeyValue {
            key: "password".into(),
            value: Some(AnyValue {
                value: Some(Value::StringValue(SECRET.into())),
            }),
            ..Default::default()
        }],
        ..Default::default()
    };
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            scope_spans: vec![ScopeSpans {
                spans: vec![span(name), span("plain")],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

/// Sends `request` on a fresh connection; the gRPC outcome.
fn send(grpc_port: u16, request: ExportTraceServiceRequest) -> Result<(), tonic::Status> {
    common::export_traces(grpc_port, request)
}

/// Names and `password` values of every span `backend` received.
fn received(backend: &Backend) -> (Vec<String>, Vec<String>) {
    let spans = backend.spans();
    let names = spans.iter().map(|s| s.item.name.clone()).collect();
    let passwords = spans
        .iter()
        .flat_map(|s| s.item.attributes.iter())
        .filter(|kv| kv.key == "password")
        .map(|kv| format!("{:?}", kv.value))
        .collect();
    (names, passwords)
}

fn env() -> [(&'static str, &'static str); 1] {
    [("SHARDGATE_FAULTS", "rewrite_fails")]
}

/// Scenario: two traces pipelines on one receiver, no batch: `traces/plain` exports as
/// received to backend `a`, `traces/scrubbed` deletes `password` then exports to backend
/// `b`. A request whose rewrite fails in `traces/scrubbed` is sent, then an ordinary one.
/// Guarantee: the failing request is refused with a non-retryable INTERNAL and reaches
/// neither backend (no pipeline takes data another refused); the ordinary one reaches both,
/// and `b`'s copy has no `password`.
#[test]
#[cfg_attr(
    not(feature = "fault-injection"),
    ignore = "needs --features fault-injection (scripts/test.sh turns it on)"
)]
fn a_failing_rewrite_refuses_the_request_in_every_pipeline() {
    let a = Backend::start();
    let b = Backend::start();
    let grpc_port = free_port();
    let yaml = format!(
        "receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:{grpc_port}
processors:
  attributes/scrub:
    actions: [{{key: password, action: delete}}]
exporters:
  otlp/a: {{endpoint: {a}, tls: {{insecure: true}}}}
  otlp/b: {{endpoint: {b}, tls: {{insecure: true}}}}
service:
  pipelines:
    traces/plain: {{receivers: [otlp], exporters: [otlp/a]}}
    traces/scrubbed: {{receivers: [otlp], processors: [attributes/scrub], exporters: [otlp/b]}}
shards:
  cores: {}
",
        common::two_shards(),
        a = a.endpoint(),
        b = b.endpoint(),
    );
    let collector = Collector::start_yaml_with_env(&yaml, &env());
    let refused = send(grpc_port, request(MARKER)).expect_err("the failing rewrite refuses");
    assert_eq!(refused.code(), tonic::Code::Internal, "{refused:?}");
    send(grpc_port, request("ordinary")).expect("an ordinary request is acknowledged");
    assert!(a.wait_for_items(2, 0, 0, WAIT) && b.wait_for_items(2, 0, 0, WAIT));
    std::thread::sleep(Duration::from_millis(300));
    let (names_a, _) = received(&a);
    let (names_b, passwords_b) = received(&b);
    assert_eq!(names_a, ["ordinary", "plain"], "{}", collector.logs());
    assert_eq!(names_b, ["ordinary", "plain"]);
    assert!(passwords_b.is_empty(), "{passwords_b:?}");
}

/// Scenario: `[batch, attributes/scrub]` deleting `password`, to one backend; the batch
/// acknowledges two requests, one of which the rewrite fails on. Guarantee: the backend gets
/// the ordinary request's spans without `password` and nothing of the failing one; the
/// secret never leaves; `shardgate_processor_failed_items_total` counts the 2 spans left
/// out, and the log says so.
#[test]
#[cfg_attr(
    not(feature = "fault-injection"),
    ignore = "needs --features fault-injection (scripts/test.sh turns it on)"
)]
fn a_failing_rewrite_after_batch_leaves_the_chunk_out() {
    let backend = Backend::start();
    let grpc_port = free_port();
    let metrics_port = free_port();
    let yaml = format!(
        "receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:{grpc_port}
processors:
  batch: {{timeout: 100ms}}
  attributes/scrub:
    actions: [{{key: password, action: delete}}]
exporters:
  otlp: {{endpoint: {endpoint}, tls: {{insecure: true}}}}
service:
  telemetry:
    metrics:
      readers:
        - pull:
            exporter:
              prometheus: {{host: 127.0.0.1, port: {metrics_port}}}
  pipelines:
    traces: {{receivers: [otlp], processors: [batch, attributes/scrub], exporters: [otlp]}}
shards:
  cores: 1
",
        endpoint = backend.endpoint(),
    );
    let collector = Collector::start_yaml_with_env(&yaml, &env());
    send(grpc_port, request(MARKER)).expect("the batch acknowledges");
    send(grpc_port, request("ordinary")).expect("the batch acknowledges");
    assert!(backend.wait_for_items(2, 0, 0, WAIT));
    let metrics = format!("127.0.0.1:{metrics_port}");
    let counted = common::wait_until(WAIT, || {
        http_get(&metrics, "/metrics").is_some_and(|(_, text)| {
            text.lines().any(|l| {
                l.starts_with("shardgate_processor_failed_items_total{data_type=\"traces\"")
                    && l.ends_with(" 2")
            })
        })
    });
    assert!(counted, "failed items counted; logs:\n{}", collector.logs());
    let (names, passwords) = received(&backend);
    assert_eq!(names, ["ordinary", "plain"]);
    assert!(passwords.is_empty(), "{passwords:?}");
    let logs = collector.logs();
    assert!(
        logs.contains("Processor failed") && logs.contains("dropped_items=2"),
        "{logs}"
    );
}
