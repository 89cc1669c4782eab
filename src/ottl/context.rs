//! OTTL contexts: which item a statement runs on, what encloses it, and the mutable view of
//! one item ([`Target`]) that statements read and edit.

use opentelemetry_proto::tonic::common::v1::{InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::logs::v1::LogRecord;
use opentelemetry_proto::tonic::metrics::v1::Metric;
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::Span;

use crate::signal::Signal;

/// An OTTL context.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Context {
    /// A resource.
    Resource,
    /// An instrumentation scope.
    Scope,
    /// A span.
    Span,
    /// A span event.
    SpanEvent,
    /// A metric.
    Metric,
    /// A metric data point.
    DataPoint,
    /// A log record.
    Log,
}

impl Context {
    /// Its name in configs and in qualified paths (`span.attributes`).
    pub fn name(self) -> &'static str {
        match self {
            Context::Resource => "resource",
            Context::Scope => "scope",
            Context::Span => "span",
            Context::SpanEvent => "spanevent",
            Context::Metric => "metric",
            Context::DataPoint => "datapoint",
            Context::Log => "log",
        }
    }

    /// The context a config or path names (`instrumentation_scope` is the older scope name).
    pub fn parse(name: &str) -> Option<Context> {
        Some(match name {
            "resource" => Context::Resource,
            "scope" | "instrumentation_scope" => Context::Scope,
            "span" => Context::Span,
            "spanevent" => Context::SpanEvent,
            "metric" => Context::Metric,
            "datapoint" => Context::DataPoint,
            "log" => Context::Log,
            _ => return None,
        })
    }

    /// Contexts enclosing this one, outermost first, then itself.
    pub fn chain(self) -> &'static [Context] {
        use Context::*;
        match self {
            Resource => &[Resource],
            Scope => &[Resource, Scope],
            Span => &[Resource, Scope, Span],
            SpanEvent => &[Resource, Scope, Span, SpanEvent],
            Metric => &[Resource, Scope, Metric],
            DataPoint => &[Resource, Scope, Metric, DataPoint],
            Log => &[Resource, Scope, Log],
        }
    }

    /// The contexts of a signal's statements.
    pub fn of_signal(signal: Signal) -> &'static [Context] {
        use Context::*;
        match signal {
            Signal::Traces => &[Resource, Scope, Span, SpanEvent],
            Signal::Metrics => &[Resource, Scope, Metric, DataPoint],
            Signal::Logs => &[Resource, Scope, Log],
        }
    }
}

/// The item a statement runs on.
pub enum Item<'a> {
    /// Resource and scope contexts have no item below them.
    None,
    /// A span.
    Span(&'a mut Span),
    /// Event `1` of span `0`.
    SpanEvent(&'a mut Span, usize),
    /// A metric.
    Metric(&'a mut Metric),
    /// Point `1` of metric `0` (of whichever point type the metric has).
    DataPoint(&'a mut Metric, usize),
    /// A log record.
    Log(&'a mut LogRecord),
}

/// What one statement sees: the item, its scope and resource, and the per-item `cache` map.
pub struct Target<'a> {
    /// The enclosing resource.
    pub resource: &'a mut Resource,
    /// The enclosing scope (a default one when the data has none).
    pub scope: &'a mut InstrumentationScope,
    /// The item.
    pub item: Item<'a>,
    /// The `cache` path: scratch space that lives for one item.
    pub cache: &'a mut Vec<KeyValue>,
}
