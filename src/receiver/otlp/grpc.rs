//! OTLP/gRPC: the `Export` method of the trace, metrics and logs services; and the unary
//! gRPC serving other receivers share through [`GrpcApi`] (Jaeger's `PostSpans`).
//!
//! One request is handled in these steps, each of which may answer with an OTLP status:
//! 1. route by path (UNIMPLEMENTED for an unknown method or a signal no pipeline takes);
//! 2. read the one message, refusing it from its prefix if it is over the limit;
//! 3. hand it to [`super::ingest`]: decompress within the same limit (RESOURCE_EXHAUSTED),
//!    scan (INVALID_ARGUMENT, saying what is wrong), admit (UNAVAILABLE when the shard is
//!    full, so the client retries), consume; success is answered once it is in the batches.

use std::future::Future;
use std::rc::Rc;

use bytes::Bytes;
use h2::RecvStream;
use http::{Method, Request, Response, StatusCode};
use shardgate_io::grpc::{self, Code, Encoding, FrameError, Status};
use shardgate_io::h2_server::{self, H2ServerSettings, Respond};
use shardgate_io::{IoError, TcpStream};
use shardgate_shards::DrainSignal;

use super::ingest::{Ingest, IngestError};
use crate::config::ComponentId;
use crate::pipeline::metadata::Metadata;
use crate::receiver::tls::{establish, TlsServer};
use crate::signal::Signal;
use shardgate_io::compression::{Codec, DecompressError};

/// Why a gRPC request was refused; each maps to the status the OTLP spec asks for.
#[derive(Debug, thiserror::Error)]
pub enum ReceiveError {
    /// The path names no OTLP export method.
    #[error("unknown method {0}")]
    UnknownMethod(String),
    /// The message is compressed with a codec we do not speak.
    #[error("unsupported grpc-encoding {0:?}; supported: gzip, zstd, deflate, identity")]
    Encoding(String),
    /// The message framing is wrong or the message is too large.
    #[error("{0}")]
    Frame(#[from] FrameError),
    /// The message is not a valid request of its method (other APIs than OTLP; OTLP's scan
    /// errors are ingest errors).
    #[error("{0}")]
    Invalid(String),
    /// The body was refused after framing.
    #[error("{0}")]
    Ingest(#[from] IngestError),
}

impl ReceiveError {
    /// The gRPC status for this refusal.
    pub fn status(&self) -> Status {
        let code = match self {
            ReceiveError::UnknownMethod(_)
            | ReceiveError::Encoding(_)
            | ReceiveError::Ingest(IngestError::SignalNotServed(_)) => Code::Unimplemented,
            ReceiveError::Frame(FrameError::TooLarge { .. })
            | ReceiveError::Ingest(IngestError::Decompress(DecompressError::TooLarge { .. })) => {
                Code::ResourceExhausted
            }
            ReceiveError::Frame(_)
            | ReceiveError::Invalid(_)
            | ReceiveError::Ingest(IngestError::Decompress(_) | IngestError::Scan(_)) => {
                Code::InvalidArgument
            }
            ReceiveError::Ingest(
                IngestError::Overloaded | IngestError::MemoryPressure | IngestError::HandoffLost,
            ) => Code::Unavailable,
            ReceiveError::Ingest(IngestError::Unauthenticated) => Code::Unauthenticated,
            ReceiveError::Ingest(IngestError::Export(error)) if error.is_retryable() => {
                Code::Unavailable
            }
            ReceiveError::Ingest(IngestError::Export(_)) => Code::InvalidArgument,
            // Not the client's fault and not worth retrying: the same data fails the same way.
            ReceiveError::Ingest(IngestError::Processor(_)) => Code::Internal,
        };
        Status::new(code, self.to_string())
    }
}

/// The unary methods one gRPC receiver serves and how it takes their messages in.
pub trait GrpcApi {
    /// The signal the method at `path` carries, or `None` for a method it does not serve.
    fn signal(&self, path: &str) -> Option<Signal>;
    /// Takes one request message in (`codec` when it is compressed) with the request's client
    /// `metadata`; `Ok` means it is in the pipelines and the method's (empty) response may be
    /// sent.
    fn take(
        &self,
        ingest: &Ingest,
        signal: Signal,
        message: Bytes,
        codec: Option<Codec>,
        metadata: Metadata,
    ) -> impl Future<Output = Result<(), ReceiveError>>;
}

/// OTLP's `Export` methods: the message is an export request, taken in as it is.
pub struct OtlpExport;

impl GrpcApi for OtlpExport {
    fn signal(&self, path: &str) -> Option<Signal> {
        Signal::from_grpc_path(path)
    }

    async fn take(
        &self,
        ingest: &Ingest,
        signal: Signal,
        message: Bytes,
        codec: Option<Codec>,
        metadata: Metadata,
    ) -> Result<(), ReceiveError> {
        Ok(ingest
            .protobuf_with(signal, message, codec, metadata)
            .await?)
    }
}

/// One receiver's gRPC service on one shard.
pub struct GrpcService<A = OtlpExport> {
    id: ComponentId,
    ingest: Rc<Ingest>,
    api: A,
}

impl<A: GrpcApi> GrpcService<A> {
    /// The service for receiver `id` serving `api`, taking requests in through `ingest`.
    pub fn with_api(id: ComponentId, ingest: Rc<Ingest>, api: A) -> Self {
        GrpcService { id, ingest, api }
    }

    /// Handles one request stream and answers it.
    pub async fn handle(self: Rc<Self>, request: Request<RecvStream>, respond: Respond) {
        if !is_grpc(&request) {
            // gRPC's HTTP/2 mapping: a non-gRPC content type is refused at the HTTP level.
            let mut response = Response::new(());
            *response.status_mut() = StatusCode::UNSUPPORTED_MEDIA_TYPE;
            let _ = respond.send_headers_only(response);
            return;
        }
        match self.receive(request).await {
            Ok(()) => {
                let reply = respond.send(
                    grpc::response_head(&Encoding::Identity),
                    // An empty response (Export*ServiceResponse: full success leaves
                    // partial_success unset; Jaeger's PostSpansResponse has no fields).
                    grpc::frame(false, &[]),
                    grpc::trailers(&Status::new(Code::Ok, "")),
                );
                if let Err(error) = reply.await {
                    tracing::debug!(receiver = %self.id, %error, "client went away before the answer");
                }
            }
            Err(ReceiveError::Frame(FrameError::H2(error))) => {
                tracing::debug!(receiver = %self.id, %error, "request stream failed");
            }
            Err(error) => {
                let status = error.status();
                tracing::debug!(receiver = %self.id, code = ?status.code, %error, "refused request");
                let _ = respond.send_headers_only(grpc::trailers_only(&status));
            }
        }
    }

    async fn receive(&self, request: Request<RecvStream>) -> Result<(), ReceiveError> {
        self.ingest
            .authenticate(|name| request.headers().get(name).map(|v| v.as_bytes()))?;
        let path = request.uri().path();
        let signal = self
            .api
            .signal(path)
            .ok_or_else(|| ReceiveError::UnknownMethod(path.to_owned()))?;
        if !self.ingest.serves(signal) {
            return Err(IngestError::SignalNotServed(signal).into());
        }
        let codec = match Encoding::from_headers(request.headers()) {
            Encoding::Identity => None,
            Encoding::Gzip => Some(Codec::Gzip),
            Encoding::Deflate => Some(Codec::Deflate),
            Encoding::Zstd => Some(Codec::Zstd),
            other => return Err(ReceiveError::Encoding(other.as_str().to_owned())),
        };
        // Under memory pressure the body is left unread: refusing costs no memory.
        self.ingest.check_pressure(signal)?;
        let metadata = self.ingest.metadata(|| {
            // gRPC metadata is ASCII; a value that is not (a `-bin` key's) is left out.
            let headers = request.headers().iter();
            headers
                .filter_map(|(name, value)| Some((name.as_str(), value.to_str().ok()?)))
                .collect()
        });
        let mut body = request.into_body();
        let message = grpc::read_unary(&mut body, self.ingest.max_body_bytes).await?;
        let codec = match (message.compressed, codec) {
            (false, _) => None,
            (true, Some(codec)) => Some(codec),
            (true, None) => {
                return Err(ReceiveError::Encoding(
                    "compressed message without grpc-encoding".into(),
                ))
            }
        };
        self.api
            .take(&self.ingest, signal, message.payload, codec, metadata)
            .await
    }
}

fn is_grpc(request: &Request<RecvStream>) -> bool {
    request.method() == Method::POST
        && request
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with(grpc::CONTENT_TYPE))
}

/// Serves one accepted connection until the client leaves or the shard drains.
pub async fn serve_connection<A: GrpcApi + 'static>(
    stream: TcpStream,
    tls: Option<Rc<TlsServer>>,
    settings: H2ServerSettings,
    service: Rc<GrpcService<A>>,
    drain: DrainSignal,
) {
    let failures = service.ingest.counters().map(|c| &c.tls_handshake_failures);
    let Some(conn) = establish(stream, tls.as_deref(), failures).await else {
        return;
    };
    let this = service.clone();
    let handler = move |request, respond| this.clone().handle(request, respond);
    match h2_server::serve(conn, settings, handler, drain.wait()).await {
        Ok(()) => {}
        Err(IoError::Abuse(abuse)) => {
            tracing::warn!(receiver = %service.id, %abuse, "closed an abusive HTTP/2 connection (GOAWAY ENHANCE_YOUR_CALM)");
            if let Some(counters) = service.ingest.counters() {
                counters.abusive_connections[abuse.index()].add(1);
            }
        }
        Err(error) => {
            tracing::debug!(receiver = %service.id, %error, "connection ended with an error");
        }
    }
}
