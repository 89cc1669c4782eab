//! TLS and mTLS on the OTLP receiver's gRPC and HTTP protocols, with certificates made in the
//! test: clients that trust the CA deliver, clients without a certificate are refused during
//! the handshake under mTLS, plaintext clients get nothing, and a rotated certificate is
//! served to new connections within `reload_interval` while a client keeps sending.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::tls::{self, Ca, Files, Leaf};
use common::{free_port, named_spans_request, Backend, Collector, WAIT};
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use prost::Message;
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Identity};

/// A collector whose receiver serves gRPC and HTTP with TLS (`tls_extra` added to both
/// protocols' `tls:`) and forwards to a plaintext backend.
struct Tls {
    backend: Backend,
    collector: Collector,
    grpc_port: u16,
    http_port: u16,
    _files: Files,
}

fn start(ca: &Ca, server: &Leaf, files: Files, tls_extra: &str) -> Tls {
    let cert = files.write("server.pem", &server.cert_pem);
    let key = files.write("server-key.pem", &server.key_pem);
    files.write("ca.pem", &ca.pem);
    let backend = Backend::start();
    let (grpc_port, http_port) = (free_port(), free_port());
    let tls = format!(
        "tls: {{cert_file: {}, key_file: {}{tls_extra}}}",
        cert.display(),
        key.display()
    );
    let yaml = format!(
        "receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:{grpc_port}
        {tls}
      http:
        endpoint: 127.0.0.1:{http_port}
        {tls}
exporters:
  otlp:
    endpoint: {}
    tls: {{insecure: true}}
service:
  pipelines:
    traces: {{receivers: [otlp], exporters: [otlp]}}
shards: {{cores: {}}}
",
        backend.endpoint(),
        common::two_shards()
    );
    let collector = Collector::start_yaml(&yaml);
    Tls {
        backend,
        collector,
        grpc_port,
        http_port,
        _files: files,
    }
}

async fn grpc_export(
    port: u16,
    ca: &Ca,
    identity: Option<&Leaf>,
    name: &str,
) -> Result<(), String> {
    let mut tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(&ca.pem))
        .domain_name("localhost");
    if let Some(leaf) = identity {
        tls = tls.identity(Identity::from_pem(&leaf.cert_pem, &leaf.key_pem));
    }
    let channel = Channel::from_shared(format!("https://127.0.0.1:{port}"))
        .unwrap()
        .tls_config(tls)
        .map_err(|e| e.to_string())?
        .connect()
        .await
        .map_err(|e| format!("{e:?}"))?;
    TraceServiceClient::new(channel)
        .export(named_spans_request(0, 0, 1).tap_name(name))
        .await
        .map(|_| ())
        .map_err(|e| format!("{e:?}"))
}

/// Renames the one span of a request.
trait TapName {
    fn tap_name(self, name: &str) -> Self;
}

impl TapName for opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest {
    fn tap_name(mut self, name: &str) -> Self {
        self.resource_spans[0].scope_spans[0].spans[0].name = name.to_owned();
        self
    }
}

fn span_names(backend: &Backend) -> Vec<String> {
    backend
        .spans()
        .iter()
        .map(|s| s.item.name.clone())
        .collect()
}

/// Scenario: gRPC with TLS, then HTTP/1.1 with TLS, from clients that trust the test CA; then
/// a plaintext gRPC client on the TLS port. Guarantee: both TLS requests arrive; the
/// plaintext one is refused and delivers nothing.
#[test]
fn tls_on_grpc_and_http_receivers() {
    let ca = Ca::new("test ca");
    let server = ca.server();
    let t = start(&ca, &server, Files::default(), "");
    let rt = common::runtime();
    rt.block_on(grpc_export(t.grpc_port, &ca, None, "over-grpc-tls"))
        .unwrap();

    let mut stream = tls::connect(t.http_port, tls::client_config(&ca, None)).unwrap();
    assert_eq!(stream.conn.alpn_protocol(), Some(&b"http/1.1"[..]));
    let body = named_spans_request(0, 1, 1)
        .tap_name("over-http-tls")
        .encode_to_vec();
    assert_eq!(
        tls::post_protobuf(&mut stream, "/v1/traces", &body).unwrap(),
        200
    );

    let plaintext = rt.block_on(async {
        let channel = Channel::from_shared(format!("http://127.0.0.1:{}", t.grpc_port))
            .unwrap()
            .connect()
            .await
            .map_err(|e| e.to_string())?;
        TraceServiceClient::new(channel)
            .export(named_spans_request(0, 2, 1).tap_name("plaintext"))
            .await
            .map_err(|e| e.to_string())
    });
    assert!(
        plaintext.is_err(),
        "a plaintext client must not get through: {plaintext:?}"
    );

    assert!(common::wait_until(WAIT, || span_names(&t.backend).len() >= 2));
    let mut names = span_names(&t.backend);
    names.sort();
    assert_eq!(names, ["over-grpc-tls", "over-http-tls"]);
    drop(t.collector);
}

/// Scenario: mTLS (client_ca_file) on both protocols; clients with a certificate from the CA,
/// without one, and with one from another CA. Guarantee: only the first delivers; the others
/// fail during the handshake and deliver nothing.
#[test]
fn mtls_refuses_clients_without_a_trusted_certificate() {
    let ca = Ca::new("test ca");
    let server = ca.server();
    let files = Files::default();
    let client_ca = files.write("client-ca.pem", &ca.pem);
    let extra = format!(", client_ca_file: {}", client_ca.display());
    let t = start(&ca, &server, files, &extra);
    let client = ca.client();
    let rogue = Ca::new("rogue ca").client();
    let rt = common::runtime();

    rt.block_on(grpc_export(
        t.grpc_port,
        &ca,
        Some(&client),
        "grpc-with-cert",
    ))
    .unwrap();
    let refused = rt.block_on(grpc_export(t.grpc_port, &ca, None, "grpc-no-cert"));
    assert!(
        refused.is_err(),
        "no client certificate must be refused: {refused:?}"
    );
    let refused = rt.block_on(grpc_export(t.grpc_port, &ca, Some(&rogue), "grpc-rogue"));
    assert!(
        refused.is_err(),
        "an untrusted client certificate must be refused"
    );

    let mut stream = tls::connect(t.http_port, tls::client_config(&ca, Some(&client))).unwrap();
    let body = named_spans_request(0, 1, 1)
        .tap_name("http-with-cert")
        .encode_to_vec();
    assert_eq!(
        tls::post_protobuf(&mut stream, "/v1/traces", &body).unwrap(),
        200
    );
    let no_cert = tls::connect(t.http_port, tls::client_config(&ca, None)).and_then(|mut s| {
        let body = named_spans_request(0, 2, 1)
            .tap_name("http-no-cert")
            .encode_to_vec();
        tls::post_protobuf(&mut s, "/v1/traces", &body).map_err(|e| e.to_string())
    });
    assert!(
        no_cert.is_err(),
        "HTTP without a client certificate must fail: {no_cert:?}"
    );

    assert!(common::wait_until(WAIT, || span_names(&t.backend).len() >= 2));
    std::thread::sleep(Duration::from_millis(300));
    let mut names = span_names(&t.backend);
    names.sort();
    assert_eq!(names, ["grpc-with-cert", "http-with-cert"]);
}

/// Scenario: `reload_interval: 1s`; a client keeps sending on one HTTPS connection while the
/// certificate and key files are replaced by a new pair. Guarantee: a new connection gets
/// the new certificate within a few intervals, the old connection keeps working, and every
/// request acknowledged reaches the backend.
#[test]
fn rotated_certificate_is_served_without_a_restart() {
    let ca = Ca::new("test ca");
    let first = ca.server();
    let files = Files::default();
    let cert_path = files.path("server.pem");
    let key_path = files.path("server-key.pem");
    let t = start(&ca, &first, files, ", reload_interval: 1s");
    let config = tls::client_config(&ca, None);
    let mut old = tls::connect(t.http_port, config.clone()).unwrap();
    assert!(tls::presented(&old, &first));

    let second = ca.server();
    let writer = Files::default();
    // Replace both files atomically (as a secret volume does), key first.
    std::fs::copy(writer.write("k", &second.key_pem), &key_path).unwrap();
    std::fs::copy(writer.write("c", &second.cert_pem), &cert_path).unwrap();

    let mut sent = 0;
    let mut rotated = false;
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while std::time::Instant::now() < deadline {
        let body = named_spans_request(1, sent, 1)
            .tap_name(&format!("s{sent}"))
            .encode_to_vec();
        assert_eq!(
            tls::post_protobuf(&mut old, "/v1/traces", &body).unwrap(),
            200
        );
        sent += 1;
        let fresh = tls::connect(t.http_port, config.clone()).unwrap();
        if tls::presented(&fresh, &second) {
            rotated = true;
            break;
        }
        assert!(
            tls::presented(&fresh, &first),
            "a certificate that is neither"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(rotated, "the new certificate was not served within 15 s");
    for _ in 0..3 {
        let body = named_spans_request(1, sent, 1)
            .tap_name(&format!("s{sent}"))
            .encode_to_vec();
        assert_eq!(
            tls::post_protobuf(&mut old, "/v1/traces", &body).unwrap(),
            200
        );
        sent += 1;
    }
    assert!(common::wait_until(WAIT, || span_names(&t.backend).len() >= sent));
    let mut names = span_names(&t.backend);
    names.sort();
    let mut want: Vec<String> = (0..sent).map(|i| format!("s{i}")).collect();
    want.sort();
    assert_eq!(names, want, "every acknowledged request, once");
}
