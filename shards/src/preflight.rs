//! Checks run before any shard starts, so a host that cannot run shardgate says why at once
//! instead of failing inside io_uring setup.

use shardgate_io::system::{self, IoUringPolicy};

use crate::ShardError;

/// glommio refuses to start with less locked memory than this (its own floor).
const MEMLOCK_FLOOR_BYTES: u64 = 512 * 1024;

/// CPUs this process may run on (its affinity mask), in ascending order.
pub fn available_cpus() -> Vec<usize> {
    let mut cpus: Vec<usize> = core_affinity::get_core_ids()
        .unwrap_or_default()
        .into_iter()
        .map(|core| core.id)
        .collect();
    cpus.sort_unstable();
    cpus
}

/// Fails if any of `cpus` is outside this process's affinity mask.
pub fn check_cpus(cpus: &[usize]) -> Result<(), ShardError> {
    if cpus.is_empty() {
        return Err(ShardError::NoCpus);
    }
    let available = available_cpus();
    match cpus.iter().find(|cpu| !available.contains(cpu)) {
        Some(&cpu) => Err(ShardError::CpuNotPresent { cpu, available }),
        None => Ok(()),
    }
}

/// Fails if io_uring is switched off for everyone.
pub fn check_io_uring() -> Result<(), ShardError> {
    match system::io_uring_policy() {
        IoUringPolicy::Disabled => Err(ShardError::IoUringDisabled(
            2,
            " (sysctl -w kernel.io_uring_disabled=0)",
        )),
        IoUringPolicy::GroupOnly if !system::is_root() => Err(ShardError::IoUringDisabled(
            1,
            ", or run shardgate in the group named by kernel.io_uring_group",
        )),
        _ => Ok(()),
    }
}

/// Fails if RLIMIT_MEMLOCK cannot hold the registered io memory of every shard.
pub fn check_memlock(shards: usize, io_memory_bytes: usize) -> Result<(), ShardError> {
    memlock_verdict(
        system::is_root(),
        system::memlock_limit_bytes(),
        shards,
        io_memory_bytes,
    )
}

/// The memlock check on given facts: root (CAP_IPC_LOCK) and an unlimited limit always pass.
fn memlock_verdict(
    root: bool,
    limit_bytes: Option<u64>,
    shards: usize,
    io_memory_bytes: usize,
) -> Result<(), ShardError> {
    let Some(limit_bytes) = limit_bytes.filter(|_| !root) else {
        return Ok(());
    };
    let per_shard = u64::try_from(io_memory_bytes).unwrap_or(u64::MAX);
    let needed_bytes = per_shard
        .saturating_mul(u64::try_from(shards).unwrap_or(u64::MAX))
        .max(MEMLOCK_FLOOR_BYTES);
    if limit_bytes < needed_bytes {
        return Err(ShardError::MemlockTooLow {
            limit_bytes,
            needed_bytes,
            shards,
        });
    }
    Ok(())
}

/// The hint added to an executor start failure, from the error text.
pub fn executor_hint(reason: &str) -> &'static str {
    let lower = reason.to_ascii_lowercase();
    if lower.contains("operation not permitted") || lower.contains("permission denied") {
        " (io_uring_setup was refused: a seccomp profile, e.g. a container runtime's default, may block it; allow io_uring_setup/io_uring_enter/io_uring_register)"
    } else if lower.contains("function not implemented") || lower.contains("not supported") {
        " (this kernel lacks io_uring support; shardgate needs Linux 5.8 or newer)"
    } else if lower.contains("cannot allocate memory") || lower.contains("memlock") {
        " (locked memory ran out: raise RLIMIT_MEMLOCK or lower shards.io_memory_kib)"
    } else {
        ""
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cpu_outside_the_mask_is_named() {
        let error = check_cpus(&[100_000]).err().map(|e| e.to_string());
        assert!(error.is_some_and(|e| e.contains("CPU 100000 is not available")));
        assert!(matches!(check_cpus(&[]), Err(ShardError::NoCpus)));
        let first = available_cpus();
        assert!(check_cpus(&first[..1]).is_ok());
    }

    #[test]
    fn memlock_too_low_is_refused_with_the_numbers() {
        let error = memlock_verdict(false, Some(64 * 1024), 2, 512 * 1024)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(error.contains("RLIMIT_MEMLOCK is 65536 bytes"), "{error}");
        assert!(error.contains("need about 1048576"), "{error}");
        assert!(memlock_verdict(true, Some(64 * 1024), 2, 512 * 1024).is_ok());
        assert!(memlock_verdict(false, None, 2, 512 * 1024).is_ok());
        assert!(memlock_verdict(false, Some(8 << 20), 2, 512 * 1024).is_ok());
    }

    #[test]
    fn hints_name_the_likely_cause() {
        assert!(executor_hint("Operation not permitted (os error 1)").contains("seccomp"));
        assert_eq!(executor_hint("something else"), "");
    }
}
