//! The real client: `opentelemetry-otlp`'s HTTP exporters (reqwest blocking client), with
//! `http/protobuf` and `http/json`, driven by `opentelemetry_sdk`, sending traces, metrics and
//! logs to shardgate's OTLP/HTTP receiver (two shards), which forwards them over gRPC to the
//! recording backend.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_types)]

mod common;

use std::time::Duration;

use common::http::HttpConfig;
use common::{Backend, Collector, Config, WAIT};
use opentelemetry::logs::{AnyValue, LogRecord as _, Logger as _, LoggerProvider as _, Severity};
use opentelemetry::metrics::MeterProvider as _;
use opentelemetry::trace::{Span as _, Tracer as _, TracerProvider as _};
use opentelemetry::KeyValue;
use opentelemetry_otlp::{Protocol, WithExportConfig, WithHttpConfig};
use opentelemetry_proto::tonic::common::v1::any_value;
use opentelemetry_proto::tonic::metrics::v1::{metric, number_data_point};
use opentelemetry_sdk::logs::SdkLoggerProvider;
use opentelemetry_sdk::metrics::{PeriodicReader, SdkMeterProvider};
use opentelemetry_sdk::trace::SdkTracerProvider;
use opentelemetry_sdk::Resource;

const SPANS: usize = 25;
const LOGS: usize = 25;

fn resource(name: &str) -> Resource {
    Resource::builder()
        .with_service_name(name.to_owned())
        .build()
}

/// Makes ring rustls's process-wide provider: the SDK's own reqwest client is built on
/// rustls without one (this crate's `reqwest` dev-dependency turns its rustls on, and brings
/// no provider, as shardgate uses ring).
fn install_ring() {
    // Err means a provider is already installed (another test of this binary did it).
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// The SDK's exporter builder `builder`, with `client` as its HTTP client when set.
fn with_client<B: WithHttpConfig>(builder: B, client: Option<&reqwest::blocking::Client>) -> B {
    match client {
        Some(client) => builder.with_http_client(client.clone()),
        None => builder,
    }
}

/// Sends SPANS spans, one counter and one histogram, and LOGS log records with `protocol`
/// (through `client` when set, else the SDK's own reqwest client).
fn send_all(url: &str, protocol: Protocol, tag: &str, client: Option<&reqwest::blocking::Client>) {
    install_ring();
    let spans = with_client(
        opentelemetry_otlp::SpanExporter::builder().with_http(),
        client,
    )
    .with_protocol(protocol)
    .with_endpoint(format!("{url}/v1/traces"))
    .with_timeout(Duration::from_secs(10))
    .build()
    .unwrap();
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(spans)
        .with_resource(resource(tag))
        .build();
    let tracer = provider.tracer("sdk-http");
    for i in 0..SPANS {
        let mut span = tracer.start(format!("{tag}-span-{i}"));
        span.set_attribute(KeyValue::new("i", i as i64));
        span.set_attribute(KeyValue::new("f", 0.5 + i as f64));
        span.set_attribute(KeyValue::new("s", format!("value-{i} ünïcødé")));
        span.end();
    }
    provider.force_flush().unwrap();
    provider.shutdown().unwrap();

    let metrics = with_client(
        opentelemetry_otlp::MetricExporter::builder().with_http(),
        client,
    )
    .with_protocol(protocol)
    .with_endpoint(format!("{url}/v1/metrics"))
    .with_timeout(Duration::from_secs(10))
    .build()
    .unwrap();
    let reader = PeriodicReader::builder(metrics)
        .with_interval(Duration::from_secs(3600))
        .build();
    let provider = SdkMeterProvider::builder()
        .with_reader(reader)
        .with_resource(resource(tag))
        .build();
    let meter = provider.meter("sdk-http");
    let counter = meter.u64_counter(format!("{tag}.counter")).build();
    counter.add(41, &[KeyValue::new("k", "v")]);
    counter.add(1, &[KeyValue::new("k", "v")]);
    let histogram = meter.f64_histogram(format!("{tag}.histogram")).build();
    histogram.record(2.5, &[]);
    // One export only: shutdown collects and exports once (a force_flush before it would send
    // the cumulative points a second time).
    provider.shutdown().unwrap();

    let logs = with_client(
        opentelemetry_otlp::LogExporter::builder().with_http(),
        client,
    )
    .with_protocol(protocol)
    .with_endpoint(format!("{url}/v1/logs"))
    .with_timeout(Duration::from_secs(10))
    .build()
    .unwrap();
    let provider = SdkLoggerProvider::builder()
        .with_batch_exporter(logs)
        .with_resource(resource(tag))
        .build();
    let logger = provider.logger("sdk-http");
    for i in 0..LOGS {
        let mut record = logger.create_log_record();
        record.set_severity_number(Severity::Warn);
        record.set_body(AnyValue::from(format!("{tag}-log-{i}")));
        record.add_attribute("i", i as i64);
        logger.emit(record);
    }
    provider.force_flush().unwrap();
    provider.shutdown().unwrap();
}

/// Scenario: the OTLP SDK exporters send traces, metrics and logs over http/protobuf and then
/// over http/json. Guarantee: each exporter call succeeds and the backend holds every span,
/// point and log record exactly once with its values, resource and scope intact.
#[test]
fn sdk_http_protobuf_and_json_arrive_exactly_once() {
    let backend = Backend::start();
    let config = HttpConfig::new(Config::to_backend(&backend));
    let _collector = Collector::start_yaml(&config.yaml());
    send_all(&config.url(), Protocol::HttpBinary, "proto", None);
    send_all(&config.url(), Protocol::HttpJson, "json", None);

    // Per protocol: SPANS spans; counter (1 point) + histogram (1 point); LOGS records.
    assert!(
        backend.wait_for_items(2 * SPANS, 4, 2 * LOGS, WAIT),
        "got {:?}",
        backend.item_counts()
    );
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(backend.item_counts(), (2 * SPANS, 4, 2 * LOGS));

    for tag in ["proto", "json"] {
        let spans: Vec<_> = backend
            .spans()
            .into_iter()
            .filter(|f| f.item.name.starts_with(&format!("{tag}-span-")))
            .collect();
        assert_eq!(spans.len(), SPANS, "{tag}");
        for f in &spans {
            let i: usize = f.item.name.rsplit('-').next().unwrap().parse().unwrap();
            assert_eq!(f.item.trace_id.len(), 16);
            assert_eq!(f.item.span_id.len(), 8);
            assert_eq!(f.scope.as_ref().unwrap().name, "sdk-http");
            let service = &f.resource.as_ref().unwrap().attributes;
            assert!(service.iter().any(|kv| kv.key == "service.name"
                && kv.value.as_ref().unwrap().value
                    == Some(any_value::Value::StringValue(tag.into()))));
            let attr = |k: &str| {
                f.item
                    .attributes
                    .iter()
                    .find(|kv| kv.key == k)
                    .unwrap()
                    .value
                    .clone()
                    .unwrap()
                    .value
                    .unwrap()
            };
            assert_eq!(attr("i"), any_value::Value::IntValue(i as i64));
            assert_eq!(attr("f"), any_value::Value::DoubleValue(0.5 + i as f64));
            assert_eq!(
                attr("s"),
                any_value::Value::StringValue(format!("value-{i} ünïcødé"))
            );
        }
        let logs: Vec<_> = backend
            .log_records()
            .into_iter()
            .filter(|f| {
                matches!(&f.item.body, Some(b) if matches!(&b.value, Some(any_value::Value::StringValue(s)) if s.starts_with(&format!("{tag}-log-"))))
            })
            .collect();
        assert_eq!(logs.len(), LOGS, "{tag}");
        assert!(logs
            .iter()
            .all(|f| f.item.severity_number == Severity::Warn as i32));
        let points = backend.points();
        let counter = points
            .iter()
            .find(|f| f.item.name == format!("{tag}.counter"))
            .unwrap();
        let Some(metric::Data::Sum(sum)) = &counter.item.data else {
            panic!("{counter:?}")
        };
        assert_eq!(
            sum.data_points[0].value,
            Some(number_data_point::Value::AsInt(42))
        );
        let histogram = points
            .iter()
            .find(|f| f.item.name == format!("{tag}.histogram"))
            .unwrap();
        let Some(metric::Data::Histogram(h)) = &histogram.item.data else {
            panic!("{histogram:?}")
        };
        assert_eq!(h.data_points[0].count, 1);
        assert_eq!(h.data_points[0].sum, Some(2.5));
    }
}

/// Scenario: the OTLP SDK exporters send over http/protobuf and http/json to shardgate, which
/// forwards with the `otlphttp` exporter (json encoding, gzip) to an OTLP/HTTP backend.
/// Guarantee: every span, point and log record arrives exactly once, each with its resource.
#[test]
fn sdk_http_in_otlphttp_out_arrives_exactly_once() {
    let backend = common::http_backend::HttpBackend::start();
    let port = common::free_port();
    let yaml = format!(
        "receivers:\n  otlp:\n    protocols:\n      http:\n        endpoint: 127.0.0.1:{port}\n\
         processors:\n  batch:\n    timeout: 50ms\n\
         exporters:\n  otlphttp:\n    endpoint: {url}\n    encoding: json\n    compression: gzip\n\
         service:\n  telemetry:\n    metrics:\n      level: none\n  pipelines:\n\
         \x20   traces: {{receivers: [otlp], processors: [batch], exporters: [otlphttp]}}\n\
         \x20   metrics: {{receivers: [otlp], processors: [batch], exporters: [otlphttp]}}\n\
         \x20   logs: {{receivers: [otlp], processors: [batch], exporters: [otlphttp]}}\n\
         shards:\n  cores: 2\n",
        url = backend.url()
    );
    let _collector = Collector::start_yaml(&yaml);
    let url = format!("http://127.0.0.1:{port}");
    send_all(&url, Protocol::HttpBinary, "proto", None);
    send_all(&url, Protocol::HttpJson, "json", None);

    let count = |b: &common::http_backend::HttpBackend| {
        let spans: usize = b
            .traces()
            .iter()
            .flat_map(|r| &r.resource_spans)
            .flat_map(|r| &r.scope_spans)
            .map(|s| s.spans.len())
            .sum();
        let logs: usize = b
            .logs()
            .iter()
            .flat_map(|r| &r.resource_logs)
            .flat_map(|r| &r.scope_logs)
            .map(|s| s.log_records.len())
            .sum();
        let metrics: usize = b
            .metrics()
            .iter()
            .flat_map(|r| &r.resource_metrics)
            .flat_map(|r| &r.scope_metrics)
            .map(|s| s.metrics.len())
            .sum();
        (spans, metrics, logs)
    };
    let deadline = std::time::Instant::now() + WAIT;
    while count(&backend) != (2 * SPANS, 4, 2 * LOGS) && std::time::Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(count(&backend), (2 * SPANS, 4, 2 * LOGS));
    for request in backend.traces() {
        for resource in &request.resource_spans {
            let tag = resource
                .resource
                .as_ref()
                .and_then(|r| r.attributes.iter().find(|kv| kv.key == "service.name"))
                .and_then(|kv| kv.value.as_ref())
                .and_then(|v| v.value.clone());
            let Some(any_value::Value::StringValue(tag)) = tag else {
                panic!("span resource lost its service.name: {resource:?}");
            };
            for span in resource.scope_spans.iter().flat_map(|s| &s.spans) {
                assert!(
                    span.name.starts_with(&format!("{tag}-span-")),
                    "{}",
                    span.name
                );
                assert_eq!(span.trace_id.len(), 16);
            }
        }
    }
}

/// Scenario: the SDK's HTTP exporters, on a reqwest client with rustls that trusts the test
/// CA and presents a client certificate, send http/protobuf and http/json to `https://` on
/// shardgate's mTLS HTTP receiver. Guarantee: every span, point and log record arrives.
#[test]
fn sdk_https_exports_every_signal_over_mtls() {
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
    let _collector = Collector::start_yaml(&format!(
        "receivers:\n  otlp:\n    protocols:\n      http:\n        endpoint: 127.0.0.1:{port}\n        tls: {{cert_file: {}, key_file: {}, client_ca_file: {}}}\nexporters:\n  otlp: {{endpoint: {}, tls: {{insecure: true}}}}\nservice:\n  pipelines:\n    traces: {{receivers: [otlp], exporters: [otlp]}}\n    metrics: {{receivers: [otlp], exporters: [otlp]}}\n    logs: {{receivers: [otlp], exporters: [otlp]}}\nshards: {{cores: {}}}\n",
        cert.display(),
        key.display(),
        client_ca.display(),
        backend.endpoint(),
        common::two_shards()
    ));
    let tls = common::tls::client_config(&ca, Some(&client));
    let https = reqwest::blocking::Client::builder()
        .use_preconfigured_tls((*tls).clone())
        .build()
        .expect("reqwest client");
    let url = format!("https://127.0.0.1:{port}");
    send_all(&url, Protocol::HttpBinary, "proto", Some(&https));
    send_all(&url, Protocol::HttpJson, "json", Some(&https));
    assert!(
        backend.wait_for_items(2 * SPANS, 4, 2 * LOGS, WAIT),
        "got {:?}",
        backend.item_counts()
    );
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(backend.item_counts(), (2 * SPANS, 4, 2 * LOGS));

    // Without a client certificate the handshake is refused: nothing more arrives.
    let anonymous = reqwest::blocking::Client::builder()
        .use_preconfigured_tls((*common::tls::client_config(&ca, None)).clone())
        .build()
        .expect("reqwest client");
    let refused = anonymous
        .post(format!("{url}/v1/traces"))
        .header("content-type", "application/x-protobuf")
        .body(Vec::new())
        .send();
    assert!(refused.is_err(), "{refused:?}");
}
