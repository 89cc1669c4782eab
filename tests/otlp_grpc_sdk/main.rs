//! The real client: `opentelemetry-otlp`'s tonic exporters driven by `opentelemetry_sdk`, sending
//! to shardgate (two shards), which forwards to a recording backend.
//!
//! Each SDK exporter is wrapped in a tee that records, in OTLP protobuf form (converted by
//! `opentelemetry-proto`'s transform, the same code the OTLP exporter uses), exactly what the
//! SDK handed to the exporter. The backend must then hold exactly those items, each once and
//! intact with its resource and scope; explicit checks on top make sure the SDK really
//! produced every value type the test asks for.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::disallowed_types)]

#[path = "../common/mod.rs"]
mod common;
mod logs;
mod metrics;
mod tls;
mod traces;

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

/// A recording backend, shardgate (two shards) forwarding to it, and a runtime for the SDK.
struct Setup {
    backend: Backend,
    config: Config,
    collector: Collector,
    rt: tokio::runtime::Runtime,
}

fn setup() -> Setup {
    let backend = Backend::start();
    let config = Config::to_backend(&backend);
    let collector = Collector::start(&config);
    Setup {
        backend,
        config,
        collector,
        rt: common::runtime(),
    }
}

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
        KeyValue::new("attr.bool", i.is_multiple_of(2)),
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
        ("attr.bool", V::BoolValue(i.is_multiple_of(2))),
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
