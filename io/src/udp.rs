//! Per-shard SO_REUSEPORT UDP sockets.
//!
//! Every shard binds the same address with SO_REUSEPORT, so the kernel spreads datagrams over
//! the shards by a hash of the sender's address and port; a sender that keeps its socket
//! (as Jaeger clients do) always reaches the same shard. We build the socket ourselves (not
//! `glommio::net::UdpSocket::bind`) to set the receive buffer before binding.

use std::net::SocketAddr;
use std::os::fd::{FromRawFd, IntoRawFd};

use glommio::net::UdpSocket;
use socket2::{Domain, Protocol, Socket, Type};

use crate::IoError;

/// Binds `addr` with SO_REUSEPORT on the calling shard's executor, with a kernel receive
/// buffer of `recv_buffer_bytes` if given (the kernel may round or cap it).
///
/// Must be called from inside a glommio executor: the socket is registered with its ring.
pub fn bind_reuseport(
    addr: SocketAddr,
    recv_buffer_bytes: Option<usize>,
) -> Result<UdpSocket, IoError> {
    let listen_err = |source| IoError::Listen { addr, source };
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))
        .map_err(listen_err)?;
    socket.set_reuse_port(true).map_err(listen_err)?;
    if let Some(bytes) = recv_buffer_bytes {
        socket.set_recv_buffer_size(bytes).map_err(listen_err)?;
    }
    socket.set_nonblocking(true).map_err(listen_err)?;
    socket.bind(&addr.into()).map_err(listen_err)?;
    let fd = socket.into_raw_fd();
    // SAFETY: `fd` is a bound UDP socket that we own exclusively (just released from
    // `socket`), which is what glommio's `UdpSocket::from_raw_fd` requires.
    Ok(unsafe { UdpSocket::from_raw_fd(fd) })
}

/// Fails if another socket is already bound to UDP `addr`.
///
/// As [`crate::listener::ensure_free`] for TCP: a second instance started by mistake would
/// otherwise silently take a share of the datagrams. Port 0 needs no check.
pub fn ensure_free(addr: SocketAddr) -> Result<(), IoError> {
    if addr.port() == 0 {
        return Ok(());
    }
    let listen_err = |source| IoError::Listen { addr, source };
    let socket = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))
        .map_err(listen_err)?;
    socket.bind(&addr.into()).map_err(listen_err)?;
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn a_bound_port_is_not_free_and_shards_share_one() {
        glommio::LocalExecutorBuilder::default()
            .spawn(|| async {
                let first = bind_reuseport("127.0.0.1:0".parse().unwrap(), Some(1 << 20)).unwrap();
                let addr = first.local_addr().unwrap();
                let second = bind_reuseport(addr, None).unwrap();
                assert_eq!(second.local_addr().unwrap(), addr);
                assert!(ensure_free(addr).is_err());
            })
            .unwrap()
            .join()
            .unwrap();
    }
}
