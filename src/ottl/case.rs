//! `ConvertCase`: lower, upper, snake and (upper) camel case, splitting words at
//! separators (`_`, `-`, `.`, space) and at lower-to-upper case changes.

fn words(s: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut current = String::new();
    let mut prev_lower = false;
    for c in s.chars() {
        if matches!(c, '_' | '-' | '.' | ' ') {
            if !current.is_empty() {
                words.push(std::mem::take(&mut current));
            }
            prev_lower = false;
            continue;
        }
        if c.is_uppercase() && prev_lower && !current.is_empty() {
            words.push(std::mem::take(&mut current));
        }
        prev_lower = c.is_lowercase() || c.is_ascii_digit();
        current.push(c);
    }
    if !current.is_empty() {
        words.push(current);
    }
    words
}

/// `s` in `case` (one of lower, upper, snake, camel; checked at compile time).
pub fn convert(s: &str, case: &str) -> String {
    match case {
        "upper" => s.to_uppercase(),
        "snake" => words(s)
            .iter()
            .map(|w| w.to_lowercase())
            .collect::<Vec<_>>()
            .join("_"),
        "camel" => words(s)
            .iter()
            .map(|w| {
                let lower = w.to_lowercase();
                let mut chars = lower.chars();
                chars
                    .next()
                    .map_or(String::new(), |f| f.to_uppercase().chain(chars).collect())
            })
            .collect(),
        _ => s.to_lowercase(),
    }
}

#[cfg(test)]
mod tests {
    use super::convert;

    #[test]
    fn cases_convert() {
        assert_eq!(convert("HelloWorld", "snake"), "hello_world");
        assert_eq!(convert("hello_world", "camel"), "HelloWorld");
        assert_eq!(convert("MyMetric", "lower"), "mymetric");
        assert_eq!(convert("my.metric", "upper"), "MY.METRIC");
    }
}
