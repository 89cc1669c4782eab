//! shardgate: a thread-per-core OpenTelemetry Collector.
//!
//! Data flows one way inside one shard: socket → structural scan → processors → batch →
//! exporter → socket. This crate holds the collector itself (config, components, pipeline
//! assembly, CLI); the per-core runtime is `shardgate-shards` and the network layer
//! `shardgate-io`.
#![warn(missing_docs)]
#![forbid(unsafe_code)]

pub mod admin;
pub mod app;
pub mod cli;
pub mod config;
pub mod exporter;
pub mod extension;
pub mod fault;
pub mod kafka;
pub mod observe;
pub mod otlp;
pub mod ottl;
pub mod pipeline;
pub mod processor;
pub mod receiver;
pub mod registry;
pub mod shard;
pub mod signal;
pub mod storage;
pub mod telemetry;
