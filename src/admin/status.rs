//! The status page's data: per-shard rates computed from counter samples taken about once a
//! second on the metrics thread (which owns the samples: no sharing), served as JSON.

use std::fmt::Write;
use std::time::{Duration, Instant};

use crate::observe::{process, Phase, Registry, ShardCounters};

/// The page: one self-contained HTML document (inline CSS and JS, no external assets) that
/// fetches `/status.json` every second.
pub const STATUS_HTML: &str = include_str!("status.html");

/// Shortest time between two samples used for a rate.
const SAMPLE_INTERVAL: Duration = Duration::from_secs(1);

/// Totals of one shard at one instant.
#[derive(Debug, Clone, Copy, Default)]
struct Totals {
    accepted: u64,
    sent: u64,
    refused: u64,
    failed: u64,
    send_failed: u64,
}

fn totals(shard: &ShardCounters) -> Totals {
    let mut t = Totals::default();
    for r in &shard.receivers {
        for tr in &r.transports {
            t.accepted += tr.accepted.iter().map(|c| c.get()).sum::<u64>();
            t.refused += tr.refused.iter().map(|c| c.get()).sum::<u64>();
            t.failed += tr.failed.iter().map(|c| c.get()).sum::<u64>();
        }
    }
    for e in &shard.exporters {
        t.sent += e.sent.get();
        t.send_failed += e.send_failed.get();
    }
    t
}

/// Keeps the last two samples per shard to compute items/s.
pub struct Sampler {
    at: Instant,
    last: Vec<Totals>,
    rates: Vec<(f64, f64)>,
}

impl Sampler {
    /// A sampler starting now.
    pub fn new(registry: &Registry) -> Sampler {
        Sampler {
            at: Instant::now(),
            last: registry.shards.iter().map(|s| totals(s)).collect(),
            rates: vec![(0.0, 0.0); registry.shards.len()],
        }
    }

    /// Takes a new sample if the last one is at least a second old.
    pub fn tick(&mut self, registry: &Registry) {
        let elapsed = self.at.elapsed();
        if elapsed < SAMPLE_INTERVAL {
            return;
        }
        let secs = elapsed.as_secs_f64();
        for (i, shard) in registry.shards.iter().enumerate() {
            let now = totals(shard);
            let before = self.last.get(i).copied().unwrap_or_default();
            let rate_in = now.accepted.saturating_sub(before.accepted) as f64 / secs;
            let rate_out = now.sent.saturating_sub(before.sent) as f64 / secs;
            if let Some(r) = self.rates.get_mut(i) {
                *r = (rate_in, rate_out);
            }
            if let Some(l) = self.last.get_mut(i) {
                *l = now;
            }
        }
        self.at = Instant::now();
    }

    /// The JSON document the page renders.
    pub fn json(&self, registry: &Registry) -> String {
        let phase = match registry.phase() {
            Phase::Starting => "starting",
            Phase::Ready => "ready",
            Phase::Draining => "draining",
        };
        let p = process::read();
        let mut out = format!(
            "{{\"phase\":\"{phase}\",\"uptime_seconds\":{:.1},\"rss_bytes\":{},\"cpu_seconds\":{:.2},\"shards\":[",
            registry.started.elapsed().as_secs_f64(),
            p.rss_bytes,
            p.cpu_seconds
        );
        for (i, shard) in registry.shards.iter().enumerate() {
            let t = totals(shard);
            let (rate_in, rate_out) = self.rates.get(i).copied().unwrap_or_default();
            let queue: u64 = shard.exporters.iter().map(|e| e.queue_size.get()).sum();
            let capacity: u64 = shard.exporters.iter().map(|e| e.queue_capacity.get()).sum();
            let in_flight: u64 = shard.exporters.iter().map(|e| e.in_flight.get()).sum();
            let rx = shard.receive_latency.read();
            let ex = shard.export_latency.read();
            if i > 0 {
                out.push(',');
            }
            let _ = write!(
                out,
                "{{\"shard\":{},\"in_per_second\":{rate_in:.1},\"out_per_second\":{rate_out:.1},\
                 \"accepted\":{},\"sent\":{},\"refused\":{},\"failed\":{},\"send_failed\":{},\
                 \"queue_size\":{queue},\"queue_capacity\":{capacity},\"in_flight\":{in_flight},\
                 \"receive_p50_ms\":{:.3},\"receive_p99_ms\":{:.3},\
                 \"export_p50_ms\":{:.3},\"export_p99_ms\":{:.3},\"busy_ratio\":{:.4},\
                 \"handed_off\":{},\"taken_over\":{},\"handoff_share\":{:.3},\"storage\":[",
                shard.shard,
                t.accepted,
                t.sent,
                t.refused,
                t.failed,
                t.send_failed,
                rx.p50_seconds * 1e3,
                rx.p99_seconds * 1e3,
                ex.p50_seconds * 1e3,
                ex.p99_seconds * 1e3,
                finite(shard.busy_ratio.get_f64()),
                shard.rebalance.handed_off_requests.get(),
                shard.rebalance.taken_over_requests.get(),
                shard.rebalance.share_permille.get() as f64 / 1000.0,
            );
            for (j, storage) in shard.storage.iter().enumerate() {
                let name = serde_json::to_string(&storage.id).unwrap_or_else(|_| "\"?\"".into());
                let _ = write!(
                    out,
                    "{}{{\"exporter\":{name},\"bytes\":{},\"segments\":{}}}",
                    if j > 0 { "," } else { "" },
                    storage.bytes.get(),
                    storage.segments.get()
                );
            }
            out.push_str("]}");
        }
        out.push_str("]}");
        out
    }
}

/// JSON has no NaN/inf.
fn finite(v: f64) -> f64 {
    if v.is_finite() {
        v
    } else {
        0.0
    }
}
