//! Items flattened with their resource and scope, and item-level comparison.

use super::*;

/// One item with the resource and scope it was sent under.
#[derive(Clone, Debug, PartialEq)]
pub struct Flat<T> {
    /// The item's resource.
    pub resource: Option<Resource>,
    /// `schema_url` of the resource message.
    pub resource_schema_url: String,
    /// The item's instrumentation scope.
    pub scope: Option<InstrumentationScope>,
    /// `schema_url` of the scope message.
    pub scope_schema_url: String,
    /// The item.
    pub item: T,
}

/// Every span of `requests`, in order.
pub fn flatten_traces(requests: &[ExportTraceServiceRequest]) -> Vec<Flat<Span>> {
    let mut out = Vec::new();
    for request in requests {
        for rs in &request.resource_spans {
            for ss in &rs.scope_spans {
                for span in &ss.spans {
                    out.push(Flat {
                        resource: rs.resource.clone(),
                        resource_schema_url: rs.schema_url.clone(),
                        scope: ss.scope.clone(),
                        scope_schema_url: ss.schema_url.clone(),
                        item: span.clone(),
                    });
                }
            }
        }
    }
    out
}

/// Every log record of `requests`, in order.
pub fn flatten_logs(requests: &[ExportLogsServiceRequest]) -> Vec<Flat<LogRecord>> {
    let mut out = Vec::new();
    for request in requests {
        for rl in &request.resource_logs {
            for sl in &rl.scope_logs {
                for record in &sl.log_records {
                    out.push(Flat {
                        resource: rl.resource.clone(),
                        resource_schema_url: rl.schema_url.clone(),
                        scope: sl.scope.clone(),
                        scope_schema_url: sl.schema_url.clone(),
                        item: record.clone(),
                    });
                }
            }
        }
    }
    out
}

/// Every data point of `requests`, each as a copy of its metric holding only that point.
pub fn flatten_metrics(requests: &[ExportMetricsServiceRequest]) -> Vec<Flat<Metric>> {
    let mut out = Vec::new();
    for request in requests {
        for rm in &request.resource_metrics {
            for sm in &rm.scope_metrics {
                for m in &sm.metrics {
                    for single in split_points(m) {
                        out.push(Flat {
                            resource: rm.resource.clone(),
                            resource_schema_url: rm.schema_url.clone(),
                            scope: sm.scope.clone(),
                            scope_schema_url: sm.schema_url.clone(),
                            item: single,
                        });
                    }
                }
            }
        }
    }
    out
}

/// One copy of `m` per data point, each holding only that point.
pub fn split_points(m: &Metric) -> Vec<Metric> {
    let with = |data: metric::Data| Metric {
        data: Some(data),
        ..m.clone()
    };
    match &m.data {
        None => Vec::new(),
        Some(metric::Data::Gauge(g)) => g
            .data_points
            .iter()
            .map(|p| {
                with(metric::Data::Gauge(
                    opentelemetry_proto::tonic::metrics::v1::Gauge {
                        data_points: vec![p.clone()],
                    },
                ))
            })
            .collect(),
        Some(metric::Data::Sum(s)) => s
            .data_points
            .iter()
            .map(|p| {
                let mut one = s.clone();
                one.data_points = vec![p.clone()];
                with(metric::Data::Sum(one))
            })
            .collect(),
        Some(metric::Data::Histogram(h)) => h
            .data_points
            .iter()
            .map(|p| {
                let mut one = h.clone();
                one.data_points = vec![p.clone()];
                with(metric::Data::Histogram(one))
            })
            .collect(),
        Some(metric::Data::ExponentialHistogram(h)) => h
            .data_points
            .iter()
            .map(|p| {
                let mut one = h.clone();
                one.data_points = vec![p.clone()];
                with(metric::Data::ExponentialHistogram(one))
            })
            .collect(),
        Some(metric::Data::Summary(s)) => s
            .data_points
            .iter()
            .map(|p| {
                let mut one = s.clone();
                one.data_points = vec![p.clone()];
                with(metric::Data::Summary(one))
            })
            .collect(),
    }
}

/// Asserts that `actual` holds exactly the items of `expected`, each exactly once, intact
/// (item, resource and scope), comparing per item under `key` (which must be unique within
/// `expected`). `what` names the items in messages.
pub fn assert_same_items<T: Clone + Debug + PartialEq>(
    what: &str,
    expected: &[Flat<T>],
    actual: &[Flat<T>],
    key: impl Fn(&T) -> String,
) {
    let mut want: BTreeMap<String, &Flat<T>> = BTreeMap::new();
    for item in expected {
        let k = key(&item.item);
        assert!(
            want.insert(k.clone(), item).is_none(),
            "test bug: expected {what} key {k} is not unique"
        );
    }
    let mut got: BTreeMap<String, Vec<&Flat<T>>> = BTreeMap::new();
    for item in actual {
        got.entry(key(&item.item)).or_default().push(item);
    }
    let mut problems = Vec::new();
    for (k, w) in &want {
        match got.get(k).map(Vec::as_slice) {
            None | Some([]) => problems.push(format!("{what} {k}: missing")),
            Some([one]) => {
                if one != w {
                    problems.push(format!(
                        "{what} {k}: changed in transit\n  expected: {w:?}\n  actual:   {one:?}"
                    ));
                }
            }
            Some(many) => problems.push(format!("{what} {k}: received {} times", many.len())),
        }
    }
    for k in got.keys() {
        if !want.contains_key(k) {
            problems.push(format!("{what} {k}: received but never sent"));
        }
    }
    let shown: Vec<_> = problems.iter().take(10).cloned().collect();
    assert!(
        problems.is_empty(),
        "{} problem(s) with {what}s ({} expected, {} received); first ones:\n{}",
        problems.len(),
        expected.len(),
        actual.len(),
        shown.join("\n")
    );
}

/// Lower-case hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
