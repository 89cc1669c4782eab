//! Config of the `file_storage` extension, in otelcol-contrib's shape (`directory`,
//! `create_directory`, `fsync`, `timeout`, `compaction`), plus shardgate's keys for its
//! segment log: `fsync_policy`, `fsync_interval`, `segment_size`, `max_size`.

use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use serde_yaml::Value;

use crate::config::de::{self, warn_ignored, Text};
use crate::config::duration::GoDuration;
use crate::config::error::Errors;

/// otelcol-contrib's default `directory` on Linux.
pub const DEFAULT_DIRECTORY: &str = "/var/lib/otelcol/file_storage";

/// When appended records are made durable (fdatasync).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FsyncPolicy {
    /// Before the client is answered: acknowledged data survives power loss.
    Always,
    /// Every `fsync_interval`: acknowledged data survives a crash or kill -9 (it is in the
    /// kernel's page cache before the answer); power loss may take the last interval.
    Interval,
    /// Never by shardgate (the device and kernel decide): survives a crash or kill -9 like
    /// `interval`, with no bound on what power loss takes.
    Never,
}

/// The `file_storage` extension's settings.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileStorageConfig {
    /// `directory`: where each exporter's queue directory is made.
    pub directory: PathBuf,
    /// `create_directory`: make `directory` when missing (default false, as otelcol).
    pub create_directory: bool,
    /// `fsync_policy` (default `interval`; `fsync: true` means `always`).
    pub fsync_policy: FsyncPolicy,
    /// `fsync_interval` (default 1s): how often `interval` syncs.
    pub fsync_interval: Duration,
    /// `segment_size` in bytes (default 4 MiB): a segment file is closed past it. A segment
    /// is deleted once everything in it is delivered, so after a crash at most this much
    /// per segment may be delivered twice.
    pub segment_size: u64,
    /// `max_size` in bytes (default 0: bounded by the disk only): all queue files of one
    /// exporter on one shard together; past it new data is refused retryably.
    pub max_size: u64,
}

impl Default for FileStorageConfig {
    fn default() -> Self {
        FileStorageConfig {
            directory: PathBuf::from(DEFAULT_DIRECTORY),
            create_directory: false,
            fsync_policy: FsyncPolicy::Interval,
            fsync_interval: Duration::from_secs(1),
            segment_size: 4 << 20,
            max_size: 0,
        }
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawFileStorage {
    directory: Option<Text>,
    create_directory: Option<bool>,
    directory_permissions: Option<Value>,
    fsync: Option<bool>,
    fsync_policy: Option<Text>,
    fsync_interval: Option<GoDuration>,
    segment_size: Option<u64>,
    max_size: Option<u64>,
    timeout: Option<Value>,
    compaction: Option<Value>,
    recreate: Option<Value>,
}

/// Smallest `segment_size`: one direct-I/O write buffer's worth.
const SEGMENT_SIZE_MIN: u64 = 64 << 10;

/// Decodes and checks a `file_storage` body at `path`; unknown keys are errors naming
/// their path.
pub(crate) fn parse(body: Value, path: &str, errs: &mut Errors) -> Option<FileStorageConfig> {
    let raw: RawFileStorage = errs.take(de::decode(body, path))?;
    let at = |key: &str| de::join(path, key);
    // bbolt's knobs: segments are deleted whole once delivered, so there is nothing to compact.
    for (key, value) in [
        ("timeout", &raw.timeout),
        ("compaction", &raw.compaction),
        ("recreate", &raw.recreate),
        ("directory_permissions", &raw.directory_permissions),
    ] {
        warn_ignored(errs, &at(key), value);
    }
    let d = FileStorageConfig::default();
    let policy = match raw.fsync_policy.as_ref().map(|t| t.0.as_str()) {
        None => match raw.fsync {
            Some(true) => FsyncPolicy::Always,
            _ => d.fsync_policy,
        },
        Some("always") => FsyncPolicy::Always,
        Some("interval") => FsyncPolicy::Interval,
        Some("never") => FsyncPolicy::Never,
        Some(other) => {
            errs.invalid(
                at("fsync_policy"),
                format!("unknown policy \"{other}\"; expected always, interval or never"),
            );
            d.fsync_policy
        }
    };
    if raw.fsync == Some(true) && policy != FsyncPolicy::Always {
        errs.invalid(
            at("fsync"),
            "`fsync: true` asks for fsync_policy always; remove one of them",
        );
    }
    let fsync_interval = raw.fsync_interval.map_or(d.fsync_interval, |g| g.0);
    if policy == FsyncPolicy::Interval && fsync_interval.is_zero() {
        errs.invalid(at("fsync_interval"), "must be greater than zero");
    }
    let segment_size = raw.segment_size.unwrap_or(d.segment_size);
    if segment_size < SEGMENT_SIZE_MIN {
        errs.invalid(
            at("segment_size"),
            format!("must be at least {SEGMENT_SIZE_MIN} bytes"),
        );
    }
    let directory = raw.directory.map_or(d.directory, |t| PathBuf::from(t.0));
    if !directory.is_absolute() {
        errs.invalid(
            at("directory"),
            format!("\"{}\" must be an absolute path", directory.display()),
        );
    }
    Some(FileStorageConfig {
        directory,
        create_directory: raw.create_directory.unwrap_or(d.create_directory),
        fsync_policy: policy,
        fsync_interval,
        segment_size,
        max_size: raw.max_size.unwrap_or(d.max_size),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn parse_yaml(yaml: &str) -> Result<FileStorageConfig, String> {
        let mut errs = Errors::default();
        let body: Value = serde_yaml::from_str(yaml).unwrap();
        let parsed = parse(body, "extensions::file_storage", &mut errs);
        let parsed = errs.finish(parsed).map_err(|e| e.to_string())?;
        parsed.ok_or_else(|| "no config".into())
    }

    #[test]
    fn otelcol_keys_and_ours() {
        let c = parse_yaml("{directory: /tmp/q}").unwrap();
        assert_eq!(c.directory, PathBuf::from("/tmp/q"));
        assert_eq!(c.fsync_policy, FsyncPolicy::Interval);
        assert!(!c.create_directory);
        let c = parse_yaml("{directory: /tmp/q, fsync: true, create_directory: true, timeout: 1s, compaction: {on_start: true}}").unwrap();
        assert_eq!(c.fsync_policy, FsyncPolicy::Always);
        assert!(c.create_directory);
        let c = parse_yaml(
            "{directory: /tmp/q, fsync_policy: never, segment_size: 1048576, max_size: 9000000}",
        )
        .unwrap();
        assert_eq!(c.fsync_policy, FsyncPolicy::Never);
        assert_eq!((c.segment_size, c.max_size), (1 << 20, 9_000_000));
    }

    #[test]
    fn bad_values_name_their_keys() {
        let e =
            parse_yaml("{directory: rel, fsync_policy: sometimes, segment_size: 10}").unwrap_err();
        assert!(e.contains("file_storage::directory"), "{e}");
        assert!(
            e.contains("file_storage::fsync_policy: unknown policy"),
            "{e}"
        );
        assert!(e.contains("file_storage::segment_size"), "{e}");
        let e = parse_yaml("{directory: /q, fsync: true, fsync_policy: never}").unwrap_err();
        assert!(e.contains("file_storage::fsync"), "{e}");
        let e = parse_yaml("{directory: /q, unknown: 1}").unwrap_err();
        assert!(e.contains("unknown"), "{e}");
    }

    /// What `validate` says of a queue in storage that cannot work as configured.
    #[test]
    fn validate_names_what_is_wrong_with_a_queue_in_storage() {
        let dir = std::env::temp_dir();
        let config = |storage: &str, processors: &str, listed: &str| {
            format!(
                "receivers: {{otlp: {{protocols: {{grpc: }}}}}}
processors: {{batch: , attributes: {{actions: [{{key: a, value: b, action: upsert}}]}}}}
exporters: {{otlp: {{endpoint: 'h:4317', tls: {{insecure: true}}, sending_queue: {{storage: {storage}}}}}}}
extensions: {{file_storage: {{directory: {dir}}}, file_storage/missing: {{directory: /does/not/exist}}}}
service:
  extensions: [{listed}]
  pipelines: {{traces: {{receivers: [otlp], processors: [{processors}], exporters: [otlp]}}}}
",
                dir = dir.display()
            )
        };
        let err = |yaml: String| match crate::config::parse_str(&yaml, "t") {
            Ok(_) => String::new(),
            Err(e) => e.to_string(),
        };
        assert_eq!(
            err(config("file_storage", "attributes, batch", "file_storage")),
            ""
        );
        let e = err(config("file_storage", "batch, attributes", "file_storage"));
        assert!(e.contains("attributes comes after batch"), "{e}");
        let e = err(config("file_storage", "batch", "file_storage/missing"));
        assert!(
            e.contains("must be configured under extensions and listed in service.extensions"),
            "{e}"
        );
        let e = err(config(
            "file_storage/missing",
            "batch",
            "file_storage/missing",
        ));
        assert!(e.contains("/does/not/exist does not exist"), "{e}");
    }
}
