//! Rendering the collector's YAML for the common test shapes.

use super::*;

/// Where the pipelines send their data.
#[derive(Clone, Debug)]
pub enum Exporter {
    /// The `otlp` exporter to a backend at `endpoint` with `compression` (`none`, `gzip`).
    Otlp {
        /// `127.0.0.1:PORT`.
        endpoint: String,
        /// `none` or `gzip`.
        compression: String,
        /// Raw YAML of `retry_on_failure:` (a flow mapping), if any.
        retry: Option<String>,
    },
    /// The `debug` exporter.
    Debug,
}

/// The `batch` processor's settings.
#[derive(Clone, Debug)]
pub struct Batch {
    /// `send_batch_size`.
    pub send_batch_size: u32,
    /// `timeout`, e.g. `200ms`.
    pub timeout: String,
    /// `send_batch_max_size` (0 = no cap).
    pub send_batch_max_size: u32,
}

impl Default for Batch {
    fn default() -> Self {
        Batch {
            send_batch_size: 8192,
            timeout: "200ms".into(),
            send_batch_max_size: 0,
        }
    }
}

/// A collector config in otelcol's shape, rendered by [`Config::yaml`].
#[derive(Clone, Debug)]
pub struct Config {
    /// The OTLP/gRPC receiver's port on 127.0.0.1.
    pub grpc_port: u16,
    /// `max_recv_msg_size_mib`, if set.
    pub max_recv_msg_size_mib: Option<u32>,
    /// The batch processor, or none (pipelines without processors).
    pub batch: Option<Batch>,
    /// The exporter every pipeline uses.
    pub exporter: Exporter,
    /// `shards.cores` as YAML (`2`, `[0, 1]`, `all`).
    pub cores: String,
    /// `shards.drain_timeout`.
    pub drain_timeout: String,
    /// `service.telemetry.logs.level`.
    pub log_level: String,
}

impl Config {
    /// Receiver on a free port → batch (defaults) → otlp exporter to `backend` (no
    /// compression), two shards, debug logs.
    pub fn to_backend(backend: &Backend) -> Config {
        Config {
            grpc_port: free_port(),
            max_recv_msg_size_mib: None,
            batch: Some(Batch::default()),
            exporter: Exporter::Otlp {
                endpoint: backend.endpoint(),
                compression: "none".into(),
                retry: None,
            },
            cores: two_shards(),
            drain_timeout: "30s".into(),
            log_level: "debug".into(),
        }
    }

    /// As [`Config::to_backend`] but exporting to the `debug` exporter.
    pub fn to_debug() -> Config {
        Config {
            grpc_port: free_port(),
            max_recv_msg_size_mib: None,
            batch: Some(Batch::default()),
            exporter: Exporter::Debug,
            cores: two_shards(),
            drain_timeout: "30s".into(),
            log_level: "debug".into(),
        }
    }

    /// The receiver's endpoint as a URL, for gRPC clients.
    pub fn grpc_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.grpc_port)
    }

    /// The receiver's socket address.
    pub fn grpc_addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.grpc_port))
    }

    /// The config as YAML.
    pub fn yaml(&self) -> String {
        let mut y = String::new();
        y.push_str("receivers:\n  otlp:\n    protocols:\n      grpc:\n");
        y.push_str(&format!("        endpoint: 127.0.0.1:{}\n", self.grpc_port));
        if let Some(mib) = self.max_recv_msg_size_mib {
            y.push_str(&format!("        max_recv_msg_size_mib: {mib}\n"));
        }
        if let Some(b) = &self.batch {
            y.push_str("processors:\n  batch:\n");
            y.push_str(&format!("    send_batch_size: {}\n", b.send_batch_size));
            y.push_str(&format!("    timeout: {}\n", b.timeout));
            y.push_str(&format!(
                "    send_batch_max_size: {}\n",
                b.send_batch_max_size
            ));
        }
        y.push_str("exporters:\n");
        let exporter = match &self.exporter {
            Exporter::Otlp {
                endpoint,
                compression,
                retry,
            } => {
                y.push_str("  otlp:\n");
                y.push_str(&format!("    endpoint: {endpoint}\n"));
                y.push_str("    tls:\n      insecure: true\n");
                y.push_str(&format!("    compression: {compression}\n"));
                y.push_str("    timeout: 10s\n");
                if let Some(retry) = retry {
                    y.push_str(&format!("    retry_on_failure: {retry}\n"));
                }
                "otlp"
            }
            Exporter::Debug => {
                y.push_str("  debug:\n    verbosity: basic\n");
                "debug"
            }
        };
        y.push_str("service:\n  telemetry:\n    logs:\n");
        y.push_str(&format!("      level: {}\n", self.log_level));
        y.push_str("  pipelines:\n");
        let processors = if self.batch.is_some() {
            "[batch]"
        } else {
            "[]"
        };
        for signal in ["traces", "metrics", "logs"] {
            y.push_str(&format!(
                "    {signal}:\n      receivers: [otlp]\n      processors: {processors}\n      exporters: [{exporter}]\n"
            ));
        }
        y.push_str("shards:\n");
        y.push_str(&format!("  cores: {}\n", self.cores));
        y.push_str(&format!("  drain_timeout: {}\n", self.drain_timeout));
        y
    }
}
