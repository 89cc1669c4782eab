//! Go-style durations (`"200ms"`, `"1m30s"`, `"1.5s"`, `"300us"`), as otelcol configs write them.

use std::fmt;
use std::time::Duration;

use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;

/// Parses a Go `time.ParseDuration` string; negative durations are rejected.
///
/// Accepts a sequence of `<decimal><unit>` terms with units `ns`, `us`, `µs`, `μs`, `ms`, `s`,
/// `m`, `h`, an optional leading `+`, and the bare `"0"`, exactly as Go does.
pub fn parse_go_duration(text: &str) -> Result<Duration, String> {
    let invalid =
        || format!("invalid duration \"{text}\"; expected e.g. \"200ms\", \"5s\", \"1m30s\"");
    let mut rest = text.strip_prefix('+').unwrap_or(text);
    if rest.starts_with('-') {
        return Err(format!("invalid duration \"{text}\": must not be negative"));
    }
    if rest == "0" {
        return Ok(Duration::ZERO);
    }
    if rest.is_empty() {
        return Err(invalid());
    }
    let mut total: u128 = 0;
    while !rest.is_empty() {
        let (nanos, after) = parse_term(rest).ok_or_else(invalid)?;
        total = total.checked_add(nanos).ok_or_else(invalid)?;
        rest = after;
    }
    nanos_to_duration(total).ok_or_else(|| format!("duration \"{text}\" is too large"))
}

/// One `<decimal><unit>` term: its length in nanoseconds and the text after it.
fn parse_term(text: &str) -> Option<(u128, &str)> {
    let int_len = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (int_part, rest) = text.split_at(int_len);
    let (frac_part, rest) = match rest.strip_prefix('.') {
        Some(after_dot) => {
            let len = after_dot
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(after_dot.len());
            after_dot.split_at(len)
        }
        None => ("", rest),
    };
    if int_part.is_empty() && frac_part.is_empty() {
        return None;
    }
    let unit_len = rest
        .find(|c: char| c.is_ascii_digit() || c == '.')
        .unwrap_or(rest.len());
    let (unit, rest) = rest.split_at(unit_len);
    let scale = unit_nanos(unit)?;
    let whole = if int_part.is_empty() {
        0
    } else {
        int_part.parse::<u128>().ok()?.checked_mul(scale)?
    };
    Some((whole.checked_add(fraction_nanos(frac_part, scale))?, rest))
}

/// `0.<digits>` of one unit, in nanoseconds (digits past the 19th cannot matter and are ignored).
fn fraction_nanos(digits: &str, scale: u128) -> u128 {
    let digits = &digits[..digits.len().min(19)];
    let Ok(value) = digits.parse::<u128>() else {
        return 0;
    };
    value * scale / 10u128.pow(digits.len() as u32)
}

fn unit_nanos(unit: &str) -> Option<u128> {
    Some(match unit {
        "ns" => 1,
        "us" | "µs" | "μs" => 1_000,
        "ms" => 1_000_000,
        "s" => 1_000_000_000,
        "m" => 60_000_000_000,
        "h" => 3_600_000_000_000,
        _ => return None,
    })
}

/// Go's `time.Duration` is an `int64` of nanoseconds (about 292 years): longer is an error
/// there, and here, so every configured duration also fits any timer built from it.
fn nanos_to_duration(nanos: u128) -> Option<Duration> {
    if nanos > i64::MAX as u128 {
        return None;
    }
    let secs = u64::try_from(nanos / 1_000_000_000).ok()?;
    Some(Duration::new(secs, (nanos % 1_000_000_000) as u32))
}

/// Formats a duration the way Go prints one (`1m30s`, `200ms`, `0s`), for messages.
pub fn format_go_duration(d: Duration) -> String {
    if d.is_zero() {
        return "0s".to_owned();
    }
    if d < Duration::from_secs(1) {
        let nanos = d.subsec_nanos();
        return match nanos {
            n if n % 1_000_000 == 0 => format!("{}ms", n / 1_000_000),
            n if n % 1_000 == 0 => format!("{}us", n / 1_000),
            n => format!("{n}ns"),
        };
    }
    let secs = d.as_secs();
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    let mut out = String::new();
    if h > 0 {
        out.push_str(&format!("{h}h"));
    }
    if h > 0 || m > 0 {
        out.push_str(&format!("{m}m"));
    }
    let frac = d.subsec_nanos();
    if frac == 0 {
        out.push_str(&format!("{s}s"));
    } else {
        let digits = format!("{frac:09}");
        out.push_str(&format!("{s}.{}s", digits.trim_end_matches('0')));
    }
    out
}

/// A duration as written in YAML: a Go duration string, or an integer number of nanoseconds
/// (otelcol decodes plain integers that way).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct GoDuration(pub Duration);

impl<'de> Deserialize<'de> for GoDuration {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(GoDurationVisitor).map(GoDuration)
    }
}

struct GoDurationVisitor;

impl Visitor<'_> for GoDurationVisitor {
    type Value = Duration;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a duration like \"5s\" or an integer number of nanoseconds")
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Duration, E> {
        parse_go_duration(v).map_err(E::custom)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Duration, E> {
        nanos_to_duration(u128::from(v))
            .ok_or_else(|| E::custom(format!("duration {v} is too large")))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Duration, E> {
        u64::try_from(v)
            .map(Duration::from_nanos)
            .map_err(|_| E::custom(format!("invalid duration {v}: must not be negative")))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    #[test]
    fn go_forms_parse() {
        assert_eq!(parse_go_duration("200ms").unwrap(), ms(200));
        assert_eq!(parse_go_duration("5s").unwrap(), ms(5_000));
        assert_eq!(parse_go_duration("1m30s").unwrap(), ms(90_000));
        assert_eq!(parse_go_duration("1h").unwrap(), ms(3_600_000));
        assert_eq!(parse_go_duration("1.5s").unwrap(), ms(1_500));
        assert_eq!(parse_go_duration(".5s").unwrap(), ms(500));
        assert_eq!(
            parse_go_duration("300us").unwrap(),
            Duration::from_micros(300)
        );
        assert_eq!(
            parse_go_duration("300µs").unwrap(),
            Duration::from_micros(300)
        );
        assert_eq!(
            parse_go_duration("300μs").unwrap(),
            Duration::from_micros(300)
        );
        assert_eq!(parse_go_duration("7ns").unwrap(), Duration::from_nanos(7));
        assert_eq!(parse_go_duration("0").unwrap(), Duration::ZERO);
        assert_eq!(parse_go_duration("+0s").unwrap(), Duration::ZERO);
        assert_eq!(parse_go_duration("1h2m3.004s").unwrap(), ms(3_723_004));
    }

    #[test]
    fn bad_forms_are_rejected() {
        for bad in [
            "", "5", "s", "5 s", "5sec", "1.s.", "-5s", "1..5s", ".s", "1e3s",
        ] {
            assert!(
                parse_go_duration(bad).is_err(),
                "{bad:?} should be rejected"
            );
        }
        let err = parse_go_duration("-1s").unwrap_err();
        assert!(err.contains("negative"), "{err}");
        // Go's limit: an int64 of nanoseconds, 2562047h47m16.854775807s.
        assert!(parse_go_duration("2562047h47m16.854775807s").is_ok());
        let err = parse_go_duration("2562047h47m16.854775808s").unwrap_err();
        assert!(err.contains("too large"), "{err}");
        assert!(serde_yaml::from_str::<GoDuration>("9223372036854775808").is_err());
    }

    #[test]
    fn yaml_integers_are_nanoseconds() {
        let d: GoDuration = serde_yaml::from_str("1500000000").unwrap();
        assert_eq!(d.0, ms(1_500));
        let d: GoDuration = serde_yaml::from_str("\"250ms\"").unwrap();
        assert_eq!(d.0, ms(250));
        assert!(serde_yaml::from_str::<GoDuration>("-1").is_err());
        assert!(serde_yaml::from_str::<GoDuration>("1.5").is_err());
    }

    #[test]
    fn formats_like_go() {
        assert_eq!(format_go_duration(Duration::ZERO), "0s");
        assert_eq!(format_go_duration(ms(200)), "200ms");
        assert_eq!(format_go_duration(ms(90_000)), "1m30s");
        assert_eq!(format_go_duration(ms(3_600_000)), "1h0m0s");
        assert_eq!(format_go_duration(ms(1_500)), "1.5s");
        assert_eq!(format_go_duration(Duration::from_micros(300)), "300us");
    }

    proptest! {
        #[test]
        fn format_then_parse_round_trips(nanos in 0u64..=u64::MAX / 2) {
            let d = Duration::from_nanos(nanos);
            prop_assert_eq!(parse_go_duration(&format_go_duration(d)).unwrap(), d);
        }
    }
}
