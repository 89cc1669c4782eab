//! `keepalive.server_parameters` on the OTLP/gRPC receiver, as grpc-go applies them in the
//! official collector: connections past `max_connection_age` or idle past
//! `max_connection_idle` get GOAWAY (so clients reconnect and SO_REUSEPORT spreads them
//! again), the age grace closes what is left, and a client silent past `time` is pinged and
//! closed if it does not answer within `timeout`.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::h2raw::*;
use common::{free_port, named_spans_request, Backend, Collector, WAIT};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;

const NO_ERROR: u32 = 0;

/// A one-shard collector whose gRPC receiver has `server_parameters`, forwarding to a backend.
fn gateway(server_parameters: &str) -> (Backend, Collector, u16) {
    let backend = Backend::start();
    let grpc = free_port();
    let collector = Collector::start_yaml(&format!(
        "receivers:\n  otlp:\n    protocols:\n      grpc:\n        endpoint: 127.0.0.1:{grpc}\n        keepalive: {{server_parameters: {{{server_parameters}}}}}\nexporters:\n  otlp: {{endpoint: {}, tls: {{insecure: true}}}}\nservice:\n  pipelines:\n    traces: {{receivers: [otlp], exporters: [otlp]}}\nshards: {{cores: 1}}\n",
        backend.endpoint()
    ));
    (backend, collector, grpc)
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

/// Scenario: `max_connection_age: 1s` while a tonic client sends a span every 50 ms for 4s.
/// Guarantee: every call succeeds (the client moves to a new connection after each GOAWAY)
/// and every span arrives.
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
            let answer = client.export(named_spans_request(0, sent, 1)).await;
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
