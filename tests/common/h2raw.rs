//! A raw HTTP/2 client: frames written and read by hand, so a test can send what no
//! well-behaved client library would (floods, resets, a window that never opens).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// Frame types and flags (RFC 9113 §6).
pub const DATA: u8 = 0x0;
pub const HEADERS: u8 = 0x1;
pub const RST_STREAM: u8 = 0x3;
pub const SETTINGS: u8 = 0x4;
pub const PING: u8 = 0x6;
pub const GOAWAY: u8 = 0x7;
pub const CONTINUATION: u8 = 0x9;
pub const END_STREAM: u8 = 0x1;
pub const END_HEADERS: u8 = 0x4;
/// SETTINGS identifiers.
pub const SETTINGS_MAX_CONCURRENT_STREAMS: u16 = 0x3;
pub const SETTINGS_INITIAL_WINDOW_SIZE: u16 = 0x4;
/// Error codes.
pub const REFUSED_STREAM: u32 = 0x7;
pub const CANCEL: u32 = 0x8;
pub const ENHANCE_YOUR_CALM: u32 = 0xb;

/// One frame as read.
#[derive(Debug, Clone)]
pub struct Frame {
    pub kind: u8,
    pub flags: u8,
    pub stream: u32,
    pub payload: Vec<u8>,
}

impl Frame {
    /// The error code of a GOAWAY or RST_STREAM frame.
    pub fn error_code(&self) -> Option<u32> {
        let at = match self.kind {
            GOAWAY => 4,
            RST_STREAM => 0,
            _ => return None,
        };
        let b = self.payload.get(at..at + 4)?;
        Some(u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
    }
}

/// The bytes of one frame.
pub fn frame(kind: u8, flags: u8, stream: u32, payload: &[u8]) -> Vec<u8> {
    let len = u32::try_from(payload.len()).expect("frame length");
    let mut out = len.to_be_bytes()[1..].to_vec();
    out.push(kind);
    out.push(flags);
    out.extend_from_slice(&stream.to_be_bytes());
    out.extend_from_slice(payload);
    out
}

/// A SETTINGS frame carrying `settings`.
pub fn settings(settings: &[(u16, u32)]) -> Vec<u8> {
    let mut payload = Vec::new();
    for (id, value) in settings {
        payload.extend_from_slice(&id.to_be_bytes());
        payload.extend_from_slice(&value.to_be_bytes());
    }
    frame(SETTINGS, 0, 0, &payload)
}

/// An RST_STREAM frame.
pub fn rst_stream(stream: u32, code: u32) -> Vec<u8> {
    frame(RST_STREAM, 0, stream, &code.to_be_bytes())
}

/// HPACK "literal header field without indexing, new name" (RFC 7541 §6.2.2) for short
/// names and values: no table state, so any number of blocks can be made independently.
pub fn hpack_literal(out: &mut Vec<u8>, name: &str, value: &str) {
    out.push(0x00);
    hpack_string(out, name.as_bytes());
    hpack_string(out, value.as_bytes());
}

fn hpack_string(out: &mut Vec<u8>, s: &[u8]) {
    // 7-bit prefix integer (RFC 7541 §5.1), no Huffman.
    let mut n = s.len();
    if n < 127 {
        out.push(n as u8);
    } else {
        out.push(127);
        n -= 127;
        while n >= 128 {
            out.push((n % 128 + 128) as u8);
            n /= 128;
        }
        out.push(n as u8);
    }
    out.extend_from_slice(s);
}

/// The header block of a gRPC trace export request, with `extra` headers.
pub fn export_headers(extra: &[(&str, &str)]) -> Vec<u8> {
    let mut block = Vec::new();
    for (name, value) in [
        (":method", "POST"),
        (":scheme", "http"),
        (
            ":path",
            "/opentelemetry.proto.collector.trace.v1.TraceService/Export",
        ),
        (":authority", "127.0.0.1"),
        ("content-type", "application/grpc"),
        ("te", "trailers"),
    ]
    .iter()
    .chain(extra)
    {
        hpack_literal(&mut block, name, value);
    }
    block
}

/// A gRPC message frame holding `message`.
pub fn grpc_message(message: &[u8]) -> Vec<u8> {
    let mut out = vec![0];
    out.extend_from_slice(&u32::try_from(message.len()).unwrap().to_be_bytes());
    out.extend_from_slice(message);
    out
}

/// A raw connection to the receiver.
pub struct Raw {
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Raw {
    /// Connects and sends the preface and `initial` settings.
    pub fn connect(port: u16, initial: &[(u16, u32)]) -> Raw {
        let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let mut raw = Raw {
            stream,
            buf: Vec::new(),
        };
        let mut hello = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
        hello.extend(settings(initial));
        raw.send(&hello);
        raw
    }

    /// Writes `bytes`; false when the server has closed the connection.
    pub fn send(&mut self, bytes: &[u8]) -> bool {
        self.stream.write_all(bytes).is_ok()
    }

    /// The next frame, or `None` once the connection is closed or `timeout` passes.
    pub fn next(&mut self, timeout: Duration) -> Option<Frame> {
        let deadline = Instant::now() + timeout;
        loop {
            if self.buf.len() >= 9 {
                let len = u32::from_be_bytes([0, self.buf[0], self.buf[1], self.buf[2]]) as usize;
                if self.buf.len() >= 9 + len {
                    let head: Vec<u8> = self.buf.drain(..9 + len).collect();
                    return Some(Frame {
                        kind: head[3],
                        flags: head[4],
                        stream: u32::from_be_bytes([head[5], head[6], head[7], head[8]])
                            & 0x7fff_ffff,
                        payload: head[9..].to_vec(),
                    });
                }
            }
            if Instant::now() >= deadline {
                return None;
            }
            let mut chunk = [0u8; 16384];
            match self.stream.read(&mut chunk) {
                Ok(0) => return None,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(_) => return None,
            }
        }
    }

    /// Reads until a frame matching `want` arrives (returned) or the connection closes or
    /// `timeout` passes (`None`), answering nothing.
    pub fn until(&mut self, timeout: Duration, want: impl Fn(&Frame) -> bool) -> Option<Frame> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            let frame = self.next(deadline.saturating_duration_since(Instant::now()))?;
            if want(&frame) {
                return Some(frame);
            }
        }
        None
    }

    /// Reads until the server closes the connection; the GOAWAY it sent before, if any.
    pub fn goaway_then_close(&mut self, timeout: Duration) -> (Option<Frame>, bool) {
        let deadline = Instant::now() + timeout;
        let mut goaway = None;
        while Instant::now() < deadline {
            match self.next(deadline.saturating_duration_since(Instant::now())) {
                Some(frame) if frame.kind == GOAWAY => goaway = Some(frame),
                Some(_) => {}
                None => return (goaway, Instant::now() < deadline),
            }
        }
        (goaway, false)
    }

    /// As a well-behaved client: ACKs the server's PINGs and SETTINGS until the connection
    /// closes or `timeout` passes. The GOAWAY frames seen, and whether it closed.
    pub fn answer_until_closed(&mut self, timeout: Duration) -> (Vec<Frame>, bool) {
        let deadline = Instant::now() + timeout;
        let mut goaways = Vec::new();
        while Instant::now() < deadline {
            match self.next(deadline.saturating_duration_since(Instant::now())) {
                Some(f) if f.kind == PING && f.flags == 0 => {
                    self.send(&frame(PING, 0x1, 0, &f.payload));
                }
                Some(f) if f.kind == SETTINGS && f.flags == 0 => {
                    self.send(&frame(SETTINGS, 0x1, 0, &[]));
                }
                Some(f) if f.kind == GOAWAY => goaways.push(f),
                Some(_) => {}
                None => return (goaways, Instant::now() < deadline),
            }
        }
        (goaways, false)
    }
}
