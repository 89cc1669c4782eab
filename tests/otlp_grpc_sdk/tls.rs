//! The SDK's tonic exporters (tls-ring) sending every signal to a TLS receiver that trusts
//! only clients with a certificate from the test CA (mTLS).

use opentelemetry::logs::{Logger as _, LoggerProvider as _};
use opentelemetry::trace::{Tracer as _, TracerProvider as _};
use tonic::transport::{Certificate, ClientTlsConfig, Identity};

use super::*;

/// Scenario: spans, a counter and log records from the SDK over tonic with TLS and a client
/// certificate to shardgate's mTLS gRPC receiver. Guarantee: every item arrives at the
/// backend.
#[test]
fn sdk_exports_every_signal_over_mtls() {
    let ca = common::tls::Ca::new("test ca");
    let (server, client) = (ca.server(), ca.client());
    let files = common::tls::Files::default();
    let (cert, key) = (
        files.write("s.pem", &server.cert_pem),
        files.write("s-key.pem", &server.key_pem),
    );
    let client_ca = files.write("ca.pem", &ca.pem);
    let backend = Backend::start();
    let port = common::free_port();
    let yaml = format!(
        "receivers:\n  otlp:\n    protocols:\n      grpc:\n        endpoint: 127.0.0.1:{port}\n        tls: {{cert_file: {}, key_file: {}, client_ca_file: {}}}\nexporters:\n  otlp: {{endpoint: {}, tls: {{insecure: true}}}}\nservice:\n  pipelines:\n    traces: {{receivers: [otlp], exporters: [otlp]}}\n    metrics: {{receivers: [otlp], exporters: [otlp]}}\n    logs: {{receivers: [otlp], exporters: [otlp]}}\nshards: {{cores: {}}}\n",
        cert.display(),
        key.display(),
        client_ca.display(),
        backend.endpoint(),
        common::two_shards()
    );
    let collector = Collector::start_yaml(&yaml);
    let rt = common::runtime();
    let guard = rt.enter();
    let tls = || {
        ClientTlsConfig::new()
            .ca_certificate(Certificate::from_pem(&ca.pem))
            .identity(Identity::from_pem(&client.cert_pem, &client.key_pem))
            .domain_name("localhost")
    };
    let endpoint = format!("https://127.0.0.1:{port}");

    let spans = opentelemetry_otlp::SpanExporter::builder()
        .with_tonic()
        .with_endpoint(&endpoint)
        .with_tls_config(tls())
        .build()
        .expect("span exporter");
    let tracer_provider = SdkTracerProvider::builder()
        .with_simple_exporter(spans)
        .build();
    let tracer = tracer_provider.tracer("tls-test");
    for i in 0..5 {
        tracer.in_span(format!("tls-span-{i}"), |_| {});
    }

    let metrics = opentelemetry_otlp::MetricExporter::builder()
        .with_tonic()
        .with_endpoint(&endpoint)
        .with_tls_config(tls())
        .build()
        .expect("metric exporter");
    let meter_provider = SdkMeterProvider::builder()
        .with_reader(PeriodicReader::builder(metrics).build())
        .build();
    let counter = meter_provider
        .meter("tls-test")
        .u64_counter("tls.requests")
        .build();
    counter.add(3, &[]);

    let logs = opentelemetry_otlp::LogExporter::builder()
        .with_tonic()
        .with_endpoint(&endpoint)
        .with_tls_config(tls())
        .build()
        .expect("log exporter");
    let logger_provider = SdkLoggerProvider::builder()
        .with_simple_exporter(logs)
        .build();
    let logger = logger_provider.logger("tls-test");
    for i in 0..4 {
        let mut record = logger.create_log_record();
        record.set_body(LogValue::String(format!("tls-log-{i}").into()));
        logger.emit(record);
    }

    tracer_provider.shutdown().expect("spans exported");
    meter_provider.shutdown().expect("metrics exported");
    logger_provider.shutdown().expect("logs exported");
    drop(guard);
    assert!(common::wait_until(WAIT, || backend.spans().len() >= 5
        && !backend.points().is_empty()
        && backend.log_records().len() >= 4));
    let mut names: Vec<String> = backend
        .spans()
        .iter()
        .map(|s| s.item.name.clone())
        .collect();
    names.sort();
    assert_eq!(
        names,
        (0..5).map(|i| format!("tls-span-{i}")).collect::<Vec<_>>()
    );
    assert!(backend
        .points()
        .iter()
        .any(|m| m.item.name == "tls.requests"));
    assert_eq!(backend.log_records().len(), 4);
    drop(collector);
}
