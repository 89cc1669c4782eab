//! A recording OTLP/gRPC backend (tonic) on 127.0.0.1.

use super::*;

/// One request the backend received.
#[derive(Clone, Debug)]
pub struct Recorded<T> {
    /// When it arrived.
    pub at: Instant,
    /// Its `grpc-encoding` header, if any.
    pub encoding: Option<String>,
    /// Its gRPC metadata (headers), names lowercased; values that are not text left out.
    pub metadata: Vec<(String, String)>,
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
        let metadata = request
            .metadata()
            .clone()
            .into_headers()
            .iter()
            .filter_map(|(n, v)| Some((n.as_str().to_owned(), v.to_str().ok()?.to_owned())))
            .collect();
        Ok(Recorded {
            at: Instant::now(),
            encoding,
            metadata,
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
        Backend::start_with(None)
    }

    /// Starts the backend speaking TLS with `leaf`, requiring a client certificate signed by
    /// `client_ca` when given.
    pub fn start_tls(leaf: &tls::Leaf, client_ca: Option<&tls::Ca>) -> Backend {
        let identity = tonic::transport::Identity::from_pem(&leaf.cert_pem, &leaf.key_pem);
        let mut config = tonic::transport::ServerTlsConfig::new().identity(identity);
        if let Some(ca) = client_ca {
            config = config.client_ca_root(tonic::transport::Certificate::from_pem(&ca.pem));
        }
        Backend::start_with(Some(config))
    }

    fn start_with(tls: Option<tonic::transport::ServerTlsConfig>) -> Backend {
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
                    let mut builder = tonic::transport::Server::builder();
                    if let Some(tls) = tls {
                        builder = builder.tls_config(tls).expect("backend tls");
                    }
                    let server = builder
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

    /// Forgets the failures queued by [`Backend::fail_next`]: the backend is back.
    pub fn stop_failing(&self) {
        self.state.fail_next.lock().unwrap().clear();
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
