//! What every item's decision shares: the mode's rule, the policies decisions are counted
//! under, the consistency check and the threshold an error leads to.

use super::config::{Mode, ProbabilisticSamplerConfig};
use super::threshold::{hash_seed_threshold, Randomness, Threshold, ValueError, MIN_PROBABILITY};
use super::tracestate::TraceStateError;

/// Where a decision's randomness came from: the `policy` label of otelcol's sampler metrics.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Policy {
    /// The legacy hash of the trace id.
    TraceIdHash,
    /// The trace id's last 7 bytes.
    TraceIdW3c,
    /// An explicit `rv` / `sampling.randomness`.
    SamplingRandomness,
    /// None could be found.
    MissingRandomness,
    /// A sampling priority decided.
    SamplingPriority,
    /// The hash of the `from_attribute` log attribute (labelled with its name).
    Attribute,
}

impl Policy {
    /// Every policy, in counter order.
    pub const ALL: [Policy; 6] = [
        Policy::TraceIdHash,
        Policy::TraceIdW3c,
        Policy::SamplingRandomness,
        Policy::MissingRandomness,
        Policy::SamplingPriority,
        Policy::Attribute,
    ];

    /// The `policy` label; `attribute` names the `from_attribute` policy.
    pub fn label(self, attribute: &str) -> &str {
        match self {
            Policy::TraceIdHash => "trace_id_hash",
            Policy::TraceIdW3c => "trace_id_w3c",
            Policy::SamplingRandomness => "sampling_randomness",
            Policy::MissingRandomness => "missing_randomness",
            Policy::SamplingPriority => "sampling_priority",
            Policy::Attribute => attribute,
        }
    }
}

/// Why an item's sampling information is unusable (otelcol's messages).
#[derive(Debug, thiserror::Error)]
pub(super) enum SampleError {
    /// No randomness: an all-zero trace id, no attribute.
    #[error("missing randomness")]
    MissingRandomness,
    /// The arriving threshold would have rejected the item's randomness.
    #[error("inconsistent arriving threshold: item should not have been sampled")]
    InconsistentThreshold,
    /// `hash_seed` mode on data that carries explicit randomness.
    #[error("item has sampling randomness, equalizing or proportional mode recommended")]
    RandomnessInUse,
    /// `hash_seed` mode on data that carries a threshold.
    #[error("item has sampling threshold, equalizing or proportional mode recommended")]
    ThresholdInUse,
    /// The tracestate does not parse.
    #[error("tracestate: {0}")]
    TraceState(#[from] TraceStateError),
    /// A `sampling.*` log attribute does not parse.
    #[error("{0}")]
    Value(#[from] ValueError),
}

/// The mode's decision rule, fixed at start.
#[derive(Debug, Clone, Copy)]
pub(super) enum Rule {
    /// `sampling_percentage: 0` (or a hash rate that rounds to nothing).
    Never,
    /// The legacy hash with its 14-bit threshold.
    HashSeed { threshold: Threshold, seed: u32 },
    /// One absolute threshold.
    Equalizing { threshold: Threshold },
    /// The arriving probability times `ratio`.
    Proportional { ratio: f64, precision: usize },
}

impl Rule {
    /// The rule of `config` for traces or logs.
    pub(super) fn new(config: &ProbabilisticSamplerConfig, logs: bool) -> Rule {
        let percent = config.sampling_percentage.min(100.0);
        if percent <= 0.0 {
            return Rule::Never;
        }
        let ratio = (f64::from(percent) / 100.0).max(MIN_PROBABILITY);
        match config.mode_for(logs) {
            Mode::HashSeed => match hash_seed_threshold(percent) {
                Some(threshold) => Rule::HashSeed {
                    threshold,
                    seed: config.hash_seed,
                },
                None => Rule::Never,
            },
            Mode::Equalizing => Rule::Equalizing {
                threshold: Threshold::from_probability(ratio, config.sampling_precision)
                    .unwrap_or(Threshold::ALWAYS),
            },
            Mode::Proportional => Rule::Proportional {
                ratio,
                precision: config.sampling_precision,
            },
        }
    }

    /// The seed, in the `hash_seed` mode (whose randomness is found differently).
    pub(super) fn hash_seed(&self) -> Option<u32> {
        match self {
            Rule::HashSeed { seed, .. } => Some(*seed),
            _ => None,
        }
    }

    /// The threshold for an item that arrived with threshold `arriving`.
    pub(super) fn threshold(&self, arriving: Option<Threshold>) -> Threshold {
        match *self {
            Rule::Never => Threshold::NEVER,
            Rule::HashSeed { threshold, .. } | Rule::Equalizing { threshold } => threshold,
            Rule::Proportional { ratio, precision } => {
                let incoming = arriving.map_or(1.0, Threshold::probability);
                // Below the smallest expressible probability the item is simply not sampled.
                Threshold::from_probability(incoming * ratio, precision).unwrap_or(Threshold::NEVER)
            }
        }
    }
}

/// Step 2: an item needs randomness, and an arriving threshold must agree with it. An
/// inconsistent threshold is reported so the caller clears it (the OTel spec's advice).
pub(super) fn check(
    rnd: Option<Randomness>,
    arriving: Option<Threshold>,
) -> Result<(), SampleError> {
    let rnd = rnd.ok_or(SampleError::MissingRandomness)?;
    match arriving {
        Some(threshold) if !threshold.samples(rnd) => Err(SampleError::InconsistentThreshold),
        _ => Ok(()),
    }
}

/// The threshold for an item whose sampling information was unusable.
pub(super) fn on_error(error: &SampleError, fail_closed: bool) -> Threshold {
    tracing::debug!(%error, fail_closed, "probabilistic_sampler: unusable sampling information");
    if fail_closed {
        Threshold::NEVER
    } else {
        Threshold::ALWAYS
    }
}
