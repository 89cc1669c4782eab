//! gRPC over HTTP/2: message framing, status codes and trailers.
//!
//! Wire facts this module keeps (gRPC's PROTOCOL-HTTP2.md):
//! 1. A message on the wire is a 5-byte prefix — 1 byte compressed flag, 4 bytes big-endian
//!    length — followed by that many bytes. A unary call carries exactly one.
//! 2. The outcome travels in trailers: `grpc-status` (decimal code) and `grpc-message`
//!    (percent-encoded UTF-8). A call that fails before any message may answer with
//!    "Trailers-Only": one HEADERS frame holding `:status 200`, the content type and the status.
//! 3. `grpc-encoding` names the compression of a message whose flag is set.

use bytes::{Buf, Bytes, BytesMut};
use h2::RecvStream;
use http::{HeaderMap, HeaderValue, Response, StatusCode};

/// Length of the message prefix (flag + u32 length).
pub const PREFIX_LEN: usize = 5;
/// The content type of a gRPC request or response.
pub const CONTENT_TYPE: &str = "application/grpc";

/// gRPC status codes (the subset of meanings is fixed by the gRPC spec; numbers are wire values).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Code {
    /// Success.
    Ok = 0,
    /// The caller cancelled.
    Cancelled = 1,
    /// Unknown error.
    Unknown = 2,
    /// The request is malformed; retrying it cannot help.
    InvalidArgument = 3,
    /// The deadline passed.
    DeadlineExceeded = 4,
    /// Not found.
    NotFound = 5,
    /// Already exists.
    AlreadyExists = 6,
    /// Not allowed.
    PermissionDenied = 7,
    /// A limit was hit (message size, or load when RetryInfo says so).
    ResourceExhausted = 8,
    /// The system is not in a state for this call.
    FailedPrecondition = 9,
    /// Aborted; retry at a higher level.
    Aborted = 10,
    /// Out of range.
    OutOfRange = 11,
    /// The method is not served here.
    Unimplemented = 12,
    /// An invariant broke on the server.
    Internal = 13,
    /// Temporarily unable to serve; retry with backoff.
    Unavailable = 14,
    /// Data was lost.
    DataLoss = 15,
    /// Missing or bad credentials.
    Unauthenticated = 16,
}

impl Code {
    /// Reads a code from its decimal form; unknown numbers become `Unknown` (as gRPC says).
    pub fn from_decimal(text: &[u8]) -> Code {
        let value = std::str::from_utf8(text)
            .ok()
            .and_then(|s| s.trim().parse::<u8>().ok());
        match value {
            Some(0) => Code::Ok,
            Some(1) => Code::Cancelled,
            Some(3) => Code::InvalidArgument,
            Some(4) => Code::DeadlineExceeded,
            Some(5) => Code::NotFound,
            Some(6) => Code::AlreadyExists,
            Some(7) => Code::PermissionDenied,
            Some(8) => Code::ResourceExhausted,
            Some(9) => Code::FailedPrecondition,
            Some(10) => Code::Aborted,
            Some(11) => Code::OutOfRange,
            Some(12) => Code::Unimplemented,
            Some(13) => Code::Internal,
            Some(14) => Code::Unavailable,
            Some(15) => Code::DataLoss,
            Some(16) => Code::Unauthenticated,
            _ => Code::Unknown,
        }
    }

    /// The decimal wire value.
    pub fn as_u8(self) -> u8 {
        self as u8
    }
}

/// A gRPC call outcome: code, message and the raw `grpc-status-details-bin` if any.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Status {
    /// The status code.
    pub code: Code,
    /// Human-readable message (already percent-decoded).
    pub message: String,
    /// Base64 text of an encoded `google.rpc.Status`, when the peer sent one.
    pub details_base64: Option<Bytes>,
}

impl Status {
    /// A status with a code and message.
    pub fn new(code: Code, message: impl Into<String>) -> Status {
        Status {
            code,
            message: message.into(),
            details_base64: None,
        }
    }

    /// Reads `grpc-status`/`grpc-message` from trailers (or Trailers-Only headers).
    pub fn from_headers(headers: &HeaderMap) -> Option<Status> {
        let code = Code::from_decimal(headers.get("grpc-status")?.as_bytes());
        let message = headers
            .get("grpc-message")
            .map(|v| percent_decode(v.as_bytes()))
            .unwrap_or_default();
        let details_base64 = headers
            .get("grpc-status-details-bin")
            .map(|v| Bytes::copy_from_slice(v.as_bytes()));
        Some(Status {
            code,
            message,
            details_base64,
        })
    }

    /// Writes this status as trailer fields.
    pub fn to_headers(&self, headers: &mut HeaderMap) {
        headers.insert(
            "grpc-status",
            HeaderValue::from(u16::from(self.code.as_u8())),
        );
        if !self.message.is_empty() {
            if let Ok(value) = HeaderValue::from_str(&percent_encode(&self.message)) {
                headers.insert("grpc-message", value);
            }
        }
    }
}

/// The `grpc-encoding` of a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Encoding {
    /// No compression.
    Identity,
    /// gzip (RFC 1952).
    Gzip,
    /// zstd.
    Zstd,
    /// raw deflate in zlib framing.
    Deflate,
    /// Something we do not speak; answered with UNIMPLEMENTED.
    Other(String),
}

impl Encoding {
    /// Reads `grpc-encoding`; absent means identity.
    pub fn from_headers(headers: &HeaderMap) -> Encoding {
        let Some(value) = headers.get("grpc-encoding") else {
            return Encoding::Identity;
        };
        match value.to_str().map(str::trim) {
            Ok("identity") | Ok("") => Encoding::Identity,
            Ok("gzip") => Encoding::Gzip,
            Ok("zstd") => Encoding::Zstd,
            Ok("deflate") => Encoding::Deflate,
            Ok(other) => Encoding::Other(other.to_owned()),
            Err(_) => Encoding::Other(String::from_utf8_lossy(value.as_bytes()).into_owned()),
        }
    }

    /// The header value for this encoding.
    pub fn as_str(&self) -> &str {
        match self {
            Encoding::Identity => "identity",
            Encoding::Gzip => "gzip",
            Encoding::Zstd => "zstd",
            Encoding::Deflate => "deflate",
            Encoding::Other(name) => name,
        }
    }
}

/// One received gRPC message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    /// Whether the compressed flag was set (the payload is in the call's `grpc-encoding`).
    pub compressed: bool,
    /// The payload without the prefix.
    pub payload: Bytes,
}

/// Why a unary request body could not be read as one gRPC message.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    /// The prefix declares a message larger than allowed.
    #[error("message of {declared} bytes exceeds the limit of {limit} bytes")]
    TooLarge {
        /// Length in the prefix.
        declared: usize,
        /// The configured maximum.
        limit: usize,
    },
    /// The stream ended before the prefix or payload was complete.
    #[error("stream ended after {got} of {want} message bytes")]
    Truncated {
        /// Bytes received.
        got: usize,
        /// Bytes the prefix promised (or 5 for the prefix itself).
        want: usize,
    },
    /// The compressed flag holds something other than 0 or 1.
    #[error("invalid compressed flag {0} in message prefix")]
    BadFlag(u8),
    /// A unary call carried more than one message.
    #[error("more than one message in a unary call")]
    TrailingData,
    /// The request carried no message at all.
    #[error("request has no message")]
    Empty,
    /// The HTTP/2 stream failed.
    #[error("http/2 stream: {0}")]
    H2(#[from] h2::Error),
}

/// Writes the 5-byte prefix for a payload of `len` bytes.
pub fn encode_prefix(compressed: bool, len: u32) -> [u8; PREFIX_LEN] {
    let l = len.to_be_bytes();
    [u8::from(compressed), l[0], l[1], l[2], l[3]]
}

/// Frames `payload` as one message, copying it once behind the prefix.
pub fn frame(compressed: bool, payload: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(PREFIX_LEN + payload.len());
    let len = u32::try_from(payload.len()).unwrap_or(u32::MAX);
    out.extend_from_slice(&encode_prefix(compressed, len));
    out.extend_from_slice(payload);
    out.freeze()
}

/// Reads the single message of a unary call, refusing it as soon as its prefix says it is
/// larger than `limit`, before any of it is buffered.
///
/// When one DATA frame holds the whole message (the common case) the payload is a zero-copy
/// slice of that frame. Flow-control capacity is released as bytes arrive.
pub async fn read_unary(body: &mut RecvStream, limit: usize) -> Result<Message, FrameError> {
    let mut reader = UnaryReader::new(limit);
    while let Some(chunk) = body.data().await {
        let chunk = chunk?;
        let _ = body.flow_control().release_capacity(chunk.len());
        reader.push(chunk)?;
    }
    reader.finish()
}

/// The framing of one unary message, fed the body's chunks as they arrive (whatever their
/// boundaries); [`read_unary`] drives it from an HTTP/2 stream, a fuzz target from bytes.
#[derive(Debug)]
pub struct UnaryReader {
    limit: usize,
    buf: BytesMut,
    /// The first chunk, kept un-copied until a second one arrives.
    single: Option<Bytes>,
    expected: Option<(bool, usize)>,
    done: Option<Message>,
}

impl UnaryReader {
    /// A reader refusing messages over `limit` bytes.
    pub fn new(limit: usize) -> UnaryReader {
        UnaryReader {
            limit,
            buf: BytesMut::new(),
            single: None,
            expected: None,
            done: None,
        }
    }

    /// Takes the next chunk of the body.
    pub fn push(&mut self, chunk: Bytes) -> Result<(), FrameError> {
        if self.done.is_some() {
            if chunk.is_empty() {
                return Ok(());
            }
            return Err(FrameError::TrailingData);
        }
        match self.single.take() {
            None if self.buf.is_empty() => self.single = Some(chunk),
            None => self.buf.extend_from_slice(&chunk),
            Some(first) => {
                let want = self.expected.map_or(0, |(_, len)| PREFIX_LEN + len);
                self.buf.reserve(want.max(first.len() + chunk.len()));
                self.buf.extend_from_slice(&first);
                self.buf.extend_from_slice(&chunk);
            }
        }
        let available = self.single.as_ref().map_or(self.buf.len(), Bytes::len);
        if self.expected.is_none() && available >= PREFIX_LEN {
            let head = self.single.as_deref().unwrap_or(&self.buf[..]);
            let (compressed, len) = parse_prefix(head, self.limit)?;
            self.expected = Some((compressed, len));
            if self.single.is_none() {
                self.buf
                    .reserve((PREFIX_LEN + len).saturating_sub(self.buf.len()));
            }
        }
        if let Some((compressed, len)) = self.expected {
            if available >= PREFIX_LEN + len {
                let mut whole = match self.single.take() {
                    Some(bytes) => bytes,
                    None => std::mem::take(&mut self.buf).freeze(),
                };
                whole.advance(PREFIX_LEN);
                if whole.len() > len {
                    return Err(FrameError::TrailingData);
                }
                self.done = Some(Message {
                    compressed,
                    payload: whole,
                });
            }
        }
        Ok(())
    }

    /// The message, once the body has ended.
    pub fn finish(self) -> Result<Message, FrameError> {
        if let Some(message) = self.done {
            return Ok(message);
        }
        let got = self.single.as_ref().map_or(self.buf.len(), Bytes::len);
        match self.expected {
            None if got == 0 => Err(FrameError::Empty),
            None => Err(FrameError::Truncated {
                got,
                want: PREFIX_LEN,
            }),
            Some((_, len)) => Err(FrameError::Truncated {
                got: got.saturating_sub(PREFIX_LEN),
                want: len,
            }),
        }
    }
}

fn parse_prefix(head: &[u8], limit: usize) -> Result<(bool, usize), FrameError> {
    let [flag, a, b, c, d, ..] = *head else {
        return Err(FrameError::Truncated {
            got: head.len(),
            want: PREFIX_LEN,
        });
    };
    let compressed = match flag {
        0 => false,
        1 => true,
        other => return Err(FrameError::BadFlag(other)),
    };
    let declared = u32::from_be_bytes([a, b, c, d]) as usize;
    if declared > limit {
        return Err(FrameError::TooLarge { declared, limit });
    }
    Ok((compressed, declared))
}

/// Response headers that open a successful (or later-failing) call.
pub fn response_head(encoding: &Encoding) -> Response<()> {
    let mut response = Response::new(());
    *response.status_mut() = StatusCode::OK;
    let headers = response.headers_mut();
    headers.insert("content-type", HeaderValue::from_static(CONTENT_TYPE));
    if *encoding != Encoding::Identity {
        if let Ok(value) = HeaderValue::from_str(encoding.as_str()) {
            headers.insert("grpc-encoding", value);
        }
    }
    response
}

/// A Trailers-Only response carrying `status` and nothing else.
pub fn trailers_only(status: &Status) -> Response<()> {
    let mut response = response_head(&Encoding::Identity);
    status.to_headers(response.headers_mut());
    response
}

/// Trailers for `status`.
pub fn trailers(status: &Status) -> HeaderMap {
    let mut headers = HeaderMap::new();
    status.to_headers(&mut headers);
    headers
}

/// Percent-encodes a `grpc-message`: bytes outside printable ASCII, and `%`, become `%XX`.
pub fn percent_encode(message: &str) -> String {
    let mut out = String::with_capacity(message.len());
    for &byte in message.as_bytes() {
        if (0x20..=0x7e).contains(&byte) && byte != b'%' {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// Decodes a percent-encoded `grpc-message`; malformed escapes are kept as they are.
pub fn percent_decode(text: &[u8]) -> String {
    let mut out = Vec::with_capacity(text.len());
    let mut i = 0;
    while i < text.len() {
        let byte = text[i];
        if byte == b'%' {
            let hex = text
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok());
            if let Some(value) = hex {
                out.push(value);
                i += 3;
                continue;
            }
        }
        out.push(byte);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_round_trip() {
        let message = "bad field 5: 100% wrong\nnext é";
        let encoded = percent_encode(message);
        assert!(encoded.bytes().all(|b| (0x20..=0x7e).contains(&b)));
        assert_eq!(percent_decode(encoded.as_bytes()), message);
    }

    fn read_in(chunks: &[&[u8]], limit: usize) -> Result<Message, FrameError> {
        let mut reader = UnaryReader::new(limit);
        for chunk in chunks {
            reader.push(Bytes::copy_from_slice(chunk))?;
        }
        reader.finish()
    }

    #[test]
    fn a_message_reads_the_same_at_every_split() {
        let body = frame(true, b"hello world");
        let whole = read_in(&[&body], 64).ok();
        assert_eq!(
            whole.as_ref().map(|m| (m.compressed, &m.payload[..])),
            Some((true, &b"hello world"[..]))
        );
        for at in 0..=body.len() {
            let (a, b) = body.split_at(at);
            assert_eq!(read_in(&[a, &[], b], 64).ok(), whole, "split at {at}");
        }
    }

    #[test]
    fn framing_refusals() {
        let body = frame(false, b"abc");
        let mut longer = body.to_vec();
        longer.push(0);
        assert!(matches!(
            read_in(&[&longer], 64),
            Err(FrameError::TrailingData)
        ));
        assert!(matches!(
            read_in(&[&body[..], b"x"], 64),
            Err(FrameError::TrailingData)
        ));
        assert!(matches!(
            read_in(&[&body[..6]], 64),
            Err(FrameError::Truncated { got: 1, want: 3 })
        ));
        assert!(matches!(read_in(&[], 64), Err(FrameError::Empty)));
        // Refused from the prefix alone, before the payload arrives.
        assert!(matches!(
            read_in(&[&body[..5]], 2),
            Err(FrameError::TooLarge {
                declared: 3,
                limit: 2
            })
        ));
    }

    #[test]
    fn prefix_limits() {
        assert!(matches!(
            parse_prefix(&encode_prefix(false, 11), 10),
            Err(FrameError::TooLarge {
                declared: 11,
                limit: 10
            })
        ));
        assert_eq!(
            parse_prefix(&encode_prefix(true, 10), 10).ok(),
            Some((true, 10))
        );
        assert!(matches!(
            parse_prefix(&[2, 0, 0, 0, 0], 10),
            Err(FrameError::BadFlag(2))
        ));
    }

    #[test]
    fn status_headers_round_trip() {
        let status = Status::new(Code::InvalidArgument, "field 1: truncated");
        let headers = trailers(&status);
        assert_eq!(Status::from_headers(&headers), Some(status));
        assert_eq!(Code::from_decimal(b"99"), Code::Unknown);
    }
}
