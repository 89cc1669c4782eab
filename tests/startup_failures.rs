//! Startup that cannot succeed fails at once, with a message naming the cause.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;
use std::time::Duration;

fn run_with_config(name: &str, yaml: &str) -> (Option<i32>, String) {
    let dir = std::env::temp_dir().join(format!("shardgate-startup-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("config.yaml");
    std::fs::write(&path, yaml).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_shardgate"))
        .arg("--config")
        .arg(&path)
        .stderr(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Bounded wait: a startup failure must end the process by itself.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while child.try_wait().unwrap().is_none() {
        if std::time::Instant::now() > deadline {
            child.kill().unwrap();
            panic!("shardgate did not exit on a startup failure");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let output = child.wait_with_output().unwrap();
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn config(cores: &str, port: u16) -> String {
    format!(
        "receivers: {{otlp: {{protocols: {{grpc: {{endpoint: \"127.0.0.1:{port}\"}}}}}}}}\n\
         exporters: {{debug: {{}}}}\n\
         service: {{pipelines: {{traces: {{receivers: [otlp], exporters: [debug]}}}}}}\n\
         shards: {{cores: {cores}}}\n"
    )
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Scenario: `shards.cores` names a CPU this process may not run on. Guarantee: exit non-zero
/// with a message naming the CPU and the CPUs that are available.
#[test]
fn a_missing_cpu_is_named() {
    let (code, stderr) = run_with_config("missing-cpu", &config("[4095]", free_port()));
    assert_ne!(code, Some(0));
    assert!(stderr.contains("CPU 4095 is not available"), "{stderr}");
}

/// Scenario: more shards than CPUs. Guarantee: exit non-zero saying how many CPUs there are.
#[test]
fn more_shards_than_cpus_is_refused() {
    let (code, stderr) = run_with_config("too-many", &config("4096", free_port()));
    assert_ne!(code, Some(0));
    assert!(stderr.contains("4096 shards asked for"), "{stderr}");
}

/// Scenario: the receiver's port is taken by another process (here one without
/// SO_REUSEPORT). Guarantee: exit non-zero with
/// the address and the system's reason, instead of running without a receiver.
#[test]
fn a_taken_port_fails_startup() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let (code, stderr) = run_with_config("taken-port", &config("1", port));
    assert_ne!(code, Some(0));
    assert!(stderr.contains(&format!("127.0.0.1:{port}")), "{stderr}");
    assert!(stderr.contains("in use"), "{stderr}");
}

/// Scenario: a second shardgate is started on the port of one already running. Guarantee: the
/// second refuses to start, instead of silently sharing the port through SO_REUSEPORT and
/// splitting the first one's traffic.
#[test]
fn a_second_instance_on_the_same_port_fails_startup() {
    let port = free_port();
    let dir = std::env::temp_dir().join(format!("shardgate-startup-{}-first", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("config.yaml");
    std::fs::write(&path, config("1", port)).unwrap();
    let mut first = Command::new(env!("CARGO_BIN_EXE_shardgate"))
        .arg("--config")
        .arg(&path)
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            std::time::Instant::now() < deadline,
            "first instance never listened"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let (code, stderr) = run_with_config("second", &config("1", port));
    first.kill().unwrap();
    first.wait().unwrap();
    assert_ne!(code, Some(0));
    assert!(stderr.contains("in use"), "{stderr}");
}
