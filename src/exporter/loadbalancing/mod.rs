//! The `loadbalancing` exporter: each item to the backend its routing key hashes to.
//!
//! Every shard runs its own balancer per signal, with the same [`ring::Ring`] (it depends only
//! on the set of backends), so every shard of every process sends a trace to the same backend.
//! Each backend has its own `otlp` exporter [`Delivery`] on the shard (connection, in-flight
//! limit and `protocol.otlp.retry_on_failure`), made when the resolver first reports it.
//!
//! One export:
//! 1. takes the newest backend list from the resolver (the dns one runs off the shard,
//!    [`resolver`]), rebuilding the ring when the set changed;
//! 2. splits the payload by routing key on its encoded bytes ([`route`]) and groups the parts
//!    by owner;
//! 3. delivers each group to its owner, concurrently, retrying per `retry_on_failure`;
//! 4. when the resolver drops a backend while a group still waits for it, that group stops
//!    waiting and is routed again (step 2) over the new ring: data acknowledged to the client
//!    is never left with a backend that is gone. (It may reach both if the old backend had
//!    taken it just before: at least once, as otelcol.)
//!
//! The export succeeds when every group is delivered; otherwise the first error wins,
//! permanent before retryable, as the fan-out does.

pub mod config;
pub mod resolver;
pub mod ring;
pub mod route;

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::future::Future;
use std::pin::Pin;
use std::rc::{Rc, Weak};
use std::sync::Arc;
use std::time::{Duration, Instant};

use shardgate_shards::task;

use self::config::{LoadBalancingExporterConfig, ResolverConfig};
use self::resolver::DnsUpdates;
use self::ring::Ring;
use self::route::RoutingKey;
use super::delivery::Delivery;
use super::otlp_grpc::OtlpGrpcExporter;
use super::{ExportError, Exporter};
use crate::config::client::Endpoint;
use crate::config::{ComponentId, ExtensionConfig, RetryConfig};
use crate::observe::loadbalancer::LoadBalancerCounters;
use crate::otlp::ResourceChunk;
use crate::pipeline::budget::Reservation;
use crate::pipeline::parts::{BuildError, DeliveryParts};
use crate::pipeline::payload::Payload;
use crate::signal::Signal;

/// How often a shard takes the dns resolver's news while no export comes, and how often a
/// group waiting for a backend checks that the backend is still in the ring: a removed
/// backend's data moves within this time.
const MEMBERSHIP_CHECK_INTERVAL: Duration = Duration::from_millis(100);

/// One `loadbalancing` exporter instance (registered in `crate::registry`). The balancer itself
/// does not retry (each backend's delivery does, per `protocol.otlp.retry_on_failure`); its
/// queue and in-flight limit are `protocol.otlp.sending_queue`'s.
pub(crate) fn delivery(
    config: &LoadBalancingExporterConfig,
    parts: DeliveryParts<'_>,
) -> Result<Delivery, BuildError> {
    let balancer = Rc::new(Balancer::new(config, &parts).map_err(BuildError::Exporter)?);
    // From the start, not the first export: the ring (and `num_backends`) is ready before
    // data comes, on every shard, including one that gets no data for a while.
    balancer.start_watching();
    let exporter = Exporter::LoadBalancing(LoadBalancingExporter { balancer });
    let no_retry = RetryConfig {
        enabled: false,
        ..RetryConfig::default()
    };
    Ok(parts.queued(exporter, &config.otlp.sending_queue, &no_retry))
}

/// One shard's balancer for one signal.
pub struct LoadBalancingExporter {
    balancer: Rc<Balancer>,
}

impl LoadBalancingExporter {
    /// Routes `payload` and delivers every part to its backend.
    pub async fn export(&self, payload: &Payload) -> Result<(), ExportError> {
        self.balancer.start_watching();
        self.balancer.refresh();
        send(
            self.balancer.clone(),
            payload.chunks.clone(),
            payload.reservation.detached(),
        )
        .await
    }
}

/// One backend: its otlp exporter and whether the resolver has dropped it.
struct Backend {
    endpoint: String,
    delivery: Delivery,
    removed: Cell<bool>,
    /// Its `otelcol_loadbalancer_backend_latency` series.
    latency_slot: usize,
}

/// The ring and the backend of each of its endpoints (same order).
#[derive(Default)]
struct Members {
    ring: Ring,
    backends: Vec<Rc<Backend>>,
}

struct Balancer {
    id: ComponentId,
    signal: Signal,
    key: RoutingKey,
    config: LoadBalancingExporterConfig,
    extensions: BTreeMap<ComponentId, ExtensionConfig>,
    members: RefCell<Members>,
    dns: Option<DnsUpdates>,
    watching: Cell<bool>,
    /// `otelcol_loadbalancer_*` (absent only for a shard built without them).
    counters: Option<Arc<LoadBalancerCounters>>,
}

impl Balancer {
    fn new(
        config: &LoadBalancingExporterConfig,
        parts: &DeliveryParts<'_>,
    ) -> Result<Self, String> {
        // Build one exporter now so a bad otlp template fails at start, not per backend later.
        let template = Endpoint {
            host: "loadbalancing-backend".into(),
            port: config::DEFAULT_BACKEND_PORT,
        };
        OtlpGrpcExporter::new(parts.id.clone(), &config.backend(&template))?
            .authenticated(&config.otlp, parts.extensions)?;
        let counters = crate::observe::loadbalancer::find(
            &parts.observer.counters.loadbalancers,
            parts.id,
            parts.signal,
        );
        let dns = match &config.resolver {
            ResolverConfig::Dns(dns) => Some(DnsUpdates::start(
                &parts.id.to_string(),
                dns,
                counters.clone(),
            )?),
            ResolverConfig::Static(_) => None,
        };
        let balancer = Balancer {
            id: parts.id.clone(),
            signal: parts.signal,
            key: config.key_for(parts.signal),
            config: config.clone(),
            extensions: parts.extensions.clone(),
            members: RefCell::default(),
            dns,
            watching: Cell::new(false),
            counters,
        };
        if let ResolverConfig::Static(hostnames) = &config.resolver {
            // otelcol counts the static list as one successful resolution.
            if let Some(counters) = &balancer.counters {
                counters.record_resolution(true);
            }
            balancer.update(hostnames);
        }
        Ok(balancer)
    }

    /// Takes the dns resolver's newest list, if it sent one.
    fn refresh(&self) {
        if let Some(list) = self.dns.as_ref().and_then(DnsUpdates::latest) {
            self.update(&list);
        }
    }

    /// Rebuilds the ring over `endpoints`, keeping the backends that stay and marking the
    /// ones that go as removed (their waiting groups re-route themselves).
    fn update(&self, endpoints: &[Endpoint]) {
        let by_name: BTreeMap<String, &Endpoint> =
            endpoints.iter().map(|e| (e.authority(), e)).collect();
        let mut members = self.members.borrow_mut();
        if members.ring.endpoints().iter().eq(by_name.keys()) {
            return;
        }
        let mut backends = Vec::with_capacity(by_name.len());
        for (name, endpoint) in &by_name {
            let kept = members.backends.iter().find(|b| &b.endpoint == name);
            match kept
                .cloned()
                .map_or_else(|| self.backend(name, endpoint), Ok)
            {
                Ok(backend) => backends.push(backend),
                Err(reason) => {
                    tracing::error!(exporter = %self.id, backend = %name, %reason, "cannot export to this backend; leaving it out")
                }
            }
        }
        for old in &members.backends {
            if !backends.iter().any(|b| Rc::ptr_eq(b, old)) {
                old.removed.set(true);
            }
        }
        let names: Vec<&str> = backends.iter().map(|b| b.endpoint.as_str()).collect();
        tracing::info!(exporter = %self.id, signal = %self.signal, backends = ?names, "backend list changed");
        members.ring = Ring::new(&names);
        members.backends = backends;
        if let Some(counters) = &self.counters {
            counters.backend_updates.add(1);
            counters.backends.set(members.backends.len() as u64);
        }
    }

    fn backend(&self, name: &str, endpoint: &Endpoint) -> Result<Rc<Backend>, String> {
        let otlp = self.config.backend(endpoint);
        let exporter = OtlpGrpcExporter::new(self.id.clone(), &otlp)?
            .authenticated(&otlp, &self.extensions)?;
        let delivery = Delivery::new(
            self.id.clone(),
            Exporter::OtlpGrpc(exporter),
            super::queue::consumers(&otlp.sending_queue),
            otlp.retry_on_failure.clone(),
        );
        Ok(Rc::new(Backend {
            endpoint: name.to_owned(),
            delivery,
            removed: Cell::new(false),
            latency_slot: self.counters.as_ref().map_or(0, |c| c.latency_slot(name)),
        }))
    }

    /// With a dns resolver, a shard task that applies its news while no export comes, so a
    /// group waiting for a dropped backend moves on. It ends with the balancer.
    fn start_watching(self: &Rc<Self>) {
        if self.dns.is_none() || self.watching.replace(true) {
            return;
        }
        let weak: Weak<Balancer> = Rc::downgrade(self);
        task::spawn_local(async move {
            loop {
                task::sleep(MEMBERSHIP_CHECK_INTERVAL).await;
                let Some(balancer) = weak.upgrade() else {
                    return;
                };
                balancer.refresh();
            }
        })
        .detach();
    }

    /// Waits while the ring is empty (the dns resolver has not answered yet, or answered no
    /// backend could be made for) for as long as `retry_on_failure` would retry, so data
    /// acknowledged at start-up is not dropped before the first answer.
    async fn wait_for_backends(&self) -> Result<(), ExportError> {
        let retry = &self.config.otlp.retry_on_failure;
        let started = std::time::Instant::now();
        loop {
            self.refresh();
            if !self.members.borrow().ring.is_empty() {
                return Ok(());
            }
            let limit = retry.max_elapsed_time;
            let spent = !retry.enabled || (!limit.is_zero() && started.elapsed() >= limit);
            if self.dns.is_none() || spent {
                return Err(ExportError::retryable(format!(
                    "exporter {}: no backend resolved",
                    self.id
                )));
            }
            task::sleep(MEMBERSHIP_CHECK_INTERVAL).await;
        }
    }

    /// Steps 1–2 of the module doc: the chunks grouped by owner, and the items of the chunks
    /// that could not be routed (a resource without `service.name` under `routing_key:
    /// service`), with why.
    fn route(&self, chunks: &[ResourceChunk]) -> Result<Routed, ExportError> {
        self.refresh();
        let members = self.members.borrow();
        if members.ring.is_empty() {
            return Err(ExportError::retryable(format!(
                "exporter {}: no backend resolved",
                self.id
            )));
        }
        let mut parts = Vec::new();
        let mut unroutable = None;
        for chunk in chunks {
            let mut owner = |key: &[u8]| members.ring.owner(key).unwrap_or(0);
            if let Err(error) =
                route::route_chunk(self.signal, self.key, chunk, &mut owner, &mut parts)
            {
                let (items, _) = unroutable.get_or_insert((0u64, error.to_string()));
                *items += u64::from(chunk.items);
            }
        }
        let mut groups: Vec<(Rc<Backend>, Vec<ResourceChunk>)> = Vec::new();
        for (owner, chunk) in parts {
            let Some(backend) = members.backends.get(owner) else {
                continue;
            };
            match groups.iter_mut().find(|(b, _)| Rc::ptr_eq(b, backend)) {
                Some((_, chunks)) => chunks.push(chunk),
                None => groups.push((backend.clone(), vec![chunk])),
            }
        }
        Ok(Routed { groups, unroutable })
    }
}

struct Routed {
    groups: Vec<(Rc<Backend>, Vec<ResourceChunk>)>,
    unroutable: Option<(u64, String)>,
}

type Sending = Pin<Box<dyn Future<Output = Result<(), ExportError>>>>;

/// Steps 2–3: routes `chunks` and delivers each group to its owner.
fn send(balancer: Rc<Balancer>, chunks: Vec<ResourceChunk>, reservation: Reservation) -> Sending {
    Box::pin(async move {
        balancer.wait_for_backends().await?;
        let Routed { groups, unroutable } = balancer.route(&chunks)?;
        let mut tasks = Vec::with_capacity(groups.len());
        for (backend, chunks) in groups {
            let payload = Payload::new(balancer.signal, chunks, reservation.detached());
            tasks.push(task::spawn_local(deliver(
                balancer.clone(),
                backend,
                payload,
            )));
        }
        let mut result = match unroutable {
            None => Ok(()),
            Some((items, reason)) => {
                tracing::error!(exporter = %balancer.id, dropped_items = items, %reason, "cannot route; dropping data");
                Err(ExportError::permanent(reason))
            }
        };
        for task in tasks {
            if let Err(error) = task.await {
                if result.is_ok() || !error.is_retryable() {
                    result = Err(error);
                }
            }
        }
        result
    })
}

/// Step 3–4: delivers `payload` to `backend`, or routes it again if the backend is dropped.
async fn deliver(
    balancer: Rc<Balancer>,
    backend: Rc<Backend>,
    payload: Payload,
) -> Result<(), ExportError> {
    let delivered = async {
        let started = Instant::now();
        let result = backend.delivery.deliver(&payload).await;
        if let Some(counters) = &balancer.counters {
            let millis = started.elapsed().as_secs_f64() * 1000.0;
            counters.record_outcome(backend.latency_slot, result.is_ok(), millis);
        }
        Some(result)
    };
    let outcome = match balancer.dns.is_some() {
        true => futures_lite::future::or(delivered, removal(&backend)).await,
        false => delivered.await,
    };
    match outcome {
        Some(result) => result,
        None => {
            tracing::warn!(exporter = %balancer.id, backend = %backend.endpoint, items = payload.items, "backend left the ring; routing its pending data again");
            let Payload {
                chunks,
                reservation,
                ..
            } = payload;
            send(balancer, chunks, reservation).await
        }
    }
}

/// Resolves (to `None`) once `backend` has left the ring.
async fn removal(backend: &Backend) -> Option<Result<(), ExportError>> {
    while !backend.removed.get() {
        task::sleep(MEMBERSHIP_CHECK_INTERVAL).await;
    }
    None
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::registry::testing::exporter as parse;

    fn balancer(hostnames: &str) -> Balancer {
        let yaml = format!("protocol: {{otlp: {{tls: {{insecure: true}}}}}}\nresolver: {{static: {{hostnames: [{hostnames}]}}}}");
        let crate::config::ExporterConfig::LoadBalancing(config) =
            parse("loadbalancing", &yaml).unwrap()
        else {
            panic!()
        };
        let balancer = Balancer {
            id: "loadbalancing".parse().unwrap(),
            signal: Signal::Traces,
            key: RoutingKey::TraceId,
            config: *config.clone(),
            extensions: BTreeMap::new(),
            members: RefCell::default(),
            dns: None,
            watching: Cell::new(false),
            counters: None,
        };
        if let ResolverConfig::Static(list) = &config.resolver {
            balancer.update(list);
        }
        balancer
    }

    fn endpoint(host: &str) -> Endpoint {
        Endpoint {
            host: host.into(),
            port: 4317,
        }
    }

    /// Scenario: the resolver drops one backend and adds another. Guarantee: the backends
    /// that stay keep their exporter (connection, in-flight requests), the dropped one is
    /// marked so its waiting data re-routes, and the ring is the new set's.
    #[test]
    fn a_membership_change_keeps_staying_backends_and_marks_the_dropped_one() {
        let balancer = balancer("a, b, c");
        let before: Vec<Rc<Backend>> = balancer.members.borrow().backends.clone();
        assert_eq!(
            balancer.members.borrow().ring.endpoints(),
            ["a:4317", "b:4317", "c:4317"]
        );
        balancer.update(&[endpoint("d"), endpoint("c"), endpoint("a")]);
        let members = balancer.members.borrow();
        assert_eq!(members.ring, Ring::new(&["a:4317", "c:4317", "d:4317"]));
        assert!(Rc::ptr_eq(&members.backends[0], &before[0]));
        assert!(Rc::ptr_eq(&members.backends[1], &before[2]));
        assert!(before[1].removed.get());
        assert!(!before[0].removed.get() && !before[2].removed.get());
        let names: Vec<&str> = members
            .backends
            .iter()
            .map(|b| b.endpoint.as_str())
            .collect();
        assert_eq!(names, members.ring.endpoints());
    }

    #[test]
    fn routing_groups_each_part_with_its_owner() {
        use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
        use opentelemetry_proto::tonic::trace::v1::{ResourceSpans, ScopeSpans, Span};
        use prost::Message;
        let balancer = balancer("a, b, c");
        let spans = (0..30u8)
            .map(|n| Span {
                trace_id: vec![n; 16],
                ..Span::default()
            })
            .collect();
        let request = ExportTraceServiceRequest {
            resource_spans: vec![ResourceSpans {
                scope_spans: vec![ScopeSpans {
                    spans,
                    ..ScopeSpans::default()
                }],
                ..ResourceSpans::default()
            }],
        };
        let body = bytes::Bytes::from(request.encode_to_vec());
        let chunks = crate::otlp::scan_request(Signal::Traces, &body)
            .unwrap()
            .chunks;
        let routed = balancer.route(&chunks).unwrap();
        assert!(routed.unroutable.is_none());
        let ring = balancer.members.borrow().ring.clone();
        let mut total = 0;
        for (backend, chunks) in &routed.groups {
            total += chunks.iter().map(|c| c.items).sum::<u32>();
            for n in 0..30u8 {
                let owner = ring.owner_endpoint(&[n; 16]).unwrap();
                let here = chunks
                    .iter()
                    .any(|c| c.bytes.windows(16).any(|w| w == [n; 16]));
                assert_eq!(here, owner == backend.endpoint, "trace {n}");
            }
        }
        assert_eq!(total, 30);
        assert_eq!(routed.groups.len(), 3);
    }
}
