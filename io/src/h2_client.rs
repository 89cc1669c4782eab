//! One HTTP/2 client connection, owned by one shard, with several requests in flight.
//!
//! The connection's I/O runs as a task on the shard that made it; [`H2Client`] is a cheap
//! handle that opens streams on it. When the connection breaks, [`H2Client::is_closed`] turns
//! true and the owner makes a new one.

use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

use bytes::Bytes;
use glommio::net::TcpStream;
use h2::client::SendRequest;
use h2::RecvStream;
use http::{HeaderMap, Request, Response};

use crate::chunks::Chunks;
use crate::stream::TcpIo;
use crate::tls::{self, ClientTls, Conn};
use crate::IoError;

/// HTTP/2 settings of an outgoing connection.
#[derive(Debug, Clone, Copy)]
pub struct H2ClientSettings {
    /// Flow-control window per stream we receive on, in bytes.
    pub stream_window_bytes: u32,
    /// Flow-control window of the connection, in bytes.
    pub connection_window_bytes: u32,
    /// How long to wait for the TCP connection and HTTP/2 handshake.
    pub connect_timeout: Duration,
}

impl Default for H2ClientSettings {
    fn default() -> Self {
        H2ClientSettings {
            stream_window_bytes: 1 << 20,
            connection_window_bytes: 8 << 20,
            connect_timeout: Duration::from_secs(5),
        }
    }
}

/// A handle on one shard-local HTTP/2 connection.
#[derive(Clone)]
pub struct H2Client {
    send: SendRequest<Chunks>,
    closed: Rc<Cell<bool>>,
}

/// A response: its head, the body bytes and the trailers (if any).
#[derive(Debug)]
pub struct FullResponse {
    /// Status line and headers.
    pub head: Response<()>,
    /// The body, concatenated.
    pub body: Bytes,
    /// Trailer fields; empty when the peer sent none.
    pub trailers: HeaderMap,
}

impl H2Client {
    /// Connects to `authority` (`host:port`) in plaintext and completes the HTTP/2 handshake.
    pub async fn connect(authority: &str, settings: H2ClientSettings) -> Result<H2Client, IoError> {
        H2Client::connect_with(authority, settings, None).await
    }

    /// Connects to `authority`, with TLS when `tls` is given, and completes the HTTP/2
    /// handshake; name lookup (off the shard, [`crate::resolve`]), TCP connect and TLS
    /// handshake together take at most `connect_timeout`.
    pub async fn connect_with(
        authority: &str,
        settings: H2ClientSettings,
        tls: Option<&ClientTls>,
    ) -> Result<H2Client, IoError> {
        let deadline = crate::timer::deadline_after(settings.connect_timeout);
        let addr = crate::resolve::resolve(authority, settings.connect_timeout)
            .await
            .map_err(|error| IoError::Resolve {
                addr: authority.to_owned(),
                reason: error.to_string(),
            })?;
        let timeout = deadline.saturating_duration_since(std::time::Instant::now());
        let dial = async {
            let stream = TcpStream::connect(addr)
                .await
                .map_err(|error| IoError::Connect {
                    addr: authority.to_owned(),
                    source: error.into(),
                })?;
            stream.set_nodelay(true).map_err(std::io::Error::from)?;
            let io = TcpIo::new(stream);
            match tls {
                Some(tls) => tls::connect(tls, io).await,
                None => Ok(Conn::Plain(io)),
            }
        };
        let conn = crate::timer::timeout(timeout, dial)
            .await
            .ok_or(IoError::Timeout(settings.connect_timeout))??;
        let (send, connection) = h2::client::Builder::new()
            .initial_window_size(settings.stream_window_bytes)
            .initial_connection_window_size(settings.connection_window_bytes)
            .handshake::<_, Chunks>(conn)
            .await?;
        let closed = Rc::new(Cell::new(false));
        let flag = closed.clone();
        glommio::spawn_local(async move {
            if let Err(error) = connection.await {
                tracing::debug!(%error, "http/2 client connection ended");
            }
            flag.set(true);
        })
        .detach();
        Ok(H2Client { send, closed })
    }

    /// True once the connection has ended; requests on it will fail.
    pub fn is_closed(&self) -> bool {
        self.closed.get()
    }

    /// Sends `request` with `body` (its pieces are written as they are, never joined) and
    /// reads the whole response, within `timeout`.
    pub async fn unary(
        &self,
        request: Request<()>,
        body: Chunks,
        timeout: Duration,
    ) -> Result<FullResponse, IoError> {
        let send = self.send.clone();
        let exchange = async move {
            let mut ready = send.ready().await?;
            let (response, mut stream) = ready.send_request(request, false)?;
            // h2 queues data beyond the peer's window and sends it as capacity opens.
            stream.send_data(body, true)?;
            let response = response.await?;
            let (head, mut recv) = response.into_parts();
            let body = read_body(&mut recv).await?;
            let trailers = recv.trailers().await?.unwrap_or_default();
            Ok::<_, h2::Error>(FullResponse {
                head: Response::from_parts(head, ()),
                body,
                trailers,
            })
        };
        match glommio::timer::timeout(crate::timer::bounded(timeout), async { Ok(exchange.await) })
            .await
        {
            Ok(result) => result.map_err(IoError::from),
            Err(_) => Err(IoError::Timeout(timeout)),
        }
    }
}

async fn read_body(recv: &mut RecvStream) -> Result<Bytes, h2::Error> {
    let mut first: Option<Bytes> = None;
    let mut rest = bytes::BytesMut::new();
    while let Some(chunk) = recv.data().await {
        let chunk = chunk?;
        let _ = recv.flow_control().release_capacity(chunk.len());
        match first.take() {
            None if rest.is_empty() => first = Some(chunk),
            None => rest.extend_from_slice(&chunk),
            Some(head) => {
                rest.extend_from_slice(&head);
                rest.extend_from_slice(&chunk);
            }
        }
    }
    Ok(first.unwrap_or_else(|| rest.freeze()))
}
