//! `auth:` of a server or client (otelcol's `configauth`): the id of the authenticator
//! extension that checks (or signs) its requests.

use serde::Deserialize;

use super::de::{join, Text};
use super::error::Errors;
use super::id::ComponentId;

/// The raw `auth:` section.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub(crate) struct RawAuth {
    authenticator: Option<Text>,
}

/// The authenticator `raw` names, at `path`.
pub(crate) fn authenticator(raw: RawAuth, path: &str, errs: &mut Errors) -> Option<ComponentId> {
    let at = join(path, "authenticator");
    let Some(Text(id)) = raw.authenticator else {
        errs.invalid(at, "authenticator is required");
        return None;
    };
    match id.parse() {
        Ok(id) => Some(id),
        Err(reason) => {
            errs.invalid(at, reason);
            None
        }
    }
}
