//! The Jaeger agent's UDP intake: each datagram is one `Agent.emitBatch(1: jaeger.Batch
//! batch)` call (jaeger-idl's agent.thrift, a oneway method), a whole Thrift message in the
//! compact protocol (`thrift_compact`, port 6831) or the binary protocol (`thrift_binary`,
//! port 6832). Nothing is answered: UDP gives the sender no channel to hear it.

use super::compact::Compact;
use super::model::{Batch, DecodeError};
use super::thrift::{self, error, Binary, Protocol};

/// The one method served; `emitZipkinBatch` (the agent's other) is refused, as otelcol does.
pub const EMIT_BATCH: &str = "emitBatch";

/// Thrift message types a client may send `emitBatch` as: CALL (1) and ONEWAY (4).
const CALL: u8 = 1;
const ONEWAY: u8 = 4;

/// Which Thrift protocol a UDP port speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AgentProtocol {
    /// `thrift_compact` (6831).
    Compact,
    /// `thrift_binary` (6832).
    Binary,
}

/// Decodes one `emitBatch` datagram into its batch.
pub fn decode(protocol: AgentProtocol, datagram: &[u8]) -> Result<Batch, DecodeError> {
    match protocol {
        AgentProtocol::Compact => emit_batch(&mut Compact::new(datagram)),
        AgentProtocol::Binary => emit_batch(&mut Binary::new(datagram)),
    }
}

fn emit_batch<P: Protocol>(r: &mut P) -> Result<Batch, DecodeError> {
    let head = r.message_begin()?;
    if head.name != EMIT_BATCH {
        return Err(error(format!(
            "method {:?} is not served; send {EMIT_BATCH}",
            head.name
        )));
    }
    if head.kind != CALL && head.kind != ONEWAY {
        return Err(error(format!("message type {} is not a call", head.kind)));
    }
    let mut batch = None;
    thrift::fields(r, |r, id, kind| match (id, kind) {
        (1, thrift::STRUCT) => {
            batch = Some(thrift::batch(r)?);
            Ok(true)
        }
        _ => Ok(false),
    })?;
    batch.ok_or_else(|| error("emitBatch without a batch"))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::super::compact::tests::{batch_message, random_batch};
    use super::*;
    use proptest::prelude::*;

    /// The same batch in a binary message: header, args struct, batch.
    fn binary_message(name: &str, kind: u8) -> Vec<u8> {
        use super::super::thrift::tests::Writer;
        let mut w = Writer::default();
        w.0.extend_from_slice(&(0x8001_0000u32 | u32::from(kind)).to_be_bytes());
        w.string(name).i32(7);
        w.field(thrift::STRUCT, 1);
        w.field(thrift::STRUCT, 1)
            .field(thrift::STRING, 1)
            .string("svc")
            .stop();
        w.field(thrift::LIST, 2).list(thrift::STRUCT, 1);
        w.field(thrift::I64, 3)
            .i64(5)
            .field(thrift::STRING, 5)
            .string("op")
            .stop();
        w.stop();
        w.stop();
        w.0
    }

    #[test]
    fn reads_binary_emit_batch_and_refuses_other_methods() {
        let batch = decode(AgentProtocol::Binary, &binary_message("emitBatch", ONEWAY)).unwrap();
        assert_eq!(batch.process.unwrap().service_name, "svc");
        assert_eq!(batch.spans[0].operation_name, "op");
        assert_eq!(batch.spans[0].span_id, 5i64.to_be_bytes());
        let err = decode(
            AgentProtocol::Binary,
            &binary_message("emitZipkinBatch", ONEWAY),
        );
        assert!(err.unwrap_err().to_string().contains("emitZipkinBatch"));
        let err = decode(AgentProtocol::Binary, &binary_message("emitBatch", 2));
        assert!(err.unwrap_err().to_string().contains("not a call"));
        // The binary message is not a compact one, and the reverse.
        let err = decode(AgentProtocol::Compact, &binary_message("emitBatch", ONEWAY));
        assert!(err.unwrap_err().to_string().contains("not a compact"));
        let compact = batch_message(&Batch::default());
        assert!(decode(AgentProtocol::Binary, &compact).is_err());
        assert!(decode(AgentProtocol::Compact, &compact).is_ok());
    }

    proptest! {
        /// Any datagram, and any prefix of a valid one, is an answer, never a panic.
        #[test]
        fn garbage_and_truncation_are_errors(
            bytes in proptest::collection::vec(any::<u8>(), 0..256),
            batch in random_batch(),
            cut in 0usize..10_000,
        ) {
            let _ = decode(AgentProtocol::Compact, &bytes);
            let _ = decode(AgentProtocol::Binary, &bytes);
            let whole = batch_message(&batch);
            let cut = cut % whole.len();
            prop_assert!(decode(AgentProtocol::Compact, &whole[..cut]).is_err());
        }
    }
}
