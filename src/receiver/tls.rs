//! A receiver protocol's TLS server on one shard: the current rustls config, which new
//! handshakes use, rebuilt from its files every `reload_interval` by a shard-local task.
//! Open connections keep the session they have, so a rotation drops none of them.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use rustls::ServerConfig;
use shardgate_io::stream::TcpIo;
use shardgate_io::tls::{self, Conn, TlsError};
use shardgate_io::IoError;
use shardgate_io::TcpStream;
use shardgate_shards::{task, DrainSignal};

use crate::config::ServerTlsConfig;
use crate::observe::counters::Counter;

/// One shard's TLS server for one receiver protocol.
pub struct TlsServer {
    receiver: String,
    config: RefCell<Arc<ServerConfig>>,
    handshake_timeout: Duration,
}

impl TlsServer {
    /// Builds the server from `config`'s files and, with a `reload_interval`, starts the task
    /// that rebuilds it until `drain`.
    pub fn start(
        receiver: String,
        config: &ServerTlsConfig,
        handshake_timeout: Duration,
        drain: &DrainSignal,
    ) -> Result<Rc<TlsServer>, TlsError> {
        let server = Rc::new(TlsServer {
            receiver,
            config: RefCell::new(tls::server_config(&config.spec)?),
            handshake_timeout,
        });
        if let Some(interval) = config.reload_interval {
            let spec = config.spec.clone();
            let weak = Rc::downgrade(&server);
            let drain = drain.clone();
            task::spawn_local(async move {
                loop {
                    let stop = futures_lite::future::or(
                        async {
                            task::sleep(interval).await;
                            false
                        },
                        async {
                            drain.wait().await;
                            true
                        },
                    );
                    if stop.await {
                        return;
                    }
                    let Some(server) = weak.upgrade() else { return };
                    server.reload(&spec);
                }
            })
            .detach();
        }
        Ok(server)
    }

    /// Rebuilds the config from the files; on failure the current one stays in use.
    fn reload(&self, spec: &tls::ServerSpec) {
        match tls::server_config(spec) {
            Ok(config) => {
                *self.config.borrow_mut() = config;
                tracing::debug!(receiver = %self.receiver, "TLS certificate reloaded");
            }
            Err(error) => tracing::warn!(
                receiver = %self.receiver,
                %error,
                "TLS reload failed; new connections keep the previous certificate"
            ),
        }
    }

    /// Runs the handshake on an accepted connection, within the handshake timeout.
    pub async fn accept(&self, stream: TcpStream) -> Result<Conn, IoError> {
        let config = self.config.borrow().clone();
        tls::accept(config, TcpIo::new(stream), self.handshake_timeout).await
    }

    /// The receiver (`otlp/grpc`) this server belongs to, for logs.
    pub fn receiver(&self) -> &str {
        &self.receiver
    }
}

/// The connection `stream` becomes: through `tls`'s handshake when it is set (`None` and a
/// debug log when that fails: a client that is not ours or not TLS at all), else plaintext.
/// A failed handshake is counted in `failures` (the receiver's transport counter).
pub async fn establish(
    stream: TcpStream,
    tls: Option<&TlsServer>,
    failures: Option<&Counter>,
) -> Option<Conn> {
    let Some(tls) = tls else {
        return Some(Conn::from(stream));
    };
    match tls.accept(stream).await {
        Ok(conn) => Some(conn),
        Err(error) => {
            tracing::debug!(receiver = %tls.receiver(), %error, "TLS handshake failed");
            if let Some(failures) = failures {
                failures.add(1);
            }
            None
        }
    }
}
