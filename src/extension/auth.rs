//! Authenticators as receivers and exporters use them (`auth: {authenticator: <id>}`): the
//! check a receiver makes before it reads a request's body, and the header an exporter adds.

use std::collections::BTreeMap;

use http::{HeaderName, HeaderValue};

use super::basicauth::{self, Credentials};
use super::bearertokenauth::BearerToken;
use super::headers_setter::{HeadersError, HeadersSetter};
use crate::config::{ComponentId, ExtensionConfig};
use crate::pipeline::metadata::Metadata;

/// A receiver's authenticator on one shard.
pub enum ServerAuth {
    /// `bearertokenauth`.
    Bearer(BearerToken),
    /// `basicauth` with `htpasswd`.
    Basic(Credentials),
}

/// A configured extension that cannot authenticate this side.
fn not_for(id: &ComponentId, side: &str) -> String {
    format!("extension \"{id}\" cannot authenticate {side}")
}

impl ServerAuth {
    /// The authenticator of extension `id`.
    pub fn build(
        id: &ComponentId,
        extensions: &BTreeMap<ComponentId, ExtensionConfig>,
    ) -> Result<ServerAuth, String> {
        match extensions.get(id) {
            Some(ExtensionConfig::BearerTokenAuth(c)) => {
                BearerToken::new(c).map(ServerAuth::Bearer)
            }
            Some(ExtensionConfig::BasicAuth(c)) => match &c.htpasswd {
                Some(h) => Credentials::load(h).map(ServerAuth::Basic),
                None => Err(not_for(id, "servers (it has no htpasswd)")),
            },
            Some(_) => Err(not_for(id, "requests")),
            None => Err(format!("extension \"{id}\" is not configured")),
        }
    }

    /// The request header the check reads.
    pub fn header(&self) -> &str {
        match self {
            ServerAuth::Bearer(b) => b.header_name().as_str(),
            ServerAuth::Basic(_) => "authorization",
        }
    }

    /// Whether `value` (of [`ServerAuth::header`]) is accepted.
    pub fn accepts(&self, value: Option<&[u8]>) -> bool {
        match self {
            ServerAuth::Bearer(b) => b.accepts(value),
            ServerAuth::Basic(c) => c.accepts(value),
        }
    }

    /// The `WWW-Authenticate` challenge of a 401.
    pub fn challenge(&self) -> &'static str {
        match self {
            ServerAuth::Bearer(_) => "Bearer",
            ServerAuth::Basic(_) => "Basic realm=\"shardgate\"",
        }
    }
}

/// An exporter's authenticator on one shard: the headers each request carries.
pub enum ClientAuth {
    /// `bearertokenauth` (its token file may change between requests).
    Bearer(BearerToken),
    /// `basicauth` with `client_auth`.
    Basic(HeaderValue),
    /// `headers_setter` (headers from the config or the data's client metadata).
    Headers(HeadersSetter),
}

impl ClientAuth {
    /// The authenticator of extension `id`.
    pub fn build(
        id: &ComponentId,
        extensions: &BTreeMap<ComponentId, ExtensionConfig>,
    ) -> Result<ClientAuth, String> {
        match extensions.get(id) {
            Some(ExtensionConfig::BearerTokenAuth(c)) => {
                BearerToken::new(c).map(ClientAuth::Bearer)
            }
            Some(ExtensionConfig::BasicAuth(c)) => match &c.client_auth {
                Some(auth) => basicauth::client_header(auth)
                    .map(ClientAuth::Basic)
                    .ok_or_else(|| format!("extension \"{id}\": credentials HTTP cannot carry")),
                None => Err(not_for(id, "clients (it has no client_auth)")),
            },
            Some(ExtensionConfig::HeadersSetter(c)) => {
                HeadersSetter::new(c).map(ClientAuth::Headers)
            }
            Some(_) => Err(not_for(id, "requests")),
            None => Err(format!("extension \"{id}\" is not configured")),
        }
    }

    /// Adds this authenticator's headers to a request's `map`, for data whose client
    /// metadata is `metadata`.
    pub fn apply(
        &self,
        map: &mut http::HeaderMap,
        metadata: &Metadata,
    ) -> Result<(), HeadersError> {
        let (name, value): (HeaderName, HeaderValue) = match self {
            ClientAuth::Bearer(b) => match b.client_header() {
                Some(header) => header,
                None => return Ok(()),
            },
            ClientAuth::Basic(value) => (http::header::AUTHORIZATION, value.clone()),
            ClientAuth::Headers(setter) => return setter.apply(map, metadata),
        };
        map.insert(name, value);
        Ok(())
    }
}
