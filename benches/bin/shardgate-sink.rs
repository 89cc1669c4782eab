//! Counting OTLP/gRPC sink for benchmarks: accepts exports, counts items with the collector's
//! own structural scan (`scan_request`), checks the ids `shardgate-load` wrote for loss and
//! duplicates, and answers success.
//!
//! Id tracking, step by step:
//! 1. Each item's sequence number is read back from the field the generator patched: a span's
//!    `span_id` (big-endian, `seq + 1`); a log record's or gauge data point's `time_unix_nano`
//!    (`ID_TIME_BASE_NS + seq`). Items whose field holds something else count as untracked.
//! 2. A bitmap marks each seen sequence number; a number already marked is a duplicate. The
//!    bitmap grows as numbers arrive, up to `--ids-max` numbers (`ids_max / 8` bytes); numbers
//!    above it count as untracked rather than growing memory.
//! 3. Every second it prints items/s received (stderr). On SIGTERM/SIGINT, or after
//!    `--idle-exit` seconds without data once data has arrived, it prints one `SINK …` line of
//!    totals (stdout) and exits.
#![forbid(unsafe_code)]

use std::cell::RefCell;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use h2::RecvStream;
use http::Request;
use shardgate::otlp::scan_request;
use shardgate::signal::Signal;
use shardgate_io::compression::{decompress, Codec};
use shardgate_io::grpc::{self, Code, Encoding, Status};
use shardgate_io::h2_server::{self, H2ServerSettings, Respond};
use shardgate_io::listener;
use shardgate_io::tls;
use shardgate_shards::task;

/// Same constant as `shardgate-load`: time ids are this plus the sequence number.
const ID_TIME_BASE_NS: u64 = 1_700_000_000_000_000_000;
/// Largest request accepted, compressed or not.
const BODY_BYTES_MAX: usize = 64 << 20;
/// Accept backlog of the listener.
const LISTEN_BACKLOG: u32 = 1024;

/// Command-line options.
#[derive(Debug, Parser)]
#[command(
    name = "shardgate-sink",
    about = "Accept OTLP/gRPC exports, count items, check loss and duplicates"
)]
struct Args {
    /// host:port to listen on for OTLP/gRPC.
    #[arg(long, default_value = "127.0.0.1:14317")]
    endpoint: SocketAddr,
    /// Pin the sink to this CPU.
    #[arg(long)]
    cpu: Option<usize>,
    /// Exit this many seconds after the last data (0 = only on a signal).
    #[arg(long, default_value_t = 0.0)]
    idle_exit: f64,
    /// Largest sequence number tracked for duplicates (bitmap of ids_max/8 bytes at most).
    #[arg(long, default_value_t = 1 << 30)]
    ids_max: u64,
    /// Print items/s every second on stderr.
    #[arg(long)]
    progress: bool,
    /// Serve TLS with this certificate chain (PEM; needs --tls-key).
    #[arg(long, requires = "tls_key")]
    tls_cert: Option<std::path::PathBuf>,
    /// The certificate's private key (PEM).
    #[arg(long, requires = "tls_cert")]
    tls_key: Option<std::path::PathBuf>,
}

/// Running totals.
#[derive(Default)]
struct Totals {
    requests: u64,
    items: u64,
    unique: u64,
    duplicates: u64,
    untracked: u64,
    errors: u64,
    bytes: u64,
    /// One bitmap per signal (traces, metrics, logs): each has its own sequence numbers.
    bitmaps: [Vec<u64>; 3],
    first: Option<Instant>,
    last: Option<Instant>,
}

impl Totals {
    fn mark(&mut self, signal: Signal, seq: Option<u64>, ids_max: u64) {
        let Some(seq) = seq.filter(|s| *s < ids_max) else {
            self.untracked += 1;
            return;
        };
        let bitmap = match signal {
            Signal::Traces => &mut self.bitmaps[0],
            Signal::Metrics => &mut self.bitmaps[1],
            Signal::Logs => &mut self.bitmaps[2],
        };
        let word = (seq / 64) as usize;
        if word >= bitmap.len() {
            bitmap.resize((word + 1).next_power_of_two(), 0);
        }
        let bit = 1u64 << (seq % 64);
        if let Some(w) = bitmap.get_mut(word) {
            if *w & bit != 0 {
                self.duplicates += 1;
            } else {
                *w |= bit;
                self.unique += 1;
            }
        }
    }
}

fn main() -> ExitCode {
    let args = Args::parse();
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        if let Err(error) = signal_hook::flag::register(signal, stop.clone()) {
            eprintln!("shardgate-sink: cannot handle signal {signal}: {error}");
            return ExitCode::FAILURE;
        }
    }
    let cpu = args.cpu;
    match shardgate_shards::run_local(cpu, run(args, stop)) {
        Ok(Ok(())) => ExitCode::SUCCESS,
        Ok(Err(error)) => {
            eprintln!("shardgate-sink: {error}");
            ExitCode::FAILURE
        }
        Err(error) => {
            eprintln!("shardgate-sink: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args, stop: Arc<AtomicBool>) -> Result<(), String> {
    let cpu_before = shardgate::observe::process::cpu_seconds().unwrap_or(0.0);
    let listener = listener::bind_reuseport(args.endpoint, LISTEN_BACKLOG)
        .map_err(|e| format!("listen on {}: {e}", args.endpoint))?;
    eprintln!("shardgate-sink: listening on {}", args.endpoint);
    let totals = Rc::new(RefCell::new(Totals::default()));
    let ids_max = args.ids_max;
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(cert), Some(key)) => {
            let spec = tls::ServerSpec {
                cert: tls::Pem::File(cert.clone()),
                key: tls::Pem::File(key.clone()),
                client_ca: None,
                protocol: tls::Protocol::default(),
                alpn: vec![tls::ALPN_H2.to_vec()],
            };
            Some(tls::server_config(&spec).map_err(|e| e.to_string())?)
        }
        _ => None,
    };
    let accept_totals = totals.clone();
    task::spawn_local(async move {
        loop {
            let Ok(stream) = listener::accept(&listener).await else {
                continue;
            };
            let totals = accept_totals.clone();
            let tls = tls.clone();
            task::spawn_local(async move {
                let conn = match tls {
                    None => tls::Conn::from(stream),
                    Some(config) => {
                        let io = shardgate_io::stream::TcpIo::new(stream);
                        match tls::accept(config, io, Duration::from_secs(10)).await {
                            Ok(conn) => conn,
                            Err(_) => return,
                        }
                    }
                };
                let handler = |request, respond| handle(totals.clone(), ids_max, request, respond);
                let never = std::future::pending::<()>();
                let _ = h2_server::serve(conn, H2ServerSettings::default(), handler, never).await;
            })
            .detach();
        }
    })
    .detach();
    let mut last_items = 0u64;
    loop {
        task::sleep(Duration::from_millis(200)).await;
        let t = totals.borrow();
        if stop.load(Ordering::Relaxed) {
            break;
        }
        if args.idle_exit > 0.0 {
            if let Some(last) = t.last {
                if last.elapsed().as_secs_f64() >= args.idle_exit {
                    break;
                }
            }
        }
        if args.progress && t.items != last_items {
            eprintln!("shardgate-sink: {} items", t.items);
            last_items = t.items;
        }
    }
    let t = totals.borrow();
    let span_s = match (t.first, t.last) {
        (Some(first), Some(last)) => last.duration_since(first).as_secs_f64(),
        _ => 0.0,
    };
    let rate = if span_s > 0.0 {
        t.items as f64 / span_s
    } else {
        0.0
    };
    println!(
        "SINK items={} requests={} unique={} duplicates={} untracked={} errors={} bytes={} \
         first_to_last_s={span_s:.3} items_per_s={rate:.0} cpu_s={:.3}",
        t.items,
        t.requests,
        t.unique,
        t.duplicates,
        t.untracked,
        t.errors,
        t.bytes,
        shardgate::observe::process::cpu_seconds().unwrap_or(0.0) - cpu_before
    );
    Ok(())
}

async fn handle(
    totals: Rc<RefCell<Totals>>,
    ids_max: u64,
    request: Request<RecvStream>,
    respond: Respond,
) {
    let status = receive(&totals, ids_max, request).await;
    if status.code != Code::Ok {
        totals.borrow_mut().errors += 1;
        let _ = respond.send_headers_only(grpc::trailers_only(&status));
        return;
    }
    let head = grpc::response_head(&Encoding::Identity);
    let _ = respond
        .send(head, grpc::frame(false, &[]), grpc::trailers(&status))
        .await;
}

async fn receive(totals: &RefCell<Totals>, ids_max: u64, request: Request<RecvStream>) -> Status {
    let Some(signal) = Signal::from_grpc_path(request.uri().path()) else {
        return Status::new(Code::Unimplemented, "unknown method");
    };
    let encoding = Encoding::from_headers(request.headers());
    let mut body = request.into_body();
    let message = match grpc::read_unary(&mut body, BODY_BYTES_MAX).await {
        Ok(message) => message,
        Err(error) => return Status::new(Code::InvalidArgument, error.to_string()),
    };
    let wire_bytes = message.payload.len() as u64;
    let payload = if message.compressed {
        let codec = match encoding {
            Encoding::Gzip => Codec::Gzip,
            Encoding::Zstd => Codec::Zstd,
            Encoding::Deflate => Codec::Deflate,
            _ => return Status::new(Code::Unimplemented, "unsupported grpc-encoding"),
        };
        match decompress(codec, &message.payload, BODY_BYTES_MAX) {
            Ok(bytes) => bytes,
            Err(error) => return Status::new(Code::InvalidArgument, error.to_string()),
        }
    } else {
        message.payload
    };
    let scanned = match scan_request(signal, &payload) {
        Ok(scanned) => scanned,
        Err(error) => return Status::new(Code::InvalidArgument, error.to_string()),
    };
    let mut t = totals.borrow_mut();
    let now = Instant::now();
    t.first.get_or_insert(now);
    t.last = Some(now);
    t.requests += 1;
    t.items += scanned.items;
    t.bytes += wire_bytes;
    let mut ids = Vec::with_capacity(scanned.items as usize);
    for chunk in &scanned.chunks {
        collect_ids(signal, &chunk.bytes, &mut ids);
    }
    let tracked = ids.len() as u64;
    for seq in ids {
        t.mark(signal, seq, ids_max);
    }
    // Items whose id field could not be found at all.
    t.untracked += scanned.items.saturating_sub(tracked);
    Status::new(Code::Ok, "")
}

/// Field path from a resource message to the message holding each item's id, then the id
/// field: traces ResourceSpans.scope_spans(2) → ScopeSpans.spans(2) → Span.span_id(2);
/// logs ResourceLogs.scope_logs(2) → ScopeLogs.log_records(2) → LogRecord.time_unix_nano(1);
/// metrics ResourceMetrics.scope_metrics(2) → ScopeMetrics.metrics(2) → Metric.gauge(5) →
/// Gauge.data_points(1) → NumberDataPoint.time_unix_nano(3).
fn collect_ids(signal: Signal, resource: &[u8], out: &mut Vec<Option<u64>>) {
    match signal {
        Signal::Traces => walk(resource, &[2, 2], &mut |span| {
            out.push(
                field(span, 2)
                    .and_then(|v| match v {
                        Value::Bytes(b) => b.try_into().ok().map(u64::from_be_bytes),
                        Value::Fixed64(_) => None,
                    })
                    .and_then(|v| v.checked_sub(1)),
            );
        }),
        Signal::Logs => walk(resource, &[2, 2], &mut |record| {
            out.push(time_seq(record, 1));
        }),
        Signal::Metrics => walk(resource, &[2, 2, 5, 1], &mut |point| {
            out.push(time_seq(point, 3));
        }),
    }
}

fn time_seq(message: &[u8], number: u32) -> Option<u64> {
    match field(message, number)? {
        Value::Fixed64(v) => v.checked_sub(ID_TIME_BASE_NS),
        Value::Bytes(_) => None,
    }
}

/// Calls `visit` with each message reached by following `path` (repeated fields included).
fn walk(message: &[u8], path: &[u32], visit: &mut dyn FnMut(&[u8])) {
    let Some((&first, rest)) = path.split_first() else {
        visit(message);
        return;
    };
    for (number, value) in Fields(message) {
        if let (true, Value::Bytes(inner)) = (number == first, value) {
            walk(inner, rest, visit);
        }
    }
}

/// The first occurrence of field `number` (length-delimited or fixed64) in `message`.
fn field(message: &[u8], number: u32) -> Option<Value<'_>> {
    Fields(message).find(|(n, _)| *n == number).map(|(_, v)| v)
}

/// A field value the id walk cares about; varints and fixed32 are skipped.
enum Value<'a> {
    Bytes(&'a [u8]),
    Fixed64(u64),
}

/// Iterates a message's length-delimited and fixed64 fields; stops at malformed bytes (the
/// body was already validated by `scan_request`). Hand-written because decoding whole items
/// with prost would cost the sink more CPU than the collector spends on them.
struct Fields<'a>(&'a [u8]);

impl<'a> Iterator for Fields<'a> {
    type Item = (u32, Value<'a>);

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let key = varint(&mut self.0)?;
            let number = u32::try_from(key >> 3).ok()?;
            match key & 7 {
                0 => {
                    varint(&mut self.0)?;
                }
                1 => {
                    let (head, rest) = self.0.split_first_chunk::<8>()?;
                    self.0 = rest;
                    return Some((number, Value::Fixed64(u64::from_le_bytes(*head))));
                }
                2 => {
                    let len = usize::try_from(varint(&mut self.0)?).ok()?;
                    let (head, rest) = (self.0.get(..len)?, self.0.get(len..)?);
                    self.0 = rest;
                    return Some((number, Value::Bytes(head)));
                }
                5 => self.0 = self.0.get(4..)?,
                _ => return None,
            }
        }
    }
}

fn varint(buf: &mut &[u8]) -> Option<u64> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let (&byte, rest) = buf.split_first()?;
        *buf = rest;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some(value);
        }
    }
    None
}
