//! Health checks for `zkha run` (`--health-cmd`): a thread runs the check
//! command every interval and keeps a verdict, which the run loop reads to
//! leave the contention when the service it guards is unhealthy (a master
//! that cannot serve must not keep the lock, as Hadoop's ZKFC does) and to
//! rejoin it after one passing check.
//!
//! The check is `sh -c CMD` with stdin null and stdout/stderr inherited
//! (its output goes to zkha's log stream), without zkha's secrets
//! (ZKHA_SASL_PASSWORD, ZKHA_DIGEST) or any descriptor above 2 (zkha's
//! ZooKeeper socket, the C client's self-pipe), in a process group of its own so
//! that a check still running at its timeout is killed whole: `sh` and
//! whatever it started. The kill is sent before `sh` is reaped, so the group
//! id cannot have been reused by then. The checker never runs two checks at
//! once: the interval is measured from start to start, and a check that
//! outlasts it is followed by the next at once.
//!
//! This module only checks and reports; leaving and rejoining the
//! contention is the run loop's (src/cli/run.rs).

use clap::Args;
use parking_lot::{Condvar, Mutex};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use zkha::error::Argument;

/// The longest interval or timeout, in ms (one hour): longer is a typo.
pub const MAX_MS: u64 = 3_600_000;
/// The most consecutive failures that may be asked for.
pub const MAX_FAILURES: u32 = 1000;
/// How often a running check is looked at (exit, timeout, stop).
const POLL: Duration = Duration::from_millis(5);

/// `zkha run`'s health-check flags.
#[derive(Debug, Args)]
pub struct HealthArgs {
    /// A health check, run with `sh -c` every --health-interval; exit status
    /// 0 means healthy. After --health-failures failures in a row the
    /// candidate leaves the contention (a master first stops its command);
    /// one passing check brings it back. Without it: always healthy.
    #[arg(long, value_name = "CMD")]
    pub health_cmd: Option<String>,
    /// Time between the starts of two checks, in ms.
    #[arg(long, value_name = "MS", default_value_t = 1000)]
    pub health_interval: u64,
    /// A check still running after this many ms is killed (its whole
    /// process group) and counts as a failure.
    #[arg(long, value_name = "MS", default_value_t = 2000)]
    pub health_timeout: u64,
    /// Consecutive failed checks that make the candidate unhealthy.
    #[arg(long, value_name = "N", default_value_t = 3)]
    pub health_failures: u32,
}

impl HealthArgs {
    /// Checks the flags, naming the flag and in the unit the user typed.
    pub fn validate(&self) -> Result<(), zkha::Error> {
        if let Some(cmd) = &self.health_cmd {
            if cmd.trim().is_empty() {
                // `sh -c ""` exits 0: an empty check would always pass.
                return Err(zkha::Error::InvalidArgument {
                    argument: Argument::Other,
                    reason: format!("--health-cmd {cmd:?}: empty command"),
                });
            }
        }
        check_ms("--health-interval", self.health_interval)?;
        check_ms("--health-timeout", self.health_timeout)?;
        if self.health_failures == 0 || self.health_failures > MAX_FAILURES {
            return Err(zkha::Error::InvalidArgument {
                argument: Argument::Other,
                reason: format!(
                    "--health-failures {}: must be 1 to {MAX_FAILURES}",
                    self.health_failures
                ),
            });
        }
        Ok(())
    }

    /// Starts a checker from the flags, `None` without `--health-cmd`.
    /// `label` as in [`HealthChecker::start`]. Call [`validate`] first.
    ///
    /// [`validate`]: HealthArgs::validate
    pub fn start(&self, label: String) -> std::io::Result<Option<Arc<HealthChecker>>> {
        let Some(cmd) = &self.health_cmd else {
            return Ok(None);
        };
        HealthChecker::start(
            cmd.clone(),
            Duration::from_millis(self.health_interval),
            Duration::from_millis(self.health_timeout),
            self.health_failures,
            label,
        )
        .map(Some)
    }
}

/// A flag in ms that must be 1 to [`MAX_MS`].
fn check_ms(flag: &str, ms: u64) -> Result<(), zkha::Error> {
    if ms == 0 || ms > MAX_MS {
        return Err(zkha::Error::InvalidArgument {
            argument: Argument::Timeout,
            reason: format!("{flag} {ms}: must be 1 to {MAX_MS} (ms)"),
        });
    }
    Ok(())
}

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
/// Logging (target "zkha", every line prefixed by the label): INFO on
/// becoming healthy, WARN on each failure counting towards N ("health check
/// failed (exit status 1), 2 of 3") and on becoming unhealthy; passing
/// checks, and failures once unhealthy, are DEBUG lines.
///
/// Dropping the last `Arc` stops the thread, as [`stop`](Self::stop) does.
#[derive(Debug)]
pub struct HealthChecker {
    shared: Arc<Shared>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl HealthChecker {
    /// Starts the checking thread; the first check runs at once. `label`
    /// ("<path> on <hosts>") prefixes every log line, as the run loop's do.
    /// `failures` below 1 counts as 1.
    pub fn start(
        cmd: String,
        interval: Duration,
        timeout: Duration,
        failures: u32,
        label: String,
    ) -> std::io::Result<Arc<HealthChecker>> {
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
        let run = Runner {
            shared: shared.clone(),
            cmd,
            interval,
            timeout,
            failures: failures.max(1),
            label,
        };
        let thread = std::thread::Builder::new()
            .name("zkha-health".into())
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

/// How one check ended.
enum Outcome {
    Passed(String),
    Failed(String),
    /// Stopped while running: killed and reaped, not counted.
    Stopped,
}

/// The checker thread's own part.
struct Runner {
    shared: Arc<Shared>,
    cmd: String,
    interval: Duration,
    timeout: Duration,
    failures: u32,
    label: String,
}

impl Runner {
    fn run(self) {
        loop {
            let started = Instant::now();
            match self.check() {
                Outcome::Stopped => return,
                Outcome::Passed(text) => self.record(true, text),
                Outcome::Failed(text) => self.record(false, text),
            }
            // Start to start; a check that took longer is followed at once.
            let next = started + self.interval;
            let mut state = self.shared.state.lock();
            while !state.stop && Instant::now() < next {
                self.shared.wake.wait_until(&mut state, next);
            }
            if state.stop {
                return;
            }
        }
    }

    fn stopping(&self) -> bool {
        self.shared.state.lock().stop
    }

    /// Runs the check once, to its end, its timeout or a stop.
    fn check(&self) -> Outcome {
        if self.stopping() {
            return Outcome::Stopped;
        }
        let mut command = Command::new("sh");
        command
            .arg("-c")
            .arg(&self.cmd)
            .stdin(Stdio::null())
            .process_group(0);
        super::secure::remove_secrets(&mut command);
        // SAFETY: runs in the forked child before exec; close_from is
        // async-signal-safe and allocates nothing.
        unsafe {
            command.pre_exec(|| {
                // None of zkha's descriptors (its ZooKeeper socket, the C
                // client's self-pipe) reaches the check.
                super::child_fds::close_from(3);
                Ok(())
            });
        }
        // Recorded as a helper until reaped: never mistaken for an orphan
        // of a killed watchdog (`reaper.rs`).
        let child = super::reaper::spawn_helper(&mut command);
        let (mut child, _helper) = match child {
            Ok(c) => c,
            Err(e) => return Outcome::Failed(format!("cannot start sh: {e}")),
        };
        let deadline = Instant::now() + self.timeout;
        loop {
            match child.try_wait() {
                Ok(Some(status)) => return judge(status),
                Ok(None) => {}
                Err(e) => {
                    // Cannot happen for our own unreaped child; kill and
                    // reap it rather than lose track of it.
                    kill_and_reap(&mut child);
                    return Outcome::Failed(format!("cannot wait for sh: {e}"));
                }
            }
            let now = Instant::now();
            if now >= deadline {
                kill_and_reap(&mut child);
                return Outcome::Failed(format!(
                    "timed out after {} ms (killed)",
                    self.timeout.as_millis()
                ));
            }
            let mut state = self.shared.state.lock();
            if state.stop {
                drop(state);
                kill_and_reap(&mut child);
                return Outcome::Stopped;
            }
            let until = (now + POLL).min(deadline);
            self.shared.wake.wait_until(&mut state, until);
        }
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
        match (passed, before, after) {
            (true, Health::Healthy, _) => {
                log::debug!(target: "zkha", "{label}: health check passed ({outcome})")
            }
            (true, ..) => log::info!(target: "zkha", "{label}: healthy ({outcome})"),
            (false, Health::Unhealthy, _) => {
                log::debug!(target: "zkha", "{label}: health check failed ({outcome}), still unhealthy")
            }
            (false, _, Health::Unhealthy) => {
                log::warn!(target: "zkha", "{label}: unhealthy after {consecutive} failed checks: {outcome}")
            }
            (false, ..) => {
                log::warn!(target: "zkha", "{label}: health check failed ({outcome}), {consecutive} of {n}")
            }
        }
    }
}

/// Passed on exit status 0; anything else fails.
fn judge(status: ExitStatus) -> Outcome {
    match (status.code(), status.signal()) {
        (Some(0), _) => Outcome::Passed("exit status 0".into()),
        (Some(code), _) => Outcome::Failed(format!("exit status {code}")),
        (None, Some(sig)) => Outcome::Failed(format!("killed by signal {sig}")),
        (None, None) => Outcome::Failed(format!("{status}")),
    }
}

/// SIGKILLs the check's whole process group, then reaps `sh`. The group id
/// is `sh`'s pid (`process_group(0)`), which stays taken until `sh` is
/// reaped here, so the kill cannot reach a group that reused the id. What
/// `sh` started is killed too; being orphaned, it is reaped by init.
fn kill_and_reap(child: &mut Child) {
    let Ok(pgid) = libc::pid_t::try_from(child.id()) else {
        // Not a pid (cannot happen on Linux): kill `sh` alone.
        let _ = child.kill();
        let _ = child.wait();
        return;
    };
    // SAFETY: kill(2) takes plain integers; `-pgid` names the group of our
    // own child, which is not reaped yet (see above). An error (ESRCH: the
    // group is already gone) is harmless.
    unsafe { libc::kill(-pgid, libc::SIGKILL) };
    // Blocks only until the SIGKILLed `sh` is dead; it reaps it.
    let _ = child.wait();
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::{Path, PathBuf};

    /// A generous bound for things that take milliseconds.
    const DEADLINE: Duration = Duration::from_secs(20);

    fn checker(cmd: &str, interval_ms: u64, timeout_ms: u64, failures: u32) -> Arc<HealthChecker> {
        HealthChecker::start(
            cmd.to_owned(),
            Duration::from_millis(interval_ms),
            Duration::from_millis(timeout_ms),
            failures,
            "/test on 127.0.0.1:0".into(),
        )
        .expect("start the health checker")
    }

    /// Waits (with a deadline) for `what` to hold; false if it never did.
    fn wait_for(mut what: impl FnMut() -> bool) -> bool {
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

    fn args(cmd: Option<&str>, interval: u64, timeout: u64, failures: u32) -> HealthArgs {
        HealthArgs {
            health_cmd: cmd.map(str::to_owned),
            health_interval: interval,
            health_timeout: timeout,
            health_failures: failures,
        }
    }

    fn invalid(a: HealthArgs) -> String {
        match a.validate() {
            Err(e @ zkha::Error::InvalidArgument { .. }) => e.to_string(),
            other => panic!("expected InvalidArgument, got {other:?}"),
        }
    }

    #[test]
    fn validate_names_the_flag_and_unit() {
        assert!(args(Some("true"), 1000, 2000, 3).validate().is_ok());
        assert!(args(None, 1, MAX_MS, 1000).validate().is_ok());
        assert!(args(Some("true"), MAX_MS, 1, 1).validate().is_ok());

        let e = invalid(args(None, 0, 2000, 3));
        assert!(
            e.contains("--health-interval 0: must be 1 to 3600000 (ms)"),
            "{e}"
        );
        let e = invalid(args(None, MAX_MS + 1, 2000, 3));
        assert!(
            e.contains("--health-interval 3600001: must be 1 to 3600000 (ms)"),
            "{e}"
        );
        let e = invalid(args(None, 1000, 0, 3));
        assert!(
            e.contains("--health-timeout 0: must be 1 to 3600000 (ms)"),
            "{e}"
        );
        let e = invalid(args(None, 1000, u64::MAX, 3));
        assert!(
            e.contains(&format!(
                "--health-timeout {}: must be 1 to 3600000 (ms)",
                u64::MAX
            )),
            "{e}"
        );
        let e = invalid(args(None, 1000, 2000, 0));
        assert!(e.contains("--health-failures 0: must be 1 to 1000"), "{e}");
        let e = invalid(args(None, 1000, 2000, 1001));
        assert!(
            e.contains("--health-failures 1001: must be 1 to 1000"),
            "{e}"
        );
        let e = invalid(args(Some("  "), 1000, 2000, 3));
        assert!(e.contains("--health-cmd \"  \": empty command"), "{e}");
    }

    #[test]
    fn flags_parse_with_their_defaults() {
        use clap::Parser;
        #[derive(Debug, Parser)]
        struct Cli {
            #[command(flatten)]
            health: HealthArgs,
        }
        let cli = Cli::try_parse_from(["zkha"]).unwrap();
        assert_eq!(cli.health.health_cmd, None);
        assert_eq!(
            (
                cli.health.health_interval,
                cli.health.health_timeout,
                cli.health.health_failures
            ),
            (1000, 2000, 3)
        );
        assert!(cli.health.start("x".into()).unwrap().is_none());
        let cli = Cli::try_parse_from([
            "zkha",
            "--health-cmd",
            "true",
            "--health-interval",
            "10",
            "--health-timeout",
            "500",
            "--health-failures",
            "2",
        ])
        .unwrap();
        assert_eq!(cli.health.health_cmd.as_deref(), Some("true"));
        let h = cli.health.start("x".into()).unwrap().expect("a checker");
        assert!(wait_for(|| h.state() == Health::Healthy));
    }
}
