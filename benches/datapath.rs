//! The data path's pieces, each beside a memcpy of the same bytes measured in the same run, on
//! a realistic traces request (100 spans of ~400 bytes, 10 attributes of mixed types each):
//! - `grpc_frame`: writing the 5-byte gRPC prefix and payload (`shardgate_io::grpc::frame`);
//! - `split_chunk`: splitting a resource chunk in half, as the batcher does at its size limit;
//! - `batch_append_encode`: appending chunks into an export request (`encode_request`);
//! - `gzip_compress` / `gzip_decompress`: `GzipEncoder` and bounded `decompress`;
//! - `gzip_stream_compress`: the exporters' `GzipStream` (zlib-rs level 1, fed in pieces);
//! - `zstd_decompress`: bounded zstd `decompress` (what a zstd client costs the receiver).
//!
//! Each piece is measured twice: group `<piece>/bytes` reports bytes/s (with `memcpy` in the
//! same group as the floor) and group `items` reports spans/s.
//! `cargo bench --bench datapath -- --test` runs everything once, quickly (CI does).
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use criterion::{Criterion, Throughput};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value::Value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use prost::Message;
use shardgate::otlp::{encode_request, scan_request, split_chunk, ResourceChunk};
use shardgate::signal::Signal;
use shardgate_io::compression::{decompress, Codec, GzipEncoder, GzipStream};
use shardgate_io::grpc;

const SPANS: u64 = 100;
const LIMIT_BYTES: usize = 64 << 20;

fn kv(key: &str, value: Value) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(value) }),
        key_strindex: 0,
    }
}

fn request() -> Vec<u8> {
    let spans = (0..SPANS)
        .map(|i| Span {
            trace_id: vec![(i % 251) as u8; 16],
            span_id: (i + 1).to_be_bytes().to_vec(),
            name: format!("GET /api/v1/orders/{}", i % 50),
            kind: 2,
            start_time_unix_nano: 1_700_000_000_000_000_000 + i,
            end_time_unix_nano: 1_700_000_000_000_500_000 + i,
            attributes: vec![
                kv("http.request.method", Value::StringValue("GET".into())),
                kv(
                    "url.path",
                    Value::StringValue(format!("/api/v1/orders/{i}")),
                ),
                kv(
                    "server.address",
                    Value::StringValue("orders.internal".into()),
                ),
                kv("server.port", Value::IntValue(8080)),
                kv("http.response.status_code", Value::IntValue(200)),
                kv(
                    "user_agent.original",
                    Value::StringValue("Mozilla/5.0 (X11; Linux x86_64)".into()),
                ),
                kv("network.protocol.version", Value::StringValue("1.1".into())),
                kv("http.response.body.size", Value::IntValue(1534 + i as i64)),
                kv("app.latency_ms", Value::DoubleValue(12.5 + i as f64)),
                kv("retry", Value::BoolValue(i % 2 == 0)),
            ],
            ..Default::default()
        })
        .collect();
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![
                    kv("service.name", Value::StringValue("checkout".into())),
                    kv("host.name", Value::StringValue("web-17".into())),
                ],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                spans,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
    .encode_to_vec()
}

fn main() {
    let mut c = Criterion::default()
        .configure_from_args()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    let body = Bytes::from(request());
    let chunk: ResourceChunk = scan_request(Signal::Traces, &body)
        .expect("valid request")
        .chunks
        .remove(0);
    let mut gzipped = Vec::new();
    GzipEncoder::new().compress_into(&body, &mut gzipped);
    let zstded = zstd::bulk::compress(&body, 1).expect("zstd");

    for throughput in [
        ("bytes", Throughput::Bytes(body.len() as u64)),
        ("items", Throughput::Elements(SPANS)),
    ] {
        let mut g = c.benchmark_group(format!("datapath/{}", throughput.0));
        g.throughput(throughput.1);
        g.bench_function("memcpy", |b| {
            b.iter(|| black_box(black_box(&body[..]).to_vec()))
        });
        g.bench_function("grpc_frame", |b| {
            b.iter(|| black_box(grpc::frame(false, black_box(&body))))
        });
        g.bench_function("split_chunk", |b| {
            b.iter(|| black_box(split_chunk(Signal::Traces, black_box(&chunk), 50).expect("split")))
        });
        g.bench_function("batch_append_encode", |b| {
            let mut out = BytesMut::with_capacity(body.len() * 2);
            b.iter(|| {
                out.clear();
                encode_request([black_box(&chunk)], &mut out);
                black_box(out.len())
            })
        });
        g.bench_function("gzip_compress", |b| {
            let mut encoder = GzipEncoder::new();
            let mut out = Vec::with_capacity(body.len());
            b.iter(|| {
                out.clear();
                encoder.compress_into(black_box(&body), &mut out);
                black_box(out.len())
            })
        });
        g.bench_function("gzip_stream_compress", |b| {
            let mut stream = GzipStream::new();
            let mut out = Vec::with_capacity(body.len());
            b.iter(|| {
                out.clear();
                stream.begin();
                stream.write(black_box(&body), &mut out).unwrap();
                stream.finish(&mut out).unwrap();
                black_box(out.len())
            })
        });
        g.bench_function("gzip_decompress", |b| {
            b.iter(|| black_box(decompress(Codec::Gzip, black_box(&gzipped), LIMIT_BYTES)))
        });
        g.bench_function("zstd_decompress", |b| {
            b.iter(|| black_box(decompress(Codec::Zstd, black_box(&zstded), LIMIT_BYTES)))
        });
        g.finish();
    }
    c.final_summary();
}
