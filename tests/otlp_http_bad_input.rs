//! OTLP/HTTP bad inputs: each is refused with the status the OTLP spec asks for (and a
//! `google.rpc.Status` message where there is a body), and a good request on a new connection
//! succeeds right after.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_types)]

mod common;

use std::io::Write;
use std::time::{Duration, Instant};

use common::http::{
    closed_within, connect, peak_rss_kib, post, request, rss_kib, send, status_message, HttpConfig,
};
use common::{Backend, Collector, Config, WAIT};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use prost::Message;

const PB: &str = "application/x-protobuf";

fn good_logs(n: usize) -> Vec<u8> {
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            scope_logs: vec![ScopeLogs {
                log_records: vec![
                    LogRecord {
                        severity_number: 9,
                        ..Default::default()
                    };
                    n
                ],
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
    .encode_to_vec()
}

/// A good request on a new connection is accepted.
fn assert_healthy(port: u16) {
    let r = post(port, "/v1/logs", PB, None, &good_logs(1));
    assert_eq!(r.status, 200, "{r:?}");
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

/// Scenario: garbage protobuf, invalid JSON, wrong content type, wrong method, unknown path,
/// unknown content encoding, truncated gzip, oversized body (Content-Length and chunked),
/// oversized headers. Guarantee: 400/400/415/405+Allow/404/415/400/413/413/431 with a
/// message saying what is wrong, and the collector keeps serving good requests.
#[test]
fn bad_requests_get_spec_statuses() {
    let backend = Backend::start();
    let mut config = HttpConfig::new(Config::to_backend(&backend));
    config.extra.push("max_request_body_size: 65536".into());
    let _collector = Collector::start_yaml(&config.yaml());
    let port = config.http_port;

    let r = post(port, "/v1/logs", PB, None, b"\xff\xff\xff garbage");
    assert_eq!(r.status, 400, "{r:?}");
    assert!(
        status_message(&r.body).contains("invalid OTLP request"),
        "{r:?}"
    );
    assert_healthy(port);

    let r = post(
        port,
        "/v1/logs",
        "application/json",
        None,
        b"{\"resourceLogs\": [}",
    );
    assert_eq!(r.status, 400, "{r:?}");
    let v: serde_json::Value = serde_json::from_slice(&r.body).unwrap();
    assert!(
        v["message"].as_str().unwrap().contains("invalid JSON"),
        "{v}"
    );
    assert_healthy(port);

    let r = post(port, "/v1/logs", "text/plain", None, b"hello");
    assert_eq!(r.status, 415, "{r:?}");
    assert!(status_message(&r.body).contains("text/plain"));
    assert_healthy(port);

    let r = send(port, b"GET /v1/logs HTTP/1.1\r\nHost: x\r\n\r\n");
    assert_eq!(r.status, 405, "{r:?}");
    assert_eq!(r.header("allow"), Some("POST"));
    assert_healthy(port);

    let r = post(port, "/v1/nothing", PB, None, &good_logs(1));
    assert_eq!(r.status, 404, "{r:?}");
    assert_healthy(port);

    let r = post(port, "/v1/logs", PB, Some("br"), &good_logs(1));
    assert_eq!(r.status, 415, "{r:?}");
    assert!(status_message(&r.body).contains("br"));
    assert_healthy(port);

    let packed = gzip(&good_logs(50));
    let r = post(
        port,
        "/v1/logs",
        PB,
        Some("gzip"),
        &packed[..packed.len() / 2],
    );
    assert_eq!(r.status, 400, "{r:?}");
    assert!(status_message(&r.body).contains("gzip"), "{r:?}");
    assert_healthy(port);

    let r = post(port, "/v1/logs", PB, None, &vec![0u8; 65537]);
    assert_eq!(r.status, 413, "{r:?}");
    assert_healthy(port);

    let mut stream = connect(port);
    stream
        .write_all(b"POST /v1/logs HTTP/1.1\r\nContent-Type: application/x-protobuf\r\nTransfer-Encoding: chunked\r\n\r\n")
        .unwrap();
    let chunk = vec![0u8; 8192];
    let mut answered = None;
    for _ in 0..20 {
        let mut c = format!("{:x}\r\n", chunk.len()).into_bytes();
        c.extend_from_slice(&chunk);
        c.extend_from_slice(b"\r\n");
        if stream.write_all(&c).is_err() {
            break;
        }
    }
    if let Some(r) = common::http::read_response(&mut stream) {
        answered = Some(r.status);
    }
    assert_eq!(answered, Some(413));
    assert_healthy(port);

    let big = "a".repeat(20 * 1024);
    let r = send(
        port,
        &request("/v1/logs", &[("Content-Type", PB), ("X-Big", &big)], b""),
    );
    assert_eq!(r.status, 431, "{r:?}");
    assert_healthy(port);
}

/// Scenario: a gzip body of about 1 MiB that inflates to 1 GiB (1024 members of 1 MiB of
/// zeros), as protobuf and as JSON. Guarantee: 413, and the collector's peak RSS (VmHWM)
/// stays less than 100 MiB over its idle RSS.
#[test]
fn gzip_bomb_is_refused_without_memory_blowup() {
    let backend = Backend::start();
    let config = HttpConfig::new(Config::to_backend(&backend));
    let collector = Collector::start_yaml(&config.yaml());
    let port = config.http_port;
    assert_healthy(port);
    let idle = rss_kib(collector.pid());

    let member = gzip(&vec![0u8; 1 << 20]);
    let bomb: Vec<u8> = member
        .iter()
        .copied()
        .cycle()
        .take(member.len() * 1024)
        .collect();
    assert!(bomb.len() < 20 << 20, "bomb body {} bytes", bomb.len());
    for content_type in [PB, "application/json"] {
        let r = post(port, "/v1/logs", content_type, Some("gzip"), &bomb);
        assert_eq!(r.status, 413, "{content_type}: {r:?}");
        assert!(
            status_message_any(&r.body).contains("exceeds the limit"),
            "{r:?}"
        );
    }
    // VmHWM is the peak resident size, so a transient large allocation would show.
    let peak = peak_rss_kib(collector.pid());
    eprintln!(
        "bomb body {} bytes; RSS idle {idle} KiB, peak {peak} KiB",
        bomb.len()
    );
    assert!(
        peak < idle + 100 * 1024,
        "peak RSS {peak} KiB vs idle {idle} KiB"
    );
    assert_healthy(port);
}

fn status_message_any(body: &[u8]) -> String {
    match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(v) => v["message"].as_str().unwrap_or("").to_owned(),
        Err(_) => status_message(body),
    }
}

/// Scenario: a client sends its request head one byte per second (slow loris), another closes
/// mid-body. Guarantee: the server closes the slow one within the configured
/// `read_header_timeout` (1 s here, plus slack), and both leave the collector serving.
#[test]
fn slow_and_vanishing_clients_hold_nothing() {
    let backend = Backend::start();
    let mut config = HttpConfig::new(Config::to_backend(&backend));
    config.extra.push("read_header_timeout: 1s".into());
    let _collector = Collector::start_yaml(&config.yaml());
    let port = config.http_port;

    let mut slow = connect(port);
    let started = Instant::now();
    let head = b"POST /v1/logs HTTP/1.1\r\nContent-Type: application/x-protobuf\r\n";
    let mut closed = false;
    for byte in head {
        if slow.write_all(&[*byte]).is_err() {
            closed = true;
            break;
        }
        if closed_within(&mut slow, Duration::from_secs(1)) {
            closed = true;
            break;
        }
        if started.elapsed() > Duration::from_secs(10) {
            break;
        }
    }
    assert!(
        closed,
        "slow-loris connection still open after {:?}",
        started.elapsed()
    );
    assert!(
        started.elapsed() < Duration::from_secs(6),
        "closed after {:?}",
        started.elapsed()
    );
    assert_healthy(port);

    let mut vanishing = connect(port);
    vanishing
        .write_all(b"POST /v1/logs HTTP/1.1\r\nContent-Type: application/x-protobuf\r\nContent-Length: 1000\r\n\r\nonly ten b")
        .unwrap();
    drop(vanishing);
    assert_healthy(port);
    assert!(backend.wait_for_items(0, 0, 2, WAIT));
}
