//! The admin listeners, off the data path: the Prometheus endpoint with the status page
//! (`service.telemetry.metrics`), the `health_check` extension and the `zpages` extension.
//!
//! Each runs on its own plain `std::thread` with a small blocking HTTP server (`tiny_http`:
//! admin traffic is a scrape every few seconds, so a thread-per-endpoint server is simpler
//! than putting it on a shard and keeps shards from ever waiting on it). The threads only read
//! the [`Registry`]; shards never block on them. They are bound on the main thread before the
//! shards start, so `health_check` answers 503 during startup.

pub mod metrics;
pub mod respond;
pub mod status;

use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::Arc;

use crate::config::{Config, ExtensionConfig};
use crate::observe::Registry;

/// How long an admin thread waits for a request before doing its periodic work.
const POLL_INTERVAL: std::time::Duration = std::time::Duration::from_millis(200);

/// Why an admin listener could not start.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// The configured `host:port` does not resolve.
    #[error("{path}: cannot resolve \"{endpoint}\": {reason}")]
    Resolve {
        /// Config key path of the endpoint.
        path: String,
        /// The endpoint as written.
        endpoint: String,
        /// Why.
        reason: String,
    },
    /// The listener could not bind (port taken, no permission).
    #[error("{path}: cannot listen on {addr}: {reason}; free the port or set another endpoint")]
    Bind {
        /// Config key path of the endpoint.
        path: String,
        /// The address.
        addr: SocketAddr,
        /// Why.
        reason: String,
    },
    /// The thread could not be spawned.
    #[error("cannot start the {what} thread: {source}")]
    Thread {
        /// Which listener.
        what: &'static str,
        /// The OS error.
        source: std::io::Error,
    },
}

/// Binds a listener on `endpoint` (first resolved address).
fn bind(path: &str, endpoint: &str) -> Result<(tiny_http::Server, SocketAddr), AdminError> {
    let addr = endpoint
        .to_socket_addrs()
        .map_err(|e| AdminError::Resolve {
            path: path.to_owned(),
            endpoint: endpoint.to_owned(),
            reason: e.to_string(),
        })?
        .next()
        .ok_or_else(|| AdminError::Resolve {
            path: path.to_owned(),
            endpoint: endpoint.to_owned(),
            reason: "no address".to_owned(),
        })?;
    let server = tiny_http::Server::http(addr).map_err(|e| AdminError::Bind {
        path: path.to_owned(),
        addr,
        reason: e.to_string(),
    })?;
    Ok((server, addr))
}

/// Runs `serve` on a thread of its own named `admin-<what>`.
fn spawn(what: &'static str, serve: impl FnOnce() + Send + 'static) -> Result<(), AdminError> {
    std::thread::Builder::new()
        .name(format!("admin-{what}"))
        .spawn(serve)
        .map(|_| ())
        .map_err(|source| AdminError::Thread { what, source })
}

/// Starts every configured admin listener. A taken default metrics port (`localhost:8888`,
/// not written in the config) only warns, so several collectors can run on one host; any
/// other failure is returned.
pub fn start(config: &Config, registry: &Arc<Registry>) -> Result<(), AdminError> {
    let metrics = &config.service.telemetry.metrics;
    if let Some(endpoint) = &metrics.endpoint {
        match bind("service::telemetry::metrics", endpoint) {
            Ok((server, addr)) => {
                let registry = registry.clone();
                spawn("metrics", move || metrics::serve(server, &registry))?;
                tracing::info!(%addr, "Serving metrics at /metrics and a status page at /status");
            }
            Err(error) if !metrics.explicit => {
                tracing::warn!(%error, "the default metrics endpoint is not available; self-metrics are not served");
            }
            Err(error) => return Err(error),
        }
    }
    for id in &config.service.extensions {
        let path = format!("extensions::{id}::endpoint");
        let registry = registry.clone();
        match config.extensions.get(id) {
            Some(ExtensionConfig::HealthCheck(hc)) => {
                let (server, addr) = bind(&path, &hc.endpoint)?;
                let url_path = hc.path.clone();
                spawn("health", move || {
                    crate::extension::health_check::serve(server, &registry, &url_path)
                })?;
                tracing::info!(%addr, extension = %id, "Starting health_check extension");
            }
            Some(ExtensionConfig::Zpages(z)) => {
                let (server, addr) = bind(&path, &z.endpoint)?;
                let pages = crate::extension::zpages::Pages::new(config);
                spawn("zpages", move || {
                    crate::extension::zpages::serve(server, &registry, &pages)
                })?;
                tracing::info!(%addr, extension = %id, "Starting zPages extension");
            }
            // Authenticators run inside receivers and exporters; validation reports
            // extensions that are not configured.
            _ => {}
        }
    }
    Ok(())
}
