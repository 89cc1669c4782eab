//! Connection lifetime and liveness, as grpc-go's `keepalive.ServerParameters` (the official
//! collector's `keepalive.server_parameters`), and the client's ping rate, as grpc-go's
//! `keepalive.EnforcementPolicy` (`keepalive.enforcement_policy`).
//!
//! Each connection gets one small task that sleeps until its next deadline: the connection's
//! age, its idle time, or the client's silence. It pings a silent client and closes it when
//! the ping goes unanswered; it asks the serve loop (through [`Notice`]) to send GOAWAY when
//! the connection is too old or idle, so clients reconnect and SO_REUSEPORT spreads them
//! over the shards again.
//!
//! The enforcement policy is judged per client PING by [`PingStrikes`], which the socket
//! guard feeds with the frame headers it reads and those the server writes.

use std::cell::Cell;
use std::future::poll_fn;
use std::rc::Rc;
use std::task::{Poll, Waker};
use std::time::{Duration, Instant};

use h2::{Ping, PingPong};

/// grpc-go's `keepalive.ServerParameters`; `None` is "never" (grpc-go's infinity).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Keepalive {
    /// A connection with no open stream this long gets GOAWAY.
    pub max_connection_idle: Option<Duration>,
    /// A connection this old gets GOAWAY (±10% jitter, so a fleet does not reconnect at once).
    pub max_connection_age: Option<Duration>,
    /// After that GOAWAY, how long open streams may run before the connection is closed.
    pub max_connection_age_grace: Option<Duration>,
    /// After this long without a frame from the client, the server pings it.
    pub time: Duration,
    /// How long that ping may go unanswered before the connection is closed.
    pub timeout: Duration,
    /// How often the client may ping; `None` enforces nothing (the control-frame budget in
    /// [`super::Limits`] still bounds floods).
    pub enforcement: Option<Enforcement>,
}

impl Default for Keepalive {
    /// grpc-go's defaults: no age or idle limit; ping after 2 hours of silence, wait 20s;
    /// client pings judged by grpc-go's default policy, which otelcol's receivers apply
    /// whether or not `enforcement_policy` is configured.
    fn default() -> Self {
        Keepalive {
            max_connection_idle: None,
            max_connection_age: None,
            max_connection_age_grace: None,
            time: Duration::from_secs(2 * 3600),
            timeout: Duration::from_secs(20),
            enforcement: Some(Enforcement::default()),
        }
    }
}

/// grpc-go's `keepalive.EnforcementPolicy`: how often a client may ping.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Enforcement {
    /// Least time between two client pings while streams are open (or always, when
    /// `permit_without_stream`).
    pub min_time: Duration,
    /// Whether a client may ping at `min_time` with no stream open; if not, such pings must
    /// be 2 hours apart.
    pub permit_without_stream: bool,
}

impl Default for Enforcement {
    /// grpc-go's defaults: 5 minutes between pings, none without a stream.
    fn default() -> Self {
        Enforcement {
            min_time: Duration::from_secs(5 * 60),
            permit_without_stream: false,
        }
    }
}

/// Least time between client pings on a connection with no stream, unless the policy
/// permits them (grpc-go's `defaultPingTimeout`).
const NO_STREAM_PING_INTERVAL: Duration = Duration::from_secs(2 * 3600);

/// Strikes a client may have; the next one closes the connection (grpc-go's
/// `maxPingStrikes`).
const PING_STRIKES_MAX: u32 = 2;

/// One connection's ping strikes under an [`Enforcement`] policy, as grpc-go's
/// `http2Server.handlePing` counts them:
/// 1. a client PING (never an ACK) that comes sooner than allowed after the previous one is
///    a strike; the first PING never is;
/// 2. "allowed" is `min_time`, or [`NO_STREAM_PING_INTERVAL`] when no stream is open and
///    the policy does not permit pings without one;
/// 3. the first PING after the server sent HEADERS or DATA clears the strikes and is not
///    judged (a client's BDP ping follows each answer it gets);
/// 4. a strike past [`PING_STRIKES_MAX`] closes the connection.
#[derive(Debug)]
pub(crate) struct PingStrikes {
    policy: Enforcement,
    strikes: u32,
    last_ping: Option<Instant>,
    reset: bool,
}

impl PingStrikes {
    pub(crate) fn new(policy: Enforcement) -> PingStrikes {
        PingStrikes {
            policy,
            strikes: 0,
            last_ping: None,
            reset: false,
        }
    }

    /// The server wrote a HEADERS or DATA frame.
    pub(crate) fn answered(&mut self) {
        self.reset = true;
    }

    /// Judges a client PING at `now` with `open_streams` open; true once the client has
    /// struck out.
    pub(crate) fn ping(&mut self, now: Instant, open_streams: usize) -> bool {
        let last = self.last_ping.replace(now);
        if std::mem::take(&mut self.reset) {
            self.strikes = 0;
            return false;
        }
        let allowed = if open_streams == 0 && !self.policy.permit_without_stream {
            NO_STREAM_PING_INTERVAL
        } else {
            self.policy.min_time
        };
        if last.is_some_and(|last| now.saturating_duration_since(last) < allowed) {
            self.strikes += 1;
        }
        self.strikes > PING_STRIKES_MAX
    }
}

/// What the keepalive task asks of the serve loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Action {
    /// Send GOAWAY and let open streams finish (age or idle reached).
    GoAway,
    /// Close now (the age grace ran out, or a ping went unanswered).
    Close,
}

/// One value handed from a task to the serve loop, waking it (one shard: `Cell`, no lock).
#[derive(Default)]
pub(crate) struct Notice {
    value: Cell<Option<Action>>,
    waker: Cell<Option<Waker>>,
}

impl Notice {
    fn post(&self, action: Action) {
        self.value.set(Some(action));
        if let Some(waker) = self.waker.take() {
            waker.wake();
        }
    }

    /// Completes with the next posted action.
    pub(crate) async fn next(&self) -> Action {
        poll_fn(|cx| match self.value.take() {
            Some(action) => Poll::Ready(action),
            None => {
                self.waker.set(Some(cx.waker().clone()));
                Poll::Pending
            }
        })
        .await
    }
}

/// What the connection tells its keepalive task: when the client last sent anything, and
/// how many streams are open.
pub(crate) struct Activity {
    last_read: Cell<Instant>,
    open_streams: Cell<usize>,
    idle_since: Cell<Instant>,
}

impl Activity {
    pub(crate) fn new(now: Instant) -> Activity {
        Activity {
            last_read: Cell::new(now),
            open_streams: Cell::new(0),
            idle_since: Cell::new(now),
        }
    }

    /// Streams accepted whose handlers have not finished (grpc-go's active streams).
    pub(crate) fn open_streams(&self) -> usize {
        self.open_streams.get()
    }

    /// The client sent bytes.
    pub(crate) fn read(&self) {
        self.last_read.set(Instant::now());
    }

    /// A stream was accepted.
    pub(crate) fn opened(&self) {
        self.open_streams.set(self.open_streams.get() + 1);
    }

    /// A stream's handler finished.
    pub(crate) fn closed(&self) {
        let open = self.open_streams.get().saturating_sub(1);
        self.open_streams.set(open);
        if open == 0 {
            self.idle_since.set(Instant::now());
        }
    }
}

/// The keepalive task's view of time: pure, so its decisions are unit-tested.
#[derive(Debug)]
struct Life {
    settings: Keepalive,
    /// When GOAWAY for age is due (jitter applied).
    age_at: Option<Instant>,
    /// When the age grace runs out, once GOAWAY was sent for age.
    grace_at: Option<Instant>,
    /// When the unanswered ping was sent.
    ping_at: Option<Instant>,
    going_away: bool,
}

/// What the task does at a wake-up.
#[derive(Debug, PartialEq, Eq)]
enum Step {
    Sleep(Instant),
    Ping,
    Post(Action),
}

impl Life {
    fn new(settings: Keepalive, start: Instant, jitter: f64) -> Life {
        let age_at = settings
            .max_connection_age
            .map(|age| start + crate::timer::bounded(age.mul_f64(jitter)));
        Life {
            settings,
            age_at,
            grace_at: None,
            ping_at: None,
            going_away: false,
        }
    }

    /// The next step at `now`, given the connection's activity.
    fn step(&mut self, now: Instant, last_read: Instant, open: usize, idle_since: Instant) -> Step {
        if let Some(sent) = self.ping_at {
            if last_read > sent {
                self.ping_at = None;
            } else if now >= sent + self.settings.timeout {
                return Step::Post(Action::Close);
            }
        }
        if self.grace_at.is_some_and(|at| now >= at) {
            return Step::Post(Action::Close);
        }
        if !self.going_away {
            if self.age_at.is_some_and(|at| now >= at) {
                self.going_away = true;
                self.grace_at = self
                    .settings
                    .max_connection_age_grace
                    .map(|grace| now + crate::timer::bounded(grace));
                return Step::Post(Action::GoAway);
            }
            if let Some(idle) = self.settings.max_connection_idle {
                if open == 0 && now >= idle_since + idle {
                    self.going_away = true;
                    return Step::Post(Action::GoAway);
                }
            }
        }
        if self.ping_at.is_none() && now >= last_read + self.settings.time {
            self.ping_at = Some(now);
            return Step::Ping;
        }
        let mut next = match self.ping_at {
            Some(sent) => sent + self.settings.timeout,
            None => last_read + self.settings.time,
        };
        for at in [
            self.grace_at,
            if self.going_away { None } else { self.age_at },
        ]
        .into_iter()
        .flatten()
        {
            next = next.min(at);
        }
        if let (false, Some(idle), 0) = (self.going_away, self.settings.max_connection_idle, open) {
            next = next.min(idle_since + idle);
        }
        // Streams may open and close between wake-ups: check the idle limit again at least
        // this often rather than being woken by every stream.
        if let (false, Some(idle)) = (self.going_away, self.settings.max_connection_idle) {
            next = next.min(now + idle);
        }
        Step::Sleep(next.max(now + Duration::from_millis(1)))
    }
}

/// Runs one connection's keepalive until the connection ends (the serve loop drops it).
pub(crate) async fn run(
    settings: Keepalive,
    activity: Rc<Activity>,
    mut pings: Option<PingPong>,
    notice: Rc<Notice>,
) {
    let start = Instant::now();
    // ±10% as grpc-go does, from the clock's low digits (no RNG dependency needed).
    let jitter = 0.9 + f64::from(nanos_now() % 2001) / 10_000.0;
    let mut life = Life::new(settings, start, jitter);
    loop {
        let now = Instant::now();
        let step = life.step(
            now,
            activity.last_read.get(),
            activity.open_streams(),
            activity.idle_since.get(),
        );
        match step {
            Step::Sleep(until) => crate::timer::sleep(until.saturating_duration_since(now)).await,
            Step::Ping => {
                // A failed send means the connection is ending: the serve loop sees that.
                if let Some(pings) = pings.as_mut() {
                    // h2 holds one user ping at a time: the previous one's answer is taken
                    // first (liveness itself is judged by `last_read`).
                    let _ = poll_fn(|cx| Poll::Ready(pings.poll_pong(cx))).await;
                    let _ = pings.send_ping(Ping::opaque());
                }
            }
            Step::Post(action) => {
                notice.post(action);
                if action == Action::Close {
                    return;
                }
            }
        }
    }
}

fn nanos_now() -> u32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    #[test]
    fn an_old_connection_gets_goaway_then_is_closed_after_the_grace() {
        let t0 = Instant::now();
        let settings = Keepalive {
            max_connection_age: Some(secs(10)),
            max_connection_age_grace: Some(secs(5)),
            ..Keepalive::default()
        };
        let mut life = Life::new(settings, t0, 1.0);
        let busy = |at: Instant| (at, 1, at);
        let (r, o, i) = busy(t0 + secs(9));
        assert_eq!(life.step(t0 + secs(9), r, o, i), Step::Sleep(t0 + secs(10)));
        let (r, o, i) = busy(t0 + secs(10));
        assert_eq!(
            life.step(t0 + secs(10), r, o, i),
            Step::Post(Action::GoAway)
        );
        let (r, o, i) = busy(t0 + secs(12));
        assert_eq!(
            life.step(t0 + secs(12), r, o, i),
            Step::Sleep(t0 + secs(15))
        );
        let (r, o, i) = busy(t0 + secs(15));
        assert_eq!(life.step(t0 + secs(15), r, o, i), Step::Post(Action::Close));
    }

    #[test]
    fn an_idle_connection_gets_goaway_only_without_open_streams() {
        let t0 = Instant::now();
        let settings = Keepalive {
            max_connection_idle: Some(secs(3)),
            ..Keepalive::default()
        };
        let mut life = Life::new(settings, t0, 1.0);
        // One stream open the whole time: never idle.
        assert!(matches!(
            life.step(t0 + secs(4), t0 + secs(4), 1, t0),
            Step::Sleep(_)
        ));
        assert_eq!(
            life.step(t0 + secs(8), t0 + secs(4), 0, t0 + secs(5)),
            Step::Post(Action::GoAway)
        );
    }

    #[test]
    fn a_silent_client_is_pinged_then_closed_unless_it_answers() {
        let t0 = Instant::now();
        let settings = Keepalive {
            time: secs(10),
            timeout: secs(2),
            ..Keepalive::default()
        };
        let mut life = Life::new(settings, t0, 1.0);
        assert_eq!(
            life.step(t0 + secs(5), t0, 0, t0),
            Step::Sleep(t0 + secs(10))
        );
        assert_eq!(life.step(t0 + secs(10), t0, 0, t0), Step::Ping);
        assert_eq!(
            life.step(t0 + secs(11), t0, 0, t0),
            Step::Sleep(t0 + secs(12))
        );
        // The answer (any frame) arrives: no close, the next ping is 10s after it.
        let answered = t0 + secs(11);
        assert_eq!(
            life.step(t0 + secs(12), answered, 0, t0),
            Step::Sleep(answered + secs(10))
        );
        assert_eq!(life.step(t0 + secs(21), answered, 0, t0), Step::Ping);
        assert_eq!(
            life.step(t0 + secs(23), answered, 0, t0),
            Step::Post(Action::Close)
        );
    }

    fn strikes(min_time: u64, permit_without_stream: bool) -> PingStrikes {
        PingStrikes::new(Enforcement {
            min_time: secs(min_time),
            permit_without_stream,
        })
    }

    #[test]
    fn the_third_early_ping_strikes_out_and_the_first_is_free() {
        let t0 = Instant::now();
        let mut pings = strikes(10, false);
        // With a stream open: 10s apart is allowed, sooner is a strike.
        assert!(!pings.ping(t0, 1), "first ping");
        assert!(!pings.ping(t0 + secs(1), 1), "strike 1");
        assert!(!pings.ping(t0 + secs(11), 1), "10s later: no strike");
        assert!(!pings.ping(t0 + secs(12), 1), "strike 2");
        assert!(pings.ping(t0 + secs(13), 1), "strike 3");
    }

    #[test]
    fn without_a_stream_pings_must_be_two_hours_apart_unless_permitted() {
        let t0 = Instant::now();
        let mut strict = strikes(1, false);
        let mut permissive = strikes(1, true);
        let mut struck = (false, false);
        for i in 0..4 {
            let at = t0 + Duration::from_millis(1100 * i);
            struck = (strict.ping(at, 0), permissive.ping(at, 0));
        }
        assert_eq!(struck, (true, false));
        let mut strict = strikes(1, false);
        for hours in 0..5 {
            assert!(!strict.ping(t0 + NO_STREAM_PING_INTERVAL * hours, 0));
        }
    }

    #[test]
    fn an_answer_clears_the_strikes_and_the_next_ping_is_free() {
        let t0 = Instant::now();
        let mut pings = strikes(300, false);
        assert!(!pings.ping(t0, 0));
        assert!(!pings.ping(t0, 0), "strike 1");
        assert!(!pings.ping(t0, 0), "strike 2");
        pings.answered();
        assert!(!pings.ping(t0, 1), "cleared, not judged");
        assert!(!pings.ping(t0, 1), "strike 1");
        assert!(!pings.ping(t0, 1), "strike 2");
        assert!(pings.ping(t0, 1), "strike 3");
    }
}
