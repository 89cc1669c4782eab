//! OTLP/HTTP: `POST` of an export request to `/v1/traces`, `/v1/metrics` or `/v1/logs`, as
//! protobuf (`application/x-protobuf`) or JSON (`application/json`).
//!
//! One request, step by step (each step may answer with an error status and stop):
//! 1. route: an unknown path → 404; a known path with a method other than POST → 405 with
//!    `Allow` (OPTIONS is the CORS preflight when `cors` is configured); a signal no pipeline
//!    takes from this receiver → 404;
//! 2. `Content-Type` (parameters such as `; charset=utf-8` ignored): protobuf or JSON, else
//!    415; `Content-Encoding`: gzip, zstd, deflate, identity, else 415 (RFC 9110 §15.5.16
//!    names 415 for an unsupported content coding; otelcol answers 400 — the OTLP spec does not
//!    say, so we follow HTTP);
//! 3. read the body within `max_request_body_size` (413) and the body deadline;
//! 4. protobuf goes to [`Ingest::protobuf`] compressed; JSON is decompressed here (same limit,
//!    413), transcoded to protobuf (400 on any fault) and then ingested;
//! 5. answer in the request's encoding: success is an empty `Export*ServiceResponse` (zero
//!    bytes / `{}`); a refusal carries a `google.rpc.Status` with code and message. Load
//!    refusals (shard full, retryable export failure) are 503 with `Retry-After`, so OTLP
//!    clients retry; client mistakes are 4xx, never 5xx.
//!
//! A refusal decided before the body is read closes the connection after the answer (the
//! unread body would otherwise be taken for the next request).

use std::rc::Rc;

use bytes::Bytes;
use prost::Message;
use shardgate_io::compression::{self, Codec, DecompressError};
use shardgate_io::http1_server::{Http1Error, Limits, RequestHead, Timeouts};

use super::cors::Cors;
use super::ingest::{Ingest, IngestError};
use crate::config::{ComponentId, HttpServerConfig};
use crate::exporter::grpc_status::RpcStatus;
use crate::extension::auth::ServerAuth;
use crate::otlp::json::{self, JsonError};
use crate::pipeline::budget::Budget;
use crate::pipeline::routes::Routes;
use crate::receiver::http1::{Answer, HttpApi};
use crate::signal::Signal;

/// Seconds a client is told to wait before retrying a load refusal.
const RETRY_AFTER_SECS: u32 = 1;

/// gRPC codes carried in the `google.rpc.Status` of error answers.
const CODE_INVALID_ARGUMENT: i32 = 3;
const CODE_NOT_FOUND: i32 = 5;
const CODE_RESOURCE_EXHAUSTED: i32 = 8;
const CODE_UNIMPLEMENTED: i32 = 12;
const CODE_INTERNAL: i32 = 13;
const CODE_UNAVAILABLE: i32 = 14;
const CODE_UNAUTHENTICATED: i32 = 16;

/// The body encoding of a request (and so of its answer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyEncoding {
    /// `application/x-protobuf`.
    Protobuf,
    /// `application/json`.
    Json,
}

impl BodyEncoding {
    fn content_type(self) -> &'static str {
        match self {
            BodyEncoding::Protobuf => "application/x-protobuf",
            BodyEncoding::Json => "application/json",
        }
    }
}

/// Why a request was refused; each maps to the HTTP status the OTLP spec asks for.
#[derive(Debug, thiserror::Error)]
pub enum HttpReceiveError {
    /// No route for this path.
    #[error("no OTLP endpoint at {0}")]
    NotFound(String),
    /// A method other than POST.
    #[error("method {0} is not allowed; use POST")]
    Method(String),
    /// Neither protobuf nor JSON.
    #[error("unsupported Content-Type {0:?}; use application/x-protobuf or application/json")]
    ContentType(String),
    /// A content coding we do not speak.
    #[error("unsupported Content-Encoding {0:?}; supported: gzip, zstd, deflate, identity")]
    ContentEncoding(String),
    /// The JSON body is not a valid OTLP/JSON request.
    #[error("{0}")]
    Json(#[from] JsonError),
    /// The body was refused by ingest.
    #[error("{0}")]
    Ingest(#[from] IngestError),
}

impl HttpReceiveError {
    /// HTTP status and `google.rpc.Status` code.
    fn codes(&self) -> (u16, i32) {
        match self {
            HttpReceiveError::NotFound(_) => (404, CODE_NOT_FOUND),
            HttpReceiveError::Method(_) => (405, CODE_UNIMPLEMENTED),
            HttpReceiveError::ContentType(_) | HttpReceiveError::ContentEncoding(_) => {
                (415, CODE_UNIMPLEMENTED)
            }
            HttpReceiveError::Json(_) => (400, CODE_INVALID_ARGUMENT),
            HttpReceiveError::Ingest(e) => ingest_codes(e),
        }
    }
}

/// The HTTP status and `google.rpc.Status` code of an ingest refusal; every HTTP receiver
/// answers these the same way.
pub(crate) fn ingest_codes(error: &IngestError) -> (u16, i32) {
    match error {
        IngestError::SignalNotServed(_) => (404, CODE_UNIMPLEMENTED),
        IngestError::Decompress(DecompressError::TooLarge { .. }) => (413, CODE_RESOURCE_EXHAUSTED),
        IngestError::Decompress(_) | IngestError::Scan(_) => (400, CODE_INVALID_ARGUMENT),
        IngestError::Overloaded | IngestError::MemoryPressure | IngestError::HandoffLost => {
            (503, CODE_UNAVAILABLE)
        }
        IngestError::Unauthenticated => (401, CODE_UNAUTHENTICATED),
        IngestError::Export(e) if e.is_retryable() => (503, CODE_UNAVAILABLE),
        IngestError::Export(_) => (400, CODE_INVALID_ARGUMENT),
        // 500 is not retryable in OTLP/HTTP: the same data would fail the same way.
        IngestError::Processor(_) => (500, CODE_INTERNAL),
    }
}

/// One receiver's OTLP/HTTP service on one shard.
pub struct HttpService {
    id: ComponentId,
    ingest: Rc<Ingest>,
    paths: [(String, Signal); 3],
    cors: Option<Cors>,
    limits: Limits,
    timeouts: Timeouts,
}

impl HttpService {
    /// The intake for an HTTP protocol with `config`.
    pub fn intake(
        config: &HttpServerConfig,
        routes: Rc<Routes>,
        budget: Budget,
        auth: Option<ServerAuth>,
    ) -> Ingest {
        Ingest::new("http", routes, budget, config.max_request_body_size_bytes)
            .with_auth(auth)
            .with_metadata(config.include_metadata)
    }

    /// The service for receiver `id` with `config`, taking requests in through `ingest`.
    pub fn new(id: ComponentId, config: &HttpServerConfig, ingest: Rc<Ingest>) -> HttpService {
        HttpService {
            id,
            ingest,
            paths: [
                (config.traces_url_path.clone(), Signal::Traces),
                (config.metrics_url_path.clone(), Signal::Metrics),
                (config.logs_url_path.clone(), Signal::Logs),
            ],
            cors: config.cors.as_ref().map(Cors::new),
            limits: Limits {
                body_bytes_max: config.max_request_body_size_bytes,
                ..Limits::default()
            },
            timeouts: Timeouts {
                idle: config.idle_timeout,
                header: config.read_header_timeout,
                body: config.read_timeout,
            },
        }
    }

    /// Decides from the head alone: `Err` answers without reading the body.
    fn route(&self, head: &RequestHead) -> Result<Route, Answer> {
        // Refusals before the content type is checked answer in JSON to JSON clients.
        let reply = match media_type(head.header("content-type")).as_str() {
            "application/json" => BodyEncoding::Json,
            _ => BodyEncoding::Protobuf,
        };
        let Some(signal) = self
            .paths
            .iter()
            .find(|(p, _)| p == head.path())
            .map(|(_, s)| *s)
        else {
            let e = HttpReceiveError::NotFound(head.path().to_owned());
            return Err(error_answer(&e, reply));
        };
        if head.method == "OPTIONS" {
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
        // After the CORS preflight, which browsers send without credentials.
        if let Err(e) = self
            .ingest
            .authenticate(|name| head.header(name).map(str::as_bytes))
        {
            let mut answer = error_answer(&HttpReceiveError::Ingest(e), reply);
            if let Some(challenge) = self.ingest.challenge() {
                answer
                    .headers
                    .push(("WWW-Authenticate", challenge.to_owned()));
            }
            return Err(answer);
        }
        if head.method != "POST" {
            let allow = if self.cors.is_some() {
                "POST, OPTIONS"
            } else {
                "POST"
            };
            let mut answer = error_answer(&HttpReceiveError::Method(head.method.clone()), reply);
            answer.headers.push(("Allow", allow.to_owned()));
            return Err(answer);
        }
        let encoding = match media_type(head.header("content-type")).as_str() {
            "application/x-protobuf" => BodyEncoding::Protobuf,
            "application/json" => BodyEncoding::Json,
            other => {
                let e = HttpReceiveError::ContentType(other.to_owned());
                return Err(error_answer(&e, BodyEncoding::Protobuf));
            }
        };
        if !self.ingest.serves(signal) {
            let e = HttpReceiveError::Ingest(IngestError::SignalNotServed(signal));
            return Err(error_answer(&e, encoding));
        }
        // Under memory pressure the body is left unread: refusing costs no memory.
        if let Err(e) = self.ingest.check_pressure(signal) {
            return Err(error_answer(&HttpReceiveError::Ingest(e), encoding));
        }
        let codec = match content_codec(head) {
            Ok(codec) => codec,
            Err(other) => {
                let e = HttpReceiveError::ContentEncoding(other);
                return Err(error_answer(&e, encoding));
            }
        };
        let metadata = self.ingest.metadata(|| {
            let headers = head.headers.iter();
            headers.map(|(n, v)| (n.as_str(), v.as_str())).collect()
        });
        Ok(Route {
            signal,
            encoding,
            codec,
            metadata,
        })
    }

    /// Takes a whole body for `route`.
    async fn receive(&self, route: &Route, body: Vec<u8>) -> Result<(), HttpReceiveError> {
        match route.encoding {
            BodyEncoding::Protobuf => {
                let metadata = route.metadata.clone();
                self.ingest
                    .protobuf_with(route.signal, Bytes::from(body), route.codec, metadata)
                    .await?
            }
            BodyEncoding::Json => {
                let json = match route.codec {
                    None => Bytes::from(body),
                    Some(codec) => {
                        compression::decompress(codec, &body, self.ingest.max_body_bytes)
                            .map_err(IngestError::from)?
                    }
                };
                let protobuf = Bytes::from(json::json_to_protobuf(route.signal, &json)?);
                let metadata = route.metadata.clone();
                self.ingest
                    .protobuf_with(route.signal, protobuf, None, metadata)
                    .await?
            }
        }
        Ok(())
    }

    fn cors_headers(&self, head: &RequestHead) -> Vec<(&'static str, String)> {
        self.cors
            .as_ref()
            .map(|c| c.actual_headers(head.header("origin")))
            .unwrap_or_default()
    }
}

impl HttpApi for HttpService {
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
        HttpService::route(self, head)
    }

    async fn answer(&self, route: Route, body: Vec<u8>) -> Answer {
        match self.receive(&route, body).await {
            Ok(()) => success_answer(route.encoding),
            Err(error) => {
                tracing::debug!(receiver = %self.id, %error, "refused OTLP/HTTP request");
                error_answer(&error, route.encoding)
            }
        }
    }

    fn extra_headers(&self, head: &RequestHead) -> Vec<(&'static str, String)> {
        self.cors_headers(head)
    }

    fn unreadable(&self, error: &Http1Error) -> Option<Answer> {
        read_error_answer(error)
    }
}

/// What the head decided.
pub struct Route {
    signal: Signal,
    encoding: BodyEncoding,
    codec: Option<Codec>,
    /// Its client metadata (empty without `include_metadata`).
    metadata: crate::pipeline::metadata::Metadata,
}

/// The codec of the request's `Content-Encoding` (`None` for identity), or the coding named
/// when it is none of gzip, zstd, deflate, identity.
pub(crate) fn content_codec(head: &RequestHead) -> Result<Option<Codec>, String> {
    match head.header("content-encoding").map(str::trim) {
        None | Some("") => Ok(None),
        Some(v) if v.eq_ignore_ascii_case("identity") => Ok(None),
        Some(v) if v.eq_ignore_ascii_case("gzip") => Ok(Some(Codec::Gzip)),
        Some(v) if v.eq_ignore_ascii_case("deflate") => Ok(Some(Codec::Deflate)),
        Some(v) if v.eq_ignore_ascii_case("zstd") => Ok(Some(Codec::Zstd)),
        Some(other) => Err(other.to_owned()),
    }
}

/// `application/json; charset=utf-8` → `application/json`.
pub(crate) fn media_type(content_type: Option<&str>) -> String {
    content_type
        .unwrap_or("")
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

fn success_answer(encoding: BodyEncoding) -> Answer {
    // An empty Export*ServiceResponse: full success leaves partial_success unset.
    let body = match encoding {
        BodyEncoding::Protobuf => Vec::new(),
        BodyEncoding::Json => b"{}".to_vec(),
    };
    Answer {
        status: 200,
        headers: vec![("Content-Type", encoding.content_type().to_owned())],
        body,
    }
}

fn error_answer(error: &HttpReceiveError, encoding: BodyEncoding) -> Answer {
    let (status, code) = error.codes();
    let message = error.to_string();
    let body = match encoding {
        BodyEncoding::Protobuf => RpcStatus {
            code,
            message,
            details: Vec::new(),
        }
        .encode_to_vec(),
        BodyEncoding::Json => serde_json::json!({ "code": code, "message": message })
            .to_string()
            .into_bytes(),
    };
    let mut headers = vec![("Content-Type", encoding.content_type().to_owned())];
    if status == 503 || status == 429 {
        headers.push(("Retry-After", RETRY_AFTER_SECS.to_string()));
    }
    Answer {
        status,
        headers,
        body,
    }
}

/// The answer to a request that could not be read, if it gets one.
fn read_error_answer(error: &Http1Error) -> Option<Answer> {
    let status = error.status()?;
    let code = if status == 413 {
        CODE_RESOURCE_EXHAUSTED
    } else {
        CODE_INVALID_ARGUMENT
    };
    let body = RpcStatus {
        code,
        message: error.to_string(),
        details: Vec::new(),
    }
    .encode_to_vec();
    Some(Answer {
        status,
        headers: vec![("Content-Type", "application/x-protobuf".to_owned())],
        body,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn media_types() {
        assert_eq!(
            media_type(Some("application/JSON; charset=utf-8")),
            "application/json"
        );
        assert_eq!(
            media_type(Some(" application/x-protobuf ")),
            "application/x-protobuf"
        );
        assert_eq!(media_type(None), "");
    }

    #[test]
    fn error_bodies_are_encoded_statuses() {
        let e = HttpReceiveError::ContentType("text/plain".into());
        let a = error_answer(&e, BodyEncoding::Protobuf);
        assert_eq!(a.status, 415);
        let status = RpcStatus::decode(a.body.as_slice()).unwrap();
        assert!(status.message.contains("text/plain"));
        let a = error_answer(
            &HttpReceiveError::Ingest(IngestError::Overloaded),
            BodyEncoding::Json,
        );
        assert_eq!(a.status, 503);
        assert!(a.headers.iter().any(|(n, _)| *n == "Retry-After"));
        let v: serde_json::Value = serde_json::from_slice(&a.body).unwrap();
        assert_eq!(v["code"], 14);
    }
}
