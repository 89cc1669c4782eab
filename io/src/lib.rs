//! The io_uring network layer of shardgate.
//!
//! This is the only crate that touches glommio networking, io_uring and `unsafe`. It offers
//! what a shard needs to talk to the network and nothing about telemetry:
//! - [`listener`]: per-shard SO_REUSEPORT TCP listeners;
//! - [`h2_server`] and [`h2_client`]: HTTP/2 (the `h2` crate) over glommio's TCP streams;
//! - [`grpc`]: gRPC message framing, status codes and trailers;
//! - [`compression`]: bounded whole-buffer gzip/deflate for message bodies;
//! - [`resolve`]: peer names looked up off the shard thread;
//! - [`system`]: probes of the kernel limits a shard depends on;
//! - [`timer`]: timers and deadlines from bounded durations only;
//! - [`tls`]: rustls configs from PEM files, handshakes, and the plaintext-or-TLS stream;
//! - [`stream`]: glommio sockets seen through tokio's I/O traits, with one-`recv` reads;
//! - [`udp`]: per-shard SO_REUSEPORT UDP sockets.

#![warn(missing_docs)]

pub mod chunks;
pub mod compression;
pub mod error;
pub mod grpc;
pub mod h2_client;
pub mod h2_server;
pub mod http1_client;
pub mod http1_server;
pub mod listener;
pub mod resolve;
pub mod segment_file;
pub mod stream;
pub mod system;
pub mod timer;
pub mod tls;
pub mod udp;

pub use error::IoError;
pub use glommio::net::{TcpListener, TcpStream, UdpSocket};
