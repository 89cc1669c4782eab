//! Processors: what a pipeline does to data between its receivers and exporters.
//!
//! Every processor kind has the same entry points: `new` (from its config, on a shard) and
//! `consume` (take a payload). Only `batch` exists so far; processors that need fields decode
//! only what they touch.

pub mod batch;
