//! The collector process: start, wait for ready, read logs, signal, scrape.

use super::*;

/// `GET path` over plain HTTP/1.0 (health and metrics endpoints); the status code and body,
/// or `None` when nothing answers (the process is gone).
pub fn http_get(addr: &str, path: &str) -> Option<(u16, String)> {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(addr).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(stream, "GET {path} HTTP/1.0\r\nHost: {addr}\r\n\r\n").ok()?;
    let mut text = String::new();
    stream.read_to_string(&mut text).ok()?;
    let status = text.split_whitespace().nth(1)?.parse().ok()?;
    let body = text.split_once("\r\n\r\n").map(|(_, b)| b.to_owned())?;
    Some((status, body))
}

/// The sum, over shards, of the samples of `name` on the Prometheus endpoint at `port` whose
/// labels contain `label` (e.g. `exporter="otlp"`; empty: every sample).
pub fn metric_sum(port: u16, name: &str, label: &str) -> f64 {
    let (status, text) = http_get(&format!("127.0.0.1:{port}"), "/metrics").expect("metrics");
    assert_eq!(status, 200, "{text}");
    text.lines()
        .filter(|l| l.starts_with(name) && l.contains(label))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// Removes ANSI escape sequences (colours) from log text.
pub fn strip_ansi(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            if chars.peek() == Some(&'[') {
                chars.next();
                for c in chars.by_ref() {
                    if c.is_ascii_alphabetic() {
                        break;
                    }
                }
            }
            continue;
        }
        out.push(c);
    }
    out
}

fn pump(mut from: impl Read + Send + 'static, into: Arc<Mutex<Vec<u8>>>) {
    std::thread::spawn(move || {
        let mut buf = [0u8; 16 * 1024];
        loop {
            match from.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => into.lock().unwrap().extend_from_slice(&buf[..n]),
            }
        }
    });
}

/// The path of the binary under test.
pub fn binary() -> &'static str {
    env!("CARGO_BIN_EXE_shardgate")
}

/// A running `shardgate` process; killed on drop if it is still running.
pub struct Collector {
    child: Child,
    stderr: Arc<Mutex<Vec<u8>>>,
    stdout: Arc<Mutex<Vec<u8>>>,
    status: Option<ExitStatus>,
    /// Holds the config file.
    _dir: Option<tempfile::TempDir>,
    /// The config file, when one was written.
    pub config_path: Option<PathBuf>,
}

impl Collector {
    /// Writes `config` to a temp file, runs `shardgate --config FILE` and waits (bounded) for
    /// the ready line. Panics with the process's logs if it exits or is not ready in time.
    pub fn start(config: &Config) -> Collector {
        Collector::start_yaml(&config.yaml())
    }

    /// As [`Collector::start`] with config text.
    pub fn start_yaml(yaml: &str) -> Collector {
        Collector::start_yaml_with_env(yaml, &[])
    }

    /// As [`Collector::start_yaml`] with extra environment variables.
    pub fn start_yaml_with_env(yaml: &str, env: &[(&str, &str)]) -> Collector {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("config.yaml");
        std::fs::write(&path, yaml).expect("write config");
        let args = ["--config".to_owned(), path.display().to_string()];
        let mut collector = Collector::spawn_with_env(&args, env);
        collector._dir = Some(dir);
        collector.config_path = Some(path);
        collector.wait_ready(yaml);
        collector
    }

    /// Runs the binary with `args` (no waiting).
    pub fn spawn(args: &[String]) -> Collector {
        Collector::spawn_with_env(args, &[])
    }

    /// As [`Collector::spawn`] with extra environment variables.
    pub fn spawn_with_env(args: &[String], env: &[(&str, &str)]) -> Collector {
        let mut child = Command::new(binary())
            .args(args)
            .envs(env.iter().copied())
            .env("NO_COLOR", "1")
            .env_remove("RUST_LOG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn shardgate");
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let stdout = Arc::new(Mutex::new(Vec::new()));
        pump(child.stderr.take().expect("stderr"), stderr.clone());
        pump(child.stdout.take().expect("stdout"), stdout.clone());
        Collector {
            child,
            stderr,
            stdout,
            status: None,
            _dir: None,
            config_path: None,
        }
    }

    /// Waits (bounded) for the ready line; panics with the logs if it does not come.
    pub fn wait_ready(&mut self, context: &str) {
        let deadline = Instant::now() + WAIT;
        loop {
            if self.logs().contains(READY_LINE) {
                return;
            }
            if let Some(status) = self.try_status() {
                panic!(
                    "shardgate exited ({status}) before it was ready\nconfig:\n{context}\nlogs:\n{}",
                    self.logs()
                );
            }
            if Instant::now() >= deadline {
                panic!(
                    "shardgate was not ready within {WAIT:?}\nconfig:\n{context}\nlogs:\n{}",
                    self.logs()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Everything written to stderr so far (the logs), without colour codes.
    pub fn logs(&self) -> String {
        strip_ansi(&String::from_utf8_lossy(&self.stderr.lock().unwrap()))
    }

    /// Everything written to stdout so far.
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.stdout.lock().unwrap()).into_owned()
    }

    fn signal(&self, signal: libc::c_int) {
        let pid = libc::pid_t::try_from(self.child.id()).expect("pid fits");
        let rc = unsafe_kill(pid, signal);
        assert_eq!(rc, 0, "kill({pid}, {signal}) failed");
    }

    /// Sends SIGTERM.
    pub fn sigterm(&self) {
        self.signal(libc::SIGTERM);
    }

    /// Sends SIGINT.
    pub fn sigint(&self) {
        self.signal(libc::SIGINT);
    }

    fn try_status(&mut self) -> Option<ExitStatus> {
        if self.status.is_none() {
            self.status = self.child.try_wait().expect("try_wait");
        }
        self.status
    }

    /// Waits up to `timeout` for the process to exit; panics (after killing it) if it does not.
    pub fn wait_exit(&mut self, timeout: Duration) -> ExitStatus {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(status) = self.try_status() {
                // Let the pump threads catch the last lines.
                std::thread::sleep(Duration::from_millis(50));
                return status;
            }
            if Instant::now() >= deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!(
                    "shardgate did not exit within {timeout:?}; killed it. logs:\n{}",
                    self.logs()
                );
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Waits (bounded by `timeout`) for a log line containing `needle`.
    pub fn wait_for_log(&self, needle: &str, timeout: Duration) -> bool {
        wait_until(timeout, || self.logs().contains(needle))
    }
}

#[allow(unsafe_code)]
fn unsafe_kill(pid: libc::pid_t, signal: libc::c_int) -> libc::c_int {
    // SAFETY: kill(2) takes plain integers and touches no memory of ours.
    unsafe { libc::kill(pid, signal) }
}

impl Drop for Collector {
    fn drop(&mut self) {
        if self.try_status().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
