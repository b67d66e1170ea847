//! `zkha run`: run a command only while this process is master.
//!
//! The command starts when this candidate becomes master, with ZKHA_TOKEN
//! (the fencing token) and ZKHA_PATH in its environment, in a process group
//! of its own. When mastership ends (resign, step-down after a partition,
//! node lost, expiry, shutdown) the group gets SIGTERM, then SIGKILL after
//! the grace period, and the command is gone before the node is released or
//! the session can expire: in the safe profile no other candidate can win
//! while it still runs. The command runs under a watchdog process
//! (`watchdog.rs`) that holds the lease deadline itself, so a stalled or
//! dead zkha cannot leave it running past the lease; if zkha dies, the
//! watchdog stops the command and (`--on-crash handover`) ends the session
//! so a standby takes over at once.

use super::breadcrumb;
use super::candidate::ElectionArgs;
use super::common::{exit, LogArgs};
use super::contention::Contention;
use super::fence::FenceArgs;
use super::health::{Health, HealthArgs};
use super::metrics::{Metrics, MetricsServer};
use super::signals;
use super::succession::{Claim, Successor};
use super::systemd::{self, Notifier};
use super::watchdog::{self, OnCrash};
use clap::{Args, ValueEnum};
use parking_lot::Mutex;
use std::net::SocketAddr;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Child, Command, ExitStatus};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use zkha::elector::{Candidate, Control, FencingToken, LostReason, Profile};
use zkha::{Acl, State};

/// What to do when the command exits by itself while master.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OnExit {
    /// Leave the election and exit with the command's status.
    Exit,
    /// Give up mastership, stay a candidate; run it again if elected again.
    Resign,
    /// Start the command again at once (still master).
    Restart,
}

/// `zkha run` arguments.
#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub election: ElectionArgs,
    #[command(flatten)]
    pub log: LogArgs,
    /// Time the command gets after SIGTERM before SIGKILL when the lease is
    /// about to run out (zkha could not renew it, or mastership was lost
    /// without warning), in ms: a short kill margin inside the lease.
    #[arg(long, default_value_t = 300)]
    pub grace: u64,
    /// Time the command gets to shut down after SIGTERM on a planned end
    /// (SIGTERM or SIGINT to zkha, a resign, a failing health check), in
    /// ms. Mastership is held and renewed meanwhile, so no standby starts
    /// before the command (and everything it started) is gone; SIGKILL only
    /// then. Should a renewal fail meanwhile, the lease ends it sooner.
    #[arg(long, default_value_t = 30_000)]
    pub stop_timeout: u64,
    /// When the command exits by itself while master.
    #[arg(long, value_enum, default_value_t = OnExit::Exit)]
    pub on_exit: OnExit,
    /// If zkha itself dies while master, its watchdog kills the command and
    /// then either ends the session so a standby takes over at once
    /// (handover), or keeps it for a restart with --session-file (hold).
    /// Default: handover, or hold when --session-file is given.
    #[arg(long, value_enum)]
    pub on_crash: Option<OnCrash>,
    #[command(flatten)]
    pub health: HealthArgs,
    #[command(flatten)]
    pub fence: FenceArgs,
    /// Serve Prometheus metrics at http://HOST:PORT/metrics (zkha_is_master,
    /// zkha_lease_remaining_seconds, ...): a loopback address
    /// (127.0.0.1:9464, [::1]:9464, localhost:9464) or an explicit address
    /// of this host, never the wildcard. Not served when absent.
    #[arg(long, value_name = "HOST:PORT", value_parser = super::metrics::parse_metrics_addr)]
    pub metrics_addr: Option<SocketAddr>,
    /// The command and its arguments (after `--`).
    #[arg(last = true, required = true, value_name = "CMD")]
    pub command: Vec<String>,
}

/// The running command: its watchdog process and the pipes to it.
struct Running {
    /// The watchdog (`zkha __watchdog`), parent of the command.
    watchdog: Child,
    /// Its status pipe (read end, non-blocking).
    status: std::fs::File,
    /// Status text not yet split into lines.
    pending: String,
    /// The command's process group, once the watchdog said `started`.
    pgid: Option<i32>,
    /// The watchdog stopped the command because the lease ran out.
    lapsed: bool,
    /// The command could not be started.
    error: Option<String>,
    /// The session id was handed over (for `--on-crash handover`).
    session_sent: bool,
    /// Processes of the command that outlived SIGKILL (the watchdog's
    /// latest count).
    survivors: usize,
}

impl Running {
    /// Reads what the watchdog said so far.
    fn read_status(&mut self) {
        use std::io::Read;
        let mut buf = [0u8; 1024];
        while let Ok(n) = self.status.read(&mut buf) {
            if n == 0 {
                break;
            }
            self.pending.push_str(&String::from_utf8_lossy(&buf[..n]));
        }
        while let Some(i) = self.pending.find('\n') {
            let line: String = self.pending.drain(..=i).collect();
            let line = line.trim_end();
            match line.split_once(' ').unwrap_or((line, "")) {
                ("started", pid) => self.pgid = pid.parse().ok(),
                ("lapsed", _) => self.lapsed = true,
                ("error", text) => self.error = Some(text.to_owned()),
                ("survivors", n) => self.survivors = n.parse().unwrap_or(0),
                ("contained", how) => {
                    // Once per process: the same each time.
                    static SAID: AtomicBool = AtomicBool::new(false);
                    let level = if SAID.swap(true, Ordering::AcqRel) {
                        log::Level::Debug
                    } else {
                        log::Level::Info
                    };
                    log::log!(target: "zkha", level, "commands are contained by: {how}{}", if how.starts_with("cgroup") { " and the subreaper" } else { " (no writable cgroup v2 directory)" });
                }
                ("log", rest) => {
                    let (level, text) = rest.split_once(' ').unwrap_or(("info", rest));
                    let level = match level {
                        "error" => log::Level::Error,
                        "warn" => log::Level::Warn,
                        _ => log::Level::Info,
                    };
                    log::log!(target: "zkha", level, "watchdog: {text}");
                }
                _ => {}
            }
        }
    }
}

/// How a command ended by itself (not stopped by us).
struct Exited {
    status: ExitStatus,
    /// The watchdog stopped it: the lease ran out (zkha stalled, or could
    /// not renew in time).
    lapsed: bool,
    /// It could not be started.
    error: Option<String>,
    /// The watchdog itself was killed (OOM killer, a stray signal): its
    /// orphans were killed here; not a clean end.
    watchdog_killed: bool,
}

/// How a running command is to be stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Stop {
    /// A planned end while still master (SIGTERM to zkha, a resign, a
    /// failing health check): SIGTERM, `--stop-timeout`, then SIGKILL;
    /// mastership is renewed meanwhile.
    Planned,
    /// Mastership ended while the lease may still run (a disconnection):
    /// SIGTERM, then SIGKILL after `--grace`, never past the lease.
    Lost,
    /// The lease is over (the node is gone or another's, the session
    /// expired): SIGKILL now.
    Kill,
}

/// `--on-exit restart`: the first restart waits this long, each quick
/// exit after it twice as long (at most [`RESTART_MAX`]); after
/// [`CRASH_LOOP`] quick exits in a row the master resigns, so that a
/// standby gets its chance.
const RESTART_FIRST: Duration = Duration::from_millis(100);
const RESTART_MAX: Duration = Duration::from_secs(5);
const CRASH_LOOP: u32 = 5;
/// A command that ran this long before it exited did not crash-loop.
const QUICK_EXIT: Duration = Duration::from_secs(10);

struct Supervisor {
    command: Vec<String>,
    path: String,
    hosts: String,
    /// The TLS / SASL flags, for the watchdog's handover (paths and names).
    secure: Vec<std::ffi::OsString>,
    session_timeout_ms: u64,
    grace: Duration,
    /// `--stop-timeout`.
    stop_timeout: Duration,
    on_crash: OnCrash,
    /// Safe profile: the command lives under the lease. Seed: no lease.
    leased: bool,
    /// When the running command started (for `--on-exit restart`'s
    /// crash-loop rule).
    started_at: Mutex<Option<Instant>>,
    /// The running command. Only cleared once the old watchdog (and so
    /// the old command) is reaped: a new command never starts before.
    slot: Mutex<Option<Running>>,
    /// The control pipe's write end (non-blocking), apart from `slot` so
    /// that lease extensions (on the completion thread) never wait for a
    /// stop in progress.
    ctl: Mutex<Option<Arc<std::fs::File>>>,
    /// The latest lease deadline, ns on CLOCK_BOOTTIME (0: not master).
    lease_ns: AtomicU64,
    /// The mastership the election says this candidate holds now (set by
    /// `on_became_master`, cleared first thing in `on_lost_master`): a
    /// command starts only under the slot lock with this token.
    master_token: Mutex<Option<FencingToken>>,
    /// The running command's end was not clean (its watchdog was killed):
    /// the breadcrumb is not marked clean, so the next master fences.
    unclean: AtomicBool,
    /// The current stay in the election's control (a new one each time
    /// `zkha run` joins again).
    control: Mutex<Option<Control>>,
    start_error: Mutex<Option<String>>,
    /// Master, but the command is not running (its lease was too short to
    /// start it, or the watchdog stopped it): start it once the lease allows.
    pending_start: AtomicBool,
    /// The "lease ends too soon" warning was given for this hold-back: the
    /// main loop retries every 10 ms, the log says it once.
    held_back: AtomicBool,
    /// zkha run is leaving (a signal): no new command starts.
    leaving: AtomicBool,
    /// A session was connected once: the candidate has joined the election
    /// (for systemd's READY=1).
    joined: AtomicBool,
    /// When this candidate last became master, ms since the epoch (for
    /// systemd's STATUS=).
    master_since_ms: AtomicI64,
    /// Bumped at each change of role, so the systemd notifier rereads who
    /// is master at once.
    role_changes: AtomicU64,
    /// This candidate's data, for its breadcrumb.
    data: Vec<u8>,
    /// The election node's ACL, for the breadcrumb too.
    acl: Vec<Acl>,
    /// Safe profile: each master leaves a breadcrumb (`breadcrumb.rs`).
    breadcrumbs: bool,
    /// `--fence-cmd` and `--fence-timeout`: with it, a new master's command
    /// waits until its predecessor is fenced (if it has to be) and the
    /// breadcrumb is claimed.
    fence: Option<(String, Duration)>,
    /// A mastership whose breadcrumb is still to be claimed: its token.
    to_claim: Mutex<Option<FencingToken>>,
    /// The session and token of the breadcrumb this candidate wrote, marked
    /// clean when that mastership ends gracefully.
    claimed: Mutex<Option<(i64, i64)>>,
    /// The sessions of this process's past masterships whose command it
    /// saw gone: a breadcrumb naming one is its own, never fenced.
    past_sessions: Mutex<Vec<i64>>,
    /// Why `zkha run` is leaving the election (the reason a master that
    /// leaves counts in `zkha_lost_master_total`): unhealthy, fence_failed.
    leaving_because: Mutex<Option<&'static str>>,
    /// Why this candidate is out of the election now (for systemd's
    /// STATUS=): waiting for a passing health check, unhealthy, a failed
    /// fence's back-off.
    out_because: Mutex<String>,
    metrics: Arc<Metrics>,
}

impl Supervisor {
    /// Sends one line to the watchdog (never blocks; a full pipe drops it,
    /// and later extensions supersede it).
    fn send(&self, line: &str) {
        use std::io::Write;
        let ctl = self.ctl.lock().clone();
        if let Some(mut f) = ctl.as_deref() {
            let _ = f.write_all(line.as_bytes());
        }
    }

    /// Starts the command (under its watchdog); whether it runs now.
    fn start(&self, token: FencingToken) -> bool {
        test_delay("ZKHA_TEST_START_DELAY_MS");
        let mut slot = self.slot.lock();
        if slot.is_some() {
            return true;
        }
        if self.leaving.load(Ordering::Acquire) {
            return false;
        }
        // Checked under the slot lock: a loss of this mastership clears the
        // token before it stops the slot's command, so a command started
        // here is always seen by that stop.
        if *self.master_token.lock() != Some(token) {
            log::debug!(target: "zkha", "{} on {}: mastership {} ended before {:?} could start", self.path, self.hosts, token.value(), self.command);
            return false;
        }
        let deadline = if self.leased {
            self.lease_ns.load(Ordering::Acquire)
        } else {
            0
        };
        // A command whose lease ends within the grace would be stopped as
        // soon as it starts: wait for a renewal instead.
        let min_left = (self.grace + watchdog::KILL_MARGIN).as_nanos() as u64;
        if self.leased && deadline <= watchdog::boot_ns() + min_left {
            if !self.held_back.swap(true, Ordering::AcqRel) {
                log::warn!(target: "zkha", "{} on {}: master, but the lease ends too soon to start {:?}: waiting for a renewal", self.path, self.hosts, self.command);
            }
            return false;
        }
        match self.spawn(token, deadline) {
            Ok((running, ctl)) => {
                self.held_back.store(false, Ordering::Release);
                log::info!(target: "zkha", "{} on {}: started {:?} (watchdog pid {}, token {})", self.path, self.hosts, self.command, running.watchdog.id(), token.value());
                self.metrics.command_started();
                *self.started_at.lock() = Some(Instant::now());
                *self.ctl.lock() = Some(Arc::new(ctl));
                *slot = Some(running);
                self.send_session(&mut slot);
                true
            }
            Err(e) => {
                log::error!(target: "zkha", "{} on {}: cannot start {:?}: {e}", self.path, self.hosts, self.command);
                *self.start_error.lock() = Some(format!("cannot start {:?}: {e}", self.command[0]));
                false
            }
        }
    }

    /// Starts the watchdog, which starts the command.
    fn spawn(
        &self,
        token: FencingToken,
        deadline: u64,
    ) -> std::io::Result<(Running, std::fs::File)> {
        let (ctl_r, ctl_w) = pipe()?;
        let (status_r, status_w) = pipe()?;
        set_nonblocking(&ctl_w)?;
        set_nonblocking(&status_r)?;
        let mut cmd = Command::new("/proc/self/exe");
        cmd.arg0("zkha-watchdog")
            .arg("__watchdog")
            .args(["--ctl-fd", &WATCHDOG_CTL_FD.to_string()])
            .args(["--status-fd", &WATCHDOG_STATUS_FD.to_string()])
            .args(["--grace", &self.grace.as_millis().to_string()])
            .args(["--deadline-ns", &deadline.to_string()])
            .args(["--hosts", &self.hosts])
            .args(["--session-timeout", &self.session_timeout_ms.to_string()])
            .args(["--on-crash", self.on_crash.as_str()])
            .args(&self.secure)
            .arg("--")
            .args(&self.command)
            // systemd's readiness and watchdog are zkha's: the command's
            // own notifications would confuse them.
            .env_remove(systemd::ENV[0])
            .env_remove(systemd::ENV[1])
            .env_remove(systemd::ENV[2])
            .env("ZKHA_TOKEN", token.value().to_string())
            .env("ZKHA_PATH", &self.path)
            // Its own group: a terminal's Ctrl-C / Ctrl-Z for zkha must not
            // reach the fence.
            .process_group(0);
        let (keep_r, keep_w) = (ctl_r.as_raw_fd(), status_w.as_raw_fd());
        // SAFETY: runs in the forked child before exec; fcntl, dup2 and
        // close_range are async-signal-safe. The two pipe ends we hand over
        // become descriptors 3 and 4 (dup2 clears close-on-exec); every
        // other descriptor above 2 is closed, so the watchdog (and so the
        // command) never holds zkha's ZooKeeper socket or the C client's
        // self-pipe.
        unsafe {
            cmd.pre_exec(move || {
                let r = libc::fcntl(keep_r, libc::F_DUPFD_CLOEXEC, 10);
                let w = libc::fcntl(keep_w, libc::F_DUPFD_CLOEXEC, 10);
                if r < 0
                    || w < 0
                    || libc::dup2(r, WATCHDOG_CTL_FD) < 0
                    || libc::dup2(w, WATCHDOG_STATUS_FD) < 0
                {
                    return Err(std::io::Error::last_os_error());
                }
                super::child_fds::close_from(WATCHDOG_STATUS_FD + 1);
                Ok(())
            });
        }
        let watchdog = cmd.spawn()?;
        drop((ctl_r, status_w));
        Ok((
            Running {
                watchdog,
                status: status_r.into(),
                pending: String::new(),
                pgid: None,
                lapsed: false,
                error: None,
                session_sent: false,
                survivors: 0,
            },
            ctl_w.into(),
        ))
    }

    /// `--on-crash handover`: tells the watchdog which session to end if
    /// zkha dies (once, as soon as the session is known).
    fn send_session(&self, slot: &mut Option<Running>) {
        let Some(running) = slot.as_mut() else { return };
        if running.session_sent || self.on_crash != OnCrash::Handover {
            return;
        }
        let id = self.control.lock().as_ref().and_then(Control::client_id);
        if let Some(id) = id {
            self.send(&format!("session {id}\n"));
            running.session_sent = true;
        }
    }

    /// Stops the command (see [`Stop`]) and returns once it is gone: its
    /// watchdog has exited, which it does only when every process of the
    /// command is gone. The slot lock is not held while waiting, so a loss
    /// of mastership during a planned stop can still turn it into a kill.
    ///
    /// The watchdog holds the lease; zkha holds it too: should the watchdog
    /// not act (stopped, stalled) by the time the lease ends (or a planned
    /// stop's timeout has passed), zkha kills the command's group, the
    /// watchdog and, through its own subreaper, whatever they leave.
    /// Processes that outlive SIGKILL keep this waiting, with an error line
    /// each second: safety before availability.
    fn stop(&self, why: &str, how: Stop) -> Option<ExitStatus> {
        let started = Instant::now();
        let timeout = match how {
            Stop::Planned => self.stop_timeout,
            Stop::Lost => self.grace,
            Stop::Kill => Duration::ZERO,
        };
        {
            let slot = self.slot.lock();
            slot.as_ref()?;
            match how {
                Stop::Kill => self.send("kill\n"),
                _ => self.send(&format!("stop {}\n", timeout.as_millis())),
            }
        }
        log::info!(target: "zkha", "{} on {}: stopping {:?} ({why})", self.path, self.hosts, self.command);
        let mut forced = false;
        let mut said_at = Instant::now();
        let status = loop {
            {
                let mut slot = self.slot.lock();
                // Stopped by another stop meanwhile (a planned stop turned
                // into a kill): that one reaped it.
                let running = slot.as_mut()?;
                running.read_status();
                match running.watchdog.try_wait() {
                    Ok(Some(status)) => {
                        running.read_status();
                        let killed_by_signal = status.signal().is_some();
                        let wd = running.watchdog.id() as i32;
                        *self.ctl.lock() = None;
                        *slot = None;
                        if killed_by_signal || forced {
                            super::reaper::CommandCgroup::clean_up_after(wd);
                            let n = super::reaper::sweep_orphans(&[wd]);
                            if n > 0 {
                                log::error!(target: "zkha", "{} on {}: killed {n} process(es) the watchdog left", self.path, self.hosts);
                            }
                        }
                        break (!killed_by_signal).then_some(status);
                    }
                    Ok(None) => {}
                    Err(e) => {
                        log::error!(target: "zkha", "{} on {}: cannot wait for the watchdog: {e}", self.path, self.hosts);
                    }
                }
                let lease_kill = watchdog::kill_schedule(
                    if self.leased {
                        self.lease_ns.load(Ordering::Acquire)
                    } else {
                        0
                    },
                    self.grace,
                )
                .map(|(_, kill)| kill);
                let overdue = lease_kill.is_some_and(|k| watchdog::boot_ns() >= k)
                    || started.elapsed() >= timeout + WATCHDOG_SLACK;
                if overdue && !forced {
                    // The last resort: never needed while the watchdog works.
                    forced = true;
                    if let Some(pgid) = running.pgid {
                        // SAFETY: the command's own process group.
                        unsafe { libc::kill(-pgid, libc::SIGKILL) };
                    }
                    let _ = running.watchdog.kill();
                    log::error!(target: "zkha", "{} on {}: the watchdog did not stop {:?} in time: killing its process group and the watchdog", self.path, self.hosts, self.command);
                }
                if running.survivors > 0 && said_at.elapsed() >= Duration::from_secs(1) {
                    said_at = Instant::now();
                    log::error!(target: "zkha", "{} on {}: {} process(es) of {:?} outlived SIGKILL: mastership is held until they are gone", self.path, self.hosts, running.survivors, self.command);
                }
            }
            std::thread::sleep(Duration::from_millis(2));
        };
        if forced {
            self.unclean.store(true, Ordering::Release);
        }
        log::info!(target: "zkha", "{} on {}: {:?} stopped ({})", self.path, self.hosts, self.command, super::narrate::stopped_text(status));
        status
    }

    /// Gives up mastership (SIGUSR1, `--on-exit resign`), staying a
    /// candidate: the command is stopped first, while still master (a
    /// planned stop), then the node is released.
    fn resign(&self) {
        self.stop("resigning", Stop::Planned);
        let control = self.control.lock().clone();
        if let Some(Err(e)) = control.as_ref().map(Control::resign) {
            log::error!(target: "zkha", "resign: {e}");
        }
    }

    /// A graceful end of the mastership whose breadcrumb this candidate
    /// wrote: marks it clean, so that the next master does not fence this
    /// one. Only on a live session (a dead link would block the election
    /// thread; an unmarked breadcrumb only costs the next master a fence).
    fn mark_clean(&self, why: &str) {
        let Some((session, token)) = self.claimed.lock().take() else {
            return;
        };
        let zk = self.control.lock().as_ref().and_then(Control::zookeeper);
        let Some(zk) = zk.filter(|zk| matches!(zk.state(), Ok(State::Connected))) else {
            log::warn!(target: "zkha", "{} on {}: not connected: the breadcrumb stays unclean, the next master will fence this one", self.path, self.hosts);
            return;
        };
        match breadcrumb::mark_clean(&zk, &self.path, session, token, why) {
            Ok(true) => {
                log::info!(target: "zkha", "{} on {}: left cleanly ({why}; breadcrumb marked clean)", self.path, self.hosts)
            }
            Ok(false) => {
                log::debug!(target: "zkha", "{} on {}: the breadcrumb names another master", self.path, self.hosts)
            }
            Err(e) => {
                log::warn!(target: "zkha", "{} on {}: cannot mark the breadcrumb clean ({e}): the next master will fence this one", self.path, self.hosts)
            }
        }
    }

    /// Starts the succession of the mastership `token` (see
    /// `succession.rs`); `None` if that mastership already ended.
    fn succeed(
        self: &Arc<Self>,
        contention: &Arc<Contention>,
        token: FencingToken,
    ) -> std::io::Result<Option<std::thread::JoinHandle<Claim>>> {
        let zk = self.control.lock().as_ref().and_then(Control::zookeeper);
        let Some((zk, session)) = zk.and_then(|zk| {
            let id = zk.client_id().ok()?.id;
            Some((zk, id))
        }) else {
            return Ok(None);
        };
        // The predecessor's lease, at most: half the session timeout.
        let negotiated = zk.recv_timeout().map_or(0, |ms| ms.max(0) as u64);
        let lease = Duration::from_millis(negotiated.max(self.session_timeout_ms) / 2);
        let (sup, contention) = (self.clone(), contention.clone());
        std::thread::Builder::new()
            .name("zkha-succession".into())
            .spawn(move || {
                Successor {
                    path: &sup.path,
                    label: &format!("{} on {}", sup.path, sup.hosts),
                    data: &sup.data,
                    acl: &sup.acl,
                    fence: sup.fence.as_ref(),
                    since_ms: sup.master_since_ms.load(Ordering::Acquire),
                }
                .take_over_within(
                    &zk,
                    session,
                    token,
                    lease,
                    &sup.past_sessions.lock().clone(),
                    || contention.token() == Some(token),
                )
                .mark(&sup.claimed)
            })
            .map(Some)
    }

    /// Leaves the election for `why` (a master's command is stopped first,
    /// while still master: a planned stop).
    fn leave(&self, contention: &Contention, why: &'static str, detail: String) {
        *self.out_because.lock() = detail;
        *self.leaving_because.lock() = Some(why);
        self.stop(why, Stop::Planned);
        contention.leave();
        *self.leaving_because.lock() = None;
        // A resign (SIGUSR1) while out has nothing to act on.
        *self.control.lock() = None;
        self.metrics.set_session_connected(false);
    }

    /// How long the last command ran (or runs).
    fn ran_for(&self) -> Option<Duration> {
        self.started_at.lock().map(|t| t.elapsed())
    }

    /// The command's end, if it ended without being told to.
    fn exited(&self) -> Option<Exited> {
        let mut slot = self.slot.lock();
        let running = slot.as_mut()?;
        running.read_status();
        let status = running.watchdog.try_wait().ok()??;
        running.read_status();
        let running = slot.take()?;
        *self.ctl.lock() = None;
        // The watchdog never dies by a signal of its own accord: it was
        // killed, and whatever the command started came to us (a
        // subreaper). Kill it all before anything else happens.
        let watchdog_killed = status.signal().is_some();
        if watchdog_killed {
            super::reaper::CommandCgroup::clean_up_after(running.watchdog.id() as i32);
            let n = super::reaper::sweep_orphans(&[]);
            self.unclean.store(true, Ordering::Release);
            log::error!(target: "zkha", "{} on {}: the watchdog of {:?} was killed ({status}): killed the {n} process(es) it left; the breadcrumb stays unclean", self.path, self.hosts, self.command);
        }
        Some(Exited {
            status,
            lapsed: running.lapsed,
            error: running.error,
            watchdog_killed,
        })
    }
}

/// The descriptors the watchdog gets its control and status pipes on.
const WATCHDOG_CTL_FD: i32 = 3;
const WATCHDOG_STATUS_FD: i32 = 4;

/// How long past a stop's timeout zkha waits for the watchdog before it
/// kills the command itself (the watchdog acts first when it works).
const WATCHDOG_SLACK: Duration = Duration::from_secs(1);

/// A test-only pause (the variable is read only by tests' builds of the
/// windows they need to widen): sleeps the milliseconds `var` says.
fn test_delay(var: &str) {
    if let Some(ms) = std::env::var(var).ok().and_then(|v| v.parse::<u64>().ok()) {
        std::thread::sleep(Duration::from_millis(ms));
    }
}

fn pipe() -> std::io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: pipe2 fills the two-element array we own.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: two new descriptors, owned by us from here on.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

fn set_nonblocking(fd: &OwnedFd) -> std::io::Result<()> {
    // SAFETY: fcntl on a descriptor we own.
    let flags = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFL) };
    // SAFETY: as above.
    if flags < 0
        || unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, flags | libc::O_NONBLOCK) } < 0
    {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// Runs on the election thread: the command is gone before the election
/// goes on (and before the node is released).
impl Candidate for Supervisor {
    fn on_zookeeper_connected(&self, _path: &str) {
        self.joined.store(true, Ordering::Release);
        self.role_changes.fetch_add(1, Ordering::AcqRel);
    }
    fn on_became_master(&self, token: FencingToken) {
        *self.master_token.lock() = Some(token);
        self.unclean.store(false, Ordering::Release);
        self.master_since_ms
            .store(super::common::now_ms(), Ordering::Release);
        self.role_changes.fetch_add(1, Ordering::AcqRel);
        self.metrics.set_master(true);
        self.metrics.became_master();
        if self.breadcrumbs {
            // The main loop reads the predecessor's breadcrumb (waits for
            // its word, fences it if it has to), claims the breadcrumb, then
            // starts the command.
            *self.to_claim.lock() = Some(token);
            return;
        }
        if !self.start(token) {
            // Retried by the main loop once a renewal extends the lease.
            self.pending_start.store(true, Ordering::Release);
        }
    }
    fn on_lost_master(&self, reason: LostReason) {
        // First: no command may start for this mastership from here on.
        *self.master_token.lock() = None;
        self.role_changes.fetch_add(1, Ordering::AcqRel);
        let how = match reason {
            // Planned ends are stopped by the main loop before the elector
            // is told (mastership renewed meanwhile); one that still has a
            // command here runs out of renewals now: the lease bounds it.
            LostReason::Resigned | LostReason::Shutdown => Stop::Planned,
            // Cut off: the lease may still run; the command gets its grace
            // inside it.
            LostReason::Disconnected => Stop::Lost,
            // The node is gone or another's, the session expired, the lease
            // ran out: another candidate may already be master.
            _ => Stop::Kill,
        };
        self.stop(&format!("lost master: {reason:?}"), how);
        if !self.unclean.load(Ordering::Acquire) {
            if let Some((session, _)) = *self.claimed.lock() {
                let mut past = self.past_sessions.lock();
                if !past.contains(&session) {
                    past.push(session);
                }
            }
        }
        self.lease_ns.store(0, Ordering::Release);
        *self.to_claim.lock() = None;
        self.metrics.set_master(false);
        self.metrics.set_lease_deadline(None);
        let because = *self.leaving_because.lock();
        self.metrics.lost_master(match (&reason, because) {
            (LostReason::Shutdown, Some(why)) => why,
            _ => lost_label(&reason),
        });
        // The command is gone: a graceful end needs no fence. Nor does a
        // node deleted from outside while this session lives: the command
        // is gone, and the next master is waiting for this word.
        if self.unclean.load(Ordering::Acquire) {
            log::warn!(target: "zkha", "{} on {}: the command's end was not clean: the breadcrumb stays unclean", self.path, self.hosts);
            return;
        }
        match (&reason, because) {
            (LostReason::NodeLost, _) => self.mark_clean("node_lost"),
            (LostReason::Resigned, _) => self.mark_clean("resigned"),
            (LostReason::Shutdown, Some(why)) => self.mark_clean(why),
            (LostReason::Shutdown, None) if self.leaving.load(Ordering::Acquire) => {
                self.mark_clean("stopped")
            }
            (LostReason::Shutdown, None) => self.mark_clean("exited"),
            _ => {}
        }
    }
    fn on_lease_extended(&self, until: Duration) {
        let ns = until.as_nanos() as u64;
        self.lease_ns.fetch_max(ns, Ordering::AcqRel);
        self.send(&format!("extend {ns}\n"));
        let left = Duration::from_nanos(ns.saturating_sub(watchdog::boot_ns()));
        self.metrics.set_lease_deadline(Some(Instant::now() + left));
    }
}

/// `zkha_lost_master_total`'s reason label.
fn lost_label(reason: &LostReason) -> &'static str {
    match reason {
        LostReason::Resigned => "resigned",
        LostReason::Disconnected => "disconnected",
        LostReason::LeaseExpired => "lease_expired",
        LostReason::SessionExpired => "expired",
        LostReason::NodeLost => "node_lost",
        LostReason::Shutdown => "shutdown",
    }
}

fn code_of(status: ExitStatus) -> u8 {
    match (status.code(), status.signal()) {
        (Some(c), _) => c.clamp(0, 255) as u8,
        (None, Some(sig)) => (128 + sig).clamp(0, 255) as u8,
        _ => exit::ERROR,
    }
}

pub fn run(args: RunArgs) -> Result<u8, Box<dyn std::error::Error>> {
    // Should the watchdog be killed, what its command started comes here
    // (instead of init) to be killed: see `reaper.rs`.
    super::reaper::become_subreaper()
        .map_err(|e| format!("cannot become a child subreaper (PR_SET_CHILD_SUBREAPER): {e}"))?;
    let mut config = args.election.config()?;
    config.log_to_rust = args.log.apply()?;
    super::flags::validate(&args.election, &config)?;
    if let (Some(OnCrash::Handover), Some(file)) = (args.on_crash, &config.session_file) {
        return Err(zkha::Error::InvalidArgument {
            argument: zkha::error::Argument::Other,
            reason: format!(
                "--on-crash handover cannot go with --session-file {}: a zkha run restarted \
                 with the session file reattaches to the session that the old one's watchdog \
                 ends (use --on-crash hold, the default with --session-file)",
                file.display()
            ),
        }
        .into());
    }
    // Checked now, not when the elector starts: with a health check that is
    // only after the first passing check.
    config.validate()?;
    let leased = config.profile == Profile::Safe;
    let session_ms = config.session_timeout.as_millis() as u64;
    // The command must be dead before the lease ends (half the session
    // timeout, renewed every fifth): the grace has to fit well inside.
    if leased && args.grace.saturating_mul(4) >= session_ms {
        return Err(zkha::Error::InvalidArgument {
            argument: zkha::error::Argument::Timeout,
            reason: format!(
                "--grace ({} ms) must be under a quarter of --session-timeout ({session_ms} ms): \
                 the command has to be gone before the lease (half the session timeout) ends",
                args.grace
            ),
        }
        .into());
    }
    args.health.validate()?;
    if !leased && args.fence.fence_cmd.is_some() {
        return Err(zkha::Error::InvalidArgument {
            argument: zkha::error::Argument::Other,
            reason: "--fence-cmd needs the safe profile: the seed profile leaves no breadcrumb \
                     (it reproduces the C++ design, which has none)"
                .into(),
        }
        .into());
    }
    let metrics = Metrics::new();
    let _metrics_server = match args.metrics_addr {
        Some(addr) => {
            let server = MetricsServer::start(addr, metrics.clone())
                .map_err(|e| format!("--metrics-addr {addr}: cannot serve the metrics: {e}"))?;
            log::info!(target: "zkha", "{} on {}: metrics at http://{}/metrics", config.path, config.hosts, server.local_addr());
            Some(server)
        }
        None => None,
    };
    let on_crash = args.on_crash.unwrap_or(if config.session_file.is_some() {
        OnCrash::Hold
    } else {
        OnCrash::Handover
    });
    let sup = Arc::new(Supervisor {
        command: args.command.clone(),
        path: config.path.clone(),
        hosts: config.hosts.clone(),
        secure: args.election.secure.to_args(),
        session_timeout_ms: session_ms,
        grace: Duration::from_millis(args.grace),
        stop_timeout: Duration::from_millis(args.stop_timeout),
        on_crash,
        leased,
        slot: Mutex::new(None),
        ctl: Mutex::new(None),
        lease_ns: AtomicU64::new(0),
        master_token: Mutex::new(None),
        unclean: AtomicBool::new(false),
        started_at: Mutex::new(None),
        control: Mutex::new(None),
        start_error: Mutex::new(None),
        pending_start: AtomicBool::new(false),
        held_back: AtomicBool::new(false),
        leaving: AtomicBool::new(false),
        joined: AtomicBool::new(false),
        master_since_ms: AtomicI64::new(0),
        role_changes: AtomicU64::new(0),
        data: config.data.clone(),
        acl: config.acl_list(),
        breadcrumbs: leased,
        fence: args
            .fence
            .fence_cmd
            .clone()
            .map(|cmd| (cmd, args.fence.timeout())),
        to_claim: Mutex::new(None),
        claimed: Mutex::new(None),
        past_sessions: Mutex::new(Vec::new()),
        leaving_because: Mutex::new(None),
        out_because: Mutex::new("waiting for a passing health check".into()),
        metrics: metrics.clone(),
    });
    let label = format!("{} on {}", sup.path, sup.hosts);
    let health = args.health.start(label.clone())?;
    metrics.set_health_ok(health.is_none());
    signals::install(&[libc::SIGINT, libc::SIGTERM, libc::SIGUSR1]);
    let contention = Arc::new(Contention::new(config, sup.clone()));
    match &health {
        // Joins once a check passed (see the main loop).
        Some(_) => {
            log::info!(target: "zkha", "{label}: joining the election after a passing health check");
        }
        None => *sup.control.lock() = Some(contention.join()?),
    }
    // Out of the election until then (a failed fence's back-off).
    let mut back_off_until = Instant::now();
    let back_off = args.fence.backoff();
    // A new master's succession (fence, breadcrumb), on a thread of its own.
    let mut succession: Option<std::thread::JoinHandle<Claim>> = None;
    // systemd (Type=notify): READY=1 and STATUS= from a thread of their own
    // (naming a standby's master is a ZooKeeper read), WATCHDOG=1 from this
    // loop, so the pings stop if it stalls.
    let notifier = Notifier::from_env().map(Arc::new);
    let watchdog_every = notifier.as_ref().and(systemd::watchdog_interval());
    let mut pinged = Instant::now();
    let notifying = Arc::new(AtomicBool::new(true));
    let status_thread = match &notifier {
        Some(n) => {
            let (n, s, c, on) = (
                n.clone(),
                sup.clone(),
                contention.clone(),
                notifying.clone(),
            );
            Some(
                std::thread::Builder::new()
                    .name("zkha-systemd".into())
                    .spawn(move || tell_systemd(&n, &s, &c, &on))?,
            )
        }
        None => None,
    };
    if let (Some(n), Some(_)) = (&notifier, watchdog_every) {
        n.send("WATCHDOG=1");
    }
    // `--on-exit restart`: quick exits in a row, and when the next start is due.
    let mut quick_exits = 0u32;
    let mut restart_at: Option<Instant> = None;
    let mut strays_reaped = Instant::now();
    // The session whose granted timeout was checked against --grace.
    let mut checked_session: Option<i64> = None;
    let code = loop {
        if let (Some(n), Some(every)) = (&notifier, watchdog_every) {
            if pinged.elapsed() >= every {
                pinged = Instant::now();
                n.send("WATCHDOG=1");
            }
        }
        match signals::take() {
            Some(libc::SIGUSR1) => sup.resign(),
            Some(sig) => {
                log::info!(target: "zkha", "{} on {}: signal {sig}: leaving", sup.path, sup.hosts);
                // Leaving: no command may start from here on (the election
                // could still win in the meantime), then stop the one running.
                sup.leaving.store(true, Ordering::Release);
                // Stopped while still master (renewed meanwhile), then the
                // node is released.
                sup.stop("interrupted", Stop::Planned);
                if let Some(c) = sup.control.lock().as_ref() {
                    c.stop();
                }
                break 128 + sig as u8;
            }
            None => {}
        }
        // Health: out of the election while unhealthy, back once healthy.
        let healthy = health.as_ref().is_none_or(|h| h.state() == Health::Healthy);
        if let Some(h) = &health {
            metrics.set_health_ok(healthy);
            if h.state() == Health::Unhealthy {
                let why = format!("unhealthy ({})", h.last_outcome().unwrap_or_default());
                if contention.joined() {
                    let what = if contention.token().is_some() {
                        "master: stopping the command, then leaving the election"
                    } else {
                        "leaving the election"
                    };
                    log::warn!(target: "zkha", "{label}: unhealthy: {what}");
                    sup.leave(&contention, "unhealthy", why);
                } else {
                    // Never joined, or already out: systemd's STATUS= says why.
                    *sup.out_because.lock() = why;
                }
            }
        }
        if !contention.joined()
            && healthy
            && Instant::now() >= back_off_until
            && !sup.leaving.load(Ordering::Acquire)
        {
            log::info!(target: "zkha", "{label}: joining the election");
            match contention.join() {
                Ok(c) => *sup.control.lock() = Some(c),
                Err(e) => {
                    super::stderr::line(&format!("zkha: {e}"));
                    break exit::ERROR;
                }
            }
        }
        // The grace must fit the lease the server actually grants: the
        // negotiated session timeout, which may be below the one asked for
        // (the server's minSessionTimeout/maxSessionTimeout).
        if leased {
            let zk = contention.elector().and_then(|e| e.zookeeper());
            if let Some((id, ms)) = zk.and_then(|zk| {
                let id = zk.client_id().ok()?.id;
                let ms = zk.recv_timeout().ok().filter(|&ms| ms > 0)?;
                Some((id, ms as u64))
            }) {
                if checked_session != Some(id) {
                    checked_session = Some(id);
                    if args.grace.saturating_mul(4) >= ms {
                        let e = format!(
                            "--grace ({} ms) must be under a quarter of the session timeout the server \
                             granted ({ms} ms; {session_ms} ms asked for): the command has to be gone \
                             before the lease (half the session timeout) ends",
                            args.grace
                        );
                        log::error!(target: "zkha", "{label}: {e}");
                        sup.leaving.store(true, Ordering::Release);
                        sup.stop(
                            "the grace does not fit the granted session timeout",
                            Stop::Kill,
                        );
                        if let Some(c) = sup.control.lock().as_ref() {
                            c.stop();
                        }
                        super::stderr::line(&format!("zkha: {e}"));
                        break exit::USAGE;
                    }
                }
            }
        }
        metrics.set_session_connected(
            contention
                .elector()
                .and_then(|e| e.zookeeper())
                .is_some_and(|zk| matches!(zk.state(), Ok(State::Connected))),
        );
        // A new master: fence its predecessor if needed, claim the
        // breadcrumb (and with a fence, only then start the command).
        if succession.is_none() {
            if let Some(token) = sup.to_claim.lock().take() {
                succession = sup.succeed(&contention, token)?;
            }
        }
        if succession.as_ref().is_some_and(|t| t.is_finished()) {
            let claim = succession.take().map(std::thread::JoinHandle::join);
            match claim {
                Some(Ok(Claim::Done { token, .. })) => {
                    // (`claimed` was set by the succession thread: `Claim::mark`.)
                    if contention.token() == Some(token) && !sup.start(token) {
                        sup.pending_start.store(true, Ordering::Release);
                    }
                }
                Some(Ok(Claim::FenceFailed(e))) => {
                    log::error!(target: "zkha", "{label}: --fence-cmd failed ({e}): not starting {:?}; leaving the election for {} ms, then trying again", args.command, back_off.as_millis());
                    sup.leave(&contention, "fence_failed", format!("fence failed ({e})"));
                    back_off_until = Instant::now() + back_off;
                }
                Some(Ok(Claim::Failed(e))) if sup.fence.is_some() => {
                    log::error!(target: "zkha", "{label}: {e}: whether the last master must be fenced is unknown: not starting {:?}; leaving the election for {} ms, then trying again", args.command, back_off.as_millis());
                    sup.leave(&contention, "fence_failed", e);
                    back_off_until = Instant::now() + back_off;
                }
                Some(Ok(Claim::Failed(e))) => {
                    log::warn!(target: "zkha", "{label}: {e}");
                    // No fence to run: the command starts all the same.
                    if let Some(token) = contention.token() {
                        if !sup.start(token) {
                            sup.pending_start.store(true, Ordering::Release);
                        }
                    }
                }
                Some(Ok(Claim::Lost)) | None => {}
                Some(Err(_)) => {
                    log::error!(target: "zkha", "{label}: the succession thread panicked")
                }
            }
        }
        if let Some(e) = sup.start_error.lock().take() {
            super::stderr::line(&format!("zkha: {e}"));
            break exit::CANNOT_START;
        }
        sup.send_session(&mut sup.slot.lock());
        // Master without its command (a lapse, or a lease too short to start
        // it): start it when a renewal allows; if mastership ended, the
        // election starts it when it wins again.
        if sup.pending_start.load(Ordering::Acquire) {
            match contention.token() {
                Some(token) => {
                    if sup.start(token) {
                        sup.pending_start.store(false, Ordering::Release);
                    }
                }
                None => sup.pending_start.store(false, Ordering::Release),
            }
        }
        if let Some(ended) = sup.exited() {
            if let Some(e) = ended.error {
                super::stderr::line(&format!("zkha: {e}"));
                break exit::CANNOT_START;
            }
            if ended.watchdog_killed {
                // Not the command's own end: a crash. zkha ends as the
                // watchdog did (128 + its signal); the breadcrumb stays
                // unclean, so the next master fences this one.
                break code_of(ended.status);
            }
            if ended.lapsed {
                // Not the command's doing: no renewal reached the watchdog in
                // time (zkha stalled, or renewals were slow). If a late
                // renewal still proved mastership, run the command again
                // under the same token; otherwise the election ends this
                // mastership and starts it when it wins again.
                log::warn!(target: "zkha", "{} on {}: the watchdog stopped {:?}: the lease was about to run out before zkha renewed it", sup.path, sup.hosts, args.command);
                sup.pending_start.store(true, Ordering::Release);
            } else {
                log::log!(target: "zkha", super::narrate::exit_level(ended.status), "{} on {}: {:?} exited ({})", sup.path, sup.hosts, args.command, ended.status);
                match args.on_exit {
                    OnExit::Exit => break code_of(ended.status),
                    OnExit::Resign => sup.resign(),
                    OnExit::Restart => {
                        let quick = sup.ran_for().is_some_and(|d| d < QUICK_EXIT);
                        quick_exits = if quick { quick_exits + 1 } else { 0 };
                        if quick_exits >= CRASH_LOOP {
                            log::error!(target: "zkha", "{label}: {:?} exited {quick_exits} times within {} s of starting: resigning, so that a standby can try", args.command, QUICK_EXIT.as_secs());
                            quick_exits = 0;
                            sup.resign();
                        } else {
                            let wait = RESTART_FIRST
                                .saturating_mul(1 << quick_exits.min(16))
                                .min(RESTART_MAX);
                            log::info!(target: "zkha", "{label}: restarting {:?} in {} ms", args.command, wait.as_millis());
                            restart_at = Some(Instant::now() + wait);
                        }
                    }
                }
            }
        }
        if restart_at.is_some_and(|t| Instant::now() >= t) {
            restart_at = None;
            if let Some(token) = contention.token() {
                if !sup.start(token) {
                    sup.pending_start.store(true, Ordering::Release);
                }
            }
        }
        // A health check's or fence's leftovers come to us (a subreaper).
        if strays_reaped.elapsed() >= Duration::from_secs(1) {
            strays_reaped = Instant::now();
            let keep: Vec<i32> = sup
                .slot
                .lock()
                .as_ref()
                .map(|r| r.watchdog.id() as i32)
                .into_iter()
                .collect();
            super::reaper::reap_strays(&keep);
        }
        signals::wait(Duration::from_millis(10)); // a signal ends it at once
    };
    if let Some(n) = &notifier {
        n.send("STOPPING=1");
    }
    // A fence in progress ends (at its timeout at the latest) before zkha.
    if let Some(t) = succession {
        let _ = t.join();
    }
    // Leaves the election (the command is already gone).
    contention.leave();
    if let Some(h) = &health {
        h.stop();
    }
    notifying.store(false, Ordering::Release);
    if let Some(t) = status_thread {
        let _ = t.join();
    }
    Ok(code)
}

/// How often the systemd thread looks at the role, and how often a
/// standby rereads who is master without a change of its own role.
const NOTIFY_LOOK: Duration = Duration::from_millis(100);
const NOTIFY_REREAD: Duration = Duration::from_secs(2);

/// systemd's READY=1 and STATUS=, until `on` is cleared. READY=1 goes once
/// the candidate has joined the election: connected, and either master or
/// a standby that knows its master (a new master's node may take a moment).
fn tell_systemd(n: &Notifier, sup: &Supervisor, elector: &Contention, on: &AtomicBool) {
    let mut ready = false;
    let mut said = String::new();
    let mut seen_changes = u64::MAX;
    let mut read_at: Option<Instant> = None;
    while on.load(Ordering::Acquire) {
        let changes = sup.role_changes.load(Ordering::Acquire);
        let since_ms = sup.master_since_ms.load(Ordering::Acquire);
        let status = if !elector.joined() {
            Some(format!("out of the election: {}", sup.out_because.lock()))
        } else if let Some(token) = elector.token() {
            // (0: on_became_master has not run yet; the next look tells.)
            (since_ms != 0)
                .then(|| systemd::master_status(&super::common::utc(since_ms), token.value()))
        } else if !sup.joined.load(Ordering::Acquire) {
            None
        } else if changes != seen_changes
            || !ready
            || read_at.is_none_or(|t| t.elapsed() >= NOTIFY_REREAD)
        {
            read_at = Some(Instant::now());
            match elector.current_master() {
                Ok(Some(m)) if !m.is_me => Some(systemd::standby_status(Some((
                    m.data_text().as_str(),
                    m.token,
                )))),
                // Ours, but not yet master (settling) or its lease lapsed:
                // the next look tells.
                Ok(Some(_)) => None,
                // Nobody: a standby about to try; ready once someone holds it.
                Ok(None) if ready => Some(systemd::standby_status(None)),
                Ok(None) => None,
                Err(e) => {
                    log::debug!(target: "zkha", "{} on {}: systemd status: cannot read the master: {e}", sup.path, sup.hosts);
                    None
                }
            }
        } else {
            None
        };
        seen_changes = changes;
        if let Some(status) = status {
            if !ready {
                // Once, sent or not: an unreachable socket was warned about.
                ready = true;
                if n.send(&format!("READY=1\n{}", systemd::status_message(&status))) {
                    log::debug!(target: "zkha", "{} on {}: told systemd READY=1 ({status})", sup.path, sup.hosts);
                }
                said = status;
            } else if status != said && n.send(&systemd::status_message(&status)) {
                said = status;
            }
        }
        std::thread::sleep(NOTIFY_LOOK);
    }
}
