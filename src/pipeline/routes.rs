//! Where a receiver hands its data on a shard: per signal, the first stage of each pipeline
//! that lists it.

use crate::observe::ReceiverProbe;
use crate::pipeline::Next;
use crate::signal::Signal;

/// Where a receiver sends each signal: the first stage of every pipeline listing it.
#[derive(Default)]
pub struct Routes {
    traces: Vec<Next>,
    metrics: Vec<Next>,
    logs: Vec<Next>,
    /// The receiver's counters on this shard.
    pub(crate) probe: Option<ReceiverProbe>,
}

impl Routes {
    /// The pipelines fed with `signal`; empty when no pipeline takes it from this receiver.
    pub fn for_signal(&self, signal: Signal) -> &[Next] {
        match signal {
            Signal::Traces => &self.traces,
            Signal::Metrics => &self.metrics,
            Signal::Logs => &self.logs,
        }
    }

    /// Where the receiver counts its items and latency on this shard.
    pub fn probe(&self) -> Option<&ReceiverProbe> {
        self.probe.as_ref()
    }

    /// Adds `stage` to the pipelines fed with `signal`.
    pub(crate) fn push(&mut self, signal: Signal, stage: Next) {
        match signal {
            Signal::Traces => self.traces.push(stage),
            Signal::Metrics => self.metrics.push(stage),
            Signal::Logs => self.logs.push(stage),
        }
    }
}
