//! Bad requests sent with a raw HTTP/2 client (the `h2` crate), so the test controls every
//! byte: each must be refused with the right gRPC status, and must not disturb the connection
//! it came on, other connections, or the data of good requests.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::Write;
use std::net::SocketAddr;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use common::{hex, Backend, Collector, Config, WAIT};
use h2::client::SendRequest;
use http::{HeaderMap, Request};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use prost::Message;
use tokio::net::TcpStream;

const TRACE_EXPORT: &str = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";
const METRICS_EXPORT: &str = "/opentelemetry.proto.collector.metrics.v1.MetricsService/Export";
const LIMIT_MIB: u32 = 1;
const LIMIT: usize = (LIMIT_MIB as usize) << 20;

/// The outcome of one gRPC call.
#[derive(Debug)]
struct Outcome {
    http_status: u16,
    grpc_status: Option<u32>,
    grpc_message: String,
    body: Bytes,
}

async fn connect(addr: SocketAddr) -> SendRequest<Bytes> {
    let tcp = TcpStream::connect(addr).await.expect("connect");
    let (client, connection) = h2::client::handshake(tcp).await.expect("h2 handshake");
    tokio::spawn(async move {
        let _ = connection.await;
    });
    client
}

fn status_from(headers: &HeaderMap) -> Option<(u32, String)> {
    let code = headers.get("grpc-status")?.to_str().ok()?.parse().ok()?;
    let message = headers
        .get("grpc-message")
        .map(|v| percent_decode(v.as_bytes()))
        .unwrap_or_default();
    Some((code, message))
}

fn percent_decode(bytes: &[u8]) -> String {
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Ok(b) = u8::from_str_radix(&String::from_utf8_lossy(&bytes[i + 1..i + 3]), 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Sends one POST on `client` with `body` (gRPC framing is the caller's) and reads the answer.
async fn call(
    client: &SendRequest<Bytes>,
    path: &str,
    extra: &[(&str, &str)],
    body: Bytes,
) -> Outcome {
    let mut client = client
        .clone()
        .ready()
        .await
        .expect("connection ready for a stream");
    let mut request = Request::post(format!("http://127.0.0.1{path}"))
        .header("content-type", "application/grpc")
        .header("te", "trailers");
    for (name, value) in extra {
        request = request.header(*name, *value);
    }
    let (response, mut stream) = client
        .send_request(request.body(()).expect("request"), false)
        .expect("send request");
    // Send the body; the server may refuse early (e.g. from the length prefix) and reset the
    // stream, which is fine: the answer is what matters.
    let _ = stream.send_data(body, true);
    let response = tokio::time::timeout(WAIT, response)
        .await
        .expect("answer within the timeout")
        .expect("response head");
    let http_status = response.status().as_u16();
    if let Some((code, message)) = status_from(response.headers()) {
        // Trailers-Only.
        return Outcome {
            http_status,
            grpc_status: Some(code),
            grpc_message: message,
            body: Bytes::new(),
        };
    }
    let mut recv = response.into_body();
    let mut data = BytesMut::new();
    while let Some(chunk) = tokio::time::timeout(WAIT, recv.data())
        .await
        .expect("body within the timeout")
    {
        let chunk = chunk.expect("body chunk");
        let _ = recv.flow_control().release_capacity(chunk.len());
        data.extend_from_slice(&chunk);
    }
    let trailers = tokio::time::timeout(WAIT, recv.trailers())
        .await
        .expect("trailers within the timeout")
        .expect("trailers");
    let (grpc_status, grpc_message) = match trailers.as_ref().and_then(status_from) {
        Some((code, message)) => (Some(code), message),
        None => (None, String::new()),
    };
    Outcome {
        http_status,
        grpc_status,
        grpc_message,
        body: data.freeze(),
    }
}

/// A gRPC message: flag, big-endian length, payload.
fn frame(compressed: bool, payload: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(5 + payload.len());
    out.put_u8(u8::from(compressed));
    out.put_u32(u32::try_from(payload.len()).expect("fits"));
    out.put_slice(payload);
    out.freeze()
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    encoder.write_all(data).expect("gzip");
    encoder.finish().expect("gzip")
}

fn span_id(n: u64) -> Vec<u8> {
    (0x5a00_0000_0000_0000 | n).to_be_bytes().to_vec()
}

/// A good request with one span carrying id `n`.
fn good_request(n: u64) -> ExportTraceServiceRequest {
    ExportTraceServiceRequest {
        resource_spans: vec![ResourceSpans {
            resource: Some(Resource {
                attributes: vec![KeyValue {
                    key: "service.name".into(),
                    value: Some(AnyValue {
                        value: Some(any_value::Value::StringValue("bad-input-test".into())),
                    }),
                    ..Default::default()
                }],
                ..Default::default()
            }),
            scope_spans: vec![ScopeSpans {
                scope: Some(InstrumentationScope {
                    name: "bad-input".into(),
                    ..Default::default()
                }),
                spans: vec![Span {
                    trace_id: vec![0x11; 16],
                    span_id: span_id(n),
                    name: format!("good {n}"),
                    start_time_unix_nano: 1,
                    end_time_unix_nano: 2,
                    ..Default::default()
                }],
                schema_url: String::new(),
            }],
            schema_url: String::new(),
        }],
    }
}

/// Sends good request `n` (gzip-compressed when `gz`) and asserts an empty success.
async fn assert_good(client: &SendRequest<Bytes>, n: u64, gz: bool, context: &str) {
    let payload = good_request(n).encode_to_vec();
    let outcome = if gz {
        call(
            client,
            TRACE_EXPORT,
            &[("grpc-encoding", "gzip")],
            frame(true, &gzip(&payload)),
        )
        .await
    } else {
        call(client, TRACE_EXPORT, &[], frame(false, &payload)).await
    };
    assert_eq!(outcome.http_status, 200, "{context}: {outcome:?}");
    assert_eq!(
        outcome.grpc_status,
        Some(0),
        "{context}: good request {n} must succeed: {outcome:?}"
    );
    assert!(
        outcome.body.len() >= 5,
        "{context}: a response message: {outcome:?}"
    );
    let len = u32::from_be_bytes([
        outcome.body[1],
        outcome.body[2],
        outcome.body[3],
        outcome.body[4],
    ]) as usize;
    assert_eq!(outcome.body[0], 0, "{context}: uncompressed response");
    let response =
        ExportTraceServiceResponse::decode(&outcome.body[5..5 + len]).expect("response decodes");
    assert_eq!(
        response.partial_success, None,
        "{context}: full success leaves partial_success unset"
    );
}

/// What is wrong with `outcome` for `case`, if anything.
fn check(case: &Case, outcome: &Outcome) -> Option<String> {
    if outcome.http_status != 200 {
        return Some(format!(
            "{}: gRPC errors travel with HTTP 200: {outcome:?}",
            case.name
        ));
    }
    if outcome.grpc_status != Some(case.want) {
        return Some(format!(
            "{}: expected grpc-status {}, got {outcome:?}",
            case.name, case.want
        ));
    }
    if outcome.grpc_message.trim().is_empty() {
        return Some(format!(
            "{}: the status must say what is wrong: {outcome:?}",
            case.name
        ));
    }
    None
}

struct Case {
    name: &'static str,
    path: &'static str,
    headers: Vec<(&'static str, &'static str)>,
    body: Bytes,
    want: u32,
}

fn cases() -> Vec<Case> {
    let good = good_request(0).encode_to_vec();
    let mut wrong_wire_type = vec![0x08, 0x01]; // field 1 (resource_spans) as a varint
    wrong_wire_type.extend_from_slice(&good);
    let overrun = vec![0x0a, 0x64, 0x0a, 0x00]; // field 1 says 100 bytes, 2 follow
    let bomb = gzip(&vec![0u8; 8 * LIMIT]);
    assert!(bomb.len() < LIMIT / 16, "the gzip body is small");
    let mut truncated = frame(false, &good).to_vec();
    truncated[1..5].copy_from_slice(&(good.len() as u32 + 100).to_be_bytes());
    let oversize = frame(false, &vec![0x0a; LIMIT + 1000]);
    // A real gzip stream (true header and size trailer) whose deflate data is damaged.
    let mut corrupt_gzip = gzip(&good);
    let middle = corrupt_gzip.len() / 2;
    for b in &mut corrupt_gzip[12..middle] {
        *b ^= 0x5a;
    }
    vec![
        Case {
            name: "garbage bytes",
            path: TRACE_EXPORT,
            headers: vec![],
            body: frame(false, &[0xff; 64]),
            want: 3,
        },
        Case {
            name: "wrong wire type",
            path: TRACE_EXPORT,
            headers: vec![],
            body: frame(false, &wrong_wire_type),
            want: 3,
        },
        Case {
            name: "length overrun inside the message",
            path: TRACE_EXPORT,
            headers: vec![],
            body: frame(false, &overrun),
            want: 3,
        },
        Case {
            name: "truncated message (prefix promises more than sent)",
            path: TRACE_EXPORT,
            headers: vec![],
            body: Bytes::from(truncated),
            want: 3,
        },
        Case {
            name: "non-gzip bytes flagged as gzip",
            path: TRACE_EXPORT,
            headers: vec![("grpc-encoding", "gzip")],
            body: frame(true, b"this is not gzip at all"),
            want: 3,
        },
        Case {
            name: "corrupted gzip stream",
            path: TRACE_EXPORT,
            headers: vec![("grpc-encoding", "gzip")],
            body: frame(true, &corrupt_gzip),
            want: 3,
        },
        Case {
            name: "oversize message",
            path: TRACE_EXPORT,
            headers: vec![],
            body: oversize,
            want: 8,
        },
        Case {
            name: "gzip body inflating past the limit",
            path: METRICS_EXPORT,
            headers: vec![("grpc-encoding", "gzip")],
            body: frame(true, &bomb),
            want: 8,
        },
        Case {
            name: "unknown method of a known service",
            path: "/opentelemetry.proto.collector.trace.v1.TraceService/Frobnicate",
            headers: vec![],
            body: frame(false, &good),
            want: 12,
        },
        Case {
            name: "unknown service",
            path: "/grpc.health.v1.Health/Check",
            headers: vec![],
            body: frame(false, &[]),
            want: 12,
        },
    ]
}

/// Scenario: on one HTTP/2 connection, send in turn: garbage bytes, a wrong wire type, a length
/// overrun, a truncated message (prefix promises 100 bytes more than sent, then END_STREAM),
/// non-gzip data flagged gzip, a message over `max_recv_msg_size_mib` (1 MiB), a small gzip
/// body that inflates to 8 MiB, an unknown method and an unknown service. After each, a good
/// request on the same connection (alternately gzip-compressed) and one on a new connection.
/// Guarantee: each bad request gets its status (3 INVALID_ARGUMENT with a non-empty message
/// saying what is wrong, 8 RESOURCE_EXHAUSTED, 12 UNIMPLEMENTED) with HTTP 200; every good
/// request succeeds with an empty response; the backend gets exactly the good spans, once each.
#[test]
fn bad_requests_are_refused_without_harming_the_connection() {
    let backend = Backend::start();
    let mut config = Config::to_backend(&backend);
    config.max_recv_msg_size_mib = Some(LIMIT_MIB);
    let collector = Collector::start(&config);
    let addr = config.grpc_addr();
    let rt = common::runtime();
    let mut good_sent = Vec::new();
    let mut wrong = Vec::new();
    rt.block_on(async {
        let shared = connect(addr).await;
        let mut n = 0;
        assert_good(&shared, n, false, "before any bad request").await;
        good_sent.push(n);
        for case in cases() {
            let outcome = call(&shared, case.path, &case.headers, case.body.clone()).await;
            eprintln!("{}: {outcome:?}", case.name);
            if let Some(problem) = check(&case, &outcome) {
                wrong.push(problem);
            }
            n += 1;
            assert_good(
                &shared,
                n,
                n % 2 == 0,
                &format!("same connection after {}", case.name),
            )
            .await;
            good_sent.push(n);
            n += 1;
            let fresh = connect(addr).await;
            assert_good(
                &fresh,
                n,
                n % 2 == 0,
                &format!("new connection after {}", case.name),
            )
            .await;
            good_sent.push(n);
        }
    });
    let arrived = common::wait_until(WAIT, || backend.spans().len() >= good_sent.len());
    std::thread::sleep(Duration::from_millis(500));
    let mut got: Vec<String> = backend
        .spans()
        .iter()
        .map(|f| hex(&f.item.span_id))
        .collect();
    got.sort();
    let mut want: Vec<String> = good_sent.iter().map(|&n| hex(&span_id(n))).collect();
    want.sort();
    assert!(
        arrived,
        "backend got {} of {} good spans",
        got.len(),
        want.len()
    );
    assert_eq!(got, want, "exactly the good spans arrive, once each");
    for flat in backend.spans() {
        assert_intact(&flat);
    }
    assert!(
        wrong.is_empty(),
        "bad requests answered wrongly:\n{}",
        wrong.join("\n")
    );
    drop(collector);
}

/// Scenario: several bad and good requests interleaved as concurrent streams of one HTTP/2
/// connection (garbage, oversize, gzip bomb, unknown method, and good ones). Guarantee: each
/// stream gets its own answer (the bad ones their error codes, the good ones success) and all
/// good spans arrive once each.
#[test]
fn concurrent_bad_streams_do_not_affect_good_ones() {
    let backend = Backend::start();
    let mut config = Config::to_backend(&backend);
    config.max_recv_msg_size_mib = Some(LIMIT_MIB);
    let collector = Collector::start(&config);
    let addr = config.grpc_addr();
    let rt = common::runtime();
    let goods: Vec<u64> = (1000..1012).collect();
    let mut wrong = Vec::new();
    rt.block_on(async {
        let client = connect(addr).await;
        let mut tasks = Vec::new();
        // The classification of each case is checked by the sequential test; this one is
        // about isolation, so it leaves out the case whose code is known to be disputed there.
        for case in cases()
            .into_iter()
            .filter(|c| c.name != "non-gzip bytes flagged as gzip")
        {
            let client = client.clone();
            tasks.push(tokio::spawn(async move {
                let outcome = call(&client, case.path, &case.headers, case.body.clone()).await;
                check(&case, &outcome)
            }));
        }
        for &n in &goods {
            let client = client.clone();
            tasks.push(tokio::spawn(async move {
                assert_good(&client, n, n % 2 == 0, "concurrent good stream").await;
                None
            }));
        }
        for task in tasks {
            if let Some(problem) = task.await.expect("stream task") {
                wrong.push(problem);
            }
        }
    });
    let arrived = common::wait_until(WAIT, || backend.spans().len() >= goods.len());
    std::thread::sleep(Duration::from_millis(500));
    let mut got: Vec<String> = backend
        .spans()
        .iter()
        .map(|f| hex(&f.item.span_id))
        .collect();
    got.sort();
    let mut want: Vec<String> = goods.iter().map(|&n| hex(&span_id(n))).collect();
    want.sort();
    assert!(
        arrived,
        "backend got {} of {} good spans",
        got.len(),
        want.len()
    );
    assert_eq!(got, want, "exactly the good spans arrive, once each");
    assert!(
        wrong.is_empty(),
        "bad requests answered wrongly:\n{}",
        wrong.join("\n")
    );
    drop(collector);
}

/// Asserts a received span is exactly the good span its id names, with its resource and scope.
fn assert_intact(flat: &common::Flat<Span>) {
    let n = u64::from_be_bytes(
        flat.item
            .span_id
            .clone()
            .try_into()
            .expect("8-byte span id"),
    ) & 0xffff_ffff;
    let sent = good_request(n);
    let rs = &sent.resource_spans[0];
    assert_eq!(flat.item, rs.scope_spans[0].spans[0], "span {n} intact");
    assert_eq!(flat.resource, rs.resource, "span {n} resource intact");
    assert_eq!(flat.scope, rs.scope_spans[0].scope, "span {n} scope intact");
}

/// Scenario: one valid request whose gzip body has two members (allowed by RFC 1952 and by
/// gRPC's gzip): member 1 inflates to request A (span 2001), member 2 to request B (span 2002),
/// both of the same length; the decompressed payload A‖B is, by protobuf's concatenation rule,
/// one request holding both spans. Guarantee: the request succeeds and both spans arrive, once
/// each — a multi-member body is never cut to its first member.
#[test]
fn multi_member_gzip_body_delivers_every_member() {
    let backend = Backend::start();
    let mut config = Config::to_backend(&backend);
    config.max_recv_msg_size_mib = Some(LIMIT_MIB);
    let collector = Collector::start(&config);
    let a = good_request(2001).encode_to_vec();
    let b = good_request(2002).encode_to_vec();
    assert_eq!(a.len(), b.len(), "test setup: members of equal size");
    let mut body = gzip(&a);
    body.extend(gzip(&b));
    let rt = common::runtime();
    let outcome = rt.block_on(async {
        let client = connect(config.grpc_addr()).await;
        call(
            &client,
            TRACE_EXPORT,
            &[("grpc-encoding", "gzip")],
            frame(true, &body),
        )
        .await
    });
    assert_eq!(outcome.grpc_status, Some(0), "{outcome:?}");
    // Both spans travel in the same request and batch: once one is there, the other must be.
    let first = common::wait_until(WAIT, || !backend.spans().is_empty());
    assert!(first, "nothing arrived within {WAIT:?}");
    let arrived = common::wait_until(Duration::from_secs(3), || backend.spans().len() >= 2);
    std::thread::sleep(Duration::from_millis(500));
    let mut got: Vec<String> = backend
        .spans()
        .iter()
        .map(|f| hex(&f.item.span_id))
        .collect();
    got.sort();
    assert!(
        arrived,
        "both members' spans arrive; got only {got:?} (expected {} and {})",
        hex(&span_id(2001)),
        hex(&span_id(2002))
    );
    assert_eq!(got, vec![hex(&span_id(2001)), hex(&span_id(2002))]);
    for flat in backend.spans() {
        assert_intact(&flat);
    }
    drop(collector);
}
