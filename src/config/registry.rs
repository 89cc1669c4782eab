//! The one table of component types this build has.
//!
//! The config loader finds each configured id's type here (and lists these names when a type
//! is unknown), `shardgate components` prints this table, and a test checks the README's
//! component reference against it: adding a component is one entry here plus its own code.
//! Checks that depend on a component's settings (an `attributes` processor whose `include`
//! names span properties cannot sit in a metrics pipeline) stay with its config.

use serde_yaml::Value;

use super::error::{ConfigError, Errors};
use super::id::ComponentId;
use super::{exporter, extension, processor, receiver};
use super::{ExporterConfig, ExtensionConfig, ProcessorConfig, ReceiverConfig};
use crate::signal::Signal;

/// The four kinds of component, as the config's top-level sections name them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `receivers:`
    Receiver,
    /// `processors:`
    Processor,
    /// `exporters:`
    Exporter,
    /// `extensions:`
    Extension,
}

impl Kind {
    /// Every kind, in the order of the config's sections.
    pub const ALL: [Kind; 4] = [
        Kind::Receiver,
        Kind::Processor,
        Kind::Exporter,
        Kind::Extension,
    ];

    /// The config section of this kind (`receivers`, ...).
    pub fn section(self) -> &'static str {
        match self {
            Kind::Receiver => "receivers",
            Kind::Processor => "processors",
            Kind::Exporter => "exporters",
            Kind::Extension => "extensions",
        }
    }
}

/// Decodes and checks one component body at `path`; `None` when it has errors (in `errs`).
pub(crate) type Parse<T> = fn(Value, &str, &mut Errors) -> Option<T>;

/// How a type's config is made, per kind.
#[derive(Clone, Copy)]
pub(crate) enum Factory {
    /// A receiver's config.
    Receiver(Parse<ReceiverConfig>),
    /// A processor's config.
    Processor(Parse<ProcessorConfig>),
    /// An exporter's config.
    Exporter(Parse<ExporterConfig>),
    /// An extension's config.
    Extension(Parse<ExtensionConfig>),
}

impl Factory {
    /// The kind this factory makes.
    pub(crate) fn kind(&self) -> Kind {
        match self {
            Factory::Receiver(_) => Kind::Receiver,
            Factory::Processor(_) => Kind::Processor,
            Factory::Exporter(_) => Kind::Exporter,
            Factory::Extension(_) => Kind::Extension,
        }
    }
}

/// One component type.
pub struct ComponentType {
    /// The type name in ids (`otlp` in `otlp/backend`).
    pub name: &'static str,
    /// Other names otelcol configs use for it.
    pub aliases: &'static [&'static str],
    /// Pipelines it can sit in (empty for extensions).
    pub signals: &'static [Signal],
    /// One line for `shardgate components`.
    pub summary: &'static str,
    /// Its config.
    pub(crate) factory: Factory,
}

impl ComponentType {
    /// Its kind.
    pub fn kind(&self) -> Kind {
        self.factory.kind()
    }

    /// Whether `name` is its name or one of its aliases.
    pub fn answers_to(&self, name: &str) -> bool {
        self.name == name || self.aliases.contains(&name)
    }
}

const ALL_SIGNALS: &[Signal] = &[Signal::Traces, Signal::Metrics, Signal::Logs];

/// Every component type of this build.
pub static COMPONENTS: &[ComponentType] = &[
    ComponentType {
        name: "otlp",
        aliases: &[],
        signals: ALL_SIGNALS,
        summary: "OTLP over gRPC and HTTP (protocols: grpc, http)",
        factory: Factory::Receiver(receiver::parse_otlp),
    },
    ComponentType {
        name: "attributes",
        aliases: &[],
        signals: ALL_SIGNALS,
        summary: "actions on span, log record and data point attributes",
        factory: Factory::Processor(processor::parse_attributes),
    },
    ComponentType {
        name: "batch",
        aliases: &[],
        signals: ALL_SIGNALS,
        summary: "groups items into larger export requests",
        factory: Factory::Processor(processor::parse_batch),
    },
    ComponentType {
        name: "memory_limiter",
        aliases: &[],
        signals: ALL_SIGNALS,
        summary: "refuses new data at the receivers while memory is short",
        factory: Factory::Processor(processor::parse_memory_limiter),
    },
    ComponentType {
        name: "resource",
        aliases: &[],
        signals: ALL_SIGNALS,
        summary: "actions on resource attributes",
        factory: Factory::Processor(processor::parse_resource),
    },
    ComponentType {
        name: "otlp",
        aliases: &["otlp_grpc"],
        signals: ALL_SIGNALS,
        summary: "OTLP over gRPC",
        factory: Factory::Exporter(exporter::parse_otlp),
    },
    ComponentType {
        name: "otlphttp",
        aliases: &["otlp_http"],
        signals: ALL_SIGNALS,
        summary: "OTLP over HTTP/1.1 (protobuf or JSON)",
        factory: Factory::Exporter(exporter::parse_otlp_http),
    },
    ComponentType {
        name: "debug",
        aliases: &[],
        signals: ALL_SIGNALS,
        summary: "logs what it receives",
        factory: Factory::Exporter(exporter::parse_debug),
    },
    ComponentType {
        name: "health_check",
        aliases: &[],
        signals: &[],
        summary: "HTTP health endpoint (Server available / not available)",
        factory: Factory::Extension(extension::parse_health_check),
    },
];

/// The types of `kind`.
pub fn of_kind(kind: Kind) -> impl Iterator<Item = &'static ComponentType> {
    COMPONENTS.iter().filter(move |c| c.kind() == kind)
}

/// The type of `kind` named (or aliased) `name`.
pub fn find(kind: Kind, name: &str) -> Option<&'static ComponentType> {
    of_kind(kind).find(|c| c.answers_to(name))
}

/// Every name and alias of `kind`, for "this build supports: …".
pub fn names(kind: Kind) -> Vec<&'static str> {
    of_kind(kind)
        .flat_map(|c| std::iter::once(c.name).chain(c.aliases.iter().copied()))
        .collect()
}

/// Decodes the body of `id` in the section of `kind` with its type's factory, or reports
/// the type as unknown, listing this kind's names.
fn build<T>(
    kind: Kind,
    pick: fn(Factory) -> Option<Parse<T>>,
    id: &ComponentId,
    body: Value,
    path: &str,
    errs: &mut Errors,
) -> Option<T> {
    match find(kind, &id.kind).and_then(|c| pick(c.factory)) {
        Some(parse) => parse(body, path, errs),
        None => {
            errs.push(ConfigError::UnknownType {
                section: kind.section().into(),
                kind: id.kind.clone(),
                id: id.to_string(),
                supported: names(kind),
            });
            None
        }
    }
}

/// A `receivers:` entry.
pub(crate) fn build_receiver(
    id: &ComponentId,
    body: Value,
    path: &str,
    errs: &mut Errors,
) -> Option<ReceiverConfig> {
    let pick = |f| match f {
        Factory::Receiver(parse) => Some(parse),
        _ => None,
    };
    build(Kind::Receiver, pick, id, body, path, errs)
}

/// A `processors:` entry.
pub(crate) fn build_processor(
    id: &ComponentId,
    body: Value,
    path: &str,
    errs: &mut Errors,
) -> Option<ProcessorConfig> {
    let pick = |f| match f {
        Factory::Processor(parse) => Some(parse),
        _ => None,
    };
    build(Kind::Processor, pick, id, body, path, errs)
}

/// An `exporters:` entry.
pub(crate) fn build_exporter(
    id: &ComponentId,
    body: Value,
    path: &str,
    errs: &mut Errors,
) -> Option<ExporterConfig> {
    let pick = |f| match f {
        Factory::Exporter(parse) => Some(parse),
        _ => None,
    };
    build(Kind::Exporter, pick, id, body, path, errs)
}

/// An `extensions:` entry.
pub(crate) fn build_extension(
    id: &ComponentId,
    body: Value,
    path: &str,
    errs: &mut Errors,
) -> Option<ExtensionConfig> {
    let pick = |f| match f {
        Factory::Extension(parse) => Some(parse),
        _ => None,
    };
    build(Kind::Extension, pick, id, body, path, errs)
}

/// The table as `shardgate components` prints it.
pub fn listing() -> String {
    let mut out = String::new();
    for kind in Kind::ALL {
        out.push_str(kind.section());
        out.push_str(":\n");
        for c in of_kind(kind) {
            let name = match c.aliases {
                [] => c.name.to_owned(),
                aliases => format!("{} (alias: {})", c.name, aliases.join(", ")),
            };
            out.push_str(&format!("  {name:<28} {}\n", c.summary));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_per_kind() {
        for kind in Kind::ALL {
            let mut names = names(kind);
            let count = names.len();
            names.sort_unstable();
            names.dedup();
            assert_eq!(
                names.len(),
                count,
                "{kind:?}: a name or alias is used twice"
            );
        }
    }

    #[test]
    fn lookups_follow_names_and_aliases() {
        assert!(find(Kind::Exporter, "otlp_grpc").is_some_and(|c| c.name == "otlp"));
        assert!(find(Kind::Receiver, "otlp").is_some());
        assert!(find(Kind::Processor, "otlp").is_none());
        assert!(listing().contains("memory_limiter"));
    }
}
