//! Configuration errors: each names the key path it is about, so a user can find the line.

use std::fmt;
use std::path::PathBuf;

/// Everything that can go wrong while loading a configuration.
///
/// Key paths use `::` between levels and `[i]` for list items, e.g.
/// `receivers::otlp/2::protocols::grpc::endpoint` or `service::pipelines::traces::exporters[1]`
/// (`::` rather than `.` because component names may contain dots).
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The configuration or profile file could not be read.
    #[error("reading {}: {source}", path.display())]
    Read {
        /// The file that was being read.
        path: PathBuf,
        /// What the operating system said.
        #[source]
        source: std::io::Error,
    },
    /// The text is not valid YAML.
    #[error("{origin}: invalid YAML: {message}")]
    Syntax {
        /// The file (or other origin) the text came from.
        origin: String,
        /// 1-based line of the error, when the parser knows it.
        line: Option<usize>,
        /// 1-based column of the error, when the parser knows it.
        column: Option<usize>,
        /// The parser's message (it includes the position).
        message: String,
    },
    /// A `${...}` reference could not be expanded.
    #[error("{origin}: {path}: {reason}")]
    Expand {
        /// The file (or other origin) the reference is in.
        origin: String,
        /// Key path of the scalar holding the reference.
        path: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A value does not have the type or shape its key needs (also unknown keys).
    #[error("{path}: {message}")]
    Decode {
        /// Key path of the offending value.
        path: String,
        /// The decoder's message, e.g. ``unknown field `endpont`, expected one of ...``.
        message: String,
    },
    /// A component id names a type this build does not have.
    #[error(
        "{section}: unknown type \"{kind}\" for id \"{id}\"; this build supports: {}",
        supported_list(supported)
    )]
    UnknownType {
        /// The section the id is in (`receivers`, `exporters`, ...).
        section: String,
        /// The type part of the id.
        kind: String,
        /// The whole id as written.
        id: String,
        /// The types this build has in that section.
        supported: Vec<&'static str>,
    },
    /// A component id names a well-known otelcol type that this build refuses, with why.
    #[error(
        "{section}: type \"{kind}\" (id \"{id}\") is not in this build: {reason}; this build supports: {}",
        supported_list(supported)
    )]
    NotBuilt {
        /// The section the id is in.
        section: String,
        /// The type part of the id.
        kind: String,
        /// The whole id as written.
        id: String,
        /// Why it is refused, and what to use instead where there is something.
        reason: &'static str,
        /// The types this build has in that section.
        supported: Vec<&'static str>,
    },
    /// A pipeline or `service::extensions` references a component that is not configured.
    #[error("{path}: references {role} \"{id}\" which is not configured")]
    Undefined {
        /// Key path of the reference, e.g. `service::pipelines::traces`.
        path: String,
        /// `receiver`, `processor`, `exporter` or `extension`.
        role: &'static str,
        /// The referenced id.
        id: String,
    },
    /// A value has the right type but is not acceptable (out of range, unsupported, ...).
    #[error("{path}: {reason}")]
    Invalid {
        /// Key path of the offending value.
        path: String,
        /// Why it is not acceptable.
        reason: String,
    },
    /// Several errors, reported together so a user can fix them in one go; one per line.
    #[error("{}", join_lines(.0))]
    Multiple(Vec<ConfigError>),
}

impl ConfigError {
    /// Shorthand for [`ConfigError::Invalid`].
    pub fn invalid(path: impl Into<String>, reason: impl Into<String>) -> Self {
        ConfigError::Invalid {
            path: path.into(),
            reason: reason.into(),
        }
    }

    /// The individual errors: itself, or the members of a [`ConfigError::Multiple`].
    pub fn errors(&self) -> Vec<&ConfigError> {
        match self {
            ConfigError::Multiple(all) => all.iter().flat_map(ConfigError::errors).collect(),
            one => vec![one],
        }
    }
}

fn supported_list(supported: &[&str]) -> String {
    if supported.is_empty() {
        "(none)".to_owned()
    } else {
        supported.join(", ")
    }
}

fn join_lines(errors: &[ConfigError]) -> String {
    let mut out = String::new();
    for (i, e) in errors.iter().enumerate() {
        if i > 0 {
            out.push('\n');
        }
        out.push_str(&e.to_string());
    }
    out
}

/// Collects errors (and warnings) while decoding continues, so one run reports everything.
#[derive(Debug, Default)]
pub(crate) struct Errors {
    errors: Vec<ConfigError>,
    warnings: Vec<String>,
}

impl Errors {
    /// Records one error (a `Multiple` is flattened).
    pub(crate) fn push(&mut self, error: ConfigError) {
        match error {
            ConfigError::Multiple(all) => all.into_iter().for_each(|e| self.push(e)),
            one => self.errors.push(one),
        }
    }

    /// Records an [`ConfigError::Invalid`].
    pub(crate) fn invalid(&mut self, path: impl Into<String>, reason: impl fmt::Display) {
        self.push(ConfigError::invalid(path, reason.to_string()));
    }

    /// Records the error of `result`, if any, and passes its value on.
    pub(crate) fn take<T>(&mut self, result: Result<T, ConfigError>) -> Option<T> {
        match result {
            Ok(v) => Some(v),
            Err(e) => {
                self.push(e);
                None
            }
        }
    }

    /// Records a warning: something accepted but not acted on, for the caller to log.
    pub(crate) fn warn(&mut self, path: &str, message: impl fmt::Display) {
        self.warnings.push(format!("{path}: {message}"));
    }

    /// Hands over the warnings recorded so far.
    pub(crate) fn take_warnings(&mut self) -> Vec<String> {
        std::mem::take(&mut self.warnings)
    }

    /// Whether no error has been recorded.
    #[cfg(test)]
    pub(crate) fn is_empty(&self) -> bool {
        self.errors.is_empty()
    }

    /// `value` if no error was recorded, else the error (alone, or all of them).
    pub(crate) fn finish<T>(mut self, value: T) -> Result<T, ConfigError> {
        match self.errors.len() {
            0 => Ok(value),
            1 => Err(self.errors.remove(0)),
            _ => Err(ConfigError::Multiple(self.errors)),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn multiple_prints_one_per_line_and_flattens() {
        let mut errs = Errors::default();
        errs.invalid("a::b", "bad");
        errs.push(ConfigError::Multiple(vec![
            ConfigError::invalid("c", "worse"),
            ConfigError::invalid("d", "worst"),
        ]));
        let err = errs.finish(()).unwrap_err();
        assert_eq!(err.to_string(), "a::b: bad\nc: worse\nd: worst");
        assert_eq!(err.errors().len(), 3);
    }

    #[test]
    fn single_error_is_not_wrapped() {
        let mut errs = Errors::default();
        errs.invalid("x", "y");
        assert!(matches!(errs.finish(()), Err(ConfigError::Invalid { .. })));
    }

    #[test]
    fn unknown_type_lists_supported_or_none() {
        let e = ConfigError::UnknownType {
            section: "extensions".into(),
            kind: "health_check".into(),
            id: "health_check".into(),
            supported: Vec::new(),
        };
        assert_eq!(
            e.to_string(),
            "extensions: unknown type \"health_check\" for id \"health_check\"; this build supports: (none)"
        );
    }
}
