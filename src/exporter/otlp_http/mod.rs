//! The `otlphttp` (alias `otlp_http`) exporter: OTLP over HTTP/1.1 to one backend.
//!
//! One instance exists per (exporter id, signal) on a shard, so it has exactly one target URL.
//! Step by step, per export:
//! 1. Body: the concatenation of the batch's encoded resource messages (protobuf merges
//!    repeated fields, so this is a valid `Export*ServiceRequest`, not re-encoded); for
//!    `encoding: json`, that request converted to OTLP/JSON.
//! 2. Compression: gzip (in slices, by the exporter's reused streams, so the shard keeps
//!    answering its receivers meanwhile: [`super::compress`]) or zstd (the shard's reused
//!    zstd context, level 1: fast, as otelcol's default "SpeedFastest"), with `Content-Encoding`.
//! 3. `POST` over the shard's keep-alive pool (at most `sending_queue.num_consumers`
//!    connections, which is also how many requests are in flight, see `delivery`).
//! 4. The response is classified per the OTLP/HTTP spec: 2xx success (a partial success is
//!    logged); 429, 502, 503, 504 retryable with `Retry-After` honoured; any other status
//!    permanent, with the `google.rpc.Status` message of the body when it decodes; transport
//!    failures and timeouts retryable.

pub mod config;

use std::cell::RefCell;
use std::time::{Duration, SystemTime};

use bytes::{Bytes, BytesMut};
use http::{HeaderMap, HeaderName, HeaderValue, Request};
use prost::Message;
use shardgate_io::http1_client::{Http1Client, Http1Response, Http1Settings};

use self::config::{HttpEncoding, HttpUrl, OtlpHttpExporterConfig};
use super::compress::GzipPool;
use super::delivery::Delivery;
use super::grpc_status::RpcStatus;
use super::tls::ExporterTls;
use super::ExportError;
use crate::config::{ComponentId, Compression};
use crate::extension::auth::ClientAuth;
use crate::otlp;
use crate::pipeline::parts::{BuildError, DeliveryParts};
use crate::pipeline::payload::Payload;
use crate::signal::Signal;

const USER_AGENT: &str = concat!("shardgate/", env!("CARGO_PKG_VERSION"));
/// zstd level: 1 is zstd's fastest standard level, the trade a gateway wants.
const ZSTD_LEVEL: i32 = 1;
/// Most characters of a response body quoted in an error when it is not a `Status`.
const ERROR_BODY_CHARS_MAX: usize = 256;
/// Upper bound on a server-given `Retry-After` as read (delivery caps the wait itself).
const RETRY_AFTER_MAX: Duration = super::delivery::PEER_RETRY_DELAY_MAX;
/// Connections per shard and URL when `sending_queue.num_consumers` is larger (HTTP/1.1
/// needs one per in-flight request; beyond this, requests wait for a free connection).
const CONNECTIONS_MAX: usize = 64;

/// One shard's OTLP/HTTP exporter for one signal.
pub struct OtlpHttpExporter {
    id: ComponentId,
    signal: Signal,
    url: HttpUrl,
    encoding: HttpEncoding,
    compression: Compression,
    timeout: Duration,
    headers: Vec<(HeaderName, HeaderValue)>,
    client: Http1Client,
    gzip: GzipPool,
    zstd: RefCell<Option<zstd::bulk::Compressor<'static>>>,
    auth: Option<ClientAuth>,
}

/// One `otlphttp` exporter instance behind its queue (registered in `crate::registry`).
pub(crate) fn delivery(
    config: &OtlpHttpExporterConfig,
    parts: DeliveryParts<'_>,
) -> Result<Delivery, BuildError> {
    let mut exporter = OtlpHttpExporter::new(parts.id.clone(), config, parts.signal)
        .map_err(BuildError::Exporter)?;
    if let Some(id) = &config.auth {
        let auth = ClientAuth::build(id, parts.extensions)
            .map_err(|e| BuildError::Exporter(format!("exporters::{}::auth: {e}", parts.id)))?;
        exporter.auth = Some(auth);
    }
    let exporter = super::Exporter::OtlpHttp(exporter);
    Ok(parts.queued(exporter, &config.sending_queue, &config.retry_on_failure))
}

impl OtlpHttpExporter {
    /// Builds the exporter of `signal`; it connects lazily on the first export.
    pub fn new(
        id: ComponentId,
        config: &OtlpHttpExporterConfig,
        signal: Signal,
    ) -> Result<Self, String> {
        let headers = super::headers::fields(&id, &config.headers)?;
        let url = config.url(signal).clone();
        let consumers = usize::try_from(config.sending_queue.num_consumers).unwrap_or(1);
        let settings = Http1Settings {
            connections_max: consumers.clamp(1, CONNECTIONS_MAX),
            connect_timeout: config.timeout,
            ..Http1Settings::default()
        };
        let zstd = match config.compression {
            Compression::Zstd => Some(
                zstd::bulk::Compressor::new(ZSTD_LEVEL)
                    .map_err(|e| format!("exporters::{id}: zstd: {e}"))?,
            ),
            _ => None,
        };
        let mut client = Http1Client::new(url.authority.clone(), settings);
        if url.https {
            let tls = config.tls.as_ref().ok_or_else(|| {
                format!("exporters::{id}: {url} needs TLS settings (a config bug)")
            })?;
            let tls = std::rc::Rc::new(ExporterTls::new(&id, tls, &url.host)?);
            client = client.with_tls(move || tls.for_connection());
        }
        Ok(OtlpHttpExporter {
            client,
            signal,
            url,
            encoding: config.encoding,
            compression: config.compression,
            timeout: config.timeout,
            headers,
            gzip: GzipPool::default(),
            zstd: RefCell::new(zstd),
            auth: None,
            id,
        })
    }

    /// Sends `payload` once and classifies the outcome.
    pub async fn export(&self, payload: &Payload) -> Result<(), ExportError> {
        let body = self.encode(payload).await?;
        let request = self.request(payload)?;
        let response = self
            .client
            .request(request, body, self.timeout)
            .await
            .map_err(|e| ExportError::retryable(format!("sending to {}: {e}", self.url)))?;
        classify(self.signal, &response).map(|partial| {
            if let Some((rejected, message)) = partial {
                tracing::warn!(
                    exporter = %self.id,
                    rejected,
                    items = payload.items,
                    message = %message,
                    "backend accepted the request only in part"
                );
            }
        })
    }

    /// The request body: the encoded request, as JSON if configured, compressed if configured.
    async fn encode(&self, payload: &Payload) -> Result<Bytes, ExportError> {
        let body = encode_body(self.signal, &payload.chunks, self.encoding)?;
        match self.compression {
            Compression::None => Ok(body),
            Compression::Gzip => {
                let mut out = Vec::with_capacity(body.len() / 4 + 64);
                self.gzip
                    .compress([&body[..]], &mut out)
                    .await
                    .map_err(|e| ExportError::retryable(e.to_string()))?;
                Ok(Bytes::from(out))
            }
            Compression::Zstd => {
                let mut zstd = self.zstd.borrow_mut();
                let compressor = zstd
                    .as_mut()
                    .ok_or_else(|| ExportError::permanent("zstd compressor missing"))?;
                compressor
                    .compress(&body)
                    .map(Bytes::from)
                    .map_err(|e| ExportError::permanent(format!("zstd compression: {e}")))
            }
        }
    }

    fn request(&self, payload: &Payload) -> Result<Request<()>, ExportError> {
        let content_type = match self.encoding {
            HttpEncoding::Proto => "application/x-protobuf",
            HttpEncoding::Json => "application/json",
        };
        let mut builder = Request::post(self.url.path.as_str())
            .header("content-type", content_type)
            .header("user-agent", USER_AGENT);
        if self.compression != Compression::None {
            builder = builder.header("content-encoding", self.compression.grpc_encoding());
        }
        let mut request = builder
            .body(())
            .map_err(|e| ExportError::permanent(format!("building request: {e}")))?;
        let map = request.headers_mut();
        super::headers::apply(map, &self.headers, self.auth.as_ref(), &payload.metadata)?;
        Ok(request)
    }
}

/// The uncompressed body of one request of `signal`.
pub(crate) fn encode_body(
    signal: Signal,
    chunks: &[otlp::ResourceChunk],
    encoding: HttpEncoding,
) -> Result<Bytes, ExportError> {
    let mut plain = BytesMut::with_capacity(otlp::encoded_request_len(chunks));
    otlp::encode_request(chunks, &mut plain);
    match encoding {
        HttpEncoding::Proto => Ok(plain.freeze()),
        HttpEncoding::Json => otlp::protobuf_to_json(signal, &plain)
            .map(Bytes::from)
            .map_err(|e| ExportError::permanent(format!("encoding OTLP/JSON: {e}"))),
    }
}

/// Success with an optional partial success (rejected count, message), or the export error.
type Classified = Result<Option<(i64, String)>, ExportError>;

/// Classifies a response per the OTLP/HTTP spec.
fn classify(signal: Signal, response: &Http1Response) -> Classified {
    let status = response.status;
    if status.is_success() {
        return Ok(partial_success(signal, response));
    }
    let detail = error_message(response);
    let reason = match detail {
        Some(message) => format!("backend answered HTTP {status}: {message}"),
        None => format!("backend answered HTTP {status}"),
    };
    match status.as_u16() {
        429 | 502 | 503 | 504 => Err(ExportError::Retryable {
            reason,
            retry_after: retry_after(&response.headers, SystemTime::now()),
        }),
        _ => Err(ExportError::Permanent { reason }),
    }
}

fn is_json(headers: &HeaderMap) -> bool {
    headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.trim_start()
                .to_ascii_lowercase()
                .starts_with("application/json")
        })
}

fn is_proto(headers: &HeaderMap) -> bool {
    headers
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            let v = v.trim_start().to_ascii_lowercase();
            v.starts_with("application/x-protobuf") || v.starts_with("application/protobuf")
        })
}

/// The response body, decompressed when the server said `Content-Encoding: gzip`.
fn plain_body(response: &Http1Response) -> Option<Bytes> {
    let encoding = response
        .headers
        .get(http::header::CONTENT_ENCODING)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.trim().to_ascii_lowercase());
    match encoding.as_deref() {
        None | Some("") | Some("identity") => Some(response.body.clone()),
        Some("gzip") => shardgate_io::compression::decompress(
            shardgate_io::compression::Codec::Gzip,
            &response.body,
            shardgate_io::http1_client::RESPONSE_BODY_BYTES_MAX,
        )
        .ok(),
        Some(_) => None,
    }
}

/// The partial success of a 2xx response body, if it reports rejected items or a message.
fn partial_success(signal: Signal, response: &Http1Response) -> Option<(i64, String)> {
    let body = plain_body(response)?;
    if body.is_empty() {
        return None;
    }
    let (rejected, message) = if is_json(&response.headers) {
        json_partial(signal, &body)?
    } else {
        proto_partial(signal, &body)?
    };
    (rejected > 0 || !message.is_empty()).then_some((rejected, message))
}

fn proto_partial(signal: Signal, body: &[u8]) -> Option<(i64, String)> {
    use opentelemetry_proto::tonic::collector::{logs, metrics, trace};
    match signal {
        Signal::Traces => trace::v1::ExportTraceServiceResponse::decode(body)
            .ok()?
            .partial_success
            .map(|p| (p.rejected_spans, p.error_message)),
        Signal::Metrics => metrics::v1::ExportMetricsServiceResponse::decode(body)
            .ok()?
            .partial_success
            .map(|p| (p.rejected_data_points, p.error_message)),
        Signal::Logs => logs::v1::ExportLogsServiceResponse::decode(body)
            .ok()?
            .partial_success
            .map(|p| (p.rejected_log_records, p.error_message)),
    }
}

fn json_partial(signal: Signal, body: &[u8]) -> Option<(i64, String)> {
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    let partial = value.get("partialSuccess")?;
    let key = match signal {
        Signal::Traces => "rejectedSpans",
        Signal::Metrics => "rejectedDataPoints",
        Signal::Logs => "rejectedLogRecords",
    };
    // OTLP/JSON writes int64 as a string, but numbers are accepted too.
    let rejected = match partial.get(key) {
        Some(serde_json::Value::String(s)) => s.parse().unwrap_or(0),
        Some(v) => v.as_i64().unwrap_or(0),
        None => 0,
    };
    let message = partial
        .get("errorMessage")
        .and_then(|m| m.as_str())
        .unwrap_or_default()
        .to_owned();
    Some((rejected, message))
}

/// The message of an error response: `google.rpc.Status` (proto or JSON), else short text.
fn error_message(response: &Http1Response) -> Option<String> {
    let body = plain_body(response)?;
    if body.is_empty() {
        return None;
    }
    if is_proto(&response.headers) {
        if let Ok(status) = RpcStatus::decode(body.as_ref()) {
            return Some(status.message);
        }
    }
    if is_json(&response.headers) {
        if let Ok(value) = serde_json::from_slice::<serde_json::Value>(&body) {
            if let Some(message) = value.get("message").and_then(|m| m.as_str()) {
                return Some(message.to_owned());
            }
        }
    }
    let text = String::from_utf8_lossy(&body);
    let text: String = text
        .chars()
        .filter(|c| !c.is_control())
        .take(ERROR_BODY_CHARS_MAX)
        .collect();
    Some(text)
}

/// `Retry-After` as delay-seconds or an HTTP-date (RFC 9110 §10.2.3), capped.
fn retry_after(headers: &HeaderMap, now: SystemTime) -> Option<Duration> {
    let text = headers
        .get(http::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    let delay = if let Ok(seconds) = text.parse::<u64>() {
        Duration::from_secs(seconds)
    } else {
        let at = httpdate::parse_http_date(text).ok()?;
        at.duration_since(now).unwrap_or(Duration::ZERO)
    };
    Some(delay.min(RETRY_AFTER_MAX))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use http::StatusCode;
    use opentelemetry_proto::tonic::collector::trace::v1 as trace;

    fn response(status: u16, headers: &[(&str, &str)], body: &[u8]) -> Http1Response {
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            map.insert(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        Http1Response {
            status: StatusCode::from_u16(status).unwrap(),
            headers: map,
            body: Bytes::copy_from_slice(body),
        }
    }

    fn class(status: u16) -> Classified {
        classify(Signal::Traces, &response(status, &[], b""))
    }

    #[test]
    fn every_status_class() {
        for ok in [200, 201, 202, 204] {
            assert_eq!(class(ok).unwrap(), None, "{ok}");
        }
        for retry in [429, 502, 503, 504] {
            assert!(class(retry).unwrap_err().is_retryable(), "{retry}");
        }
        for permanent in [300, 400, 401, 403, 404, 405, 413, 415, 500, 501, 505] {
            assert!(!class(permanent).unwrap_err().is_retryable(), "{permanent}");
        }
    }

    #[test]
    fn retry_after_forms() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000_000);
        let headers = |v: &str| response(503, &[("retry-after", v)], b"").headers;
        assert_eq!(
            retry_after(&headers("7"), now),
            Some(Duration::from_secs(7))
        );
        assert_eq!(retry_after(&headers(" 0 "), now), Some(Duration::ZERO));
        let date = httpdate::fmt_http_date(now + Duration::from_secs(120));
        assert_eq!(
            retry_after(&headers(&date), now),
            Some(Duration::from_secs(120))
        );
        let past = httpdate::fmt_http_date(now - Duration::from_secs(120));
        assert_eq!(retry_after(&headers(&past), now), Some(Duration::ZERO));
        assert_eq!(retry_after(&headers("soon"), now), None);
        assert_eq!(retry_after(&headers("-3"), now), None);
        assert_eq!(retry_after(&HeaderMap::new(), now), None);
        assert_eq!(
            retry_after(&headers("99999999"), now),
            Some(RETRY_AFTER_MAX)
        );
        let r = classify(Signal::Logs, &response(429, &[("retry-after", "3")], b""));
        match r {
            Err(ExportError::Retryable { retry_after, .. }) => {
                assert_eq!(retry_after, Some(Duration::from_secs(3)))
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn error_messages_come_from_the_status_body() {
        let status = RpcStatus {
            code: 3,
            message: "bad span".into(),
            details: vec![],
        };
        let r = response(
            400,
            &[("content-type", "application/x-protobuf")],
            &status.encode_to_vec(),
        );
        let err = classify(Signal::Traces, &r).unwrap_err();
        assert_eq!(
            err.to_string(),
            "backend answered HTTP 400 Bad Request: bad span"
        );
        let r = response(
            400,
            &[("content-type", "application/json")],
            br#"{"code":3,"message":"json says no"}"#,
        );
        let err = classify(Signal::Traces, &r).unwrap_err();
        assert!(err.to_string().ends_with(": json says no"), "{err}");
        let r = response(500, &[("content-type", "text/plain")], b"oops\n");
        assert!(classify(Signal::Traces, &r)
            .unwrap_err()
            .to_string()
            .ends_with(": oops"));
    }

    #[test]
    fn request_bodies_decode_back_to_the_original() {
        use opentelemetry_proto::tonic::common::v1::{any_value::Value, AnyValue, KeyValue};
        use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
        let resource = |n: u8| ResourceSpans {
            scope_spans: vec![ScopeSpans {
                spans: vec![Span {
                    trace_id: vec![n; 16],
                    span_id: vec![n; 8],
                    name: format!("s{n}"),
                    attributes: vec![KeyValue {
                        key: "k".into(),
                        value: Some(AnyValue {
                            value: Some(Value::IntValue(-7)),
                        }),
                        ..Default::default()
                    }],
                    ..Default::default()
                }],
                ..Default::default()
            }],
            ..Default::default()
        };
        let original = trace::ExportTraceServiceRequest {
            resource_spans: vec![resource(1), resource(2)],
        };
        let wire = Bytes::from(original.encode_to_vec());
        let chunks = otlp::scan_request(Signal::Traces, &wire).unwrap().chunks;
        let proto = encode_body(Signal::Traces, &chunks, HttpEncoding::Proto).unwrap();
        assert_eq!(
            trace::ExportTraceServiceRequest::decode(proto.as_ref()).unwrap(),
            original
        );
        let json = encode_body(Signal::Traces, &chunks, HttpEncoding::Json).unwrap();
        let back = otlp::json_to_protobuf(Signal::Traces, &json).unwrap();
        assert_eq!(
            trace::ExportTraceServiceRequest::decode(back.as_slice()).unwrap(),
            original
        );
        let text = String::from_utf8(json.to_vec()).unwrap();
        assert!(
            text.contains("\"traceId\":\"01010101010101010101010101010101\""),
            "{text}"
        );
    }

    #[test]
    fn partial_success_in_proto_and_json() {
        let body = trace::ExportTraceServiceResponse {
            partial_success: Some(trace::ExportTracePartialSuccess {
                rejected_spans: 3,
                error_message: "dropped".into(),
            }),
        }
        .encode_to_vec();
        let r = response(200, &[("content-type", "application/x-protobuf")], &body);
        assert_eq!(
            classify(Signal::Traces, &r).unwrap(),
            Some((3, "dropped".into()))
        );
        let r = response(
            200,
            &[("content-type", "application/json")],
            br#"{"partialSuccess":{"rejectedLogRecords":"2","errorMessage":"x"}}"#,
        );
        assert_eq!(classify(Signal::Logs, &r).unwrap(), Some((2, "x".into())));
        let r = response(200, &[("content-type", "application/json")], b"{}");
        assert_eq!(classify(Signal::Logs, &r).unwrap(), None);
    }
}
