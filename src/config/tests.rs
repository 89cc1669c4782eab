//! End-to-end tests of the loading pipeline: embedded defaults, a realistic otelcol config,
//! profile overlay, and error reporting across sections.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use super::*;

fn id(text: &str) -> ComponentId {
    text.parse().unwrap()
}

fn err_of(yaml: &str) -> String {
    parse_str(yaml, "test.yaml").unwrap_err().to_string()
}

const MINIMAL: &str = "
receivers:
  otlp:
    protocols:
      grpc:
exporters:
  debug:
service:
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [debug]
";

#[test]
fn embedded_default_loads() {
    let c = load(None, None).unwrap();
    let ReceiverConfig::Otlp(otlp) = &c.receivers[&id("otlp")] else {
        panic!("not otlp")
    };
    let grpc = otlp.grpc.as_ref().unwrap();
    assert_eq!(grpc.endpoint, "127.0.0.1:4317".parse().unwrap());
    assert!(otlp.http.is_none());
    assert_eq!(
        c.processors[&id("batch")],
        ProcessorConfig::Batch(BatchConfig::default())
    );
    assert_eq!(
        c.exporters[&id("debug")],
        ExporterConfig::Debug(DebugExporterConfig::default())
    );
    for signal in Signal::ALL {
        let pipelines: Vec<_> = c.pipelines_for(signal).collect();
        assert_eq!(pipelines.len(), 1, "{signal}");
        let p = pipelines[0];
        assert_eq!(p.receivers, [id("otlp")]);
        assert_eq!(p.processors, [id("batch")]);
        assert_eq!(p.exporters, [id("debug")]);
    }
    assert_eq!(c.shards, ShardsConfig::default());
    assert_eq!(c.service.telemetry, TelemetryConfig::default());
}

#[test]
fn tuning_default_matches_builtin_defaults() {
    let profile = source::parse_yaml(DEFAULT_PROFILE_YAML, "t").unwrap();
    source::check_profile(&profile, "t").unwrap();
    let mut errs = Errors::default();
    let shards = shards::build(profile.get("shards").cloned().unwrap(), &mut errs);
    assert!(errs.is_empty(), "{errs:?}");
    assert_eq!(shards, ShardsConfig::default());
}

/// Every shipped profile loads without an error, few-connections.yaml with rebalancing on.
#[test]
fn every_tuning_profile_loads() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tuning");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("yaml") {
            continue;
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let origin = path.display().to_string();
        let profile = source::parse_yaml(&text, &origin).unwrap();
        source::check_profile(&profile, &origin).unwrap();
        let mut errs = Errors::default();
        let shards = shards::build(profile.get("shards").cloned().unwrap(), &mut errs);
        assert!(errs.is_empty(), "{origin}: {errs:?}");
        if origin.ends_with("few-connections.yaml") {
            assert!(shards.rebalance.enabled);
            assert_eq!(shards.rebalance.busy_threshold_permille, 600);
        }
        seen += 1;
    }
    assert!(seen >= 5, "profiles found: {seen}");
}

const REALISTIC: &str = r#"
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 0.0.0.0:4317
        max_recv_msg_size_mib: 32
        keepalive:
          server_parameters:
            max_connection_age: 60s
      http:
        endpoint: 0.0.0.0:4318
  otlp/internal:
    protocols:
      grpc:
        endpoint: 127.0.0.1:5317
processors:
  batch:
    send_batch_size: 10000
    send_batch_max_size: 11000
    timeout: 10s
  batch/small:
exporters:
  otlp/backend:
    endpoint: backend.example.com:4317
    tls:
      insecure: true
    headers:
      X-Scope-OrgID: tenant-a
      authorization: "Bearer abc"
    compression: zstd
    timeout: 15s
    retry_on_failure:
      enabled: true
      initial_interval: 1s
      max_interval: 1m30s
      max_elapsed_time: 0
    sending_queue:
      enabled: true
      num_consumers: 4
      queue_size: 5000
      block_on_overflow: true
      sizer: items
  debug:
    verbosity: detailed
  otlp/unused:
    endpoint: http://other:4317
extensions: {}
service:
  telemetry:
    logs:
      level: warn
      encoding: json
    metrics:
      level: detailed
  pipelines:
    traces:
      receivers: [otlp]
      processors: [batch]
      exporters: [otlp/backend]
    traces/2:
      receivers: [otlp, otlp/internal]
      processors: [batch/small]
      exporters: [otlp/backend, debug]
    metrics:
      receivers: [otlp]
      exporters: [otlp/backend]
"#;

#[test]
fn realistic_config_receivers_and_processors() {
    let c = parse_str(REALISTIC, "otelcol.yaml").unwrap();
    let ReceiverConfig::Otlp(otlp) = &c.receivers[&id("otlp")] else {
        panic!("not otlp")
    };
    let grpc = otlp.grpc.as_ref().unwrap();
    assert_eq!(grpc.endpoint, "0.0.0.0:4317".parse().unwrap());
    assert_eq!(grpc.max_recv_msg_size_bytes, 32 * 1024 * 1024);
    assert_eq!(otlp.http.as_ref().unwrap().endpoint.port(), 4318);

    let ProcessorConfig::Batch(batch) = &c.processors[&id("batch")] else {
        panic!("batch config expected")
    };
    assert_eq!(
        (
            batch.send_batch_size,
            batch.send_batch_max_size,
            batch.timeout
        ),
        (10_000, 11_000, Duration::from_secs(10))
    );
}

#[test]
fn realistic_config_exporters() {
    let c = parse_str(REALISTIC, "otelcol.yaml").unwrap();
    let ExporterConfig::Otlp(backend) = &c.exporters[&id("otlp/backend")] else {
        panic!("otlp/backend should be an otlp exporter")
    };
    assert_eq!(backend.endpoint.authority(), "backend.example.com:4317");
    assert_eq!(backend.compression, Compression::Zstd);
    assert_eq!(backend.timeout, Duration::from_secs(15));
    assert_eq!(
        backend.headers,
        vec![
            ("x-scope-orgid".to_owned(), "tenant-a".to_owned()),
            ("authorization".to_owned(), "Bearer abc".to_owned()),
        ]
    );
    let r = &backend.retry_on_failure;
    assert!(r.enabled);
    assert_eq!(r.initial_interval, Duration::from_secs(1));
    assert_eq!(r.max_interval, Duration::from_secs(90));
    assert_eq!(r.max_elapsed_time, Duration::ZERO);
    assert_eq!(r.multiplier, 1.5);
    let q = &backend.sending_queue;
    assert_eq!(
        (
            q.enabled,
            q.num_consumers,
            q.queue_size,
            q.block_on_overflow,
            q.sizer
        ),
        (true, 4, 5000, true, QueueSizer::Items)
    );
    let ExporterConfig::Debug(debug) = &c.exporters[&id("debug")] else {
        panic!("debug should be a debug exporter")
    };
    assert_eq!(debug.verbosity, Verbosity::Detailed);
}

#[test]
fn realistic_config_service() {
    let c = parse_str(REALISTIC, "otelcol.yaml").unwrap();
    let traces: Vec<String> = c
        .pipelines_for(Signal::Traces)
        .map(|p| p.id.to_string())
        .collect();
    assert_eq!(traces, ["traces", "traces/2"]);
    let t2 = c.pipeline(&"traces/2".parse().unwrap()).unwrap();
    assert_eq!(t2.receivers, [id("otlp"), id("otlp/internal")]);
    assert_eq!(t2.exporters, [id("otlp/backend"), id("debug")]);
    assert_eq!(c.pipelines_for(Signal::Logs).count(), 0);
    assert_eq!(c.service.telemetry.logs_level, "warn");
    assert_eq!(c.service.telemetry.logs_encoding, LogEncoding::Json);
    assert_eq!(c.service.telemetry.metrics.level, "detailed");
    let used: Vec<String> = c.used_exporters().map(|(id, _)| id.to_string()).collect();
    assert_eq!(used, ["debug", "otlp/backend"]);
    assert_eq!(c.used_receivers().count(), 2);
}

#[test]
fn env_expansion_feeds_typed_fields() {
    // Variables no test environment defines: defaults and the unset → empty rule.
    let yaml = "
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: \"${env:SHARDGATE_TEST_UNSET_HOST:-127.0.0.1}:${SHARDGATE_TEST_UNSET_PORT:-14317}\"
        max_recv_msg_size_mib: ${env:SHARDGATE_TEST_UNSET_MIB:-8}
exporters:
  otlp:
    endpoint: http://b:4317
    headers:
      api-key: ${env:SHARDGATE_TEST_UNSET_KEY:-012345}
      empty: x${env:SHARDGATE_TEST_UNSET_EMPTY}
      literal: $${env:NOT_EXPANDED}
service:
  pipelines:
    logs: {receivers: [otlp], exporters: [otlp]}
";
    let c = parse_str(yaml, "env.yaml").unwrap();
    let ReceiverConfig::Otlp(otlp) = &c.receivers[&id("otlp")] else {
        panic!("not otlp")
    };
    let grpc = otlp.grpc.as_ref().unwrap();
    assert_eq!(grpc.endpoint, "127.0.0.1:14317".parse().unwrap());
    assert_eq!(grpc.max_recv_msg_size_bytes, 8 << 20);
    let ExporterConfig::Otlp(exp) = &c.exporters[&id("otlp")] else {
        panic!()
    };
    let headers: Vec<(&str, &str)> = exp
        .headers
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(
        headers,
        [
            ("api-key", "012345"),
            ("empty", "x"),
            ("literal", "${env:NOT_EXPANDED}")
        ]
    );
}

#[test]
fn env_errors_name_origin_and_key() {
    let err = err_of("exporters:\n  otlp:\n    endpoint: ${file:/etc/endpoint}\n");
    assert!(
        err.starts_with("test.yaml: exporters::otlp::endpoint: provider \"file\""),
        "{err}"
    );
}

#[test]
fn profile_overlay_deep_merges() {
    let config = format!("{MINIMAL}shards:\n  ring_depth: 64\n  connections_max: 50\n");
    let c = parse_str(&config, "c.yaml").unwrap();
    assert_eq!(c.shards.ring_depth, 64);
    assert_eq!(c.shards.connections_max, 50);
    assert_eq!(
        c.shards.listen_backlog, 1024,
        "embedded profile fills the rest"
    );

    let profile = "shards:\n  cores: [0, 2]\n  ring_depth: 256\n  spin_before_park: 20us\n";
    let c = parse_str_with_profile(&config, "c.yaml", profile, "p.yaml").unwrap();
    assert_eq!(c.shards.cores, CoresSpec::List(vec![0, 2]));
    assert_eq!(
        c.shards.ring_depth, 256,
        "profile file wins over the config"
    );
    assert_eq!(
        c.shards.connections_max, 50,
        "config value kept where the profile is silent"
    );
    assert_eq!(c.shards.spin_before_park, Some(Duration::from_micros(20)));
    assert_eq!(c.shards.drain_timeout, Duration::from_secs(30));

    let err = parse_str_with_profile(MINIMAL, "c.yaml", "receivers: {}", "p.yaml").unwrap_err();
    assert!(
        err.to_string()
            .contains("p.yaml: a tuning profile may only contain"),
        "{err}"
    );
    let err =
        parse_str_with_profile(MINIMAL, "c.yaml", "shards: {ring_depht: 1}", "p.yaml").unwrap_err();
    assert!(
        err.to_string().contains("unknown field `ring_depht`"),
        "{err}"
    );
}

#[test]
fn load_reads_files() {
    let dir = std::env::temp_dir().join(format!("shardgate-config-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let cfg = dir.join("config.yaml");
    let prof = dir.join("profile.yaml");
    std::fs::write(&cfg, MINIMAL).unwrap();
    std::fs::write(&prof, "shards:\n  cores: 2\n").unwrap();
    let c = load(Some(&cfg), Some(&prof)).unwrap();
    assert_eq!(c.shards.cores, CoresSpec::Count(2));
    assert_eq!(c.pipelines_for(Signal::Traces).count(), 1);
    let missing = dir.join("missing.yaml");
    let err = load(Some(&missing), None).unwrap_err();
    assert!(matches!(err, ConfigError::Read { .. }));
    let err = load(None, Some(&missing)).unwrap_err();
    assert!(err.to_string().contains("missing.yaml"), "{err}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn syntax_error_has_line_and_column() {
    let err = parse_str("receivers:\n  otlp:\n    protocols: [grpc\n", "bad.yaml").unwrap_err();
    let ConfigError::Syntax {
        origin,
        line,
        column,
        ..
    } = &err
    else {
        panic!("{err:?}")
    };
    assert_eq!(origin, "bad.yaml");
    assert!(line.is_some() && column.is_some());
}

#[test]
fn unknown_top_level_and_connectors() {
    let err = err_of(&format!("{MINIMAL}processor:\n  batch:\n"));
    assert!(
        err.starts_with("processor: unknown top-level key; expected one of receivers"),
        "{err}"
    );
    let err = err_of(&format!("{MINIMAL}connectors:\n  forward:\n"));
    assert_eq!(
        err,
        "connectors: connectors are not supported by this build"
    );
    assert!(parse_str(&format!("{MINIMAL}connectors: {{}}\n"), "x").is_ok());
}

#[test]
fn unknown_component_types() {
    let err = err_of(&format!(
        "{MINIMAL}  extensions: [pprof]\nextensions:\n  pprof:\n"
    ));
    assert_eq!(
        err,
        "extensions: type \"pprof\" (id \"pprof\") is not in this build: shardgate is not a Go program and serves no pprof profiles; profile it with perf (scripts/profile.sh); this build supports: bearertokenauth, basicauth, health_check, zpages, file_storage, headers_setter"
    );
    let yaml = MINIMAL.replace("exporters:\n  debug:", "exporters:\n  debug:\n  kafak:");
    let err = err_of(&yaml);
    assert_eq!(
        err,
        "exporters: unknown type \"kafak\" for id \"kafak\"; this build supports: otlp, otlp_grpc, otlphttp, otlp_http, debug, loadbalancing, kafka"
    );
}

#[test]
fn undefined_references() {
    let yaml = MINIMAL.replace("exporters: [debug]", "exporters: [debug, otlp/x]");
    assert_eq!(
        err_of(&yaml),
        "service::pipelines::traces: references exporter \"otlp/x\" which is not configured"
    );
    let yaml = MINIMAL.replace(
        "receivers: [otlp]",
        "receivers: [otlp]\n      processors: [batch]",
    );
    assert_eq!(
        err_of(&yaml),
        "service::pipelines::traces: references processor \"batch\" which is not configured"
    );
    let err = err_of(&format!("{MINIMAL}  extensions: [zpages]\n"));
    assert_eq!(
        err,
        "service::extensions: references extension \"zpages\" which is not configured"
    );
}

#[test]
fn pipeline_rules() {
    let err = err_of("receivers:\n  otlp:\n    protocols: {grpc: }\nexporters:\n  debug:\n");
    assert_eq!(
        err,
        "service::pipelines: service must have at least one pipeline"
    );
    let yaml = MINIMAL.replace("      exporters: [debug]\n", "");
    assert_eq!(
        err_of(&yaml),
        "service::pipelines::traces: must have at least one exporter"
    );
    let yaml = format!("{MINIMAL}processors:\n  batch:\n").replace(
        "receivers: [otlp]",
        "receivers: [otlp]\n      processors: [batch, batch]",
    );
    assert_eq!(
        err_of(&yaml),
        "service::pipelines::traces: references processor \"batch\" multiple times"
    );
}

#[test]
fn all_errors_are_reported_one_per_line() {
    let yaml = "
receivers:
  otlp:
    protocols:
      grpc:
        max_recv_msg_size_mib: x
processors:
  batch:
    send_batch_size: 10
    send_batch_max_size: 5
exporters:
  otlp/backend:
    endpont: backend:4317
service:
  pipelines:
    traces:
      receivers: [otlp]
      processors: [batch]
      exporters: [otlp/backend, otlp/missing]
shards:
  cores: 0
";
    let err = parse_str(yaml, "many.yaml").unwrap_err();
    let lines: Vec<String> = err.to_string().lines().map(str::to_owned).collect();
    assert_eq!(lines.len(), 5, "{lines:#?}");
    assert!(lines[0].starts_with(
        "receivers::otlp::protocols::grpc::max_recv_msg_size_mib: invalid type: string \"x\", expected u64"
    ));
    assert!(lines[1].starts_with("processors::batch::send_batch_max_size: "));
    assert!(lines[2].starts_with("exporters::otlp/backend"));
    assert!(lines[2].contains("unknown field `endpont`, expected one of"));
    assert_eq!(lines[3], "shards::cores: must be at least 1");
    assert_eq!(
        lines[4],
        "service::pipelines::traces: references exporter \"otlp/missing\" which is not configured"
    );
    assert_eq!(err.errors().len(), 5);
}

#[test]
fn shared_listen_port_is_rejected() {
    let yaml = MINIMAL.replace(
        "      grpc:\n",
        "      grpc:\n        endpoint: 0.0.0.0:4317\n  otlp/2:\n    protocols:\n      grpc:\n        endpoint: 127.0.0.1:4317\n",
    )
    .replace("receivers: [otlp]", "receivers: [otlp, otlp/2]");
    assert_eq!(
        err_of(&yaml),
        "receivers::otlp/2: listens on 127.0.0.1:4317, which receiver \"otlp\" also uses"
    );
    let unused = MINIMAL.replace(
        "      grpc:\n",
        "      grpc:\n  otlp/2:\n    protocols:\n      grpc:\n",
    );
    assert!(
        parse_str(&unused, "x").is_ok(),
        "an unused receiver is never started"
    );
}

#[test]
fn udp_ports_clash_only_with_udp_ports() {
    let jaeger = |compact: &str, binary: &str| {
        MINIMAL
            .replace(
                "receivers:\n",
                &format!("receivers:\n  jaeger:\n    protocols:\n      thrift_compact:\n        endpoint: {compact}\n      thrift_binary:\n        endpoint: {binary}\n"),
            )
            .replace("receivers: [otlp]", "receivers: [otlp, jaeger]")
    };
    // The UDP port 4317 is not the OTLP receiver's TCP port 4317.
    assert!(parse_str(&jaeger("127.0.0.1:4317", "127.0.0.1:6832"), "x").is_ok());
    assert_eq!(
        err_of(&jaeger("0.0.0.0:6831", "127.0.0.1:6831")),
        "receivers::jaeger: listens on 127.0.0.1:6831 with two protocols"
    );
}

#[test]
fn component_ids_are_checked() {
    let err = err_of(&MINIMAL.replace("exporters:\n  debug:", "exporters:\n  debug:\n  9lives:"));
    assert!(
        err.starts_with("exporters::9lives: invalid id \"9lives\""),
        "{err}"
    );
    let err = err_of(&MINIMAL.replace("exporters:\n  debug:", "exporters:\n  debug:\n  debug/ :"));
    assert!(
        err.starts_with("exporters::debug/: invalid id \"debug/\""),
        "{err}"
    );
}

#[test]
fn top_level_must_be_a_mapping() {
    assert_eq!(
        err_of("- a\n- b\n"),
        "(top level): the configuration must be a YAML mapping"
    );
}

#[test]
fn ignored_keys_and_unset_variables_become_warnings() {
    let yaml = MINIMAL.replace(
        "      grpc:\n",
        "      grpc:\n        read_buffer_size: 524288\n        endpoint: ${env:SHARDGATE_TEST_UNSET_EP}\n",
    );
    let c = parse_str(&yaml, "w.yaml").unwrap();
    assert_eq!(
        c.warnings,
        [
            "w.yaml: receivers::otlp::protocols::grpc::endpoint: environment variable \"SHARDGATE_TEST_UNSET_EP\" is not set; using an empty value",
            "receivers::otlp::protocols::grpc::read_buffer_size: accepted for otelcol compatibility but not acted on by this build",
        ]
    );
    let ReceiverConfig::Otlp(otlp) = &c.receivers[&id("otlp")] else {
        panic!("not otlp")
    };
    assert_eq!(
        otlp.grpc.as_ref().unwrap().endpoint,
        "127.0.0.1:4317".parse().unwrap(),
        "an empty whole-scalar expansion means: use the default"
    );
    assert!(load(None, None).unwrap().warnings.is_empty());
}

#[test]
fn tail_sampling_must_come_before_batch_and_sample_traces_only() {
    let tail = "processors:\n  batch:\n  tail_sampling:\n    policies: [{name: all, type: always_sample}]\n";
    let yaml = format!("{MINIMAL}{tail}").replace(
        "receivers: [otlp]",
        "receivers: [otlp]\n      processors: [batch, tail_sampling]",
    );
    assert_eq!(
        err_of(&yaml),
        "service::pipelines::traces::processors: tail_sampling must come before batch: tail_sampling takes spans before anything acknowledges them"
    );
    let yaml = format!("{MINIMAL}{tail}").replace(
        "receivers: [otlp]",
        "receivers: [otlp]\n      processors: [tail_sampling, batch]",
    );
    assert!(parse_str(&yaml, "test.yaml").is_ok());
    let logs = yaml.replace("    traces:", "    logs:");
    assert!(err_of(&logs).contains("tail_sampling"), "{}", err_of(&logs));
}

/// A routing key that does not apply to a pipeline's signal is refused there, as otelcol
/// refuses it at start.
#[test]
fn loadbalancing_routing_key_must_fit_the_pipeline() {
    let yaml = "
receivers:
  otlp:
    protocols:
      grpc:
exporters:
  loadbalancing:
    routing_key: traceID
    resolver: {static: {hostnames: [b1, b2]}}
service:
  pipelines:
    traces:
      receivers: [otlp]
      exporters: [loadbalancing]
    metrics:
      receivers: [otlp]
      exporters: [loadbalancing]
";
    assert_eq!(
        err_of(yaml),
        "service::pipelines::metrics: exporter \"loadbalancing\" does not support metrics: routing_key traceID applies to traces and logs only"
    );
    assert!(parse_str(&yaml.replace("traceID", "service"), "test.yaml").is_ok());
}
