//! Where librdkafka's threads run: on the CPUs this process may use that run no shard.
//!
//! librdkafka starts its threads (one per broker, plus its main and background threads) from
//! the thread that creates the client, and a new thread inherits its creator's CPU mask. So
//! each client is created on a thread of ours whose mask was set first: the process's CPUs
//! minus the shards' ones, or all of them when every CPU runs a shard (then the scheduler
//! shares them; leave a core out of `shards.cores` to keep librdkafka apart).

use std::sync::OnceLock;

/// The CPUs helper threads may use, fixed once the shards' CPUs are known.
static HELPER_CPUS: OnceLock<Vec<usize>> = OnceLock::new();

/// Records the shards' CPUs (at start, before any shard builds a Kafka client).
pub fn set_shard_cpus(shard_cpus: &[usize]) {
    let all = shardgate_shards::preflight::available_cpus();
    let free: Vec<usize> = all
        .iter()
        .copied()
        .filter(|cpu| !shard_cpus.contains(cpu))
        .collect();
    let _ = HELPER_CPUS.set(if free.is_empty() { all } else { free });
}

/// The CPUs a Kafka client thread runs on (empty: not known, leave the mask as inherited).
pub fn helper_cpus() -> &'static [usize] {
    HELPER_CPUS.get().map_or(&[], Vec::as_slice)
}

/// Starts `body` on a new thread named `name`, off the shards' CPUs.
pub fn spawn_off_shard(
    name: &str,
    body: impl FnOnce() + Send + 'static,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    let cpus = helper_cpus();
    std::thread::Builder::new()
        .name(name.to_owned())
        .spawn(move || {
            if !cpus.is_empty() {
                if let Err(error) = shardgate_io::system::set_current_thread_cpus(cpus) {
                    tracing::warn!(%error, ?cpus, "kafka: cannot move the client thread off the shard cores");
                }
            }
            body();
        })
}
