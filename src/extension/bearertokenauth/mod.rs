//! The `bearertokenauth` extension on one shard: the header a client sends, and the check a
//! server makes. A token file is re-read when its modification time changes, looked at no
//! more than once a second.

pub mod config;

use std::cell::RefCell;
use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

use http::{HeaderName, HeaderValue};

use self::config::{BearerTokenConfig, Tokens};

/// How often a request may make the shard look at the token file.
const FILE_CHECK_INTERVAL: Duration = Duration::from_secs(1);

/// One shard's bearer-token authenticator.
pub struct BearerToken {
    scheme: String,
    header: HeaderName,
    /// Inline: the full header values (`scheme token`), made once, not per request.
    tokens: Tokens,
    file: RefCell<FileTokens>,
}

#[derive(Default)]
struct FileTokens {
    /// The full header values of the file's tokens, made when it is read.
    tokens: Vec<String>,
    modified: Option<SystemTime>,
    checked: Option<Instant>,
}

impl BearerToken {
    /// The authenticator of `config` (the file, if any, is read on first use).
    pub fn new(config: &BearerTokenConfig) -> Result<BearerToken, String> {
        let header = HeaderName::from_bytes(config.header.as_bytes())
            .map_err(|e| format!("header {:?}: {e}", config.header))?;
        let tokens = match &config.tokens {
            Tokens::Inline(tokens) => {
                Tokens::Inline(tokens.iter().map(|t| value(&config.scheme, t)).collect())
            }
            file @ Tokens::File(_) => file.clone(),
        };
        Ok(BearerToken {
            scheme: config.scheme.clone(),
            header,
            tokens,
            file: RefCell::new(FileTokens::default()),
        })
    }

    /// The header the check reads.
    pub fn header_name(&self) -> &HeaderName {
        &self.header
    }

    /// Calls `f` with the current header values.
    fn with_tokens<T>(&self, f: impl FnOnce(&[String]) -> T) -> T {
        match &self.tokens {
            Tokens::Inline(tokens) => f(tokens),
            Tokens::File(path) => {
                let mut file = self.file.borrow_mut();
                refresh(&mut file, path, &self.scheme);
                f(&file.tokens)
            }
        }
    }

    /// Whether `value` (the header's value, if sent) carries an accepted token; compared in
    /// constant time, token by token.
    pub fn accepts(&self, value: Option<&[u8]>) -> bool {
        let Some(value) = value else { return false };
        self.with_tokens(|tokens| {
            let mut ok = subtle::Choice::from(0);
            for token in tokens {
                ok |= crate::extension::secret::equal(token.as_bytes(), value);
            }
            bool::from(ok)
        })
    }

    /// The header a client sends (with the first token); `None` when there is none yet.
    pub fn client_header(&self) -> Option<(HeaderName, HeaderValue)> {
        let value = self.with_tokens(|tokens| tokens.first().map(|t| HeaderValue::from_str(t)))?;
        let value = value.ok()?;
        Some((self.header.clone(), value))
    }
}

/// The header value for `token`: `scheme token`, or the token alone without a scheme.
fn value(scheme: &str, token: &str) -> String {
    if scheme.is_empty() {
        token.to_owned()
    } else {
        format!("{scheme} {token}")
    }
}

/// Re-reads `path` when its modification time changed, at most once per interval; a file
/// that cannot be read keeps the tokens read before (and logs why).
fn refresh(file: &mut FileTokens, path: &Path, scheme: &str) {
    if file
        .checked
        .is_some_and(|at| at.elapsed() < FILE_CHECK_INTERVAL)
    {
        return;
    }
    file.checked = Some(Instant::now());
    let modified = std::fs::metadata(path).and_then(|m| m.modified()).ok();
    if modified.is_some() && modified == file.modified {
        return;
    }
    match std::fs::read_to_string(path) {
        Ok(text) => {
            file.tokens = text
                .lines()
                .map(str::trim)
                .filter(|l| !l.is_empty())
                .map(|t| value(scheme, t))
                .collect();
            file.modified = modified;
        }
        Err(error) => {
            tracing::warn!(file = %path.display(), %error, "cannot read the bearer token file; keeping the previous tokens");
        }
    }
}
