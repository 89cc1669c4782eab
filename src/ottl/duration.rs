//! `Duration("1h30m")`: Go's `time.ParseDuration` syntax (a sign, then decimal numbers each
//! with a unit: ns, us, µs, ms, s, m, h).

use super::EvalError;

/// Nanoseconds in `text`.
pub fn parse(text: &str) -> Result<i64, EvalError> {
    let bad = || EvalError::new(format!("Duration: invalid duration {text:?}"));
    let (negative, mut rest) = match text.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    if rest == "0" {
        return Ok(0);
    }
    if rest.is_empty() {
        return Err(bad());
    }
    let mut total = 0f64;
    while !rest.is_empty() {
        let num_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let number: f64 = rest[..num_len].parse().map_err(|_| bad())?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let scale = match &rest[..unit_len] {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return Err(bad()),
        };
        rest = &rest[unit_len..];
        total += number * scale;
    }
    if total > i64::MAX as f64 {
        return Err(bad());
    }
    let n = total.round() as i64;
    Ok(if negative { -n } else { n })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::parse;

    #[test]
    fn go_durations_parse() {
        assert_eq!(parse("1h30m").unwrap(), 5_400_000_000_000);
        assert_eq!(parse("300ms").unwrap(), 300_000_000);
        assert_eq!(parse("-1.5s").unwrap(), -1_500_000_000);
        assert!(parse("3 days").is_err());
        assert!(parse("").is_err());
    }
}
