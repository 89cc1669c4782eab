//! `keepalive` on the OTLP/gRPC receiver, as grpc-go applies it in the official collector:
//! connections past `max_connection_age` or idle past `max_connection_idle` get GOAWAY (so
//! clients reconnect and SO_REUSEPORT spreads them again), the age grace closes what is left,
//! a client silent past `time` is pinged and closed if it does not answer within `timeout`,
//! and a client pinging more often than `enforcement_policy` allows gets GOAWAY
//! ENHANCE_YOUR_CALM "too_many_pings" on its third strike.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::h2raw::*;
use common::{free_port, metric_sum, named_spans_request, Backend, Collector, WAIT};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use prost::Message;

const NO_ERROR: u32 = 0;

/// A one-shard collector whose gRPC receiver has `server_parameters`, forwarding to a backend.
fn gateway(server_parameters: &str) -> (Backend, Collector, u16) {
    let gateway = Gateway::start(&format!("server_parameters: {{{server_parameters}}}"));
    (gateway.backend, gateway.collector, gateway.grpc)
}

/// A one-shard collector whose gRPC receiver has `keepalive: {<keepalive>}`, forwarding to a
/// backend, with its metrics on `metrics`.
struct Gateway {
    backend: Backend,
    collector: Collector,
    grpc: u16,
    metrics: u16,
}

impl Gateway {
    fn start(keepalive: &str) -> Gateway {
        let backend = Backend::start();
        let (grpc, metrics) = (free_port(), free_port());
        let collector = Collector::start_yaml(&format!(
            "receivers:\n  otlp:\n    protocols:\n      grpc:\n        endpoint: 127.0.0.1:{grpc}\n        keepalive: {{{keepalive}}}\nexporters:\n  otlp: {{endpoint: {}, tls: {{insecure: true}}}}\nservice:\n  telemetry: {{metrics: {{address: 127.0.0.1:{metrics}}}}}\n  pipelines:\n    traces: {{receivers: [otlp], exporters: [otlp]}}\nshards: {{cores: 1}}\n",
            backend.endpoint()
        ));
        Gateway {
            backend,
            collector,
            grpc,
            metrics,
        }
    }

    fn too_many_pings(&self) -> f64 {
        metric_sum(
            self.metrics,
            "shardgate_receiver_abusive_connections_closed_total",
            "reason=\"too_many_pings\"",
        )
    }
}

/// Sends PING `i` and reads until its ACK (returned) or a GOAWAY (returned) arrives, ACKing
/// the server's SETTINGS; `None` when neither comes.
fn ping(raw: &mut Raw, i: u64) -> Option<Frame> {
    if !raw.send(&frame(PING, 0, 0, &i.to_be_bytes())) {
        return None;
    }
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        match raw.next(deadline.saturating_duration_since(Instant::now()))? {
            f if f.kind == SETTINGS && f.flags == 0 => {
                raw.send(&frame(SETTINGS, 0x1, 0, &[]));
            }
            f if f.kind == GOAWAY => return Some(f),
            f if f.kind == PING && f.flags == 0x1 && f.payload == i.to_be_bytes() => {
                return Some(f)
            }
            _ => {}
        }
    }
    None
}

/// Checks `goaway` is ENHANCE_YOUR_CALM with debug data `too_many_pings`, naming
/// `last_stream`.
fn assert_too_many_pings(goaway: &Frame, last_stream: u32) {
    assert_eq!(goaway.kind, GOAWAY, "{goaway:?}");
    assert_eq!(goaway.error_code(), Some(ENHANCE_YOUR_CALM), "{goaway:?}");
    assert_eq!(&goaway.payload[8..], b"too_many_pings", "{goaway:?}");
    let named = u32::from_be_bytes(goaway.payload[..4].try_into().unwrap());
    assert_eq!(named, last_stream, "{goaway:?}");
}

/// Scenario: `max_connection_age: 1s`, `max_connection_age_grace: 1s`; a raw client keeps a
/// stream open and never finishes it. Guarantee: GOAWAY (NO_ERROR) near 1s (±10% jitter),
/// and the connection closed once the grace has passed, though the stream was still open.
#[test]
fn an_old_connection_gets_goaway_and_is_closed_after_the_grace() {
    let (_backend, _collector, port) =
        gateway("max_connection_age: 1s, max_connection_age_grace: 1s");
    let start = Instant::now();
    let mut raw = Raw::connect(port, &[]);
    raw.send(&frame(HEADERS, END_HEADERS, 1, &export_headers(&[])));
    let goaway = raw
        .until(Duration::from_secs(10), |f| f.kind == GOAWAY)
        .expect("GOAWAY for age");
    let at = start.elapsed();
    assert_eq!(goaway.error_code(), Some(NO_ERROR), "{goaway:?}");
    assert!(
        at >= Duration::from_millis(850) && at < Duration::from_secs(3),
        "GOAWAY after {at:?}"
    );
    let (_, closed) = raw.goaway_then_close(Duration::from_secs(10));
    let at = start.elapsed();
    assert!(closed, "closed after the grace");
    assert!(at >= Duration::from_millis(1800), "closed after {at:?}");
}

/// Scenario: `max_connection_age: 1s`, `max_connection_age_grace: 10s`; a raw client opens
/// a stream, and only after the age GOAWAY arrives sends the request's body. Guarantee: the
/// request in flight at the GOAWAY completes (answered with trailers, its span delivered),
/// and the connection then closes without waiting out the grace.
#[test]
fn a_request_in_flight_at_the_age_goaway_completes() {
    let (backend, _collector, port) =
        gateway("max_connection_age: 1s, max_connection_age_grace: 10s");
    let start = Instant::now();
    let mut raw = Raw::connect(port, &[]);
    raw.send(&frame(HEADERS, END_HEADERS, 1, &export_headers(&[])));
    let goaway = raw
        .until(Duration::from_secs(10), |f| f.kind == GOAWAY)
        .expect("GOAWAY for age");
    assert_eq!(goaway.error_code(), Some(NO_ERROR), "{goaway:?}");
    let last_stream = u32::from_be_bytes(goaway.payload[..4].try_into().unwrap()) & 0x7fff_ffff;
    assert!(last_stream >= 1, "stream 1 may still finish: {goaway:?}");
    let body = grpc_message(&named_spans_request(7, 0, 1).encode_to_vec());
    assert!(
        raw.send(&frame(DATA, END_STREAM, 1, &body)),
        "the body could be sent"
    );
    // As a real client: ACK the server's PINGs (h2 ends a graceful shutdown once its PING
    // is answered, with a final GOAWAY) while waiting for the answer and the close.
    let deadline = Instant::now() + Duration::from_secs(8);
    let (mut answered, mut closed) = (false, false);
    while Instant::now() < deadline {
        match raw.next(deadline.saturating_duration_since(Instant::now())) {
            Some(f) if f.kind == PING && f.flags == 0 => {
                raw.send(&frame(PING, 0x1, 0, &f.payload));
            }
            Some(f) if f.stream == 1 && f.kind == HEADERS && f.flags & END_STREAM != 0 => {
                answered = true;
            }
            Some(_) => {}
            None => {
                closed = Instant::now() < deadline;
                break;
            }
        }
    }
    assert!(answered, "the in-flight request was answered");
    assert!(common::wait_until(WAIT, || backend.spans().len() == 1));
    assert!(closed, "closed once its last stream was done");
    assert!(
        start.elapsed() < Duration::from_secs(9),
        "closed before the grace ran out"
    );
}

/// Scenario: `max_connection_age: 1s` while a tonic client sends a span every 50 ms for 4s.
/// Guarantee: every call succeeds (the client moves to a new connection after each GOAWAY)
/// and every span arrives exactly once.
///
/// A call whose stream the client opened just as the server's final GOAWAY was on its way
/// is refused unprocessed (above the GOAWAY's last stream id, RFC 9113 §6.8); grpc-go
/// clients retry such a call transparently, tonic does not, so the test retries it as they
/// do. It cannot duplicate anything: the server never read that stream.
#[test]
fn clients_keep_sending_across_connection_age() {
    let (backend, _collector, port) = gateway("max_connection_age: 1s");
    let runtime = common::runtime();
    let sent = runtime.block_on(async {
        let mut client = TraceServiceClient::connect(format!("http://127.0.0.1:{port}"))
            .await
            .unwrap();
        let mut sent = 0;
        let until = Instant::now() + Duration::from_secs(4);
        while Instant::now() < until {
            let mut answer = client.export(named_spans_request(0, sent, 1)).await;
            for _ in 0..3 {
                match &answer {
                    Err(status) if status.message().contains("http2 error") => {
                        let refused = format!("{status:?}");
                        assert!(
                            refused.contains("GoAway") && refused.contains("NO_ERROR"),
                            "call {sent}: {status:?}"
                        );
                        answer = client.export(named_spans_request(0, sent, 1)).await;
                    }
                    _ => break,
                }
            }
            assert!(answer.is_ok(), "call {sent}: {answer:?}");
            sent += 1;
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        sent
    });
    assert!(common::wait_until(WAIT, || backend.spans().len() >= sent));
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(backend.spans().len(), sent);
}

/// Scenario: `max_connection_idle: 1s`; a raw client connects and opens no stream.
/// Guarantee: GOAWAY (NO_ERROR) after about 1s, then the connection closes.
#[test]
fn an_idle_connection_gets_goaway() {
    let (_backend, _collector, port) = gateway("max_connection_idle: 1s");
    let start = Instant::now();
    let mut raw = Raw::connect(port, &[]);
    // Answering pings as clients do: h2's graceful GOAWAY waits for one before it closes.
    let (goaways, closed) = raw.answer_until_closed(Duration::from_secs(10));
    let goaway = goaways.first().expect("GOAWAY for idleness");
    assert_eq!(goaway.error_code(), Some(NO_ERROR));
    assert!(start.elapsed() >= Duration::from_millis(900));
    assert!(closed, "closed after GOAWAY");
}

/// Scenario: `time: 1s, timeout: 1s`; one raw client answers the server's pings, another
/// never does. Guarantee: both are pinged after about 1s of silence; the silent one is closed
/// after the timeout, the answering one is still open after 4s.
#[test]
fn a_silent_client_is_pinged_and_closed_if_it_does_not_answer() {
    let (_backend, _collector, port) = gateway("time: 1s, timeout: 1s");
    // The answering client runs beside the silent one, answering from the start.
    let answering = std::thread::spawn(move || {
        let mut answering = Raw::connect(port, &[]);
        let until = Instant::now() + Duration::from_secs(4);
        let mut pings = 0;
        while Instant::now() < until {
            match answering.next(Duration::from_millis(100)) {
                Some(f) if f.kind == PING && f.flags == 0 => {
                    pings += 1;
                    assert!(answering.send(&frame(PING, 0x1, 0, &f.payload)));
                }
                Some(f) if f.kind == SETTINGS && f.flags == 0 => {
                    assert!(answering.send(&frame(SETTINGS, 0x1, 0, &[])));
                }
                Some(f) if f.kind == GOAWAY => panic!("answering client got {f:?}"),
                _ => {}
            }
        }
        assert!(answering.send(&frame(PING, 0, 0, &[7; 8])), "still open");
        let ack = answering.until(Duration::from_secs(2), |f| f.kind == PING && f.flags == 1);
        assert!(ack.is_some(), "still answered");
        pings
    });
    let mut silent = Raw::connect(port, &[]);
    let start = Instant::now();
    let ping = silent
        .until(Duration::from_secs(5), |f| f.kind == PING && f.flags == 0)
        .expect("the silent client is pinged");
    assert!(start.elapsed() >= Duration::from_millis(900));
    let (_, closed) = silent.goaway_then_close(Duration::from_secs(5));
    assert!(closed, "no answer to {ping:?}: closed");
    assert!(start.elapsed() >= Duration::from_millis(1900));
    let pings = answering.join().expect("answering client");
    assert!(pings >= 2, "pinged {pings} times in 4s");
}

/// Scenario: `enforcement_policy: {min_time: 10s}`; a raw client opens a stream (and leaves
/// it open), then pings 4 times in a row. Guarantee: the first ping is free and the next
/// three are strikes, so the 4th gets GOAWAY ENHANCE_YOUR_CALM "too_many_pings" (naming
/// stream 1) and the connection is closed, counted as `too_many_pings`; a request on a new
/// connection then succeeds.
#[test]
fn pings_faster_than_min_time_with_a_stream_open_get_too_many_pings() {
    let gateway = Gateway::start("enforcement_policy: {min_time: 10s}");
    let mut raw = Raw::connect(gateway.grpc, &[]);
    assert!(raw.send(&frame(HEADERS, END_HEADERS, 1, &export_headers(&[]))));
    for i in 0..3 {
        let ack = ping(&mut raw, i).expect("an answer");
        assert_eq!(ack.kind, PING, "ping {i} is acknowledged: {ack:?}");
    }
    let goaway = ping(&mut raw, 3).expect("GOAWAY on the third strike");
    assert_too_many_pings(&goaway, 1);
    let (_, closed) = raw.goaway_then_close(Duration::from_secs(10));
    assert!(closed, "closed after GOAWAY");
    assert!(common::wait_until(WAIT, || gateway.too_many_pings() == 1.0));
    common::export_traces(gateway.grpc, named_spans_request(0, 0, 1))
        .expect("a new connection is served");
    assert!(common::wait_until(WAIT, || gateway.backend.spans().len() == 1));
}

/// Scenario: `enforcement_policy: {min_time: 1s, permit_without_stream: true}`; a raw client
/// with no stream pings 4 times, 1.1s apart. Guarantee: every ping is acknowledged, no
/// GOAWAY, nothing counted.
#[test]
fn pings_at_min_time_without_a_stream_are_permitted_when_the_policy_says_so() {
    let gateway = Gateway::start("enforcement_policy: {min_time: 1s, permit_without_stream: true}");
    let mut raw = Raw::connect(gateway.grpc, &[]);
    for i in 0..4 {
        if i > 0 {
            std::thread::sleep(Duration::from_millis(1100));
        }
        let answer = ping(&mut raw, i).expect("an answer");
        assert_eq!(answer.kind, PING, "ping {i} is acknowledged: {answer:?}");
    }
    assert_eq!(gateway.too_many_pings(), 0.0);
}

/// Scenario: `enforcement_policy: {min_time: 1s}` (no pings without a stream); a raw client
/// with no stream pings 1.1s apart, as in the permitted case. Guarantee: without a stream
/// pings must be 2 hours apart, so the 4th ping (the third strike) gets GOAWAY
/// ENHANCE_YOUR_CALM "too_many_pings" and the connection is closed, counted once.
#[test]
fn pings_without_a_stream_strike_out_unless_permitted() {
    let gateway = Gateway::start("enforcement_policy: {min_time: 1s}");
    let mut raw = Raw::connect(gateway.grpc, &[]);
    for i in 0..3 {
        if i > 0 {
            std::thread::sleep(Duration::from_millis(1100));
        }
        let ack = ping(&mut raw, i).expect("an answer");
        assert_eq!(ack.kind, PING, "ping {i} is acknowledged: {ack:?}");
    }
    std::thread::sleep(Duration::from_millis(1100));
    let goaway = ping(&mut raw, 3).expect("GOAWAY on the third strike");
    assert_too_many_pings(&goaway, 0);
    let (_, closed) = raw.goaway_then_close(Duration::from_secs(10));
    assert!(closed, "closed after GOAWAY");
    assert!(common::wait_until(WAIT, || gateway.too_many_pings() == 1.0));
}

/// Scenario: `enforcement_policy: {}` (grpc-go's 5 minutes, no pings without a stream); a
/// raw client sends 10 requests one after another and pings after each answer, as grpc-go
/// clients' BDP estimation does. Guarantee: each answer clears the strikes, so no ping is
/// refused and every request is answered.
#[test]
fn a_ping_after_each_answer_is_never_a_strike() {
    let gateway = Gateway::start("enforcement_policy: {}");
    let mut raw = Raw::connect(gateway.grpc, &[]);
    let body = grpc_message(&named_spans_request(0, 0, 1).encode_to_vec());
    for i in 0..10u32 {
        let id = 1 + 2 * i;
        let mut request = frame(HEADERS, END_HEADERS, id, &export_headers(&[]));
        request.extend(frame(DATA, END_STREAM, id, &body));
        assert!(raw.send(&request), "request {i} sent");
        let answered = raw.until(Duration::from_secs(10), |f| {
            f.stream == id && f.kind == HEADERS && f.flags & END_STREAM != 0
        });
        assert!(answered.is_some(), "request {i} answered with trailers");
        let answer = ping(&mut raw, u64::from(i)).expect("an answer");
        assert_eq!(answer.kind, PING, "ping {i} is acknowledged: {answer:?}");
    }
    assert_eq!(gateway.too_many_pings(), 0.0);
    assert!(common::wait_until(WAIT, || gateway.backend.spans().len() == 10));
}
