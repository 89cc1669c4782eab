//! Faults a test can provoke in a running collector, to check what happens when a shard
//! panics or a processor fails. Compiled only with the `fault-injection` cargo feature (the
//! test suite turns it on; release builds never have it), and armed only by the environment
//! variable `SHARDGATE_FAULTS` (a comma-separated list of [`Fault`] names) at start.
//!
//! A fault fires on data that carries its marker, so a test chooses which request trips it.

/// A fault that can be armed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    /// `shard_panic`: the shard that receives a request containing [`Fault::marker`] panics.
    ShardPanic,
    /// `rewrite_fails`: an attributes/resource rewrite of a chunk containing the marker fails.
    RewriteFails,
    /// `handoff_stall`: a shard takes nothing out of its hand-off mailbox until it drains, so
    /// a test can hold requests in it (no marker: it applies to every request handed off).
    HandoffStall,
    /// `dns_from_file`: the loadbalancing exporter's dns resolver reads its answers from the
    /// file its `hostname` names (one `ip:port` per line) instead of asking the system, so a
    /// test can change the answers of a "name" (no marker).
    DnsFromFile,
}

impl Fault {
    /// The name used in `SHARDGATE_FAULTS`.
    pub fn name(self) -> &'static str {
        match self {
            Fault::ShardPanic => "shard_panic",
            Fault::RewriteFails => "rewrite_fails",
            Fault::HandoffStall => "handoff_stall",
            Fault::DnsFromFile => "dns_from_file",
        }
    }

    /// The bytes that trip the fault when they occur in the data (e.g. as an attribute value).
    pub fn marker(self) -> &'static [u8] {
        match self {
            Fault::ShardPanic => b"shardgate.fault.shard_panic",
            Fault::RewriteFails => b"shardgate.fault.rewrite_fails",
            Fault::HandoffStall => b"shardgate.fault.handoff_stall",
            Fault::DnsFromFile => b"shardgate.fault.dns_from_file",
        }
    }

    /// Whether the fault is armed (for faults that apply without a marker).
    #[cfg(feature = "fault-injection")]
    pub fn is_armed(self) -> bool {
        armed(self)
    }

    /// Without the `fault-injection` feature no fault is ever armed.
    #[cfg(not(feature = "fault-injection"))]
    #[inline(always)]
    pub fn is_armed(self) -> bool {
        false
    }

    /// Whether the fault is armed and `data` carries its marker.
    #[cfg(feature = "fault-injection")]
    pub fn trips(self, data: &[u8]) -> bool {
        armed(self) && contains(data, self.marker())
    }

    /// Without the `fault-injection` feature no fault ever trips.
    #[cfg(not(feature = "fault-injection"))]
    #[inline(always)]
    pub fn trips(self, _data: &[u8]) -> bool {
        false
    }
}

#[cfg(feature = "fault-injection")]
fn armed(fault: Fault) -> bool {
    use std::sync::OnceLock;
    static ARMED: OnceLock<String> = OnceLock::new();
    let armed = ARMED.get_or_init(|| std::env::var("SHARDGATE_FAULTS").unwrap_or_default());
    armed.split(',').any(|name| name.trim() == fault.name())
}

#[cfg(feature = "fault-injection")]
fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}
