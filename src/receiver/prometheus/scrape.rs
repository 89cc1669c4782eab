//! One target's scrape loop, run by the shard that owns the target.
//!
//! Each round, at a fixed rate from the target's offset in its interval:
//! 1. `GET` the metrics path with Prometheus's `Accept` header, within `scrape_timeout`;
//! 2. decompress (gzip) and parse, bounded by `body_size_limit` and the sample limit;
//! 3. merge target and external labels into each sample, apply `metric_relabel_configs`;
//! 4. add `up`, `scrape_duration_seconds`, `scrape_samples_scraped`,
//!    `scrape_samples_post_metric_relabeling` and `scrape_series_added` (a failed scrape
//!    sends only these, with `up` 0);
//! 5. map to OTLP and hand the request to the metrics pipelines as an OTLP receiver would.
//!    A refusal (no room) is counted and the round's data dropped with a warning: the next
//!    scrape brings fresh values, as in Prometheus.
//!
//! The loop stops when the shard drains; a scrape in flight then is abandoned (its data was
//! not taken in yet), so nothing arrives after the shard flushed its batches.

use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::rc::Rc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use futures_lite::future;
use http::Request;
use opentelemetry_proto::tonic::collector::metrics::v1::ExportMetricsServiceRequest;
use prost::Message;
use shardgate_io::compression::{self, Codec, DecompressError};
use shardgate_io::http1_client::{Http1Client, Http1Error, Http1Settings};
use shardgate_shards::{task, DrainSignal};

use super::config::{ScrapeJob, SAMPLE_LIMIT_DEFAULT};
use super::exposition::{self, Exposition, Format, Metadata, ParseError};
use super::mapping::{self, Scraped};
use super::points::STALE_NAN_BITS;
use super::relabel::{self, Labels};
use super::series::StartTimes;
use super::target::{self, Target};
use crate::config::ComponentId;
use crate::exporter::tls::ExporterTls;
use crate::receiver::otlp::ingest::Ingest;
use crate::signal::Signal;

/// The `Accept` header Prometheus sends (OpenMetrics first, then the 0.0.4 text format).
const ACCEPT: &str = "application/openmetrics-text;version=1.0.0;q=0.5,application/openmetrics-text;version=0.0.1;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2";

/// Why one scrape failed (the round then reports `up` 0).
#[derive(Debug, thiserror::Error)]
pub enum ScrapeError {
    /// The request failed (connect, timeout, malformed or oversized response).
    #[error("{0}")]
    Http(#[from] Http1Error),
    /// The target answered with another status than 200.
    #[error("server returned HTTP status {0}")]
    Status(u16),
    /// The body's `Content-Encoding` is not one we asked for.
    #[error("unsupported Content-Encoding \"{0}\"")]
    Encoding(String),
    /// The gzip body is corrupt or too large decompressed.
    #[error("{0}")]
    Decompress(#[from] DecompressError),
    /// The body is not UTF-8 text.
    #[error("body is not UTF-8 text")]
    NotText,
    /// The body is not a valid exposition.
    #[error("{0}")]
    Parse(#[from] ParseError),
    /// More samples than `sample_limit` after metric relabeling.
    #[error("sample_limit exceeded ({0} samples)")]
    SampleLimit(usize),
}

/// A scrape's samples, how many the body held, and its families' metadata.
type Parsed = (Vec<Scraped>, usize, HashMap<String, Metadata>);

/// One target's scraping on its shard.
pub struct ScrapeLoop {
    receiver: ComponentId,
    job: Rc<ScrapeJob>,
    target: Target,
    client: Http1Client,
    ingest: Rc<Ingest>,
    starts: StartTimes,
    /// The series of the last successful scrape, by hash: for `scrape_series_added` and the
    /// staleness markers of those that vanish.
    previous: HashMap<u64, Labels>,
    /// The family metadata of the last successful scrape, for the types of stale series.
    previous_metadata: HashMap<String, Metadata>,
}

impl ScrapeLoop {
    /// The loop for `target` of `job`, feeding `ingest`; fails only when its TLS client
    /// cannot be built (the config check makes that rare).
    pub fn new(
        receiver: ComponentId,
        job: Rc<ScrapeJob>,
        target: Target,
        ingest: Rc<Ingest>,
    ) -> Result<ScrapeLoop, String> {
        let settings = Http1Settings {
            connections_max: 1,
            connect_timeout: target.timeout,
            // The body may be gzip; the decompressed size is bounded again below.
            response_body_bytes_max: job.body_size_limit_bytes,
            ..Http1Settings::default()
        };
        let mut client = Http1Client::new(target.authority.clone(), settings);
        if let (true, Some(tls)) = (target.scheme == "https", &job.tls) {
            let (host, _) = target::split_host_port(&target.authority);
            let path = format!(
                "receivers::{receiver}::config::scrape_configs::{}::tls_config",
                job.name
            );
            let tls = Rc::new(ExporterTls::at(&path, &receiver, tls, host)?);
            client = client.with_tls(move || tls.for_connection());
        }
        Ok(ScrapeLoop {
            receiver,
            client,
            job,
            target,
            ingest,
            starts: StartTimes::default(),
            previous: HashMap::new(),
            previous_metadata: HashMap::new(),
        })
    }

    /// Scrapes every interval until `drain` fires.
    pub async fn run(mut self, drain: DrainSignal) {
        let interval = self.target.interval;
        let mut next = Instant::now() + target::offset(&self.job.name, &self.target);
        loop {
            let wait = next.saturating_duration_since(Instant::now());
            if task::timeout(wait, drain.wait()).await.is_some() {
                return;
            }
            let round = future::or(async { Some(self.round().await) }, async {
                drain.wait().await;
                None
            });
            let Some(request) = round.await else {
                return;
            };
            self.deliver(request).await;
            // Fixed rate: a slow round does not shift the later ones; missed ticks are skipped.
            next += interval;
            while next < Instant::now() {
                next += interval;
            }
        }
    }

    /// One scrape, as the OTLP request to deliver.
    async fn round(&mut self) -> ExportMetricsServiceRequest {
        let wall = SystemTime::now();
        let started = Instant::now();
        let timestamp_ms = wall
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        let outcome = match self.fetch().await {
            Ok(body) => self.samples(body, timestamp_ms),
            Err(error) => Err(error),
        };
        let duration = started.elapsed();
        let (mut samples, report, exposed) = match outcome {
            Ok((samples, scraped, exposed)) => {
                let (stale, added) = self.track_series(Some(&samples), timestamp_ms);
                let post = samples.len() as f64;
                let mut samples = samples;
                samples.extend(stale);
                (samples, [1.0, scraped as f64, post, added as f64], exposed)
            }
            Err(error) => {
                tracing::warn!(
                    receiver = %self.receiver,
                    job = %self.job.name,
                    target = %self.target.authority,
                    error = %error,
                    "Failed to scrape Prometheus endpoint"
                );
                let (stale, _) = self.track_series(None, timestamp_ms);
                (stale, [0.0; 4], HashMap::new())
            }
        };
        // Stale series keep the type their family had when they were last seen.
        let mut metadata = std::mem::replace(&mut self.previous_metadata, exposed.clone());
        metadata.extend(exposed);
        let up = report[0];
        self.add_report(&mut samples, report, duration.as_secs_f64(), timestamp_ms);
        // Parsing and mapping a large exposition takes milliseconds of CPU: let the shard's
        // sockets and other tasks run between the two (`benches/prometheus.rs`).
        task::yield_to_io().await;
        let resource_metrics = mapping::build(
            &samples,
            &metadata,
            &self.target.scheme,
            env!("CARGO_PKG_VERSION"),
            &mut self.starts,
        );
        if up == 1.0 {
            self.starts.sweep();
        } else {
            self.starts.abandon();
        }
        ExportMetricsServiceRequest { resource_metrics }
    }

    /// Makes `now` (none when the scrape failed) the current series; returns the staleness
    /// markers of the previous scrape's series missing from it, and how many of it are new.
    fn track_series(
        &mut self,
        now: Option<&[Scraped]>,
        timestamp_ms: i64,
    ) -> (Vec<Scraped>, usize) {
        let current: HashMap<u64, Labels> = now
            .unwrap_or(&[])
            .iter()
            .map(|s| (series_hash(&s.labels), s.labels.clone()))
            .collect();
        let added = current
            .keys()
            .filter(|k| !self.previous.contains_key(k))
            .count();
        let previous = std::mem::replace(&mut self.previous, current);
        let stale = previous
            .into_iter()
            .filter(|(k, _)| !self.previous.contains_key(k))
            .map(|(_, labels)| Scraped {
                labels,
                value: f64::from_bits(STALE_NAN_BITS),
                timestamp_ms,
            })
            .collect();
        (stale, added)
    }

    /// Adds the scrape's own metrics, with the target's (and external) labels.
    fn add_report(
        &self,
        samples: &mut Vec<Scraped>,
        report: [f64; 4],
        seconds: f64,
        timestamp_ms: i64,
    ) {
        let [up, scraped, post, added] = report;
        for (name, value) in [
            ("up", up),
            ("scrape_duration_seconds", seconds),
            ("scrape_samples_scraped", scraped),
            ("scrape_samples_post_metric_relabeling", post),
            ("scrape_series_added", added),
        ] {
            let mut labels = self.target.labels.clone();
            for (k, v) in &self.job.external_labels {
                labels.entry(k.clone()).or_insert_with(|| v.clone());
            }
            labels.insert("__name__".to_owned(), name.to_owned());
            samples.push(Scraped {
                labels,
                value,
                timestamp_ms,
            });
        }
    }

    /// The response body of one `GET`, decompressed.
    async fn fetch(&self) -> Result<(Bytes, Format), ScrapeError> {
        let timeout_seconds = self.target.timeout.as_secs_f64().to_string();
        let mut request = Request::get(self.target.path_and_query.as_str())
            .header("accept", ACCEPT)
            .header(
                "user-agent",
                concat!("shardgate/", env!("CARGO_PKG_VERSION")),
            )
            .header("x-prometheus-scrape-timeout-seconds", timeout_seconds);
        if self.job.compression {
            request = request.header("accept-encoding", "gzip");
        }
        let request = request
            .body(())
            .map_err(|e| Http1Error::Request(e.to_string()))?;
        let response = self
            .client
            .request(request, Bytes::new(), self.target.timeout)
            .await?;
        if response.status.as_u16() != 200 {
            return Err(ScrapeError::Status(response.status.as_u16()));
        }
        let header = |name: &str| {
            response
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned)
        };
        let format = Format::from_content_type(header("content-type").as_deref());
        let body = match header("content-encoding").as_deref().map(str::trim) {
            None | Some("") | Some("identity") => response.body,
            Some(e) if e.eq_ignore_ascii_case("gzip") => compression::decompress(
                Codec::Gzip,
                &response.body,
                self.job.body_size_limit_bytes,
            )?,
            Some(other) => return Err(ScrapeError::Encoding(other.to_owned())),
        };
        Ok((body, format))
    }

    /// The samples of a body, labelled and relabeled, and how many the body held.
    fn samples(
        &mut self,
        (body, format): (Bytes, Format),
        scrape_ms: i64,
    ) -> Result<Parsed, ScrapeError> {
        let text = std::str::from_utf8(&body).map_err(|_| ScrapeError::NotText)?;
        let samples_max = self.job.sample_limit.max(SAMPLE_LIMIT_DEFAULT);
        let Exposition { metadata, samples } = exposition::parse(text, format, samples_max)?;
        let scraped = samples.len();
        let mut out = Vec::with_capacity(scraped);
        for sample in samples {
            let mut labels: Labels = sample
                .labels
                .into_iter()
                .filter(|(_, v)| !v.is_empty())
                .collect();
            self.merge_target_labels(&mut labels);
            labels.insert("__name__".to_owned(), sample.name);
            if !relabel::apply(&self.job.metric_relabel, &mut labels) {
                continue;
            }
            labels.retain(|_, v| !v.is_empty());
            // Relabeling may remove them; the data still belongs to this target's resource.
            for name in ["job", "instance"] {
                if let Some(value) = self.target.labels.get(name) {
                    labels
                        .entry(name.to_owned())
                        .or_insert_with(|| value.clone());
                }
            }
            let timestamp_ms = match sample.timestamp_ms {
                Some(ts) if self.job.honor_timestamps => ts,
                _ => scrape_ms,
            };
            out.push(Scraped {
                labels,
                value: sample.value,
                timestamp_ms,
            });
        }
        if out.len() > self.job.sample_limit {
            return Err(ScrapeError::SampleLimit(out.len()));
        }
        Ok((out, scraped, metadata))
    }

    /// Target labels win over scraped ones (which are kept as `exported_<name>`) unless
    /// `honor_labels`; external labels fill in what neither has.
    fn merge_target_labels(&self, labels: &mut Labels) {
        for (name, value) in &self.target.labels {
            if self.job.honor_labels {
                labels.entry(name.clone()).or_insert_with(|| value.clone());
                continue;
            }
            if let Some(scraped) = labels.remove(name) {
                let mut exported = format!("exported_{name}");
                while labels.contains_key(&exported) {
                    exported = format!("exported_{exported}");
                }
                labels.insert(exported, scraped);
            }
            labels.insert(name.clone(), value.clone());
        }
        for (name, value) in &self.job.external_labels {
            labels.entry(name.clone()).or_insert_with(|| value.clone());
        }
    }

    /// Hands the round's request to the metrics pipelines; a refusal drops it with a warning.
    async fn deliver(&self, request: ExportMetricsServiceRequest) {
        if request.resource_metrics.is_empty() {
            return;
        }
        let refused = match self.ingest.check_pressure(Signal::Metrics) {
            Err(error) => Err(error),
            Ok(()) => {
                let body = Bytes::from(request.encode_to_vec());
                self.ingest.take_in(Signal::Metrics, body, None).await
            }
        };
        if let Err(error) = refused {
            tracing::warn!(
                receiver = %self.receiver,
                job = %self.job.name,
                target = %self.target.authority,
                error = %error,
                "scrape result dropped; the next scrape brings fresh values"
            );
        }
    }
}

fn series_hash(labels: &Labels) -> u64 {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    labels.hash(&mut hasher);
    hasher.finish()
}
