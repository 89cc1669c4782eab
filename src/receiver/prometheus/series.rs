//! Start times of cumulative series (sums, histograms, summaries), kept per target by the
//! shard that scrapes it, as otelcol's receiver adjusted them:
//! - a point with its own start (OpenMetrics `_created`) keeps it;
//! - the first point of a series starts at its own time, and later points at that start;
//! - a value below the last one (a counter reset) starts a new run at that point's time.
//!
//! Series missing from a successful scrape are forgotten (they went stale; if they come back
//! they start again), so the state is bounded by one scrape's series.

use std::collections::{HashMap, HashSet};

/// The cumulative values of one point that reveal a reset.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Totals {
    /// A sum's value.
    Value(f64),
    /// A histogram's count and sum.
    Histogram {
        /// Observations.
        count: u64,
        /// Their sum.
        sum: f64,
    },
    /// A summary's count and sum (a zero on either side does not count as a reset, as in
    /// otelcol: some exporters leave them unset).
    Summary {
        /// Observations.
        count: u64,
        /// Their sum.
        sum: f64,
    },
}

impl Totals {
    fn dropped_below(self, last: Totals) -> bool {
        match (self, last) {
            (Totals::Value(now), Totals::Value(before)) => now < before,
            (Totals::Histogram { count, sum }, Totals::Histogram { count: c0, sum: s0 }) => {
                count < c0 || sum < s0
            }
            (Totals::Summary { count, sum }, Totals::Summary { count: c0, sum: s0 }) => {
                (count != 0 && c0 != 0 && count < c0) || (sum != 0.0 && s0 != 0.0 && sum < s0)
            }
            // The series changed type: a new run.
            _ => true,
        }
    }
}

struct Run {
    start_ns: u64,
    last: Totals,
}

/// One target's series, by key (metric name and attributes).
#[derive(Default)]
pub struct StartTimes {
    runs: HashMap<String, Run>,
    seen: HashSet<String>,
}

impl StartTimes {
    /// The start time of a point of series `key` at `time_ns` with `totals`; `created_ns` is
    /// its own start, when the exposition gave one.
    pub fn start(
        &mut self,
        key: String,
        time_ns: u64,
        created_ns: Option<u64>,
        totals: Totals,
    ) -> u64 {
        if let Some(created) = created_ns.filter(|c| *c < time_ns) {
            self.seen.insert(key);
            return created;
        }
        let start = match self.runs.get_mut(&key) {
            Some(run) if !totals.dropped_below(run.last) => {
                run.last = totals;
                run.start_ns
            }
            _ => {
                self.runs.insert(
                    key.clone(),
                    Run {
                        start_ns: time_ns,
                        last: totals,
                    },
                );
                time_ns
            }
        };
        self.seen.insert(key);
        start
    }

    /// The start of stale series `key`'s run (0 if unknown); the series is not marked seen,
    /// so the next sweep forgets it.
    pub fn stale(&self, key: &str) -> u64 {
        self.runs.get(key).map_or(0, |run| run.start_ns)
    }

    /// Forgets every series not seen since the last call: call after a successful scrape.
    pub fn sweep(&mut self) {
        let seen = std::mem::take(&mut self.seen);
        self.runs.retain(|key, _| seen.contains(key));
    }

    /// Forgets what the failed scrape saw: its series keep their runs.
    pub fn abandon(&mut self) {
        self.seen.clear();
    }

    /// Series tracked now.
    pub fn len(&self) -> usize {
        self.runs.len()
    }

    /// Whether none are tracked.
    pub fn is_empty(&self) -> bool {
        self.runs.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_point_then_reset_then_created() {
        let mut s = StartTimes::default();
        let key = || "c".to_owned();
        assert_eq!(s.start(key(), 100, None, Totals::Value(5.0)), 100);
        assert_eq!(s.start(key(), 200, None, Totals::Value(7.0)), 100);
        // Reset: the value went down.
        assert_eq!(s.start(key(), 300, None, Totals::Value(1.0)), 300);
        assert_eq!(s.start(key(), 400, None, Totals::Value(2.0)), 300);
        // `_created` wins.
        assert_eq!(s.start(key(), 500, Some(42), Totals::Value(3.0)), 42);
        let h = |count, sum| Totals::Histogram { count, sum };
        assert_eq!(s.start("h".into(), 100, None, h(3, 1.0)), 100);
        assert_eq!(s.start("h".into(), 200, None, h(3, 0.5)), 200);
        let q = |count, sum| Totals::Summary { count, sum };
        assert_eq!(s.start("q".into(), 100, None, q(3, 1.0)), 100);
        assert_eq!(s.start("q".into(), 200, None, q(0, 0.0)), 100);
    }

    #[test]
    fn series_gone_from_a_scrape_are_forgotten_but_not_after_a_failure() {
        let mut s = StartTimes::default();
        s.start("a".into(), 1, None, Totals::Value(1.0));
        s.start("b".into(), 1, None, Totals::Value(1.0));
        s.sweep();
        s.start("a".into(), 2, None, Totals::Value(1.0));
        s.abandon();
        assert_eq!(s.len(), 2);
        s.start("a".into(), 3, None, Totals::Value(1.0));
        s.sweep();
        assert_eq!(s.len(), 1);
        assert_eq!(s.start("b".into(), 4, None, Totals::Value(1.0)), 4);
    }
}
