//! Config of the `transform` processor: `trace_statements`, `metric_statements`,
//! `log_statements` and `error_mode`, with otelcol-contrib's two styles per list:
//! - groups: `- context: span` (optional), `statements: [...]`, optional `conditions: [...]`
//!   (any must hold for the statements to run) and `error_mode` (overrides the processor's);
//! - a flat list of statement strings, one group whose context is inferred from the
//!   context-qualified paths (`span.attributes["x"]`).
//!
//! Mixing the two in one list is refused, as otelcol does. Every statement is compiled
//! here: a mistake is a config error naming the statement.

use serde::Deserialize;
use serde_yaml::Value;

use crate::config::de::{self, join, Text};
use crate::config::error::Errors;
use crate::ottl::{infer_context, Condition, Context, ErrorMode, Statement};
use crate::signal::Signal;

/// One group of statements run in one context.
#[derive(Clone, Debug)]
pub struct StatementGroup {
    /// The context the statements run in.
    pub context: Context,
    /// Statements, run in order on each item.
    pub statements: Vec<Statement>,
    /// The statements run on an item only when one of these holds (all items when empty).
    pub conditions: Vec<Condition>,
    /// What a failing statement does.
    pub error_mode: ErrorMode,
}

impl PartialEq for StatementGroup {
    fn eq(&self, other: &StatementGroup) -> bool {
        let texts = |s: &[Statement]| s.iter().map(|s| s.text.clone()).collect::<Vec<_>>();
        let conds = |s: &[Condition]| s.iter().map(|s| s.text.clone()).collect::<Vec<_>>();
        self.context == other.context
            && texts(&self.statements) == texts(&other.statements)
            && conds(&self.conditions) == conds(&other.conditions)
            && self.error_mode == other.error_mode
    }
}

/// The `transform` processor.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct TransformConfig {
    /// Groups for traces.
    pub traces: Vec<StatementGroup>,
    /// Groups for metrics.
    pub metrics: Vec<StatementGroup>,
    /// Groups for logs.
    pub logs: Vec<StatementGroup>,
}

impl TransformConfig {
    /// The groups of `signal`.
    pub fn groups(&self, signal: Signal) -> &[StatementGroup] {
        match signal {
            Signal::Traces => &self.traces,
            Signal::Metrics => &self.metrics,
            Signal::Logs => &self.logs,
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawTransform {
    error_mode: Option<Text>,
    trace_statements: Vec<Value>,
    metric_statements: Vec<Value>,
    log_statements: Vec<Value>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawGroup {
    context: Option<Text>,
    statements: Vec<Text>,
    conditions: Vec<Text>,
    error_mode: Option<Text>,
}

/// An `error_mode` value at `path` (`default` when absent).
pub(crate) fn error_mode(
    raw: Option<Text>,
    default: ErrorMode,
    path: &str,
    errs: &mut Errors,
) -> ErrorMode {
    let Some(Text(s)) = raw else { return default };
    ErrorMode::parse(&s).unwrap_or_else(|| {
        errs.invalid(
            join(path, "error_mode"),
            format!("unknown error_mode {s:?}; expected ignore, silent or propagate"),
        );
        default
    })
}

/// Decodes and checks a `transform` processor body at `path`.
pub(crate) fn parse(body: Value, path: &str, errs: &mut Errors) -> Option<TransformConfig> {
    let raw: RawTransform = errs.take(de::decode(body, path))?;
    let mode = error_mode(raw.error_mode, ErrorMode::Propagate, path, errs);
    Some(TransformConfig {
        traces: groups(
            raw.trace_statements,
            Signal::Traces,
            mode,
            &join(path, "trace_statements"),
            errs,
        ),
        metrics: groups(
            raw.metric_statements,
            Signal::Metrics,
            mode,
            &join(path, "metric_statements"),
            errs,
        ),
        logs: groups(
            raw.log_statements,
            Signal::Logs,
            mode,
            &join(path, "log_statements"),
            errs,
        ),
    })
}

fn groups(
    list: Vec<Value>,
    signal: Signal,
    mode: ErrorMode,
    path: &str,
    errs: &mut Errors,
) -> Vec<StatementGroup> {
    let flat = list.iter().filter(|v| v.is_string()).count();
    if flat > 0 && flat < list.len() {
        errs.invalid(path, "configuring multiple configuration styles is not supported: use only statement strings or only groups (context/statements)");
        return Vec::new();
    }
    if flat > 0 {
        let texts: Vec<String> = list
            .into_iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect();
        let raw = RawGroup {
            statements: texts.into_iter().map(Text).collect(),
            ..RawGroup::default()
        };
        return group(raw, signal, mode, path, true, errs)
            .into_iter()
            .collect();
    }
    let mut out = Vec::new();
    for (i, v) in list.into_iter().enumerate() {
        let at = format!("{path}[{i}]");
        let Some(raw) = errs.take(de::decode::<RawGroup>(v, &at)) else {
            continue;
        };
        out.extend(group(raw, signal, mode, &at, false, errs));
    }
    out
}

/// The context of a group: given, or inferred from its paths.
pub(crate) fn context_of(
    given: Option<Text>,
    texts: &[&str],
    conditions: bool,
    signal: Signal,
    path: &str,
    errs: &mut Errors,
) -> Option<Context> {
    match given {
        Some(Text(name)) => {
            match Context::parse(&name).filter(|c| Context::of_signal(signal).contains(c)) {
                Some(c) => Some(c),
                None => {
                    let names: Vec<&str> = Context::of_signal(signal)
                        .iter()
                        .map(|c| c.name())
                        .collect();
                    errs.invalid(
                        join(path, "context"),
                        format!(
                            "unknown context {name:?} for {signal}; expected one of {}",
                            names.join(", ")
                        ),
                    );
                    None
                }
            }
        }
        None => match infer_context(texts, conditions, signal) {
            Ok(c) => Some(c),
            Err(e) => {
                errs.invalid(path, e);
                None
            }
        },
    }
}

fn group(
    raw: RawGroup,
    signal: Signal,
    mode: ErrorMode,
    path: &str,
    flat: bool,
    errs: &mut Errors,
) -> Option<StatementGroup> {
    let error_mode = error_mode(raw.error_mode, mode, path, errs);
    if raw.statements.is_empty() {
        errs.invalid(join(path, "statements"), "at least one statement is needed");
        return None;
    }
    let texts: Vec<&str> = raw.statements.iter().map(|t| t.0.as_str()).collect();
    let context = context_of(raw.context, &texts, false, signal, path, errs)?;
    let mut statements = Vec::new();
    for (i, Text(s)) in raw.statements.iter().enumerate() {
        match Statement::parse(s, context, false) {
            Ok(st) => statements.push(st),
            Err(e) if flat => errs.invalid(format!("{path}[{i}]"), e),
            Err(e) => errs.invalid(format!("{}[{i}]", join(path, "statements")), e),
        }
    }
    let mut conditions = Vec::new();
    for (i, Text(s)) in raw.conditions.iter().enumerate() {
        match Condition::parse(s, context, false) {
            Ok(c) => conditions.push(c),
            Err(e) => errs.invalid(format!("{}[{i}]", join(path, "conditions")), e),
        }
    }
    Some(StatementGroup {
        context,
        statements,
        conditions,
        error_mode,
    })
}

/// Parses a `transform` body as `processors::transform` (for tests).
#[cfg(test)]
pub(crate) fn parse_transform(yaml: &str) -> Result<TransformConfig, crate::config::ConfigError> {
    use crate::config::ConfigError;
    let mut errs = Errors::default();
    let body: Value =
        serde_yaml::from_str(yaml).map_err(|e| ConfigError::invalid("yaml", e.to_string()))?;
    let cfg = parse(body, "processors::transform", &mut errs);
    errs.finish(cfg)
        .and_then(|c| c.ok_or_else(|| ConfigError::invalid("?", "none")))
}
