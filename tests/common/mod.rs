//! Shared harness for the black-box tests: a recording OTLP/gRPC backend, a handle on a
//! running `shardgate` process, config rendering and item-level comparison helpers.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_types)]
#![allow(dead_code)]

use std::collections::{BTreeMap, VecDeque};
use std::fmt::Debug;
use std::io::Read;
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::logs::v1::logs_service_server::{
    LogsService, LogsServiceServer,
};
use opentelemetry_proto::tonic::collector::logs::v1::{
    ExportLogsServiceRequest, ExportLogsServiceResponse,
};
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_server::{
    MetricsService, MetricsServiceServer,
};
use opentelemetry_proto::tonic::collector::metrics::v1::{
    ExportMetricsServiceRequest, ExportMetricsServiceResponse,
};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::InstrumentationScope;
use opentelemetry_proto::tonic::logs::v1::LogRecord;
use opentelemetry_proto::tonic::metrics::v1::{metric, Metric};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::Span;
use tonic::codec::CompressionEncoding;

/// The line shardgate logs once every shard is serving.
pub const READY_LINE: &str = "Everything is ready. Begin running and processing data.";
/// The line shardgate logs after a clean drain.
pub const SHUTDOWN_LINE: &str = "Shutdown complete.";
/// Upper bound for every wait in the suite (the machine is small and shared).
pub const WAIT: Duration = Duration::from_secs(30);

/// A port that was free a moment ago on 127.0.0.1.
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local addr").port()
}

/// CPUs this process may run on.
pub fn cpus() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

/// Fails the test unless this process may use `n` CPUs: a test that needs them must not pass
/// without testing (CI machines have 2).
pub fn require_cpus(n: usize) {
    let have = cpus();
    assert!(
        have >= n,
        "this test needs {n} CPUs and this process may use {have}; run it on a machine with {n}"
    );
}

/// `shards.cores` for "two shards" (one if the machine only lets us have one CPU).
pub fn two_shards() -> String {
    cpus().min(2).to_string()
}

/// Polls `cond` every 20 ms until it holds or `timeout` passes; returns whether it held.
pub fn wait_until(timeout: Duration, mut cond: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if cond() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A multi-threaded tokio runtime for client code in synchronous tests.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime")
}

mod backend;
mod collector;
mod config;
mod flat;
pub mod h2raw;
pub mod http;
pub mod http_backend;
pub mod tls;

pub use backend::*;
pub use collector::*;
pub use config::*;
pub use flat::*;

/// A trace request of `spans` spans named `{connection}/{request}/{i}`, so a backend can tell
/// exactly which acknowledged request each span came from.
pub fn named_spans_request(
    connection: usize,
    request: usize,
    spans: usize,
) -> ExportTraceServiceRequest {
    let spans = (0..spans)
        .map(|i| Span {
            trace_id: vec![1; 16],
            span_id: vec![2; 8],
            name: format!("{connection}/{request}/{i}"),
            ..Default::default()
        })
        .collect();
    spans_request(spans)
}

/// A trace request with `spans` under one resource and one scope, both empty.
pub fn spans_request(spans: Vec<Span>) -> ExportTraceServiceRequest {
    use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans};
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

/// Sends `request` to the OTLP/gRPC receiver on 127.0.0.1:`port` in plaintext; panics when
/// nothing answers within 10 s.
pub fn export_traces(
    port: u16,
    request: impl tonic::IntoRequest<ExportTraceServiceRequest>,
) -> Result<(), tonic::Status> {
    use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
    let request = request.into_request();
    runtime().block_on(async move {
        let url = format!("http://127.0.0.1:{port}");
        let mut client = TraceServiceClient::connect(url).await.expect("connect");
        match tokio::time::timeout(Duration::from_secs(10), client.export(request)).await {
            Ok(result) => result.map(|_| ()),
            Err(_) => panic!("no answer within 10 s"),
        }
    })
}
