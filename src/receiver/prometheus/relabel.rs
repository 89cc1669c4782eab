//! Prometheus relabeling (`relabel_configs` on targets, `metric_relabel_configs` on samples):
//! each rule reads the values of its `source_labels` joined by `separator`, matches them
//! against `regex` anchored at both ends (`^(?:regex)$`, as Prometheus anchors it), and acts.
//! Rules run in order; `keep`/`drop` can end the run with the label set dropped.

use std::collections::BTreeMap;

use regex::Regex;
use serde::Deserialize;
use serde_yaml::Value;

use crate::config::de::{self, join, Text};
use crate::config::error::Errors;

use super::exposition::is_label_name;

/// A label set, ordered by name.
pub type Labels = BTreeMap<String, String>;

/// What a rule does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Action {
    /// Sets `target_label` to the expanded `replacement` when `regex` matches.
    Replace,
    /// Drops the label set unless `regex` matches.
    Keep,
    /// Drops the label set when `regex` matches.
    Drop,
    /// Removes every label whose name matches.
    LabelDrop,
    /// Removes every label whose name does not match.
    LabelKeep,
    /// Copies every label whose name matches to the name `replacement` expands to.
    LabelMap,
    /// Sets `target_label` to the joined value, lower-cased.
    Lowercase,
    /// Sets `target_label` to the joined value, upper-cased.
    Uppercase,
    /// Drops the label set unless the joined value equals `target_label`'s value.
    KeepEqual,
    /// Drops the label set when the joined value equals `target_label`'s value.
    DropEqual,
}

impl Action {
    fn parse(text: &str) -> Option<Action> {
        Some(match text.to_ascii_lowercase().as_str() {
            "replace" => Action::Replace,
            "keep" => Action::Keep,
            "drop" => Action::Drop,
            "labeldrop" => Action::LabelDrop,
            "labelkeep" => Action::LabelKeep,
            "labelmap" => Action::LabelMap,
            "lowercase" => Action::Lowercase,
            "uppercase" => Action::Uppercase,
            "keepequal" => Action::KeepEqual,
            "dropequal" => Action::DropEqual,
            _ => return None,
        })
    }
}

/// One relabel rule.
#[derive(Clone, Debug)]
pub struct Rule {
    /// Its action.
    pub action: Action,
    source_labels: Vec<String>,
    separator: String,
    /// `^(?:regex)$`
    regex: Regex,
    target_label: String,
    replacement: String,
}

impl PartialEq for Rule {
    fn eq(&self, other: &Rule) -> bool {
        self.action == other.action
            && self.source_labels == other.source_labels
            && self.separator == other.separator
            && self.regex.as_str() == other.regex.as_str()
            && self.target_label == other.target_label
            && self.replacement == other.replacement
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawRule {
    source_labels: Option<Vec<Text>>,
    separator: Option<Text>,
    regex: Option<Text>,
    target_label: Option<Text>,
    replacement: Option<Text>,
    action: Option<Text>,
    modulus: Option<u64>,
}

const DEFAULT_SEPARATOR: &str = ";";
const DEFAULT_REGEX: &str = "(.*)";
const DEFAULT_REPLACEMENT: &str = "$1";

/// Decodes a `relabel_configs`-shaped list at `path`.
pub(crate) fn parse_rules(value: Value, path: &str, errs: &mut Errors) -> Vec<Rule> {
    let raw: Vec<RawRule> = match errs.take(de::decode(value, path)) {
        Some(raw) => raw,
        None => return Vec::new(),
    };
    raw.into_iter()
        .enumerate()
        .filter_map(|(i, r)| rule(r, &format!("{path}[{i}]"), errs))
        .collect()
}

fn rule(raw: RawRule, path: &str, errs: &mut Errors) -> Option<Rule> {
    let action_text = raw.action.map_or_else(|| "replace".to_owned(), |Text(t)| t);
    let Some(action) = Action::parse(&action_text) else {
        let reason = if action_text.eq_ignore_ascii_case("hashmod") {
            "action \"hashmod\" is not supported by this build (supported: replace, keep, drop, labeldrop, labelkeep, labelmap, lowercase, uppercase, keepequal, dropequal)".to_owned()
        } else {
            format!("unknown relabel action \"{action_text}\"")
        };
        errs.invalid(join(path, "action"), reason);
        return None;
    };
    if raw.modulus.is_some() {
        errs.invalid(join(path, "modulus"), "only the hashmod action takes it");
    }
    let regex_text = raw
        .regex
        .map_or_else(|| DEFAULT_REGEX.to_owned(), |Text(t)| t);
    let regex = match Regex::new(&format!("^(?:{regex_text})$")) {
        Ok(regex) => regex,
        Err(e) => {
            errs.invalid(join(path, "regex"), format!("invalid regex: {e}"));
            return None;
        }
    };
    let given = |t: &Option<Text>| t.is_some();
    let label_only = matches!(action, Action::LabelDrop | Action::LabelKeep);
    if label_only
        && (raw.source_labels.is_some()
            || given(&raw.target_label)
            || given(&raw.separator)
            || given(&raw.replacement))
    {
        errs.invalid(
            path,
            format!("{action_text} action requires only 'regex', and no other fields"),
        );
    }
    let target_label = raw.target_label.map(|Text(t)| t).unwrap_or_default();
    let needs_target = matches!(
        action,
        Action::Replace
            | Action::Lowercase
            | Action::Uppercase
            | Action::KeepEqual
            | Action::DropEqual
    );
    if needs_target && target_label.is_empty() {
        errs.invalid(
            path,
            format!("relabel configuration for {action_text} action requires 'target_label' value"),
        );
    } else if needs_target && !target_label.contains('$') && !is_label_name(&target_label) {
        errs.invalid(
            join(path, "target_label"),
            format!("\"{target_label}\" is invalid target label"),
        );
    }
    Some(Rule {
        action,
        source_labels: raw
            .source_labels
            .unwrap_or_default()
            .into_iter()
            .map(|Text(t)| t)
            .collect(),
        separator: raw
            .separator
            .map_or_else(|| DEFAULT_SEPARATOR.to_owned(), |Text(t)| t),
        regex,
        target_label,
        replacement: raw
            .replacement
            .map_or_else(|| DEFAULT_REPLACEMENT.to_owned(), |Text(t)| t),
    })
}

/// Applies `rules` in order; `false` when a rule dropped the label set.
pub fn apply(rules: &[Rule], labels: &mut Labels) -> bool {
    rules.iter().all(|rule| rule.apply(labels))
}

impl Rule {
    /// Applies this rule; `false` when it drops the label set.
    fn apply(&self, labels: &mut Labels) -> bool {
        let value = self
            .source_labels
            .iter()
            .map(|name| labels.get(name).map_or("", String::as_str))
            .collect::<Vec<_>>()
            .join(&self.separator);
        match self.action {
            Action::Keep => return self.regex.is_match(&value),
            Action::Drop => return !self.regex.is_match(&value),
            Action::KeepEqual => return labels.get(&self.target_label) == Some(&value),
            Action::DropEqual => return labels.get(&self.target_label) != Some(&value),
            Action::Replace => self.replace(&value, labels),
            Action::Lowercase => {
                labels.insert(self.target_label.clone(), value.to_lowercase());
            }
            Action::Uppercase => {
                labels.insert(self.target_label.clone(), value.to_uppercase());
            }
            Action::LabelDrop => labels.retain(|name, _| !self.regex.is_match(name)),
            Action::LabelKeep => labels.retain(|name, _| self.regex.is_match(name)),
            Action::LabelMap => {
                let mapped: Vec<(String, String)> = labels
                    .iter()
                    .filter(|(name, _)| self.regex.is_match(name))
                    .map(|(name, v)| {
                        let to = self.regex.replace(name, self.replacement.as_str());
                        (to.into_owned(), v.clone())
                    })
                    .collect();
                labels.extend(mapped);
            }
        }
        true
    }

    /// `replace`: the target label (itself expanded) gets the expanded replacement; an empty
    /// result deletes it; no match or an invalid target name changes nothing.
    fn replace(&self, value: &str, labels: &mut Labels) {
        let Some(captures) = self.regex.captures(value) else {
            return;
        };
        let mut target = String::new();
        captures.expand(&self.target_label, &mut target);
        if !is_label_name(&target) {
            return;
        }
        let mut result = String::new();
        captures.expand(&self.replacement, &mut result);
        if result.is_empty() {
            labels.remove(&target);
        } else {
            labels.insert(target, result);
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn rules(yaml: &str) -> Result<Vec<Rule>, String> {
        let mut errs = Errors::default();
        let rules = parse_rules(serde_yaml::from_str(yaml).unwrap(), "r", &mut errs);
        errs.finish(rules).map_err(|e| e.to_string())
    }

    fn labels(pairs: &[(&str, &str)]) -> Labels {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn replace_with_groups_defaults_and_anchoring() {
        let r = rules(
            "[{source_labels: [__address__], regex: '([^:]+):\\d+', target_label: host},
              {source_labels: [a, b], target_label: ab},
              {source_labels: [a], regex: 'x', target_label: never},
              {source_labels: [a], regex: 'val', replacement: '${1}z', target_label: gone}]",
        )
        .unwrap();
        let mut l = labels(&[("__address__", "10.0.0.1:8888"), ("a", "val"), ("b", "2")]);
        assert!(apply(&r, &mut l));
        assert_eq!(l["host"], "10.0.0.1");
        assert_eq!(l["ab"], "val;2");
        // `x` is anchored: it does not match inside "val".
        assert!(!l.contains_key("never"));
        // No group 1 in `val`: the replacement is `z`.
        assert_eq!(l["gone"], "z");
    }

    #[test]
    fn keep_drop_and_label_actions() {
        let r = rules(
            "[{source_labels: [__name__], regex: 'go_.*', action: drop},
              {action: labeldrop, regex: 'tmp_.*'},
              {action: labelmap, regex: 'meta_(.+)', replacement: 'm_$1'}]",
        )
        .unwrap();
        let mut go = labels(&[("__name__", "go_goroutines")]);
        assert!(!apply(&r, &mut go));
        let mut other = labels(&[("__name__", "up"), ("tmp_x", "1"), ("meta_pod", "p")]);
        assert!(apply(&r, &mut other));
        assert_eq!(
            other,
            labels(&[("__name__", "up"), ("meta_pod", "p"), ("m_pod", "p")])
        );
        let keep = rules("[{source_labels: [job], regex: 'a|b', action: keep}]").unwrap();
        assert!(apply(&keep, &mut labels(&[("job", "b")])));
        assert!(!apply(&keep, &mut labels(&[("job", "ab")])));
    }

    #[test]
    fn bad_rules_are_refused_naming_the_key() {
        for (yaml, wanted) in [
            (
                "[{action: hashmod, modulus: 2}]",
                "r[0]::action: action \"hashmod\" is not supported",
            ),
            (
                "[{action: flip}]",
                "r[0]::action: unknown relabel action \"flip\"",
            ),
            ("[{regex: '('}]", "r[0]::regex: invalid regex"),
            (
                "[{action: replace}]",
                "r[0]: relabel configuration for replace action requires 'target_label' value",
            ),
            (
                "[{action: labeldrop, regex: a, target_label: b}]",
                "r[0]: labeldrop action requires only 'regex'",
            ),
            (
                "[{target_label: '1x'}]",
                "r[0]::target_label: \"1x\" is invalid target label",
            ),
            ("[{sauce_labels: [a]}]", "unknown field `sauce_labels`"),
        ] {
            let err = rules(yaml).unwrap_err();
            assert!(err.contains(wanted), "{yaml}: {err}");
        }
    }
}
