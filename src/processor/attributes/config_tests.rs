//! Config tests of the `attributes` and `resource` processors: parsing of every action and
//! match property, and errors naming key paths.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use super::*;
use crate::config::value::ConfigValue;
use crate::processor::actions::config::*;
use crate::processor::matching::config::*;
use crate::processor::resource::config::parse_resource;

fn err(yaml: &str) -> String {
    parse_attributes(yaml).unwrap_err().to_string()
}

#[test]
fn every_action_parses() {
    let c = parse_attributes(
        r#"
actions:
  - {key: a, value: "s", action: insert}
  - {key: b, value: 2245, action: UPDATE}
  - {key: c, value: 1.5, action: upsert}
  - {key: d, value: true, action: upsert}
  - {key: e, from_attribute: a, action: upsert}
  - {key: f, action: delete}
  - {pattern: ^secret, action: delete}
  - {key: g, pattern: "x.*", action: hash}
  - {key: h, pattern: "^(?P<k>\\w+)$", action: extract}
  - {key: i, action: convert, converted_type: double}
"#,
    )
    .unwrap();
    let kinds: Vec<_> = c.actions.iter().map(|a| a.action).collect();
    use ActionKind::*;
    assert_eq!(
        kinds,
        [Insert, Update, Upsert, Upsert, Upsert, Delete, Delete, Hash, Extract, Convert]
    );
    assert_eq!(
        c.actions[0].source,
        Some(ValueSource::Value(ConfigValue::Str("s".into())))
    );
    assert_eq!(
        c.actions[1].source,
        Some(ValueSource::Value(ConfigValue::Int(2245)))
    );
    assert_eq!(
        c.actions[2].source,
        Some(ValueSource::Value(ConfigValue::Double(1.5)))
    );
    assert_eq!(
        c.actions[3].source,
        Some(ValueSource::Value(ConfigValue::Bool(true)))
    );
    assert_eq!(
        c.actions[4].source,
        Some(ValueSource::FromAttribute("a".into()))
    );
    assert_eq!(c.actions[6].pattern.as_ref().unwrap().0.as_str(), "^secret");
    assert_eq!(c.actions[9].converted_type, Some(ConvertType::Double));
    assert!(c.include.is_none() && c.exclude.is_none());
}

#[test]
fn action_errors_name_the_key_path() {
    assert_eq!(err("actions: []"), "processors::attributes::actions: missing required field \"actions\": at least one action is needed");
    assert!(err("actions: [{key: a, action: insert}]")
        .starts_with("processors::attributes::actions[0]: either field \"value\""));
    assert!(err("actions: [{value: 1, action: insert}]")
        .starts_with("processors::attributes::actions[0]::key: missing"));
    assert!(
        err("actions: [{key: a, value: 1, from_attribute: b, action: upsert}]")
            .contains("multiple value sources")
    );
    assert!(
        err("actions: [{key: a, from_context: auth.x, action: upsert}]").starts_with(
            "processors::attributes::actions[0]::from_context: from_context is not supported"
        )
    );
    assert!(err("actions: [{key: a, action: frobnicate}]").starts_with(
        "processors::attributes::actions[0]::action: unsupported action \"frobnicate\""
    ));
    assert!(err("actions: [{action: delete}]").contains("either field \"key\" or \"pattern\""));
    assert!(err("actions: [{pattern: \"(\", action: delete}]")
        .starts_with("processors::attributes::actions[0]::pattern: invalid regular expression"));
    assert!(
        err("actions: [{key: a, pattern: \"(x)\", action: extract}]")
            .contains("unnamed matcher group")
    );
    assert!(err("actions: [{key: a, pattern: \"x\", action: extract}]")
        .contains("no named matcher groups"));
    assert!(
        err("actions: [{key: a, action: extract}]").contains("missing required field \"pattern\"")
    );
    assert!(err("actions: [{key: a, action: convert}]")
        .starts_with("processors::attributes::actions[0]::converted_type: missing"));
    assert!(
        err("actions: [{key: a, action: convert, converted_type: bool}]")
            .contains("invalid type \"bool\"")
    );
    assert!(
        err("actions: [{key: a, action: delete, value: 1}]").contains("does not use value sources")
    );
    assert!(err("actions: [{key: a, action: upsert, value: [1]}]")
        .starts_with("processors::attributes::actions[0]::value: value must be a scalar"));
    assert!(
        err("actions: [{key: a, action: upsert, value: 1, colour: red}]")
            .starts_with("processors::attributes::actions[0]::colour: unknown field `colour`")
    );
}

#[test]
fn match_properties_parse() {
    let c = parse_attributes(
        r#"
actions: [{key: a, action: delete}]
include:
  match_type: regexp
  services: ["^svc"]
  span_names: ["a.*"]
  span_kinds: [SPAN_KIND_SERVER]
  attributes: [{key: k, value: "v+"}, {key: present}]
  resources: [{key: host.name, value: "^h"}]
  libraries: [{name: lib, version: "1"}]
exclude:
  match_type: strict
  log_bodies: [body]
  log_severity_texts: [info]
  log_severity_number: {min: WARN, match_undefined: true}
  metric_names: [m]
  attributes: [{key: n, value: 3}]
"#,
    )
    .unwrap();
    let inc = c.include.unwrap();
    assert!(matches!(&inc.services[0], Filter::Regexp(p) if p.0.as_str() == "^svc"));
    assert!(matches!(&inc.attributes[0], AttrMatch::Regexp(k, _) if k == "k"));
    assert_eq!(inc.attributes[1], AttrMatch::Exists("present".into()));
    assert_eq!(inc.libraries.len(), 1);
    let exc = c.exclude.unwrap();
    assert_eq!(exc.log_bodies, vec![Filter::Strict("body".into())]);
    assert_eq!(
        exc.log_severity_number,
        Some(SeverityMatch {
            min: 13,
            match_undefined: true
        })
    );
    assert_eq!(
        exc.attributes[0],
        AttrMatch::Equals("n".into(), ConfigValue::Int(3))
    );
}

#[test]
fn match_errors_name_the_key_path() {
    let base = "actions: [{key: a, action: delete}]\n";
    let e = err(&format!("{base}include: {{services: [x]}}"));
    assert_eq!(
        e,
        "processors::attributes::include::match_type: match_type is required (strict or regexp)"
    );
    let e = err(&format!(
        "{base}include: {{match_type: regexp, span_names: [\"(\"]}}"
    ));
    assert!(
        e.starts_with("processors::attributes::include::span_names[0]: invalid regular expression"),
        "{e}"
    );
    let e = err(&format!(
        "{base}exclude: {{match_type: regexp, attributes: [{{key: k, value: 1}}]}}"
    ));
    assert!(
        e.starts_with("processors::attributes::exclude::attributes[0]::value: match_type=regexp"),
        "{e}"
    );
    let e = err(&format!(
        "{base}exclude: {{match_type: fuzzy, span_names: [a]}}"
    ));
    assert!(
        e.starts_with("processors::attributes::exclude::match_type: unrecognized"),
        "{e}"
    );
    let e = err(&format!("{base}include: {{match_type: strict}}"));
    assert!(
        e.starts_with("processors::attributes::include: at least one property"),
        "{e}"
    );
    let e = err(&format!(
        "{base}include: {{match_type: strict, log_severity_number: {{min: LOUD}}}}"
    ));
    assert!(
        e.starts_with(
            "processors::attributes::include::log_severity_number::min: invalid severity"
        ),
        "{e}"
    );
}

#[test]
fn signal_checks_follow_otelcol() {
    let c = parse_attributes(
        "actions: [{key: a, action: delete}]\ninclude: {match_type: strict, span_names: [x]}",
    )
    .unwrap();
    assert!(c.check_signal(Signal::Traces).is_ok());
    assert!(c.check_signal(Signal::Logs).is_err());
    assert!(c.check_signal(Signal::Metrics).is_err());
    let c = parse_attributes(
        "actions: [{key: a, action: delete}]\nexclude: {match_type: strict, log_bodies: [x]}",
    )
    .unwrap();
    assert!(c.check_signal(Signal::Logs).is_ok());
    assert_eq!(c.check_signal(Signal::Traces).unwrap_err(), "log_bodies, log_severity_texts and log_severity_number should not be specified for trace spans");
    let c = parse_attributes(
        "actions: [{key: a, action: delete}]\ninclude: {match_type: strict, metric_names: [x]}",
    )
    .unwrap();
    assert!(c.check_signal(Signal::Metrics).is_ok());
    assert!(c.check_signal(Signal::Traces).is_err());
    let c = parse_attributes("actions: [{key: a, action: delete}]\ninclude: {match_type: strict, metric_names: [x], attributes: [{key: k}]}").unwrap();
    assert_eq!(
        c.check_signal(Signal::Metrics).unwrap_err(),
        "only metric_names can be specified for metrics"
    );
}

#[test]
fn resource_config() {
    let r =
        parse_resource("attributes: [{key: cloud.zone, value: zone-1, action: upsert}]").unwrap();
    assert_eq!(r.attributes.len(), 1);
    let e = parse_resource("attributes: []").unwrap_err().to_string();
    assert!(
        e.starts_with("processors::resource::attributes: missing required field"),
        "{e}"
    );
    let e = parse_resource("actions: []").unwrap_err().to_string();
    assert!(
        e.starts_with("processors::resource::actions: unknown field `actions`"),
        "{e}"
    );
}
