//! Config of the `zipkin` receiver, with otelcol-contrib's keys and defaults: the HTTP server
//! settings (confighttp's, squashed into the receiver's body) and `parse_string_tags`.

use serde_yaml::Value;

use crate::config::de::{self, join};
use crate::config::error::Errors;
use crate::receiver::otlp::config::{plain_http_server, HttpServerConfig, RawHttp};

/// Default listen endpoint: the Zipkin port, on localhost as otelcol binds by default.
pub const DEFAULT_ZIPKIN_ENDPOINT: &str = "localhost:9411";

/// The `zipkin` receiver.
#[derive(Clone, Debug, PartialEq)]
pub struct ZipkinReceiverConfig {
    /// The HTTP server (`endpoint`, `tls`, `auth`, `cors`, `max_request_body_size`, timeouts).
    pub server: HttpServerConfig,
    /// Turn tag values that read as an int, a float or a bool into typed attributes.
    pub parse_string_tags: bool,
}

/// Decodes and checks a `zipkin` receiver body at `path`.
pub(crate) fn parse(body: Value, path: &str, errs: &mut Errors) -> Option<ZipkinReceiverConfig> {
    let mut body = match body {
        Value::Null => serde_yaml::Mapping::new(),
        Value::Mapping(m) => m,
        other => {
            // Let the decoder name the type error.
            errs.take(de::decode::<RawHttp>(other, path))?;
            return None;
        }
    };
    let parse_string_tags = match body.remove("parse_string_tags") {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => b,
        Some(other) => {
            errs.invalid(
                join(path, "parse_string_tags"),
                format!("expected true or false, found {other:?}"),
            );
            false
        }
    };
    let server = plain_http_server(
        body,
        DEFAULT_ZIPKIN_ENDPOINT,
        "/api/v2/spans and /api/v1/spans",
        path,
        errs,
    )?;
    Some(ZipkinReceiverConfig {
        server,
        parse_string_tags,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use crate::config::{ConfigError, ReceiverConfig};

    use super::*;

    fn parse(yaml: &str) -> Result<ZipkinReceiverConfig, ConfigError> {
        match crate::registry::testing::receiver("zipkin", yaml)? {
            ReceiverConfig::Zipkin(z) => Ok(*z),
            other => panic!("not a zipkin config: {other:?}"),
        }
    }

    #[test]
    fn defaults_as_otelcol() {
        for yaml in ["", "{}"] {
            let z = parse(yaml).unwrap();
            assert_eq!(z.server.endpoint, "127.0.0.1:9411".parse().unwrap());
            assert!(!z.parse_string_tags);
            assert_eq!(z.server.max_request_body_size_bytes, 20 * 1024 * 1024);
            assert_eq!(z.server.tls, None);
        }
    }

    #[test]
    fn explicit_values() {
        let z = parse(
            "endpoint: 0.0.0.0:19411\nparse_string_tags: true\nmax_request_body_size: 1000\n",
        )
        .unwrap();
        assert_eq!(z.server.endpoint, "0.0.0.0:19411".parse().unwrap());
        assert!(z.parse_string_tags);
        assert_eq!(z.server.max_request_body_size_bytes, 1000);
    }

    #[test]
    fn bad_keys_are_named() {
        let err = parse("parse_string_tags: maybe\n").unwrap_err().to_string();
        assert!(
            err.contains("receivers::zipkin::parse_string_tags: expected true or false"),
            "{err}"
        );
        let err = parse("traces_url_path: /x\n").unwrap_err().to_string();
        assert!(
            err.contains("receivers::zipkin::traces_url_path: unknown field"),
            "{err}"
        );
        let err = parse("endpont: x\n").unwrap_err().to_string();
        assert!(err.contains("unknown field `endpont`"), "{err}");
        let err = parse("tls: {cert_file: a}\n").unwrap_err().to_string();
        assert!(err.contains("receivers::zipkin::tls::key_file"), "{err}");
    }
}
