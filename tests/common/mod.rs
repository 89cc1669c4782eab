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

// ---------------------------------------------------------------------------------------------
// Backend
// ---------------------------------------------------------------------------------------------

/// One request the backend received.
#[derive(Clone, Debug)]
pub struct Recorded<T> {
    /// When it arrived.
    pub at: Instant,
    /// Its `grpc-encoding` header, if any.
    pub encoding: Option<String>,
    /// The decoded request.
    pub request: T,
}

#[derive(Default)]
struct BackendState {
    traces: Mutex<Vec<Recorded<ExportTraceServiceRequest>>>,
    metrics: Mutex<Vec<Recorded<ExportMetricsServiceRequest>>>,
    logs: Mutex<Vec<Recorded<ExportLogsServiceRequest>>>,
    /// Statuses to answer the next requests with (front first), instead of accepting them.
    fail_next: Mutex<VecDeque<tonic::Status>>,
    /// Requests answered with a failure.
    rejected: Mutex<usize>,
    /// How long every request waits before it is answered.
    delay: Mutex<Duration>,
}

impl BackendState {
    async fn admit<T>(&self, request: tonic::Request<T>) -> Result<Recorded<T>, tonic::Status> {
        let delay = *self.delay.lock().unwrap();
        if !delay.is_zero() {
            tokio::time::sleep(delay).await;
        }
        if let Some(status) = self.fail_next.lock().unwrap().pop_front() {
            *self.rejected.lock().unwrap() += 1;
            return Err(status);
        }
        let encoding = request
            .metadata()
            .get("grpc-encoding")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        Ok(Recorded {
            at: Instant::now(),
            encoding,
            request: request.into_inner(),
        })
    }
}

struct Svc(Arc<BackendState>);

#[tonic::async_trait]
impl TraceService for Svc {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let recorded = self.0.admit(request).await?;
        self.0.traces.lock().unwrap().push(recorded);
        Ok(tonic::Response::new(ExportTraceServiceResponse::default()))
    }
}

#[tonic::async_trait]
impl MetricsService for Svc {
    async fn export(
        &self,
        request: tonic::Request<ExportMetricsServiceRequest>,
    ) -> Result<tonic::Response<ExportMetricsServiceResponse>, tonic::Status> {
        let recorded = self.0.admit(request).await?;
        self.0.metrics.lock().unwrap().push(recorded);
        Ok(tonic::Response::new(ExportMetricsServiceResponse::default()))
    }
}

#[tonic::async_trait]
impl LogsService for Svc {
    async fn export(
        &self,
        request: tonic::Request<ExportLogsServiceRequest>,
    ) -> Result<tonic::Response<ExportLogsServiceResponse>, tonic::Status> {
        let recorded = self.0.admit(request).await?;
        self.0.logs.lock().unwrap().push(recorded);
        Ok(tonic::Response::new(ExportLogsServiceResponse::default()))
    }
}

/// A tonic OTLP/gRPC backend on 127.0.0.1 that records every request, on its own thread and
/// runtime (so it works from synchronous and asynchronous tests alike).
pub struct Backend {
    addr: SocketAddr,
    state: Arc<BackendState>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Backend {
    /// Starts the backend on a free port.
    pub fn start() -> Backend {
        let state = Arc::new(BackendState::default());
        let (addr_tx, addr_rx) = std::sync::mpsc::channel();
        let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
        let shared = state.clone();
        let thread = std::thread::Builder::new()
            .name("backend".into())
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(1)
                    .enable_all()
                    .build()
                    .expect("backend runtime");
                rt.block_on(async move {
                    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                        .await
                        .expect("backend bind");
                    addr_tx
                        .send(listener.local_addr().expect("addr"))
                        .expect("send addr");
                    let incoming = tonic::transport::server::TcpIncoming::from(listener);
                    let server = tonic::transport::Server::builder()
                        .add_service(
                            TraceServiceServer::new(Svc(shared.clone()))
                                .accept_compressed(CompressionEncoding::Gzip)
                                .max_decoding_message_size(256 << 20),
                        )
                        .add_service(
                            MetricsServiceServer::new(Svc(shared.clone()))
                                .accept_compressed(CompressionEncoding::Gzip)
                                .max_decoding_message_size(256 << 20),
                        )
                        .add_service(
                            LogsServiceServer::new(Svc(shared))
                                .accept_compressed(CompressionEncoding::Gzip)
                                .max_decoding_message_size(256 << 20),
                        )
                        .serve_with_incoming(incoming);
                    tokio::select! {
                        result = server => {
                            if let Err(error) = result {
                                eprintln!("backend server failed: {error}");
                            }
                        }
                        _ = stop_rx => {}
                    }
                });
                // Dropping the runtime here cancels every open connection.
            })
            .expect("spawn backend thread");
        let addr = addr_rx.recv_timeout(WAIT).expect("backend address");
        Backend {
            addr,
            state,
            stop: Some(stop_tx),
            thread: Some(thread),
        }
    }

    /// `127.0.0.1:PORT`, for an exporter's `endpoint:`.
    pub fn endpoint(&self) -> String {
        self.addr.to_string()
    }

    /// Answers the next `n` requests (of any signal) with `code`/`message` instead of
    /// recording them.
    pub fn fail_next(&self, n: usize, code: tonic::Code, message: &str) {
        let mut queue = self.state.fail_next.lock().unwrap();
        for _ in 0..n {
            queue.push_back(tonic::Status::new(code, message.to_owned()));
        }
    }

    /// Answers the next `n` requests (of any signal) with `status`, details and all.
    pub fn fail_next_with(&self, n: usize, status: tonic::Status) {
        let mut queue = self.state.fail_next.lock().unwrap();
        for _ in 0..n {
            queue.push_back(status.clone());
        }
    }

    /// Makes every request wait `delay` before it is answered (a slow backend).
    pub fn set_delay(&self, delay: Duration) {
        *self.state.delay.lock().unwrap() = delay;
    }

    /// Requests answered with a failure so far.
    pub fn rejected(&self) -> usize {
        *self.state.rejected.lock().unwrap()
    }

    /// Every trace request recorded so far.
    pub fn trace_requests(&self) -> Vec<Recorded<ExportTraceServiceRequest>> {
        self.state.traces.lock().unwrap().clone()
    }

    /// Every metrics request recorded so far.
    pub fn metric_requests(&self) -> Vec<Recorded<ExportMetricsServiceRequest>> {
        self.state.metrics.lock().unwrap().clone()
    }

    /// Every logs request recorded so far.
    pub fn log_requests(&self) -> Vec<Recorded<ExportLogsServiceRequest>> {
        self.state.logs.lock().unwrap().clone()
    }

    /// Every span received so far, with its resource and scope.
    pub fn spans(&self) -> Vec<Flat<Span>> {
        let requests: Vec<_> = self
            .trace_requests()
            .into_iter()
            .map(|r| r.request)
            .collect();
        flatten_traces(&requests)
    }

    /// Every data point received so far (each as a one-point metric), with resource and scope.
    pub fn points(&self) -> Vec<Flat<Metric>> {
        let requests: Vec<_> = self
            .metric_requests()
            .into_iter()
            .map(|r| r.request)
            .collect();
        flatten_metrics(&requests)
    }

    /// Every log record received so far, with its resource and scope.
    pub fn log_records(&self) -> Vec<Flat<LogRecord>> {
        let requests: Vec<_> = self.log_requests().into_iter().map(|r| r.request).collect();
        flatten_logs(&requests)
    }

    /// Spans, data points and log records received so far.
    pub fn item_counts(&self) -> (usize, usize, usize) {
        (
            self.spans().len(),
            self.points().len(),
            self.log_records().len(),
        )
    }

    /// Waits (bounded by `timeout`) until at least `spans`, `points` and `logs` items arrived.
    pub fn wait_for_items(
        &self,
        spans: usize,
        points: usize,
        logs: usize,
        timeout: Duration,
    ) -> bool {
        wait_until(timeout, || {
            let (s, p, l) = self.item_counts();
            s >= spans && p >= points && l >= logs
        })
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Flattening and comparison
// ---------------------------------------------------------------------------------------------

/// One item with the resource and scope it was sent under.
#[derive(Clone, Debug, PartialEq)]
pub struct Flat<T> {
    /// The item's resource.
    pub resource: Option<Resource>,
    /// `schema_url` of the resource message.
    pub resource_schema_url: String,
    /// The item's instrumentation scope.
    pub scope: Option<InstrumentationScope>,
    /// `schema_url` of the scope message.
    pub scope_schema_url: String,
    /// The item.
    pub item: T,
}

/// Every span of `requests`, in order.
pub fn flatten_traces(requests: &[ExportTraceServiceRequest]) -> Vec<Flat<Span>> {
    let mut out = Vec::new();
    for request in requests {
        for rs in &request.resource_spans {
            for ss in &rs.scope_spans {
                for span in &ss.spans {
                    out.push(Flat {
                        resource: rs.resource.clone(),
                        resource_schema_url: rs.schema_url.clone(),
                        scope: ss.scope.clone(),
                        scope_schema_url: ss.schema_url.clone(),
                        item: span.clone(),
                    });
                }
            }
        }
    }
    out
}

/// Every log record of `requests`, in order.
pub fn flatten_logs(requests: &[ExportLogsServiceRequest]) -> Vec<Flat<LogRecord>> {
    let mut out = Vec::new();
    for request in requests {
        for rl in &request.resource_logs {
            for sl in &rl.scope_logs {
                for record in &sl.log_records {
                    out.push(Flat {
                        resource: rl.resource.clone(),
                        resource_schema_url: rl.schema_url.clone(),
                        scope: sl.scope.clone(),
                        scope_schema_url: sl.schema_url.clone(),
                        item: record.clone(),
                    });
                }
            }
        }
    }
    out
}

/// Every data point of `requests`, each as a copy of its metric holding only that point.
pub fn flatten_metrics(requests: &[ExportMetricsServiceRequest]) -> Vec<Flat<Metric>> {
    let mut out = Vec::new();
    for request in requests {
        for rm in &request.resource_metrics {
            for sm in &rm.scope_metrics {
                for m in &sm.metrics {
                    for single in split_points(m) {
                        out.push(Flat {
                            resource: rm.resource.clone(),
                            resource_schema_url: rm.schema_url.clone(),
                            scope: sm.scope.clone(),
                            scope_schema_url: sm.schema_url.clone(),
                            item: single,
                        });
                    }
                }
            }
        }
    }
    out
}

/// One copy of `m` per data point, each holding only that point.
pub fn split_points(m: &Metric) -> Vec<Metric> {
    let with = |data: metric::Data| Metric {
        data: Some(data),
        ..m.clone()
    };
    match &m.data {
        None => Vec::new(),
        Some(metric::Data::Gauge(g)) => g
            .data_points
            .iter()
            .map(|p| {
                with(metric::Data::Gauge(
                    opentelemetry_proto::tonic::metrics::v1::Gauge {
                        data_points: vec![p.clone()],
                    },
                ))
            })
            .collect(),
        Some(metric::Data::Sum(s)) => s
            .data_points
            .iter()
            .map(|p| {
                let mut one = s.clone();
                one.data_points = vec![p.clone()];
                with(metric::Data::Sum(one))
            })
            .collect(),
        Some(metric::Data::Histogram(h)) => h
            .data_points
            .iter()
            .map(|p| {
                let mut one = h.clone();
                one.data_points = vec![p.clone()];
                with(metric::Data::Histogram(one))
            })
            .collect(),
        Some(metric::Data::ExponentialHistogram(h)) => h
            .data_points
            .iter()
            .map(|p| {
                let mut one = h.clone();
                one.data_points = vec![p.clone()];
                with(metric::Data::ExponentialHistogram(one))
            })
            .collect(),
        Some(metric::Data::Summary(s)) => s
            .data_points
            .iter()
            .map(|p| {
                let mut one = s.clone();
                one.data_points = vec![p.clone()];
                with(metric::Data::Summary(one))
            })
            .collect(),
    }
}

/// Asserts that `actual` holds exactly the items of `expected`, each exactly once, intact
/// (item, resource and scope), comparing per item under `key` (which must be unique within
/// `expected`). `what` names the items in messages.
pub fn assert_same_items<T: Clone + Debug + PartialEq>(
    what: &str,
    expected: &[Flat<T>],
    actual: &[Flat<T>],
    key: impl Fn(&T) -> String,
) {
    let mut want: BTreeMap<String, &Flat<T>> = BTreeMap::new();
    for item in expected {
        let k = key(&item.item);
        assert!(
            want.insert(k.clone(), item).is_none(),
            "test bug: expected {what} key {k} is not unique"
        );
    }
    let mut got: BTreeMap<String, Vec<&Flat<T>>> = BTreeMap::new();
    for item in actual {
        got.entry(key(&item.item)).or_default().push(item);
    }
    let mut problems = Vec::new();
    for (k, w) in &want {
        match got.get(k).map(Vec::as_slice) {
            None | Some([]) => problems.push(format!("{what} {k}: missing")),
            Some([one]) => {
                if one != w {
                    problems.push(format!(
                        "{what} {k}: changed in transit\n  expected: {w:?}\n  actual:   {one:?}"
                    ));
                }
            }
            Some(many) => problems.push(format!("{what} {k}: received {} times", many.len())),
        }
    }
    for k in got.keys() {
        if !want.contains_key(k) {
            problems.push(format!("{what} {k}: received but never sent"));
        }
    }
    let shown: Vec<_> = problems.iter().take(10).cloned().collect();
    assert!(
        problems.is_empty(),
        "{} problem(s) with {what}s ({} expected, {} received); first ones:\n{}",
        problems.len(),
        expected.len(),
        actual.len(),
        shown.join("\n")
    );
}

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

// ---------------------------------------------------------------------------------------------
// Config
// ---------------------------------------------------------------------------------------------

/// Where the pipelines send their data.
#[derive(Clone, Debug)]
pub enum Exporter {
    /// The `otlp` exporter to a backend at `endpoint` with `compression` (`none`, `gzip`).
    Otlp {
        /// `127.0.0.1:PORT`.
        endpoint: String,
        /// `none` or `gzip`.
        compression: String,
        /// Raw YAML of `retry_on_failure:` (a flow mapping), if any.
        retry: Option<String>,
    },
    /// The `debug` exporter.
    Debug,
}

/// The `batch` processor's settings.
#[derive(Clone, Debug)]
pub struct Batch {
    /// `send_batch_size`.
    pub send_batch_size: u32,
    /// `timeout`, e.g. `200ms`.
    pub timeout: String,
    /// `send_batch_max_size` (0 = no cap).
    pub send_batch_max_size: u32,
}

impl Default for Batch {
    fn default() -> Self {
        Batch {
            send_batch_size: 8192,
            timeout: "200ms".into(),
            send_batch_max_size: 0,
        }
    }
}

/// A collector config in otelcol's shape, rendered by [`Config::yaml`].
#[derive(Clone, Debug)]
pub struct Config {
    /// The OTLP/gRPC receiver's port on 127.0.0.1.
    pub grpc_port: u16,
    /// `max_recv_msg_size_mib`, if set.
    pub max_recv_msg_size_mib: Option<u32>,
    /// The batch processor, or none (pipelines without processors).
    pub batch: Option<Batch>,
    /// The exporter every pipeline uses.
    pub exporter: Exporter,
    /// `shards.cores` as YAML (`2`, `[0, 1]`, `all`).
    pub cores: String,
    /// `shards.drain_timeout`.
    pub drain_timeout: String,
    /// `service.telemetry.logs.level`.
    pub log_level: String,
}

impl Config {
    /// Receiver on a free port → batch (defaults) → otlp exporter to `backend` (no
    /// compression), two shards, debug logs.
    pub fn to_backend(backend: &Backend) -> Config {
        Config {
            grpc_port: free_port(),
            max_recv_msg_size_mib: None,
            batch: Some(Batch::default()),
            exporter: Exporter::Otlp {
                endpoint: backend.endpoint(),
                compression: "none".into(),
                retry: None,
            },
            cores: two_shards(),
            drain_timeout: "30s".into(),
            log_level: "debug".into(),
        }
    }

    /// As [`Config::to_backend`] but exporting to the `debug` exporter.
    pub fn to_debug() -> Config {
        Config {
            grpc_port: free_port(),
            max_recv_msg_size_mib: None,
            batch: Some(Batch::default()),
            exporter: Exporter::Debug,
            cores: two_shards(),
            drain_timeout: "30s".into(),
            log_level: "debug".into(),
        }
    }

    /// The receiver's endpoint as a URL, for gRPC clients.
    pub fn grpc_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.grpc_port)
    }

    /// The receiver's socket address.
    pub fn grpc_addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.grpc_port))
    }

    /// The config as YAML.
    pub fn yaml(&self) -> String {
        let mut y = String::new();
        y.push_str("receivers:\n  otlp:\n    protocols:\n      grpc:\n");
        y.push_str(&format!("        endpoint: 127.0.0.1:{}\n", self.grpc_port));
        if let Some(mib) = self.max_recv_msg_size_mib {
            y.push_str(&format!("        max_recv_msg_size_mib: {mib}\n"));
        }
        if let Some(b) = &self.batch {
            y.push_str("processors:\n  batch:\n");
            y.push_str(&format!("    send_batch_size: {}\n", b.send_batch_size));
            y.push_str(&format!("    timeout: {}\n", b.timeout));
            y.push_str(&format!(
                "    send_batch_max_size: {}\n",
                b.send_batch_max_size
            ));
        }
        y.push_str("exporters:\n");
        let exporter = match &self.exporter {
            Exporter::Otlp {
                endpoint,
                compression,
                retry,
            } => {
                y.push_str("  otlp:\n");
                y.push_str(&format!("    endpoint: {endpoint}\n"));
                y.push_str("    tls:\n      insecure: true\n");
                y.push_str(&format!("    compression: {compression}\n"));
                y.push_str("    timeout: 10s\n");
                if let Some(retry) = retry {
                    y.push_str(&format!("    retry_on_failure: {retry}\n"));
                }
                "otlp"
            }
            Exporter::Debug => {
                y.push_str("  debug:\n    verbosity: basic\n");
                "debug"
            }
        };
        y.push_str("service:\n  telemetry:\n    logs:\n");
        y.push_str(&format!("      level: {}\n", self.log_level));
        y.push_str("  pipelines:\n");
        let processors = if self.batch.is_some() {
            "[batch]"
        } else {
            "[]"
        };
        for signal in ["traces", "metrics", "logs"] {
            y.push_str(&format!(
                "    {signal}:\n      receivers: [otlp]\n      processors: {processors}\n      exporters: [{exporter}]\n"
            ));
        }
        y.push_str("shards:\n");
        y.push_str(&format!("  cores: {}\n", self.cores));
        y.push_str(&format!("  drain_timeout: {}\n", self.drain_timeout));
        y
    }
}

// ---------------------------------------------------------------------------------------------
// The collector process
// ---------------------------------------------------------------------------------------------

/// `GET path` over plain HTTP/1.0 (health and metrics endpoints); the status code and body,
/// or `None` when nothing answers (the process is gone).
pub fn http_get(addr: &str, path: &str) -> Option<(u16, String)> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").ok()?;
    let mut text = String::new();
    stream.read_to_string(&mut text).ok()?;
    let status = text.split_whitespace().nth(1)?.parse().ok()?;
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_owned())?;
    Some((status, body))
}

/// The sum, over shards, of the samples of `name` on the Prometheus endpoint at `port` whose
/// labels contain `label` (e.g. `exporter="otlp"`; empty: every sample).
pub fn metric_sum(port: u16, name: &str, label: &str) -> f64 {
    let (status, text) = http_get(&format!("127.0.0.1:{port}"), "/metrics").expect("metrics");
    assert_eq!(status, 200, "{text}");
    text.lines()
        .filter(|l| l.starts_with(name) && l.contains(label))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Removes ANSI escape sequences (colours) from log text.
pub fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            if chars.peek() == Some(&'[') {
                chars.next();
                for c in chars.by_ref() {
                    if c.is_ascii_alphabetic() {
                        break;
                    }
                }
            }
            continue;
        }
        out.push(c);
    }
    out
}

fn pump(mut from: impl Read + Send + 'static, into: Arc<Mutex<Vec<u8>>>) {
    std::thread::spawn(move || {
        let mut buf = [0u8; 16 * 1024];
        loop {
            match from.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => into.lock().unwrap().extend_from_slice(&buf[..n]),
            }
        }
    });
}

/// The path of the binary under test.
pub fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_shardgate")
}

/// A running `shardgate` process; killed on drop if it is still running.
pub struct Collector {
    child: Child,
    stderr: Arc<Mutex<Vec<u8>>>,
    stdout: Arc<Mutex<Vec<u8>>>,
    status: Option<ExitStatus>,
    /// Holds the config file.
    _dir: Option<tempfile::TempDir>,
    /// The config file, when one was written.
    pub config_path: Option<PathBuf>,
}

impl Collector {
    /// Writes `config` to a temp file, runs `shardgate --config FILE` and waits (bounded) for
    /// the ready line. Panics with the process's logs if it exits or is not ready in time.
    pub fn start(config: &Config) -> Collector {
        Collector::start_yaml(&config.yaml())
    }

    /// As [`Collector::start`] with config text.
    pub fn start_yaml(yaml: &str) -> Collector {
        Collector::start_yaml_with_env(yaml, &[])
    }

    /// As [`Collector::start_yaml`] with extra environment variables.
    pub fn start_yaml_with_env(yaml: &str, env: &[(&str, &str)]) -> Collector {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("config.yaml");
        std::fs::write(&path, yaml).expect("write config");
        let args = ["--config".to_owned(), path.display().to_string()];
        let mut collector = Collector::spawn_with_env(&args, env);
        collector._dir = Some(dir);
        collector.config_path = Some(path);
        collector.wait_ready(yaml);
        collector
    }

    /// Runs the binary with `args` (no waiting).
    pub fn spawn(args: &[String]) -> Collector {
        Collector::spawn_with_env(args, &[])
    }

    /// As [`Collector::spawn`] with extra environment variables.
    pub fn spawn_with_env(args: &[String], env: &[(&str, &str)]) -> Collector {
        let mut child = Command::new(binary())
            .args(args)
            .envs(env.iter().copied())
            .env("NO_COLOR", "1")
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn shardgate");
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let stdout = Arc::new(Mutex::new(Vec::new()));
        pump(child.stderr.take().expect("stderr"), stderr.clone());
        pump(child.stdout.take().expect("stdout"), stdout.clone());
        Collector {
            child,
            stderr,
            stdout,
            status: None,
            _dir: None,
            config_path: None,
        }
    }

    /// Waits (bounded) for the ready line; panics with the logs if it does not come.
    pub fn wait_ready(&mut self, context: &str) {
        let deadline = Instant::now() + WAIT;
        loop {
            if self.logs().contains(READY_LINE) {
                return;
            }
            if let Some(status) = self.try_status() {
                panic!(
                    "shardgate exited ({status}) before it was ready\nconfig:\n{context}\nlogs:\n{}",
                    self.logs()
                );
            }
            if Instant::now() >= deadline {
                panic!(
                    "shardgate was not ready within {WAIT:?}\nconfig:\n{context}\nlogs:\n{}",
                    self.logs()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Everything written to stderr so far (the logs), without colour codes.
    pub fn logs(&self) -> String {
        strip_ansi(&String::from_utf8_lossy(&self.stderr.lock().unwrap()))
    }

    /// Everything written to stdout so far.
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.stdout.lock().unwrap()).into_owned()
    }

    fn signal(&self, signal: libc::c_int) {
        let pid = libc::pid_t::try_from(self.child.id()).expect("pid fits");
        let rc = unsafe_kill(pid, signal);
        assert_eq!(rc, 0, "kill({pid}, {signal}) failed");
    }

    /// Sends SIGTERM.
    pub fn sigterm(&self) {
        self.signal(libc::SIGTERM);
    }

    /// Sends SIGINT.
    pub fn sigint(&self) {
        self.signal(libc::SIGINT);
    }

    fn try_status(&mut self) -> Option<ExitStatus> {
        if self.status.is_none() {
            self.status = self.child.try_wait().expect("try_wait");
        }
        self.status
    }

    /// Waits up to `timeout` for the process to exit; panics (after killing it) if it does not.
    pub fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.try_status() {
                // Let the pump threads catch the last lines.
                std::thread::sleep(Duration::from_millis(50));
                return status;
            }
            if Instant::now() >= deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!(
                    "shardgate did not exit within {timeout:?}; killed it. logs:\n{}",
                    self.logs()
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Waits (bounded by `timeout`) for a log line containing `needle`.
    pub fn wait_for_log(&self, needle: &str, timeout: Duration) -> bool {
        wait_until(timeout, || self.logs().contains(needle))
    }
}

#[allow(unsafe_code)]
fn unsafe_kill(pid: libc::pid_t, signal: libc::c_int) -> libc::c_int {
    // SAFETY: kill(2) takes plain integers and touches no memory of ours.
    unsafe { libc::kill(pid, signal) }
}

impl Drop for Collector {
    fn drop(&mut self) {
        if self.try_status().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
pub mod http;
pub mod http_backend;

/// A trace request of `spans` spans named `{connection}/{request}/{i}`, so a backend can tell
/// exactly which acknowledged request each span came from.
pub fn named_spans_request(
    connection: usize,
    request: usize,
    spans: usize,
) -> ExportTraceServiceRequest {
    use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans};
    let spans = (0..spans)
        .map(|i| Span {
            trace_id: vec![1; 16],
            span_id: vec![2; 8],
            name: format!("{connection}/{request}/{i}"),
            ..Default::default()
        })
        .collect();
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
