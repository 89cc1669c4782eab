//! Guards one HTTP/2 server connection against what a client controls and `h2` does not
//! bound: floods of PING, SETTINGS and RST_STREAM frames, pings more frequent than the
//! keepalive enforcement policy allows, and a reader that stops reading.
//!
//! [`Guarded`] sits between the socket (plaintext or TLS) and `h2`. It reads every frame
//! header the client sends (9 bytes each; payloads are skipped, never copied), keeps a
//! token bucket per frame class and counts ping strikes; a write that makes no progress for
//! `send_timeout` fails. Any of these trips the connection's [`Tripwire`], on which the
//! serve loop sends GOAWAY with ENHANCE_YOUR_CALM and closes it. Other connections share
//! nothing with this one.
//!
//! The guard also follows the frame headers `h2` writes: as grpc-go, each HEADERS or DATA
//! frame the server sends clears the client's ping strikes. And `h2` sends no debug data in
//! its GOAWAY, while gRPC clients back off only on the debug data `too_many_pings`, so for
//! that reason the guard writes the GOAWAY itself:
//! 1. the outgoing frame headers say where each outgoing frame ends;
//! 2. once tripped, it lets `h2` finish the frame under way, then writes its own GOAWAY;
//! 3. whatever `h2` writes after that (its own GOAWAY included) is dropped, as the
//!    connection is closing.

use std::cell::Cell;
use std::future::{poll_fn, Future};
use std::io;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{ready, Context, Poll, Waker};
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::keepalive::{Activity, Enforcement, PingStrikes};

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
    /// The client pinged more often than `keepalive.enforcement_policy` allows.
    TooManyPings,
}

impl Abuse {
    /// Every reason, in a fixed order (for per-reason counters).
    pub const ALL: [Abuse; 5] = [
        Abuse::ControlFlood,
        Abuse::ResetFlood,
        Abuse::StalledReader,
        Abuse::ProtocolLimit,
        Abuse::TooManyPings,
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
            Abuse::TooManyPings => "too_many_pings",
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
const GOAWAY: u8 = 0x7;
const ACK: u8 = 0x1;

/// The debug data of a GOAWAY for too many pings, which gRPC clients look for (gRFC A8).
const TOO_MANY_PINGS: &[u8] = b"too_many_pings";

/// One frame header as read off the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FrameHead {
    pub(crate) len: u32,
    pub(crate) kind: u8,
    pub(crate) flags: u8,
    pub(crate) stream: u32,
}

/// Finds frame headers in a connection's byte stream, whatever the read or write
/// boundaries.
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
    /// A scan of the server's side of the stream, which has no preface.
    pub(crate) fn outgoing() -> FrameScan {
        FrameScan {
            preface_left: 0,
            ..FrameScan::default()
        }
    }

    /// Bytes left before the current frame ends (0 at a frame boundary). Within a frame
    /// header it counts to the header's end only, as the payload length is not known yet.
    pub(crate) fn to_boundary(&self) -> usize {
        match (self.preface_left, self.have, self.skip) {
            (0, 0, skip) => skip,
            (0, have, _) => FRAME_HEAD_LEN - have,
            (preface, _, _) => preface,
        }
    }

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
                    // The top bit is reserved (RFC 9113 §4.1).
                    stream: u32::from_be_bytes([h[5], h[6], h[7], h[8]]) & 0x7fff_ffff,
                });
            }
        }
    }
}

/// The GOAWAY the guard writes itself, ahead of `h2`'s (see the module docs).
#[derive(Debug, PartialEq, Eq)]
enum Farewell {
    None,
    /// Due at the next outgoing frame boundary; `sent` bytes of `frame` are written.
    Due {
        frame: Vec<u8>,
        sent: usize,
    },
    /// Written: `h2`'s bytes from here on are dropped.
    Sent,
}

/// A GOAWAY frame (RFC 9113 §6.8) naming `last_stream` as the last one processed.
fn goaway_frame(last_stream: u32, reason: h2::Reason, debug_data: &[u8]) -> Vec<u8> {
    let len = 8 + debug_data.len();
    let mut frame = Vec::with_capacity(FRAME_HEAD_LEN + len);
    // At most 8 + 14 bytes: the 24-bit length cannot overflow.
    frame.extend_from_slice(&(len as u32).to_be_bytes()[1..]);
    frame.extend_from_slice(&[GOAWAY, 0, 0, 0, 0, 0]);
    frame.extend_from_slice(&(last_stream & 0x7fff_ffff).to_be_bytes());
    frame.extend_from_slice(&u32::from(reason).to_be_bytes());
    frame.extend_from_slice(debug_data);
    frame
}

/// A server connection's socket with the guard in front of it.
pub(crate) struct Guarded<IO> {
    io: IO,
    scan: FrameScan,
    control: Bucket,
    resets: Bucket,
    /// Present when `keepalive.enforcement_policy` is.
    pings: Option<PingStrikes>,
    /// The highest stream id the client has opened (grpc-go's `maxStreamID`).
    last_stream: u32,
    /// The frames `h2` writes: where each ends, and whether it answers a stream.
    written: FrameScan,
    farewell: Farewell,
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
        enforcement: Option<Enforcement>,
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
            pings: enforcement.map(PingStrikes::new),
            last_stream: 0,
            written: FrameScan::outgoing(),
            farewell: Farewell::None,
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
            pings,
            last_stream,
            farewell,
            trip,
            activity,
            ..
        } = self;
        scan.feed(bytes, |head| match head.kind {
            HEADERS => {
                control.fill();
                // New streams take ever higher ids (RFC 9113 §5.1.1); trailers name an
                // older one.
                *last_stream = (*last_stream).max(head.stream);
            }
            DATA if head.len > 0 => control.fill(),
            PING if head.flags & ACK == 0 => {
                // Each counted frame takes a token; a flood trips when none is left.
                // Streams count once h2 has accepted them, so one opened earlier in this same
                // read is not counted yet; that matters only to pings min_time to 2h apart,
                // which seldom share a read with a new stream.
                if !control.take() {
                    trip.trip(Abuse::ControlFlood);
                } else if pings
                    .as_mut()
                    .is_some_and(|p| p.ping(Instant::now(), activity.open_streams()))
                    && trip.tripped().is_none()
                {
                    *farewell = Farewell::Due {
                        frame: goaway_frame(
                            *last_stream,
                            h2::Reason::ENHANCE_YOUR_CALM,
                            TOO_MANY_PINGS,
                        ),
                        sent: 0,
                    };
                    trip.trip(Abuse::TooManyPings);
                }
            }
            SETTINGS if head.flags & ACK == 0 && !control.take() => trip.trip(Abuse::ControlFlood),
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

impl<IO: AsyncWrite + Unpin> Guarded<IO> {
    /// Follows bytes `h2` has written.
    fn wrote(&mut self, bytes: &[u8]) {
        let Guarded { written, pings, .. } = self;
        // Without a policy no ping strikes and no farewell is ever due: nothing to follow.
        let Some(pings) = pings else {
            return;
        };
        written.feed(bytes, |head| {
            if matches!(head.kind, HEADERS | DATA) {
                pings.answered();
            }
        });
    }

    /// Writes the farewell GOAWAY if it is due and `h2` is between frames. Ready once
    /// nothing is left to do before `h2`'s next bytes.
    fn poll_farewell(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while let Farewell::Due { frame, sent } = &mut self.farewell {
            if self.written.to_boundary() > 0 {
                return Poll::Ready(Ok(()));
            }
            let n = ready!(Pin::new(&mut self.io).poll_write(cx, &frame[*sent..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            *sent += n;
            if *sent == frame.len() {
                self.farewell = Farewell::Sent;
            }
        }
        Poll::Ready(Ok(()))
    }

    /// One write of `h2`'s bytes, with the farewell put in at a frame boundary.
    fn write(&mut self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        ready!(self.poll_farewell(cx))?;
        let buf = match self.farewell {
            // The connection is closing: what h2 writes now need not reach the client.
            Farewell::Sent => return Poll::Ready(Ok(buf.len())),
            // Mid-frame: up to the frame's end only, so the farewell follows it.
            Farewell::Due { .. } => &buf[..self.written.to_boundary().min(buf.len())],
            Farewell::None => buf,
        };
        let n = ready!(Pin::new(&mut self.io).poll_write(cx, buf))?;
        self.wrote(&buf[..n]);
        Poll::Ready(Ok(n))
    }

    fn write_vectored(
        &mut self,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        if self.farewell != Farewell::None {
            let first = bufs.iter().find(|b| !b.is_empty()).map_or(&[][..], |b| b);
            return self.write(cx, first);
        }
        let n = ready!(Pin::new(&mut self.io).poll_write_vectored(cx, bufs))?;
        let mut left = n;
        for buf in bufs {
            let take = left.min(buf.len());
            self.wrote(&buf[..take]);
            left -= take;
        }
        Poll::Ready(Ok(n))
    }

    fn flush(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_farewell(cx))?;
        Pin::new(&mut self.io).poll_flush(cx)
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
        let poll = this.write(cx, buf);
        this.deadline(cx, poll)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let poll = this.write_vectored(cx, bufs);
        this.deadline(cx, poll)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let poll = this.flush(cx);
        this.deadline(cx, poll)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        // h2 shuts down between frames, so a farewell still due goes out here at the latest.
        let poll = this.flush(cx);
        ready!(this.deadline(cx, poll))?;
        Pin::new(&mut this.io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests;
