//! The `bearertokenauth` and `basicauth` extensions on receivers (gRPC UNAUTHENTICATED, HTTP
//! 401 with `WWW-Authenticate`, counted, never reaching a pipeline) and on exporters (a
//! shardgate that signs its requests, into a shardgate that checks them).
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::{free_port, metric_sum, named_spans_request, Backend, Collector, WAIT};
use prost::Message;

/// Sends one span over gRPC with `authorization` (if any); the status code.
fn grpc_send(port: u16, authorization: Option<&str>, name: &str) -> tonic::Code {
    let mut request = named_spans_request(0, 0, 1);
    request.resource_spans[0].scope_spans[0].spans[0].name = name.to_owned();
    let mut request = tonic::Request::new(request);
    if let Some(value) = authorization {
        request
            .metadata_mut()
            .insert("authorization", value.parse().unwrap());
    }
    match common::export_traces(port, request) {
        Ok(()) => tonic::Code::Ok,
        Err(status) => status.code(),
    }
}

/// POSTs one span over HTTP with `authorization` (if any); the response.
fn http_send(port: u16, authorization: Option<&str>, name: &str) -> common::http::Response {
    let mut request = named_spans_request(0, 0, 1);
    request.resource_spans[0].scope_spans[0].spans[0].name = name.to_owned();
    let body = request.encode_to_vec();
    let mut headers = vec![("Content-Type", "application/x-protobuf")];
    if let Some(value) = authorization {
        headers.push(("Authorization", value));
    }
    common::http::send(port, &common::http::request("/v1/traces", &headers, &body))
}

fn names(backend: &Backend) -> Vec<String> {
    let mut names: Vec<String> = backend
        .spans()
        .iter()
        .map(|s| s.item.name.clone())
        .collect();
    names.sort();
    names
}

/// A collector with gRPC and HTTP receivers checked by extension `id` (its YAML under
/// `extensions:` is `extension`), forwarding to `backend`.
fn checked(id: &str, extension: &str, backend: &Backend) -> (Collector, u16, u16, u16) {
    let (grpc, http, metrics) = (free_port(), free_port(), free_port());
    let yaml = format!(
        "extensions:\n  {extension}\nreceivers:\n  otlp:\n    protocols:\n      grpc: {{endpoint: 127.0.0.1:{grpc}, auth: {{authenticator: {id}}}}}\n      http: {{endpoint: 127.0.0.1:{http}, auth: {{authenticator: {id}}}}}\nexporters:\n  otlp: {{endpoint: {}, tls: {{insecure: true}}}}\nservice:\n  extensions: [{id}]\n  telemetry: {{metrics: {{address: 127.0.0.1:{metrics}}}}}\n  pipelines:\n    traces: {{receivers: [otlp], exporters: [otlp]}}\nshards: {{cores: 1}}\n",
        backend.endpoint()
    );
    (Collector::start_yaml(&yaml), grpc, http, metrics)
}

/// Scenario: `bearertokenauth` with `token: s3cret` on both protocols; requests with the
/// token, a wrong one and none. Guarantee: only the right token is delivered; gRPC answers
/// UNAUTHENTICATED, HTTP 401 with `WWW-Authenticate: Bearer`; the refusals are counted per
/// receiver and transport.
#[test]
fn bearer_token_is_checked_on_grpc_and_http() {
    let backend = Backend::start();
    let (_collector, grpc, http, metrics) = checked(
        "bearertokenauth/auth",
        "bearertokenauth/auth: {token: s3cret}",
        &backend,
    );
    assert_eq!(
        grpc_send(grpc, Some("Bearer s3cret"), "grpc-ok"),
        tonic::Code::Ok
    );
    assert_eq!(
        grpc_send(grpc, Some("Bearer wrong"), "grpc-wrong"),
        tonic::Code::Unauthenticated
    );
    assert_eq!(
        grpc_send(grpc, None, "grpc-none"),
        tonic::Code::Unauthenticated
    );
    assert_eq!(
        http_send(http, Some("Bearer s3cret"), "http-ok").status,
        200
    );
    let refused = http_send(http, Some("Bearer s3cre"), "http-wrong");
    assert_eq!(refused.status, 401);
    assert_eq!(refused.header("www-authenticate"), Some("Bearer"));
    assert_eq!(http_send(http, None, "http-none").status, 401);
    assert!(common::wait_until(WAIT, || names(&backend).len() >= 2));
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(names(&backend), ["grpc-ok", "http-ok"]);
    let metric = "shardgate_receiver_unauthenticated_requests_total";
    assert_eq!(metric_sum(metrics, metric, "transport=\"grpc\""), 2.0);
    assert_eq!(metric_sum(metrics, metric, "transport=\"http\""), 2.0);
}

/// Scenario: `basicauth` with htpasswd lines (plain text and bcrypt); right and wrong
/// passwords, an unknown user. Guarantee: only right passwords are delivered.
#[test]
fn basic_auth_is_checked_against_htpasswd() {
    let backend = Backend::start();
    let bcrypt = bcrypt::hash("hunter2", 4).unwrap();
    let ext = format!("basicauth/auth:\n    htpasswd:\n      inline: |\n        alice:plainpass\n        bob:{bcrypt}\n");
    let (_collector, grpc, http, _) = checked("basicauth/auth", &ext, &backend);
    let basic = |user: &str, pass: &str| {
        use base64::Engine as _;
        let pair = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"));
        format!("Basic {pair}")
    };
    assert_eq!(
        grpc_send(grpc, Some(&basic("alice", "plainpass")), "alice"),
        tonic::Code::Ok
    );
    assert_eq!(
        grpc_send(grpc, Some(&basic("bob", "hunter2")), "bob"),
        tonic::Code::Ok
    );
    assert_eq!(
        grpc_send(grpc, Some(&basic("bob", "hunter3")), "bob-wrong"),
        tonic::Code::Unauthenticated
    );
    let refused = http_send(http, Some(&basic("mallory", "plainpass")), "mallory");
    assert_eq!(refused.status, 401);
    assert!(refused
        .header("www-authenticate")
        .unwrap()
        .starts_with("Basic"));
    assert_eq!(
        http_send(http, Some(&basic("alice", "plainpass")), "alice-http").status,
        200
    );
    assert!(common::wait_until(WAIT, || names(&backend).len() >= 3));
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(names(&backend), ["alice", "alice-http", "bob"]);
}

/// Scenario: shardgate A exports with `bearertokenauth` (otlp, token from a file) and
/// `basicauth` (otlphttp, client_auth) into shardgate B, whose receivers check both.
/// Guarantee: what A takes in arrives at B's backend: both exporters sign their requests.
#[test]
fn exporters_sign_their_requests() {
    let backend = Backend::start();
    let bcrypt = bcrypt::hash("pw", 4).unwrap();
    let b_grpc = free_port();
    let b_http = free_port();
    let b = Collector::start_yaml(&format!(
        "extensions:\n  bearertokenauth/in: {{token: tok}}\n  basicauth/in:\n    htpasswd: {{inline: \"agent:{bcrypt}\"}}\nreceivers:\n  otlp/grpc:\n    protocols:\n      grpc: {{endpoint: 127.0.0.1:{b_grpc}, auth: {{authenticator: bearertokenauth/in}}}}\n  otlp/http:\n    protocols:\n      http: {{endpoint: 127.0.0.1:{b_http}, auth: {{authenticator: basicauth/in}}}}\nexporters:\n  otlp: {{endpoint: {}, tls: {{insecure: true}}}}\nservice:\n  extensions: [bearertokenauth/in, basicauth/in]\n  pipelines:\n    traces: {{receivers: [otlp/grpc, otlp/http], exporters: [otlp]}}\nshards: {{cores: 1}}\n",
        backend.endpoint()
    ));
    let files = common::tls::Files::default();
    let token_file = files.write("token", "tok\n");
    let a_port = free_port();
    let _a = Collector::start_yaml(&format!(
        "extensions:\n  bearertokenauth/out: {{filename: {}}}\n  basicauth/out:\n    client_auth: {{username: agent, password: pw}}\nreceivers:\n  otlp:\n    protocols:\n      grpc: {{endpoint: 127.0.0.1:{a_port}}}\nexporters:\n  otlp: {{endpoint: 127.0.0.1:{b_grpc}, tls: {{insecure: true}}, auth: {{authenticator: bearertokenauth/out}}}}\n  otlphttp: {{endpoint: http://127.0.0.1:{b_http}, auth: {{authenticator: basicauth/out}}}}\nservice:\n  extensions: [bearertokenauth/out, basicauth/out]\n  pipelines:\n    traces: {{receivers: [otlp], exporters: [otlp, otlphttp]}}\nshards: {{cores: 1}}\n",
        token_file.display()
    ));
    assert_eq!(grpc_send(a_port, None, "through-a"), tonic::Code::Ok);
    assert!(common::wait_until(WAIT, || names(&backend).len() >= 2));
    assert_eq!(names(&backend), ["through-a", "through-a"]);
    drop(b);
}
