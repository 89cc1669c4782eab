//! The request templates shardgate-load sends: encoded once per variant, with placeholders
//! patched per request (ids, times) so that every item is unique without re-encoding.

use super::*;

/// How an id is written at an offset.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Patch {
    /// 8 bytes big-endian of `seq + 1` (span id, trace id's second half).
    SeqBe,
    /// 8 bytes big-endian of the run id (trace id's first half).
    RunBe,
    /// fixed64 little-endian of `ID_TIME_BASE_NS + seq`.
    TimeLe,
    /// 16 lowercase hex digits of `seq + 1`.
    SeqHex,
    /// 16 lowercase hex digits of the run id.
    RunHex,
    /// 19 decimal digits of `ID_TIME_BASE_NS + seq`.
    TimeDec,
}

/// One pre-encoded body and where its ids sit: `(offset, item index, how)`.
pub(crate) struct Template {
    /// The encoded request.
    pub(crate) body: Vec<u8>,
    /// Where its ids sit.
    pub(crate) patches: Vec<(usize, u32, Patch)>,
}

/// Writes the id `how` says at `offset` of `body`.
pub(crate) fn patch(body: &mut [u8], offset: usize, how: Patch, seq: u64, run_id: u64) {
    let text;
    let bytes: &[u8] = match how {
        Patch::SeqBe => &(seq + 1).to_be_bytes(),
        Patch::RunBe => &run_id.to_be_bytes(),
        Patch::TimeLe => &(ID_TIME_BASE_NS + seq).to_le_bytes(),
        Patch::SeqHex => {
            text = format!("{:016x}", seq + 1);
            text.as_bytes()
        }
        Patch::RunHex => {
            text = format!("{run_id:016x}");
            text.as_bytes()
        }
        Patch::TimeDec => {
            text = format!("{}", ID_TIME_BASE_NS + seq);
            text.as_bytes()
        }
    };
    if let Some(target) = body.get_mut(offset..offset + bytes.len()) {
        target.copy_from_slice(bytes);
    }
}

pub(crate) fn kv(key: &str, value: any_value::Value) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(value) }),
        ..Default::default()
    }
}

/// `n` attributes of mixed types, like HTTP server instrumentation produces.
pub(crate) fn attributes(n: usize, variant: usize, item: usize) -> Vec<KeyValue> {
    use any_value::Value::{BoolValue, DoubleValue, IntValue, StringValue};
    const KEYS: [&str; 10] = [
        "http.request.method",
        "url.path",
        "server.address",
        "server.port",
        "http.response.status_code",
        "user_agent.original",
        "network.protocol.version",
        "http.response.body.size",
        "client.address",
        "retry",
    ];
    (0..n)
        .map(|a| {
            let key = KEYS.get(a % KEYS.len()).copied().unwrap_or("attr");
            let key = if a < KEYS.len() {
                key.to_owned()
            } else {
                format!("{key}.{a}")
            };
            let value = match a % 5 {
                0 => StringValue(format!("/api/v{variant}/orders/{item}")),
                1 => IntValue(200 + (item % 7) as i64),
                2 => StringValue("Mozilla/5.0 (X11; Linux x86_64) shardgate-load".into()),
                3 => DoubleValue(0.25 * item as f64),
                _ => BoolValue(item.is_multiple_of(2)),
            };
            kv(&key, value)
        })
        .collect()
}

pub(crate) fn resource(variant: usize) -> Option<Resource> {
    use any_value::Value::StringValue;
    Some(Resource {
        attributes: vec![
            kv("service.name", StringValue("checkout".into())),
            kv("service.version", StringValue("1.4.2".into())),
            kv("host.name", StringValue(format!("web-{variant}"))),
            kv("deployment.environment", StringValue("production".into())),
        ],
        ..Default::default()
    })
}

pub(crate) fn scope() -> Option<InstrumentationScope> {
    Some(InstrumentationScope {
        name: "shardgate-load".into(),
        version: "0.1".into(),
        ..Default::default()
    })
}

/// Encodes ring body `variant` with placeholder ids and finds the offset of each.
pub(crate) fn build_template(
    args: &Args,
    signal: Signal,
    variant: usize,
) -> Result<Template, String> {
    let n = args.items_per_request as usize;
    let attrs = args.attributes_per_item;
    // Placeholder index: unique across the ring so a search cannot hit another body's id.
    let ph = |i: usize| (variant * n + i) as u64;
    let protobuf = match signal {
        Signal::Traces => ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                resource: resource(variant),
                scope_spans: vec![ScopeSpans {
                    scope: scope(),
                    spans: (0..n)
                        .map(|i| {
                            let mut trace_id = 0x7A7A_7A7A_7A7A_7A7Au64.to_be_bytes().to_vec();
                            trace_id.extend_from_slice(&(TRACE_PLACEHOLDER | ph(i)).to_be_bytes());
                            Span {
                                trace_id,
                                span_id: (SPAN_PLACEHOLDER | ph(i)).to_be_bytes().to_vec(),
                                name: format!("GET /api/v1/orders/{}", i % 50),
                                kind: 2,
                                start_time_unix_nano: ID_TIME_BASE_NS + i as u64,
                                end_time_unix_nano: ID_TIME_BASE_NS + 500_000 + i as u64,
                                attributes: attributes(attrs, variant, i),
                                ..Default::default()
                            }
                        })
                        .collect(),
                    ..Default::default()
                }],
                ..Default::default()
            }],
        }
        .encode_to_vec(),
        Signal::Logs => ExportLogsServiceRequest {
            resource_logs: vec![ResourceLogs {
                resource: resource(variant),
                scope_logs: vec![ScopeLogs {
                    scope: scope(),
                    log_records: (0..n)
                        .map(|i| LogRecord {
                            time_unix_nano: ID_TIME_BASE_NS + ID_PLACEHOLDER_NS + ph(i),
                            severity_number: 9,
                            severity_text: "INFO".into(),
                            body: Some(AnyValue {
                                value: Some(any_value::Value::StringValue(format!(
                                    "order {i} accepted for customer {variant}"
                                ))),
                            }),
                            attributes: attributes(attrs, variant, i),
                            ..Default::default()
                        })
                        .collect(),
                    ..Default::default()
                }],
                ..Default::default()
            }],
        }
        .encode_to_vec(),
        Signal::Metrics => ExportMetricsServiceRequest {
            resource_metrics: vec![ResourceMetrics {
                resource: resource(variant),
                scope_metrics: vec![ScopeMetrics {
                    scope: scope(),
                    metrics: (0..n)
                        .map(|i| Metric {
                            name: format!("http.server.active_requests.{}", i % 20),
                            unit: "{request}".into(),
                            data: Some(metric::Data::Gauge(Gauge {
                                data_points: vec![NumberDataPoint {
                                    time_unix_nano: ID_TIME_BASE_NS + ID_PLACEHOLDER_NS + ph(i),
                                    attributes: attributes(attrs, variant, i),
                                    value: Some(number_data_point::Value::AsInt(i as i64)),
                                    ..Default::default()
                                }],
                            })),
                            ..Default::default()
                        })
                        .collect(),
                    ..Default::default()
                }],
                ..Default::default()
            }],
        }
        .encode_to_vec(),
    };
    let body = if args.protocol == Protocol::HttpJson {
        shardgate::otlp::protobuf_to_json(signal, &protobuf).map_err(|e| e.to_string())?
    } else {
        protobuf
    };
    let json = args.protocol == Protocol::HttpJson;
    let mut patches = Vec::with_capacity(n * 3);
    let mut from = 0usize;
    for i in 0..n {
        let wanted: Vec<(Vec<u8>, Patch)> = match (signal, json) {
            (Signal::Traces, false) => vec![
                (
                    0x7A7A_7A7A_7A7A_7A7Au64.to_be_bytes().to_vec(),
                    Patch::RunBe,
                ),
                (
                    (TRACE_PLACEHOLDER | ph(i)).to_be_bytes().to_vec(),
                    Patch::SeqBe,
                ),
                (
                    (SPAN_PLACEHOLDER | ph(i)).to_be_bytes().to_vec(),
                    Patch::SeqBe,
                ),
            ],
            (Signal::Traces, true) => vec![
                (
                    format!(
                        "{:016x}{:016x}",
                        0x7A7A_7A7A_7A7A_7A7Au64,
                        TRACE_PLACEHOLDER | ph(i)
                    )
                    .into_bytes(),
                    Patch::RunHex,
                ),
                (
                    format!("{:016x}", SPAN_PLACEHOLDER | ph(i)).into_bytes(),
                    Patch::SeqHex,
                ),
            ],
            (_, false) => vec![(
                (ID_TIME_BASE_NS + ID_PLACEHOLDER_NS + ph(i))
                    .to_le_bytes()
                    .to_vec(),
                Patch::TimeLe,
            )],
            (_, true) => vec![(
                format!("{}", ID_TIME_BASE_NS + ID_PLACEHOLDER_NS + ph(i)).into_bytes(),
                Patch::TimeDec,
            )],
        };
        for (needle, how) in wanted {
            let at = find(&body, &needle, from)
                .ok_or_else(|| format!("id placeholder of item {i} not found in the encoding"))?;
            patches.push((at, i as u32, how));
            // A JSON trace id is one 32-digit string: its second half is patched separately.
            if matches!(how, Patch::RunHex) {
                patches.push((at + 16, i as u32, Patch::SeqHex));
            }
            from = at + needle.len();
        }
    }
    Ok(Template { body, patches })
}

/// First position of `needle` in `hay` at or after `from`.
pub(crate) fn find(hay: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    hay.get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| p + from)
}
