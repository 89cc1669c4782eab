//! Processors: what a pipeline does to data between its receivers and exporters.
//!
//! Every processor kind has the same entry points: `new` (from its config, on a shard) and
//! `consume` (take a payload). Processors that need no field access (`batch`) never decode;
//! `attributes` and `resource` are synchronous rewrites (`transform::Transform`) that decode
//! only what they touch, per resource chunk (`chunk`). `transform` (OTTL statements, in
//! `transform_statements`: `transform` is the name of the rewrite stage) and `filter` (OTTL
//! conditions that remove items) are rewrites too.

pub mod actions;
pub mod attributes;
pub mod batch;
pub mod chunk;
pub mod filter;
pub mod matching;
pub mod memory_limiter;
pub mod probabilistic_sampler;
pub mod resource;
pub mod resourcedetection;
pub mod tail_sampling;
pub mod transform;
pub mod transform_statements;
