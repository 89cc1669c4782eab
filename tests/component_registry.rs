//! One registry of component types (`src/registry.rs`): the config loader,
//! `shardgate components`, `validate`'s "this build supports" lists and the README's
//! component reference must all name the same types, per kind.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;

use common::binary;
use shardgate::registry::{self, Kind};

/// Per config section, the set of type names (and aliases).
type Names = BTreeMap<&'static str, BTreeSet<String>>;

fn registry_names() -> Names {
    Kind::ALL
        .iter()
        .map(|k| {
            let names = registry::names(*k).into_iter().map(str::to_owned).collect();
            (k.section(), names)
        })
        .collect()
}

/// `shardgate validate` on `yaml`: (success, stderr).
fn validate(yaml: &str) -> (bool, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.yaml");
    std::fs::write(&path, yaml).unwrap();
    let out = Command::new(binary())
        .args(["validate", "--config"])
        .arg(&path)
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    (
        out.status.success(),
        common::strip_ansi(&String::from_utf8_lossy(&out.stderr)),
    )
}

/// The README's "Components in this build" table: `| kind | `name` (alias `a`, `b`) | … |`.
fn readme_names() -> Names {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("README.md");
    let table = readme
        .split("## Components in this build")
        .nth(1)
        .expect("a 'Components in this build' section");
    let mut names = Names::new();
    for line in table.lines().skip_while(|l| !l.starts_with('|')) {
        if !line.starts_with('|') {
            break;
        }
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        let section = match cells.get(1) {
            Some(&"receiver") => "receivers",
            Some(&"processor") => "processors",
            Some(&"exporter") => "exporters",
            Some(&"extension") => "extensions",
            _ => continue, // the header and its rule
        };
        let cell = cells.get(2).copied().unwrap_or_default();
        let entry = names.entry(section).or_default();
        // Every `code` span of the type cell is the name or an alias.
        for (i, part) in cell.split('`').enumerate() {
            if i % 2 == 1 {
                entry.insert(part.to_owned());
            }
        }
    }
    names
}

/// `shardgate components`: `section:` lines, then `  name (alias: a, b)  summary`.
fn components_names() -> Names {
    let out = Command::new(binary()).arg("components").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    let mut names = Names::new();
    let mut section = "";
    for line in text.lines() {
        if let Some(s) = line.strip_suffix(':').filter(|_| !line.starts_with(' ')) {
            section = Kind::ALL
                .iter()
                .map(|k| k.section())
                .find(|k| *k == s)
                .unwrap_or_else(|| panic!("unknown section {s:?}"));
            continue;
        }
        let entry = names.entry(section).or_default();
        let line = line.trim();
        let name = line.split_whitespace().next().unwrap_or_default();
        entry.insert(name.to_owned());
        if let Some(aliases) = line.split("(alias: ").nth(1) {
            let aliases = aliases.split(')').next().unwrap_or_default();
            entry.extend(aliases.split(", ").map(str::to_owned));
        }
    }
    names
}

/// What `validate` says this build supports, per section, from its unknown-type errors.
fn validate_names() -> Names {
    let yaml = "receivers: {no_such_type: {}}\nprocessors: {no_such_type: {}}\n\
                exporters: {no_such_type: {}}\nextensions: {no_such_type: {}}\n\
                service: {pipelines: {}}\n";
    let (ok, stderr) = validate(yaml);
    assert!(!ok);
    let mut names = Names::new();
    for kind in Kind::ALL {
        let section = kind.section();
        let prefix = format!("{section}: unknown type \"no_such_type\"");
        let line = stderr
            .lines()
            .find(|l| l.contains(&prefix))
            .unwrap_or_else(|| panic!("no unknown-type error for {section}:\n{stderr}"));
        let list = line
            .split("this build supports: ")
            .nth(1)
            .unwrap_or_default();
        names.insert(section, list.split(", ").map(str::to_owned).collect());
    }
    names
}

/// Scenario: the registry's names against `shardgate components`, `validate`'s lists and the
/// README's reference, then every listed name through the config loader. Guarantee: all four
/// lists are the same per kind, and the loader accepts every name as a type (a config error
/// about its settings is fine; "unknown type" is not).
#[test]
fn every_list_of_component_types_is_the_registry() {
    let registry = registry_names();
    assert_eq!(components_names(), registry, "shardgate components");
    assert_eq!(validate_names(), registry, "validate's supported lists");
    assert_eq!(readme_names(), registry, "README, Components in this build");
    for (section, names) in &registry {
        for name in names {
            let (_, stderr) = validate(&format!("{section}: {{{name}/x: {{}}}}\n"));
            assert!(
                !stderr.contains("unknown type"),
                "{section}: {name} refused as unknown:\n{stderr}"
            );
        }
    }
}
