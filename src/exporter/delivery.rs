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
    durable: bool,
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
            durable: false,
        }
    }

    /// Marks this exporter's queue as kept on disk: data is acknowledged once durable, so
    /// a client never waits for this exporter's answer.
    pub fn durable(mut self) -> Self {
        self.durable = true;
        self
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
            let limit = self.retry.max_elapsed_time;
            let left = match limit.is_zero() {
                true => None,
                false => Some(limit.saturating_sub(started.elapsed())),
            };
            let delay = match &error {
                ExportError::Retryable { retry_after, .. } if self.retry.enabled => {
                    self.wait_before_retry(interval, *retry_after, left)
                }
                _ => return Err(self.dropped(payload, error, "not retryable")),
            };
            if left.is_some_and(|left| delay > left) {
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

    /// How long to wait before the next attempt: the backoff `interval` randomized by
    /// ±`randomization_factor`, or longer when the backend asked for longer (gRPC `RetryInfo`,
    /// HTTP `Retry-After`), as otelcol and the OTLP spec say. A backend's ask is cut to
    /// [`PEER_RETRY_DELAY_MAX`] and to what is `left` of `max_elapsed_time`: a peer can
    /// neither overflow a timer nor make us drop data early by asking for more time than
    /// the budget has (the data gets its last attempt when the budget ends).
    fn wait_before_retry(
        &self,
        interval: Duration,
        asked: Option<Duration>,
        left: Option<Duration>,
    ) -> Duration {
        let backoff = self.jitter(interval).max(RETRY_WAIT_MIN);
        match asked {
            Some(asked) if asked > backoff => {
                let cap = left.map_or(PEER_RETRY_DELAY_MAX, |l| l.min(PEER_RETRY_DELAY_MAX));
                asked.min(cap).max(backoff.min(cap))
            }
            _ => backoff,
        }
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
        scaled(interval, scale, interval)
    }
}

/// The longest wait a backend can ask for between two attempts: an hour, past any real
/// throttling, so that with `max_elapsed_time: 0` (retry forever) a backend still cannot
/// park acknowledged data for longer per attempt.
pub const PEER_RETRY_DELAY_MAX: Duration = Duration::from_secs(3600);

/// The shortest wait between two attempts. A multiplier or interval of zero is valid (as in
/// otelcol), but a backend that fails at once must not turn retrying into a busy loop.
const RETRY_WAIT_MIN: Duration = Duration::from_millis(1);

/// `duration × factor`, or `otherwise` when that is not a valid duration (NaN, negative, or
/// past `Duration`'s range): `Duration::mul_f64` would panic there.
fn scaled(duration: Duration, factor: f64, otherwise: Duration) -> Duration {
    Duration::try_from_secs_f64(duration.as_secs_f64() * factor).unwrap_or(otherwise)
}

/// The next backoff interval: multiplied (a multiplier below 1 shrinks it, as in otelcol),
/// capped at `max`; saturates at `max` for any multiplier the config accepts.
fn next_interval(interval: Duration, multiplier: f64, max: Duration) -> Duration {
    scaled(interval, multiplier, max).min(max)
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

    /// Takes a place for `payload` in the queue of every exporter that must have it, without
    /// waiting (the path without a batch processor, where the client's answer is the
    /// exporters' answer; [`Fanout::run`] sends it); nothing is sent until [`Fanout::run`], and dropping the result gives the places
    /// back. While some exporter is healthy, a failing one whose queue is full loses only its
    /// own copy (counted as `enqueue_failed`); otherwise a full queue refuses the data.
    pub fn enqueue(&self, payload: Payload) -> Result<Enqueued, ExportError> {
        let payload = Rc::new(payload);
        let keep = self.all_failing();
        let mut copies = Vec::with_capacity(self.deliveries.len());
        for delivery in &self.deliveries {
            let failing = !keep && delivery.queue.is_failing();
            match delivery.enqueue(&payload, keep) {
                Ok(ticket) => copies.push(Copy {
                    delivery: delivery.clone(),
                    ticket,
                    background: failing || delivery.durable,
                }),
                Err(_) if failing => {}
                Err(error) => return Err(error),
            }
        }
        Ok(Enqueued { payload, copies })
    }

    /// Sends what [`Fanout::enqueue`] took and waits for the healthy exporters. The first error
    /// wins, permanent before retryable. A failing exporter gets its copy in the background, so
    /// a dead backend neither stalls the client nor makes it resend (and duplicate) data the
    /// healthy ones already have.
    pub async fn run(&self, enqueued: Enqueued) -> Result<(), ExportError> {
        let Enqueued { payload, copies } = enqueued;
        let mut tasks = Vec::with_capacity(copies.len());
        for copy in copies {
            let payload = payload.clone();
            let background = copy.background;
            let task = task::spawn_local(async move {
                let result = copy.delivery.deliver(&payload).await;
                drop(copy.ticket);
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

/// One exporter's place for one payload.
struct Copy {
    delivery: Rc<Delivery>,
    ticket: Ticket,
    /// The exporter is failing, or its queue is on disk: the client's answer does not wait
    /// for it.
    background: bool,
}

/// A payload with its places in the exporters' queues, taken by [`Fanout::enqueue`].
pub struct Enqueued {
    payload: Rc<Payload>,
    copies: Vec<Copy>,
}

impl Enqueued {
    /// The payload, before [`Fanout::run`] sends it (to make it durable first).
    pub fn payload_mut(&mut self) -> Option<&mut Payload> {
        Rc::get_mut(&mut self.payload)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
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

    #[test]
    fn backoff_saturates_and_may_shrink() {
        let max = Duration::from_secs(30);
        let second = Duration::from_secs(1);
        assert_eq!(next_interval(second, 1e30, max), max);
        assert_eq!(next_interval(Duration::MAX, 1.5, max), max);
        assert_eq!(next_interval(second, 0.5, max), Duration::from_millis(500));
        assert_eq!(next_interval(second, 0.0, max), Duration::ZERO);
        assert_eq!(scaled(second, f64::NAN, max), max);
    }

    fn delivery(retry: RetryConfig) -> Delivery {
        let id: ComponentId = "debug".parse().unwrap();
        let config = crate::config::DebugExporterConfig::default();
        let exporter =
            Exporter::Debug(super::super::debug::DebugExporter::new(id.clone(), &config));
        Delivery::new(id, exporter, 1, retry)
    }

    #[test]
    fn a_backend_asks_for_a_longer_wait_within_the_budget_and_the_cap() {
        let retry = RetryConfig {
            initial_interval: Duration::from_millis(100),
            max_interval: Duration::from_secs(2),
            randomization_factor: 0.0,
            ..RetryConfig::default()
        };
        let d = delivery(retry);
        let interval = Duration::from_millis(100);
        let forever = Duration::new(u64::MAX, 999_999_999);
        let left = Some(Duration::from_secs(7));
        assert_eq!(
            d.wait_before_retry(interval, Some(forever), left),
            Duration::from_secs(7)
        );
        assert_eq!(
            d.wait_before_retry(interval, Some(forever), None),
            PEER_RETRY_DELAY_MAX
        );
        // Honoured past max_interval, as the OTLP spec asks.
        let asked = Duration::from_secs(5);
        assert_eq!(d.wait_before_retry(interval, Some(asked), left), asked);
        // Asking for less than the backoff (Retry-After: 0) does not make retries hot.
        assert_eq!(
            d.wait_before_retry(interval, Some(Duration::ZERO), left),
            interval
        );
        assert_eq!(
            d.wait_before_retry(Duration::ZERO, None, left),
            RETRY_WAIT_MIN
        );
    }
}
