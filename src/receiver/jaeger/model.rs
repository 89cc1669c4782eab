//! The Jaeger span model both wire forms (api_v2 protobuf, Thrift) decode into.

/// Why a Jaeger payload could not be read.
#[derive(Debug, thiserror::Error)]
pub enum DecodeError {
    /// Not a protobuf `PostSpansRequest`.
    #[error("invalid Jaeger protobuf: {0}")]
    Protobuf(#[from] prost::DecodeError),
    /// Not a Thrift binary `Batch`.
    #[error("invalid Jaeger Thrift batch: {0}")]
    Thrift(String),
    /// An id of the wrong length.
    #[error("span {index}: {field} is {len} bytes; expected {want}")]
    Id {
        /// The span's position in its batch.
        index: usize,
        /// `trace_id` or `span_id`.
        field: &'static str,
        /// Bytes sent.
        len: usize,
        /// Bytes expected.
        want: usize,
    },
}

/// One batch: the spans of one process (a span may name its own).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Batch {
    /// The reporting process.
    pub process: Option<Process>,
    /// Its spans.
    pub spans: Vec<JaegerSpan>,
}

/// A process: the resource of its spans.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Process {
    /// `serviceName`.
    pub service_name: String,
    /// Process tags.
    pub tags: Vec<Tag>,
}

/// A typed tag (or log field).
#[derive(Debug, Clone, PartialEq)]
pub struct Tag {
    /// Key.
    pub key: String,
    /// Value.
    pub value: TagValue,
}

/// A tag's value by its declared type.
#[derive(Debug, Clone, PartialEq)]
pub enum TagValue {
    /// String.
    Str(String),
    /// Bool.
    Bool(bool),
    /// 64-bit integer.
    Int(i64),
    /// Double.
    Double(f64),
    /// Bytes.
    Binary(Vec<u8>),
    /// A type number neither wire form defines.
    Unknown(i32),
}

/// A reference to another span.
#[derive(Debug, Clone, PartialEq)]
pub struct Reference {
    /// Its trace.
    pub trace_id: [u8; 16],
    /// Its span.
    pub span_id: [u8; 8],
    /// FOLLOWS_FROM (else CHILD_OF).
    pub follows_from: bool,
}

/// A timestamped log (an event).
#[derive(Debug, Clone, PartialEq)]
pub struct Log {
    /// Epoch nanoseconds.
    pub time_unix_nano: u64,
    /// Fields.
    pub fields: Vec<Tag>,
}

/// Jaeger's parent rule: the first CHILD_OF reference in the span's trace, else the first
/// FOLLOWS_FROM one in it; zeros for none.
pub fn parent_from_references(trace_id: [u8; 16], references: &[Reference]) -> [u8; 8] {
    let same_trace = || references.iter().filter(|r| r.trace_id == trace_id);
    same_trace()
        .find(|r| !r.follows_from)
        .or_else(|| same_trace().next())
        .map_or([0; 8], |r| r.span_id)
}

/// One Jaeger span.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct JaegerSpan {
    /// Trace id (high half first).
    pub trace_id: [u8; 16],
    /// Span id.
    pub span_id: [u8; 8],
    /// Parent span id; zeros for none.
    pub parent_span_id: [u8; 8],
    /// Operation name.
    pub operation_name: String,
    /// References.
    pub references: Vec<Reference>,
    /// Start, epoch nanoseconds.
    pub start_unix_nano: u64,
    /// Duration, nanoseconds.
    pub duration_nano: u64,
    /// Tags.
    pub tags: Vec<Tag>,
    /// Logs.
    pub logs: Vec<Log>,
    /// The span's own process (protobuf only), which wins over its batch's.
    pub process: Option<Process>,
}
