//! Process metrics from `/proc/self`, as otelcol's `otelcol_process_*` report them.

/// Clock ticks per second in `/proc/<pid>/stat`: the kernel reports in USER_HZ, which is
/// fixed at 100 in the Linux user-space ABI whatever the kernel's internal HZ.
const USER_HZ: f64 = 100.0;

/// One reading of the process's resource use.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ProcessStats {
    /// Resident set size, bytes.
    pub rss_bytes: u64,
    /// User + system CPU time, seconds.
    pub cpu_seconds: f64,
}

/// Reads `/proc/self/status` (VmRSS) and `/proc/self/stat` (utime, stime); missing values
/// read as 0 (e.g. not Linux).
pub fn read() -> ProcessStats {
    ProcessStats {
        rss_bytes: rss_bytes().unwrap_or(0),
        cpu_seconds: cpu_seconds().unwrap_or(0.0),
    }
}

/// The process's resident set size, from `/proc/self/status` (VmRSS).
pub fn rss_bytes() -> Option<u64> {
    parse_rss_bytes(&std::fs::read_to_string("/proc/self/status").ok()?)
}

/// User + system CPU seconds the process has used, from `/proc/self/stat`.
pub fn cpu_seconds() -> Option<f64> {
    parse_cpu_seconds(&std::fs::read_to_string("/proc/self/stat").ok()?)
}

fn parse_rss_bytes(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Fields 14 and 15 (utime, stime); the command name (field 2) may hold spaces and `)`, so
/// count from the last `)`.
fn parse_cpu_seconds(stat: &str) -> Option<f64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace().skip(11);
    let utime: f64 = fields.next()?.parse().ok()?;
    let stime: f64 = fields.next()?.parse().ok()?;
    Some((utime + stime) / USER_HZ)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn parses_proc_files() {
        let stat = "42 (a b) c) S 1 2 3 4 5 6 7 8 9 10 250 150 0 0";
        assert_eq!(parse_cpu_seconds(stat), Some(4.0));
        assert_eq!(
            parse_rss_bytes("Name: x\nVmRSS:\t  2048 kB\n"),
            Some(2048 * 1024)
        );
        let now = read();
        assert!(now.rss_bytes > 0);
        assert!(rss_bytes().unwrap() > 0);
    }
}
