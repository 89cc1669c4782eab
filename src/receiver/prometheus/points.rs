//! One series' samples as one OTLP data point, with its start time (see `series`).
//!
//! A series that went stale (it vanished from a scrape, or the scrape failed) carries
//! Prometheus's staleness marker, a NaN with the bit pattern [`STALE_NAN_BITS`]; its point
//! has the `NO_RECORDED_VALUE` flag and no value (histogram buckets and summary quantiles
//! keep their bounds with zero counts), as otelcol's receiver writes it, and keeps the
//! series' start time.

use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::metrics::v1::{
    number_data_point, summary_data_point::ValueAtQuantile, HistogramDataPoint, NumberDataPoint,
    SummaryDataPoint,
};

use super::series::{StartTimes, Totals};

/// Prometheus's staleness marker: a NaN no parser produces (`NaN` in text parses to the
/// canonical `0x7ff8…`).
pub const STALE_NAN_BITS: u64 = 0x7ff0_0000_0000_0002;

/// OTLP's `DataPointFlags.FLAG_NO_RECORDED_VALUE`.
const FLAG_NO_RECORDED_VALUE: u32 = 1;

/// Whether `value` is the staleness marker.
pub fn is_stale(value: f64) -> bool {
    value.to_bits() == STALE_NAN_BITS
}

/// What one series (one point) of a family gathered.
#[derive(Default)]
pub(super) struct Group {
    pub(super) key: String,
    pub(super) attributes: Vec<KeyValue>,
    pub(super) timestamp_ms: i64,
    pub(super) value: Option<f64>,
    pub(super) count: Option<f64>,
    pub(super) sum: Option<f64>,
    pub(super) created_seconds: Option<f64>,
    /// `(le or quantile, value)`
    pub(super) bounds: Vec<(f64, f64)>,
}

impl Group {
    /// Whether the series went stale (its value, or a histogram's or summary's count or
    /// sum, is the marker).
    fn stale(&self) -> bool {
        [self.value, self.count, self.sum]
            .into_iter()
            .flatten()
            .any(is_stale)
    }
}

fn nanos(ms: i64) -> u64 {
    u64::try_from(ms).unwrap_or(0).saturating_mul(1_000_000)
}

fn created_nanos(seconds: Option<f64>) -> Option<u64> {
    seconds
        .filter(|s| s.is_finite() && *s > 0.0)
        .map(|s| (s * 1e9) as u64)
}

/// A gauge's point (`starts: None`) or a sum's.
pub(super) fn number_point(
    group: Group,
    starts: Option<(&str, &mut StartTimes)>,
) -> Option<NumberDataPoint> {
    let value = group.value?;
    let time = nanos(group.timestamp_ms);
    let stale = group.stale();
    let start = match starts {
        Some((prefix, starts)) if stale => starts.stale(&format!("{prefix}{}", group.key)),
        Some((prefix, starts)) => starts.start(
            format!("{prefix}{}", group.key),
            time,
            created_nanos(group.created_seconds),
            Totals::Value(value),
        ),
        None => 0,
    };
    Some(NumberDataPoint {
        attributes: group.attributes,
        start_time_unix_nano: start,
        time_unix_nano: time,
        value: (!stale).then_some(number_data_point::Value::AsDouble(value)),
        flags: if stale { FLAG_NO_RECORDED_VALUE } else { 0 },
        ..NumberDataPoint::default()
    })
}

/// A histogram's point; `None` without `_count`, or with NaN or decreasing buckets.
pub(super) fn histogram_point(
    mut group: Group,
    prefix: &str,
    starts: &mut StartTimes,
) -> Option<HistogramDataPoint> {
    let count = group.count?;
    let stale = group.stale();
    group.bounds.sort_by(|a, b| a.0.total_cmp(&b.0));
    if group
        .bounds
        .last()
        .is_some_and(|(le, _)| *le == f64::INFINITY)
    {
        group.bounds.pop();
    }
    let bucket_counts = if stale {
        vec![0; group.bounds.len() + 1]
    } else {
        per_bucket(&group.bounds, count)?
    };
    let time = nanos(group.timestamp_ms);
    let key = format!("{prefix}{}", group.key);
    let sum = group.sum.unwrap_or(0.0);
    let start = if stale {
        starts.stale(&key)
    } else {
        let totals = Totals::Histogram {
            count: count as u64,
            sum,
        };
        starts.start(key, time, created_nanos(group.created_seconds), totals)
    };
    Some(HistogramDataPoint {
        attributes: group.attributes,
        start_time_unix_nano: start,
        time_unix_nano: time,
        count: if stale { 0 } else { count as u64 },
        sum: group.sum.filter(|_| !stale),
        bucket_counts,
        explicit_bounds: group.bounds.iter().map(|(le, _)| *le).collect(),
        flags: if stale { FLAG_NO_RECORDED_VALUE } else { 0 },
        ..HistogramDataPoint::default()
    })
}

/// Cumulative bucket counts (by ascending bound, `+Inf` left out) and the total as
/// per-bucket counts; `None` when they are NaN or decrease.
fn per_bucket(bounds: &[(f64, f64)], count: f64) -> Option<Vec<u64>> {
    let mut counts = Vec::with_capacity(bounds.len() + 1);
    let mut previous = 0.0;
    for (_, cumulative) in bounds {
        if cumulative.is_nan() || *cumulative < previous {
            tracing::debug!("histogram point with NaN or decreasing buckets dropped");
            return None;
        }
        counts.push((cumulative - previous) as u64);
        previous = *cumulative;
    }
    if count.is_nan() || count < previous {
        tracing::debug!("histogram point with a count below its largest bucket dropped");
        return None;
    }
    counts.push((count - previous) as u64);
    Some(counts)
}

/// A summary's point; `None` without `_count`.
pub(super) fn summary_point(
    mut group: Group,
    prefix: &str,
    starts: &mut StartTimes,
) -> Option<SummaryDataPoint> {
    let count = group.count?;
    let stale = group.stale();
    group.bounds.sort_by(|a, b| a.0.total_cmp(&b.0));
    let time = nanos(group.timestamp_ms);
    let key = format!("{prefix}{}", group.key);
    let sum = group.sum.unwrap_or(0.0);
    let start = if stale {
        starts.stale(&key)
    } else {
        let totals = Totals::Summary {
            count: count as u64,
            sum,
        };
        starts.start(key, time, created_nanos(group.created_seconds), totals)
    };
    Some(SummaryDataPoint {
        attributes: group.attributes,
        start_time_unix_nano: start,
        time_unix_nano: time,
        count: if stale { 0 } else { count as u64 },
        sum: if stale { 0.0 } else { sum },
        quantile_values: group
            .bounds
            .iter()
            .map(|(quantile, value)| ValueAtQuantile {
                quantile: *quantile,
                value: if stale { 0.0 } else { *value },
            })
            .collect(),
        flags: if stale { FLAG_NO_RECORDED_VALUE } else { 0 },
    })
}
