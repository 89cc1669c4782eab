//! Jaeger's api_v2 protobuf (`jaeger.api_v2`, model.proto and collector.proto), declared
//! here with prost's derive since no protoc runs at build time, and read into the model.
//!
//! Field numbers, as the public jaeger-idl proto files give them:
//! - `PostSpansRequest`: `batch` = 1; `PostSpansResponse`: no fields;
//! - `Batch`: `spans` = 1, `process` = 2;
//! - `Span`: `trace_id` = 1 (16 bytes, high half first), `span_id` = 2 (8 bytes),
//!   `operation_name` = 3, `references` = 4, `flags` = 5, `start_time` = 6
//!   (google.protobuf.Timestamp), `duration` = 7 (google.protobuf.Duration), `tags` = 8,
//!   `logs` = 9, `process` = 10, `process_id` = 11, `warnings` = 12;
//! - `SpanRef`: `trace_id` = 1, `span_id` = 2, `ref_type` = 3 (0 CHILD_OF, 1 FOLLOWS_FROM);
//! - `Process`: `service_name` = 1, `tags` = 2;
//! - `Log`: `timestamp` = 1, `fields` = 2;
//! - `KeyValue`: `key` = 1, `v_type` = 2 (0 STRING, 1 BOOL, 2 INT64, 3 FLOAT64, 4 BINARY),
//!   `v_str` = 3, `v_bool` = 4, `v_int64` = 5, `v_float64` = 6, `v_binary` = 7;
//! - `Timestamp` and `Duration`: `seconds` = 1, `nanos` = 2.

use prost::Message;

use super::model::{self, DecodeError, JaegerSpan, Reference, Tag, TagValue};

/// The gRPC path of the one method served.
pub const POST_SPANS_PATH: &str = "/jaeger.api_v2.CollectorService/PostSpans";

/// `jaeger.api_v2.PostSpansRequest`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct PostSpansRequest {
    /// The batch.
    #[prost(message, optional, tag = "1")]
    pub batch: Option<Batch>,
}

/// `jaeger.api_v2.Batch`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Batch {
    /// Spans.
    #[prost(message, repeated, tag = "1")]
    pub spans: Vec<Span>,
    /// The reporting process.
    #[prost(message, optional, tag = "2")]
    pub process: Option<Process>,
}

/// `jaeger.api_v2.Span`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Span {
    /// Trace id.
    #[prost(bytes = "vec", tag = "1")]
    pub trace_id: Vec<u8>,
    /// Span id.
    #[prost(bytes = "vec", tag = "2")]
    pub span_id: Vec<u8>,
    /// Operation name.
    #[prost(string, tag = "3")]
    pub operation_name: String,
    /// References.
    #[prost(message, repeated, tag = "4")]
    pub references: Vec<SpanRef>,
    /// Flags.
    #[prost(uint32, tag = "5")]
    pub flags: u32,
    /// Start.
    #[prost(message, optional, tag = "6")]
    pub start_time: Option<Time>,
    /// Duration.
    #[prost(message, optional, tag = "7")]
    pub duration: Option<Time>,
    /// Tags.
    #[prost(message, repeated, tag = "8")]
    pub tags: Vec<KeyValue>,
    /// Logs.
    #[prost(message, repeated, tag = "9")]
    pub logs: Vec<Log>,
    /// The span's own process.
    #[prost(message, optional, tag = "10")]
    pub process: Option<Process>,
    /// Process id (not used).
    #[prost(string, tag = "11")]
    pub process_id: String,
    /// Warnings (not used).
    #[prost(string, repeated, tag = "12")]
    pub warnings: Vec<String>,
}

/// `jaeger.api_v2.SpanRef`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct SpanRef {
    /// Trace id.
    #[prost(bytes = "vec", tag = "1")]
    pub trace_id: Vec<u8>,
    /// Span id.
    #[prost(bytes = "vec", tag = "2")]
    pub span_id: Vec<u8>,
    /// 0 CHILD_OF, 1 FOLLOWS_FROM.
    #[prost(int32, tag = "3")]
    pub ref_type: i32,
}

/// `jaeger.api_v2.Process`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Process {
    /// Service name.
    #[prost(string, tag = "1")]
    pub service_name: String,
    /// Tags.
    #[prost(message, repeated, tag = "2")]
    pub tags: Vec<KeyValue>,
}

/// `jaeger.api_v2.Log`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Log {
    /// When.
    #[prost(message, optional, tag = "1")]
    pub timestamp: Option<Time>,
    /// Fields.
    #[prost(message, repeated, tag = "2")]
    pub fields: Vec<KeyValue>,
}

/// `jaeger.api_v2.KeyValue`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct KeyValue {
    /// Key.
    #[prost(string, tag = "1")]
    pub key: String,
    /// Type.
    #[prost(int32, tag = "2")]
    pub v_type: i32,
    /// String value.
    #[prost(string, tag = "3")]
    pub v_str: String,
    /// Bool value.
    #[prost(bool, tag = "4")]
    pub v_bool: bool,
    /// Int value.
    #[prost(int64, tag = "5")]
    pub v_int64: i64,
    /// Double value.
    #[prost(double, tag = "6")]
    pub v_float64: f64,
    /// Bytes value.
    #[prost(bytes = "vec", tag = "7")]
    pub v_binary: Vec<u8>,
}

/// `google.protobuf.Timestamp` and `google.protobuf.Duration` (the same two fields).
#[derive(Clone, PartialEq, prost::Message)]
pub struct Time {
    /// Seconds.
    #[prost(int64, tag = "1")]
    pub seconds: i64,
    /// Nanoseconds.
    #[prost(int32, tag = "2")]
    pub nanos: i32,
}

impl Time {
    /// Nanoseconds; a negative time is 0.
    fn nanos(&self) -> u64 {
        let total = i128::from(self.seconds) * 1_000_000_000 + i128::from(self.nanos);
        u64::try_from(total.max(0)).unwrap_or(u64::MAX)
    }
}

/// Decodes a `PostSpansRequest` into its batch.
pub fn decode(message: &[u8]) -> Result<model::Batch, DecodeError> {
    let request = PostSpansRequest::decode(message)?;
    let batch = request.batch.unwrap_or_default();
    let spans = batch
        .spans
        .into_iter()
        .enumerate()
        .map(|(index, span)| span_model(index, span))
        .collect::<Result<_, _>>()?;
    Ok(model::Batch {
        process: batch.process.map(process),
        spans,
    })
}

fn span_model(index: usize, span: Span) -> Result<JaegerSpan, DecodeError> {
    let trace_id = id::<16>(index, "trace_id", &span.trace_id)?;
    let references = span
        .references
        .into_iter()
        .map(|r| {
            Ok(Reference {
                trace_id: id::<16>(index, "trace_id", &r.trace_id)?,
                span_id: id::<8>(index, "span_id", &r.span_id)?,
                follows_from: r.ref_type == 1,
            })
        })
        .collect::<Result<Vec<_>, DecodeError>>()?;
    let parent_span_id = model::parent_from_references(trace_id, &references);
    Ok(JaegerSpan {
        trace_id,
        span_id: id::<8>(index, "span_id", &span.span_id)?,
        parent_span_id,
        operation_name: span.operation_name,
        references,
        start_unix_nano: span.start_time.as_ref().map_or(0, Time::nanos),
        duration_nano: span.duration.as_ref().map_or(0, Time::nanos),
        tags: tags(span.tags),
        logs: span
            .logs
            .into_iter()
            .map(|l| model::Log {
                time_unix_nano: l.timestamp.as_ref().map_or(0, Time::nanos),
                fields: tags(l.fields),
            })
            .collect(),
        process: span.process.map(process),
    })
}

fn process(p: Process) -> model::Process {
    model::Process {
        service_name: p.service_name,
        tags: tags(p.tags),
    }
}

fn tags(kvs: Vec<KeyValue>) -> Vec<Tag> {
    kvs.into_iter()
        .map(|kv| Tag {
            value: match kv.v_type {
                0 => TagValue::Str(kv.v_str),
                1 => TagValue::Bool(kv.v_bool),
                2 => TagValue::Int(kv.v_int64),
                3 => TagValue::Double(kv.v_float64),
                4 => TagValue::Binary(kv.v_binary),
                other => TagValue::Unknown(other),
            },
            key: kv.key,
        })
        .collect()
}

/// An id of `N` bytes; absent is zeros.
fn id<const N: usize>(
    index: usize,
    field: &'static str,
    bytes: &[u8],
) -> Result<[u8; N], DecodeError> {
    if bytes.is_empty() {
        return Ok([0; N]);
    }
    bytes.try_into().map_err(|_| DecodeError::Id {
        index,
        field,
        len: bytes.len(),
        want: N,
    })
}
