//! Golden tests of the `attributes` processor on whole resource messages: each include/exclude
//! rule and each signal, with expected results written by hand from otelcol's README examples
//! and filterspan/filterlog/filtermetric semantics.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use crate::processor::actions::tests::s;
use crate::processor::attributes::config::parse_attributes;
use opentelemetry_proto::tonic::common::v1::{any_value::Value, AnyValue};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ScopeLogs};
use opentelemetry_proto::tonic::metrics::v1::{
    ExponentialHistogram, ExponentialHistogramDataPoint, Gauge, Histogram, HistogramDataPoint,
    NumberDataPoint, ScopeMetrics, Sum, Summary, SummaryDataPoint,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{ScopeSpans, Span};

fn b(k: &str, v: bool) -> KeyValue {
    KeyValue {
        key: k.into(),
        value: Some(AnyValue {
            value: Some(Value::BoolValue(v)),
        }),
        ..Default::default()
    }
}

fn resource(service: Option<&str>) -> Option<Resource> {
    Some(Resource {
        attributes: service
            .map(|v| vec![s("service.name", v), s("host.name", "h1")])
            .unwrap_or_default(),
        ..Default::default()
    })
}

fn scope(name: &str, version: &str) -> Option<InstrumentationScope> {
    Some(InstrumentationScope {
        name: name.into(),
        version: version.into(),
        ..Default::default()
    })
}

fn span(name: &str, kind: i32, attrs: Vec<KeyValue>) -> Span {
    Span {
        name: name.into(),
        kind,
        attributes: attrs,
        ..Default::default()
    }
}

/// Runs `yaml` over one resource of `service` holding `spans` (scope lib 1.0), returns the
/// spans' attributes.
fn spans_after(
    yaml: &str,
    service: Option<&str>,
    scope_: Option<InstrumentationScope>,
    spans: Vec<Span>,
) -> Vec<Vec<KeyValue>> {
    let p = AttributesProcessor::new(&parse_attributes(yaml).unwrap());
    let rs = ResourceSpans {
        resource: resource(service),
        scope_spans: vec![ScopeSpans {
            scope: scope_,
            spans,
            ..Default::default()
        }],
        ..Default::default()
    };
    let bytes = rs.encode_to_vec();
    let out = match p.rewrite(Signal::Traces, &bytes).unwrap() {
        Some(out) => ResourceSpans::decode(out).unwrap(),
        None => rs,
    };
    out.scope_spans[0]
        .spans
        .iter()
        .map(|s| s.attributes.clone())
        .collect()
}

const DELETE_CC: &str = "actions: [{key: credit_card, action: delete}]\n";

#[test]
fn readme_include_services_exclude_attributes() {
    let yaml = format!(
        "{DELETE_CC}include: {{match_type: strict, services: [svcA, svcB]}}\nexclude: {{match_type: strict, attributes: [{{key: redact_trace, value: false}}]}}"
    );
    let spans = || {
        vec![
            span("a", 0, vec![s("credit_card", "1234")]),
            span(
                "b",
                0,
                vec![s("credit_card", "1234"), b("redact_trace", false)],
            ),
            span(
                "c",
                0,
                vec![s("credit_card", "1234"), b("redact_trace", true)],
            ),
        ]
    };
    let out = spans_after(&yaml, Some("svcA"), None, spans());
    assert_eq!(
        out,
        vec![
            vec![],
            vec![s("credit_card", "1234"), b("redact_trace", false)],
            vec![b("redact_trace", true)],
        ]
    );
    // Another service: include fails, nothing changes (and the chunk is not even decoded).
    let out = spans_after(&yaml, Some("svcC"), None, spans());
    assert_eq!(out[0], vec![s("credit_card", "1234")]);
    let p = AttributesProcessor::new(&parse_attributes(&yaml).unwrap());
    let rs = ResourceSpans {
        resource: resource(Some("svcC")),
        ..Default::default()
    };
    assert!(p
        .rewrite(Signal::Traces, &rs.encode_to_vec())
        .unwrap()
        .is_none());
}

#[test]
fn readme_regexp_services_and_span_names() {
    let yaml = r#"
include: {match_type: regexp, services: ["auth.*"]}
exclude: {match_type: regexp, span_names: ["login.*"]}
actions:
  - {key: password, action: update, value: obfuscated}
  - {key: token, action: delete}
"#;
    let out = spans_after(
        yaml,
        Some("authservice"),
        None,
        vec![
            span("login_user", 0, vec![s("password", "p"), s("token", "t")]),
            span("check", 0, vec![s("password", "p"), s("token", "t")]),
        ],
    );
    assert_eq!(
        out,
        vec![
            vec![s("password", "p"), s("token", "t")],
            vec![s("password", "obfuscated")]
        ]
    );
}

#[test]
fn missing_service_name_is_nil_service_name() {
    let yaml =
        format!("{DELETE_CC}include: {{match_type: strict, services: [\"<nil-service-name>\"]}}");
    let out = spans_after(
        &yaml,
        None,
        None,
        vec![span("a", 0, vec![s("credit_card", "1")])],
    );
    assert_eq!(out, vec![vec![]]);
}

#[test]
fn span_kinds_libraries_resources_attributes() {
    let cases: &[(&str, [bool; 3])] = &[
        ("span_kinds: [SPAN_KIND_SERVER]", [true, false, false]),
        (
            "span_kinds: [SPAN_KIND_CLIENT, SPAN_KIND_INTERNAL]",
            [false, true, true],
        ),
        ("span_names: [a]", [true, false, false]),
        ("libraries: [{name: lib}]", [true, true, true]),
        (
            "libraries: [{name: lib, version: \"1.0\"}]",
            [true, true, true],
        ),
        (
            "libraries: [{name: lib, version: \"2.0\"}]",
            [false, false, false],
        ),
        ("libraries: [{name: other}]", [false, false, false]),
        (
            "resources: [{key: host.name, value: h1}]",
            [true, true, true],
        ),
        (
            "resources: [{key: host.name, value: h2}]",
            [false, false, false],
        ),
        ("resources: [{key: host.name}]", [true, true, true]),
        ("attributes: [{key: n, value: 3}]", [false, true, false]),
        ("attributes: [{key: n}]", [false, true, true]),
        ("attributes: [{key: n, value: \"3\"}]", [false, false, true]),
        ("attributes: [{key: n}, {key: x}]", [false, false, false]),
    ];
    for (props, want) in cases {
        let yaml = format!("{DELETE_CC}include: {{match_type: strict, {props}}}");
        let n3 = KeyValue {
            key: "n".into(),
            value: Some(AnyValue {
                value: Some(Value::IntValue(3)),
            }),
            ..Default::default()
        };
        let out = spans_after(
            &yaml,
            Some("svc"),
            scope("lib", "1.0"),
            vec![
                span("a", 2, vec![s("credit_card", "1")]),
                span("b", 3, vec![s("credit_card", "1"), n3.clone()]),
                span("c", 1, vec![s("credit_card", "1"), s("n", "3")]),
            ],
        );
        let got: Vec<bool> = out
            .iter()
            .map(|a| !a.iter().any(|kv| kv.key == "credit_card"))
            .collect();
        assert_eq!(got, want.to_vec(), "{props}");
        // The same rule as exclude selects exactly the complement.
        let yaml = format!("{DELETE_CC}exclude: {{match_type: strict, {props}}}");
        let out = spans_after(
            &yaml,
            Some("svc"),
            scope("lib", "1.0"),
            vec![
                span("a", 2, vec![s("credit_card", "1")]),
                span("b", 3, vec![s("credit_card", "1"), n3]),
                span("c", 1, vec![s("credit_card", "1"), s("n", "3")]),
            ],
        );
        let got: Vec<bool> = out
            .iter()
            .map(|a| a.iter().any(|kv| kv.key == "credit_card"))
            .collect();
        assert_eq!(got, want.to_vec(), "exclude {props}");
    }
}

#[test]
fn regexp_attribute_values_match_scalars_as_text() {
    let yaml = format!(
        "{DELETE_CC}include: {{match_type: regexp, attributes: [{{key: env, value: \"^prod\"}}]}}"
    );
    let int = KeyValue {
        key: "env".into(),
        value: Some(AnyValue {
            value: Some(Value::IntValue(1)),
        }),
        ..Default::default()
    };
    let out = spans_after(
        &yaml,
        Some("svc"),
        None,
        vec![
            span("a", 0, vec![s("credit_card", "1"), s("env", "production")]),
            span("b", 0, vec![s("credit_card", "1"), s("env", "staging")]),
            span("c", 0, vec![s("credit_card", "1"), int.clone()]),
            span("d", 0, vec![s("credit_card", "1")]),
        ],
    );
    assert_eq!(
        out,
        vec![
            vec![s("env", "production")],
            vec![s("credit_card", "1"), s("env", "staging")],
            vec![s("credit_card", "1"), int.clone()],
            vec![s("credit_card", "1")],
        ]
    );
    // Non-string scalars are matched as their text (otelcol's attributeStringValue).
    let yaml = format!(
        "{DELETE_CC}include: {{match_type: regexp, attributes: [{{key: env, value: \"^1$\"}}]}}"
    );
    let out = spans_after(
        &yaml,
        Some("svc"),
        None,
        vec![span("c", 0, vec![s("credit_card", "1"), int.clone()])],
    );
    assert_eq!(out, vec![vec![int]]);
}

fn logs_after(yaml: &str, records: Vec<LogRecord>) -> Vec<Vec<KeyValue>> {
    let p = AttributesProcessor::new(&parse_attributes(yaml).unwrap());
    let rl = ResourceLogs {
        resource: resource(Some("svc")),
        scope_logs: vec![ScopeLogs {
            log_records: records,
            ..Default::default()
        }],
        ..Default::default()
    };
    let out = ResourceLogs::decode(
        p.rewrite(Signal::Logs, &rl.encode_to_vec())
            .unwrap()
            .unwrap(),
    )
    .unwrap();
    out.scope_logs[0]
        .log_records
        .iter()
        .map(|r| r.attributes.clone())
        .collect()
}

fn record(body: &str, text: &str, number: i32) -> LogRecord {
    LogRecord {
        body: Some(AnyValue {
            value: Some(Value::StringValue(body.into())),
        }),
        severity_text: text.into(),
        severity_number: number,
        attributes: vec![s("credit_card", "1")],
        ..Default::default()
    }
}

#[test]
fn log_rules() {
    let recs = || {
        vec![
            record("user logged in", "INFO", 9),
            record("disk full", "ERROR", 17),
            record("x", "", 0),
        ]
    };
    let cases: &[(&str, [bool; 3])] = &[
        (
            "match_type: strict, log_bodies: [disk full]",
            [false, true, false],
        ),
        (
            "match_type: regexp, log_bodies: [\"^user\"]",
            [true, false, false],
        ),
        (
            "match_type: strict, log_severity_texts: [INFO]",
            [true, false, false],
        ),
        (
            "match_type: strict, log_severity_number: {min: WARN}",
            [false, true, false],
        ),
        (
            "match_type: strict, log_severity_number: {min: 9, match_undefined: true}",
            [true, true, true],
        ),
        (
            "match_type: strict, resources: [{key: service.name, value: svc}]",
            [true, true, true],
        ),
    ];
    for (props, want) in cases {
        let out = logs_after(&format!("{DELETE_CC}include: {{{props}}}"), recs());
        let got: Vec<bool> = out.iter().map(|a| a.is_empty()).collect();
        assert_eq!(got, want.to_vec(), "{props}");
    }
}

#[test]
fn every_metric_point_type_is_processed_and_metric_names_select() {
    let attrs = || vec![s("credit_card", "1"), s("keep", "k")];
    let metric = |name: &str, data: Data| Metric {
        name: name.into(),
        data: Some(data),
        ..Default::default()
    };
    let metrics = vec![
        metric(
            "g",
            Data::Gauge(Gauge {
                data_points: vec![NumberDataPoint {
                    attributes: attrs(),
                    ..Default::default()
                }],
            }),
        ),
        metric(
            "s",
            Data::Sum(Sum {
                data_points: vec![NumberDataPoint {
                    attributes: attrs(),
                    ..Default::default()
                }],
                ..Default::default()
            }),
        ),
        metric(
            "h",
            Data::Histogram(Histogram {
                data_points: vec![HistogramDataPoint {
                    attributes: attrs(),
                    ..Default::default()
                }],
                ..Default::default()
            }),
        ),
        metric(
            "e",
            Data::ExponentialHistogram(ExponentialHistogram {
                data_points: vec![ExponentialHistogramDataPoint {
                    attributes: attrs(),
                    ..Default::default()
                }],
                ..Default::default()
            }),
        ),
        metric(
            "y",
            Data::Summary(Summary {
                data_points: vec![SummaryDataPoint {
                    attributes: attrs(),
                    ..Default::default()
                }],
            }),
        ),
    ];
    let rm = ResourceMetrics {
        resource: resource(Some("svc")),
        scope_metrics: vec![ScopeMetrics {
            metrics,
            ..Default::default()
        }],
        ..Default::default()
    };
    let run = |yaml: &str| {
        let p = AttributesProcessor::new(&parse_attributes(yaml).unwrap());
        let out = ResourceMetrics::decode(
            p.rewrite(Signal::Metrics, &rm.encode_to_vec())
                .unwrap()
                .unwrap(),
        )
        .unwrap();
        out.scope_metrics[0]
            .metrics
            .iter()
            .map(|m| match m.data.as_ref().unwrap() {
                Data::Gauge(g) => g.data_points[0].attributes.clone(),
                Data::Sum(g) => g.data_points[0].attributes.clone(),
                Data::Histogram(g) => g.data_points[0].attributes.clone(),
                Data::ExponentialHistogram(g) => g.data_points[0].attributes.clone(),
                Data::Summary(g) => g.data_points[0].attributes.clone(),
            })
            .collect::<Vec<_>>()
    };
    assert!(run(DELETE_CC).iter().all(|a| *a == vec![s("keep", "k")]));
    let out = run(&format!(
        "{DELETE_CC}exclude: {{match_type: regexp, metric_names: [\"^[gs]$\"]}}"
    ));
    let deleted: Vec<bool> = out.iter().map(|a| a.len() == 1).collect();
    assert_eq!(deleted, [false, false, true, true, true]);
}
