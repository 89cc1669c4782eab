//! HTTP/2 abuse against the OTLP/gRPC receiver, with frames written by hand: a stream limit,
//! the rapid-reset pattern, CONTINUATION, SETTINGS and PING floods, an oversized header list
//! and a client that never opens its window. Each offending connection must end (GOAWAY
//! ENHANCE_YOUR_CALM where the connection is closed), counted on /metrics, while a healthy
//! connection opened before the abuse, and a new one after it, still deliver.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::h2raw::*;
use common::{free_port, metric_sum, named_spans_request, Backend, Collector, WAIT};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use prost::Message;
use tonic::transport::Channel;

/// A one-shard collector (so every connection shares the abused shard) forwarding to a
/// backend, with a 1s send timeout so the stalled-reader test is quick.
struct Gateway {
    backend: Backend,
    _collector: Collector,
    grpc: u16,
    metrics: u16,
    runtime: tokio::runtime::Runtime,
    /// A healthy client connected before any abuse.
    healthy: TraceServiceClient<Channel>,
    sent: usize,
}

impl Gateway {
    fn start() -> Gateway {
        Gateway::start_with("")
    }

    /// As [`Gateway::start`], with `shards` (`key: value, `…) added to the `shards:` section.
    fn start_with(shards: &str) -> Gateway {
        Gateway::start_configured("", shards)
    }

    /// As [`Gateway::start_with`], with `grpc` (`, key: value`…) added to the receiver's
    /// `grpc:` protocol.
    fn start_configured(grpc_extra: &str, shards: &str) -> Gateway {
        let backend = Backend::start();
        let (grpc, metrics) = (free_port(), free_port());
        let collector = Collector::start_yaml(&format!(
            "receivers:\n  otlp:\n    protocols:\n      grpc: {{endpoint: 127.0.0.1:{grpc}{grpc_extra}}}\nexporters:\n  otlp: {{endpoint: {}, tls: {{insecure: true}}}}\nservice:\n  telemetry: {{metrics: {{address: 127.0.0.1:{metrics}}}}}\n  pipelines:\n    traces: {{receivers: [otlp], exporters: [otlp]}}\nshards: {{{shards}cores: 1, h2_send_timeout: 1s}}\n",
            backend.endpoint()
        ));
        let runtime = common::runtime();
        let healthy = runtime
            .block_on(TraceServiceClient::connect(format!(
                "http://127.0.0.1:{grpc}"
            )))
            .expect("healthy client connects");
        let mut gateway = Gateway {
            backend,
            _collector: collector,
            grpc,
            metrics,
            runtime,
            healthy,
            sent: 0,
        };
        gateway.assert_serving("before the abuse");
        gateway
    }

    /// A span is delivered through the healthy connection and through a new one.
    fn assert_serving(&mut self, when: &str) {
        let mut client = self.healthy.clone();
        let request = named_spans_request(1, self.sent, 1);
        let answer = self
            .runtime
            .block_on(async { tokio::time::timeout(WAIT, client.export(request)).await });
        assert!(
            matches!(answer, Ok(Ok(_))),
            "healthy connection, {when}: {answer:?}"
        );
        let request = named_spans_request(2, self.sent, 1);
        common::export_traces(self.grpc, request)
            .unwrap_or_else(|status| panic!("new connection, {when}: {status:?}"));
        self.sent += 2;
        let sent = self.sent;
        assert!(
            common::wait_until(WAIT, || self.backend.spans().len() >= sent),
            "{when}: {} of {sent} spans at the backend",
            self.backend.spans().len()
        );
    }

    fn abusive(&self, reason: &str) -> f64 {
        metric_sum(
            self.metrics,
            "shardgate_receiver_abusive_connections_closed_total",
            &format!("reason=\"{reason}\""),
        )
    }

    /// Checks the offender got GOAWAY ENHANCE_YOUR_CALM and was closed, counted as `reason`.
    fn assert_closed_for(&mut self, raw: &mut Raw, reason: &str) {
        let (goaway, closed) = raw.goaway_then_close(Duration::from_secs(10));
        let goaway = goaway.expect("a GOAWAY before the connection closed");
        assert_eq!(goaway.error_code(), Some(ENHANCE_YOUR_CALM), "{goaway:?}");
        assert!(closed, "the connection was closed after GOAWAY");
        assert!(
            common::wait_until(WAIT, || self.abusive(reason) == 1.0),
            "counted as {reason}"
        );
        self.assert_serving(&format!("after the {reason} client"));
    }
}

fn empty_export() -> Vec<u8> {
    grpc_message(&named_spans_request(9, 0, 1).encode_to_vec())
}

/// Scenario: a client opens 101 streams at once on one connection (the limit is 100, the
/// default). Guarantee: the server announces 100, refuses the 101st with REFUSED_STREAM, and
/// the connection goes on to answer the streams it took.
#[test]
fn streams_past_the_limit_are_refused() {
    let mut gateway = Gateway::start();
    let mut raw = Raw::connect(gateway.grpc, &[]);
    let announced = raw
        .until(Duration::from_secs(5), |f| {
            f.kind == SETTINGS && f.flags == 0
        })
        .expect("server SETTINGS");
    let limit = announced
        .payload
        .chunks(6)
        .find(|s| u16::from_be_bytes([s[0], s[1]]) == SETTINGS_MAX_CONCURRENT_STREAMS)
        .map(|s| u32::from_be_bytes([s[2], s[3], s[4], s[5]]));
    assert_eq!(limit, Some(100));
    raw.send(&frame(SETTINGS, 0x1, 0, &[])); // ACK the server's settings
    let mut burst = Vec::new();
    for i in 0..101u32 {
        // Headers only: each stream stays open, waiting for its body.
        burst.extend(frame(HEADERS, END_HEADERS, 1 + 2 * i, &export_headers(&[])));
    }
    raw.send(&burst);
    let refused = raw
        .until(Duration::from_secs(5), |f| f.kind == RST_STREAM)
        .expect("the 101st stream is reset");
    assert_eq!(refused.stream, 201);
    assert_eq!(refused.error_code(), Some(REFUSED_STREAM));
    // The first stream still gets its answer once its body arrives.
    raw.send(&frame(DATA, END_STREAM, 1, &empty_export()));
    let answer = raw
        .until(Duration::from_secs(10), |f| {
            f.stream == 1 && f.kind == HEADERS
        })
        .expect("stream 1 answered");
    assert_eq!(answer.stream, 1);
    gateway.assert_serving("after streams past the limit");
}

/// Scenario: the rapid-reset pattern (CVE-2023-44487): thousands of streams opened and
/// reset at once. Guarantee: GOAWAY ENHANCE_YOUR_CALM, the connection closed.
#[test]
fn rapid_reset_closes_the_connection() {
    let mut gateway = Gateway::start();
    let mut raw = Raw::connect(gateway.grpc, &[]);
    let mut burst = Vec::new();
    for i in 0..5000u32 {
        let id = 1 + 2 * i;
        burst.extend(frame(HEADERS, END_HEADERS, id, &export_headers(&[])));
        burst.extend(rst_stream(id, CANCEL));
    }
    raw.send(&burst);
    let (goaway, closed) = raw.goaway_then_close(Duration::from_secs(10));
    let goaway = goaway.expect("GOAWAY");
    assert_eq!(goaway.error_code(), Some(ENHANCE_YOUR_CALM), "{goaway:?}");
    assert!(closed);
    // h2's own pending-accept limit or shardgate's reset budget, whichever trips first.
    assert!(common::wait_until(WAIT, || {
        gateway.abusive("reset_flood") + gateway.abusive("protocol_limit") == 1.0
    }));
    gateway.assert_serving("after rapid reset");
}

/// Scenario: a HEADERS frame followed by CONTINUATION frames without end (CVE-2024-27316's
/// pattern). Guarantee: the connection is closed with GOAWAY before the block ends.
#[test]
fn continuation_flood_closes_the_connection() {
    let mut gateway = Gateway::start();
    let mut raw = Raw::connect(gateway.grpc, &[]);
    raw.send(&frame(HEADERS, 0, 1, &export_headers(&[])));
    let mut piece = Vec::new();
    hpack_literal(&mut piece, "x-flood", "y");
    let mut burst = Vec::new();
    for _ in 0..20_000 {
        burst.extend(frame(CONTINUATION, 0, 1, &piece));
    }
    raw.send(&burst);
    let (goaway, closed) = raw.goaway_then_close(Duration::from_secs(10));
    let goaway = goaway.expect("GOAWAY");
    assert_eq!(goaway.error_code(), Some(ENHANCE_YOUR_CALM), "{goaway:?}");
    assert!(closed);
    assert!(common::wait_until(WAIT, || gateway
        .abusive("protocol_limit")
        == 1.0));
    gateway.assert_serving("after a CONTINUATION flood");
}

/// Scenario: 5000 SETTINGS frames and nothing else. Guarantee: GOAWAY ENHANCE_YOUR_CALM.
#[test]
fn settings_flood_closes_the_connection() {
    let mut gateway = Gateway::start();
    let mut raw = Raw::connect(gateway.grpc, &[]);
    let burst: Vec<u8> = (0..5000).flat_map(|_| settings(&[])).collect();
    raw.send(&burst);
    gateway.assert_closed_for(&mut raw, "control_flood");
}

/// A gRPC keepalive policy that lets a client ping as often as it likes, so only the
/// control-frame budget stands between it and a flood.
const PINGS_PERMITTED: &str =
    ", keepalive: {enforcement_policy: {min_time: 1ns, permit_without_stream: true}}";

/// Scenario: 5000 PING frames and nothing else, under otelcol's default keepalive policy.
/// Guarantee: GOAWAY ENHANCE_YOUR_CALM `too_many_pings` at the third early ping.
#[test]
fn ping_flood_closes_the_connection() {
    let mut gateway = Gateway::start();
    let mut raw = Raw::connect(gateway.grpc, &[]);
    let burst: Vec<u8> = (0..5000u64)
        .flat_map(|i| frame(PING, 0, 0, &i.to_be_bytes()))
        .collect();
    raw.send(&burst);
    gateway.assert_closed_for(&mut raw, "too_many_pings");
}

/// Scenario: the same flood where the keepalive policy permits any ping. Guarantee: the
/// control-frame budget closes it, GOAWAY ENHANCE_YOUR_CALM.
#[test]
fn ping_flood_past_a_permissive_policy_closes_the_connection() {
    let mut gateway = Gateway::start_configured(PINGS_PERMITTED, "");
    let mut raw = Raw::connect(gateway.grpc, &[]);
    let burst: Vec<u8> = (0..5000u64)
        .flat_map(|i| frame(PING, 0, 0, &i.to_be_bytes()))
        .collect();
    raw.send(&burst);
    gateway.assert_closed_for(&mut raw, "control_flood");
}

/// Scenario: pings between requests, as keepalive and BDP estimation send them. Guarantee:
/// far more pings than the burst, interleaved with requests, never close the connection.
#[test]
fn pings_between_requests_are_not_a_flood() {
    let mut gateway = Gateway::start();
    let mut raw = Raw::connect(gateway.grpc, &[]);
    for i in 0..300u32 {
        let id = 1 + 2 * i;
        let mut burst = frame(HEADERS, END_HEADERS, id, &export_headers(&[]));
        burst.extend(frame(DATA, END_STREAM, id, &empty_export()));
        burst.extend(frame(PING, 0, 0, &u64::from(i).to_be_bytes()));
        assert!(raw.send(&burst), "request {i} could be sent");
        let answered = raw.until(Duration::from_secs(10), |f| {
            f.stream == id && f.kind == HEADERS && f.flags & END_STREAM != 0
        });
        assert!(answered.is_some(), "request {i} answered with trailers");
    }
    assert_eq!(gateway.abusive("control_flood"), 0.0);
    gateway.assert_serving("after pings between requests");
}

/// Scenario: a header block over the 16 KiB header-list limit. Guarantee: that request is
/// refused (431 or a stream reset) without reaching the pipeline; a new connection is served.
#[test]
fn oversized_header_list_is_refused() {
    let mut gateway = Gateway::start();
    let mut raw = Raw::connect(gateway.grpc, &[]);
    let big = "v".repeat(20 * 1024);
    raw.send(&frame(
        HEADERS,
        END_HEADERS,
        1,
        &export_headers(&[("x-big", &big)]),
    ));
    raw.send(&frame(DATA, END_STREAM, 1, &empty_export()));
    let answer = raw
        .until(Duration::from_secs(10), |f| {
            f.stream == 1 && (f.kind == HEADERS || f.kind == RST_STREAM) || f.kind == GOAWAY
        })
        .expect("an answer to the oversized request");
    if answer.kind == HEADERS {
        // HPACK literal of ":status: 431" is what h2 sends; any non-200 status refuses.
        assert!(
            !answer.payload.windows(3).any(|w| w == b"200"),
            "not accepted: {answer:?}"
        );
    }
    gateway.assert_serving("after an oversized header list");
    assert_eq!(gateway.backend.spans().len(), gateway.sent);
}

/// Scenario: a client announces a window of 0 and never opens it, so no answer can be sent.
/// Guarantee: after the send timeout (1s here) the connection gets GOAWAY
/// ENHANCE_YOUR_CALM and is closed, freeing its streams.
#[test]
fn stalled_reader_is_closed_after_the_send_timeout() {
    let mut gateway = Gateway::start();
    let mut raw = Raw::connect(gateway.grpc, &[(SETTINGS_INITIAL_WINDOW_SIZE, 0)]);
    let mut request = frame(HEADERS, END_HEADERS, 1, &export_headers(&[]));
    request.extend(frame(DATA, END_STREAM, 1, &empty_export()));
    raw.send(&request);
    gateway.assert_closed_for(&mut raw, "stalled_reader");
}

/// Scenario: a client with a tiny receive buffer pings without end (the ping budget is
/// lifted for this test) and never reads its socket, so the server's answers back up until
/// its writes block. Guarantee: after the send timeout the connection is dropped (no GOAWAY
/// can reach a client that reads nothing), counted as a stalled reader.
#[test]
fn unread_socket_is_dropped_after_the_send_timeout() {
    let mut gateway =
        Gateway::start_configured(PINGS_PERMITTED, "h2_control_frames_burst: 100000000, ");
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    // Before connect, so the advertised window stays small.
    socket.set_recv_buffer_size(4096).unwrap();
    let addr: std::net::SocketAddr = format!("127.0.0.1:{}", gateway.grpc).parse().unwrap();
    socket.connect(&addr.into()).unwrap();
    let mut stream: std::net::TcpStream = socket.into();
    stream
        .set_write_timeout(Some(Duration::from_millis(200)))
        .unwrap();
    use std::io::Write;
    let mut hello = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
    hello.extend(settings(&[]));
    stream.write_all(&hello).unwrap();
    // Each PING asks for a 17-byte answer; the server stops reading once it cannot write
    // them, and then our writes block too.
    let pings: Vec<u8> = (0..4096u64)
        .flat_map(|i| frame(PING, 0, 0, &i.to_be_bytes()))
        .collect();
    let deadline = std::time::Instant::now() + WAIT;
    while std::time::Instant::now() < deadline && gateway.abusive("stalled_reader") == 0.0 {
        let _ = stream.write(&pings);
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(gateway.abusive("stalled_reader"), 1.0);
    gateway.assert_serving("after a client that never reads");
}
