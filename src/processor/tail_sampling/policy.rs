//! The policies' evaluation of one held trace, as otelcol's evaluators decide.
//!
//! Every policy looks at the trace as received so far (its resource messages) and its span
//! count. Attribute policies look at resource attributes and span attributes; an inverted
//! one (`invert_match`) answers "invert sampled" only when no resource and no span matches,
//! which the final decision weighs below "sampled" (see [`super::decide`]). Rate policies
//! keep the spans they sampled in the current second.

use std::collections::HashMap;

use opentelemetry_proto::tonic::common::v1::any_value::Value;
use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::trace::v1::Span;
use regex::Regex;

use super::config::{OttlRule, PolicyConfig, Rule};
use super::split::Piece;
use crate::ottl;

/// Salt of the probabilistic policy's hash when none is set (otelcol's).
const DEFAULT_HASH_SALT: &str = "default-hash-seed";
/// FNV-1a 64-bit offset basis and prime.
const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// One policy's answer for a trace (otelcol's decision values).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Decision {
    /// Not sampled.
    NotSampled,
    /// Sampled.
    Sampled,
    /// An inverted match found nothing to exclude: sampled unless another policy says no.
    InvertSampled,
    /// An inverted match found what it excludes: not sampled, over any "sampled".
    InvertNotSampled,
    /// A drop policy matched: not sampled, over everything.
    Dropped,
}

/// A held trace as the policies see it.
pub struct TraceView<'a> {
    /// The trace id.
    pub id: &'a [u8; 16],
    /// Its spans, under their resource and scope.
    pub parts: &'a [Piece],
    /// Spans received for it.
    pub spans: u64,
}

impl TraceView<'_> {
    fn spans(&self) -> impl Iterator<Item = &Span> {
        self.parts.iter().flat_map(|p| p.spans.iter())
    }
}

/// A policy ready to evaluate, with the state rate policies keep.
pub struct Evaluator {
    /// The policy's name.
    pub name: String,
    check: Check,
}

enum Check {
    Always,
    Latency {
        lower_ms: i64,
        upper_ms: i64,
    },
    Numeric {
        key: String,
        min: i64,
        max: i64,
        invert: bool,
    },
    Probabilistic {
        salt: String,
        threshold: u64,
    },
    Status {
        codes: Vec<i32>,
    },
    Text {
        key: String,
        matcher: Matcher,
        invert: bool,
    },
    Rate {
        limit: i64,
        second: u64,
        spent: i64,
    },
    SpanCount {
        min: i64,
        max: i64,
    },
    TraceState {
        key: String,
        values: Vec<String>,
    },
    Boolean {
        key: String,
        value: bool,
        invert: bool,
    },
    Ottl(Box<OttlRule>),
    And(Vec<Evaluator>),
    Drop(Vec<Evaluator>),
    Composite {
        total: i64,
        second: u64,
        subs: Vec<(Evaluator, i64, i64)>,
    },
}

/// How a string attribute policy matches values.
enum Matcher {
    Exact(Vec<String>),
    /// Expressions (unanchored, as Go's `MatchString`), with a bounded cache of answers
    /// (cleared when full: it only saves repeated matching).
    Regex {
        list: Vec<Regex>,
        cache: HashMap<String, bool>,
        cache_max: usize,
    },
}

impl Matcher {
    fn matches(&mut self, text: &str) -> bool {
        match self {
            Matcher::Exact(values) => values.iter().any(|v| v == text),
            Matcher::Regex {
                list,
                cache,
                cache_max,
            } => {
                if let Some(hit) = cache.get(text) {
                    return *hit;
                }
                let hit = list.iter().any(|r| r.is_match(text));
                if cache.len() >= *cache_max {
                    cache.clear();
                }
                cache.insert(text.to_owned(), hit);
                hit
            }
        }
    }
}

impl Evaluator {
    /// The evaluator of `policy`.
    pub fn new(policy: &PolicyConfig) -> Evaluator {
        let check = match &policy.rule {
            Rule::And(subs) => Check::And(subs.iter().map(Evaluator::new).collect()),
            Rule::Drop(subs) => Check::Drop(subs.iter().map(Evaluator::new).collect()),
            Rule::Composite {
                max_total_spans_per_second,
                subs,
            } => Check::Composite {
                total: *max_total_spans_per_second,
                second: u64::MAX,
                subs: subs
                    .iter()
                    .map(|(p, rate)| (Evaluator::new(p), *rate, 0))
                    .collect(),
            },
            leaf => leaf_check(leaf),
        };
        Evaluator {
            name: policy.name.clone(),
            check,
        }
    }

    /// Whether this is a `drop` policy (otelcol evaluates those first).
    pub fn is_drop(&self) -> bool {
        matches!(self.check, Check::Drop(_))
    }

    /// This policy's decision on `trace`; `second` is the current second of a steady
    /// clock, for the rate policies.
    pub fn evaluate(&mut self, trace: &TraceView<'_>, second: u64) -> Decision {
        let spans = i64::try_from(trace.spans).unwrap_or(i64::MAX);
        match &mut self.check {
            Check::Always => Decision::Sampled,
            Check::Latency { lower_ms, upper_ms } => latency(trace, *lower_ms, *upper_ms),
            Check::Numeric {
                key,
                min,
                max,
                invert,
            } => {
                let (min, max) = (*min, *max);
                attribute_rule(trace, key, *invert, |v, _| (min..=max).contains(&int_of(v)))
            }
            Check::Probabilistic { salt, threshold } => {
                sampled_if(hash_trace_id(salt, trace.id) <= *threshold)
            }
            Check::Status { codes } => sampled_if(
                trace
                    .spans()
                    .any(|s| codes.contains(&s.status.as_ref().map_or(0, |st| st.code))),
            ),
            Check::Text {
                key,
                matcher,
                invert,
            } => attribute_rule(trace, key, *invert, |v, on_span| {
                let text = str_of(v);
                // otelcol skips empty span values, not empty resource values.
                !(on_span && text.is_empty()) && matcher.matches(text)
            }),
            Check::Rate {
                limit,
                second: current,
                spent,
            } => {
                if *current != second {
                    (*current, *spent) = (second, 0);
                }
                let after = spent.saturating_add(spans);
                if after < *limit {
                    *spent = after;
                    return Decision::Sampled;
                }
                Decision::NotSampled
            }
            Check::SpanCount { min, max } => {
                sampled_if(spans >= *min && (*max == 0 || spans <= *max))
            }
            Check::TraceState { key, values } => sampled_if(trace.spans().any(|s| {
                s.trace_state.split(',').any(|member| {
                    member.trim().split_once('=').is_some_and(|(k, v)| {
                        k == key.as_str() && values.iter().any(|want| want == v)
                    })
                })
            })),
            Check::Boolean { key, value, invert } => {
                let want = *value;
                attribute_rule(trace, key, *invert, |v, _| bool_of(v) == want)
            }
            Check::Ottl(rule) => sampled_if(ottl_holds(rule, trace)),
            Check::And(subs) => all_sample(subs, trace, second, Decision::Sampled),
            Check::Drop(subs) => all_sample(subs, trace, second, Decision::Dropped),
            Check::Composite {
                total,
                second: current,
                subs,
            } => {
                if *current != second {
                    *current = second;
                    subs.iter_mut().for_each(|s| s.2 = 0);
                }
                composite(subs, *total, trace, second, spans)
            }
        }
    }
}

/// `ottl_condition`: whether a span condition holds for a span, or a span event condition
/// for an event, of `trace`. A condition that fails to evaluate counts as false (logged
/// unless `error_mode: silent`). OTTL edits in place, so each span is looked at through a
/// copy: the held spans stay as received.
fn ottl_holds(rule: &OttlRule, trace: &TraceView<'_>) -> bool {
    let holds = |c: &ottl::Condition, t: &ottl::Target<'_>| match c.holds(t) {
        Ok(b) => b,
        Err(error) => {
            if rule.error_mode != ottl::ErrorMode::Silent {
                tracing::warn!(condition = %c.text, %error, "tail_sampling: an ottl_condition failed; counted as false");
            }
            false
        }
    };
    let mut cache = Vec::new();
    for piece in trace.parts {
        let mut resource = piece.header.resource.0.clone().unwrap_or_default();
        let mut scope = piece.header.scope.clone().unwrap_or_default();
        for span in &piece.spans {
            let mut span = span.clone();
            for c in &rule.span {
                cache.clear();
                let t = ottl::Target {
                    resource: &mut resource,
                    scope: &mut scope,
                    item: ottl::context::Item::Span(&mut span),
                    cache: &mut cache,
                };
                if holds(c, &t) {
                    return true;
                }
            }
            for event in 0..span.events.len() {
                for c in &rule.spanevent {
                    cache.clear();
                    let t = ottl::Target {
                        resource: &mut resource,
                        scope: &mut scope,
                        item: ottl::context::Item::SpanEvent(&mut span, event),
                        cache: &mut cache,
                    };
                    if holds(c, &t) {
                        return true;
                    }
                }
            }
        }
    }
    false
}

/// `and` and `drop`: `then` when every sub-policy samples, else not sampled.
fn all_sample(
    subs: &mut [Evaluator],
    trace: &TraceView<'_>,
    second: u64,
    then: Decision,
) -> Decision {
    for sub in subs {
        if matches!(
            sub.evaluate(trace, second),
            Decision::NotSampled | Decision::InvertNotSampled
        ) {
            return Decision::NotSampled;
        }
    }
    then
}

/// `composite`: the first sub-policy that samples decides, within its allocation of spans
/// this second and the total (a trace over either is not sampled and costs nothing).
fn composite(
    subs: &mut [(Evaluator, i64, i64)],
    total: i64,
    trace: &TraceView<'_>,
    second: u64,
    spans: i64,
) -> Decision {
    for (sub, allocated, spent) in subs.iter_mut() {
        let d = sub.evaluate(trace, second);
        if matches!(d, Decision::Sampled | Decision::InvertSampled) {
            let after = spent.saturating_add(spans);
            if after <= *allocated && after <= total {
                *spent = after;
                return Decision::Sampled;
            }
            return Decision::NotSampled;
        }
    }
    Decision::NotSampled
}

/// The check of a policy that looks at the trace itself.
fn leaf_check(rule: &Rule) -> Check {
    match rule {
        Rule::AlwaysSample => Check::Always,
        Rule::Latency {
            threshold_ms,
            upper_threshold_ms,
        } => Check::Latency {
            lower_ms: *threshold_ms,
            upper_ms: *upper_threshold_ms,
        },
        Rule::NumericAttribute {
            key,
            min,
            max,
            invert_match,
        } => Check::Numeric {
            key: key.clone(),
            min: *min,
            max: *max,
            invert: *invert_match,
        },
        Rule::Probabilistic {
            hash_salt,
            sampling_percentage,
        } => Check::Probabilistic {
            salt: if hash_salt.is_empty() {
                DEFAULT_HASH_SALT.into()
            } else {
                hash_salt.clone()
            },
            threshold: threshold(*sampling_percentage / 100.0),
        },
        Rule::StatusCode { codes } => Check::Status {
            codes: codes.clone(),
        },
        Rule::StringAttribute {
            key,
            values,
            regexes,
            cache_max_size,
            invert_match,
        } => Check::Text {
            key: key.clone(),
            matcher: match regexes {
                Some(list) => Matcher::Regex {
                    list: list.clone(),
                    cache: HashMap::new(),
                    cache_max: (*cache_max_size).max(1),
                },
                None => Matcher::Exact(values.clone()),
            },
            invert: *invert_match,
        },
        Rule::RateLimiting { spans_per_second } => Check::Rate {
            limit: *spans_per_second,
            second: u64::MAX,
            spent: 0,
        },
        Rule::SpanCount {
            min_spans,
            max_spans,
        } => Check::SpanCount {
            min: *min_spans,
            max: *max_spans,
        },
        Rule::TraceState { key, values } => Check::TraceState {
            key: key.clone(),
            values: values.clone(),
        },
        Rule::BooleanAttribute {
            key,
            value,
            invert_match,
        } => Check::Boolean {
            key: key.clone(),
            value: *value,
            invert: *invert_match,
        },
        Rule::OttlCondition(rule) => Check::Ottl(rule.clone()),
        // The combinators are built by `Evaluator::new`; nothing else reaches here.
        Rule::And(_) | Rule::Drop(_) | Rule::Composite { .. } => Check::Always,
    }
}

fn sampled_if(yes: bool) -> Decision {
    if yes {
        Decision::Sampled
    } else {
        Decision::NotSampled
    }
}

/// otelcol's latency check: the running span from the earliest start to the latest end,
/// checked span by span, samples as soon as it is within the bounds.
fn latency(trace: &TraceView<'_>, lower_ms: i64, upper_ms: i64) -> Decision {
    let (mut first, mut last) = (0u64, 0u64);
    sampled_if(trace.spans().any(|s| {
        if first == 0 || s.start_time_unix_nano < first {
            first = s.start_time_unix_nano;
        }
        if last == 0 || s.end_time_unix_nano > last {
            last = s.end_time_unix_nano;
        }
        let ms =
            i64::try_from((i128::from(last) - i128::from(first)) / 1_000_000).unwrap_or(i64::MAX);
        if upper_ms == 0 {
            ms >= lower_ms
        } else {
            lower_ms < ms && ms <= upper_ms
        }
    }))
}

/// An attribute policy over resources and spans. Plain: sampled when any resource or span
/// has `key` with a value `hit` accepts. Inverted: "invert not sampled" as soon as one does,
/// else "invert sampled" (a trace without the key is sampled).
fn attribute_rule(
    trace: &TraceView<'_>,
    key: &str,
    invert: bool,
    mut hit: impl FnMut(&Value, bool) -> bool,
) -> Decision {
    let mut found = |attrs: &[KeyValue], on_span: bool| {
        attrs
            .iter()
            .filter(|kv| kv.key == key)
            .filter_map(|kv| kv.value.as_ref().and_then(|v| v.value.as_ref()))
            .any(|v| hit(v, on_span))
    };
    let any = trace.parts.iter().any(|piece| {
        let resource = piece.header.resource.0.as_ref();
        let resource = resource.map_or(&[][..], |r| &r.attributes[..]);
        found(resource, false) || piece.spans.iter().any(|s| found(&s.attributes, true))
    });
    match (invert, any) {
        (false, true) => Decision::Sampled,
        (false, false) => Decision::NotSampled,
        (true, true) => Decision::InvertNotSampled,
        (true, false) => Decision::InvertSampled,
    }
}

/// The value's integer, 0 for other types (pdata's `Int()`).
fn int_of(v: &Value) -> i64 {
    match v {
        Value::IntValue(i) => *i,
        _ => 0,
    }
}

/// The value's string, empty for other types (pdata's `Str()`).
fn str_of(v: &Value) -> &str {
    match v {
        Value::StringValue(s) => s,
        _ => "",
    }
}

/// The value's bool, false for other types (pdata's `Bool()`).
fn bool_of(v: &Value) -> bool {
    matches!(v, Value::BoolValue(true))
}

/// FNV-1a over the salt then the trace id, as otelcol hashes for the probabilistic policy.
pub fn hash_trace_id(salt: &str, id: &[u8; 16]) -> u64 {
    salt.as_bytes()
        .iter()
        .chain(id.iter())
        .fold(FNV_OFFSET, |h, b| {
            (h ^ u64::from(*b)).wrapping_mul(FNV_PRIME)
        })
}

/// `ratio` of `u64::MAX`, computed as otelcol does: the product rounded to 64 significant
/// bits (its big.Float precision), then truncated; 1 and above is `u64::MAX`.
pub fn threshold(ratio: f64) -> u64 {
    if ratio.is_nan() || ratio <= 0.0 {
        return 0;
    }
    if ratio >= 1.0 {
        return u64::MAX;
    }
    // ratio = mantissa * 2^exponent with a 53-bit integer mantissa.
    let bits = ratio.to_bits();
    let biased = ((bits >> 52) & 0x7ff) as i32;
    let fraction = bits & ((1u64 << 52) - 1);
    let (mantissa, exponent) = if biased == 0 {
        (fraction, -1074)
    } else {
        (fraction | (1u64 << 52), biased - 1075)
    };
    let mut product = u128::from(u64::MAX) * u128::from(mantissa);
    let width = 128 - product.leading_zeros();
    if width > 64 {
        let cut = width - 64;
        let half = 1u128 << (cut - 1);
        let rest = product & ((1u128 << cut) - 1);
        let mut kept = product >> cut;
        if rest > half || (rest == half && kept & 1 == 1) {
            kept += 1;
        }
        product = kept << cut;
    }
    // exponent < 0 here (ratio < 1 with a 53-bit mantissa).
    let shift = u32::try_from(-exponent).unwrap_or(u32::MAX);
    if shift >= 128 {
        return 0;
    }
    u64::try_from(product >> shift).unwrap_or(u64::MAX)
}
