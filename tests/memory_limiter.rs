//! memory_limiter: offered far more than a slow backend takes, the collector's RSS stays under
//! `limit_mib` while clients get retryable refusals, counted in /metrics.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{free_port, Collector};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::trace::v1::Span;

const LIMIT_MIB: u64 = 100;
const SPIKE_MIB: u64 = 20;
const CONNECTIONS: usize = 4;
const LOAD: Duration = Duration::from_secs(6);
/// Each request: 10 spans of ~100 KiB, about 1 MiB.
const SPANS_PER_REQUEST: usize = 10;
const SPAN_BYTES: usize = 100 << 10;

/// A backend that takes 300 ms per request: far slower than what the clients offer.
struct Slow(Arc<AtomicU64>);

#[tonic::async_trait]
impl TraceService for Slow {
    async fn export(
        &self,
        _request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        tokio::time::sleep(Duration::from_millis(300)).await;
        self.0.fetch_add(1, Ordering::Relaxed);
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

fn start_slow_backend(received: Arc<AtomicU64>) -> (SocketAddr, tokio::runtime::Runtime) {
    let rt = common::runtime();
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let addr = listener.local_addr().unwrap();
    rt.spawn(async move {
        let incoming = tonic::transport::server::TcpIncoming::from(listener);
        let _ = tonic::transport::Server::builder()
            .add_service(
                TraceServiceServer::new(Slow(received))
                    .accept_compressed(tonic::codec::CompressionEncoding::Gzip)
                    .max_decoding_message_size(256 << 20),
            )
            .serve_with_incoming(incoming)
            .await;
    });
    (addr, rt)
}

fn request() -> ExportTraceServiceRequest {
    let big = "x".repeat(SPAN_BYTES);
    let spans = (0..SPANS_PER_REQUEST)
        .map(|_| Span {
            trace_id: vec![1; 16],
            span_id: vec![2; 8],
            name: "big".into(),
            attributes: vec![KeyValue {
                key: "blob".into(),
                value: Some(AnyValue {
                    value: Some(any_value::Value::StringValue(big.clone())),
                }),
                ..Default::default()
            }],
            ..Default::default()
        })
        .collect();
    common::spans_request(spans)
}

fn yaml(grpc_port: u16, backend: SocketAddr, metrics_port: u16) -> String {
    format!(
        "receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:{grpc_port}
        max_recv_msg_size_mib: 16
processors:
  memory_limiter:
    check_interval: 50ms
    limit_mib: {LIMIT_MIB}
    spike_limit_mib: {SPIKE_MIB}
  batch:
    send_batch_size: 10
    timeout: 100ms
exporters:
  otlp:
    endpoint: {backend}
    tls: {{insecure: true}}
    compression: none
    timeout: 10s
    sending_queue: {{queue_size: 100000, num_consumers: 2}}
service:
  telemetry:
    logs:
      level: info
    metrics:
      readers:
        - pull:
            exporter:
              prometheus: {{host: 127.0.0.1, port: {metrics_port}}}
  pipelines:
    traces:
      receivers: [otlp]
      processors: [memory_limiter, batch]
      exporters: [otlp]
shards:
  cores: {}
  drain_timeout: 1s
  # Far above the memory limit: here the memory_limiter, not the budget, must hold the line.
  pending_bytes_max: 2147483648
",
        common::two_shards()
    )
}

fn rss_bytes(pid: u32) -> u64 {
    let statm = std::fs::read_to_string(format!("/proc/{pid}/statm")).unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

fn metric_sum(metrics_port: u16, name: &str) -> f64 {
    common::metric_sum(metrics_port, name, "")
}

/// Scenario: 4 connections offer ~1 MiB requests as fast as they are answered to a backend
/// that takes 300 ms per request, with `memory_limiter` at 100 MiB (spike 20 MiB) and a shard
/// budget far above it. Guarantee: the collector's RSS, sampled every 20 ms, never reaches
/// `limit_mib`; clients get UNAVAILABLE (from the limiter's cap on each shard's pending data,
/// or from the RSS sampling), and every refusal is counted on /metrics.
#[test]
fn rss_stays_under_limit_while_clients_are_refused() {
    let received = Arc::new(AtomicU64::new(0));
    let (backend, _backend_rt) = start_slow_backend(received.clone());
    let grpc_port = free_port();
    let metrics_port = free_port();
    let mut collector = Collector::start_yaml(&yaml(grpc_port, backend, metrics_port));
    collector.wait_ready("memory_limiter");
    let pid = collector.pid();
    let done = Arc::new(AtomicBool::new(false));
    let sampler = {
        let done = done.clone();
        std::thread::spawn(move || {
            let mut max = 0;
            while !done.load(Ordering::Relaxed) {
                max = max.max(rss_bytes(pid));
                std::thread::sleep(Duration::from_millis(20));
            }
            max
        })
    };
    let rt = common::runtime();
    let (accepted, refused) = rt.block_on(async move {
        let started = Instant::now();
        let mut tasks = Vec::new();
        for _ in 0..CONNECTIONS {
            tasks.push(tokio::spawn(async move {
                let url = format!("http://127.0.0.1:{grpc_port}");
                let mut client = TraceServiceClient::connect(url)
                    .await
                    .expect("connect")
                    .max_encoding_message_size(64 << 20);
                let (mut accepted, mut refused) = (0u64, 0u64);
                while started.elapsed() < LOAD {
                    match client.export(request()).await {
                        Ok(_) => accepted += 1,
                        Err(status) => {
                            assert_eq!(status.code(), tonic::Code::Unavailable, "{status:?}");
                            refused += 1;
                            tokio::time::sleep(Duration::from_millis(5)).await;
                        }
                    }
                }
                (accepted, refused)
            }));
        }
        let mut totals = (0, 0);
        for task in tasks {
            let (a, r) = task.await.expect("client");
            totals.0 += a;
            totals.1 += r;
        }
        totals
    });
    done.store(true, Ordering::Relaxed);
    let max_rss = sampler.join().unwrap();
    let refused_unread = metric_sum(
        metrics_port,
        "shardgate_memory_limiter_refused_requests_total",
    );
    // Refused after the scan: counted in items, as otelcol does.
    let refused_spans = metric_sum(metrics_port, "otelcol_receiver_refused_spans");
    let counted = refused_unread + refused_spans / SPANS_PER_REQUEST as f64;
    eprintln!(
        "memory_limiter: limit {LIMIT_MIB} MiB, max RSS {:.1} MiB; accepted {accepted} requests \
         (~{accepted} MiB), refused {refused}, counted refused {counted}, backend took {}",
        max_rss as f64 / (1 << 20) as f64,
        received.load(Ordering::Relaxed)
    );
    assert!(accepted > 0, "nothing was accepted");
    assert!(refused > 0, "no client was refused\n{}", collector.logs());
    assert_eq!(counted, refused as f64, "refusals counted on /metrics");
    assert!(
        max_rss < LIMIT_MIB << 20,
        "RSS reached {max_rss} bytes, limit {LIMIT_MIB} MiB"
    );
}

fn tiny_limit_yaml(grpc_port: u16, http_port: u16, in_pipeline: bool) -> String {
    let processors = if in_pipeline {
        "[memory_limiter]"
    } else {
        "[]"
    };
    format!(
        "receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:{grpc_port}
      http:
        endpoint: 127.0.0.1:{http_port}
processors:
  memory_limiter:
    check_interval: 20ms
    limit_mib: 2
    spike_limit_mib: 1
exporters:
  debug:
service:
  telemetry:
    metrics:
      level: none
  pipelines:
    traces:
      receivers: [otlp]
      processors: {processors}
      exporters: [debug]
shards:
  cores: {}
",
        common::two_shards()
    )
}

/// Scenario: a memory_limiter whose limit (2 MiB) is below any process's RSS, so it is at the
/// hard level from its first check. Guarantee: gRPC clients get UNAVAILABLE with otelcol's
/// message and HTTP clients 503 with `Retry-After`; the same config with the limiter defined but
/// in no pipeline accepts the same requests.
#[test]
fn refusals_are_retryable_on_both_transports_and_only_when_used() {
    use prost::Message;
    for in_pipeline in [true, false] {
        let (grpc_port, http_port) = (free_port(), free_port());
        let mut collector =
            Collector::start_yaml(&tiny_limit_yaml(grpc_port, http_port, in_pipeline));
        collector.wait_ready("memory_limiter tiny limit");
        // The first check runs one interval after start.
        std::thread::sleep(Duration::from_millis(300));
        let rt = common::runtime();
        let grpc = rt.block_on(async move {
            let url = format!("http://127.0.0.1:{grpc_port}");
            let mut client = TraceServiceClient::connect(url).await.expect("connect");
            client.export(request()).await
        });
        let body = request().encode_to_vec();
        let http = common::http::post(
            http_port,
            "/v1/traces",
            "application/x-protobuf",
            None,
            &body,
        );
        if in_pipeline {
            let status = grpc.expect_err("refused under memory pressure");
            assert_eq!(status.code(), tonic::Code::Unavailable);
            assert_eq!(status.message(), "data refused due to high memory usage");
            assert_eq!(http.status, 503);
            assert!(http.header("retry-after").is_some(), "{:?}", http.headers);
        } else {
            grpc.expect("accepted when the limiter is in no pipeline");
            assert_eq!(http.status, 200);
        }
    }
}
