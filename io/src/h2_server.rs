//! Serves one HTTP/2 connection on a shard.
//!
//! The connection task drives the socket and accepts streams; each stream runs as its own
//! task on the same shard, so a slow or failing request never blocks the connection's other
//! streams. Draining follows these steps:
//! 1. the `drain` future completes;
//! 2. we send GOAWAY (`graceful_shutdown`), so the client opens no new streams;
//! 3. streams already open finish; the connection closes when the last one has answered.

use std::future::Future;
use std::pin::pin;

use bytes::Bytes;
use futures_lite::future;
use h2::server::SendResponse;
use h2::RecvStream;
use http::Request;

use crate::tls::Conn;
use crate::IoError;

/// HTTP/2 settings a server announces; each bounds memory a client can make us hold.
#[derive(Debug, Clone, Copy)]
pub struct H2ServerSettings {
    /// Streams a client may have open at once on one connection.
    pub max_concurrent_streams: u32,
    /// Flow-control window per stream, in bytes.
    pub stream_window_bytes: u32,
    /// Flow-control window per connection, in bytes.
    pub connection_window_bytes: u32,
    /// Largest header block we accept, in bytes.
    pub max_header_list_bytes: u32,
    /// Largest DATA frame a client may send. Larger than HTTP/2's 16 KiB default so that a
    /// typical OTLP request arrives in one frame and is kept without a copy.
    pub max_frame_bytes: u32,
}

impl Default for H2ServerSettings {
    fn default() -> Self {
        H2ServerSettings {
            max_concurrent_streams: 1024,
            stream_window_bytes: 1 << 20,
            connection_window_bytes: 8 << 20,
            // gRPC's default maximum metadata size.
            max_header_list_bytes: 16 << 10,
            max_frame_bytes: 256 << 10,
        }
    }
}

/// Serves HTTP/2 on `stream` until the client leaves or `drain` completes and open streams end.
///
/// `handler` is called once per request; the future it returns runs as its own task.
pub async fn serve<H, F, D>(
    conn: impl Into<Conn>,
    settings: H2ServerSettings,
    handler: H,
    drain: D,
) -> Result<(), IoError>
where
    H: Fn(Request<RecvStream>, SendResponse<Bytes>) -> F,
    F: Future<Output = ()> + 'static,
    D: Future<Output = ()>,
{
    let mut connection = h2::server::Builder::new()
        .max_concurrent_streams(settings.max_concurrent_streams)
        .initial_window_size(settings.stream_window_bytes)
        .initial_connection_window_size(settings.connection_window_bytes)
        .max_header_list_size(settings.max_header_list_bytes)
        .max_frame_size(settings.max_frame_bytes)
        .handshake::<_, Bytes>(conn.into())
        .await?;
    let mut drain = pin!(drain);
    let mut draining = false;
    loop {
        let next = if draining {
            connection.accept().await
        } else {
            let accepted = async { Some(connection.accept().await) };
            let drained = async {
                drain.as_mut().await;
                None
            };
            match future::or(accepted, drained).await {
                Some(next) => next,
                None => {
                    draining = true;
                    connection.graceful_shutdown();
                    continue;
                }
            }
        };
        match next {
            Some(Ok((request, respond))) => {
                glommio::spawn_local(handler(request, respond)).detach();
            }
            Some(Err(error)) => {
                // A GOAWAY from a client that leaves is the normal end of a connection.
                if error.is_go_away() || error.is_io() {
                    return Ok(());
                }
                return Err(error.into());
            }
            None => return Ok(()),
        }
    }
}
