//! Bytes → the Zipkin (v2 JSON, v2 protobuf, v1 JSON) and Jaeger (api_v2 protobuf, Thrift
//! binary, agent `emitBatch` datagrams in Thrift compact and binary) decoders and their translation to OTLP; whatever is accepted must translate into
//! an export request the structural scan accepts, with every span kept. Must never panic.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use prost::Message;
use shardgate::otlp::scan_request;
use shardgate::receiver::{jaeger, zipkin};
use shardgate::signal::Signal;

fn valid(request: &impl Message, spans: usize) {
    let body = Bytes::from(request.encode_to_vec());
    let scanned = scan_request(Signal::Traces, &body).expect("translated request scans");
    assert_eq!(scanned.items, spans as u64);
}

fuzz_target!(|data: &[u8]| {
    for spans in [
        zipkin::model::decode_json(data),
        zipkin::proto::decode(data),
    ]
    .into_iter()
    .flatten()
    {
        let n = spans.len();
        if let Ok(request) = zipkin::translate::to_request(spans, true) {
            valid(&request, n);
        }
    }
    if let Ok(request) = zipkin::v1::to_request(data, true) {
        let n = request
            .resource_spans
            .iter()
            .flat_map(|r| &r.scope_spans)
            .map(|s| s.spans.len())
            .sum();
        valid(&request, n);
    }
    use jaeger::translate::Source;
    let thrift = jaeger::thrift::decode(data)
        .ok()
        .map(|b| (b, Source::Thrift));
    let proto = jaeger::proto::decode(data)
        .ok()
        .map(|b| (b, Source::Protobuf));
    use jaeger::agent::{self, AgentProtocol};
    let compact = agent::decode(AgentProtocol::Compact, data)
        .ok()
        .map(|b| (b, Source::Thrift));
    let binary = agent::decode(AgentProtocol::Binary, data)
        .ok()
        .map(|b| (b, Source::Thrift));
    for (batch, source) in [thrift, proto, compact, binary].into_iter().flatten() {
        let request = jaeger::translate::to_request(vec![batch], source);
        let n = request
            .resource_spans
            .iter()
            .flat_map(|r| &r.scope_spans)
            .map(|s| s.spans.len())
            .sum();
        valid(&request, n);
    }
});
