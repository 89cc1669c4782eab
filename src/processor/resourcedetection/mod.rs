//! The `resourcedetection` processor: resource attributes found on this host (`env`,
//! `system` detectors) added to every resource, for every signal. Detection runs once, when
//! the config loads; the shards then run it as a resource rewrite (see `resource`).

pub mod config;
pub mod detect;
