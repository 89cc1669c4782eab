//! A read-ahead buffer under TLS: rustls asks its transport for 4 KiB at a time (a fixed
//! `READ_SIZE` in its deframer), which made a 30 KiB OTLP request eight `recv` calls and
//! eight buffer resizes; one `recv` of up to [`READ_AHEAD_BYTES`] here serves them all.
//! Measured with `scripts/bench.sh --tls` (benches/RESULTS.md, 2026-12-02).

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::stream::TcpIo;

/// Bytes asked of the socket at once.
pub const READ_AHEAD_BYTES: usize = 64 * 1024;

/// A socket whose reads go through a buffer of [`READ_AHEAD_BYTES`]; writes pass through.
pub struct ReadAhead {
    inner: TcpIo,
    buf: Box<[u8]>,
    start: usize,
    end: usize,
}

impl ReadAhead {
    /// Wraps `inner`.
    pub fn new(inner: TcpIo) -> ReadAhead {
        ReadAhead {
            inner,
            buf: vec![0; READ_AHEAD_BYTES].into_boxed_slice(),
            start: 0,
            end: 0,
        }
    }

    /// The socket beneath.
    pub fn get_mut(&mut self) -> &mut TcpIo {
        &mut self.inner
    }
}

impl AsyncRead for ReadAhead {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        out: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.start == this.end {
            // Empty: a large read goes straight to the caller, a small one refills us.
            if out.remaining() >= this.buf.len() {
                return Pin::new(&mut this.inner).poll_read(cx, out);
            }
            let mut fill = ReadBuf::new(&mut this.buf);
            match Pin::new(&mut this.inner).poll_read(cx, &mut fill) {
                Poll::Ready(Ok(())) => {
                    this.start = 0;
                    this.end = fill.filled().len();
                }
                other => return other,
            }
            if this.end == 0 {
                return Poll::Ready(Ok(())); // end of stream
            }
        }
        let n = out.remaining().min(this.end - this.start);
        out.put_slice(&this.buf[this.start..this.start + n]);
        this.start += n;
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for ReadAhead {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}
