//! OTLP export requests, kept encoded from socket to exporter.
//!
//! The receiver runs [`scan_request`] on every request body: one pass over the bytes that
//! validates them against the OTLP schema, counts items (spans, metric data points, log records)
//! and returns each top-level `ResourceSpans`/`ResourceMetrics`/`ResourceLogs` as a zero-copy
//! [`ResourceChunk`]. The batcher splits chunks with [`split_chunk`] and the exporter writes
//! requests back with [`encode_request`].
//!
//! # Invariant
//!
//! A request the scan accepts, prost (opentelemetry-proto's generated types) decodes; one it
//! rejects, prost rejects; and its item counts are those of the decoded structs. Garbage is
//! never batched: a backend would reject the whole batch. The property tests check this against
//! prost on generated requests, on mutated encodings and on random wire-format messages.
//!
//! The prost 0.14 rules mirrored:
//! - varints: at most 10 bytes, the 10th byte 0 or 1; zero-padded encodings are accepted;
//! - keys: fit in 32 bits, wire type 0–5, field number ≥ 1;
//! - a known field with a wire type other than its own is an error, except that repeated
//!   numeric fields (`bucket_counts`, `explicit_bounds`) accept both packed and unpacked;
//! - `string` fields must be UTF-8 (`bytes` fields need not be);
//! - lengths must fit in what is left of the enclosing message;
//! - unknown fields are skipped whatever their wire type; an unknown start-group is skipped field
//!   by field up to the end-group with the same number; a stray end-group is an error;
//! - recursion: a nested message, and skipping any unknown field, needs prost's remaining
//!   recursion budget (100 at the request's fields, one less per message or group level) to be
//!   non-zero;
//! - `oneof` and proto3 `optional` fields have the same wire rules as plain ones; for counting,
//!   a later `Metric.data` variant replaces an earlier different one and a repeated one merges,
//!   as prost does; repeated occurrences of non-repeated fields merge and are all validated.
//!
//! Known divergences: none. Only the error differs: which of several faults is reported first,
//! and in what words. The tests hold the scan to prost on ~10⁴ generated, mutated and random
//! encodings per run (and on over 10⁶ in longer runs during development).

pub mod encode;
pub mod json;
pub mod scan;
pub(crate) mod schema;
pub mod split;
pub mod wire;

pub use encode::{encode_request, encode_request_pieces, encoded_request_len};
pub use json::{json_to_protobuf, protobuf_to_json, JsonError};
pub use scan::{scan_request, ResourceChunk, ScannedRequest};
pub use split::split_chunk;
pub use wire::ScanError;

/// Generators and helpers shared by the tests of this module (proptest strategies for whole
/// requests of every signal, and a prost-side view of them).
#[cfg(test)]
#[allow(clippy::unwrap_used)]
pub(crate) mod testgen {
    use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
    use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
    use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
    use opentelemetry_proto::tonic::common::v1::{self as common, any_value::Value};
    use opentelemetry_proto::tonic::logs::v1 as logs;
    use opentelemetry_proto::tonic::metrics::v1::{self as metrics, metric::Data};
    use opentelemetry_proto::tonic::resource::v1 as resource;
    use opentelemetry_proto::tonic::trace::v1 as trace;
    use proptest::collection::vec;
    use proptest::option::of;
    use proptest::prelude::*;
    use prost::Message;

    use super::wire::put_varint;
    use crate::signal::Signal;

    /// A decoded request of any signal.
    #[derive(Debug, Clone, PartialEq)]
    pub enum Req {
        T(ExportTraceServiceRequest),
        M(ExportMetricsServiceRequest),
        L(ExportLogsServiceRequest),
    }

    impl Req {
        pub fn signal(&self) -> Signal {
            match self {
                Req::T(_) => Signal::Traces,
                Req::M(_) => Signal::Metrics,
                Req::L(_) => Signal::Logs,
            }
        }
        pub fn decode(signal: Signal, bytes: &[u8]) -> Result<Req, prost::DecodeError> {
            Ok(match signal {
                Signal::Traces => Req::T(ExportTraceServiceRequest::decode(bytes)?),
                Signal::Metrics => Req::M(ExportMetricsServiceRequest::decode(bytes)?),
                Signal::Logs => Req::L(ExportLogsServiceRequest::decode(bytes)?),
            })
        }
        pub fn encode(&self) -> Vec<u8> {
            match self {
                Req::T(r) => r.encode_to_vec(),
                Req::M(r) => r.encode_to_vec(),
                Req::L(r) => r.encode_to_vec(),
            }
        }
        pub fn resources(&self) -> usize {
            match self {
                Req::T(r) => r.resource_spans.len(),
                Req::M(r) => r.resource_metrics.len(),
                Req::L(r) => r.resource_logs.len(),
            }
        }
        /// Items per resource, counted on the decoded structs.
        pub fn items_per_resource(&self) -> Vec<u64> {
            match self {
                Req::T(r) => r.resource_spans.iter().map(|rs| spans(rs) as u64).collect(),
                Req::M(r) => r
                    .resource_metrics
                    .iter()
                    .map(|rm| points(rm) as u64)
                    .collect(),
                Req::L(r) => r
                    .resource_logs
                    .iter()
                    .map(|rl| records(rl) as u64)
                    .collect(),
            }
        }
        pub fn items(&self) -> u64 {
            self.items_per_resource().iter().sum()
        }
    }

    fn spans(rs: &trace::ResourceSpans) -> usize {
        rs.scope_spans.iter().map(|s| s.spans.len()).sum()
    }
    fn records(rl: &logs::ResourceLogs) -> usize {
        rl.scope_logs.iter().map(|s| s.log_records.len()).sum()
    }
    fn points(rm: &metrics::ResourceMetrics) -> usize {
        rm.scope_metrics
            .iter()
            .flat_map(|s| &s.metrics)
            .map(metric_points)
            .sum()
    }
    pub fn metric_points(m: &metrics::Metric) -> usize {
        match &m.data {
            None => 0,
            Some(Data::Gauge(g)) => g.data_points.len(),
            Some(Data::Sum(s)) => s.data_points.len(),
            Some(Data::Histogram(h)) => h.data_points.len(),
            Some(Data::ExponentialHistogram(e)) => e.data_points.len(),
            Some(Data::Summary(s)) => s.data_points.len(),
        }
    }

    /// Each item of a resource message body, with its resource, scope (and metric) context, as
    /// a comparable string.
    pub fn flatten_resource(signal: Signal, body: &[u8]) -> Vec<String> {
        let mut out = Vec::new();
        match signal {
            Signal::Traces => {
                let rs = trace::ResourceSpans::decode(body).unwrap();
                for ss in &rs.scope_spans {
                    for span in &ss.spans {
                        let ctx = (&rs.resource, &rs.schema_url, &ss.scope, &ss.schema_url);
                        out.push(format!("{ctx:?} {span:?}"));
                    }
                }
            }
            Signal::Metrics => {
                let rm = metrics::ResourceMetrics::decode(body).unwrap();
                for sm in &rm.scope_metrics {
                    let ctx = (&rm.resource, &rm.schema_url, &sm.scope, &sm.schema_url);
                    for m in &sm.metrics {
                        for i in 0..metric_points(m) {
                            out.push(format!("{ctx:?} {:?}", one_point(m, i)));
                        }
                    }
                }
            }
            Signal::Logs => {
                let rl = logs::ResourceLogs::decode(body).unwrap();
                for sl in &rl.scope_logs {
                    for rec in &sl.log_records {
                        let ctx = (&rl.resource, &rl.schema_url, &sl.scope, &sl.schema_url);
                        out.push(format!("{ctx:?} {rec:?}"));
                    }
                }
            }
        }
        out
    }

    /// The metric with only its `i`th data point.
    fn one_point(m: &metrics::Metric, i: usize) -> metrics::Metric {
        fn keep<T: Clone>(v: &mut Vec<T>, i: usize) {
            *v = vec![v[i].clone()];
        }
        let mut m = m.clone();
        match &mut m.data {
            Some(Data::Gauge(g)) => keep(&mut g.data_points, i),
            Some(Data::Sum(s)) => keep(&mut s.data_points, i),
            Some(Data::Histogram(h)) => keep(&mut h.data_points, i),
            Some(Data::ExponentialHistogram(e)) => keep(&mut e.data_points, i),
            Some(Data::Summary(s)) => keep(&mut s.data_points, i),
            None => {}
        }
        m
    }

    // ---- strategies ------------------------------------------------------------------------

    fn text() -> impl Strategy<Value = String> + Clone {
        "\\PC{0,6}"
    }
    fn blob() -> impl Strategy<Value = Vec<u8>> + Clone {
        vec(any::<u8>(), 0..9)
    }
    /// Doubles without NaN (so decoded == original holds).
    fn double() -> impl Strategy<Value = f64> + Clone {
        prop_oneof![
            Just(0.0),
            Just(-0.0),
            any::<i32>().prop_map(|i| f64::from(i) / 8.0)
        ]
    }

    pub fn any_value() -> impl Strategy<Value = common::AnyValue> + Clone {
        let leaf = prop_oneof![
            Just(None),
            text().prop_map(Value::StringValue).prop_map(Some),
            any::<bool>().prop_map(Value::BoolValue).prop_map(Some),
            any::<i64>().prop_map(Value::IntValue).prop_map(Some),
            double().prop_map(Value::DoubleValue).prop_map(Some),
            blob().prop_map(Value::BytesValue).prop_map(Some),
            any::<i32>()
                .prop_map(Value::StringValueStrindex)
                .prop_map(Some),
        ]
        .prop_map(|value| common::AnyValue { value });
        leaf.prop_recursive(3, 16, 3, |inner| {
            prop_oneof![
                vec(inner.clone(), 0..3).prop_map(|values| common::AnyValue {
                    value: Some(Value::ArrayValue(common::ArrayValue { values })),
                }),
                vec((text(), of(inner), any::<i32>()), 0..3).prop_map(|kvs| common::AnyValue {
                    value: Some(Value::KvlistValue(common::KeyValueList {
                        values: kvs.into_iter().map(kv).collect(),
                    })),
                }),
            ]
        })
    }

    fn kv((key, value, key_strindex): (String, Option<common::AnyValue>, i32)) -> common::KeyValue {
        common::KeyValue {
            key,
            value,
            key_strindex,
        }
    }

    fn attrs() -> impl Strategy<Value = Vec<common::KeyValue>> + Clone {
        vec(
            (text(), of(any_value()), prop_oneof![Just(0), any::<i32>()]).prop_map(kv),
            0..3,
        )
    }

    fn resource() -> impl Strategy<Value = resource::Resource> {
        let entity = (text(), text(), vec(text(), 0..2), vec(text(), 0..2)).prop_map(|e| {
            common::EntityRef {
                schema_url: e.0,
                r#type: e.1,
                id_keys: e.2,
                description_keys: e.3,
            }
        });
        (attrs(), any::<u32>(), vec(entity, 0..2)).prop_map(|r| resource::Resource {
            attributes: r.0,
            dropped_attributes_count: r.1,
            entity_refs: r.2,
        })
    }

    fn scope() -> impl Strategy<Value = common::InstrumentationScope> {
        (text(), text(), attrs(), any::<u32>()).prop_map(|s| common::InstrumentationScope {
            name: s.0,
            version: s.1,
            attributes: s.2,
            dropped_attributes_count: s.3,
        })
    }

    fn span() -> impl Strategy<Value = trace::Span> {
        let event =
            (any::<u64>(), text(), attrs(), any::<u32>()).prop_map(|e| trace::span::Event {
                time_unix_nano: e.0,
                name: e.1,
                attributes: e.2,
                dropped_attributes_count: e.3,
            });
        let link = (blob(), blob(), text(), attrs(), any::<u32>(), any::<u32>()).prop_map(|l| {
            trace::span::Link {
                trace_id: l.0,
                span_id: l.1,
                trace_state: l.2,
                attributes: l.3,
                dropped_attributes_count: l.4,
                flags: l.5,
            }
        });
        let status = (text(), 0..3i32).prop_map(|s| trace::Status {
            message: s.0,
            code: s.1,
        });
        let ids = (
            blob(),
            blob(),
            text(),
            blob(),
            text(),
            any::<i32>(),
            any::<u32>(),
        );
        let times = (any::<u64>(), any::<u64>(), attrs(), any::<u32>());
        let rest = (
            vec(event, 0..2),
            any::<u32>(),
            vec(link, 0..2),
            any::<u32>(),
            of(status),
        );
        (ids, times, rest).prop_map(|(i, t, r)| trace::Span {
            trace_id: i.0,
            span_id: i.1,
            trace_state: i.2,
            parent_span_id: i.3,
            name: i.4,
            kind: i.5,
            flags: i.6,
            start_time_unix_nano: t.0,
            end_time_unix_nano: t.1,
            attributes: t.2,
            dropped_attributes_count: t.3,
            events: r.0,
            dropped_events_count: r.1,
            links: r.2,
            dropped_links_count: r.3,
            status: r.4,
        })
    }

    pub fn traces() -> impl Strategy<Value = ExportTraceServiceRequest> {
        let ss = (of(scope()), vec(span(), 0..4), text()).prop_map(|s| trace::ScopeSpans {
            scope: s.0,
            spans: s.1,
            schema_url: s.2,
        });
        let rs = (of(resource()), vec(ss, 0..3), text()).prop_map(|r| trace::ResourceSpans {
            resource: r.0,
            scope_spans: r.1,
            schema_url: r.2,
        });
        vec(rs, 0..4).prop_map(|resource_spans| ExportTraceServiceRequest { resource_spans })
    }

    pub fn logs() -> impl Strategy<Value = ExportLogsServiceRequest> {
        let head = (
            any::<u64>(),
            any::<u64>(),
            any::<i32>(),
            text(),
            of(any_value()),
            attrs(),
        );
        let tail = (any::<u32>(), any::<u32>(), blob(), blob(), text());
        let rec = (head, tail).prop_map(|(h, t)| logs::LogRecord {
            time_unix_nano: h.0,
            observed_time_unix_nano: h.1,
            severity_number: h.2,
            severity_text: h.3,
            body: h.4,
            attributes: h.5,
            dropped_attributes_count: t.0,
            flags: t.1,
            trace_id: t.2,
            span_id: t.3,
            event_name: t.4,
        });
        let sl = (of(scope()), vec(rec, 0..4), text()).prop_map(|s| logs::ScopeLogs {
            scope: s.0,
            log_records: s.1,
            schema_url: s.2,
        });
        let rl = (of(resource()), vec(sl, 0..3), text()).prop_map(|r| logs::ResourceLogs {
            resource: r.0,
            scope_logs: r.1,
            schema_url: r.2,
        });
        vec(rl, 0..4).prop_map(|resource_logs| ExportLogsServiceRequest { resource_logs })
    }

    pub fn metrics() -> impl Strategy<Value = ExportMetricsServiceRequest> {
        let metric =
            (text(), text(), text(), attrs(), of(metric_data())).prop_map(|m| metrics::Metric {
                name: m.0,
                description: m.1,
                unit: m.2,
                metadata: m.3,
                data: m.4,
            });
        let sm = (of(scope()), vec(metric, 0..3), text()).prop_map(|s| metrics::ScopeMetrics {
            scope: s.0,
            metrics: s.1,
            schema_url: s.2,
        });
        let rm = (of(resource()), vec(sm, 0..3), text()).prop_map(|r| metrics::ResourceMetrics {
            resource: r.0,
            scope_metrics: r.1,
            schema_url: r.2,
        });
        vec(rm, 0..4).prop_map(|resource_metrics| ExportMetricsServiceRequest { resource_metrics })
    }

    fn exemplar() -> impl Strategy<Value = metrics::Exemplar> + Clone {
        use metrics::exemplar::Value as V;
        let value = prop_oneof![
            double().prop_map(V::AsDouble),
            any::<i64>().prop_map(V::AsInt)
        ];
        (attrs(), any::<u64>(), of(value), blob(), blob()).prop_map(|e| metrics::Exemplar {
            filtered_attributes: e.0,
            time_unix_nano: e.1,
            value: e.2,
            span_id: e.3,
            trace_id: e.4,
        })
    }

    fn number_point() -> impl Strategy<Value = metrics::NumberDataPoint> + Clone {
        use metrics::number_data_point::Value as V;
        let value = prop_oneof![
            double().prop_map(V::AsDouble),
            any::<i64>().prop_map(V::AsInt)
        ];
        let e = vec(exemplar(), 0..2);
        (
            attrs(),
            any::<u64>(),
            any::<u64>(),
            of(value),
            e,
            any::<u32>(),
        )
            .prop_map(|p| metrics::NumberDataPoint {
                attributes: p.0,
                start_time_unix_nano: p.1,
                time_unix_nano: p.2,
                value: p.3,
                exemplars: p.4,
                flags: p.5,
            })
    }

    fn histogram_point() -> impl Strategy<Value = metrics::HistogramDataPoint> {
        let head = (
            attrs(),
            any::<u64>(),
            any::<u64>(),
            any::<u64>(),
            of(double()),
        );
        let buckets = (
            vec(any::<u64>(), 0..4),
            vec(double(), 0..4),
            vec(exemplar(), 0..2),
        );
        let tail = (any::<u32>(), of(double()), of(double()));
        (head, buckets, tail).prop_map(|(h, b, t)| metrics::HistogramDataPoint {
            attributes: h.0,
            start_time_unix_nano: h.1,
            time_unix_nano: h.2,
            count: h.3,
            sum: h.4,
            bucket_counts: b.0,
            explicit_bounds: b.1,
            exemplars: b.2,
            flags: t.0,
            min: t.1,
            max: t.2,
        })
    }

    fn exp_histogram_point() -> impl Strategy<Value = metrics::ExponentialHistogramDataPoint> {
        use metrics::exponential_histogram_data_point::Buckets;
        let buckets = (any::<i32>(), vec(any::<u64>(), 0..4)).prop_map(|b| Buckets {
            offset: b.0,
            bucket_counts: b.1,
        });
        let head = (
            attrs(),
            any::<u64>(),
            any::<u64>(),
            any::<u64>(),
            of(double()),
            any::<i32>(),
        );
        let mid = (any::<u64>(), of(buckets.clone()), of(buckets), any::<u32>());
        let tail = (vec(exemplar(), 0..2), of(double()), of(double()), double());
        (head, mid, tail).prop_map(|(h, m, t)| metrics::ExponentialHistogramDataPoint {
            attributes: h.0,
            start_time_unix_nano: h.1,
            time_unix_nano: h.2,
            count: h.3,
            sum: h.4,
            scale: h.5,
            zero_count: m.0,
            positive: m.1,
            negative: m.2,
            flags: m.3,
            exemplars: t.0,
            min: t.1,
            max: t.2,
            zero_threshold: t.3,
        })
    }

    fn summary_point() -> impl Strategy<Value = metrics::SummaryDataPoint> {
        use metrics::summary_data_point::ValueAtQuantile;
        let q = (double(), double()).prop_map(|q| ValueAtQuantile {
            quantile: q.0,
            value: q.1,
        });
        let head = (attrs(), any::<u64>(), any::<u64>(), any::<u64>(), double());
        (head, vec(q, 0..3), any::<u32>()).prop_map(|(h, q, flags)| metrics::SummaryDataPoint {
            attributes: h.0,
            start_time_unix_nano: h.1,
            time_unix_nano: h.2,
            count: h.3,
            sum: h.4,
            quantile_values: q,
            flags,
        })
    }

    fn metric_data() -> impl Strategy<Value = Data> {
        let n = 0..4;
        prop_oneof![
            vec(number_point(), n.clone())
                .prop_map(|data_points| Data::Gauge(metrics::Gauge { data_points })),
            (vec(number_point(), n.clone()), any::<i32>(), any::<bool>()).prop_map(|s| {
                Data::Sum(metrics::Sum {
                    data_points: s.0,
                    aggregation_temporality: s.1,
                    is_monotonic: s.2,
                })
            }),
            (vec(histogram_point(), n.clone()), any::<i32>()).prop_map(|h| {
                Data::Histogram(metrics::Histogram {
                    data_points: h.0,
                    aggregation_temporality: h.1,
                })
            }),
            (vec(exp_histogram_point(), n.clone()), any::<i32>()).prop_map(|e| {
                Data::ExponentialHistogram(metrics::ExponentialHistogram {
                    data_points: e.0,
                    aggregation_temporality: e.1,
                })
            }),
            vec(summary_point(), n)
                .prop_map(|data_points| Data::Summary(metrics::Summary { data_points })),
        ]
    }

    // ---- random wire-format messages and mutations ------------------------------------------

    /// A random wire-format field: the scalar payloads, raw bytes, nested fields, groups.
    #[derive(Debug, Clone)]
    pub enum W {
        Varint(u64),
        Fixed64,
        Fixed32,
        Raw(Vec<u8>),
        Text(String),
        Msg(Vec<(u32, W)>),
        Group(Vec<(u32, W)>),
    }

    fn put(out: &mut Vec<u8>, field: u32, w: &W) {
        let key = |out: &mut Vec<u8>, wt: u64| put_varint((u64::from(field) << 3) | wt, out);
        let len = |out: &mut Vec<u8>, body: &[u8]| {
            key(out, 2);
            put_varint(body.len() as u64, out);
            out.extend_from_slice(body);
        };
        match w {
            W::Varint(v) => {
                key(out, 0);
                put_varint(*v, out);
            }
            W::Fixed64 => {
                key(out, 1);
                out.extend_from_slice(&[0; 8]);
            }
            W::Fixed32 => {
                key(out, 5);
                out.extend_from_slice(&[0; 4]);
            }
            W::Raw(b) => len(out, b),
            W::Text(s) => len(out, s.as_bytes()),
            W::Msg(fields) => len(out, &encode_fields(fields)),
            W::Group(fields) => {
                key(out, 3);
                out.extend(encode_fields(fields));
                key(out, 4);
            }
        }
    }

    pub fn encode_fields(fields: &[(u32, W)]) -> Vec<u8> {
        let mut out = Vec::new();
        for (f, w) in fields {
            put(&mut out, *f, w);
        }
        out
    }

    pub fn wire() -> impl Strategy<Value = Vec<(u32, W)>> {
        let leaf = prop_oneof![
            any::<u64>().prop_map(W::Varint),
            (0..300u64).prop_map(W::Varint),
            Just(W::Fixed64),
            Just(W::Fixed32),
            prop::collection::vec(any::<u8>(), 0..17).prop_map(W::Raw),
            "\\PC{0,4}".prop_map(W::Text),
        ];
        let num = prop_oneof![4 => 1..17u32, 1 => 1..40u32];
        let w = leaf.prop_recursive(8, 96, 6, move |inner| {
            let field = (prop_oneof![4 => 1..17u32, 1 => 1..40u32], inner);
            prop_oneof![
                4 => prop::collection::vec(field.clone(), 0..6).prop_map(W::Msg),
                1 => prop::collection::vec(field, 0..3).prop_map(W::Group),
            ]
        });
        let top = prop_oneof![8 => Just(1u32), 1 => num];
        prop::collection::vec((top, w), 0..4)
    }

    #[derive(Debug, Clone)]
    pub enum Mutation {
        Set(prop::sample::Index, u8),
        Truncate(prop::sample::Index),
        Insert(prop::sample::Index, Vec<u8>),
        Delete(prop::sample::Index, usize),
    }

    pub fn mutation() -> impl Strategy<Value = Mutation> {
        let idx = any::<prop::sample::Index>;
        prop_oneof![
            4 => (idx(), any::<u8>()).prop_map(|(i, b)| Mutation::Set(i, b)),
            1 => idx().prop_map(Mutation::Truncate),
            2 => (idx(), prop::collection::vec(any::<u8>(), 1..4))
                .prop_map(|(i, b)| Mutation::Insert(i, b)),
            2 => (idx(), 1..4usize).prop_map(|(i, n)| Mutation::Delete(i, n)),
        ]
    }

    pub fn apply(bytes: &mut Vec<u8>, m: &Mutation) {
        let len = bytes.len();
        match m {
            _ if len == 0 => {}
            Mutation::Set(i, b) => bytes[i.index(len)] = *b,
            Mutation::Truncate(i) => bytes.truncate(i.index(len)),
            Mutation::Insert(i, b) => {
                let at = i.index(len + 1);
                bytes.splice(at..at, b.iter().copied());
            }
            Mutation::Delete(i, n) => {
                let at = i.index(len);
                bytes.drain(at..(at + n).min(len));
            }
        }
    }

    /// A generated request of any signal.
    pub fn request() -> impl Strategy<Value = Req> {
        prop_oneof![
            traces().prop_map(Req::T),
            metrics().prop_map(Req::M),
            logs().prop_map(Req::L)
        ]
    }
}
