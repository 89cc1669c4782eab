//! The `resourcedetection` processor over real sockets: attributes from
//! `OTEL_RESOURCE_ATTRIBUTES` and from this host reach the backend on every resource, and
//! with `override: false` a resource's own attributes win.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeMap;

use common::{Backend, Collector, Config, WAIT};
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::Span;

/// Scenario: `detectors: [env, system]`, `override: false`, the collector started with
/// `OTEL_RESOURCE_ATTRIBUTES=service.name=from-env,deployment.environment=prod%20eu`, and a
/// span whose resource has its own `service.name`. Guarantee: the backend's resource keeps
/// `service.name` as sent and gains `deployment.environment` (percent-decoded),
/// `host.name` (this host's) and `os.type` (`linux`).
#[test]
fn detected_attributes_join_every_resource() {
    let backend = Backend::start();
    let config = Config::to_backend(&backend);
    let yaml = config
        .yaml()
        .replace(
            "processors:\n  batch:\n",
            "processors:\n  resourcedetection:\n    detectors: [env, system]\n    override: false\n    system: {hostname_sources: [os]}\n  batch:\n",
        )
        .replace("processors: [batch]", "processors: [resourcedetection, batch]");
    let _collector = Collector::start_yaml_with_env(
        &yaml,
        &[(
            "OTEL_RESOURCE_ATTRIBUTES",
            "service.name=from-env,deployment.environment=prod%20eu",
        )],
    );
    let mut request = common::spans_request(vec![Span {
        trace_id: vec![1; 16],
        span_id: vec![2; 8],
        name: "detected".into(),
        ..Default::default()
    }]);
    request.resource_spans[0].resource = Some(Resource {
        attributes: vec![KeyValue {
            key: "service.name".into(),
            value: Some(AnyValue {
                value: Some(any_value::Value::StringValue("checkout".into())),
            }),
            ..Default::default()
        }],
        ..Default::default()
    });
    common::export_traces(config.grpc_port, request).expect("export");
    assert!(backend.wait_for_items(1, 0, 0, WAIT));
    let spans = backend.spans();
    let attributes: BTreeMap<String, String> = spans[0]
        .resource
        .as_ref()
        .unwrap()
        .attributes
        .iter()
        .map(|kv| {
            let value = match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                Some(any_value::Value::StringValue(s)) => s.clone(),
                other => format!("{other:?}"),
            };
            (kv.key.clone(), value)
        })
        .collect();
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    let want: BTreeMap<String, String> = [
        ("service.name", "checkout"),
        ("deployment.environment", "prod eu"),
        ("host.name", host.trim()),
        ("os.type", "linux"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    assert_eq!(attributes, want);
}
