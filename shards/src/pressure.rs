//! Memory pressure: the level every shard acts on, and the decision that computes it.
//!
//! The main thread samples the process RSS every `check_interval` and calls [`decide`]; when
//! the level changes it broadcasts it to every shard over the control channel (a small `Copy`
//! message). Levels, as otelcol's memory_limiter defines them:
//! 1. normal: usage below the soft limit (`limit − spike`);
//! 2. soft: usage at or above the soft limit: receivers refuse new data (retryable);
//! 3. hard: usage at or above the limit: the same refusal; the level a user's alert wants.
//!
//! Each shard keeps the last level it was told in a thread-local cell ([`current`]): shards are
//! one thread each, so this is shard-local state with a single writer, its inbox watcher.
//!
//! Hysteresis: a level is left downwards only once usage is below its threshold by a margin
//! (a tenth of the spike allowance), so a usage hovering at a threshold does not flood the
//! shards with broadcasts every interval.

/// How close the process is to its memory limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub enum Level {
    /// Below the soft limit: data flows.
    #[default]
    Normal,
    /// At or above `limit − spike`: new data is refused.
    Soft,
    /// At or above the limit.
    Hard,
}

thread_local! {
    /// This shard's view of the level: written only by its inbox watcher, read by receivers.
    static CURRENT: std::cell::Cell<Level> = const { std::cell::Cell::new(Level::Normal) };
}

/// The pressure level this shard was last told (normal until told otherwise).
pub fn current() -> Level {
    CURRENT.with(std::cell::Cell::get)
}

/// Records the level broadcast by the main thread (the shard's inbox watcher calls this).
pub fn set_current(level: Level) {
    CURRENT.with(|c| c.set(level));
}

/// The limits, in bytes, that [`decide`] compares usage against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// `limit_mib` (or the percentage of the available memory), in bytes.
    pub limit_bytes: u64,
    /// `spike_limit_mib` (or its percentage), in bytes; below `limit_bytes`.
    pub spike_bytes: u64,
}

impl Limits {
    /// Usage at which new data is refused.
    pub fn soft_bytes(&self) -> u64 {
        self.limit_bytes.saturating_sub(self.spike_bytes)
    }

    fn margin_bytes(&self) -> u64 {
        self.spike_bytes / 10
    }
}

/// The level for `used_bytes`, given the level now (for hysteresis).
pub fn decide(limits: &Limits, current: Level, used_bytes: u64) -> Level {
    let raw = if used_bytes >= limits.limit_bytes {
        Level::Hard
    } else if used_bytes >= limits.soft_bytes() {
        Level::Soft
    } else {
        Level::Normal
    };
    if raw >= current {
        return raw;
    }
    // Going down, one level at a time: each only once clearly below its threshold.
    let below = |threshold: u64| used_bytes.saturating_add(limits.margin_bytes()) < threshold;
    let mut level = current;
    if level == Level::Hard && below(limits.limit_bytes) {
        level = Level::Soft;
    }
    if level == Level::Soft && below(limits.soft_bytes()) {
        level = Level::Normal;
    }
    level.max(raw)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1 << 20;

    fn limits() -> Limits {
        Limits {
            limit_bytes: 100 * MIB,
            spike_bytes: 20 * MIB,
        }
    }

    #[test]
    fn levels_follow_the_thresholds_going_up() {
        let l = limits();
        assert_eq!(decide(&l, Level::Normal, 10 * MIB), Level::Normal);
        assert_eq!(decide(&l, Level::Normal, 80 * MIB - 1), Level::Normal);
        assert_eq!(decide(&l, Level::Normal, 80 * MIB), Level::Soft);
        assert_eq!(decide(&l, Level::Normal, 100 * MIB), Level::Hard);
        assert_eq!(decide(&l, Level::Soft, 150 * MIB), Level::Hard);
    }

    #[test]
    fn going_down_needs_a_margin() {
        let l = limits();
        // 2 MiB margin (a tenth of the spike).
        assert_eq!(decide(&l, Level::Soft, 79 * MIB), Level::Soft);
        assert_eq!(decide(&l, Level::Soft, 77 * MIB), Level::Normal);
        assert_eq!(decide(&l, Level::Hard, 99 * MIB), Level::Hard);
        assert_eq!(decide(&l, Level::Hard, 97 * MIB), Level::Soft);
        // From hard straight to normal when usage fell far.
        assert_eq!(decide(&l, Level::Hard, 10 * MIB), Level::Normal);
        // Below the limit but still within the soft margin: soft.
        assert_eq!(decide(&l, Level::Hard, 79 * MIB), Level::Soft);
    }

    #[test]
    fn zero_spike_means_soft_equals_hard_threshold() {
        let l = Limits {
            limit_bytes: 100,
            spike_bytes: 0,
        };
        assert_eq!(decide(&l, Level::Normal, 99), Level::Normal);
        assert_eq!(decide(&l, Level::Normal, 100), Level::Hard);
        assert_eq!(decide(&l, Level::Hard, 99), Level::Normal);
    }
}
