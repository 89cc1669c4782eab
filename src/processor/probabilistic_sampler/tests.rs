//! The sampler against otelcol's documented behaviour: its legacy hash decisions for fixed
//! seeds, and its tracestate outcomes in the consistent modes.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use opentelemetry_proto::tonic::common::v1::{any_value::Value, AnyValue, KeyValue};
use opentelemetry_proto::tonic::logs::v1::{LogRecord, ResourceLogs, ScopeLogs};
use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
use prost::Message;

use super::config::parse_sampler;
use super::*;
use crate::processor::transform::Rewritten;

fn hex(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn span(trace_id: &str, tracestate: &str, attrs: Vec<KeyValue>) -> Span {
    Span {
        trace_id: hex(trace_id),
        span_id: vec![0, 0, 0, 0, 0xfe, 0xfe, 0xfe, 0xfe],
        trace_state: tracestate.into(),
        name: "spanName".into(),
        attributes: attrs,
        ..Default::default()
    }
}

fn int_attr(key: &str, v: i64) -> KeyValue {
    KeyValue {
        key: key.into(),
        value: Some(AnyValue {
            value: Some(Value::IntValue(v)),
        }),
        ..Default::default()
    }
}

/// The kept span's tracestate, or `None` when it was dropped.
fn run_span(yaml: &str, span: Span) -> Option<String> {
    let sampler = ProbabilisticSampler::new(&parse_sampler(yaml).unwrap(), Signal::Traces);
    let rs = ResourceSpans {
        scope_spans: vec![ScopeSpans {
            spans: vec![span],
            ..Default::default()
        }],
        ..Default::default()
    };
    match sampler.rewrite(&rs.encode_to_vec()).unwrap() {
        Rewritten::Emptied => None,
        Rewritten::Reduced { bytes, items: 1 } => {
            let out = ResourceSpans::decode(bytes).unwrap();
            Some(out.scope_spans[0].spans[0].trace_state.clone())
        }
        other => panic!("unexpected {other:?}"),
    }
}

const DEFAULT_TID: &str = "fefefefefefefefefe80000000000000";

/// otelcol's TestHashingFunction: 50% `hash_seed` decisions for fixed seeds and trace ids
/// (the first twenty of its table), so a mixed fleet keeps the same traces.
#[test]
fn hash_seed_decisions_match_otelcol() {
    let vectors: [(u32, &str, bool); 20] = [
        (653, "474a03c76d75951a4b4c537ced8f1122", true),
        (563, "53a518291e91307e43cd8467bb06f986", true),
        (142, "a56a02f843b9bc6ee0b13889249e90e6", true),
        (904, "4e40762d3ee97a1c0932e4fa584f89a8", false),
        (445, "5224507db93db513f0ea2a4b4e0578c8", true),
        (38, "0c8717ced36216037af657e9d7f8b35b", true),
        (561, "2a8aa76c18d08e1e8be935541f9318c7", false),
        (757, "9e3d0f9481dc422cb613ea550897ae71", false),
        (22, "66a66c516ac22054673e5da5e6492545", false),
        (172, "84a1ce7bcea3e66194e72b4aa2694e31", true),
        (552, "a811a7def34ca4b98d8e320afd115fad", false),
        (546, "e3a345cc8dbb6f014bfa1edad3981820", true),
        (315, "a71effb50e28d27cbdc9892f3765b8c2", false),
        (510, "55ee665a3fa22f8ea1b744ce15a7339d", false),
        (230, "7a5006be4d0ce7b542d59f83cd6f1c41", false),
        (544, "825b8fb9cfd45867794f4cd8a5a699bd", false),
        (790, "7629ecbea89398bfd9752a2f51c2c137", true),
        (555, "de6cdfb44d69e211f886c57120d7bda0", true),
        (147, "a8a5c3bb9205883fae17ead6675b2450", false),
        (238, "937e6cb3332dbe87062fa3997f48f425", false),
    ];
    for (seed, tid, sampled) in vectors {
        let yaml = format!("{{sampling_percentage: 50, hash_seed: {seed}, mode: hash_seed}}");
        let kept = run_span(&yaml, span(tid, "", vec![]));
        assert_eq!(kept.is_some(), sampled, "seed {seed}, trace {tid}");
        if let Some(ts) = kept {
            // A kept span carries the randomness it was decided on and the 50% threshold.
            assert!(ts.starts_with("ot=rv:") && ts.ends_with(";th:8"), "{ts}");
        }
    }
}

/// otelcol's Test_tracesamplerprocessor_TraceState cases, in both consistent modes.
#[test]
fn consistent_modes_match_otelcol_tracestates() {
    // (name, trace id, percent, precision, tracestate in, equalizing out, proportional out)
    type Case = (
        &'static str,
        &'static str,
        f32,
        u32,
        &'static str,
        Option<&'static str>,
        Option<&'static str>,
    );
    let cases: [Case; 13] = [
        (
            "100%",
            DEFAULT_TID,
            100.0,
            4,
            "",
            Some("ot=th:0"),
            Some("ot=th:0"),
        ),
        (
            "50% sampled",
            DEFAULT_TID,
            50.0,
            4,
            "",
            Some("ot=th:8"),
            Some("ot=th:8"),
        ),
        (
            "25% sampled",
            "ddddddddddddddddddc0000000000000",
            25.0,
            4,
            "",
            Some("ot=th:c"),
            Some("ot=th:c"),
        ),
        (
            "25% unsampled",
            "ddddddddddddddddddb0000000000000",
            25.0,
            4,
            "",
            None,
            None,
        ),
        ("49% default tid", DEFAULT_TID, 49.0, 4, "", None, None),
        (
            "1% rv precision 4",
            DEFAULT_TID,
            1.0,
            4,
            "ot=rv:FD70A3D70A3D71",
            Some("ot=rv:FD70A3D70A3D71;th:fd70a"),
            Some("ot=rv:FD70A3D70A3D71;th:fd70a"),
        ),
        (
            "1% rv precision 3",
            DEFAULT_TID,
            1.0,
            3,
            "ot=rv:FD70A3D70A3D71",
            None,
            None,
        ),
        (
            "1% tid",
            "a0a0a0a0a0a0a0a0a0fe000000000000",
            1.0,
            4,
            "",
            Some("ot=th:fd70a"),
            Some("ot=th:fd70a"),
        ),
        (
            "incoming 50% with rv",
            DEFAULT_TID,
            50.0,
            4,
            "ot=rv:90000000000000;th:80000000000000",
            Some("ot=rv:90000000000000;th:8"),
            None,
        ),
        (
            "incoming 50% at 25%",
            "ffffffffffffffffffffffffffffffff",
            25.0,
            4,
            "ot=th:8",
            Some("ot=th:c"),
            Some("ot=th:e"),
        ),
        (
            "equalizing vs proportional",
            DEFAULT_TID,
            50.0,
            4,
            "ot=rv:c0000000000000;th:8",
            Some("ot=rv:c0000000000000;th:8"),
            Some("ot=rv:c0000000000000;th:c"),
        ),
        (
            "arriving 50% at 40% precision 6",
            "a0a0a0a0a0a0a0a0a0d0000000000000",
            40.0,
            6,
            "ot=th:8",
            Some("ot=th:99999a"),
            Some("ot=th:cccccd"),
        ),
        (
            "arriving 50% at 40% partly",
            "a0a0a0a0a0a0a0a0a0b0000000000000",
            40.0,
            3,
            "ot=th:8",
            Some("ot=th:99a"),
            None,
        ),
    ];
    for (name, tid, pct, prec, ts, equalizing, proportional) in cases {
        for (mode, want) in [("equalizing", equalizing), ("proportional", proportional)] {
            let yaml =
                format!("{{sampling_percentage: {pct}, sampling_precision: {prec}, mode: {mode}}}");
            let got = run_span(&yaml, span(tid, ts, vec![]));
            assert_eq!(got.as_deref(), want, "{mode}: {name}");
        }
    }
}

/// `sampling.priority` forces the decision; fail_closed drops what has no usable randomness.
#[test]
fn priority_and_fail_closed() {
    let must = span(DEFAULT_TID, "", vec![int_attr("sampling.priority", 2)]);
    assert_eq!(
        run_span("sampling_percentage: 0", must).as_deref(),
        Some("ot=th:0")
    );
    let never = span(DEFAULT_TID, "", vec![int_attr("sampling.priority", 0)]);
    assert_eq!(run_span("sampling_percentage: 100", never), None);
    let zero = "00000000000000000000000000000000";
    assert_eq!(
        run_span("sampling_percentage: 100", span(zero, "", vec![])),
        None
    );
    let open = "{sampling_percentage: 100, fail_closed: false}";
    assert!(run_span(open, span(zero, "", vec![])).is_some());
    for bad in [
        "ot=rv:abababababababab",
        "ot=th:-1",
        "ot=th:8;rv:70000000000000",
    ] {
        assert_eq!(
            run_span("sampling_percentage: 100", span(DEFAULT_TID, bad, vec![])),
            None
        );
    }
    // Fail open, an inconsistent arriving threshold is cleared and replaced.
    let inconsistent = span(DEFAULT_TID, "ot=rv:40000000000000;th:8", vec![]);
    assert_eq!(
        run_span(open, inconsistent).as_deref(),
        Some("ot=rv:40000000000000;th:0")
    );
}

/// Spans of one trace share one decision whichever request, resource or scope they are in,
/// and emptied scopes are removed.
#[test]
fn one_trace_one_decision_and_empty_scopes_go() {
    let sampler = ProbabilisticSampler::new(
        &parse_sampler("{sampling_percentage: 50, hash_seed: 7}").unwrap(),
        Signal::Traces,
    );
    let ids: Vec<String> = (0u32..64)
        .map(|i| format!("{:032x}", u128::from(i) * 0x9e37_79b9_7f4a_7c15))
        .collect();
    let scopes: Vec<ScopeSpans> = ids
        .iter()
        .map(|id| ScopeSpans {
            spans: vec![span(id, "", vec![]), span(id, "", vec![])],
            ..Default::default()
        })
        .collect();
    let rs = ResourceSpans {
        scope_spans: scopes,
        ..Default::default()
    };
    let Rewritten::Reduced { bytes, items } = sampler.rewrite(&rs.encode_to_vec()).unwrap() else {
        panic!("expected some spans kept and some dropped");
    };
    let out = ResourceSpans::decode(bytes).unwrap();
    assert!(out.scope_spans.iter().all(|s| s.spans.len() == 2));
    assert_eq!(items as usize, out.scope_spans.len() * 2);
    assert!(
        (10..54).contains(&out.scope_spans.len()),
        "{}",
        out.scope_spans.len()
    );
}

fn record(trace_id: &str, attrs: Vec<KeyValue>) -> LogRecord {
    LogRecord {
        trace_id: if trace_id.is_empty() {
            vec![]
        } else {
            hex(trace_id)
        },
        attributes: attrs,
        ..Default::default()
    }
}

fn run_log(yaml: &str, record: LogRecord) -> Option<Vec<KeyValue>> {
    let sampler = ProbabilisticSampler::new(&parse_sampler(yaml).unwrap(), Signal::Logs);
    let rl = ResourceLogs {
        scope_logs: vec![ScopeLogs {
            log_records: vec![record],
            ..Default::default()
        }],
        ..Default::default()
    };
    match sampler.rewrite(&rl.encode_to_vec()).unwrap() {
        Rewritten::Emptied => None,
        Rewritten::Reduced { bytes, .. } => Some(
            ResourceLogs::decode(bytes).unwrap().scope_logs[0].log_records[0]
                .attributes
                .clone(),
        ),
        other => panic!("unexpected {other:?}"),
    }
}

fn text(attrs: &[KeyValue], key: &str) -> Option<String> {
    attrs.iter().find(|kv| kv.key == key).and_then(|kv| {
        match kv.value.as_ref()?.value.as_ref()? {
            Value::StringValue(s) => Some(s.clone()),
            _ => None,
        }
    })
}

/// Logs: the trace id decides as for spans; without one, `from_attribute` does; the
/// threshold is written as `sampling.threshold`; `sampling_priority` raises the rate.
#[test]
fn logs_follow_trace_id_attribute_and_priority() {
    let kept = run_log("sampling_percentage: 50", record(DEFAULT_TID, vec![])).unwrap();
    assert_eq!(text(&kept, "sampling.threshold").as_deref(), Some("8"));
    assert!(run_log("sampling_percentage: 49", record(DEFAULT_TID, vec![])).is_none());
    // No trace id and no attribute: missing randomness, dropped (fail_closed).
    assert!(run_log("sampling_percentage: 100", record("", vec![])).is_none());
    // By record attribute, hash_seed mode: 100% keeps and records its randomness.
    let by_attr = "{sampling_percentage: 100, attribute_source: record, from_attribute: id}";
    let kept = run_log(by_attr, record("", vec![int_attr("id", 42)])).unwrap();
    assert!(text(&kept, "sampling.randomness").is_some_and(|r| r.len() == 14));
    assert_eq!(text(&kept, "sampling.threshold").as_deref(), Some("0"));
    // Priority 100 (%) keeps a record the 1% rate would drop.
    let prio = "{sampling_percentage: 1, sampling_priority: prio}";
    assert!(run_log(prio, record(DEFAULT_TID, vec![])).is_none());
    assert!(run_log(prio, record(DEFAULT_TID, vec![int_attr("prio", 100)])).is_some());
}
