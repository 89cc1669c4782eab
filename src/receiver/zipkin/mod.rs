//! The `zipkin` receiver: Zipkin v2 (JSON, protobuf) and v1 (JSON) spans over HTTP on every
//! shard, translated to OTLP and taken in as an OTLP/HTTP request is.

pub mod attributes;
pub mod config;
pub mod http;
pub mod links;
pub mod model;
pub mod proto;
pub mod translate;
pub mod v1;

#[cfg(test)]
mod tests;

use std::rc::Rc;

use crate::config::ComponentId;
use crate::pipeline::routes::Routes;
use crate::receiver::otlp::ingest::Ingest;
use crate::receiver::otlp::{serve_on, server_auth, tls_server, StartError};
use crate::receiver::ShardIo;
use config::ZipkinReceiverConfig;

/// The `transport` of this receiver's intake and metrics.
pub const TRANSPORT: &str = "http";

/// Binds this shard's listener for receiver `id` and starts serving on it.
pub fn start(
    id: &ComponentId,
    config: &ZipkinReceiverConfig,
    routes: Rc<Routes>,
    io: &ShardIo,
) -> Result<(), StartError> {
    let server = &config.server;
    let tls = tls_server(id, TRANSPORT, "", &server.tls, io)?;
    let auth = server_auth(id, "", &server.auth, io)?;
    let intake = Ingest::new(
        TRANSPORT,
        routes,
        io.budget.clone(),
        server.max_request_body_size_bytes,
    )
    .with_auth(auth)
    .shared(io.handoff.as_ref(), &format!("{id}/{TRANSPORT}"));
    let service = Rc::new(http::ZipkinService::new(
        id.clone(),
        server,
        config.parse_string_tags,
        intake,
    ));
    serve_on(id, TRANSPORT, server.endpoint, io, move |stream, drain| {
        crate::receiver::http1::serve_connection(stream, tls.clone(), service.clone(), drain)
    })
}
