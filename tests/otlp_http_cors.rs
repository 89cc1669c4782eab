//! Browser CORS on the OTLP/HTTP receiver.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_types)]

mod common;

use common::http::{request, send, HttpConfig};
use common::{Backend, Collector, Config};

/// Scenario: preflights and actual requests from an allowed origin (wildcard), from another
/// origin, and asking for a header not allowed. Guarantee: 204 with the allow headers only for
/// the allowed origin and headers; actual requests get `Access-Control-Allow-Origin` only when
/// the origin matches; the data is accepted either way (CORS is the browser's check).
#[test]
fn cors_preflight_and_actual_requests() {
    let backend = Backend::start();
    let mut config = HttpConfig::new(Config::to_backend(&backend));
    config.extra.push(
        "cors:\n  allowed_origins: [\"https://*.example.com\"]\n  allowed_headers: [\"X-Custom\"]\n  max_age: 600".into(),
    );
    let _collector = Collector::start_yaml(&config.yaml());
    let port = config.http_port;

    let preflight = |origin: &str, headers: &str| {
        send(
            port,
            format!(
                "OPTIONS /v1/traces HTTP/1.1\r\nHost: x\r\nOrigin: {origin}\r\nAccess-Control-Request-Method: POST\r\nAccess-Control-Request-Headers: {headers}\r\n\r\n"
            )
            .as_bytes(),
        )
    };
    let r = preflight("https://app.example.com", "content-type, x-custom");
    assert_eq!(r.status, 204, "{r:?}");
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("https://app.example.com")
    );
    assert_eq!(r.header("access-control-allow-methods"), Some("POST"));
    assert_eq!(
        r.header("access-control-allow-headers"),
        Some("content-type, x-custom")
    );
    assert_eq!(r.header("access-control-max-age"), Some("600"));

    let r = preflight("https://evil.test", "content-type");
    assert_eq!(r.status, 204, "{r:?}");
    assert_eq!(r.header("access-control-allow-origin"), None);
    let r = preflight("https://app.example.com", "x-not-allowed");
    assert_eq!(r.header("access-control-allow-origin"), None, "{r:?}");

    let actual = |origin: &str| {
        send(
            port,
            &request(
                "/v1/traces",
                &[("Content-Type", "application/json"), ("Origin", origin)],
                b"{}",
            ),
        )
    };
    let r = actual("https://app.example.com");
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(
        r.header("access-control-allow-origin"),
        Some("https://app.example.com")
    );
    let r = actual("https://evil.test");
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.header("access-control-allow-origin"), None);

    // Other methods are refused with both allowed methods listed.
    let r = send(
        port,
        b"PUT /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n",
    );
    assert_eq!(r.status, 405, "{r:?}");
    assert_eq!(r.header("allow"), Some("POST, OPTIONS"));
}
