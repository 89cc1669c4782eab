//! OTLP/JSON ⇄ OTLP/protobuf for export requests (the OTLP spec's "JSON Protobuf Encoding").
//!
//! The pipeline keeps requests as protobuf bytes, so JSON is transcoded at the edge:
//! `json_to_protobuf` for the HTTP receiver, `protobuf_to_json` for an exporter speaking JSON.
//!
//! Steps of `json_to_protobuf`:
//! 1. parse the bytes into a `serde_json::Value` (serde_json caps nesting at 128 levels, so
//!    hostile nesting is an error, never a stack overflow);
//! 2. normalise it towards the spec's canonical form: keys written as proto field names
//!    (`trace_id`) become lowerCamelCase (`traceId`), as protobuf's JSON mapping accepts both;
//!    enum values written as names (`SPAN_KIND_SERVER`) become their integers; `null` fields
//!    are dropped and an `arrayValue`/`kvlistValue` without `values` gets an empty one (an
//!    encoder omitting defaults writes both, and both mean the default);
//! 3. deserialize into opentelemetry-proto's prost structs with their `with-serde` derives
//!    (hex trace/span ids in either case, 64-bit integers as strings or numbers, base64
//!    `bytesValue`, unknown fields ignored), recording the JSON path of any error;
//! 4. encode with prost.
//!
//! `protobuf_to_json` decodes with prost and serializes with the same derives: lowerCamelCase
//! keys, lowercase hex ids, 64-bit integers as strings, enums as integers.
//!
//! Why opentelemetry-proto's derives and not hand-written serde: they are maintained with the
//! generated structs and the spec's JSON examples; the gaps found against the spec are closed
//! here: proto field names as keys and enum names (step 2), and `NaN`/`Infinity`/`-Infinity`
//! strings in metric doubles, read and written (`special`). Known remaining gaps: those
//! strings in `AnyValue.doubleValue` are refused on input and written as `null` on output;
//! `AnyValue.stringValueStrindex` (used only by the profiles signal) is dropped on input.

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::logs::v1::SeverityNumber;
use opentelemetry_proto::tonic::metrics::v1::AggregationTemporality;
use opentelemetry_proto::tonic::trace::v1::{span::SpanKind, status::StatusCode};
use prost::Message;
use serde_json::Value;

use crate::signal::Signal;

/// Why a body could not be transcoded; the message says what is wrong and where.
#[derive(Debug, thiserror::Error)]
pub enum JsonError {
    /// The bytes are not JSON (position given as line and column).
    #[error("invalid JSON at line {line} column {column}: {message}")]
    Syntax {
        /// 1-based line of the fault.
        line: usize,
        /// 1-based column of the fault.
        column: usize,
        /// What serde_json found wrong.
        message: String,
    },
    /// JSON, but not an OTLP export request of the expected signal.
    #[error("invalid OTLP/JSON {signal} request at `{path}`: {message}")]
    Schema {
        /// The signal the request was decoded as.
        signal: Signal,
        /// The JSON path of the offending value (e.g. `resourceSpans[0].scopeSpans[1]`).
        path: String,
        /// What is wrong with it.
        message: String,
    },
    /// The protobuf input does not decode as an export request of the signal.
    #[error("invalid OTLP/protobuf {signal} request: {source}")]
    Protobuf {
        /// The signal the request was decoded as.
        signal: Signal,
        /// prost's description of the fault.
        source: prost::DecodeError,
    },
    /// Serializing to JSON failed (not expected for decoded requests).
    #[error("cannot write OTLP/JSON {signal} request: {message}")]
    Encode {
        /// The signal being written.
        signal: Signal,
        /// serde_json's description of the fault.
        message: String,
    },
}

/// Transcodes an OTLP/JSON export request of `signal` into its protobuf encoding.
pub fn json_to_protobuf(signal: Signal, json: &[u8]) -> Result<Vec<u8>, JsonError> {
    let mut value: Value = serde_json::from_slice(json).map_err(|e| JsonError::Syntax {
        line: e.line(),
        column: e.column(),
        message: e.to_string(),
    })?;
    normalise(&mut value, signal == Signal::Metrics);
    Ok(match signal {
        Signal::Traces => decode_value::<ExportTraceServiceRequest>(signal, value)?.encode_to_vec(),
        Signal::Metrics => {
            let mut request = decode_value::<ExportMetricsServiceRequest>(signal, value)?;
            special::restore(&mut request);
            request.encode_to_vec()
        }
        Signal::Logs => decode_value::<ExportLogsServiceRequest>(signal, value)?.encode_to_vec(),
    })
}

/// Transcodes an OTLP/protobuf export request of `signal` into OTLP/JSON.
pub fn protobuf_to_json(signal: Signal, protobuf: &[u8]) -> Result<Vec<u8>, JsonError> {
    let encode_error = |e: serde_json::Error| JsonError::Encode {
        signal,
        message: e.to_string(),
    };
    match signal {
        Signal::Traces => encode_json(
            &decode_protobuf::<ExportTraceServiceRequest>(signal, protobuf)?,
            signal,
        ),
        Signal::Metrics => {
            let mut request = decode_protobuf::<ExportMetricsServiceRequest>(signal, protobuf)?;
            if !special::mark(&mut request) {
                return encode_json(&request, signal);
            }
            // Rare path: NaN/Infinity present; go through a tree to write them as strings.
            let mut tree = serde_json::to_value(&request).map_err(encode_error)?;
            special::sentinels_to_strings(&mut tree);
            serde_json::to_vec(&tree).map_err(encode_error)
        }
        Signal::Logs => encode_json(
            &decode_protobuf::<ExportLogsServiceRequest>(signal, protobuf)?,
            signal,
        ),
    }
}

fn decode_value<T>(signal: Signal, value: Value) -> Result<T, JsonError>
where
    T: serde::de::DeserializeOwned,
{
    serde_path_to_error::deserialize(value).map_err(|e| JsonError::Schema {
        signal,
        path: e.path().to_string(),
        message: e.inner().to_string(),
    })
}

fn decode_protobuf<T: Message + Default>(signal: Signal, protobuf: &[u8]) -> Result<T, JsonError> {
    T::decode(protobuf).map_err(|source| JsonError::Protobuf { signal, source })
}

fn encode_json<T: serde::Serialize>(request: &T, signal: Signal) -> Result<Vec<u8>, JsonError> {
    serde_json::to_vec(request).map_err(|e| JsonError::Encode {
        signal,
        message: e.to_string(),
    })
}

/// Rewrites `value` in place towards canonical OTLP/JSON (see the module docs, step 2).
/// Iterative, so depth costs heap, not stack (serde_json already capped it at 128).
fn normalise(value: &mut Value, metrics: bool) {
    let mut stack: Vec<&mut Value> = vec![value];
    while let Some(v) = stack.pop() {
        match v {
            Value::Array(items) => stack.extend(items.iter_mut()),
            Value::Object(map) => {
                // proto3's JSON mapping: `null` is the field's default, as if it were absent.
                map.retain(|_, v| !v.is_null());
                if map.keys().any(|k| k.contains('_')) {
                    let old = std::mem::take(map);
                    for (k, v) in old {
                        let key = if k.contains('_') { camel_case(&k) } else { k };
                        // A key given both ways: the camelCase spelling wins, as it came first
                        // or is canonical; protobuf JSON parsers reject duplicates anyway.
                        map.entry(key).or_insert(v);
                    }
                }
                for key in ["arrayValue", "kvlistValue"] {
                    // An encoder that omits defaults writes an empty list as `{}`; the
                    // derives want `values` present.
                    if let Some(Value::Object(list)) = map.get_mut(key) {
                        if list.get("values").is_none_or(Value::is_null) {
                            list.insert("values".into(), Value::Array(Vec::new()));
                        }
                    }
                }
                for (k, v) in map.iter_mut() {
                    if metrics {
                        special::encode_entry(k, v);
                    }
                    if let Value::String(name) = v {
                        if let Some(n) = enum_number(k, name) {
                            *v = Value::from(n);
                            continue;
                        }
                    }
                    stack.push(v);
                }
            }
            _ => {}
        }
    }
}

/// `trace_id` → `traceId` (protobuf's JSON name rule: drop `_`, upper-case the next letter).
fn camel_case(key: &str) -> String {
    let mut out = String::with_capacity(key.len());
    let mut upper = false;
    for c in key.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

/// The integer of an enum value given by name, for the OTLP request fields that are enums.
/// Keys are unique to their enum across the OTLP request messages.
fn enum_number(key: &str, name: &str) -> Option<i32> {
    let n = match key {
        "kind" => SpanKind::from_str_name(name)? as i32,
        "code" => StatusCode::from_str_name(name)? as i32,
        "aggregationTemporality" => AggregationTemporality::from_str_name(name)? as i32,
        "severityNumber" => SeverityNumber::from_str_name(name)? as i32,
        _ => return None,
    };
    Some(n)
}

#[cfg(test)]
mod omitted_tests;
mod special;
#[cfg(test)]
mod tests;
