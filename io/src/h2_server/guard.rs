//! Guards one HTTP/2 server connection against what a client controls and `h2` does not
//! bound: floods of PING, SETTINGS and RST_STREAM frames, and a reader that stops reading.
//!
//! [`Guarded`] sits between the socket (plaintext or TLS) and `h2`. It reads every frame
//! header the client sends (9 bytes each; payloads are skipped, never copied) and keeps a
//! token bucket per frame class; a write that makes no progress for `send_timeout` fails.
//! Either trips the connection's [`Tripwire`], on which the serve loop sends GOAWAY with
//! ENHANCE_YOUR_CALM and closes it. Other connections share nothing with this one.

use std::cell::Cell;
use std::future::{poll_fn, Future};
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::keepalive::Activity;

/// Why a client's connection was closed by the guard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Abuse {
    /// More PING or SETTINGS frames than the control-frame budget allows.
    ControlFlood,
    /// More RST_STREAM frames than the reset budget allows (the rapid-reset pattern,
    /// CVE-2023-44487).
    ResetFlood,
    /// The client left a response unsendable (closed window or unread socket) past the send
    /// timeout.
    StalledReader,
    /// `h2` itself closed the connection with ENHANCE_YOUR_CALM (for example a CONTINUATION
    /// flood, or too many streams reset before they were accepted).
    ProtocolLimit,
}

impl Abuse {
    /// Every reason, in a fixed order (for per-reason counters).
    pub const ALL: [Abuse; 4] = [
        Abuse::ControlFlood,
        Abuse::ResetFlood,
        Abuse::StalledReader,
        Abuse::ProtocolLimit,
    ];

    /// This reason's position in [`Abuse::ALL`].
    pub fn index(self) -> usize {
        self as usize
    }

    /// A short label, used in logs and as a metric label.
    pub fn as_str(self) -> &'static str {
        match self {
            Abuse::ControlFlood => "control_flood",
            Abuse::ResetFlood => "reset_flood",
            Abuse::StalledReader => "stalled_reader",
            Abuse::ProtocolLimit => "protocol_limit",
        }
    }
}

impl std::fmt::Display for Abuse {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The budgets a client's frames are held to; see `tuning/default.yaml` for the defaults'
/// reasons.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Limits {
    /// PING and SETTINGS frames a client may send in a burst.
    pub control_frames_burst: u32,
    /// PING and SETTINGS frames per second the burst refills at; a new stream or request
    /// data refills it at once, so a busy client's keepalive and BDP pings are never counted
    /// against it.
    pub control_frames_per_second: u32,
    /// RST_STREAM frames a client may send in a burst.
    pub resets_burst: u32,
    /// RST_STREAM frames per second the burst refills at.
    pub resets_per_second: u32,
    /// Longest a response may wait for the client to read it (window or socket).
    pub send_timeout: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            control_frames_burst: 100,
            control_frames_per_second: 10,
            resets_burst: 200,
            resets_per_second: 100,
            send_timeout: Duration::from_secs(30),
        }
    }
}

/// One connection's trip state, shared by its socket guard, its stream tasks and its serve
/// loop (all on one shard, hence `Rc` and `Cell`).
#[derive(Default)]
pub(crate) struct Tripwire {
    abuse: Cell<Option<Abuse>>,
    waker: Cell<Option<Waker>>,
}

impl Tripwire {
    /// Marks the connection as abusive (the first reason wins) and wakes the serve loop.
    pub(crate) fn trip(&self, abuse: Abuse) {
        if self.abuse.get().is_none() {
            self.abuse.set(Some(abuse));
            if let Some(waker) = self.waker.take() {
                waker.wake();
            }
        }
    }

    /// The reason, once tripped.
    pub(crate) fn tripped(&self) -> Option<Abuse> {
        self.abuse.get()
    }

    /// Completes when the connection is tripped.
    pub(crate) fn wait(&self) -> impl Future<Output = Abuse> + '_ {
        poll_fn(|cx| match self.abuse.get() {
            Some(abuse) => Poll::Ready(abuse),
            None => {
                self.waker.set(Some(cx.waker().clone()));
                Poll::Pending
            }
        })
    }
}

/// A token bucket: `burst` tokens, refilled at `per_second`.
struct Bucket {
    tokens: f64,
    burst: f64,
    per_second: f64,
    last: Instant,
}

impl Bucket {
    fn new(burst: u32, per_second: u32) -> Bucket {
        Bucket {
            tokens: f64::from(burst),
            burst: f64::from(burst),
            per_second: f64::from(per_second),
            last: Instant::now(),
        }
    }

    /// Takes one token; false when the bucket is empty.
    fn take(&mut self) -> bool {
        let now = Instant::now();
        let refill = now.duration_since(self.last).as_secs_f64() * self.per_second;
        self.tokens = (self.tokens + refill).min(self.burst);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }

    fn fill(&mut self) {
        self.tokens = self.burst;
    }
}

/// The client connection preface (RFC 9113 §3.4), which precedes the first frame.
const PREFACE_LEN: usize = 24;
/// Every HTTP/2 frame starts with a 9-byte header: length (24 bits), type, flags, stream id.
const FRAME_HEAD_LEN: usize = 9;

/// Frame types and the ACK flag (RFC 9113 §6).
const DATA: u8 = 0x0;
const HEADERS: u8 = 0x1;
const RST_STREAM: u8 = 0x3;
const SETTINGS: u8 = 0x4;
const PING: u8 = 0x6;
const ACK: u8 = 0x1;

/// One frame header as read off the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FrameHead {
    pub(crate) len: u32,
    pub(crate) kind: u8,
    pub(crate) flags: u8,
}

/// Finds frame headers in the client's byte stream, whatever the read boundaries.
pub(crate) struct FrameScan {
    preface_left: usize,
    head: [u8; FRAME_HEAD_LEN],
    have: usize,
    skip: usize,
}

impl Default for FrameScan {
    fn default() -> Self {
        FrameScan {
            preface_left: PREFACE_LEN,
            head: [0; FRAME_HEAD_LEN],
            have: 0,
            skip: 0,
        }
    }
}

impl FrameScan {
    /// Feeds the next bytes of the stream; calls `on_frame` for each complete frame header.
    pub(crate) fn feed(&mut self, mut bytes: &[u8], mut on_frame: impl FnMut(FrameHead)) {
        let preface = self.preface_left.min(bytes.len());
        self.preface_left -= preface;
        bytes = &bytes[preface..];
        while !bytes.is_empty() {
            if self.skip > 0 {
                let n = self.skip.min(bytes.len());
                self.skip -= n;
                bytes = &bytes[n..];
                continue;
            }
            let n = (FRAME_HEAD_LEN - self.have).min(bytes.len());
            self.head[self.have..self.have + n].copy_from_slice(&bytes[..n]);
            self.have += n;
            bytes = &bytes[n..];
            if self.have == FRAME_HEAD_LEN {
                self.have = 0;
                let h = self.head;
                let len = u32::from_be_bytes([0, h[0], h[1], h[2]]);
                self.skip = len as usize;
                on_frame(FrameHead {
                    len,
                    kind: h[3],
                    flags: h[4],
                });
            }
        }
    }
}

/// A server connection's socket with the guard in front of it.
pub(crate) struct Guarded<IO> {
    io: IO,
    scan: FrameScan,
    control: Bucket,
    resets: Bucket,
    send_timeout: Duration,
    /// Armed while a write waits on the socket; a write that completes disarms it.
    write_stall: Option<Pin<Box<glommio::timer::Timer>>>,
    trip: Rc<Tripwire>,
    activity: Rc<Activity>,
}

impl<IO> Guarded<IO> {
    pub(crate) fn new(
        io: IO,
        limits: Limits,
        trip: Rc<Tripwire>,
        activity: Rc<Activity>,
    ) -> Guarded<IO> {
        Guarded {
            io,
            scan: FrameScan::default(),
            control: Bucket::new(
                limits.control_frames_burst,
                limits.control_frames_per_second,
            ),
            resets: Bucket::new(limits.resets_burst, limits.resets_per_second),
            send_timeout: limits.send_timeout,
            write_stall: None,
            trip,
            activity,
        }
    }

    fn inspect(&mut self, bytes: &[u8]) {
        let Guarded {
            scan,
            control,
            resets,
            trip,
            ..
        } = self;
        scan.feed(bytes, |head| match head.kind {
            HEADERS => control.fill(),
            DATA if head.len > 0 => control.fill(),
            // Each counted frame takes a token; the arm runs when none is left.
            PING | SETTINGS if head.flags & ACK == 0 && !control.take() => {
                trip.trip(Abuse::ControlFlood)
            }
            RST_STREAM if !resets.take() => trip.trip(Abuse::ResetFlood),
            _ => {}
        });
    }

    /// Passes a write's result on, failing a write that has waited past the send timeout.
    fn deadline<T>(
        &mut self,
        cx: &mut Context<'_>,
        poll: Poll<io::Result<T>>,
    ) -> Poll<io::Result<T>> {
        if poll.is_ready() {
            self.write_stall = None;
            return poll;
        }
        let send_timeout = self.send_timeout;
        let timer = self
            .write_stall
            .get_or_insert_with(|| Box::pin(crate::timer::timer(send_timeout)));
        if timer.as_mut().poll(cx).is_ready() {
            self.trip.trip(Abuse::StalledReader);
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!("client read nothing for {send_timeout:?}"),
            )));
        }
        Poll::Pending
    }
}

impl<IO: AsyncRead + Unpin> AsyncRead for Guarded<IO> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.trip.tripped().is_some() {
            // Nothing more is read from a tripped client; the serve loop is closing it (and
            // is woken by the tripwire, not by this socket).
            return Poll::Pending;
        }
        let before = buf.filled().len();
        let poll = Pin::new(&mut this.io).poll_read(cx, buf);
        if poll.is_ready() && buf.filled().len() > before {
            this.activity.read();
            this.inspect(&buf.filled()[before..]);
        }
        poll
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for Guarded<IO> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let poll = Pin::new(&mut this.io).poll_write(cx, buf);
        this.deadline(cx, poll)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let poll = Pin::new(&mut this.io).poll_write_vectored(cx, bufs);
        this.deadline(cx, poll)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let poll = Pin::new(&mut this.io).poll_flush(cx);
        this.deadline(cx, poll)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(kind: u8, flags: u8, payload: &[u8]) -> Vec<u8> {
        let len = payload.len() as u32;
        let mut out = len.to_be_bytes()[1..].to_vec();
        out.extend_from_slice(&[kind, flags, 0, 0, 0, 1]);
        out.extend_from_slice(payload);
        out
    }

    #[test]
    fn frame_heads_are_found_across_any_read_boundaries() {
        let mut stream = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
        stream.extend(frame(SETTINGS, 0, &[0; 6]));
        stream.extend(frame(HEADERS, 0x4, &[1; 20]));
        stream.extend(frame(DATA, 0x1, &[2; 300]));
        stream.extend(frame(PING, ACK, &[0; 8]));
        let want = vec![(SETTINGS, 6), (HEADERS, 20), (DATA, 300), (PING, 8)];
        for chunk in [1, 2, 7, 9, 10, 64, stream.len()] {
            let mut scan = FrameScan::default();
            let mut seen = Vec::new();
            for piece in stream.chunks(chunk) {
                scan.feed(piece, |h| seen.push((h.kind, h.len)));
            }
            assert_eq!(seen, want, "read in pieces of {chunk}");
        }
    }

    #[test]
    fn a_bucket_refuses_past_its_burst_and_refills() {
        let mut bucket = Bucket::new(3, 0);
        assert!(bucket.take() && bucket.take() && bucket.take());
        assert!(!bucket.take());
        bucket.fill();
        assert!(bucket.take());
    }

    #[test]
    fn the_first_reason_wins() {
        let trip = Tripwire::default();
        assert_eq!(trip.tripped(), None);
        trip.trip(Abuse::ResetFlood);
        trip.trip(Abuse::ControlFlood);
        assert_eq!(trip.tripped(), Some(Abuse::ResetFlood));
    }
}
