//! OTLP load generator for benchmarks: traces, metrics or logs over OTLP/gRPC, OTLP/HTTP
//! protobuf or OTLP/HTTP JSON, at a fixed rate or as fast as possible (closed loop).
//!
//! How a request is made, step by step:
//! 1. At start-up a ring of `--ring` distinct request bodies is encoded once (prost, then
//!    `protobuf_to_json` for http-json). Every item carries placeholder ids.
//! 2. The byte offset of each item's id field is found once by searching for its placeholder
//!    (placeholders are distinct per item, so each search finds exactly one place).
//! 3. Request number `k` copies ring body `k % ring` and patches, in place, item `i`'s id to
//!    sequence number `seq = k * items_per_request + i` — no re-encoding:
//!    - spans: `span_id` = `seq + 1` (8 bytes big-endian) and `trace_id` = `--run-id` (8 bytes
//!      big-endian) ++ `seq + 1` (8 bytes big-endian); in JSON the same as lowercase hex;
//!    - log records: `time_unix_nano` (fixed64 little-endian) = `ID_TIME_BASE_NS + seq`;
//!    - metrics (one gauge data point per item): the data point's `time_unix_nano` likewise;
//!      in JSON the decimal string of the same value (always 19 digits).
//!
//!    `shardgate-sink` reads these fields back to count loss and duplicates.
//! 4. With `--compression` the patched body is compressed per request (this costs the
//!    generator CPU, which it reports).
//!
//! Pacing: request `k` is due at `start + k * items_per_request / rate`; a worker sleeps
//! until its request is due (a timer, no busy loop) and then sends at once, so a late
//! response delays only that worker. Latency is measured from send to response per request.
#![forbid(unsafe_code)]

use std::cell::{Cell, RefCell};
use std::process::ExitCode;
use std::rc::Rc;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use clap::{Parser, ValueEnum};
use hdrhistogram::Histogram;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::metrics::v1::{
    metric, number_data_point, Gauge, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use prost::Message;
use shardgate::signal::Signal;
use shardgate_io::compression::GzipEncoder;
use shardgate_io::grpc::{self, Code, Status};
use shardgate_io::h2_client::{H2Client, H2ClientSettings};
use shardgate_io::http1_client::{Http1Client, Http1Settings};
use shardgate_io::tls;
use shardgate_shards::task;

/// Logs' and metrics' id field is `ID_TIME_BASE_NS + seq` (19 decimal digits for any
/// `seq < ID_PLACEHOLDER_NS`); shared with `shardgate-sink`.
const ID_TIME_BASE_NS: u64 = 1_700_000_000_000_000_000;
/// Placeholders for time ids start here above the base, far above any real sequence number.
const ID_PLACEHOLDER_NS: u64 = 900_000_000_000_000;
/// Placeholder span ids: this marker | placeholder index.
const SPAN_PLACEHOLDER: u64 = 0x5EED_0000_0000_0000;
/// Placeholder second half of trace ids: this marker | placeholder index.
const TRACE_PLACEHOLDER: u64 = 0x7ACE_0000_0000_0000;
/// Largest number of distinct pre-encoded bodies.
const RING_MAX: usize = 1024;
/// Deadline of one request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Protocol {
    Grpc,
    HttpProto,
    HttpJson,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum SignalArg {
    Traces,
    Metrics,
    Logs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Compression {
    None,
    Gzip,
    Zstd,
}

/// Command-line options.
#[derive(Debug, Parser)]
#[command(
    name = "shardgate-load",
    about = "Send OTLP load at a rate and report items/s, latency and own CPU"
)]
struct Args {
    /// host:port of the OTLP receiver (gRPC or HTTP per --protocol).
    #[arg(long, default_value = "127.0.0.1:4317")]
    endpoint: String,
    /// Transport and encoding.
    #[arg(long, value_enum, default_value_t = Protocol::Grpc)]
    protocol: Protocol,
    /// Signal to send.
    #[arg(long, value_enum, default_value_t = SignalArg::Traces)]
    signal: SignalArg,
    /// Items per second (0 = as fast as the in-flight limit allows).
    #[arg(long, default_value_t = 0)]
    rate: u64,
    /// Seconds to send for (0 = until --requests are sent).
    #[arg(long, default_value_t = 0.0)]
    duration: f64,
    /// Requests to send in all (0 = until --duration ends).
    #[arg(long, default_value_t = 0)]
    requests: u64,
    /// Items (spans, data points, log records) per request.
    #[arg(long, alias = "spans-per-request", default_value_t = 100)]
    items_per_request: u32,
    /// Attributes on each item (mixed string/int/double/bool).
    #[arg(long, default_value_t = 10)]
    attributes_per_item: usize,
    /// Connections to the receiver.
    #[arg(long, default_value_t = 2)]
    connections: usize,
    /// Requests in flight per connection (HTTP/1.1 always has 1).
    #[arg(long, default_value_t = 4)]
    in_flight: usize,
    /// Request body compression.
    #[arg(long, value_enum, default_value_t = Compression::None)]
    compression: Compression,
    /// Pin the generator to this CPU.
    #[arg(long)]
    cpu: Option<usize>,
    /// Distinct pre-encoded bodies.
    #[arg(long, default_value_t = 16)]
    ring: usize,
    /// First half of every trace id, so runs are told apart.
    #[arg(long, default_value_t = 1)]
    run_id: u64,
    /// First sequence number, so that runs into one sink do not share ids (the sink checks
    /// duplicates by sequence number). Must stay below 9e14 minus what the run sends.
    #[arg(long, default_value_t = 0)]
    seq_start: u64,
    /// Connect with TLS (gRPC only), trusting the CA certificates in this PEM file.
    #[arg(long)]
    tls_ca: Option<std::path::PathBuf>,
    /// The name the receiver's certificate must carry.
    #[arg(long, default_value = "localhost")]
    tls_name: String,
}

impl Args {
    fn signal(&self) -> Signal {
        match self.signal {
            SignalArg::Traces => Signal::Traces,
            SignalArg::Metrics => Signal::Metrics,
            SignalArg::Logs => Signal::Logs,
        }
    }
}

#[path = "load/template.rs"]
mod template;

use template::{build_template, patch, Template};

fn main() -> ExitCode {
    let args = Args::parse();
    let cpu = args.cpu;
    let outcome = shardgate_shards::run_local(cpu, run(args)).map_err(|e| e.to_string());
    match outcome.and_then(|inner| inner) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("shardgate-load: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Shared state of one run's workers.
struct Run {
    args: Args,
    signal: Signal,
    templates: Vec<Template>,
    started: Instant,
    next_request: Cell<u64>,
    histogram: RefCell<Histogram<u64>>,
    sent_items: Cell<u64>,
    acked_items: Cell<u64>,
    refused_items: Cell<u64>,
    failed_items: Cell<u64>,
    last_error: RefCell<Option<String>>,
}

async fn run(args: Args) -> Result<(), String> {
    let signal = args.signal();
    let ring = args.ring.clamp(1, RING_MAX);
    let templates = (0..ring)
        .map(|r| build_template(&args, signal, r))
        .collect::<Result<Vec<_>, _>>()?;
    let histogram =
        Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).map_err(|e| e.to_string())?;
    if args.duration <= 0.0 && args.requests == 0 {
        return Err("give --duration or --requests".into());
    }
    let connections = args.connections.max(1);
    let in_flight = args.in_flight.max(1);
    let protocol = args.protocol;
    let endpoint = args.endpoint.clone();
    let (tls_ca, tls_name) = (args.tls_ca.clone(), args.tls_name.clone());
    let state = Rc::new(Run {
        args,
        signal,
        templates,
        started: Instant::now(),
        next_request: Cell::new(0),
        histogram: RefCell::new(histogram),
        sent_items: Cell::new(0),
        acked_items: Cell::new(0),
        refused_items: Cell::new(0),
        failed_items: Cell::new(0),
        last_error: RefCell::new(None),
    });
    let cpu_before = shardgate::observe::process::cpu_seconds().unwrap_or(0.0);
    let mut workers = Vec::new();
    let tls = match &tls_ca {
        None => None,
        Some(_) if protocol != Protocol::Grpc => {
            return Err("--tls-ca is supported with --protocol grpc only".into())
        }
        Some(ca) => {
            let spec = tls::ClientSpec {
                ca: Some(tls::Pem::File(ca.clone())),
                include_system_roots: false,
                identity: None,
                skip_verify: false,
                protocol: tls::Protocol::default(),
                alpn: vec![tls::ALPN_H2.to_vec()],
            };
            Some(tls::ClientTls {
                config: tls::client_config(&spec).map_err(|e| e.to_string())?,
                name: tls::server_name(&tls_name).map_err(|e| e.to_string())?,
            })
        }
    };
    if protocol == Protocol::Grpc {
        for _ in 0..connections {
            let client =
                H2Client::connect_with(&endpoint, H2ClientSettings::default(), tls.as_ref())
                    .await
                    .map_err(|e| format!("connect {endpoint}: {e}"))?;
            for _ in 0..in_flight {
                let transport = Transport::Grpc(client.clone());
                workers.push(task::spawn_local(worker(state.clone(), transport)));
            }
        }
    } else {
        let settings = Http1Settings {
            connections_max: connections,
            ..Http1Settings::default()
        };
        let client = Rc::new(Http1Client::new(endpoint, settings));
        for _ in 0..connections {
            let transport = Transport::Http(client.clone());
            workers.push(task::spawn_local(worker(state.clone(), transport)));
        }
    }
    for w in workers {
        w.await;
    }
    report(
        &state,
        shardgate::observe::process::cpu_seconds().unwrap_or(0.0) - cpu_before,
    );
    if let Some(error) = state.last_error.borrow().as_ref() {
        eprintln!("shardgate-load: last error: {error}");
    }
    if state.failed_items.get() > 0 {
        return Err("some requests failed".into());
    }
    Ok(())
}

fn report(state: &Run, cpu_s: f64) {
    let elapsed = state.started.elapsed().as_secs_f64();
    let h = state.histogram.borrow();
    let acked = state.acked_items.get();
    println!(
        "sent {} acked {} refused {} failed {} items in {elapsed:.2}s = {:.0} items/s acked; \
         latency us p50 {} p99 {} p999 {} max {}; own CPU {cpu_s:.2}s",
        state.sent_items.get(),
        acked,
        state.refused_items.get(),
        state.failed_items.get(),
        acked as f64 / elapsed,
        h.value_at_quantile(0.5),
        h.value_at_quantile(0.99),
        h.value_at_quantile(0.999),
        h.max()
    );
    // One machine-readable line for scripts/bench.sh.
    println!(
        "LOAD sent={} acked={} refused={} failed={} elapsed_s={elapsed:.3} items_per_s={:.0} \
         p50_us={} p99_us={} p999_us={} max_us={} cpu_s={cpu_s:.3}",
        state.sent_items.get(),
        acked,
        state.refused_items.get(),
        state.failed_items.get(),
        acked as f64 / elapsed,
        h.value_at_quantile(0.5),
        h.value_at_quantile(0.99),
        h.value_at_quantile(0.999),
        h.max()
    );
}

enum Transport {
    Grpc(H2Client),
    Http(Rc<Http1Client>),
}

/// Outcome of one request.
enum Sent {
    Acked,
    Refused(String),
}

async fn worker(state: Rc<Run>, transport: Transport) {
    let args = &state.args;
    let items = u64::from(args.items_per_request);
    let mut gzip = GzipEncoder::new();
    loop {
        // Claim request k before waiting for its slot, so each slot is used once.
        let k = state.next_request.get();
        if args.requests > 0 && k >= args.requests {
            return;
        }
        state.next_request.set(k + 1);
        if args.rate > 0 {
            let due = Duration::from_secs_f64(k as f64 * items as f64 / args.rate as f64);
            let now = state.started.elapsed();
            if due > now {
                task::sleep(due - now).await;
            }
        }
        if args.duration > 0.0 && state.started.elapsed().as_secs_f64() >= args.duration {
            return;
        }
        let body = make_body(&state, k, &mut gzip);
        state.sent_items.set(state.sent_items.get() + items);
        let started = Instant::now();
        let outcome = match &transport {
            Transport::Grpc(client) => send_grpc(&state, client, body).await,
            Transport::Http(client) => send_http(&state, client, body).await,
        };
        let micros = started.elapsed().as_micros() as u64;
        match outcome {
            Ok(Sent::Acked) => {
                let _ = state.histogram.borrow_mut().record(micros.max(1));
                state.acked_items.set(state.acked_items.get() + items);
            }
            Ok(Sent::Refused(why)) => {
                let _ = state.histogram.borrow_mut().record(micros.max(1));
                state.refused_items.set(state.refused_items.get() + items);
                *state.last_error.borrow_mut() = Some(why);
            }
            Err(error) => {
                state.failed_items.set(state.failed_items.get() + items);
                *state.last_error.borrow_mut() = Some(error);
            }
        }
    }
}

/// Copies ring body `k % ring`, patches the ids of request `k` and compresses it; for gRPC
/// the 5-byte message prefix is written in front.
fn make_body(state: &Run, k: u64, gzip: &mut GzipEncoder) -> Bytes {
    let args = &state.args;
    let ring = state.templates.len() as u64;
    let Some(template) = state.templates.get((k % ring) as usize) else {
        return Bytes::new();
    };
    let mut body = template.body.clone();
    let first_seq = args.seq_start + k * u64::from(args.items_per_request);
    for &(offset, item, how) in &template.patches {
        patch(
            &mut body,
            offset,
            how,
            first_seq + u64::from(item),
            args.run_id,
        );
    }
    let (compressed, payload) = match args.compression {
        Compression::None => (false, body),
        Compression::Gzip => {
            let mut out = Vec::with_capacity(body.len() / 4);
            gzip.compress_into(&body, &mut out);
            (true, out)
        }
        Compression::Zstd => (true, zstd::bulk::compress(&body, 1).unwrap_or(body)),
    };
    if args.protocol == Protocol::Grpc {
        grpc::frame(compressed, &payload)
    } else {
        let mut out = BytesMut::with_capacity(payload.len());
        out.extend_from_slice(&payload);
        out.freeze()
    }
}

fn grpc_uri(state: &Run) -> String {
    format!("http://{}{}", state.args.endpoint, state.signal.grpc_path())
}

async fn send_grpc(state: &Run, client: &H2Client, body: Bytes) -> Result<Sent, String> {
    let mut builder = http::Request::post(grpc_uri(state))
        .header("content-type", grpc::CONTENT_TYPE)
        .header("te", "trailers");
    match state.args.compression {
        Compression::None => {}
        Compression::Gzip => builder = builder.header("grpc-encoding", "gzip"),
        Compression::Zstd => builder = builder.header("grpc-encoding", "zstd"),
    }
    let request = builder.body(()).map_err(|e| e.to_string())?;
    let response = client
        .unary(request, body.into(), REQUEST_TIMEOUT)
        .await
        .map_err(|e| e.to_string())?;
    let status = Status::from_headers(&response.trailers)
        .or_else(|| Status::from_headers(response.head.headers()))
        .ok_or("response without grpc-status")?;
    if status.code == Code::Ok {
        Ok(Sent::Acked)
    } else {
        Ok(Sent::Refused(format!(
            "{:?}: {}",
            status.code, status.message
        )))
    }
}

async fn send_http(state: &Run, client: &Http1Client, body: Bytes) -> Result<Sent, String> {
    let path = format!("/v1/{}", state.signal.as_str());
    let content_type = if state.args.protocol == Protocol::HttpJson {
        "application/json"
    } else {
        "application/x-protobuf"
    };
    let mut builder = http::Request::post(path).header("content-type", content_type);
    match state.args.compression {
        Compression::None => {}
        Compression::Gzip => builder = builder.header("content-encoding", "gzip"),
        Compression::Zstd => builder = builder.header("content-encoding", "zstd"),
    }
    let request = builder.body(()).map_err(|e| e.to_string())?;
    let response = client
        .request(request, body, REQUEST_TIMEOUT)
        .await
        .map_err(|e| e.to_string())?;
    if response.status.is_success() {
        Ok(Sent::Acked)
    } else {
        Ok(Sent::Refused(format!("HTTP {}", response.status)))
    }
}

// ---- request templates ----
