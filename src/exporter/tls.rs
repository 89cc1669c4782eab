//! An exporter's TLS client on one shard: the config new connections use, rebuilt from its
//! files once `reload_interval` has passed since the last build (checked when connecting, so
//! an idle exporter reads nothing).

use std::cell::RefCell;
use std::time::{Duration, Instant};

use shardgate_io::tls::{self, ClientSpec, ClientTls};

use crate::config::{ClientTlsConfig, ComponentId};

/// One exporter instance's TLS client.
pub struct ExporterTls {
    id: ComponentId,
    spec: ClientSpec,
    reload_interval: Option<Duration>,
    current: RefCell<(ClientTls, Instant)>,
}

impl ExporterTls {
    /// Builds the client of exporter `id` for a server named `host` (or the override).
    pub fn new(id: &ComponentId, config: &ClientTlsConfig, host: &str) -> Result<Self, String> {
        ExporterTls::at(&format!("exporters::{id}::tls"), id, config, host)
    }

    /// As [`ExporterTls::new`], for component `id` whose settings are at `path` (a
    /// receiver that connects out, such as a scraper).
    pub fn at(
        path: &str,
        id: &ComponentId,
        config: &ClientTlsConfig,
        host: &str,
    ) -> Result<Self, String> {
        let name = config.server_name_override.as_deref().unwrap_or(host);
        let name = tls::server_name(name).map_err(|e| format!("{path}: {e}"))?;
        let built = tls::client_config(&config.spec).map_err(|e| format!("{path}: {e}"))?;
        Ok(ExporterTls {
            id: id.clone(),
            spec: config.spec.clone(),
            reload_interval: config.reload_interval,
            current: RefCell::new((
                ClientTls {
                    config: built,
                    name,
                },
                Instant::now(),
            )),
        })
    }

    /// The TLS client for a new connection; past `reload_interval` the files are read again
    /// first (a failed reload keeps the previous client and is logged).
    pub fn for_connection(&self) -> ClientTls {
        let mut current = self.current.borrow_mut();
        if let Some(interval) = self.reload_interval {
            if current.1.elapsed() >= interval {
                current.1 = Instant::now();
                match tls::client_config(&self.spec) {
                    Ok(config) => current.0.config = config,
                    Err(error) => tracing::warn!(
                        exporter = %self.id,
                        %error,
                        "TLS reload failed; new connections keep the previous settings"
                    ),
                }
            }
        }
        current.0.clone()
    }
}
