//! The `loadbalancing` exporter's own metrics, with otelcol's names, units and labels
//! (`otelcol_loadbalancer_*`), plus `exporter`, `data_type` and `shard`.
//!
//! One [`LoadBalancerCounters`] per loadbalancing exporter × signal × shard (each shard runs a
//! balancer per signal). Writers, one per cell as [`super::counters`] requires:
//! - the balancer's dns resolver thread writes the resolution counts (the static resolver's
//!   single resolution is counted by the shard, which then has no dns thread);
//! - the shard writes everything else.

use std::sync::{Arc, OnceLock};

use super::counters::{Buckets, Counter, Gauge};
use super::prometheus::{labels, write_histogram, Families, Histograms};
use super::registry::ShardCounters;
use crate::config::{ComponentId, Config, ExporterConfig};
use crate::exporter::loadbalancing::config::ResolverConfig;
use crate::signal::Signal;

/// otelcol's bucket bounds for `otelcol_loadbalancer_backend_latency`, in milliseconds.
pub static BACKEND_LATENCY_BOUNDS_MS: [f64; 10] = [
    5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0, 2000.0, 5000.0,
];

/// Endpoints with a latency series of their own per balancer: a series per endpoint is what
/// otelcol reports, but a dns name whose answers churn would grow the set without end; past
/// this many distinct endpoints, latencies go to the `endpoint="other"` series.
pub const LATENCY_ENDPOINTS_MAX: usize = 32;

/// The `endpoint` label of latencies past [`LATENCY_ENDPOINTS_MAX`] endpoints.
const OTHER_ENDPOINT: &str = "other";

/// One balancer's counters on one shard.
#[derive(Debug)]
pub struct LoadBalancerCounters {
    /// The exporter id, the `exporter` label.
    pub id: String,
    /// The signal its balancer carries.
    pub signal: Signal,
    /// `dns` or `static`, otelcol's `resolver` label.
    pub resolver: &'static str,
    /// Resolutions that gave a backend list (`num_resolutions`, `success="true"`).
    pub resolutions_succeeded: Counter,
    /// Resolutions that failed (`success="false"`).
    pub resolutions_failed: Counter,
    /// Backends in the ring now (`num_backends`).
    pub backends: Gauge,
    /// Times the ring's backend set changed (`num_backend_updates`).
    pub backend_updates: Counter,
    /// Deliveries to a backend that succeeded (`backend_outcome`, `success="true"`).
    pub outcomes_succeeded: Counter,
    /// Deliveries to a backend that failed after its retries (`success="false"`).
    pub outcomes_failed: Counter,
    /// Per-endpoint delivery latency, in milliseconds.
    latencies: Vec<EndpointLatency>,
}

/// One endpoint's latency histogram; its name is set once, by the shard, when first used.
#[derive(Debug)]
struct EndpointLatency {
    endpoint: OnceLock<String>,
    buckets: Buckets,
}

impl LoadBalancerCounters {
    /// Counters for the balancer of exporter `id` carrying `signal`, with `resolver`.
    pub fn new(id: String, signal: Signal, resolver: &'static str) -> LoadBalancerCounters {
        let latencies = (0..=LATENCY_ENDPOINTS_MAX)
            .map(|_| EndpointLatency {
                endpoint: OnceLock::new(),
                buckets: Buckets::new(&BACKEND_LATENCY_BOUNDS_MS),
            })
            .collect();
        LoadBalancerCounters {
            id,
            signal,
            resolver,
            resolutions_succeeded: Counter::default(),
            resolutions_failed: Counter::default(),
            backends: Gauge::default(),
            backend_updates: Counter::default(),
            outcomes_succeeded: Counter::default(),
            outcomes_failed: Counter::default(),
            latencies,
        }
    }

    /// The latency series of `endpoint`, taking a free one for a new endpoint (shard only).
    pub fn latency_slot(&self, endpoint: &str) -> usize {
        for (index, slot) in self
            .latencies
            .iter()
            .take(LATENCY_ENDPOINTS_MAX)
            .enumerate()
        {
            match slot.endpoint.get() {
                Some(name) if name == endpoint => return index,
                Some(_) => {}
                None => {
                    let _ = slot.endpoint.set(endpoint.to_owned());
                    return index;
                }
            }
        }
        if let Some(other) = self.latencies.get(LATENCY_ENDPOINTS_MAX) {
            let _ = other.endpoint.set(OTHER_ENDPOINT.to_owned());
        }
        LATENCY_ENDPOINTS_MAX
    }

    /// Counts one delivery to the endpoint of `slot` that took `millis` (shard only).
    pub fn record_outcome(&self, slot: usize, success: bool, millis: f64) {
        match success {
            true => self.outcomes_succeeded.add(1),
            false => self.outcomes_failed.add(1),
        }
        if let Some(latency) = self.latencies.get(slot) {
            latency.buckets.observe(millis);
        }
    }

    /// Counts one resolution (its resolver's writer only).
    pub fn record_resolution(&self, success: bool) {
        match success {
            true => self.resolutions_succeeded.add(1),
            false => self.resolutions_failed.add(1),
        }
    }

    /// The endpoints with a latency series and their buckets.
    pub fn latencies(&self) -> impl Iterator<Item = (&str, &Buckets)> {
        self.latencies
            .iter()
            .filter_map(|l| Some((l.endpoint.get()?.as_str(), &l.buckets)))
    }
}

/// The balancer counters of every loadbalancing exporter × signal `config` runs.
pub fn for_config(config: &Config) -> Vec<Arc<LoadBalancerCounters>> {
    let mut out: Vec<Arc<LoadBalancerCounters>> = Vec::new();
    for pipeline in &config.service.pipelines {
        let signal = pipeline.id.signal;
        for id in &pipeline.exporters {
            let Some(ExporterConfig::LoadBalancing(lb)) = config.exporters.get(id) else {
                continue;
            };
            let name = id.to_string();
            if out.iter().any(|c| c.id == name && c.signal == signal) {
                continue;
            }
            let resolver = match lb.resolver {
                ResolverConfig::Dns(_) => "dns",
                ResolverConfig::Static(_) => "static",
            };
            out.push(Arc::new(LoadBalancerCounters::new(name, signal, resolver)));
        }
    }
    out
}

/// The counters of `id` for `signal` among `all`.
pub fn find(
    all: &[Arc<LoadBalancerCounters>],
    id: &ComponentId,
    signal: Signal,
) -> Option<Arc<LoadBalancerCounters>> {
    let id = id.to_string();
    all.iter()
        .find(|c| c.id == id && c.signal == signal)
        .cloned()
}

/// Every balancer family of one shard.
pub(super) fn families(
    shard: &ShardCounters,
    sh: &str,
    f: &mut Families,
    histograms: &mut Histograms,
) {
    for c in &shard.loadbalancers {
        let base = [
            ("data_type", c.signal.as_str()),
            ("exporter", c.id.as_str()),
            ("resolver", c.resolver),
            ("shard", sh),
        ];
        for (success, value) in [
            ("true", c.resolutions_succeeded.get()),
            ("false", c.resolutions_failed.get()),
        ] {
            let l = [&base[..], &[("success", success)]].concat();
            f.add(
                "otelcol_loadbalancer_num_resolutions_total".into(),
                "Number of times the resolver has triggered new resolutions",
                "counter",
                labels(&l),
                value as f64,
            );
        }
        f.add(
            "otelcol_loadbalancer_num_backends".into(),
            "Current number of backends in use",
            "gauge",
            labels(&base),
            c.backends.get() as f64,
        );
        f.add(
            "otelcol_loadbalancer_num_backend_updates_total".into(),
            "Number of times the list of backends was updated",
            "counter",
            labels(&base),
            c.backend_updates.get() as f64,
        );
        outcome_and_latency(c, sh, f, histograms);
    }
}

/// `backend_outcome` (by `success`) and `backend_latency` (by `endpoint`) of one balancer.
fn outcome_and_latency(
    c: &LoadBalancerCounters,
    sh: &str,
    f: &mut Families,
    histograms: &mut Histograms,
) {
    let base = [
        ("data_type", c.signal.as_str()),
        ("exporter", c.id.as_str()),
        ("shard", sh),
    ];
    for (success, value) in [
        ("true", c.outcomes_succeeded.get()),
        ("false", c.outcomes_failed.get()),
    ] {
        let l = [&base[..], &[("success", success)]].concat();
        f.add(
            "otelcol_loadbalancer_backend_outcome_total".into(),
            "Number of successes and failures for each endpoint",
            "counter",
            labels(&l),
            value as f64,
        );
    }
    for (endpoint, buckets) in c.latencies() {
        let l = [
            ("data_type", c.signal.as_str()),
            ("endpoint", endpoint),
            ("exporter", c.id.as_str()),
            ("shard", sh),
        ];
        let mut cumulative = Vec::with_capacity(BACKEND_LATENCY_BOUNDS_MS.len() + 1);
        let mut total = 0;
        for count in buckets.counts() {
            total += count;
            cumulative.push(total);
        }
        write_histogram(
            histograms,
            "otelcol_loadbalancer_backend_latency_milliseconds",
            "Response latency in ms for the backends",
            &labels(&l),
            buckets.bounds(),
            &cumulative,
            buckets.sum(),
        );
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn endpoints_past_the_limit_share_the_other_series() {
        let c = LoadBalancerCounters::new("loadbalancing".into(), Signal::Traces, "dns");
        let first = c.latency_slot("10.0.0.1:4317");
        assert_eq!(c.latency_slot("10.0.0.1:4317"), first);
        for n in 0..LATENCY_ENDPOINTS_MAX + 5 {
            let slot = c.latency_slot(&format!("10.0.1.{n}:4317"));
            c.record_outcome(slot, n % 2 == 0, 7.0);
        }
        let names: Vec<&str> = c.latencies().map(|(name, _)| name).collect();
        assert_eq!(names.len(), LATENCY_ENDPOINTS_MAX + 1);
        assert_eq!(names.last(), Some(&"other"));
        let other = c.latencies().last().unwrap().1;
        assert_eq!(other.counts().iter().sum::<u64>(), 6);
        assert_eq!(
            c.outcomes_succeeded.get() + c.outcomes_failed.get(),
            LATENCY_ENDPOINTS_MAX as u64 + 5
        );
    }

    /// Scenario: a config with a static loadbalancing exporter, its counters touched as a
    /// shard would. Guarantee: `/metrics` text carries otelcol's names and labels.
    #[test]
    fn renders_otelcol_loadbalancer_families() {
        let config = crate::config::parse_str(
            "receivers: {otlp: {protocols: {grpc: }}}\nexporters: {loadbalancing: {protocol: {otlp: {tls: {insecure: true}}}, resolver: {static: {hostnames: [a:4317]}}}}\nservice: {pipelines: {traces: {receivers: [otlp], exporters: [loadbalancing]}}}\n",
            "t",
        )
        .unwrap();
        let registry = super::super::Registry::new(1, &config);
        let c = &registry.shards[0].loadbalancers[0];
        c.record_resolution(true);
        c.backends.set(1);
        c.backend_updates.add(1);
        let slot = c.latency_slot("a:4317");
        c.record_outcome(slot, true, 12.0);
        let text = super::super::prometheus::render(&registry);
        let base = "data_type=\"traces\",exporter=\"loadbalancing\"";
        for line in [
            format!("otelcol_loadbalancer_num_resolutions_total{{{base},resolver=\"static\",shard=\"0\",success=\"true\"}} 1"),
            format!("otelcol_loadbalancer_num_backends{{{base},resolver=\"static\",shard=\"0\"}} 1"),
            format!("otelcol_loadbalancer_num_backend_updates_total{{{base},resolver=\"static\",shard=\"0\"}} 1"),
            format!("otelcol_loadbalancer_backend_outcome_total{{{base},shard=\"0\",success=\"true\"}} 1"),
            "otelcol_loadbalancer_backend_latency_milliseconds_bucket{data_type=\"traces\",endpoint=\"a:4317\",exporter=\"loadbalancing\",shard=\"0\",le=\"20\"} 1".to_owned(),
        ] {
            assert!(text.contains(&format!("{line}\n")), "{line} not in\n{text}");
        }
    }
}
