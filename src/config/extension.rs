//! `extensions:` section: one variant per extension type; each type's config lives with it.

use crate::extension::basicauth::config::BasicAuthConfig;
use crate::extension::bearertokenauth::config::BearerTokenConfig;
use crate::extension::file_storage::config::FileStorageConfig;
use crate::extension::headers_setter::config::HeadersSetterConfig;
use crate::extension::health_check::config::HealthCheckConfig;
use crate::extension::zpages::config::ZpagesConfig;

/// One configured extension.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ExtensionConfig {
    /// `health_check`: an HTTP endpoint answering 200 while the collector serves, 503 otherwise.
    HealthCheck(HealthCheckConfig),
    /// `bearertokenauth`: a token in a request header, checked by receivers, sent by exporters.
    BearerTokenAuth(BearerTokenConfig),
    /// `basicauth`: HTTP Basic credentials (htpasswd for receivers, client_auth for exporters).
    BasicAuth(BasicAuthConfig),
    /// `zpages`: debugging pages (service, pipelines, extensions) on their own endpoint.
    Zpages(ZpagesConfig),
    /// `file_storage`: where exporters' durable sending queues keep their segment files.
    FileStorage(FileStorageConfig),
    /// `headers_setter`: an exporter authenticator setting headers from the config or the
    /// data's client metadata.
    HeadersSetter(HeadersSetterConfig),
}
