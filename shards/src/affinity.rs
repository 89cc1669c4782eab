//! Trace affinity: which shard owns a trace id, the same answer on every shard.
//!
//! A pipeline that samples whole traces needs every span of a trace on one shard. Each shard
//! owns a fixed share of the trace-id space: the FNV-1a hash of the 16 id bytes, mixed by
//! splitmix64's finalizer (FNV's high bits barely move when only the last bytes differ, as
//! in sequential ids), then scaled onto the shard count (multiply-shift, an even share
//! whatever the count).
//! Spans reach their owner through a second [`crate::handoff::Mesh`] (bounded, byte-weighted,
//! waking), carrying encoded bytes; nothing else crosses cores.

/// FNV-1a 64-bit offset basis and prime.
const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;
const FNV_PRIME: u64 = 0x0000_0100_0000_01b3;

/// The shard (of `shards`) that owns `trace_id`.
pub fn owner(trace_id: &[u8; 16], shards: usize) -> usize {
    let hash = trace_id.iter().fold(FNV_OFFSET, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(FNV_PRIME)
    });
    let mut mixed = hash;
    mixed = (mixed ^ (mixed >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    mixed = (mixed ^ (mixed >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    mixed ^= mixed >> 31;
    let scaled = (u128::from(mixed) * shards as u128) >> 64;
    usize::try_from(scaled).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_shard_owns_a_fair_share_and_the_answer_is_stable() {
        let shards = 3;
        let mut counts = [0usize; 3];
        for i in 0..30_000u32 {
            let mut id = [0u8; 16];
            id[12..].copy_from_slice(&i.to_be_bytes());
            let o = owner(&id, shards);
            assert_eq!(o, owner(&id, shards));
            counts[o] += 1;
        }
        for c in counts {
            assert!((9_000..11_000).contains(&c), "{counts:?}");
        }
        assert_eq!(owner(&[7; 16], 1), 0);
    }
}
