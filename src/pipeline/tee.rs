//! The end of a pipeline whose exporters do not all take data the same way: the exporters
//! without `sending_queue.batch` (one fan-out), and each exporter with it behind its own
//! batch buffer. Every branch gets the data.
//!
//! Budget: the data arrives with one reservation; each further branch reserves its own copy
//! of the bytes (chunks are shared `Bytes`, so this counts what the shard holds the same
//! way the receivers count one copy per pipeline). Before the data is acknowledged a branch
//! that finds no room refuses it retryably; data already acknowledged upstream is never
//! dropped for want of room: its extra copies ride on the first branch's reservation.

use super::budget::Budget;
use super::downstream::Downstream;
use super::payload::Payload;
use super::{Next, PipelineError, Prepared};
use crate::exporter::ExportError;

/// Branches fed with the same data.
pub struct Tee {
    budget: Budget,
    branches: Vec<Next>,
}

impl Tee {
    /// A tee over `branches` (at least two), reserving extra copies against `budget`.
    pub fn new(budget: &Budget, branches: Vec<Next>) -> Tee {
        Tee {
            budget: budget.clone(),
            branches,
        }
    }

    /// Each branch with its copy of `payload`; `reserve` makes the reservation of a copy.
    fn copies(
        &self,
        payload: Payload,
        mut reserve: impl FnMut(&Payload) -> Result<super::budget::Reservation, ExportError>,
    ) -> Result<Vec<(&Next, Payload)>, ExportError> {
        let mut out = Vec::with_capacity(self.branches.len());
        let Some((last, rest)) = self.branches.split_last() else {
            return Ok(out);
        };
        for branch in rest {
            let reservation = reserve(&payload)?;
            let copy = Payload::new(payload.signal, payload.chunks.clone(), reservation)
                .with_metadata(payload.metadata.clone());
            out.push((branch, copy));
        }
        out.push((last, payload));
        Ok(out)
    }

    /// Prepares every branch (see `Stage::prepare`); dropping the result undoes all.
    pub fn prepare(&self, payload: Payload) -> Result<Prepared, PipelineError> {
        let budget = &self.budget;
        let copies = self.copies(payload, |p| {
            budget.try_reserve(p.bytes).ok_or_else(|| {
                ExportError::retryable("shardgate is at its limit of pending data on this core")
            })
        })?;
        let prepared = copies
            .into_iter()
            .map(|(branch, copy)| branch.prepare(copy))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Prepared::Tee(prepared))
    }

    /// Hands acknowledged data to every branch.
    pub fn dispatch(&self, payload: Payload) {
        let budget = &self.budget;
        let copies = self.copies(payload, |p| {
            Ok(budget
                .try_reserve(p.bytes)
                .unwrap_or_else(|| p.reservation.detached()))
        });
        for (branch, copy) in copies.into_iter().flatten() {
            branch.dispatch(copy);
        }
    }

    /// Whether every branch lets new data be acknowledged.
    pub fn has_room(&self) -> bool {
        self.branches.iter().all(|b| b.has_room())
    }
}

/// Commits every branch's part, all of them even after a failure: what was prepared must be
/// handed on. The first error wins.
pub async fn commit_all(prepared: Vec<Prepared>) -> Result<(), ExportError> {
    let mut result = Ok(());
    for part in prepared {
        let outcome = Box::pin(part.commit()).await;
        if let (Ok(()), Err(error)) = (&result, outcome) {
            result = Err(error);
        }
    }
    result
}
