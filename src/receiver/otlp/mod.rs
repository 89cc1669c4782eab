//! The `otlp` receiver: OTLP/gRPC and OTLP/HTTP on every shard.

pub mod config;
pub mod cors;
pub mod grpc;
pub mod http;
pub mod ingest;
pub mod keepalive;

use std::future::Future;
use std::net::SocketAddr;
use std::rc::Rc;

use shardgate_io::h2_server::{H2ServerSettings, Limits};
use shardgate_io::{listener, IoError, TcpStream};
use shardgate_shards::{task, DrainSignal};

use crate::config::{ComponentId, OtlpReceiverConfig, ServerTlsConfig};
use crate::extension::auth::ServerAuth;
use crate::pipeline::routes::Routes;
use crate::receiver::listen::{self, AcceptSettings};
use crate::receiver::tls::TlsServer;
use crate::receiver::ShardIo;

/// Why the receiver could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A listener could not be bound.
    #[error("receivers::{id}: {source}")]
    Listen {
        /// The receiver.
        id: ComponentId,
        /// The bind error.
        source: IoError,
    },
    /// Its authenticator could not be built (the config check makes this rare).
    #[error("receivers::{id}{at}::auth: {reason}")]
    Auth {
        /// The receiver.
        id: ComponentId,
        /// Where the server's settings are under the receiver (`::protocols::grpc`, or empty).
        at: &'static str,
        /// What failed.
        reason: String,
    },
    /// Its TLS files could not be loaded (they were when the config was checked).
    #[error("receivers::{id}{at}::tls: {source}")]
    Tls {
        /// The receiver.
        id: ComponentId,
        /// Where the server's settings are under the receiver (`::protocols::grpc`, or empty).
        at: &'static str,
        /// What failed.
        source: Box<shardgate_io::tls::TlsError>,
    },
}

/// Binds this shard's listeners for receiver `id` and starts serving on them.
pub fn start(
    id: &ComponentId,
    config: &OtlpReceiverConfig,
    routes: Rc<Routes>,
    io: &ShardIo,
) -> Result<(), StartError> {
    let tls = |protocol: &'static str, tls: &Option<ServerTlsConfig>| {
        tls.as_ref()
            .map(|t| {
                let name = format!("{id}/{protocol}");
                TlsServer::start(name, t, io.shards.tls_handshake_timeout, &io.drain).map_err(
                    |source| StartError::Tls {
                        id: id.clone(),
                        at: protocol_path(protocol),
                        source: Box::new(source),
                    },
                )
            })
            .transpose()
    };
    let auth = |protocol: &'static str, auth: &Option<ComponentId>| {
        auth.as_ref()
            .map(|a| {
                ServerAuth::build(a, &io.extensions).map_err(|reason| StartError::Auth {
                    id: id.clone(),
                    at: protocol_path(protocol),
                    reason,
                })
            })
            .transpose()
    };
    if let Some(http_config) = &config.http {
        let tls = tls("http", &http_config.tls)?;
        let auth = auth("http", &http_config.auth)?;
        let intake =
            http::HttpService::intake(http_config, routes.clone(), io.budget.clone(), auth)
                .shared(io.handoff.as_ref(), &format!("{id}/http"));
        let service = Rc::new(http::HttpService::new(id.clone(), http_config, intake));
        serve_on(
            id,
            "http",
            http_config.endpoint,
            io,
            move |stream, drain| {
                crate::receiver::http1::serve_connection(
                    stream,
                    tls.clone(),
                    service.clone(),
                    drain,
                )
            },
        )?;
    }
    if let Some(grpc_config) = &config.grpc {
        let tls = tls("grpc", &grpc_config.tls)?;
        let auth = auth("grpc", &grpc_config.auth)?;
        let intake = grpc::GrpcService::intake(grpc_config, routes, io.budget.clone(), auth)
            .shared(io.handoff.as_ref(), &format!("{id}/grpc"));
        let service = Rc::new(grpc::GrpcService::new(id.clone(), intake));
        let settings = H2ServerSettings {
            max_concurrent_streams: grpc_config.max_concurrent_streams,
            stream_window_bytes: io.shards.h2_stream_window_bytes,
            connection_window_bytes: io.shards.h2_connection_window_bytes,
            max_header_list_bytes: io.shards.h2_max_header_list_bytes,
            limits: Limits {
                control_frames_burst: io.shards.h2_control_frames_burst,
                control_frames_per_second: io.shards.h2_control_frames_per_second,
                resets_burst: io.shards.h2_resets_burst,
                resets_per_second: io.shards.h2_resets_per_second,
                send_timeout: io.shards.h2_send_timeout,
            },
            keepalive: grpc_config.keepalive,
            ..H2ServerSettings::default()
        };
        serve_on(
            id,
            "grpc",
            grpc_config.endpoint,
            io,
            move |stream, drain| {
                grpc::serve_connection(stream, tls.clone(), settings, service.clone(), drain)
            },
        )?;
    }
    Ok(())
}

/// The key path of a protocol's settings under the receiver.
fn protocol_path(protocol: &str) -> &'static str {
    match protocol {
        "grpc" => "::protocols::grpc",
        _ => "::protocols::http",
    }
}

/// Binds `endpoint` with SO_REUSEPORT on this shard and runs the accept loop, serving each
/// connection with `serve` until the shard drains.
pub(crate) fn serve_on<S, F>(
    id: &ComponentId,
    protocol: &str,
    endpoint: SocketAddr,
    io: &ShardIo,
    serve: S,
) -> Result<(), StartError>
where
    S: Fn(TcpStream, DrainSignal) -> F + 'static,
    F: Future<Output = ()> + 'static,
{
    let socket =
        listener::bind_reuseport(endpoint, io.shards.listen_backlog).map_err(|source| {
            StartError::Listen {
                id: id.clone(),
                source,
            }
        })?;
    let accept = AcceptSettings {
        shard: io.shard,
        receiver: format!("{id}/{protocol}"),
        connections_max: usize::try_from(io.shards.connections_max).unwrap_or(usize::MAX),
    };
    let drain = io.drain.clone();
    task::spawn_local(listen::accept_loop(
        socket,
        accept,
        io.connections.clone(),
        io.drain.clone(),
        move |stream| serve(stream, drain.clone()),
    ))
    .detach();
    Ok(())
}
