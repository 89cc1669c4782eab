//! Unit tests of the OTLP mapping: one exposition of every kind, mapped as otelcol maps it.
#![allow(clippy::unwrap_used)]

use super::*;
use crate::receiver::prometheus::exposition::{parse, Format};
use crate::receiver::prometheus::points::STALE_NAN_BITS;
use opentelemetry_proto::tonic::metrics::v1::metric::Data;
use opentelemetry_proto::tonic::metrics::v1::number_data_point;

const TEXT: &str = "\
# HELP requests_total Requests.
# TYPE requests_total counter
requests_total{code=\"200\",empty=\"\"} 10
requests_total{code=\"500\"} 2
# TYPE temperature gauge
temperature 21.5
# TYPE latency histogram
latency_bucket{le=\"0.1\"} 1
latency_bucket{le=\"1\"} 3
latency_bucket{le=\"+Inf\"} 4
latency_sum 2.5
latency_count 4
# TYPE rpc summary
rpc{quantile=\"0.5\"} 0.2
rpc{quantile=\"0.9\"} 0.7
rpc_sum 9
rpc_count 20
mystery 7
# TYPE target_info gauge
target_info{env=\"prod\",region=\"eu\"} 1
scoped{otel_scope_name=\"lib\",otel_scope_version=\"1.2\",otel_scope_kind=\"x\",k=\"v\"} 1
";

fn scrape(text: &str, at_ms: i64, starts: &mut StartTimes) -> Vec<ResourceMetrics> {
    let e = parse(text, Format::Prometheus, 100).unwrap();
    let samples: Vec<Scraped> = e
        .samples
        .into_iter()
        .map(|s| {
            let mut labels: Labels = s.labels.into_iter().collect();
            labels.insert("__name__".into(), s.name);
            labels.insert("job".into(), "app".into());
            labels.insert("instance".into(), "10.0.0.7:9100".into());
            Scraped {
                labels,
                value: s.value,
                timestamp_ms: at_ms,
            }
        })
        .collect();
    build(&samples, &e.metadata, "http", "9.9.9", starts)
}

fn strings(kvs: &[KeyValue]) -> Vec<(String, String)> {
    kvs.iter()
        .map(|kv| {
            let value = match kv.value.as_ref().and_then(|v| v.value.as_ref()) {
                Some(any_value::Value::StringValue(s)) => s.clone(),
                other => panic!("{other:?}"),
            };
            (kv.key.clone(), value)
        })
        .collect()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

#[test]
fn every_kind_maps_as_otelcol_maps_it() {
    let mut starts = StartTimes::default();
    let out = scrape(TEXT, 1_000, &mut starts);
    assert_eq!(out.len(), 1);
    let resource = out[0].resource.as_ref().unwrap();
    assert_eq!(
        strings(&resource.attributes),
        pairs(&[
            ("service.name", "app"),
            ("server.address", "10.0.0.7"),
            ("service.instance.id", "10.0.0.7:9100"),
            ("server.port", "9100"),
            ("url.scheme", "http"),
            ("env", "prod"),
            ("region", "eu"),
        ])
    );
    let scopes = &out[0].scope_metrics;
    assert_eq!(scopes.len(), 2);
    let scope = scopes[0].scope.as_ref().unwrap();
    assert_eq!(
        (scope.name.as_str(), scope.version.as_str()),
        (SCOPE_NAME, "9.9.9")
    );
    let metrics = &scopes[0].metrics;
    let names: Vec<&str> = metrics.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(
        names,
        ["requests_total", "temperature", "latency", "rpc", "mystery"]
    );

    let Some(Data::Sum(sum)) = &metrics[0].data else {
        panic!("{:?}", metrics[0])
    };
    assert!(sum.is_monotonic);
    assert_eq!(
        sum.aggregation_temporality,
        AggregationTemporality::Cumulative as i32
    );
    assert_eq!(sum.data_points.len(), 2);
    assert_eq!(
        strings(&sum.data_points[0].attributes),
        pairs(&[("code", "200")])
    );
    assert_eq!(sum.data_points[0].start_time_unix_nano, 1_000_000_000);
    assert_eq!(sum.data_points[0].time_unix_nano, 1_000_000_000);
    assert_eq!(metrics[0].description, "Requests.");
    assert_eq!(
        strings(&metrics[0].metadata),
        pairs(&[("prometheus.type", "counter")])
    );

    let Some(Data::Gauge(gauge)) = &metrics[1].data else {
        panic!()
    };
    assert_eq!(
        gauge.data_points[0].value,
        Some(number_data_point::Value::AsDouble(21.5))
    );

    let Some(Data::Histogram(h)) = &metrics[2].data else {
        panic!()
    };
    let p = &h.data_points[0];
    assert_eq!(p.explicit_bounds, [0.1, 1.0]);
    assert_eq!(p.bucket_counts, [1, 2, 1]);
    assert_eq!((p.count, p.sum), (4, Some(2.5)));
    assert!(p.attributes.is_empty(), "le is not an attribute");

    let Some(Data::Summary(s)) = &metrics[3].data else {
        panic!()
    };
    let p = &s.data_points[0];
    assert_eq!((p.count, p.sum), (20, 9.0));
    let quantiles: Vec<(f64, f64)> = p
        .quantile_values
        .iter()
        .map(|q| (q.quantile, q.value))
        .collect();
    assert_eq!(quantiles, [(0.5, 0.2), (0.9, 0.7)]);

    let Some(Data::Gauge(untyped)) = &metrics[4].data else {
        panic!()
    };
    assert_eq!(untyped.data_points.len(), 1);
    assert_eq!(
        strings(&metrics[4].metadata),
        pairs(&[("prometheus.type", "unknown")])
    );

    let scoped = scopes[1].scope.as_ref().unwrap();
    assert_eq!(
        (scoped.name.as_str(), scoped.version.as_str()),
        ("lib", "1.2")
    );
    assert_eq!(strings(&scoped.attributes), pairs(&[("kind", "x")]));
    let Some(Data::Gauge(g)) = &scopes[1].metrics[0].data else {
        panic!()
    };
    assert_eq!(strings(&g.data_points[0].attributes), pairs(&[("k", "v")]));
}

#[test]
fn start_times_follow_the_first_point_and_resets() {
    let mut starts = StartTimes::default();
    scrape(TEXT, 1_000, &mut starts);
    starts.sweep();
    let later = TEXT.replace(
        "requests_total{code=\"500\"} 2",
        "requests_total{code=\"500\"} 1",
    );
    let out = scrape(&later, 2_000, &mut starts);
    let Some(Data::Sum(sum)) = &out[0].scope_metrics[0].metrics[0].data else {
        panic!()
    };
    // code=200 went on from 10 to 10: its run started at the first scrape.
    assert_eq!(sum.data_points[0].start_time_unix_nano, 1_000_000_000);
    // code=500 went down: reset, a new run from this point.
    assert_eq!(sum.data_points[1].start_time_unix_nano, 2_000_000_000);
    let Some(Data::Histogram(h)) = &out[0].scope_metrics[0].metrics[2].data else {
        panic!()
    };
    assert_eq!(h.data_points[0].start_time_unix_nano, 1_000_000_000);
}

#[test]
fn openmetrics_counters_created_and_units() {
    let text = "# TYPE c counter\n# UNIT c seconds\nc_total 3\nc_created 500.5\n\
                # TYPE h histogram\nh_bucket{le=\"+Inf\"} 2\nh_count 2\nh_sum 1\nh_created 400\n# EOF\n";
    let e = parse(text, Format::OpenMetrics, 100).unwrap();
    let samples: Vec<Scraped> = e
        .samples
        .into_iter()
        .map(|s| Scraped {
            labels: [("__name__".to_owned(), s.name)].into(),
            value: s.value,
            timestamp_ms: 1_000_000,
        })
        .collect();
    let out = build(
        &samples,
        &e.metadata,
        "http",
        "v",
        &mut StartTimes::default(),
    );
    let metrics = &out[0].scope_metrics[0].metrics;
    assert_eq!(metrics.len(), 2);
    assert_eq!(
        (metrics[0].name.as_str(), metrics[0].unit.as_str()),
        ("c_total", "s")
    );
    let Some(Data::Sum(sum)) = &metrics[0].data else {
        panic!()
    };
    assert_eq!(sum.data_points[0].start_time_unix_nano, 500_500_000_000);
    let Some(Data::Histogram(h)) = &metrics[1].data else {
        panic!()
    };
    assert_eq!(h.data_points[0].start_time_unix_nano, 400_000_000_000);
    assert!(h.data_points[0].explicit_bounds.is_empty());
    assert_eq!(h.data_points[0].bucket_counts, [2]);
}

#[test]
fn inconsistent_histograms_and_summaries_without_count_are_dropped() {
    let text = "# TYPE h histogram\nh_bucket{le=\"1\"} 5\nh_bucket{le=\"2\"} 3\nh_count 5\n\
                # TYPE s summary\ns{quantile=\"0.5\"} 1\n";
    let out = scrape(text, 1, &mut StartTimes::default());
    assert!(out.is_empty(), "{out:?}");
    assert_eq!(ucum("bytes_per_second"), "By/s");
    assert_eq!(ucum("widgets"), "widgets");
}

#[test]
fn stale_series_have_no_recorded_value_and_keep_their_start() {
    let mut starts = StartTimes::default();
    scrape(TEXT, 1_000, &mut starts);
    starts.sweep();
    let stale = f64::from_bits(STALE_NAN_BITS);
    let text = "# TYPE requests_total counter\nrequests_total{code=\"500\"} 1\n\
                # TYPE latency histogram\nlatency_bucket{le=\"0.1\"} 1\nlatency_bucket{le=\"1\"} 1\n\
                latency_bucket{le=\"+Inf\"} 1\nlatency_sum 1\nlatency_count 1\n";
    let e = parse(text, Format::Prometheus, 100).unwrap();
    let samples: Vec<Scraped> = e
        .samples
        .into_iter()
        .map(|s| {
            let mut labels: Labels = s.labels.into_iter().collect();
            labels.insert("__name__".into(), s.name);
            labels.insert("job".into(), "app".into());
            labels.insert("instance".into(), "10.0.0.7:9100".into());
            Scraped {
                labels,
                value: stale,
                timestamp_ms: 2_000,
            }
        })
        .collect();
    let out = build(&samples, &e.metadata, "http", "v", &mut starts);
    let metrics = &out[0].scope_metrics[0].metrics;
    let Some(Data::Sum(sum)) = &metrics[0].data else {
        panic!()
    };
    let p = &sum.data_points[0];
    assert_eq!((p.flags, p.value), (1, None));
    assert_eq!(p.start_time_unix_nano, 1_000_000_000);
    let Some(Data::Histogram(h)) = &metrics[1].data else {
        panic!()
    };
    let p = &h.data_points[0];
    assert_eq!((p.flags, p.count, p.sum), (1, 0, None));
    assert_eq!(p.explicit_bounds, [0.1, 1.0]);
    assert_eq!(p.bucket_counts, [0, 0, 0]);
    // Stale series are not seen: the next sweep forgets them.
    starts.sweep();
    assert!(starts.is_empty());
}
