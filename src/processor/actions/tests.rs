//! Golden tests of the action engine: each expected result is written by hand from otelcol's
//! attributesprocessor README and its `attraction` semantics.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use crate::processor::attributes::config::parse_attributes;

/// A string attribute.
pub(crate) fn s(k: &str, v: &str) -> KeyValue {
    KeyValue {
        key: k.into(),
        value: Some(AnyValue {
            value: Some(Value::StringValue(v.into())),
        }),
        ..Default::default()
    }
}

fn typed(k: &str, v: Value) -> KeyValue {
    KeyValue {
        key: k.into(),
        value: Some(AnyValue { value: Some(v) }),
        ..Default::default()
    }
}

fn run(yaml: &str, mut attrs: Vec<KeyValue>) -> Vec<KeyValue> {
    let c = parse_attributes(yaml).unwrap();
    apply(&c.actions, &mut attrs);
    attrs
}

/// The README's first example, action by action.
#[test]
fn readme_example() {
    let yaml = r#"
actions:
  - key: db.table
    action: delete
  - key: redacted_span
    value: true
    action: upsert
  - key: copy_key
    from_attribute: key_original
    action: update
  - key: account_id
    value: 2245
    action: insert
  - key: account_password
    action: delete
  - key: account_email
    action: hash
  - key: http.status_code
    action: convert
    converted_type: int
"#;
    let out = run(
        yaml,
        vec![
            s("db.table", "users"),
            s("copy_key", "old"),
            s("key_original", "orig"),
            s("account_password", "hunter2"),
            s("account_email", "someone@example.com"),
            s("http.status_code", "404"),
        ],
    );
    assert_eq!(
        out,
        vec![
            s("copy_key", "orig"),
            s("key_original", "orig"),
            s(
                "account_email",
                &hash(Some(&Value::StringValue("someone@example.com".into())))
            ),
            typed("http.status_code", Value::IntValue(404)),
            typed("redacted_span", Value::BoolValue(true)),
            typed("account_id", Value::IntValue(2245)),
        ]
    );
}

#[test]
fn insert_only_when_absent() {
    let yaml = "actions: [{key: a, value: new, action: insert}]";
    assert_eq!(run(yaml, vec![s("a", "old")]), vec![s("a", "old")]);
    assert_eq!(run(yaml, vec![]), vec![s("a", "new")]);
}

#[test]
fn update_only_when_present() {
    let yaml = "actions: [{key: a, value: 1.5, action: update}]";
    assert_eq!(
        run(yaml, vec![s("a", "old")]),
        vec![typed("a", Value::DoubleValue(1.5))]
    );
    assert_eq!(run(yaml, vec![s("b", "x")]), vec![s("b", "x")]);
}

#[test]
fn upsert_always_and_from_attribute_skips_when_source_absent() {
    let yaml = "actions: [{key: a, value: v, action: upsert}]";
    assert_eq!(run(yaml, vec![s("a", "old")]), vec![s("a", "v")]);
    assert_eq!(run(yaml, vec![]), vec![s("a", "v")]);
    let yaml = "actions: [{key: a, from_attribute: src, action: upsert}]";
    assert_eq!(run(yaml, vec![s("a", "old")]), vec![s("a", "old")]);
    assert_eq!(
        run(yaml, vec![typed("src", Value::IntValue(7))]),
        vec![
            typed("src", Value::IntValue(7)),
            typed("a", Value::IntValue(7))
        ]
    );
}

#[test]
fn delete_by_key_and_pattern() {
    let yaml = "actions: [{key: token, pattern: ^secret\\., action: delete}]";
    let out = run(
        yaml,
        vec![
            s("token", "t"),
            s("secret.a", "1"),
            s("keep", "k"),
            s("x.secret.b", "2"),
        ],
    );
    assert_eq!(out, vec![s("keep", "k"), s("x.secret.b", "2")]);
}

/// SHA-256 digests computed independently (`printf ... | sha256sum`, and Go's
/// `binary.LittleEndian` layouts for int/double, 1 byte for bools).
#[test]
fn hash_matches_otelcol_per_type() {
    assert_eq!(
        hash(Some(&Value::StringValue("foo".into()))),
        "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae"
    );
    // sha256 of the single byte 0x01 / 0x00.
    assert_eq!(
        hash(Some(&Value::BoolValue(true))),
        "4bf5122f344554c53bde2ebb8cd2b7e3d1600ad631c385a5d7cce23c7785459a"
    );
    assert_eq!(
        hash(Some(&Value::BoolValue(false))),
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
    );
    // sha256 of 01 00 00 00 00 00 00 00 (int 1, little endian).
    assert_eq!(
        hash(Some(&Value::IntValue(1))),
        "7c9fa136d4413fa6173637e883b6998d32e1d675f88cddff9dcbcf331820f4b8"
    );
    // sha256 of 00 00 00 00 00 00 f0 3f (1.0 as IEEE-754 bits, little endian).
    assert_eq!(
        hash(Some(&Value::DoubleValue(1.0))),
        "6c3c396ed6b5c36dcae172271f462051b1266b851e92df3deea8ac65478fd712"
    );
    assert_eq!(hash(Some(&Value::BytesValue(vec![1]))), "");
    // An empty string has no bytes to hash: otelcol leaves "".
    assert_eq!(hash(Some(&Value::StringValue(String::new()))), "");
    // Named and matched by the pattern: hashed twice, as otelcol does.
    let out = run(
        "actions: [{key: a, pattern: ^a$, action: hash}]",
        vec![s("a", "foo")],
    );
    let once = hash(Some(&Value::StringValue("foo".into())));
    assert_eq!(out, vec![s("a", &hash(Some(&Value::StringValue(once))))]);
    let out = run(
        "actions: [{pattern: ^user\\., action: hash}]",
        vec![s("user.email", "foo"), s("other", "foo")],
    );
    assert_eq!(
        out,
        vec![
            s(
                "user.email",
                "2c26b46b68ffc68ff99b453c1d30413413422d706483bfa0f98a5e886266e7ae"
            ),
            s("other", "foo")
        ]
    );
}

/// The README's extract example (its unnamed `(\?|\&)` group made non-capturing: otelcol
/// rejects unnamed groups).
#[test]
fn extract_upserts_named_groups() {
    let yaml = r#"
actions:
  - key: http.url
    pattern: ^(?P<http_protocol>.*):\/\/(?P<http_domain>.*)\/(?P<http_path>.*)(?:\?|\&)(?P<http_query_params>.*)
    action: extract
"#;
    let out = run(
        yaml,
        vec![
            s(
                "http.url",
                "http://example.com/path?queryParam1=value1,queryParam2=value2",
            ),
            s("http_path", "old"),
        ],
    );
    assert_eq!(
        out,
        vec![
            s(
                "http.url",
                "http://example.com/path?queryParam1=value1,queryParam2=value2"
            ),
            s("http_path", "path"),
            s("http_protocol", "http"),
            s("http_domain", "example.com"),
            s("http_query_params", "queryParam1=value1,queryParam2=value2"),
        ]
    );
    // No match, or a non-string value: unchanged.
    assert_eq!(
        run(yaml, vec![s("http.url", "nope")]),
        vec![s("http.url", "nope")]
    );
    let int = vec![typed("http.url", Value::IntValue(3))];
    assert_eq!(run(yaml, int.clone()), int);
    // A group that takes no part in the match becomes "".
    let yaml = r#"actions: [{key: k, pattern: "^(?P<a>x)?(?P<b>y)$", action: extract}]"#;
    assert_eq!(
        run(yaml, vec![s("k", "y")]),
        vec![s("k", "y"), s("a", ""), s("b", "y")]
    );
}

#[test]
fn convert_follows_otelcol_and_keeps_failures() {
    let to = |t: &str, v: Value| {
        let yaml = format!("actions: [{{key: k, action: convert, converted_type: {t}}}]");
        run(&yaml, vec![typed("k", v)])
            .remove(0)
            .value
            .unwrap()
            .value
            .unwrap()
    };
    assert_eq!(
        to("int", Value::StringValue("123".into())),
        Value::IntValue(123)
    );
    assert_eq!(
        to("int", Value::StringValue("12a".into())),
        Value::StringValue("12a".into())
    );
    assert_eq!(to("int", Value::DoubleValue(-2.9)), Value::IntValue(-2));
    assert_eq!(to("int", Value::BoolValue(true)), Value::IntValue(1));
    assert_eq!(
        to("double", Value::StringValue("1.25".into())),
        Value::DoubleValue(1.25)
    );
    assert_eq!(
        to("double", Value::StringValue("x".into())),
        Value::StringValue("x".into())
    );
    assert_eq!(to("double", Value::IntValue(3)), Value::DoubleValue(3.0));
    assert_eq!(
        to("double", Value::BoolValue(false)),
        Value::DoubleValue(0.0)
    );
    assert_eq!(
        to("string", Value::IntValue(-5)),
        Value::StringValue("-5".into())
    );
    assert_eq!(
        to("string", Value::DoubleValue(1.5)),
        Value::StringValue("1.5".into())
    );
    assert_eq!(
        to("string", Value::DoubleValue(3.0)),
        Value::StringValue("3".into())
    );
    assert_eq!(
        to("string", Value::DoubleValue(1e21)),
        Value::StringValue("1e+21".into())
    );
    assert_eq!(
        to("string", Value::DoubleValue(1.5e-7)),
        Value::StringValue("1.5e-7".into())
    );
    assert_eq!(
        to("string", Value::BoolValue(true)),
        Value::StringValue("true".into())
    );
    // Missing key: nothing happens.
    let yaml = "actions: [{key: k, action: convert, converted_type: int}]";
    assert_eq!(run(yaml, vec![s("x", "1")]), vec![s("x", "1")]);
}

#[test]
fn actions_run_in_order() {
    let yaml = r#"
actions:
  - {key: a, value: "1", action: insert}
  - {key: a, action: convert, converted_type: int}
  - {key: b, from_attribute: a, action: upsert}
  - {key: a, action: delete}
"#;
    assert_eq!(run(yaml, vec![]), vec![typed("b", Value::IntValue(1))]);
}
