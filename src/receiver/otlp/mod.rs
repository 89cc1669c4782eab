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

use crate::config::{ComponentId, GrpcServerConfig, OtlpReceiverConfig, ServerTlsConfig};
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
    if let Some(http_config) = &config.http {
        let at = protocol_path("http");
        let tls = tls_server(id, "http", at, &http_config.tls, io)?;
        let auth = server_auth(id, at, &http_config.auth, io)?;
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
        serve_grpc(id, "grpc", grpc_config, routes, grpc::OtlpExport, io)?;
    }
    Ok(())
}

/// Serves `api` over gRPC with `config` on this shard, as receiver `id`'s `transport`.
pub(crate) fn serve_grpc<A: grpc::GrpcApi + 'static>(
    id: &ComponentId,
    transport: &'static str,
    config: &GrpcServerConfig,
    routes: Rc<Routes>,
    api: A,
    io: &ShardIo,
) -> Result<(), StartError> {
    let at = protocol_path("grpc");
    let tls = tls_server(id, transport, at, &config.tls, io)?;
    let auth = server_auth(id, at, &config.auth, io)?;
    let intake = ingest::Ingest::new(
        transport,
        routes,
        io.budget.clone(),
        config.max_recv_msg_size_bytes,
    )
    .with_auth(auth)
    .with_metadata(config.include_metadata)
    .shared(io.handoff.as_ref(), &format!("{id}/{transport}"));
    let service = Rc::new(grpc::GrpcService::with_api(id.clone(), intake, api));
    let settings = H2ServerSettings {
        max_concurrent_streams: config.max_concurrent_streams,
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
        keepalive: config.keepalive,
        ..H2ServerSettings::default()
    };
    serve_on(id, transport, config.endpoint, io, move |stream, drain| {
        grpc::serve_connection(stream, tls.clone(), settings, service.clone(), drain)
    })
}

/// The TLS side of receiver `id`'s server named `name`, whose settings are at `at`.
pub(crate) fn tls_server(
    id: &ComponentId,
    name: &str,
    at: &'static str,
    tls: &Option<ServerTlsConfig>,
    io: &ShardIo,
) -> Result<Option<Rc<TlsServer>>, StartError> {
    tls.as_ref()
        .map(|t| {
            let name = format!("{id}/{name}");
            TlsServer::start(name, t, io.shards.tls_handshake_timeout, &io.drain).map_err(
                |source| StartError::Tls {
                    id: id.clone(),
                    at,
                    source: Box::new(source),
                },
            )
        })
        .transpose()
}

/// The authenticator of receiver `id`'s server whose settings are at `at`.
pub(crate) fn server_auth(
    id: &ComponentId,
    at: &'static str,
    auth: &Option<ComponentId>,
    io: &ShardIo,
) -> Result<Option<ServerAuth>, StartError> {
    auth.as_ref()
        .map(|a| {
            ServerAuth::build(a, &io.extensions).map_err(|reason| StartError::Auth {
                id: id.clone(),
                at,
                reason,
            })
        })
        .transpose()
}

/// The key path of a protocol's settings under the receiver.
pub(crate) fn protocol_path(protocol: &str) -> &'static str {
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
