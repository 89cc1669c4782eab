//! Scrape targets: how a `static_configs` address becomes a target (Prometheus's target
//! labels, then `relabel_configs`), which shard owns it, and the OTLP resource of its data.
//!
//! Target labels, in the order Prometheus builds them:
//! 1. the group's `labels`, then `job`, `__address__`, `__scheme__`, `__metrics_path__`,
//!    `__scrape_interval__`, `__scrape_timeout__` and `__param_<name>` where not already set;
//! 2. `relabel_configs` (which may drop the target or rewrite any of them);
//! 3. `instance` defaults to `__address__`; labels starting with `__` and empty labels go.

use std::time::Duration;

use super::relabel::{self, Labels, Rule};

/// What a job gives each of its targets.
pub(crate) struct JobSettings {
    pub(crate) job: String,
    pub(crate) scheme: String,
    pub(crate) metrics_path: String,
    pub(crate) interval: Duration,
    pub(crate) timeout: Duration,
    pub(crate) params: Vec<(String, Vec<String>)>,
}

/// One target to scrape.
#[derive(Clone, Debug, PartialEq)]
pub struct Target {
    /// `host:port` the client connects to (port 80, or 443 for https, when the address has
    /// none).
    pub authority: String,
    /// The request target: metrics path and query.
    pub path_and_query: String,
    /// `http` or `https`.
    pub scheme: String,
    /// The target's labels after relabeling (`job`, `instance` and the user's).
    pub labels: Labels,
    /// How often it is scraped.
    pub interval: Duration,
    /// How long one scrape may take.
    pub timeout: Duration,
}

/// `address` of a job's static group (with the group's `labels`) as a target after `relabel`;
/// `Ok(None)` when relabeling drops it.
pub(crate) fn resolve(
    job: &JobSettings,
    group: &Labels,
    address: &str,
    relabel: &[Rule],
) -> Result<Option<Target>, String> {
    if address.is_empty() || address.contains('/') || address.contains(char::is_whitespace) {
        return Err(format!("\"{address}\" is not a valid hostname"));
    }
    let mut labels = initial_labels(job, group, address);
    if !relabel::apply(relabel, &mut labels) {
        return Ok(None);
    }
    let address = labels.get("__address__").cloned().unwrap_or_default();
    if address.is_empty() || address.contains('/') {
        return Err(format!(
            "relabeling left no valid __address__ (\"{address}\") for this target"
        ));
    }
    let interval = label_duration(&labels, "__scrape_interval__", job.interval)?;
    let timeout = label_duration(&labels, "__scrape_timeout__", job.timeout)?;
    if timeout > interval {
        return Err(format!(
            "relabeling set a scrape timeout ({timeout:?}) greater than the interval ({interval:?})"
        ));
    }
    let scheme = labels
        .get("__scheme__")
        .cloned()
        .unwrap_or_else(|| job.scheme.clone());
    let default_port = match scheme.as_str() {
        "http" => "80",
        "https" => "443",
        _ => return Err(format!("scheme \"{scheme}\": must be http or https")),
    };
    let path_and_query = request_target(&labels, &job.metrics_path);
    labels
        .entry("instance".to_owned())
        .or_insert_with(|| address.clone());
    labels.retain(|name, value| !name.starts_with("__") && !value.is_empty());
    let authority = match split_host_port(&address) {
        (_, Some(_)) => address.clone(),
        (host, None) => format!("{host}:{default_port}"),
    };
    Ok(Some(Target {
        authority,
        path_and_query,
        scheme,
        labels,
        interval,
        timeout,
    }))
}

/// The group's labels with Prometheus's target labels added where the group has none.
fn initial_labels(job: &JobSettings, group: &Labels, address: &str) -> Labels {
    let mut labels = group.clone();
    let millis = |d: Duration| format!("{}ms", d.as_millis());
    let mut defaults = vec![
        ("job".to_owned(), job.job.clone()),
        ("__address__".to_owned(), address.to_owned()),
        ("__scheme__".to_owned(), job.scheme.clone()),
        ("__metrics_path__".to_owned(), job.metrics_path.clone()),
        ("__scrape_interval__".to_owned(), millis(job.interval)),
        ("__scrape_timeout__".to_owned(), millis(job.timeout)),
    ];
    for (name, values) in &job.params {
        if let Some(first) = values.first() {
            defaults.push((format!("__param_{name}"), first.clone()));
        }
    }
    for (name, value) in defaults {
        labels.entry(name).or_insert(value);
    }
    labels
}

/// The request target: `__metrics_path__` and a query of the `__param_<name>` labels.
fn request_target(labels: &Labels, default_path: &str) -> String {
    let path = labels
        .get("__metrics_path__")
        .map_or(default_path, String::as_str);
    let query: Vec<String> = labels
        .iter()
        .filter_map(|(k, v)| {
            Some(format!(
                "{}={}",
                encode(k.strip_prefix("__param_")?),
                encode(v)
            ))
        })
        .collect();
    if query.is_empty() {
        path.to_owned()
    } else {
        format!("{path}?{}", query.join("&"))
    }
}

fn label_duration(labels: &Labels, name: &str, default: Duration) -> Result<Duration, String> {
    match labels.get(name) {
        None => Ok(default),
        Some(text) => super::config::parse_duration(text)
            .map_err(|e| format!("relabeling set {name}: {e}"))
            .and_then(|d| match d.is_zero() {
                true => Err(format!("relabeling set {name} to 0")),
                false => Ok(d),
            }),
    }
}

/// Percent-encodes a query component.
fn encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// `host` and `port` of `host:port` or `[v6]:port`, as Go's `net.SplitHostPort` splits them;
/// the whole text as host when it has no port.
pub fn split_host_port(address: &str) -> (&str, Option<&str>) {
    if let Some(rest) = address.strip_prefix('[') {
        return match rest.split_once("]:") {
            Some((host, port)) => (host, Some(port)),
            None => (address, None),
        };
    }
    match address.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') => (host, Some(port)),
        _ => (address, None),
    }
}

/// Which of `shards` shards scrapes `target` of `job`: a stable hash (FNV-1a, the same in
/// every shard and every run) of the job and instance, so each target has exactly one owner.
pub fn owner(job: &str, target: &Target, shards: usize) -> usize {
    let instance = target.labels.get("instance").map_or("", String::as_str);
    let hash = fnv1a(&[
        job.as_bytes(),
        b"\0",
        instance.as_bytes(),
        b"\0",
        target.path_and_query.as_bytes(),
    ]);
    (hash % shards.max(1) as u64) as usize
}

/// Where in its interval a target's scrapes fall: Prometheus spreads targets over the
/// interval by a hash of the target, so that they do not all scrape at once.
pub fn offset(job: &str, target: &Target) -> Duration {
    let instance = target.labels.get("instance").map_or("", String::as_str);
    let hash = fnv1a(&[instance.as_bytes(), b"\0", job.as_bytes()]);
    let interval_ns = target.interval.as_nanos().max(1);
    Duration::from_nanos((u128::from(hash) % interval_ns) as u64)
}

fn fnv1a(parts: &[&[u8]]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in parts.iter().flat_map(|p| p.iter()) {
        hash ^= u64::from(*byte);
        hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
    }
    hash
}

/// The resource otelcol's receiver gives a target's data: `service.name` (job),
/// `server.address` (the instance's host, unless loopback, unspecified or `localhost`),
/// `service.instance.id` (instance), `server.port`, `url.scheme`.
pub fn resource_attributes(job: &str, instance: &str, scheme: &str) -> Vec<(String, String)> {
    let (host, port) = split_host_port(instance);
    let mut attributes = vec![("service.name".to_owned(), job.to_owned())];
    if is_discernible(host) {
        attributes.push(("server.address".to_owned(), host.to_owned()));
    }
    attributes.push(("service.instance.id".to_owned(), instance.to_owned()));
    attributes.push(("server.port".to_owned(), port.unwrap_or("").to_owned()));
    attributes.push(("url.scheme".to_owned(), scheme.to_owned()));
    attributes
}

fn is_discernible(host: &str) -> bool {
    match host.parse::<std::net::IpAddr>() {
        Ok(ip) => !ip.is_loopback() && !ip.is_unspecified(),
        Err(_) => host != "localhost",
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn settings() -> JobSettings {
        JobSettings {
            job: "j".into(),
            scheme: "http".into(),
            metrics_path: "/metrics".into(),
            interval: Duration::from_secs(10),
            timeout: Duration::from_secs(5),
            params: vec![("format".into(), vec!["prom etheus".into()])],
        }
    }

    #[test]
    fn a_static_address_becomes_a_target() {
        let group: Labels = [("env".to_owned(), "prod".to_owned())].into();
        let t = resolve(&settings(), &group, "node", &[]).unwrap().unwrap();
        assert_eq!(t.authority, "node:80");
        assert_eq!(t.path_and_query, "/metrics?format=prom%20etheus");
        let names: Vec<&str> = t.labels.keys().map(String::as_str).collect();
        assert_eq!(names, ["env", "instance", "job"]);
        assert_eq!(t.labels["instance"], "node");
        assert!(resolve(&settings(), &Labels::new(), "a/b", &[]).is_err());
    }

    #[test]
    fn resource_attributes_as_otelcol_sets_them() {
        let attrs = resource_attributes("j", "10.0.0.5:8888", "http");
        let keys: Vec<&str> = attrs.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            keys,
            [
                "service.name",
                "server.address",
                "service.instance.id",
                "server.port",
                "url.scheme"
            ]
        );
        assert_eq!(attrs[3].1, "8888");
        let local = resource_attributes("j", "127.0.0.1:9", "http");
        assert!(!local.iter().any(|(k, _)| k == "server.address"));
        assert_eq!(split_host_port("[::1]:80"), ("::1", Some("80")));
        assert_eq!(split_host_port("::1"), ("::1", None));
    }

    #[test]
    fn each_target_has_one_owner_and_the_owners_spread() {
        let mut seen = [0usize; 2];
        for i in 0..64 {
            let t = resolve(&settings(), &Labels::new(), &format!("h{i}:1"), &[])
                .unwrap()
                .unwrap();
            let shard = owner("j", &t, 2);
            assert_eq!(shard, owner("j", &t, 2));
            seen[shard] += 1;
            assert!(offset("j", &t) < t.interval);
        }
        assert!(seen[0] > 8 && seen[1] > 8, "{seen:?}");
    }
}
