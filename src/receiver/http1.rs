//! The HTTP/1.1 request loop every HTTP receiver shares (OTLP/HTTP, Zipkin): an API says how
//! a request head is routed and how a body is answered; the loop does the rest.
//!
//! One connection, step by step:
//! 1. the TLS handshake, if the receiver has TLS (a failure is counted and closes);
//! 2. read a request head (or stop when the client closes, a deadline passes, or the shard
//!    drains);
//! 3. [`HttpApi::route`] decides from the head alone; a refusal is answered without reading
//!    the body and, when a body was announced, the connection is closed after the answer (the
//!    unread body would otherwise be taken for the next request);
//! 4. read the body within the API's limits (413 and friends from [`HttpApi::unreadable`],
//!    then close), and answer it with [`HttpApi::answer`];
//! 5. keep the connection for the next request unless the client or the drain says not to.

use std::future::Future;
use std::rc::Rc;

use futures_lite::future;
use shardgate_io::http1_server::{
    BodyFraming, Http1Connection, Http1Error, Limits, RequestHead, Timeouts,
};
use shardgate_io::TcpStream;
use shardgate_shards::DrainSignal;

use super::otlp::ingest::Ingest;
use super::tls::{establish, TlsServer};
use crate::config::ComponentId;

/// An answer to write.
pub struct Answer {
    /// HTTP status.
    pub status: u16,
    /// Headers besides Content-Length and Connection.
    pub headers: Vec<(&'static str, String)>,
    /// Body bytes.
    pub body: Vec<u8>,
}

/// Seconds a client is told to wait before retrying a load refusal.
pub const RETRY_AFTER_SECS: u32 = 1;

impl Answer {
    /// A `text/plain` answer with `message` (as Go's `http.Error` writes one), with
    /// `Retry-After` on 429 and 503 so clients back off and retry.
    pub fn text(status: u16, message: String) -> Answer {
        let mut body = message.into_bytes();
        body.push(b'\n');
        let mut headers = vec![("Content-Type", "text/plain; charset=utf-8".to_owned())];
        if status == 503 || status == 429 {
            headers.push(("Retry-After", RETRY_AFTER_SECS.to_string()));
        }
        Answer {
            status,
            headers,
            body,
        }
    }

    /// An empty answer with `status` (202 Accepted, 204 No Content).
    pub fn empty(status: u16) -> Answer {
        Answer {
            status,
            headers: Vec::new(),
            body: Vec::new(),
        }
    }
}

/// What one HTTP receiver serves: its routing and its answers.
pub trait HttpApi {
    /// What the head decided, carried to [`HttpApi::answer`].
    type Route;

    /// The receiver, for logs.
    fn id(&self) -> &ComponentId;
    /// Its intake, for the TLS handshake failure counter.
    fn ingest(&self) -> &Ingest;
    /// Limits on heads and bodies.
    fn limits(&self) -> Limits;
    /// Deadlines of a connection.
    fn timeouts(&self) -> Timeouts;
    /// Decides from the head alone: `Err` answers without reading the body.
    fn route(&self, head: &RequestHead) -> Result<Self::Route, Answer>;
    /// Takes a whole body for `route` and says what to answer.
    fn answer(&self, route: Self::Route, body: Vec<u8>) -> impl Future<Output = Answer>;
    /// Headers added to every answer but a preflight's (CORS).
    fn extra_headers(&self, head: &RequestHead) -> Vec<(&'static str, String)>;
    /// The answer to a request that could not be read, if it gets one.
    fn unreadable(&self, error: &Http1Error) -> Option<Answer>;
}

/// Serves one accepted connection: requests one after another until the client closes, a
/// deadline passes, a request cannot be framed, or the shard drains.
pub async fn serve_connection<A: HttpApi>(
    stream: TcpStream,
    tls: Option<Rc<TlsServer>>,
    api: Rc<A>,
    drain: DrainSignal,
) {
    let failures = api.ingest().counters().map(|c| &c.tls_handshake_failures);
    let Some(stream) = establish(stream, tls.as_deref(), failures).await else {
        return;
    };
    let mut conn = Http1Connection::new(stream, api.limits(), api.timeouts());
    loop {
        let next = future::or(async { Some(conn.read_head().await) }, async {
            drain.wait().await;
            None
        })
        .await;
        let head = match next {
            None | Some(Ok(None)) => return,
            Some(Ok(Some(head))) => head,
            Some(Err(error)) => {
                finish_with_error(conn, &*api, &error).await;
                return;
            }
        };
        let keep_alive = head.keep_alive && !drain.is_draining();
        let mut answer = match api.route(&head) {
            Err(mut answer) => {
                let close = !keep_alive || head.framing != BodyFraming::Empty;
                if head.method != "OPTIONS" {
                    // A preflight answer carries its own CORS headers (or none).
                    answer.headers.extend(api.extra_headers(&head));
                }
                let written = write(&mut conn, answer, close).await;
                if close {
                    if written.is_ok() && head.framing != BodyFraming::Empty {
                        conn.close_after_error().await;
                    }
                    return;
                }
                continue;
            }
            Ok(route) => match conn.read_body(&head).await {
                Err(error) => {
                    finish_with_error(conn, &*api, &error).await;
                    return;
                }
                Ok(body) => api.answer(route, body).await,
            },
        };
        answer.headers.extend(api.extra_headers(&head));
        if write(&mut conn, answer, !keep_alive).await.is_err() || !keep_alive {
            return;
        }
    }
}

/// Answers a request that could not be read (if it gets an answer) and closes.
async fn finish_with_error<A: HttpApi>(mut conn: Http1Connection, api: &A, error: &Http1Error) {
    tracing::debug!(receiver = %api.id(), %error, "HTTP request not read");
    if let Some(answer) = api.unreadable(error) {
        if write(&mut conn, answer, true).await.is_ok() {
            conn.close_after_error().await;
        }
    }
}

async fn write(conn: &mut Http1Connection, answer: Answer, close: bool) -> Result<(), Http1Error> {
    conn.write_response(answer.status, &answer.headers, &answer.body, close)
        .await
}
