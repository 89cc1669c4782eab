//! Serves one HTTP/2 connection on a shard.
//!
//! The connection task drives the socket and accepts streams; each stream runs as its own
//! task on the same shard, so a slow or failing request never blocks the connection's other
//! streams. Draining follows these steps:
//! 1. the `drain` future completes;
//! 2. we send GOAWAY (`graceful_shutdown`), so the client opens no new streams;
//! 3. streams already open finish; the connection closes when the last one has answered.
//!
//! A client that abuses the connection (see [`guard`]) gets GOAWAY with ENHANCE_YOUR_CALM
//! and is closed; `serve` then returns [`IoError::Abuse`].

mod guard;
mod keepalive;
mod respond;

use std::future::Future;
use std::pin::pin;
use std::rc::Rc;

use futures_lite::future;
use h2::{Reason, RecvStream};
use http::Request;

pub use guard::{Abuse, Limits};
pub use keepalive::{Enforcement, Keepalive};
pub use respond::Respond;

use crate::tls::Conn;
use crate::IoError;
use guard::{Guarded, Tripwire};
use keepalive::{Action, Activity, Notice};

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
    /// Budgets for control frames, resets and stalled reads.
    pub limits: Limits,
    /// Connection age, idle time, liveness pings and the client's ping rate.
    pub keepalive: Keepalive,
}

impl Default for H2ServerSettings {
    fn default() -> Self {
        H2ServerSettings {
            // RFC 9113 §6.5.2 recommends no fewer than 100; grpc-go's servers announce 100.
            max_concurrent_streams: 100,
            stream_window_bytes: 1 << 20,
            connection_window_bytes: 8 << 20,
            // gRPC's default maximum metadata size.
            max_header_list_bytes: 16 << 10,
            max_frame_bytes: 256 << 10,
            limits: Limits::default(),
            keepalive: Keepalive::default(),
        }
    }
}

/// Serves HTTP/2 on `conn` until the client leaves or `drain` completes and open streams end.
///
/// `handler` is called once per request; the future it returns runs as its own task.
pub async fn serve<H, F, D>(
    conn: impl Into<Conn>,
    settings: H2ServerSettings,
    handler: H,
    drain: D,
) -> Result<(), IoError>
where
    H: Fn(Request<RecvStream>, Respond) -> F,
    F: Future<Output = ()> + 'static,
    D: Future<Output = ()>,
{
    let trip = Rc::new(Tripwire::default());
    let activity = Rc::new(Activity::new(std::time::Instant::now()));
    let io = Guarded::new(
        conn.into(),
        settings.limits,
        settings.keepalive.enforcement,
        trip.clone(),
        activity.clone(),
    );
    let mut connection = h2::server::Builder::new()
        .max_concurrent_streams(settings.max_concurrent_streams)
        .initial_window_size(settings.stream_window_bytes)
        .initial_connection_window_size(settings.connection_window_bytes)
        .max_header_list_size(settings.max_header_list_bytes)
        .max_frame_size(settings.max_frame_bytes)
        .handshake::<_, bytes::Bytes>(io)
        .await?;
    let notice = Rc::new(Notice::default());
    // Cancelled when dropped, that is when this connection ends.
    let _keepalive = glommio::spawn_local(keepalive::run(
        settings.keepalive,
        activity.clone(),
        connection.ping_pong(),
        notice.clone(),
    ));
    let mut drain = pin!(drain);
    let mut draining = false;
    let mut abused = None;
    loop {
        let accepted = async { Event::Accepted(connection.accept().await) };
        let tripped = async {
            match abused {
                // Tripped once already: only the connection's end is awaited now.
                Some(_) => future::pending().await,
                None => Event::Tripped(trip.wait().await),
            }
        };
        let drained = async {
            if draining {
                future::pending::<()>().await;
            }
            drain.as_mut().await;
            Event::Drain
        };
        let kept = async { Event::Keepalive(notice.next().await) };
        match future::or(future::or(accepted, tripped), future::or(drained, kept)).await {
            Event::Drain => {
                draining = true;
                connection.graceful_shutdown();
            }
            Event::Keepalive(Action::GoAway) => {
                // As grpc-go: a GOAWAY (NO_ERROR) after which the client opens a new
                // connection for new calls; open streams finish.
                draining = true;
                connection.graceful_shutdown();
            }
            // The age grace ran out, or the client did not answer a ping: closed at once, as
            // grpc-go closes the transport (a dead peer would not read a GOAWAY anyway).
            Event::Keepalive(Action::Close) => return Ok(()),
            Event::Tripped(abuse) => {
                abused = Some(abuse);
                connection.abrupt_shutdown(Reason::ENHANCE_YOUR_CALM);
            }
            Event::Accepted(Some(Ok((request, respond)))) => {
                let respond = Respond::new(respond, trip.clone(), settings.limits.send_timeout);
                let handled = handler(request, respond);
                let activity = activity.clone();
                activity.opened();
                glommio::spawn_local(async move {
                    handled.await;
                    activity.closed();
                })
                .detach();
            }
            Event::Accepted(Some(Err(error))) => {
                if let Some(abuse) = abused.or_else(|| trip.tripped()) {
                    return Err(IoError::Abuse(abuse));
                }
                if error.is_go_away()
                    && error.is_library()
                    && error.reason() == Some(Reason::ENHANCE_YOUR_CALM)
                {
                    return Err(IoError::Abuse(Abuse::ProtocolLimit));
                }
                // A GOAWAY from a client that leaves is the normal end of a connection.
                if error.is_go_away() || error.is_io() {
                    return Ok(());
                }
                return Err(error.into());
            }
            Event::Accepted(None) => {
                return match abused.or_else(|| trip.tripped()) {
                    Some(abuse) => Err(IoError::Abuse(abuse)),
                    None => Ok(()),
                }
            }
        }
    }
}

/// What the serve loop woke up for.
enum Event<T> {
    Accepted(Option<Result<T, h2::Error>>),
    Tripped(Abuse),
    Drain,
    Keepalive(Action),
}
