//! Config of the `filter` processor, with otelcol-contrib's keys:
//! - OTTL conditions per signal: `traces: {resource, span, spanevent}`, `metrics: {resource,
//!   metric, datapoint}`, `logs: {resource, log_record}`; an item any condition holds for is
//!   dropped;
//! - the older match properties: `spans: {include, exclude}` (the attributes processor's
//!   properties), `logs: {include, exclude}` (match_type, resource_attributes,
//!   record_attributes, severity_texts, severity_number, bodies), `metrics: {include,
//!   exclude}` (match_type, metric_names, resource_attributes); an item is kept when it
//!   matches `include` (if set) and not `exclude` (if set);
//! - `error_mode` (default `ignore`: otelcol made it the default with the stable
//!   `processor.filter.defaultErrorModeIgnore` gate).
//!
//! Conditions and match properties cannot both be set for one signal, as in otelcol.

use serde::Deserialize;
use serde_yaml::{Mapping, Value};

use crate::config::de::{self, join, Text};
use crate::config::error::Errors;
use crate::ottl::{Condition, Context, ErrorMode};
use crate::processor::matching::config::{matcher, MatchConfig, RawMatch};
use crate::processor::transform_statements::config::error_mode;

/// What one signal's filter drops.
#[derive(Clone, Debug, Default)]
pub struct SignalFilter {
    /// Conditions on the resource: a match drops the whole resource.
    pub resource: Vec<Condition>,
    /// Conditions on spans, metrics or log records.
    pub items: Vec<Condition>,
    /// Conditions on span events or data points.
    pub children: Vec<Condition>,
    /// The older include/exclude properties (boxed: large and rare).
    pub include: Option<Box<MatchConfig>>,
    /// Items matching these are dropped.
    pub exclude: Option<Box<MatchConfig>>,
}

impl SignalFilter {
    /// Whether it drops nothing.
    pub fn is_empty(&self) -> bool {
        self.resource.is_empty()
            && self.items.is_empty()
            && self.children.is_empty()
            && self.include.is_none()
            && self.exclude.is_none()
    }

    /// Whether only the resource is needed to decide (resource conditions alone).
    pub fn resource_only(&self) -> bool {
        !self.resource.is_empty()
            && self.items.is_empty()
            && self.children.is_empty()
            && self.include.is_none()
            && self.exclude.is_none()
    }
}

impl PartialEq for SignalFilter {
    fn eq(&self, other: &SignalFilter) -> bool {
        let texts = |c: &[Condition]| c.iter().map(|c| c.text.clone()).collect::<Vec<_>>();
        texts(&self.resource) == texts(&other.resource)
            && texts(&self.items) == texts(&other.items)
            && texts(&self.children) == texts(&other.children)
            && self.include == other.include
            && self.exclude == other.exclude
    }
}

/// The `filter` processor.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FilterConfig {
    /// What a failing condition does.
    pub error_mode: ErrorMode,
    /// Spans and span events.
    pub traces: SignalFilter,
    /// Metrics and data points.
    pub metrics: SignalFilter,
    /// Log records.
    pub logs: SignalFilter,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawFilter {
    error_mode: Option<Text>,
    spans: Option<RawLegacy>,
    traces: RawConditions,
    metrics: RawConditions,
    logs: RawConditions,
    trace_conditions: Option<Value>,
    metric_conditions: Option<Value>,
    log_conditions: Option<Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawLegacy {
    include: Option<RawMatch>,
    exclude: Option<RawMatch>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawConditions {
    resource: Vec<Text>,
    span: Vec<Text>,
    spanevent: Vec<Text>,
    metric: Vec<Text>,
    datapoint: Vec<Text>,
    log_record: Vec<Text>,
    include: Option<Value>,
    exclude: Option<Value>,
    regexp: Option<Value>,
}

fn conditions(list: &[Text], context: Context, path: &str, errs: &mut Errors) -> Vec<Condition> {
    let mut out = Vec::with_capacity(list.len());
    for (i, Text(text)) in list.iter().enumerate() {
        match Condition::parse(text, context, true) {
            Ok(c) => out.push(c),
            Err(e) => errs.invalid(format!("{path}[{i}]"), e),
        }
    }
    out
}

/// Decodes and checks a `filter` processor body at `path`.
pub(crate) fn parse(body: Value, path: &str, errs: &mut Errors) -> Option<FilterConfig> {
    let raw: RawFilter = errs.take(de::decode(body, path))?;
    for (key, v) in [
        ("trace_conditions", &raw.trace_conditions),
        ("metric_conditions", &raw.metric_conditions),
        ("log_conditions", &raw.log_conditions),
    ] {
        if v.is_some() {
            errs.invalid(join(path, key), "the context-inferred condition lists are not supported yet; use traces.span, metrics.datapoint, logs.log_record, ...");
        }
    }
    let mode = error_mode(raw.error_mode, ErrorMode::Ignore, path, errs);
    let at = |signal: &str, key: &str| join(&join(path, signal), key);
    let t = &raw.traces;
    refuse_others(
        t,
        &["metric", "datapoint", "log_record"],
        &join(path, "traces"),
        errs,
    );
    if t.include.is_some() || t.exclude.is_some() {
        errs.invalid(
            join(path, "traces"),
            "include/exclude for spans go under spans:, not traces:",
        );
    }
    let mut traces = SignalFilter {
        resource: conditions(
            &t.resource,
            Context::Resource,
            &at("traces", "resource"),
            errs,
        ),
        items: conditions(&t.span, Context::Span, &at("traces", "span"), errs),
        children: conditions(
            &t.spanevent,
            Context::SpanEvent,
            &at("traces", "spanevent"),
            errs,
        ),
        ..SignalFilter::default()
    };
    if let Some(legacy) = raw.spans {
        traces.include = legacy
            .include
            .map(|m| Box::new(matcher(m, &at("spans", "include"), errs)));
        traces.exclude = legacy
            .exclude
            .map(|m| Box::new(matcher(m, &at("spans", "exclude"), errs)));
    }
    let m = &raw.metrics;
    let mut metrics = SignalFilter {
        resource: conditions(
            &m.resource,
            Context::Resource,
            &at("metrics", "resource"),
            errs,
        ),
        items: conditions(&m.metric, Context::Metric, &at("metrics", "metric"), errs),
        children: conditions(
            &m.datapoint,
            Context::DataPoint,
            &at("metrics", "datapoint"),
            errs,
        ),
        ..SignalFilter::default()
    };
    refuse_others(
        m,
        &["span", "spanevent", "log_record"],
        &join(path, "metrics"),
        errs,
    );
    metrics.include = legacy(
        m.include.clone(),
        METRIC_KEYS,
        &at("metrics", "include"),
        errs,
    );
    metrics.exclude = legacy(
        m.exclude.clone(),
        METRIC_KEYS,
        &at("metrics", "exclude"),
        errs,
    );
    let l = &raw.logs;
    let mut logs = SignalFilter {
        resource: conditions(
            &l.resource,
            Context::Resource,
            &at("logs", "resource"),
            errs,
        ),
        items: conditions(&l.log_record, Context::Log, &at("logs", "log_record"), errs),
        ..SignalFilter::default()
    };
    refuse_others(
        l,
        &["span", "spanevent", "metric", "datapoint"],
        &join(path, "logs"),
        errs,
    );
    logs.include = legacy(l.include.clone(), LOG_KEYS, &at("logs", "include"), errs);
    logs.exclude = legacy(l.exclude.clone(), LOG_KEYS, &at("logs", "exclude"), errs);
    for (name, f) in [
        ("spans/traces", &traces),
        ("metrics", &metrics),
        ("logs", &logs),
    ] {
        let ottl = !f.resource.is_empty() || !f.items.is_empty() || !f.children.is_empty();
        if ottl && (f.include.is_some() || f.exclude.is_some()) {
            errs.invalid(
                path,
                format!(
                    "cannot use OTTL conditions and include/exclude for {name} at the same time"
                ),
            );
        }
    }
    Some(FilterConfig {
        error_mode: mode,
        traces,
        metrics,
        logs,
    })
}

fn refuse_others(raw: &RawConditions, keys: &[&str], path: &str, errs: &mut Errors) {
    let given = |k: &str| match k {
        "span" => !raw.span.is_empty(),
        "spanevent" => !raw.spanevent.is_empty(),
        "metric" => !raw.metric.is_empty(),
        "datapoint" => !raw.datapoint.is_empty(),
        "log_record" => !raw.log_record.is_empty(),
        _ => false,
    };
    if let Some(k) = keys.iter().find(|k| given(k)) {
        errs.invalid(join(path, k), "these conditions belong to another signal");
    }
    if raw.regexp.is_some() {
        tracing::debug!(key = %join(path, "regexp"), "regexp cache settings are accepted and ignored");
    }
}

/// otelcol's metric match property keys and the attributes-processor keys they mean.
const METRIC_KEYS: &[(&str, &str)] = &[
    ("match_type", "match_type"),
    ("metric_names", "metric_names"),
    ("resource_attributes", "resources"),
    ("regexp", "regexp"),
];

/// otelcol's log match property keys and the attributes-processor keys they mean.
const LOG_KEYS: &[(&str, &str)] = &[
    ("match_type", "match_type"),
    ("resource_attributes", "resources"),
    ("record_attributes", "attributes"),
    ("severity_texts", "log_severity_texts"),
    ("severity_number", "log_severity_number"),
    ("bodies", "log_bodies"),
];

/// An older include/exclude block of logs or metrics, read with the attributes processor's
/// matcher after renaming otelcol's keys for this signal to the matcher's.
fn legacy(
    v: Option<Value>,
    keys: &[(&str, &str)],
    path: &str,
    errs: &mut Errors,
) -> Option<Box<MatchConfig>> {
    let Value::Mapping(map) = v? else {
        errs.invalid(path, "expected a mapping of match properties");
        return None;
    };
    let mut renamed = Mapping::new();
    for (k, v) in map {
        let name = k.as_str().unwrap_or_default().to_owned();
        if name == "expressions" {
            errs.invalid(join(path, "expressions"), "expr-language expressions are not supported; use OTTL conditions (metrics.metric, metrics.datapoint)");
            continue;
        }
        match keys.iter().find(|(from, _)| *from == name) {
            Some((_, to)) => {
                renamed.insert(Value::String((*to).to_owned()), v);
            }
            None => {
                let known: Vec<&str> = keys.iter().map(|(k, _)| *k).collect();
                errs.invalid(
                    join(path, &name),
                    format!(
                        "unknown field {name:?}; expected one of {}",
                        known.join(", ")
                    ),
                );
            }
        }
    }
    let raw: RawMatch = errs.take(de::decode(Value::Mapping(renamed), path))?;
    Some(Box::new(matcher(raw, path, errs)))
}

/// Parses a `filter` body as `processors::filter` (for tests).
#[cfg(test)]
pub(crate) fn parse_filter(yaml: &str) -> Result<FilterConfig, crate::config::ConfigError> {
    use crate::config::ConfigError;
    let mut errs = Errors::default();
    let body: Value =
        serde_yaml::from_str(yaml).map_err(|e| ConfigError::invalid("yaml", e.to_string()))?;
    let cfg = parse(body, "processors::filter", &mut errs);
    errs.finish(cfg)
        .and_then(|c| c.ok_or_else(|| ConfigError::invalid("?", "none")))
}
