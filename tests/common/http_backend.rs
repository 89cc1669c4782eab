//! A recording OTLP/HTTP backend for the black-box tests: a small HTTP/1.1 server on
//! 127.0.0.1 (one thread per connection, keep-alive, Content-Length or chunked request
//! bodies) that records every request, decoded, and answers from a script (default 200).

use std::collections::VecDeque;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;

/// Largest request head the backend reads.
const HEAD_BYTES_MAX: usize = 64 * 1024;

/// One request as the backend saw it.
#[derive(Clone, Debug)]
pub struct HttpRequest {
    /// Request target, e.g. `/v1/traces`.
    pub path: String,
    /// Header fields, names lowercased.
    pub headers: Vec<(String, String)>,
    /// The body after undoing `Content-Encoding`.
    pub body: Vec<u8>,
    /// The status the backend answered.
    pub status: u16,
    /// When the request was complete.
    pub at: Instant,
}

impl HttpRequest {
    /// The value of header `name` (lowercase), if present.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    fn is_json(&self) -> bool {
        self.header("content-type") == Some("application/json")
    }

    fn decode<T: Message + Default + serde::de::DeserializeOwned>(&self) -> T {
        if self.is_json() {
            serde_json::from_slice(&self.body).unwrap_or_else(|e| {
                panic!(
                    "bad OTLP/JSON body: {e}\n{}",
                    String::from_utf8_lossy(&self.body)
                )
            })
        } else {
            T::decode(self.body.as_slice()).expect("bad protobuf body")
        }
    }
}

/// A scripted answer: status, extra headers, body.
#[derive(Clone, Debug)]
pub struct Answer {
    /// Status code.
    pub status: u16,
    /// Extra headers.
    pub headers: Vec<(String, String)>,
    /// Body.
    pub body: Vec<u8>,
}

#[derive(Default)]
struct State {
    requests: Vec<HttpRequest>,
    script: VecDeque<Answer>,
    connections: usize,
}

/// The running backend; stops when dropped.
pub struct HttpBackend {
    port: u16,
    https: bool,
    state: Arc<Mutex<State>>,
    stop: Arc<AtomicBool>,
}

impl HttpBackend {
    /// Starts the backend on a free port of 127.0.0.1.
    pub fn start() -> HttpBackend {
        HttpBackend::start_with(None)
    }

    /// Starts the backend speaking HTTPS with `tls`.
    pub fn start_tls(tls: Arc<rustls::ServerConfig>) -> HttpBackend {
        HttpBackend::start_with(Some(tls))
    }

    fn start_with(tls: Option<Arc<rustls::ServerConfig>>) -> HttpBackend {
        let https = tls.is_some();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(Mutex::new(State::default()));
        let stop = Arc::new(AtomicBool::new(false));
        let (s, st) = (state.clone(), stop.clone());
        std::thread::spawn(move || {
            for conn in listener.incoming() {
                if st.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(conn) = conn else { continue };
                let _ = conn.set_read_timeout(Some(Duration::from_secs(60)));
                s.lock().unwrap().connections += 1;
                let s = s.clone();
                match tls.clone() {
                    None => std::thread::spawn(move || serve(conn, &s)),
                    Some(tls) => std::thread::spawn(move || {
                        let Ok(session) = rustls::ServerConnection::new(tls) else {
                            return;
                        };
                        serve(rustls::StreamOwned::new(session, conn), &s)
                    }),
                };
            }
        });
        HttpBackend {
            port,
            https,
            state,
            stop,
        }
    }

    /// `http://127.0.0.1:PORT`, or `https://localhost:PORT` (the name its certificate has).
    pub fn url(&self) -> String {
        match self.https {
            false => format!("http://127.0.0.1:{}", self.port),
            true => format!("https://localhost:{}", self.port),
        }
    }

    /// Answers the next `n` requests with `status`, `headers` and `body`.
    pub fn fail_next(&self, n: usize, status: u16, headers: &[(&str, &str)], body: &[u8]) {
        let answer = Answer {
            status,
            headers: headers
                .iter()
                .map(|(n, v)| (n.to_string(), v.to_string()))
                .collect(),
            body: body.to_vec(),
        };
        let mut state = self.state.lock().unwrap();
        for _ in 0..n {
            state.script.push_back(answer.clone());
        }
    }

    /// Every request so far.
    pub fn requests(&self) -> Vec<HttpRequest> {
        self.state.lock().unwrap().requests.clone()
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.state.lock().unwrap().connections
    }

    fn accepted(&self, path: &str) -> Vec<HttpRequest> {
        self.requests()
            .into_iter()
            .filter(|r| r.status == 200 && r.path == path)
            .collect()
    }

    /// Decoded trace requests answered 200 at `/v1/traces`.
    pub fn traces(&self) -> Vec<ExportTraceServiceRequest> {
        self.accepted("/v1/traces")
            .iter()
            .map(|r| r.decode())
            .collect()
    }

    /// Decoded metric requests answered 200 at `/v1/metrics`.
    pub fn metrics(&self) -> Vec<ExportMetricsServiceRequest> {
        self.accepted("/v1/metrics")
            .iter()
            .map(|r| r.decode())
            .collect()
    }

    /// Decoded log requests answered 200 at `/v1/logs`.
    pub fn logs(&self) -> Vec<ExportLogsServiceRequest> {
        self.accepted("/v1/logs")
            .iter()
            .map(|r| r.decode())
            .collect()
    }
}

impl Drop for HttpBackend {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

/// Serves one keep-alive connection until the peer closes it.
fn serve(mut conn: impl Read + Write, state: &Mutex<State>) {
    let mut buf: Vec<u8> = Vec::new();
    loop {
        let Some((head_len, path, headers)) = read_head(&mut conn, &mut buf) else {
            return;
        };
        buf.drain(..head_len);
        let header = |name: &str| {
            headers
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.clone())
        };
        let raw = if header("transfer-encoding").is_some_and(|v| v.contains("chunked")) {
            match read_chunked(&mut conn, &mut buf) {
                Some(body) => body,
                None => return,
            }
        } else {
            let len: usize = header("content-length")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0);
            if !fill_to(&mut conn, &mut buf, len) {
                return;
            }
            buf.drain(..len).collect()
        };
        let body = match header("content-encoding").as_deref() {
            Some("gzip") => {
                let mut out = Vec::new();
                flate2::read::GzDecoder::new(raw.as_slice())
                    .read_to_end(&mut out)
                    .unwrap();
                out
            }
            Some("zstd") => zstd::decode_all(raw.as_slice()).unwrap(),
            _ => raw,
        };
        let answer = {
            let mut s = state.lock().unwrap();
            let answer = s.script.pop_front().unwrap_or(Answer {
                status: 200,
                headers: vec![],
                body: vec![],
            });
            s.requests.push(HttpRequest {
                path,
                headers,
                body,
                status: answer.status,
                at: Instant::now(),
            });
            answer
        };
        let mut out = format!(
            "HTTP/1.1 {} X\r\ncontent-type: application/x-protobuf\r\ncontent-length: {}\r\n",
            answer.status,
            answer.body.len()
        );
        for (name, value) in &answer.headers {
            out.push_str(&format!("{name}: {value}\r\n"));
        }
        out.push_str("\r\n");
        let mut bytes = out.into_bytes();
        bytes.extend_from_slice(&answer.body);
        if conn.write_all(&bytes).and_then(|()| conn.flush()).is_err() {
            return;
        }
    }
}

type Head = (usize, String, Vec<(String, String)>);

fn read_head(conn: &mut impl Read, buf: &mut Vec<u8>) -> Option<Head> {
    loop {
        let mut fields = [httparse::EMPTY_HEADER; 64];
        let mut req = httparse::Request::new(&mut fields);
        if let httparse::Status::Complete(len) = req.parse(buf).ok()? {
            let path = req.path?.to_owned();
            let headers = req
                .headers
                .iter()
                .map(|h| {
                    (
                        h.name.to_ascii_lowercase(),
                        String::from_utf8_lossy(h.value).into_owned(),
                    )
                })
                .collect();
            return Some((len, path, headers));
        }
        if buf.len() > HEAD_BYTES_MAX || !fill(conn, buf) {
            return None;
        }
    }
}

fn fill(conn: &mut impl Read, buf: &mut Vec<u8>) -> bool {
    let mut chunk = [0u8; 16 * 1024];
    match conn.read(&mut chunk) {
        Ok(0) | Err(_) => false,
        Ok(n) => {
            buf.extend_from_slice(&chunk[..n]);
            true
        }
    }
}

fn fill_to(conn: &mut impl Read, buf: &mut Vec<u8>, len: usize) -> bool {
    while buf.len() < len {
        if !fill(conn, buf) {
            return false;
        }
    }
    true
}

fn read_chunked(conn: &mut impl Read, buf: &mut Vec<u8>) -> Option<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let (used, size) = loop {
            match httparse::parse_chunk_size(buf).ok()? {
                httparse::Status::Complete(done) => break done,
                httparse::Status::Partial => {
                    if !fill(conn, buf) {
                        return None;
                    }
                }
            }
        };
        buf.drain(..used);
        let size = usize::try_from(size).ok()?;
        if size == 0 {
            // No trailers from our clients: just the final CRLF.
            fill_to(conn, buf, 2).then_some(())?;
            buf.drain(..2);
            return Some(body);
        }
        fill_to(conn, buf, size + 2).then_some(())?;
        body.extend(buf.drain(..size));
        buf.drain(..2);
    }
}
