//! Errors of the per-core runtime.

/// Why shards could not start or did not stop cleanly.
#[derive(Debug, thiserror::Error)]
pub enum ShardError {
    /// A configured CPU is not one this process may run on.
    #[error("CPU {cpu} is not available to this process (available: {available:?}); check shards.cores and the process's CPU affinity or cgroup cpuset")]
    CpuNotPresent {
        /// The CPU id asked for.
        cpu: usize,
        /// CPUs this process may use.
        available: Vec<usize>,
    },
    /// No CPU was configured or available.
    #[error("no CPUs to run shards on")]
    NoCpus,
    /// io_uring is switched off by `kernel.io_uring_disabled`.
    #[error("io_uring is disabled on this host (sysctl kernel.io_uring_disabled = {0}); shardgate needs it: set it to 0{1}")]
    IoUringDisabled(u8, &'static str),
    /// RLIMIT_MEMLOCK is below what the shards lock for io_uring.
    #[error("RLIMIT_MEMLOCK is {limit_bytes} bytes but {shards} shard(s) need about {needed_bytes}; raise it (ulimit -l, LimitMEMLOCK= in systemd) or lower shards.io_memory_kib")]
    MemlockTooLow {
        /// The soft limit.
        limit_bytes: u64,
        /// What the shards need.
        needed_bytes: u64,
        /// How many shards.
        shards: usize,
    },
    /// The executor of a shard could not be built (io_uring setup failed).
    #[error("shard {shard} on CPU {cpu}: cannot start its io_uring executor: {reason}{hint}")]
    Executor {
        /// Shard index.
        shard: usize,
        /// Its CPU.
        cpu: usize,
        /// glommio's reason.
        reason: String,
        /// What to check.
        hint: &'static str,
    },
    /// A shard thread could not be spawned.
    #[error("cannot spawn the thread of shard {shard}: {source}")]
    Thread {
        /// Shard index.
        shard: usize,
        /// The system's reason.
        source: std::io::Error,
    },
    /// A shard failed while starting or running.
    #[error("shard {shard} on CPU {cpu} failed: {reason}")]
    Failed {
        /// Shard index.
        shard: usize,
        /// Its CPU.
        cpu: usize,
        /// What went wrong.
        reason: String,
    },
    /// Shards did not report ready in time.
    #[error("shards did not become ready within {0:?}")]
    StartTimeout(std::time::Duration),
    /// A shard thread panicked.
    #[error("shard {0} panicked")]
    Panicked(usize),
    /// A control message could not be handed to some shards: their inboxes stayed full.
    #[error("control message {message} not delivered to shard(s) {shards:?}: inbox full for {waited:?} (shard stuck?)")]
    Unsent {
        /// The message, as debug text.
        message: String,
        /// The shards that did not get it.
        shards: Vec<usize>,
        /// How long the sender waited for room.
        waited: std::time::Duration,
    },
}
