//! [`ElectionState`]: the state shared by the election (its thread, or the
//! seed's run loop and watcher), the work loop and the public API, and the
//! transitions every profile goes through (became master, lost master,
//! lease renewed, shutdown).
//!
//! The elector's modules depend one way, from the profiles down to leaves:
//! `mod.rs` → `seed.rs`, `safe/`, `narrator.rs` (the narrator's thread) →
//! `shared.rs` (this) → `changes.rs`, `master.rs`, `config.rs`, `lease.rs`,
//! `trace.rs`, `narration.rs` (what the log says) → `candidate.rs`;
//! `until_master.rs` → `shared.rs`. Nothing here names a profile's module
//! or the narrator's thread; the clocks are the crate's (`clock.rs`).

use super::candidate::{Candidate, FencingToken, LostReason};
use super::changes::{Hub, MasterChange, MasterChanges};
use super::config::{ElectorConfig, Mode, Profile};
use super::lease::lease_until;
use super::master::{read_master, MasterInfo};
use super::narration::{Look, Narration};
use super::registry::Role;
use super::steering::Steering;
use super::term::Term;
use super::trace::{Trace, Value};
use crate::clock::BootInstant;
use crate::error::{Error, Result};
use crate::ZooKeeper;
use parking_lot::{Condvar, Mutex};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub(crate) struct LiveState {
    pub master: Option<FencingToken>,
    pub zk: Option<Arc<ZooKeeper>>,
    /// Seed: handles replaced on expiry, kept unclosed as the design leaves
    /// them (F2) until the elector shuts down.
    pub abandoned: Vec<Arc<ZooKeeper>>,
    pub connected: bool,
    pub expired: bool,
    pub disconnected_at: Option<Instant>,
    /// The negotiated session timeout, ms (safe: the F1 step-down bound).
    pub negotiated_ms: i32,
    /// Safe: mastership is valid until this instant (`None`: no lease).
    /// Each leader-proved answer about our node (sync + exists), sent at
    /// `s`, extends it to `s + (T/2)(1 − ρ)` (see `lease.rs` for why).
    pub lease_until: Option<BootInstant>,
    /// Safe: the lease the renewals alone prove (`lease_until` is the later
    /// of it and a pause's deadline).
    pub renewed_until: Option<BootInstant>,
    /// Safe, master: a maintenance pause this master acknowledged ends
    /// here (`registry.rs`): until then mastership outlives a cut-off
    /// link, a disconnection and the session, since no candidate takes
    /// over before its own count of the pause ends, which is later.
    pub pause_until: Option<BootInstant>,
    /// The current term of mastership, which guards share
    /// (`mastership.rs`); taken and ended at the loss.
    pub term: Option<Arc<Term>>,
    /// Safe: the term node's version the last winning claim set (fenced
    /// writes check it); `None` when unknown.
    pub term_version: Option<i32>,
    pub wake: u64,
    pub resign: bool,
    /// Safe: the election holds our node (master, or stepped down while
    /// cut off but still owning it): a resign asked now is acted on.
    pub holding: bool,
    /// Seed: the clientid read once connected, reused on re-init (S3).
    pub last_client_id: Option<crate::types::ClientId>,
    /// Seed: re-inits since the last connection (for `reinit_limit`).
    pub reinits: u32,
    /// Seed: when it last resigned (it stays out for `resign_backoff`).
    pub resigned_at: Option<Instant>,
}

pub(crate) struct ElectionState {
    pub config: ElectorConfig,
    pub candidate: Arc<dyn Candidate>,
    pub trace: Trace,
    /// What the log has said about the same events (`narration.rs`).
    pub narration: Narration,
    pub inner: Mutex<LiveState>,
    pub changed: Condvar,
    pub stop: AtomicBool,
    pub closed: AtomicBool,
    pub session: AtomicI64,
    /// Node watch notifications received (herd-effect measurements).
    pub notifications: std::sync::atomic::AtomicU64,
    /// Async subscribers: change streams and "until master" futures.
    pub changes: Hub,
    /// Safe profile: the registration in the candidates' registry.
    pub steering: Steering,
    /// An error that will not go away by itself (not authorized, a missing
    /// parent, the ensemble unreachable for `unreachable_after`), kept for
    /// the callers waiting for mastership; cleared by progress. The flag:
    /// whether a connection clears it (unreachable).
    pub blocking: Mutex<Option<(Error, bool)>>,
    /// Seed: the re-init limit ended the candidacy (its trace said `exit`).
    pub gave_up: AtomicBool,
    /// Safe, on the caller's session (`Elector::start_with_handle`): that
    /// handle. The elector never closes it, follows its state by polling,
    /// and stops when it expires (the caller re-initialises).
    pub given: Mutex<Option<Arc<ZooKeeper>>>,
    /// Safe: the last other master seen holding the node (`safe/mixed.rs`).
    pub seen_master: Mutex<Option<super::SeenMaster>>,
}

impl ElectionState {
    pub(crate) fn new(
        config: ElectorConfig,
        candidate: Arc<dyn Candidate>,
    ) -> Result<Arc<ElectionState>> {
        let trace = match &config.trace {
            Some(path) => Trace::to_file(path, &config.label()).map_err(|e| {
                Error::invalid(
                    crate::error::Argument::Other,
                    format!("trace file {}: {e}", path.display()),
                )
            })?,
            None => Trace::off(),
        };
        Ok(Arc::new(ElectionState {
            narration: Narration::new(&config),
            steering: Steering::new(&config),
            config,
            candidate,
            trace,
            inner: Mutex::new(LiveState {
                master: None,
                zk: None,
                abandoned: Vec::new(),
                connected: false,
                expired: false,
                disconnected_at: None,
                negotiated_ms: 0,
                lease_until: None,
                renewed_until: None,
                pause_until: None,
                term: None,
                term_version: None,
                wake: 0,
                resign: false,
                holding: false,
                last_client_id: None,
                reinits: 0,
                resigned_at: None,
            }),
            changed: Condvar::new(),
            stop: AtomicBool::new(false),
            closed: AtomicBool::new(false),
            session: AtomicI64::new(0),
            notifications: std::sync::atomic::AtomicU64::new(0),
            changes: Hub::default(),
            blocking: Mutex::new(None),
            gave_up: AtomicBool::new(false),
            given: Mutex::new(None),
            seen_master: Mutex::new(None),
        }))
    }

    pub(crate) fn stopping(&self) -> bool {
        self.stop.load(Ordering::Acquire)
    }

    pub(crate) fn request_stop(&self) {
        self.stop.store(true, Ordering::Release);
        self.wake();
        self.changes.ping();
    }

    /// Asks the election to resign; nothing to do when not master.
    pub(crate) fn request_resign(&self) {
        {
            let mut inner = self.inner.lock();
            // Stepped down while cut off, the node is still ours and may
            // be taken up again: the resign must hold then too.
            if inner.master.is_none() && !inner.holding {
                return;
            }
            inner.resign = true;
        }
        self.wake();
    }

    /// Wakes whoever waits for a change (a watch fired, a state changed).
    pub(crate) fn wake(&self) {
        self.inner.lock().wake += 1;
        self.changed.notify_all();
    }

    /// The token while master and the lease holds: what the public API
    /// reports.
    pub(crate) fn token(&self) -> Option<FencingToken> {
        let inner = self.inner.lock();
        inner.master.filter(|_| lease_holds(inner.lease_until))
    }

    /// The current term (to wait for its guards after a loss).
    pub(crate) fn term(&self) -> Option<Arc<Term>> {
        self.inner.lock().term.clone()
    }

    /// Keeps `e` for the callers waiting for mastership when it will not go
    /// away by itself, and wakes them.
    pub(crate) fn note_error(&self, e: &Error) {
        let blocking = matches!(
            e.code(),
            Some(
                crate::ErrorCode::NoAuth
                    | crate::ErrorCode::AuthFailed
                    | crate::ErrorCode::InvalidAcl
                    | crate::ErrorCode::NoNode
                    | crate::ErrorCode::NoChildrenForEphemerals
            )
        ) || matches!(e, Error::Tls(_) | Error::SaslAuth(_));
        if blocking {
            *self.blocking.lock() = Some((crate::client::duplicate_error(e), false));
            self.changes.ping();
        }
    }

    /// The ensemble has been unreachable for `unreachable_after`.
    pub(crate) fn note_unreachable(&self, for_: Duration) {
        let mut b = self.blocking.lock();
        if b.is_none() {
            log::warn!(target: "zkha", "{} on {}: no session for {} ms: the ensemble is unreachable (still trying)", self.config.path, self.config.hosts, for_.as_millis());
            *b = Some((
                Error::Timeout(
                    "connecting: the ensemble stayed unreachable past unreachable_after",
                ),
                true,
            ));
            drop(b);
            self.changes.ping();
        }
    }

    /// Progress (connected, or the election went on): a kept error is
    /// gone; `connected_only`: only one a connection clears.
    pub(crate) fn clear_blocking(&self, connected_only: bool) {
        let mut b = self.blocking.lock();
        if b.as_ref().is_some_and(|(_, c)| *c || !connected_only) {
            *b = None;
        }
    }

    /// The kept error, for a waiting caller.
    pub(crate) fn blocking_error(&self) -> Option<Error> {
        self.blocking
            .lock()
            .as_ref()
            .map(|(e, _)| crate::client::duplicate_error(e))
    }

    /// The token held, lease or not: the election's own state.
    pub(crate) fn held(&self) -> Option<FencingToken> {
        self.inner.lock().master
    }

    pub(crate) fn session_id(&self) -> i64 {
        self.session.load(Ordering::Acquire)
    }

    pub(crate) fn zk(&self) -> Option<Arc<ZooKeeper>> {
        self.inner.lock().zk.clone()
    }

    pub(crate) fn wait_until_master(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let mut inner = self.inner.lock();
        loop {
            if inner.master.is_some() && lease_holds(inner.lease_until) {
                return true;
            }
            if Instant::now() >= deadline {
                return false;
            }
            // A lease can run out without anyone notifying: look again soon.
            let next = deadline.min(Instant::now() + Duration::from_millis(50));
            self.changed.wait_until(&mut inner, next);
        }
    }

    /// A new change stream, starting with the current mastership.
    pub(crate) fn subscribe(&self) -> MasterChanges {
        let inner = self.inner.lock();
        self.changes
            .subscribe(inner.master.map(MasterChange::BecameMaster))
    }

    /// Sleeps up to `d`, returning early (true) when stopping.
    pub(crate) fn sleep(&self, d: Duration) -> bool {
        let deadline = Instant::now() + d;
        let mut inner = self.inner.lock();
        while !self.stopping() {
            if self.changed.wait_until(&mut inner, deadline).timed_out() {
                break;
            }
        }
        self.stopping()
    }

    pub(crate) fn became_master(&self, token: FencingToken) {
        let wakeups = {
            let mut inner = self.inner.lock();
            inner.master = Some(token);
            // The claim's term version is this term's only (`take`).
            let version = inner.term_version.take();
            inner.term = Some(Term::new(token, version));
            self.changes.publish(MasterChange::BecameMaster(token))
        };
        // Traced as it is taken, before the threads it wakes compete for
        // the CPU with this one.
        let mut fields = vec![
            ("path", Value::Str(&self.config.path)),
            ("token", Value::Int(token.czxid)),
        ];
        if let Some(seq) = token.sequence {
            fields.push(("sequence", Value::Int(seq)));
        }
        self.trace.emit("became_master", &fields);
        self.clear_blocking(false);
        self.changed.notify_all();
        wakeups.wake();
        self.steering.role_changed();
        self.steering.publish(&self.config, Role::Master);
        self.narration.became_master(self.look(), token);
        self.candidate.on_became_master(token);
    }

    /// Safe: extends the lease from a server answer to a request sent at
    /// `sent`.
    pub(crate) fn renew_lease(&self, sent: BootInstant) {
        let until = {
            let mut inner = self.inner.lock();
            let until = lease_until(sent, inner.negotiated_ms);
            if inner.renewed_until.is_none_or(|r| r < until) {
                inner.renewed_until = Some(until);
            }
            if inner.lease_until.is_some_and(|now| until <= now) {
                return;
            }
            inner.lease_until = Some(until);
            until
        };
        self.changes.ping();
        self.candidate.on_lease_extended(until);
    }

    /// Forgets the lease (a stale proof, a lost mastership).
    pub(crate) fn clear_lease(&self) {
        let mut inner = self.inner.lock();
        inner.lease_until = None;
        inner.renewed_until = None;
        inner.pause_until = None;
    }

    /// Safe, master: this master acknowledged a pause, which holds it in
    /// mastership until `until` whatever happens to its link or session.
    pub(crate) fn enter_pause(&self, until: BootInstant) {
        let lease = {
            let mut inner = self.inner.lock();
            if inner.master.is_none() {
                return;
            }
            inner.pause_until = Some(until);
            let lease = inner.lease_until.map_or(until, |l| l.max(until));
            inner.lease_until = Some(lease);
            lease
        };
        self.wake();
        self.changes.ping();
        self.candidate.on_pause(Some(until), lease);
    }

    /// Safe, master: the pause is over (resumed, or its deadline passed):
    /// the lease is the renewals' again (`None` when there is none: a
    /// session that died during the pause; mastership then ends).
    pub(crate) fn end_pause(&self) {
        let lease = {
            let mut inner = self.inner.lock();
            if inner.pause_until.take().is_none() {
                return;
            }
            let renewed = inner.renewed_until.unwrap_or_else(BootInstant::now);
            inner.lease_until = inner.master.map(|_| renewed);
            renewed
        };
        self.wake();
        self.changes.ping();
        self.candidate.on_pause(None, lease);
    }

    /// Safe, master: the pause this master holds, while it lasts.
    pub(crate) fn paused_until(&self) -> Option<BootInstant> {
        self.inner
            .lock()
            .pause_until
            .filter(|p| BootInstant::now() < *p)
    }

    /// Whether mastership is still covered (always, without a lease).
    pub(crate) fn lease_valid(&self) -> bool {
        lease_holds(self.inner.lock().lease_until)
    }

    /// The lease's end, `None` without one.
    pub(crate) fn lease_until(&self) -> Option<BootInstant> {
        self.inner.lock().lease_until
    }

    /// Ends mastership if held; returns whether it was held. The trace's
    /// `valid_until` is when it really ended: an expired lease ends it in
    /// the past (work was already refused from then on).
    pub(crate) fn lost_master(&self, reason: LostReason) -> bool {
        self.end_mastership(reason, true)
    }

    /// A planned end (resign, shutdown) whose release follows at once:
    /// [`lost_master`](Self::lost_master) without publishing the role
    /// first, so that nothing is queued before the release on the session
    /// (the next master's watch fires on the release's write, one write
    /// sooner). A resign publishes the entry right after its release
    /// (yielding, `steer::set_yielding`); a shutdown's entry goes with it.
    pub(crate) fn lost_master_planned(&self, reason: LostReason) -> bool {
        self.end_mastership(reason, false)
    }

    fn end_mastership(&self, reason: LostReason, publish: bool) -> bool {
        let (was, lease, wakeups) = {
            let mut inner = self.inner.lock();
            let lease = inner.lease_until.take();
            inner.renewed_until = None;
            inner.pause_until = None;
            if let Some(term) = inner.term.take() {
                term.end(reason.clone());
            }
            let was = inner.master.take().is_some();
            let wakeups = was.then(|| {
                self.changes
                    .publish(MasterChange::LostMaster(reason.clone()))
            });
            (was, lease, wakeups)
        };
        if let Some(w) = wakeups {
            w.wake();
        }
        if was {
            self.changed.notify_all();
            let now = BootInstant::now();
            let valid_until = lease.map_or(now, |l| l.min(now)).to_monotonic_ms();
            self.trace.emit(
                "lost_master",
                &[
                    ("reason", Value::Str(reason.as_str())),
                    ("valid_until", Value::Float(valid_until)),
                ],
            );
            // The candidate stops its work first; the log line (which may
            // block on a full stderr) only then.
            let said = reason.clone();
            self.candidate.on_lost_master(reason);
            self.steering.role_changed();
            if publish {
                self.steering.publish(&self.config, Role::Standby);
            }
            self.narration.lost_master(self.look(), &said);
        }
        was
    }

    /// The role to publish in the registry now.
    pub(crate) fn role(&self) -> Role {
        if self.held().is_some() {
            Role::Master
        } else {
            Role::Standby
        }
    }

    /// Readiness changed: republished, and the election woken to act on it.
    pub(crate) fn set_ready(&self, ready: bool) {
        if self.steering.set_ready(ready) {
            self.steering.publish(&self.config, self.role());
            self.wake();
        }
    }

    pub(crate) fn trace_work(&self) {
        self.trace.emit("work", &[]);
    }

    /// The test hook's announcement (`ElectorConfig::test_claim_delay`).
    pub(crate) fn trace_test_claim_delay(&self) {
        self.trace.emit("test_claim_delay", &[]);
    }

    /// Safe profile: the `standby` trace line, when the contention finds
    /// another session's master node and waits for it to go without a
    /// claim (the seed and the C++ design try a create instead, and trace
    /// its `rc`).
    pub(crate) fn trace_standby(&self, holder: i64) {
        self.clear_blocking(false);
        self.trace
            .emit("standby", &[("holder", Value::Int(holder))]);
    }

    /// Writes the `create` trace line; the log says a missing parent.
    pub(crate) fn trace_create(&self, rc: i32) {
        self.trace_claim(rc, false);
    }

    /// A claim's answer; `by_watch`: the master node's watch sent it
    /// (`safe/ahead.rs`), traced with `"sent_by":"watch"`.
    pub(crate) fn trace_claim(&self, rc: i32, by_watch: bool) {
        if rc == 0 || rc == crate::ErrorCode::NodeExists.raw() {
            self.clear_blocking(false);
        }
        let mut fields = vec![("rc", Value::Int(rc.into()))];
        if by_watch {
            fields.push(("sent_by", Value::Str("watch")));
        }
        self.trace.emit("create", &fields);
        self.narration.created(rc);
    }

    /// Writes the `expired` trace line and says it at once (on the
    /// completion thread, before a new session can replace the handle).
    pub(crate) fn trace_expired(&self) {
        self.trace.emit("expired", &[]);
        self.narration.observe(self.look());
    }

    /// The state of the current handle, read without blocking, for the
    /// log's account.
    pub(crate) fn look(&self) -> Look {
        let (zk, expired) = {
            let inner = self.inner.lock();
            (inner.zk.clone(), inner.expired)
        };
        match zk {
            Some(zk) => Look {
                handle: Arc::as_ptr(&zk) as usize,
                state: zk.state().ok(),
                expired,
                session: zk.client_id().map_or(0, |c| c.id),
                timeout: zk.recv_timeout().unwrap_or(0),
            },
            None => Look {
                handle: 0,
                state: None,
                expired,
                session: 0,
                timeout: 0,
            },
        }
    }

    pub(crate) fn trace_init(&self, clientid: i64) {
        let text = format!("{clientid:#x}");
        self.trace.emit("init", &[("clientid", Value::Str(&text))]);
    }

    pub(crate) fn trace_connected(&self, session: i64) {
        let text = format!("{session:#x}");
        self.trace
            .emit("connected", &[("session", Value::Str(&text))]);
    }

    pub(crate) fn trace_error(&self, e: &Error) {
        let rc = e.code().map_or(0, |c| c.raw());
        self.trace.emit(
            "error",
            &[
                ("rc", Value::Int(rc.into())),
                ("message", Value::Str(&e.to_string())),
            ],
        );
    }

    /// The master node as it is now; `is_me` by the profile's rule.
    pub(crate) fn current_master(&self) -> Result<Option<MasterInfo>> {
        let zk = self.zk().ok_or(Error::Closed)?;
        let Some(mut info) =
            read_master(&zk, &self.config.path, self.config.mode == Mode::Sequence)?
        else {
            return Ok(None);
        };
        info.is_me = match self.config.profile {
            // The design's check (F4): compare only as many bytes as our IP
            // text has, so 10.0.0.1 "matches" 10.0.0.12.
            Profile::Seed => {
                let mine = self
                    .config
                    .data
                    .strip_suffix(&[0])
                    .unwrap_or(&self.config.data);
                info.data.len() >= mine.len() && info.data[..mine.len()] == *mine
            }
            // The fix: the session that owns the node.
            Profile::Safe => info.session != 0 && info.session == self.session_id(),
        };
        Ok(Some(info))
    }

    /// Closes every handle (the current one and any the seed abandoned).
    pub(crate) fn close_all(&self) {
        if self.closed.swap(true, Ordering::AcqRel) {
            return;
        }
        let (zk, abandoned) = {
            let mut inner = self.inner.lock();
            (inner.zk.take(), std::mem::take(&mut inner.abandoned))
        };
        self.lost_master(LostReason::Shutdown);
        self.changes.end();
        for h in abandoned.into_iter().chain(zk) {
            let _ = h.close();
        }
        if !self.gave_up.load(Ordering::Acquire) {
            self.trace.emit("exit", &[]);
        }
    }
}

/// Whether a lease ending at `until` (`None`: no lease, as in the seed
/// profile) still holds.
fn lease_holds(until: Option<BootInstant>) -> bool {
    until.is_none_or(|until| BootInstant::now() < until)
}
