//! OTLP/HTTP helpers: a config with the `http` protocol enabled, and a raw HTTP/1.1 client over
//! std sockets (so tests control every byte and see every status).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use super::{free_port, Config};

/// A collector config with OTLP/HTTP on its own free port next to gRPC.
pub struct HttpConfig {
    /// The gRPC-side config (backend, batch, shards).
    pub base: Config,
    /// The OTLP/HTTP port on 127.0.0.1.
    pub http_port: u16,
    /// Extra YAML lines under `protocols.http` (without indentation), e.g. `read_header_timeout: 1s`.
    pub extra: Vec<String>,
}

impl HttpConfig {
    /// HTTP on a free port added to `base`.
    pub fn new(base: Config) -> HttpConfig {
        HttpConfig {
            base,
            http_port: free_port(),
            extra: Vec::new(),
        }
    }

    /// The config as YAML.
    pub fn yaml(&self) -> String {
        let grpc_line = format!("        endpoint: 127.0.0.1:{}\n", self.base.grpc_port);
        let mut http = format!(
            "      http:\n        endpoint: 127.0.0.1:{}\n",
            self.http_port
        );
        for line in &self.extra {
            for l in line.lines() {
                http.push_str(&format!("        {l}\n"));
            }
        }
        self.base
            .yaml()
            .replacen(&grpc_line, &format!("{grpc_line}{http}"), 1)
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.http_port)
    }
}

/// One parsed response.
#[derive(Debug, Clone)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Headers, names lowercase.
    pub headers: Vec<(String, String)>,
    /// Body bytes.
    pub body: Vec<u8>,
}

impl Response {
    /// The first value of header `name` (lowercase).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// Connects to the HTTP port with a 30 s read timeout.
pub fn connect(port: u16) -> TcpStream {
    let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    stream
        .set_read_timeout(Some(super::WAIT))
        .expect("read timeout");
    stream
}

/// A request with a Content-Length body.
pub fn request(path: &str, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut raw = format!("POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n");
    for (n, v) in headers {
        raw.push_str(&format!("{n}: {v}\r\n"));
    }
    raw.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    let mut raw = raw.into_bytes();
    raw.extend_from_slice(body);
    raw
}

/// Sends `raw` on a new connection and reads one response.
pub fn send(port: u16, raw: &[u8]) -> Response {
    let mut stream = connect(port);
    stream.write_all(raw).expect("write request");
    read_response(&mut stream).expect("a response")
}

/// POSTs `body` to `path` with a content type and optional content encoding.
pub fn post(
    port: u16,
    path: &str,
    content_type: &str,
    encoding: Option<&str>,
    body: &[u8],
) -> Response {
    let mut headers = vec![("Content-Type", content_type)];
    if let Some(e) = encoding {
        headers.push(("Content-Encoding", e));
    }
    send(port, &request(path, &headers, body))
}

/// Reads one response (Content-Length framed); `None` if the server closed first.
pub fn read_response(stream: &mut TcpStream) -> Option<Response> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut resp = httparse::Response::new(&mut headers);
        if let httparse::Status::Complete(len) = resp.parse(&buf).expect("valid response head") {
            let status = resp.code.expect("status");
            let headers: Vec<(String, String)> = resp
                .headers
                .iter()
                .map(|h| {
                    (
                        h.name.to_ascii_lowercase(),
                        String::from_utf8_lossy(h.value).into_owned(),
                    )
                })
                .collect();
            if status == 100 {
                buf.drain(..len);
                continue;
            }
            let length: usize = headers
                .iter()
                .find(|(n, _)| n == "content-length")
                .map(|(_, v)| v.parse().expect("numeric content-length"))
                .expect("content-length on every response");
            while buf.len() < len + length {
                let n = stream.read(&mut chunk).ok()?;
                if n == 0 {
                    return None;
                }
                buf.extend_from_slice(&chunk[..n]);
            }
            return Some(Response {
                status,
                headers,
                body: buf[len..len + length].to_vec(),
            });
        }
        let n = stream.read(&mut chunk).ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// Whether the server closes `stream` (EOF or reset) within `timeout`.
pub fn closed_within(stream: &mut TcpStream, timeout: Duration) -> bool {
    stream
        .set_read_timeout(Some(timeout))
        .expect("read timeout");
    let mut chunk = [0u8; 1024];
    loop {
        match stream.read(&mut chunk) {
            Ok(0) => return true,
            Ok(_) => continue,
            Err(e)
                if e.kind() == std::io::ErrorKind::WouldBlock
                    || e.kind() == std::io::ErrorKind::TimedOut =>
            {
                return false
            }
            Err(_) => return true,
        }
    }
}

/// The `google.rpc.Status` message in a protobuf error body.
pub fn status_message(body: &[u8]) -> String {
    use prost::Message;
    #[derive(Clone, PartialEq, prost::Message)]
    struct RpcStatus {
        #[prost(int32, tag = "1")]
        code: i32,
        #[prost(string, tag = "2")]
        message: String,
    }
    RpcStatus::decode(body)
        .expect("google.rpc.Status body")
        .message
}

/// VmRSS (resident now) of process `pid` in KiB.
pub fn rss_kib(pid: u32) -> u64 {
    proc_status_kib(pid, "VmRSS:")
}

/// VmHWM (peak resident since start) of process `pid` in KiB.
pub fn peak_rss_kib(pid: u32) -> u64 {
    proc_status_kib(pid, "VmHWM:")
}

fn proc_status_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS")
}
