#![allow(clippy::unwrap_used)]
use super::*;

#[test]
fn defaults_are_otelcols() {
    let c = parse_tail("policies: [{name: all, type: always_sample}]").unwrap();
    assert_eq!(c.decision_wait, DEFAULT_DECISION_WAIT);
    assert_eq!(c.num_traces, DEFAULT_NUM_TRACES);
    assert_eq!((c.sampled_cache_size, c.non_sampled_cache_size), (0, 0));
    assert!(!c.sample_on_first_match);
    assert_eq!(c.policies[0].rule, Rule::AlwaysSample);
}

#[test]
fn every_policy_type_of_the_readme_example_is_read() {
    let c = parse_tail(
        r#"
decision_wait: 10s
num_traces: 100
expected_new_traces_per_sec: 10
decision_cache: {sampled_cache_size: 100000, non_sampled_cache_size: 100000}
policies:
  - {name: p1, type: always_sample}
  - {name: p2, type: latency, latency: {threshold_ms: 5000, upper_threshold_ms: 10000}}
  - {name: p3, type: numeric_attribute, numeric_attribute: {key: key1, min_value: 50, max_value: 100}}
  - {name: p4, type: probabilistic, probabilistic: {sampling_percentage: 10}}
  - {name: p5, type: status_code, status_code: {status_codes: [ERROR, UNSET]}}
  - {name: p6, type: string_attribute, string_attribute: {key: key2, values: [value1, value2]}}
  - {name: p7, type: string_attribute, string_attribute: {key: key2, values: [value1, val*], enabled_regex_matching: true, cache_max_size: 10}}
  - {name: p8, type: rate_limiting, rate_limiting: {spans_per_second: 35}}
  - {name: p10, type: span_count, span_count: {min_spans: 2, max_spans: 20}}
  - {name: p11, type: trace_state, trace_state: {key: key3, values: [value1, value2]}}
  - {name: p12, type: boolean_attribute, boolean_attribute: {key: key4, value: true}}
  - name: and-1
    type: and
    and: {and_sub_policy: [{name: a1, type: numeric_attribute, numeric_attribute: {key: key1, min_value: 50, max_value: 100}}, {name: a2, type: string_attribute, string_attribute: {key: key2, values: [value1]}}]}
  - name: drop-1
    type: drop
    drop: {drop_sub_policy: [{name: d1, type: string_attribute, string_attribute: {key: url.path, values: [\/health], enabled_regex_matching: true}}]}
  - name: composite-1
    type: composite
    composite:
      max_total_spans_per_second: 1000
      policy_order: [c1, c2, c3]
      composite_sub_policy:
        - {name: c1, type: numeric_attribute, numeric_attribute: {key: key1, min_value: 50}}
        - {name: c2, type: string_attribute, string_attribute: {key: key2, values: [value1]}}
        - {name: c3, type: always_sample}
      rate_allocation: [{policy: c1, percent: 50}, {policy: c2, percent: 25}]
"#,
    )
    .unwrap();
    assert_eq!(c.decision_wait, Duration::from_secs(10));
    assert_eq!(c.policies.len(), 14);
    assert_eq!(c.sampled_cache_size, 100_000);
    match &c.policies[2].rule {
        Rule::NumericAttribute { min, max, .. } => assert_eq!((*min, *max), (50, 100)),
        other => panic!("{other:?}"),
    }
    match &c.policies[13].rule {
        Rule::Composite { subs, .. } => {
            let rates: Vec<i64> = subs.iter().map(|(_, r)| *r).collect();
            assert_eq!(rates, vec![500, 250, 0]);
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn bad_settings_name_their_key_and_reason() {
    for (yaml, want) in [
        ("policies: []", "no policies configured"),
        ("{num_traces: 0, policies: [{name: a, type: always_sample}]}", "num_traces"),
        ("policies: [{type: always_sample}]", "policy name cannot be empty"),
        (
            "policies: [{name: a, type: always_sample}, {name: a, type: always_sample}]",
            "duplicate policy name",
        ),
        ("policies: [{name: a, type: nope}]", "unknown sampling policy type nope"),
        (
            "policies: [{name: a, type: ottl_condition, ottl_condition: {span: ['IsFoo(name)']}}]",
            "ottl_condition::span[0]: statement \"IsFoo(name)\"",
        ),
        (
            "policies: [{name: a, type: ottl_condition, ottl_condition: {error_mode: loud, span: ['true']}}]",
            "ottl_condition::error_mode",
        ),
        (
            "policies: [{name: a, type: ottl_condition, ottl_condition: {}}]",
            "at least one span or spanevent condition",
        ),
        (
            "policies: [{name: a, type: status_code, status_code: {status_codes: [BAD]}}]",
            "unknown status code",
        ),
        (
            "policies: [{name: a, type: status_code, status_code: {status_codes: []}}]",
            "at least one status code",
        ),
        (
            "policies: [{name: a, type: string_attribute, string_attribute: {key: k, values: ['('], enabled_regex_matching: true}}]",
            "invalid regular expression",
        ),
        (
            "policies: [{name: a, type: numeric_attribute, numeric_attribute: {key: k}}]",
            "min_value or max_value",
        ),
        (
            "policies: [{name: a, type: rate_limiting, rate_limiting: {spans_per_second: 0}}]",
            "spans_per_second",
        ),
        (
            "policies: [{name: a, type: and, and: {and_sub_policy: [{name: b, type: composite}]}}]",
            "not allowed here",
        ),
        (
            "policies: [{name: a, type: composite, composite: {max_total_spans_per_second: 10, composite_sub_policy: [{name: b, type: always_sample}], rate_allocation: [{policy: c, percent: 50}]}}]",
            "is not a composite_sub_policy",
        ),
        (
            "{block_on_overflow: true, policies: [{name: a, type: always_sample}]}",
            "block_on_overflow",
        ),
        ("{decision_wiat: 1s, policies: [{name: a, type: always_sample}]}", "decision_wiat"),
    ] {
        let err = parse_tail(yaml).unwrap_err();
        assert!(err.contains(want), "{yaml}: {err}");
    }
}
