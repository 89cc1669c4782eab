//! HTTP/1.1 server connections over glommio TCP streams, for OTLP/HTTP.
//!
//! `httparse` parses request heads and chunk-size lines; this module is only the glue around
//! it: framing (Content-Length or chunked), limits, deadlines and response writing.
//!
//! One request on a connection, step by step:
//! 1. wait for its first byte until the idle deadline (keep-alive idle timeout), then read the
//!    head until the header deadline; a head over [`Limits::head_bytes_max`] or with more than
//!    [`Limits::headers_max`] headers is refused (431), a malformed one with 400;
//! 2. frame the body: `Content-Length` (over the body limit → 413 before reading a byte),
//!    `Transfer-Encoding: chunked` (stopped at the body limit → 413), or none; any other
//!    transfer coding → 501; both headers → 400 (RFC 9112 §6.3 request smuggling rule);
//! 3. answer `100 Continue` if the client asked for it, then read the body until the body
//!    deadline;
//! 4. the caller answers; the connection stays open if both sides allow keep-alive and the
//!    request was read completely, otherwise it is closed after the answer.
//!
//! [`parse_request`] runs steps 1–2 on a byte slice without sockets (for fuzzing and tests).

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::tls::Conn;

/// Size limits of one request.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest request head (request line + headers) in bytes.
    pub head_bytes_max: usize,
    /// Most headers in one request.
    pub headers_max: usize,
    /// Largest body in bytes (after de-chunking).
    pub body_bytes_max: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            head_bytes_max: 16 * 1024,
            headers_max: 100,
            body_bytes_max: 20 * 1024 * 1024,
        }
    }
}

/// Deadlines of one connection.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// Keep-alive idle time allowed before a request's first byte.
    pub idle: Duration,
    /// Time allowed for a request head from its first byte.
    pub header: Duration,
    /// Time allowed for a request body from the end of its head.
    pub body: Duration,
}

/// How a request body is framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFraming {
    /// No body.
    Empty,
    /// `Content-Length` bytes.
    Length(usize),
    /// `Transfer-Encoding: chunked`.
    Chunked,
}

/// A parsed request head.
#[derive(Debug, Clone)]
pub struct RequestHead {
    /// The method, as sent.
    pub method: String,
    /// The request target, as sent (path and query).
    pub target: String,
    /// 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub minor_version: u8,
    /// Headers with lowercase names, values as (lossy) UTF-8.
    pub headers: Vec<(String, String)>,
    /// How the body is framed.
    pub framing: BodyFraming,
    /// Whether the client allows the connection to stay open after this request.
    pub keep_alive: bool,
    /// Whether the client sent `Expect: 100-continue`.
    pub expect_continue: bool,
}

impl RequestHead {
    /// The first value of header `name` (lowercase).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The path part of the target (without `?query`).
    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or("")
    }
}

/// Why a request could not be read; each maps to the status to answer with, if any.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Http1Error {
    /// The head is too large or has too many headers (431).
    #[error("request head exceeds {head_bytes_max} bytes or {headers_max} headers")]
    HeadTooLarge {
        /// The head size limit.
        head_bytes_max: usize,
        /// The header count limit.
        headers_max: usize,
    },
    /// The head or the chunked framing is malformed (400).
    #[error("malformed HTTP request: {0}")]
    Malformed(String),
    /// The body is over the limit (413).
    #[error("request body exceeds the limit of {limit} bytes")]
    BodyTooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// A transfer coding other than chunked (501).
    #[error("unsupported Transfer-Encoding {0:?}; only chunked is supported")]
    TransferEncoding(String),
    /// The peer closed the connection before the request was complete (no answer).
    #[error("connection closed mid-request")]
    Closed,
    /// A deadline passed (no answer; the connection is closed).
    #[error("timed out reading the request {0}")]
    Timeout(&'static str),
    /// A socket error (no answer).
    #[error("socket error: {0}")]
    Io(String),
}

impl Http1Error {
    /// The status to answer with, or `None` to just close the connection.
    pub fn status(&self) -> Option<u16> {
        match self {
            Http1Error::HeadTooLarge { .. } => Some(431),
            Http1Error::Malformed(_) => Some(400),
            Http1Error::BodyTooLarge { .. } => Some(413),
            Http1Error::TransferEncoding(_) => Some(501),
            Http1Error::Closed | Http1Error::Timeout(_) | Http1Error::Io(_) => None,
        }
    }
}

/// Parses a request head from the start of `buf`: `Ok(None)` if more bytes are needed,
/// otherwise the head and its length in bytes.
pub fn parse_head(buf: &[u8], limits: &Limits) -> Result<Option<(RequestHead, usize)>, Http1Error> {
    let too_large = Http1Error::HeadTooLarge {
        head_bytes_max: limits.head_bytes_max,
        headers_max: limits.headers_max,
    };
    let mut headers = vec![httparse::EMPTY_HEADER; limits.headers_max];
    let mut req = httparse::Request::new(&mut headers);
    let len = match req.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) if buf.len() > limits.head_bytes_max => {
            return Err(too_large)
        }
        Ok(httparse::Status::Partial) => return Ok(None),
        Err(httparse::Error::TooManyHeaders) => return Err(too_large),
        Err(e) => return Err(Http1Error::Malformed(e.to_string())),
    };
    if len > limits.head_bytes_max {
        return Err(too_large);
    }
    let minor_version = req.version.unwrap_or(1);
    let headers: Vec<(String, String)> = req
        .headers
        .iter()
        .map(|h| {
            (
                h.name.to_ascii_lowercase(),
                String::from_utf8_lossy(h.value).trim().to_owned(),
            )
        })
        .collect();
    let mut head = RequestHead {
        method: req.method.unwrap_or("").to_owned(),
        target: req.path.unwrap_or("").to_owned(),
        minor_version,
        headers,
        framing: BodyFraming::Empty,
        keep_alive: minor_version >= 1,
        expect_continue: false,
    };
    for (name, value) in &head.headers {
        match name.as_str() {
            "connection" => {
                for token in value.split(',').map(str::trim) {
                    if token.eq_ignore_ascii_case("close") {
                        head.keep_alive = false;
                    } else if token.eq_ignore_ascii_case("keep-alive") && minor_version == 0 {
                        head.keep_alive = true;
                    }
                }
            }
            "expect" if value.eq_ignore_ascii_case("100-continue") => head.expect_continue = true,
            _ => {}
        }
    }
    head.framing = framing(&head, limits)?;
    Ok(Some((head, len)))
}

fn framing(head: &RequestHead, limits: &Limits) -> Result<BodyFraming, Http1Error> {
    let mut lengths = head.headers.iter().filter(|(n, _)| n == "content-length");
    let length = match (lengths.next(), lengths.next()) {
        (None, _) => None,
        (Some((_, v)), None) => Some(v),
        (Some((_, a)), Some((_, b))) if a == b => Some(a),
        _ => {
            return Err(Http1Error::Malformed(
                "conflicting Content-Length headers".into(),
            ))
        }
    };
    if let Some((_, te)) = head.headers.iter().find(|(n, _)| n == "transfer-encoding") {
        if length.is_some() {
            return Err(Http1Error::Malformed(
                "both Content-Length and Transfer-Encoding".into(),
            ));
        }
        if !te.eq_ignore_ascii_case("chunked") {
            return Err(Http1Error::TransferEncoding(te.clone()));
        }
        return Ok(BodyFraming::Chunked);
    }
    let Some(length) = length else {
        return Ok(BodyFraming::Empty);
    };
    if length.is_empty() || !length.bytes().all(|b| b.is_ascii_digit()) {
        return Err(Http1Error::Malformed(format!(
            "invalid Content-Length {length:?}"
        )));
    }
    match length.parse::<usize>() {
        Ok(0) => Ok(BodyFraming::Empty),
        Ok(n) if n <= limits.body_bytes_max => Ok(BodyFraming::Length(n)),
        _ => Err(Http1Error::BodyTooLarge {
            limit: limits.body_bytes_max,
        }),
    }
}

/// Longest chunk-size line or trailer line accepted, in bytes.
const CHUNK_LINE_BYTES_MAX: usize = 4096;

/// Incremental decoder of a chunked body.
#[derive(Debug, Default)]
pub struct ChunkedDecoder {
    state: ChunkState,
    trailer_bytes: usize,
}

#[derive(Debug, Default, Clone, Copy)]
enum ChunkState {
    #[default]
    Size,
    Data(u64),
    DataEnd,
    Trailers,
    Done,
}

impl ChunkedDecoder {
    /// Decodes what it can from `buf` into `out`, returning the bytes consumed and whether
    /// the body is complete. `out` never grows beyond `limit`.
    pub fn feed(
        &mut self,
        buf: &[u8],
        out: &mut Vec<u8>,
        limit: usize,
    ) -> Result<(usize, bool), Http1Error> {
        let mut pos = 0;
        loop {
            let rest = &buf[pos..];
            match self.state {
                ChunkState::Done => return Ok((pos, true)),
                ChunkState::Size => match httparse::parse_chunk_size(rest) {
                    Ok(httparse::Status::Complete((used, size))) => {
                        pos += used;
                        self.state = if size == 0 {
                            ChunkState::Trailers
                        } else if size > (limit - out.len()) as u64 {
                            return Err(Http1Error::BodyTooLarge { limit });
                        } else {
                            ChunkState::Data(size)
                        };
                    }
                    Ok(httparse::Status::Partial) if rest.len() > CHUNK_LINE_BYTES_MAX => {
                        return Err(Http1Error::Malformed("chunk size line too long".into()))
                    }
                    Ok(httparse::Status::Partial) => return Ok((pos, false)),
                    Err(_) => return Err(Http1Error::Malformed("invalid chunk size".into())),
                },
                ChunkState::Data(left) => {
                    if rest.is_empty() {
                        return Ok((pos, false));
                    }
                    let take = usize::try_from(left).unwrap_or(usize::MAX).min(rest.len());
                    out.extend_from_slice(&rest[..take]);
                    pos += take;
                    let left = left - take as u64;
                    self.state = if left == 0 {
                        ChunkState::DataEnd
                    } else {
                        ChunkState::Data(left)
                    };
                }
                ChunkState::DataEnd => {
                    if rest.len() < 2 {
                        return Ok((pos, false));
                    }
                    if &rest[..2] != b"\r\n" {
                        return Err(Http1Error::Malformed(
                            "chunk data not followed by CRLF".into(),
                        ));
                    }
                    pos += 2;
                    self.state = ChunkState::Size;
                }
                ChunkState::Trailers => {
                    let Some(end) = rest.windows(2).position(|w| w == b"\r\n") else {
                        if self.trailer_bytes + rest.len() > CHUNK_LINE_BYTES_MAX {
                            return Err(Http1Error::Malformed("trailers too long".into()));
                        }
                        return Ok((pos, false));
                    };
                    pos += end + 2;
                    self.trailer_bytes += end + 2;
                    if self.trailer_bytes > CHUNK_LINE_BYTES_MAX {
                        return Err(Http1Error::Malformed("trailers too long".into()));
                    }
                    if end == 0 {
                        self.state = ChunkState::Done;
                    }
                }
            }
        }
    }
}

/// A whole request.
#[derive(Debug, Clone)]
pub struct Request {
    /// Its head.
    pub head: RequestHead,
    /// Its body, de-chunked.
    pub body: Vec<u8>,
}

/// Parses one whole request from a byte slice (no sockets): `Ok(None)` if incomplete.
pub fn parse_request(buf: &[u8], limits: &Limits) -> Result<Option<Request>, Http1Error> {
    let Some((head, used)) = parse_head(buf, limits)? else {
        return Ok(None);
    };
    let rest = &buf[used..];
    let body = match head.framing {
        BodyFraming::Empty => Vec::new(),
        BodyFraming::Length(n) if rest.len() >= n => rest[..n].to_vec(),
        BodyFraming::Length(_) => return Ok(None),
        BodyFraming::Chunked => {
            let mut body = Vec::new();
            let (_, done) =
                ChunkedDecoder::default().feed(rest, &mut body, limits.body_bytes_max)?;
            if !done {
                return Ok(None);
            }
            body
        }
    };
    Ok(Some(Request { head, body }))
}

/// Most bytes discarded while closing after an error answer.
pub const LINGER_BYTES_MAX: usize = 256 * 1024;
/// Longest wait while closing after an error answer.
pub const LINGER: Duration = Duration::from_secs(1);

/// Bytes read from the socket at a time.
const READ_CHUNK_BYTES: usize = 16 * 1024;

/// One server-side HTTP/1.1 connection.
pub struct Http1Connection {
    stream: Conn,
    buf: Vec<u8>,
    limits: Limits,
    timeouts: Timeouts,
}

impl Http1Connection {
    /// Wraps an accepted stream.
    pub fn new(stream: impl Into<Conn>, limits: Limits, timeouts: Timeouts) -> Http1Connection {
        Http1Connection {
            stream: stream.into(),
            buf: Vec::new(),
            limits,
            timeouts,
        }
    }

    /// Reads the next request head: `Ok(None)` when the peer closed cleanly between requests
    /// or stayed idle past the idle timeout.
    pub async fn read_head(&mut self) -> Result<Option<RequestHead>, Http1Error> {
        if self.buf.is_empty() {
            let idle = crate::timer::deadline_after(self.timeouts.idle);
            match self.fill(idle, "head").await {
                Ok(0) | Err(Http1Error::Timeout(_)) => return Ok(None),
                Ok(_) => {}
                Err(e) => return Err(e),
            }
        }
        let deadline = crate::timer::deadline_after(self.timeouts.header);
        loop {
            if let Some((head, used)) = parse_head(&self.buf, &self.limits)? {
                self.buf.drain(..used);
                return Ok(Some(head));
            }
            if self.fill(deadline, "head").await? == 0 {
                return Err(Http1Error::Closed);
            }
        }
    }

    /// Reads the body of `head`, answering `100 Continue` first if asked.
    pub async fn read_body(&mut self, head: &RequestHead) -> Result<Vec<u8>, Http1Error> {
        if head.framing == BodyFraming::Empty {
            return Ok(Vec::new());
        }
        if head.expect_continue && head.minor_version >= 1 {
            self.write_raw(b"HTTP/1.1 100 Continue\r\n\r\n").await?;
        }
        let deadline = crate::timer::deadline_after(self.timeouts.body);
        match head.framing {
            BodyFraming::Empty => Ok(Vec::new()),
            BodyFraming::Length(n) => {
                while self.buf.len() < n {
                    if self.fill(deadline, "body").await? == 0 {
                        return Err(Http1Error::Closed);
                    }
                }
                let rest = self.buf.split_off(n);
                Ok(std::mem::replace(&mut self.buf, rest))
            }
            BodyFraming::Chunked => {
                let mut decoder = ChunkedDecoder::default();
                let mut body = Vec::new();
                loop {
                    let (used, done) =
                        decoder.feed(&self.buf, &mut body, self.limits.body_bytes_max)?;
                    self.buf.drain(..used);
                    if done {
                        return Ok(body);
                    }
                    if self.fill(deadline, "body").await? == 0 {
                        return Err(Http1Error::Closed);
                    }
                }
            }
        }
    }

    /// Writes a response with a Content-Length; `close` adds `Connection: close`.
    pub async fn write_response(
        &mut self,
        status: u16,
        headers: &[(&str, String)],
        body: &[u8],
        close: bool,
    ) -> Result<(), Http1Error> {
        let mut out = Vec::with_capacity(256 + body.len());
        out.extend_from_slice(format!("HTTP/1.1 {status} {}\r\n", reason(status)).as_bytes());
        for (name, value) in headers {
            out.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
        }
        out.extend_from_slice(format!("Content-Length: {}\r\n", body.len()).as_bytes());
        if close {
            out.extend_from_slice(b"Connection: close\r\n");
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(body);
        self.write_raw(&out).await
    }

    /// Closes after an answer that left request bytes unread: shuts down the write side, then
    /// reads and discards what the client still sends (at most [`LINGER_BYTES_MAX`], for at
    /// most [`LINGER`]) so the kernel does not answer those bytes with a reset that could
    /// destroy our answer before the client reads it (what Go's net/http does too).
    pub async fn close_after_error(mut self) {
        if self.stream.shutdown_write().await.is_err() {
            return;
        }
        let deadline = Instant::now() + LINGER;
        let mut discarded = 0usize;
        while discarded < LINGER_BYTES_MAX {
            self.buf.clear();
            match self.fill(deadline, "linger").await {
                Ok(0) | Err(_) => return,
                Ok(n) => discarded += n,
            }
        }
    }

    async fn write_raw(&mut self, bytes: &[u8]) -> Result<(), Http1Error> {
        let write = async {
            // The flush matters with TLS: records rustls could not write yet wait in it.
            self.stream.write_all(bytes).await?;
            self.stream.flush().await
        };
        let write = async {
            write
                .await
                .map_err(|e: std::io::Error| Http1Error::Io(e.to_string()))
        };
        let timeout = async {
            crate::timer::sleep(self.timeouts.body).await;
            Err(Http1Error::Timeout("response write"))
        };
        futures_lite::future::or(write, timeout).await
    }

    /// Reads more bytes into the buffer before `deadline`; 0 means the peer closed.
    async fn fill(&mut self, deadline: Instant, what: &'static str) -> Result<usize, Http1Error> {
        // Straight into the buffer's spare room, as the client does (no chunk array in the
        // future).
        self.buf.reserve(READ_CHUNK_BYTES);
        let wait = deadline.saturating_duration_since(Instant::now());
        let read = async {
            self.stream
                .read_buf(&mut self.buf)
                .await
                .map_err(|e| Http1Error::Io(e.to_string()))
        };
        let timeout = async {
            glommio::timer::sleep(wait).await;
            Err(Http1Error::Timeout(what))
        };
        futures_lite::future::or(read, timeout).await
    }
}

/// The reason phrase of the statuses this server sends.
fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        204 => "No Content",
        400 => "Bad Request",
        404 => "Not Found",
        405 => "Method Not Allowed",
        413 => "Payload Too Large",
        415 => "Unsupported Media Type",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        _ => "Status",
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn limits() -> Limits {
        Limits {
            body_bytes_max: 100,
            ..Limits::default()
        }
    }

    #[test]
    fn content_length_request() {
        let raw = b"POST /v1/traces?x=1 HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Type: application/json\r\n\r\nabc";
        let req = parse_request(raw, &limits()).unwrap().unwrap();
        assert_eq!(req.head.method, "POST");
        assert_eq!(req.head.path(), "/v1/traces");
        assert_eq!(req.head.header("content-type"), Some("application/json"));
        assert_eq!(req.body, b"abc");
        assert!(req.head.keep_alive);
        assert!(parse_request(&raw[..raw.len() - 1], &limits())
            .unwrap()
            .is_none());
    }

    #[test]
    fn chunked_request_with_trailers() {
        let raw = b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3;ext=1\r\nabc\r\n2\r\nde\r\n0\r\nX-T: 1\r\n\r\n";
        let req = parse_request(raw, &limits()).unwrap().unwrap();
        assert_eq!(req.body, b"abcde");
        for cut in 0..raw.len() {
            assert!(
                parse_request(&raw[..cut], &limits()).unwrap().is_none(),
                "{cut}"
            );
        }
    }

    #[test]
    fn limits_and_malformations() {
        let big = b"POST / HTTP/1.1\r\nContent-Length: 101\r\n\r\n";
        assert_eq!(
            parse_request(big, &limits()).unwrap_err(),
            Http1Error::BodyTooLarge { limit: 100 }
        );
        let chunk = b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffff\r\n";
        assert_eq!(
            parse_request(chunk, &limits()).unwrap_err().status(),
            Some(413)
        );
        let both = b"POST / HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n";
        assert_eq!(
            parse_request(both, &limits()).unwrap_err().status(),
            Some(400)
        );
        let te = b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n";
        assert_eq!(
            parse_request(te, &limits()).unwrap_err().status(),
            Some(501)
        );
        let many: String = (0..101).map(|i| format!("h{i}: v\r\n")).collect();
        let raw = format!("GET / HTTP/1.1\r\n{many}\r\n");
        assert_eq!(
            parse_request(raw.as_bytes(), &limits())
                .unwrap_err()
                .status(),
            Some(431)
        );
        let long = format!("GET / HTTP/1.1\r\nx: {}", "a".repeat(17 * 1024));
        assert_eq!(
            parse_request(long.as_bytes(), &limits())
                .unwrap_err()
                .status(),
            Some(431)
        );
        assert_eq!(
            parse_request(b"\x00\x01 / HTTP/1.1\r\n\r\n", &limits())
                .unwrap_err()
                .status(),
            Some(400)
        );
        let neg = b"POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n";
        assert_eq!(
            parse_request(neg, &limits()).unwrap_err().status(),
            Some(400)
        );
    }

    #[test]
    fn keep_alive_rules() {
        let head = |raw: &[u8]| parse_head(raw, &limits()).unwrap().unwrap().0;
        assert!(!head(b"GET / HTTP/1.0\r\n\r\n").keep_alive);
        assert!(head(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n").keep_alive);
        assert!(!head(b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n").keep_alive);
        assert!(head(b"POST / HTTP/1.1\r\nExpect: 100-continue\r\n\r\n").expect_continue);
    }
}
