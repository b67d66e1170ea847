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
    /// Time the command gets after SIGTERM before SIGKILL, in ms.
    #[arg(long, default_value_t = 300)]
    pub grace: u64,
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
}

struct Supervisor {
    command: Vec<String>,
    path: String,
    hosts: String,
    /// The TLS / SASL flags, for the watchdog's handover (paths and names).
    secure: Vec<std::ffi::OsString>,
    session_timeout_ms: u64,
    grace: Duration,
    on_crash: OnCrash,
    /// Safe profile: the command lives under the lease. Seed: no lease.
    leased: bool,
    /// The running command. Only cleared once the old watchdog (and so
    /// the old command) is reaped: a new command never starts before.
    slot: Mutex<Option<Running>>,
    /// The control pipe's write end (non-blocking), apart from `slot` so
    /// that lease extensions (on the completion thread) never wait for a
    /// stop in progress.
    ctl: Mutex<Option<Arc<std::fs::File>>>,
    /// The latest lease deadline, ns on CLOCK_BOOTTIME.
    lease_ns: AtomicU64,
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
        let mut slot = self.slot.lock();
        if slot.is_some() {
            return true;
        }
        if self.leaving.load(Ordering::Acquire) {
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
            .args(["--ctl-fd", &ctl_r.as_raw_fd().to_string()])
            .args(["--status-fd", &status_w.as_raw_fd().to_string()])
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
        // SAFETY: runs in the forked child before exec; fcntl is
        // async-signal-safe. It lets the two pipe ends we hand over survive
        // exec (they are close-on-exec here, so no other child gets them).
        unsafe {
            cmd.pre_exec(move || {
                for fd in [keep_r, keep_w] {
                    if libc::fcntl(fd, libc::F_SETFD, 0) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                }
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

    /// Mastership ended: the watchdog stops the command (SIGTERM, SIGKILL
    /// after the grace, never past the lease); returns once both are gone.
    fn stop(&self, why: &str) -> Option<ExitStatus> {
        let mut slot = self.slot.lock();
        let running = slot.as_mut()?;
        log::info!(target: "zkha", "{} on {}: stopping {:?} ({why})", self.path, self.hosts, self.command);
        self.send("stop\n");
        // The watchdog ends it within the grace; past that (the watchdog
        // itself stalled) we kill both ourselves.
        let deadline = Instant::now() + self.grace + Duration::from_secs(2);
        let status = loop {
            match running.watchdog.try_wait() {
                Ok(Some(status)) => break Some(status),
                Ok(None) if Instant::now() < deadline => {
                    std::thread::sleep(Duration::from_millis(2))
                }
                _ => {
                    // The last resort: never needed while the watchdog works.
                    log::error!(
                        target: "zkha",
                        "the watchdog did not stop {:?} within {} ms: killing its process group and the watchdog",
                        self.command,
                        (self.grace + Duration::from_secs(2)).as_millis()
                    );
                    running.read_status();
                    if let Some(pgid) = running.pgid {
                        // SAFETY: the command's own process group.
                        unsafe { libc::kill(-pgid, libc::SIGKILL) };
                    }
                    let _ = running.watchdog.kill();
                    break running.watchdog.wait().ok();
                }
            }
        };
        *self.ctl.lock() = None;
        *slot = None;
        log::info!(target: "zkha", "{} on {}: {:?} stopped ({})", self.path, self.hosts, self.command, super::narrate::stopped_text(status));
        status
    }

    /// Gives up mastership (SIGUSR1, `--on-exit resign`), staying a
    /// candidate.
    fn resign(&self) {
        if let Some(Err(e)) = self.control.lock().as_ref().map(Control::resign) {
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
                .take_over(&zk, session, token, || contention.token() == Some(token))
                .mark(&sup.claimed)
            })
            .map(Some)
    }

    /// Leaves the election for `why` (a master's command is stopped first).
    fn leave(&self, contention: &Contention, why: &'static str, detail: String) {
        *self.out_because.lock() = detail;
        *self.leaving_because.lock() = Some(why);
        contention.leave();
        *self.leaving_because.lock() = None;
        // A resign (SIGUSR1) while out has nothing to act on.
        *self.control.lock() = None;
        self.metrics.set_session_connected(false);
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
        Some(Exited {
            status,
            lapsed: running.lapsed,
            error: running.error,
        })
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
        self.master_since_ms
            .store(super::common::now_ms(), Ordering::Release);
        self.role_changes.fetch_add(1, Ordering::AcqRel);
        self.metrics.set_master(true);
        self.metrics.became_master();
        if self.breadcrumbs {
            *self.to_claim.lock() = Some(token);
        }
        if self.fence.is_some() {
            // The main loop fences the predecessor if it has to, claims the
            // breadcrumb, then starts the command.
            return;
        }
        if !self.start(token) {
            // Retried by the main loop once a renewal extends the lease.
            self.pending_start.store(true, Ordering::Release);
        }
    }
    fn on_lost_master(&self, reason: LostReason) {
        self.role_changes.fetch_add(1, Ordering::AcqRel);
        self.stop(&format!("lost master: {reason:?}"));
        *self.to_claim.lock() = None;
        self.metrics.set_master(false);
        self.metrics.set_lease_deadline(None);
        let because = *self.leaving_because.lock();
        self.metrics.lost_master(match (&reason, because) {
            (LostReason::Shutdown, Some(why)) => why,
            _ => lost_label(&reason),
        });
        // The command is gone: a graceful end needs no fence.
        match (&reason, because) {
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
    let mut config = args.election.config()?;
    config.log_to_rust = args.log.apply()?;
    super::flags::validate(&args.election, &config)?;
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
        on_crash,
        leased,
        slot: Mutex::new(None),
        ctl: Mutex::new(None),
        lease_ns: AtomicU64::new(0),
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
                if let Some(c) = sup.control.lock().as_ref() {
                    c.stop();
                }
                sup.stop("interrupted");
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
                    eprintln!("zkha: {e}");
                    break exit::ERROR;
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
                    if sup.fence.is_some() && contention.token() == Some(token) && !sup.start(token)
                    {
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
                Some(Ok(Claim::Failed(e))) => log::warn!(target: "zkha", "{label}: {e}"),
                Some(Ok(Claim::Lost)) | None => {}
                Some(Err(_)) => {
                    log::error!(target: "zkha", "{label}: the succession thread panicked")
                }
            }
        }
        if let Some(e) = sup.start_error.lock().take() {
            eprintln!("zkha: {e}");
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
                eprintln!("zkha: {e}");
                break exit::CANNOT_START;
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
                        if let Some(token) = contention.token() {
                            if !sup.start(token) {
                                sup.pending_start.store(true, Ordering::Release);
                            }
                        }
                    }
                }
            }
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
