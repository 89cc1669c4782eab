//! Zipkin's span intake over HTTP/1.1: `POST /api/v2/spans` (JSON or protobuf) and
//! `POST /api/v1/spans` (JSON), answered as a Zipkin server does (202 Accepted, no body).
//!
//! One request, step by step (each step may answer with an error and stop):
//! 1. route: another path → 404; a method other than POST → 405 with `Allow` (OPTIONS is
//!    the CORS preflight when `cors` is configured); the authenticator, if any → 401;
//!    no traces pipeline takes from this receiver → 404;
//! 2. `Content-Type`: v2 takes `application/json` (also when absent, as Zipkin's Go
//!    receiver reads anything else as JSON) and `application/x-protobuf`, v1 takes JSON;
//!    v1 Thrift and anything else → 415; `Content-Encoding` gzip, deflate, zstd or identity,
//!    else 415; memory pressure → 503 before the body is read;
//! 3. the body, within `max_request_body_size` (413), is decompressed within the same limit
//!    (413), decoded (400 with the reason) and translated to an OTLP export request;
//! 4. the OTLP request goes into the pipelines as an OTLP/HTTP protobuf one does (admission,
//!    budget, rebalancing, counters): 202 when taken, 503 + `Retry-After` when refused for
//!    load or a retryable export failure, the OTLP receiver's statuses otherwise.
//!
//! Error answers are `text/plain` with the reason, as Zipkin's receivers answer.

use std::rc::Rc;

use bytes::Bytes;
use prost::Message;
use shardgate_io::compression::{self, Codec};
use shardgate_io::http1_server::{Http1Error, Limits, RequestHead, Timeouts};

use super::model::{self, DecodeError};
use super::{proto, translate, v1};
use crate::config::ComponentId;
use crate::receiver::http1::{Answer, HttpApi};
use crate::receiver::otlp::config::HttpServerConfig;
use crate::receiver::otlp::cors::Cors;
use crate::receiver::otlp::http::{content_codec, ingest_codes, media_type};
use crate::receiver::otlp::ingest::{Ingest, IngestError};
use crate::signal::Signal;

/// The v2 span endpoint.
pub const PATH_V2: &str = "/api/v2/spans";
/// The v1 span endpoint.
pub const PATH_V1: &str = "/api/v1/spans";

/// Why a Zipkin request was refused.
#[derive(Debug, thiserror::Error)]
pub enum ZipkinReceiveError {
    /// No endpoint at this path.
    #[error("no Zipkin endpoint at {0}; POST spans to /api/v2/spans or /api/v1/spans")]
    NotFound(String),
    /// A method other than POST.
    #[error("method {0} is not allowed; use POST")]
    Method(String),
    /// A content type this endpoint does not read.
    #[error("unsupported Content-Type {0:?} at {1}; {2}")]
    ContentType(String, &'static str, &'static str),
    /// A content coding we do not speak.
    #[error("unsupported Content-Encoding {0:?}; supported: gzip, zstd, deflate, identity")]
    ContentEncoding(String),
    /// The body is not valid Zipkin data.
    #[error("{0}")]
    Decode(#[from] DecodeError),
    /// The translated request was refused by ingest.
    #[error("{0}")]
    Ingest(#[from] IngestError),
}

impl ZipkinReceiveError {
    fn status(&self) -> u16 {
        match self {
            ZipkinReceiveError::NotFound(_) => 404,
            ZipkinReceiveError::Method(_) => 405,
            ZipkinReceiveError::ContentType(..) | ZipkinReceiveError::ContentEncoding(_) => 415,
            ZipkinReceiveError::Decode(_) => 400,
            ZipkinReceiveError::Ingest(e) => ingest_codes(e).0,
        }
    }
}

/// The Zipkin encodings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// v2 JSON.
    V2Json,
    /// v2 protobuf `ListOfSpans`.
    V2Protobuf,
    /// v1 JSON.
    V1Json,
}

/// What the head decided.
pub struct Route {
    format: Format,
    codec: Option<Codec>,
}

/// One `zipkin` receiver on one shard.
pub struct ZipkinService {
    id: ComponentId,
    ingest: Rc<Ingest>,
    parse_string_tags: bool,
    cors: Option<Cors>,
    limits: Limits,
    timeouts: Timeouts,
}

impl ZipkinService {
    /// The service for receiver `id` serving with `server`, taking requests in through `ingest`.
    pub fn new(
        id: ComponentId,
        server: &HttpServerConfig,
        parse_string_tags: bool,
        ingest: Rc<Ingest>,
    ) -> ZipkinService {
        ZipkinService {
            id,
            ingest,
            parse_string_tags,
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

    /// Decides from the head: a route, or the error to answer without reading the body.
    fn decide(&self, head: &RequestHead) -> Result<Route, ZipkinReceiveError> {
        let v1 = match head.path() {
            PATH_V2 => false,
            PATH_V1 => true,
            other => return Err(ZipkinReceiveError::NotFound(other.to_owned())),
        };
        self.ingest
            .authenticate(|name| head.header(name).map(str::as_bytes))?;
        if head.method != "POST" {
            return Err(ZipkinReceiveError::Method(head.method.clone()));
        }
        let format = match (v1, media_type(head.header("content-type")).as_str()) {
            (false, "" | "application/json") => Format::V2Json,
            (false, "application/x-protobuf") => Format::V2Protobuf,
            (true, "" | "application/json") => Format::V1Json,
            (true, "application/x-thrift") => {
                return Err(ZipkinReceiveError::ContentType(
                    "application/x-thrift".into(),
                    PATH_V1,
                    "Zipkin v1 Thrift is not supported: send v1 JSON, or v2 to /api/v2/spans",
                ))
            }
            (false, other) => {
                return Err(ZipkinReceiveError::ContentType(
                    other.to_owned(),
                    PATH_V2,
                    "use application/json or application/x-protobuf",
                ))
            }
            (true, other) => {
                return Err(ZipkinReceiveError::ContentType(
                    other.to_owned(),
                    PATH_V1,
                    "use application/json",
                ))
            }
        };
        if !self.ingest.serves(Signal::Traces) {
            return Err(IngestError::SignalNotServed(Signal::Traces).into());
        }
        self.ingest.check_pressure(Signal::Traces)?;
        let codec = content_codec(head).map_err(ZipkinReceiveError::ContentEncoding)?;
        Ok(Route { format, codec })
    }

    /// Decodes, translates and takes in one body.
    async fn receive(&self, route: &Route, body: Vec<u8>) -> Result<(), ZipkinReceiveError> {
        let body = match route.codec {
            None => Bytes::from(body),
            Some(codec) => compression::decompress(codec, &body, self.ingest.max_body_bytes)
                .map_err(IngestError::from)?,
        };
        let request = match route.format {
            Format::V2Json => {
                translate::to_request(model::decode_json(&body)?, self.parse_string_tags)?
            }
            Format::V2Protobuf => {
                translate::to_request(proto::decode(&body)?, self.parse_string_tags)?
            }
            Format::V1Json => v1::to_request(&body, self.parse_string_tags)?,
        };
        let otlp = Bytes::from(request.encode_to_vec());
        self.ingest.protobuf(Signal::Traces, otlp, None).await?;
        Ok(())
    }
}

impl HttpApi for ZipkinService {
    type Route = Route;

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

    fn route(&self, head: &RequestHead) -> Result<Route, Answer> {
        if head.method == "OPTIONS" && matches!(head.path(), PATH_V2 | PATH_V1) {
            if let Some(cors) = &self.cors {
                let headers = cors
                    .preflight_headers(
                        head.header("origin"),
                        head.header("access-control-request-method"),
                        head.header("access-control-request-headers"),
                    )
                    .unwrap_or_default();
                return Err(Answer {
                    status: 204,
                    headers,
                    body: Vec::new(),
                });
            }
        }
        self.decide(head).map_err(|error| {
            let mut answer = error_answer(&error);
            if error.status() == 401 {
                if let Some(challenge) = self.ingest.challenge() {
                    answer
                        .headers
                        .push(("WWW-Authenticate", challenge.to_owned()));
                }
            }
            if error.status() == 405 {
                let allow = if self.cors.is_some() {
                    "POST, OPTIONS"
                } else {
                    "POST"
                };
                answer.headers.push(("Allow", allow.to_owned()));
            }
            answer
        })
    }

    async fn answer(&self, route: Route, body: Vec<u8>) -> Answer {
        match self.receive(&route, body).await {
            Ok(()) => Answer::empty(202),
            Err(error) => {
                tracing::debug!(receiver = %self.id, format = ?route.format, %error, "refused Zipkin request");
                error_answer(&error)
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
        let status = error.status()?;
        Some(Answer::text(status, error.to_string()))
    }
}

fn error_answer(error: &ZipkinReceiveError) -> Answer {
    Answer::text(error.status(), error.to_string())
}
