//! Client metadata end to end: `include_metadata` on the otlp receiver's gRPC and HTTP
//! servers, a `batch` with `metadata_keys` (one batch per tenant, a cardinality limit that
//! refuses retryably), and the `headers_setter` extension setting the tenant's header on the
//! otlp (gRPC metadata) and otlphttp (HTTP header) exporters.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::BTreeSet;
use std::time::Duration;

use common::http_backend::HttpBackend;
use common::{free_port, metric_sum, named_spans_request, Backend, Collector, WAIT};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use prost::Message;

/// The collector's ports: gRPC receiver, HTTP receiver, telemetry.
struct Ports {
    grpc: u16,
    http: u16,
    metrics: u16,
}

/// A collector keeping client metadata on both protocols, batching by `x-tenant` (`batch`
/// settings appended), exporting through `headers_setter` to `exporters` (YAML entries under
/// `exporters:`, each with `auth: {authenticator: headers_setter}`) named `names`.
fn collector(batch: &str, exporters: &str, names: &str) -> (Collector, Ports) {
    let ports = Ports {
        grpc: free_port(),
        http: free_port(),
        metrics: free_port(),
    };
    let yaml = format!(
        "receivers:
  otlp:
    protocols:
      grpc: {{endpoint: 127.0.0.1:{grpc}, include_metadata: true}}
      http: {{endpoint: 127.0.0.1:{http}, include_metadata: true}}
processors:
  batch:
    metadata_keys: [X-Tenant]
    {batch}
extensions:
  headers_setter:
    headers:
      - {{key: X-Scope-OrgID, from_context: x-tenant, default_value: anonymous, action: upsert}}
exporters:
{exporters}
service:
  extensions: [headers_setter]
  telemetry: {{metrics: {{address: 127.0.0.1:{metrics}}}}}
  pipelines:
    traces: {{receivers: [otlp], processors: [batch], exporters: [{names}]}}
shards: {{cores: 1}}
",
        grpc = ports.grpc,
        http = ports.http,
        metrics = ports.metrics,
    );
    (Collector::start_yaml(&yaml), ports)
}

/// Sends one span named `name` over gRPC with metadata `x-tenant: tenant`.
fn grpc_send(port: u16, tenant: &str, name: &str) -> tonic::Code {
    let mut request = named_spans_request(0, 0, 1);
    request.resource_spans[0].scope_spans[0].spans[0].name = name.to_owned();
    let mut request = tonic::Request::new(request);
    request
        .metadata_mut()
        .insert("x-tenant", tenant.parse().unwrap());
    match common::export_traces(port, request) {
        Ok(()) => tonic::Code::Ok,
        Err(status) => status.code(),
    }
}

/// POSTs one span named `name` over HTTP with `X-Tenant: tenant` (none when `None`).
fn http_send(port: u16, tenant: Option<&str>, name: &str) -> common::http::Response {
    let mut request = named_spans_request(0, 0, 1);
    request.resource_spans[0].scope_spans[0].spans[0].name = name.to_owned();
    let body = request.encode_to_vec();
    let mut headers = vec![("Content-Type", "application/x-protobuf")];
    if let Some(tenant) = tenant {
        headers.push(("X-Tenant", tenant));
    }
    common::http::send(port, &common::http::request("/v1/traces", &headers, &body))
}

/// The span names of one export request.
fn span_names(request: &ExportTraceServiceRequest) -> Vec<String> {
    let spans = request.resource_spans.iter().flat_map(|r| &r.scope_spans);
    spans
        .flat_map(|s| &s.spans)
        .map(|s| s.name.clone())
        .collect()
}

/// Each export as (its `x-scope-orgid`, its span names), from both backends.
fn exports(grpc: &Backend, http: &HttpBackend) -> Vec<(String, Option<String>, Vec<String>)> {
    let mut out = Vec::new();
    for r in grpc.trace_requests() {
        let tenant = r.metadata.iter().find(|(n, _)| n == "x-scope-orgid");
        let tenant = tenant.map(|(_, v)| v.clone());
        out.push(("otlp".to_owned(), tenant, span_names(&r.request)));
    }
    for (r, request) in http.requests().iter().zip(http.traces()) {
        let tenant = r.header("x-scope-orgid").map(str::to_owned);
        out.push(("otlphttp".to_owned(), tenant, span_names(&request)));
    }
    out
}

/// Scenario: tenants `a` (gRPC metadata) and `b` (HTTP header, written `X-Tenant`) send
/// spans in turn, plus HTTP spans with no tenant, into one shard whose batch would otherwise
/// hold them all; the exporters are otlp and otlphttp through `headers_setter` with
/// `from_context: x-tenant`. Guarantee: every span reaches both backends; every export carries
/// `X-Scope-OrgID` of exactly the tenant of each span in it (never a mixed batch), and spans
/// without a tenant go out with the `default_value`.
#[test]
fn each_tenant_s_spans_leave_in_their_own_batches_with_their_header() {
    let grpc_backend = Backend::start();
    let http_backend = HttpBackend::start();
    let exporters = format!(
        "  otlp: {{endpoint: {}, tls: {{insecure: true}}, auth: {{authenticator: headers_setter}}}}\n  otlphttp: {{endpoint: {}, auth: {{authenticator: headers_setter}}}}",
        grpc_backend.endpoint(),
        http_backend.url()
    );
    let (_collector, ports) = collector(
        "timeout: 500ms\n    send_batch_size: 1000",
        &exporters,
        "otlp, otlphttp",
    );
    for i in 0..6 {
        assert_eq!(
            grpc_send(ports.grpc, "a", &format!("a/{i}")),
            tonic::Code::Ok
        );
        let answer = http_send(ports.http, Some("b"), &format!("b/{i}"));
        assert_eq!(answer.status, 200);
        if i % 3 == 0 {
            assert_eq!(
                http_send(ports.http, None, &format!("anonymous/{i}")).status,
                200
            );
        }
    }
    let spans = |exports: &[(String, Option<String>, Vec<String>)]| -> usize {
        exports.iter().map(|(_, _, names)| names.len()).sum()
    };
    assert!(common::wait_until(WAIT, || spans(&exports(
        &grpc_backend,
        &http_backend
    )) >= 2 * 14));
    std::thread::sleep(Duration::from_millis(300));
    let exports = exports(&grpc_backend, &http_backend);
    assert_eq!(spans(&exports), 2 * 14, "{exports:?}");
    let mut seen = BTreeSet::new();
    for (exporter, tenant, names) in &exports {
        let tenant = tenant
            .as_deref()
            .unwrap_or_else(|| panic!("{exporter} export without x-scope-orgid: {names:?}"));
        for name in names {
            assert!(
                name.starts_with(&format!("{tenant}/")),
                "{exporter}: span {name} in the batch of tenant {tenant}: {names:?}"
            );
        }
        seen.insert((exporter.clone(), tenant.to_owned()));
    }
    let want: BTreeSet<(String, String)> = ["otlp", "otlphttp"]
        .iter()
        .flat_map(|e| ["a", "b", "anonymous"].map(|t| (e.to_string(), t.to_owned())))
        .collect();
    assert_eq!(seen, want);
}

/// Scenario: `metadata_cardinality_limit: 1` and a long batch timeout; tenant `a`'s span
/// waits in its batch while tenant `b` sends over HTTP and gRPC. Guarantee: `b` is refused
/// retryably (HTTP 503 with `Retry-After`, gRPC UNAVAILABLE) and counted as refused; once
/// `a`'s batch has been sent, `b`'s retry is accepted and exported with its own header.
#[test]
fn past_the_cardinality_limit_new_tenants_are_refused_retryably() {
    let backend = Backend::start();
    let exporters = format!(
        "  otlp: {{endpoint: {}, tls: {{insecure: true}}, auth: {{authenticator: headers_setter}}}}",
        backend.endpoint()
    );
    let (_collector, ports) = collector(
        "timeout: 2s\n    metadata_cardinality_limit: 1",
        &exporters,
        "otlp",
    );
    assert_eq!(http_send(ports.http, Some("a"), "a/0").status, 200);
    let refused = http_send(ports.http, Some("b"), "b/0");
    assert_eq!(refused.status, 503, "{refused:?}");
    assert!(refused.header("retry-after").is_some());
    assert_eq!(grpc_send(ports.grpc, "b", "b/1"), tonic::Code::Unavailable);
    // The same tenant still joins its batch.
    assert_eq!(grpc_send(ports.grpc, "a", "a/1"), tonic::Code::Ok);
    let refused_spans = metric_sum(ports.metrics, "otelcol_receiver_refused_spans_total", "");
    assert_eq!(refused_spans, 2.0);
    assert!(common::wait_until(WAIT, || backend.spans().len() >= 2));
    assert!(common::wait_until(WAIT, || {
        http_send(ports.http, Some("b"), "b/2").status == 200
    }));
    assert!(common::wait_until(WAIT, || backend.spans().len() >= 3));
    let requests = backend.trace_requests();
    let tenant_of = |names: &[String]| {
        requests
            .iter()
            .find(|r| span_names(&r.request) == names)
            .and_then(|r| r.metadata.iter().find(|(n, _)| n == "x-scope-orgid"))
            .map(|(_, v)| v.clone())
    };
    assert_eq!(
        tenant_of(&["a/0".to_owned(), "a/1".to_owned()]),
        Some("a".to_owned())
    );
    assert_eq!(tenant_of(&["b/2".to_owned()]), Some("b".to_owned()));
}

/// Runs `shardgate validate --config FILE` on `yaml`: whether it passed, and its stderr.
fn validate(yaml: &str) -> (bool, String) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("collector.yaml");
    std::fs::write(&path, yaml).expect("write config");
    let output = std::process::Command::new(common::binary())
        .args(["validate", "--config"])
        .arg(&path)
        .env("NO_COLOR", "1")
        .output()
        .expect("run validate");
    let stderr = common::strip_ansi(&String::from_utf8_lossy(&output.stderr));
    (output.status.success(), stderr)
}

/// A gateway config with client metadata: `extension` is the `headers_setter` body, `batch`
/// the batch body, `grpc` the receiver's gRPC server body.
fn metadata_yaml(extension: &str, batch: &str, grpc: &str) -> String {
    format!(
        "receivers:
  otlp:
    protocols:
      grpc: {grpc}
      http: {{endpoint: 127.0.0.1:{http}, include_metadata: true}}
processors:
  batch: {batch}
extensions:
  headers_setter: {extension}
exporters:
  otlp: {{endpoint: 127.0.0.1:4317, tls: {{insecure: true}}, auth: {{authenticator: headers_setter}}}}
  otlphttp: {{endpoint: http://127.0.0.1:4318, auth: {{authenticator: headers_setter}}}}
service:
  extensions: [headers_setter]
  pipelines:
    traces: {{receivers: [otlp], processors: [batch], exporters: [otlp, otlphttp]}}
",
        http = free_port(),
    )
}

/// Scenario: `validate` on the keys of client metadata, written as otelcol users write them,
/// then on each mistake. Guarantee: the good config passes; every mistake is refused naming
/// its key and saying what is wrong.
#[test]
fn validate_checks_the_metadata_keys() {
    let setter = "{headers: [{key: X-Scope-OrgID, from_context: X-Tenant, default_value: anon, action: upsert}, {key: x-static, value: v, action: insert}, {key: x-gone, action: delete}]}";
    let batch = "{metadata_keys: [X-Tenant], metadata_cardinality_limit: 50}";
    let grpc = format!(
        "{{endpoint: 127.0.0.1:{}, include_metadata: true}}",
        free_port()
    );
    let (ok, stderr) = validate(&metadata_yaml(setter, batch, &grpc));
    assert!(ok, "{stderr}");
    let refused = [
        (
            metadata_yaml(setter, "{metadata_keys: [X-Tenant, x-tenant]}", &grpc),
            "processors::batch::metadata_keys: duplicate entry in metadata_keys: \"x-tenant\" (case-insensitive)",
        ),
        (
            metadata_yaml("{headers: [{key: a, action: upsert}]}", batch, &grpc),
            "missing header source",
        ),
        (
            metadata_yaml("{headers: [{key: a, from_attribute: sub}]}", batch, &grpc),
            "headers[0]::from_attribute: not supported",
        ),
        (
            metadata_yaml("{headers: []}", batch, &grpc),
            "extensions::headers_setter::headers: missing headers configuration",
        ),
        (
            metadata_yaml(setter, batch, "{include_metadata: yes please}"),
            "protocols::grpc::include_metadata",
        ),
        (
            metadata_yaml(
                setter,
                batch,
                "{include_metadata: true, auth: {authenticator: headers_setter}}",
            ),
            "extension \"headers_setter\" cannot authenticate requests",
        ),
    ];
    for (yaml, needle) in refused {
        let (ok, stderr) = validate(&yaml);
        assert!(!ok, "validate must fail:\n{yaml}");
        assert!(stderr.contains(needle), "want {needle:?} in:\n{stderr}");
    }
}
