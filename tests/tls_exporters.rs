//! TLS on the `otlp` and `otlphttp` exporters, against backends with certificates made in the
//! test: otelcol's defaults (no `tls.insecure` = TLS with the system's roots), a CA file,
//! mTLS with a client certificate, `insecure_skip_verify`, and https:// OTLP/HTTP.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use common::http_backend::HttpBackend;
use common::tls::{self, Ca, Files};
use common::{free_port, named_spans_request, Backend, Collector, WAIT};

/// Starts a collector with a plaintext gRPC receiver, a batch processor (so the span is
/// acknowledged at once and the exporter works in the background) and one exporter given as
/// YAML (under `exporters:`, named `exporter_id`), then sends one span.
fn run(exporter_yaml: &str, exporter_id: &str) -> Collector {
    let port = free_port();
    let yaml = format!(
        "receivers:
  otlp:
    protocols:
      grpc: {{endpoint: 127.0.0.1:{port}}}
processors:
  batch: {{timeout: 10ms}}
exporters:
{exporter_yaml}
    retry_on_failure: {{initial_interval: 100ms, max_interval: 200ms}}
service:
  telemetry: {{logs: {{level: debug}}}}
  pipelines:
    traces: {{receivers: [otlp], processors: [batch], exporters: [{exporter_id}]}}
shards: {{cores: 1}}
"
    );
    let collector = Collector::start_yaml(&yaml);
    common::export_traces(port, named_spans_request(0, 0, 1)).expect("the receiver acknowledges");
    collector
}

/// A CA and a client certificate it signed, as files.
struct Pki {
    ca: Ca,
    ca_file: std::path::PathBuf,
    cert: std::path::PathBuf,
    key: std::path::PathBuf,
    _files: Files,
}

impl Pki {
    fn new() -> Pki {
        let ca = Ca::new("test ca");
        let files = Files::default();
        let client = ca.client();
        Pki {
            ca_file: files.write("ca.pem", &ca.pem),
            cert: files.write("client.pem", &client.cert_pem),
            key: files.write("client-key.pem", &client.key_pem),
            ca,
            _files: files,
        }
    }
}

fn delivered(backend: &Backend) -> bool {
    common::wait_until(WAIT, || !backend.spans().is_empty())
}

fn nothing_arrives(backend: &Backend) -> bool {
    std::thread::sleep(Duration::from_secs(2));
    backend.spans().is_empty()
}

/// Scenario: an `otlp` exporter to a TLS backend whose certificate comes from a private CA,
/// first with otelcol's defaults (no tls block), then trusting the CA with `ca_file`.
/// Guarantee: the default connects with TLS and the system roots, so it refuses the private
/// certificate and delivers nothing (it never falls back to plaintext); with `ca_file` the
/// span arrives.
#[test]
fn otlp_exporter_uses_tls_by_default_and_trusts_ca_file() {
    let ca = Ca::new("test ca");
    let files = Files::default();
    let ca_file = files.write("ca.pem", &ca.pem);
    let backend = Backend::start_tls(&ca.server(), None);
    let endpoint = format!(
        "localhost:{}",
        backend.endpoint().rsplit(':').next().unwrap()
    );

    let collector = run(&format!("  otlp:\n    endpoint: {endpoint}"), "otlp");
    assert!(
        nothing_arrives(&backend),
        "system roots must not trust the test CA"
    );
    assert!(
        collector
            .logs()
            .to_ascii_lowercase()
            .contains("certificate"),
        "the refusal names the certificate: {}",
        collector.logs()
    );
    drop(collector);

    let _collector = run(
        &format!(
            "  otlp:\n    endpoint: {endpoint}\n    tls: {{ca_file: {}}}",
            ca_file.display()
        ),
        "otlp",
    );
    assert!(delivered(&backend));
}

/// Scenario: a backend that requires a client certificate from the CA; an exporter with
/// `cert_file`/`key_file`, and one without. Guarantee: only the first delivers.
#[test]
fn otlp_exporter_presents_its_client_certificate() {
    let Pki {
        ca,
        ca_file,
        cert,
        key,
        _files,
    } = Pki::new();
    let backend = Backend::start_tls(&ca.server(), Some(&ca));
    let port = backend.endpoint().rsplit(':').next().unwrap().to_owned();

    let without = run(
        &format!(
            "  otlp:\n    endpoint: https://localhost:{port}\n    tls: {{ca_file: {}}}",
            ca_file.display()
        ),
        "otlp",
    );
    assert!(
        nothing_arrives(&backend),
        "no client certificate, no delivery"
    );
    drop(without);
    let _with = run(
        &format!(
            "  otlp:\n    endpoint: https://localhost:{port}\n    tls: {{ca_file: {}, cert_file: {}, key_file: {}}}",
            ca_file.display(),
            cert.display(),
            key.display()
        ),
        "otlp",
    );
    assert!(delivered(&backend));
}

/// Scenario: `insecure_skip_verify: true` and `server_name_override` against a backend with
/// a private certificate. Guarantee: skip-verify delivers over TLS without trusting the CA;
/// a wrong server name with the right CA does not deliver.
#[test]
fn otlp_exporter_skip_verify_and_server_name_override() {
    let ca = Ca::new("test ca");
    let files = Files::default();
    let ca_file = files.write("ca.pem", &ca.pem);
    let backend = Backend::start_tls(&ca.server(), None);
    let port = backend.endpoint().rsplit(':').next().unwrap().to_owned();

    let wrong_name = run(
        &format!(
            "  otlp:\n    endpoint: 127.0.0.1:{port}\n    tls: {{ca_file: {}, server_name_override: not-the-server}}",
            ca_file.display()
        ),
        "otlp",
    );
    assert!(
        nothing_arrives(&backend),
        "the certificate does not name not-the-server"
    );
    drop(wrong_name);
    let _skip = run(
        &format!(
            "  otlp:\n    endpoint: 127.0.0.1:{port}\n    tls: {{insecure_skip_verify: true}}"
        ),
        "otlp",
    );
    assert!(delivered(&backend));
}

/// Scenario: `otlphttp` to an https:// backend, trusting the CA, with and without the client
/// certificate the backend requires. Guarantee: with it the span arrives over TLS; without
/// it nothing does.
#[test]
fn otlphttp_exporter_speaks_https() {
    let Pki {
        ca,
        ca_file,
        cert,
        key,
        _files,
    } = Pki::new();
    let backend = HttpBackend::start_tls(tls::server_config(&ca.server(), Some(&ca)));

    let without = run(
        &format!(
            "  otlphttp:\n    endpoint: {}\n    tls: {{ca_file: {}}}",
            backend.url(),
            ca_file.display()
        ),
        "otlphttp",
    );
    std::thread::sleep(Duration::from_secs(2));
    assert!(
        backend.traces().is_empty(),
        "no client certificate, no delivery"
    );
    drop(without);
    let _with = run(
        &format!(
            "  otlphttp:\n    endpoint: {}\n    tls: {{ca_file: {}, cert_file: {}, key_file: {}}}",
            backend.url(),
            ca_file.display(),
            cert.display(),
            key.display()
        ),
        "otlphttp",
    );
    assert!(common::wait_until(WAIT, || !backend.traces().is_empty()));
}
