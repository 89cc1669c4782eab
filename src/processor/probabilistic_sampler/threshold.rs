//! Consistent probability sampling arithmetic (OpenTelemetry's tracestate probability
//! sampling): 56-bit randomness values, 56-bit rejection thresholds and their hex encodings,
//! and the legacy FNV hash of the `hash_seed` mode.
//!
//! An item is sampled when its randomness R is at least the threshold T. T = 0 samples all;
//! T = 2^56 samples none and has no encoding. `th` encodes T as up to 14 hex digits with
//! trailing zeros dropped; `rv` encodes R as exactly 14 hex digits.

/// 2^56: one past the largest randomness value.
pub const MAX_ADJUSTED_COUNT: u64 = 1 << 56;
/// Hex digits in a 56-bit value.
pub const HEX_DIGITS: usize = 14;
/// The smallest probability a threshold can express.
pub const MIN_PROBABILITY: f64 = 1.0 / MAX_ADJUSTED_COUNT as f64;

/// Buckets of the legacy hash: 14 bits, as otelcol's `hash_seed` mode has always used.
const HASH_BUCKETS: u32 = 1 << 14;

/// Why a `th` or `rv` value could not be read; the messages are otelcol's.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ValueError {
    /// A `th` longer than 14 digits.
    #[error("t-value exceeds 14 hex digits")]
    ThresholdSize,
    /// An empty `th`.
    #[error("t-value is empty")]
    ThresholdEmpty,
    /// An `rv` that is not exactly 14 digits.
    #[error("r-value must have 14 hex digits")]
    RandomnessSize,
    /// Not hexadecimal.
    #[error("invalid syntax")]
    Syntax,
}

/// A rejection threshold in [0, 2^56].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Threshold(u64);

/// 56 bits of randomness in [0, 2^56).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Randomness(u64);

impl Threshold {
    /// Samples everything.
    pub const ALWAYS: Threshold = Threshold(0);
    /// Samples nothing (has no `th` encoding).
    pub const NEVER: Threshold = Threshold(MAX_ADJUSTED_COUNT);

    /// From a raw 56-bit rejection value (`None` past 2^56).
    pub fn from_unsigned(value: u64) -> Option<Threshold> {
        (value <= MAX_ADJUSTED_COUNT).then_some(Threshold(value))
    }

    /// Parses a `th` value: hex digits with trailing zeros omitted.
    pub fn parse(tvalue: &str) -> Result<Threshold, ValueError> {
        if tvalue.len() > HEX_DIGITS {
            return Err(ValueError::ThresholdSize);
        }
        if tvalue.is_empty() {
            return Err(ValueError::ThresholdEmpty);
        }
        let value = parse_hex(tvalue)?;
        Ok(Threshold(value << (4 * (HEX_DIGITS - tvalue.len()))))
    }

    /// The `th` encoding: `"0"` for always, empty for never.
    pub fn tvalue(self) -> String {
        if self == Threshold::ALWAYS {
            return "0".into();
        }
        let digits = Randomness(self.0).rvalue();
        digits.trim_end_matches('0').to_owned()
    }

    /// Whether an item with randomness `rnd` passes.
    pub fn samples(self, rnd: Randomness) -> bool {
        rnd.0 >= self.0
    }

    /// The sampling probability this threshold gives.
    pub fn probability(self) -> f64 {
        (MAX_ADJUSTED_COUNT - self.0) as f64 / MAX_ADJUSTED_COUNT as f64
    }

    /// The threshold for probability `p` rounded to `precision` significant hex digits (0 =
    /// all 14), as otelcol computes it: a digit more for each four binary orders of magnitude
    /// that `p` or `1 - p` lies below 1, so small and near-1 probabilities keep their
    /// significant digits. `None` when `p` is outside [2^-56, 1].
    pub fn from_probability(p: f64, precision: usize) -> Option<Threshold> {
        if !(MIN_PROBABILITY..=1.0).contains(&p) {
            return None;
        }
        if p == 1.0 {
            return Some(Threshold::ALWAYS);
        }
        let scaled = (p * MAX_ADJUSTED_COUNT as f64).round() as u64;
        let reject = MAX_ADJUSTED_COUNT - scaled;
        if precision == 0 {
            return Some(Threshold(reject));
        }
        let extra = |x: f64| usize::try_from(-binary_exponent(x) / 4).unwrap_or(0);
        let precision = (precision + extra(p).max(extra(1.0 - p))).min(HEX_DIGITS);
        let shift = 4 * (HEX_DIGITS - precision);
        if shift == 0 {
            return Some(Threshold(reject));
        }
        let half = 1u64 << (shift - 1);
        Some(Threshold(((reject + half) >> shift) << shift))
    }
}

/// The exponent `e` of `x = m * 2^e` with `m` in [0.5, 1) (C's `frexp`), for normal positive
/// `x`.
fn binary_exponent(x: f64) -> i64 {
    let biased = ((x.to_bits() >> 52) & 0x7ff) as i64;
    biased - 1022
}

impl Randomness {
    /// Randomness that every threshold but never samples (used when there is none).
    pub const ALL: Randomness = Randomness(MAX_ADJUSTED_COUNT - 1);

    /// Parses an `rv` value (exactly 14 hex digits).
    pub fn parse(rvalue: &str) -> Result<Randomness, ValueError> {
        if rvalue.len() != HEX_DIGITS {
            return Err(ValueError::RandomnessSize);
        }
        parse_hex(rvalue).map(Randomness)
    }

    /// The W3C level-2 randomness of a trace id: its last 7 bytes.
    pub fn from_trace_id(trace_id: &[u8; 16]) -> Randomness {
        let mut low = [0u8; 8];
        low[1..].copy_from_slice(&trace_id[9..]);
        Randomness(u64::from_be_bytes(low))
    }

    /// The legacy `hash_seed` randomness of `bytes`: FNV-1a over the seed and the bytes,
    /// laid out so that `R >= T` gives the same decision as the old `hash < rate` test.
    pub fn from_hash(bytes: &[u8], seed: u32) -> Randomness {
        let hashed32 = fnv1a(seed, bytes);
        let hashed = u64::from(hashed32 & (HASH_BUCKETS - 1));
        let r_prime = u64::from(HASH_BUCKETS) - 1 - hashed;
        let unused18 = u64::from(hashed32 >> 14);
        let mixed28 = unused18 ^ (unused18 << 10);
        Randomness((r_prime << 42) | (mixed28 << 14) | hashed)
    }

    /// The `rv` encoding: 14 hex digits.
    pub fn rvalue(self) -> String {
        format!("{:014x}", self.0 & (MAX_ADJUSTED_COUNT - 1))
    }
}

/// The legacy `hash_seed` threshold for `percent`: otelcol's float32 arithmetic, truncated
/// to 14 bits, kept bit for bit so a mixed fleet keeps the same traces. `None` when it
/// rounds to nothing.
pub fn hash_seed_threshold(percent: f32) -> Option<Threshold> {
    // float32 multiply and truncation, as the Go code does.
    let factor: f32 = HASH_BUCKETS as f32 / 100.0;
    let scaled = (percent * factor) as u32;
    if scaled == 0 {
        return None;
    }
    let reject = HASH_BUCKETS.saturating_sub(scaled);
    Some(Threshold(u64::from(reject) << 42))
}

/// FNV-1a (32-bit) over the seed's little-endian bytes then `bytes`.
fn fnv1a(seed: u32, bytes: &[u8]) -> u32 {
    const OFFSET: u32 = 0x811c_9dc5;
    const PRIME: u32 = 0x0100_0193;
    seed.to_le_bytes()
        .iter()
        .chain(bytes)
        .fold(OFFSET, |h, b| (h ^ u32::from(*b)).wrapping_mul(PRIME))
}

fn parse_hex(digits: &str) -> Result<u64, ValueError> {
    if !digits.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(ValueError::Syntax);
    }
    u64::from_str_radix(digits, 16).map_err(|_| ValueError::Syntax)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn tvalues_drop_trailing_zeros_and_round_trip() {
        assert_eq!(Threshold::parse("8").unwrap().tvalue(), "8");
        assert_eq!(Threshold::parse("80000000000000").unwrap().tvalue(), "8");
        assert_eq!(Threshold::ALWAYS.tvalue(), "0");
        assert_eq!(Threshold::NEVER.tvalue(), "");
        assert_eq!(
            Threshold::parse("abababababababab"),
            Err(ValueError::ThresholdSize)
        );
        assert_eq!(Threshold::parse("-1"), Err(ValueError::Syntax));
        assert_eq!(Randomness::parse("abab"), Err(ValueError::RandomnessSize));
    }

    /// otelcol's documented thresholds for a probability at a precision.
    #[test]
    fn probability_thresholds_match_otelcol() {
        let th = |p: f64, prec| Threshold::from_probability(p, prec).unwrap().tvalue();
        assert_eq!(th(0.5, 4), "8");
        assert_eq!(th(0.25, 4), "c");
        assert_eq!(th(0.01, 4), "fd70a");
        assert_eq!(th(0.01, 3), "fd71");
        assert_eq!(th(1.0 / 16384.0 / 16384.0, 0), "fffffff");
        assert_eq!(th(0.01, 0), "fd70a3d70a3d71");
        assert_eq!(th(0.4, 3), "99a");
        assert_eq!(th(0.4, 6), "99999a");
        assert_eq!(th(0.2, 6), "cccccd");
        assert_eq!(th(1.0, 4), "0");
        assert!(Threshold::from_probability(0.0, 4).is_none());
    }

    /// otelcol's `hash_seed` thresholds (14-bit rounding).
    #[test]
    fn hash_seed_thresholds_match_otelcol() {
        let th = |pct: f32| hash_seed_threshold(pct).unwrap().tvalue();
        assert_eq!(th(100.0), "0");
        assert_eq!(th(75.0), "4");
        assert_eq!(th(50.0), "8");
        assert_eq!(th(25.0), "c");
        assert_eq!(th(10.0), "e668");
        assert_eq!(th(100.0 / 3.0), "aaac");
        assert!(hash_seed_threshold(0.001).is_none());
    }

    #[test]
    fn trace_id_randomness_is_its_last_seven_bytes() {
        let mut id = [0xfe; 16];
        id[9..].copy_from_slice(&[0x80, 0, 0, 0, 0, 0, 0]);
        let r = Randomness::from_trace_id(&id);
        assert_eq!(r.rvalue(), "80000000000000");
        assert!(Threshold::from_probability(0.5, 4).unwrap().samples(r));
        assert!(!Threshold::from_probability(0.49, 4).unwrap().samples(r));
    }
}
