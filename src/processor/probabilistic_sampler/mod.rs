//! The `probabilistic_sampler` processor: otelcol-contrib's stateless per-item sampling of
//! spans and log records, with the same decisions for the same data and seed, so a mixed
//! fleet of shardgate and otelcol keeps the same traces.
//!
//! Per item, in otelcol's order:
//! 1. find the randomness: the FNV hash of the trace id with `hash_seed` (mode `hash_seed`),
//!    or the tracestate's `rv`, or the trace id's last 7 bytes (consistent modes); for logs,
//!    the `sampling.randomness` attribute, the trace id or the `from_attribute` value;
//! 2. check it against an arriving threshold (`th`, `sampling.threshold`): an item whose
//!    randomness its threshold would have rejected, or with no randomness, or with a
//!    tracestate that does not parse, is an error: dropped with `fail_closed` (the default),
//!    kept otherwise;
//! 3. the mode's threshold, overridden by a priority (`sampling.priority` on spans; the
//!    `sampling_priority` attribute on logs);
//! 4. kept items record the threshold applied (`ot=th:…` in the tracestate, the
//!    `sampling.threshold` log attribute), so later samplers and backends can count.
//!
//! Empty scopes and resources are removed, as otelcol does. Spans are sampled on the wire
//! (`spans`: a decision reads three fields); log records are decoded with prost (`logs`).

pub mod config;
pub mod threshold;
pub mod tracestate;

mod decide;
mod logs;
mod spans;

use std::sync::Arc;

use bytes::Bytes;
use opentelemetry_proto::tonic::logs::v1::ResourceLogs;
use prost::Message;

use super::chunk::TransformError;
use super::transform::Rewritten;
use crate::observe::ProcessorCounters;
use crate::signal::Signal;
use config::ProbabilisticSamplerConfig;
use decide::Rule;

pub use decide::Policy;

/// One `probabilistic_sampler` instance on a shard, for one signal.
pub struct ProbabilisticSampler {
    signal: Signal,
    rule: Rule,
    config: ProbabilisticSamplerConfig,
    counters: Option<Arc<ProcessorCounters>>,
}

impl ProbabilisticSampler {
    /// A sampler of `signal` (traces or logs) as `config` says.
    pub fn new(config: &ProbabilisticSamplerConfig, signal: Signal) -> ProbabilisticSampler {
        ProbabilisticSampler {
            signal,
            rule: Rule::new(config, signal == Signal::Logs),
            config: config.clone(),
            counters: None,
        }
    }

    /// Counts each decision by policy into `counters` (otelcol's sampler metrics).
    pub fn observed(mut self, counters: Option<Arc<ProcessorCounters>>) -> ProbabilisticSampler {
        self.counters = counters;
        self
    }

    /// The chunk with the items not sampled removed and the kept ones marked.
    pub fn rewrite(&self, chunk: &[u8]) -> Result<Rewritten, TransformError> {
        let (bytes, items) = match self.signal {
            Signal::Traces => spans::sample(self, chunk)?,
            Signal::Logs => {
                let mut rl = ResourceLogs::decode(chunk)?;
                let items = logs::sample(self, &mut rl);
                (rl.encode_to_vec(), items)
            }
            // The registry does not place it in metrics pipelines.
            Signal::Metrics => return Ok(Rewritten::Unchanged),
        };
        Ok(match items {
            0 => Rewritten::Emptied,
            items => Rewritten::Reduced {
                bytes: Bytes::from(bytes),
                items,
            },
        })
    }

    /// Counts one decision.
    fn count(&self, policy: Policy, sampled: bool) {
        let Some(counters) = &self.counters else {
            return;
        };
        let i = crate::observe::signal_index(self.signal);
        if let Some(p) = counters.policies.get(policy as usize) {
            if sampled {
                p.sampled[i].add(1);
            } else {
                p.dropped[i].add(1);
            }
        }
    }
}

#[cfg(test)]
mod tests;
