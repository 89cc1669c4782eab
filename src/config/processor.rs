//! `processors:` section: one variant per processor type; each type's config lives with it.

use crate::processor::attributes::config::AttributesConfig;
use crate::processor::batch::config::BatchConfig;
use crate::processor::filter::config::FilterConfig;
use crate::processor::memory_limiter::config::MemoryLimiterConfig;
use crate::processor::probabilistic_sampler::config::ProbabilisticSamplerConfig;
use crate::processor::resource::config::ResourceConfig;
use crate::processor::resourcedetection::config::ResourceDetectionConfig;
use crate::processor::tail_sampling::config::TailSamplingConfig;
use crate::processor::transform_statements::config::TransformConfig;
use crate::signal::Signal;

/// One configured processor.
#[derive(Clone, Debug, PartialEq)]
pub enum ProcessorConfig {
    /// `batch`: groups items into larger export requests.
    Batch(BatchConfig),
    /// `attributes`: actions on span, log record and data point attributes.
    Attributes(AttributesConfig),
    /// `resource`: actions on resource attributes.
    Resource(ResourceConfig),
    /// `memory_limiter`: refuses new data at receivers while memory is short.
    MemoryLimiter(MemoryLimiterConfig),
    /// `resourcedetection`: attributes of this host added to every resource.
    ResourceDetection(ResourceDetectionConfig),
    /// `probabilistic_sampler`: keeps a share of spans or log records, by trace id.
    ProbabilisticSampler(ProbabilisticSamplerConfig),
    /// `transform`: OTTL statements that change items.
    Transform(Box<TransformConfig>),
    /// `filter`: OTTL conditions (or include/exclude) that remove items.
    Filter(Box<FilterConfig>),
    /// `tail_sampling`: keeps or drops whole traces by policies, after a wait.
    TailSampling(TailSamplingConfig),
}

impl ProcessorConfig {
    /// Why these settings cannot sit in a pipeline of `signal` though the type can (the
    /// registry says which signals a type carries).
    pub fn refuses(&self, signal: Signal) -> Option<&'static str> {
        match self {
            ProcessorConfig::Attributes(a) => a.check_signal(signal).err(),
            ProcessorConfig::Batch(_)
            | ProcessorConfig::Resource(_)
            | ProcessorConfig::ResourceDetection(_)
            | ProcessorConfig::ProbabilisticSampler(_)
            | ProcessorConfig::TailSampling(_)
            | ProcessorConfig::MemoryLimiter(_)
            | ProcessorConfig::Transform(_)
            | ProcessorConfig::Filter(_) => None,
        }
    }
}
