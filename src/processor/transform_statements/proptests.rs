//! Property test: `set`, `delete_key` and `keep_keys` on random attribute maps, run by the
//! processor on encoded chunks, give the bytes a full prost decode, hand edit and encode give.
#![allow(clippy::unwrap_used)]

use opentelemetry_proto::tonic::common::v1::{any_value::Value as V, AnyValue, KeyValue};
use opentelemetry_proto::tonic::logs::v1::ResourceLogs;
use opentelemetry_proto::tonic::metrics::v1::{metric::Data, ResourceMetrics};
use opentelemetry_proto::tonic::trace::v1::ResourceSpans;
use proptest::prelude::*;
use prost::Message;

use super::config::parse_transform;
use super::TransformProcessor;
use crate::otlp::testgen::any_value;
use crate::ottl::testkit::{gauge, log, logs, metrics, point, span, traces};
use crate::signal::Signal;

const STATEMENTS: &str = r#"
      - set(attributes["k1"], "x")
      - set(attributes["k4"], attributes["k3"])
      - delete_key(attributes, "k2")
      - keep_keys(attributes, ["k1", "k3", "k4", "k5"])
"#;

fn yaml(signal: &str, item: &str) -> String {
    format!("{signal}:\n  - context: resource\n    statements:{STATEMENTS}  - context: {item}\n    statements:{STATEMENTS}")
}

/// The statements, by hand on the decoded attributes.
fn edit(attrs: &mut Vec<KeyValue>) {
    fn upsert(attrs: &mut Vec<KeyValue>, key: &str, value: AnyValue) {
        match attrs.iter_mut().find(|kv| kv.key == key) {
            Some(kv) => kv.value = Some(value),
            None => attrs.push(KeyValue {
                key: key.into(),
                value: Some(value),
                ..Default::default()
            }),
        }
    }
    upsert(
        attrs,
        "k1",
        AnyValue {
            value: Some(V::StringValue("x".into())),
        },
    );
    let k3 = attrs
        .iter()
        .find(|kv| kv.key == "k3")
        .and_then(|kv| kv.value.clone());
    // A value OTTL reads as nil (absent, empty, or a profile-only string index) is not set.
    if let Some(v) = k3.filter(|v| !matches!(v.value, None | Some(V::StringValueStrindex(_)))) {
        upsert(attrs, "k4", v);
    }
    attrs.retain(|kv| kv.key != "k2");
    attrs.retain(|kv| ["k1", "k3", "k4", "k5"].contains(&kv.key.as_str()));
}

fn attrs() -> impl Strategy<Value = Vec<KeyValue>> {
    let key = prop_oneof![
        Just("k1"),
        Just("k2"),
        Just("k3"),
        Just("k4"),
        Just("k5"),
        Just("other")
    ];
    proptest::collection::vec((key, any_value()), 0..6).prop_map(|kvs| {
        kvs.into_iter()
            .map(|(k, v)| KeyValue {
                key: k.into(),
                value: Some(v),
                ..Default::default()
            })
            .collect()
    })
}

fn run(yaml: &str, signal: Signal, chunk: &[u8]) -> Vec<u8> {
    let p = TransformProcessor::new(&parse_transform(yaml).unwrap());
    p.rewrite(signal, chunk).unwrap().unwrap().to_vec()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    /// Spans: resource and span attributes.
    #[test]
    fn span_statements_equal_prost_edits(res in attrs(), a in attrs(), b in attrs()) {
        let rs = traces(res, vec![vec![span("a", a), span("b", b)]]);
        let mut want = rs.clone();
        edit(&mut want.resource.as_mut().unwrap().attributes);
        want.scope_spans[0].spans.iter_mut().for_each(|s| edit(&mut s.attributes));
        let got = run(&yaml("trace_statements", "span"), Signal::Traces, &rs.encode_to_vec());
        prop_assert_eq!(&got, &want.encode_to_vec());
        prop_assert_eq!(ResourceSpans::decode(got.as_slice()).unwrap(), want);
    }

    /// Log records: resource and record attributes.
    #[test]
    fn log_statements_equal_prost_edits(res in attrs(), a in attrs()) {
        let rl = logs(res, vec![log("body", 9, a)]);
        let mut want = rl.clone();
        edit(&mut want.resource.as_mut().unwrap().attributes);
        edit(&mut want.scope_logs[0].log_records[0].attributes);
        let got = run(&yaml("log_statements", "log"), Signal::Logs, &rl.encode_to_vec());
        prop_assert_eq!(&got, &want.encode_to_vec());
        prop_assert_eq!(ResourceLogs::decode(got.as_slice()).unwrap(), want);
    }

    /// Data points: resource and point attributes.
    #[test]
    fn datapoint_statements_equal_prost_edits(res in attrs(), a in attrs(), b in attrs()) {
        let rm = metrics(res, vec![gauge("g", vec![point(a, 1.0), point(b, 2.0)])]);
        let mut want = rm.clone();
        edit(&mut want.resource.as_mut().unwrap().attributes);
        if let Some(Data::Gauge(g)) = &mut want.scope_metrics[0].metrics[0].data {
            g.data_points.iter_mut().for_each(|p| edit(&mut p.attributes));
        }
        let got = run(&yaml("metric_statements", "datapoint"), Signal::Metrics, &rm.encode_to_vec());
        prop_assert_eq!(&got, &want.encode_to_vec());
        prop_assert_eq!(ResourceMetrics::decode(got.as_slice()).unwrap(), want);
    }
}
