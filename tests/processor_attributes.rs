//! The `attributes` and `resource` processors end to end: a real gRPC client sends spans,
//! metric data points and log records through shardgate (pipelines
//! `[attributes/x, resource/y, batch]`) to a recording backend, which must see exactly the
//! attributes otelcol's processors would produce.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{free_port, two_shards, Backend, Collector, WAIT};
use opentelemetry_proto::tonic::collector::logs::v1::logs_service_client::LogsServiceClient;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_client::MetricsServiceClient;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value::Value as V, AnyValue, KeyValue};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::metrics::v1::{
    metric::Data, Gauge, Histogram, HistogramDataPoint, Metric, NumberDataPoint, ResourceMetrics,
    ScopeMetrics,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use tonic::transport::Channel;

fn kv(key: &str, v: V) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue { value: Some(v) }),
        ..Default::default()
    }
}

fn s(key: &str, v: &str) -> KeyValue {
    kv(key, V::StringValue(v.to_owned()))
}

/// The item attributes every item is sent with.
fn sent_attributes() -> Vec<KeyValue> {
    vec![
        s("db.table", "users"),
        s("account_email", "foo"),
        s("http.status_code", "404"),
        s("http.url", "https://example.com/path"),
    ]
}

/// What `attributes/x` makes of [`sent_attributes`] on a selected item.
fn processed_attributes() -> Vec<KeyValue> {
    vec![
        // sha256("foo")
        s(
            "account_email",
            "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae",
        ),
        kv("http.status_code", V::IntValue(404)),
        s("http.url", "https://example.com/path"),
        kv("account_id", V::IntValue(2245)),
        s("http_protocol", "https"),
        s("http_domain", "example.com"),
    ]
}

fn resource(service: &str) -> Option<Resource> {
    Some(Resource {
        attributes: vec![s("service.name", service), s("k8s.cluster.name", "c1")],
        ..Default::default()
    })
}

/// What `resource/y` makes of [`resource`].
fn processed_resource(service: &str) -> Option<Resource> {
    Some(Resource {
        attributes: vec![s("service.name", service), s("cloud.zone", "zone-1")],
        ..Default::default()
    })
}

fn config(port: u16, backend: &Backend) -> String {
    format!(
        r#"receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:{port}
processors:
  attributes/x:
    exclude:
      match_type: strict
      span_names: [skip-me]
    actions:
      - {{key: db.table, action: delete}}
      - {{key: account_id, value: 2245, action: insert}}
      - {{key: account_email, action: hash}}
      - {{key: http.status_code, action: convert, converted_type: int}}
      - {{key: http.url, pattern: "^(?P<http_protocol>[a-z]+)://(?P<http_domain>[^/]+)", action: extract}}
  attributes/logs:
    include:
      match_type: strict
      log_severity_number: {{min: WARN}}
    actions:
      - {{key: db.table, action: delete}}
      - {{key: account_id, value: 2245, action: insert}}
      - {{key: account_email, action: hash}}
      - {{key: http.status_code, action: convert, converted_type: int}}
      - {{key: http.url, pattern: "^(?P<http_protocol>[a-z]+)://(?P<http_domain>[^/]+)", action: extract}}
  attributes/metrics:
    exclude:
      match_type: regexp
      metric_names: ["^skip"]
    actions:
      - {{key: db.table, action: delete}}
      - {{key: account_id, value: 2245, action: insert}}
      - {{key: account_email, action: hash}}
      - {{key: http.status_code, action: convert, converted_type: int}}
      - {{key: http.url, pattern: "^(?P<http_protocol>[a-z]+)://(?P<http_domain>[^/]+)", action: extract}}
  resource/y:
    attributes:
      - {{key: cloud.zone, value: zone-1, action: upsert}}
      - {{key: k8s.cluster.name, action: delete}}
  batch:
    timeout: 50ms
exporters:
  otlp:
    endpoint: {endpoint}
    tls:
      insecure: true
service:
  pipelines:
    traces:
      receivers: [otlp]
      processors: [attributes/x, resource/y, batch]
      exporters: [otlp]
    metrics:
      receivers: [otlp]
      processors: [attributes/metrics, resource/y, batch]
      exporters: [otlp]
    logs:
      receivers: [otlp]
      processors: [attributes/logs, resource/y, batch]
      exporters: [otlp]
shards:
  cores: {cores}
"#,
        endpoint = backend.endpoint(),
        cores = two_shards(),
    )
}

async fn send(url: String) {
    let channel = Channel::from_shared(url).unwrap().connect().await.unwrap();
    let span = |name: &str| Span {
        trace_id: vec![1; 16],
        span_id: vec![2; 8],
        name: name.to_owned(),
        attributes: sent_attributes(),
        ..Default::default()
    };
    TraceServiceClient::new(channel.clone())
        .export(ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                resource: resource("svc"),
                scope_spans: vec![ScopeSpans {
                    spans: vec![span("work"), span("skip-me")],
                    ..Default::default()
                }],
                ..Default::default()
            }],
        })
        .await
        .unwrap();
    let metric = Metric {
        name: "m".into(),
        data: Some(Data::Gauge(Gauge {
            data_points: vec![NumberDataPoint {
                attributes: sent_attributes(),
                ..Default::default()
            }],
        })),
        ..Default::default()
    };
    let hist = Metric {
        name: "h".into(),
        data: Some(Data::Histogram(Histogram {
            data_points: vec![HistogramDataPoint {
                attributes: sent_attributes(),
                count: 1,
                ..Default::default()
            }],
            aggregation_temporality: 2,
        })),
        ..Default::default()
    };
    let skipped = Metric {
        name: "skip.me".into(),
        data: Some(Data::Gauge(Gauge {
            data_points: vec![NumberDataPoint {
                attributes: sent_attributes(),
                ..Default::default()
            }],
        })),
        ..Default::default()
    };
    MetricsServiceClient::new(channel.clone())
        .export(ExportMetricsServiceRequest {
            resource_metrics: vec![ResourceMetrics {
                resource: resource("svc"),
                scope_metrics: vec![ScopeMetrics {
                    metrics: vec![metric, hist, skipped],
                    ..Default::default()
                }],
                ..Default::default()
            }],
        })
        .await
        .unwrap();
    let record = |severity: i32| LogRecord {
        severity_number: severity,
        attributes: sent_attributes(),
        ..Default::default()
    };
    LogsServiceClient::new(channel)
        .export(ExportLogsServiceRequest {
            resource_logs: vec![ResourceLogs {
                resource: resource("svc"),
                scope_logs: vec![ScopeLogs {
                    log_records: vec![record(17), record(9)],
                    ..Default::default()
                }],
                ..Default::default()
            }],
        })
        .await
        .unwrap();
}

/// Scenario: spans, gauge and histogram points and log records pass `[attributes/*,
/// resource/y, batch]` on two shards; `attributes/x` excludes span `skip-me`, the metrics
/// one excludes metric names `^skip`, the logs one includes only severity ≥ WARN. Guarantee: selected items
/// carry exactly the attributes otelcol's actions produce (delete, insert, hash, convert,
/// extract, in order), unselected items are untouched, every resource is rewritten by
/// `resource/y`, and no item is lost or duplicated.
#[test]
fn attributes_and_resource_processors_rewrite_every_signal() {
    let backend = Backend::start();
    let port = free_port();
    let _collector = Collector::start_yaml(&config(port, &backend));
    common::runtime().block_on(send(format!("http://127.0.0.1:{port}")));
    assert!(
        backend.wait_for_items(2, 3, 2, WAIT),
        "items did not arrive"
    );
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert_eq!(backend.item_counts(), (2, 3, 2));

    let spans = backend.spans();
    for flat in &spans {
        assert_eq!(flat.resource, processed_resource("svc"));
        let want = if flat.item.name == "skip-me" {
            sent_attributes()
        } else {
            processed_attributes()
        };
        assert_eq!(flat.item.attributes, want, "span {}", flat.item.name);
    }
    let mut names: Vec<_> = spans.iter().map(|f| f.item.name.clone()).collect();
    names.sort();
    assert_eq!(names, ["skip-me", "work"]);

    for flat in backend.points() {
        assert_eq!(flat.resource, processed_resource("svc"));
        let attrs = match flat.item.data.as_ref().unwrap() {
            Data::Gauge(g) => g.data_points[0].attributes.clone(),
            Data::Histogram(h) => h.data_points[0].attributes.clone(),
            other => panic!("unexpected point type {other:?}"),
        };
        let want = if flat.item.name == "skip.me" {
            sent_attributes()
        } else {
            processed_attributes()
        };
        assert_eq!(attrs, want, "metric {}", flat.item.name);
    }

    let logs = backend.log_records();
    for flat in &logs {
        assert_eq!(flat.resource, processed_resource("svc"));
        let want = if flat.item.severity_number >= 13 {
            processed_attributes()
        } else {
            sent_attributes()
        };
        assert_eq!(
            flat.item.attributes, want,
            "severity {}",
            flat.item.severity_number
        );
    }
    let mut severities: Vec<_> = logs.iter().map(|f| f.item.severity_number).collect();
    severities.sort();
    assert_eq!(severities, [9, 17]);
}

/// Runs `shardgate validate` on `yaml`; returns (success, stderr).
fn validate(yaml: &str) -> (bool, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.yaml");
    std::fs::write(&path, yaml).unwrap();
    let out = std::process::Command::new(common::binary())
        .arg("validate")
        .arg("--config")
        .arg(&path)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Scenario: `shardgate validate` on configs misusing the processors: `span_names` in a logs
/// pipeline, a bad regexp, `match_type` missing, `from_context`, a resource processor without
/// actions. Guarantee: each fails, and the message names the key path or pipeline at fault.
#[test]
fn invalid_processor_configs_name_the_key_path() {
    let backend = Backend::start();
    let base = config(free_port(), &backend);
    let cases = [
        (
            base.replace("log_severity_number: {min: WARN}", "span_names: [x]"),
            "service::pipelines::logs: processor \"attributes/logs\" does not support logs",
        ),
        (
            base.replace(
                "match_type: strict\n      span_names: [skip-me]",
                "match_type: regexp\n      span_names: [\"(\"]",
            ),
            "processors::attributes/x::exclude::span_names[0]: invalid regular expression",
        ),
        (
            base.replace(
                "      match_type: strict\n      span_names",
                "      span_names",
            ),
            "processors::attributes/x::exclude::match_type: match_type is required",
        ),
        (
            base.replace(
                "{key: cloud.zone, value: zone-1, action: upsert}",
                "{key: cloud.zone, from_context: metadata.zone, action: upsert}",
            ),
            "processors::resource/y::attributes[0]::from_context: from_context is not supported",
        ),
    ];
    for (yaml, needle) in cases {
        let (ok, stderr) = validate(&yaml);
        assert!(!ok, "validate must fail for:\n{yaml}");
        assert!(
            stderr.contains(needle),
            "stderr names {needle:?}; stderr:\n{stderr}"
        );
    }
    let (ok, stderr) = validate(&base);
    assert!(ok, "the base config is valid; stderr:\n{stderr}");
}
