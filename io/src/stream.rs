//! Adapts glommio's TCP streams to the tokio I/O traits that `h2` expects.

use glommio::net::TcpStream;
use tokio_util::compat::{Compat, FuturesAsyncReadCompatExt};

/// A glommio TCP stream seen through tokio's `AsyncRead`/`AsyncWrite`.
pub(crate) type H2Io = Compat<TcpStream>;

/// Wraps a glommio stream for `h2`.
pub(crate) fn h2_io(stream: TcpStream) -> H2Io {
    stream.compat()
}
