//! Logs from the SDK's tonic log exporter: every body and attribute value type.

use super::*;

fn log_body(i: usize) -> LogValue {
    let map: std::collections::HashMap<Key, LogValue> = [
        (Key::from("nested.int"), LogValue::Int(7)),
        (
            Key::from("nested.list"),
            LogValue::ListAny(Box::new(vec![
                LogValue::Boolean(false),
                LogValue::Double(2.5),
            ])),
        ),
        (
            Key::from("nested.map"),
            LogValue::Map(Box::new(
                [(Key::from("deep"), LogValue::String("yes".into()))]
                    .into_iter()
                    .collect(),
            )),
        ),
        (
            Key::from("nested.bytes"),
            LogValue::Bytes(Box::new(vec![0, 255, 10])),
        ),
    ]
    .into_iter()
    .collect();
    match i % 7 {
        0 => LogValue::String(format!("log line {i} – ✓").into()),
        1 => LogValue::Int(-(i as i64) * 1_000_000_000_000),
        2 => LogValue::Double(i as f64 / 3.0),
        3 => LogValue::Boolean(i.is_multiple_of(2)),
        4 => LogValue::Bytes(Box::new((0..=255u8).chain([i as u8]).collect())),
        5 => LogValue::ListAny(Box::new(vec![
            LogValue::Int(1),
            LogValue::String("two".into()),
            LogValue::ListAny(Box::new(vec![
                LogValue::Double(3.0),
                LogValue::Bytes(Box::new(vec![4])),
            ])),
            LogValue::Map(Box::new(map)),
        ])),
        _ => LogValue::Map(Box::new(map)),
    }
}

/// Scenario: the SDK's batch log processor exports 42 log records emitted through the
/// `opentelemetry::logs` API — bodies of every AnyValue type (string, int, double, bool, bytes,
/// list, map, nested), typed attributes incl. bytes and maps, severity, event name, timestamps
/// and trace context — to shardgate with two shards. Guarantee: the backend gets every record
/// exactly once, byte-for-byte what the SDK exported, under the SDK's resource and scope.
#[test]
fn sdk_logs_arrive_exactly_once_and_intact() {
    let s = setup();
    let guard = s.rt.enter();
    let exporter = opentelemetry_otlp::LogExporter::builder()
        .with_tonic()
        .with_endpoint(s.config.grpc_url())
        .with_timeout(Duration::from_secs(10))
        .build()
        .expect("log exporter");
    let (exporter, sent) = tee::<_, ExportLogsServiceRequest>(exporter);
    let provider = SdkLoggerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(resource("sdk-logs"))
        .build();
    drop(guard);
    let logger = provider.logger_with_scope(scope("sdk-log-scope"));
    let severities = [
        (Severity::Trace, "TRACE"),
        (Severity::Debug2, "DEBUG2"),
        (Severity::Info, "INFO"),
        (Severity::Warn4, "WARN4"),
        (Severity::Error, "ERROR"),
        (Severity::Fatal, "FATAL"),
    ];
    let count = 42_usize;
    for i in 0..count {
        let mut record = logger.create_log_record();
        let (severity, text) = severities[i % severities.len()];
        record.set_severity_number(severity);
        record.set_severity_text(text);
        record.set_event_name("test.event");
        record
            .set_timestamp(SystemTime::UNIX_EPOCH + Duration::from_secs(1_700_000_000 + i as u64));
        record.set_observed_timestamp(SystemTime::now());
        record.set_body(log_body(i));
        record.add_attribute("seq", i as i64);
        record.add_attribute("attr.bool", true);
        record.add_attribute("attr.double", 0.5);
        record.add_attribute("attr.string", "text");
        record.add_attribute("attr.bytes", LogValue::Bytes(Box::new(vec![1, 2, 3])));
        record.add_attribute(
            "attr.list",
            LogValue::ListAny(Box::new(vec![LogValue::Int(1), LogValue::Boolean(true)])),
        );
        record.add_attribute(
            "attr.map",
            LogValue::Map(Box::new(
                [(Key::from("k"), LogValue::String("v".into()))]
                    .into_iter()
                    .collect(),
            )),
        );
        if i % 2 == 0 {
            record.set_trace_context(
                TraceId::from_bytes([i as u8 + 1; 16]),
                SpanId::from_bytes([i as u8 + 2; 8]),
                Some(TraceFlags::SAMPLED),
            );
        }
        logger.emit(record);
    }
    provider.force_flush().expect("force_flush");
    provider.shutdown().expect("shutdown");
    sent.assert_no_failures();

    let expected = flatten_logs(&sent.requests());
    assert_eq!(expected.len(), count, "the tee saw every record");
    let key = |r: &LogRecord| format!("{:04}", int_attr(&r.attributes, "seq").unwrap_or(-1));
    settle(|| s.backend.log_records().len(), expected.len());
    let actual = s.backend.log_records();
    assert_same_items("log record", &expected, &actual, key);

    // Explicit checks: every body type made it, as did the record's other fields.
    let mut kinds = BTreeSet::new();
    for flat in &actual {
        let r = &flat.item;
        let i = int_attr(&r.attributes, "seq").expect("seq") as usize;
        let context = format!("log record {i}");
        assert_resource_and_scope(flat, "sdk-logs", "sdk-log-scope", &context);
        assert_eq!(r.event_name, "test.event", "{context}");
        assert_eq!(
            r.severity_text,
            severities[i % severities.len()].1,
            "{context}"
        );
        assert_eq!(
            r.time_unix_nano,
            (1_700_000_000 + i as u64) * 1_000_000_000,
            "{context}"
        );
        assert!(r.observed_time_unix_nano > 0, "{context}");
        if i.is_multiple_of(2) {
            assert_eq!(r.trace_id, vec![i as u8 + 1; 16], "{context}");
            assert_eq!(r.span_id, vec![i as u8 + 2; 8], "{context}");
        }
        assert!(
            matches!(attr(&r.attributes, "attr.bytes"), Some(any_value::Value::BytesValue(b)) if b == &vec![1, 2, 3]),
            "{context}: bytes attribute"
        );
        assert!(
            matches!(
                attr(&r.attributes, "attr.map"),
                Some(any_value::Value::KvlistValue(_))
            ),
            "{context}: map attribute"
        );
        let body = r
            .body
            .as_ref()
            .and_then(|b| b.value.as_ref())
            .expect("body");
        kinds.insert(match body {
            any_value::Value::StringValue(_) => "string",
            any_value::Value::BoolValue(_) => "bool",
            any_value::Value::IntValue(_) => "int",
            any_value::Value::DoubleValue(_) => "double",
            any_value::Value::ArrayValue(_) => "array",
            any_value::Value::KvlistValue(_) => "kvlist",
            any_value::Value::BytesValue(b) => {
                assert_eq!(b.len(), 257, "{context}: bytes body");
                "bytes"
            }
            _ => "other",
        });
    }
    assert_eq!(
        kinds,
        BTreeSet::from(["string", "bool", "int", "double", "array", "kvlist", "bytes"]),
        "every body type arrived"
    );
    drop(s.collector);
}
