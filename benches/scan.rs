//! The receiver's structural scan against its baselines, on a realistic traces request
//! (100 spans of ~450 bytes, 10 attributes of mixed types each):
//! - `memcpy`: copying the same bytes, the floor for anything that touches every byte;
//! - `scan_request`: shardgate's one-pass validate + count + slice;
//! - `prost_decode`: a full `ExportTraceServiceRequest::decode`, what the scan replaces.
//!
//! After the criterion group, a plain `Instant` loop prints the ratios (criterion does not hand
//! its estimates back). `cargo bench --bench scan -- --test` runs everything once, quickly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{Criterion, Throughput};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{
    any_value::Value, AnyValue, ArrayValue, InstrumentationScope, KeyValue,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{span, ResourceSpans, ScopeSpans, Span, Status};
use prost::Message;
use shardgate::otlp::scan_request;
use shardgate::signal::Signal;

fn kv(key: &str, value: Value) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(value) }),
        key_strindex: 0,
    }
}

fn s(v: &str) -> Value {
    Value::StringValue(v.into())
}

fn span(i: u64) -> Span {
    let attributes = vec![
        kv("http.request.method", s("GET")),
        kv(
            "url.full",
            s(&format!("https://api.example.com/v1/orders/{i}")),
        ),
        kv("http.response.status_code", Value::IntValue(200)),
        kv("server.port", Value::IntValue(443)),
        kv("user_agent.original", s("shardgate-bench/1.0 (linux)")),
        kv("app.cache_hit", Value::BoolValue(i.is_multiple_of(3))),
        kv("app.latency_ms", Value::DoubleValue(12.5 + i as f64)),
        kv("enduser.id", s(&format!("user-{:08}", i * 7919))),
        kv("app.request_digest", Value::BytesValue(vec![0xAB; 16])),
        kv(
            "app.feature_flags",
            Value::ArrayValue(ArrayValue {
                values: vec![AnyValue {
                    value: Some(s("beta")),
                }],
            }),
        ),
    ];
    Span {
        trace_id: (0..16).map(|b| (b as u64 + i) as u8).collect(),
        span_id: (0..8).map(|b| (b as u64 * 3 + i) as u8).collect(),
        trace_state: String::new(),
        parent_span_id: vec![7; 8],
        flags: 0x100,
        name: format!("GET /v1/orders/{{id}} #{i}"),
        kind: 2,
        start_time_unix_nano: 1_700_000_000_000_000_000 + i * 1_000_000,
        end_time_unix_nano: 1_700_000_000_000_000_000 + i * 1_000_000 + 12_500_000,
        attributes,
        dropped_attributes_count: 0,
        events: vec![span::Event {
            time_unix_nano: 1_700_000_000_000_000_000 + i * 1_000_000 + 1_000,
            name: "cache.lookup".into(),
            attributes: vec![kv("cache.key", s("orders"))],
            dropped_attributes_count: 0,
        }],
        dropped_events_count: 0,
        links: vec![],
        dropped_links_count: 0,
        status: Some(Status {
            message: String::new(),
            code: 1,
        }),
    }
}

/// The request the benchmark scans: one resource, one scope, 100 spans.
fn request() -> Bytes {
    let resource = Resource {
        attributes: vec![
            kv("service.name", s("checkout")),
            kv("service.version", s("2.14.1")),
            kv("deployment.environment.name", s("production")),
            kv("host.name", s("gw-eu-west-1a-17")),
        ],
        dropped_attributes_count: 0,
        entity_refs: vec![],
    };
    let scope = InstrumentationScope {
        name: "io.opentelemetry.http".into(),
        version: "1.32.0".into(),
        attributes: vec![],
        dropped_attributes_count: 0,
    };
    let req = ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(resource),
            scope_spans: vec![ScopeSpans {
                scope: Some(scope),
                spans: (0..100).map(span).collect(),
                schema_url: String::new(),
            }],
            schema_url: "https://opentelemetry.io/schemas/1.26.0".into(),
        }],
    };
    Bytes::from(req.encode_to_vec())
}

fn bench(c: &mut Criterion, body: &Bytes) {
    let mut group = c.benchmark_group("otlp_traces_100_spans");
    group.throughput(Throughput::Bytes(body.len() as u64));
    let mut dst = vec![0u8; body.len()];
    group.bench_function("memcpy", |b| {
        b.iter(|| {
            dst.copy_from_slice(black_box(body));
            black_box(&dst);
        })
    });
    group.bench_function("scan_request", |b| {
        b.iter(|| {
            scan_request(Signal::Traces, black_box(body))
                .map(|s| s.items)
                .unwrap()
        })
    });
    group.bench_function("prost_decode", |b| {
        b.iter(|| ExportTraceServiceRequest::decode(black_box(body.clone())).unwrap())
    });
    group.finish();
}

/// Mean time per call of `f`, over at least `budget` (after a warm-up).
fn time(budget: Duration, mut f: impl FnMut()) -> Duration {
    for _ in 0..100 {
        f();
    }
    let start = Instant::now();
    let mut n: u32 = 0;
    while start.elapsed() < budget {
        for _ in 0..100 {
            f();
        }
        n += 100;
    }
    start.elapsed() / n
}

fn ratios(body: &Bytes, budget: Duration) {
    let mut dst = vec![0u8; body.len()];
    let memcpy = time(budget, || {
        dst.copy_from_slice(black_box(body));
        black_box(&dst);
    });
    let scan = time(budget, || {
        black_box(
            scan_request(Signal::Traces, black_box(body))
                .map(|s| s.items)
                .unwrap(),
        );
    });
    let prost = time(budget, || {
        black_box(ExportTraceServiceRequest::decode(black_box(body.clone())).unwrap());
    });
    let gib = |d: Duration| body.len() as f64 / d.as_secs_f64() / f64::from(1 << 30);
    eprintln!(
        "ratio: {} bytes; memcpy {memcpy:?} ({:.2} GiB/s), scan {scan:?} ({:.2} GiB/s), \
         prost {prost:?} ({:.2} GiB/s); scan/memcpy = {:.1}x, prost/scan = {:.1}x",
        body.len(),
        gib(memcpy),
        gib(scan),
        gib(prost),
        scan.as_secs_f64() / memcpy.as_secs_f64(),
        prost.as_secs_f64() / scan.as_secs_f64(),
    );
}

fn main() {
    let body = request();
    let scanned = scan_request(Signal::Traces, &body).unwrap();
    assert_eq!(scanned.items, 100);
    let test_mode = std::env::args().any(|a| a == "--test");
    let mut c = Criterion::default().configure_from_args();
    bench(&mut c, &body);
    c.final_summary();
    let budget = if test_mode {
        Duration::from_millis(20)
    } else {
        Duration::from_secs(1)
    };
    ratios(&body, budget);
}
