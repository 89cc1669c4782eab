//! The requests sent: every field of every OTLP message set, each item tagged with an id the
//! checks can find it by.

use super::*;

pub(super) fn any(v: V) -> AnyValue {
    AnyValue { value: Some(v) }
}

pub(super) fn kv(key: &str, v: V) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(any(v)),
        ..Default::default()
    }
}

/// One attribute of every AnyValue variant, nested arrays and kvlists included, plus an empty
/// value and an attribute without a value.
pub(super) fn every_value(tag: u64) -> Vec<KeyValue> {
    let nested_list = V::ArrayValue(ArrayValue {
        values: vec![
            any(V::StringValue(format!("s{tag}"))),
            any(V::BoolValue(false)),
            any(V::IntValue(-(tag as i64))),
            any(V::DoubleValue(f64::MIN_POSITIVE)),
            any(V::BytesValue(vec![0, 1, 2, 0xff])),
            any(V::ArrayValue(ArrayValue {
                values: vec![
                    any(V::IntValue(1)),
                    any(V::ArrayValue(ArrayValue::default())),
                ],
            })),
            any(V::KvlistValue(KeyValueList {
                values: vec![kv("inner", V::StringValue("x".into()))],
            })),
            AnyValue { value: None },
        ],
    });
    let nested_map = V::KvlistValue(KeyValueList {
        values: vec![
            kv("m.string", V::StringValue("ünïcødé ✓".into())),
            kv("m.list", nested_list.clone()),
            kv(
                "m.map",
                V::KvlistValue(KeyValueList {
                    values: vec![
                        kv("deeper", V::BytesValue(vec![9; 3])),
                        kv("empty", V::KvlistValue(KeyValueList::default())),
                    ],
                }),
            ),
        ],
    });
    vec![
        kv("string", V::StringValue(format!("value {tag}"))),
        kv("empty.string", V::StringValue(String::new())),
        kv("bool", V::BoolValue(tag % 2 == 1)),
        kv("int", V::IntValue(i64::MIN + tag as i64)),
        kv("double", V::DoubleValue(-1.5e-300 * tag as f64)),
        kv("bytes", V::BytesValue((0..=255).collect())),
        kv("array", nested_list),
        kv("kvlist", nested_map),
        KeyValue {
            key: "no.value".into(),
            value: None,
            ..Default::default()
        },
        KeyValue {
            key: "empty.anyvalue".into(),
            value: Some(AnyValue { value: None }),
            ..Default::default()
        },
    ]
}

pub(super) fn resource(batch: u64, r: u64) -> Resource {
    let mut attributes = vec![
        kv(
            "service.name",
            V::StringValue(format!("raw-service-{batch}-{r}")),
        ),
        kv(
            "service.instance.id",
            V::StringValue(format!("instance-{r}")),
        ),
    ];
    attributes.extend(every_value(r));
    Resource {
        attributes,
        dropped_attributes_count: r as u32 + 1,
        entity_refs: vec![EntityRef {
            schema_url: "https://example.com/entity".into(),
            r#type: "service".into(),
            id_keys: vec!["service.name".into(), "service.instance.id".into()],
            description_keys: vec!["service.version".into()],
        }],
    }
}

pub(super) fn scope(r: u64, s: u64) -> InstrumentationScope {
    InstrumentationScope {
        name: format!("scope-{r}-{s}"),
        version: format!("{s}.0.{r}"),
        attributes: vec![
            kv("scope.attr", V::IntValue(s as i64)),
            kv("scope.list", V::ArrayValue(ArrayValue::default())),
        ],
        dropped_attributes_count: s as u32,
    }
}

/// A globally unique 8-byte id for item `n` of request `batch`.
pub(super) fn id8(batch: u64, n: u64) -> Vec<u8> {
    ((batch << 32) | n | 0x0100_0000_0000_0000)
        .to_be_bytes()
        .to_vec()
}

pub(super) fn id16(batch: u64, n: u64) -> Vec<u8> {
    let mut id = vec![0xab; 8];
    id.extend(id8(batch, n));
    id
}

pub(super) fn trace_request(batch: u64) -> ExportTraceServiceRequest {
    let mut n = 0;
    let mut resource_spans = Vec::new();
    for r in 0..3 {
        let mut scope_spans = Vec::new();
        for s in 0..2 {
            let count = 3 + r + s * 2; // uneven counts so the splits land everywhere
            let spans = (0..count)
                .map(|_| {
                    n += 1;
                    full_span(batch, n)
                })
                .collect();
            scope_spans.push(ScopeSpans {
                scope: Some(scope(r, s)),
                spans,
                schema_url: format!("https://opentelemetry.io/schemas/1.{s}.0"),
            });
        }
        // A scope message with no spans (legal; must not disturb anything).
        scope_spans.push(ScopeSpans {
            scope: Some(scope(r, 99)),
            spans: Vec::new(),
            schema_url: String::new(),
        });
        resource_spans.push(ResourceSpans {
            resource: Some(resource(batch, r)),
            scope_spans,
            schema_url: format!("https://opentelemetry.io/schemas/1.2{r}.0"),
        });
    }
    ExportTraceServiceRequest { resource_spans }
}

pub(super) fn full_span(batch: u64, n: u64) -> Span {
    let start = 1_700_000_000_000_000_000 + batch * 1_000_000 + n;
    Span {
        trace_id: id16(batch, n / 3),
        span_id: id8(batch, n),
        trace_state: format!("vendor=v{n},other=o"),
        parent_span_id: if n.is_multiple_of(3) {
            Vec::new()
        } else {
            id8(batch, n - 1)
        },
        flags: 0x0000_0301,
        name: format!("span {batch}/{n}"),
        kind: (n % 6) as i32,
        start_time_unix_nano: start,
        end_time_unix_nano: start + 12_345,
        attributes: every_value(n),
        dropped_attributes_count: 3,
        events: vec![
            span::Event {
                time_unix_nano: start + 1,
                name: "event-a".into(),
                attributes: every_value(n + 1),
                dropped_attributes_count: 1,
            },
            span::Event {
                time_unix_nano: start + 2,
                name: String::new(),
                attributes: Vec::new(),
                dropped_attributes_count: 0,
            },
        ],
        dropped_events_count: 4,
        links: vec![span::Link {
            trace_id: id16(batch + 1000, n),
            span_id: id8(batch + 1000, n),
            trace_state: "linked=yes".into(),
            attributes: vec![kv("link.n", V::IntValue(n as i64))],
            dropped_attributes_count: 2,
            flags: 0x0000_0100,
        }],
        dropped_links_count: 5,
        status: Some(Status {
            message: if n % 3 == 2 {
                format!("error in {n}")
            } else {
                String::new()
            },
            code: match n % 3 {
                0 => status::StatusCode::Unset,
                1 => status::StatusCode::Ok,
                _ => status::StatusCode::Error,
            } as i32,
        }),
    }
}

pub(super) fn exemplars(batch: u64, n: u64) -> Vec<Exemplar> {
    vec![
        Exemplar {
            filtered_attributes: vec![kv("exemplar.attr", V::StringValue("e".into()))],
            time_unix_nano: 1_700_000_000_000_000_000 + n,
            span_id: id8(batch, n),
            trace_id: id16(batch, n),
            value: Some(exemplar::Value::AsDouble(n as f64 * 0.5)),
        },
        Exemplar {
            filtered_attributes: Vec::new(),
            time_unix_nano: 1_700_000_000_000_000_001 + n,
            span_id: Vec::new(),
            trace_id: Vec::new(),
            value: Some(exemplar::Value::AsInt(-(n as i64))),
        },
    ]
}

/// Attributes of data point `n`, with the `point.id` that identifies it.
pub(super) fn point_attrs(batch: u64, n: u64) -> Vec<KeyValue> {
    let mut attrs = vec![kv("point.id", V::StringValue(format!("{batch}/{n}")))];
    attrs.extend(every_value(n).into_iter().take(6));
    attrs
}

pub(super) fn metric_request(batch: u64) -> ExportMetricsServiceRequest {
    let mut n = 0;
    let mut next = || {
        n += 1;
        n
    };
    let t0 = 1_700_000_000_000_000_000 + batch * 1_000_000_000;
    let mut resource_metrics = Vec::new();
    for r in 0..2 {
        let mut scope_metrics = Vec::new();
        for s in 0..2 {
            let points = 2 + r + s; // data points per metric
            let number = |n: u64, int: bool| NumberDataPoint {
                attributes: point_attrs(batch, n),
                start_time_unix_nano: t0,
                time_unix_nano: t0 + n,
                exemplars: exemplars(batch, n),
                flags: (n % 2) as u32,
                value: Some(if int {
                    number_data_point::Value::AsInt(n as i64 * -7)
                } else {
                    number_data_point::Value::AsDouble(n as f64 * 1.25)
                }),
            };
            let metadata = vec![kv("metadata.key", V::StringValue("m".into()))];
            let metrics = vec![
                Metric {
                    name: format!("gauge.{r}.{s}"),
                    description: "a gauge".into(),
                    unit: "1".into(),
                    metadata: metadata.clone(),
                    data: Some(metric::Data::Gauge(Gauge {
                        data_points: (0..points).map(|i| number(next(), i % 2 == 0)).collect(),
                    })),
                },
                Metric {
                    name: format!("sum.{r}.{s}"),
                    description: "a monotonic cumulative sum".into(),
                    unit: "By".into(),
                    metadata: Vec::new(),
                    data: Some(metric::Data::Sum(Sum {
                        data_points: (0..points).map(|i| number(next(), i % 2 == 1)).collect(),
                        aggregation_temporality: 2,
                        is_monotonic: true,
                    })),
                },
                Metric {
                    name: format!("histogram.{r}.{s}"),
                    description: "an explicit-bucket histogram".into(),
                    unit: "ms".into(),
                    metadata: metadata.clone(),
                    data: Some(metric::Data::Histogram(Histogram {
                        data_points: (0..points)
                            .map(|_| {
                                let n = next();
                                HistogramDataPoint {
                                    attributes: point_attrs(batch, n),
                                    start_time_unix_nano: t0,
                                    time_unix_nano: t0 + n,
                                    count: 10 + n,
                                    sum: Some(123.5 + n as f64),
                                    bucket_counts: vec![1, 2, 3, 4 + n],
                                    explicit_bounds: vec![0.5, 5.0, 50.0],
                                    exemplars: exemplars(batch, n),
                                    flags: 0,
                                    min: Some(0.125),
                                    max: Some(999.0 + n as f64),
                                }
                            })
                            .collect(),
                        aggregation_temporality: 1,
                    })),
                },
                Metric {
                    name: format!("exphistogram.{r}.{s}"),
                    description: "an exponential histogram".into(),
                    unit: "s".into(),
                    metadata: Vec::new(),
                    data: Some(metric::Data::ExponentialHistogram(ExponentialHistogram {
                        data_points: (0..points)
                            .map(|_| {
                                let n = next();
                                ExponentialHistogramDataPoint {
                                    attributes: point_attrs(batch, n),
                                    start_time_unix_nano: t0,
                                    time_unix_nano: t0 + n,
                                    count: 20 + n,
                                    sum: Some(-4.0),
                                    scale: -3 + (n % 5) as i32,
                                    zero_count: 2,
                                    positive: Some(Buckets {
                                        offset: -2,
                                        bucket_counts: vec![1, 0, 5, n],
                                    }),
                                    negative: Some(Buckets {
                                        offset: 3,
                                        bucket_counts: vec![2, 4],
                                    }),
                                    flags: 1,
                                    exemplars: exemplars(batch, n),
                                    min: Some(-10.0),
                                    max: Some(10.0),
                                    zero_threshold: 1e-9,
                                }
                            })
                            .collect(),
                        aggregation_temporality: 2,
                    })),
                },
                Metric {
                    name: format!("summary.{r}.{s}"),
                    description: "a summary".into(),
                    unit: "{request}".into(),
                    metadata: metadata.clone(),
                    data: Some(metric::Data::Summary(Summary {
                        data_points: (0..points)
                            .map(|_| {
                                let n = next();
                                SummaryDataPoint {
                                    attributes: point_attrs(batch, n),
                                    start_time_unix_nano: t0,
                                    time_unix_nano: t0 + n,
                                    count: 100 + n,
                                    sum: 5000.25,
                                    quantile_values: vec![
                                        ValueAtQuantile {
                                            quantile: 0.0,
                                            value: 1.0,
                                        },
                                        ValueAtQuantile {
                                            quantile: 0.5,
                                            value: 20.0 + n as f64,
                                        },
                                        ValueAtQuantile {
                                            quantile: 1.0,
                                            value: 300.0,
                                        },
                                    ],
                                    flags: 0,
                                }
                            })
                            .collect(),
                    })),
                },
                // A metric with no data points (legal; carries no items).
                Metric {
                    name: format!("empty.{r}.{s}"),
                    description: String::new(),
                    unit: String::new(),
                    metadata: Vec::new(),
                    data: Some(metric::Data::Gauge(Gauge {
                        data_points: Vec::new(),
                    })),
                },
            ];
            scope_metrics.push(ScopeMetrics {
                scope: Some(scope(r, s)),
                metrics,
                schema_url: format!("https://opentelemetry.io/schemas/1.{s}.1"),
            });
        }
        resource_metrics.push(ResourceMetrics {
            resource: Some(resource(batch, r)),
            scope_metrics,
            schema_url: format!("https://opentelemetry.io/schemas/1.3{r}.0"),
        });
    }
    ExportMetricsServiceRequest { resource_metrics }
}

pub(super) fn log_request(batch: u64) -> ExportLogsServiceRequest {
    let mut n = 0;
    let bodies = |n: u64| -> Option<AnyValue> {
        let all = every_value(n);
        match n % 10 {
            9 => None,
            i => all[i as usize].value.clone(),
        }
    };
    let mut resource_logs = Vec::new();
    for r in 0..3 {
        let mut scope_logs = Vec::new();
        for s in 0..2 {
            let count = 2 + r * 2 + s;
            let log_records = (0..count)
                .map(|_| {
                    n += 1;
                    let mut attributes = vec![kv("log.id", V::StringValue(format!("{batch}/{n}")))];
                    attributes.extend(every_value(n));
                    LogRecord {
                        time_unix_nano: if n % 4 == 0 {
                            0
                        } else {
                            1_700_000_000_000_000_000 + n
                        },
                        observed_time_unix_nano: 1_700_000_000_000_000_100 + n,
                        severity_number: (n % 25) as i32,
                        severity_text: ["", "INFO", "WARN", "ERROR"][(n % 4) as usize].into(),
                        body: bodies(n),
                        attributes,
                        dropped_attributes_count: 7,
                        flags: 1,
                        trace_id: id16(batch, n),
                        span_id: id8(batch, n),
                        event_name: if n % 2 == 0 {
                            "app.event".into()
                        } else {
                            String::new()
                        },
                    }
                })
                .collect();
            scope_logs.push(ScopeLogs {
                scope: Some(scope(r, s)),
                log_records,
                schema_url: format!("https://opentelemetry.io/schemas/1.{s}.2"),
            });
        }
        resource_logs.push(ResourceLogs {
            resource: Some(resource(batch, r)),
            scope_logs,
            schema_url: String::new(),
        });
    }
    ExportLogsServiceRequest { resource_logs }
}
