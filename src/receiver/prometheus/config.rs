//! Config of the `prometheus` receiver, shaped as otelcol-contrib's: `config` holds a
//! Prometheus config (`global`, `scrape_configs`) with Prometheus's keys, defaults and checks.
//! Only `static_configs` discovery over `http` and `https` is built; every other key a
//! Prometheus config may hold is refused by name, never silently ignored. Targets are resolved
//! here (target relabeling included), so `validate` shows what will be scraped.

use std::collections::BTreeSet;
use std::time::Duration;

use serde::Deserialize;
use serde_yaml::{Mapping, Value};

use super::relabel::{self, Labels, Rule};
use super::target::{self, Target};
use crate::config::de::{self, join, Text};
use crate::config::error::Errors;
use crate::config::ClientTlsConfig;

/// The `prometheus` receiver.
#[derive(Clone, Debug, PartialEq)]
pub struct PrometheusReceiverConfig {
    /// One per `scrape_configs` entry.
    pub jobs: Vec<ScrapeJob>,
}

/// One `scrape_configs` entry, its targets resolved.
#[derive(Clone, Debug, PartialEq)]
pub struct ScrapeJob {
    /// `job_name`.
    pub name: String,
    /// `honor_labels` (default false): scraped labels win over target labels.
    pub honor_labels: bool,
    /// `honor_timestamps` (default true): a sample's own timestamp is kept.
    pub honor_timestamps: bool,
    /// `enable_compression` (default true): ask for gzip.
    pub compression: bool,
    /// `metric_relabel_configs`.
    pub metric_relabel: Vec<Rule>,
    /// `body_size_limit`, or shardgate's cap when unset or 0.
    pub body_size_limit_bytes: usize,
    /// `sample_limit`, or shardgate's cap when unset or 0; past it the scrape fails.
    pub sample_limit: usize,
    /// `global.external_labels`, added to every sample (the sample's own win).
    pub external_labels: Labels,
    /// The targets left after `relabel_configs`.
    pub targets: Vec<Target>,
    /// `tls_config` of an `https` job (the defaults when it has none).
    pub tls: Option<ClientTlsConfig>,
}

/// Prometheus's default `scrape_interval`.
const DEFAULT_INTERVAL: Duration = Duration::from_secs(60);
/// Prometheus's default `scrape_timeout`.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// Largest scrape body read when `body_size_limit` is 0 or unset (Prometheus has none; an
/// unbounded body would let one target fill the shard's memory).
pub const BODY_SIZE_LIMIT_DEFAULT_BYTES: usize = 32 << 20;
/// Most samples kept from one scrape when `sample_limit` is 0 or unset (a 32 MiB body of
/// short lines holds a few million; each parsed sample costs some 150 bytes).
pub const SAMPLE_LIMIT_DEFAULT: usize = 500_000;

/// The receiver's own keys.
const RECEIVER_KEYS: &[&str] = &[
    "config",
    "trim_metric_suffixes",
    "report_extra_scrape_metrics",
];
/// Keys of `config`.
const CONFIG_KEYS: &[&str] = &["global", "scrape_configs"];
/// Keys of `config.global`.
const GLOBAL_KEYS: &[&str] = &[
    "scrape_interval",
    "scrape_timeout",
    "external_labels",
    "evaluation_interval",
    "body_size_limit",
    "sample_limit",
];
/// Keys of a `scrape_configs` entry.
const JOB_KEYS: &[&str] = &[
    "job_name",
    "scrape_interval",
    "scrape_timeout",
    "metrics_path",
    "scheme",
    "params",
    "honor_labels",
    "honor_timestamps",
    "enable_compression",
    "follow_redirects",
    "tls_config",
    "static_configs",
    "relabel_configs",
    "metric_relabel_configs",
    "body_size_limit",
    "sample_limit",
];

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawGlobal {
    scrape_interval: Option<Text>,
    scrape_timeout: Option<Text>,
    external_labels: Option<std::collections::BTreeMap<String, Text>>,
    evaluation_interval: Option<Value>,
    body_size_limit: Option<Text>,
    sample_limit: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawJob {
    job_name: Option<Text>,
    scrape_interval: Option<Text>,
    scrape_timeout: Option<Text>,
    metrics_path: Option<Text>,
    scheme: Option<Text>,
    params: Option<std::collections::BTreeMap<String, Vec<Text>>>,
    honor_labels: Option<bool>,
    honor_timestamps: Option<bool>,
    enable_compression: Option<bool>,
    follow_redirects: Option<bool>,
    tls_config: Option<super::tls::RawPrometheusTls>,
    static_configs: Option<Vec<RawStatic>>,
    relabel_configs: Option<Value>,
    metric_relabel_configs: Option<Value>,
    body_size_limit: Option<Text>,
    sample_limit: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawStatic {
    targets: Vec<Text>,
    labels: std::collections::BTreeMap<String, Text>,
}

/// What `global` sets for every job.
struct Global {
    interval: Duration,
    timeout: Duration,
    external_labels: Labels,
    body_size_limit_bytes: usize,
    sample_limit: usize,
}

/// Decodes and checks a `prometheus` receiver body at `path`.
pub(crate) fn parse(
    body: Value,
    path: &str,
    errs: &mut Errors,
) -> Option<PrometheusReceiverConfig> {
    let mut body = supported_keys(body, path, RECEIVER_KEYS, errs);
    for key in ["trim_metric_suffixes", "report_extra_scrape_metrics"] {
        match body.remove(key) {
            None | Some(Value::Bool(false)) => {}
            Some(_) => errs.invalid(
                join(path, key),
                "only false (the default) is supported by this build",
            ),
        }
    }
    let at = join(path, "config");
    let Some(config) = body.remove("config") else {
        errs.invalid(&at, "is required: a Prometheus config with scrape_configs");
        return None;
    };
    let mut config = supported_keys(config, &at, CONFIG_KEYS, errs);
    let global = global(config.remove("global"), &join(&at, "global"), errs)?;
    let jobs_at = join(&at, "scrape_configs");
    let jobs_value = config.remove("scrape_configs").unwrap_or(Value::Null);
    let raw_jobs: Vec<Value> = match jobs_value {
        Value::Null => Vec::new(),
        other => errs.take(de::decode(other, &jobs_at))?,
    };
    if raw_jobs.is_empty() {
        errs.invalid(
            &jobs_at,
            "lists no scrape config: there is nothing to scrape",
        );
    }
    let mut names = BTreeSet::new();
    let mut jobs = Vec::new();
    for (i, raw) in raw_jobs.into_iter().enumerate() {
        let job_at = format!("{jobs_at}[{i}]");
        if let Some(job) = job(raw, &job_at, &global, errs) {
            if !names.insert(job.name.clone()) {
                errs.invalid(
                    join(&job_at, "job_name"),
                    format!(
                        "found multiple scrape configs with job name \"{}\"",
                        job.name
                    ),
                );
            }
            jobs.push(job);
        }
    }
    Some(PrometheusReceiverConfig { jobs })
}

/// The mapping at `path` with every key outside `supported` refused by name (and removed).
fn supported_keys(value: Value, path: &str, supported: &[&str], errs: &mut Errors) -> Mapping {
    let map = match value {
        Value::Null => Mapping::new(),
        Value::Mapping(map) => map,
        other => {
            errs.invalid(path, format!("expected a mapping, found {other:?}"));
            return Mapping::new();
        }
    };
    let mut kept = Mapping::new();
    for (key, value) in map {
        let name = key.as_str().unwrap_or("?").to_owned();
        if supported.contains(&name.as_str()) {
            kept.insert(key, value);
        } else {
            errs.invalid(
                join(path, &name),
                format!(
                    "is not supported by this build's prometheus receiver (supported here: {})",
                    supported.join(", ")
                ),
            );
        }
    }
    kept
}

fn global(value: Option<Value>, path: &str, errs: &mut Errors) -> Option<Global> {
    let value = Value::Mapping(supported_keys(
        value.unwrap_or(Value::Null),
        path,
        GLOBAL_KEYS,
        errs,
    ));
    let raw: RawGlobal = errs.take(de::decode(value, path))?;
    de::warn_ignored(
        errs,
        &join(path, "evaluation_interval"),
        &raw.evaluation_interval,
    );
    let interval = duration(
        raw.scrape_interval,
        DEFAULT_INTERVAL,
        &join(path, "scrape_interval"),
        errs,
    );
    let timeout = duration(
        raw.scrape_timeout,
        DEFAULT_TIMEOUT,
        &join(path, "scrape_timeout"),
        errs,
    );
    if timeout > interval {
        errs.invalid(
            join(path, "scrape_timeout"),
            "global scrape timeout greater than scrape interval",
        );
    }
    let mut external_labels = Labels::new();
    for (name, Text(value)) in raw.external_labels.unwrap_or_default() {
        check_label_name(
            &name,
            &join(path, &format!("external_labels::{name}")),
            errs,
        );
        external_labels.insert(name, value);
    }
    Some(Global {
        interval,
        timeout,
        external_labels,
        body_size_limit_bytes: bytes(raw.body_size_limit, &join(path, "body_size_limit"), errs)
            .unwrap_or(0),
        sample_limit: limit(raw.sample_limit),
    })
}

fn job(value: Value, path: &str, global: &Global, errs: &mut Errors) -> Option<ScrapeJob> {
    let value = Value::Mapping(supported_keys(value, path, JOB_KEYS, errs));
    let mut raw: RawJob = errs.take(de::decode(value, path))?;
    let at = |key: &str| join(path, key);
    let Some(Text(name)) = raw.job_name.take().filter(|Text(n)| !n.is_empty()) else {
        errs.invalid(at("job_name"), "is required");
        return None;
    };
    let settings = job_settings(&mut raw, &name, global, path, errs);
    let relabel = relabel::parse_rules(
        raw.relabel_configs.unwrap_or(Value::Sequence(Vec::new())),
        &at("relabel_configs"),
        errs,
    );
    let groups = raw.static_configs.unwrap_or_default();
    let targets = static_targets(groups, &settings, &relabel, &at("static_configs"), errs);
    // Relabeling may set `__scheme__` per target.
    let https = settings.scheme == "https" || targets.iter().any(|t| t.scheme == "https");
    let tls = super::tls::client(raw.tls_config.take(), https, &at("tls_config"), errs);
    let body_limit = bytes(raw.body_size_limit, &at("body_size_limit"), errs)
        .unwrap_or(global.body_size_limit_bytes);
    let sample_limit = match raw.sample_limit {
        Some(n) => limit(Some(n)),
        None => global.sample_limit,
    };
    Some(ScrapeJob {
        name,
        honor_labels: raw.honor_labels.unwrap_or(false),
        honor_timestamps: raw.honor_timestamps.unwrap_or(true),
        compression: raw.enable_compression.unwrap_or(true),
        metric_relabel: relabel::parse_rules(
            raw.metric_relabel_configs
                .unwrap_or(Value::Sequence(Vec::new())),
            &at("metric_relabel_configs"),
            errs,
        ),
        body_size_limit_bytes: match body_limit {
            0 => BODY_SIZE_LIMIT_DEFAULT_BYTES,
            n => n,
        },
        sample_limit,
        external_labels: global.external_labels.clone(),
        targets,
        tls,
    })
}

/// What job `name` gives its targets: timing (Prometheus's defaults and checks), scheme,
/// path and params.
fn job_settings(
    raw: &mut RawJob,
    name: &str,
    global: &Global,
    path: &str,
    errs: &mut Errors,
) -> target::JobSettings {
    let at = |key: &str| join(path, key);
    let interval = duration(
        raw.scrape_interval.take(),
        global.interval,
        &at("scrape_interval"),
        errs,
    );
    let timeout = match raw.scrape_timeout.take() {
        Some(t) => duration(Some(t), DEFAULT_TIMEOUT, &at("scrape_timeout"), errs),
        // Prometheus: the global timeout, cut to this job's interval.
        None => global.timeout.min(interval),
    };
    if timeout > interval {
        errs.invalid(
            at("scrape_timeout"),
            format!("scrape timeout greater than scrape interval for scrape config with job name \"{name}\""),
        );
    }
    let scheme = raw
        .scheme
        .take()
        .map_or_else(|| "http".to_owned(), |Text(s)| s);
    if !matches!(scheme.as_str(), "http" | "https") {
        errs.invalid(at("scheme"), format!("\"{scheme}\": must be http or https"));
    }
    let metrics_path = raw
        .metrics_path
        .take()
        .map_or_else(|| "/metrics".to_owned(), |Text(p)| p);
    if !metrics_path.starts_with('/') {
        errs.invalid(at("metrics_path"), "must start with '/'");
    }
    if raw.follow_redirects == Some(true) {
        errs.invalid(
            at("follow_redirects"),
            "redirects are not followed by this build (a 3xx answer fails the scrape); remove it or set false",
        );
    }
    target::JobSettings {
        job: name.to_owned(),
        scheme,
        metrics_path,
        interval,
        timeout,
        params: raw
            .params
            .take()
            .unwrap_or_default()
            .into_iter()
            .map(|(k, v)| (k, v.into_iter().map(|Text(t)| t).collect()))
            .collect(),
    }
}

/// The targets of `static_configs` (at `path`) that `relabel` keeps.
fn static_targets(
    groups: Vec<RawStatic>,
    settings: &target::JobSettings,
    relabel: &[Rule],
    path: &str,
    errs: &mut Errors,
) -> Vec<Target> {
    let mut targets = Vec::new();
    for (g, group) in groups.into_iter().enumerate() {
        let group_at = format!("{path}[{g}]");
        let mut labels = Labels::new();
        for (label, Text(value)) in group.labels {
            check_label_name(&label, &join(&group_at, &format!("labels::{label}")), errs);
            labels.insert(label, value);
        }
        for (t, Text(address)) in group.targets.into_iter().enumerate() {
            let target_at = format!("{}[{t}]", join(&group_at, "targets"));
            match target::resolve(settings, &labels, &address, relabel) {
                Ok(Some(target)) => targets.push(target),
                Ok(None) => {}
                Err(reason) => errs.invalid(target_at, reason),
            }
        }
    }
    targets
}

fn check_label_name(name: &str, path: &str, errs: &mut Errors) {
    if !super::exposition::is_label_name(name) {
        errs.invalid(path, format!("\"{name}\" is not a valid label name"));
    }
}

/// `sample_limit`: 0 or unset means shardgate's cap.
fn limit(raw: Option<u64>) -> usize {
    match raw {
        None | Some(0) => SAMPLE_LIMIT_DEFAULT,
        Some(n) => usize::try_from(n).unwrap_or(usize::MAX),
    }
}

fn duration(raw: Option<Text>, default: Duration, path: &str, errs: &mut Errors) -> Duration {
    let Some(Text(text)) = raw else {
        return default;
    };
    match parse_duration(&text) {
        Ok(d) if d.is_zero() => {
            errs.invalid(path, "must be greater than 0");
            default
        }
        Ok(d) => d,
        Err(reason) => {
            errs.invalid(path, reason);
            default
        }
    }
}

/// A Prometheus duration: `<n>y<n>w<n>d<n>h<n>m<n>s<n>ms`, each part optional but in this
/// order, integers only (`1m30s`, `10s`, `500ms`, `0`).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    const UNITS: [(&str, u64); 7] = [
        ("y", 365 * 24 * 3_600_000),
        ("w", 7 * 24 * 3_600_000),
        ("d", 24 * 3_600_000),
        ("h", 3_600_000),
        ("m", 60_000),
        ("s", 1_000),
        ("ms", 1),
    ];
    let invalid = || format!("not a valid duration string: \"{text}\"");
    if text == "0" {
        return Ok(Duration::ZERO);
    }
    if text.is_empty() {
        return Err(invalid());
    }
    let mut rest = text;
    let mut next_unit = 0;
    let mut total_ms: u64 = 0;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        let number: u64 = rest[..digits].parse().map_err(|_| invalid())?;
        let after = &rest[digits..];
        let unit_len = after
            .find(|c: char| c.is_ascii_digit())
            .unwrap_or(after.len());
        let unit = &after[..unit_len];
        let index = UNITS[next_unit..]
            .iter()
            .position(|(u, _)| *u == unit)
            .ok_or_else(invalid)?;
        let scale = UNITS[next_unit + index].1;
        next_unit += index + 1;
        total_ms = number
            .checked_mul(scale)
            .and_then(|ms| total_ms.checked_add(ms))
            .ok_or_else(invalid)?;
        rest = &after[unit_len..];
    }
    Ok(Duration::from_millis(total_ms))
}

/// A Prometheus byte size (`body_size_limit`): a count of bytes, or a number with `B`, `KB`,
/// `MB`, `GB`, `TB` (or `KiB`...), all powers of 1024 as Prometheus reads them.
fn bytes(raw: Option<Text>, path: &str, errs: &mut Errors) -> Option<usize> {
    let Text(text) = raw?;
    let digits = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let scale: u64 = match &text[digits..] {
        "" | "B" => 1,
        "KB" | "KiB" => 1 << 10,
        "MB" | "MiB" => 1 << 20,
        "GB" | "GiB" => 1 << 30,
        "TB" | "TiB" => 1 << 40,
        _ => 0,
    };
    let value = text[..digits].parse::<u64>().ok().filter(|_| scale > 0);
    match value.and_then(|n| n.checked_mul(scale)) {
        Some(n) => Some(usize::try_from(n).unwrap_or(usize::MAX)),
        None => {
            errs.invalid(path, format!("\"{text}\" is not a size such as 10MB"));
            None
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::config::ReceiverConfig;

    fn parse_yaml(yaml: &str) -> Result<PrometheusReceiverConfig, String> {
        match crate::registry::testing::receiver("prometheus", yaml) {
            Ok(ReceiverConfig::Prometheus(c)) => Ok(c),
            Ok(other) => panic!("not prometheus: {other:?}"),
            Err(e) => Err(e.to_string()),
        }
    }

    #[test]
    fn the_helm_chart_default_reads_with_prometheus_defaults() {
        let c = parse_yaml(
            "config: {scrape_configs: [{job_name: opentelemetry-collector, scrape_interval: 10s,
              static_configs: [{targets: ['10.1.2.3:8888']}]}]}",
        )
        .unwrap();
        let job = &c.jobs[0];
        assert_eq!(job.name, "opentelemetry-collector");
        assert!(job.honor_timestamps && !job.honor_labels);
        assert_eq!(job.body_size_limit_bytes, BODY_SIZE_LIMIT_DEFAULT_BYTES);
        let t = &job.targets[0];
        assert_eq!(
            (t.interval, t.timeout),
            (Duration::from_secs(10), Duration::from_secs(10))
        );
        assert_eq!(t.authority, "10.1.2.3:8888");
        assert_eq!(t.path_and_query, "/metrics");
        assert_eq!(t.labels["job"], "opentelemetry-collector");
        assert_eq!(t.labels["instance"], "10.1.2.3:8888");
        let c = parse_yaml(
            "config: {global: {scrape_interval: 5s, scrape_timeout: 3s},
              scrape_configs: [{job_name: a, static_configs: [{targets: [h:1]}]},
                               {job_name: b, scrape_interval: 1s, static_configs: [{targets: [h:1]}]}]}",
        )
        .unwrap();
        assert_eq!(c.jobs[0].targets[0].timeout, Duration::from_secs(3));
        assert_eq!(c.jobs[0].targets[0].interval, Duration::from_secs(5));
        assert_eq!(c.jobs[1].targets[0].timeout, Duration::from_secs(1));
    }

    #[test]
    fn what_is_not_built_is_refused_by_name() {
        let err = parse_yaml(
            "{target_allocator: {}, trim_metric_suffixes: true,
              config: {remote_write: [], global: {query_log_file: x},
               scrape_configs: [{job_name: k, kubernetes_sd_configs: [{role: pod}], scheme: ftp,
                 follow_redirects: true, basic_auth: {}}]}}",
        )
        .unwrap_err();
        for wanted in [
            "receivers::prometheus::target_allocator: is not supported",
            "receivers::prometheus::trim_metric_suffixes: only false",
            "receivers::prometheus::config::remote_write: is not supported",
            "receivers::prometheus::config::global::query_log_file: is not supported",
            "scrape_configs[0]::kubernetes_sd_configs: is not supported",
            "scrape_configs[0]::basic_auth: is not supported",
            "scrape_configs[0]::scheme: \"ftp\": must be http or https",
            "scrape_configs[0]::follow_redirects: redirects are not followed",
        ] {
            assert!(err.contains(wanted), "{wanted}\n{err}");
        }
    }

    #[test]
    fn prometheus_checks_hold() {
        for (yaml, wanted) in [
            ("{}", "config: is required"),
            ("config: {scrape_configs: []}", "lists no scrape config"),
            ("config: {scrape_configs: [{static_configs: []}]}", "job_name: is required"),
            (
                "config: {scrape_configs: [{job_name: a}, {job_name: a}]}",
                "found multiple scrape configs with job name \"a\"",
            ),
            (
                "config: {scrape_configs: [{job_name: a, scrape_interval: 5s, scrape_timeout: 6s}]}",
                "scrape timeout greater than scrape interval",
            ),
            (
                "config: {scrape_configs: [{job_name: a, scrape_interval: 1.5s}]}",
                "not a valid duration string: \"1.5s\"",
            ),
            (
                "config: {scrape_configs: [{job_name: a, static_configs: [{targets: ['http://h:1/x']}]}]}",
                "targets[0]: \"http://h:1/x\" is not a valid hostname",
            ),
            (
                "config: {scrape_configs: [{job_name: a, scheme: https, tls_config: {ca_ref: x}}]}",
                "unknown field `ca_ref`",
            ),
            (
                "config: {scrape_configs: [{job_name: a, scheme: https, tls_config: {min_version: TLS10}}]}",
                "tls_config::min_version: TLS10 is not supported by this build",
            ),
            (
                "config: {scrape_configs: [{job_name: a, scheme: https, tls_config: {ca_file: /nonexistent/ca.pem}}]}",
                "/nonexistent/ca.pem",
            ),
            (
                "config: {scrape_configs: [{job_name: a, body_size_limit: 10XB}]}",
                "body_size_limit: \"10XB\" is not a size",
            ),
        ] {
            let err = parse_yaml(yaml).unwrap_err();
            assert!(err.contains(wanted), "{yaml}: {err}");
        }
    }

    /// otelcol configs write Prometheus's `$1` as `$$1` (its `$` expansion); the loader's
    /// expansion turns `$$` into `$`, so the rule sees `$1`, and a bare `$1` stays as written.
    #[test]
    fn escaped_replacement_reaches_the_rule_as_dollar_one() {
        let yaml = "receivers:\n  prometheus:\n    config:\n      scrape_configs:\n        - job_name: j\n          static_configs: [{targets: ['h:1']}]\n          relabel_configs:\n            - {source_labels: [__address__], regex: '(h):1', target_label: a, replacement: '$$1-x'}\n            - {source_labels: [__address__], regex: '(h):1', target_label: b, replacement: '$1'}\nexporters: {debug: }\nservice: {pipelines: {metrics: {receivers: [prometheus], exporters: [debug]}}}\n";
        let config = crate::config::parse_str(yaml, "t").unwrap();
        let ReceiverConfig::Prometheus(p) =
            &config.receivers[&crate::config::ComponentId::new("prometheus")]
        else {
            panic!("not prometheus");
        };
        let labels = &p.jobs[0].targets[0].labels;
        assert_eq!(labels["a"], "h-x");
        assert_eq!(labels["b"], "h");
    }

    #[test]
    fn durations_and_sizes_read_as_prometheus_writes_them() {
        assert_eq!(parse_duration("1m30s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("1d").unwrap(), Duration::from_secs(86_400));
        assert!(parse_duration("30s1m").is_err());
        assert!(parse_duration("10").is_err());
        let mut errs = Errors::default();
        assert_eq!(
            bytes(Some(Text("10MB".into())), "p", &mut errs),
            Some(10 << 20)
        );
        assert_eq!(bytes(Some(Text("512".into())), "p", &mut errs), Some(512));
        assert!(errs.is_empty());
    }
}
