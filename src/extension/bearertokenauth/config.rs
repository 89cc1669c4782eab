//! Config of the `bearertokenauth` extension, with otelcol's keys: `scheme` (default
//! `Bearer`), `header` (default `Authorization`), and the token(s) as `token`, `tokens` or a
//! `filename` that is re-read when it changes.

use std::path::PathBuf;

use serde::Deserialize;
use serde_yaml::Value;

use crate::config::de::{self, join, Text};
use crate::config::error::Errors;

/// Where the accepted (or sent) tokens come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Tokens {
    /// Written in the config (`token` or `tokens`).
    Inline(Vec<String>),
    /// One token per line of a file, re-read when it changes (`filename`).
    File(PathBuf),
}

/// The `bearertokenauth` extension.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BearerTokenConfig {
    /// Prefix of the header value before the token (`Bearer`); empty = the token alone.
    pub scheme: String,
    /// The header that carries it (lowercased).
    pub header: String,
    /// The token(s).
    pub tokens: Tokens,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawBearerToken {
    scheme: Option<Text>,
    header: Option<Text>,
    token: Option<Text>,
    tokens: Option<Vec<Text>>,
    filename: Option<Text>,
}

/// Decodes and checks a `bearertokenauth` body at `path`.
pub(crate) fn parse(body: Value, path: &str, errs: &mut Errors) -> Option<BearerTokenConfig> {
    let raw: RawBearerToken = errs.take(de::decode(body, path))?;
    let mut inline: Vec<String> = raw.token.into_iter().map(|t| t.0).collect();
    inline.extend(raw.tokens.unwrap_or_default().into_iter().map(|t| t.0));
    inline.retain(|t| !t.is_empty());
    let file = raw.filename.map(|t| t.0).filter(|f| !f.is_empty());
    let tokens = match (inline.is_empty(), file) {
        (false, Some(_)) => {
            errs.invalid(
                join(path, "filename"),
                "either token(s) or filename can be set, not both",
            );
            return None;
        }
        (false, None) => Tokens::Inline(inline),
        (true, Some(file)) => {
            if let Err(e) = std::fs::read_to_string(&file) {
                errs.invalid(
                    join(path, "filename"),
                    format!("cannot read \"{file}\": {e}"),
                );
                return None;
            }
            Tokens::File(PathBuf::from(file))
        }
        (true, None) => {
            errs.invalid(path, "one of token, tokens or filename is required");
            return None;
        }
    };
    let header = raw
        .header
        .map_or_else(|| "authorization".to_owned(), |t| t.0.to_ascii_lowercase());
    if http::HeaderName::from_bytes(header.as_bytes()).is_err() {
        errs.invalid(
            join(path, "header"),
            format!("\"{header}\" is not a header name"),
        );
    }
    Some(BearerTokenConfig {
        scheme: raw.scheme.map_or_else(|| "Bearer".to_owned(), |t| t.0),
        header,
        tokens,
    })
}
