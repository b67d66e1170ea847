//! The health checker: a thread running the check every interval (start to
//! start), after an optional start delay, and the verdict it keeps
//! ([`Health`]), moved by each outcome and read by the run loop. One type
//! for both of `zkha run`'s checks: readiness of the host (`--ready-cmd`)
//! and liveness of the running command (`--health-cmd`); [`Purpose`] words
//! their log lines.

use super::check::{self, Outcome};
use parking_lot::{Condvar, Mutex};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The checker's verdict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Health {
    /// No verdict yet: no check has passed, and fewer than `failures`
    /// checks in a row have failed. Not healthy: a candidate waits.
    Unknown,
    /// The last check passed.
    Healthy,
    /// The last `failures` (or more) checks failed.
    Unhealthy,
}

/// What a check is for: it words the log lines and names the thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Purpose {
    /// `--ready-cmd`: whether this host could serve (every candidate).
    Readiness,
    /// `--health-cmd`: whether the running command is alive (the master,
    /// while its command runs).
    Liveness,
}

/// A check and its timing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CheckSpec {
    pub purpose: Purpose,
    /// Run with `sh -c`.
    pub cmd: String,
    /// From the start of one check to the start of the next.
    pub interval: Duration,
    /// A check still running after this is killed, and fails.
    pub timeout: Duration,
    /// Failures in a row that make the verdict [`Health::Unhealthy`]
    /// (below 1 counts as 1).
    pub failures: u32,
    /// Time from the checker's start to its first check; no check runs
    /// meanwhile (the verdict stays [`Health::Unknown`]).
    pub start_delay: Duration,
}

/// What the checker thread and the readers share.
#[derive(Debug)]
struct State {
    health: Health,
    consecutive: u32,
    checks: u64,
    failed: u64,
    last_outcome: Option<String>,
    changes: u64,
    stop: bool,
}

#[derive(Debug)]
struct Shared {
    state: Mutex<State>,
    /// Signalled on stop, so that a wait between checks or a poll of a
    /// running check ends at once.
    wake: Condvar,
}

/// A thread running a health check every interval, and its verdict.
///
/// The state machine (`failures` is N):
///
/// | state     | check passes        | check fails, count < N | count reaches N |
/// |-----------|---------------------|------------------------|-----------------|
/// | Unknown   | Healthy             | Unknown                | Unhealthy       |
/// | Healthy   | Healthy             | Healthy                | Unhealthy       |
/// | Unhealthy | Healthy             | Unhealthy              | Unhealthy       |
///
/// The count is of consecutive failures; a pass resets it to 0. So one
/// passing check makes a candidate healthy, N failures in a row unhealthy,
/// and a check that never passes never makes it healthy (the run loop joins
/// the contention only when [`Health::Healthy`]). A check fails when its
/// exit status is not 0, it is killed by a signal, it cannot be started, or
/// it runs past the timeout.
///
/// Logging (target "zkha", every line prefixed by the label), worded by
/// the [`Purpose`]: INFO on becoming healthy ("ready (exit status 0)", "the
/// command is healthy (exit status 0)"), WARN on each failure counting
/// towards N ("readiness check failed (exit status 1), 2 of 3", "health
/// check failed (exit status 1), 2 of 3") and on becoming unhealthy ("not
/// ready after 3 failed checks: …", "the command is unhealthy after 3
/// failed checks: …"); passing checks, and failures once unhealthy, are
/// DEBUG lines.
///
/// Dropping the last `Arc` stops the thread, as [`stop`](Self::stop) does.
#[derive(Debug)]
pub struct HealthChecker {
    shared: Arc<Shared>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl HealthChecker {
    /// Starts the checking thread; the first check runs after
    /// `spec.start_delay`. `label` ("<path> on <hosts>") prefixes every log
    /// line, as the run loop's do.
    pub fn start(spec: CheckSpec, label: String) -> std::io::Result<Arc<HealthChecker>> {
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                health: Health::Unknown,
                consecutive: 0,
                checks: 0,
                failed: 0,
                last_outcome: None,
                changes: 0,
                stop: false,
            }),
            wake: Condvar::new(),
        });
        let name = match spec.purpose {
            Purpose::Readiness => "zkha-ready",
            Purpose::Liveness => "zkha-health",
        };
        let run = Runner {
            shared: shared.clone(),
            failures: spec.failures.max(1),
            spec,
            label,
        };
        let thread = std::thread::Builder::new()
            .name(name.into())
            .spawn(move || run.run())?;
        Ok(Arc::new(HealthChecker {
            shared,
            thread: Mutex::new(Some(thread)),
        }))
    }

    /// The verdict now (see the state machine above).
    pub fn state(&self) -> Health {
        self.shared.state.lock().health
    }

    /// Failed checks in a row, now (0 after a pass).
    #[cfg(test)]
    pub fn consecutive_failures(&self) -> u32 {
        self.shared.state.lock().consecutive
    }

    /// Checks finished since the start.
    #[cfg(test)]
    pub fn checks(&self) -> u64 {
        self.shared.state.lock().checks
    }

    /// Failed checks since the start.
    #[cfg(test)]
    pub fn failed_checks(&self) -> u64 {
        self.shared.state.lock().failed
    }

    /// How the last finished check ended: "exit status 0", "exit status 1",
    /// "killed by signal 9", "timed out after 2000 ms (killed)", "cannot
    /// start sh: …"; `None` before the first.
    pub fn last_outcome(&self) -> Option<String> {
        self.shared.state.lock().last_outcome.clone()
    }

    /// How many times the state has changed: a reader polling it learns of
    /// a change without missing one between two polls.
    #[cfg(test)]
    pub fn changes(&self) -> u64 {
        self.shared.state.lock().changes
    }

    /// Stops the thread and waits for it; a check in progress is killed
    /// (its process group) and reaped. Idempotent.
    pub fn stop(&self) {
        self.shared.state.lock().stop = true;
        self.shared.wake.notify_all();
        let thread = self.thread.lock().take();
        if let Some(thread) = thread {
            if thread.join().is_err() {
                log::error!(target: "zkha", "the health-check thread panicked");
            }
        }
    }
}

impl Drop for HealthChecker {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The checker thread's own part.
struct Runner {
    shared: Arc<Shared>,
    spec: CheckSpec,
    /// `spec.failures`, at least 1.
    failures: u32,
    label: String,
}

impl Runner {
    fn run(self) {
        if !self.wait_until(Instant::now() + self.spec.start_delay) {
            return;
        }
        loop {
            let started = Instant::now();
            match self.check() {
                Outcome::Stopped => return,
                Outcome::Passed(text) => self.record(true, text),
                Outcome::Failed(text) => self.record(false, text),
            }
            // Start to start; a check that took longer is followed at once.
            if !self.wait_until(started + self.spec.interval) {
                return;
            }
        }
    }

    /// Waits until `until`, or a stop: false on a stop.
    fn wait_until(&self, until: Instant) -> bool {
        let mut state = self.shared.state.lock();
        while !state.stop && Instant::now() < until {
            self.shared.wake.wait_until(&mut state, until);
        }
        !state.stop
    }

    fn stopping(&self) -> bool {
        self.shared.state.lock().stop
    }

    /// Runs the check once, to its end, its timeout or a stop.
    fn check(&self) -> Outcome {
        if self.stopping() {
            return Outcome::Stopped;
        }
        check::run(&self.spec.cmd, self.spec.timeout, |until| {
            let mut state = self.shared.state.lock();
            if state.stop {
                return true;
            }
            self.shared.wake.wait_until(&mut state, until);
            false
        })
    }

    /// Counts one finished check, moves the state machine and logs.
    fn record(&self, passed: bool, outcome: String) {
        let label = &self.label;
        let n = self.failures;
        let mut s = self.shared.state.lock();
        s.checks += 1;
        let before = s.health;
        if passed {
            s.consecutive = 0;
            s.health = Health::Healthy;
        } else {
            s.failed += 1;
            s.consecutive = s.consecutive.saturating_add(1);
            if s.consecutive >= n {
                s.health = Health::Unhealthy;
            }
        }
        if s.health != before {
            s.changes += 1;
        }
        let (after, consecutive) = (s.health, s.consecutive);
        s.last_outcome = Some(outcome.clone());
        drop(s);
        // The check's name, becoming healthy, becoming unhealthy, staying so.
        let (check, healthy, unhealthy, still) = match self.spec.purpose {
            Purpose::Readiness => ("readiness check", "ready", "not ready", "not ready"),
            Purpose::Liveness => (
                "health check",
                "the command is healthy",
                "the command is unhealthy",
                "unhealthy",
            ),
        };
        match (passed, before, after) {
            (true, Health::Healthy, _) => {
                log::debug!(target: "zkha", "{label}: {check} passed ({outcome})")
            }
            (true, ..) => log::info!(target: "zkha", "{label}: {healthy} ({outcome})"),
            (false, Health::Unhealthy, _) => {
                log::debug!(target: "zkha", "{label}: {check} failed ({outcome}), still {still}")
            }
            (false, _, Health::Unhealthy) => {
                log::warn!(target: "zkha", "{label}: {unhealthy} after {consecutive} failed checks: {outcome}")
            }
            (false, ..) => {
                log::warn!(target: "zkha", "{label}: {check} failed ({outcome}), {consecutive} of {n}")
            }
        }
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::cli::health::MAX_MS;
    use std::path::{Path, PathBuf};

    /// A generous bound for things that take milliseconds.
    const DEADLINE: Duration = Duration::from_secs(20);

    fn checker(cmd: &str, interval_ms: u64, timeout_ms: u64, failures: u32) -> Arc<HealthChecker> {
        delayed(cmd, interval_ms, timeout_ms, failures, 0)
    }

    fn delayed(
        cmd: &str,
        interval_ms: u64,
        timeout_ms: u64,
        failures: u32,
        delay_ms: u64,
    ) -> Arc<HealthChecker> {
        HealthChecker::start(
            CheckSpec {
                purpose: Purpose::Liveness,
                cmd: cmd.to_owned(),
                interval: Duration::from_millis(interval_ms),
                timeout: Duration::from_millis(timeout_ms),
                failures,
                start_delay: Duration::from_millis(delay_ms),
            },
            "/test on 127.0.0.1:0".into(),
        )
        .expect("start the health checker")
    }

    /// Waits (with a deadline) for `what` to hold; false if it never did.
    pub(in crate::cli::health) fn wait_for(mut what: impl FnMut() -> bool) -> bool {
        let end = Instant::now() + DEADLINE;
        while Instant::now() < end {
            if what() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        what()
    }

    /// A fresh directory for a test's files.
    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("zkha-health-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn read_pid(file: &Path) -> Option<libc::pid_t> {
        std::fs::read_to_string(file).ok()?.trim().parse().ok()
    }

    /// kill(pid, 0): whether the process or (negative) group exists.
    fn exists(pid: libc::pid_t) -> bool {
        // SAFETY: signal 0 only checks existence and permission; no signal
        // is sent.
        let r = unsafe { libc::kill(pid, 0) };
        r == 0 || std::io::Error::last_os_error().raw_os_error() != Some(libc::ESRCH)
    }

    /// Dead: gone from /proc, or a zombie (an orphan that init reaps).
    fn dead(pid: libc::pid_t) -> bool {
        match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            Err(_) => true,
            Ok(stat) => stat
                .rsplit_once(')')
                .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
        }
    }

    #[test]
    fn passing_check_is_healthy() {
        let h = checker("true", 20, 2000, 3);
        assert!(wait_for(|| h.state() == Health::Healthy), "{:?}", h.state());
        assert_eq!(h.last_outcome().as_deref(), Some("exit status 0"));
        assert_eq!(h.consecutive_failures(), 0);
        assert_eq!(h.failed_checks(), 0);
        assert_eq!(h.changes(), 1, "Unknown -> Healthy, once");
        // Later passes are no change.
        let seen = h.checks();
        assert!(wait_for(|| h.checks() >= seen + 3), "checks {}", h.checks());
        assert_eq!(h.changes(), 1);
        assert_eq!(h.state(), Health::Healthy);
    }

    #[test]
    fn failing_check_is_never_healthy() {
        let h = checker("false", 10, 2000, 3);
        let mut states = Vec::new();
        let ok = wait_for(|| {
            states.push(h.state());
            h.state() == Health::Unhealthy
        });
        assert!(ok, "{:?}", h.state());
        assert!(h.checks() >= 3, "checks {}", h.checks());
        assert!(h.consecutive_failures() >= 3);
        assert_eq!(h.last_outcome().as_deref(), Some("exit status 1"));
        // Let it fail more; it stays unhealthy, and was never healthy.
        let seen = h.checks();
        assert!(wait_for(|| {
            states.push(h.state());
            h.checks() >= seen + 3
        }));
        assert_eq!(h.failed_checks(), h.checks());
        assert!(!states.contains(&Health::Healthy), "{states:?}");
        assert_eq!(h.state(), Health::Unhealthy);
        assert_eq!(h.changes(), 1, "Unknown -> Unhealthy, once");
    }

    #[test]
    fn below_the_threshold_keeps_the_state() {
        // 1000 failures needed: a failing check stays Unknown meanwhile.
        let h = checker("exit 7", 10, 2000, 1000);
        assert!(wait_for(|| h.checks() >= 3));
        assert_eq!(h.state(), Health::Unknown);
        assert_eq!(h.changes(), 0);
        assert_eq!(h.last_outcome().as_deref(), Some("exit status 7"));
    }

    #[test]
    fn flips_with_the_check() {
        let dir = scratch("flip");
        let marker = dir.join("up");
        std::fs::write(&marker, "").unwrap();
        let h = checker(&format!("test -e '{}'", marker.display()), 10, 2000, 3);
        assert!(wait_for(|| h.state() == Health::Healthy), "{:?}", h.state());

        std::fs::remove_file(&marker).unwrap();
        let mut states = Vec::new();
        let ok = wait_for(|| {
            // One lock: the state and the count of the same moment.
            let (state, n) = {
                let s = h.shared.state.lock();
                (s.health, s.consecutive)
            };
            states.push((state, n));
            state == Health::Unhealthy
        });
        assert!(ok, "{:?}", h.state());
        // Healthy while fewer than 3 failed in a row, unhealthy from 3 on.
        for &(state, n) in &states {
            match state {
                Health::Healthy => assert!(n < 3, "{states:?}"),
                Health::Unhealthy => assert!(n >= 3, "{states:?}"),
                Health::Unknown => panic!("Unknown after a verdict: {states:?}"),
            }
        }

        std::fs::write(&marker, "").unwrap();
        assert!(wait_for(|| h.state() == Health::Healthy), "{:?}", h.state());
        assert_eq!(h.consecutive_failures(), 0);
        assert!(h.changes() >= 3, "changes {}", h.changes());
        h.stop();
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_hanging_check_times_out_and_its_group_is_killed() {
        let dir = scratch("hang");
        let pidfile = dir.join("pid");
        // `exec`: the sleep is `sh` itself, our child, so that once it is
        // reaped the whole group is gone (no orphan left for init).
        let cmd = format!("echo $$ > '{}'; exec sleep 60", pidfile.display());
        let h = checker(&cmd, 60_000, 200, 1);
        assert!(
            wait_for(|| h.state() == Health::Unhealthy),
            "{:?}",
            h.state()
        );
        assert_eq!(h.checks(), 1);
        assert_eq!(
            h.last_outcome().as_deref(),
            Some("timed out after 200 ms (killed)")
        );
        let pgid = read_pid(&pidfile).expect("the check wrote its pid");
        assert!(!exists(-pgid), "process group {pgid} still exists");
        assert!(
            !exists(pgid),
            "the sleep {pgid} is still there (not reaped?)"
        );
        h.stop();
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_timeout_kills_what_the_check_started() {
        let dir = scratch("grandchild");
        let (shpid, sleeppid) = (dir.join("sh"), dir.join("sleep"));
        let cmd = format!(
            "echo $$ > '{}'; sleep 60 & echo $! > '{}'; wait",
            shpid.display(),
            sleeppid.display()
        );
        let h = checker(&cmd, 60_000, 300, 1);
        assert!(
            wait_for(|| h.state() == Health::Unhealthy),
            "{:?}",
            h.state()
        );
        let sh = read_pid(&shpid).expect("sh wrote its pid");
        let sleep = read_pid(&sleeppid).expect("sh wrote the sleep's pid");
        assert!(!exists(sh), "sh {sh} not reaped");
        assert!(wait_for(|| dead(sleep)), "the sleep {sleep} survived");
        h.stop();
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn stop_kills_a_running_check_and_joins() {
        let dir = scratch("stop");
        let pidfile = dir.join("pid");
        let cmd = format!("echo $$ > '{}'; exec sleep 60", pidfile.display());
        let h = checker(&cmd, 1000, 60_000, 3);
        assert!(wait_for(|| read_pid(&pidfile).is_some()));
        let pgid = read_pid(&pidfile).unwrap();
        assert!(exists(-pgid), "the check should be running");
        // stop() on another thread, so that a stop that hangs fails the
        // test at the deadline instead of hanging it.
        let (tx, rx) = std::sync::mpsc::channel();
        let h2 = h.clone();
        std::thread::spawn(move || {
            h2.stop();
            let _ = tx.send(());
        });
        rx.recv_timeout(DEADLINE).expect("stop() returned");
        assert!(!exists(-pgid), "process group {pgid} still exists");
        assert!(h.thread.lock().is_none(), "joined");
        // A stopped check is not counted.
        assert_eq!(h.checks(), 0);
        assert_eq!(h.state(), Health::Unknown);
        h.stop(); // idempotent
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn drop_stops_the_thread() {
        let dir = scratch("drop");
        let pidfile = dir.join("pid");
        let cmd = format!("echo $$ > '{}'; exec sleep 60", pidfile.display());
        let h = checker(&cmd, 1000, 60_000, 3);
        assert!(wait_for(|| read_pid(&pidfile).is_some()));
        let pgid = read_pid(&pidfile).unwrap();
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            drop(h);
            let _ = tx.send(());
        });
        rx.recv_timeout(DEADLINE).expect("drop returned");
        assert!(!exists(-pgid), "process group {pgid} still exists");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn stop_between_checks_is_prompt() {
        // An hour between checks: stop must not wait for the next.
        let h = checker("true", MAX_MS, 2000, 3);
        assert!(wait_for(|| h.checks() == 1));
        let (tx, rx) = std::sync::mpsc::channel();
        let h2 = h.clone();
        std::thread::spawn(move || {
            h2.stop();
            let _ = tx.send(());
        });
        rx.recv_timeout(DEADLINE).expect("stop() returned");
        assert_eq!(h.checks(), 1);
    }

    #[test]
    fn killed_by_a_signal_fails() {
        let h = checker("kill -9 $$", 10, 2000, 1);
        assert!(wait_for(|| h.state() == Health::Unhealthy));
        assert_eq!(h.last_outcome().as_deref(), Some("killed by signal 9"));
    }

    #[test]
    fn no_check_runs_before_the_start_delay() {
        let dir = scratch("delay");
        let ran = dir.join("ran");
        let started = Instant::now();
        let h = delayed(
            &format!("date +%s%N >> '{}'", ran.display()),
            10,
            2000,
            3,
            400,
        );
        // Meanwhile: no check, no verdict.
        std::thread::sleep(Duration::from_millis(200));
        assert_eq!(h.checks(), 0);
        assert!(!ran.exists(), "a check ran within the start delay");
        assert_eq!(h.state(), Health::Unknown);
        // Then checks, the first of them no sooner than the delay.
        assert!(wait_for(|| h.checks() >= 2), "checks {}", h.checks());
        assert!(started.elapsed() >= Duration::from_millis(400));
        assert_eq!(h.state(), Health::Healthy);
        h.stop();
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn stop_within_the_start_delay_is_prompt_and_runs_nothing() {
        let dir = scratch("delay-stop");
        let ran = dir.join("ran");
        let h = delayed(&format!("touch '{}'", ran.display()), 10, 2000, 3, MAX_MS);
        let (tx, rx) = std::sync::mpsc::channel();
        let h2 = h.clone();
        std::thread::spawn(move || {
            h2.stop();
            let _ = tx.send(());
        });
        rx.recv_timeout(DEADLINE).expect("stop() returned");
        assert_eq!(h.checks(), 0);
        assert!(!ran.exists(), "a check ran");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
