//! Errors of the network layer.

use std::net::SocketAddr;

/// What went wrong in the network layer; callers decide whether it is retryable.
#[derive(Debug, thiserror::Error)]
pub enum IoError {
    /// A listening socket could not be set up.
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        /// The address we tried to bind.
        addr: SocketAddr,
        /// The system's reason.
        source: std::io::Error,
    },
    /// An outgoing connection could not be made.
    #[error("cannot connect to {addr}: {source}")]
    Connect {
        /// The peer we tried to reach.
        addr: String,
        /// The system's reason.
        source: std::io::Error,
    },
    /// A peer name did not resolve to any address.
    #[error("cannot resolve {addr}: {reason}")]
    Resolve {
        /// The name we tried to resolve.
        addr: String,
        /// Why it failed.
        reason: String,
    },
    /// The HTTP/2 layer failed (protocol error, reset, connection lost).
    #[error("http/2: {0}")]
    H2(#[from] h2::Error),
    /// A socket operation failed.
    #[error("socket: {0}")]
    Socket(#[from] std::io::Error),
    /// A TLS handshake failed (bad certificate, no common version or suite, not TLS at all).
    #[error("tls: {0}")]
    Tls(String),
    /// A client was closed for abusing an HTTP/2 connection (GOAWAY ENHANCE_YOUR_CALM).
    #[error("client closed: {0}")]
    Abuse(crate::h2_server::Abuse),
    /// An operation ran past its deadline.
    #[error("timed out after {0:?}")]
    Timeout(std::time::Duration),
}
