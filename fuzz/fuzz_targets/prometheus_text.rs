//! Bytes → the Prometheus text / OpenMetrics parser (both formats), then the OTLP mapping of
//! whatever it accepts. Never panics, never keeps more samples than its limit.
#![no_main]

use libfuzzer_sys::fuzz_target;
use shardgate::receiver::prometheus::exposition::{parse, Format};
use shardgate::receiver::prometheus::mapping::{build, Scraped};
use shardgate::receiver::prometheus::series::StartTimes;

const SAMPLES_MAX: usize = 64;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    for format in [Format::Prometheus, Format::OpenMetrics] {
        let Ok(exposition) = parse(&text, format, SAMPLES_MAX) else {
            continue;
        };
        assert!(exposition.samples.len() <= SAMPLES_MAX);
        let samples: Vec<Scraped> = exposition
            .samples
            .into_iter()
            .map(|s| {
                let mut labels: std::collections::BTreeMap<String, String> =
                    s.labels.into_iter().collect();
                labels.insert("__name__".into(), s.name);
                Scraped {
                    labels,
                    value: s.value,
                    timestamp_ms: s.timestamp_ms.unwrap_or(1),
                }
            })
            .collect();
        let mut starts = StartTimes::default();
        build(&samples, &exposition.metadata, "http", "0", &mut starts);
        // A second scrape of the same text runs the start-time and reset paths.
        build(&samples, &exposition.metadata, "http", "0", &mut starts);
    }
});
