//! Config of the `include` / `exclude` match properties of the `attributes` processor, with
//! otelcol's keys (`match_type: strict | regexp`) and its per-signal checks.

use serde::Deserialize;
use serde_yaml::Value;

use crate::config::de::{join, Text};
use crate::config::error::Errors;
use crate::config::value::{compile, scalar, ConfigValue, Pattern};
use crate::signal::Signal;

/// One string filter of a match property set.
#[derive(Clone, Debug, PartialEq)]
pub enum Filter {
    /// Equal strings.
    Strict(String),
    /// Unanchored regex match.
    Regexp(Pattern),
}

impl Filter {
    /// Whether `text` passes this filter.
    pub fn matches(&self, text: &str) -> bool {
        match self {
            Filter::Strict(s) => s == text,
            Filter::Regexp(p) => p.0.is_match(text),
        }
    }
}

/// An attribute matcher: the key must exist and, when a value is given, match it.
#[derive(Clone, Debug, PartialEq)]
pub enum AttrMatch {
    /// Key must be present.
    Exists(String),
    /// strict: typed equality.
    Equals(String, ConfigValue),
    /// regexp: the string value matches.
    Regexp(String, Pattern),
}

/// A library (instrumentation scope) matcher.
#[derive(Clone, Debug, PartialEq)]
pub struct LibraryMatch {
    /// Scope name filter.
    pub name: Filter,
    /// Scope version filter, if given.
    pub version: Option<Filter>,
}

/// `log_severity_number`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SeverityMatch {
    /// Lowest matching severity number.
    pub min: i32,
    /// Whether records with severity 0 (unspecified) match.
    pub match_undefined: bool,
}

/// Checked `include`/`exclude` properties; an empty list means "not checked".
#[derive(Clone, Debug, PartialEq, Default)]
pub struct MatchConfig {
    /// Resource `service.name`.
    pub services: Vec<Filter>,
    /// Span names.
    pub span_names: Vec<Filter>,
    /// Span kinds spelled `SPAN_KIND_SERVER` etc.
    pub span_kinds: Vec<Filter>,
    /// Log bodies as strings.
    pub log_bodies: Vec<Filter>,
    /// Log severity texts.
    pub log_severity_texts: Vec<Filter>,
    /// Log severity number bound.
    pub log_severity_number: Option<SeverityMatch>,
    /// Metric names.
    pub metric_names: Vec<Filter>,
    /// Item attributes (all must match).
    pub attributes: Vec<AttrMatch>,
    /// Resource attributes (all must match).
    pub resources: Vec<AttrMatch>,
    /// Scopes (all must match).
    pub libraries: Vec<LibraryMatch>,
}

impl MatchConfig {
    /// Why these properties cannot select items of `signal` (otelcol's messages), if so.
    pub fn check_signal(&self, signal: Signal) -> Result<(), &'static str> {
        let logs = !self.log_bodies.is_empty()
            || !self.log_severity_texts.is_empty()
            || self.log_severity_number.is_some();
        match signal {
            Signal::Traces => {
                if logs {
                    return Err("log_bodies, log_severity_texts and log_severity_number should not be specified for trace spans");
                }
                if !self.metric_names.is_empty() {
                    return Err("metric_names should not be specified for trace spans");
                }
            }
            Signal::Logs => {
                if !self.span_names.is_empty() || !self.services.is_empty() {
                    return Err(
                        "neither services nor span_names should be specified for log records",
                    );
                }
                if !self.metric_names.is_empty() {
                    return Err("metric_names should not be specified for log records");
                }
            }
            Signal::Metrics => {
                // otelcol's filtermetric evaluates only metric names and silently ignores the
                // rest, which would process every point; refuse instead of diverging.
                let only_names = MatchConfig {
                    metric_names: self.metric_names.clone(),
                    ..MatchConfig::default()
                };
                if *self != only_names {
                    return Err("only metric_names can be specified for metrics");
                }
            }
        }
        Ok(())
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct RawMatch {
    match_type: Option<Text>,
    regexp: Option<Value>,
    services: Vec<Text>,
    span_names: Vec<Text>,
    span_kinds: Vec<Text>,
    log_bodies: Vec<Text>,
    log_severity_texts: Vec<Text>,
    log_severity_number: Option<RawSeverity>,
    metric_names: Vec<Text>,
    attributes: Vec<RawKv>,
    resources: Vec<RawKv>,
    libraries: Vec<RawLibrary>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawKv {
    key: Text,
    #[serde(default)]
    value: Option<Value>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLibrary {
    name: Text,
    #[serde(default)]
    version: Option<Text>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSeverity {
    min: Value,
    #[serde(default)]
    match_undefined: bool,
}

fn filters(raw: Vec<Text>, regexp: bool, path: &str, errs: &mut Errors) -> Vec<Filter> {
    raw.into_iter()
        .enumerate()
        .filter_map(|(i, t)| {
            if regexp {
                compile(&t.0, &format!("{path}[{i}]"), errs).map(Filter::Regexp)
            } else {
                Some(Filter::Strict(t.0))
            }
        })
        .collect()
}

fn attr_matches(raw: Vec<RawKv>, regexp: bool, path: &str, errs: &mut Errors) -> Vec<AttrMatch> {
    let mut out = Vec::with_capacity(raw.len());
    for (i, kv) in raw.into_iter().enumerate() {
        let at = format!("{path}[{i}]");
        let key = kv.key.0;
        match kv.value.filter(|v| !v.is_null()) {
            None => out.push(AttrMatch::Exists(key)),
            Some(v) if regexp => match v {
                Value::String(s) => {
                    if let Some(p) = compile(&s, &join(&at, "value"), errs) {
                        out.push(AttrMatch::Regexp(key, p));
                    }
                }
                _ => errs.invalid(
                    join(&at, "value"),
                    format!("match_type=regexp for {key:?} only supports string values"),
                ),
            },
            Some(v) => {
                if let Some(c) = scalar(&v, &join(&at, "value"), errs) {
                    out.push(AttrMatch::Equals(key, c));
                }
            }
        }
    }
    out
}

/// Checks one `include` or `exclude` block at `path`.
pub(crate) fn matcher(raw: RawMatch, path: &str, errs: &mut Errors) -> MatchConfig {
    let regexp = match raw.match_type.as_ref().map(|t| t.0.as_str()) {
        Some("strict") => false,
        Some("regexp") => true,
        Some(other) => {
            errs.invalid(
                join(path, "match_type"),
                format!("unrecognized match_type {other:?}; expected strict or regexp"),
            );
            false
        }
        None => {
            errs.invalid(
                join(path, "match_type"),
                "match_type is required (strict or regexp)",
            );
            false
        }
    };
    if raw.regexp.is_some() {
        tracing::debug!(key = %join(path, "regexp"), "regexp cache settings are accepted and ignored");
    }
    let f = |list: Vec<Text>, key: &str, errs: &mut Errors| {
        filters(list, regexp, &join(path, key), errs)
    };
    let services = f(raw.services, "services", errs);
    let span_names = f(raw.span_names, "span_names", errs);
    let span_kinds = f(raw.span_kinds, "span_kinds", errs);
    let log_bodies = f(raw.log_bodies, "log_bodies", errs);
    let log_severity_texts = f(raw.log_severity_texts, "log_severity_texts", errs);
    let metric_names = f(raw.metric_names, "metric_names", errs);
    let attributes = attr_matches(raw.attributes, regexp, &join(path, "attributes"), errs);
    let resources = attr_matches(raw.resources, regexp, &join(path, "resources"), errs);
    let mut libraries = Vec::new();
    for (i, lib) in raw.libraries.into_iter().enumerate() {
        let at = format!("{path}::libraries[{i}]");
        let name = filters(vec![lib.name], regexp, &join(&at, "name"), errs);
        let version = lib
            .version
            .map(|v| filters(vec![v], regexp, &join(&at, "version"), errs));
        if let Some(name) = name.into_iter().next() {
            libraries.push(LibraryMatch {
                name,
                version: version.and_then(|v| v.into_iter().next()),
            });
        }
    }
    let log_severity_number = raw.log_severity_number.and_then(|s| {
        let at = join(path, "log_severity_number::min");
        severity(&s.min, &at, errs).map(|min| SeverityMatch {
            min,
            match_undefined: s.match_undefined,
        })
    });
    let m = MatchConfig {
        services,
        span_names,
        span_kinds,
        log_bodies,
        log_severity_texts,
        log_severity_number,
        metric_names,
        attributes,
        resources,
        libraries,
    };
    if m == MatchConfig::default() {
        errs.invalid(path, "at least one property to match on must be specified (services, span_names, span_kinds, attributes, resources, libraries, log_bodies, log_severity_texts, log_severity_number or metric_names)");
    }
    m
}

/// A severity number from an integer or a name (`INFO`, `warn2`, ...), as otelcol accepts.
fn severity(v: &Value, path: &str, errs: &mut Errors) -> Option<i32> {
    let parsed = match v {
        Value::Number(n) => n
            .as_i64()
            .and_then(|n| i32::try_from(n).ok())
            .filter(|n| (0..=24).contains(n)),
        Value::String(s) => {
            let upper = s.to_uppercase();
            let (base, suffix) = match upper.char_indices().last() {
                Some((i, c @ '2'..='4')) => (&upper[..i], i32::from(c as u8 - b'0') - 1),
                _ => (upper.as_str(), 0),
            };
            let start = match base {
                "TRACE" => Some(1),
                "DEBUG" => Some(5),
                "INFO" => Some(9),
                "WARN" => Some(13),
                "ERROR" => Some(17),
                "FATAL" => Some(21),
                _ => None,
            };
            start.map(|s| s + suffix)
        }
        _ => None,
    };
    if parsed.is_none() {
        errs.invalid(
            path,
            format!("invalid severity {v:?}; expected 0-24 or a name like INFO, WARN2"),
        );
    }
    parsed
}
