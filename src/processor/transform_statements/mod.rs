//! The `transform` processor: OTTL statements run on every item of their context, group by
//! group, in order (otelcol-contrib's transformprocessor).
//!
//! Per chunk: decode the resource message with prost, run each group of the chunk's signal
//! over it (see [`crate::ottl::run`]), re-encode. A statement that fails on an item is
//! logged and skipped (`ignore`), skipped (`silent`), or fails the chunk (`propagate`): the
//! rewrite stage then refuses the request, or drops the chunk if it was already
//! acknowledged, as otelcol returns the error up the pipeline.

pub mod config;

use bytes::Bytes;
use opentelemetry_proto::tonic::logs::v1::ResourceLogs;
use opentelemetry_proto::tonic::metrics::v1::ResourceMetrics;
use opentelemetry_proto::tonic::trace::v1::ResourceSpans;
use prost::Message;

use crate::ottl::{run, ErrorMode, EvalError, Target};
use crate::processor::chunk::TransformError;
use crate::signal::Signal;
use config::{StatementGroup, TransformConfig};

/// One `transform` processor instance on a shard.
pub struct TransformProcessor {
    config: TransformConfig,
}

impl TransformProcessor {
    /// A processor running `config`'s statements.
    pub fn new(config: &TransformConfig) -> TransformProcessor {
        TransformProcessor {
            config: config.clone(),
        }
    }

    /// The rewritten chunk, or `None` when this signal has no statements.
    pub fn rewrite(&self, signal: Signal, chunk: &[u8]) -> Result<Option<Bytes>, TransformError> {
        let groups = self.config.groups(signal);
        if groups.is_empty() {
            return Ok(None);
        }
        let mut cache = Vec::new();
        let fail = |e: EvalError| TransformError::Ottl(e.to_string());
        let out = match signal {
            Signal::Traces => {
                let mut rs = ResourceSpans::decode(chunk)?;
                for g in groups {
                    run::spans(&mut rs, g.context, &mut cache, &mut |t| apply(g, t))
                        .map_err(fail)?;
                }
                rs.encode_to_vec()
            }
            Signal::Metrics => {
                let mut rm = ResourceMetrics::decode(chunk)?;
                for g in groups {
                    run::metrics(&mut rm, g.context, &mut cache, &mut |t| apply(g, t))
                        .map_err(fail)?;
                }
                rm.encode_to_vec()
            }
            Signal::Logs => {
                let mut rl = ResourceLogs::decode(chunk)?;
                for g in groups {
                    run::logs(&mut rl, g.context, &mut cache, &mut |t| apply(g, t))
                        .map_err(fail)?;
                }
                rl.encode_to_vec()
            }
        };
        Ok(Some(Bytes::from(out)))
    }
}

/// What `mode` makes of `error` from `text`: `Err` stops the chunk (propagate).
pub(crate) fn handle(mode: ErrorMode, text: &str, error: EvalError) -> Result<(), EvalError> {
    match mode {
        ErrorMode::Propagate => Err(EvalError::new(format!(
            "failed to execute statement {text:?}: {error}"
        ))),
        ErrorMode::Ignore => {
            tracing::warn!(statement = text, error = %error, "failed to execute statement");
            Ok(())
        }
        ErrorMode::Silent => Ok(()),
    }
}

/// Runs `g` on one item.
fn apply(g: &StatementGroup, t: &mut Target<'_>) -> Result<(), EvalError> {
    if !g.conditions.is_empty() {
        let mut any = false;
        for c in &g.conditions {
            match c.holds(t) {
                Ok(true) => {
                    any = true;
                    break;
                }
                Ok(false) => {}
                Err(e) => handle(g.error_mode, &c.text, e)?,
            }
        }
        if !any {
            return Ok(());
        }
    }
    for s in &g.statements {
        if let Err(e) = s.execute(t) {
            handle(g.error_mode, &s.text, e)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod proptests;
#[cfg(test)]
mod tests;
