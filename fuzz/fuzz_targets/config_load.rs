//! Text → the config loader: YAML, `${env:…}` expansion, the tuning profile overlay, every
//! section's typed checks. Must never panic; anything it refuses is a `ConfigError`.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    // Set once; the inputs reference them as ${env:FUZZ_PORT} and ${FUZZ_NAME}.
    static ENV: std::sync::Once = std::sync::Once::new();
    ENV.call_once(|| {
        std::env::set_var("FUZZ_PORT", "4317");
        std::env::set_var("FUZZ_NAME", "otlp/fuzz");
    });
    let _ = shardgate::config::parse_str(text, "fuzz");
    let _ = shardgate::config::parse_str_with_profile(
        text,
        "fuzz",
        "shards: {cores: 1, h2_send_timeout: 5s}",
        "profile",
    );
});
