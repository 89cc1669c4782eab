//! The command line: `validate`, `components`, and running with the embedded default config.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::TcpListener;
use std::process::{Command, Output};
use std::time::Duration;

use common::{binary, Backend, Collector, Config, SHUTDOWN_LINE};

/// Runs `shardgate validate --config FILE` on `yaml`; returns (file path, output).
fn validate(yaml: &str) -> (String, Output) {
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("collector.yaml");
    std::fs::write(&path, yaml).expect("write config");
    let output = Command::new(binary())
        .args(["validate", "--config"])
        .arg(&path)
        .env("NO_COLOR", "1")
        .output()
        .expect("run validate");
    (path.display().to_string(), output)
}

fn text(bytes: &[u8]) -> String {
    common::strip_ansi(&String::from_utf8_lossy(bytes))
}

/// A valid config whose pipelines use a debug exporter.
fn good_yaml() -> String {
    Config::to_debug().yaml()
}

/// Asserts `yaml` is refused and that stderr names every one of `needles`.
fn assert_invalid(yaml: &str, needles: &[&str]) {
    let (_, output) = validate(yaml);
    let stderr = text(&output.stderr);
    assert!(
        !output.status.success(),
        "validate must fail for:\n{yaml}\nstderr:\n{stderr}"
    );
    for needle in needles {
        assert!(
            stderr.contains(needle),
            "stderr names {needle:?}; stderr:\n{stderr}\nconfig:\n{yaml}"
        );
    }
}

/// Scenario: `shardgate validate --config FILE` on a complete, correct config (receiver, batch,
/// otlp and debug exporters, three pipelines, shards section). Guarantee: exit 0 and stdout
/// `<file>: valid`.
#[test]
fn validate_accepts_a_good_config() {
    let backend = Backend::start();
    let config = Config::to_backend(&backend);
    for yaml in [config.yaml(), good_yaml()] {
        let (path, output) = validate(&yaml);
        assert!(
            output.status.success(),
            "stderr:\n{}\nconfig:\n{yaml}",
            text(&output.stderr)
        );
        assert_eq!(text(&output.stdout).trim(), format!("{path}: valid"));
    }
}

/// Scenario: `validate` on configs with an unknown key in a receiver, an unknown key in the
/// batch processor, and an unknown top-level section. Guarantee: non-zero exit; stderr names the
/// key path and the offending key.
#[test]
fn validate_rejects_unknown_keys_naming_them() {
    let good = good_yaml();
    let typo = good.replace("        endpoint: 127.0.0.1", "        endpont: 127.0.0.1");
    assert_ne!(typo, good);
    assert_invalid(&typo, &["receivers::otlp::protocols::grpc", "endpont"]);

    let typo = good.replace("    send_batch_size:", "    send_batch_sise:");
    assert_ne!(typo, good);
    assert_invalid(&typo, &["processors::batch", "send_batch_sise"]);

    assert_invalid(
        &format!("{good}extensionz:\n  foo: {{}}\n"),
        &["extensionz"],
    );
}

/// Scenario: `validate` on configs whose pipelines reference components that are not
/// configured (a typo'd exporter id, a typo'd processor id). Guarantee: non-zero exit; stderr
/// names the pipeline's key path and the missing id.
#[test]
fn validate_rejects_undefined_component_references() {
    let good = good_yaml();
    let typo = good.replacen("exporters: [debug]", "exporters: [debgu]", 1);
    assert_ne!(typo, good);
    assert_invalid(&typo, &["service::pipelines::traces", "debgu"]);

    let typo = good.replace("processors: [batch]", "processors: [batchh]");
    assert_ne!(typo, good);
    assert_invalid(&typo, &["service::pipelines", "batchh"]);
}

/// Scenario: `validate` on configs with bad durations: a batch timeout of `5 parsecs`, and a
/// `shards.drain_timeout` of `soon`. Guarantee: non-zero exit; stderr names the key path.
#[test]
fn validate_rejects_bad_durations_naming_the_key() {
    let good = good_yaml();
    let bad = good.replace("    timeout: 200ms", "    timeout: 5 parsecs");
    assert_ne!(bad, good);
    assert_invalid(&bad, &["processors::batch::timeout"]);

    let bad = good.replace("  drain_timeout: 30s", "  drain_timeout: soon");
    assert_ne!(bad, good);
    assert_invalid(&bad, &["shards::drain_timeout"]);
}

/// Scenario: `validate` on otlp exporters whose `retry_on_failure` is out of otelcol's ranges
/// (a negative or infinite multiplier, a randomization factor over 1, a `max_elapsed_time`
/// shorter than one wait, a duration past Go's 292 years). Guarantee: non-zero exit; stderr
/// names each key path; a huge but finite multiplier (it saturates at `max_interval`) is valid.
#[test]
fn validate_rejects_out_of_range_retry_settings_naming_the_key() {
    let backend = Backend::start();
    let with_retry = |retry: &str| {
        let mut config = Config::to_backend(&backend);
        config.exporter = common::Exporter::Otlp {
            endpoint: backend.endpoint(),
            compression: "none".into(),
            retry: Some(retry.into()),
        };
        config.yaml()
    };
    let key = "exporters::otlp::retry_on_failure";
    assert_invalid(
        &with_retry("{multiplier: -1, randomization_factor: 1.5}"),
        &[
            &format!("{key}::multiplier"),
            &format!("{key}::randomization_factor"),
        ],
    );
    assert_invalid(
        &with_retry("{multiplier: .inf}"),
        &[&format!("{key}::multiplier")],
    );
    assert_invalid(
        &with_retry("{initial_interval: 10s, max_interval: 30s, max_elapsed_time: 5s}"),
        &[
            &format!("{key}::max_elapsed_time"),
            "'initial_interval'",
            "'max_interval'",
        ],
    );
    assert_invalid(
        &with_retry("{max_interval: 2562048h}"),
        &[&format!("{key}::max_interval"), "too large"],
    );
    let (_, output) = validate(&with_retry("{multiplier: 1e30}"));
    assert!(output.status.success(), "{}", text(&output.stderr));
}

/// Scenario: `shardgate components`. Guarantee: exit 0, and the list names the otlp receiver
/// and exporter, the batch processor and the debug exporter.
#[test]
fn components_lists_the_supported_types() {
    let output = Command::new(binary())
        .arg("components")
        .output()
        .expect("run components");
    assert!(output.status.success(), "stderr:\n{}", text(&output.stderr));
    let stdout = text(&output.stdout);
    for name in [
        "receivers:",
        "otlp",
        "processors:",
        "batch",
        "exporters:",
        "debug",
    ] {
        assert!(
            stdout.contains(name),
            "components lists {name}; stdout:\n{stdout}"
        );
    }
}

/// Scenario: `shardgate` with no `--config` runs the embedded default (OTLP/gRPC on
/// localhost:4317 → batch → debug); fails, saying so, if port 4317 is taken. Guarantee: it becomes ready,
/// and on SIGTERM it exits 0 after logging `Shutdown complete.`.
#[test]
fn default_config_runs_and_stops_on_sigterm() {
    match TcpListener::bind("127.0.0.1:4317") {
        Ok(probe) => drop(probe),
        Err(error) => panic!(
            "127.0.0.1:4317 is not free ({error}): the embedded default config needs it; \
             stop what listens there and run again"
        ),
    }
    let mut collector = Collector::spawn(&[]);
    collector.wait_ready("(embedded default)");
    collector.sigterm();
    let status = collector.wait_exit(Duration::from_secs(30 + 10));
    let logs = collector.logs();
    assert!(status.success(), "exit status {status}; logs:\n{logs}");
    assert!(logs.contains(SHUTDOWN_LINE), "logs:\n{logs}");
}

/// Scenario: a collector with a config file receives SIGINT (Ctrl-C) right after it is ready.
/// Guarantee: it drains and exits 0 after logging `Shutdown complete.`.
#[test]
fn sigint_stops_cleanly() {
    let backend = Backend::start();
    let config = Config::to_backend(&backend);
    let mut collector = Collector::start(&config);
    collector.sigint();
    let status = collector.wait_exit(Duration::from_secs(30 + 10));
    let logs = collector.logs();
    assert!(status.success(), "exit status {status}; logs:\n{logs}");
    assert!(logs.contains(SHUTDOWN_LINE), "logs:\n{logs}");
}

/// Scenario: `shardgate --config FILE` with an invalid config (undefined exporter). Guarantee:
/// it does not start: non-zero exit with the error (naming the key path) on stderr.
#[test]
fn run_refuses_an_invalid_config() {
    let yaml = good_yaml().replacen("exporters: [debug]", "exporters: [nope]", 1);
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("bad.yaml");
    std::fs::write(&path, &yaml).expect("write");
    let mut collector = Collector::spawn(&["--config".into(), path.display().to_string()]);
    let status = collector.wait_exit(Duration::from_secs(30));
    assert!(!status.success(), "logs:\n{}", collector.logs());
    assert!(
        collector.logs().contains("service::pipelines::traces"),
        "logs:\n{}",
        collector.logs()
    );
}

/// Scenario: `validate` on receivers and exporters whose TLS material is wrong: a missing
/// certificate file, a key that is not the certificate's, a file that is not PEM, an
/// unsupported version and cipher suite. Guarantee: each is refused, the message naming the
/// key path and the file; nothing starts.
#[test]
fn validate_names_the_tls_file_and_key_that_is_wrong() {
    let ca = common::tls::Ca::new("ca");
    let (one, other) = (ca.server(), ca.server());
    let files = common::tls::Files::default();
    let cert = files.write("cert.pem", &one.cert_pem);
    let wrong_key = files.write("other-key.pem", &other.key_pem);
    let garbage = files.write("garbage.pem", "this is not PEM\n");
    let missing = files.path("missing.pem");
    let yaml = |tls: String| {
        format!(
            "receivers:\n  otlp:\n    protocols:\n      grpc:\n        endpoint: 127.0.0.1:0\n        tls: {tls}\nexporters:\n  debug:\nservice:\n  pipelines:\n    traces: {{receivers: [otlp], exporters: [debug]}}\n"
        )
    };
    let at = "receivers::otlp::protocols::grpc::tls";
    assert_invalid(
        &yaml(format!(
            "{{cert_file: {missing}, key_file: {}}}",
            wrong_key.display()
        )),
        &[&format!(
            "{at}::cert_file: cannot read certificate file \"{missing}\""
        )],
    );
    assert_invalid(
        &yaml(format!(
            "{{cert_file: {}, key_file: {}}}",
            cert.display(),
            wrong_key.display()
        )),
        &[&format!(
            "{at}::key_file: the private key does not match the certificate"
        )],
    );
    assert_invalid(
        &yaml(format!(
            "{{cert_file: {}, key_file: {}}}",
            garbage.display(),
            wrong_key.display()
        )),
        &[&format!("{at}::cert_file: no valid PEM certificate found")],
    );
    assert_invalid(
        &yaml(format!(
            "{{cert_file: {}, key_file: {}, min_version: \"1.0\"}}",
            cert.display(),
            wrong_key.display()
        )),
        &[&format!("{at}::min_version: TLS 1.0 is not supported")],
    );
    let exporter = format!(
        "receivers:\n  otlp:\n    protocols:\n      grpc:\n        endpoint: 127.0.0.1:0\nexporters:\n  otlp:\n    endpoint: backend:4317\n    tls: {{ca_file: {}, cipher_suites: [TLS_RSA_WITH_RC4_128_SHA]}}\nservice:\n  pipelines:\n    traces: {{receivers: [otlp], exporters: [otlp]}}\n",
        garbage.display()
    );
    assert_invalid(
        &exporter,
        &["exporters::otlp::tls::cipher_suites: cipher suite \"TLS_RSA_WITH_RC4_128_SHA\" is not supported"],
    );
}

/// Scenario: `validate` on receivers and exporters whose `auth.authenticator` names no
/// enabled extension, or one that cannot authenticate that side. Guarantee: each is refused,
/// naming the key path.
#[test]
fn validate_checks_authenticator_references() {
    let yaml = |extensions: &str, enabled: &str, exporter_auth: &str| {
        format!(
            "extensions:\n{extensions}\nreceivers:\n  otlp:\n    protocols:\n      grpc: {{endpoint: 127.0.0.1:0, auth: {{authenticator: basicauth}}}}\nexporters:\n  otlp: {{endpoint: b:1, tls: {{insecure: true}}, auth: {{authenticator: {exporter_auth}}}}}\nservice:\n  extensions: [{enabled}]\n  pipelines:\n    traces: {{receivers: [otlp], exporters: [otlp]}}\n"
        )
    };
    assert_invalid(
        &yaml("  basicauth: {client_auth: {username: u, password: p}}", "basicauth", "basicauth"),
        &["receivers::otlp::protocols::grpc::auth::authenticator: extension \"basicauth\" cannot authenticate servers"],
    );
    assert_invalid(
        &yaml("  basicauth: {htpasswd: {inline: \"u:p\"}}", "basicauth", "bearertokenauth"),
        &["exporters::otlp::auth::authenticator: authenticator \"bearertokenauth\" must be configured under extensions and listed in service.extensions"],
    );
    assert_invalid(
        &yaml(
            "  basicauth: {htpasswd: {inline: \"u:$apr1$x$y\"}}",
            "basicauth",
            "basicauth",
        ),
        &["extensions::basicauth::htpasswd: line 1: this hash kind is not supported"],
    );
}
