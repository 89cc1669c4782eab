//! A small OTLP/gRPC trace load generator for smoke runs: sends pre-encoded requests over a
//! few HTTP/2 connections and reports spans/s and request latency percentiles.
//!
//! The full generator with rates, signals and protocols comes with the benchmark scripts;
//! this one exists so `scripts/smoke-load.sh` can show the data path working end to end.
#![forbid(unsafe_code)]

use std::cell::RefCell;
use std::process::ExitCode;
use std::rc::Rc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use clap::Parser;
use hdrhistogram::Histogram;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use prost::Message;
use shardgate::signal::Signal;
use shardgate_io::compression::GzipEncoder;
use shardgate_io::grpc::{self, Code, Status};
use shardgate_io::h2_client::{H2Client, H2ClientSettings};
use shardgate_shards::task;

/// Command-line options.
#[derive(Debug, Parser)]
#[command(
    name = "shardgate-load",
    about = "Send OTLP/gRPC trace load and report spans/s and latency"
)]
struct Args {
    /// host:port of the OTLP/gRPC receiver.
    #[arg(long, default_value = "127.0.0.1:4317")]
    endpoint: String,
    /// Requests to send in all.
    #[arg(long, default_value_t = 2000)]
    requests: u64,
    /// Spans in each request.
    #[arg(long, default_value_t = 100)]
    spans_per_request: u32,
    /// HTTP/2 connections.
    #[arg(long, default_value_t = 4)]
    connections: usize,
    /// Requests in flight per connection.
    #[arg(long, default_value_t = 4)]
    in_flight: usize,
    /// Send gzip-compressed requests.
    #[arg(long)]
    gzip: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let outcome = shardgate_shards::run_local(None, run(args)).map_err(|e| e.to_string());
    match outcome.and_then(|inner| inner) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("shardgate-load: {error}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<(), String> {
    let body = request_body(args.spans_per_request, args.gzip);
    let histogram = Rc::new(RefCell::new(
        Histogram::<u64>::new_with_bounds(1, 60_000_000, 3).map_err(|e| e.to_string())?,
    ));
    let failures = Rc::new(RefCell::new(0u64));
    let next = Rc::new(RefCell::new(0u64));
    let started = Instant::now();
    let mut workers = Vec::new();
    for _ in 0..args.connections.max(1) {
        let client = H2Client::connect(&args.endpoint, H2ClientSettings::default())
            .await
            .map_err(|e| e.to_string())?;
        for _ in 0..args.in_flight.max(1) {
            let worker = Worker {
                client: client.clone(),
                body: body.clone(),
                gzip: args.gzip,
                endpoint: args.endpoint.clone(),
                total: args.requests,
                next: next.clone(),
                histogram: histogram.clone(),
                failures: failures.clone(),
            };
            workers.push(task::spawn_local(worker.run()));
        }
    }
    for worker in workers {
        worker.await;
    }
    let elapsed = started.elapsed().as_secs_f64();
    let histogram = histogram.borrow();
    let ok = histogram.len();
    let spans = ok * u64::from(args.spans_per_request);
    println!(
        "requests ok {ok}, failed {}, spans {spans} in {elapsed:.2}s = {:.0} spans/s",
        failures.borrow(),
        spans as f64 / elapsed
    );
    println!(
        "latency us: p50 {} p99 {} p999 {} max {}",
        histogram.value_at_quantile(0.5),
        histogram.value_at_quantile(0.99),
        histogram.value_at_quantile(0.999),
        histogram.max()
    );
    if *failures.borrow() > 0 {
        return Err("some requests failed".into());
    }
    Ok(())
}

struct Worker {
    client: H2Client,
    body: Bytes,
    gzip: bool,
    endpoint: String,
    total: u64,
    next: Rc<RefCell<u64>>,
    histogram: Rc<RefCell<Histogram<u64>>>,
    failures: Rc<RefCell<u64>>,
}

impl Worker {
    async fn run(self) {
        loop {
            {
                let mut next = self.next.borrow_mut();
                if *next >= self.total {
                    return;
                }
                *next += 1;
            }
            let started = Instant::now();
            let outcome = self.send_one().await;
            let micros = started.elapsed().as_micros() as u64;
            match outcome {
                Ok(()) => {
                    let _ = self.histogram.borrow_mut().record(micros.max(1));
                }
                Err(error) => {
                    *self.failures.borrow_mut() += 1;
                    eprintln!("request failed: {error}");
                }
            }
        }
    }

    async fn send_one(&self) -> Result<(), String> {
        let mut builder = http::Request::post(format!(
            "http://{}{}",
            self.endpoint,
            Signal::Traces.grpc_path()
        ))
        .header("content-type", grpc::CONTENT_TYPE)
        .header("te", "trailers");
        if self.gzip {
            builder = builder.header("grpc-encoding", "gzip");
        }
        let request = builder.body(()).map_err(|e| e.to_string())?;
        let response = self
            .client
            .unary(request, self.body.clone(), Duration::from_secs(30))
            .await
            .map_err(|e| e.to_string())?;
        let status = Status::from_headers(&response.trailers)
            .or_else(|| Status::from_headers(response.head.headers()))
            .ok_or("no grpc-status")?;
        if status.code != Code::Ok {
            return Err(format!("{:?}: {}", status.code, status.message));
        }
        Ok(())
    }
}

/// One framed request of `spans` realistic spans (~450 bytes, 10 mixed attributes each).
fn request_body(spans: u32, gzip: bool) -> Bytes {
    let string = |key: &str, value: &str| KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.into())),
        }),
        ..Default::default()
    };
    let int = |key: &str, value: i64| KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(any_value::Value::IntValue(value)),
        }),
        ..Default::default()
    };
    let spans = (0..spans)
        .map(|i| Span {
            trace_id: (0..16).map(|b| (b as u8) ^ (i as u8)).collect(),
            span_id: (0..8).map(|b| (b as u8).wrapping_add(i as u8)).collect(),
            name: format!("GET /api/v1/orders/{i}"),
            kind: 2,
            start_time_unix_nano: 1_700_000_000_000_000_000 + u64::from(i),
            end_time_unix_nano: 1_700_000_000_000_500_000 + u64::from(i),
            attributes: vec![
                string("http.request.method", "GET"),
                string("url.path", "/api/v1/orders"),
                string("server.address", "orders.internal.example.com"),
                int("server.port", 8080),
                int("http.response.status_code", 200),
                string(
                    "user_agent.original",
                    "Mozilla/5.0 (X11; Linux x86_64) shardgate-load",
                ),
                string("network.protocol.version", "1.1"),
                int("http.response.body.size", 1534),
                string("client.address", "10.1.2.3"),
                KeyValue {
                    key: "retry".into(),
                    value: Some(AnyValue {
                        value: Some(any_value::Value::BoolValue(false)),
                    }),
                    ..Default::default()
                },
            ],
            ..Default::default()
        })
        .collect();
    let request = ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![
                    string("service.name", "checkout"),
                    string("service.version", "1.4.2"),
                    string("host.name", "web-17"),
                ],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                scope: Some(InstrumentationScope {
                    name: "shardgate-load".into(),
                    version: "0.1".into(),
                    ..Default::default()
                }),
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
    };
    let encoded = request.encode_to_vec();
    if gzip {
        let mut packed = Vec::new();
        GzipEncoder::new().compress_into(&encoded, &mut packed);
        grpc::frame(true, &packed)
    } else {
        grpc::frame(false, &encoded)
    }
}
