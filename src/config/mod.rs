//! Collector configuration: otelcol's YAML shape, so an existing otelcol config for the
//! supported components works unchanged, plus shardgate's own `shards:` section.
//!
//! Loading runs: read → YAML → `${env:...}` expansion (user files only) → overlay onto the
//! embedded tuning profile (`tuning/default.yaml`), then the `--profile` file on top → typed
//! decoding of every section (unknown keys are errors) → cross-checks like otelcol's. Every
//! error found is reported, one per line, each naming its key path
//! (`receivers::otlp::protocols::grpc::endpoint`).

pub(crate) mod auth;
pub(crate) mod client;
pub(crate) mod de;
pub(crate) mod duration;
pub(crate) mod error;
mod expand;
pub(crate) mod exporter;
pub(crate) mod extension;
pub(crate) mod id;
mod metrics;
pub(crate) mod processor;
mod queue_batch;
mod rebalance;
pub(crate) mod receiver;

pub(crate) mod server;
mod service;
mod shards;
mod source;
pub(crate) mod tls;
mod validate;
pub(crate) mod value;

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use serde_yaml::{Mapping, Value};

pub use client::{Compression, Endpoint, QueueConfig, QueueSizer, RetryConfig};
pub use duration::{format_go_duration, parse_go_duration};
pub use error::ConfigError;
pub use exporter::ExporterConfig;
pub use extension::ExtensionConfig;
pub use id::{ComponentId, PipelineId};
pub use metrics::{MetricsConfig, DEFAULT_METRICS_ENDPOINT};
pub use processor::ProcessorConfig;
pub use receiver::ReceiverConfig;
pub use server::resolve_listen;
pub use value::{ConfigValue, Pattern};
// Component configs live with their components; these keep the paths users of the crate
// (and the tests) name them by.
pub use crate::exporter::debug::config::{DebugExporterConfig, Verbosity};
pub use crate::exporter::otlp_grpc::config::{OtlpExporterConfig, DEFAULT_EXPORT_TIMEOUT};
pub use crate::exporter::otlp_http::config::{
    HttpEncoding, HttpUrl, OtlpHttpExporterConfig, DEFAULT_HTTP_EXPORT_TIMEOUT,
};
pub use crate::extension::health_check::config::{
    HealthCheckConfig, DEFAULT_HEALTH_CHECK_ENDPOINT,
};
pub use crate::processor::actions::config::{ActionConfig, ActionKind, ConvertType, ValueSource};
pub use crate::processor::attributes::config::AttributesConfig;
pub use crate::processor::batch::config::{
    BatchConfig, DEFAULT_BATCH_TIMEOUT, DEFAULT_SEND_BATCH_SIZE,
};
pub use crate::processor::matching::config::{
    AttrMatch, Filter, LibraryMatch, MatchConfig, SeverityMatch,
};
pub use crate::processor::memory_limiter::config::MemoryLimiterConfig;
pub use crate::processor::resource::config::ResourceConfig;
pub use crate::receiver::otlp::config::{
    CorsConfig, GrpcServerConfig, HttpServerConfig, OtlpReceiverConfig, DEFAULT_GRPC_ENDPOINT,
    DEFAULT_HTTP_ENDPOINT, DEFAULT_MAX_CONCURRENT_STREAMS, DEFAULT_MAX_RECV_MSG_SIZE_MIB,
    DEFAULT_MAX_REQUEST_BODY_SIZE,
};
pub use rebalance::RebalanceConfig;
pub use service::{LogEncoding, PipelineConfig, ServiceConfig, TelemetryConfig};
pub use shards::{CoresSpec, ShardsConfig};
pub use tls::{ClientTlsConfig, ServerTlsConfig};

use crate::registry;
use crate::signal::Signal;
use de::join;
use error::Errors;
use validate::Known;

/// The configuration used when none is given: OTLP/gRPC on localhost:4317 → batch → debug.
pub const DEFAULT_CONFIG_YAML: &str = include_str!("default.yaml");
/// The tuning profile always applied first: the `shards:` defaults, documented knob by knob.
pub const DEFAULT_PROFILE_YAML: &str = include_str!("../../tuning/default.yaml");

const DEFAULT_CONFIG_ORIGIN: &str = "<embedded default config>";
const DEFAULT_PROFILE_ORIGIN: &str = "<embedded tuning/default.yaml>";
const TOP_LEVEL_KEYS: &[&str] = &[
    "receivers",
    "processors",
    "exporters",
    "extensions",
    "connectors",
    "service",
    "shards",
];

/// A loaded, checked configuration: every referenced component exists and fits its pipeline.
#[derive(Clone, Debug, PartialEq)]
pub struct Config {
    /// Configured receivers by id (used or not: otelcol ignores unused ones).
    pub receivers: BTreeMap<ComponentId, ReceiverConfig>,
    /// Configured processors by id.
    pub processors: BTreeMap<ComponentId, ProcessorConfig>,
    /// Configured exporters by id.
    pub exporters: BTreeMap<ComponentId, ExporterConfig>,
    /// Configured extensions by id (only those in `service.extensions` run).
    pub extensions: BTreeMap<ComponentId, ExtensionConfig>,
    /// Pipelines, enabled extensions and self-telemetry.
    pub service: ServiceConfig,
    /// The per-core runtime's settings, after profile overlay.
    pub shards: ShardsConfig,
    /// Things accepted but not acted on (otelcol keys this build ignores, unset environment
    /// variables), one `path: message` each; log them with [`Config::log_warnings`] once
    /// logging is set up (loading happens before, so it cannot log them itself).
    pub warnings: Vec<String>,
}

impl Config {
    /// Emits every entry of `warnings` as a `tracing::warn!`.
    pub fn log_warnings(&self) {
        for warning in &self.warnings {
            tracing::warn!("configuration: {warning}");
        }
    }

    /// The pipelines carrying `signal`, in id order.
    pub fn pipelines_for(&self, signal: Signal) -> impl Iterator<Item = &PipelineConfig> + '_ {
        self.service
            .pipelines
            .iter()
            .filter(move |p| p.id.signal == signal)
    }

    /// The pipeline with this id, if configured.
    pub fn pipeline(&self, id: &PipelineId) -> Option<&PipelineConfig> {
        self.service.pipelines.iter().find(|p| &p.id == id)
    }

    /// Receivers that at least one pipeline uses (the only ones to start), in id order.
    pub fn used_receivers(&self) -> impl Iterator<Item = (&ComponentId, &ReceiverConfig)> + '_ {
        self.receivers.iter().filter(|(id, _)| {
            self.service
                .pipelines
                .iter()
                .any(|p| p.receivers.contains(id))
        })
    }

    /// Exporters that at least one pipeline uses (the only ones to start), in id order.
    pub fn used_exporters(&self) -> impl Iterator<Item = (&ComponentId, &ExporterConfig)> + '_ {
        self.exporters.iter().filter(|(id, _)| {
            self.service
                .pipelines
                .iter()
                .any(|p| p.exporters.contains(id))
        })
    }
}

/// Loads the configuration: `config_path` (or the embedded default when None) over the
/// embedded tuning profile, with `profile_path`'s `shards:` on top when given.
pub fn load(
    config_path: Option<&Path>,
    profile_path: Option<&Path>,
) -> Result<Config, ConfigError> {
    let mut warnings = Vec::new();
    let document = match config_path {
        Some(path) => {
            let origin = path.display().to_string();
            source::user_document(&source::read(path)?, &origin, &mut warnings)?
        }
        None => source::parse_yaml(DEFAULT_CONFIG_YAML, DEFAULT_CONFIG_ORIGIN)?,
    };
    let profile = match profile_path {
        Some(path) => {
            let origin = path.display().to_string();
            Some(profile_document(
                &source::read(path)?,
                &origin,
                &mut warnings,
            )?)
        }
        None => None,
    };
    assemble(document, profile, warnings)
}

/// Same pipeline as [`load`] for configuration text (no profile file); `origin` names it in
/// messages.
pub fn parse_str(yaml: &str, origin: &str) -> Result<Config, ConfigError> {
    let mut warnings = Vec::new();
    let document = source::user_document(yaml, origin, &mut warnings)?;
    assemble(document, None, warnings)
}

/// [`parse_str`] with a tuning profile's text applied on top, as `load` does with a profile file.
pub fn parse_str_with_profile(
    yaml: &str,
    origin: &str,
    profile_yaml: &str,
    profile_origin: &str,
) -> Result<Config, ConfigError> {
    let mut warnings = Vec::new();
    let document = source::user_document(yaml, origin, &mut warnings)?;
    let profile = profile_document(profile_yaml, profile_origin, &mut warnings)?;
    assemble(document, Some(profile), warnings)
}

fn profile_document(
    text: &str,
    origin: &str,
    warnings: &mut Vec<String>,
) -> Result<Value, ConfigError> {
    let profile = source::user_document(text, origin, warnings)?;
    source::check_profile(&profile, origin)?;
    Ok(profile)
}

/// Layers: embedded tuning profile < configuration < profile file; then decodes and checks.
fn assemble(
    document: Value,
    profile: Option<Value>,
    warnings: Vec<String>,
) -> Result<Config, ConfigError> {
    let base = source::parse_yaml(DEFAULT_PROFILE_YAML, DEFAULT_PROFILE_ORIGIN)?;
    source::check_profile(&base, DEFAULT_PROFILE_ORIGIN)?;
    let mut merged = source::overlay(base, document);
    if let Some(profile) = profile {
        merged = source::overlay(merged, profile);
    }
    build(merged, warnings)
}

/// Decodes every section of the merged document and cross-checks them.
fn build(document: Value, mut warnings: Vec<String>) -> Result<Config, ConfigError> {
    let Value::Mapping(top) = document else {
        return Err(ConfigError::invalid(
            "(top level)",
            "the configuration must be a YAML mapping",
        ));
    };
    let mut errs = Errors::default();
    let mut sections = top_level_sections(top, &mut errs);
    let mut section = |name: &str| sections.remove(name).unwrap_or(Value::Null);
    let mut known = Known::default();
    let receivers = components(
        section("receivers"),
        "receivers",
        &mut known.receivers,
        &mut errs,
        registry::parse_receiver,
    );
    let processors = components(
        section("processors"),
        "processors",
        &mut known.processors,
        &mut errs,
        registry::parse_processor,
    );
    let exporters = components(
        section("exporters"),
        "exporters",
        &mut known.exporters,
        &mut errs,
        registry::parse_exporter,
    );
    let extensions = components(
        section("extensions"),
        "extensions",
        &mut known.extensions,
        &mut errs,
        registry::parse_extension,
    );
    let connectors = section("connectors");
    if connectors.as_mapping().is_some_and(|m| !m.is_empty()) {
        errs.invalid("connectors", "connectors are not supported by this build");
    }
    let service = service::build(section("service"), &mut errs);
    known.service_decoded = service.is_some();
    let service = service.unwrap_or_default();
    let shards = shards::build(section("shards"), &mut errs);
    let mut config = Config {
        receivers,
        processors,
        exporters,
        extensions,
        service,
        shards,
        warnings: Vec::new(),
    };
    validate::validate(&config, &known, &mut errs);
    warnings.extend(errs.take_warnings());
    config.warnings = warnings;
    errs.finish(config)
}

/// Splits the document into its top-level sections, reporting unknown keys.
fn top_level_sections(top: Mapping, errs: &mut Errors) -> BTreeMap<&'static str, Value> {
    let mut sections = BTreeMap::new();
    for (key, value) in top {
        match TOP_LEVEL_KEYS.iter().find(|k| key.as_str() == Some(**k)) {
            Some(k) => {
                sections.insert(*k, value);
            }
            None => errs.invalid(
                serde_yaml::to_string(&key).unwrap_or_default().trim_end(),
                format!(
                    "unknown top-level key; expected one of {}",
                    TOP_LEVEL_KEYS.join(", ")
                ),
            ),
        }
    }
    sections
}

/// Builder signature shared by the component sections.
type BuildFn<T> = fn(&ComponentId, Value, &str, &mut Errors) -> Option<T>;

/// Decodes one component section (`receivers:` ...): parses each id, records it in `known`,
/// and builds its body with `build`.
fn components<T>(
    body: Value,
    section: &str,
    known: &mut BTreeSet<ComponentId>,
    errs: &mut Errors,
    build: BuildFn<T>,
) -> BTreeMap<ComponentId, T> {
    let mut out = BTreeMap::new();
    let Some(entries) = errs.take(de::decode::<BTreeMap<String, Value>>(body, section)) else {
        return out;
    };
    for (key, body) in entries {
        let id = match key.parse::<ComponentId>() {
            Ok(id) => id,
            Err(reason) => {
                errs.invalid(join(section, &key), reason);
                continue;
            }
        };
        if !known.insert(id.clone()) {
            errs.invalid(join(section, &key), format!("id \"{id}\" is defined twice"));
            continue;
        }
        let path = join(section, &id.to_string());
        if let Some(component) = build(&id, body, &path, errs) {
            out.insert(id, component);
        }
    }
    out
}
