//! The parts of `google.rpc.Status` an exporter reads from `grpc-status-details-bin`.
//!
//! Only `RetryInfo` matters to us (it makes RESOURCE_EXHAUSTED retryable and sets the delay),
//! so we declare the three small messages here instead of pulling in a googleapis crate.

use std::time::Duration;

use base64::Engine;
use prost::Message;

const RETRY_INFO_TYPE_URL: &str = "type.googleapis.com/google.rpc.RetryInfo";

/// `google.rpc.Status`.
#[derive(Clone, PartialEq, Message)]
pub struct RpcStatus {
    /// The gRPC code.
    #[prost(int32, tag = "1")]
    pub code: i32,
    /// The message.
    #[prost(string, tag = "2")]
    pub message: String,
    /// Typed details.
    #[prost(message, repeated, tag = "3")]
    pub details: Vec<ProtoAny>,
}

/// `google.protobuf.Any`.
#[derive(Clone, PartialEq, Message)]
pub struct ProtoAny {
    /// The type of `value`.
    #[prost(string, tag = "1")]
    pub type_url: String,
    /// The encoded message.
    #[prost(bytes = "vec", tag = "2")]
    pub value: Vec<u8>,
}

/// `google.rpc.RetryInfo`.
#[derive(Clone, PartialEq, Message)]
pub struct RetryInfo {
    /// How long to wait.
    #[prost(message, optional, tag = "1")]
    pub retry_delay: Option<ProtoDuration>,
}

/// `google.protobuf.Duration`.
#[derive(Clone, PartialEq, Message)]
pub struct ProtoDuration {
    /// Whole seconds.
    #[prost(int64, tag = "1")]
    pub seconds: i64,
    /// Nanoseconds past `seconds`.
    #[prost(int32, tag = "2")]
    pub nanos: i32,
}

/// The retry delay in a `grpc-status-details-bin` value (base64, padded or not), if any.
/// It is the peer's number, unbounded (up to `i64::MAX` seconds): the caller caps it.
pub fn retry_delay(details_base64: &[u8]) -> Option<Duration> {
    let raw = base64::engine::general_purpose::STANDARD_NO_PAD
        .decode(details_base64.strip_suffix(b"==").unwrap_or(details_base64))
        .or_else(|_| base64::engine::general_purpose::STANDARD.decode(details_base64))
        .ok()?;
    let status = RpcStatus::decode(raw.as_slice()).ok()?;
    let info = status
        .details
        .iter()
        .find(|any| any.type_url == RETRY_INFO_TYPE_URL)?;
    let delay = RetryInfo::decode(info.value.as_slice()).ok()?.retry_delay?;
    let seconds = u64::try_from(delay.seconds).ok()?;
    // google.protobuf.Duration: nanos in 0..=999_999_999 for a positive duration.
    let nanos = u32::try_from(delay.nanos)
        .ok()
        .filter(|n| *n < 1_000_000_000)?;
    Some(Duration::new(seconds, nanos))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_retry_info() {
        let info = RetryInfo {
            retry_delay: Some(ProtoDuration {
                seconds: 2,
                nanos: 500,
            }),
        };
        let status = RpcStatus {
            code: 8,
            message: "slow down".into(),
            details: vec![ProtoAny {
                type_url: RETRY_INFO_TYPE_URL.into(),
                value: info.encode_to_vec(),
            }],
        };
        let text = base64::engine::general_purpose::STANDARD_NO_PAD.encode(status.encode_to_vec());
        assert_eq!(retry_delay(text.as_bytes()), Some(Duration::new(2, 500)));
        assert_eq!(retry_delay(b"!!not base64"), None);
    }

    fn encoded(seconds: i64, nanos: i32) -> String {
        let info = RetryInfo {
            retry_delay: Some(ProtoDuration { seconds, nanos }),
        };
        let status = RpcStatus {
            code: 14,
            message: String::new(),
            details: vec![ProtoAny {
                type_url: RETRY_INFO_TYPE_URL.into(),
                value: info.encode_to_vec(),
            }],
        };
        base64::engine::general_purpose::STANDARD.encode(status.encode_to_vec())
    }

    #[test]
    fn extreme_delays_decode_without_panicking() {
        let max = encoded(i64::MAX, 999_999_999);
        assert_eq!(
            retry_delay(max.as_bytes()),
            Some(Duration::new(i64::MAX as u64, 999_999_999))
        );
        assert_eq!(retry_delay(encoded(-1, 0).as_bytes()), None);
        assert_eq!(retry_delay(encoded(1, -1).as_bytes()), None);
        assert_eq!(retry_delay(encoded(1, i32::MAX).as_bytes()), None);
    }
}
