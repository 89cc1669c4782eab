//! Browser CORS for the OTLP/HTTP receiver, as otelcol's `confighttp.cors` (rs/cors) does.
//!
//! - A preflight is `OPTIONS` with `Origin` and `Access-Control-Request-Method`. When the
//!   origin matches `allowed_origins` (`*` in an entry matches any run of characters), the
//!   method is POST and every requested header is allowed, it is answered 204 with the
//!   `Access-Control-Allow-*` headers; otherwise 204 without any CORS header, so the browser
//!   refuses the actual request.
//! - An actual request from a matching origin gets `Access-Control-Allow-Origin` (the origin
//!   itself, with `Access-Control-Allow-Credentials: true`, as rs/cors answers when
//!   credentials are allowed) and `Vary: Origin`.

use crate::config::CorsConfig;

/// Request headers always allowed in a preflight (rs/cors's defaults, and what an OTLP/JSON
/// browser exporter sends).
const ALWAYS_ALLOWED_HEADERS: &[&str] = &["origin", "accept", "content-type", "x-requested-with"];

/// A receiver's CORS policy.
#[derive(Debug, Clone)]
pub struct Cors {
    origins: Vec<String>,
    headers: Vec<String>,
    any_header: bool,
    max_age_secs: u64,
}

impl Cors {
    /// The policy `config` describes.
    pub fn new(config: &CorsConfig) -> Cors {
        Cors {
            origins: config.allowed_origins.clone(),
            headers: config
                .allowed_headers
                .iter()
                .map(|h| h.to_ascii_lowercase())
                .collect(),
            any_header: config.allowed_headers.iter().any(|h| h == "*"),
            max_age_secs: config.max_age_secs,
        }
    }

    /// Whether `origin` matches an allowed origin pattern.
    pub fn origin_allowed(&self, origin: &str) -> bool {
        self.origins.iter().any(|p| wildcard_match(p, origin))
    }

    /// Headers for an actual (non-preflight) request from `origin`.
    pub fn actual_headers(&self, origin: Option<&str>) -> Vec<(&'static str, String)> {
        match origin {
            Some(origin) if self.origin_allowed(origin) => vec![
                ("Access-Control-Allow-Origin", origin.to_owned()),
                ("Access-Control-Allow-Credentials", "true".to_owned()),
                ("Vary", "Origin".to_owned()),
            ],
            _ => Vec::new(),
        }
    }

    /// Headers answering a preflight, or `None` when it is not allowed.
    pub fn preflight_headers(
        &self,
        origin: Option<&str>,
        method: Option<&str>,
        request_headers: Option<&str>,
    ) -> Option<Vec<(&'static str, String)>> {
        let origin = origin.filter(|o| self.origin_allowed(o))?;
        if method.is_none_or(|m| m.trim() != "POST") {
            return None;
        }
        let requested: Vec<String> = request_headers
            .unwrap_or("")
            .split(',')
            .map(|h| h.trim().to_ascii_lowercase())
            .filter(|h| !h.is_empty())
            .collect();
        let allowed = |h: &String| {
            self.any_header
                || ALWAYS_ALLOWED_HEADERS.contains(&h.as_str())
                || self.headers.contains(h)
        };
        if !requested.iter().all(allowed) {
            return None;
        }
        let mut out = vec![
            ("Access-Control-Allow-Origin", origin.to_owned()),
            ("Access-Control-Allow-Credentials", "true".to_owned()),
            ("Access-Control-Allow-Methods", "POST".to_owned()),
            (
                "Vary",
                "Origin, Access-Control-Request-Method, Access-Control-Request-Headers".to_owned(),
            ),
        ];
        if !requested.is_empty() {
            out.push(("Access-Control-Allow-Headers", requested.join(", ")));
        }
        if self.max_age_secs > 0 {
            out.push(("Access-Control-Max-Age", self.max_age_secs.to_string()));
        }
        Some(out)
    }
}

/// `*` matches any run of characters (including none); everything else literally, ignoring
/// ASCII case as origins are case-insensitive in scheme and host.
fn wildcard_match(pattern: &str, text: &str) -> bool {
    let pattern = pattern.to_ascii_lowercase();
    let text = text.to_ascii_lowercase();
    let mut parts = pattern.split('*');
    let Some(first) = parts.next() else {
        return false;
    };
    let Some(mut rest) = text.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = parts.collect();
    let Some((last, middle)) = parts.split_last() else {
        return rest.is_empty();
    };
    for part in middle {
        match rest.find(part) {
            Some(i) => rest = &rest[i + part.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn cors() -> Cors {
        Cors::new(&CorsConfig {
            allowed_origins: vec![
                "https://*.example.com".into(),
                "http://localhost:3000".into(),
            ],
            allowed_headers: vec!["X-Custom".into()],
            max_age_secs: 600,
        })
    }

    #[test]
    fn wildcards() {
        assert!(wildcard_match("*", "http://x"));
        assert!(wildcard_match(
            "https://*.example.com",
            "https://a.b.example.com"
        ));
        assert!(!wildcard_match(
            "https://*.example.com",
            "https://example.com"
        ));
        assert!(!wildcard_match(
            "https://*.example.com",
            "https://a.example.com.evil"
        ));
        assert!(wildcard_match(
            "http://localhost:3000",
            "HTTP://LOCALHOST:3000"
        ));
        assert!(!wildcard_match(
            "http://localhost:3000",
            "http://localhost:30000"
        ));
        assert!(wildcard_match("a*b*c", "abc"));
        assert!(!wildcard_match("a*bc*c", "abc"));
    }

    #[test]
    fn preflight() {
        let c = cors();
        let h = c
            .preflight_headers(
                Some("https://app.example.com"),
                Some("POST"),
                Some("content-type, x-custom"),
            )
            .unwrap();
        assert!(h.contains(&(
            "Access-Control-Allow-Origin",
            "https://app.example.com".into()
        )));
        assert!(h.contains(&("Access-Control-Max-Age", "600".into())));
        assert!(c
            .preflight_headers(Some("https://evil.com"), Some("POST"), None)
            .is_none());
        assert!(c
            .preflight_headers(Some("http://localhost:3000"), Some("PUT"), None)
            .is_none());
        assert!(c
            .preflight_headers(Some("http://localhost:3000"), Some("POST"), Some("x-other"))
            .is_none());
        assert!(c.actual_headers(Some("https://evil.com")).is_empty());
        assert_eq!(c.actual_headers(Some("http://localhost:3000")).len(), 3);
    }
}
