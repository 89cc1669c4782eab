//! Cross-section checks, as otelcol makes them: pipelines reference configured components that
//! support their signal, every pipeline has a receiver and an exporter, and so on.

use std::collections::BTreeSet;
use std::net::SocketAddr;

use super::de::join;
use super::error::{ConfigError, Errors};
use super::id::ComponentId;
use super::service::PipelineConfig;
use super::{Config, ExporterConfig, ReceiverConfig};
use crate::registry::{self, Kind};
use crate::signal::Signal;

/// Ids configured in each section, including ones whose body had errors (so a broken component
/// is reported once, not again as "not configured" by every pipeline using it).
#[derive(Debug, Default)]
pub(crate) struct Known {
    pub receivers: BTreeSet<ComponentId>,
    pub processors: BTreeSet<ComponentId>,
    pub exporters: BTreeSet<ComponentId>,
    pub extensions: BTreeSet<ComponentId>,
    /// Whether `service` decoded; if not, its error is reported and an empty pipeline list
    /// means nothing.
    pub service_decoded: bool,
}

/// Records every cross-reference problem in `config`.
pub(crate) fn validate(config: &Config, known: &Known, errs: &mut Errors) {
    if known.service_decoded && config.service.pipelines.is_empty() {
        errs.invalid(
            "service::pipelines",
            "service must have at least one pipeline",
        );
    }
    for pipeline in &config.service.pipelines {
        check_pipeline(config, known, pipeline, errs);
    }
    for id in &config.service.extensions {
        if !known.extensions.contains(id) {
            errs.push(ConfigError::Undefined {
                path: "service::extensions".into(),
                role: "extension",
                id: id.to_string(),
            });
        }
    }
    check_listeners(config, errs);
    check_authenticators(config, errs);
    check_storage(config, errs);
    check_tail_sampling(config, errs);
    check_queue_batch(config, errs);
}

/// `sending_queue.batch` runs in front of an `otlp` or `otlphttp` exporter; the
/// `loadbalancing` exporter's backends do not batch yet.
fn check_queue_batch(config: &Config, errs: &mut Errors) {
    for (id, exporter) in &config.exporters {
        if let ExporterConfig::LoadBalancing(l) = exporter {
            if l.otlp.sending_queue.batch.is_some() {
                errs.invalid(
                    format!("exporters::{id}::protocol::otlp::sending_queue::batch"),
                    "not supported inside loadbalancing yet; batch before it with the batch processor",
                );
            }
        }
    }
}

/// A `tail_sampling` takes data as the receivers hand it over (it sorts spans by the shard
/// owning their trace, and a full owner refuses retryably): nothing that acknowledges
/// (`batch`) may come before it, and data it holds is in memory only, so its pipeline's
/// exporters may not keep their queue in storage yet.
fn check_tail_sampling(config: &Config, errs: &mut Errors) {
    use crate::config::ProcessorConfig;
    for p in &config.service.pipelines {
        let kinds: Vec<_> = p
            .processors
            .iter()
            .map(|id| config.processors.get(id))
            .collect();
        let Some(tail) = kinds
            .iter()
            .position(|k| matches!(k, Some(ProcessorConfig::TailSampling(_))))
        else {
            continue;
        };
        let path = format!("service::pipelines::{}::processors", p.id);
        if kinds[..tail]
            .iter()
            .any(|k| matches!(k, Some(ProcessorConfig::Batch(_))))
        {
            errs.invalid(
                &path,
                format!("{} must come before batch: tail_sampling takes spans before anything acknowledges them", p.processors[tail]),
            );
        }
        if let Some(durable) = p.exporters.iter().find(|e| {
            config
                .exporters
                .get(e)
                .is_some_and(|x| x.storage().is_some())
        }) {
            errs.invalid(
                &path,
                format!("{} holds traces in memory only; a pipeline with it cannot feed {durable}, whose sending_queue uses storage (not supported yet)", p.processors[tail]),
            );
        }
    }
}

/// Every `sending_queue.storage` names an enabled `file_storage` extension whose directory
/// exists (or may be created), and a pipeline feeding such an exporter has no processor
/// after its batch: data is made durable where it is acknowledged (entering the batch), and
/// is replayed straight to the exporter, so nothing may change it in between.
fn check_storage(config: &Config, errs: &mut Errors) {
    use crate::config::{ExtensionConfig, ProcessorConfig};
    let mut durable = BTreeSet::new();
    for (id, exporter) in config.used_exporters() {
        let path = format!("exporters::{id}::sending_queue::storage");
        if let Some(queue) = exporter.sending_queue() {
            if queue.storage.is_some() && !queue.enabled {
                errs.invalid(&path, "a disabled sending_queue cannot use storage");
            }
        }
        let Some(storage) = exporter.storage() else {
            continue;
        };
        durable.insert(id);
        if !config.service.extensions.contains(storage) {
            errs.invalid(
                &path,
                format!("storage \"{storage}\" must be configured under extensions and listed in service.extensions"),
            );
            continue;
        }
        match config.extensions.get(storage) {
            Some(ExtensionConfig::FileStorage(fs))
                if !fs.create_directory && !fs.directory.is_dir() =>
            {
                errs.invalid(
                    format!("extensions::{storage}::directory"),
                    format!(
                        "{} does not exist; create it or set create_directory: true",
                        fs.directory.display()
                    ),
                );
            }
            Some(ExtensionConfig::FileStorage(_)) => {}
            Some(_) => errs.invalid(
                &path,
                format!("\"{storage}\" is not a file_storage extension"),
            ),
            None => {}
        }
    }
    for p in &config.service.pipelines {
        if !p.exporters.iter().any(|e| durable.contains(e)) {
            continue;
        }
        let processors = |id| config.processors.get(id);
        let first_batch = p
            .processors
            .iter()
            .position(|id| matches!(processors(id), Some(ProcessorConfig::Batch(_))));
        let Some(first_batch) = first_batch else {
            continue;
        };
        let after = p.processors[first_batch + 1..]
            .iter()
            .find(|id| !matches!(processors(id), Some(ProcessorConfig::MemoryLimiter(_))));
        if let Some(after) = after {
            errs.invalid(
                format!("service::pipelines::{}::processors", p.id),
                format!("{after} comes after batch in a pipeline whose exporter keeps its queue in storage: data is made durable as the batch takes it, so put batch last"),
            );
        }
    }
}

/// Every `auth.authenticator` of a receiver or exporter in use names an enabled extension
/// that can authenticate that side (otelcol resolves them at start and fails otherwise).
fn check_authenticators(config: &Config, errs: &mut Errors) {
    use crate::extension::auth::{ClientAuth, ServerAuth};
    let used: BTreeSet<&ComponentId> = config
        .service
        .pipelines
        .iter()
        .flat_map(|p| p.receivers.iter())
        .collect();
    let mut servers = Vec::new();
    for id in used {
        let Some(receiver) = config.receivers.get(id) else {
            continue;
        };
        for (key, auth) in receiver.authenticators() {
            servers.push((format!("receivers::{id}::{key}"), auth));
        }
    }
    let mut clients = Vec::new();
    for (id, exporter) in config.used_exporters() {
        let auth = match exporter {
            ExporterConfig::Otlp(o) => o.auth.as_ref(),
            ExporterConfig::OtlpHttp(h) => h.auth.as_ref(),
            ExporterConfig::LoadBalancing(l) => l.otlp.auth.as_ref(),
            ExporterConfig::Debug(_) | ExporterConfig::Kafka(_) => None,
        };
        if let Some(auth) = auth {
            clients.push((format!("exporters::{id}::auth::authenticator"), auth));
        }
    }
    let enabled = |path: &str, auth: &ComponentId, errs: &mut Errors| {
        if !config.service.extensions.contains(auth) {
            errs.invalid(
                path,
                format!("authenticator \"{auth}\" must be configured under extensions and listed in service.extensions"),
            );
            return false;
        }
        true
    };
    for (path, auth) in servers {
        if enabled(&path, auth, errs) {
            if let Err(reason) = ServerAuth::build(auth, &config.extensions) {
                errs.invalid(path, reason);
            }
        }
    }
    for (path, auth) in clients {
        if enabled(&path, auth, errs) {
            if let Err(reason) = ClientAuth::build(auth, &config.extensions) {
                errs.invalid(path, reason);
            }
        }
    }
}

fn check_pipeline(config: &Config, known: &Known, p: &PipelineConfig, errs: &mut Errors) {
    let path = join("service::pipelines", &p.id.to_string());
    if p.receivers.is_empty() {
        errs.invalid(&path, "must have at least one receiver");
    }
    if p.exporters.is_empty() {
        errs.invalid(&path, "must have at least one exporter");
    }
    let signal = p.id.signal;
    let receivers = Role {
        name: "receiver",
        kind: Kind::Receiver,
        known: &known.receivers,
        reason: &|_| None,
    };
    let processors = Role {
        name: "processor",
        kind: Kind::Processor,
        known: &known.processors,
        reason: &|id| config.processors.get(id).and_then(|p| p.refuses(signal)),
    };
    let exporters = Role {
        name: "exporter",
        kind: Kind::Exporter,
        known: &known.exporters,
        reason: &|id| config.exporters.get(id).and_then(|e| e.refuses(signal)),
    };
    receivers.check(&p.receivers, &path, signal, errs);
    processors.check(&p.processors, &path, signal, errs);
    exporters.check(&p.exporters, &path, signal, errs);
}

/// One kind of pipeline member, for the reference checks.
struct Role<'a> {
    name: &'static str,
    kind: Kind,
    known: &'a BTreeSet<ComponentId>,
    /// Why a component's settings do not fit this signal, though its type does.
    reason: &'a dyn Fn(&ComponentId) -> Option<&'static str>,
}

impl Role<'_> {
    /// Why `id` cannot sit in a pipeline of `signal` (empty: its type does not carry it).
    fn misfit(&self, id: &ComponentId, signal: Signal) -> Option<String> {
        if !registry::fits(self.kind, id, signal) {
            return Some(String::new());
        }
        (self.reason)(id).map(|r| format!(": {r}"))
    }

    fn check(&self, ids: &[ComponentId], path: &str, signal: Signal, errs: &mut Errors) {
        for (i, id) in ids.iter().enumerate() {
            if ids[..i].contains(id) {
                errs.invalid(
                    path,
                    format!("references {} \"{id}\" multiple times", self.name),
                );
            } else if !self.known.contains(id) {
                errs.push(ConfigError::Undefined {
                    path: path.to_owned(),
                    role: self.name,
                    id: id.to_string(),
                });
            } else if let Some(why) = self.misfit(id, signal) {
                errs.invalid(
                    path,
                    format!("{} \"{id}\" does not support {signal}{why}", self.name),
                );
            }
        }
    }
}

/// Two receivers in use may not listen on the same port of the same (or the wildcard) address:
/// with SO_REUSEPORT per shard, such a clash would silently split traffic instead of failing.
/// TCP and UDP ports are checked apart (a UDP port may share a TCP port's number).
fn check_listeners(config: &Config, errs: &mut Errors) {
    let used: BTreeSet<&ComponentId> = config
        .service
        .pipelines
        .iter()
        .flat_map(|p| p.receivers.iter())
        .collect();
    let tcp = |r: &ReceiverConfig| r.listen_addrs();
    let udp = |r: &ReceiverConfig| r.udp_listen_addrs();
    for addrs in [&tcp as &dyn Fn(&ReceiverConfig) -> Vec<SocketAddr>, &udp] {
        let mut seen: Vec<(SocketAddr, &ComponentId)> = Vec::new();
        for id in &used {
            let Some(receiver) = config.receivers.get(*id) else {
                continue;
            };
            check_clashes(id, addrs(receiver), &mut seen, errs);
        }
    }
}

fn check_clashes<'a>(
    id: &'a ComponentId,
    addrs: Vec<SocketAddr>,
    seen: &mut Vec<(SocketAddr, &'a ComponentId)>,
    errs: &mut Errors,
) {
    for addr in addrs {
        if let Some((_, other)) = seen.iter().find(|(a, _)| clash(*a, addr)) {
            let reason = if *other == id {
                format!("listens on {addr} with two protocols")
            } else {
                format!("listens on {addr}, which receiver \"{other}\" also uses")
            };
            errs.invalid(join("receivers", &id.to_string()), reason);
        }
        seen.push((addr, id));
    }
}

fn clash(a: SocketAddr, b: SocketAddr) -> bool {
    // A wildcard covers its own family; `[::]` is dual-stack on Linux and covers IPv4 too.
    let covers = |w: SocketAddr, o: SocketAddr| {
        w.ip().is_unspecified() && (w.is_ipv6() || w.is_ipv4() == o.is_ipv4())
    };
    a.port() == b.port() && (a.ip() == b.ip() || covers(a, b) || covers(b, a))
}
