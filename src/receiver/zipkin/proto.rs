//! Zipkin v2 protobuf (`application/x-protobuf`): the messages of zipkin-api's `zipkin.proto`
//! (package `zipkin.proto3`), declared here with prost's derive since no protoc runs at build
//! time, and their reading into the span model.
//!
//! Field numbers, as the public zipkin.proto gives them:
//! - `ListOfSpans`: `spans` = 1;
//! - `Span`: `trace_id` = 1 (bytes, 8 or 16), `parent_id` = 2 (bytes, 8 or empty), `id` = 3
//!   (bytes, 8), `kind` = 4 (enum: 0 unspecified, 1 CLIENT, 2 SERVER, 3 PRODUCER, 4 CONSUMER),
//!   `name` = 5, `timestamp` = 6 (fixed64, epoch µs), `duration` = 7 (uint64, µs),
//!   `local_endpoint` = 8, `remote_endpoint` = 9, `annotations` = 10, `tags` = 11
//!   (map<string, string>), `debug` = 12, `shared` = 13;
//! - `Endpoint`: `service_name` = 1, `ipv4` = 2 (bytes, 4), `ipv6` = 3 (bytes, 16), `port` = 4
//!   (int32);
//! - `Annotation`: `timestamp` = 1 (fixed64, epoch µs), `value` = 2.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, Ipv6Addr};

use prost::Message;

use super::model::{nonzero_span_id, Annotation, DecodeError, Endpoint, ZipkinSpan};

/// `zipkin.proto3.ListOfSpans`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ListOfSpans {
    /// The spans.
    #[prost(message, repeated, tag = "1")]
    pub spans: Vec<Span>,
}

/// `zipkin.proto3.Span`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Span {
    /// Trace id, 8 or 16 bytes.
    #[prost(bytes = "vec", tag = "1")]
    pub trace_id: Vec<u8>,
    /// Parent span id, 8 bytes or empty.
    #[prost(bytes = "vec", tag = "2")]
    pub parent_id: Vec<u8>,
    /// Span id, 8 bytes.
    #[prost(bytes = "vec", tag = "3")]
    pub id: Vec<u8>,
    /// Kind (enum number).
    #[prost(int32, tag = "4")]
    pub kind: i32,
    /// Name.
    #[prost(string, tag = "5")]
    pub name: String,
    /// Start, epoch microseconds.
    #[prost(fixed64, tag = "6")]
    pub timestamp: u64,
    /// Duration, microseconds.
    #[prost(uint64, tag = "7")]
    pub duration: u64,
    /// The recording host.
    #[prost(message, optional, tag = "8")]
    pub local_endpoint: Option<ProtoEndpoint>,
    /// The other side.
    #[prost(message, optional, tag = "9")]
    pub remote_endpoint: Option<ProtoEndpoint>,
    /// Events.
    #[prost(message, repeated, tag = "10")]
    pub annotations: Vec<ProtoAnnotation>,
    /// Tags.
    #[prost(btree_map = "string, string", tag = "11")]
    pub tags: BTreeMap<String, String>,
    /// Debug flag.
    #[prost(bool, tag = "12")]
    pub debug: bool,
    /// Shared (RPC server span sharing its client's id).
    #[prost(bool, tag = "13")]
    pub shared: bool,
}

/// `zipkin.proto3.Endpoint`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ProtoEndpoint {
    /// Service name.
    #[prost(string, tag = "1")]
    pub service_name: String,
    /// IPv4, 4 bytes.
    #[prost(bytes = "vec", tag = "2")]
    pub ipv4: Vec<u8>,
    /// IPv6, 16 bytes.
    #[prost(bytes = "vec", tag = "3")]
    pub ipv6: Vec<u8>,
    /// Port.
    #[prost(int32, tag = "4")]
    pub port: i32,
}

/// `zipkin.proto3.Annotation`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct ProtoAnnotation {
    /// Epoch microseconds.
    #[prost(fixed64, tag = "1")]
    pub timestamp: u64,
    /// Value.
    #[prost(string, tag = "2")]
    pub value: String,
}

/// Zipkin's names of the `Kind` enum numbers 1 to 4.
const KINDS: [&str; 4] = ["CLIENT", "SERVER", "PRODUCER", "CONSUMER"];

/// Decodes a v2 protobuf `ListOfSpans`.
pub fn decode(body: &[u8]) -> Result<Vec<ZipkinSpan>, DecodeError> {
    let list = ListOfSpans::decode(body)?;
    list.spans
        .into_iter()
        .enumerate()
        .map(|(index, span)| proto_span(index, span))
        .collect()
}

fn proto_span(index: usize, span: Span) -> Result<ZipkinSpan, DecodeError> {
    let bad = |field, bytes: &[u8], reason| DecodeError::Id {
        index,
        field,
        value: format!("{} bytes", bytes.len()),
        reason,
    };
    if span.trace_id.is_empty() || span.trace_id.len() > 16 {
        return Err(bad("traceId", &span.trace_id, "expected 8 or 16 bytes"));
    }
    let mut trace_id = [0; 16];
    trace_id[16 - span.trace_id.len()..].copy_from_slice(&span.trace_id);
    if trace_id == [0; 16] {
        return Err(bad("traceId", &span.trace_id, "all zeros"));
    }
    let id: [u8; 8] = span
        .id
        .as_slice()
        .try_into()
        .map_err(|_| bad("id", &span.id, "expected 8 bytes"))?;
    let parent_id = match span.parent_id.as_slice() {
        [] => None,
        bytes => Some(
            <[u8; 8]>::try_from(bytes)
                .map_err(|_| bad("parentId", &span.parent_id, "expected 8 bytes"))?,
        )
        .filter(|p| *p != [0; 8]),
    };
    let kind = usize::try_from(span.kind)
        .ok()
        .and_then(|k| k.checked_sub(1))
        .and_then(|k| KINDS.get(k))
        .map_or_else(String::new, |k| (*k).to_owned());
    Ok(ZipkinSpan {
        trace_id,
        id: nonzero_span_id(index, id)?,
        parent_id,
        name: span.name,
        kind,
        timestamp_us: span.timestamp,
        duration_us: span.duration,
        local_endpoint: endpoint(index, span.local_endpoint)?,
        remote_endpoint: endpoint(index, span.remote_endpoint)?,
        annotations: span
            .annotations
            .into_iter()
            .map(|a| Annotation {
                timestamp_us: a.timestamp,
                value: a.value,
            })
            .collect(),
        tags: span.tags,
    })
}

fn endpoint(index: usize, e: Option<ProtoEndpoint>) -> Result<Option<Endpoint>, DecodeError> {
    let Some(e) = e else { return Ok(None) };
    let address = |bytes: &[u8]| DecodeError::Address {
        index,
        value: format!("{} bytes", bytes.len()),
    };
    let ipv4 = match e.ipv4.as_slice() {
        [] => None,
        bytes => Some(Ipv4Addr::from(
            <[u8; 4]>::try_from(bytes).map_err(|_| address(bytes))?,
        )),
    };
    let ipv6 = match e.ipv6.as_slice() {
        [] => None,
        bytes => Some(Ipv6Addr::from(
            <[u8; 16]>::try_from(bytes).map_err(|_| address(bytes))?,
        )),
    };
    Ok(Endpoint {
        service_name: e.service_name,
        ipv4,
        ipv6,
        // Ports are 16 bits; zipkin.proto carries them in an int32.
        port: u16::try_from(e.port).unwrap_or(0),
    }
    .non_empty())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    pub(crate) fn span() -> Span {
        Span {
            trace_id: vec![0xab; 8],
            id: vec![1; 8],
            parent_id: vec![2; 8],
            kind: 2,
            name: "get".into(),
            timestamp: 1_700_000_000_000_000,
            duration: 1500,
            local_endpoint: Some(ProtoEndpoint {
                service_name: "api".into(),
                ipv4: vec![10, 0, 0, 1],
                ipv6: Vec::new(),
                port: 80,
            }),
            remote_endpoint: None,
            annotations: vec![ProtoAnnotation {
                timestamp: 1_700_000_000_000_100,
                value: "wr".into(),
            }],
            tags: BTreeMap::from([("k".to_owned(), "v".to_owned())]),
            debug: false,
            shared: true,
        }
    }

    #[test]
    fn reads_every_field() {
        let body = ListOfSpans {
            spans: vec![span()],
        }
        .encode_to_vec();
        let spans = decode(&body).unwrap();
        let s = &spans[0];
        assert_eq!(s.trace_id[..8], [0; 8]);
        assert_eq!(s.trace_id[8..], [0xab; 8]);
        assert_eq!(s.kind, "SERVER");
        assert_eq!(s.parent_id, Some([2; 8]));
        assert_eq!(s.timestamp_us, 1_700_000_000_000_000);
        let local = s.local_endpoint.as_ref().unwrap();
        assert_eq!(local.ipv4, Some(Ipv4Addr::new(10, 0, 0, 1)));
        assert_eq!(local.port, 80);
        assert_eq!(s.annotations[0].value, "wr");
        assert_eq!(s.tags["k"], "v");
    }

    #[test]
    fn refuses_bad_ids_and_bytes() {
        let mut bad = span();
        bad.id = vec![1; 7];
        let body = ListOfSpans { spans: vec![bad] }.encode_to_vec();
        let err = decode(&body).unwrap_err().to_string();
        assert!(err.contains("span 0: id \"7 bytes\""), "{err}");
        let mut bad = span();
        bad.local_endpoint.as_mut().unwrap().ipv4 = vec![1, 2, 3];
        let body = ListOfSpans { spans: vec![bad] }.encode_to_vec();
        assert!(decode(&body).is_err());
        assert!(decode(&[0xff, 0xff, 0xff]).is_err());
    }
}
