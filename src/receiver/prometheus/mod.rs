//! The `prometheus` receiver: scrapes Prometheus endpoints into the metrics pipelines, as
//! otelcol-contrib's prometheusreceiver does for `static_configs` targets over http(s).
//!
//! Each target is owned by exactly one shard (a stable hash of job and target modulo the
//! shard count, see `target::owner`); that shard's executor runs its scrape loop with its own
//! HTTP/1.1 connection, start-time state and series set, so nothing is shared between cores.
//! What a scrape yields enters the pipelines through the OTLP receivers' `Ingest` (admission
//! against the shard's budget, counting as `otelcol_receiver_*_metric_points` with
//! `transport="http"`), exactly as an OTLP request would.

pub mod config;
pub mod exposition;
pub mod mapping;
pub mod points;
pub mod relabel;
pub mod scrape;
pub mod series;
pub mod target;
mod tls;

use std::rc::Rc;

use shardgate_shards::task;

use crate::config::ComponentId;
use crate::pipeline::routes::Routes;
use crate::receiver::otlp::ingest::Ingest;
use crate::receiver::ShardIo;
use config::PrometheusReceiverConfig;
use scrape::ScrapeLoop;

/// The `transport` label of this receiver's counters, as otelcol's prometheusreceiver sets it.
pub const TRANSPORT: &str = "http";

/// Starts, on this shard, the scrape loop of every target this shard owns.
pub fn start(
    id: &ComponentId,
    config: &PrometheusReceiverConfig,
    routes: Rc<Routes>,
    io: &ShardIo,
) -> Result<(), String> {
    // Only the metrics pipelines take its data; the body limit matters for compressed
    // bodies only, and scrape results are handed over uncompressed.
    let ingest = Rc::new(Ingest::new(
        TRANSPORT,
        routes,
        io.budget.clone(),
        usize::MAX,
    ));
    let mut owned = 0usize;
    for job in &config.jobs {
        let job_rc = Rc::new(job.clone());
        for target in &job.targets {
            if target::owner(&job.name, target, io.shard_count) != io.shard {
                continue;
            }
            owned += 1;
            let scrape =
                ScrapeLoop::new(id.clone(), job_rc.clone(), target.clone(), ingest.clone())?;
            task::spawn_local(scrape.run(io.drain.clone())).detach();
        }
    }
    tracing::debug!(receiver = %id, shard = io.shard, targets = owned, "prometheus scrape loops started");
    Ok(())
}
