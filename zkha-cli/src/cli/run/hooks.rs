//! The supervisor's election hooks: the command starts when this
//! candidate becomes master and is gone when mastership ends, before the
//! election goes on; each renewal moves the watchdog's deadline.

use super::running::Stop;
use super::supervisor::Supervisor;
use std::sync::atomic::Ordering;
use std::time::Instant;
use zkha::clock::BootInstant;
use zkha::elector::{Candidate, FencingToken, LostReason};

/// Runs on the election thread: the command is gone before the election
/// goes on (and before the node is released).
impl Candidate for Supervisor {
    fn on_zookeeper_connected(&self, _path: &str) {
        self.joined.store(true, Ordering::Release);
        self.role_changes.fetch_add(1, Ordering::AcqRel);
    }
    fn on_became_master(&self, token: FencingToken) {
        *self.master_token.lock() = Some(token);
        // A resign asked for in an earlier mastership is not this one's.
        *self.resign_because.lock() = None;
        self.unclean.store(false, Ordering::Release);
        self.master_since_ms
            .store(crate::cli::common::now_ms(), Ordering::Release);
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
            // Copied out first: one lock at a time (an `if let` would hold
            // `claimed` while taking `past_sessions`, and the succession
            // thread once held them in the other order: a deadlock).
            let claimed = *self.claimed.lock();
            if let Some((session, _)) = claimed {
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
        // Why it left, when zkha run chose to: a leave (shutdown) or a
        // resign for a reason of its own (unhealthy).
        let resigned_because = self.resign_because.lock().take();
        let because = match reason {
            LostReason::Shutdown => *self.leaving_because.lock(),
            LostReason::Resigned => resigned_because,
            _ => None,
        };
        self.metrics.lost_master(because.unwrap_or(reason.as_str()));
        // The command is gone: a graceful end needs no fence. Nor does a
        // node deleted from outside while this session lives: the command
        // is gone, and the next master is waiting for this word.
        if self.unclean.load(Ordering::Acquire) {
            // Its processes are gone all the same (killed here): the next
            // master fences, but need not wait for this one's lease.
            log::warn!(target: "zkha", "{} on {}: the command's end was not clean: the breadcrumb stays unclean", self.path, self.hosts);
            self.mark_gone("the watchdog was killed or stalled; zkha killed the command and everything it started");
            return;
        }
        match (&reason, because) {
            (LostReason::NodeLost, _) => self.mark_clean("node_lost"),
            (LostReason::Resigned | LostReason::Shutdown, Some(why)) => self.mark_clean(why),
            (LostReason::Resigned, None) => self.mark_clean("resigned"),
            (LostReason::Shutdown, None) if self.leaving.load(Ordering::Acquire) => {
                self.mark_clean("stopped")
            }
            (LostReason::Shutdown, None) => self.mark_clean("exited"),
            _ => {}
        }
    }
    /// Asked to hand over (`zkha switchover`, `zkha resign`): the main loop
    /// stops the command first, while still master (renewed meanwhile, up
    /// to --stop-timeout), then resigns; so the election must not resign
    /// at once.
    fn on_handover_requested(&self, why: &str) -> bool {
        *self.handover.lock() = Some(why.to_owned());
        // The main loop acts on it now, not at its next turn.
        crate::cli::signals::nudge();
        false
    }
    /// A pause this master acknowledged: the watchdog's deadline moves to
    /// the pause's end; once it is over, back to the renewals' lease
    /// (`lease`, which may be earlier: the watchdog is told exactly).
    fn on_pause(&self, pause: Option<BootInstant>, lease: BootInstant) {
        let ns = lease.as_nanos();
        self.metrics.set_paused(pause.is_some());
        match pause {
            Some(_) => {
                self.lease_ns.fetch_max(ns, Ordering::AcqRel);
                self.send(&format!("extend {ns}\n"));
            }
            None => {
                self.lease_ns.store(ns, Ordering::Release);
                self.send(&format!("lease {ns}\n"));
            }
        }
        let left = lease.saturating_duration_since(BootInstant::now());
        self.metrics.set_lease_deadline(Some(Instant::now() + left));
    }
    fn on_lease_extended(&self, until: BootInstant) {
        let ns = until.as_nanos();
        self.lease_ns.fetch_max(ns, Ordering::AcqRel);
        self.send(&format!("extend {ns}\n"));
        let left = until.saturating_duration_since(BootInstant::now());
        self.metrics.set_lease_deadline(Some(Instant::now() + left));
    }
}
