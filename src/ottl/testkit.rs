//! Builders of OTLP items for the OTTL, transform and filter tests.
#![allow(clippy::unwrap_used)]

use opentelemetry_proto::tonic::common::v1::{
    any_value::Value as V, AnyValue, InstrumentationScope, KeyValue,
};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::metrics::v1::{
    metric::Data, number_data_point, Gauge, Histogram, HistogramDataPoint, Metric, NumberDataPoint,
    ResourceMetrics, ScopeMetrics, Sum, Summary, SummaryDataPoint,
};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{span::Event, ResourceSpans, ScopeSpans, Span};

/// An attribute value.
pub fn any(v: V) -> Option<AnyValue> {
    Some(AnyValue { value: Some(v) })
}

/// A string attribute.
pub fn s(k: &str, v: &str) -> KeyValue {
    KeyValue {
        key: k.into(),
        value: any(V::StringValue(v.into())),
        ..Default::default()
    }
}

/// An int attribute.
pub fn i(k: &str, v: i64) -> KeyValue {
    KeyValue {
        key: k.into(),
        value: any(V::IntValue(v)),
        ..Default::default()
    }
}

/// A bool attribute.
pub fn b(k: &str, v: bool) -> KeyValue {
    KeyValue {
        key: k.into(),
        value: any(V::BoolValue(v)),
        ..Default::default()
    }
}

/// The value of `key` in `attrs`.
pub fn get<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a V> {
    attrs
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref())
        .and_then(|v| v.value.as_ref())
}

/// The string value of `key` in `attrs`.
pub fn get_str<'a>(attrs: &'a [KeyValue], key: &str) -> Option<&'a str> {
    match get(attrs, key) {
        Some(V::StringValue(s)) => Some(s),
        _ => None,
    }
}

/// Keys of `attrs`, in order.
pub fn keys(attrs: &[KeyValue]) -> Vec<&str> {
    attrs.iter().map(|kv| kv.key.as_str()).collect()
}

/// A span.
pub fn span(name: &str, attributes: Vec<KeyValue>) -> Span {
    Span {
        name: name.into(),
        attributes,
        trace_id: vec![1; 16],
        span_id: vec![2; 8],
        start_time_unix_nano: 1_000,
        end_time_unix_nano: 5_000,
        ..Default::default()
    }
}

/// A span event.
pub fn event(name: &str, attributes: Vec<KeyValue>) -> Event {
    Event {
        name: name.into(),
        attributes,
        time_unix_nano: 2_000,
        ..Default::default()
    }
}

fn resource(attributes: Vec<KeyValue>) -> Option<Resource> {
    Some(Resource {
        attributes,
        ..Default::default()
    })
}

fn scope(name: &str) -> Option<InstrumentationScope> {
    Some(InstrumentationScope {
        name: name.into(),
        version: "1.0".into(),
        ..Default::default()
    })
}

/// A resource with one scope per entry of `scopes`.
pub fn traces(res: Vec<KeyValue>, scopes: Vec<Vec<Span>>) -> ResourceSpans {
    ResourceSpans {
        resource: resource(res),
        scope_spans: scopes
            .into_iter()
            .enumerate()
            .map(|(n, spans)| ScopeSpans {
                scope: scope(&format!("lib{n}")),
                spans,
                ..Default::default()
            })
            .collect(),
        ..Default::default()
    }
}

/// A log record.
pub fn log(body: &str, severity_number: i32, attributes: Vec<KeyValue>) -> LogRecord {
    LogRecord {
        body: any(V::StringValue(body.into())),
        severity_number,
        attributes,
        ..Default::default()
    }
}

/// A resource with one scope of `records`.
pub fn logs(res: Vec<KeyValue>, records: Vec<LogRecord>) -> ResourceLogs {
    ResourceLogs {
        resource: resource(res),
        scope_logs: vec![ScopeLogs {
            scope: scope("lib"),
            log_records: records,
            ..Default::default()
        }],
        ..Default::default()
    }
}

/// A number point.
pub fn point(attributes: Vec<KeyValue>, v: f64) -> NumberDataPoint {
    NumberDataPoint {
        attributes,
        value: Some(number_data_point::Value::AsDouble(v)),
        time_unix_nano: 3_000,
        ..Default::default()
    }
}

/// A gauge.
pub fn gauge(name: &str, points: Vec<NumberDataPoint>) -> Metric {
    Metric {
        name: name.into(),
        data: Some(Data::Gauge(Gauge {
            data_points: points,
        })),
        ..Default::default()
    }
}

/// A cumulative monotonic sum.
pub fn sum(name: &str, points: Vec<NumberDataPoint>) -> Metric {
    Metric {
        name: name.into(),
        data: Some(Data::Sum(Sum {
            data_points: points,
            aggregation_temporality: 2,
            is_monotonic: true,
        })),
        ..Default::default()
    }
}

/// A histogram with one point per attribute set.
pub fn histogram(name: &str, attrs: Vec<Vec<KeyValue>>) -> Metric {
    let data_points = attrs
        .into_iter()
        .map(|attributes| HistogramDataPoint {
            attributes,
            count: 3,
            sum: Some(6.0),
            ..Default::default()
        })
        .collect();
    Metric {
        name: name.into(),
        data: Some(Data::Histogram(Histogram {
            data_points,
            aggregation_temporality: 2,
        })),
        ..Default::default()
    }
}

/// A summary with one point.
pub fn summary(name: &str) -> Metric {
    Metric {
        name: name.into(),
        data: Some(Data::Summary(Summary {
            data_points: vec![SummaryDataPoint {
                count: 1,
                sum: 1.0,
                ..Default::default()
            }],
        })),
        ..Default::default()
    }
}

/// A resource with one scope of `metrics`.
pub fn metrics(res: Vec<KeyValue>, metrics: Vec<Metric>) -> ResourceMetrics {
    ResourceMetrics {
        resource: resource(res),
        scope_metrics: vec![ScopeMetrics {
            scope: scope("lib"),
            metrics,
            ..Default::default()
        }],
        ..Default::default()
    }
}
