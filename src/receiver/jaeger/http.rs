//! Jaeger's collector HTTP endpoint (`protocols.thrift_http`): `POST /api/traces` with a
//! Thrift binary `Batch` (`application/x-thrift` or `application/vnd.apache.thrift.binary`),
//! answered 202 Accepted as Jaeger's collector answers.
//!
//! One request: another path → 404; another method → 405 (`Allow: POST`); the authenticator
//! → 401; no traces pipeline → 404; another content type or an unknown content coding → 415
//! (otelcol answers 400 for the type; RFC 9110 names 415); memory pressure → 503 before the
//! body is read; the body within `max_request_body_size` (413), decompressed within the same
//! limit (413), decoded (400 with the reason), translated and taken in as an OTLP request is
//! (503 + `Retry-After` when refused for load). Error bodies are `text/plain`.

use std::rc::Rc;

use bytes::Bytes;
use prost::Message;
use shardgate_io::compression::{self, Codec};
use shardgate_io::http1_server::{Http1Error, Limits, RequestHead, Timeouts};

use super::model::DecodeError;
use super::{thrift, translate};
use crate::config::ComponentId;
use crate::receiver::http1::{Answer, HttpApi};
use crate::receiver::otlp::config::HttpServerConfig;
use crate::receiver::otlp::cors::Cors;
use crate::receiver::otlp::http::{content_codec, ingest_codes, media_type};
use crate::receiver::otlp::ingest::{Ingest, IngestError};
use crate::signal::Signal;

/// The one path served.
pub const PATH: &str = "/api/traces";

/// Content types of a Thrift binary body, as Jaeger's collector accepts them.
const THRIFT_TYPES: [&str; 2] = [
    "application/x-thrift",
    "application/vnd.apache.thrift.binary",
];

/// Why a Thrift HTTP request was refused.
#[derive(Debug, thiserror::Error)]
pub enum ThriftHttpError {
    /// Another path.
    #[error("no Jaeger endpoint at {0}; POST Thrift batches to /api/traces")]
    NotFound(String),
    /// Another method.
    #[error("method {0} is not allowed; use POST")]
    Method(String),
    /// Not a Thrift binary body.
    #[error("unsupported content type {0:?}; use application/x-thrift")]
    ContentType(String),
    /// A content coding we do not speak.
    #[error("unsupported Content-Encoding {0:?}; supported: gzip, zstd, deflate, identity")]
    ContentEncoding(String),
    /// The body is not a Thrift `Batch`.
    #[error("unable to process request body: {0}")]
    Decode(#[from] DecodeError),
    /// The translated request was refused by ingest.
    #[error("{0}")]
    Ingest(#[from] IngestError),
}

impl ThriftHttpError {
    fn status(&self) -> u16 {
        match self {
            ThriftHttpError::NotFound(_) => 404,
            ThriftHttpError::Method(_) => 405,
            ThriftHttpError::ContentType(_) | ThriftHttpError::ContentEncoding(_) => 415,
            ThriftHttpError::Decode(_) => 400,
            ThriftHttpError::Ingest(e) => ingest_codes(e).0,
        }
    }

    fn answer(&self, service: &ThriftHttpService) -> Answer {
        let mut answer = Answer::text(self.status(), self.to_string());
        match self {
            ThriftHttpError::Method(_) => answer.headers.push(("Allow", "POST".to_owned())),
            ThriftHttpError::Ingest(IngestError::Unauthenticated) => {
                if let Some(challenge) = service.ingest.challenge() {
                    answer
                        .headers
                        .push(("WWW-Authenticate", challenge.to_owned()));
                }
            }
            _ => {}
        }
        answer
    }
}

/// One `jaeger` receiver's Thrift HTTP endpoint on one shard.
pub struct ThriftHttpService {
    id: ComponentId,
    ingest: Rc<Ingest>,
    cors: Option<Cors>,
    limits: Limits,
    timeouts: Timeouts,
}

impl ThriftHttpService {
    /// The service for receiver `id` serving with `server`, taking requests in through `ingest`.
    pub fn new(id: ComponentId, server: &HttpServerConfig, ingest: Rc<Ingest>) -> Self {
        ThriftHttpService {
            id,
            ingest,
            cors: server.cors.as_ref().map(Cors::new),
            limits: Limits {
                body_bytes_max: server.max_request_body_size_bytes,
                ..Limits::default()
            },
            timeouts: Timeouts {
                idle: server.idle_timeout,
                header: server.read_header_timeout,
                body: server.read_timeout,
            },
        }
    }

    fn decide(&self, head: &RequestHead) -> Result<Option<Codec>, ThriftHttpError> {
        if head.path() != PATH {
            return Err(ThriftHttpError::NotFound(head.path().to_owned()));
        }
        self.ingest
            .authenticate(|name| head.header(name).map(str::as_bytes))?;
        if head.method != "POST" {
            return Err(ThriftHttpError::Method(head.method.clone()));
        }
        let content_type = media_type(head.header("content-type"));
        if !THRIFT_TYPES.contains(&content_type.as_str()) {
            return Err(ThriftHttpError::ContentType(content_type));
        }
        if !self.ingest.serves(Signal::Traces) {
            return Err(IngestError::SignalNotServed(Signal::Traces).into());
        }
        self.ingest.check_pressure(Signal::Traces)?;
        content_codec(head).map_err(ThriftHttpError::ContentEncoding)
    }

    async fn receive(&self, codec: Option<Codec>, body: Vec<u8>) -> Result<(), ThriftHttpError> {
        let body = match codec {
            None => Bytes::from(body),
            Some(codec) => compression::decompress(codec, &body, self.ingest.max_body_bytes)
                .map_err(IngestError::from)?,
        };
        let batch = thrift::decode(&body)?;
        let request = translate::to_request(vec![batch], translate::Source::Thrift);
        let otlp = Bytes::from(request.encode_to_vec());
        self.ingest.protobuf(Signal::Traces, otlp, None).await?;
        Ok(())
    }
}

impl HttpApi for ThriftHttpService {
    type Route = Option<Codec>;

    fn id(&self) -> &ComponentId {
        &self.id
    }

    fn ingest(&self) -> &Ingest {
        &self.ingest
    }

    fn limits(&self) -> Limits {
        self.limits
    }

    fn timeouts(&self) -> Timeouts {
        self.timeouts
    }

    fn route(&self, head: &RequestHead) -> Result<Option<Codec>, Answer> {
        if head.method == "OPTIONS" && head.path() == PATH {
            if let Some(cors) = &self.cors {
                let mut answer = Answer::empty(204);
                answer.headers = cors
                    .preflight_headers(
                        head.header("origin"),
                        head.header("access-control-request-method"),
                        head.header("access-control-request-headers"),
                    )
                    .unwrap_or_default();
                return Err(answer);
            }
        }
        self.decide(head).map_err(|error| error.answer(self))
    }

    async fn answer(&self, codec: Option<Codec>, body: Vec<u8>) -> Answer {
        match self.receive(codec, body).await {
            Ok(()) => Answer::empty(202),
            Err(error) => {
                tracing::debug!(receiver = %self.id, %error, "refused Jaeger Thrift request");
                error.answer(self)
            }
        }
    }

    fn extra_headers(&self, head: &RequestHead) -> Vec<(&'static str, String)> {
        self.cors
            .as_ref()
            .map(|c| c.actual_headers(head.header("origin")))
            .unwrap_or_default()
    }

    fn unreadable(&self, error: &Http1Error) -> Option<Answer> {
        Some(Answer::text(error.status()?, error.to_string()))
    }
}
