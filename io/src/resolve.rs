//! Turning a peer's `host:port` into a socket address without blocking the shard.
//!
//! The system resolver (`getaddrinfo`) blocks its caller, for seconds when a DNS server does
//! not answer, and a shard thread must never block: every connection on it would stall. So
//! [`resolve`]:
//! 1. takes an address literal (`127.0.0.1:4317`, `[::1]:4317`) as it is: no thread, no wait;
//! 2. otherwise starts a short-lived helper thread that asks the system resolver and sends the
//!    answer over a oneshot channel; the channel's sender wakes the shard task from that
//!    thread (a glommio waker may be woken from any thread), so the shard keeps running its
//!    other tasks meanwhile;
//! 3. waits at most `timeout` for the answer; past it the caller gets [`ResolveError::Timeout`]
//!    and the helper thread, left to finish alone, drops its late answer and ends when the
//!    system resolver returns.
//!
//! At most [`LOOKUPS_IN_FLIGHT_MAX`] helper threads run at once in the process; a lookup past
//! that fails at once ([`ResolveError::Busy`]) and the caller's retry asks again later.
//! A helper thread inherits its shard's CPU pinning; it spends its life waiting on the network
//! (the system resolver's sockets), so it takes next to nothing from that core.

use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// Helper threads that may wait on the system resolver at once, process-wide. A dead DNS
/// server holds each lookup until the system resolver gives up (seconds, per `resolv.conf`),
/// while exporters retry every few hundred milliseconds: the cap bounds the threads that pile
/// up then, and is far above what live backends ever need at once.
pub const LOOKUPS_IN_FLIGHT_MAX: usize = 64;

/// Helper threads running now.
static LOOKUPS_IN_FLIGHT: AtomicUsize = AtomicUsize::new(0);

/// Why a peer name gave no address.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    /// The system resolver answered with an error (unknown name, no port, resolver failure).
    #[error("{0}")]
    Lookup(String),
    /// The system resolver answered with no address.
    #[error("the name has no address")]
    NoAddress,
    /// The system resolver did not answer in time.
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    /// [`LOOKUPS_IN_FLIGHT_MAX`] lookups are already waiting on the system resolver.
    #[error("{LOOKUPS_IN_FLIGHT_MAX} name lookups are already waiting for the system resolver")]
    Busy,
    /// The helper thread could not be started.
    #[error("cannot start a lookup thread: {0}")]
    Thread(String),
}

/// The first address of `authority` (`host:port`), looked up off the calling thread when it
/// is a name, within `timeout`.
pub async fn resolve(authority: &str, timeout: Duration) -> Result<SocketAddr, ResolveError> {
    resolve_with(authority, timeout, system_lookup).await
}

/// Whether resolving `authority` takes a helper thread (it is not an address literal).
pub fn needs_lookup(authority: &str) -> bool {
    authority.parse::<SocketAddr>().is_err()
}

/// The system resolver's answer for `authority`: what runs on the helper thread.
fn system_lookup(authority: &str) -> Result<Vec<SocketAddr>, String> {
    authority
        .to_socket_addrs()
        .map(Iterator::collect)
        .map_err(|error| error.to_string())
}

type Lookup = fn(&str) -> Result<Vec<SocketAddr>, String>;

/// [`resolve`] with the blocking `lookup` to run on the helper thread.
async fn resolve_with(
    authority: &str,
    timeout: Duration,
    lookup: Lookup,
) -> Result<SocketAddr, ResolveError> {
    if let Ok(address) = authority.parse::<SocketAddr>() {
        return Ok(address);
    }
    let slot = LookupSlot::take()?;
    let (sender, answer) = futures_channel::oneshot::channel();
    let name = authority.to_owned();
    std::thread::Builder::new()
        .name("dns-lookup".into())
        .spawn(move || {
            let _slot = slot;
            // The receiver is gone when the caller timed out: the answer is simply dropped.
            let _ = sender.send(lookup(&name));
        })
        .map_err(|error| ResolveError::Thread(error.to_string()))?;
    let addresses = crate::timer::timeout(timeout, answer)
        .await
        .ok_or(ResolveError::Timeout(timeout))?
        // A dropped sender means the helper thread died before answering.
        .map_err(|_| ResolveError::Lookup("the lookup thread ended without an answer".into()))?
        .map_err(ResolveError::Lookup)?;
    addresses.into_iter().next().ok_or(ResolveError::NoAddress)
}

/// One of the [`LOOKUPS_IN_FLIGHT_MAX`] helper-thread slots, given back on drop.
struct LookupSlot;

impl LookupSlot {
    fn take() -> Result<LookupSlot, ResolveError> {
        let taken = LOOKUPS_IN_FLIGHT.fetch_add(1, Ordering::AcqRel);
        if taken >= LOOKUPS_IN_FLIGHT_MAX {
            LOOKUPS_IN_FLIGHT.fetch_sub(1, Ordering::AcqRel);
            return Err(ResolveError::Busy);
        }
        Ok(LookupSlot)
    }
}

impl Drop for LookupSlot {
    fn drop(&mut self) {
        LOOKUPS_IN_FLIGHT.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use std::cell::Cell;
    use std::rc::Rc;

    fn run<T>(future: impl std::future::Future<Output = T>) -> T {
        let executor = glommio::LocalExecutorBuilder::default().make().unwrap();
        executor.run(future)
    }

    /// A system resolver that takes 300 ms to answer.
    fn slow_lookup(_: &str) -> Result<Vec<SocketAddr>, String> {
        std::thread::sleep(Duration::from_millis(300));
        Ok(vec!["10.1.2.3:4317".parse().unwrap()])
    }

    fn refusing_lookup(authority: &str) -> Result<Vec<SocketAddr>, String> {
        panic!("{authority} is a literal and must not be looked up")
    }

    /// Scenario: a lookup that takes 300 ms while another task runs on the same executor.
    /// Guarantee: the other task keeps running during the lookup (the shard is not blocked),
    /// and the answer reaches the waiting task.
    #[test]
    fn a_slow_lookup_does_not_block_the_executor() {
        let (address, ticks) = run(async {
            let ticks = Rc::new(Cell::new(0u32));
            let counter = ticks.clone();
            let ticker = glommio::spawn_local(async move {
                loop {
                    counter.set(counter.get() + 1);
                    glommio::timer::sleep(Duration::from_millis(10)).await;
                }
            })
            .detach();
            let address = resolve_with("backend.example:4317", Duration::from_secs(5), slow_lookup)
                .await
                .unwrap();
            ticker.cancel();
            (address, ticks.get())
        });
        assert_eq!(address, "10.1.2.3:4317".parse::<SocketAddr>().unwrap());
        assert!(ticks >= 10, "the executor was blocked: {ticks} ticks");
    }

    /// Scenario: address literals, v4 and v6. Guarantee: returned as they are, with no lookup
    /// (the lookup here would panic) and so no thread.
    #[test]
    fn an_address_literal_needs_no_lookup() {
        let (v4, v6) = run(async {
            let v4 = resolve_with("127.0.0.1:4317", Duration::from_secs(1), refusing_lookup).await;
            let v6 = resolve_with("[::1]:80", Duration::from_secs(1), refusing_lookup).await;
            (v4.unwrap(), v6.unwrap())
        });
        assert_eq!(v4, "127.0.0.1:4317".parse::<SocketAddr>().unwrap());
        assert_eq!(v6, "[::1]:80".parse::<SocketAddr>().unwrap());
        assert!(!needs_lookup("127.0.0.1:4317"));
        assert!(needs_lookup("localhost:4317"));
    }

    /// Scenario: the system resolver answers later than the timeout. Guarantee: the caller gets
    /// a timeout error at the timeout, not when the resolver answers.
    #[test]
    fn a_late_answer_is_a_timeout() {
        let (result, waited) = run(async {
            let started = std::time::Instant::now();
            let result = resolve_with(
                "backend.example:4317",
                Duration::from_millis(50),
                slow_lookup,
            )
            .await;
            (result.map_err(|e| e.to_string()), started.elapsed())
        });
        assert_eq!(result.unwrap_err(), "no answer within 50ms");
        assert!(waited < Duration::from_millis(250), "{waited:?}");
    }

    /// Scenario: the real system resolver, for `localhost` and for a name under `.invalid`
    /// (reserved never to resolve, RFC 2606). Guarantee: the first gives a loopback address,
    /// the second a clear error.
    #[test]
    fn the_system_resolver_answers_or_says_why_not() {
        let (local, unknown) = run(async {
            let local = resolve("localhost:4317", Duration::from_secs(5)).await;
            let unknown = resolve("no-such-host.invalid:4317", Duration::from_secs(5)).await;
            (local.unwrap(), unknown.map_err(|e| e.to_string()))
        });
        assert!(local.ip().is_loopback(), "{local}");
        assert_eq!(local.port(), 4317);
        assert!(!unknown.unwrap_err().is_empty());
        let no_port = run(async {
            resolve("localhost", Duration::from_secs(5))
                .await
                .map_err(|e| e.to_string())
        });
        assert!(no_port.is_err());
    }
}
