//! The `env` and `system` detectors: what they find on this host, as attribute pairs.

use std::time::Duration;

/// Attribute key and string value pairs, in the order found.
pub type Detected = Vec<(String, String)>;

/// Where the system detector takes `host.name` from, tried in order.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostnameSource {
    /// The fully qualified name the resolver gives the host name.
    Dns,
    /// The kernel's host name.
    Os,
}

/// The system detector's attributes and whether each is on by default (otelcol-contrib's
/// defaults: `host.name` and `os.type` on).
pub fn default_system_attributes() -> Vec<(String, bool)> {
    [
        ("host.name", true),
        ("os.type", true),
        ("host.arch", false),
        ("host.id", false),
        ("os.description", false),
    ]
    .into_iter()
    .map(|(k, on)| (k.to_owned(), on))
    .collect()
}

/// `OTEL_RESOURCE_ATTRIBUTES` (`key=value,key=value`, values percent-encoded) as pairs.
pub fn env(value: Option<&str>) -> Result<Detected, String> {
    let Some(value) = value.map(str::trim).filter(|v| !v.is_empty()) else {
        return Ok(Vec::new());
    };
    let mut out = Vec::new();
    for pair in value.split(',') {
        let Some((key, raw)) = pair.split_once('=') else {
            return Err(format!(
                "OTEL_RESOURCE_ATTRIBUTES: \"{pair}\" is not key=value"
            ));
        };
        let key = key.trim();
        if key.is_empty() {
            return Err(format!(
                "OTEL_RESOURCE_ATTRIBUTES: \"{pair}\" has an empty key"
            ));
        }
        let value = percent_decode(raw.trim()).ok_or_else(|| {
            format!("OTEL_RESOURCE_ATTRIBUTES: \"{raw}\" is not valid percent-encoding")
        })?;
        out.push((key.to_owned(), value));
    }
    Ok(out)
}

fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'%' => {
                let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 3;
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8(out).ok()
}

/// The system detector's enabled attributes on this host. The DNS source runs off the
/// calling thread and is given up after `timeout` (then the next source is tried).
pub fn system(
    sources: &[HostnameSource],
    enabled: &[(String, bool)],
    timeout: Duration,
) -> Detected {
    let on = |key: &str| enabled.iter().any(|(k, e)| k == key && *e);
    let mut out = Vec::new();
    if on("host.name") {
        let os = shardgate_io::system::hostname();
        let name = sources.iter().find_map(|source| match source {
            HostnameSource::Os => os.clone(),
            HostnameSource::Dns => os.as_deref().and_then(|h| fqdn(h, timeout)),
        });
        if let Some(name) = name {
            out.push(("host.name".to_owned(), name));
        }
    }
    if on("os.type") {
        out.push(("os.type".to_owned(), std::env::consts::OS.to_owned()));
    }
    if on("host.arch") {
        let arch = match std::env::consts::ARCH {
            "x86_64" => "amd64",
            "aarch64" => "arm64",
            "x86" => "x86",
            other => other,
        };
        out.push(("host.arch".to_owned(), arch.to_owned()));
    }
    if on("host.id") {
        if let Some(id) = std::fs::read_to_string("/etc/machine-id")
            .ok()
            .map(|s| s.trim().to_owned())
            .filter(|s| !s.is_empty())
        {
            out.push(("host.id".to_owned(), id));
        }
    }
    if on("os.description") {
        if let Ok(release) = std::fs::read_to_string("/proc/sys/kernel/osrelease") {
            out.push((
                "os.description".to_owned(),
                format!("Linux {}", release.trim()),
            ));
        }
    }
    out
}

fn fqdn(host: &str, timeout: Duration) -> Option<String> {
    let (tx, rx) = std::sync::mpsc::channel();
    let host = host.to_owned();
    std::thread::Builder::new()
        .name("resourcedetection-dns".into())
        .spawn(move || {
            let _ = tx.send(shardgate_io::system::canonical_name(&host));
        })
        .ok()?;
    rx.recv_timeout(timeout).ok().flatten()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn env_pairs_are_split_trimmed_and_percent_decoded() {
        assert_eq!(
            env(Some(
                "service.name=checkout, deployment.environment=prod%20eu,k=a%3Db"
            ))
            .unwrap(),
            vec![
                ("service.name".to_owned(), "checkout".to_owned()),
                ("deployment.environment".to_owned(), "prod eu".to_owned()),
                ("k".to_owned(), "a=b".to_owned()),
            ]
        );
        assert_eq!(env(None).unwrap(), Vec::<(String, String)>::new());
        assert!(env(Some("novalue")).unwrap_err().contains("not key=value"));
        assert!(env(Some("k=%zz")).unwrap_err().contains("percent-encoding"));
    }

    #[test]
    fn the_system_detector_sets_its_default_attributes() {
        let found = system(
            &[HostnameSource::Os],
            &default_system_attributes(),
            Duration::from_secs(1),
        );
        let keys: Vec<&str> = found.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["host.name", "os.type"]);
        assert_eq!(found[0].1, shardgate_io::system::hostname().unwrap());
        assert_eq!(found[1].1, "linux");
    }
}
