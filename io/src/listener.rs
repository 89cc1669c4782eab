//! Per-shard SO_REUSEPORT listeners.
//!
//! Every shard binds the same address with SO_REUSEPORT, so the kernel spreads incoming
//! connections over the shards by a hash of the 4-tuple and no shard ever hands a connection
//! to another. We build the socket ourselves (not `glommio::net::TcpListener::bind`) because
//! the listen backlog must be a config knob and glommio hard-codes it.

use std::net::SocketAddr;
use std::os::fd::{FromRawFd, IntoRawFd};

use glommio::net::{TcpListener, TcpStream};
use socket2::{Domain, Protocol, Socket, Type};

use crate::IoError;

/// Binds `addr` with SO_REUSEPORT on the calling shard's executor.
///
/// Must be called from inside a glommio executor: the listener is registered with its ring.
pub fn bind_reuseport(addr: SocketAddr, backlog: u32) -> Result<TcpListener, IoError> {
    let listen_err = |source| IoError::Listen { addr, source };
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))
        .map_err(listen_err)?;
    socket.set_reuse_port(true).map_err(listen_err)?;
    socket.set_reuse_address(true).map_err(listen_err)?;
    socket.set_nonblocking(true).map_err(listen_err)?;
    socket.bind(&addr.into()).map_err(listen_err)?;
    let backlog = i32::try_from(backlog).unwrap_or(i32::MAX);
    socket.listen(backlog).map_err(listen_err)?;
    let fd = socket.into_raw_fd();
    // SAFETY: `fd` is a bound, listening TCP socket that we own exclusively (just released
    // from `socket`), which is what glommio's `TcpListener::from_raw_fd` requires.
    Ok(unsafe { TcpListener::from_raw_fd(fd) })
}

/// Fails if another socket already listens on `addr`.
///
/// SO_REUSEPORT lets any process of the same user bind a port we listen on and take a share
/// of its connections, so a second instance started by mistake would silently split traffic.
/// Binding once without SO_REUSEPORT before the shards bind turns that into "address in use",
/// as every other server reports it. Port 0 (any free port) needs no check.
pub fn ensure_free(addr: SocketAddr) -> Result<(), IoError> {
    if addr.port() == 0 {
        return Ok(());
    }
    let listen_err = |source| IoError::Listen { addr, source };
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))
        .map_err(listen_err)?;
    // SO_REUSEADDR (as Go and most servers set) so sockets in TIME_WAIT do not count.
    socket.set_reuse_address(true).map_err(listen_err)?;
    socket.bind(&addr.into()).map_err(listen_err)?;
    socket.listen(1).map_err(listen_err)?;
    Ok(())
}

/// Accepts the next connection, with TCP_NODELAY set.
///
/// Nagle's algorithm holds small gRPC responses back by up to 40 ms; a peer measured without
/// TCP_NODELAY had 10–20 ms p99 at 10% load.
pub async fn accept(listener: &TcpListener) -> Result<TcpStream, IoError> {
    let stream = listener.accept().await.map_err(std::io::Error::from)?;
    stream.set_nodelay(true).map_err(std::io::Error::from)?;
    Ok(stream)
}
