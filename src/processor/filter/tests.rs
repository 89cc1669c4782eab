//! Golden tests: the conditions of otelcol-contrib's filter processor documentation, each on
//! items built here, with the outcome the documentation describes.
#![allow(clippy::unwrap_used)]

use opentelemetry_proto::tonic::logs::v1::ResourceLogs;
use opentelemetry_proto::tonic::metrics::v1::{metric::Data, ResourceMetrics};
use opentelemetry_proto::tonic::trace::v1::ResourceSpans;
use prost::Message;

use super::config::parse_filter;
use super::FilterProcessor;
use crate::ottl::testkit::*;
use crate::processor::chunk::TransformError;
use crate::processor::transform::Rewritten;
use crate::signal::Signal;

fn run(yaml: &str, signal: Signal, chunk: &[u8]) -> Result<Rewritten, TransformError> {
    FilterProcessor::new(&parse_filter(yaml).unwrap()).rewrite(signal, chunk)
}

/// The chunk left and its item count (`None`: all dropped).
fn left(r: Rewritten, original: &[u8]) -> Option<(Vec<u8>, Option<u32>)> {
    match r {
        Rewritten::Unchanged => Some((original.to_vec(), None)),
        Rewritten::Edited(b) => Some((b.to_vec(), None)),
        Rewritten::Reduced { bytes, items } => Some((bytes.to_vec(), Some(items))),
        Rewritten::Emptied => None,
    }
}

fn span_names(yaml: &str, rs: &ResourceSpans) -> Vec<Vec<String>> {
    let chunk = rs.encode_to_vec();
    let Some((bytes, _)) = left(run(yaml, Signal::Traces, &chunk).unwrap(), &chunk) else {
        return vec![];
    };
    let out = ResourceSpans::decode(bytes.as_slice()).unwrap();
    out.scope_spans
        .iter()
        .map(|ss| ss.spans.iter().map(|s| s.name.clone()).collect())
        .collect()
}

const TRACES: &str = r#"
error_mode: ignore
traces:
  span:
    - 'attributes["container.name"] == "app_container_1"'
    - 'resource.attributes["host.name"] == "localhost"'
    - 'name == "app_3"'
  spanevent:
    - 'attributes["grpc"] == true'
    - 'IsMatch(name, ".*grpc.*")'
"#;

/// Scenario: the documentation's span and span event conditions. Guarantee: matching spans
/// and events are dropped, a scope left empty goes, a resource matching drops everything.
#[test]
fn documented_span_conditions() {
    let mut keep = span("app_1", vec![s("container.name", "app_container_2")]);
    keep.events = vec![
        event("grpc.call", vec![]),
        event("db", vec![b("grpc", true)]),
        event("log", vec![]),
    ];
    let rs = traces(
        vec![s("host.name", "prod-1")],
        vec![
            vec![
                span("app_2", vec![s("container.name", "app_container_1")]),
                keep,
            ],
            vec![span("app_3", vec![])],
        ],
    );
    let chunk = rs.encode_to_vec();
    let r = run(TRACES, Signal::Traces, &chunk).unwrap();
    let Rewritten::Reduced { bytes, items } = r else {
        panic!("{r:?}")
    };
    assert_eq!(items, 1);
    let out = ResourceSpans::decode(bytes).unwrap();
    assert_eq!(out.scope_spans.len(), 1, "the scope left empty is removed");
    let sp = &out.scope_spans[0].spans[0];
    assert_eq!(sp.name, "app_1");
    assert_eq!(
        sp.events
            .iter()
            .map(|e| e.name.as_str())
            .collect::<Vec<_>>(),
        ["log"]
    );

    let local = traces(
        vec![s("host.name", "localhost")],
        vec![vec![span("a", vec![])]],
    );
    assert!(matches!(
        run(TRACES, Signal::Traces, &local.encode_to_vec()).unwrap(),
        Rewritten::Emptied
    ));
}

/// Scenario: HTTP/non-HTTP and root-span conditions from the documentation. Guarantee: only
/// the spans they name go; a chunk where nothing matches passes on as it came.
#[test]
fn nil_checks_and_root_spans() {
    let mut child = span("child", vec![s("http.request.method", "GET")]);
    child.parent_span_id = vec![9; 8];
    let rs = traces(vec![], vec![vec![span("root", vec![]), child]]);
    let non_http = "traces:\n  span:\n    - 'attributes[\"http.request.method\"] == nil'\n";
    assert_eq!(span_names(non_http, &rs), [["child"]]);
    let http = "traces:\n  span:\n    - 'attributes[\"http.request.method\"] != nil'\n";
    assert_eq!(span_names(http, &rs), [["root"]]);
    assert_eq!(
        span_names("traces:\n  span: ['IsRootSpan()']\n", &rs),
        [["child"]]
    );
    let none = "traces:\n  span: ['kind == SPAN_KIND_CLIENT']\n";
    assert!(matches!(
        run(none, Signal::Traces, &rs.encode_to_vec()).unwrap(),
        Rewritten::Unchanged
    ));
}

const METRICS: &str = r#"
error_mode: ignore
metrics:
  metric:
    - 'name == "my.metric" and resource.attributes["my_label"] == "abc123"'
    - 'type == METRIC_DATA_TYPE_HISTOGRAM'
  datapoint:
    - 'metric.type == METRIC_DATA_TYPE_SUMMARY'
    - 'resource.attributes["service.name"] == "my_service_name"'
"#;

/// Scenario: the documentation's metric and data point conditions. Guarantee: matching
/// metrics go, points go, a metric left with no point goes; items count data points.
#[test]
fn documented_metric_conditions() {
    let rm = metrics(
        vec![s("my_label", "abc123")],
        vec![
            gauge("my.metric", vec![point(vec![], 1.0)]),
            histogram("latency", vec![vec![], vec![]]),
            summary("quantiles"),
            sum("requests", vec![point(vec![], 1.0), point(vec![], 2.0)]),
        ],
    );
    let r = run(METRICS, Signal::Metrics, &rm.encode_to_vec()).unwrap();
    let Rewritten::Reduced { bytes, items } = r else {
        panic!("{r:?}")
    };
    assert_eq!(items, 2);
    let out = ResourceMetrics::decode(bytes).unwrap();
    let names: Vec<_> = out.scope_metrics[0]
        .metrics
        .iter()
        .map(|m| m.name.as_str())
        .collect();
    assert_eq!(names, ["requests"]);
    let svc = metrics(
        vec![s("service.name", "my_service_name")],
        vec![sum("requests", vec![point(vec![], 1.0)])],
    );
    assert!(matches!(
        run(METRICS, Signal::Metrics, &svc.encode_to_vec()).unwrap(),
        Rewritten::Emptied
    ));
}

/// Scenario: the filter-only metric functions and a data point attribute condition.
/// Guarantee: HasAttrOnDatapoint / HasAttrKeyOnDatapoint drop whole metrics; a datapoint
/// condition drops only its points.
#[test]
fn datapoint_functions() {
    let rm = metrics(
        vec![],
        vec![
            sum(
                "a",
                vec![
                    point(vec![s("http.method", "GET")], 1.0),
                    point(vec![s("http.method", "POST")], 1.0),
                ],
            ),
            sum("b", vec![point(vec![s("k", "v")], 1.0)]),
        ],
    );
    let names = |yaml: &str| {
        let chunk = rm.encode_to_vec();
        let (bytes, _) = left(run(yaml, Signal::Metrics, &chunk).unwrap(), &chunk).unwrap();
        let out = ResourceMetrics::decode(bytes.as_slice()).unwrap();
        out.scope_metrics[0]
            .metrics
            .iter()
            .map(|m| (m.name.clone(), crate::ottl::points::count(m)))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        names("metrics:\n  metric: ['HasAttrOnDatapoint(\"http.method\", \"GET\")']\n"),
        [("b".to_owned(), 1)]
    );
    assert_eq!(
        names("metrics:\n  metric: ['HasAttrKeyOnDatapoint(\"k\")']\n"),
        [("a".to_owned(), 2)]
    );
    assert_eq!(
        names("metrics:\n  datapoint: ['attributes[\"http.method\"] == \"POST\"']\n"),
        [("a".to_owned(), 1), ("b".to_owned(), 1)]
    );
    let Some(Data::Sum(_)) = &rm.scope_metrics[0].metrics[0].data else {
        panic!()
    };
}

const LOGS: &str = r#"
error_mode: ignore
logs:
  log_record:
    - 'IsMatch(body, ".*password.*")'
    - 'severity_number < SEVERITY_NUMBER_WARN'
"#;

/// Scenario: the documentation's log conditions. Guarantee: records with passwords and
/// below WARN are dropped; the rest pass with their count.
#[test]
fn documented_log_conditions() {
    let rl = logs(
        vec![],
        vec![
            log("password=x", 17, vec![]),
            log("debugging", 5, vec![]),
            log("disk full", 17, vec![]),
            log("retry", 13, vec![]),
        ],
    );
    let r = run(LOGS, Signal::Logs, &rl.encode_to_vec()).unwrap();
    let Rewritten::Reduced { bytes, items } = r else {
        panic!("{r:?}")
    };
    assert_eq!(items, 2);
    let out = ResourceLogs::decode(bytes).unwrap();
    assert_eq!(out.scope_logs[0].log_records.len(), 2);
}

/// Scenario: resource conditions only. Guarantee: decided from the resource alone.
#[test]
fn resource_conditions() {
    let yaml = "logs:\n  resource: ['resource.attributes[\"env\"] == \"dev\" or attributes[\"env\"] == \"test\"']\n";
    let dev = logs(vec![s("env", "test")], vec![log("x", 9, vec![])]);
    assert!(matches!(
        run(yaml, Signal::Logs, &dev.encode_to_vec()).unwrap(),
        Rewritten::Emptied
    ));
    let prod = logs(vec![s("env", "prod")], vec![log("x", 9, vec![])]);
    assert!(matches!(
        run(yaml, Signal::Logs, &prod.encode_to_vec()).unwrap(),
        Rewritten::Unchanged
    ));
}

/// Scenario: a condition that fails at run time (Substring out of range). Guarantee: with
/// ignore the item is kept; with propagate the chunk fails (the request is refused).
#[test]
fn error_modes() {
    let cond = "  log_record: ['Substring(body, 0, 100) == \"x\"']\n";
    let rl = logs(vec![], vec![log("short", 9, vec![])]).encode_to_vec();
    assert!(matches!(
        run(&format!("logs:\n{cond}"), Signal::Logs, &rl).unwrap(),
        Rewritten::Unchanged
    ));
    let err = run(
        &format!("error_mode: propagate\nlogs:\n{cond}"),
        Signal::Logs,
        &rl,
    )
    .unwrap_err();
    assert!(err.to_string().contains("Substring(body, 0, 100)"), "{err}");
}

/// Scenario: the older include/exclude properties for spans, logs and metrics.
/// Guarantee: an item is kept when it matches include and not exclude.
#[test]
fn include_exclude() {
    let rs = traces(
        vec![s("service.name", "a")],
        vec![vec![
            span("keep", vec![]),
            span("drop", vec![s("env", "dev")]),
        ]],
    );
    let yaml =
        "spans:\n  exclude:\n    match_type: strict\n    attributes: [{key: env, value: dev}]\n";
    assert_eq!(span_names(yaml, &rs), [["keep"]]);
    let yaml = "spans:\n  include:\n    match_type: regexp\n    span_names: ['^dr']\n";
    assert_eq!(span_names(yaml, &rs), [["drop"]]);
    let rl = logs(vec![], vec![log("a", 9, vec![]), log("b", 17, vec![])]);
    let yaml = "logs:\n  include:\n    match_type: strict\n    severity_number: {min: WARN}\n";
    let r = run(yaml, Signal::Logs, &rl.encode_to_vec()).unwrap();
    assert!(matches!(r, Rewritten::Reduced { items: 1, .. }), "{r:?}");
    let rm = metrics(
        vec![],
        vec![
            gauge("keep.me", vec![point(vec![], 1.0)]),
            gauge("other", vec![point(vec![], 1.0)]),
        ],
    );
    let yaml = "metrics:\n  exclude:\n    match_type: regexp\n    metric_names: ['^other']\n";
    let r = run(yaml, Signal::Metrics, &rm.encode_to_vec()).unwrap();
    assert!(matches!(r, Rewritten::Reduced { items: 1, .. }), "{r:?}");
}

/// Scenario: configs otelcol refuses, and what this build does not have. Guarantee: each
/// is a config error naming its place.
#[test]
fn bad_configs_are_refused() {
    let err = |yaml: &str| parse_filter(yaml).unwrap_err().to_string();
    let e = err("traces:\n  span: ['Nope(name)']\n");
    assert!(
        e.contains("traces::span[0]") && e.contains("unknown function \"Nope\""),
        "{e}"
    );
    let e = err("traces:\n  span: ['set(name, \"x\")']\n");
    assert!(e.contains("is an editor"), "{e}");
    let e = err("logs:\n  log_record: ['name == \"x\"']\n");
    assert!(e.contains("bad path \"name\""), "{e}");
    let e = err("spans:\n  exclude: {match_type: strict, span_names: [a]}\ntraces:\n  span: ['name == \"b\"']\n");
    assert!(
        e.contains("cannot use OTTL conditions and include/exclude"),
        "{e}"
    );
    let e = err("metrics:\n  include: {match_type: expr, expressions: ['x']}\n");
    assert!(e.contains("expressions are not supported"), "{e}");
    let e = err("trace_conditions: ['span.name == \"x\"']\n");
    assert!(e.contains("not supported yet"), "{e}");
    let e = err("error_mode: loud\n");
    assert!(e.contains("unknown error_mode"), "{e}");
}

mod wire_path {
    use super::*;
    use crate::processor::filter::Compiled;
    use opentelemetry_proto::tonic::common::v1::KeyValue;
    use opentelemetry_proto::tonic::trace::v1::Span;
    use proptest::prelude::*;

    fn attrs() -> impl Strategy<Value = Vec<KeyValue>> {
        let key = prop_oneof![Just("k1"), Just("k2"), Just("other")];
        let val = prop_oneof![Just("a"), Just("b")];
        proptest::collection::vec((key, val), 0..4)
            .prop_map(|kvs| kvs.into_iter().map(|(k, v)| s(k, v)).collect())
    }

    fn spans() -> impl Strategy<Value = Vec<Span>> {
        let name = prop_oneof![Just("n1"), Just("n2")];
        proptest::collection::vec((name, attrs(), 0..4i32), 0..4).prop_map(|v| {
            v.into_iter()
                .map(|(n, a, kind)| Span { kind, ..span(n, a) })
                .collect()
        })
    }

    /// Decoded spans per scope of what a rewrite left (`None`: all dropped).
    fn outcome(r: Rewritten, chunk: &[u8]) -> Option<(ResourceSpans, Option<u32>)> {
        left(r, chunk).map(|(b, n)| (ResourceSpans::decode(b.as_slice()).unwrap(), n))
    }

    const CONDITIONS: &str = "traces:\n  span:\n    - 'attributes[\"k1\"] == \"a\" and kind != SPAN_KIND_SERVER'\n    - 'name == \"n2\" and attributes[\"k2\"] == nil'\n  resource: ['attributes[\"drop\"] == \"yes\"']\n";

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]
        /// The wire fast path leaves exactly what the prost path leaves, with the same count.
        #[test]
        fn wire_path_equals_prost_path(res in attrs(), a in spans(), b in spans(), drop_res in proptest::bool::ANY) {
            let mut res = res;
            if drop_res {
                res.push(s("drop", "yes"));
            }
            let rs = traces(res, vec![a, b]);
            let chunk = rs.encode_to_vec();
            let p = FilterProcessor::new(&parse_filter(CONDITIONS).unwrap());
            prop_assert!(p.traces.plan.is_some(), "the fast path applies");
            let fast = p.rewrite(Signal::Traces, &chunk).unwrap();
            let slow_compiled = Compiled { plan: None, ..Compiled::new(&p.traces.filter, Signal::Metrics) };
            let slow = p.traces(&slow_compiled, ResourceSpans::decode(chunk.as_slice()).unwrap()).unwrap();
            prop_assert_eq!(outcome(fast, &chunk), outcome(slow, &chunk));
        }
    }
}
