//! What one scrape costs the prometheus receiver's shard after the body is read, on an
//! exposition shaped like a busy exporter's: 2 000 counter series with 3 labels each and 100
//! histograms of 10 buckets (3 200 samples, about 230 KB):
//! - `parse`: the text 0.0.4 parser alone;
//! - `parse_and_map`: parser, then the OTLP mapping with start times, then the protobuf
//!   encoding of the request the pipelines take.
//!
//! After the criterion group, a plain `Instant` loop prints samples per second of each
//! (criterion does not hand its estimates back). `cargo bench -p shardgate-bench --bench
//! prometheus -- --test` runs everything once, quickly.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fmt::Write;
use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput};
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use prost::Message;
use shardgate::receiver::prometheus::exposition::{parse, Format};
use shardgate::receiver::prometheus::mapping::{build, Scraped};
use shardgate::receiver::prometheus::series::StartTimes;

const SAMPLES_MAX: usize = 100_000;

fn exposition() -> String {
    let mut text = String::new();
    text.push_str(
        "# HELP http_requests_total Requests served.\n# TYPE http_requests_total counter\n",
    );
    for i in 0..2_000 {
        let _ = writeln!(
            text,
            "http_requests_total{{method=\"GET\",path=\"/api/v1/items/{i}\",code=\"{}\"}} {}",
            200 + i % 5,
            i * 37
        );
    }
    for h in 0..100 {
        let _ = writeln!(text, "# TYPE latency_{h}_seconds histogram");
        for (b, le) in [
            "0.005", "0.01", "0.025", "0.05", "0.1", "0.25", "0.5", "1", "2.5", "+Inf",
        ]
        .iter()
        .enumerate()
        {
            let _ = writeln!(text, "latency_{h}_seconds_bucket{{le=\"{le}\"}} {}", b * 10);
        }
        let _ = writeln!(
            text,
            "latency_{h}_seconds_sum 12.5\nlatency_{h}_seconds_count 90"
        );
    }
    text
}

/// The parser, then what the receiver does with its samples before the pipelines.
fn parse_and_map(text: &str, starts: &mut StartTimes) -> usize {
    let e = parse(text, Format::Prometheus, SAMPLES_MAX).unwrap();
    let samples: Vec<Scraped> = e
        .samples
        .into_iter()
        .map(|s| {
            let mut labels: std::collections::BTreeMap<String, String> =
                s.labels.into_iter().collect();
            labels.insert("__name__".into(), s.name);
            labels.insert("job".into(), "bench".into());
            labels.insert("instance".into(), "10.0.0.1:9100".into());
            Scraped {
                labels,
                value: s.value,
                timestamp_ms: 1_700_000_000_000,
            }
        })
        .collect();
    let resource_metrics = build(&samples, &e.metadata, "http", "bench", starts);
    ExportMetricsServiceRequest { resource_metrics }
        .encode_to_vec()
        .len()
}

/// Samples per second of `f` over `duration`.
fn rate(samples: usize, duration: Duration, mut f: impl FnMut()) -> f64 {
    let started = Instant::now();
    let mut runs = 0u64;
    while started.elapsed() < duration {
        f();
        runs += 1;
    }
    (runs as f64 * samples as f64) / started.elapsed().as_secs_f64()
}

fn main() {
    let text = exposition();
    let samples = parse(&text, Format::Prometheus, SAMPLES_MAX)
        .unwrap()
        .samples
        .len();
    let mut criterion = Criterion::default().configure_from_args();
    let mut group = criterion.benchmark_group("prometheus_scrape");
    group.throughput(Throughput::Elements(samples as u64));
    group.bench_function("parse", |b| {
        b.iter(|| parse(black_box(&text), Format::Prometheus, SAMPLES_MAX).unwrap())
    });
    let mut starts = StartTimes::default();
    group.bench_function("parse_and_map", |b| {
        b.iter(|| parse_and_map(black_box(&text), &mut starts))
    });
    group.finish();
    criterion.final_summary();
    let test_mode = std::env::args().any(|a| a == "--test");
    let window = if test_mode {
        Duration::from_millis(10)
    } else {
        Duration::from_secs(3)
    };
    let parsed = rate(samples, window, || {
        black_box(parse(&text, Format::Prometheus, SAMPLES_MAX).unwrap());
    });
    let mut starts = StartTimes::default();
    let mapped = rate(samples, window, || {
        black_box(parse_and_map(&text, &mut starts));
    });
    println!(
        "{samples} samples, {} bytes: parse {:.2} M samples/s; parse + map + encode {:.2} M samples/s ({:.2} ms per scrape)",
        text.len(),
        parsed / 1e6,
        mapped / 1e6,
        samples as f64 / mapped * 1e3
    );
}
