//! The `filter` and `transform` processors end to end: a gRPC client sends spans, metric
//! data points and log records through shardgate (pipelines `[filter/drop, transform/edit,
//! batch]`) to a recording backend, which must see only what the filter keeps, edited as the
//! statements say; `/metrics` reports what was filtered under otelcol's names; `validate`
//! refuses bad OTTL naming the statement.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{free_port, metric_sum, two_shards, wait_until, Backend, Collector, WAIT};
use opentelemetry_proto::tonic::collector::logs::v1::logs_service_client::LogsServiceClient;
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::metrics_service_client::MetricsServiceClient;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_client::TraceServiceClient;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value::Value as V, AnyValue, KeyValue};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::metrics::v1::{
    metric::Data, Gauge, Metric, NumberDataPoint, ResourceMetrics, ScopeMetrics,
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

fn get<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a V> {
    attrs
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref()?.value.as_ref())
}

fn resource() -> Option<Resource> {
    Some(Resource {
        attributes: vec![s("service.name", "shop"), s("secret", "x")],
        ..Default::default()
    })
}

const PROCESSORS: &str = r#"processors:
  filter/drop:
    error_mode: ignore
    traces:
      span:
        - 'attributes["http.route"] == "/health"'
    metrics:
      datapoint:
        - 'attributes["debug"] == true'
    logs:
      log_record:
        - 'severity_number < SEVERITY_NUMBER_WARN'
  transform/edit:
    trace_statements:
      - delete_key(resource.attributes, "secret")
      - set(span.name, Concat([resource.attributes["service.name"], span.name], ":"))
      - set(span.attributes["env"], "prod")
    metric_statements:
      - context: datapoint
        statements:
          - set(attributes["env"], "prod")
    log_statements:
      - set(log.attributes["env"], "prod")
      - set(log.attributes["cut"], Substring(log.body, 0, 100)) where log.body == "boom"
  batch:
    timeout: 50ms
"#;

fn config(port: u16, metrics_port: u16, backend: &Backend) -> String {
    let pipeline = |name: &str| {
        format!("    {name}:\n      receivers: [otlp]\n      processors: [filter/drop, transform/edit, batch]\n      exporters: [otlp]\n")
    };
    format!(
        "receivers:\n  otlp:\n    protocols:\n      grpc:\n        endpoint: 127.0.0.1:{port}\n{PROCESSORS}exporters:\n  otlp:\n    endpoint: {endpoint}\n    tls:\n      insecure: true\nservice:\n  telemetry:\n    metrics:\n      readers:\n        - pull:\n            exporter:\n              prometheus: {{host: 127.0.0.1, port: {metrics_port}}}\n  pipelines:\n{}{}{}shards:\n  cores: {cores}\n",
        pipeline("traces"),
        pipeline("metrics"),
        pipeline("logs"),
        endpoint = backend.endpoint(),
        cores = two_shards(),
    )
}

fn span(name: &str, route: &str) -> Span {
    Span {
        trace_id: vec![1; 16],
        span_id: vec![2; 8],
        name: name.to_owned(),
        attributes: vec![s("http.route", route)],
        ..Default::default()
    }
}

fn point(debug: bool) -> NumberDataPoint {
    NumberDataPoint {
        attributes: vec![kv("debug", V::BoolValue(debug))],
        ..Default::default()
    }
}

fn record(severity: i32, body: &str) -> LogRecord {
    LogRecord {
        severity_number: severity,
        body: Some(AnyValue {
            value: Some(V::StringValue(body.to_owned())),
        }),
        ..Default::default()
    }
}

fn logs_request(records: Vec<LogRecord>) -> ExportLogsServiceRequest {
    ExportLogsServiceRequest {
        resource_logs: vec![ResourceLogs {
            resource: resource(),
            scope_logs: vec![ScopeLogs {
                log_records: records,
                ..Default::default()
            }],
            ..Default::default()
        }],
    }
}

/// Sends 4 spans (2 health checks), 3 points (1 debug), 3 records (1 INFO); then a record
/// the transform fails on (propagate). Returns the status of that last export.
async fn send(url: String) -> tonic::Status {
    let channel = Channel::from_shared(url).unwrap().connect().await.unwrap();
    TraceServiceClient::new(channel.clone())
        .export(ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                resource: resource(),
                scope_spans: vec![
                    ScopeSpans {
                        spans: vec![span("a", "/cart"), span("hc1", "/health")],
                        ..Default::default()
                    },
                    ScopeSpans {
                        spans: vec![span("hc2", "/health")],
                        ..Default::default()
                    },
                    ScopeSpans {
                        spans: vec![span("b", "/pay")],
                        ..Default::default()
                    },
                ],
                ..Default::default()
            }],
        })
        .await
        .unwrap();
    let gauge = Metric {
        name: "g".into(),
        data: Some(Data::Gauge(Gauge {
            data_points: vec![point(false), point(true), point(false)],
        })),
        ..Default::default()
    };
    MetricsServiceClient::new(channel.clone())
        .export(ExportMetricsServiceRequest {
            resource_metrics: vec![ResourceMetrics {
                resource: resource(),
                scope_metrics: vec![ScopeMetrics {
                    metrics: vec![gauge],
                    ..Default::default()
                }],
                ..Default::default()
            }],
        })
        .await
        .unwrap();
    let mut logs = LogsServiceClient::new(channel);
    logs.export(logs_request(vec![
        record(9, "info"),
        record(13, "warn"),
        record(17, "error"),
    ]))
    .await
    .unwrap();
    logs.export(logs_request(vec![record(17, "boom")]))
        .await
        .unwrap_err()
}

/// Scenario: spans, points and records through `[filter/drop, transform/edit, batch]` on two
/// shards; the filter drops health-check spans (a scope left empty goes too), debug points
/// and records below WARN; the transform (flat and grouped statements) renames spans, drops
/// a resource attribute and adds `env`; one more request makes a `propagate` statement fail.
/// Guarantee: the backend gets exactly the kept items, edited; `/metrics` counts 2 spans, 1
/// point and 1 record filtered under otelcol's names with `filter="filter/drop"`; the failing
/// request is refused and none of it arrives.
#[test]
fn filter_then_transform_on_every_signal() {
    let backend = Backend::start();
    let (port, metrics_port) = (free_port(), free_port());
    let _collector = Collector::start_yaml(&config(port, metrics_port, &backend));
    let refused = common::runtime().block_on(send(format!("http://127.0.0.1:{port}")));
    assert_eq!(refused.code(), tonic::Code::Internal, "{refused:?}");
    assert!(refused.message().contains("Substring"), "{refused:?}");
    assert!(
        backend.wait_for_items(2, 2, 2, WAIT),
        "items did not arrive"
    );
    std::thread::sleep(std::time::Duration::from_millis(300));
    assert_eq!(backend.item_counts(), (2, 2, 2));

    let mut names: Vec<String> = backend
        .spans()
        .iter()
        .map(|f| f.item.name.clone())
        .collect();
    names.sort();
    assert_eq!(names, ["shop:a", "shop:b"]);
    for f in backend.spans() {
        let keys: Vec<_> = f
            .resource
            .unwrap()
            .attributes
            .into_iter()
            .map(|kv| kv.key)
            .collect();
        assert_eq!(keys, ["service.name"]);
        assert_eq!(
            get(&f.item.attributes, "env"),
            Some(&V::StringValue("prod".into()))
        );
    }
    let requests = backend.trace_requests();
    let scopes: usize = requests
        .iter()
        .flat_map(|r| &r.request.resource_spans)
        .map(|rs| rs.scope_spans.len())
        .sum();
    assert_eq!(scopes, 2, "the scope whose only span was filtered is gone");
    for f in backend.points() {
        let Some(Data::Gauge(g)) = &f.item.data else {
            panic!("{f:?}")
        };
        for p in &g.data_points {
            assert_eq!(get(&p.attributes, "debug"), Some(&V::BoolValue(false)));
            assert_eq!(
                get(&p.attributes, "env"),
                Some(&V::StringValue("prod".into()))
            );
        }
    }
    let mut severities: Vec<i32> = backend
        .log_records()
        .iter()
        .map(|f| f.item.severity_number)
        .collect();
    severities.sort();
    assert_eq!(severities, [13, 17]);

    let filtered = |name: &str| metric_sum(metrics_port, name, "filter=\"filter/drop\"");
    assert!(
        wait_until(WAIT, || filtered(
            "otelcol_processor_filter_logs_filtered_total"
        ) == 1.0),
        "logs filtered: {}",
        filtered("otelcol_processor_filter_logs_filtered_total")
    );
    assert_eq!(
        filtered("otelcol_processor_filter_spans_filtered_total"),
        2.0
    );
    assert_eq!(
        filtered("otelcol_processor_filter_datapoints_filtered_total"),
        1.0
    );
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
        common::strip_ansi(&String::from_utf8_lossy(&out.stderr)),
    )
}

/// Scenario: `shardgate validate` on configs whose OTTL has an unknown function, a wrong
/// argument type and a bad path (in transform and filter). Guarantee: each fails, and the
/// message names the key path, the statement, its column and what is wrong.
#[test]
fn validate_names_the_bad_statement() {
    let backend = Backend::start();
    let base = config(free_port(), free_port(), &backend);
    let cases = [
        (
            base.replace(
                r#"Concat([resource.attributes["service.name"], span.name], ":")"#,
                "Join(span.name)",
            ),
            &[
                "processors::transform/edit::trace_statements[1]",
                r#"statement "set(span.name, Join(span.name))": column 16: unknown function "Join""#,
            ][..],
        ),
        (
            base.replace(
                r#"set(attributes["env"], "prod")"#,
                r#"truncate_all(attributes, "ten")"#,
            ),
            &[
                "processors::transform/edit::metric_statements[0]::statements[0]",
                "truncate_all(attributes, \\\"ten\\\")",
                "function truncate_all argument 2 (limit): must be an integer literal",
            ][..],
        ),
        (
            base.replace(
                r#"'attributes["http.route"] == "/health"'"#,
                r#"'span.route == "/health"'"#,
            ),
            &[
                "processors::filter/drop::traces::span[0]",
                r#"column 1: bad path "span.route": the span context has no field "route""#,
            ][..],
        ),
        (
            base.replace(
                "delete_key(resource.attributes, \"secret\")",
                "delete_key(resource.attributes, 7)",
            ),
            &["function delete_key argument 2 (key): must be a string, got a int"][..],
        ),
    ];
    for (yaml, needles) in cases {
        let (ok, stderr) = validate(&yaml);
        assert!(!ok, "validate must fail for:\n{yaml}");
        for needle in needles {
            assert!(
                stderr.contains(needle),
                "stderr names {needle:?}; stderr:\n{stderr}"
            );
        }
    }
    let (ok, stderr) = validate(&base);
    assert!(ok, "the base config is valid; stderr:\n{stderr}");
}
