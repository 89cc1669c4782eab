//! Config of the `tail_sampling` processor: otelcol-contrib's keys, defaults and checks.
//!
//! Policies nest as in otelcol: `and` holds `and_sub_policy` (plain policies), `drop` holds
//! `drop_sub_policy` (plain policies), `composite` holds `composite_sub_policy` (plain
//! policies or `and`) with `rate_allocation`. Every name is checked where otelcol checks it
//! at start, so a config otelcol would refuse is refused by `validate`.

use std::time::Duration;

use regex::Regex;
use serde::Deserialize;
use serde_yaml::Value;

use crate::config::de::{self, join, Text};
use crate::config::duration::GoDuration;
use crate::config::error::Errors;
use crate::ottl;

/// Default `decision_wait` (otelcol's).
pub const DEFAULT_DECISION_WAIT: Duration = Duration::from_secs(30);
/// Default `num_traces` (otelcol's).
pub const DEFAULT_NUM_TRACES: u64 = 50_000;
/// Entries of a regex `string_attribute`'s match cache when `cache_max_size` is unset
/// (otelcol's default).
pub const DEFAULT_REGEX_CACHE_SIZE: usize = 128;
/// Longest `trace_state` key or value otelcol accepts (the W3C limit).
const TRACE_STATE_TEXT_MAX: usize = 256;

/// The `tail_sampling` processor.
#[derive(Clone, Debug, PartialEq)]
pub struct TailSamplingConfig {
    /// Wait from a trace's first span to its decision (default 30s).
    pub decision_wait: Duration,
    /// Traces held at once in the whole process, split over the shards (default 50000).
    pub num_traces: u64,
    /// A sizing hint for the trace table.
    pub expected_new_traces_per_sec: u64,
    /// Trace ids whose "sample" decision is remembered for late spans (0 = none).
    pub sampled_cache_size: usize,
    /// Trace ids whose "do not sample" decision is remembered for late spans (0 = none).
    pub non_sampled_cache_size: usize,
    /// Stop evaluating at the first policy that samples.
    pub sample_on_first_match: bool,
    /// On shutdown, drop held traces instead of deciding on what arrived.
    pub drop_pending_traces_on_shutdown: bool,
    /// The policies, in config order.
    pub policies: Vec<PolicyConfig>,
}

/// One named policy.
#[derive(Clone, Debug, PartialEq)]
pub struct PolicyConfig {
    /// Its name, the `policy` metric label.
    pub name: String,
    /// What it checks.
    pub rule: Rule,
}

/// What a policy checks, one variant per otelcol policy type.
#[derive(Clone, Debug)]
pub enum Rule {
    /// Samples every trace.
    AlwaysSample,
    /// Samples traces whose span from first start to last end lasts within the bounds.
    Latency {
        /// Lower bound in milliseconds.
        threshold_ms: i64,
        /// Upper bound in milliseconds (0 = none).
        upper_threshold_ms: i64,
    },
    /// Samples traces with an integer attribute in `[min, max]`.
    NumericAttribute {
        /// The attribute key (resource or span).
        key: String,
        /// Lower bound, inclusive.
        min: i64,
        /// Upper bound, inclusive.
        max: i64,
        /// Sample traces where no span or resource matches instead.
        invert_match: bool,
    },
    /// Samples a share of traces by an FNV hash of the salted trace id.
    Probabilistic {
        /// Salt of the hash (otelcol's default when empty).
        hash_salt: String,
        /// Percent of traces sampled.
        sampling_percentage: f64,
    },
    /// Samples traces with a span whose status code is listed (OTLP codes 0, 1, 2).
    StatusCode {
        /// The codes.
        codes: Vec<i32>,
    },
    /// Samples traces with a string attribute equal to (or matching) a listed value.
    StringAttribute {
        /// The attribute key (resource or span).
        key: String,
        /// Exact values, or the expressions when `regexes` is set.
        values: Vec<String>,
        /// The compiled expressions (`enabled_regex_matching`).
        regexes: Option<Vec<Regex>>,
        /// Entries of the expressions' match cache.
        cache_max_size: usize,
        /// Sample traces where no span or resource matches instead.
        invert_match: bool,
    },
    /// Samples traces while the spans sampled this second stay within the rate.
    RateLimiting {
        /// The rate.
        spans_per_second: i64,
    },
    /// Samples traces whose span count is within the bounds.
    SpanCount {
        /// Lower bound, inclusive.
        min_spans: i64,
        /// Upper bound, inclusive (0 = none).
        max_spans: i64,
    },
    /// Samples traces with a span whose tracestate holds `key=value`, value listed.
    TraceState {
        /// The tracestate key.
        key: String,
        /// The values.
        values: Vec<String>,
    },
    /// Samples traces with a boolean attribute of the given value.
    BooleanAttribute {
        /// The attribute key (resource or span).
        key: String,
        /// The value.
        value: bool,
        /// Sample traces where no span or resource matches instead.
        invert_match: bool,
    },
    /// Samples traces with a span (or span event) one of its OTTL conditions holds for.
    OttlCondition(Box<OttlRule>),
    /// Samples when every sub-policy samples.
    And(Vec<PolicyConfig>),
    /// Drops the trace when every sub-policy samples; decides nothing otherwise.
    Drop(Vec<PolicyConfig>),
    /// The first sub-policy that samples decides, within its spans-per-second allocation.
    Composite {
        /// The total rate.
        max_total_spans_per_second: i64,
        /// Sub-policies with their allocated rate, in config order.
        subs: Vec<(PolicyConfig, i64)>,
    },
}

impl PartialEq for Rule {
    fn eq(&self, other: &Rule) -> bool {
        // Regexes do not compare; their source text is in `values`.
        format!("{self:?}") == format!("{other:?}")
    }
}

/// The `ottl_condition` policy: conditions compiled once, in the span and span event
/// contexts, and what a failing one means.
#[derive(Clone, Debug)]
pub struct OttlRule {
    /// Conditions on each span.
    pub span: Vec<ottl::Condition>,
    /// Conditions on each span event.
    pub spanevent: Vec<ottl::Condition>,
    /// What a condition that fails to evaluate does (otelcol's `error_mode`).
    pub error_mode: ottl::ErrorMode,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawOttl {
    error_mode: Option<Text>,
    span: Vec<Text>,
    spanevent: Vec<Text>,
}

/// Compiles an `ottl_condition` body at `at`; every bad condition is reported, naming it.
fn ottl_rule(body: Option<Value>, at: &str, errs: &mut Errors) -> Option<Rule> {
    let at = join(at, "ottl_condition");
    let raw: RawOttl = errs.take(de::decode(body.unwrap_or(Value::Null), &at))?;
    let error_mode = match raw.error_mode.as_ref().map(|m| m.0.as_str()) {
        None => ottl::ErrorMode::Propagate,
        Some(mode) => ottl::ErrorMode::parse(mode).or_else(|| {
            errs.invalid(
                join(&at, "error_mode"),
                format!("unknown error_mode {mode:?} (ignore, silent or propagate)"),
            );
            None
        })?,
    };
    if raw.span.is_empty() && raw.spanevent.is_empty() {
        errs.invalid(&at, "at least one span or spanevent condition is needed");
        return None;
    }
    let mut compile = |texts: Vec<Text>, key: &str, context: ottl::Context| {
        let mut out = Vec::new();
        for (i, text) in texts.iter().enumerate() {
            match ottl::Condition::parse(&text.0, context, false) {
                Ok(c) => out.push(c),
                Err(e) => errs.invalid(format!("{}[{i}]", join(&at, key)), e),
            }
        }
        out
    };
    let span = compile(raw.span, "span", ottl::Context::Span);
    let spanevent = compile(raw.spanevent, "spanevent", ottl::Context::SpanEvent);
    Some(Rule::OttlCondition(Box::new(OttlRule {
        span,
        spanevent,
        error_mode,
    })))
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct Raw {
    decision_wait: Option<GoDuration>,
    num_traces: Option<u64>,
    expected_new_traces_per_sec: Option<u64>,
    decision_cache: Option<RawCache>,
    sample_on_first_match: Option<bool>,
    drop_pending_traces_on_shutdown: Option<bool>,
    block_on_overflow: Option<bool>,
    policies: Option<Vec<RawPolicy>>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawCache {
    sampled_cache_size: Option<usize>,
    non_sampled_cache_size: Option<usize>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawPolicy {
    name: Option<Text>,
    #[serde(rename = "type")]
    kind: Option<Text>,
    latency: Option<RawLatency>,
    numeric_attribute: Option<RawNumeric>,
    probabilistic: Option<RawProbabilistic>,
    status_code: Option<RawStatus>,
    string_attribute: Option<RawString>,
    rate_limiting: Option<RawRate>,
    bytes_limiting: Option<Value>,
    span_count: Option<RawSpanCount>,
    trace_state: Option<RawTraceState>,
    boolean_attribute: Option<RawBoolean>,
    ottl_condition: Option<Value>,
    trace_flags: Option<Value>,
    and: Option<RawAnd>,
    drop: Option<RawDrop>,
    composite: Option<RawComposite>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawLatency {
    threshold_ms: i64,
    upper_threshold_ms: i64,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawNumeric {
    key: Text,
    min_value: Option<i64>,
    max_value: Option<i64>,
    invert_match: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawProbabilistic {
    hash_salt: Text,
    sampling_percentage: f64,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawStatus {
    status_codes: Vec<Text>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawString {
    key: Text,
    values: Vec<Text>,
    enabled_regex_matching: bool,
    cache_max_size: i64,
    invert_match: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawRate {
    spans_per_second: i64,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawSpanCount {
    min_spans: i64,
    max_spans: i64,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawTraceState {
    key: Text,
    values: Vec<Text>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawBoolean {
    key: Text,
    value: bool,
    invert_match: bool,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawAnd {
    and_sub_policy: Vec<RawPolicy>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawDrop {
    drop_sub_policy: Vec<RawPolicy>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawComposite {
    max_total_spans_per_second: i64,
    policy_order: Vec<Text>,
    composite_sub_policy: Vec<RawPolicy>,
    rate_allocation: Vec<RawAllocation>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawAllocation {
    policy: Text,
    percent: i64,
}

/// Where a policy sits, which decides the types it may have.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Level {
    Top,
    Composite,
    Plain,
}

/// Decodes and checks a `tail_sampling` body at `path`.
pub(crate) fn parse(body: Value, path: &str, errs: &mut Errors) -> Option<TailSamplingConfig> {
    let raw: Raw = errs.take(de::decode(body, path))?;
    let num_traces = raw.num_traces.unwrap_or(DEFAULT_NUM_TRACES);
    if num_traces == 0 {
        errs.invalid(
            join(path, "num_traces"),
            "num_traces must be greater than 0",
        );
    }
    let decision_wait = raw.decision_wait.map_or(DEFAULT_DECISION_WAIT, |d| d.0);
    if decision_wait.is_zero() {
        errs.invalid(
            join(path, "decision_wait"),
            "decision_wait must be greater than 0",
        );
    }
    if raw.block_on_overflow == Some(true) {
        errs.invalid(
            join(path, "block_on_overflow"),
            "blocking receivers when num_traces is reached is not supported; the oldest trace is decided early instead",
        );
    }
    let policies_path = join(path, "policies");
    let raw_policies = raw.policies.unwrap_or_default();
    if raw_policies.is_empty() {
        errs.invalid(&policies_path, "no policies configured");
    }
    let policies = policies(raw_policies, &policies_path, Level::Top, errs);
    let cache = raw.decision_cache.unwrap_or_default();
    Some(TailSamplingConfig {
        decision_wait,
        num_traces: num_traces.max(1),
        expected_new_traces_per_sec: raw.expected_new_traces_per_sec.unwrap_or(0),
        sampled_cache_size: cache.sampled_cache_size.unwrap_or(0),
        non_sampled_cache_size: cache.non_sampled_cache_size.unwrap_or(0),
        sample_on_first_match: raw.sample_on_first_match.unwrap_or(false),
        drop_pending_traces_on_shutdown: raw.drop_pending_traces_on_shutdown.unwrap_or(false),
        policies,
    })
}

/// A list of policies with unique, non-empty names.
fn policies(raw: Vec<RawPolicy>, path: &str, level: Level, errs: &mut Errors) -> Vec<PolicyConfig> {
    let mut out: Vec<PolicyConfig> = Vec::with_capacity(raw.len());
    for (i, p) in raw.into_iter().enumerate() {
        let at = format!("{path}[{i}]");
        let name = p.name.clone().map(|t| t.0).unwrap_or_default();
        if name.is_empty() {
            errs.invalid(join(&at, "name"), "policy name cannot be empty");
        } else if out.iter().any(|o| o.name == name) {
            errs.invalid(join(&at, "name"), format!("duplicate policy name {name:?}"));
        }
        if let Some(rule) = rule(p, &at, level, errs) {
            out.push(PolicyConfig { name, rule });
        }
    }
    out
}

/// One policy's rule, from its `type` and that type's section.
fn rule(p: RawPolicy, at: &str, level: Level, errs: &mut Errors) -> Option<Rule> {
    let kind = p.kind.clone().map(|t| t.0).unwrap_or_default();
    match kind.as_str() {
        "and" if level != Level::Plain => {
            let at = join(at, "and::and_sub_policy");
            Some(Rule::And(subs(
                p.and.unwrap_or_default().and_sub_policy,
                &at,
                errs,
            )))
        }
        "drop" if level == Level::Top => {
            let at = join(at, "drop::drop_sub_policy");
            Some(Rule::Drop(subs(
                p.drop.unwrap_or_default().drop_sub_policy,
                &at,
                errs,
            )))
        }
        "composite" if level == Level::Top => composite(p.composite.unwrap_or_default(), at, errs),
        "and" | "drop" | "composite" => {
            errs.invalid(
                join(at, "type"),
                format!("policy type {kind} is not allowed here (otelcol allows it only at a higher level)"),
            );
            None
        }
        "ottl_condition" => ottl_rule(p.ottl_condition, at, errs),
        "bytes_limiting" | "trace_flags" => {
            errs.invalid(
                join(at, "type"),
                format!("policy type {kind} is not supported yet"),
            );
            None
        }
        "" => {
            errs.invalid(join(at, "type"), "policy type must be set");
            None
        }
        _ => plain(&kind, p, at, errs),
    }
}

/// The sub-policies of an `and` or `drop`, at `at`.
fn subs(raw: Vec<RawPolicy>, at: &str, errs: &mut Errors) -> Vec<PolicyConfig> {
    if raw.is_empty() {
        errs.invalid(at, "this policy needs sub-policies");
    }
    policies(raw, at, Level::Plain, errs)
}

/// A policy that checks the trace itself (every type but the combinators).
fn plain(kind: &str, p: RawPolicy, at: &str, errs: &mut Errors) -> Option<Rule> {
    match kind {
        "always_sample" => Some(Rule::AlwaysSample),
        "latency" => latency(p.latency.unwrap_or_default(), at, errs),
        "numeric_attribute" => numeric(p.numeric_attribute.unwrap_or_default(), at, errs),
        "probabilistic" => probabilistic(p.probabilistic.unwrap_or_default(), at, errs),
        "status_code" => status_code(p.status_code.unwrap_or_default(), at, errs),
        "string_attribute" => string(p.string_attribute.unwrap_or_default(), at, errs),
        "rate_limiting" => rate_limiting(p.rate_limiting.unwrap_or_default(), at, errs),
        "span_count" => span_count(p.span_count.unwrap_or_default(), at, errs),
        "trace_state" => trace_state(p.trace_state.unwrap_or_default(), at, errs),
        "boolean_attribute" => boolean(p.boolean_attribute.unwrap_or_default(), at, errs),
        other => {
            errs.invalid(
                join(at, "type"),
                format!("unknown sampling policy type {other}"),
            );
            None
        }
    }
}

fn latency(l: RawLatency, at: &str, errs: &mut Errors) -> Option<Rule> {
    if l.upper_threshold_ms != 0 && l.upper_threshold_ms < l.threshold_ms {
        errs.invalid(
            join(at, "latency"),
            "upper_threshold_ms must be greater than threshold_ms",
        );
    }
    Some(Rule::Latency {
        threshold_ms: l.threshold_ms,
        upper_threshold_ms: l.upper_threshold_ms,
    })
}

fn probabilistic(c: RawProbabilistic, at: &str, errs: &mut Errors) -> Option<Rule> {
    if !(c.sampling_percentage.is_finite() && c.sampling_percentage >= 0.0) {
        errs.invalid(
            join(at, "probabilistic::sampling_percentage"),
            "sampling_percentage must be a number of 0 or more",
        );
    }
    Some(Rule::Probabilistic {
        hash_salt: c.hash_salt.0,
        sampling_percentage: c.sampling_percentage,
    })
}

fn rate_limiting(c: RawRate, at: &str, errs: &mut Errors) -> Option<Rule> {
    if c.spans_per_second <= 0 {
        errs.invalid(
            join(at, "rate_limiting::spans_per_second"),
            "spans_per_second must be greater than 0",
        );
    }
    Some(Rule::RateLimiting {
        spans_per_second: c.spans_per_second,
    })
}

fn span_count(c: RawSpanCount, at: &str, errs: &mut Errors) -> Option<Rule> {
    if c.max_spans != 0 && c.max_spans < c.min_spans {
        errs.invalid(
            join(at, "span_count"),
            "max_spans must be greater than or equal to min_spans",
        );
    }
    Some(Rule::SpanCount {
        min_spans: c.min_spans,
        max_spans: c.max_spans,
    })
}

fn boolean(c: RawBoolean, at: &str, errs: &mut Errors) -> Option<Rule> {
    if c.key.0.is_empty() {
        errs.invalid(join(at, "boolean_attribute::key"), "key must not be empty");
    }
    Some(Rule::BooleanAttribute {
        key: c.key.0,
        value: c.value,
        invert_match: c.invert_match,
    })
}

fn numeric(c: RawNumeric, at: &str, errs: &mut Errors) -> Option<Rule> {
    // otelcol treats 0 as unset, so either bound may be left open.
    let min = c.min_value.filter(|v| *v != 0);
    let max = c.max_value.filter(|v| *v != 0);
    if min.is_none() && max.is_none() {
        errs.invalid(
            join(at, "numeric_attribute"),
            "one of min_value or max_value must be set",
        );
    }
    if let (Some(lo), Some(hi)) = (min, max) {
        if hi < lo {
            errs.invalid(
                join(at, "numeric_attribute::max_value"),
                "max_value must be greater than or equal to min_value",
            );
        }
    }
    Some(Rule::NumericAttribute {
        key: c.key.0,
        min: min.unwrap_or(i64::MIN),
        max: max.unwrap_or(i64::MAX),
        invert_match: c.invert_match,
    })
}

fn status_code(c: RawStatus, at: &str, errs: &mut Errors) -> Option<Rule> {
    let at = join(at, "status_code::status_codes");
    if c.status_codes.is_empty() {
        errs.invalid(&at, "expected at least one status code to filter on");
    }
    let mut codes = Vec::new();
    for code in &c.status_codes {
        match code.0.as_str() {
            "UNSET" => codes.push(0),
            "OK" => codes.push(1),
            "ERROR" => codes.push(2),
            other => errs.invalid(
                &at,
                format!("unknown status code {other:?}, supported: OK, ERROR, UNSET"),
            ),
        }
    }
    Some(Rule::StatusCode { codes })
}

fn string(c: RawString, at: &str, errs: &mut Errors) -> Option<Rule> {
    let values: Vec<String> = c.values.into_iter().map(|t| t.0).collect();
    let regexes = if c.enabled_regex_matching {
        let mut compiled = Vec::with_capacity(values.len());
        for v in &values {
            match Regex::new(v) {
                Ok(r) => compiled.push(r),
                Err(e) => errs.invalid(
                    join(at, "string_attribute::values"),
                    format!("invalid regular expression {v:?}: {e}"),
                ),
            }
        }
        Some(compiled)
    } else {
        None
    };
    let cache_max_size = usize::try_from(c.cache_max_size)
        .ok()
        .filter(|n| *n > 0)
        .unwrap_or(DEFAULT_REGEX_CACHE_SIZE);
    Some(Rule::StringAttribute {
        key: c.key.0,
        values: values.into_iter().filter(|v| !v.is_empty()).collect(),
        regexes,
        cache_max_size,
        invert_match: c.invert_match,
    })
}

fn trace_state(c: RawTraceState, at: &str, errs: &mut Errors) -> Option<Rule> {
    let values: Vec<String> = c.values.into_iter().map(|t| t.0).collect();
    if values.is_empty() {
        errs.invalid(
            join(at, "trace_state::values"),
            "expected at least one value",
        );
    }
    let too_long = std::iter::once(&c.key.0)
        .chain(values.iter())
        .any(|v| v.len() + c.key.0.len() + 1 > TRACE_STATE_TEXT_MAX);
    if too_long {
        errs.invalid(
            join(at, "trace_state"),
            "a key=value pair must be at most 256 characters",
        );
    }
    Some(Rule::TraceState {
        key: c.key.0,
        values,
    })
}

fn composite(c: RawComposite, at: &str, errs: &mut Errors) -> Option<Rule> {
    let at = join(at, "composite");
    if c.max_total_spans_per_second <= 0 {
        errs.invalid(
            join(&at, "max_total_spans_per_second"),
            "max_total_spans_per_second must be greater than 0",
        );
    }
    let sub_path = join(&at, "composite_sub_policy");
    if c.composite_sub_policy.is_empty() {
        errs.invalid(&sub_path, "a composite policy needs sub-policies");
    }
    let subs = policies(c.composite_sub_policy, &sub_path, Level::Composite, errs);
    for name in &c.policy_order {
        if !subs.iter().any(|s| s.name == name.0) {
            errs.invalid(
                join(&at, "policy_order"),
                format!("policy {:?} is not a composite_sub_policy", name.0),
            );
        }
    }
    let total = c.max_total_spans_per_second as f64;
    let even = total / (subs.len().max(1) as f64);
    let mut percent_sum = 0;
    for a in &c.rate_allocation {
        percent_sum += a.percent.max(0);
        if !subs.iter().any(|s| s.name == a.policy.0) {
            errs.invalid(
                join(&at, "rate_allocation"),
                format!("policy {:?} is not a composite_sub_policy", a.policy.0),
            );
        }
    }
    if percent_sum > 100 {
        errs.invalid(
            join(&at, "rate_allocation"),
            "rate allocation percentages add up to more than 100",
        );
    }
    // otelcol: a listed percentage is that share of the total; a listed 0 (or less) is an
    // even share; a sub-policy not listed has no allocation and never samples.
    let subs = subs
        .into_iter()
        .map(|s| {
            let allocated = c
                .rate_allocation
                .iter()
                .find(|a| a.policy.0 == s.name)
                .map_or(0.0, |a| {
                    if a.percent > 0 {
                        a.percent as f64 / 100.0 * total
                    } else {
                        even
                    }
                });
            (s, allocated as i64)
        })
        .collect();
    Some(Rule::Composite {
        max_total_spans_per_second: c.max_total_spans_per_second,
        subs,
    })
}

/// Parses a body as `processors::tail_sampling` (for tests of the processor).
#[cfg(test)]
pub(crate) fn parse_tail(yaml: &str) -> Result<TailSamplingConfig, String> {
    let mut errs = Errors::default();
    let body: Value = serde_yaml::from_str(yaml).map_err(|e| e.to_string())?;
    let cfg = parse(body, "processors::tail_sampling", &mut errs);
    errs.finish(cfg)
        .map_err(|e| e.to_string())
        .and_then(|c| c.ok_or_else(|| "none".to_owned()))
}

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;
