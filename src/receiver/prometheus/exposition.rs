//! The Prometheus text exposition format 0.0.4 and OpenMetrics 1.0 text, parsed into
//! metadata (`# TYPE`, `# HELP`, `# UNIT`) and samples.
//!
//! Wire facts the parser keeps:
//! - one line per sample: `name{label="value",...} value [timestamp]`; label values escape
//!   `\\`, `\"` and `\n`; a trailing comma inside the braces is allowed;
//! - a timestamp is integer milliseconds in the Prometheus format and (float) seconds in
//!   OpenMetrics; OpenMetrics samples may carry an exemplar after ` # `, which is skipped;
//! - OpenMetrics ends at `# EOF`; nothing after it is read.
//!
//! A bad line fails the whole exposition (as a Prometheus scrape fails), with its line
//! number. Input is never trusted: the caller bounds the text's size, and `samples_max` bounds
//! the samples kept, so a hostile target costs at most those limits; nothing here panics.

use std::collections::HashMap;

/// Which text format a body is in (from its `Content-Type`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// `text/plain; version=0.0.4` (and anything not OpenMetrics).
    Prometheus,
    /// `application/openmetrics-text`.
    OpenMetrics,
}

impl Format {
    /// The format a response's `Content-Type` names.
    pub fn from_content_type(content_type: Option<&str>) -> Format {
        match content_type {
            Some(t) if t.trim_start().starts_with("application/openmetrics-text") => {
                Format::OpenMetrics
            }
            _ => Format::Prometheus,
        }
    }
}

/// A metric family's type, as `# TYPE` declares it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `counter`
    Counter,
    /// `gauge`
    Gauge,
    /// `histogram`
    Histogram,
    /// `gaugehistogram` (OpenMetrics)
    GaugeHistogram,
    /// `summary`
    Summary,
    /// `info` (OpenMetrics)
    Info,
    /// `stateset` (OpenMetrics)
    StateSet,
    /// `untyped` / `unknown`, or no `# TYPE` line
    Unknown,
}

impl Kind {
    fn parse(text: &str) -> Option<Kind> {
        Some(match text {
            "counter" => Kind::Counter,
            "gauge" => Kind::Gauge,
            "histogram" => Kind::Histogram,
            "gaugehistogram" => Kind::GaugeHistogram,
            "summary" => Kind::Summary,
            "info" => Kind::Info,
            "stateset" => Kind::StateSet,
            "untyped" | "unknown" => Kind::Unknown,
            _ => return None,
        })
    }

    /// The name otelcol records in a metric's `prometheus.type` metadata.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
            Kind::Histogram => "histogram",
            Kind::GaugeHistogram => "gaugehistogram",
            Kind::Summary => "summary",
            Kind::Info => "info",
            Kind::StateSet => "stateset",
            Kind::Unknown => "unknown",
        }
    }
}

/// What the comment lines say about one metric family.
#[derive(Clone, Debug, PartialEq)]
pub struct Metadata {
    /// Its type.
    pub kind: Kind,
    /// `# HELP` text, unescaped.
    pub help: String,
    /// `# UNIT` (OpenMetrics), e.g. `seconds`.
    pub unit: String,
}

/// One sample line.
#[derive(Clone, Debug, PartialEq)]
pub struct Sample {
    /// The metric name (`foo_bucket` for a histogram bucket).
    pub name: String,
    /// Its labels, in the order written.
    pub labels: Vec<(String, String)>,
    /// The value.
    pub value: f64,
    /// Its own timestamp, in milliseconds since the epoch, if it has one.
    pub timestamp_ms: Option<i64>,
}

/// A parsed body.
#[derive(Debug, Default)]
pub struct Exposition {
    /// Per family name.
    pub metadata: HashMap<String, Metadata>,
    /// Every sample, in order.
    pub samples: Vec<Sample>,
}

/// Why a body is not a valid exposition.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ParseError {
    /// A line is malformed.
    #[error("line {line}: {reason}")]
    Line {
        /// 1-based line number.
        line: usize,
        /// What is wrong with it.
        reason: String,
    },
    /// More samples than allowed.
    #[error("more than {0} samples")]
    TooManySamples(usize),
    /// An OpenMetrics body without its `# EOF` line.
    #[error("OpenMetrics body ends without \"# EOF\"")]
    MissingEof,
}

/// Parses `text` in `format`, keeping at most `samples_max` samples.
pub fn parse(text: &str, format: Format, samples_max: usize) -> Result<Exposition, ParseError> {
    let mut out = Exposition::default();
    let mut saw_eof = false;
    for (index, line) in text.split('\n').enumerate() {
        let line = line.strip_suffix('\r').unwrap_or(line);
        let at = |reason: String| ParseError::Line {
            line: index + 1,
            reason,
        };
        if saw_eof {
            if line.is_empty() {
                continue;
            }
            return Err(at("text after \"# EOF\"".into()));
        }
        let trimmed = line.trim_matches(|c| c == ' ' || c == '\t');
        if trimmed.is_empty() {
            continue;
        }
        if let Some(comment) = trimmed.strip_prefix('#') {
            if format == Format::OpenMetrics && comment == " EOF" {
                saw_eof = true;
                continue;
            }
            comment_line(comment, &mut out.metadata).map_err(at)?;
            continue;
        }
        if out.samples.len() >= samples_max {
            return Err(ParseError::TooManySamples(samples_max));
        }
        out.samples.push(sample_line(trimmed, format).map_err(at)?);
    }
    if format == Format::OpenMetrics && !saw_eof {
        return Err(ParseError::MissingEof);
    }
    Ok(out)
}

/// A `#` line: `HELP`, `TYPE` and `UNIT` set metadata; any other comment is skipped.
fn comment_line(comment: &str, metadata: &mut HashMap<String, Metadata>) -> Result<(), String> {
    let mut words = comment
        .trim_start_matches([' ', '\t'])
        .splitn(2, [' ', '\t']);
    let keyword = words.next().unwrap_or("");
    if !matches!(keyword, "HELP" | "TYPE" | "UNIT") {
        return Ok(());
    }
    let rest = words.next().unwrap_or("").trim_start_matches([' ', '\t']);
    let (name, value) = rest.split_once([' ', '\t']).unwrap_or((rest, ""));
    if !is_metric_name(name) {
        return Err(format!("# {keyword} names no valid metric (\"{name}\")"));
    }
    let entry = metadata.entry(name.to_owned()).or_insert(Metadata {
        kind: Kind::Unknown,
        help: String::new(),
        unit: String::new(),
    });
    match keyword {
        "TYPE" => {
            entry.kind = Kind::parse(value.trim())
                .ok_or_else(|| format!("unknown metric type \"{}\"", value.trim()))?;
        }
        "HELP" => entry.help = unescape(value),
        _ => entry.unit = value.trim().to_owned(),
    }
    Ok(())
}

/// One sample line (already trimmed, not a comment).
fn sample_line(line: &str, format: Format) -> Result<Sample, String> {
    let name_len = line
        .find(|c: char| !is_name_char(c, true))
        .unwrap_or(line.len());
    let name = &line[..name_len];
    if !is_metric_name(name) {
        return Err(format!("invalid metric name in \"{}\"", preview(line)));
    }
    let mut rest = line[name_len..].trim_start_matches([' ', '\t']);
    let mut labels = Vec::new();
    if let Some(after) = rest.strip_prefix('{') {
        rest = label_set(after, &mut labels)?;
    }
    let rest = rest.trim_start_matches([' ', '\t']);
    // An OpenMetrics exemplar follows " # "; it is not part of the sample.
    let rest = match format {
        Format::OpenMetrics => rest.split_once(" # ").map_or(rest, |(sample, _)| sample),
        Format::Prometheus => rest,
    };
    let mut fields = rest.split([' ', '\t']).filter(|f| !f.is_empty());
    let value_text = fields
        .next()
        .ok_or_else(|| format!("no value in \"{}\"", preview(line)))?;
    let value = parse_float(value_text)?;
    let timestamp_ms = match fields.next() {
        None => None,
        Some(text) => Some(timestamp(text, format)?),
    };
    if let Some(extra) = fields.next() {
        return Err(format!(
            "unexpected \"{}\" after the timestamp",
            preview(extra)
        ));
    }
    Ok(Sample {
        name: name.to_owned(),
        labels,
        value,
        timestamp_ms,
    })
}

/// Reads `name="value",...}` into `labels`; returns the text after the closing brace.
fn label_set<'a>(mut text: &'a str, labels: &mut Vec<(String, String)>) -> Result<&'a str, String> {
    loop {
        text = text.trim_start_matches([' ', '\t']);
        if let Some(after) = text.strip_prefix('}') {
            return Ok(after);
        }
        let name_len = text
            .find(|c: char| !is_name_char(c, false))
            .unwrap_or(text.len());
        let name = &text[..name_len];
        if !is_label_name(name) {
            return Err(format!("invalid label name in \"{}\"", preview(text)));
        }
        let after = text[name_len..].trim_start_matches([' ', '\t']);
        let after = after
            .strip_prefix('=')
            .ok_or_else(|| format!("expected '=' after label \"{name}\""))?;
        let after = after.trim_start_matches([' ', '\t']);
        let after = after
            .strip_prefix('"')
            .ok_or_else(|| format!("label \"{name}\" has no quoted value"))?;
        let (value, after) = quoted(after)?;
        if labels.iter().any(|(n, _)| n == name) {
            return Err(format!("label \"{name}\" appears twice"));
        }
        labels.push((name.to_owned(), value));
        text = after.trim_start_matches([' ', '\t']);
        if let Some(after) = text.strip_prefix(',') {
            text = after;
        } else if !text.starts_with('}') {
            return Err(format!("expected ',' or '}}' after label \"{name}\""));
        }
    }
}

/// A label value up to its closing quote (unescaped), and the text after the quote.
fn quoted(text: &str) -> Result<(String, &str), String> {
    let mut value = String::new();
    let mut chars = text.char_indices();
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Ok((value, &text[i + 1..])),
            '\\' => match chars.next() {
                Some((_, 'n')) => value.push('\n'),
                Some((_, '\\')) => value.push('\\'),
                Some((_, '"')) => value.push('"'),
                Some((_, other)) => {
                    // The 0.0.4 format keeps an unknown escape as written.
                    value.push('\\');
                    value.push(other);
                }
                None => break,
            },
            '\n' => break,
            c => value.push(c),
        }
    }
    Err("unterminated label value".into())
}

/// `# HELP` text with its `\\` and `\n` escapes.
fn unescape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('\\') => out.push('\\'),
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    out
}

/// A sample value as Go's `strconv.ParseFloat` reads the ones exporters write (`NaN`,
/// `+Inf`, `-Inf`, decimals, exponents).
fn parse_float(text: &str) -> Result<f64, String> {
    text.parse::<f64>()
        .map_err(|_| format!("invalid value \"{}\"", preview(text)))
}

fn timestamp(text: &str, format: Format) -> Result<i64, String> {
    let invalid = || format!("invalid timestamp \"{}\"", preview(text));
    match format {
        Format::Prometheus => text.parse::<i64>().map_err(|_| invalid()),
        Format::OpenMetrics => {
            let seconds = text.parse::<f64>().map_err(|_| invalid())?;
            let ms = (seconds * 1000.0).round();
            // `as` saturates; a timestamp outside ±292 million years is refused first.
            if !ms.is_finite() || ms.abs() > 9.0e18 {
                return Err(invalid());
            }
            Ok(ms as i64)
        }
    }
}

fn is_name_char(c: char, colon: bool) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || (colon && c == ':')
}

/// `[a-zA-Z_:][a-zA-Z0-9_:]*`
pub fn is_metric_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| is_name_char(c, true))
}

/// `[a-zA-Z_][a-zA-Z0-9_]*`
pub fn is_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| is_name_char(c, false))
}

/// At most 40 characters of `text`, for error messages.
fn preview(text: &str) -> String {
    text.chars().take(40).collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn labels(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn prometheus_text_with_every_line_kind() {
        let text = "# HELP http_requests_total The total number of \\\\ requests.\\nSecond line.\n\
                    # TYPE http_requests_total counter\n\
                    http_requests_total{method=\"post\",code=\"200\"} 1027 1395066363000\n\
                    http_requests_total{method=\"post\",code=\"400\",}    3 1395066363000\n\
                    # A plain comment\n\
                    \n\
                    msdos_file_access_time_seconds{path=\"C:\\\\DIR\\\\FILE.TXT\",error=\"Cannot find file:\\n\\\"FILE.TXT\\\"\"} 1.458255915e9\n\
                    metric_without_timestamp_and_labels 12.47\n\
                    something_weird {problem=\"division by zero\"} +Inf -3982045\n\
                    nan_value NaN\n";
        let e = parse(text, Format::Prometheus, 100).unwrap();
        let meta = &e.metadata["http_requests_total"];
        assert_eq!(meta.kind, Kind::Counter);
        assert_eq!(meta.help, "The total number of \\ requests.\nSecond line.");
        assert_eq!(e.samples.len(), 6);
        assert_eq!(
            e.samples[0],
            Sample {
                name: "http_requests_total".into(),
                labels: labels(&[("method", "post"), ("code", "200")]),
                value: 1027.0,
                timestamp_ms: Some(1_395_066_363_000),
            }
        );
        assert_eq!(e.samples[1].labels.len(), 3 - 1);
        assert_eq!(
            e.samples[2].labels,
            labels(&[
                ("path", "C:\\DIR\\FILE.TXT"),
                ("error", "Cannot find file:\n\"FILE.TXT\"")
            ])
        );
        assert_eq!(e.samples[4].value, f64::INFINITY);
        assert_eq!(e.samples[4].timestamp_ms, Some(-3_982_045));
        assert!(e.samples[5].value.is_nan());
    }

    #[test]
    fn openmetrics_units_exemplars_seconds_and_eof() {
        let text = "# TYPE foo counter\n# UNIT foo seconds\n# HELP foo Foo.\n\
                    foo_total{a=\"1\"} 17.0 1520879607.789 # {trace_id=\"KOO5S4vxi0o\"} 0.67\n\
                    foo_created{a=\"1\"} 1520430000.123\n\
                    # EOF\n";
        let e = parse(text, Format::OpenMetrics, 100).unwrap();
        assert_eq!(e.metadata["foo"].unit, "seconds");
        assert_eq!(e.samples[0].value, 17.0);
        assert_eq!(e.samples[0].timestamp_ms, Some(1_520_879_607_789));
        assert_eq!(e.samples[1].name, "foo_created");
        assert_eq!(
            parse("foo 1\n", Format::OpenMetrics, 10).unwrap_err(),
            ParseError::MissingEof
        );
        assert!(parse("# EOF\nfoo 1\n", Format::OpenMetrics, 10).is_err());
    }

    #[test]
    fn malformed_lines_name_their_line_number() {
        for (text, wanted) in [
            ("ok 1\n9bad 1\n", "line 2: invalid metric name"),
            ("a{b=\"c} 1\n", "line 1: unterminated label value"),
            (
                "a{b=\"1\",b=\"2\"} 1\n",
                "line 1: label \"b\" appears twice",
            ),
            ("a{b} 1\n", "line 1: expected '=' after label \"b\""),
            ("a one\n", "line 1: invalid value \"one\""),
            ("a 1 2 3\n", "line 1: unexpected \"3\" after the timestamp"),
            ("a 1 1.5\n", "line 1: invalid timestamp \"1.5\""),
            ("# TYPE a flux\n", "line 1: unknown metric type \"flux\""),
            ("a\n", "line 1: no value in \"a\""),
        ] {
            let err = parse(text, Format::Prometheus, 10).unwrap_err().to_string();
            assert!(err.starts_with(wanted), "{text:?}: {err}");
        }
    }

    #[test]
    fn the_sample_limit_holds() {
        let text = "a 1\nb 2\nc 3\n";
        assert_eq!(
            parse(text, Format::Prometheus, 2).unwrap_err(),
            ParseError::TooManySamples(2)
        );
        assert_eq!(parse(text, Format::Prometheus, 3).unwrap().samples.len(), 3);
    }

    #[test]
    fn content_types_pick_the_format() {
        assert_eq!(
            Format::from_content_type(Some("application/openmetrics-text; version=1.0.0")),
            Format::OpenMetrics
        );
        assert_eq!(
            Format::from_content_type(Some("text/plain; version=0.0.4")),
            Format::Prometheus
        );
        assert_eq!(Format::from_content_type(None), Format::Prometheus);
    }

    proptest! {
        /// Random text (and random mutations of a valid body) never panics the parser and
        /// never yields more samples than the limit.
        #[test]
        fn arbitrary_input_never_panics(text in "\\PC{0,300}", cut in 0usize..200, om in any::<bool>()) {
            let format = if om { Format::OpenMetrics } else { Format::Prometheus };
            if let Ok(e) = parse(&text, format, 5) {
                prop_assert!(e.samples.len() <= 5);
            }
            let valid = "# TYPE h histogram\nh_bucket{le=\"0.5\",x=\"\\\"y\\n\"} 3 17\nh_count 3\n# EOF\n";
            let mut mutated: String = valid.chars().take(cut).collect();
            mutated.push_str(&text);
            let _ = parse(&mutated, format, 5);
        }

        /// What the parser reads back is what was written, for any label value.
        #[test]
        fn label_values_round_trip(value in "\\PC{0,40}", number in any::<f64>()) {
            let escaped = value.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n");
            let text = format!("m{{l=\"{escaped}\"}} {number:?}\n");
            let e = parse(&text, Format::Prometheus, 5).unwrap();
            prop_assert_eq!(&e.samples[0].labels, &labels(&[("l", &value)]));
            if number.is_nan() {
                prop_assert!(e.samples[0].value.is_nan());
            } else {
                prop_assert_eq!(e.samples[0].value, number);
            }
        }
    }
}
