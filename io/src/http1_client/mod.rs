//! A keep-alive HTTP/1.1 client owned by one shard: a small pool of connections to one peer.
//!
//! HTTP/1.1 carries one request at a time per connection (we do not pipeline: a lost pipelined
//! request cannot be told apart from an unanswered one), so "several requests in flight" means
//! several connections. The protocol, step by step:
//! 1. A request takes a permit (at most `connections_max` at once), then an idle connection
//!    from the pool, or dials a new one (TCP_NODELAY) within `connect_timeout`, the name
//!    looked up off the shard thread ([`crate::resolve`]) within the same time.
//! 2. It writes `METHOD target HTTP/1.1`, `Host`, `Content-Length`, the caller's headers and
//!    the body in one buffered write.
//! 3. It reads the response head with `httparse` (at most [`RESPONSE_HEAD_BYTES_MAX`]),
//!    skipping interim 1xx heads, then the body framed by `Transfer-Encoding: chunked`,
//!    `Content-Length`, or the end of the connection, at most `response_body_bytes_max`.
//! 4. The connection goes back to the pool unless either side said `Connection: close`, the
//!    body ran to EOF, or anything failed; idle connections older than `idle_timeout` are
//!    dropped when next looked at.
//! 5. A reused connection that fails before any response byte arrives (the peer closed it
//!    while idle) is retried once on a fresh connection: nothing was processed by the peer.
//!
//! The whole exchange (connect, write, read) runs within the caller's timeout; on timeout the
//! connection is dropped, never reused.

mod response;

use std::cell::RefCell;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use glommio::net::TcpStream;
use glommio::sync::Semaphore;
use http::{HeaderMap, Request, StatusCode};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::stream::TcpIo;
use crate::tls::{self, ClientTls, Conn as Stream};
use response::read_response;

/// Largest response head (status line + headers) we accept, in bytes.
pub const RESPONSE_HEAD_BYTES_MAX: usize = 64 * 1024;
/// Default cap on a response body, in bytes (OTLP responses are small).
pub const RESPONSE_BODY_BYTES_MAX: usize = 4 * 1024 * 1024;
/// Most response header fields parsed.
const RESPONSE_HEADERS_MAX: usize = 64;
/// Bytes asked of the socket per read.
const READ_CHUNK_BYTES: usize = 16 * 1024;
/// Interim (1xx) responses skipped before the final one.
const INTERIM_RESPONSES_MAX: usize = 8;

/// Settings of an HTTP/1.1 client.
#[derive(Debug, Clone, Copy)]
pub struct Http1Settings {
    /// Connections open at once (and so requests in flight) to the peer.
    pub connections_max: usize,
    /// How long to wait for a TCP connection.
    pub connect_timeout: Duration,
    /// How long an idle connection is kept for reuse.
    pub idle_timeout: Duration,
    /// Cap on a response body, in bytes.
    pub response_body_bytes_max: usize,
}

impl Default for Http1Settings {
    fn default() -> Self {
        Http1Settings {
            connections_max: 4,
            connect_timeout: Duration::from_secs(5),
            idle_timeout: Duration::from_secs(90),
            response_body_bytes_max: RESPONSE_BODY_BYTES_MAX,
        }
    }
}

/// Why an HTTP/1.1 exchange failed; every variant is a transport failure (retryable).
#[derive(Debug, thiserror::Error)]
pub enum Http1Error {
    /// The peer name did not resolve.
    #[error("cannot resolve {authority}: {reason}")]
    Resolve {
        /// `host:port` we tried.
        authority: String,
        /// Why.
        reason: String,
    },
    /// The TCP connection could not be made.
    #[error("cannot connect to {authority}: {source}")]
    Connect {
        /// `host:port` we tried.
        authority: String,
        /// The system's reason.
        source: std::io::Error,
    },
    /// The TLS handshake failed (untrusted certificate, wrong name, no common version).
    #[error("TLS handshake with {authority}: {reason}")]
    Tls {
        /// `host:port` we tried.
        authority: String,
        /// What failed.
        reason: String,
    },
    /// Reading or writing the socket failed.
    #[error("socket: {0}")]
    Io(#[from] std::io::Error),
    /// The peer closed the connection before a complete response.
    #[error("connection closed before the response was complete")]
    Closed,
    /// The response is not valid HTTP/1.1.
    #[error("malformed response: {0}")]
    Malformed(String),
    /// The response head or body is larger than allowed.
    #[error("response {part} exceeds {limit_bytes} bytes")]
    TooLarge {
        /// `head` or `body`.
        part: &'static str,
        /// The limit.
        limit_bytes: usize,
    },
    /// The request could not be written (bad header value).
    #[error("invalid request: {0}")]
    Request(String),
    /// The exchange ran past its deadline.
    #[error("timed out after {0:?}")]
    Timeout(Duration),
}

/// A complete response: status, headers and the whole body.
#[derive(Debug)]
pub struct Http1Response {
    /// Status code.
    pub status: StatusCode,
    /// Header fields.
    pub headers: HeaderMap,
    /// The body (de-chunked).
    pub body: Bytes,
}

struct Conn {
    stream: Stream,
    /// Bytes read past the previous response (a well-behaved peer sends none).
    leftover: BytesMut,
    idle_since: Instant,
}

/// A pool of keep-alive HTTP/1.1 connections to one peer, used by one shard.
pub struct Http1Client {
    authority: String,
    settings: Http1Settings,
    /// Where each new connection gets its TLS client from; `None` = plaintext.
    tls: Option<Box<dyn Fn() -> ClientTls>>,
    idle: RefCell<Vec<Conn>>,
    permits: Semaphore,
}

impl Http1Client {
    /// A client for `authority` (`host:port`); it connects lazily.
    pub fn new(authority: impl Into<String>, settings: Http1Settings) -> Http1Client {
        let connections_max = settings.connections_max.max(1);
        Http1Client {
            authority: authority.into(),
            settings: Http1Settings {
                connections_max,
                ..settings
            },
            tls: None,
            idle: RefCell::new(Vec::with_capacity(connections_max)),
            permits: Semaphore::new(connections_max as u64),
        }
    }

    /// Makes every new connection TLS, with the client `tls` gives at that moment (so a
    /// caller can rotate certificates between connections).
    pub fn with_tls(mut self, tls: impl Fn() -> ClientTls + 'static) -> Http1Client {
        self.tls = Some(Box::new(tls));
        self
    }

    /// The `host:port` this client talks to.
    pub fn authority(&self) -> &str {
        &self.authority
    }

    /// Sends `head` (method, URI path, headers) with `body` and reads the whole response,
    /// all within `timeout`.
    pub async fn request(
        &self,
        head: Request<()>,
        body: Bytes,
        timeout: Duration,
    ) -> Result<Http1Response, Http1Error> {
        let request = encode_head(&head, &self.authority, body.len())?;
        let exchange = async {
            let _permit = self
                .permits
                .acquire_permit(1)
                .await
                .map_err(|e| Http1Error::Io(std::io::Error::other(e.to_string())))?;
            if let Some(conn) = self.take_idle() {
                match self.exchange(conn, &request, &body).await {
                    Err(Attempt::Stale(_)) => {}
                    Err(Attempt::Failed(error)) => return Err(error),
                    Ok(response) => return Ok(response),
                }
            }
            let conn = self.connect().await?;
            self.exchange(conn, &request, &body)
                .await
                .map_err(Attempt::into_error)
        };
        // Boxed: the exchange (connect, TLS handshake, write, read) is some 30 KiB of state,
        // which every caller's future would otherwise carry and copy.
        let exchange = Box::pin(exchange);
        match glommio::timer::timeout(crate::timer::bounded(timeout), async { Ok(exchange.await) })
            .await
        {
            Ok(result) => result,
            Err(_) => Err(Http1Error::Timeout(timeout)),
        }
    }

    fn take_idle(&self) -> Option<Conn> {
        let mut idle = self.idle.borrow_mut();
        let now = Instant::now();
        idle.retain(|c| now.duration_since(c.idle_since) < self.settings.idle_timeout);
        idle.pop()
    }

    async fn connect(&self) -> Result<Conn, Http1Error> {
        let deadline = crate::timer::deadline_after(self.settings.connect_timeout);
        let addr = crate::resolve::resolve(&self.authority, self.settings.connect_timeout)
            .await
            .map_err(|error| Http1Error::Resolve {
                authority: self.authority.clone(),
                reason: error.to_string(),
            })?;
        let connect_err = |source: std::io::Error| Http1Error::Connect {
            authority: self.authority.clone(),
            source,
        };
        let timeout = deadline.saturating_duration_since(Instant::now());
        let dial = async {
            let stream = TcpStream::connect(addr)
                .await
                .map_err(|e| connect_err(e.into()))?;
            stream
                .set_nodelay(true)
                .map_err(|e| connect_err(e.into()))?;
            let io = TcpIo::new(stream);
            match &self.tls {
                Some(tls) => tls::connect(&tls(), io).await.map_err(|e| Http1Error::Tls {
                    authority: self.authority.clone(),
                    reason: e.to_string(),
                }),
                None => Ok(Stream::Plain(io)),
            }
        };
        let stream = crate::timer::timeout(timeout, dial)
            .await
            .ok_or_else(|| connect_err(std::io::ErrorKind::TimedOut.into()))??;
        Ok(Conn {
            stream,
            leftover: BytesMut::new(),
            idle_since: Instant::now(),
        })
    }

    async fn exchange(
        &self,
        mut conn: Conn,
        head: &[u8],
        body: &[u8],
    ) -> Result<Http1Response, Attempt> {
        let stale = |e: Http1Error| Attempt::Stale(e);
        conn.stream
            .write_all(head)
            .await
            .map_err(|e| stale(e.into()))?;
        conn.stream
            .write_all(body)
            .await
            .map_err(|e| stale(e.into()))?;
        conn.stream.flush().await.map_err(|e| stale(e.into()))?;
        let (response, reusable) =
            read_response(&mut conn, self.settings.response_body_bytes_max).await?;
        if reusable && !closes(head) {
            conn.idle_since = Instant::now();
            let mut idle = self.idle.borrow_mut();
            if idle.len() < self.settings.connections_max {
                idle.push(conn);
            }
        }
        Ok(response)
    }
}

/// The outcome of one try on one connection: `Stale` failed before any response byte.
enum Attempt {
    Stale(Http1Error),
    Failed(Http1Error),
}

impl Attempt {
    fn into_error(self) -> Http1Error {
        match self {
            Attempt::Stale(e) | Attempt::Failed(e) => e,
        }
    }
}

impl From<Http1Error> for Attempt {
    fn from(error: Http1Error) -> Self {
        Attempt::Failed(error)
    }
}

/// Whether our own request asked to close the connection.
fn closes(head: &[u8]) -> bool {
    let text = String::from_utf8_lossy(head).to_ascii_lowercase();
    text.contains("\r\nconnection: close\r\n")
}

/// Serializes the request line and headers; `Host` and `Content-Length` are ours.
fn encode_head(
    head: &Request<()>,
    authority: &str,
    body_len: usize,
) -> Result<Vec<u8>, Http1Error> {
    let target = head.uri().path_and_query().map_or("/", |p| p.as_str());
    let mut out = Vec::with_capacity(256);
    out.extend_from_slice(head.method().as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(target.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\nhost: ");
    out.extend_from_slice(authority.as_bytes());
    out.extend_from_slice(format!("\r\ncontent-length: {body_len}\r\n").as_bytes());
    for (name, value) in head.headers() {
        if name == http::header::HOST
            || name == http::header::CONTENT_LENGTH
            || name == http::header::TRANSFER_ENCODING
        {
            continue;
        }
        if value.as_bytes().iter().any(|b| *b == b'\r' || *b == b'\n') {
            return Err(Http1Error::Request(format!(
                "header {name} has a line break"
            )));
        }
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    Ok(out)
}

/// Reads more bytes into `conn.leftover`; `Ok(false)` at EOF.
async fn fill(conn: &mut Conn) -> Result<bool, std::io::Error> {
    // Straight into the buffer's spare room: a chunk array here would sit in every future
    // that awaits this one, which in debug builds overflowed a shard's stack.
    conn.leftover.reserve(READ_CHUNK_BYTES);
    let n = conn.stream.read_buf(&mut conn.leftover).await?;
    Ok(n > 0)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use std::io::{Read, Write};

    /// Runs a one-connection-at-a-time std server answering each request with `answers` in turn.
    fn serve(answers: Vec<Vec<u8>>) -> (String, std::thread::JoinHandle<Vec<String>>) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let handle = std::thread::spawn(move || {
            let mut seen = Vec::new();
            let mut answers = answers.into_iter();
            let (mut sock, _) = listener.accept().unwrap();
            loop {
                let mut buf = Vec::new();
                let mut byte = [0u8; 1];
                while !buf.ends_with(b"\r\n\r\n") {
                    if sock.read(&mut byte).unwrap() == 0 {
                        return seen;
                    }
                    buf.push(byte[0]);
                }
                let head = String::from_utf8(buf).unwrap();
                let len: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length: "))
                    .unwrap()
                    .parse()
                    .unwrap();
                let mut body = vec![0; len];
                sock.read_exact(&mut body).unwrap();
                seen.push(format!("{head}{}", String::from_utf8_lossy(&body)));
                match answers.next() {
                    Some(answer) => sock.write_all(&answer).unwrap(),
                    None => return seen,
                }
            }
        });
        (addr, handle)
    }

    fn run<T, F>(f: impl FnOnce() -> F + Send + 'static) -> T
    where
        T: Send + 'static,
        F: std::future::Future<Output = T> + 'static,
    {
        glommio::LocalExecutorBuilder::default()
            .spawn(f)
            .unwrap()
            .join()
            .unwrap()
    }

    #[test]
    fn keep_alive_with_length_and_chunked_bodies() {
        let (addr, server) = serve(vec![
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nhello".to_vec(),
            b"HTTP/1.1 503 Service Unavailable\r\nTransfer-Encoding: chunked\r\nRetry-After: 1\r\n\r\n3;x=y\r\nabc\r\n2\r\nde\r\n0\r\nT: v\r\n\r\n".to_vec(),
        ]);
        let (a, b) = run(move || async move {
            let client = Http1Client::new(addr, Http1Settings::default());
            let req = || {
                Request::post("/v1/traces")
                    .header("content-type", "application/x-protobuf")
                    .body(())
                    .unwrap()
            };
            let t = Duration::from_secs(10);
            let a = client
                .request(req(), Bytes::from_static(b"one"), t)
                .await
                .unwrap();
            let b = client
                .request(req(), Bytes::from_static(b"two"), t)
                .await
                .unwrap();
            (a, b)
        });
        assert_eq!((a.status.as_u16(), a.body.as_ref()), (200, &b"hello"[..]));
        assert_eq!((b.status.as_u16(), b.body.as_ref()), (503, &b"abcde"[..]));
        assert_eq!(b.headers.get("retry-after").unwrap(), "1");
        // Both requests came over the one accepted connection: keep-alive worked.
        let seen = server.join().unwrap();
        assert_eq!(seen.len(), 2);
        assert!(
            seen[0].starts_with("POST /v1/traces HTTP/1.1\r\n"),
            "{}",
            seen[0]
        );
        assert!(seen[0].ends_with("\r\n\r\none"));
        assert!(seen[1].ends_with("\r\n\r\ntwo"));
    }

    /// A server that closes idle keep-alive connections without saying so: the next request
    /// finds the pooled connection dead and must go out on a fresh one.
    #[test]
    fn a_connection_closed_while_idle_is_replaced() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap().to_string();
        let server = std::thread::spawn(move || {
            for n in 0..2 {
                let (mut sock, _) = listener.accept().unwrap();
                let mut buf = [0u8; 4096];
                let mut got = Vec::new();
                while !got.ends_with(b"\r\n\r\nx") {
                    let k = sock.read(&mut buf).unwrap();
                    got.extend_from_slice(&buf[..k]);
                }
                let answer = format!("HTTP/1.1 200 OK\r\ncontent-length: 1\r\n\r\n{n}");
                sock.write_all(answer.as_bytes()).unwrap();
                // Dropping `sock` closes the connection the client keeps in its pool.
            }
        });
        let bodies = run(move || async move {
            let client = Http1Client::new(addr, Http1Settings::default());
            let mut bodies = Vec::new();
            for _ in 0..2 {
                let req = Request::post("/").body(()).unwrap();
                let r = client
                    .request(req, Bytes::from_static(b"x"), Duration::from_secs(10))
                    .await
                    .unwrap();
                bodies.push(r.body);
                glommio::timer::sleep(Duration::from_millis(100)).await;
            }
            bodies
        });
        assert_eq!(
            bodies,
            vec![Bytes::from_static(b"0"), Bytes::from_static(b"1")]
        );
        server.join().unwrap();
    }

    #[test]
    fn oversized_and_malformed_responses_are_errors() {
        let (addr, _server) = serve(vec![
            b"HTTP/1.1 200 OK\r\ncontent-length: 99999999\r\n\r\n".to_vec()
        ]);
        let err = run(move || async move {
            let client = Http1Client::new(addr, Http1Settings::default());
            let req = Request::post("/").body(()).unwrap();
            client
                .request(req, Bytes::new(), Duration::from_secs(10))
                .await
                .unwrap_err()
        });
        assert!(
            matches!(err, Http1Error::TooLarge { part: "body", .. }),
            "{err}"
        );
        let (addr, _server) = serve(vec![b"SMTP ready\r\n\r\n".to_vec()]);
        let err = run(move || async move {
            let client = Http1Client::new(addr, Http1Settings::default());
            let req = Request::post("/").body(()).unwrap();
            client
                .request(req, Bytes::new(), Duration::from_secs(10))
                .await
                .unwrap_err()
        });
        assert!(matches!(err, Http1Error::Malformed(_)), "{err}");
    }

    #[test]
    fn connection_refused_is_a_connect_error() {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let err = run(move || async move {
            let client = Http1Client::new(format!("127.0.0.1:{port}"), Http1Settings::default());
            let req = Request::post("/").body(()).unwrap();
            client
                .request(req, Bytes::new(), Duration::from_secs(10))
                .await
                .unwrap_err()
        });
        assert!(matches!(err, Http1Error::Connect { .. }), "{err}");
    }
}
