//! Compile-time checks and evaluation of single statements on hand-made items.
#![allow(clippy::unwrap_used)]

use super::*;

#[test]
fn mistakes_name_the_statement_and_column() {
    let e =
        Statement::parse(r#"set(attributes["x"], Foo(name))"#, Context::Span, false).unwrap_err();
    assert_eq!(e.column, 22);
    assert!(e.to_string().contains("unknown function \"Foo\""), "{e}");
    assert!(
        e.to_string()
            .starts_with("statement \"set(attributes[\\\"x\\\"], Foo(name))\""),
        "{e}"
    );
    let e = Statement::parse(r#"delete_key(attributes, 1)"#, Context::Span, false).unwrap_err();
    assert!(
        e.message
            .contains("argument 2 (key): must be a string, got a int"),
        "{e}"
    );
    let e =
        Statement::parse(r#"set(attributes["x"], spam.eggs)"#, Context::Span, false).unwrap_err();
    assert!(e.message.contains("bad path \"spam.eggs\""), "{e}");
    let e = Statement::parse(
        r#"set(name, "x") where metric.name == "m""#,
        Context::Span,
        false,
    )
    .unwrap_err();
    assert!(e.message.contains("metric context is not available"), "{e}");
    let e = Condition::parse(r#"IsRootSpan()"#, Context::Log, true).unwrap_err();
    assert!(
        e.message.contains("only available in the span context"),
        "{e}"
    );
    let e =
        Condition::parse(r#"HasAttrOnDatapoint("a", "b")"#, Context::Metric, false).unwrap_err();
    assert!(e.message.contains("unknown function"), "{e}");
    let e = Condition::parse(r#"name"#, Context::Span, false).unwrap_err();
    assert!(e.message.contains("must be boolean"), "{e}");
    let e = Statement::parse(r#"keep_keys(attributes, "a")"#, Context::Span, false).unwrap_err();
    assert!(e.message.contains("must be a list of strings"), "{e}");
    let e =
        Statement::parse(r#"replace_pattern(name, "(", "x")"#, Context::Span, false).unwrap_err();
    assert!(e.message.contains("invalid regex"), "{e}");
    let e = Statement::parse(r#"IsMatch(name, "x")"#, Context::Span, false).unwrap_err();
    assert!(e.message.contains("is a converter"), "{e}");
    let e = Statement::parse(r#"set(kind, SPAN_KIND_NOPE)"#, Context::Span, false).unwrap_err();
    assert!(e.message.contains("unknown enum"), "{e}");
    let e = Statement::parse(r#"set(metric.type, 1)"#, Context::DataPoint, false).unwrap_err();
    assert!(e.message.contains("cannot be changed"), "{e}");
}

#[test]
fn contexts_are_inferred_from_qualified_paths() {
    let t = |texts: &[&str], signal| infer_context(texts, false, signal);
    assert_eq!(
        t(
            &[r#"set(span.attributes["a"], resource.attributes["b"])"#],
            Signal::Traces
        ),
        Ok(Context::Span)
    );
    assert_eq!(
        t(&[r#"set(resource.attributes["b"], "x")"#], Signal::Traces),
        Ok(Context::Resource)
    );
    assert_eq!(
        t(
            &[
                r#"set(resource.attributes["b"], "x")"#,
                r#"set(datapoint.attributes["b"], "x")"#
            ],
            Signal::Metrics
        ),
        Ok(Context::DataPoint)
    );
    assert!(t(&[r#"set(log.body, "x")"#], Signal::Traces).is_err());
    assert!(t(&[r#"set(attributes["a"], "x")"#], Signal::Traces).is_err());
    assert!(t(
        &[
            r#"set(span.name, "x")"#,
            r#"set(spanevent.name, "y") where metric.name == "m""#
        ],
        Signal::Traces
    )
    .is_err());
}
