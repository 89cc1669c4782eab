//! Delivery to one exporter on one shard: in-flight limit and retry with backoff.
//!
//! A request waits for one of `num_consumers` slots, then is attempted until it succeeds,
//! fails permanently, or `max_elapsed_time` runs out. Every item that is not delivered is
//! logged with its count; nothing is dropped silently. The data's budget reservation is held
//! until the last exporter is done with it, so a slow backend pushes back on receivers.
//!
//! Each delivery has its own bounded [`Queue`]; how a fan-out to several exporters keeps a
//! dead backend from stalling the healthy ones is the rule in [`super::queue`].

use std::cell::Cell;
use std::rc::Rc;
use std::time::{Duration, Instant};

use shardgate_shards::task::{self, Semaphore};

use super::queue::{Queue, Ticket};
use super::{ExportError, Exporter};
use crate::config::QueueSizer;
use crate::config::{ComponentId, RetryConfig};
use crate::observe::counters::Gauge;
use crate::observe::ExporterProbe;
use crate::pipeline::payload::Payload;

/// One exporter instance with its in-flight limit and retry policy.
pub struct Delivery {
    id: ComponentId,
    exporter: Exporter,
    in_flight: Semaphore,
    retry: RetryConfig,
    rng: Cell<u64>,
    probe: Option<ExporterProbe>,
    queue: Rc<Queue>,
}

/// Raises a gauge for as long as it lives (so a cancelled delivery still lowers it).
struct Raised<'a>(Option<&'a Gauge>);

impl<'a> Raised<'a> {
    fn new(gauge: Option<&'a Gauge>) -> Self {
        if let Some(g) = gauge {
            g.inc(1);
        }
        Raised(gauge)
    }
}

impl Drop for Raised<'_> {
    fn drop(&mut self) {
        if let Some(g) = self.0 {
            g.dec(1);
        }
    }
}

impl Delivery {
    /// Wraps `exporter` with at most `in_flight_max` concurrent requests.
    pub fn new(
        id: ComponentId,
        exporter: Exporter,
        in_flight_max: u32,
        retry: RetryConfig,
    ) -> Self {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH);
        let seed = u64::from(std::process::id()) ^ now.map_or(0, |d| d.as_nanos() as u64);
        Delivery {
            id,
            exporter,
            in_flight: Semaphore::new(u64::from(in_flight_max.max(1))),
            retry,
            rng: Cell::new(seed | 1),
            probe: None,
            queue: Queue::new(QueueSizer::Requests, u64::MAX, true, usize::MAX),
        }
    }

    /// Bounds what this exporter holds with `queue` (see [`super::queue`]).
    pub fn queued(mut self, queue: Rc<Queue>) -> Self {
        self.queue = queue;
        self
    }

    /// Takes a copy of `payload` into this exporter's queue, or counts and logs it as not
    /// enqueued (`enqueue_failed`) when the queue overflows.
    fn enqueue(&self, payload: &Payload, keep: bool) -> Result<Ticket, ExportError> {
        self.queue
            .try_enqueue(payload.items, payload.bytes, keep)
            .map_err(|error| {
                if let Some(probe) = &self.probe {
                    probe.counters.enqueue_failed.add(payload.items);
                }
                tracing::error!(
                    exporter = %self.id,
                    dropped_items = payload.items,
                    signal = %payload.signal,
                    "Exporting failed (exporter is failing and its {error}). Dropping data."
                );
                ExportError::retryable(format!("exporter {}: {error}", self.id))
            })
    }

    /// Counts sent/failed items, queue and in-flight requests and export latency into `probe`.
    pub fn observed(mut self, probe: Option<ExporterProbe>) -> Self {
        self.probe = probe;
        self
    }

    /// The exporter's id.
    pub fn id(&self) -> &ComponentId {
        &self.id
    }

    /// Delivers `payload`, retrying retryable failures per `retry_on_failure`, and counts the
    /// outcome.
    pub async fn deliver(&self, payload: &Payload) -> Result<(), ExportError> {
        let counters = self.probe.as_ref().map(|p| &p.counters);
        let result = {
            let waiting = Raised::new(counters.map(|c| &c.queue_size));
            let slot = self.in_flight.acquire_permit(1).await;
            drop(waiting);
            match slot {
                Ok(_slot) => {
                    let _sending = Raised::new(counters.map(|c| &c.in_flight));
                    self.attempt(payload).await
                }
                Err(e) => Err(ExportError::retryable(e.to_string())),
            }
        };
        if let Some(c) = counters {
            match &result {
                Ok(()) => c.sent.add(payload.items),
                Err(_) => c.send_failed.add(payload.items),
            }
        }
        result
    }

    /// Attempts until success, a permanent failure or the retry budget is spent.
    async fn attempt(&self, payload: &Payload) -> Result<(), ExportError> {
        let started = Instant::now();
        let mut interval = self.retry.initial_interval;
        loop {
            let sent_at = Instant::now();
            let outcome = self.exporter.export(payload).await;
            if let Some(probe) = &self.probe {
                probe.shard.export.record(sent_at.elapsed());
            }
            self.queue.set_failing(outcome.is_err());
            let error = match outcome {
                Ok(()) => return Ok(()),
                Err(error) => error,
            };
            let delay = match &error {
                ExportError::Retryable { retry_after, .. } if self.retry.enabled => {
                    retry_after.unwrap_or_else(|| self.jitter(interval))
                }
                _ => return Err(self.dropped(payload, error, "not retryable")),
            };
            let limit = self.retry.max_elapsed_time;
            if !limit.is_zero() && started.elapsed() + delay > limit {
                return Err(self.dropped(payload, error, "retries exhausted"));
            }
            tracing::warn!(
                exporter = %self.id,
                error = %error,
                interval = ?delay,
                "Exporting failed. Will retry the request after interval."
            );
            task::sleep(delay).await;
            interval = next_interval(interval, self.retry.multiplier, self.retry.max_interval);
        }
    }

    fn dropped(&self, payload: &Payload, error: ExportError, why: &str) -> ExportError {
        tracing::error!(
            exporter = %self.id,
            error = %error,
            dropped_items = payload.items,
            signal = %payload.signal,
            "Exporting failed ({why}). Dropping data."
        );
        error
    }

    /// `interval` randomized by ±`randomization_factor`, as the official collector does.
    fn jitter(&self, interval: Duration) -> Duration {
        let mut x = self.rng.get();
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.rng.set(x);
        let unit = (x >> 11) as f64 / (1u64 << 53) as f64; // in [0, 1)
        let factor = self.retry.randomization_factor.clamp(0.0, 1.0);
        let scale = 1.0 - factor + 2.0 * factor * unit;
        interval.mul_f64(scale.max(0.0))
    }
}

/// The next backoff interval: multiplied, capped at `max`.
fn next_interval(interval: Duration, multiplier: f64, max: Duration) -> Duration {
    let next = interval.mul_f64(multiplier.max(1.0));
    next.min(max)
}

/// Hands `payload` to every delivery of a pipeline.
pub struct Fanout {
    deliveries: Vec<Rc<Delivery>>,
}

impl Fanout {
    /// A fan-out over `deliveries`.
    pub fn new(deliveries: Vec<Rc<Delivery>>) -> Fanout {
        Fanout { deliveries }
    }

    /// Whether new data may be acknowledged: every healthy exporter has queue room and at
    /// least one exporter would take a copy (the rule in [`super::queue`]).
    pub fn has_room(&self) -> bool {
        let healthy_full = self
            .deliveries
            .iter()
            .any(|d| !d.queue.is_failing() && !d.queue.has_room());
        let any_takes = self
            .deliveries
            .iter()
            .any(|d| !d.queue.is_failing() || d.queue.has_room());
        !healthy_full && any_takes
    }

    /// Whether no exporter is healthy: then no copy may be dropped (see [`super::queue`]).
    fn all_failing(&self) -> bool {
        self.deliveries.iter().all(|d| d.queue.is_failing())
    }

    /// Starts delivery to every exporter and returns at once (the batch path). An exporter
    /// whose queue overflows loses only its own copy, counted as `enqueue_failed`.
    pub fn dispatch(&self, payload: Payload) {
        let payload = Rc::new(payload);
        let keep = self.all_failing();
        for delivery in &self.deliveries {
            let Ok(ticket) = delivery.enqueue(&payload, keep) else {
                continue;
            };
            let delivery = delivery.clone();
            let payload = payload.clone();
            task::spawn_local(async move {
                let _ = delivery.deliver(&payload).await;
                drop(ticket);
            })
            .detach();
        }
    }

    /// Delivers to every exporter and waits (the path without a batch processor, where the
    /// client's answer is the exporters' answer). The first error wins, permanent before
    /// retryable. While some exporter is healthy, the answer waits only for the healthy ones:
    /// a failing exporter gets its copy in the background (or counts it as `enqueue_failed`),
    /// so a dead backend neither stalls the client nor makes it resend (and duplicate) data
    /// the healthy ones already have.
    pub async fn deliver(&self, payload: Payload) -> Result<(), ExportError> {
        let payload = Rc::new(payload);
        let keep = self.all_failing();
        let mut tasks = Vec::with_capacity(self.deliveries.len());
        for delivery in &self.deliveries {
            let background = !keep && delivery.queue.is_failing();
            let ticket = match delivery.enqueue(&payload, keep) {
                Ok(ticket) => ticket,
                Err(_) if background => continue,
                Err(error) => return Err(error),
            };
            let delivery = delivery.clone();
            let payload = payload.clone();
            let task = task::spawn_local(async move {
                let result = delivery.deliver(&payload).await;
                drop(ticket);
                result
            });
            if background {
                task.detach();
            } else {
                tasks.push(task);
            }
        }
        let mut result = Ok(());
        for task in tasks {
            if let Err(error) = task.await {
                if result.is_ok() || !error.is_retryable() {
                    result = Err(error);
                }
            }
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_caps() {
        let max = Duration::from_secs(30);
        let mut interval = Duration::from_secs(5);
        interval = next_interval(interval, 1.5, max);
        assert_eq!(interval, Duration::from_millis(7500));
        for _ in 0..10 {
            interval = next_interval(interval, 1.5, max);
        }
        assert_eq!(interval, max);
    }
}
