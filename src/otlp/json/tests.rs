#![allow(clippy::unwrap_used, clippy::expect_used)]

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyV;
use opentelemetry_proto::tonic::metrics::v1::{metric::Data, number_data_point};
use proptest::prelude::*;
use prost::Message;

use super::*;
use crate::otlp::testgen::{self, Req};

/// The trace example of the OTLP spec's JSON section (opentelemetry-proto examples/trace.json),
/// with an uppercase trace id and one proto-name key.
const TRACE: &str = r#"{
  "resourceSpans": [{
    "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "my.service"}}]},
    "scopeSpans": [{
      "scope": {"name": "my.library", "version": "1.0.0",
                "attributes": [{"key": "my.scope.attribute", "value": {"stringValue": "x"}}]},
      "spans": [{
        "traceId": "5B8EFFF798038103D269B633813FC60C",
        "span_id": "eee19b7ec3c1b174",
        "parentSpanId": "eee19b7ec3c1b173",
        "name": "I'm a server span",
        "startTimeUnixNano": "1544712660000000000",
        "endTimeUnixNano": 1544712661000000000,
        "kind": 2,
        "unknownField": {"ignored": [1, 2]},
        "attributes": [
          {"key": "my.span.attr", "value": {"stringValue": "some value"}},
          {"key": "int", "value": {"intValue": "-42"}},
          {"key": "int2", "value": {"intValue": 7}},
          {"key": "bytes", "value": {"bytesValue": "AQID"}},
          {"key": "dbl", "value": {"doubleValue": 1.5}}
        ],
        "status": {"code": "STATUS_CODE_ERROR", "message": "boom"}
      }]
    }]
  }]
}"#;

#[test]
fn spec_trace_example_decodes_with_every_json_rule() {
    let pb = json_to_protobuf(Signal::Traces, TRACE.as_bytes()).unwrap();
    let req = ExportTraceServiceRequest::decode(pb.as_slice()).unwrap();
    let span = &req.resource_spans[0].scope_spans[0].spans[0];
    assert_eq!(
        span.trace_id,
        [
            0x5b, 0x8e, 0xff, 0xf7, 0x98, 0x03, 0x81, 0x03, 0xd2, 0x69, 0xb6, 0x33, 0x81, 0x3f,
            0xc6, 0x0c
        ]
    );
    assert_eq!(
        span.span_id,
        [0xee, 0xe1, 0x9b, 0x7e, 0xc3, 0xc1, 0xb1, 0x74]
    );
    assert_eq!(span.start_time_unix_nano, 1_544_712_660_000_000_000);
    assert_eq!(span.end_time_unix_nano, 1_544_712_661_000_000_000);
    assert_eq!(span.kind, 2);
    assert_eq!(span.status.as_ref().unwrap().code, 2);
    let vals: Vec<_> = span
        .attributes
        .iter()
        .map(|kv| kv.value.clone().unwrap().value.unwrap())
        .collect();
    assert_eq!(vals[1], AnyV::IntValue(-42));
    assert_eq!(vals[2], AnyV::IntValue(7));
    assert_eq!(vals[3], AnyV::BytesValue(vec![1, 2, 3]));
    assert_eq!(vals[4], AnyV::DoubleValue(1.5));
}

#[test]
fn output_is_canonical_lowercase_hex_camel_case_and_string_int64() {
    let pb = json_to_protobuf(Signal::Traces, TRACE.as_bytes()).unwrap();
    let json = String::from_utf8(protobuf_to_json(Signal::Traces, &pb).unwrap()).unwrap();
    assert!(
        json.contains(r#""traceId":"5b8efff798038103d269b633813fc60c""#),
        "{json}"
    );
    assert!(json.contains(r#""spanId":"eee19b7ec3c1b174""#), "{json}");
    assert!(
        json.contains(r#""startTimeUnixNano":"1544712660000000000""#),
        "{json}"
    );
    assert!(json.contains(r#""intValue":"-42""#), "{json}");
    assert!(json.contains(r#""bytesValue":"AQID""#), "{json}");
    assert!(!json.contains("span_id"), "{json}");
}

#[test]
fn enum_names_and_proto_names_are_accepted() {
    let metrics = r#"{"resource_metrics":[{"scope_metrics":[{"metrics":[{"name":"m",
        "sum":{"aggregation_temporality":"AGGREGATION_TEMPORALITY_CUMULATIVE","is_monotonic":true,
        "data_points":[{"as_int":"5","time_unix_nano":"1"}]}}]}]}]}"#;
    let pb = json_to_protobuf(Signal::Metrics, metrics.as_bytes()).unwrap();
    let req = ExportMetricsServiceRequest::decode(pb.as_slice()).unwrap();
    let m = &req.resource_metrics[0].scope_metrics[0].metrics[0];
    let Some(Data::Sum(sum)) = &m.data else {
        panic!("{m:?}")
    };
    assert_eq!(sum.aggregation_temporality, 2);
    assert!(sum.is_monotonic);
    assert_eq!(
        sum.data_points[0].value,
        Some(number_data_point::Value::AsInt(5))
    );

    let logs = r#"{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"severityNumber":"SEVERITY_NUMBER_WARN",
        "severityText":"WARN","body":{"stringValue":"hi"},"traceId":"","observedTimeUnixNano":"9"}]}]}]}"#;
    let pb = json_to_protobuf(Signal::Logs, logs.as_bytes()).unwrap();
    let req = ExportLogsServiceRequest::decode(pb.as_slice()).unwrap();
    let rec = &req.resource_logs[0].scope_logs[0].log_records[0];
    assert_eq!(rec.severity_number, 13);
    assert_eq!(rec.observed_time_unix_nano, 9);
}

#[test]
fn empty_object_is_an_empty_request() {
    for signal in Signal::ALL {
        assert_eq!(json_to_protobuf(signal, b"{}").unwrap(), Vec::<u8>::new());
        let json = protobuf_to_json(signal, b"").unwrap();
        assert_eq!(json_to_protobuf(signal, &json).unwrap(), Vec::<u8>::new());
    }
}

#[test]
fn errors_say_what_and_where() {
    let err = json_to_protobuf(Signal::Traces, b"{\"resourceSpans\": [").unwrap_err();
    assert!(matches!(err, JsonError::Syntax { line: 1, .. }), "{err}");
    let bad_hex = r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"zz"}]}]}]}"#;
    let err = json_to_protobuf(Signal::Traces, bad_hex.as_bytes()).unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("resourceSpans[0].scopeSpans[0].spans[0].traceId"),
        "{msg}"
    );
    let err = json_to_protobuf(Signal::Logs, b"[1,2]").unwrap_err();
    assert!(matches!(err, JsonError::Schema { .. }), "{err}");
    let err = protobuf_to_json(Signal::Logs, b"\xff\xff").unwrap_err();
    assert!(matches!(err, JsonError::Protobuf { .. }), "{err}");
}

#[test]
fn hostile_nesting_is_an_error_not_a_crash() {
    let deep = "[".repeat(100_000);
    assert!(json_to_protobuf(Signal::Traces, deep.as_bytes()).is_err());
    let deep_values = format!(
        r#"{{"resourceLogs":[{{"scopeLogs":[{{"logRecords":[{{"body":{}"#,
        r#"{"arrayValue":{"values":["#.repeat(5_000)
    );
    assert!(json_to_protobuf(Signal::Logs, deep_values.as_bytes()).is_err());
}

/// Requests the JSON mapping can carry: finite doubles (NaN != NaN under PartialEq), and no
/// `AnyValue.string_value_strindex` (a profiles-only field opentelemetry-proto's JSON drops).
fn representable(req: &Req) -> bool {
    let text = format!("{req:?}");
    !text.contains("NaN") && !text.contains("StringValueStrindex")
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// protobuf → JSON → protobuf gives back the same request, for every signal and message.
    #[test]
    fn json_round_trip(req in testgen::request()) {
        prop_assume!(representable(&req));
        let signal = req.signal();
        let json = protobuf_to_json(signal, &req.encode()).unwrap();
        let back = json_to_protobuf(signal, &json).unwrap();
        prop_assert_eq!(Req::decode(signal, &back).unwrap(), req);
    }
}

#[test]
fn special_doubles_in_metrics_round_trip_as_strings() {
    let json = r#"{"resourceMetrics":[{"scopeMetrics":[{"metrics":[
      {"name":"g","gauge":{"dataPoints":[{"asDouble":"NaN"},{"asDouble":"Infinity"},{"asDouble":2.5}]}},
      {"name":"h","histogram":{"dataPoints":[{"sum":"-Infinity","min":"NaN","max":1,
        "explicitBounds":[1,"Infinity"],"count":"1","bucketCounts":["0","1","0"]}]}}]}]}]}"#;
    let pb = json_to_protobuf(Signal::Metrics, json.as_bytes()).unwrap();
    let req = ExportMetricsServiceRequest::decode(pb.as_slice()).unwrap();
    let metrics = &req.resource_metrics[0].scope_metrics[0].metrics;
    let Some(Data::Gauge(g)) = &metrics[0].data else {
        panic!()
    };
    let v = |i: usize| match g.data_points[i].value {
        Some(number_data_point::Value::AsDouble(d)) => d,
        _ => panic!(),
    };
    assert!(v(0).is_nan());
    assert_eq!(v(1), f64::INFINITY);
    assert_eq!(v(2), 2.5);
    let Some(Data::Histogram(h)) = &metrics[1].data else {
        panic!()
    };
    assert_eq!(h.data_points[0].sum, Some(f64::NEG_INFINITY));
    assert!(h.data_points[0].min.unwrap().is_nan());
    assert_eq!(h.data_points[0].explicit_bounds, [1.0, f64::INFINITY]);

    let out = String::from_utf8(protobuf_to_json(Signal::Metrics, &pb).unwrap()).unwrap();
    assert!(out.contains(r#""asDouble":"NaN""#), "{out}");
    assert!(out.contains(r#""asDouble":"Infinity""#), "{out}");
    assert!(out.contains(r#""sum":"-Infinity""#), "{out}");
    assert!(
        out.contains(r#""explicitBounds":[1.0,"Infinity"]"#),
        "{out}"
    );
    assert_eq!(
        json_to_protobuf(Signal::Metrics, out.as_bytes()).unwrap(),
        pb
    );
}
