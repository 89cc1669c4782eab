//! Bytes → `json_to_protobuf` for each signal; whatever it accepts must be protobuf that
//! `protobuf_to_json` reads back. Must never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shardgate::otlp::{json_to_protobuf, protobuf_to_json};
use shardgate::signal::Signal;

fuzz_target!(|data: &[u8]| {
    for signal in Signal::ALL {
        if let Ok(protobuf) = json_to_protobuf(signal, data) {
            assert!(protobuf_to_json(signal, &protobuf).is_ok());
        }
    }
});
