//! Metrics from the SDK's tonic metric exporter: counters, up-down counters, histograms, gauges.

use super::*;

/// Scenario: the SDK's periodic reader (long interval, so only explicit flushes export) sends
/// counters (u64, f64), an up-down counter, histograms (f64 with custom bounds, u64) and gauges
/// (u64, i64, f64), each with several attribute sets, in two collections (force_flush, then
/// more measurements and shutdown), to shardgate with two shards. Guarantee: the backend gets
/// every data point exactly once, byte-for-byte what the SDK exported (values, attributes,
/// times, buckets, temporality, monotonicity, name, unit, description), under the SDK's
/// resource and scope.
#[test]
fn sdk_metrics_arrive_exactly_once_and_intact() {
    let s = setup();
    let guard = s.rt.enter();
    let exporter = opentelemetry_otlp::MetricExporter::builder()
        .with_tonic()
        .with_endpoint(s.config.grpc_url())
        .with_timeout(Duration::from_secs(10))
        .build()
        .expect("metric exporter");
    let (exporter, sent) = tee::<_, ExportMetricsServiceRequest>(exporter);
    let reader = PeriodicReader::builder(exporter)
        .with_interval(Duration::from_secs(3600))
        .build();
    let provider = SdkMeterProvider::builder()
        .with_reader(reader)
        .with_resource(resource("sdk-metrics"))
        .build();
    drop(guard);
    let meter = provider.meter_with_scope(scope("sdk-metric-scope"));
    let requests = meter
        .u64_counter("http.server.requests")
        .with_description("Requests served")
        .with_unit("{request}")
        .build();
    let bytes = meter
        .f64_counter("http.server.bytes")
        .with_unit("By")
        .build();
    let queue = meter
        .i64_up_down_counter("queue.depth")
        .with_description("Items queued")
        .build();
    let latency = meter
        .f64_histogram("http.server.duration")
        .with_unit("ms")
        .with_boundaries(vec![1.0, 5.0, 10.0, 50.0])
        .build();
    let sizes = meter.u64_histogram("payload.size").with_unit("By").build();
    let temperature = meter.f64_gauge("room.temperature").with_unit("Cel").build();
    let free = meter.u64_gauge("disk.free").build();
    let delta = meter.i64_gauge("balance.delta").build();

    let routes = ["/a", "/b", "/c"];
    for round in 0..2_u64 {
        for (r, route) in routes.iter().enumerate() {
            let attrs = [
                KeyValue::new("http.route", *route),
                KeyValue::new("http.ok", r % 2 == 0),
                KeyValue::new("shard.hint", r as i64),
            ];
            let r = r as u64;
            requests.add(5 + r + round * 10, &attrs);
            bytes.add(1.5 * (r + 1) as f64, &attrs);
            queue.add(3 - r as i64 - round as i64 * 5, &attrs);
            for v in [0.5, 3.0, 7.0, 20.0 + r as f64, 400.0] {
                latency.record(v + round as f64, &attrs);
            }
            sizes.record(1024 * (r + 1) + round, &attrs);
            temperature.record(21.5 + r as f64 + round as f64, &attrs);
            free.record(1 << (30 + r + round), &attrs);
            delta.record(-(r as i64) - round as i64, &attrs);
        }
        if round == 0 {
            provider.force_flush().expect("force_flush");
        }
    }
    provider.shutdown().expect("shutdown");
    sent.assert_no_failures();

    let expected = flatten_metrics(&sent.requests());
    // 8 instruments × 3 attribute sets × 2 collections.
    assert_eq!(
        expected.len(),
        8 * 3 * 2,
        "the tee saw two collections of every point"
    );
    settle(|| s.backend.points().len(), expected.len());
    let actual = s.backend.points();
    assert_same_items("data point", &expected, &actual, point_key);

    // Explicit checks on what arrived.
    let names: BTreeSet<&str> = actual.iter().map(|f| f.item.name.as_str()).collect();
    assert_eq!(
        names,
        BTreeSet::from([
            "http.server.requests",
            "http.server.bytes",
            "queue.depth",
            "http.server.duration",
            "payload.size",
            "room.temperature",
            "disk.free",
            "balance.delta"
        ])
    );
    for flat in &actual {
        let m = &flat.item;
        assert_resource_and_scope(flat, "sdk-metrics", "sdk-metric-scope", &m.name);
        match (m.name.as_str(), &m.data) {
            ("http.server.requests", Some(metric::Data::Sum(s))) => {
                assert!(s.is_monotonic);
                assert_eq!(m.unit, "{request}");
                assert_eq!(m.description, "Requests served");
                assert!(matches!(
                    s.data_points[0].value,
                    Some(number_data_point::Value::AsInt(_))
                ));
            }
            ("http.server.bytes", Some(metric::Data::Sum(s))) => {
                assert!(s.is_monotonic);
                assert!(matches!(
                    s.data_points[0].value,
                    Some(number_data_point::Value::AsDouble(_))
                ));
            }
            ("queue.depth", Some(metric::Data::Sum(s))) => assert!(!s.is_monotonic),
            ("http.server.duration", Some(metric::Data::Histogram(h))) => {
                let p = &h.data_points[0];
                assert_eq!(p.explicit_bounds, vec![1.0, 5.0, 10.0, 50.0]);
                assert_eq!(p.bucket_counts.len(), 5);
                // Cumulative (the exporter's default): the second collection holds both rounds.
                assert_eq!(h.aggregation_temporality, 2, "cumulative");
                let want = if is_second(flat, &actual) { 10 } else { 5 };
                assert_eq!(p.count, want, "histogram count");
                assert_eq!(
                    p.bucket_counts.iter().sum::<u64>(),
                    want,
                    "bucket counts add up"
                );
            }
            ("payload.size", Some(metric::Data::Histogram(_))) => {}
            ("room.temperature" | "disk.free" | "balance.delta", Some(metric::Data::Gauge(_))) => {}
            (name, data) => panic!("metric {name} arrived with unexpected data {data:?}"),
        }
    }
    drop(s.collector);
}

/// Whether `flat` is from the later of the two collections of its series.
fn is_second(flat: &Flat<Metric>, all: &[Flat<Metric>]) -> bool {
    let key = series_key(&flat.item);
    let mine = point_time(&flat.item);
    all.iter()
        .filter(|f| series_key(&f.item) == key)
        .any(|f| point_time(&f.item) < mine)
}

fn point_attrs_and_time(m: &Metric) -> (Vec<PKeyValue>, u64) {
    match &m.data {
        Some(metric::Data::Gauge(g)) => (
            g.data_points[0].attributes.clone(),
            g.data_points[0].time_unix_nano,
        ),
        Some(metric::Data::Sum(s)) => (
            s.data_points[0].attributes.clone(),
            s.data_points[0].time_unix_nano,
        ),
        Some(metric::Data::Histogram(h)) => (
            h.data_points[0].attributes.clone(),
            h.data_points[0].time_unix_nano,
        ),
        Some(metric::Data::ExponentialHistogram(h)) => (
            h.data_points[0].attributes.clone(),
            h.data_points[0].time_unix_nano,
        ),
        Some(metric::Data::Summary(s)) => (
            s.data_points[0].attributes.clone(),
            s.data_points[0].time_unix_nano,
        ),
        None => (Vec::new(), 0),
    }
}

fn point_time(m: &Metric) -> u64 {
    point_attrs_and_time(m).1
}

fn series_key(m: &Metric) -> String {
    let (mut attrs, _) = point_attrs_and_time(m);
    attrs.sort_by(|a, b| a.key.cmp(&b.key));
    format!("{} {:?}", m.name, attrs)
}

/// A data point's identity: metric name, attribute set and timestamp.
fn point_key(m: &Metric) -> String {
    format!("{} @{}", series_key(m), point_time(m))
}
