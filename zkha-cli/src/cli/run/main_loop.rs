//! `zkha run`'s main loop: every 10 ms (or at once on a signal, or when
//! the elector asks for a handover: `signals::nudge`) it acts on
//! signals, follows the readiness check (`--ready-cmd`) in and out of the
//! election and the running command's liveness check (`--health-cmd`,
//! `liveness.rs`), checks the granted session timeout against `--grace`,
//! sees a new master's succession through, starts a command that is due
//! and handles one that ended by itself (`--on-exit`); then it leaves the
//! election.

use super::notify::Systemd;
use super::restart::Restarts;
use super::running::Stop;
use super::stop::Exited;
use super::supervisor::Supervisor;
use super::{OnExit, RunArgs};
use crate::cli::common::exit;
use crate::cli::contention::Contention;
use crate::cli::health::{Health, HealthChecker};
use crate::cli::metrics::Metrics;
use crate::cli::signals;
use crate::cli::succession::Claim;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use zkha::State;

/// What the main loop works with, and what it keeps from one turn to the
/// next.
pub(super) struct MainLoop<'a> {
    pub(super) args: &'a RunArgs,
    pub(super) sup: Arc<Supervisor>,
    pub(super) contention: Arc<Contention>,
    /// The readiness check (`--ready-cmd`), from start to end.
    pub(super) ready: Option<Arc<HealthChecker>>,
    pub(super) metrics: Arc<Metrics>,
    pub(super) systemd: Option<Systemd>,
    /// `/path on hosts`, for log lines.
    pub(super) label: String,
    /// A failed fence's back-off, and when it ends (out of the election
    /// until then).
    pub(super) back_off: Duration,
    pub(super) back_off_until: Instant,
    /// A new master's succession (fence, breadcrumb), on a thread of its own.
    pub(super) succession: Option<JoinHandle<Claim>>,
    pub(super) restarts: Restarts,
    /// When the subreaper last reaped strays.
    pub(super) strays_reaped: Instant,
    /// The session whose granted timeout was checked against --grace.
    pub(super) checked_session: Option<i64>,
    /// Reads the configuration file again (SIGHUP), as `main.rs` reads it.
    pub(super) reread: &'a super::Reread,
    /// The arguments of the last reload (SIGHUP), if any: what the
    /// readiness and liveness checks run with now.
    pub(super) applied: Option<RunArgs>,
}

impl MainLoop<'_> {
    /// Turns until `zkha run` is to exit: its exit code. An error is one
    /// the succession thread could not be started with.
    pub(super) fn run(&mut self) -> std::io::Result<u8> {
        loop {
            if let Some(s) = &mut self.systemd {
                s.ping_if_due();
            }
            if let Some(code) = self.take_signal() {
                return Ok(code);
            }
            self.take_handover();
            let ready = self.follow_readiness();
            if let Some(code) = self.join_when_due(ready) {
                return Ok(code);
            }
            if let Some(e) = self.contention.failure() {
                // The candidacy ended (a name another live candidate
                // holds): a configuration error.
                crate::cli::stderr::line(&format!("zkha: {e}"));
                self.sup.leaving.store(true, Ordering::Release);
                return Ok(exit::USAGE);
            }
            self.follow_liveness();
            if let Some(code) = self.check_granted_timeout() {
                return Ok(code);
            }
            self.metrics.loop_turned();
            self.metrics.set_session_connected(
                self.contention
                    .elector()
                    .and_then(|e| e.zookeeper())
                    .is_some_and(|zk| matches!(zk.state(), Ok(State::Connected))),
            );
            self.follow_succession()?;
            let sup = &self.sup;
            if let Some(e) = sup.start_error.lock().take() {
                crate::cli::stderr::line(&format!("zkha: {e}"));
                return Ok(exit::CANNOT_START);
            }
            sup.send_session(&mut sup.slot.lock());
            // Master without its command (a lapse, or a lease too short to start
            // it): start it when a renewal allows; if mastership ended, the
            // election starts it when it wins again.
            if sup.pending_start.load(Ordering::Acquire) {
                match self.contention.token() {
                    Some(token) => {
                        if sup.start(token) {
                            sup.pending_start.store(false, Ordering::Release);
                        }
                    }
                    None => sup.pending_start.store(false, Ordering::Release),
                }
            }
            if let Some(ended) = sup.exited() {
                if let Some(code) = self.on_command_end(ended) {
                    return Ok(code);
                }
            }
            if self.restarts.due() {
                self.start_if_master();
            }
            self.reap_strays();
            signals::wait(Duration::from_millis(10)); // a signal ends it at once
        }
    }

    /// A master whose command is unhealthy stops it (still master) and
    /// resigns, staying a candidate; `zkha_health_ok` follows.
    pub(super) fn follow_liveness(&self) {
        let Some(outcome) = self.sup.command_unhealthy() else {
            self.metrics.set_health_ok(true);
            return;
        };
        self.metrics.set_health_ok(false);
        // Not master any more: the loss of mastership stops the command.
        if self.contention.token().is_none() {
            return;
        }
        log::warn!(target: "zkha", "{}: master, but {:?} is unhealthy ({outcome}): stopping it, then resigning", self.label, self.args.command);
        self.sup
            .resign_because("unhealthy", &format!("unhealthy ({outcome})"));
        self.metrics.set_health_ok(true);
    }

    /// An operator's `zkha switchover` or `zkha resign` reached this
    /// master (`Candidate::on_handover_requested`): the command is stopped
    /// first, still master (renewed meanwhile, up to --stop-timeout), then
    /// the node is released; the election lets only a switchover's target
    /// win.
    fn take_handover(&self) {
        let Some(why) = self.sup.handover.lock().take() else {
            return;
        };
        log::info!(target: "zkha", "{}: {why}: stopping the command, then handing over", self.label);
        let because = if why.starts_with("switchover") {
            "switchover"
        } else {
            "resigned"
        };
        self.sup.resign_because(because, &why);
    }

    /// SIGHUP (`systemctl reload`): the configuration file read again
    /// (`reload.rs`); the readiness check restarts with new settings, the
    /// liveness check takes them from the command's next start, and every
    /// other changed setting is said to need a restart.
    fn reload(&mut self) {
        let label = self.label.clone();
        let reread = match (self.reread)() {
            Ok(new) => super::reload::compare(self.args, new),
            Err(e) => {
                log::error!(target: "zkha", "{label}: SIGHUP: not reloaded: {e}");
                return;
            }
        };
        if let Err(e) = reread
            .args
            .ready
            .validate()
            .and_then(|()| reread.args.health.validate())
        {
            log::error!(target: "zkha", "{label}: SIGHUP: not reloaded: {e}");
            return;
        }
        let applied = self.applied.as_ref().unwrap_or(self.args);
        let ready_changed = format!("{:?}", applied.ready) != format!("{:?}", reread.args.ready);
        let health_changed = format!("{:?}", applied.health) != format!("{:?}", reread.args.health);
        for what in &reread.need_restart {
            log::warn!(target: "zkha", "{label}: SIGHUP: {what} changed in the file: it takes effect only after a restart");
        }
        if ready_changed {
            if let Some(old) = self.ready.take() {
                old.stop();
            }
            self.ready = match reread.args.ready.spec() {
                Some(spec) => match HealthChecker::start(spec, label.clone()) {
                    Ok(checker) => Some(checker),
                    Err(e) => {
                        log::error!(target: "zkha", "{label}: SIGHUP: cannot start the readiness check: {e}");
                        None
                    }
                },
                None => None,
            };
            if self.ready.is_none() {
                // Without a check: ready.
                self.metrics.set_ready(true);
                if self.sup.registers {
                    self.contention.set_ready(true);
                }
            }
            log::info!(target: "zkha", "{label}: SIGHUP: the readiness check reloaded ({})", reread.args.ready.ready_cmd.as_deref().unwrap_or("none: always ready"));
        }
        if health_changed {
            self.sup.liveness.set(&reread.args.health);
            log::info!(target: "zkha", "{label}: SIGHUP: the health check reloaded ({}), from the command's next start", reread.args.health.health_cmd.as_deref().unwrap_or("none"));
        }
        if !ready_changed && !health_changed && reread.need_restart.is_empty() {
            log::info!(target: "zkha", "{label}: SIGHUP: the configuration file is unchanged");
        }
        self.applied = Some(reread.args);
    }

    /// SIGUSR1 resigns; SIGINT and SIGTERM end `zkha run` (128 + the
    /// signal), the command stopped first while still master.
    fn take_signal(&mut self) -> Option<u8> {
        let sup = &self.sup;
        match signals::take() {
            Some(libc::SIGUSR1) => sup.resign(),
            Some(libc::SIGHUP) => self.reload(),
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
                return Some(128 + sig as u8);
            }
            None => {}
        }
        None
    }

    /// Readiness (`--ready-cmd`), the one place where it acts on the
    /// election: a standby that is not ready (`--ready-failures` failures
    /// in a row) leaves the election, and one out of it joins again once
    /// ready (by [`join_when_due`](Self::join_when_due), which this
    /// function's answer gates: whether readiness lets it be in the
    /// election now). A master that is not ready keeps mastership and its
    /// command (the command's liveness is `--health-cmd`'s business): it is
    /// reported not ready (`zkha_ready`, systemd's STATUS=). In the safe
    /// profile readiness is a flag of the registered candidate
    /// (`Contention::set_ready`): an unready standby stays registered and
    /// visible but does not contend. The seed profile, which does not
    /// register, leaves the election instead, and only once a standby.
    fn follow_readiness(&self) -> bool {
        let Some(r) = &self.ready else {
            return true;
        };
        let (sup, contention, label) = (&self.sup, &self.contention, &self.label);
        let state = r.state();
        let ready = state == Health::Healthy;
        self.metrics.set_ready(ready);
        let why = (state == Health::Unhealthy)
            .then(|| format!("not ready ({})", r.last_outcome().unwrap_or_default()));
        let master = contention.token().is_some();
        // Not ready, in any role, for STATUS= (a master is said so once per
        // change: it was ready to become master).
        let shown = match state {
            Health::Healthy => None,
            Health::Unknown => Some("not ready (waiting for a passing readiness check)".to_owned()),
            Health::Unhealthy => why.clone(),
        };
        let was = std::mem::replace(&mut *sup.not_ready.lock(), shown);
        if master && why.is_some() && was.is_none() {
            log::warn!(target: "zkha", "{label}: master, but not ready: keeping mastership (a standby that is not ready does not contend)");
        }
        if sup.registers {
            // Safe profile: registered either way, contending only when
            // ready (the library's gate).
            contention.set_ready(ready);
            if let Some(why) = why {
                *sup.out_because.lock() = why;
            }
            return true;
        }
        let Some(why) = why else {
            return ready;
        };
        if !contention.joined() {
            // Never joined, or already out: systemd's STATUS= says why.
            *sup.out_because.lock() = why;
        } else if !master {
            log::warn!(target: "zkha", "{label}: not ready: leaving the election");
            sup.leave(contention, "not_ready", why);
        }
        ready
    }

    /// Out of the election, ready, past a failed fence's back-off and not
    /// leaving: joins it again. `Some(exit code)` if it cannot.
    fn join_when_due(&self, ready: bool) -> Option<u8> {
        let (sup, contention, label) = (&self.sup, &self.contention, &self.label);
        if !contention.joined()
            && ready
            && Instant::now() >= self.back_off_until
            && !sup.leaving.load(Ordering::Acquire)
        {
            log::info!(target: "zkha", "{label}: joining the election");
            match contention.join() {
                Ok(c) => *sup.control.lock() = Some(c),
                Err(e) => {
                    crate::cli::stderr::line(&format!("zkha: {e}"));
                    return Some(exit::ERROR);
                }
            }
        }
        None
    }

    /// The grace must fit the lease the server actually grants: the
    /// negotiated session timeout, which may be below the one asked for
    /// (the server's minSessionTimeout/maxSessionTimeout). Checked once per
    /// session; `Some(exit code)` when it does not fit (the command is
    /// killed and `zkha run` leaves).
    fn check_granted_timeout(&mut self) -> Option<u8> {
        let (sup, label, args) = (&self.sup, &self.label, self.args);
        let session_ms = sup.session_timeout_ms;
        if sup.leased {
            let zk = self.contention.elector().and_then(|e| e.zookeeper());
            if let Some((id, ms)) = zk.and_then(|zk| {
                let id = zk.client_id().ok()?.id;
                let ms = zk.recv_timeout().ok().filter(|&ms| ms > 0)?;
                Some((id, ms as u64))
            }) {
                if self.checked_session != Some(id) {
                    self.checked_session = Some(id);
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
                        crate::cli::stderr::line(&format!("zkha: {e}"));
                        return Some(exit::USAGE);
                    }
                }
            }
        }
        None
    }

    /// A new master: fence its predecessor if needed, claim the breadcrumb
    /// (and with a fence, only then start the command). The claim runs on
    /// a thread of its own; its outcome is acted on once it is in.
    fn follow_succession(&mut self) -> std::io::Result<()> {
        let (sup, contention, label, args) = (&self.sup, &self.contention, &self.label, self.args);
        if self.succession.is_none() {
            // Taken out first: `succeed` takes other locks (one at a time).
            let due = sup.to_claim.lock().take();
            if let Some(token) = due {
                self.succession = sup.succeed(contention, token)?;
            }
        }
        if self.succession.as_ref().is_some_and(|t| t.is_finished()) {
            let claim = self.succession.take().map(JoinHandle::join);
            let back_off = self.back_off;
            match claim {
                Some(Ok(Claim::Done { token, .. })) => {
                    // (`claimed` was set by the succession thread: `Claim::mark`.)
                    if contention.token() == Some(token) && !sup.start(token) {
                        sup.pending_start.store(true, Ordering::Release);
                    }
                }
                Some(Ok(Claim::FenceFailed(e))) => {
                    log::error!(target: "zkha", "{label}: --fence-cmd failed ({e}): not starting {:?}; leaving the election for {} ms, then trying again", args.command, back_off.as_millis());
                    sup.leave(contention, "fence_failed", format!("fence failed ({e})"));
                    self.back_off_until = Instant::now() + back_off;
                }
                Some(Ok(Claim::Failed(e))) if sup.fence.is_some() => {
                    log::error!(target: "zkha", "{label}: {e}: whether the last master must be fenced is unknown: not starting {:?}; leaving the election for {} ms, then trying again", args.command, back_off.as_millis());
                    sup.leave(contention, "fence_failed", e);
                    self.back_off_until = Instant::now() + back_off;
                }
                Some(Ok(Claim::Failed(e))) => {
                    log::warn!(target: "zkha", "{label}: {e}");
                    // No fence to run: the command starts all the same.
                    self.start_if_master();
                }
                Some(Ok(Claim::Lost)) | None => {}
                Some(Err(_)) => {
                    log::error!(target: "zkha", "{label}: the succession thread panicked")
                }
            }
        }
        Ok(())
    }

    /// Starts the command if this candidate is master; a start the lease
    /// does not allow yet is retried (`pending_start`).
    fn start_if_master(&self) {
        if let Some(token) = self.contention.token() {
            if !self.sup.start(token) {
                self.sup.pending_start.store(true, Ordering::Release);
            }
        }
    }

    /// The command ended by itself: `Some(exit code)` if `zkha run` ends
    /// with it (it could not start, its watchdog was killed, `--on-exit
    /// exit`); else it is started again, now or later, or mastership is
    /// given up.
    fn on_command_end(&mut self, ended: Exited) -> Option<u8> {
        let (sup, label, args) = (&self.sup, &self.label, self.args);
        if let Some(e) = ended.error {
            crate::cli::stderr::line(&format!("zkha: {e}"));
            return Some(exit::CANNOT_START);
        }
        if ended.watchdog_killed {
            // Not the command's own end: a crash. zkha ends as the
            // watchdog did (128 + its signal); the breadcrumb stays
            // unclean, so the next master fences this one.
            return Some(exit::code_of(ended.status));
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
            log::log!(target: "zkha", crate::cli::narrate::exit_level(ended.status), "{} on {}: {:?} exited ({})", sup.path, sup.hosts, args.command, ended.status);
            match args.on_exit {
                OnExit::Exit => return Some(exit::code_of(ended.status)),
                OnExit::Resign => sup.resign(),
                OnExit::Restart => {
                    if self
                        .restarts
                        .after_exit(sup.ran_for(), label, &args.command)
                    {
                        sup.resign();
                    }
                }
            }
        }
        None
    }

    /// A check's or fence's leftovers come to us (a subreaper):
    /// reaped each second.
    fn reap_strays(&mut self) {
        if self.strays_reaped.elapsed() >= Duration::from_secs(1) {
            self.strays_reaped = Instant::now();
            let keep: Vec<i32> = self
                .sup
                .slot
                .lock()
                .as_ref()
                .map(|r| r.watchdog.id() as i32)
                .into_iter()
                .collect();
            crate::cli::reaper::reap_strays(&keep);
        }
    }

    /// After the loop: STOPPING=1 to systemd, a fence in progress ended,
    /// the election left (the command is already gone, and its health
    /// check with it), the readiness check and the systemd thread stopped.
    pub(super) fn finish(self) {
        if let Some(s) = &self.systemd {
            s.stopping();
        }
        // A fence in progress ends (at its timeout at the latest) before zkha.
        if let Some(t) = self.succession {
            let _ = t.join();
        }
        // Leaves the election (the command is already gone).
        self.contention.leave();
        if let Some(r) = &self.ready {
            r.stop();
        }
        if let Some(s) = self.systemd {
            s.stop();
        }
    }
}
