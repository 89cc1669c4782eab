#![allow(clippy::unwrap_used, clippy::expect_used)]

use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::resource::v1::Resource;
use opentelemetry_proto::tonic::trace::v1::{status, ResourceSpans, ScopeSpans, Span, Status};

use super::config::parse_tail;
use super::decide::{decide, DecisionCache};
use super::policy::{hash_trace_id, threshold, Decision, Evaluator, TraceView};
use super::split::{sort, Piece};

fn kv(key: &str, value: any_value::Value) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue { value: Some(value) }),
        ..Default::default()
    }
}

fn span(start_ms: u64, end_ms: u64) -> Span {
    Span {
        trace_id: vec![1; 16],
        start_time_unix_nano: start_ms * 1_000_000,
        end_time_unix_nano: end_ms * 1_000_000,
        ..Default::default()
    }
}

fn part(resource: Vec<KeyValue>, spans: Vec<Span>) -> ResourceSpans {
    ResourceSpans {
        resource: Some(Resource {
            attributes: resource,
            ..Default::default()
        }),
        scope_spans: vec![ScopeSpans {
            spans,
            ..Default::default()
        }],
        ..Default::default()
    }
}

/// The pieces of resource messages whose spans are all of one trace.
fn pieces(parts: &[ResourceSpans]) -> Vec<Piece> {
    let mut remote = Vec::new();
    parts
        .iter()
        .flat_map(|rs| sort(rs.clone(), |_| None, &mut remote))
        .flat_map(|p| p.pieces)
        .collect()
}

/// The decision of the one policy in `yaml` (a `policies:` list item) on `parts`.
fn one(policy: &str, parts: &[ResourceSpans]) -> Decision {
    let config = parse_tail(&format!("policies: [{policy}]")).unwrap();
    let mut e = Evaluator::new(&config.policies[0]);
    let parts = pieces(parts);
    let spans = parts.iter().map(|p| p.spans.len() as u64).sum();
    let view = TraceView {
        id: &[1; 16],
        parts: &parts,
        spans,
    };
    e.evaluate(&view, 0)
}

#[test]
fn latency_spans_from_first_start_to_last_end() {
    let trace = [part(vec![], vec![span(1000, 1100), span(1150, 2600)])];
    let p = "{name: l, type: latency, latency: {threshold_ms: 1500}}";
    assert_eq!(one(p, &trace), Decision::Sampled);
    let p = "{name: l, type: latency, latency: {threshold_ms: 1601}}";
    assert_eq!(one(p, &trace), Decision::NotSampled);
    let p = "{name: l, type: latency, latency: {threshold_ms: 100, upper_threshold_ms: 1000}}";
    // otelcol checks span by span: the first span alone (100 ms) is not above 100.
    assert_eq!(one(p, &trace), Decision::NotSampled);
}

#[test]
fn attribute_policies_look_at_resources_and_spans_and_invert() {
    let mut s = span(0, 1);
    s.attributes = vec![kv("code", any_value::Value::IntValue(404))];
    s.attributes
        .push(kv("env", any_value::Value::StringValue("prod-eu".into())));
    s.attributes
        .push(kv("debug", any_value::Value::BoolValue(true)));
    let trace = [part(
        vec![kv("svc", any_value::Value::StringValue("cart".into()))],
        vec![s],
    )];
    let n = "{name: n, type: numeric_attribute, numeric_attribute: {key: code, min_value: 400, max_value: 499}}";
    assert_eq!(one(n, &trace), Decision::Sampled);
    let n = "{name: n, type: numeric_attribute, numeric_attribute: {key: code, min_value: 500}}";
    assert_eq!(one(n, &trace), Decision::NotSampled);
    let s = "{name: s, type: string_attribute, string_attribute: {key: svc, values: [cart]}}";
    assert_eq!(one(s, &trace), Decision::Sampled);
    let s = "{name: s, type: string_attribute, string_attribute: {key: env, values: ['prod-.*'], enabled_regex_matching: true}}";
    assert_eq!(one(s, &trace), Decision::Sampled);
    let s = "{name: s, type: string_attribute, string_attribute: {key: svc, values: [cart], invert_match: true}}";
    assert_eq!(one(s, &trace), Decision::InvertNotSampled);
    let s = "{name: s, type: string_attribute, string_attribute: {key: svc, values: [shop], invert_match: true}}";
    assert_eq!(one(s, &trace), Decision::InvertSampled);
    let b = "{name: b, type: boolean_attribute, boolean_attribute: {key: debug, value: true}}";
    assert_eq!(one(b, &trace), Decision::Sampled);
    let b = "{name: b, type: boolean_attribute, boolean_attribute: {key: debug, value: false}}";
    assert_eq!(one(b, &trace), Decision::NotSampled);
}

#[test]
fn status_span_count_and_trace_state() {
    let mut error = span(0, 1);
    error.status = Some(Status {
        code: status::StatusCode::Error as i32,
        ..Default::default()
    });
    error.trace_state = "ot=th:8, vendor=gold".into();
    let trace = [part(vec![], vec![error, span(0, 1)])];
    let p = "{name: s, type: status_code, status_code: {status_codes: [ERROR]}}";
    assert_eq!(one(p, &trace), Decision::Sampled);
    let p = "{name: s, type: status_code, status_code: {status_codes: [OK]}}";
    assert_eq!(one(p, &trace), Decision::NotSampled);
    let p = "{name: s, type: status_code, status_code: {status_codes: [UNSET]}}";
    assert_eq!(one(p, &trace), Decision::Sampled);
    let p = "{name: c, type: span_count, span_count: {min_spans: 2, max_spans: 2}}";
    assert_eq!(one(p, &trace), Decision::Sampled);
    let p = "{name: c, type: span_count, span_count: {min_spans: 3}}";
    assert_eq!(one(p, &trace), Decision::NotSampled);
    let p = "{name: t, type: trace_state, trace_state: {key: vendor, values: [gold, silver]}}";
    assert_eq!(one(p, &trace), Decision::Sampled);
    let p = "{name: t, type: trace_state, trace_state: {key: vendor, values: [bronze]}}";
    assert_eq!(one(p, &trace), Decision::NotSampled);
}

/// otelcol's `ottl_condition` policy: a span condition (here on a resource attribute and a
/// span attribute) or a span event condition samples the trace; none holding, or one that
/// fails to evaluate, does not; the held spans are not changed by looking.
#[test]
fn ottl_conditions_on_spans_and_span_events() {
    let mut s = span(0, 1);
    s.name = "checkout".into();
    s.attributes = vec![kv("http.status", any_value::Value::IntValue(503))];
    s.events = vec![opentelemetry_proto::tonic::trace::v1::span::Event {
        name: "exception".into(),
        ..Default::default()
    }];
    let trace = [part(
        vec![kv(
            "service.name",
            any_value::Value::StringValue("cart".into()),
        )],
        vec![s],
    )];
    let policy = |body: &str| format!("{{name: o, type: ottl_condition, ottl_condition: {body}}}");
    let sampled = [
        r#"{span: ['attributes["http.status"] >= 500']}"#,
        r#"{span: ['resource.attributes["service.name"] == "cart" and name == "checkout"']}"#,
        r#"{spanevent: ['name == "exception"']}"#,
        r#"{span: ['name == "nope"'], spanevent: ['IsMatch(name, "^exc")']}"#,
    ];
    for body in sampled {
        assert_eq!(one(&policy(body), &trace), Decision::Sampled, "{body}");
    }
    let not_sampled = [
        r#"{span: ['attributes["http.status"] < 500']}"#,
        r#"{spanevent: ['name == "retry"']}"#,
        r#"{error_mode: silent, span: ['Int("x") > 1']}"#,
    ];
    for body in not_sampled {
        assert_eq!(one(&policy(body), &trace), Decision::NotSampled, "{body}");
    }
}

#[test]
fn probabilistic_uses_otelcols_salted_fnv_hash_and_threshold() {
    // FNV-1a 64 over salt then id: the published vector of "a" is af63dc4c8601ec8c.
    let mut id = [0u8; 16];
    id.copy_from_slice(b"aaaaaaaaaaaaaaaa");
    assert_ne!(hash_trace_id("", &id), hash_trace_id("x", &id));
    assert_eq!(threshold(0.0), 0);
    assert_eq!(threshold(1.0), u64::MAX);
    // (2^64-1)/2 is exact in 64 significant bits, then truncated, as big.Float does.
    assert_eq!(threshold(0.5), u64::MAX / 2);
    // A share of many random-looking ids near the rate.
    let share = threshold(0.25);
    let kept = (0u64..20_000)
        .filter(|i| {
            let mut id = [0u8; 16];
            id[..8].copy_from_slice(&i.wrapping_mul(0x9e37_79b9_7f4a_7c15).to_be_bytes());
            hash_trace_id("default-hash-seed", &id) <= share
        })
        .count();
    assert!((4_500..5_500).contains(&kept), "{kept}");
}

#[test]
fn rate_limiting_counts_spans_per_second() {
    let config = parse_tail(
        "policies: [{name: r, type: rate_limiting, rate_limiting: {spans_per_second: 3}}]",
    )
    .unwrap();
    let mut e = Evaluator::new(&config.policies[0]);
    let trace = [part(vec![], vec![span(0, 1)])];
    let view = TraceView {
        id: &[1; 16],
        parts: &pieces(&trace),
        spans: 1,
    };
    let got: Vec<Decision> = (0..3).map(|_| e.evaluate(&view, 7)).collect();
    assert_eq!(
        got,
        [Decision::Sampled, Decision::Sampled, Decision::NotSampled]
    );
    assert_eq!(e.evaluate(&view, 8), Decision::Sampled);
}

#[test]
fn composite_allocates_its_rate_and_and_drop_combine() {
    let config = parse_tail(
        r#"policies:
  - name: c
    type: composite
    composite:
      max_total_spans_per_second: 4
      composite_sub_policy: [{name: a, type: always_sample}]
      rate_allocation: [{policy: a, percent: 50}]
  - name: both
    type: and
    and: {and_sub_policy: [{name: x, type: always_sample}, {name: y, type: span_count, span_count: {min_spans: 5}}]}
  - name: d
    type: drop
    drop: {drop_sub_policy: [{name: z, type: always_sample}]}"#,
    )
    .unwrap();
    let trace = [part(vec![], vec![span(0, 1)])];
    let view = TraceView {
        id: &[1; 16],
        parts: &pieces(&trace),
        spans: 1,
    };
    let mut c = Evaluator::new(&config.policies[0]);
    let got: Vec<Decision> = (0..3).map(|_| c.evaluate(&view, 1)).collect();
    assert_eq!(
        got,
        [Decision::Sampled, Decision::Sampled, Decision::NotSampled]
    );
    assert_eq!(
        Evaluator::new(&config.policies[1]).evaluate(&view, 1),
        Decision::NotSampled
    );
    assert_eq!(
        Evaluator::new(&config.policies[2]).evaluate(&view, 1),
        Decision::Dropped
    );
}

#[test]
fn the_final_decision_follows_otelcols_precedence() {
    let config = parse_tail(
        r#"policies:
  - {name: yes, type: always_sample}
  - {name: not-cart, type: string_attribute, string_attribute: {key: svc, values: [cart], invert_match: true}}
  - {name: drop-debug, type: drop, drop: {drop_sub_policy: [{name: dbg, type: boolean_attribute, boolean_attribute: {key: debug, value: true}}]}}"#,
    )
    .unwrap();
    let mut evaluators: Vec<Evaluator> = config.policies.iter().map(Evaluator::new).collect();
    let run = |evaluators: &mut Vec<Evaluator>, resource: Vec<KeyValue>| {
        let trace = [part(resource, vec![span(0, 1)])];
        let view = TraceView {
            id: &[1; 16],
            parts: &pieces(&trace),
            spans: 1,
        };
        decide(evaluators, &view, 0, false, |_, _| {})
    };
    // An inverted not-sampled wins over a sample.
    let cart = vec![kv("svc", any_value::Value::StringValue("cart".into()))];
    assert_eq!(run(&mut evaluators, cart), Decision::NotSampled);
    let shop = vec![kv("svc", any_value::Value::StringValue("shop".into()))];
    assert_eq!(run(&mut evaluators, shop), Decision::Sampled);
    let debug = vec![kv("debug", any_value::Value::BoolValue(true))];
    assert_eq!(run(&mut evaluators, debug), Decision::Dropped);
    // Invert sampled alone samples; with a plain not-sampled it does not.
    let only_invert = parse_tail("policies: [{name: i, type: string_attribute, string_attribute: {key: svc, values: [cart], invert_match: true}}, {name: s, type: span_count, span_count: {min_spans: 9}}]").unwrap();
    let mut e: Vec<Evaluator> = only_invert.policies.iter().map(Evaluator::new).collect();
    assert_eq!(run(&mut e, vec![]), Decision::NotSampled);
    let mut e = vec![Evaluator::new(&only_invert.policies[0])];
    assert_eq!(run(&mut e, vec![]), Decision::Sampled);
}

#[test]
fn spans_sort_by_trace_and_owner_keeping_resource_and_scope() {
    let with_id = |t: u8| {
        let mut s = span(0, 1);
        s.trace_id = vec![t; 16];
        s
    };
    let spans = vec![with_id(1), with_id(2), with_id(1), with_id(3)];
    let rs = part(
        vec![kv("svc", any_value::Value::StringValue("cart".into()))],
        spans,
    );
    let mut remote = Vec::new();
    // Trace 3 is shard 1's; the others are this shard's.
    let owner = |id: &[u8; 16]| (id[0] == 3).then_some(1);
    let parts = sort(rs.clone(), owner, &mut remote);
    let got: Vec<([u8; 16], u64)> = parts.iter().map(|p| (p.id, p.spans)).collect();
    assert_eq!(got, vec![([1; 16], 2), ([2; 16], 1)]);
    for p in &parts {
        assert_eq!(p.pieces[0].header.resource.0, rs.resource);
    }
    assert_eq!(remote.len(), 1);
    let (o, away, n) = &remote[0];
    assert_eq!((*o, *n), (1, 1));
    assert_eq!(away.resource, rs.resource);
    assert_eq!(away.scope_spans[0].spans[0].trace_id, vec![3; 16]);
}

#[test]
fn decision_caches_forget_the_oldest_first() {
    let mut cache = DecisionCache::new(2);
    for i in 1..=3u8 {
        cache.put([i; 16]);
    }
    assert!(!cache.contains(&[1; 16]));
    assert!(cache.contains(&[2; 16]) && cache.contains(&[3; 16]));
    let mut off = DecisionCache::new(0);
    off.put([1; 16]);
    assert!(!off.contains(&[1; 16]));
}
