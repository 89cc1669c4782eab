//! Golden tests: the statements of otelcol-contrib's transform processor documentation, each
//! on items built here, with the outcome the documentation describes.
#![allow(clippy::unwrap_used)]

use opentelemetry_proto::tonic::common::v1::any_value::Value as V;
use opentelemetry_proto::tonic::logs::v1::ResourceLogs;
use opentelemetry_proto::tonic::metrics::v1::{metric::Data, ResourceMetrics};
use opentelemetry_proto::tonic::trace::v1::ResourceSpans;
use prost::Message;

use super::config::parse_transform;
use super::TransformProcessor;
use crate::ottl::testkit::*;
use crate::processor::chunk::TransformError;
use crate::signal::Signal;

fn run(yaml: &str, signal: Signal, chunk: Vec<u8>) -> Result<Vec<u8>, TransformError> {
    let p = TransformProcessor::new(&parse_transform(yaml).unwrap());
    Ok(p.rewrite(signal, &chunk)?.map_or(chunk, |b| b.to_vec()))
}

fn spans(yaml: &str, rs: ResourceSpans) -> ResourceSpans {
    ResourceSpans::decode(
        run(yaml, Signal::Traces, rs.encode_to_vec())
            .unwrap()
            .as_slice(),
    )
    .unwrap()
}

fn logs_of(yaml: &str, rl: ResourceLogs) -> ResourceLogs {
    ResourceLogs::decode(
        run(yaml, Signal::Logs, rl.encode_to_vec())
            .unwrap()
            .as_slice(),
    )
    .unwrap()
}

fn metrics_of(yaml: &str, rm: ResourceMetrics) -> ResourceMetrics {
    ResourceMetrics::decode(
        run(yaml, Signal::Metrics, rm.encode_to_vec())
            .unwrap()
            .as_slice(),
    )
    .unwrap()
}

const TRACES: &str = r#"
error_mode: ignore
trace_statements:
  - context: resource
    statements:
      - keep_keys(attributes, ["service.name", "service.namespace", "cloud.region", "process.command_line"])
      - replace_pattern(attributes["process.command_line"], "password\\=[^\\s]*(\\s?)", "password=***")
      - limit(attributes, 100, [])
      - truncate_all(attributes, 4096)
  - context: span
    statements:
      - set(status.code, 1) where attributes["http.path"] == "/health"
      - set(name, attributes["http.route"])
      - replace_match(attributes["http.target"], "/user/*/list/*", "/user/{userId}/list/{listId}")
      - limit(attributes, 100, [])
      - truncate_all(attributes, 4096)
"#;

/// Scenario: the documentation's traces example. Guarantee: resource keys kept and the
/// password masked; health spans get status OK; names come from http.route; targets are
/// templated.
#[test]
fn documented_trace_statements() {
    let rs = traces(
        vec![
            s("service.name", "svc"),
            s("host.name", "h"),
            s("process.command_line", "run --password=hunter2 --x"),
        ],
        vec![vec![
            span(
                "GET",
                vec![s("http.path", "/health"), s("http.route", "/health")],
            ),
            span(
                "GET",
                vec![
                    s("http.route", "/users/{id}"),
                    s("http.target", "/user/7/list/9"),
                ],
            ),
        ]],
    );
    let out = spans(TRACES, rs);
    let res = out.resource.unwrap().attributes;
    assert_eq!(keys(&res), ["service.name", "process.command_line"]);
    assert_eq!(
        get_str(&res, "process.command_line"),
        Some("run --password=***--x")
    );
    let spans = &out.scope_spans[0].spans;
    assert_eq!(spans[0].status.as_ref().unwrap().code, 1);
    assert_eq!(spans[0].name, "/health");
    assert!(spans[1].status.is_none());
    assert_eq!(spans[1].name, "/users/{id}");
    assert_eq!(
        get_str(&spans[1].attributes, "http.target"),
        Some("/user/{userId}/list/{listId}")
    );
}

/// Scenario: the same intent in the flat style with context-qualified paths. Guarantee: one
/// inferred span group does what the grouped form does.
#[test]
fn flat_statements_infer_their_context() {
    let yaml = r#"
trace_statements:
  - keep_keys(resource.attributes, ["service.name"])
  - set(span.status.code, STATUS_CODE_OK) where span.attributes["http.path"] == "/health"
  - set(span.attributes["service"], resource.attributes["service.name"])
  - set(span.attributes["test"], "pass") where IsMatch(span.name, "operation[AC]")
"#;
    let rs = traces(
        vec![s("service.name", "svc"), s("host.name", "h")],
        vec![vec![
            span("operationA", vec![s("http.path", "/health")]),
            span("operationB", vec![]),
        ]],
    );
    let out = spans(yaml, rs);
    assert_eq!(keys(&out.resource.unwrap().attributes), ["service.name"]);
    let spans = &out.scope_spans[0].spans;
    assert_eq!(spans[0].status.as_ref().unwrap().code, 1);
    assert_eq!(get_str(&spans[0].attributes, "service"), Some("svc"));
    assert_eq!(get_str(&spans[0].attributes, "test"), Some("pass"));
    assert_eq!(get_str(&spans[1].attributes, "test"), None);
}

/// Scenario: span event and scope statements, ids, kinds and times. Guarantee: each path
/// reads and writes the field it names.
#[test]
fn span_paths_read_and_write_their_fields() {
    let yaml = r#"
trace_statements:
  - context: scope
    statements:
      - set(attributes["lib"], name) where version == "1.0"
  - context: span
    statements:
      - set(attributes["trace"], trace_id.string)
      - set(attributes["kind"], "server") where kind == SPAN_KIND_SERVER
      - set(attributes["ms"], (end_time_unix_nano - start_time_unix_nano) / 1000)
      - set(attributes["root"], IsRootSpan())
      - set(attributes["scope"], instrumentation_scope.name)
      - set(span_id, SpanID(0x0102030405060708))
  - context: spanevent
    statements:
      - set(attributes["span"], span.name)
      - set(name, Concat([name, "seen"], "-")) where IsMatch(name, "^ex")
"#;
    let mut sp = span("op", vec![]);
    sp.kind = 2;
    sp.events = vec![event("exception", vec![]), event("log", vec![])];
    let out = spans(yaml, traces(vec![], vec![vec![sp]]));
    let ss = &out.scope_spans[0];
    assert_eq!(
        get_str(&ss.scope.as_ref().unwrap().attributes, "lib"),
        Some("lib0")
    );
    let sp = &ss.spans[0];
    assert_eq!(
        get_str(&sp.attributes, "trace"),
        Some("01010101010101010101010101010101")
    );
    assert_eq!(get_str(&sp.attributes, "kind"), Some("server"));
    assert_eq!(get(&sp.attributes, "ms"), Some(&V::IntValue(4)));
    assert_eq!(get(&sp.attributes, "root"), Some(&V::BoolValue(true)));
    assert_eq!(get_str(&sp.attributes, "scope"), Some("lib0"));
    assert_eq!(sp.span_id, vec![1, 2, 3, 4, 5, 6, 7, 8]);
    assert_eq!(sp.events[0].name, "exception-seen");
    assert_eq!(sp.events[1].name, "log");
    assert_eq!(get_str(&sp.events[1].attributes, "span"), Some("op"));
}

const LOGS: &str = r#"
log_statements:
  - context: resource
    statements:
      - keep_keys(attributes, ["service.name", "service.namespace", "cloud.region"])
  - context: log
    statements:
      - set(severity_text, "FAIL") where body == "request failed"
      - replace_all_matches(attributes, "/user/*/list/*", "/user/{userId}/list/{listId}")
      - replace_all_patterns(attributes, "value", "/account/\\d{4}", "/account/{accountId}")
      - set(body, attributes["http.route"])
"#;

/// Scenario: the documentation's logs example. Guarantee: severity text set on failures,
/// matching attribute values templated, body replaced by the route.
#[test]
fn documented_log_statements() {
    let rl = logs(
        vec![s("service.name", "svc"), s("pod", "p")],
        vec![
            log(
                "request failed",
                9,
                vec![
                    s("path", "/user/1/list/2"),
                    s("acct", "/account/1234"),
                    s("http.route", "/r"),
                ],
            ),
            log("ok", 9, vec![]),
        ],
    );
    let out = logs_of(LOGS, rl);
    assert_eq!(keys(&out.resource.unwrap().attributes), ["service.name"]);
    let records = &out.scope_logs[0].log_records;
    assert_eq!(records[0].severity_text, "FAIL");
    assert_eq!(
        get_str(&records[0].attributes, "path"),
        Some("/user/{userId}/list/{listId}")
    );
    assert_eq!(
        get_str(&records[0].attributes, "acct"),
        Some("/account/{accountId}")
    );
    assert_eq!(
        records[0].body.as_ref().unwrap().value,
        Some(V::StringValue("/r".into()))
    );
    assert_eq!(records[1].severity_text, "");
    // set() with a nil value leaves the target alone.
    assert_eq!(
        records[1].body.as_ref().unwrap().value,
        Some(V::StringValue("ok".into()))
    );
}

/// Scenario: JSON bodies parsed into the cache, then picked into attributes (documented
/// pattern). Guarantee: only records whose body is JSON get the attributes.
#[test]
fn json_bodies_through_the_cache() {
    let yaml = r#"
log_statements:
  - context: log
    statements:
      - merge_maps(cache, ParseJSON(body), "upsert") where IsMatch(body, "^\\{")
      - set(attributes["attr1"], cache["attr1"])
      - set(attributes["n"], Len(cache))
      - flatten(attributes, "flat") where attributes["nested"] != nil
"#;
    let mut nested = log("plain", 0, vec![]);
    nested
        .attributes
        .push(opentelemetry_proto::tonic::common::v1::KeyValue {
            key: "nested".into(),
            value: Some(
                crate::ottl::value::Value::Map(std::borrow::Cow::Owned(vec![s("a", "1")]))
                    .into_any()
                    .unwrap()
                    .unwrap(),
            ),
            ..Default::default()
        });
    let rl = logs(
        vec![],
        vec![log(r#"{"attr1": "v1", "attr2": 2}"#, 0, vec![]), nested],
    );
    let out = logs_of(yaml, rl);
    let records = &out.scope_logs[0].log_records;
    assert_eq!(get_str(&records[0].attributes, "attr1"), Some("v1"));
    assert_eq!(get(&records[0].attributes, "n"), Some(&V::IntValue(2)));
    assert_eq!(keys(&records[1].attributes), ["flat.nested.a", "flat.n"]);
}

/// Scenario: severity, converters and error modes on logs. Guarantee: a failing statement
/// is skipped with ignore, and fails the chunk with propagate (the default).
#[test]
fn error_modes() {
    let statements = r#"
  - context: log
    statements:
      - set(attributes["sub"], Substring(body, 0, 50))
      - set(attributes["warn"], true) where severity_number >= SEVERITY_NUMBER_WARN
"#;
    let rl = || logs(vec![], vec![log("short", 13, vec![])]);
    let out = logs_of(
        &format!("error_mode: ignore\nlog_statements:{statements}"),
        rl(),
    );
    let attrs = &out.scope_logs[0].log_records[0].attributes;
    assert_eq!(keys(attrs), ["warn"]);
    let err = run(
        &format!("log_statements:{statements}"),
        Signal::Logs,
        rl().encode_to_vec(),
    )
    .unwrap_err();
    assert!(err.to_string().contains("Substring(body, 0, 50)"), "{err}");
    let grouped = format!(
        "error_mode: propagate\nlog_statements:{}",
        statements.replace("context: log", "context: log\n    error_mode: silent")
    );
    assert!(run(&grouped, Signal::Logs, rl().encode_to_vec()).is_ok());
}

const METRICS: &str = r#"
metric_statements:
  - context: resource
    statements:
      - keep_keys(attributes, ["host.name"])
      - truncate_all(attributes, 4)
  - context: metric
    statements:
      - set(description, "Sum") where type == METRIC_DATA_TYPE_SUM
      - set(unit, "s") where name == "duration"
  - context: datapoint
    statements:
      - limit(attributes, 2, ["host.name"])
      - truncate_all(attributes, 4096)
      - set(value_double, value_double * 1000) where metric.name == "duration"
      - set(attributes["kind"], "hist") where metric.type == METRIC_DATA_TYPE_HISTOGRAM
"#;

/// Scenario: the documentation's metrics example (the statements this build has).
/// Guarantee: resource trimmed, sums described, points limited keeping priority keys.
#[test]
fn documented_metric_statements() {
    let rm = metrics(
        vec![s("host.name", "hostname-long"), s("pod", "p")],
        vec![
            sum(
                "requests",
                vec![point(
                    vec![s("a", "1"), s("b", "2"), s("host.name", "h"), s("c", "3")],
                    1.0,
                )],
            ),
            gauge("duration", vec![point(vec![], 1.5)]),
            histogram("latency", vec![vec![]]),
        ],
    );
    let out = metrics_of(METRICS, rm);
    let res = out.resource.unwrap().attributes;
    assert_eq!(keys(&res), ["host.name"]);
    assert_eq!(get_str(&res, "host.name"), Some("host"));
    let m = &out.scope_metrics[0].metrics;
    assert_eq!(m[0].description, "Sum");
    assert_eq!(m[1].unit, "s");
    let Some(Data::Sum(sum)) = &m[0].data else {
        panic!()
    };
    assert_eq!(keys(&sum.data_points[0].attributes), ["a", "host.name"]);
    let Some(Data::Gauge(g)) = &m[1].data else {
        panic!()
    };
    assert_eq!(
        g.data_points[0].value,
        Some(opentelemetry_proto::tonic::metrics::v1::number_data_point::Value::AsDouble(1500.0))
    );
    let Some(Data::Histogram(h)) = &m[2].data else {
        panic!()
    };
    assert_eq!(get_str(&h.data_points[0].attributes, "kind"), Some("hist"));
}

/// Scenario: documented statements this build does not have, a bad path, a wrong argument.
/// Guarantee: each is a config error naming the statement and its place.
#[test]
fn unsupported_statements_are_refused_at_load() {
    let err = |yaml: &str| parse_transform(yaml).unwrap_err().to_string();
    let e = err("metric_statements:\n  - context: metric\n    statements:\n      - convert_sum_to_gauge() where name == \"x\"\n");
    assert!(
        e.contains("metric_statements[0]::statements[0]")
            && e.contains("unknown function \"convert_sum_to_gauge\""),
        "{e}"
    );
    let e = err("trace_statements:\n  - set(span.nope, 1)\n");
    assert!(
        e.contains("trace_statements[0]") && e.contains("bad path \"span.nope\""),
        "{e}"
    );
    let e = err(
        "log_statements:\n  - context: log\n    statements: ['truncate_all(attributes, \"x\")']\n",
    );
    assert!(e.contains("must be an integer literal"), "{e}");
    let e = err("trace_statements:\n  - context: log\n    statements: ['set(name, \"x\")']\n");
    assert!(e.contains("unknown context \"log\" for traces"), "{e}");
    let e = err(
        "trace_statements:\n  - set(span.name, \"x\")\n  - context: span\n    statements: []\n",
    );
    assert!(e.contains("multiple configuration styles"), "{e}");
}

/// Scenario: ConvertCase, SHA256, Split, Int, String, Duration on span attributes.
/// Guarantee: each returns what otelcol's converter returns.
#[test]
fn converters() {
    let yaml = r#"
trace_statements:
  - context: span
    statements:
      - set(attributes["lower"], ConvertCase(name, "lower"))
      - set(attributes["hash"], SHA256(attributes["user"]))
      - delete_key(attributes, "user")
      - set(attributes["parts"], Split(attributes["csv"], ","))
      - set(attributes["first"], Split(attributes["csv"], ",")[0])
      - set(attributes["int"], Int(attributes["num"]))
      - set(attributes["str"], String(attributes["int"]))
      - set(attributes["slow"], true) where end_time - start_time > Duration("3us")
      - set(attributes["is"], IsString(attributes["csv"]) and not IsInt(attributes["csv"]))
      - delete_matching_keys(attributes, "^(csv|num)$")
"#;
    let rs = traces(
        vec![],
        vec![vec![span(
            "GetUser",
            vec![s("user", "alice"), s("csv", "a,b"), s("num", "42")],
        )]],
    );
    let out = spans(yaml, rs);
    let a = &out.scope_spans[0].spans[0].attributes;
    assert_eq!(get_str(a, "lower"), Some("getuser"));
    assert_eq!(
        get_str(a, "hash"),
        Some("2bd806c97f0e00af1a1fc3328fa763a9269723c8db8fac4f93af71db186d6e90")
    );
    assert_eq!(get_str(a, "first"), Some("a"));
    assert!(matches!(get(a, "parts"), Some(V::ArrayValue(arr)) if arr.values.len() == 2));
    assert_eq!(get(a, "int"), Some(&V::IntValue(42)));
    assert_eq!(get_str(a, "str"), Some("42"));
    assert_eq!(get(a, "slow"), Some(&V::BoolValue(true)));
    assert_eq!(get(a, "is"), Some(&V::BoolValue(true)));
    assert_eq!(
        keys(a),
        ["lower", "hash", "parts", "first", "int", "str", "slow", "is"]
    );
}
