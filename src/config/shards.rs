//! `shards:` section: the per-core runtime's knobs (shardgate's own; not an otelcol key).
//!
//! Usually set by a tuning profile (`tuning/default.yaml` is embedded and always applied
//! first), overridable in the config file and by a `--profile` file.

use std::fmt;
use std::time::Duration;

use serde::de::{self, Deserializer, SeqAccess, Visitor};
use serde::Deserialize;
use serde_yaml::Value;

use super::de::{decode, join};
use super::duration::GoDuration;
use super::error::Errors;
use super::rebalance::{self, RebalanceConfig};

/// Which CPU cores run a shard each.
#[derive(Clone, Debug, PartialEq, Eq, Default)]
pub enum CoresSpec {
    /// Every core the process may run on (`all`, the default).
    #[default]
    All,
    /// The first N allowed cores (`2`).
    Count(usize),
    /// Exactly these core ids (`[0, 1]`).
    List(Vec<usize>),
}

/// The `shards` section.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ShardsConfig {
    /// Cores to run shards on (default all).
    pub cores: CoresSpec,
    /// io_uring submission queue depth of each shard (default 128).
    pub ring_depth: u32,
    /// glommio's registered buffer pool per shard, from `io_memory_kib`; only file I/O uses
    /// it (default 512 KiB).
    pub io_memory_bytes: usize,
    /// Listen backlog of each listener socket (default 1024).
    pub listen_backlog: u32,
    /// Per-shard limit on acknowledged-but-undelivered payload bytes; past it new requests are
    /// refused with a retryable status (default 32 MiB).
    pub pending_bytes_max: usize,
    /// How long a shutdown waits for in-flight data to drain (default 30s).
    pub drain_timeout: Duration,
    /// HTTP/2 initial stream flow-control window (default 1 MiB).
    pub h2_stream_window_bytes: u32,
    /// HTTP/2 connection flow-control window (default 8 MiB).
    pub h2_connection_window_bytes: u32,
    /// Connections accepted per shard per listener (default 10 000).
    pub connections_max: u32,
    /// Busy-poll this long before a shard's executor parks; None = park at once (default).
    pub spin_before_park: Option<Duration>,
    /// Longest a TLS handshake on a receiver may take before the connection is closed
    /// (default 10s).
    pub tls_handshake_timeout: Duration,
    /// Largest HTTP/2 header block a client may send (default 16 KiB).
    pub h2_max_header_list_bytes: u32,
    /// PING and SETTINGS frames a client may send in a burst (default 100).
    pub h2_control_frames_burst: u32,
    /// Rate that burst refills at while a client sends no request (default 10 per second).
    pub h2_control_frames_per_second: u32,
    /// RST_STREAM frames a client may send in a burst (default 200).
    pub h2_resets_burst: u32,
    /// Rate that burst refills at (default 100 per second).
    pub h2_resets_per_second: u32,
    /// Longest an HTTP/2 answer waits for the client to read it (default 30s).
    pub h2_send_timeout: Duration,
    /// When a busy shard hands requests to a less loaded one.
    pub rebalance: RebalanceConfig,
}

impl Default for ShardsConfig {
    fn default() -> Self {
        ShardsConfig {
            cores: CoresSpec::All,
            ring_depth: 128,
            io_memory_bytes: 512 * 1024,
            listen_backlog: 1024,
            pending_bytes_max: 32 * 1024 * 1024,
            drain_timeout: Duration::from_secs(30),
            h2_stream_window_bytes: 1024 * 1024,
            h2_connection_window_bytes: 8 * 1024 * 1024,
            connections_max: 10_000,
            spin_before_park: None,
            tls_handshake_timeout: Duration::from_secs(10),
            h2_max_header_list_bytes: 16 * 1024,
            h2_control_frames_burst: 100,
            h2_control_frames_per_second: 10,
            h2_resets_burst: 200,
            h2_resets_per_second: 100,
            h2_send_timeout: Duration::from_secs(30),
            rebalance: RebalanceConfig::default(),
        }
    }
}

/// Largest HTTP/2 flow-control window (RFC 9113 §6.9.1).
const H2_MAX_WINDOW: u32 = (1 << 31) - 1;

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawShards {
    cores: Option<CoresSpec>,
    ring_depth: Option<u32>,
    io_memory_kib: Option<u64>,
    listen_backlog: Option<u32>,
    pending_bytes_max: Option<u64>,
    drain_timeout: Option<GoDuration>,
    h2_stream_window_bytes: Option<u32>,
    h2_connection_window_bytes: Option<u32>,
    connections_max: Option<u32>,
    spin_before_park: Option<GoDuration>,
    tls_handshake_timeout: Option<GoDuration>,
    h2_max_header_list_bytes: Option<u32>,
    h2_control_frames_burst: Option<u32>,
    h2_control_frames_per_second: Option<u32>,
    h2_resets_burst: Option<u32>,
    h2_resets_per_second: Option<u32>,
    h2_send_timeout: Option<GoDuration>,
    rebalance: Option<Value>,
}

/// Decodes and checks the `shards` section (a null or absent section means all defaults).
pub(crate) fn build(body: Value, errs: &mut Errors) -> ShardsConfig {
    let d = ShardsConfig::default();
    let Some(raw) = errs.take(decode::<RawShards>(body, "shards")) else {
        return d;
    };
    let at = |key: &str| join("shards", key);
    let io_memory_bytes = match raw.io_memory_kib {
        None => d.io_memory_bytes,
        Some(kib) => to_usize(kib.checked_mul(1024)).unwrap_or_else(|| {
            errs.invalid(at("io_memory_kib"), "too large");
            d.io_memory_bytes
        }),
    };
    let pending_bytes_max = match raw.pending_bytes_max {
        None => d.pending_bytes_max,
        Some(n) => to_usize(Some(n)).unwrap_or(usize::MAX),
    };
    let cfg = ShardsConfig {
        cores: raw.cores.unwrap_or(d.cores),
        ring_depth: raw.ring_depth.unwrap_or(d.ring_depth),
        io_memory_bytes,
        listen_backlog: raw.listen_backlog.unwrap_or(d.listen_backlog),
        pending_bytes_max,
        drain_timeout: raw.drain_timeout.map_or(d.drain_timeout, |t| t.0),
        h2_stream_window_bytes: raw
            .h2_stream_window_bytes
            .unwrap_or(d.h2_stream_window_bytes),
        h2_connection_window_bytes: raw
            .h2_connection_window_bytes
            .unwrap_or(d.h2_connection_window_bytes),
        connections_max: raw.connections_max.unwrap_or(d.connections_max),
        spin_before_park: raw.spin_before_park.map(|t| t.0),
        tls_handshake_timeout: raw
            .tls_handshake_timeout
            .map_or(d.tls_handshake_timeout, |t| t.0),
        h2_max_header_list_bytes: raw
            .h2_max_header_list_bytes
            .unwrap_or(d.h2_max_header_list_bytes),
        h2_control_frames_burst: raw
            .h2_control_frames_burst
            .unwrap_or(d.h2_control_frames_burst),
        h2_control_frames_per_second: raw
            .h2_control_frames_per_second
            .unwrap_or(d.h2_control_frames_per_second),
        h2_resets_burst: raw.h2_resets_burst.unwrap_or(d.h2_resets_burst),
        h2_resets_per_second: raw.h2_resets_per_second.unwrap_or(d.h2_resets_per_second),
        h2_send_timeout: raw.h2_send_timeout.map_or(d.h2_send_timeout, |t| t.0),
        rebalance: rebalance::build(raw.rebalance, errs),
    };
    check(&cfg, errs);
    cfg
}

fn to_usize(v: Option<u64>) -> Option<usize> {
    v.and_then(|v| usize::try_from(v).ok())
}

fn check(cfg: &ShardsConfig, errs: &mut Errors) {
    let at = |key: &str| join("shards", key);
    match &cfg.cores {
        CoresSpec::All => {}
        CoresSpec::Count(0) => errs.invalid(at("cores"), "must be at least 1"),
        CoresSpec::Count(_) => {}
        CoresSpec::List(list) if list.is_empty() => {
            errs.invalid(at("cores"), "the core list must not be empty")
        }
        CoresSpec::List(list) => {
            if let Some(dup) = list
                .iter()
                .enumerate()
                .find(|(i, c)| list[..*i].contains(c))
            {
                errs.invalid(at("cores"), format!("core {} is listed twice", dup.1));
            }
        }
    }
    for (key, value) in [
        ("ring_depth", u64::from(cfg.ring_depth)),
        ("io_memory_kib", cfg.io_memory_bytes as u64),
        ("listen_backlog", u64::from(cfg.listen_backlog)),
        ("pending_bytes_max", cfg.pending_bytes_max as u64),
        ("connections_max", u64::from(cfg.connections_max)),
        (
            "tls_handshake_timeout",
            u64::from(!cfg.tls_handshake_timeout.is_zero()),
        ),
        (
            "h2_max_header_list_bytes",
            u64::from(cfg.h2_max_header_list_bytes),
        ),
        (
            "h2_control_frames_burst",
            u64::from(cfg.h2_control_frames_burst),
        ),
        ("h2_resets_burst", u64::from(cfg.h2_resets_burst)),
        ("h2_send_timeout", u64::from(!cfg.h2_send_timeout.is_zero())),
    ] {
        if value == 0 {
            errs.invalid(at(key), "must be greater than zero");
        }
    }
    for (key, value) in [
        ("h2_stream_window_bytes", cfg.h2_stream_window_bytes),
        ("h2_connection_window_bytes", cfg.h2_connection_window_bytes),
    ] {
        if !(65_535..=H2_MAX_WINDOW).contains(&value) {
            errs.invalid(
                at(key),
                format!("must be between 65535 and {H2_MAX_WINDOW} (HTTP/2 window limits)"),
            );
        }
    }
}

impl<'de> Deserialize<'de> for CoresSpec {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(CoresVisitor)
    }
}

struct CoresVisitor;

impl<'de> Visitor<'de> for CoresVisitor {
    type Value = CoresSpec;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("`all`, a number of cores, or a list of core ids")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<CoresSpec, E> {
        if v.eq_ignore_ascii_case("all") {
            return Ok(CoresSpec::All);
        }
        v.parse::<usize>()
            .map(CoresSpec::Count)
            .map_err(|_| E::invalid_value(de::Unexpected::Str(v), &self))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<CoresSpec, E> {
        usize::try_from(v)
            .map(CoresSpec::Count)
            .map_err(|_| E::invalid_value(de::Unexpected::Unsigned(v), &self))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<CoresSpec, E> {
        usize::try_from(v)
            .map(CoresSpec::Count)
            .map_err(|_| E::invalid_value(de::Unexpected::Signed(v), &self))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<CoresSpec, A::Error> {
        let mut cores = Vec::new();
        while let Some(core) = seq.next_element::<usize>()? {
            cores.push(core);
        }
        Ok(CoresSpec::List(cores))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    fn parse(yaml: &str) -> Result<ShardsConfig, super::super::error::ConfigError> {
        let mut errs = Errors::default();
        let s = build(serde_yaml::from_str(yaml).unwrap(), &mut errs);
        errs.finish(s)
    }

    #[test]
    fn defaults() {
        let s = parse("").unwrap();
        assert_eq!(s, ShardsConfig::default());
        assert_eq!(s.cores, CoresSpec::All);
        assert_eq!(s.ring_depth, 128);
        assert_eq!(s.io_memory_bytes, 512 * 1024);
        assert_eq!(s.listen_backlog, 1024);
        assert_eq!(s.pending_bytes_max, 32 << 20);
        assert_eq!(s.drain_timeout, Duration::from_secs(30));
        assert_eq!(s.h2_stream_window_bytes, 1 << 20);
        assert_eq!(s.h2_connection_window_bytes, 8 << 20);
        assert_eq!(s.connections_max, 10_000);
        assert_eq!(s.spin_before_park, None);
    }

    #[test]
    fn cores_forms() {
        assert_eq!(parse("cores: all").unwrap().cores, CoresSpec::All);
        assert_eq!(parse("cores: ALL").unwrap().cores, CoresSpec::All);
        assert_eq!(parse("cores: 2").unwrap().cores, CoresSpec::Count(2));
        assert_eq!(parse("cores: \"3\"").unwrap().cores, CoresSpec::Count(3));
        assert_eq!(
            parse("cores: [0, 1]").unwrap().cores,
            CoresSpec::List(vec![0, 1])
        );
        let err = parse("cores: 0").unwrap_err().to_string();
        assert_eq!(err, "shards::cores: must be at least 1");
        let err = parse("cores: []").unwrap_err().to_string();
        assert_eq!(err, "shards::cores: the core list must not be empty");
        let err = parse("cores: [1, 2, 1]").unwrap_err().to_string();
        assert_eq!(err, "shards::cores: core 1 is listed twice");
        let err = parse("cores: some").unwrap_err().to_string();
        assert!(
            err.starts_with("shards::cores: invalid value: string \"some\""),
            "{err}"
        );
        let err = parse("cores: [0, x]").unwrap_err().to_string();
        assert!(err.starts_with("shards::cores"), "{err}");
        assert!(parse("cores: -1").is_err());
    }

    #[test]
    fn values_and_checks() {
        let s = parse("io_memory_kib: 1024\nspin_before_park: 50us\ndrain_timeout: 1m\npending_bytes_max: 1000").unwrap();
        assert_eq!(s.io_memory_bytes, 1 << 20);
        assert_eq!(s.spin_before_park, Some(Duration::from_micros(50)));
        assert_eq!(s.drain_timeout, Duration::from_secs(60));
        assert_eq!(s.pending_bytes_max, 1000);
        let err = parse("ring_depth: 0\nh2_stream_window_bytes: 100\nconections_max: 1")
            .unwrap_err()
            .to_string();
        assert!(err.contains("unknown field `conections_max`"), "{err}");
        let err = parse("ring_depth: 0\nh2_stream_window_bytes: 100")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("shards::ring_depth: must be greater than zero"),
            "{err}"
        );
        assert!(
            err.contains("shards::h2_stream_window_bytes: must be between 65535"),
            "{err}"
        );
        let err = parse("h2_connection_window_bytes: 4294967295")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("shards::h2_connection_window_bytes: must be between"),
            "{err}"
        );
    }
}
