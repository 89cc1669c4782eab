//! The `basicauth` extension on one shard: `Authorization: Basic …` checked against htpasswd
//! lines (bcrypt, `{SHA}`, or plain text, as otelcol's htpasswd library accepts), or sent by a
//! client. A bcrypt check costs tens of milliseconds, so credentials that passed are
//! remembered (as a SHA-256 of `user:password`) for the shard's next requests.

pub mod config;

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};

use base64::Engine as _;
use http::HeaderValue;
use sha1::Digest as _;

use self::config::{ClientAuth, Htpasswd};

/// Most remembered good credentials per shard; past it the memory starts over.
const VERIFIED_MAX: usize = 1024;

/// How a password is stored in an htpasswd line.
enum Hash {
    Bcrypt(String),
    Sha1(Vec<u8>),
    Plain(String),
}

/// The credentials a server accepts.
pub struct Credentials {
    users: HashMap<String, Hash>,
    verified: RefCell<HashSet<[u8; 32]>>,
}

impl Credentials {
    /// Reads `htpasswd`'s file and inline lines; a line with a hash this build cannot check
    /// (MD5 `$apr1$`, crypt) is an error naming its number.
    pub fn load(htpasswd: &Htpasswd) -> Result<Credentials, String> {
        let mut text = String::new();
        if let Some(file) = &htpasswd.file {
            text = std::fs::read_to_string(file)
                .map_err(|e| format!("cannot read \"{}\": {e}", file.display()))?;
            text.push('\n');
        }
        text.push_str(&htpasswd.inline);
        let mut users = HashMap::new();
        for (n, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (user, stored) = line
                .split_once(':')
                .ok_or_else(|| format!("line {}: expected user:password", n + 1))?;
            let hash = if stored.starts_with("$2a$")
                || stored.starts_with("$2b$")
                || stored.starts_with("$2y$")
            {
                Hash::Bcrypt(stored.to_owned())
            } else if let Some(b64) = stored.strip_prefix("{SHA}") {
                let digest = base64::engine::general_purpose::STANDARD
                    .decode(b64)
                    .map_err(|e| format!("line {}: bad {{SHA}} hash: {e}", n + 1))?;
                Hash::Sha1(digest)
            } else if stored.starts_with("$apr1$")
                || stored.starts_with("$1$")
                || stored.starts_with("$5$")
                || stored.starts_with("$6$")
            {
                return Err(format!(
                    "line {}: this hash kind is not supported; use bcrypt (htpasswd -B)",
                    n + 1
                ));
            } else {
                Hash::Plain(stored.to_owned())
            };
            users.insert(user.to_owned(), hash);
        }
        Ok(Credentials {
            users,
            verified: RefCell::new(HashSet::new()),
        })
    }

    /// Whether `authorization` is `Basic base64(user:password)` for a known user.
    pub fn accepts(&self, authorization: Option<&[u8]>) -> bool {
        let Some(value) = authorization else {
            return false;
        };
        let Some(encoded) = std::str::from_utf8(value).ok().and_then(|v| {
            v.strip_prefix("Basic ")
                .or_else(|| v.strip_prefix("basic "))
        }) else {
            return false;
        };
        let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(encoded.trim()) else {
            return false;
        };
        let key: [u8; 32] = sha2::Sha256::digest(&decoded).into();
        if self.verified.borrow().contains(&key) {
            return true;
        }
        let Some((user, password)) = std::str::from_utf8(&decoded)
            .ok()
            .and_then(|s| s.split_once(':'))
        else {
            return false;
        };
        let ok = match self.users.get(user) {
            Some(Hash::Bcrypt(hash)) => bcrypt::verify(password, hash).unwrap_or(false),
            Some(Hash::Sha1(digest)) => bool::from(crate::extension::secret::equal(
                &sha1::Sha1::digest(password.as_bytes()),
                digest,
            )),
            Some(Hash::Plain(stored)) => bool::from(crate::extension::secret::equal(
                password.as_bytes(),
                stored.as_bytes(),
            )),
            None => false,
        };
        if ok {
            let mut verified = self.verified.borrow_mut();
            if verified.len() >= VERIFIED_MAX {
                verified.clear();
            }
            verified.insert(key);
        }
        ok
    }
}

/// The `Authorization` value a client sends.
pub fn client_header(auth: &ClientAuth) -> Option<HeaderValue> {
    let pair = format!("{}:{}", auth.username, auth.password);
    let encoded = base64::engine::general_purpose::STANDARD.encode(pair);
    HeaderValue::from_str(&format!("Basic {encoded}")).ok()
}
