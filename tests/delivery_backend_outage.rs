//! Backend outage: data acknowledged while the backend is down is delivered once it is back.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_types)]

mod common;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{free_port, Collector};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};

const CONNECTIONS: usize = 3;
const SPANS_PER_REQUEST: usize = 5;
const OUTAGE: Duration = Duration::from_secs(10);
/// Clients send for the outage plus a second either side.
const LOAD: Duration = Duration::from_secs(12);

/// What the backend saw: span names, and whether it answers UNAVAILABLE.
#[derive(Default)]
struct State {
    names: Mutex<Vec<String>>,
    unavailable: AtomicBool,
}

struct Svc(Arc<State>);

#[tonic::async_trait]
impl TraceService for Svc {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        if self.0.unavailable.load(Ordering::SeqCst) {
            return Err(tonic::Status::unavailable("backend is down"));
        }
        let mut names = self.0.names.lock().unwrap();
        for rs in &request.get_ref().resource_spans {
            for ss in &rs.scope_spans {
                names.extend(ss.spans.iter().map(|s| s.name.clone()));
            }
        }
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

/// A trace backend on a fixed port whose listener can be stopped and started again.
struct Listener {
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Listener {
    fn start(addr: SocketAddr, state: Arc<State>) -> Listener {
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind(addr).await.expect("rebind");
                ready_tx.send(()).unwrap();
                let incoming = tonic::transport::server::TcpIncoming::from(listener);
                let server = tonic::transport::Server::builder()
                    .add_service(
                        TraceServiceServer::new(Svc(state))
                            .accept_compressed(tonic::codec::CompressionEncoding::Gzip),
                    )
                    .serve_with_incoming(incoming);
                tokio::select! {
                    _ = server => {}
                    _ = stop_rx => {}
                }
            });
        });
        ready_rx
            .recv_timeout(common::WAIT)
            .expect("backend listening");
        Listener {
            stop: Some(stop_tx),
            thread: Some(thread),
        }
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

fn request(c: usize, r: usize) -> ExportTraceServiceRequest {
    common::named_spans_request(c, r, SPANS_PER_REQUEST)
}

fn yaml(grpc_port: u16, backend: SocketAddr) -> String {
    format!(
        "receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:{grpc_port}
processors:
  batch:
    send_batch_size: 20
    timeout: 100ms
exporters:
  otlp:
    endpoint: {backend}
    tls: {{insecure: true}}
    timeout: 1s
    retry_on_failure: {{initial_interval: 100ms, max_interval: 500ms, max_elapsed_time: 60s}}
    sending_queue: {{queue_size: 40}}
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
      processors: [batch]
      exporters: [otlp]
shards:
  cores: {}
  drain_timeout: 1s
",
        common::two_shards(),
        metrics_port = free_port(),
    )
}

/// Sends for [`LOAD`]; returns the names of the spans of acknowledged requests and how many
/// requests were refused (retryably).
fn send(grpc_port: u16) -> (Vec<String>, usize) {
    let rt = common::runtime();
    rt.block_on(async move {
        let started = Instant::now();
        let mut tasks = Vec::new();
        for c in 0..CONNECTIONS {
            tasks.push(tokio::spawn(async move {
                let url = format!("http://127.0.0.1:{grpc_port}");
                let mut client = TraceServiceClient::connect(url).await.expect("connect");
                let mut accepted = Vec::new();
                let mut refused = 0;
                let mut r = 0;
                while started.elapsed() < LOAD {
                    let call = client.export(request(c, r));
                    match tokio::time::timeout(Duration::from_secs(5), call).await {
                        Ok(Ok(_)) => {
                            accepted.extend((0..SPANS_PER_REQUEST).map(|i| format!("{c}/{r}/{i}")))
                        }
                        Ok(Err(status)) => {
                            assert_eq!(status.code(), tonic::Code::Unavailable, "{status:?}");
                            refused += 1;
                        }
                        Err(_) => panic!("the collector did not answer within 5 s"),
                    }
                    r += 1;
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
                (accepted, refused)
            }));
        }
        let mut all = Vec::new();
        let mut refused = 0;
        for task in tasks {
            let (accepted, n) = task.await.expect("client");
            all.extend(accepted);
            refused += n;
        }
        (all, refused)
    })
}

/// Runs the load with an outage made by `down`/`up`, then checks exactly-once delivery.
fn outage(stop_listener: bool) {
    let backend_addr = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let state = Arc::new(State::default());
    let mut listener = Some(Listener::start(backend_addr, state.clone()));
    let grpc_port = free_port();
    let mut collector = Collector::start_yaml(&yaml(grpc_port, backend_addr));
    collector.wait_ready("backend outage");
    let controller = {
        let state = state.clone();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_secs(1));
            if stop_listener {
                listener = None;
            } else {
                state.unavailable.store(true, Ordering::SeqCst);
            }
            std::thread::sleep(OUTAGE);
            if stop_listener {
                listener = Some(Listener::start(backend_addr, state.clone()));
            } else {
                state.unavailable.store(false, Ordering::SeqCst);
            }
            listener
        })
    };
    let (accepted, refused) = send(grpc_port);
    let _listener = controller.join().expect("controller");
    eprintln!(
        "accepted spans: {}, refused requests: {refused}",
        accepted.len()
    );
    assert!(!accepted.is_empty());
    let delivered = common::wait_until(common::WAIT, || {
        let names = state.names.lock().unwrap();
        accepted.iter().all(|n| names.contains(n))
    });
    let names = state.names.lock().unwrap().clone();
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for n in &names {
        *counts.entry(n.as_str()).or_default() += 1;
    }
    let missing: Vec<_> = accepted
        .iter()
        .filter(|n| !counts.contains_key(n.as_str()))
        .take(10)
        .collect();
    assert!(
        delivered,
        "{} of {} acknowledged spans missing (refused requests: {refused}), e.g. {missing:?}\n{}",
        accepted.len()
            - accepted
                .iter()
                .filter(|n| counts.contains_key(n.as_str()))
                .count(),
        accepted.len(),
        collector.logs()
    );
    let duplicated: Vec<_> = counts.iter().filter(|(_, n)| **n > 1).take(10).collect();
    assert!(duplicated.is_empty(), "delivered twice: {duplicated:?}");
}

/// Scenario: steady load from 3 connections while the backend answers UNAVAILABLE for 10 s.
/// Guarantee: every span of every acknowledged request arrives exactly once afterwards;
/// requests refused with UNAVAILABLE are the only ones allowed to be missing.
#[test]
fn backend_answering_unavailable_for_ten_seconds_loses_nothing_acknowledged() {
    outage(false);
}

/// Scenario: steady load while the backend's listener is gone for 10 s (connections refused),
/// then back on the same port. Guarantee: as above, exactly once.
#[test]
fn backend_listener_gone_for_ten_seconds_loses_nothing_acknowledged() {
    outage(true);
}
