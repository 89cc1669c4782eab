//! The real client: `opentelemetry-otlp`'s tonic exporters driven by `opentelemetry_sdk`, sending
//! to shardgate (two shards), which forwards to a recording backend.
//!
//! Each SDK exporter is wrapped in a tee that records, in OTLP protobuf form (converted by
//! `opentelemetry-proto`'s transform, the same code the OTLP exporter uses), exactly what the
//! SDK handed to the exporter. The backend must then hold exactly those items, each once and
//! intact with its resource and scope; explicit checks on top make sure the SDK really
//! produced every value type the test asks for.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_types)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use common::{
    assert_same_items, flatten_logs, flatten_metrics, flatten_traces, hex, Backend, Collector,
    Config, Flat, WAIT,
};
use opentelemetry::logs::{
    AnyValue as LogValue, LogRecord as _, Logger as _, LoggerProvider as _, Severity,
};
use opentelemetry::metrics::MeterProvider as _;
use opentelemetry::trace::{
    Link, Span as _, SpanContext, SpanId, SpanKind, Status, TraceContextExt, TraceFlags, TraceId,
    TraceState, Tracer as _, TracerProvider as _,
};
use opentelemetry::{Array, Context, InstrumentationScope, Key, KeyValue, StringValue, Value};
use opentelemetry_otlp::{WithExportConfig, WithTonicConfig};
use opentelemetry_proto::tonic::collector::logs::v1::ExportLogsServiceRequest;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue as PKeyValue};
use opentelemetry_proto::tonic::logs::v1::LogRecord;
use opentelemetry_proto::tonic::metrics::v1::{metric, number_data_point, Metric};
use opentelemetry_proto::tonic::trace::v1::{span, status, Span};
use opentelemetry_proto::transform::common::tonic::ResourceAttributesWithSchema;
use opentelemetry_sdk::error::OTelSdkResult;
use opentelemetry_sdk::logs::{LogBatch, LogExporter, SdkLoggerProvider};
use opentelemetry_sdk::metrics::data::ResourceMetrics;
use opentelemetry_sdk::metrics::exporter::PushMetricExporter;
use opentelemetry_sdk::metrics::{PeriodicReader, SdkMeterProvider, Temporality};
use opentelemetry_sdk::trace::{SdkTracerProvider, SpanData, SpanExporter};
use opentelemetry_sdk::Resource;

/// What the SDK handed to the exporter (converted to OTLP), and whether each export succeeded.
struct Sent<T> {
    requests: Mutex<Vec<T>>,
    failures: Mutex<Vec<String>>,
}

impl<T: Clone> Sent<T> {
    fn new() -> Arc<Self> {
        Arc::new(Sent {
            requests: Mutex::new(Vec::new()),
            failures: Mutex::new(Vec::new()),
        })
    }

    fn requests(&self) -> Vec<T> {
        self.requests.lock().unwrap().clone()
    }

    fn assert_no_failures(&self) {
        let failures = self.failures.lock().unwrap();
        assert!(
            failures.is_empty(),
            "the SDK's OTLP exporter failed: {failures:?}"
        );
    }
}

/// Records what goes through, then forwards to `inner`.
struct Tee<E, T> {
    inner: E,
    resource: Option<Resource>,
    sent: Arc<Sent<T>>,
}

impl<E: std::fmt::Debug, T> std::fmt::Debug for Tee<E, T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tee").field("inner", &self.inner).finish()
    }
}

async fn recording<T: Send + Sync + 'static>(
    sent: Arc<Sent<T>>,
    export: impl Future<Output = OTelSdkResult> + Send,
) -> OTelSdkResult {
    let result = export.await;
    if let Err(error) = &result {
        sent.failures.lock().unwrap().push(error.to_string());
    }
    result
}

impl<E> Tee<E, ExportTraceServiceRequest> {
    fn resource(&self) -> ResourceAttributesWithSchema {
        ResourceAttributesWithSchema::from(self.resource.as_ref().expect("set_resource was called"))
    }
}

impl<E: SpanExporter> SpanExporter for Tee<E, ExportTraceServiceRequest> {
    fn export(&self, batch: Vec<SpanData>) -> impl Future<Output = OTelSdkResult> + Send {
        let resource_spans =
            opentelemetry_proto::transform::trace::tonic::group_spans_by_resource_and_scope(
                batch.clone(),
                &self.resource(),
            );
        self.sent
            .requests
            .lock()
            .unwrap()
            .push(ExportTraceServiceRequest { resource_spans });
        recording(self.sent.clone(), self.inner.export(batch))
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.resource = Some(resource.clone());
        self.inner.set_resource(resource);
    }
}

impl<E: LogExporter> LogExporter for Tee<E, ExportLogsServiceRequest> {
    fn export(&self, batch: LogBatch<'_>) -> impl Future<Output = OTelSdkResult> + Send {
        let resource = ResourceAttributesWithSchema::from(
            self.resource.as_ref().expect("set_resource was called"),
        );
        let resource_logs =
            opentelemetry_proto::transform::logs::tonic::group_logs_by_resource_and_scope(
                &batch, &resource,
            );
        self.sent
            .requests
            .lock()
            .unwrap()
            .push(ExportLogsServiceRequest { resource_logs });
        recording(self.sent.clone(), self.inner.export(batch))
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn set_resource(&mut self, resource: &Resource) {
        self.resource = Some(resource.clone());
        self.inner.set_resource(resource);
    }
}

impl<E: PushMetricExporter> PushMetricExporter for Tee<E, ExportMetricsServiceRequest> {
    fn export(&self, metrics: &ResourceMetrics) -> impl Future<Output = OTelSdkResult> + Send {
        self.sent
            .requests
            .lock()
            .unwrap()
            .push(ExportMetricsServiceRequest::from(metrics));
        recording(self.sent.clone(), self.inner.export(metrics))
    }

    fn force_flush(&self) -> OTelSdkResult {
        self.inner.force_flush()
    }

    fn shutdown_with_timeout(&self, timeout: Duration) -> OTelSdkResult {
        self.inner.shutdown_with_timeout(timeout)
    }

    fn temporality(&self) -> Temporality {
        self.inner.temporality()
    }
}

fn tee<E, T>(inner: E) -> (Tee<E, T>, Arc<Sent<T>>)
where
    T: Clone,
{
    let sent = Sent::new();
    (
        Tee {
            inner,
            resource: None,
            sent: sent.clone(),
        },
        sent,
    )
}

fn resource(service: &'static str) -> Resource {
    Resource::builder()
        .with_service_name(service)
        .with_attributes([
            KeyValue::new("service.version", "9.8.7"),
            KeyValue::new("deployment.environment.name", "test"),
            KeyValue::new("host.cores", 2_i64),
            KeyValue::new("host.canary", true),
        ])
        .build()
}

fn scope(name: &'static str) -> InstrumentationScope {
    InstrumentationScope::builder(name)
        .with_version("1.2.3")
        .with_schema_url("https://opentelemetry.io/schemas/1.26.0")
        .with_attributes([KeyValue::new("scope.owner", "tests")])
        .build()
}

/// Attributes of every type the API has.
fn typed_attributes(i: usize) -> Vec<KeyValue> {
    vec![
        KeyValue::new("attr.bool", i % 2 == 0),
        KeyValue::new("attr.int", i as i64 * 1_000_000_007),
        KeyValue::new("attr.double", i as f64 + 0.25),
        KeyValue::new("attr.string", format!("value-{i}-ünïcødé")),
        KeyValue::new(
            "attr.bools",
            Value::Array(Array::Bool(vec![true, false, true])),
        ),
        KeyValue::new("attr.ints", Value::Array(Array::I64(vec![-1, 0, i64::MAX]))),
        KeyValue::new("attr.doubles", Value::Array(Array::F64(vec![-0.5, 1e300]))),
        KeyValue::new(
            "attr.strings",
            Value::Array(Array::String(vec![
                StringValue::from("a"),
                StringValue::from(""),
            ])),
        ),
        KeyValue::new("seq", i as i64),
    ]
}

fn attr<'a>(attributes: &'a [PKeyValue], key: &str) -> Option<&'a any_value::Value> {
    attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref())
        .and_then(|v| v.value.as_ref())
}

fn string_attr(attributes: &[PKeyValue], key: &str) -> Option<String> {
    match attr(attributes, key) {
        Some(any_value::Value::StringValue(s)) => Some(s.clone()),
        _ => None,
    }
}

fn int_attr(attributes: &[PKeyValue], key: &str) -> Option<i64> {
    match attr(attributes, key) {
        Some(any_value::Value::IntValue(v)) => Some(*v),
        _ => None,
    }
}

fn assert_typed_attributes(attributes: &[PKeyValue], i: usize, context: &str) {
    use any_value::Value as V;
    let arr = |vals: Vec<V>| {
        V::ArrayValue(opentelemetry_proto::tonic::common::v1::ArrayValue {
            values: vals
                .into_iter()
                .map(|v| AnyValue { value: Some(v) })
                .collect(),
        })
    };
    let expected = [
        ("attr.bool", V::BoolValue(i % 2 == 0)),
        ("attr.int", V::IntValue(i as i64 * 1_000_000_007)),
        ("attr.double", V::DoubleValue(i as f64 + 0.25)),
        ("attr.string", V::StringValue(format!("value-{i}-ünïcødé"))),
        (
            "attr.bools",
            arr(vec![
                V::BoolValue(true),
                V::BoolValue(false),
                V::BoolValue(true),
            ]),
        ),
        (
            "attr.ints",
            arr(vec![V::IntValue(-1), V::IntValue(0), V::IntValue(i64::MAX)]),
        ),
        (
            "attr.doubles",
            arr(vec![V::DoubleValue(-0.5), V::DoubleValue(1e300)]),
        ),
        (
            "attr.strings",
            arr(vec![
                V::StringValue("a".into()),
                V::StringValue(String::new()),
            ]),
        ),
        ("seq", V::IntValue(i as i64)),
    ];
    for (key, value) in expected {
        assert_eq!(
            attr(attributes, key),
            Some(&value),
            "{context}: attribute {key}"
        );
    }
}

fn assert_resource_and_scope<T>(item: &Flat<T>, service: &str, scope_name: &str, context: &str) {
    let resource = item.resource.as_ref().expect("resource present");
    assert_eq!(
        string_attr(&resource.attributes, "service.name").as_deref(),
        Some(service),
        "{context}"
    );
    assert_eq!(
        string_attr(&resource.attributes, "service.version").as_deref(),
        Some("9.8.7"),
        "{context}"
    );
    assert_eq!(
        int_attr(&resource.attributes, "host.cores"),
        Some(2),
        "{context}"
    );
    assert_eq!(
        string_attr(&resource.attributes, "telemetry.sdk.language").as_deref(),
        Some("rust"),
        "{context}"
    );
    let scope = item.scope.as_ref().expect("scope present");
    assert_eq!(scope.name, scope_name, "{context}");
    assert_eq!(scope.version, "1.2.3", "{context}");
    assert_eq!(
        string_attr(&scope.attributes, "scope.owner").as_deref(),
        Some("tests"),
        "{context}"
    );
    assert_eq!(
        item.scope_schema_url, "https://opentelemetry.io/schemas/1.26.0",
        "{context}"
    );
}

/// Waits for the backend to hold `want` items, then a little longer so that duplicates (which
/// would come in the same batches) have time to show.
fn settle(count: impl Fn() -> usize, want: usize) {
    let reached = common::wait_until(WAIT, || count() >= want);
    std::thread::sleep(Duration::from_millis(1000));
    assert!(
        reached,
        "backend got {} of {want} items within {WAIT:?}",
        count()
    );
}

/// Scenario: the SDK's batch span processor exports 40 spans (8 of them children, every span
/// with typed attributes, two events, a link with trace state, a status, a kind) through the
/// gzip-compressing tonic exporter to shardgate with two shards. Guarantee: the backend gets
/// every span exactly once, byte-for-byte what the SDK exported (ids, parent, name, kind,
/// times, attributes, events, links, status), under the SDK's resource (service.name etc.) and
/// scope (name, version, attributes, schema URL).
#[test]
fn sdk_traces_arrive_exactly_once_and_intact() {
    let backend = Backend::start();
    let config = Config::to_backend(&backend);
    let collector = Collector::start(&config);
    let rt = common::runtime();
    let guard = rt.enter();
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_tonic()
        .with_endpoint(config.grpc_url())
        .with_compression(opentelemetry_otlp::Compression::Gzip)
        .with_timeout(Duration::from_secs(10))
        .build()
        .expect("span exporter");
    let (exporter, sent) = tee::<_, ExportTraceServiceRequest>(exporter);
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_resource(resource("sdk-traces"))
        .build();
    let tracer = provider.tracer_with_scope(scope("sdk-trace-scope"));

    let linked = SpanContext::new(
        TraceId::from_bytes([7; 16]),
        SpanId::from_bytes([9; 8]),
        TraceFlags::SAMPLED,
        true,
        TraceState::from_key_value([("vendor", "abc"), ("other", "x-y")]).expect("trace state"),
    );
    let kinds = [
        SpanKind::Internal,
        SpanKind::Server,
        SpanKind::Client,
        SpanKind::Producer,
        SpanKind::Consumer,
    ];
    // name → (trace id, span id, parent span id)
    let mut made: BTreeMap<String, (TraceId, SpanId, Option<SpanId>)> = BTreeMap::new();
    for i in 0..32_usize {
        let name = format!("span-{i:02}");
        let mut span = tracer
            .span_builder(name.clone())
            .with_kind(kinds[i % kinds.len()].clone())
            .with_attributes(typed_attributes(i))
            .with_links(vec![Link::new(
                linked.clone(),
                vec![KeyValue::new("link.seq", i as i64)],
                0,
            )])
            .start(&tracer);
        span.add_event(
            "event.first",
            vec![
                KeyValue::new("event.seq", i as i64),
                KeyValue::new("event.ok", true),
            ],
        );
        span.add_event("event.second", vec![KeyValue::new("event.note", "second")]);
        match i % 3 {
            0 => span.set_status(Status::error(format!("failure {i}"))),
            1 => span.set_status(Status::Ok),
            _ => {}
        }
        let context = span.span_context().clone();
        made.insert(name.clone(), (context.trace_id(), context.span_id(), None));
        if i % 4 == 0 {
            let parent = Context::new().with_remote_span_context(context.clone());
            let child_name = format!("child-of-{i:02}");
            let mut child = tracer
                .span_builder(child_name.clone())
                .with_attributes(typed_attributes(100 + i))
                .start_with_context(&tracer, &parent);
            let child_context = child.span_context().clone();
            made.insert(
                child_name,
                (
                    child_context.trace_id(),
                    child_context.span_id(),
                    Some(context.span_id()),
                ),
            );
            child.end();
        }
        span.end();
    }
    drop(guard);
    provider.force_flush().expect("force_flush");
    provider.shutdown().expect("shutdown");
    sent.assert_no_failures();

    let expected = flatten_traces(&sent.requests());
    assert_eq!(
        expected.len(),
        made.len(),
        "the tee saw every span the SDK made"
    );
    settle(|| backend.spans().len(), expected.len());
    let actual = backend.spans();
    assert_same_items("span", &expected, &actual, |s: &Span| hex(&s.span_id));

    // Explicit checks: the SDK really produced what the test asked for, and it got through.
    let by_name: BTreeMap<&str, &Flat<Span>> =
        actual.iter().map(|f| (f.item.name.as_str(), f)).collect();
    assert_eq!(by_name.len(), made.len(), "span names are unique");
    for (name, (trace_id, span_id, parent)) in &made {
        let flat = by_name
            .get(name.as_str())
            .unwrap_or_else(|| panic!("span {name} missing"));
        let s = &flat.item;
        assert_eq!(s.trace_id, trace_id.to_bytes().to_vec(), "{name} trace id");
        assert_eq!(s.span_id, span_id.to_bytes().to_vec(), "{name} span id");
        assert_eq!(
            s.parent_span_id,
            parent.map(|p| p.to_bytes().to_vec()).unwrap_or_default(),
            "{name} parent"
        );
        assert_resource_and_scope(flat, "sdk-traces", "sdk-trace-scope", name);
        assert!(
            s.end_time_unix_nano >= s.start_time_unix_nano && s.start_time_unix_nano > 0,
            "{name} times"
        );
        let seq = int_attr(&s.attributes, "seq").expect("seq attribute") as usize;
        assert_typed_attributes(&s.attributes, seq, name);
        if parent.is_some() {
            continue;
        }
        let i = seq;
        let want_kind = [
            span::SpanKind::Internal,
            span::SpanKind::Server,
            span::SpanKind::Client,
            span::SpanKind::Producer,
            span::SpanKind::Consumer,
        ][i % 5];
        assert_eq!(s.kind, want_kind as i32, "{name} kind");
        let names: Vec<&str> = s.events.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["event.first", "event.second"], "{name} events");
        assert_eq!(
            int_attr(&s.events[0].attributes, "event.seq"),
            Some(i as i64),
            "{name} event attrs"
        );
        assert_eq!(s.links.len(), 1, "{name} links");
        let link = &s.links[0];
        assert_eq!(link.trace_id, vec![7; 16], "{name} link trace id");
        assert_eq!(link.span_id, vec![9; 8], "{name} link span id");
        let states: BTreeSet<&str> = link.trace_state.split(',').collect();
        assert_eq!(
            states,
            BTreeSet::from(["vendor=abc", "other=x-y"]),
            "{name} link trace state"
        );
        assert_eq!(
            int_attr(&link.attributes, "link.seq"),
            Some(i as i64),
            "{name} link attrs"
        );
        let st = s.status.clone().unwrap_or_default();
        match i % 3 {
            0 => {
                assert_eq!(st.code, status::StatusCode::Error as i32, "{name} status");
                assert_eq!(st.message, format!("failure {i}"), "{name} status message");
            }
            1 => assert_eq!(st.code, status::StatusCode::Ok as i32, "{name} status"),
            _ => assert_eq!(st.code, status::StatusCode::Unset as i32, "{name} status"),
        }
    }
    drop(collector);
}

/// Scenario: the SDK's periodic reader (long interval, so only explicit flushes export) sends
/// counters (u64, f64), an up-down counter, histograms (f64 with custom bounds, u64) and gauges
/// (u64, i64, f64), each with several attribute sets, in two collections (force_flush, then
/// more measurements and shutdown), to shardgate with two shards. Guarantee: the backend gets
/// every data point exactly once, byte-for-byte what the SDK exported (values, attributes,
/// times, buckets, temporality, monotonicity, name, unit, description), under the SDK's
/// resource and scope.
#[test]
fn sdk_metrics_arrive_exactly_once_and_intact() {
    let backend = Backend::start();
    let config = Config::to_backend(&backend);
    let collector = Collector::start(&config);
    let rt = common::runtime();
    let guard = rt.enter();
    let exporter = opentelemetry_otlp::MetricExporter::builder()
        .with_tonic()
        .with_endpoint(config.grpc_url())
        .with_timeout(Duration::from_secs(10))
        .build()
        .expect("metric exporter");
    let (exporter, sent) = tee::<_, ExportMetricsServiceRequest>(exporter);
    let reader = PeriodicReader::builder(exporter)
        .with_interval(Duration::from_secs(3600))
        .build();
    let provider = SdkMeterProvider::builder()
        .with_reader(reader)
        .with_resource(resource("sdk-metrics"))
        .build();
    drop(guard);
    let meter = provider.meter_with_scope(scope("sdk-metric-scope"));
    let requests = meter
        .u64_counter("http.server.requests")
        .with_description("Requests served")
        .with_unit("{request}")
        .build();
    let bytes = meter
        .f64_counter("http.server.bytes")
        .with_unit("By")
        .build();
    let queue = meter
        .i64_up_down_counter("queue.depth")
        .with_description("Items queued")
        .build();
    let latency = meter
        .f64_histogram("http.server.duration")
        .with_unit("ms")
        .with_boundaries(vec![1.0, 5.0, 10.0, 50.0])
        .build();
    let sizes = meter.u64_histogram("payload.size").with_unit("By").build();
    let temperature = meter.f64_gauge("room.temperature").with_unit("Cel").build();
    let free = meter.u64_gauge("disk.free").build();
    let delta = meter.i64_gauge("balance.delta").build();

    let routes = ["/a", "/b", "/c"];
    for round in 0..2_u64 {
        for (r, route) in routes.iter().enumerate() {
            let attrs = [
                KeyValue::new("http.route", *route),
                KeyValue::new("http.ok", r % 2 == 0),
                KeyValue::new("shard.hint", r as i64),
            ];
            let r = r as u64;
            requests.add(5 + r + round * 10, &attrs);
            bytes.add(1.5 * (r + 1) as f64, &attrs);
            queue.add(3 - r as i64 - round as i64 * 5, &attrs);
            for v in [0.5, 3.0, 7.0, 20.0 + r as f64, 400.0] {
                latency.record(v + round as f64, &attrs);
            }
            sizes.record(1024 * (r + 1) + round, &attrs);
            temperature.record(21.5 + r as f64 + round as f64, &attrs);
            free.record(1 << (30 + r + round), &attrs);
            delta.record(-(r as i64) - round as i64, &attrs);
        }
        if round == 0 {
            provider.force_flush().expect("force_flush");
        }
    }
    provider.shutdown().expect("shutdown");
    sent.assert_no_failures();

    let expected = flatten_metrics(&sent.requests());
    // 8 instruments × 3 attribute sets × 2 collections.
    assert_eq!(
        expected.len(),
        8 * 3 * 2,
        "the tee saw two collections of every point"
    );
    settle(|| backend.points().len(), expected.len());
    let actual = backend.points();
    assert_same_items("data point", &expected, &actual, point_key);

    // Explicit checks on what arrived.
    let names: BTreeSet<&str> = actual.iter().map(|f| f.item.name.as_str()).collect();
    assert_eq!(
        names,
        BTreeSet::from([
            "http.server.requests",
            "http.server.bytes",
            "queue.depth",
            "http.server.duration",
            "payload.size",
            "room.temperature",
            "disk.free",
            "balance.delta"
        ])
    );
    for flat in &actual {
        let m = &flat.item;
        assert_resource_and_scope(flat, "sdk-metrics", "sdk-metric-scope", &m.name);
        match (m.name.as_str(), &m.data) {
            ("http.server.requests", Some(metric::Data::Sum(s))) => {
                assert!(s.is_monotonic);
                assert_eq!(m.unit, "{request}");
                assert_eq!(m.description, "Requests served");
                assert!(matches!(
                    s.data_points[0].value,
                    Some(number_data_point::Value::AsInt(_))
                ));
            }
            ("http.server.bytes", Some(metric::Data::Sum(s))) => {
                assert!(s.is_monotonic);
                assert!(matches!(
                    s.data_points[0].value,
                    Some(number_data_point::Value::AsDouble(_))
                ));
            }
            ("queue.depth", Some(metric::Data::Sum(s))) => assert!(!s.is_monotonic),
            ("http.server.duration", Some(metric::Data::Histogram(h))) => {
                let p = &h.data_points[0];
                assert_eq!(p.explicit_bounds, vec![1.0, 5.0, 10.0, 50.0]);
                assert_eq!(p.bucket_counts.len(), 5);
                // Cumulative (the exporter's default): the second collection holds both rounds.
                assert_eq!(h.aggregation_temporality, 2, "cumulative");
                let want = if is_second(flat, &actual) { 10 } else { 5 };
                assert_eq!(p.count, want, "histogram count");
                assert_eq!(
                    p.bucket_counts.iter().sum::<u64>(),
                    want,
                    "bucket counts add up"
                );
            }
            ("payload.size", Some(metric::Data::Histogram(_))) => {}
            ("room.temperature" | "disk.free" | "balance.delta", Some(metric::Data::Gauge(_))) => {}
            (name, data) => panic!("metric {name} arrived with unexpected data {data:?}"),
        }
    }
    drop(collector);
}

/// Whether `flat` is from the later of the two collections of its series.
fn is_second(flat: &Flat<Metric>, all: &[Flat<Metric>]) -> bool {
    let key = series_key(&flat.item);
    let mine = point_time(&flat.item);
    all.iter()
        .filter(|f| series_key(&f.item) == key)
        .any(|f| point_time(&f.item) < mine)
}

fn point_attrs_and_time(m: &Metric) -> (Vec<PKeyValue>, u64) {
    match &m.data {
        Some(metric::Data::Gauge(g)) => (
            g.data_points[0].attributes.clone(),
            g.data_points[0].time_unix_nano,
        ),
        Some(metric::Data::Sum(s)) => (
            s.data_points[0].attributes.clone(),
            s.data_points[0].time_unix_nano,
        ),
        Some(metric::Data::Histogram(h)) => (
            h.data_points[0].attributes.clone(),
            h.data_points[0].time_unix_nano,
        ),
        Some(metric::Data::ExponentialHistogram(h)) => (
            h.data_points[0].attributes.clone(),
            h.data_points[0].time_unix_nano,
        ),
        Some(metric::Data::Summary(s)) => (
            s.data_points[0].attributes.clone(),
            s.data_points[0].time_unix_nano,
        ),
        None => (Vec::new(), 0),
    }
}

fn point_time(m: &Metric) -> u64 {
    point_attrs_and_time(m).1
}

fn series_key(m: &Metric) -> String {
    let (mut attrs, _) = point_attrs_and_time(m);
    attrs.sort_by(|a, b| a.key.cmp(&b.key));
    format!("{} {:?}", m.name, attrs)
}

/// A data point's identity: metric name, attribute set and timestamp.
fn point_key(m: &Metric) -> String {
    format!("{} @{}", series_key(m), point_time(m))
}

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
        3 => LogValue::Boolean(i % 2 == 0),
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
    let backend = Backend::start();
    let config = Config::to_backend(&backend);
    let collector = Collector::start(&config);
    let rt = common::runtime();
    let guard = rt.enter();
    let exporter = opentelemetry_otlp::LogExporter::builder()
        .with_tonic()
        .with_endpoint(config.grpc_url())
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
    settle(|| backend.log_records().len(), expected.len());
    let actual = backend.log_records();
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
        if i % 2 == 0 {
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
    drop(collector);
}
