//! The supervisor's state, and the command's start: what `zkha run` knows
//! about its command and its mastership, shared by its threads (the main
//! loop, the election thread's hooks in `hooks.rs`, the succession and the
//! systemd threads), and the steps that start the command (only under a
//! live mastership with lease enough left), resign and leave. Stopping the
//! command is `stop.rs`; the watchdog process it runs under,
//! `watchdog_child.rs`.

use super::liveness::Liveness;
use super::running::{Running, Stop};
use super::RunArgs;
use crate::cli::contention::Contention;
use crate::cli::metrics::Metrics;
use crate::cli::watchdog::{self, OnCrash};
use parking_lot::Mutex;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use zkha::elector::{Control, ElectorConfig, FencingToken, Profile};
use zkha::Acl;

/// `zkha run`'s command and mastership, as its threads share them.
pub(super) struct Supervisor {
    pub(super) command: Vec<String>,
    pub(super) path: String,
    pub(super) hosts: String,
    /// The TLS / SASL flags, for the watchdog's handover (paths and names).
    pub(super) secure: Vec<std::ffi::OsString>,
    pub(super) session_timeout_ms: u64,
    pub(super) grace: Duration,
    /// `--stop-timeout`.
    pub(super) stop_timeout: Duration,
    pub(super) on_crash: OnCrash,
    /// Safe profile: the command lives under the lease. Seed: no lease.
    pub(super) leased: bool,
    /// When the running command started (for `--on-exit restart`'s
    /// crash-loop rule).
    pub(super) started_at: Mutex<Option<Instant>>,
    /// The running command. Only cleared once the old watchdog (and so
    /// the old command) is reaped: a new command never starts before.
    pub(super) slot: Mutex<Option<Running>>,
    /// The control pipe's write end (non-blocking), apart from `slot` so
    /// that lease extensions (on the completion thread) never wait for a
    /// stop in progress.
    pub(super) ctl: Mutex<Option<Arc<std::fs::File>>>,
    /// The latest lease deadline, ns on CLOCK_BOOTTIME (0: not master).
    pub(super) lease_ns: AtomicU64,
    /// The mastership the election says this candidate holds now (set by
    /// `on_became_master`, cleared first thing in `on_lost_master`): a
    /// command starts only under the slot lock with this token.
    pub(super) master_token: Mutex<Option<FencingToken>>,
    /// The running command's end was not clean (its watchdog was killed):
    /// the breadcrumb is not marked clean, so the next master fences.
    pub(super) unclean: AtomicBool,
    /// The current stay in the election's control (a new one each time
    /// `zkha run` joins again).
    pub(super) control: Mutex<Option<Control>>,
    pub(super) start_error: Mutex<Option<String>>,
    /// Master, but the command is not running (its lease was too short to
    /// start it, or the watchdog stopped it): start it once the lease allows.
    pub(super) pending_start: AtomicBool,
    /// The "lease ends too soon" warning was given for this hold-back: the
    /// main loop retries every 10 ms, the log says it once.
    pub(super) held_back: AtomicBool,
    /// zkha run is leaving (a signal): no new command starts.
    pub(super) leaving: AtomicBool,
    /// A session was connected once: the candidate has joined the election
    /// (for systemd's READY=1).
    pub(super) joined: AtomicBool,
    /// When this candidate last became master, ms since the epoch (for
    /// systemd's STATUS=).
    pub(super) master_since_ms: AtomicI64,
    /// Bumped at each change of role, so the systemd notifier rereads who
    /// is master at once.
    pub(super) role_changes: AtomicU64,
    /// This candidate's data, for its breadcrumb.
    pub(super) data: Vec<u8>,
    /// The election node's ACL, for the breadcrumb too.
    pub(super) acl: Vec<Acl>,
    /// Safe profile: each master leaves a breadcrumb (`breadcrumb.rs`).
    pub(super) breadcrumbs: bool,
    /// Safe profile: the candidate is in the registry (readiness is a
    /// flag there, not a reason to leave the election).
    pub(super) registers: bool,
    /// An operator asked this master to hand over (`zkha switchover`,
    /// `zkha resign`): why, for the main loop, which stops the command
    /// (planned, still master) and then resigns.
    pub(super) handover: Mutex<Option<String>>,
    /// `--fence-cmd` and `--fence-timeout`: with it, a new master's command
    /// waits until its predecessor is fenced (if it has to be) and the
    /// breadcrumb is claimed.
    pub(super) fence: Option<(String, Duration)>,
    /// A mastership whose breadcrumb is still to be claimed: its token.
    pub(super) to_claim: Mutex<Option<FencingToken>>,
    /// The session and token of the breadcrumb this candidate wrote, marked
    /// clean when that mastership ends gracefully.
    pub(super) claimed: Mutex<Option<(i64, i64)>>,
    /// The reads of that breadcrumb's clean mark, sent when a planned stop
    /// began (`breadcrumb::mark_ahead`).
    pub(super) mark_ahead: Mutex<Option<crate::cli::breadcrumb::mark_ahead::Prefetch>>,
    /// The sessions of this process's past masterships whose command it
    /// saw gone: a breadcrumb naming one is its own, never fenced.
    pub(super) past_sessions: Mutex<Vec<i64>>,
    /// Why `zkha run` is leaving the election (the reason a master that
    /// leaves counts in `zkha_lost_master_total`): not_ready, fence_failed.
    pub(super) leaving_because: Mutex<Option<&'static str>>,
    /// Why this candidate asked to resign, when not for SIGUSR1 or
    /// `--on-exit resign` (the reason its loss counts in
    /// `zkha_lost_master_total` and its breadcrumb gives): unhealthy. Taken
    /// by `on_lost_master`.
    pub(super) resign_because: Mutex<Option<&'static str>>,
    /// Why this candidate is out of the election now (for systemd's
    /// STATUS=): not ready (waiting for a passing readiness check, or
    /// failing it), a failed fence's back-off.
    pub(super) out_because: Mutex<String>,
    /// Not ready (`--ready-cmd` not passed yet, or failing), in any role:
    /// why, for systemd's STATUS= (a master keeps mastership, a registered
    /// standby does not contend); `None` when ready.
    pub(super) not_ready: Mutex<Option<String>>,
    /// `--health-cmd`: a checker for each start of the command.
    pub(super) liveness: Liveness,
    pub(super) metrics: Arc<Metrics>,
}

impl Supervisor {
    /// The supervisor of `args.command` in the election `config` (checked).
    pub(super) fn new(args: &RunArgs, config: &ElectorConfig, metrics: Arc<Metrics>) -> Supervisor {
        let leased = config.profile == Profile::Safe;
        let on_crash = args.on_crash.unwrap_or(if config.session_file.is_some() {
            OnCrash::Hold
        } else {
            OnCrash::Handover
        });
        Supervisor {
            command: args.command.clone(),
            path: config.path.clone(),
            hosts: config.hosts.clone(),
            secure: args.election.secure.to_args(),
            session_timeout_ms: config.session_timeout.as_millis() as u64,
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
            registers: leased,
            handover: Mutex::new(None),
            fence: args
                .fence
                .fence_cmd
                .clone()
                .map(|cmd| (cmd, args.fence.timeout())),
            to_claim: Mutex::new(None),
            claimed: Mutex::new(None),
            mark_ahead: Mutex::new(None),
            past_sessions: Mutex::new(Vec::new()),
            leaving_because: Mutex::new(None),
            resign_because: Mutex::new(None),
            out_because: Mutex::new("not ready (waiting for a passing readiness check)".into()),
            not_ready: Mutex::new(None),
            liveness: Liveness::new(&args.health, format!("{} on {}", config.path, config.hosts)),
            metrics,
        }
    }

    /// Sends one line to the watchdog (never blocks; a full pipe drops it,
    /// and later extensions supersede it).
    pub(super) fn send(&self, line: &str) {
        use std::io::Write;
        let ctl = self.ctl.lock().clone();
        if let Some(mut f) = ctl.as_deref() {
            let _ = f.write_all(line.as_bytes());
        }
    }

    /// Starts the command (under its watchdog); whether it runs now.
    pub(super) fn start(&self, token: FencingToken) -> bool {
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
            Ok((mut running, ctl)) => {
                self.held_back.store(false, Ordering::Release);
                log::info!(target: "zkha", "{} on {}: started {:?} (watchdog pid {}, token {})", self.path, self.hosts, self.command, running.watchdog.id(), token.value());
                // Its liveness check, if any, from its start on.
                running.liveness = self.liveness.start();
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

    /// `--on-crash handover`: tells the watchdog which session to end if
    /// zkha dies (once, as soon as the session is known).
    pub(super) fn send_session(&self, slot: &mut Option<Running>) {
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

    /// Gives up mastership (SIGUSR1, `--on-exit resign`), staying a
    /// candidate: the command is stopped first, while still master (a
    /// planned stop), then the node is released.
    pub(super) fn resign(&self) {
        self.resign_as(None, "resigning");
    }

    /// Resigns as [`resign`](Self::resign) does, for `because` (the reason
    /// the loss counts in `zkha_lost_master_total` and the breadcrumb's
    /// `left`: unhealthy); `why` for the log.
    pub(super) fn resign_because(&self, because: &'static str, why: &str) {
        self.resign_as(Some(because), why);
    }

    fn resign_as(&self, because: Option<&'static str>, why: &str) {
        self.stop(why, Stop::Planned);
        // Read by `on_lost_master`, which the resign below leads to.
        *self.resign_because.lock() = because;
        let control = self.control.lock().clone();
        if let Some(Err(e)) = control.as_ref().map(Control::resign) {
            *self.resign_because.lock() = None;
            log::error!(target: "zkha", "resign: {e}");
        }
    }

    /// Leaves the election for `why` (a master's command is stopped first,
    /// while still master: a planned stop).
    pub(super) fn leave(&self, contention: &Contention, why: &'static str, detail: String) {
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
    pub(super) fn ran_for(&self) -> Option<Duration> {
        self.started_at.lock().map(|t| t.elapsed())
    }
}

/// A test-only pause (the variable is read only by tests' builds of the
/// windows they need to widen): sleeps the milliseconds `var` says.
pub(super) fn test_delay(var: &str) {
    if let Some(ms) = std::env::var(var).ok().and_then(|v| v.parse::<u64>().ok()) {
        std::thread::sleep(Duration::from_millis(ms));
    }
}

impl Supervisor {
    /// The running command's liveness check says unhealthy: its last
    /// outcome. `None` without a command, a check, or while it passes,
    /// is in its start period or has not failed enough yet.
    pub(super) fn command_unhealthy(&self) -> Option<String> {
        let slot = self.slot.lock();
        let running = slot.as_ref().filter(|r| !r.stopping)?;
        let checker = running.liveness.as_ref()?;
        (checker.state() == crate::cli::health::Health::Unhealthy)
            .then(|| checker.last_outcome().unwrap_or_default())
    }
}
