//! Config of the `attributes` and `resource` processors, with otelcol's keys and checks.
//!
//! Both take a list of actions (`actions:` for `attributes`, `attributes:` for `resource`);
//! `attributes` also takes `include`/`exclude` match properties. Every regular expression is
//! compiled here, so a bad one is a config error naming its key path, and the processors get
//! ready-to-use matchers.

use regex::Regex;
use serde::Deserialize;
use serde_yaml::Value;

use super::de::{self, join, Text};
use super::error::Errors;
use crate::signal::Signal;

/// A compiled regular expression (RE2-like syntax, unanchored as Go's `MatchString`).
#[derive(Clone, Debug)]
pub struct Pattern(pub Regex);

impl PartialEq for Pattern {
    fn eq(&self, other: &Self) -> bool {
        self.0.as_str() == other.0.as_str()
    }
}

/// A typed attribute value from YAML (`value:` of an action or a matcher).
#[derive(Clone, Debug, PartialEq)]
pub enum ConfigValue {
    /// A string.
    Str(String),
    /// An integer.
    Int(i64),
    /// A floating-point number.
    Double(f64),
    /// A boolean.
    Bool(bool),
}

/// What an action does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ActionKind {
    /// Sets the key only if it is absent.
    Insert,
    /// Sets the key only if it is present.
    Update,
    /// Sets the key.
    Upsert,
    /// Removes the key and/or keys matching the pattern.
    Delete,
    /// Replaces the value with its SHA-256 hex digest.
    Hash,
    /// Upserts each named group of `pattern` matched against the key's string value.
    Extract,
    /// Changes the value's type.
    Convert,
}

/// Where an insert/update/upsert takes its value from.
#[derive(Clone, Debug, PartialEq)]
pub enum ValueSource {
    /// A literal.
    Value(ConfigValue),
    /// Another attribute of the same item (action skipped when it is absent).
    FromAttribute(String),
}

/// Target type of `convert`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConvertType {
    /// `int`.
    Int,
    /// `double`.
    Double,
    /// `string`.
    String,
}

/// One checked action.
#[derive(Clone, Debug, PartialEq)]
pub struct ActionConfig {
    /// What to do.
    pub action: ActionKind,
    /// The key acted on; empty only for delete/hash with a pattern.
    pub key: String,
    /// For insert/update/upsert.
    pub source: Option<ValueSource>,
    /// Keys regex for delete/hash; value regex (with named groups) for extract.
    pub pattern: Option<Pattern>,
    /// For convert.
    pub converted_type: Option<ConvertType>,
}

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

/// The `attributes` processor.
#[derive(Clone, Debug, PartialEq)]
pub struct AttributesConfig {
    /// Actions, applied in order.
    pub actions: Vec<ActionConfig>,
    /// Only matching items are processed (boxed: the properties are large and rare).
    pub include: Option<Box<MatchConfig>>,
    /// Matching items are not processed.
    pub exclude: Option<Box<MatchConfig>>,
}

impl AttributesConfig {
    /// Whether include/exclude can be evaluated for `signal`.
    pub fn check_signal(&self, signal: Signal) -> Result<(), &'static str> {
        for m in [&self.include, &self.exclude].into_iter().flatten() {
            m.check_signal(signal)?;
        }
        Ok(())
    }
}

/// The `resource` processor.
#[derive(Clone, Debug, PartialEq)]
pub struct ResourceConfig {
    /// Actions on resource attributes, applied in order.
    pub attributes: Vec<ActionConfig>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawAction {
    key: Option<Text>,
    action: Option<Text>,
    value: Option<Value>,
    pattern: Option<Text>,
    from_attribute: Option<Text>,
    from_context: Option<Text>,
    converted_type: Option<Text>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawAttributes {
    actions: Option<Vec<RawAction>>,
    include: Option<RawMatch>,
    exclude: Option<RawMatch>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawResource {
    attributes: Option<Vec<RawAction>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawMatch {
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

/// Decodes and checks an `attributes` processor body at `path`.
pub(crate) fn attributes(body: Value, path: &str, errs: &mut Errors) -> Option<AttributesConfig> {
    let raw: RawAttributes = errs.take(de::decode(body, path))?;
    let actions_path = join(path, "actions");
    let raw_actions = raw.actions.unwrap_or_default();
    if raw_actions.is_empty() {
        errs.invalid(
            &actions_path,
            "missing required field \"actions\": at least one action is needed",
        );
    }
    let actions = actions(raw_actions, &actions_path, errs);
    let include = raw
        .include
        .map(|m| Box::new(matcher(m, &join(path, "include"), errs)));
    let exclude = raw
        .exclude
        .map(|m| Box::new(matcher(m, &join(path, "exclude"), errs)));
    Some(AttributesConfig {
        actions,
        include,
        exclude,
    })
}

/// Decodes and checks a `resource` processor body at `path`.
pub(crate) fn resource(body: Value, path: &str, errs: &mut Errors) -> Option<ResourceConfig> {
    let raw: RawResource = errs.take(de::decode(body, path))?;
    let attrs_path = join(path, "attributes");
    let raw_actions = raw.attributes.unwrap_or_default();
    if raw_actions.is_empty() {
        errs.invalid(
            &attrs_path,
            "missing required field \"attributes\": at least one action is needed",
        );
    }
    Some(ResourceConfig {
        attributes: actions(raw_actions, &attrs_path, errs),
    })
}

fn actions(raw: Vec<RawAction>, path: &str, errs: &mut Errors) -> Vec<ActionConfig> {
    raw.into_iter()
        .enumerate()
        .filter_map(|(i, a)| action(a, &format!("{path}[{i}]"), errs))
        .collect()
}

fn compile(pattern: &str, path: &str, errs: &mut Errors) -> Option<Pattern> {
    match Regex::new(pattern) {
        Ok(re) => Some(Pattern(re)),
        Err(e) => {
            errs.invalid(path, format!("invalid regular expression {pattern:?}: {e}"));
            None
        }
    }
}

fn action_kind(raw: Option<&Text>, path: &str, errs: &mut Errors) -> Option<ActionKind> {
    let kind = match raw.map(|t| t.0.to_lowercase()).as_deref() {
        Some("insert") => ActionKind::Insert,
        Some("update") => ActionKind::Update,
        Some("upsert") => ActionKind::Upsert,
        Some("delete") => ActionKind::Delete,
        Some("hash") => ActionKind::Hash,
        Some("extract") => ActionKind::Extract,
        Some("convert") => ActionKind::Convert,
        Some(other) => {
            errs.invalid(join(path, "action"), format!("unsupported action {other:?}; expected insert, update, upsert, delete, hash, extract or convert"));
            return None;
        }
        None => {
            errs.invalid(join(path, "action"), "missing required field \"action\"");
            return None;
        }
    };
    Some(kind)
}

/// The value source of an insert/update/upsert: exactly one of value, from_attribute,
/// from_context (the last is refused: this build keeps no client metadata).
fn value_source(raw: &RawAction, name: &str, path: &str, errs: &mut Errors) -> Option<ValueSource> {
    let value = raw.value.as_ref().filter(|v| !v.is_null());
    let from_attribute = raw.from_attribute.as_ref().filter(|f| !f.0.is_empty());
    let has_context = raw.from_context.as_ref().is_some_and(|f| !f.0.is_empty());
    let count = usize::from(value.is_some())
        + usize::from(from_attribute.is_some())
        + usize::from(has_context);
    if count > 1 {
        errs.invalid(path, "multiple value sources are set; use exactly one of value, from_attribute or from_context");
        None
    } else if has_context {
        errs.invalid(join(path, "from_context"), "from_context is not supported by this build (no client metadata is kept); use value or from_attribute");
        None
    } else if let Some(v) = value {
        scalar(v, &join(path, "value"), errs).map(ValueSource::Value)
    } else if let Some(f) = from_attribute {
        Some(ValueSource::FromAttribute(f.0.clone()))
    } else {
        errs.invalid(path, format!("either field \"value\", \"from_attribute\" or \"from_context\" must be specified for action \"{name}\""));
        None
    }
}

/// `pattern`: a key regex for delete/hash, a value regex with only named groups for extract
/// (`Err` when extract has none), not allowed elsewhere.
fn action_pattern(
    kind: ActionKind,
    text: Option<String>,
    path: &str,
    errs: &mut Errors,
) -> Result<Option<Pattern>, ()> {
    let pattern_path = join(path, "pattern");
    match (kind, text) {
        (ActionKind::Delete | ActionKind::Hash, Some(text)) => {
            Ok(compile(&text, &pattern_path, errs))
        }
        (ActionKind::Extract, None) => {
            errs.invalid(
                &pattern_path,
                "missing required field \"pattern\" for action \"extract\"",
            );
            Err(())
        }
        (ActionKind::Extract, Some(text)) => {
            let p = compile(&text, &pattern_path, errs).ok_or(())?;
            let names: Vec<_> = p.0.capture_names().skip(1).collect();
            if names.is_empty() {
                errs.invalid(&pattern_path, "pattern contains no named matcher groups");
            } else if names.iter().any(Option::is_none) {
                errs.invalid(
                    &pattern_path,
                    "pattern contains at least one unnamed matcher group",
                );
            }
            Ok(Some(p))
        }
        (_, Some(_)) => {
            let name = format!("{kind:?}").to_lowercase();
            errs.invalid(
                &pattern_path,
                format!("action \"{name}\" does not use the \"pattern\" field"),
            );
            Ok(None)
        }
        (_, None) => Ok(None),
    }
}

fn converted_type(
    kind: ActionKind,
    converted: Option<&str>,
    path: &str,
    errs: &mut Errors,
) -> Option<ConvertType> {
    let at = join(path, "converted_type");
    match (kind, converted) {
        (ActionKind::Convert, Some("int")) => Some(ConvertType::Int),
        (ActionKind::Convert, Some("double")) => Some(ConvertType::Double),
        (ActionKind::Convert, Some("string")) => Some(ConvertType::String),
        (ActionKind::Convert, Some(other)) => {
            errs.invalid(
                at,
                format!("invalid type {other:?}; expected int, double or string"),
            );
            None
        }
        (ActionKind::Convert, None) => {
            errs.invalid(
                at,
                "missing required field \"converted_type\" for action \"convert\"",
            );
            None
        }
        (_, Some(_)) => {
            let name = format!("{kind:?}").to_lowercase();
            errs.invalid(
                at,
                format!("action \"{name}\" does not use the \"converted_type\" field"),
            );
            None
        }
        (_, None) => None,
    }
}

fn action(raw: RawAction, path: &str, errs: &mut Errors) -> Option<ActionConfig> {
    let kind = action_kind(raw.action.as_ref(), path, errs)?;
    let name = format!("{kind:?}").to_lowercase();
    let key = raw.key.as_ref().map(|k| k.0.clone()).unwrap_or_default();
    let pattern_text = raw
        .pattern
        .as_ref()
        .map(|p| p.0.clone())
        .filter(|p| !p.is_empty());
    let needs_key = !matches!(kind, ActionKind::Delete | ActionKind::Hash);
    if needs_key && key.is_empty() {
        errs.invalid(
            join(path, "key"),
            format!("missing required field \"key\" for action \"{name}\""),
        );
    }
    if !needs_key && key.is_empty() && pattern_text.is_none() {
        errs.invalid(
            path,
            format!("either field \"key\" or \"pattern\" is required for action \"{name}\""),
        );
    }
    let setter = matches!(
        kind,
        ActionKind::Insert | ActionKind::Update | ActionKind::Upsert
    );
    let source = if setter {
        value_source(&raw, &name, path, errs)
    } else {
        let any_source = raw.value.as_ref().is_some_and(|v| !v.is_null())
            || raw.from_attribute.as_ref().is_some_and(|f| !f.0.is_empty())
            || raw.from_context.as_ref().is_some_and(|f| !f.0.is_empty());
        if any_source {
            errs.invalid(path, format!("action \"{name}\" does not use value sources; remove value, from_attribute and from_context"));
        }
        None
    };
    let converted = raw
        .converted_type
        .as_ref()
        .map(|c| c.0.as_str())
        .filter(|c| !c.is_empty());
    let converted_type = converted_type(kind, converted, path, errs);
    let pattern = action_pattern(kind, pattern_text, path, errs).ok()?;
    Some(ActionConfig {
        action: kind,
        key,
        source,
        pattern,
        converted_type,
    })
}

/// A YAML scalar as a typed value; maps, sequences and nulls are errors.
fn scalar(v: &Value, path: &str, errs: &mut Errors) -> Option<ConfigValue> {
    match v {
        Value::String(s) => Some(ConfigValue::Str(s.clone())),
        Value::Bool(b) => Some(ConfigValue::Bool(*b)),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                Some(ConfigValue::Int(i))
            } else if let Some(f) = n.as_f64().filter(|_| !n.is_u64()) {
                Some(ConfigValue::Double(f))
            } else {
                errs.invalid(path, format!("{n} does not fit a 64-bit signed integer"));
                None
            }
        }
        _ => {
            errs.invalid(
                path,
                "value must be a scalar (string, integer, double or bool)",
            );
            None
        }
    }
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

fn matcher(raw: RawMatch, path: &str, errs: &mut Errors) -> MatchConfig {
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

/// Parses an `attributes` body as `processors::attributes` (for tests of the processors).
#[cfg(test)]
pub(crate) fn parse_attributes(yaml: &str) -> Result<AttributesConfig, super::ConfigError> {
    let mut errs = Errors::default();
    let body: Value = serde_yaml::from_str(yaml)
        .map_err(|e| super::ConfigError::invalid("yaml", e.to_string()))?;
    let cfg = attributes(body, "processors::attributes", &mut errs);
    errs.finish(cfg)
        .and_then(|c| c.ok_or_else(|| super::ConfigError::invalid("?", "none")))
}

/// Parses a `resource` body as `processors::resource` (for tests of the processors).
#[cfg(test)]
pub(crate) fn parse_resource(yaml: &str) -> Result<ResourceConfig, super::ConfigError> {
    let mut errs = Errors::default();
    let body: Value = serde_yaml::from_str(yaml)
        .map_err(|e| super::ConfigError::invalid("yaml", e.to_string()))?;
    let cfg = resource(body, "processors::resource", &mut errs);
    errs.finish(cfg)
        .and_then(|c| c.ok_or_else(|| super::ConfigError::invalid("?", "none")))
}

#[cfg(test)]
#[path = "attributes_tests.rs"]
mod tests;
