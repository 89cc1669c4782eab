//! Adapts glommio's TCP streams to the tokio I/O traits that `h2` expects, with vectored
//! writes.
//!
//! Why not `tokio_util::compat`: it has no vectored write, so h2 writes every DATA frame
//! as two syscalls (the 9-byte frame head, then the payload) and cannot send a body made of
//! several buffers without first joining them. Here `poll_write_vectored` hands all of h2's
//! pieces (frame head + payload pieces) to one `sendmsg`, and an export body goes out straight
//! from the received buffers (see [`crate::chunks::Chunks`]).
//!
//! Reads are a direct non-blocking `recv` into h2's spare buffer capacity, without zeroing it
//! first: zeroing h2's up-to-256 KiB spare capacity per read was 3-5% of a shard's CPU under
//! load (memset in `scripts/profile.sh`). Only when the socket is empty does it wait, for
//! readability through io_uring (glommio's `poll_readable`, a shardgate patch), and then it
//! reads by itself again. h2 polls its reader on every wake-up of the connection, so while
//! that wait is pending reads answer Pending without a syscall. Per request at 100k spans/s
//! this is about 3 `recv` calls: two reads (h2's buffer starts at 8 KiB and grows to the
//! frame) and the one that finds the socket empty; glommio's own read path made 4
//! (`strace -c` by hand).

use std::io::{self, IoSlice};
use std::os::fd::AsRawFd;
use std::pin::Pin;
use std::task::{Context, Poll};

use futures_lite::AsyncWrite;
use glommio::net::TcpStream;
use tokio::io::ReadBuf;

/// The most buffers one `sendmsg` takes (h2 hands at most 64; Linux's IOV_MAX is 1024).
const IOVECS_MAX: usize = 64;

/// A glommio TCP stream seen through tokio's `AsyncRead`/`AsyncWrite`.
pub struct TcpIo {
    stream: TcpStream,
    /// The socket was found empty and glommio's readability poll may still be pending.
    waiting: bool,
}

impl TcpIo {
    /// Wraps a glommio stream.
    pub fn new(stream: TcpStream) -> TcpIo {
        TcpIo {
            stream,
            waiting: false,
        }
    }

    /// Stops sending but keeps reading (a lingering close).
    pub async fn shutdown_write(&mut self) -> io::Result<()> {
        self.stream
            .shutdown(std::net::Shutdown::Write)
            .await
            .map_err(io::Error::from)
    }
}

impl tokio::io::AsyncRead for TcpIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        loop {
            if !self.waiting {
                match recv_into(self.stream.as_raw_fd(), buf) {
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => self.waiting = true,
                    done => return Poll::Ready(done),
                }
            }
            // The socket is empty: wait for readability through io_uring (armed once, then
            // answered without a syscall until it fires), then read it ourselves, as much
            // as h2 has room for. One `recv` then takes a whole request that glommio's own
            // read would have split (its first read fills a small buffer of its own).
            match self.stream.poll_readable(cx) {
                Poll::Ready(Ok(())) => self.waiting = false,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

/// One non-blocking `recv` straight into the unfilled part of `buf`: no zeroing first (the
/// kernel writes the bytes; they are only read once it has).
fn recv_into(fd: i32, buf: &mut ReadBuf<'_>) -> io::Result<()> {
    // SAFETY: the region is only ever written (by the kernel below), never de-initialised.
    let unfilled = unsafe { buf.unfilled_mut() };
    let want = unfilled.len();
    loop {
        // SAFETY: `fd` is the stream's open socket; the destination is `want` bytes of memory
        // owned by `buf`, written by the kernel through the raw pointer only.
        let got = unsafe { libc::recv(fd, unfilled.as_mut_ptr().cast(), want, libc::MSG_DONTWAIT) };
        if got >= 0 {
            let got = got as usize;
            // SAFETY: the kernel initialised the first `got` bytes of the unfilled region.
            unsafe { buf.assume_init(got) };
            buf.advance(got);
            return Ok(());
        }
        let error = io::Error::last_os_error();
        if error.kind() != io::ErrorKind::Interrupted {
            return Err(error);
        }
    }
}

impl tokio::io::AsyncWrite for TcpIo {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match send_vectored(self.stream.as_raw_fd(), bufs) {
            Ok(n) => Poll::Ready(Ok(n)),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                // The socket is full: let glommio wait for it (it retries the first buffer
                // itself and registers the waker with io_uring).
                let first = bufs
                    .iter()
                    .find(|b| !b.is_empty())
                    .map_or(&[][..], |b| &b[..]);
                Pin::new(&mut self.stream).poll_write(cx, first)
            }
            Err(e) => Poll::Ready(Err(e)),
        }
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_close(cx)
    }
}

/// One non-blocking `sendmsg` of up to [`IOVECS_MAX`] buffers; `WouldBlock` when the socket
/// buffer is full. `MSG_NOSIGNAL`: a peer that left gives `EPIPE`, never a SIGPIPE.
fn send_vectored(fd: i32, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
    let bufs = bufs.get(..bufs.len().min(IOVECS_MAX)).unwrap_or(bufs);
    // SAFETY: msghdr is plain data; all-zero is a valid empty header (no name, no control).
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    // IoSlice is guaranteed ABI-compatible with `struct iovec` on Unix; sendmsg only reads
    // the buffers, which `bufs` borrows for the duration of the call.
    msg.msg_iov = bufs.as_ptr() as *mut libc::iovec;
    msg.msg_iovlen = bufs.len() as _;
    loop {
        // SAFETY: `fd` is the stream's open socket; `msg` points at `bufs.len()` valid iovecs
        // that outlive the call; no name or control buffers.
        let sent = unsafe { libc::sendmsg(fd, &msg, libc::MSG_NOSIGNAL | libc::MSG_DONTWAIT) };
        if sent >= 0 {
            return Ok(sent as usize);
        }
        let error = io::Error::last_os_error();
        if error.kind() != io::ErrorKind::Interrupted {
            return Err(error);
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;
    use std::io::{Read, Write};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    /// Reads get every byte, in order, whether the data is already there or arrives later
    /// (the wait-for-readability path).
    #[test]
    fn reads_everything_across_pauses() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let sent: Vec<u8> = (0..(1u32 << 20)).map(|i| (i % 251) as u8).collect();
        let expected = sent.clone();
        let writer = std::thread::spawn(move || {
            let (mut socket, _) = listener.accept().unwrap();
            for part in sent.chunks(300_000) {
                socket.write_all(part).unwrap();
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
        });
        let got = glommio::LocalExecutor::default().run(async {
            let stream = TcpStream::connect(addr).await.unwrap();
            let mut io = TcpIo::new(stream);
            let mut got = Vec::new();
            io.read_to_end(&mut got).await.unwrap();
            got
        });
        writer.join().unwrap();
        assert_eq!(got, expected);
    }

    /// Vectored writes put every buffer on the wire, in order.
    #[test]
    fn vectored_write_sends_all_buffers_in_order() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let reader = std::thread::spawn(move || {
            let (mut socket, _) = listener.accept().unwrap();
            let mut got = Vec::new();
            socket.read_to_end(&mut got).unwrap();
            got
        });
        let big = vec![7u8; 3 << 20];
        let expected: Vec<u8> = [&b"head"[..], &big, b"tail"].concat();
        glommio::LocalExecutor::default().run(async {
            let stream = TcpStream::connect(addr).await.unwrap();
            let mut io = TcpIo::new(stream);
            let mut pieces = vec![
                IoSlice::new(b"head"),
                IoSlice::new(&big),
                IoSlice::new(b"tail"),
            ];
            let mut left: &mut [IoSlice<'_>] = &mut pieces;
            while !left.is_empty() {
                let n = io.write_vectored(left).await.unwrap();
                IoSlice::advance_slices(&mut left, n);
            }
            io.shutdown().await.unwrap();
        });
        assert_eq!(reader.join().unwrap(), expected);
    }
}
