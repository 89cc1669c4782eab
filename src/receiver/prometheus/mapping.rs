//! From one scrape's samples to OTLP metrics, as otelcol's prometheus receiver maps them:
//! - counters → monotonic cumulative Sums; gauges and untyped → Gauges; `info` and
//!   `stateset` → non-monotonic Sums; histograms (`_bucket` with `le`, `_sum`, `_count`) →
//!   Histograms with explicit bounds; summaries (`quantile`, `_sum`, `_count`) → Summaries;
//! - labels become point attributes, except `__name__`, `job`, `instance`, `le`/`quantile` of
//!   their family, the `otel_scope_*` labels (they name the scope) and empty values;
//! - one resource per `job`/`instance` (see `target::resource_attributes`), with the labels of
//!   its `target_info` sample added; the scope is the receiver's unless `otel_scope_name` says;
//! - a histogram or summary point without `_count`, or with buckets that decrease, is dropped.
//!
//! Families keep the order their first sample came in, and points the order of their series.

use std::collections::HashMap;

use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, InstrumentationScope, KeyValue};
use opentelemetry_proto::tonic::metrics::v1::{
    metric, AggregationTemporality, Gauge, Histogram, Metric, ResourceMetrics, ScopeMetrics, Sum,
    Summary,
};
use opentelemetry_proto::tonic::resource::v1::Resource;

use super::exposition::{Kind, Metadata};
use super::points::{self, Group};
use super::relabel::Labels;
use super::series::StartTimes;
use super::target::resource_attributes;

/// The scope of data with no `otel_scope_name` label: otelcol's receiver's name.
pub const SCOPE_NAME: &str =
    "github.com/open-telemetry/opentelemetry-collector-contrib/receiver/prometheusreceiver";

/// The metrics a scrape adds about itself, with their help and unit (otelcol's metadata).
pub const SCRAPE_METRICS: [(&str, &str, &str); 5] = [
    ("up", "The scraping was successful", ""),
    (
        "scrape_duration_seconds",
        "Duration of the scrape",
        "seconds",
    ),
    (
        "scrape_samples_scraped",
        "The number of samples the target exposed",
        "",
    ),
    (
        "scrape_series_added",
        "The approximate number of new series in this scrape",
        "",
    ),
    (
        "scrape_samples_post_metric_relabeling",
        "The number of samples remaining after metric relabeling was applied",
        "",
    ),
];

/// One sample ready to map: its final labels (with `__name__`), value and time.
#[derive(Clone, Debug, PartialEq)]
pub struct Scraped {
    /// Labels after merging with the target's and metric relabeling.
    pub labels: Labels,
    /// The value.
    pub value: f64,
    /// Milliseconds since the epoch.
    pub timestamp_ms: i64,
}

struct Family {
    name: String,
    kind: Kind,
    help: String,
    unit: String,
    groups: Vec<Group>,
    index: HashMap<String, usize>,
}

#[derive(PartialEq, Eq, Hash, Clone, Default)]
struct ScopeId {
    name: String,
    version: String,
    schema_url: String,
    attributes: Vec<(String, String)>,
}

struct ScopeEntry {
    id: ScopeId,
    families: Vec<Family>,
    index: HashMap<String, usize>,
}

struct ResourceEntry {
    job: String,
    instance: String,
    info: Vec<(String, String)>,
    scopes: Vec<ScopeEntry>,
}

/// One scrape's metrics as OTLP: per resource; `starts` holds the target's series.
pub fn build(
    samples: &[Scraped],
    metadata: &HashMap<String, Metadata>,
    scheme: &str,
    version: &str,
    starts: &mut StartTimes,
) -> Vec<ResourceMetrics> {
    let mut resources: Vec<ResourceEntry> = Vec::new();
    for sample in samples {
        let label = |name: &str| sample.labels.get(name).cloned().unwrap_or_default();
        let (job, instance, name) = (label("job"), label("instance"), label("__name__"));
        let at = match resources
            .iter()
            .position(|r| r.job == job && r.instance == instance)
        {
            Some(at) => at,
            None => {
                resources.push(ResourceEntry {
                    job: job.clone(),
                    instance: instance.clone(),
                    info: Vec::new(),
                    scopes: Vec::new(),
                });
                resources.len() - 1
            }
        };
        let resource = &mut resources[at];
        if name == "target_info" {
            for (k, v) in &sample.labels {
                if !matches!(k.as_str(), "job" | "instance" | "__name__") {
                    resource.info.push((k.clone(), v.clone()));
                }
            }
            continue;
        }
        let scope = scope_of(&sample.labels);
        let scope_at = match resource.scopes.iter().position(|s| s.id == scope) {
            Some(i) => i,
            None => {
                resource.scopes.push(ScopeEntry {
                    id: scope,
                    families: Vec::new(),
                    index: HashMap::new(),
                });
                resource.scopes.len() - 1
            }
        };
        resource.scopes[scope_at].add(&name, sample, metadata);
    }
    resources
        .into_iter()
        .filter_map(|r| r.into_proto(scheme, version, starts))
        .collect()
}

/// The scope a sample's `otel_scope_*` labels name.
fn scope_of(labels: &Labels) -> ScopeId {
    let mut id = ScopeId::default();
    for (k, v) in labels.range("otel_scope_".to_owned()..) {
        let Some(key) = k.strip_prefix("otel_scope_") else {
            break;
        };
        match key {
            "name" => id.name = v.clone(),
            "version" => id.version = v.clone(),
            "schema_url" => id.schema_url = v.clone(),
            other => id.attributes.push((other.to_owned(), v.clone())),
        }
    }
    id
}

/// The family a sample belongs to and its metadata, as otelcol's receiver finds them: the
/// sample's own name, else its name without `_bucket`/`_count`/`_sum`/`_total`/`_info`
/// (counters keep the sample name; an OpenMetrics counter's `_created` joins `_total`).
fn family_of(name: &str, metadata: &HashMap<String, Metadata>) -> (String, Metadata) {
    if let Some((_, help, unit)) = SCRAPE_METRICS.iter().find(|(n, _, _)| *n == name) {
        let meta = Metadata {
            kind: Kind::Gauge,
            help: (*help).to_owned(),
            unit: (*unit).to_owned(),
        };
        return (name.to_owned(), meta);
    }
    if let Some(meta) = metadata.get(name) {
        return (name.to_owned(), meta.clone());
    }
    let normalized = ["_bucket", "_count", "_sum", "_total", "_info"]
        .iter()
        .find_map(|s| name.strip_suffix(s).filter(|n| !n.is_empty()))
        .unwrap_or(name);
    if let Some(meta) = metadata.get(normalized) {
        return match meta.kind {
            Kind::Counter => (name.to_owned(), meta.clone()),
            Kind::GaugeHistogram => (name.to_owned(), unknown()),
            _ => (normalized.to_owned(), meta.clone()),
        };
    }
    if let Some(base) = name.strip_suffix("_created") {
        if let Some(meta) = metadata.get(base) {
            return match meta.kind {
                Kind::Counter => (format!("{base}_total"), meta.clone()),
                Kind::Histogram | Kind::Summary => (base.to_owned(), meta.clone()),
                _ => (name.to_owned(), unknown()),
            };
        }
    }
    (name.to_owned(), unknown())
}

fn unknown() -> Metadata {
    Metadata {
        kind: Kind::Unknown,
        help: String::new(),
        unit: String::new(),
    }
}

impl ScopeEntry {
    fn add(&mut self, name: &str, sample: &Scraped, metadata: &HashMap<String, Metadata>) {
        let (family_name, meta) = family_of(name, metadata);
        let at = match self.index.get(&family_name) {
            Some(at) => *at,
            None => {
                self.families.push(Family {
                    name: family_name.clone(),
                    kind: meta.kind,
                    help: meta.help,
                    unit: meta.unit,
                    groups: Vec::new(),
                    index: HashMap::new(),
                });
                self.index.insert(family_name, self.families.len() - 1);
                self.families.len() - 1
            }
        };
        self.families[at].add(name, sample);
    }
}

impl Family {
    /// The label that tells a family's points apart inside one series, if any.
    fn bound_label(&self) -> Option<&'static str> {
        match self.kind {
            Kind::Histogram => Some("le"),
            Kind::Summary => Some("quantile"),
            _ => None,
        }
    }

    fn add(&mut self, name: &str, sample: &Scraped) {
        let bound_label = self.bound_label();
        let mut key = String::new();
        let mut attributes_of_key = Vec::new();
        for (k, v) in &sample.labels {
            if k == "__name__" || Some(k.as_str()) == bound_label {
                continue;
            }
            key.push_str(k);
            key.push('=');
            key.push_str(v);
            key.push('\u{0}');
            let dropped = matches!(k.as_str(), "job" | "instance") || k.starts_with("otel_scope_");
            if !dropped && !v.is_empty() {
                attributes_of_key.push((k.clone(), v.clone()));
            }
        }
        let at = match self.index.get(&key) {
            Some(at) => *at,
            None => {
                self.groups.push(Group {
                    key: key.clone(),
                    attributes: attributes(attributes_of_key),
                    timestamp_ms: sample.timestamp_ms,
                    ..Group::default()
                });
                self.index.insert(key, self.groups.len() - 1);
                self.groups.len() - 1
            }
        };
        let group = &mut self.groups[at];
        let created = name.ends_with("_created") && name != self.name;
        match self.kind {
            Kind::Histogram | Kind::Summary => {
                if created {
                    group.created_seconds = Some(sample.value);
                } else if name.ends_with("_sum") {
                    group.sum = Some(sample.value);
                } else if name.ends_with("_count") {
                    group.count = Some(sample.value);
                    group.timestamp_ms = sample.timestamp_ms;
                } else if let Some(bound) = bound_label
                    .and_then(|l| sample.labels.get(l))
                    .and_then(|b| b.parse::<f64>().ok())
                {
                    group.bounds.push((bound, sample.value));
                } else {
                    tracing::debug!(
                        metric = name,
                        "sample without a valid le/quantile label dropped"
                    );
                }
            }
            Kind::Counter if created => group.created_seconds = Some(sample.value),
            _ => group.value = Some(sample.value),
        }
    }

    fn into_proto(self, key_prefix: &str, starts: &mut StartTimes) -> Option<Metric> {
        let temporality = AggregationTemporality::Cumulative as i32;
        let prefix = format!("{key_prefix}{}\u{0}", self.name);
        let data = match self.kind {
            Kind::Histogram => {
                let points: Vec<_> = self
                    .groups
                    .into_iter()
                    .filter_map(|g| points::histogram_point(g, &prefix, starts))
                    .collect();
                (!points.is_empty()).then_some(metric::Data::Histogram(Histogram {
                    data_points: points,
                    aggregation_temporality: temporality,
                }))
            }
            Kind::Summary => {
                let points: Vec<_> = self
                    .groups
                    .into_iter()
                    .filter_map(|g| points::summary_point(g, &prefix, starts))
                    .collect();
                (!points.is_empty()).then_some(metric::Data::Summary(Summary {
                    data_points: points,
                }))
            }
            Kind::Counter | Kind::Info | Kind::StateSet => {
                let points: Vec<_> = self
                    .groups
                    .into_iter()
                    .filter_map(|g| points::number_point(g, Some((&prefix, &mut *starts))))
                    .collect();
                (!points.is_empty()).then_some(metric::Data::Sum(Sum {
                    data_points: points,
                    aggregation_temporality: temporality,
                    is_monotonic: self.kind == Kind::Counter,
                }))
            }
            Kind::Gauge | Kind::GaugeHistogram | Kind::Unknown => {
                let points: Vec<_> = self
                    .groups
                    .into_iter()
                    .filter_map(|g| points::number_point(g, None))
                    .collect();
                (!points.is_empty()).then_some(metric::Data::Gauge(Gauge {
                    data_points: points,
                }))
            }
        }?;
        Some(Metric {
            name: self.name,
            description: self.help,
            unit: ucum(&self.unit),
            metadata: vec![string_attribute("prometheus.type", self.kind.name())],
            data: Some(data),
        })
    }
}

impl ResourceEntry {
    fn into_proto(
        self,
        scheme: &str,
        version: &str,
        starts: &mut StartTimes,
    ) -> Option<ResourceMetrics> {
        let key_prefix = format!("{}\u{0}{}\u{0}", self.job, self.instance);
        let mut scope_metrics = Vec::new();
        for scope in self.scopes {
            let prefix = format!(
                "{key_prefix}{}\u{0}{}\u{0}",
                scope.id.name, scope.id.version
            );
            let metrics: Vec<Metric> = scope
                .families
                .into_iter()
                .filter_map(|f| f.into_proto(&prefix, starts))
                .collect();
            if metrics.is_empty() {
                continue;
            }
            let (name, version, schema_url) =
                if scope.id.name.is_empty() && scope.id.version.is_empty() {
                    (SCOPE_NAME.to_owned(), version.to_owned(), String::new())
                } else {
                    (scope.id.name, scope.id.version, scope.id.schema_url)
                };
            scope_metrics.push(ScopeMetrics {
                scope: Some(InstrumentationScope {
                    name,
                    version,
                    attributes: attributes(scope.id.attributes),
                    dropped_attributes_count: 0,
                }),
                metrics,
                schema_url,
            });
        }
        if scope_metrics.is_empty() {
            return None;
        }
        let mut pairs = resource_attributes(&self.job, &self.instance, scheme);
        for (k, v) in self.info {
            match pairs.iter_mut().find(|(have, _)| *have == k) {
                Some(pair) => pair.1 = v,
                None => pairs.push((k, v)),
            }
        }
        Some(ResourceMetrics {
            resource: Some(Resource {
                attributes: attributes(pairs),
                ..Resource::default()
            }),
            scope_metrics,
            schema_url: String::new(),
        })
    }
}

fn string_attribute(key: &str, value: &str) -> KeyValue {
    KeyValue {
        key: key.to_owned(),
        value: Some(AnyValue {
            value: Some(any_value::Value::StringValue(value.to_owned())),
        }),
        ..KeyValue::default()
    }
}

fn attributes(pairs: Vec<(String, String)>) -> Vec<KeyValue> {
    pairs.iter().map(|(k, v)| string_attribute(k, v)).collect()
}

/// An OpenMetrics unit word as UCUM (`seconds` → `s`, `bytes_per_second` → `By/s`); words
/// not in the table are kept as written, as otelcol keeps them.
fn ucum(unit: &str) -> String {
    const WORDS: &[(&str, &str)] = &[
        ("days", "d"),
        ("hours", "h"),
        ("minutes", "min"),
        ("seconds", "s"),
        ("milliseconds", "ms"),
        ("microseconds", "us"),
        ("nanoseconds", "ns"),
        ("bytes", "By"),
        ("kibibytes", "KiBy"),
        ("mebibytes", "MiBy"),
        ("gibibytes", "GiBy"),
        ("kilobytes", "KBy"),
        ("megabytes", "MBy"),
        ("gigabytes", "GBy"),
        ("meters", "m"),
        ("volts", "V"),
        ("amperes", "A"),
        ("joules", "J"),
        ("watts", "W"),
        ("grams", "g"),
        ("celsius", "Cel"),
        ("hertz", "Hz"),
        ("ratio", "1"),
        ("percent", "%"),
    ];
    const PER: &[(&str, &str)] = &[
        ("second", "s"),
        ("minute", "m"),
        ("hour", "h"),
        ("day", "d"),
        ("week", "w"),
        ("month", "mo"),
        ("year", "y"),
    ];
    let word = |table: &[(&str, &str)], w: &str| {
        table
            .iter()
            .find(|(from, _)| *from == w)
            .map_or_else(|| w.to_owned(), |(_, to)| (*to).to_owned())
    };
    match unit.split_once("_per_") {
        Some((base, per)) if !per.is_empty() => format!("{}/{}", word(WORDS, base), word(PER, per)),
        Some((base, _)) => word(WORDS, base),
        None => word(WORDS, unit),
    }
}

#[cfg(test)]
#[path = "mapping_tests.rs"]
mod tests;
