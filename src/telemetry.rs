//! The collector's own logs (`service.telemetry.logs`).

use tracing_subscriber::EnvFilter;

use crate::config::{LogEncoding, TelemetryConfig};

/// Installs the global log subscriber: level from `service.telemetry.logs.level`, console or
/// JSON encoding, to stderr as the official collector does.
pub fn init_logs(config: &TelemetryConfig) {
    let filter = EnvFilter::try_new(&config.logs_level).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_thread_names(true)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()));
    let _ = match config.logs_encoding {
        LogEncoding::Json => builder.json().try_init(),
        LogEncoding::Console => builder.try_init(),
    };
}
