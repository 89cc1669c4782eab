//! Bytes → `scan_request` for each signal, held to prost (opentelemetry-proto's generated
//! `Export{Trace,Metrics,Logs}ServiceRequest`). Must never panic.
//!
//! Asserts what `shardgate::otlp` promises (its "Invariant" docs): the scan accepts exactly what
//! prost decodes, and on an accepted request its chunks are the decoded resource messages, one
//! per top-level resource, with the decoded structs' item counts. Error kinds and wording are
//! not compared (the docs say only those may differ).
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::logs::v1::ResourceLogs;
use opentelemetry_proto::tonic::metrics::v1::{metric::Data, Metric, ResourceMetrics};
use opentelemetry_proto::tonic::trace::v1::ResourceSpans;
use prost::Message;
use shardgate::otlp::{scan_request, ScannedRequest};
use shardgate::signal::Signal;

fuzz_target!(|data: &[u8]| {
    let body = Bytes::copy_from_slice(data);
    for signal in Signal::ALL {
        let ours = scan_request(signal, &body);
        match signal {
            Signal::Traces => check(
                &ours,
                ExportTraceServiceRequest::decode(data).map(|r| r.resource_spans),
                |rs: &ResourceSpans| rs.scope_spans.iter().map(|s| s.spans.len()).sum(),
            ),
            Signal::Metrics => check(
                &ours,
                ExportMetricsServiceRequest::decode(data).map(|r| r.resource_metrics),
                |rm: &ResourceMetrics| {
                    rm.scope_metrics
                        .iter()
                        .flat_map(|s| &s.metrics)
                        .map(points)
                        .sum()
                },
            ),
            Signal::Logs => check(
                &ours,
                ExportLogsServiceRequest::decode(data).map(|r| r.resource_logs),
                |rl: &ResourceLogs| rl.scope_logs.iter().map(|s| s.log_records.len()).sum(),
            ),
        }
    }
});

/// Holds one scan result to prost's decode of the same bytes (as its list of resource messages).
fn check<R: Message + Default + std::fmt::Debug>(
    ours: &Result<ScannedRequest, shardgate::otlp::ScanError>,
    theirs: Result<Vec<R>, prost::DecodeError>,
    items: impl Fn(&R) -> usize,
) {
    let (scanned, resources) = match (ours, theirs) {
        (Ok(scanned), Ok(resources)) => (scanned, resources),
        (Err(_), Err(_)) => return,
        (ours, theirs) => panic!("scan {ours:?} disagrees with prost {theirs:?}"),
    };
    assert_eq!(scanned.chunks.len(), resources.len(), "resource count");
    let mut total = 0u64;
    for (chunk, resource) in scanned.chunks.iter().zip(&resources) {
        // Each chunk is that resource message's body: it decodes on its own to the same struct
        // (compared re-encoded, as a NaN double would make `==` false).
        let decoded = R::decode(chunk.bytes.as_ref());
        assert!(
            decoded
                .as_ref()
                .is_ok_and(|d| d.encode_to_vec() == resource.encode_to_vec()),
            "chunk does not decode to its resource: {decoded:?}"
        );
        assert_eq!(chunk.items as usize, items(resource), "items of a chunk");
        total += u64::from(chunk.items);
    }
    assert_eq!(scanned.items, total, "request items vs their chunks' sum");
}

fn points(m: &Metric) -> usize {
    match &m.data {
        None => 0,
        Some(Data::Gauge(g)) => g.data_points.len(),
        Some(Data::Sum(s)) => s.data_points.len(),
        Some(Data::Histogram(h)) => h.data_points.len(),
        Some(Data::ExponentialHistogram(e)) => e.data_points.len(),
        Some(Data::Summary(s)) => s.data_points.len(),
    }
}
