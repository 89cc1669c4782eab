//! The Zipkin v2 span model both v2 encodings decode into, and the v2 JSON decoding.
//!
//! JSON follows zipkin-api's `ListOfSpans` as Zipkin's own Go library reads it: `traceId` is
//! 1 to 32 hex digits (a 64-bit id, or a shorter one, is the low half; the high half is
//! zeros) and not all zeros; `id` is 1 to 16 hex digits and not zero; `parentId` may be absent
//! or empty; `timestamp` and `duration` are epoch microseconds; `tags` are strings; unknown
//! fields are ignored.

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, Ipv6Addr};

use serde::Deserialize;

/// Why a Zipkin payload could not be read.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// Not JSON of the expected shape.
    #[error("invalid Zipkin JSON: {0}")]
    Json(#[from] serde_json::Error),
    /// Not a protobuf `ListOfSpans`.
    #[error("invalid Zipkin protobuf: {0}")]
    Protobuf(#[from] prost::DecodeError),
    /// An id that is not valid hex of the right length.
    #[error("span {index}: {field} {value:?} is not a valid id ({reason})")]
    Id {
        /// The span's position in the list.
        index: usize,
        /// `traceId`, `id` or `parentId`.
        field: &'static str,
        /// What was sent (hex, or the byte length for protobuf).
        value: String,
        /// Why it is refused.
        reason: &'static str,
    },
    /// An endpoint address that is not an IP address.
    #[error("span {index}: endpoint address {value:?} is not an IP address")]
    Address {
        /// The span's position in the list.
        index: usize,
        /// What was sent.
        value: String,
    },
    /// A `name|{json}|dropped` annotation or `otlp.link.N` tag that does not read.
    #[error("span {index}: {what}")]
    Encoded {
        /// The span's position in the list.
        index: usize,
        /// What did not read.
        what: String,
    },
}

/// One Zipkin v2 span.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ZipkinSpan {
    /// 128-bit trace id (a 64-bit one in the low half).
    pub trace_id: [u8; 16],
    /// Span id.
    pub id: [u8; 8],
    /// Parent span id; `None` for a root.
    pub parent_id: Option<[u8; 8]>,
    /// Span name.
    pub name: String,
    /// `CLIENT`, `SERVER`, `PRODUCER`, `CONSUMER`, or anything else (unspecified).
    pub kind: String,
    /// Start, epoch microseconds; 0 when absent.
    pub timestamp_us: u64,
    /// Duration in microseconds.
    pub duration_us: u64,
    /// The host that recorded the span.
    pub local_endpoint: Option<Endpoint>,
    /// The other side of an RPC or messaging span.
    pub remote_endpoint: Option<Endpoint>,
    /// Timestamped events.
    pub annotations: Vec<Annotation>,
    /// String tags.
    pub tags: BTreeMap<String, String>,
}

/// A network endpoint of a span.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Endpoint {
    /// Service name (may be empty).
    pub service_name: String,
    /// IPv4 address.
    pub ipv4: Option<Ipv4Addr>,
    /// IPv6 address.
    pub ipv6: Option<Ipv6Addr>,
    /// Port; 0 when absent.
    pub port: u16,
}

impl Endpoint {
    /// Zipkin drops an endpoint with nothing in it.
    pub fn non_empty(self) -> Option<Endpoint> {
        (self != Endpoint::default()).then_some(self)
    }
}

/// A timestamped event.
#[derive(Debug, Clone, PartialEq)]
pub struct Annotation {
    /// Epoch microseconds.
    pub timestamp_us: u64,
    /// What happened.
    pub value: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct JsonSpan {
    #[serde(default)]
    trace_id: String,
    #[serde(default)]
    id: String,
    parent_id: Option<String>,
    name: Option<String>,
    kind: Option<String>,
    timestamp: Option<u64>,
    duration: Option<u64>,
    local_endpoint: Option<JsonEndpoint>,
    remote_endpoint: Option<JsonEndpoint>,
    #[serde(default)]
    annotations: Option<Vec<JsonAnnotation>>,
    #[serde(default)]
    tags: Option<BTreeMap<String, String>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct JsonEndpoint {
    service_name: Option<String>,
    ipv4: Option<String>,
    ipv6: Option<String>,
    port: Option<u16>,
}

#[derive(Deserialize)]
struct JsonAnnotation {
    #[serde(default)]
    timestamp: u64,
    #[serde(default)]
    value: String,
}

/// Decodes a v2 JSON `ListOfSpans`.
pub fn decode_json(body: &[u8]) -> Result<Vec<ZipkinSpan>, DecodeError> {
    let spans: Vec<Option<JsonSpan>> = serde_json::from_slice(body)?;
    spans
        .into_iter()
        .enumerate()
        .filter_map(|(i, s)| s.map(|s| (i, s)))
        .map(|(index, span)| json_span(index, span))
        .collect()
}

fn json_span(index: usize, span: JsonSpan) -> Result<ZipkinSpan, DecodeError> {
    let parent_id = match span.parent_id.as_deref() {
        None | Some("") => None,
        Some(hex) => Some(span_id_hex(index, "parentId", hex)?).filter(|id| *id != [0; 8]),
    };
    let endpoint = |e: Option<JsonEndpoint>| -> Result<Option<Endpoint>, DecodeError> {
        let Some(e) = e else { return Ok(None) };
        let ip = |text: Option<String>| -> Result<Option<std::net::IpAddr>, DecodeError> {
            match text.as_deref() {
                None | Some("") => Ok(None),
                Some(t) => t.parse().map(Some).map_err(|_| DecodeError::Address {
                    index,
                    value: t.to_owned(),
                }),
            }
        };
        let ipv4 = ip(e.ipv4)?.map(|a| match a {
            std::net::IpAddr::V4(v4) => v4,
            std::net::IpAddr::V6(v6) => v6.to_ipv4_mapped().unwrap_or(Ipv4Addr::UNSPECIFIED),
        });
        let ipv6 = ip(e.ipv6)?.map(|a| match a {
            std::net::IpAddr::V4(v4) => v4.to_ipv6_mapped(),
            std::net::IpAddr::V6(v6) => v6,
        });
        Ok(Endpoint {
            service_name: e.service_name.unwrap_or_default(),
            ipv4,
            ipv6,
            port: e.port.unwrap_or(0),
        }
        .non_empty())
    };
    Ok(ZipkinSpan {
        trace_id: trace_id_hex(index, &span.trace_id)?,
        id: nonzero_span_id(index, span_id_hex(index, "id", &span.id)?)?,
        parent_id,
        name: span.name.unwrap_or_default(),
        kind: span.kind.unwrap_or_default(),
        timestamp_us: span.timestamp.unwrap_or(0),
        duration_us: span.duration.unwrap_or(0),
        local_endpoint: endpoint(span.local_endpoint)?,
        remote_endpoint: endpoint(span.remote_endpoint)?,
        annotations: span
            .annotations
            .unwrap_or_default()
            .into_iter()
            .map(|a| Annotation {
                timestamp_us: a.timestamp,
                value: a.value,
            })
            .collect(),
        tags: span.tags.unwrap_or_default(),
    })
}

/// A trace id from 1 to 32 hex digits, right-aligned in 16 bytes; all zeros is refused.
pub fn trace_id_hex(index: usize, hex: &str) -> Result<[u8; 16], DecodeError> {
    let bad = |reason| DecodeError::Id {
        index,
        field: "traceId",
        value: hex.to_owned(),
        reason,
    };
    if hex.is_empty() || hex.len() > 32 {
        return Err(bad("expected 16 or 32 hex digits"));
    }
    let split = hex.len().saturating_sub(16);
    let high = if split == 0 {
        0
    } else {
        u64::from_str_radix(&hex[..split], 16).map_err(|_| bad("not hex"))?
    };
    let low = u64::from_str_radix(&hex[split..], 16).map_err(|_| bad("not hex"))?;
    if high == 0 && low == 0 {
        return Err(bad("all zeros"));
    }
    let mut id = [0; 16];
    id[..8].copy_from_slice(&high.to_be_bytes());
    id[8..].copy_from_slice(&low.to_be_bytes());
    Ok(id)
}

/// A span id from 1 to 16 hex digits.
pub fn span_id_hex(index: usize, field: &'static str, hex: &str) -> Result<[u8; 8], DecodeError> {
    let bad = |reason| DecodeError::Id {
        index,
        field,
        value: hex.to_owned(),
        reason,
    };
    if hex.is_empty() || hex.len() > 16 {
        return Err(bad("expected 16 hex digits"));
    }
    let id = u64::from_str_radix(hex, 16).map_err(|_| bad("not hex"))?;
    Ok(id.to_be_bytes())
}

/// Zipkin requires a span id other than zero.
pub fn nonzero_span_id(index: usize, id: [u8; 8]) -> Result<[u8; 8], DecodeError> {
    if id == [0; 8] {
        return Err(DecodeError::Id {
            index,
            field: "id",
            value: "0000000000000000".into(),
            reason: "zero",
        });
    }
    Ok(id)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_right_aligned_hex() {
        let id = trace_id_hex(0, "463ac35c9f6413ad").unwrap();
        assert_eq!(id[..8], [0; 8]);
        assert_eq!(id[8..], 0x463a_c35c_9f64_13ad_u64.to_be_bytes());
        let id = trace_id_hex(0, "5af7183fb1d4cf5f463ac35c9f6413ad").unwrap();
        assert_eq!(id[..8], 0x5af7_183f_b1d4_cf5f_u64.to_be_bytes());
        assert!(trace_id_hex(0, "0000000000000000").is_err());
        assert!(trace_id_hex(0, "xyz").is_err());
        assert!(trace_id_hex(0, &"1".repeat(33)).is_err());
        assert_eq!(span_id_hex(0, "id", "a").unwrap(), 10u64.to_be_bytes());
        assert!(span_id_hex(0, "id", &"1".repeat(17)).is_err());
    }

    #[test]
    fn json_fields_and_refusals() {
        let body = br#"[{"traceId":"86154a4ba6e91385","parentId":"86154a4ba6e91385","id":"4d1e00c0db9010db",
            "kind":"CLIENT","name":"get /api","timestamp":1472470996199000,"duration":207000,
            "localEndpoint":{"serviceName":"frontend","ipv4":"127.0.0.1"},
            "remoteEndpoint":{"serviceName":"backend","ipv6":"::1","port":8080},
            "annotations":[{"timestamp":1472470996238000,"value":"ws"}],
            "tags":{"http.path":"/api","clnt/finagle.version":"6.45.0"},"shared":true,"debug":false}]"#;
        let spans = decode_json(body).unwrap();
        let s = &spans[0];
        assert_eq!(s.kind, "CLIENT");
        assert_eq!(s.parent_id, Some(0x8615_4a4b_a6e9_1385_u64.to_be_bytes()));
        let local = s.local_endpoint.as_ref().unwrap();
        assert_eq!(local.service_name, "frontend");
        assert_eq!(local.ipv4, Some(Ipv4Addr::LOCALHOST));
        assert_eq!(s.remote_endpoint.as_ref().unwrap().port, 8080);
        assert_eq!(s.annotations[0].value, "ws");
        assert_eq!(s.tags["http.path"], "/api");
        let err = decode_json(br#"[{"traceId":"1","id":"0"}]"#).unwrap_err();
        assert!(err.to_string().contains("span 0: id"), "{err}");
        let err = decode_json(br#"[{"traceId":"1","id":"1","tags":{"n":1}}]"#).unwrap_err();
        assert!(matches!(err, DecodeError::Json(_)), "{err}");
        let err =
            decode_json(br#"[{"traceId":"1","id":"1","localEndpoint":{"ipv4":"x"}}]"#).unwrap_err();
        assert!(
            err.to_string().contains("\"x\" is not an IP address"),
            "{err}"
        );
        assert!(decode_json(b"{}").is_err());
    }
}
