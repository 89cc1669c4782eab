//! How OTLP data is written into a Kafka message and read back (otelcol's `encoding` names).

use bytes::{Bytes, BytesMut};

use crate::otlp::{self, JsonError, ResourceChunk};
use crate::signal::Signal;

/// A message's payload encoding.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Encoding {
    /// The `Export*ServiceRequest` in binary protobuf (otelcol's default).
    #[default]
    OtlpProto,
    /// The same request in OTLP/JSON.
    OtlpJson,
}

/// Encodings otelcol has that this build does not, and what to say about them.
const NOT_BUILT: &[&str] = &[
    "jaeger_proto",
    "jaeger_json",
    "zipkin_proto",
    "zipkin_json",
    "zipkin_thrift",
    "raw",
    "text",
    "json",
    "azure_resource_logs",
];

impl Encoding {
    /// Reads an `encoding` value, or says why it is not one.
    pub fn parse(text: &str) -> Result<Encoding, String> {
        match text {
            "otlp_proto" => Ok(Encoding::OtlpProto),
            "otlp_json" => Ok(Encoding::OtlpJson),
            other if NOT_BUILT.contains(&other) => Err(format!(
                "encoding \"{other}\" is not built into this shardgate; use otlp_proto or otlp_json"
            )),
            other => Err(format!(
                "unknown encoding \"{other}\"; expected otlp_proto or otlp_json (or an encoding extension, which this build does not have)"
            )),
        }
    }

    /// A signal's `encoding` (its own, else the deprecated top-level one; unset or empty:
    /// `otlp_proto`), an error at `path` if it is not one.
    pub(crate) fn from_config(
        own: Option<String>,
        common: Option<&str>,
        path: &str,
        errs: &mut crate::config::error::Errors,
    ) -> Encoding {
        match own.as_deref().or(common) {
            None | Some("") => Encoding::OtlpProto,
            Some(text) => Encoding::parse(text).unwrap_or_else(|reason| {
                errs.invalid(path, reason);
                Encoding::OtlpProto
            }),
        }
    }

    /// The config spelling.
    pub fn name(self) -> &'static str {
        match self {
            Encoding::OtlpProto => "otlp_proto",
            Encoding::OtlpJson => "otlp_json",
        }
    }

    /// One message payload holding `chunks` as a request of `signal`.
    pub fn encode<'a>(
        self,
        signal: Signal,
        chunks: impl IntoIterator<Item = &'a ResourceChunk> + Clone,
    ) -> Result<Bytes, JsonError> {
        let mut plain = BytesMut::with_capacity(otlp::encoded_request_len(chunks.clone()));
        otlp::encode_request(chunks, &mut plain);
        match self {
            Encoding::OtlpProto => Ok(plain.freeze()),
            Encoding::OtlpJson => otlp::protobuf_to_json(signal, &plain).map(Bytes::from),
        }
    }

    /// The protobuf request of `signal` in a message payload (not yet validated: the
    /// receiver's scan does that, as for any request).
    pub fn decode(self, signal: Signal, payload: Bytes) -> Result<Bytes, JsonError> {
        match self {
            Encoding::OtlpProto => Ok(payload),
            Encoding::OtlpJson => otlp::json_to_protobuf(signal, &payload).map(Bytes::from),
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::otlp::testgen::Req;
    use proptest::prelude::*;

    proptest! {
        /// Scenario: any request, encoded then decoded in either encoding. Guarantee: the
        /// same request comes back.
        #[test]
        fn a_request_survives_both_encodings(req in crate::otlp::testgen::request()) {
            // What OTLP/JSON cannot carry (NaN never equals itself; string-table indexes of
            // profiles' values have no JSON field) is the JSON codec's business, tested there.
            let text = format!("{req:?}");
            prop_assume!(!text.contains("NaN") && !text.contains("StringValueStrindex"));
            let signal = req.signal();
            let body = Bytes::from(req.encode());
            let scanned = otlp::scan_request(signal, &body).unwrap();
            for encoding in [Encoding::OtlpProto, Encoding::OtlpJson] {
                let payload = encoding.encode(signal, &scanned.chunks).unwrap();
                let back = encoding.decode(signal, payload).unwrap();
                prop_assert_eq!(Req::decode(signal, &back).unwrap(), req.clone());
            }
        }
    }

    #[test]
    fn other_encodings_are_refused_by_name() {
        assert!(Encoding::parse("jaeger_proto")
            .unwrap_err()
            .contains("not built"));
        assert!(Encoding::parse("protobuf").unwrap_err().contains("unknown"));
        assert_eq!(Encoding::parse("otlp_json"), Ok(Encoding::OtlpJson));
    }
}
