//! Uniform access to a metric's data points, whatever the point type: OTTL's datapoint
//! context sees gauge and sum (number), histogram, exponential histogram and summary points.

use opentelemetry_proto::tonic::common::v1::KeyValue;
use opentelemetry_proto::tonic::metrics::v1::{metric::Data, number_data_point, Metric};

/// How many points `metric` holds.
pub fn count(metric: &Metric) -> usize {
    match &metric.data {
        Some(Data::Gauge(g)) => g.data_points.len(),
        Some(Data::Sum(s)) => s.data_points.len(),
        Some(Data::Histogram(h)) => h.data_points.len(),
        Some(Data::ExponentialHistogram(h)) => h.data_points.len(),
        Some(Data::Summary(s)) => s.data_points.len(),
        None => 0,
    }
}

/// Keeps the points for which `keep(index)` holds; returns how many were removed.
pub fn retain(metric: &mut Metric, mut keep: impl FnMut(usize) -> bool) -> usize {
    fn go<T>(v: &mut Vec<T>, keep: &mut impl FnMut(usize) -> bool) -> usize {
        let before = v.len();
        let mut i = 0;
        v.retain(|_| {
            i += 1;
            keep(i - 1)
        });
        before - v.len()
    }
    match &mut metric.data {
        Some(Data::Gauge(g)) => go(&mut g.data_points, &mut keep),
        Some(Data::Sum(s)) => go(&mut s.data_points, &mut keep),
        Some(Data::Histogram(h)) => go(&mut h.data_points, &mut keep),
        Some(Data::ExponentialHistogram(h)) => go(&mut h.data_points, &mut keep),
        Some(Data::Summary(s)) => go(&mut s.data_points, &mut keep),
        None => 0,
    }
}

/// Runs `$body` with `$p` bound to point `$i` of `$m` (any type), or yields `$none`.
macro_rules! with_point {
    ($m:expr, $i:expr, $p:ident => $body:expr, $none:expr) => {
        match $m {
            Some(Data::Gauge(g)) => g.data_points.get($i).map(|$p| $body),
            Some(Data::Sum(s)) => s.data_points.get($i).map(|$p| $body),
            Some(Data::Histogram(h)) => h.data_points.get($i).map(|$p| $body),
            Some(Data::ExponentialHistogram(h)) => h.data_points.get($i).map(|$p| $body),
            Some(Data::Summary(s)) => s.data_points.get($i).map(|$p| $body),
            None => None,
        }
        .unwrap_or($none)
    };
}

/// As [`with_point`], mutably.
macro_rules! with_point_mut {
    ($m:expr, $i:expr, $p:ident => $body:expr) => {
        match $m {
            Some(Data::Gauge(g)) => g.data_points.get_mut($i).map(|$p| $body),
            Some(Data::Sum(s)) => s.data_points.get_mut($i).map(|$p| $body),
            Some(Data::Histogram(h)) => h.data_points.get_mut($i).map(|$p| $body),
            Some(Data::ExponentialHistogram(h)) => h.data_points.get_mut($i).map(|$p| $body),
            Some(Data::Summary(s)) => s.data_points.get_mut($i).map(|$p| $body),
            None => None,
        }
    };
}

/// Point `i`'s attributes.
pub fn attributes(m: &Metric, i: usize) -> &[KeyValue] {
    with_point!(&m.data, i, p => p.attributes.as_slice(), &[])
}

/// Point `i`'s attributes, mutably.
pub fn attributes_mut(m: &mut Metric, i: usize) -> Option<&mut Vec<KeyValue>> {
    with_point_mut!(&mut m.data, i, p => &mut p.attributes)
}

/// Point `i`'s (start, time) in Unix nanoseconds.
pub fn times(m: &Metric, i: usize) -> (u64, u64) {
    with_point!(&m.data, i, p => (p.start_time_unix_nano, p.time_unix_nano), (0, 0))
}

/// Sets point `i`'s start time (`start == true`) or time.
pub fn set_time(m: &mut Metric, i: usize, start: bool, nanos: u64) {
    with_point_mut!(&mut m.data, i, p => if start { p.start_time_unix_nano = nanos } else { p.time_unix_nano = nanos });
}

/// Point `i`'s flags.
pub fn flags(m: &Metric, i: usize) -> u32 {
    with_point!(&m.data, i, p => p.flags, 0)
}

/// Sets point `i`'s flags.
pub fn set_flags(m: &mut Metric, i: usize, flags: u32) {
    with_point_mut!(&mut m.data, i, p => p.flags = flags);
}

/// A number point's value (`None` for other point types).
pub fn number(m: &Metric, i: usize) -> Option<number_data_point::Value> {
    match &m.data {
        Some(Data::Gauge(g)) => g.data_points.get(i).and_then(|p| p.value),
        Some(Data::Sum(s)) => s.data_points.get(i).and_then(|p| p.value),
        _ => None,
    }
}

/// Sets a number point's value (other point types are left alone).
pub fn set_number(m: &mut Metric, i: usize, v: number_data_point::Value) {
    let point = match &mut m.data {
        Some(Data::Gauge(g)) => g.data_points.get_mut(i),
        Some(Data::Sum(s)) => s.data_points.get_mut(i),
        _ => None,
    };
    if let Some(p) = point {
        p.value = Some(v);
    }
}

/// A histogram or summary point's (count, sum).
pub fn count_sum(m: &Metric, i: usize) -> Option<(u64, Option<f64>)> {
    match &m.data {
        Some(Data::Histogram(h)) => h.data_points.get(i).map(|p| (p.count, p.sum)),
        Some(Data::ExponentialHistogram(h)) => h.data_points.get(i).map(|p| (p.count, p.sum)),
        Some(Data::Summary(s)) => s.data_points.get(i).map(|p| (p.count, Some(p.sum))),
        _ => None,
    }
}

/// The metric's type as pmetric numbers it (METRIC_DATA_TYPE_*).
pub fn metric_type(m: &Metric) -> i64 {
    match &m.data {
        None => 0,
        Some(Data::Gauge(_)) => 1,
        Some(Data::Sum(_)) => 2,
        Some(Data::Histogram(_)) => 3,
        Some(Data::ExponentialHistogram(_)) => 4,
        Some(Data::Summary(_)) => 5,
    }
}
