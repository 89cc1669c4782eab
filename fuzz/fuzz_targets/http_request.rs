//! Bytes → the OTLP/HTTP request parser (head, Content-Length and chunked framing), as the
//! server runs it on a connection's bytes, without sockets. Must never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shardgate_io::http1_server::{parse_request, Limits};

fuzz_target!(|data: &[u8]| {
    let limits = Limits {
        body_bytes_max: 64 * 1024,
        ..Limits::default()
    };
    if let Ok(Some(request)) = parse_request(data, &limits) {
        assert!(request.body.len() <= limits.body_bytes_max);
        let _ = request.head.path();
    }
});
