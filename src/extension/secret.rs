//! Comparing secrets without leaking, through timing, how much of a guess was right.

use subtle::ConstantTimeEq;

/// Constant-time equality of two secrets (their lengths are not secret).
pub(crate) fn equal(a: &[u8], b: &[u8]) -> subtle::Choice {
    a.ct_eq(b)
}
