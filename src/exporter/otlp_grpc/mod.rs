//! The `otlp` (alias `otlp_grpc`) exporter: OTLP over gRPC to one backend.
//!
//! Each shard owns its own HTTP/2 connection and keeps several requests in flight on it
//! (bounded by `sending_queue.num_consumers` in [`super::delivery`]). A request body is the
//! concatenation of the encoded resource messages behind the gRPC prefix, written without
//! re-encoding; with `compression: gzip` it is compressed in slices by the exporter's reused
//! streams, so the shard keeps answering its receivers meanwhile ([`super::compress`]).

pub mod config;

use std::cell::RefCell;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderName, HeaderValue, Request, StatusCode};
use prost::Message;
use shardgate_io::chunks::Chunks;
use shardgate_io::grpc::{self, Code, Status};
use shardgate_io::h2_client::{FullResponse, H2Client, H2ClientSettings};
use shardgate_shards::task::Semaphore;

use self::config::OtlpExporterConfig;
use super::compress::GzipPool;
use super::delivery::Delivery;
use super::tls::ExporterTls;
use super::{grpc_status, ExportError};
use std::collections::BTreeMap;

use crate::config::ExtensionConfig;
use crate::config::{ComponentId, Compression};
use crate::extension::auth::ClientAuth;
use crate::otlp;
use crate::pipeline::parts::{BuildError, DeliveryParts};
use crate::pipeline::payload::Payload;
use crate::signal::Signal;

const USER_AGENT: &str = concat!("shardgate/", env!("CARGO_PKG_VERSION"));

/// One shard's OTLP/gRPC exporter.
pub struct OtlpGrpcExporter {
    id: ComponentId,
    authority: String,
    compression: Compression,
    timeout: Duration,
    headers: Vec<(HeaderName, HeaderValue)>,
    settings: H2ClientSettings,
    tls: Option<ExporterTls>,
    auth: Option<ClientAuth>,
    client: RefCell<Option<H2Client>>,
    // Only one task reconnects at a time; the others wait for its result.
    connecting: Semaphore,
    gzip: GzipPool,
}

/// One `otlp` exporter instance behind its queue (registered in `crate::registry`).
pub(crate) fn delivery(
    config: &OtlpExporterConfig,
    parts: DeliveryParts<'_>,
) -> Result<Delivery, BuildError> {
    let exporter = OtlpGrpcExporter::new(parts.id.clone(), config)
        .and_then(|e| e.authenticated(config, parts.extensions))
        .map_err(BuildError::Exporter)?;
    let exporter = super::Exporter::OtlpGrpc(exporter);
    Ok(parts.queued(exporter, &config.sending_queue, &config.retry_on_failure))
}

impl OtlpGrpcExporter {
    /// Builds the exporter; it connects lazily on the first export.
    pub fn new(id: ComponentId, config: &OtlpExporterConfig) -> Result<Self, String> {
        if config.compression == Compression::Zstd {
            return Err(format!(
                "exporters::{id}: compression zstd is not supported by this build yet; use gzip or none"
            ));
        }
        let headers = super::headers::fields(&id, &config.headers)?;
        let tls = config
            .tls
            .as_ref()
            .map(|tls| ExporterTls::new(&id, tls, &config.endpoint.host))
            .transpose()?;
        Ok(OtlpGrpcExporter {
            tls,
            auth: None,
            authority: config.endpoint.authority(),
            compression: config.compression,
            timeout: config.timeout,
            headers,
            settings: H2ClientSettings {
                connect_timeout: config.timeout,
                ..H2ClientSettings::default()
            },
            client: RefCell::new(None),
            connecting: Semaphore::new(1),
            gzip: GzipPool::default(),
            id,
        })
    }

    /// Signs every request with the authenticator `config.auth` names.
    pub(crate) fn authenticated(
        mut self,
        config: &OtlpExporterConfig,
        extensions: &BTreeMap<ComponentId, ExtensionConfig>,
    ) -> Result<Self, String> {
        if let Some(id) = &config.auth {
            let auth = ClientAuth::build(id, extensions)
                .map_err(|e| format!("exporters::{}::auth: {e}", self.id))?;
            self.auth = Some(auth);
        }
        Ok(self)
    }

    /// Sends `payload` once and classifies the outcome.
    pub async fn export(&self, payload: &Payload) -> Result<(), ExportError> {
        let body = self.encode(payload).await?;
        let request = self.request(payload)?;
        let client = self.client().await?;
        let response = match client.unary(request, body, self.timeout).await {
            Ok(response) => response,
            Err(error) => {
                if client.is_closed() {
                    self.client.borrow_mut().take();
                }
                return Err(ExportError::retryable(format!(
                    "sending to {}: {error}",
                    self.authority
                )));
            }
        };
        self.classify(payload, &response)
    }

    async fn client(&self) -> Result<H2Client, ExportError> {
        if let Some(client) = self.live_client() {
            return Ok(client);
        }
        let _permit = self
            .connecting
            .acquire_permit(1)
            .await
            .map_err(|e| ExportError::retryable(e.to_string()))?;
        if let Some(client) = self.live_client() {
            return Ok(client);
        }
        let tls = self.tls.as_ref().map(ExporterTls::for_connection);
        let client = H2Client::connect_with(&self.authority, self.settings, tls.as_ref())
            .await
            .map_err(|e| ExportError::retryable(e.to_string()))?;
        tracing::debug!(exporter = %self.id, endpoint = %self.authority, "connected");
        *self.client.borrow_mut() = Some(client.clone());
        Ok(client)
    }

    fn live_client(&self) -> Option<H2Client> {
        let client = self.client.borrow();
        client.as_ref().filter(|c| !c.is_closed()).cloned()
    }

    /// The gRPC message: prefix + the resource messages, compressed if configured. Uncompressed,
    /// it is pieces of the received buffers, written with vectored I/O and never joined.
    async fn encode(&self, payload: &Payload) -> Result<Chunks, ExportError> {
        let len = otlp::encoded_request_len(&payload.chunks);
        if self.compression != Compression::Gzip {
            let prefix = grpc::encode_prefix(false, u32::try_from(len).unwrap_or(u32::MAX));
            return Ok(otlp::encode_request_pieces(&payload.chunks, &prefix));
        }
        let plain = otlp::encode_request_pieces(&payload.chunks, &[]);
        let mut out = Vec::with_capacity(grpc::PREFIX_LEN + len / 4);
        out.extend_from_slice(&[0; grpc::PREFIX_LEN]);
        self.gzip
            .compress(plain.pieces().map(|p| &p[..]), &mut out)
            .await
            .map_err(|e| ExportError::retryable(e.to_string()))?;
        write_prefix(&mut out, true);
        Ok(Chunks::from(Bytes::from(out)))
    }

    fn request(&self, payload: &Payload) -> Result<Request<()>, ExportError> {
        let signal = payload.signal;
        let scheme = if self.tls.is_some() { "https" } else { "http" };
        let uri = format!("{scheme}://{}{}", self.authority, signal.grpc_path());
        let mut builder = Request::post(uri)
            .header("content-type", grpc::CONTENT_TYPE)
            .header("te", "trailers")
            .header("user-agent", USER_AGENT)
            .header("grpc-accept-encoding", "gzip,identity")
            .header("grpc-timeout", format!("{}m", self.timeout.as_millis()));
        if self.compression == Compression::Gzip {
            builder = builder.header("grpc-encoding", "gzip");
        }
        let mut request = builder
            .body(())
            .map_err(|e| ExportError::permanent(format!("building request: {e}")))?;
        let map = request.headers_mut();
        super::headers::apply(map, &self.headers, self.auth.as_ref(), &payload.metadata)?;
        Ok(request)
    }

    fn classify(&self, payload: &Payload, response: &FullResponse) -> Result<(), ExportError> {
        let http_status = response.head.status();
        if http_status != StatusCode::OK {
            return Err(http_error(http_status));
        }
        let status = Status::from_headers(&response.trailers)
            .or_else(|| Status::from_headers(response.head.headers()))
            .unwrap_or_else(|| Status::new(Code::Unknown, "response carried no grpc-status"));
        if status.code == Code::Ok {
            self.log_partial_success(payload, &response.body);
            return Ok(());
        }
        Err(grpc_error(&status))
    }

    fn log_partial_success(&self, payload: &Payload, body: &Bytes) {
        // A compressed response is rare and only carries the partial-success notice.
        let Some(message) = body.get(grpc::PREFIX_LEN..) else {
            return;
        };
        if body.first() != Some(&0) || message.is_empty() {
            return;
        }
        let (rejected, text) = match payload.signal {
            Signal::Traces => partial::<otlp_proto::trace::ExportTraceServiceResponse>(message)
                .map(|p| (p.rejected_spans, p.error_message)),
            Signal::Metrics => {
                partial::<otlp_proto::metrics::ExportMetricsServiceResponse>(message)
                    .map(|p| (p.rejected_data_points, p.error_message))
            }
            Signal::Logs => partial::<otlp_proto::logs::ExportLogsServiceResponse>(message)
                .map(|p| (p.rejected_log_records, p.error_message)),
        }
        .unwrap_or_default();
        if rejected > 0 || !text.is_empty() {
            tracing::warn!(
                exporter = %self.id,
                rejected,
                items = payload.items,
                message = %text,
                "backend accepted the request only in part"
            );
        }
    }
}

mod otlp_proto {
    pub use opentelemetry_proto::tonic::collector::trace::v1 as trace;
    pub use opentelemetry_proto::tonic::collector::{logs::v1 as logs, metrics::v1 as metrics};
}

/// The partial success of an OTLP response type, generically.
trait PartialSuccess: Message + Default {
    type Partial: Default;
    fn partial(self) -> Option<Self::Partial>;
}

macro_rules! partial_success {
    ($response:ty, $partial:ty) => {
        impl PartialSuccess for $response {
            type Partial = $partial;
            fn partial(self) -> Option<$partial> {
                self.partial_success
            }
        }
    };
}

partial_success!(
    otlp_proto::trace::ExportTraceServiceResponse,
    otlp_proto::trace::ExportTracePartialSuccess
);
partial_success!(
    otlp_proto::metrics::ExportMetricsServiceResponse,
    otlp_proto::metrics::ExportMetricsPartialSuccess
);
partial_success!(
    otlp_proto::logs::ExportLogsServiceResponse,
    otlp_proto::logs::ExportLogsPartialSuccess
);

fn partial<R: PartialSuccess>(message: &[u8]) -> Option<R::Partial> {
    R::decode(message).ok()?.partial()
}

fn write_prefix(out: &mut [u8], compressed: bool) {
    let len = out.len().saturating_sub(grpc::PREFIX_LEN);
    let prefix = grpc::encode_prefix(compressed, u32::try_from(len).unwrap_or(u32::MAX));
    if let Some(head) = out.get_mut(..grpc::PREFIX_LEN) {
        head.copy_from_slice(&prefix);
    }
}

/// The OTLP spec's retryable gRPC codes; RESOURCE_EXHAUSTED only when the server sent RetryInfo.
fn grpc_error(status: &Status) -> ExportError {
    let reason = format!("backend answered {:?}: {}", status.code, status.message);
    let retry_after = status
        .details_base64
        .as_deref()
        .and_then(grpc_status::retry_delay);
    match status.code {
        Code::Cancelled
        | Code::DeadlineExceeded
        | Code::Aborted
        | Code::OutOfRange
        | Code::Unavailable
        | Code::DataLoss => ExportError::Retryable {
            reason,
            retry_after,
        },
        Code::ResourceExhausted if retry_after.is_some() => ExportError::Retryable {
            reason,
            retry_after,
        },
        _ => ExportError::Permanent { reason },
    }
}

/// An HTTP status that is not 200 on a gRPC call (a proxy in the way, usually).
fn http_error(status: StatusCode) -> ExportError {
    let reason = format!("backend answered HTTP {status} instead of a gRPC response");
    match status.as_u16() {
        429 | 502 | 503 | 504 => ExportError::retryable(reason),
        _ => ExportError::permanent(reason),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retryable_codes_follow_the_otlp_spec() {
        let retryable = |code| grpc_error(&Status::new(code, "x")).is_retryable();
        assert!(retryable(Code::Unavailable));
        assert!(retryable(Code::DeadlineExceeded));
        assert!(!retryable(Code::InvalidArgument));
        assert!(!retryable(Code::ResourceExhausted));
        assert!(!retryable(Code::Unimplemented));
        assert!(http_error(StatusCode::SERVICE_UNAVAILABLE).is_retryable());
        assert!(!http_error(StatusCode::NOT_FOUND).is_retryable());
    }
}
