//! A proto3 JSON encoder omits every field holding its default value, at any depth, and
//! may write `null` for one: each such request must decode exactly as the one that spells
//! the defaults out (protobuf's JSON mapping), for all three signals.

use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, ArrayValue, KeyValueList};
use prost::Message;

use super::json_to_protobuf;
use crate::signal::Signal;

/// `(signal, as an omitting encoder writes it, with every default spelled out)`.
const PAIRS: &[(Signal, &str, &str)] = &[
    // Top level and each container level, empty or absent.
    (Signal::Traces, r#"{}"#, r#"{"resourceSpans":[]}"#),
    (
        Signal::Traces,
        r#"{"resourceSpans":null}"#,
        r#"{"resourceSpans":[]}"#,
    ),
    (
        Signal::Traces,
        r#"{"resourceSpans":[{}]}"#,
        r#"{"resourceSpans":[{"scopeSpans":[],"schemaUrl":""}]}"#,
    ),
    (
        Signal::Traces,
        r#"{"resourceSpans":[{"resource":{},"scopeSpans":[{}]}]}"#,
        r#"{"resourceSpans":[{"resource":{"attributes":[],"droppedAttributesCount":0},"scopeSpans":[{"spans":[],"schemaUrl":""}]}]}"#,
    ),
    (
        Signal::Traces,
        r#"{"resourceSpans":[{"scopeSpans":[{"scope":null,"spans":null}]}]}"#,
        r#"{"resourceSpans":[{"scopeSpans":[{"spans":[]}]}]}"#,
    ),
    // A span with nothing set, or with nulls and empty ids.
    (
        Signal::Traces,
        r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{}]}]}]}"#,
        r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"traceId":"","spanId":"","name":"","kind":0,"startTimeUnixNano":"0","endTimeUnixNano":"0","attributes":[],"events":[],"links":[],"droppedAttributesCount":0,"flags":0}]}]}]}"#,
    ),
    (
        Signal::Traces,
        r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"name":null,"attributes":null,"status":null,"kind":null,"startTimeUnixNano":null,"traceId":null}]}]}]}"#,
        r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{}]}]}]}"#,
    ),
    (
        Signal::Traces,
        r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"status":{},"events":[{}],"links":[{}]}]}]}]}"#,
        r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"status":{"code":0,"message":""},"events":[{"name":"","timeUnixNano":"0","attributes":[]}],"links":[{"traceId":"","spanId":"","attributes":[]}]}]}]}]}"#,
    ),
    // KeyValue without a value; AnyValue empty; empty lists as `{}` at every depth.
    (
        Signal::Traces,
        r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"attributes":[{"key":"a"}]}]}]}]}"#,
        r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"attributes":[{"key":"a","value":null}]}]}]}]}"#,
    ),
    (
        Signal::Traces,
        r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"attributes":[{"key":"a","value":{"arrayValue":{}}}]}]}]}]}"#,
        r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"attributes":[{"key":"a","value":{"arrayValue":{"values":[]}}}]}]}]}]}"#,
    ),
    (
        Signal::Traces,
        r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"attributes":[{"key":"a","value":{"kvlistValue":{}}}]}]}]}]}"#,
        r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"attributes":[{"key":"a","value":{"kvlistValue":{"values":[]}}}]}]}]}]}"#,
    ),
    (
        Signal::Traces,
        r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"attributes":[{"key":"a","value":{"arrayValue":{"values":null}}}]}]}]}]}"#,
        r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"attributes":[{"key":"a","value":{"arrayValue":{"values":[]}}}]}]}]}]}"#,
    ),
    (
        Signal::Traces,
        r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"attributes":[{"key":"a","value":{"arrayValue":{"values":[{},{"kvlistValue":{}}]}}}]}]}]}]}"#,
        r#"{"resourceSpans":[{"scopeSpans":[{"spans":[{"attributes":[{"key":"a","value":{"arrayValue":{"values":[{},{"kvlistValue":{"values":[]}}]}}}]}]}]}]}"#,
    ),
    (
        Signal::Traces,
        r#"{"resourceSpans":[{"resource":{"attributes":[{"key":"k","value":{"kvlistValue":{"values":[{"key":"b"},{"key":"c","value":{"arrayValue":{}}}]}}}]}}]}"#,
        r#"{"resourceSpans":[{"resource":{"attributes":[{"key":"k","value":{"kvlistValue":{"values":[{"key":"b","value":null},{"key":"c","value":{"arrayValue":{"values":[]}}}]}}}]}}]}"#,
    ),
    (
        Signal::Traces,
        r#"{"resourceSpans":[{"scopeSpans":[{"scope":{"attributes":[{"key":"s","value":{"bytesValue":""}}]}}]}]}"#,
        r#"{"resourceSpans":[{"scopeSpans":[{"scope":{"name":"","version":"","attributes":[{"key":"s","value":{"bytesValue":""}}]}}]}]}"#,
    ),
    // Metrics: each data type empty, points with nothing set, nested empty messages.
    (
        Signal::Metrics,
        r#"{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{}]}]}]}"#,
        r#"{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"name":"","description":"","unit":""}]}]}]}"#,
    ),
    (
        Signal::Metrics,
        r#"{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"name":"m","gauge":{}}]}]}]}"#,
        r#"{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"name":"m","gauge":{"dataPoints":[]}}]}]}]}"#,
    ),
    (
        Signal::Metrics,
        r#"{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"name":"m","sum":{}}]}]}]}"#,
        r#"{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"name":"m","sum":{"dataPoints":[],"aggregationTemporality":0,"isMonotonic":false}}]}]}]}"#,
    ),
    (
        Signal::Metrics,
        r#"{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"name":"m","sum":{"dataPoints":null,"isMonotonic":null,"aggregationTemporality":null}}]}]}]}"#,
        r#"{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"name":"m","sum":{}}]}]}]}"#,
    ),
    (
        Signal::Metrics,
        r#"{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"name":"m","histogram":{"dataPoints":[{}]}}]}]}]}"#,
        r#"{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"name":"m","histogram":{"dataPoints":[{"count":"0","bucketCounts":[],"explicitBounds":[],"attributes":[],"exemplars":[]}]}}]}]}]}"#,
    ),
    (
        Signal::Metrics,
        r#"{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"name":"m","histogram":{"dataPoints":[{"bucketCounts":null,"explicitBounds":null,"sum":null}]}}]}]}]}"#,
        r#"{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"name":"m","histogram":{"dataPoints":[{}]}}]}]}]}"#,
    ),
    (
        Signal::Metrics,
        r#"{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"name":"m","exponentialHistogram":{"dataPoints":[{}]}}]}]}]}"#,
        r#"{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"name":"m","exponentialHistogram":{"dataPoints":[{"scale":0,"zeroCount":"0","count":"0"}]}}]}]}]}"#,
    ),
    (
        Signal::Metrics,
        r#"{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"name":"m","exponentialHistogram":{"dataPoints":[{"positive":{},"negative":{}}]}}]}]}]}"#,
        r#"{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"name":"m","exponentialHistogram":{"dataPoints":[{"positive":{"offset":0,"bucketCounts":[]},"negative":{"offset":0,"bucketCounts":[]}}]}}]}]}]}"#,
    ),
    (
        Signal::Metrics,
        r#"{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"name":"m","summary":{"dataPoints":[{"quantileValues":[{}]}]}}]}]}]}"#,
        r#"{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"name":"m","summary":{"dataPoints":[{"quantileValues":[{"quantile":0,"value":0}]}]}}]}]}]}"#,
    ),
    (
        Signal::Metrics,
        r#"{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"name":"m","gauge":{"dataPoints":[{"exemplars":[{}],"attributes":[{"key":"a","value":{"kvlistValue":{}}}]}]}}]}]}]}"#,
        r#"{"resourceMetrics":[{"scopeMetrics":[{"metrics":[{"name":"m","gauge":{"dataPoints":[{"exemplars":[{"timeUnixNano":"0","filteredAttributes":[]}],"attributes":[{"key":"a","value":{"kvlistValue":{"values":[]}}}]}]}}]}]}]}"#,
    ),
    // Logs: an empty record, a null or empty body, nested empty lists, empty ids.
    (
        Signal::Logs,
        r#"{"resourceLogs":[{"scopeLogs":[{"logRecords":[{}]}]}]}"#,
        r#"{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"timeUnixNano":"0","observedTimeUnixNano":"0","severityNumber":0,"severityText":"","attributes":[],"flags":0,"traceId":"","spanId":""}]}]}]}"#,
    ),
    (
        Signal::Logs,
        r#"{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"body":null,"severityNumber":null,"timeUnixNano":null}]}]}]}"#,
        r#"{"resourceLogs":[{"scopeLogs":[{"logRecords":[{}]}]}]}"#,
    ),
    (
        Signal::Logs,
        r#"{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"body":{}}]}]}]}"#,
        r#"{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"body":{}}]}]}]}"#,
    ),
    (
        Signal::Logs,
        r#"{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"body":{"arrayValue":{}}}]}]}]}"#,
        r#"{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"body":{"arrayValue":{"values":[]}}}]}]}]}"#,
    ),
    (
        Signal::Logs,
        r#"{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"body":{"kvlistValue":{"values":[{"key":"x","value":{"arrayValue":{"values":[{"kvlistValue":{}}]}}}]}}}]}]}]}"#,
        r#"{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"body":{"kvlistValue":{"values":[{"key":"x","value":{"arrayValue":{"values":[{"kvlistValue":{"values":[]}}]}}}]}}}]}]}]}"#,
    ),
    (
        Signal::Logs,
        r#"{"resourceLogs":[{"resource":{},"scopeLogs":[{"scope":{},"logRecords":[{"traceId":"","spanId":""}]}]}]}"#,
        r#"{"resourceLogs":[{"resource":{"attributes":[]},"scopeLogs":[{"scope":{"attributes":[]},"logRecords":[{}]}]}]}"#,
    ),
];

#[test]
fn every_omitted_default_decodes_as_the_default() {
    let mut wrong = Vec::new();
    for (signal, omitted, explicit) in PAIRS {
        let got = json_to_protobuf(*signal, omitted.as_bytes());
        let want = json_to_protobuf(*signal, explicit.as_bytes());
        match (got, want) {
            (Ok(got), Ok(want)) if got == want => {}
            (got, want) => wrong.push(format!("{omitted}\n  gives {got:?}\n  want  {want:?}")),
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// The empty lists keep their kind: `{}` is an empty array or map, not an absent value.
#[test]
fn an_empty_array_or_kvlist_stays_an_empty_array_or_kvlist() {
    let json = r#"{"resourceLogs":[{"scopeLogs":[{"logRecords":[{"body":{"arrayValue":{}}},{"body":{"kvlistValue":{}}},{"body":{}}]}]}]}"#;
    let Ok(bytes) = json_to_protobuf(Signal::Logs, json.as_bytes()) else {
        panic!("refused");
    };
    let Ok(request) = ExportLogsServiceRequest::decode(bytes.as_slice()) else {
        panic!("not protobuf");
    };
    let bodies: Vec<Option<AnyValue>> = request.resource_logs[0].scope_logs[0]
        .log_records
        .iter()
        .map(|r| r.body.clone())
        .collect();
    assert_eq!(
        bodies,
        [
            Some(AnyValue {
                value: Some(any_value::Value::ArrayValue(ArrayValue { values: vec![] })),
            }),
            Some(AnyValue {
                value: Some(any_value::Value::KvlistValue(KeyValueList {
                    values: vec![]
                })),
            }),
            Some(AnyValue { value: None }),
        ]
    );
    let traces = json_to_protobuf(Signal::Traces, b"{}");
    let Ok(traces) = traces else {
        panic!("refused");
    };
    assert_eq!(
        ExportTraceServiceRequest::decode(traces.as_slice()).ok(),
        Some(ExportTraceServiceRequest::default())
    );
}
