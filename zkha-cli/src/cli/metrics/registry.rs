//! The metrics themselves: one registry of gauges and counters that the
//! run loop sets, and its exposition text, rendered at each scrape.

use parking_lot::Mutex;
use prometheus_client::encoding::prometheus_text;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Longest `reason` label kept: a label is an index in Prometheus, and a
/// caller passing something long by mistake must not make it a big one.
const MAX_REASON: usize = 64;

/// The reasons `zkha run` gives [`Metrics::lost_master`], exported at 0
/// from the start: a series that appears only at its first increment hides
/// that increment from `increase()`/`rate()` (and the family would have no
/// HELP line until then).
pub const LOST_MASTER_REASONS: [&str; 9] = [
    "resigned",
    "switchover",
    "expired",
    "disconnected",
    "node_lost",
    "lease_expired",
    "unhealthy",
    "fence_failed",
    "shutdown",
];

/// The metrics of one `zkha run`, set by its run loop and read at each
/// scrape. Every setter is a few atomic operations (the `reason` family
/// takes a lock the first time a reason is seen): callable from anywhere,
/// including a hot loop, never blocking on a scrape for long.
#[derive(Debug)]
pub struct Metrics {
    /// Every metric below, registered once; encoding only reads it.
    registry: Registry,
    is_master: Gauge,
    became_master: Counter,
    lost_master: Family<[(&'static str, String); 1], Counter>,
    /// Set at render time from `lease_until`, so a scrape sees the time
    /// left now, not when the lease was last renewed.
    lease_remaining: Gauge<f64, AtomicU64>,
    lease_until: Mutex<Option<Instant>>,
    session_connected: Gauge,
    health_ok: Gauge,
    ready: Gauge,
    candidates: Gauge,
    ready_standbys: Gauge,
    paused: Gauge,
    command_starts: Counter,
    /// The command runs: set when it is started, cleared when a stop of it
    /// begins or it ended by itself (not exported: `/master` reads it).
    command_running: AtomicBool,
    /// When the main loop last turned, as time since `born` in ms + 1 (0:
    /// never), for `/health`.
    loop_turned_ms: AtomicU64,
    born: Instant,
}

/// What the load balancers' endpoints (`/master`, `/standby`, `/health`)
/// read: one consistent-enough copy of the state, taken per request.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Snapshot {
    pub is_master: bool,
    pub command_running: bool,
    /// Time left on the lease: `None` without one (not master, or the seed
    /// profile), zero once it has passed.
    pub lease_left: Option<Duration>,
    pub session_connected: bool,
    pub ready: bool,
    /// Time since the main loop last turned (`None`: it never did).
    pub loop_age: Option<Duration>,
}

impl Metrics {
    /// All zero, except `zkha_health_ok` and `zkha_ready`, which are 1 until
    /// a check says otherwise: with no `--health-cmd` (`--ready-cmd`) the
    /// command counts as healthy (the host as ready), and an alert on
    /// either being 0 must not fire for it.
    pub fn new() -> Arc<Metrics> {
        let mut registry = Registry::default();
        let is_master = Gauge::default();
        let became_master = Counter::default();
        let lost_master = Family::default();
        let lease_remaining = Gauge::<f64, AtomicU64>::default();
        let session_connected = Gauge::default();
        let health_ok = Gauge::default();
        let ready = Gauge::default();
        let candidates = Gauge::default();
        let ready_standbys = Gauge::default();
        let paused = Gauge::default();
        let command_starts = Counter::default();
        health_ok.set(1);
        ready.set(1);
        for reason in LOST_MASTER_REASONS {
            // Created at 0; the guard is not needed.
            drop(lost_master.get_or_create(&[("reason", reason.to_owned())]));
        }
        // prometheus-client adds `_total` to a counter's name.
        registry.register(
            "zkha_is_master",
            "1 while this candidate is master (its command may run), 0 while it is standby or out of the election",
            is_master.clone(),
        );
        registry.register(
            "zkha_became_master",
            "Times this candidate became master",
            became_master.clone(),
        );
        registry.register(
            "zkha_lost_master",
            "Times this candidate stopped being master, by reason (resigned, switchover, expired, disconnected, node_lost, lease_expired, unhealthy, fence_failed, shutdown)",
            lost_master.clone(),
        );
        registry.register(
            "zkha_lease_remaining_seconds",
            "Seconds left of the master's lease, within which it must renew or stop its command; 0 when not master or without a lease",
            lease_remaining.clone(),
        );
        registry.register(
            "zkha_session_connected",
            "1 while the ZooKeeper session is connected, 0 while it is disconnected or expired",
            session_connected.clone(),
        );
        registry.register(
            "zkha_health_ok",
            "Liveness of the running command: 0 once --health-cmd has failed --health-failures times in a row while master; 1 otherwise (not master, in the start period, or without --health-cmd)",
            health_ok.clone(),
        );
        registry.register(
            "zkha_ready",
            "Readiness of this host: 1 while --ready-cmd passes (always 1 without it), 0 before its first pass and once it has failed --ready-failures times in a row",
            ready.clone(),
        );
        registry.register(
            "zkha_candidates",
            "Candidates registered on the election path, as last read by this candidate (itself included; seed-profile and C++ candidates do not register)",
            candidates.clone(),
        );
        registry.register(
            "zkha_ready_standbys",
            "Registered standbys that are ready and may become master (priority above 0), as last read by this candidate: 0 means no failover is possible",
            ready_standbys.clone(),
        );
        registry.register(
            "zkha_paused",
            "1 while a maintenance pause (zkha pause) or a resume the master has not acknowledged holds every candidate back, as last read by this candidate (on the master: also while it holds mastership through a pause it acknowledged); 0 otherwise",
            paused.clone(),
        );
        registry.register(
            "zkha_command_starts",
            "Times the command was started",
            command_starts.clone(),
        );
        Arc::new(Metrics {
            registry,
            is_master,
            became_master,
            lost_master,
            lease_remaining,
            lease_until: Mutex::new(None),
            session_connected,
            health_ok,
            ready,
            candidates,
            ready_standbys,
            paused,
            command_starts,
            command_running: AtomicBool::new(false),
            loop_turned_ms: AtomicU64::new(0),
            born: Instant::now(),
        })
    }

    /// `zkha_is_master`.
    pub fn set_master(&self, on: bool) {
        self.is_master.set(i64::from(on));
    }

    /// `zkha_became_master_total` += 1.
    pub fn became_master(&self) {
        self.became_master.inc();
    }

    /// `zkha_lost_master_total{reason}` += 1. `reason` should be one of
    /// [`LOST_MASTER_REASONS`] (exported at 0 from the start); anything else
    /// is counted too, from its first use. A reason is folded to
    /// `[a-z0-9_]`, at most 64 characters ("unknown" if empty), so a label
    /// never needs quoting.
    pub fn lost_master(&self, reason: &str) {
        self.lost_master
            .get_or_create(&[("reason", sanitize_reason(reason))])
            .inc();
    }

    /// The lease's deadline (`None`: not master, or no lease): each scrape
    /// reports `zkha_lease_remaining_seconds` as the time left then, 0 once
    /// it has passed.
    pub fn set_lease_deadline(&self, until: Option<Instant>) {
        *self.lease_until.lock() = until;
    }

    /// `zkha_session_connected`.
    pub fn set_session_connected(&self, on: bool) {
        self.session_connected.set(i64::from(on));
    }

    /// `zkha_health_ok` (1 from the start: see [`Metrics::new`]).
    pub fn set_health_ok(&self, on: bool) {
        self.health_ok.set(i64::from(on));
    }

    /// `zkha_ready` (1 from the start: see [`Metrics::new`]).
    pub fn set_ready(&self, on: bool) {
        self.ready.set(i64::from(on));
    }

    /// `zkha_candidates` and `zkha_ready_standbys`, from a read of the
    /// registry.
    pub fn set_registry(&self, candidates: usize, ready_standbys: usize) {
        self.candidates.set(candidates as i64);
        self.ready_standbys.set(ready_standbys as i64);
    }

    /// `zkha_paused`.
    pub fn set_paused(&self, on: bool) {
        self.paused.set(i64::from(on));
    }

    /// `zkha_command_starts_total` += 1; the command runs from now on
    /// (for `/master`) until [`Metrics::set_command_running`] says it is
    /// being stopped or has ended.
    pub fn command_started(&self) {
        self.command_starts.inc();
        self.command_running.store(true, Ordering::Release);
    }

    /// Whether the command runs: `false` as soon as a stop of it begins
    /// (before its SIGTERM) or once it ended by itself.
    pub fn set_command_running(&self, on: bool) {
        self.command_running.store(on, Ordering::Release);
    }

    /// The main loop turned (for `/health`).
    pub fn loop_turned(&self) {
        let ms = self.born.elapsed().as_millis() as u64 + 1;
        self.loop_turned_ms.store(ms, Ordering::Release);
    }

    /// The state the load balancers' endpoints answer from.
    pub fn snapshot(&self) -> Snapshot {
        let turned = self.loop_turned_ms.load(Ordering::Acquire);
        let lease_until = *self.lease_until.lock();
        let now = Instant::now();
        Snapshot {
            is_master: self.is_master.get() != 0,
            command_running: self.command_running.load(Ordering::Acquire),
            lease_left: lease_until.map(|u| u.saturating_duration_since(now)),
            session_connected: self.session_connected.get() != 0,
            ready: self.ready.get() != 0,
            loop_age: (turned > 0).then(|| {
                self.born
                    .elapsed()
                    .saturating_sub(Duration::from_millis(turned - 1))
            }),
        }
    }

    /// The exposition text that `/metrics` serves.
    pub fn render(&self) -> String {
        let until = *self.lease_until.lock();
        let left = until.map_or(0.0, |u| {
            u.saturating_duration_since(Instant::now()).as_secs_f64()
        });
        self.lease_remaining.set(left);
        let mut out = String::new();
        // Writing to a String cannot fail, and every metric encodes.
        if let Err(e) = prometheus_text::encode(&mut out, &self.registry) {
            log::warn!(target: "zkha", "encoding the metrics: {e}");
        }
        out
    }
}

/// `reason` as a label value: lower-case ASCII letters, digits and `_`.
fn sanitize_reason(reason: &str) -> String {
    let s: String = reason
        .chars()
        .take(MAX_REASON)
        .map(|c| match c.to_ascii_lowercase() {
            c @ ('a'..='z' | '0'..='9' | '_') => c,
            _ => '_',
        })
        .collect();
    if s.is_empty() {
        "unknown".to_owned()
    } else {
        s
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    /// The value of the sample line `series` (name and labels) in `text`.
    pub(in crate::cli::metrics) fn value(text: &str, series: &str) -> f64 {
        let prefix = format!("{series} ");
        let line = text
            .lines()
            .find(|l| l.starts_with(&prefix))
            .unwrap_or_else(|| panic!("no {series} in:\n{text}"));
        line[prefix.len()..].trim().parse().unwrap()
    }

    #[test]
    fn render_starts_at_zero_with_every_metric_and_its_help() {
        let text = Metrics::new().render();
        for series in [
            "zkha_is_master",
            "zkha_became_master_total",
            "zkha_lease_remaining_seconds",
            "zkha_session_connected",
            "zkha_command_starts_total",
            "zkha_candidates",
            "zkha_ready_standbys",
        ] {
            assert_eq!(value(&text, series), 0.0, "{series}");
        }
        for reason in LOST_MASTER_REASONS {
            let series = format!("zkha_lost_master_total{{reason=\"{reason}\"}}");
            assert_eq!(value(&text, &series), 0.0, "{series}");
        }
        // Healthy and ready until a check says otherwise (none may be
        // configured).
        assert_eq!(value(&text, "zkha_health_ok"), 1.0);
        assert_eq!(value(&text, "zkha_ready"), 1.0);
        for name in [
            "zkha_is_master",
            "zkha_became_master_total",
            "zkha_lost_master_total",
            "zkha_lease_remaining_seconds",
            "zkha_session_connected",
            "zkha_health_ok",
            "zkha_ready",
            "zkha_candidates",
            "zkha_ready_standbys",
            "zkha_command_starts_total",
        ] {
            assert!(
                text.contains(&format!("# HELP {name} ")),
                "no HELP for {name}:\n{text}"
            );
            assert!(
                text.contains(&format!("# TYPE {name} ")),
                "no TYPE for {name}:\n{text}"
            );
        }
    }

    #[test]
    fn render_follows_the_setters() {
        let m = Metrics::new();
        m.set_master(true);
        m.became_master();
        m.became_master();
        m.set_session_connected(true);
        m.set_health_ok(false);
        m.set_ready(false);
        m.set_registry(3, 1);
        m.command_started();
        m.lost_master("resigned");
        m.lost_master("resigned");
        m.lost_master("expired");
        let text = m.render();
        assert_eq!(value(&text, "zkha_is_master"), 1.0);
        assert_eq!(value(&text, "zkha_became_master_total"), 2.0);
        assert_eq!(value(&text, "zkha_session_connected"), 1.0);
        assert_eq!(value(&text, "zkha_health_ok"), 0.0);
        assert_eq!(value(&text, "zkha_ready"), 0.0);
        assert_eq!(value(&text, "zkha_candidates"), 3.0);
        assert_eq!(value(&text, "zkha_ready_standbys"), 1.0);
        assert_eq!(value(&text, "zkha_command_starts_total"), 1.0);
        assert_eq!(
            value(&text, r#"zkha_lost_master_total{reason="resigned"}"#),
            2.0
        );
        assert_eq!(
            value(&text, r#"zkha_lost_master_total{reason="expired"}"#),
            1.0
        );

        m.set_master(false);
        m.set_session_connected(false);
        m.set_health_ok(true);
        m.set_ready(true);
        let text = m.render();
        assert_eq!(value(&text, "zkha_is_master"), 0.0);
        assert_eq!(value(&text, "zkha_session_connected"), 0.0);
        assert_eq!(value(&text, "zkha_health_ok"), 1.0);
        assert_eq!(value(&text, "zkha_ready"), 1.0);
        // Counters never go back.
        assert_eq!(value(&text, "zkha_became_master_total"), 2.0);
    }

    #[test]
    fn lease_remaining_is_computed_at_each_render() {
        let m = Metrics::new();
        m.set_lease_deadline(Some(Instant::now() + Duration::from_secs(60)));
        let first = value(&m.render(), "zkha_lease_remaining_seconds");
        assert!(first > 0.0 && first <= 60.0, "{first}");
        std::thread::sleep(Duration::from_millis(20));
        let second = value(&m.render(), "zkha_lease_remaining_seconds");
        assert!(second < first, "{second} !< {first}");
        assert!(second > 0.0, "{second}");

        let past = Instant::now().checked_sub(Duration::from_secs(1)).unwrap();
        m.set_lease_deadline(Some(past));
        assert_eq!(value(&m.render(), "zkha_lease_remaining_seconds"), 0.0);
        m.set_lease_deadline(Some(Instant::now() + Duration::from_secs(60)));
        assert!(value(&m.render(), "zkha_lease_remaining_seconds") > 0.0);
        m.set_lease_deadline(None);
        assert_eq!(value(&m.render(), "zkha_lease_remaining_seconds"), 0.0);
    }

    #[test]
    fn reason_labels_are_sanitized() {
        assert_eq!(sanitize_reason("node_lost"), "node_lost");
        assert_eq!(sanitize_reason("Lease Expired!"), "lease_expired_");
        assert_eq!(sanitize_reason("a\"b\\c\nd"), "a_b_c_d");
        assert_eq!(sanitize_reason("zé"), "z_");
        assert_eq!(sanitize_reason(""), "unknown");
        assert_eq!(sanitize_reason(&"x".repeat(100)).len(), MAX_REASON);

        let m = Metrics::new();
        m.lost_master("Fence \"failed\"");
        let text = m.render();
        assert_eq!(
            value(&text, r#"zkha_lost_master_total{reason="fence__failed_"}"#),
            1.0
        );
    }
}
