//! The `jaeger` receiver: api_v2 `PostSpans` over gRPC, Thrift batches over HTTP and the
//! agent's `emitBatch` datagrams over UDP (Thrift compact and binary) on every shard,
//! translated to OTLP and taken in as an OTLP request is.

pub mod agent;
pub mod compact;
pub mod config;
pub mod http;
pub mod model;
pub mod proto;
pub mod thrift;
pub mod translate;
pub mod udp;

#[cfg(test)]
mod tests;

use std::rc::Rc;

use bytes::Bytes;
use prost::Message;
use shardgate_io::compression::{self, Codec};

use crate::config::ComponentId;
use crate::pipeline::routes::Routes;
use crate::receiver::otlp::grpc::{GrpcApi, ReceiveError};
use crate::receiver::otlp::ingest::{Ingest, IngestError};
use crate::receiver::otlp::{serve_grpc, serve_on, server_auth, tls_server, StartError};
use crate::receiver::ShardIo;
use crate::signal::Signal;
use agent::AgentProtocol;
use config::{JaegerReceiverConfig, UdpServerConfig};
use shardgate_shards::task;

/// The `transport` of the gRPC intake (otelcol's label).
pub const TRANSPORT_GRPC: &str = "grpc";
/// The `transport` of the Thrift HTTP intake (otelcol's label).
pub const TRANSPORT_THRIFT_HTTP: &str = "collector_http";
/// The `transport` of the agent's compact UDP port (otelcol's label).
pub const TRANSPORT_UDP_COMPACT: &str = "udp_thrift_compact";
/// The `transport` of the agent's binary UDP port (otelcol's label).
pub const TRANSPORT_UDP_BINARY: &str = "udp_thrift_binary";

/// Binds this shard's listeners for receiver `id` and starts serving on them.
pub fn start(
    id: &ComponentId,
    config: &JaegerReceiverConfig,
    routes: Rc<Routes>,
    io: &ShardIo,
) -> Result<(), StartError> {
    if let Some(server) = &config.thrift_http {
        let at = "::protocols::thrift_http";
        let tls = tls_server(id, TRANSPORT_THRIFT_HTTP, at, &server.tls, io)?;
        let auth = server_auth(id, at, &server.auth, io)?;
        let intake = Ingest::new(
            TRANSPORT_THRIFT_HTTP,
            routes.clone(),
            io.budget.clone(),
            server.max_request_body_size_bytes,
        )
        .with_auth(auth)
        .shared(
            io.handoff.as_ref(),
            &format!("{id}/{TRANSPORT_THRIFT_HTTP}"),
        );
        let service = Rc::new(http::ThriftHttpService::new(id.clone(), server, intake));
        serve_on(
            id,
            TRANSPORT_THRIFT_HTTP,
            server.endpoint,
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
    if let Some(grpc) = &config.grpc {
        serve_grpc(id, TRANSPORT_GRPC, grpc, routes.clone(), PostSpans, io)?;
    }
    let udp = [
        (
            &config.thrift_compact,
            AgentProtocol::Compact,
            TRANSPORT_UDP_COMPACT,
        ),
        (
            &config.thrift_binary,
            AgentProtocol::Binary,
            TRANSPORT_UDP_BINARY,
        ),
    ];
    for (server, protocol, transport) in udp {
        if let Some(server) = server {
            serve_udp(id, server, protocol, transport, routes.clone(), io)?;
        }
    }
    Ok(())
}

/// Binds this shard's socket of one agent UDP port and reads it until the shard drains.
fn serve_udp(
    id: &ComponentId,
    server: &UdpServerConfig,
    protocol: AgentProtocol,
    transport: &'static str,
    routes: Rc<Routes>,
    io: &ShardIo,
) -> Result<(), StartError> {
    let socket = shardgate_io::udp::bind_reuseport(server.endpoint, server.socket_buffer_size)
        .map_err(|source| StartError::Listen {
            id: id.clone(),
            source,
        })?;
    let name = udp::intake_name(id, transport);
    let ingest = Ingest::new(transport, routes, io.budget.clone(), server.max_packet_size)
        .shared(io.handoff.as_ref(), &name);
    let intake = udp::UdpIntake {
        name,
        protocol,
        ingest,
        max_packet_size: server.max_packet_size,
    };
    task::spawn_local(udp::serve(socket, intake, io.drain.clone())).detach();
    Ok(())
}

/// `jaeger.api_v2.CollectorService/PostSpans`: the batch is decoded, translated and taken in.
pub struct PostSpans;

impl GrpcApi for PostSpans {
    fn signal(&self, path: &str) -> Option<Signal> {
        (path == proto::POST_SPANS_PATH).then_some(Signal::Traces)
    }

    async fn take(
        &self,
        ingest: &Ingest,
        signal: Signal,
        message: Bytes,
        codec: Option<Codec>,
        metadata: crate::pipeline::metadata::Metadata,
    ) -> Result<(), ReceiveError> {
        let message = match codec {
            None => message,
            Some(codec) => compression::decompress(codec, &message, ingest.max_body_bytes)
                .map_err(IngestError::from)?,
        };
        let batch = proto::decode(&message).map_err(|e| ReceiveError::Invalid(e.to_string()))?;
        let request = translate::to_request(vec![batch], translate::Source::Protobuf);
        let otlp = Bytes::from(request.encode_to_vec());
        Ok(ingest.protobuf_with(signal, otlp, None, metadata).await?)
    }
}
