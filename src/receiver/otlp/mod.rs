//! The `otlp` receiver: OTLP/gRPC and OTLP/HTTP on every shard.

pub mod cors;
pub mod grpc;
pub mod http;
pub mod ingest;

use std::rc::Rc;

use shardgate_io::h2_server::H2ServerSettings;
use shardgate_io::{listener, IoError};
use shardgate_shards::{task, DrainSignal};

use crate::config::{ComponentId, HttpServerConfig, OtlpReceiverConfig, ShardsConfig};
use crate::pipeline::budget::Budget;
use crate::pipeline::build::Routes;
use crate::receiver::listen::{self, AcceptSettings, Connections};

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
    /// A protocol this build does not serve yet was configured.
    #[error("receivers::{id}: protocol {protocol} is not supported by this build yet")]
    Unsupported {
        /// The receiver.
        id: ComponentId,
        /// The protocol name.
        protocol: &'static str,
    },
}

/// Everything a shard's receivers share.
pub struct ShardIo {
    /// The shard index.
    pub shard: usize,
    /// The shard's admission budget.
    pub budget: Budget,
    /// Open connections on this shard.
    pub connections: Connections,
    /// The shard's drain signal.
    pub drain: DrainSignal,
    /// Runtime knobs.
    pub shards: ShardsConfig,
}

/// Binds this shard's listeners for receiver `id` and starts serving on them.
pub fn start(
    id: &ComponentId,
    config: &OtlpReceiverConfig,
    routes: Rc<Routes>,
    io: &ShardIo,
) -> Result<(), StartError> {
    if let Some(http_config) = &config.http {
        start_http(id, http_config, routes.clone(), io)?;
    }
    let Some(grpc_config) = &config.grpc else {
        return Ok(());
    };
    let socket = listener::bind_reuseport(grpc_config.endpoint, io.shards.listen_backlog).map_err(
        |source| StartError::Listen {
            id: id.clone(),
            source,
        },
    )?;
    let service = Rc::new(grpc::GrpcService::new(
        id.clone(),
        grpc_config,
        routes,
        io.budget.clone(),
    ));
    let settings = H2ServerSettings {
        max_concurrent_streams: grpc_config.max_concurrent_streams,
        stream_window_bytes: io.shards.h2_stream_window_bytes,
        connection_window_bytes: io.shards.h2_connection_window_bytes,
        ..H2ServerSettings::default()
    };
    let accept = AcceptSettings {
        shard: io.shard,
        receiver: format!("{id}/grpc"),
        connections_max: usize::try_from(io.shards.connections_max).unwrap_or(usize::MAX),
    };
    let drain = io.drain.clone();
    let serve = move |stream| {
        let service = service.clone();
        let drain = drain.clone();
        async move { grpc::serve_connection(stream, settings, service, drain).await }
    };
    task::spawn_local(listen::accept_loop(
        socket,
        accept,
        io.connections.clone(),
        io.drain.clone(),
        serve,
    ))
    .detach();
    Ok(())
}

/// Binds this shard's OTLP/HTTP listener for receiver `id` and starts serving on it.
fn start_http(
    id: &ComponentId,
    config: &HttpServerConfig,
    routes: Rc<Routes>,
    io: &ShardIo,
) -> Result<(), StartError> {
    let socket =
        listener::bind_reuseport(config.endpoint, io.shards.listen_backlog).map_err(|source| {
            StartError::Listen {
                id: id.clone(),
                source,
            }
        })?;
    let service = Rc::new(http::HttpService::new(
        id.clone(),
        config,
        routes,
        io.budget.clone(),
    ));
    let accept = AcceptSettings {
        shard: io.shard,
        receiver: format!("{id}/http"),
        connections_max: usize::try_from(io.shards.connections_max).unwrap_or(usize::MAX),
    };
    let drain = io.drain.clone();
    let serve = move |stream| {
        let service = service.clone();
        let drain = drain.clone();
        async move { http::serve_connection(stream, service, drain).await }
    };
    task::spawn_local(listen::accept_loop(
        socket,
        accept,
        io.connections.clone(),
        io.drain.clone(),
        serve,
    ))
    .detach();
    Ok(())
}
