//! The command line: run, `validate`, `components`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config;

/// shardgate: a thread-per-core OpenTelemetry Collector.
#[derive(Debug, Parser)]
#[command(name = "shardgate", version, about)]
struct Cli {
    /// Collector config (YAML, the official collector's shape). Without it the embedded
    /// default runs: otlp receiver → batch → debug exporter.
    #[arg(long, global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Tuning profile overlaid on the config's `shards:` section (see tuning/).
    #[arg(long, global = true, value_name = "FILE")]
    profile: Option<PathBuf>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check a config and exit 0 if it is valid, non-zero with every error otherwise.
    Validate,
    /// List the component types this build supports.
    Components,
}

/// Parses the command line and runs it.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Some(Command::Components) => {
            print!("{}", components());
            ExitCode::SUCCESS
        }
        Some(Command::Validate) => validate(cli.config, cli.profile),
        None => run(cli.config, cli.profile),
    }
}

fn components() -> String {
    crate::registry::listing()
}

fn validate(config_path: Option<PathBuf>, profile: Option<PathBuf>) -> ExitCode {
    match config::load(config_path.as_deref(), profile.as_deref()) {
        Ok(_) => {
            let origin = config_path.as_deref().map_or_else(
                || "embedded default".to_owned(),
                |p| p.display().to_string(),
            );
            println!("{origin}: valid");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("{error}");
            ExitCode::FAILURE
        }
    }
}

fn run(config_path: Option<PathBuf>, profile: Option<PathBuf>) -> ExitCode {
    let config = match config::load(config_path.as_deref(), profile.as_deref()) {
        Ok(config) => config,
        Err(error) => {
            eprintln!("invalid configuration: {error}");
            return ExitCode::FAILURE;
        }
    };
    crate::telemetry::init_logs(&config.service.telemetry);
    config.log_warnings();
    match crate::app::run(config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            tracing::error!("{error:#}");
            ExitCode::FAILURE
        }
    }
}
