//! The final decision over every policy's answer, and the caches of past decisions.

use std::collections::{HashSet, VecDeque};

use super::policy::{Decision, Evaluator, TraceView};

/// The trace's decision as otelcol's processor makes it from its policies' answers (drop
/// policies first; a drop stops the evaluation, and so does a "sampled" with
/// `sample_on_first_match`):
/// 1. any "dropped" → dropped;
/// 2. else any "invert not sampled" → not sampled;
/// 3. else any "sampled" → sampled;
/// 4. else any "invert sampled" and no "not sampled" → sampled;
/// 5. else not sampled.
///
/// `each` sees every policy's index and answer, for the per-policy counters.
pub fn decide(
    evaluators: &mut [Evaluator],
    trace: &TraceView<'_>,
    second: u64,
    first_match: bool,
    mut each: impl FnMut(usize, Decision),
) -> Decision {
    let mut seen = [false; 5];
    for (i, evaluator) in evaluators.iter_mut().enumerate() {
        let d = evaluator.evaluate(trace, second);
        each(i, d);
        seen[d as usize] = true;
        if d == Decision::Dropped || (first_match && d == Decision::Sampled) {
            break;
        }
    }
    let saw = |d: Decision| seen[d as usize];
    if saw(Decision::Dropped) {
        Decision::Dropped
    } else if saw(Decision::InvertNotSampled) {
        Decision::NotSampled
    } else if saw(Decision::Sampled) || (saw(Decision::InvertSampled) && !saw(Decision::NotSampled))
    {
        Decision::Sampled
    } else {
        Decision::NotSampled
    }
}

/// Trace ids of past decisions, at most `capacity` (0 = off); the oldest entry goes first.
pub struct DecisionCache {
    ids: HashSet<[u8; 16]>,
    order: VecDeque<[u8; 16]>,
    capacity: usize,
}

impl DecisionCache {
    /// A cache of `capacity` ids.
    pub fn new(capacity: usize) -> DecisionCache {
        DecisionCache {
            ids: HashSet::new(),
            order: VecDeque::new(),
            capacity,
        }
    }

    /// Remembers `id`.
    pub fn put(&mut self, id: [u8; 16]) {
        if self.capacity == 0 || !self.ids.insert(id) {
            return;
        }
        self.order.push_back(id);
        while self.order.len() > self.capacity {
            if let Some(old) = self.order.pop_front() {
                self.ids.remove(&old);
            }
        }
    }

    /// Whether `id` is remembered.
    pub fn contains(&self, id: &[u8; 16]) -> bool {
        self.ids.contains(id)
    }
}
