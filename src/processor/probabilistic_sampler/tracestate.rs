//! The W3C `tracestate` of a span, with its OpenTelemetry (`ot=`) member read into its
//! sampling fields: `rv` (randomness) and `th` (threshold). Other members and other `ot`
//! sub-keys pass through in order; on output the `ot` member comes first, as W3C asks of
//! a member a participant updates.

use super::threshold::{Randomness, Threshold, ValueError};

/// W3C's limits on a tracestate: members and characters.
const MEMBERS_MAX: usize = 32;
const W3C_LENGTH_MAX: usize = 1024;
/// OpenTelemetry's limit on the `ot` member's value.
const OTEL_LENGTH_MAX: usize = 256;

/// Why a tracestate could not be read (the span then has no usable sampling information).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TraceStateError {
    /// Longer than W3C or OpenTelemetry allows, or too many members.
    #[error("tracestate exceeds its size limit")]
    Size,
    /// Not W3C (or `ot` member) syntax.
    #[error("invalid syntax")]
    Syntax,
    /// An `rv` or `th` value that does not parse.
    #[error("{0}")]
    Value(#[from] ValueError),
}

/// A parsed tracestate.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct TraceState {
    /// `rv`, as it came (upper case passes through).
    pub rvalue: Option<(String, Randomness)>,
    /// `th`, as it came.
    pub tvalue: Option<(String, Threshold)>,
    /// Other `ot` sub-keys, in order.
    otel_extra: Vec<(String, String)>,
    /// Other vendors' members, in order.
    members: Vec<(String, String)>,
}

impl TraceState {
    /// Reads a `tracestate` value.
    pub fn parse(input: &str) -> Result<TraceState, TraceStateError> {
        let mut state = TraceState::default();
        if input.is_empty() {
            return Ok(state);
        }
        if input.len() > W3C_LENGTH_MAX {
            return Err(TraceStateError::Size);
        }
        let mut count = 0;
        for member in input.split(',') {
            let member = member.trim_matches([' ', '\t']);
            if member.is_empty() {
                continue;
            }
            count += 1;
            if count > MEMBERS_MAX {
                return Err(TraceStateError::Size);
            }
            let (key, value) = member.split_once('=').ok_or(TraceStateError::Syntax)?;
            if !valid_key(key) || !valid_value(value) {
                return Err(TraceStateError::Syntax);
            }
            if key == "ot" {
                state.read_otel(value)?;
            } else {
                state.members.push((key.to_owned(), value.to_owned()));
            }
        }
        Ok(state)
    }

    /// Reads the `ot` member's `key:value;...` list.
    fn read_otel(&mut self, value: &str) -> Result<(), TraceStateError> {
        if value.len() > OTEL_LENGTH_MAX {
            return Err(TraceStateError::Size);
        }
        for field in value.split(';') {
            let (key, v) = field.split_once(':').ok_or(TraceStateError::Syntax)?;
            let key_ok = key.as_bytes().first().is_some_and(u8::is_ascii_lowercase)
                && key
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit());
            let value_ok = v
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
            if !key_ok || !value_ok {
                return Err(TraceStateError::Syntax);
            }
            match key {
                "rv" => self.rvalue = Some((v.to_owned(), Randomness::parse(v)?)),
                "th" => self.tvalue = Some((v.to_owned(), Threshold::parse(v)?)),
                _ => self.otel_extra.push((key.to_owned(), v.to_owned())),
            }
        }
        Ok(())
    }

    /// The arriving threshold, if any.
    pub fn threshold(&self) -> Option<Threshold> {
        self.tvalue.as_ref().map(|(_, t)| *t)
    }

    /// The explicit randomness, if any.
    pub fn randomness(&self) -> Option<Randomness> {
        self.rvalue.as_ref().map(|(_, r)| *r)
    }

    /// Records randomness the sampler computed (the `hash_seed` mode does, so later
    /// samplers see what it decided on).
    pub fn set_randomness(&mut self, rnd: Randomness) {
        self.rvalue = Some((rnd.rvalue(), rnd));
    }

    /// Forgets the threshold (an arriving one that contradicts the randomness).
    pub fn clear_threshold(&mut self) {
        self.tvalue = None;
    }

    /// Records the threshold a sampler applied; refused when it would raise the probability
    /// an earlier sampler recorded (otelcol's "cannot raise existing sampling probability").
    pub fn update_threshold(&mut self, threshold: Threshold) -> Result<(), &'static str> {
        if self.threshold().is_some_and(|old| old > threshold) {
            return Err("cannot raise existing sampling probability");
        }
        let tvalue = threshold.tvalue();
        self.tvalue = (!tvalue.is_empty()).then_some((tvalue, threshold));
        Ok(())
    }

    /// The `tracestate` value: `ot` first (`rv`, `th`, then its other keys), then the rest.
    pub fn serialize(&self) -> String {
        let mut out = String::with_capacity(64);
        let mut otel_sep = "ot=";
        let mut otel = |key: &str, value: &str, out: &mut String| {
            out.push_str(otel_sep);
            out.push_str(key);
            out.push(':');
            out.push_str(value);
            otel_sep = ";";
        };
        if let Some((rv, _)) = &self.rvalue {
            otel("rv", rv, &mut out);
        }
        if let Some((th, _)) = &self.tvalue {
            otel("th", th, &mut out);
        }
        for (k, v) in &self.otel_extra {
            otel(k, v, &mut out);
        }
        for (k, v) in &self.members {
            if !out.is_empty() {
                out.push(',');
            }
            out.push_str(k);
            out.push('=');
            out.push_str(v);
        }
        out
    }
}

/// W3C key: `lcalpha *(lcalpha / DIGIT / _ - * /)`, or `tenant@system`.
fn valid_key(key: &str) -> bool {
    let rest_ok = |s: &str| {
        s.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'_' | b'-' | b'*' | b'/')
        })
    };
    match key.split_once('@') {
        Some((tenant, system)) => {
            tenant.len() <= 241
                && system.len() <= 14
                && tenant
                    .bytes()
                    .next()
                    .is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
                && system
                    .bytes()
                    .next()
                    .is_some_and(|b| b.is_ascii_lowercase())
                && rest_ok(&tenant[1..])
                && rest_ok(&system[1..])
        }
        None => {
            key.len() <= 256
                && key.bytes().next().is_some_and(|b| b.is_ascii_lowercase())
                && rest_ok(&key[1..])
        }
    }
}

/// W3C value: up to 256 printable ASCII characters but `,` and `=`, not ending in a space.
fn valid_value(value: &str) -> bool {
    let printable = |b: u8| (0x20..=0x7e).contains(&b) && b != b',' && b != b'=';
    !value.is_empty() && value.len() <= 256 && value.bytes().all(printable) && !value.ends_with(' ')
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn ot_member_is_read_and_written_first() {
        let mut ts = TraceState::parse("vendor=x, ot=th:8;rv:90000000000000;zz:1").unwrap();
        assert_eq!(ts.threshold(), Some(Threshold::parse("8").unwrap()));
        ts.update_threshold(Threshold::parse("c").unwrap()).unwrap();
        assert_eq!(ts.serialize(), "ot=rv:90000000000000;th:c;zz:1,vendor=x");
    }

    #[test]
    fn bad_tracestates_are_errors() {
        for bad in [
            "ot",
            "ot=th:-1",
            "Upper=1",
            "ot=th:abababababababab",
            "a=b,c",
        ] {
            assert!(TraceState::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(
            TraceState::parse("ot=rv:abababababababab"),
            Err(TraceStateError::Value(ValueError::RandomnessSize))
        );
    }

    #[test]
    fn a_threshold_is_never_lowered_in_probability_raised() {
        let mut ts = TraceState::parse("ot=th:c").unwrap();
        assert!(ts.update_threshold(Threshold::parse("8").unwrap()).is_err());
        assert_eq!(ts.serialize(), "ot=th:c");
    }
}
