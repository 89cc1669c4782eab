//! The `health_check` extension over a collector's life: start → run → SIGTERM drain → exit.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::{free_port, runtime, Backend, Collector, Config, Exporter, WAIT};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};

/// `GET path`; `None` when nothing listens (the process is gone).
fn get(addr: &str, path: &str) -> Option<(u16, String)> {
    common::http_get(addr, path)
}

/// Scenario: a collector with `health_check` on a free port and a backend that refuses every
/// export (so acknowledged data stays pending and the drain has to wait, bounded by a 3 s
/// `drain_timeout`). Guarantee: 200 `Server available` while running (also on the configured
/// path only), 503 `Server not available` once SIGTERM starts the drain, then the process exits
/// and the endpoint is gone.
#[test]
fn health_follows_start_run_drain_exit() {
    let backend = Backend::start();
    let health_port = free_port();
    let mut config = Config::to_backend(&backend);
    config.drain_timeout = "3s".into();
    config.exporter = Exporter::Otlp {
        endpoint: backend.endpoint(),
        compression: "none".into(),
        retry: Some(
            "{enabled: true, initial_interval: 100ms, max_interval: 100ms, max_elapsed_time: 60s}"
                .into(),
        ),
    };
    let yaml = config.yaml().replacen(
        "service:\n",
        &format!(
            "extensions:\n  health_check:\n    endpoint: 127.0.0.1:{health_port}\n    path: /health/status\nservice:\n  extensions: [health_check]\n"
        ),
        1,
    );
    let mut collector = Collector::start_yaml(&yaml);
    let addr = format!("127.0.0.1:{health_port}");

    let (status, body) = get(&addr, "/health/status").expect("health endpoint answers");
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"status\":\"Server available\""), "{body}");
    assert!(body.contains("\"upSince\""), "{body}");
    let (status, _) = get(&addr, "/").expect("answers");
    assert_eq!(status, 404, "only the configured path is the health check");

    // Data the backend keeps refusing: acknowledged by the batch processor, then retried.
    backend.fail_next(100_000, tonic::Code::Unavailable, "hold");
    runtime().block_on(async {
        let mut client = TraceServiceClient::connect(config.grpc_url())
            .await
            .unwrap();
        let request = ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                scope_spans: vec![ScopeSpans {
                    spans: vec![Span {
                        trace_id: vec![1; 16],
                        span_id: vec![2; 8],
                        name: "held".into(),
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
                ..Default::default()
            }],
        };
        client.export(request).await.unwrap();
    });
    assert!(
        common::wait_until(WAIT, || backend.rejected() > 0),
        "the exporter never tried"
    );
    let (status, _) = get(&addr, "/health/status").unwrap();
    assert_eq!(
        status, 200,
        "exporter retries do not make the collector unhealthy"
    );

    collector.sigterm();
    let started = Instant::now();
    let mut saw_unavailable = None;
    while started.elapsed() < Duration::from_secs(10) {
        match get(&addr, "/health/status") {
            Some((503, body)) => {
                saw_unavailable = Some(body);
                break;
            }
            Some(_) => std::thread::sleep(Duration::from_millis(10)),
            None => break,
        }
    }
    let body = saw_unavailable.expect("503 while draining");
    assert!(
        body.contains("\"status\":\"Server not available\""),
        "{body}"
    );

    collector.wait_exit(WAIT);
    assert!(
        get(&addr, "/health/status").is_none(),
        "endpoint still answers after exit"
    );
}

/// Scenario: a collector with `zpages` (and `health_check`) listed in `service.extensions`.
/// Guarantee: `/debug/pipelinez` lists every pipeline with its components as configured,
/// `/debug/servicez` and `/debug/extensionz` answer, other paths are 404.
#[test]
fn zpages_show_the_service_and_its_pipelines() {
    let backend = Backend::start();
    let (zpages_port, health_port) = (free_port(), free_port());
    let config = Config::to_backend(&backend);
    let yaml = config.yaml().replacen(
        "service:\n",
        &format!(
            "extensions:\n  zpages:\n    endpoint: 127.0.0.1:{zpages_port}\n  health_check:\n    endpoint: 127.0.0.1:{health_port}\nservice:\n  extensions: [zpages, health_check]\n"
        ),
        1,
    );
    let _collector = Collector::start_yaml(&yaml);
    let addr = format!("127.0.0.1:{zpages_port}");
    let (status, body) = get(&addr, "/debug/pipelinez").expect("zpages answer");
    assert_eq!(status, 200, "{body}");
    for signal in ["traces", "metrics", "logs"] {
        assert!(
            body.contains(&format!(
                "<td>{signal}</td><td>otlp</td><td>batch</td><td>otlp</td>"
            )),
            "{signal}: {body}"
        );
    }
    let (status, body) = get(&addr, "/debug/servicez").expect("servicez");
    assert_eq!(status, 200);
    assert!(body.contains("<td>Shards</td>"), "{body}");
    let (status, body) = get(&addr, "/debug/extensionz").expect("extensionz");
    assert_eq!(status, 200);
    assert!(
        body.contains("health_check") && body.contains("zpages"),
        "{body}"
    );
    assert_eq!(get(&addr, "/debug/rpcz").map(|(s, _)| s), Some(404));
}
