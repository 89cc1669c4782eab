//! Config of the `basicauth` extension, with otelcol's keys: `htpasswd` (`file` and/or
//! `inline`) for servers, `client_auth` (`username`, `password`) for clients.

use std::path::PathBuf;

use serde::Deserialize;
use serde_yaml::Value;

use crate::config::de::{self, join, Text};
use crate::config::error::Errors;

/// Credentials a server accepts: htpasswd lines.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Htpasswd {
    /// A file of `user:hash` lines, read at start.
    pub file: Option<PathBuf>,
    /// More lines written in the config.
    pub inline: String,
}

/// Credentials a client sends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientAuth {
    /// The user name.
    pub username: String,
    /// The password.
    pub password: String,
}

/// The `basicauth` extension.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BasicAuthConfig {
    /// Server side: accepted credentials.
    pub htpasswd: Option<Htpasswd>,
    /// Client side: sent credentials.
    pub client_auth: Option<ClientAuth>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawBasicAuth {
    htpasswd: Option<RawHtpasswd>,
    client_auth: Option<RawClientAuth>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawHtpasswd {
    file: Option<Text>,
    inline: Option<Text>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawClientAuth {
    username: Option<Text>,
    password: Option<Text>,
}

/// Decodes and checks a `basicauth` body at `path`; the htpasswd lines are checked by
/// building the verifier once (an unknown hash is an error naming the line).
pub(crate) fn parse(body: Value, path: &str, errs: &mut Errors) -> Option<BasicAuthConfig> {
    let raw: RawBasicAuth = errs.take(de::decode(body, path))?;
    let htpasswd = raw.htpasswd.map(|h| Htpasswd {
        file: h
            .file
            .map(|t| PathBuf::from(t.0))
            .filter(|p| !p.as_os_str().is_empty()),
        inline: h.inline.map(|t| t.0).unwrap_or_default(),
    });
    let client_auth = raw.client_auth.map(|c| ClientAuth {
        username: c.username.map(|t| t.0).unwrap_or_default(),
        password: c.password.map(|t| t.0).unwrap_or_default(),
    });
    if htpasswd.is_none() && client_auth.is_none() {
        errs.invalid(
            path,
            "either htpasswd (server) or client_auth (client) is required",
        );
        return None;
    }
    if let Some(h) = &htpasswd {
        if let Err(reason) = super::Credentials::load(h) {
            errs.invalid(join(path, "htpasswd"), reason);
            return None;
        }
    }
    if let Some(c) = &client_auth {
        if c.username.contains(':') {
            errs.invalid(
                join(path, "client_auth::username"),
                "a user name cannot contain ':'",
            );
        }
    }
    Some(BasicAuthConfig {
        htpasswd,
        client_auth,
    })
}
