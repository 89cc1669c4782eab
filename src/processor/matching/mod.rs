//! `include`/`exclude` evaluation for the `attributes` processor, as otelcol's filterspan,
//! filterlog and filtermetric with `match_type: strict|regexp`.
//!
//! Every property that is set must match (AND); a property that is not set is not checked.
//! An item is processed when it matches `include` (if set) and does not match `exclude`
//! (if set). Resource-level properties (`services`, `resources`) depend only on the resource,
//! so [`Selector::resource_may_match`] lets the caller skip decoding a chunk's items when
//! `include` already fails on its resource.

pub mod config;

use opentelemetry_proto::tonic::common::v1::{any_value::Value, InstrumentationScope, KeyValue};

use super::actions::{as_string, get};
use crate::config::{AttrMatch, ConfigValue, Filter, LibraryMatch, MatchConfig};

/// otelcol's stand-in service name for a resource without `service.name`.
const NIL_SERVICE_NAME: &str = "<nil-service-name>";

/// OTLP span kinds as otelcol's `traceutil.SpanKindStr` spells them, by enum number.
const SPAN_KINDS: [&str; 6] = [
    "SPAN_KIND_UNSPECIFIED",
    "SPAN_KIND_INTERNAL",
    "SPAN_KIND_SERVER",
    "SPAN_KIND_CLIENT",
    "SPAN_KIND_PRODUCER",
    "SPAN_KIND_CONSUMER",
];

/// What a matcher can see of one span, log record or metric data point.
pub struct Item<'a> {
    /// Resource attributes.
    pub resource: &'a [KeyValue],
    /// The instrumentation scope, if any.
    pub scope: Option<&'a InstrumentationScope>,
    /// The item's own attributes.
    pub attributes: &'a [KeyValue],
    /// Signal-specific fields.
    pub fields: Fields<'a>,
}

/// Signal-specific fields of an [`Item`].
pub enum Fields<'a> {
    /// A span's name and kind.
    Span {
        /// Span name.
        name: &'a str,
        /// Span kind enum number.
        kind: i32,
    },
    /// A log record's body and severity.
    Log {
        /// Body value.
        body: Option<&'a Value>,
        /// Severity text.
        severity_text: &'a str,
        /// Severity number.
        severity_number: i32,
    },
    /// A data point's metric name.
    Metric {
        /// Metric name.
        name: &'a str,
    },
}

/// Compiled include/exclude.
#[derive(Clone, Debug, Default)]
pub struct Selector {
    include: Option<Box<MatchConfig>>,
    exclude: Option<Box<MatchConfig>>,
}

fn any(filters: &[Filter], text: &str) -> bool {
    filters.is_empty() || filters.iter().any(|f| f.matches(text))
}

fn attrs_match(matchers: &[AttrMatch], attrs: &[KeyValue]) -> bool {
    matchers.iter().all(|m| match m {
        AttrMatch::Exists(k) => get(attrs, k).is_some(),
        AttrMatch::Equals(k, want) => {
            let got = get(attrs, k).and_then(|v| v.value.as_ref());
            match (got, want) {
                (Some(Value::StringValue(a)), ConfigValue::Str(b)) => a == b,
                (Some(Value::IntValue(a)), ConfigValue::Int(b)) => a == b,
                (Some(Value::DoubleValue(a)), ConfigValue::Double(b)) => a == b,
                (Some(Value::BoolValue(a)), ConfigValue::Bool(b)) => a == b,
                _ => false,
            }
        }
        // As otelcol's `attributeStringValue`: scalars as text (doubles in plain decimal),
        // anything else never matches.
        AttrMatch::Regexp(k, p) => match get(attrs, k).and_then(|v| v.value.as_ref()) {
            Some(Value::StringValue(s)) => p.0.is_match(s),
            Some(Value::BoolValue(b)) => p.0.is_match(&b.to_string()),
            Some(Value::IntValue(i)) => p.0.is_match(&i.to_string()),
            Some(Value::DoubleValue(d)) => p.0.is_match(&d.to_string()),
            _ => false,
        },
    })
}

fn libraries_match(libs: &[LibraryMatch], scope: Option<&InstrumentationScope>) -> bool {
    let (name, version) = scope.map_or(("", ""), |s| (s.name.as_str(), s.version.as_str()));
    libs.iter()
        .all(|l| l.name.matches(name) && l.version.as_ref().is_none_or(|v| v.matches(version)))
}

fn service_name(resource: &[KeyValue]) -> String {
    match get(resource, "service.name").and_then(|v| v.value.as_ref()) {
        Some(Value::StringValue(s)) => s.clone(),
        Some(other) => as_string(Some(other)),
        None => NIL_SERVICE_NAME.to_owned(),
    }
}

/// Whether the resource-level properties of `m` hold for `resource`.
fn resource_matches(m: &MatchConfig, resource: &[KeyValue]) -> bool {
    (m.services.is_empty() || any(&m.services, &service_name(resource)))
        && attrs_match(&m.resources, resource)
}

fn matches(m: &MatchConfig, item: &Item<'_>) -> bool {
    if !resource_matches(m, item.resource) || !libraries_match(&m.libraries, item.scope) {
        return false;
    }
    let fields_ok = match &item.fields {
        Fields::Span { name, kind } => {
            let kind_name = usize::try_from(*kind)
                .ok()
                .and_then(|k| SPAN_KINDS.get(k))
                .copied()
                .unwrap_or("");
            any(&m.span_names, name) && any(&m.span_kinds, kind_name)
        }
        Fields::Log {
            body,
            severity_text,
            severity_number,
        } => {
            let sev_ok = m.log_severity_number.is_none_or(|s| {
                if *severity_number == 0 {
                    s.match_undefined
                } else {
                    *severity_number >= s.min
                }
            });
            let body_ok = m.log_bodies.is_empty() || any(&m.log_bodies, &as_string(*body));
            sev_ok && body_ok && any(&m.log_severity_texts, severity_text)
        }
        Fields::Metric { name } => any(&m.metric_names, name),
    };
    fields_ok && attrs_match(&m.attributes, item.attributes)
}

impl Selector {
    /// A selector from the processor's `include` and `exclude`.
    pub fn new(include: Option<Box<MatchConfig>>, exclude: Option<Box<MatchConfig>>) -> Selector {
        Selector { include, exclude }
    }

    /// Whether every item is selected regardless of its fields.
    pub fn selects_all(&self) -> bool {
        self.include.is_none() && self.exclude.is_none()
    }

    /// False when no item under `resource` can be selected (`include` fails on it).
    pub fn resource_may_match(&self, resource: &[KeyValue]) -> bool {
        self.include
            .as_ref()
            .is_none_or(|m| resource_matches(m, resource))
    }

    /// Whether the actions apply to `item`.
    pub fn selects(&self, item: &Item<'_>) -> bool {
        self.include.as_ref().is_none_or(|m| matches(m, item))
            && !self.exclude.as_ref().is_some_and(|m| matches(m, item))
    }
}
