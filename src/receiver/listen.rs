//! The accept loop every TCP receiver shares, with the per-shard connection limit.
//!
//! Draining: the loop stops accepting as soon as the shard's drain signal fires and drops its
//! listener, so the kernel sends new connections to no one on this shard. Connections already
//! open are told by their protocol to finish (HTTP/2 GOAWAY) and are counted in
//! [`Connections`] until they close.

use std::cell::Cell;
use std::future::Future;
use std::rc::Rc;
use std::time::Duration;

use futures_lite::future;
use shardgate_io::listener;
use shardgate_io::{TcpListener, TcpStream};
use shardgate_shards::{task, DrainSignal};

/// How long to pause accepting after an accept error (e.g. EMFILE) so the loop cannot spin.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(50);

/// Open connections on one shard, shared by its receivers.
#[derive(Clone, Default)]
pub struct Connections {
    open: Rc<Cell<usize>>,
}

impl Connections {
    /// How many are open now.
    pub fn open(&self) -> usize {
        self.open.get()
    }

    fn track(&self) -> ConnectionGuard {
        self.open.set(self.open.get() + 1);
        ConnectionGuard {
            open: self.open.clone(),
        }
    }
}

/// Counts one open connection until dropped.
pub struct ConnectionGuard {
    open: Rc<Cell<usize>>,
}

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        self.open.set(self.open.get().saturating_sub(1));
    }
}

/// What the accept loop needs besides the listener.
pub struct AcceptSettings {
    /// The shard index, for logs.
    pub shard: usize,
    /// The receiver id and protocol, for logs.
    pub receiver: String,
    /// Connections this listener may hold open on this shard.
    pub connections_max: usize,
}

/// Accepts connections until `drain` fires, serving each with `serve` as its own task.
pub async fn accept_loop<S, F>(
    listener: TcpListener,
    settings: AcceptSettings,
    connections: Connections,
    drain: DrainSignal,
    serve: S,
) where
    S: Fn(TcpStream) -> F,
    F: Future<Output = ()> + 'static,
{
    let mine = Connections::default();
    loop {
        let accepted = future::or(async { Some(listener::accept(&listener).await) }, async {
            drain.wait().await;
            None
        })
        .await;
        let stream = match accepted {
            None => break,
            Some(Ok(stream)) => stream,
            Some(Err(error)) => {
                tracing::warn!(shard = settings.shard, receiver = %settings.receiver, %error, "accept failed");
                task::sleep(ACCEPT_ERROR_PAUSE).await;
                continue;
            }
        };
        if mine.open() >= settings.connections_max {
            tracing::warn!(
                shard = settings.shard,
                receiver = %settings.receiver,
                limit = settings.connections_max,
                "connection limit reached; closing new connection"
            );
            drop(stream);
            continue;
        }
        let peer = stream.peer_addr().ok();
        tracing::debug!(shard = settings.shard, receiver = %settings.receiver, ?peer, "accepted connection");
        let guards = (connections.track(), mine.track());
        let connection = serve(stream);
        task::spawn_local(async move {
            connection.await;
            drop(guards);
        })
        .detach();
    }
    tracing::debug!(shard = settings.shard, receiver = %settings.receiver, "stopped accepting");
}
