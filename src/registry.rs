//! The component registry: the one table of component types this build has.
//!
//! Each entry names a type, the pipelines it fits and its factory: how its config is read
//! and checked, and how one shard makes its runtime from that config. The config loader and
//! `validate` find each configured id's type here (and list these names when a type is
//! unknown), the pipeline builder makes every stage and exporter through it, `shardgate
//! components` prints it, and a test checks the README's component reference against it.
//! Adding a component is one entry here plus its own folder. Checks that depend on a
//! component's settings (an `attributes` processor whose `include` names span properties
//! cannot sit in a metrics pipeline) stay with its config.

use serde_yaml::Value;

use crate::config::error::{ConfigError, Errors};
use crate::config::exporter::ExporterConfig;
use crate::config::extension::ExtensionConfig;
use crate::config::id::ComponentId;
use crate::config::processor::ProcessorConfig;
use crate::config::receiver::ReceiverConfig;
use crate::exporter::{debug, kafka as kafka_exporter, loadbalancing, otlp_grpc, otlp_http};
use crate::extension::{
    basicauth, bearertokenauth, file_storage, headers_setter, health_check, zpages,
};
use crate::pipeline::parts::{BuildError, MakeDelivery, MakeStage, StartReceiver};
use crate::processor::attributes::{self, AttributesProcessor};
use crate::processor::filter::{self, FilterProcessor};
use crate::processor::probabilistic_sampler::{self, ProbabilisticSampler};
use crate::processor::resource::{self, ResourceProcessor};
use crate::processor::transform::Rewrite;
use crate::processor::transform_statements::{self, TransformProcessor};
use crate::processor::{batch, memory_limiter, resourcedetection, tail_sampling};
use crate::receiver::{jaeger, kafka as kafka_receiver, otlp, prometheus, zipkin};
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

/// How a type's config is read and its runtime made, per kind.
#[derive(Clone, Copy)]
pub(crate) enum Factory {
    /// A receiver.
    Receiver {
        /// Its config.
        config: Parse<ReceiverConfig>,
        /// Binds and serves it on a shard.
        start: StartReceiver,
    },
    /// A processor.
    Processor {
        /// Its config.
        config: Parse<ProcessorConfig>,
        /// Its stage on a shard.
        stage: MakeStage,
    },
    /// An exporter.
    Exporter {
        /// Its config.
        config: Parse<ExporterConfig>,
        /// One instance on a shard, per signal.
        delivery: MakeDelivery,
    },
    /// An extension (run by the main thread, off the shards).
    Extension {
        /// Its config.
        config: Parse<ExtensionConfig>,
    },
}

impl Factory {
    /// The kind this factory makes.
    pub(crate) fn kind(&self) -> Kind {
        match self {
            Factory::Receiver { .. } => Kind::Receiver,
            Factory::Processor { .. } => Kind::Processor,
            Factory::Exporter { .. } => Kind::Exporter,
            Factory::Extension { .. } => Kind::Extension,
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
        factory: Factory::Receiver {
            config: |b, p, e| {
                otlp::config::parse(b, p, e).map(|c| ReceiverConfig::Otlp(Box::new(c)))
            },
            start: |id, config, routes, io| match config {
                ReceiverConfig::Otlp(c) => {
                    otlp::start(id, c, routes, io).map_err(|e| BuildError::Receiver(e.to_string()))
                }
                _ => Err(BuildError::Unbuildable { id: id.clone() }),
            },
        },
    },
    ComponentType {
        name: "prometheus",
        aliases: &[],
        signals: &[Signal::Metrics],
        summary: "scrapes Prometheus endpoints (static_configs over http or https)",
        factory: Factory::Receiver {
            config: |b, p, e| prometheus::config::parse(b, p, e).map(ReceiverConfig::Prometheus),
            start: |id, config, routes, io| match config {
                ReceiverConfig::Prometheus(c) => {
                    prometheus::start(id, c, routes, io).map_err(BuildError::Receiver)
                }
                _ => Err(BuildError::Unbuildable { id: id.clone() }),
            },
        },
    },
    ComponentType {
        name: "kafka",
        aliases: &[],
        signals: ALL_SIGNALS,
        summary: "consumes OTLP (protobuf or JSON) from Kafka topics, one consumer per shard in the group",
        factory: Factory::Receiver {
            config: |b, p, e| {
                kafka_receiver::config::parse(b, p, e).map(|c| ReceiverConfig::Kafka(Box::new(c)))
            },
            start: |id, config, routes, io| match config {
                ReceiverConfig::Kafka(c) => {
                    kafka_receiver::start(id, c, routes, io).map_err(BuildError::Receiver)
                }
                _ => Err(BuildError::Unbuildable { id: id.clone() }),
            },
        },
    },
    ComponentType {
        name: "zipkin",
        aliases: &[],
        signals: &[Signal::Traces],
        summary: "Zipkin v2 (JSON, protobuf) and v1 (JSON) spans over HTTP",
        factory: Factory::Receiver {
            config: |b, p, e| {
                zipkin::config::parse(b, p, e).map(|c| ReceiverConfig::Zipkin(Box::new(c)))
            },
            start: |id, config, routes, io| match config {
                ReceiverConfig::Zipkin(c) => zipkin::start(id, c, routes, io)
                    .map_err(|e| BuildError::Receiver(e.to_string())),
                _ => Err(BuildError::Unbuildable { id: id.clone() }),
            },
        },
    },
    ComponentType {
        name: "jaeger",
        aliases: &[],
        signals: &[Signal::Traces],
        summary: "Jaeger spans: api_v2 gRPC PostSpans, Thrift batches over HTTP, agent UDP (compact, binary)",
        factory: Factory::Receiver {
            config: |b, p, e| {
                jaeger::config::parse(b, p, e).map(|c| ReceiverConfig::Jaeger(Box::new(c)))
            },
            start: |id, config, routes, io| match config {
                ReceiverConfig::Jaeger(c) => jaeger::start(id, c, routes, io)
                    .map_err(|e| BuildError::Receiver(e.to_string())),
                _ => Err(BuildError::Unbuildable { id: id.clone() }),
            },
        },
    },
    ComponentType {
        name: "attributes",
        aliases: &[],
        signals: ALL_SIGNALS,
        summary: "actions on span, log record and data point attributes",
        factory: Factory::Processor {
            config: |b, p, e| attributes::config::parse(b, p, e).map(ProcessorConfig::Attributes),
            stage: |config, parts| match config {
                ProcessorConfig::Attributes(c) => {
                    Ok(parts.transform(Rewrite::Attributes(AttributesProcessor::new(c))))
                }
                _ => Err(parts.unbuildable()),
            },
        },
    },
    ComponentType {
        name: "batch",
        aliases: &[],
        signals: ALL_SIGNALS,
        summary: "groups items into larger export requests",
        factory: Factory::Processor {
            config: |b, p, e| batch::config::parse(b, p, e).map(ProcessorConfig::Batch),
            stage: |config, parts| match config {
                ProcessorConfig::Batch(c) => Ok(parts.batch(c)),
                _ => Err(parts.unbuildable()),
            },
        },
    },
    ComponentType {
        name: "filter",
        aliases: &[],
        signals: ALL_SIGNALS,
        summary:
            "drops spans, span events, metrics, data points and log records by OTTL conditions",
        factory: Factory::Processor {
            config: |b, p, e| {
                filter::config::parse(b, p, e).map(|c| ProcessorConfig::Filter(Box::new(c)))
            },
            stage: |config, parts| match config {
                ProcessorConfig::Filter(c) => {
                    Ok(parts.transform(Rewrite::Filter(Box::new(FilterProcessor::new(c)))))
                }
                _ => Err(parts.unbuildable()),
            },
        },
    },
    ComponentType {
        name: "memory_limiter",
        aliases: &[],
        signals: ALL_SIGNALS,
        summary: "refuses new data at the receivers while memory is short",
        factory: Factory::Processor {
            config: |b, p, e| {
                memory_limiter::config::parse(b, p, e).map(ProcessorConfig::MemoryLimiter)
            },
            // It acts at the receivers, before a body is read (see processor::memory_limiter),
            // so it adds no stage.
            stage: |config, parts| match config {
                ProcessorConfig::MemoryLimiter(_) => Ok(parts.next),
                _ => Err(parts.unbuildable()),
            },
        },
    },
    ComponentType {
        name: "probabilistic_sampler",
        aliases: &[],
        signals: &[Signal::Traces, Signal::Logs],
        summary: "keeps a share of spans or log records, consistently by trace id",
        factory: Factory::Processor {
            config: |b, p, e| {
                probabilistic_sampler::config::parse(b, p, e)
                    .map(ProcessorConfig::ProbabilisticSampler)
            },
            stage: |config, parts| match config {
                ProcessorConfig::ProbabilisticSampler(c) => {
                    let sampler = ProbabilisticSampler::new(c, parts.signal)
                        .observed(parts.observer.counters.processor(parts.id));
                    Ok(parts.transform(Rewrite::ProbabilisticSampler(sampler)))
                }
                _ => Err(parts.unbuildable()),
            },
        },
    },
    ComponentType {
        name: "resource",
        aliases: &[],
        signals: ALL_SIGNALS,
        summary: "actions on resource attributes",
        factory: Factory::Processor {
            config: |b, p, e| resource::config::parse(b, p, e).map(ProcessorConfig::Resource),
            stage: |config, parts| match config {
                ProcessorConfig::Resource(c) => {
                    Ok(parts.transform(Rewrite::Resource(ResourceProcessor::new(c))))
                }
                _ => Err(parts.unbuildable()),
            },
        },
    },
    ComponentType {
        name: "resourcedetection",
        aliases: &[],
        signals: ALL_SIGNALS,
        summary: "resource attributes of this host (env, system detectors)",
        factory: Factory::Processor {
            config: |b, p, e| {
                resourcedetection::config::parse(b, p, e).map(ProcessorConfig::ResourceDetection)
            },
            stage: |config, parts| match config {
                ProcessorConfig::ResourceDetection(c) => {
                    Ok(parts.transform(Rewrite::Resource(ResourceProcessor::new(&c.resource))))
                }
                _ => Err(parts.unbuildable()),
            },
        },
    },
    ComponentType {
        name: "transform",
        aliases: &[],
        signals: ALL_SIGNALS,
        summary:
            "OTTL statements on resources, scopes, spans, span events, metrics, data points, logs",
        factory: Factory::Processor {
            config: |b, p, e| {
                transform_statements::config::parse(b, p, e)
                    .map(|c| ProcessorConfig::Transform(Box::new(c)))
            },
            stage: |config, parts| match config {
                ProcessorConfig::Transform(c) => {
                    Ok(parts.transform(Rewrite::Statements(Box::new(TransformProcessor::new(c)))))
                }
                _ => Err(parts.unbuildable()),
            },
        },
    },
    ComponentType {
        name: "tail_sampling",
        aliases: &[],
        signals: &[Signal::Traces],
        summary: "keeps or drops whole traces by policies, after a decision wait",
        factory: Factory::Processor {
            config: |b, p, e| {
                tail_sampling::config::parse(b, p, e).map(ProcessorConfig::TailSampling)
            },
            stage: |config, parts| match config {
                ProcessorConfig::TailSampling(c) => Ok(parts.tail_sampling(c)),
                _ => Err(parts.unbuildable()),
            },
        },
    },
    ComponentType {
        name: "otlp",
        aliases: &["otlp_grpc"],
        signals: ALL_SIGNALS,
        summary: "OTLP over gRPC",
        factory: Factory::Exporter {
            config: |b, p, e| {
                otlp_grpc::config::parse(b, p, e).map(|c| ExporterConfig::Otlp(Box::new(c)))
            },
            delivery: |config, parts| match config {
                ExporterConfig::Otlp(c) => otlp_grpc::delivery(c, parts),
                _ => Err(parts.unbuildable()),
            },
        },
    },
    ComponentType {
        name: "otlphttp",
        aliases: &["otlp_http"],
        signals: ALL_SIGNALS,
        summary: "OTLP over HTTP/1.1 (protobuf or JSON)",
        factory: Factory::Exporter {
            config: |b, p, e| {
                otlp_http::config::parse(b, p, e).map(|c| ExporterConfig::OtlpHttp(Box::new(c)))
            },
            delivery: |config, parts| match config {
                ExporterConfig::OtlpHttp(c) => otlp_http::delivery(c, parts),
                _ => Err(parts.unbuildable()),
            },
        },
    },
    ComponentType {
        name: "debug",
        aliases: &[],
        signals: ALL_SIGNALS,
        summary: "logs what it receives",
        factory: Factory::Exporter {
            config: |b, p, e| debug::config::parse(b, p, e).map(ExporterConfig::Debug),
            delivery: |config, parts| match config {
                ExporterConfig::Debug(c) => Ok(debug::delivery(c, parts)),
                _ => Err(parts.unbuildable()),
            },
        },
    },
    ComponentType {
        name: "loadbalancing",
        aliases: &[],
        signals: ALL_SIGNALS,
        summary: "routes by trace id, service, resource or metric to otlp backends (static, dns)",
        factory: Factory::Exporter {
            config: |b, p, e| {
                loadbalancing::config::parse(b, p, e)
                    .map(|c| ExporterConfig::LoadBalancing(Box::new(c)))
            },
            delivery: |config, parts| match config {
                ExporterConfig::LoadBalancing(c) => loadbalancing::delivery(c, parts),
                _ => Err(parts.unbuildable()),
            },
        },
    },
    ComponentType {
        name: "kafka",
        aliases: &[],
        signals: ALL_SIGNALS,
        summary: "produces OTLP (protobuf or JSON) to Kafka topics through librdkafka",
        factory: Factory::Exporter {
            config: |b, p, e| {
                kafka_exporter::config::parse(b, p, e).map(|c| ExporterConfig::Kafka(Box::new(c)))
            },
            delivery: |config, parts| match config {
                ExporterConfig::Kafka(c) => kafka_exporter::delivery(c, parts),
                _ => Err(parts.unbuildable()),
            },
        },
    },
    ComponentType {
        name: "bearertokenauth",
        aliases: &[],
        signals: &[],
        summary: "bearer token authentication of receivers' and exporters' requests",
        factory: Factory::Extension {
            config: |b, p, e| {
                bearertokenauth::config::parse(b, p, e).map(ExtensionConfig::BearerTokenAuth)
            },
        },
    },
    ComponentType {
        name: "basicauth",
        aliases: &[],
        signals: &[],
        summary: "HTTP Basic authentication (htpasswd for receivers, client_auth for exporters)",
        factory: Factory::Extension {
            config: |b, p, e| basicauth::config::parse(b, p, e).map(ExtensionConfig::BasicAuth),
        },
    },
    ComponentType {
        name: "health_check",
        aliases: &[],
        signals: &[],
        summary: "HTTP health endpoint (Server available / not available)",
        factory: Factory::Extension {
            config: |b, p, e| {
                health_check::config::parse(b, p, e).map(ExtensionConfig::HealthCheck)
            },
        },
    },
    ComponentType {
        name: "zpages",
        aliases: &[],
        signals: &[],
        summary: "debugging pages: /debug/servicez, /debug/pipelinez, /debug/extensionz",
        factory: Factory::Extension {
            config: |b, p, e| zpages::config::parse(b, p, e).map(ExtensionConfig::Zpages),
        },
    },
    ComponentType {
        name: "file_storage",
        aliases: &[],
        signals: &[],
        summary: "a directory for durable sending queues (sending_queue.storage)",
        factory: Factory::Extension {
            config: |b, p, e| {
                file_storage::config::parse(b, p, e).map(ExtensionConfig::FileStorage)
            },
        },
    },
    ComponentType {
        name: "headers_setter",
        aliases: &[],
        signals: &[],
        summary: "exporters' request headers from the config or the client metadata",
        factory: Factory::Extension {
            config: |b, p, e| {
                headers_setter::config::parse(b, p, e).map(ExtensionConfig::HeadersSetter)
            },
        },
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

/// Well-known otelcol types that this build refuses, with the reason `validate` gives:
/// a user's config naming them gets a clear answer, not just "unknown type".
const NOT_BUILT: &[(Kind, &str, &str)] = &[
    (
        Kind::Extension,
        "pprof",
        "shardgate is not a Go program and serves no pprof profiles; profile it with perf (scripts/profile.sh)",
    ),
    (
        Kind::Extension,
        "memory_ballast",
        "otelcol removed it, and shardgate has no garbage collector to steady; use memory_limiter",
    ),
];

/// Decodes the body of `id` in the section of `kind` with its type's factory, or reports
/// the type as unknown (or as refused, with why), listing this kind's names.
fn parse<T>(
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
            let refused = NOT_BUILT
                .iter()
                .find(|(k, name, _)| *k == kind && *name == id.kind);
            errs.push(match refused {
                Some((_, _, reason)) => ConfigError::NotBuilt {
                    section: kind.section().into(),
                    kind: id.kind.clone(),
                    id: id.to_string(),
                    reason,
                    supported: names(kind),
                },
                None => ConfigError::UnknownType {
                    section: kind.section().into(),
                    kind: id.kind.clone(),
                    id: id.to_string(),
                    supported: names(kind),
                },
            });
            None
        }
    }
}

/// The config of a `receivers:` entry.
pub(crate) fn parse_receiver(
    id: &ComponentId,
    body: Value,
    path: &str,
    errs: &mut Errors,
) -> Option<ReceiverConfig> {
    let pick = |f| match f {
        Factory::Receiver { config, .. } => Some(config),
        _ => None,
    };
    parse(Kind::Receiver, pick, id, body, path, errs)
}

/// The config of a `processors:` entry.
pub(crate) fn parse_processor(
    id: &ComponentId,
    body: Value,
    path: &str,
    errs: &mut Errors,
) -> Option<ProcessorConfig> {
    let pick = |f| match f {
        Factory::Processor { config, .. } => Some(config),
        _ => None,
    };
    parse(Kind::Processor, pick, id, body, path, errs)
}

/// The config of an `exporters:` entry.
pub(crate) fn parse_exporter(
    id: &ComponentId,
    body: Value,
    path: &str,
    errs: &mut Errors,
) -> Option<ExporterConfig> {
    let pick = |f| match f {
        Factory::Exporter { config, .. } => Some(config),
        _ => None,
    };
    parse(Kind::Exporter, pick, id, body, path, errs)
}

/// The config of an `extensions:` entry.
pub(crate) fn parse_extension(
    id: &ComponentId,
    body: Value,
    path: &str,
    errs: &mut Errors,
) -> Option<ExtensionConfig> {
    let pick = |f| match f {
        Factory::Extension { config } => Some(config),
        _ => None,
    };
    parse(Kind::Extension, pick, id, body, path, errs)
}

/// How receiver `id` starts on a shard.
pub(crate) fn receiver_start(id: &ComponentId) -> Result<StartReceiver, BuildError> {
    match find(Kind::Receiver, &id.kind).map(|c| c.factory) {
        Some(Factory::Receiver { start, .. }) => Ok(start),
        _ => Err(BuildError::Unbuildable { id: id.clone() }),
    }
}

/// How processor `id` makes its stage on a shard.
pub(crate) fn processor_stage(id: &ComponentId) -> Result<MakeStage, BuildError> {
    match find(Kind::Processor, &id.kind).map(|c| c.factory) {
        Some(Factory::Processor { stage, .. }) => Ok(stage),
        _ => Err(BuildError::Unbuildable { id: id.clone() }),
    }
}

/// How exporter `id` makes an instance on a shard.
pub(crate) fn exporter_delivery(id: &ComponentId) -> Result<MakeDelivery, BuildError> {
    match find(Kind::Exporter, &id.kind).map(|c| c.factory) {
        Some(Factory::Exporter { delivery, .. }) => Ok(delivery),
        _ => Err(BuildError::Unbuildable { id: id.clone() }),
    }
}

/// Whether the type of `id` (of `kind`) can sit in a pipeline of `signal`.
pub(crate) fn fits(kind: Kind, id: &ComponentId, signal: Signal) -> bool {
    find(kind, &id.kind).is_some_and(|c| c.signals.contains(&signal))
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

/// Test helpers: a component's config from YAML, read at `<section>::<id>` as the loader
/// reads it.
#[cfg(test)]
#[allow(clippy::unwrap_used)]
pub(crate) mod testing {
    use super::*;

    type ParseAt<T> = fn(&ComponentId, Value, &str, &mut Errors) -> Option<T>;

    fn read<T>(parse: ParseAt<T>, section: &str, id: &str, yaml: &str) -> Result<T, ConfigError> {
        let component: ComponentId = id.parse().unwrap();
        let body: Value = serde_yaml::from_str(yaml).unwrap();
        let mut errs = Errors::default();
        let config = parse(&component, body, &format!("{section}::{id}"), &mut errs);
        errs.finish(config).map(|c| c.unwrap())
    }

    /// Receiver `id`'s config.
    pub(crate) fn receiver(id: &str, yaml: &str) -> Result<ReceiverConfig, ConfigError> {
        read(parse_receiver, "receivers", id, yaml)
    }

    /// Processor `id`'s config.
    pub(crate) fn processor(id: &str, yaml: &str) -> Result<ProcessorConfig, ConfigError> {
        read(parse_processor, "processors", id, yaml)
    }

    /// Exporter `id`'s config.
    pub(crate) fn exporter(id: &str, yaml: &str) -> Result<ExporterConfig, ConfigError> {
        read(parse_exporter, "exporters", id, yaml)
    }

    /// Extension `id`'s config.
    pub(crate) fn extension(id: &str, yaml: &str) -> Result<ExtensionConfig, ConfigError> {
        read(parse_extension, "extensions", id, yaml)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
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

    #[test]
    fn an_unknown_type_lists_what_this_build_supports() {
        let err = |e: ConfigError| e.to_string();
        assert_eq!(
            testing::receiver("nonesuch", "").map_err(err).unwrap_err(),
            "receivers: unknown type \"nonesuch\" for id \"nonesuch\"; this build supports: otlp, prometheus, kafka, zipkin, jaeger"
        );
        assert_eq!(
            testing::processor("nonesuch/x", "").map_err(err).unwrap_err(),
            "processors: unknown type \"nonesuch\" for id \"nonesuch/x\"; this build supports: attributes, batch, filter, memory_limiter, probabilistic_sampler, resource, resourcedetection, transform, tail_sampling"
        );
    }

    /// otelcol types a user's config may well name get a reason, not just "unknown".
    #[test]
    fn a_well_known_type_not_built_says_why() {
        let err = |e: ConfigError| e.to_string();
        assert_eq!(
            testing::extension("memory_ballast/x", "").map_err(err).unwrap_err(),
            "extensions: type \"memory_ballast\" (id \"memory_ballast/x\") is not in this build: otelcol removed it, and shardgate has no garbage collector to steady; use memory_limiter; this build supports: bearertokenauth, basicauth, health_check, zpages, file_storage, headers_setter"
        );
        for (kind, name, _) in NOT_BUILT {
            assert!(
                find(*kind, name).is_none(),
                "{name} is built: drop it from NOT_BUILT"
            );
        }
    }
}
