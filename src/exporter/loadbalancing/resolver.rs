//! Where a shard's balancer learns its backends: a fixed list, or a DNS name resolved off the
//! shard.
//!
//! The DNS resolver runs on its own small thread (one per balancer instance), because the
//! system resolver blocks and a shard must never block:
//! 1. the thread resolves `hostname:port` (each lookup on a helper thread, abandoned after
//!    `timeout`), sorts the addresses and, when the list differs from the last one sent, sends
//!    it over a bounded crossbeam channel;
//! 2. a failed or empty resolution keeps the last list (as otelcol), and is logged;
//! 3. it sleeps `interval` and starts again, until the shard side drops its [`DnsUpdates`]
//!    (which raises the stop flag the thread checks between naps).

use std::net::ToSocketAddrs;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, Sender};

use super::config::DnsResolverConfig;
use crate::config::client::Endpoint;
use crate::observe::loadbalancer::LoadBalancerCounters;

/// How many backend lists may wait for the shard: the shard only wants the newest, so one.
const UPDATES_QUEUED_MAX: usize = 1;
/// How often the thread looks at the stop flag while it waits for the next resolution.
const STOP_CHECK_INTERVAL: Duration = Duration::from_millis(100);

/// The shard's end of a DNS resolver thread.
pub struct DnsUpdates {
    updates: Receiver<Vec<Endpoint>>,
    stop: Arc<AtomicBool>,
}

impl DnsUpdates {
    /// Starts the resolver thread of `config` for the exporter named `id`; the thread is the
    /// writer of `counters`' resolution counts.
    pub fn start(
        id: &str,
        config: &DnsResolverConfig,
        counters: Option<Arc<LoadBalancerCounters>>,
    ) -> Result<DnsUpdates, String> {
        let (sender, updates) = crossbeam_channel::bounded(UPDATES_QUEUED_MAX);
        let stop = Arc::new(AtomicBool::new(false));
        let resolver = DnsThread {
            config: config.clone(),
            sender,
            stale: updates.clone(),
            stop: stop.clone(),
            id: id.to_owned(),
            counters,
        };
        std::thread::Builder::new()
            .name("lb-dns".into())
            .spawn(move || resolver.run())
            .map_err(|e| format!("exporters::{id}: cannot start the dns resolver thread: {e}"))?;
        Ok(DnsUpdates { updates, stop })
    }

    /// The newest backend list sent since the last call, if any.
    pub fn latest(&self) -> Option<Vec<Endpoint>> {
        self.updates.try_iter().last()
    }
}

impl Drop for DnsUpdates {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

struct DnsThread {
    config: DnsResolverConfig,
    sender: Sender<Vec<Endpoint>>,
    /// The thread's own end of the channel, to drop a list the shard has not taken.
    stale: Receiver<Vec<Endpoint>>,
    stop: Arc<AtomicBool>,
    id: String,
    counters: Option<Arc<LoadBalancerCounters>>,
}

impl DnsThread {
    fn run(self) {
        let mut last: Option<Vec<Endpoint>> = None;
        while !self.stop.load(Ordering::Relaxed) {
            let result = lookup(&self.config);
            if let Some(counters) = &self.counters {
                counters.record_resolution(result.is_ok());
            }
            match result {
                Ok(endpoints) if last.as_ref() != Some(&endpoints) => {
                    tracing::info!(exporter = %self.id, backends = endpoints.len(), "dns resolver: new backend list");
                    self.publish(endpoints.clone());
                    last = Some(endpoints);
                }
                Ok(_) => {}
                Err(reason) => {
                    tracing::warn!(exporter = %self.id, hostname = %self.config.hostname, %reason, "dns resolution failed; keeping the last backend list");
                }
            }
            self.nap();
        }
    }

    /// Hands `endpoints` to the shard, replacing a list it has not taken yet (it only
    /// wants the newest; only this thread sends, so the slot is free after the drain).
    fn publish(&self, endpoints: Vec<Endpoint>) {
        while self.stale.try_recv().is_ok() {}
        let _ = self.sender.try_send(endpoints);
    }

    fn nap(&self) {
        let until = Instant::now() + self.config.interval;
        while !self.stop.load(Ordering::Relaxed) {
            let left = until.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return;
            }
            std::thread::sleep(left.min(STOP_CHECK_INTERVAL));
        }
    }
}

/// The sorted addresses of `hostname:port`, or why not within `timeout`.
fn lookup(config: &DnsResolverConfig) -> Result<Vec<Endpoint>, String> {
    if crate::fault::Fault::DnsFromFile.is_armed() {
        return answers_from_file(&config.hostname);
    }
    let (sender, answer) = crossbeam_channel::bounded(1);
    let target = (config.hostname.clone(), config.port);
    std::thread::Builder::new()
        .name("lb-dns-lookup".into())
        .spawn(move || {
            let result = target.to_socket_addrs().map(|a| a.collect::<Vec<_>>());
            let _ = sender.send(result.map_err(|e| e.to_string()));
        })
        .map_err(|e| format!("cannot start a lookup thread: {e}"))?;
    let addresses = answer
        .recv_timeout(config.timeout)
        .map_err(|_| format!("no answer within {:?}", config.timeout))??;
    let mut endpoints: Vec<Endpoint> = addresses
        .into_iter()
        .map(|a| Endpoint {
            host: a.ip().to_string(),
            port: a.port(),
        })
        .collect();
    endpoints.sort_by_key(Endpoint::authority);
    endpoints.dedup();
    if endpoints.is_empty() {
        return Err("the name has no address".into());
    }
    Ok(endpoints)
}

/// Test fault `dns_from_file`: the answers are the `ip:port` lines of the file at `path`.
fn answers_from_file(path: &str) -> Result<Vec<Endpoint>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
    let mut endpoints = Vec::new();
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        let address: std::net::SocketAddr =
            line.parse().map_err(|e| format!("{path}: {line}: {e}"))?;
        endpoints.push(Endpoint {
            host: address.ip().to_string(),
            port: address.port(),
        });
    }
    endpoints.sort_by_key(Endpoint::authority);
    endpoints.dedup();
    if endpoints.is_empty() {
        return Err("the name has no address".into());
    }
    Ok(endpoints)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn localhost_resolves_off_the_caller_and_stops_with_its_handle() {
        let config = DnsResolverConfig {
            hostname: "localhost".into(),
            port: 4317,
            interval: Duration::from_millis(50),
            timeout: Duration::from_secs(2),
        };
        let updates = DnsUpdates::start("loadbalancing", &config, None).unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        let list = loop {
            if let Some(list) = updates.latest() {
                break list;
            }
            assert!(Instant::now() < deadline, "no resolution");
            std::thread::sleep(Duration::from_millis(20));
        };
        assert!(list.iter().all(|e| e.port == 4317));
        assert!(
            list.iter()
                .any(|e| e.host == "127.0.0.1" || e.host == "::1"),
            "{list:?}"
        );
        // The same answer is not sent twice.
        std::thread::sleep(Duration::from_millis(200));
        assert_eq!(updates.latest(), None);
        drop(updates);
    }
}
