//! The safe profile holding mastership of our node: the lease renewed
//! through the leader (`sync` then `exists`, every `T/5`: see `lease.rs`
//! for why that proves anything), the node's watch re-armed whenever it
//! fires, and mastership given up when the node is lost, the session dies,
//! we are cut off too long (F1), resign or stop. Also the leader-proved
//! reads the contention uses to win a node ([`synced_exists`]).

use super::pause::PauseFollower;
use super::wait::{
    after_error, code, is_session_dead, is_transient, report, wait, wake_count, waker, End, Next,
};
use crate::clock::BootInstant;
use crate::elector::candidate::{FencingToken, LostReason};
use crate::elector::lease::renew_every;
use crate::elector::shared::ElectionState;

use crate::error::{Error, ErrorCode, Result};
use crate::types::{EventType, Stat, WatchedEvent};
use crate::{Op, ZooKeeper};
use parking_lot::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How holding mastership ended.
pub(super) enum Held {
    /// Not master (any more); contend again.
    Lost,
    /// Resigned: the node was deleted.
    Resigned,
    /// The session or the elector ended.
    End(End),
}

/// Master on `node` (ours): work goes on until the node is lost, the
/// session dies, we are cut off too long (F1), resign or stop.
/// `sent`: when the request whose answer proved the node ours was sent.
pub(super) fn hold(
    shared: &Arc<ElectionState>,
    zk: &Arc<ZooKeeper>,
    node: &str,
    token: FencingToken,
    sent: BootInstant,
) -> Held {
    shared.inner.lock().holding = true;
    let held = hold_inner(shared, zk, node, token, sent);
    // A resign request is about this mastership only.
    {
        let mut inner = shared.inner.lock();
        inner.resign = false;
        inner.holding = false;
    }
    held
}

fn hold_inner(
    shared: &Arc<ElectionState>,
    zk: &Arc<ZooKeeper>,
    node: &str,
    token: FencingToken,
    sent: BootInstant,
) -> Held {
    // The lease runs from when the proof was asked for, not when it came: an
    // answer that waited out a pause of this process proves nothing now.
    shared.renew_lease(sent);
    if !shared.lease_valid() {
        shared.clear_lease();
        return Held::Lost;
    }
    // Asked to stop meanwhile: do not start a mastership (the node goes
    // with the session at shutdown).
    if shared.stopping() {
        // No work was started: the node goes at once (see `after_wait`).
        let mut seen = wake_count(shared);
        let _ = release(shared, zk, node, shared.session_id(), None, &mut seen);
        return Held::End(End::Stop);
    }
    let term_version = shared.inner.lock().term_version;
    shared.became_master(token);
    let mut holding = Holding::new(shared, zk, node, token);
    holding.term_version = term_version;
    loop {
        if holding.deleted.swap(false, Ordering::AcqRel) {
            // Deleted: whoever did it, the node is no longer ours.
            shared.lost_master(LostReason::NodeLost);
            return Held::Lost;
        }
        holding.rearm();
        holding.follow_control();
        if let Some(held) = holding.take_answer() {
            return held;
        }
        wait(shared, &mut holding.seen, Some(holding.next_renew));
        if let Some(held) = holding.after_wait() {
            return held;
        }
    }
}

/// A synced read's answer: when its sync was sent, and the exists answer
/// (or the sync's error).
type Answer = (BootInstant, Result<Option<Stat>>);

/// The control node's data and Stat, as the completion thread read it.
type ControlRead = Result<(Vec<u8>, Stat)>;

/// One mastership in progress: the node, the watch on it, the renewals.
struct Holding<'a> {
    shared: &'a Arc<ElectionState>,
    zk: &'a Arc<ZooKeeper>,
    node: &'a str,
    token: FencingToken,
    /// Our session (the node's owner while it is ours).
    sid: i64,
    renew_every: Duration,
    next_renew: Instant,
    /// The node's watch fired (or must be set): re-arm it.
    fired: Arc<AtomicBool>,
    /// The node's watch said it was deleted: mastership ends at once, with
    /// no read to confirm it (a standby's claim goes with its own watch on
    /// the same deletion, `ahead.rs`).
    deleted: Arc<AtomicBool>,
    seen: u64,
    /// The re-arm's answer, left here by the completion thread.
    answer: Arc<Mutex<Option<Answer>>>,
    rearming: bool,
    /// The control node (`registry.rs`): its watch fired (or must be set),
    /// its data as last read (by the completion thread), and the version
    /// of the operation already acted on.
    control_fired: Arc<AtomicBool>,
    control: Arc<Mutex<Option<ControlRead>>>,
    control_acted: Option<i32>,
    /// A maintenance pause this master acknowledges (`pause.rs`).
    pause: PauseFollower,
    /// The term node's version this mastership's claim set.
    term_version: Option<i32>,
}

impl<'a> Holding<'a> {
    fn new(
        shared: &'a Arc<ElectionState>,
        zk: &'a Arc<ZooKeeper>,
        node: &'a str,
        token: FencingToken,
    ) -> Holding<'a> {
        let renew_every = renew_every(shared.inner.lock().negotiated_ms);
        Holding {
            shared,
            zk,
            node,
            token,
            sid: shared.session_id(),
            renew_every,
            next_renew: Instant::now() + renew_every,
            fired: Arc::new(AtomicBool::new(true)),
            deleted: Arc::new(AtomicBool::new(false)),
            seen: wake_count(shared),
            answer: Arc::default(),
            rearming: false,
            control_fired: Arc::new(AtomicBool::new(shared.steering.enabled)),
            control: Arc::default(),
            control_acted: None,
            pause: PauseFollower::default(),
            term_version: None,
        }
    }

    /// Watches the control node and acts on an operation that asks this
    /// master to hand over (a switchover to another, a resign of this
    /// token): the candidate is told, and unless it takes the resign on
    /// itself (`zkha run` stops its command first, while still master) the
    /// election resigns. Never blocks: both calls are asynchronous.
    fn follow_control(&mut self) {
        if self.control_fired.swap(false, Ordering::AcqRel) {
            let path = crate::elector::registry::control_path(&self.shared.config.path);
            let watch = waker(self.shared, Some(self.control_fired.clone()));
            let slot = self.control.clone();
            let weak = Arc::downgrade(self.shared);
            let asked = self
                .zk
                .awexists_watching(&path, watch, |_| {})
                .and_then(|()| {
                    self.zk.aget(&path, move |r| {
                        *slot.lock() = Some(r);
                        if let Some(s) = weak.upgrade() {
                            s.wake();
                        }
                    })
                });
            if asked.is_err() {
                // Asked again after the next wake.
                self.control_fired.store(true, Ordering::Release);
            }
        }
        if self.pause.poll(self.shared, self.zk) {
            self.control_fired.store(true, Ordering::Release);
        }
        let Some(answer) = self.control.lock().take() else {
            return;
        };
        let (data, stat) = match answer {
            Ok(read) => read,
            Err(e) => {
                if code(&e) != Some(ErrorCode::NoNode) {
                    self.control_fired.store(true, Ordering::Release);
                }
                return;
            }
        };
        let op = crate::elector::registry::ControlOp::decode(&data);
        if self
            .pause
            .on_control(self.shared, self.zk, &op, &stat, self.token.czxid)
        {
            self.control_fired.store(true, Ordering::Release);
        }
        if self.control_acted == Some(stat.version) {
            return;
        }
        let me = self.shared.steering.name.lock().clone().unwrap_or_default();
        let Some(why) = super::steer::asked_to_hand_over(&op, &me, self.token.czxid) else {
            return;
        };
        self.control_acted = Some(stat.version);
        let shared = self.shared;
        log::info!(target: "zkha", "{} on {}: asked to hand over: {why}", shared.config.path, shared.config.hosts);
        if shared.candidate.on_handover_requested(&why) {
            shared.request_resign();
        }
    }

    /// (Re-)arms the watch on our node when the last one fired, and checks
    /// the node is still ours, through the leader. Asked without blocking:
    /// a link that goes silent meanwhile must still end the mastership when
    /// the lease ends (`wait`), not when the C client gives the request up
    /// (2T/3 later, or never).
    fn rearm(&mut self) {
        if self.rearming || !self.fired.swap(false, Ordering::AcqRel) {
            return;
        }
        self.seen = wake_count(self.shared);
        let slot = self.answer.clone();
        let weak = Arc::downgrade(self.shared);
        let mut wake = waker(self.shared, Some(self.fired.clone()));
        let deleted = self.deleted.clone();
        let watch = move |e: WatchedEvent| {
            if e.event_type == EventType::Deleted {
                deleted.store(true, Ordering::Release);
            }
            wake(e);
        };
        let asked = synced_exists_async(self.zk, self.node, Some(watch), move |sent, r| {
            *slot.lock() = Some((sent, r));
            if let Some(s) = weak.upgrade() {
                s.wake();
            }
        });
        match asked {
            Ok(()) => self.rearming = true,
            Err(e) => *self.answer.lock() = Some((BootInstant::now(), Err(e))),
        }
    }

    /// Acts on the re-arm's answer, if it came: the lease renewed (and
    /// mastership taken up again after a step-down), or its end.
    fn take_answer(&mut self) -> Option<Held> {
        let (sent, answered) = self.answer.lock().take()?;
        self.rearming = false;
        let shared = self.shared;
        match answered {
            Ok(Some(stat)) if stat.ephemeral_owner == self.sid => {
                shared.renew_lease(sent);
                if shared.held().is_none() && !shared.lease_valid() {
                    // A stale answer (we were paused): ask again later.
                    shared.clear_lease();
                } else if shared.held().is_none() {
                    // Reconnected in time after stepping down: the node
                    // never left us, so no one else can have won (the
                    // same term, for fenced writes).
                    shared.inner.lock().term_version = self.term_version;
                    shared.became_master(self.token);
                }
            }
            Ok(_) => {
                shared.lost_master(LostReason::NodeLost);
                return Some(Held::Lost);
            }
            Err(e) => {
                self.fired.store(true, Ordering::Release);
                if is_session_dead(&e) {
                    return Some(Held::End(End::SessionDead));
                }
                if !is_transient(&e) {
                    report(shared, &e);
                }
            }
        }
        None
    }

    /// A planned end (resign, stop): the loss is told (hooks, guards), and
    /// the node is released only once every guard of the term is dropped,
    /// or when the lease would have ended.
    fn lose_and_wait_for_guards(&self, reason: LostReason) {
        let shared = self.shared;
        let (term, lease) = (shared.term(), shared.lease_until());
        shared.lost_master_planned(reason);
        if let Some(term) = term {
            let bound = shared.config.session_timeout / 2;
            crate::elector::mastership::wait_for_guards(shared, &term, lease, bound);
        }
    }

    /// Lets the node go (a planned end). When the node is known unchanged
    /// since a leader-proved read showed it ours (its watch armed by that
    /// read has not fired, no re-arm in flight) and this term's claim set
    /// the term node, the delete goes at once, in one `multi` with a check
    /// of the term node's version; otherwise [`release`] reads it first.
    fn release(&mut self) -> Result<(), End> {
        let unchanged = !self.rearming && !self.fired.load(Ordering::Acquire);
        let known = self.term_version.filter(|_| unchanged);
        release(
            self.shared,
            self.zk,
            self.node,
            self.sid,
            known,
            &mut self.seen,
        )
    }

    /// A shutdown's release. On a session of our own the close follows
    /// (`mod.rs`) and deletes the node too; the release goes first all the
    /// same, to cover a close that never reaches the server. When it can
    /// go at once it is only sent, with a read of the node behind it, and
    /// the close waits for the successor ([`let_the_successor_claim`]).
    /// On the caller's handle (no close follows), or when the node must be
    /// read first, [`Holding::release`] as for a resign.
    fn release_before_close(&mut self) {
        let unchanged = !self.rearming && !self.fired.load(Ordering::Acquire);
        let known = self.term_version.filter(|_| unchanged);
        let own_session = self.shared.given.lock().is_none();
        if let (Some(version), true) = (known, own_session) {
            let path = self.shared.config.path.clone();
            let sent = self.zk.amulti(&release_ops(self.shared, self.node, version), move |r| {
                match r {
                    Ok(_) => log::debug!(target: "zkha", "{path}: released at once (term version {version}), before the close"),
                    Err(e) => log::debug!(target: "zkha", "{path}: the release before the close failed ({e}): the close takes the node"),
                }
            });
            if sent.is_ok() {
                let_the_successor_claim(self.zk, &self.shared.config.path);
                return;
            }
        }
        let _ = self.release();
    }

    /// After a wait: stop, renew when due, and act on an expiry, a resign
    /// or a reconnection.
    fn after_wait(&mut self) -> Option<Held> {
        let shared = self.shared;
        if shared.stopping() {
            // Stop working first, then let the node go. The session's close
            // takes it too, but a close request that never reaches the
            // server (about one shutdown in a hundred right after a win,
            // `registry::fault_a_master_shut_down_…`) leaves it to the
            // session's expiry: the next master would wait T for nothing.
            self.lose_and_wait_for_guards(LostReason::Shutdown);
            self.release_before_close();
            return Some(Held::End(End::Stop));
        }
        if Instant::now() >= self.next_renew {
            self.next_renew = Instant::now() + self.renew_every;
            renew(shared, self.zk, self.node, self.sid);
        }
        let (resign, expired, connected) = {
            let mut inner = shared.inner.lock();
            (
                std::mem::take(&mut inner.resign),
                inner.expired,
                inner.connected,
            )
        };
        if expired {
            return Some(Held::End(End::SessionDead));
        }
        if resign {
            // Stop working first (the hooks return, the guards are
            // dropped), then let the node go at once.
            self.lose_and_wait_for_guards(LostReason::Resigned);
            return Some(match self.release() {
                Ok(()) => {
                    // The entry's yielding is published after the
                    // successor's claim, not in its way.
                    let_the_successor_claim(self.zk, &shared.config.path);
                    Held::Resigned
                }
                Err(end) => Held::End(end),
            });
        }
        if connected && shared.held().is_none() {
            // Back after a step-down: check the node again.
            self.fired.store(true, Ordering::Release);
        }
        None
    }
}

/// The session died while this master holds a pause: mastership (the
/// command) goes on until the pause's deadline, which the lease was
/// extended to (`wait` ends it then), or until the elector stops. No
/// candidate takes over before its own count of the pause ends, later.
pub(super) fn ride_out_pause(shared: &ElectionState) {
    let Some(until) = shared.paused_until() else {
        return;
    };
    if shared.held().is_none() {
        return;
    }
    log::warn!(target: "zkha", "{} on {}: the session ended during a pause: still master until the pause's deadline ({} ms from now)", shared.config.path, shared.config.hosts, until.saturating_duration_since(BootInstant::now()).as_millis());
    let mut seen = wake_count(shared);
    while shared.held().is_some() && !shared.stopping() {
        wait(shared, &mut seen, None);
    }
}

/// Resigning: deletes our node, through disconnections, so that the resign
/// holds (after a reconnection the node must not be found ours again).
/// Only our own node is deleted: its owner is checked and its version given.
///
/// `known`: the term node's version this term's claim set, given when the
/// node is known unchanged since a read showed it ours (its watch has not
/// fired). Then the first attempt sends the delete at once, in a `multi`
/// that checks the term node still has that version: no claim of a safe
/// candidate came since ours (each sets the term node in the multi that
/// creates the master node), and the node cannot have been replaced by
/// anyone else without first being deleted, which would have fired our
/// watch. One write, where the read-then-delete takes a read and a write:
/// the next master's watch fires that much sooner. Any failure of it
/// falls back to the read-then-delete.
fn release(
    shared: &ElectionState,
    zk: &ZooKeeper,
    node: &str,
    sid: i64,
    known: Option<i32>,
    seen: &mut u64,
) -> Result<(), End> {
    if let Some(version) = known {
        match zk.multi(&release_ops(shared, node, version)) {
            Ok(_) => {
                log::debug!(target: "zkha", "{}: released at once (term version {version})", shared.config.path);
                return Ok(());
            }
            // The term moved on, or the node is gone: look, as below.
            Err(Error::Multi { .. }) => {}
            Err(e) => {
                if let Next::End(end) = after_error(shared, seen, &e) {
                    return Err(end);
                }
            }
        }
    }
    log::debug!(target: "zkha", "{}: releasing: reading the node first", shared.config.path);
    loop {
        let deleted = zk.exists(node, false).and_then(|stat| match stat {
            Some(stat) if stat.ephemeral_owner == sid => zk.delete(node, stat.version),
            _ => Ok(()),
        });
        match deleted {
            Ok(()) => return Ok(()),
            // Changed or gone in between: look again.
            Err(e) if matches!(code(&e), Some(ErrorCode::NoNode | ErrorCode::BadVersion)) => {}
            Err(e) => {
                if let Next::End(end) = after_error(shared, seen, &e) {
                    return Err(end);
                }
            }
        }
    }
}

/// How long a stopping master holds its session's close back for its
/// successor's claim ([`let_the_successor_claim`]).
pub(super) const SUCCESSOR_CLAIM_WAIT: Duration = Duration::from_millis(50);

/// Right after the release, before the next write of this session (a
/// stop's close, a resign's registry entry saying it yields): the
/// ensemble commits writes one batch after another, so a write that
/// reaches it between the release and the successor's claim makes the
/// claim wait for one more commit. This reads the node, behind the
/// release, with a watch, and waits until the node is there again (the
/// successor's claim committed) or [`SUCCESSOR_CLAIM_WAIT`] passes (no
/// successor, a slow one): only the old master waits, never the
/// successor, and its work has stopped. Any event (a session one too) or
/// failure ends the wait.
fn let_the_successor_claim(zk: &ZooKeeper, path: &str) {
    let made: Arc<(Mutex<bool>, parking_lot::Condvar)> = Arc::default();
    let (by_watch, by_read) = (made.clone(), made.clone());
    let end = |m: &(Mutex<bool>, parking_lot::Condvar)| {
        *m.0.lock() = true;
        m.1.notify_all();
    };
    let asked = zk.awexists_watching(
        path,
        move |_: WatchedEvent| end(&by_watch),
        move |r: Result<Option<Stat>>| {
            if !matches!(r, Ok(None)) {
                end(&by_read);
            }
        },
    );
    if asked.is_err() {
        return;
    }
    let until = Instant::now() + SUCCESSOR_CLAIM_WAIT;
    let mut done = made.0.lock();
    while !*done {
        if made.1.wait_until(&mut done, until).timed_out() {
            log::debug!(target: "zkha", "{path}: no successor's claim within {} ms: closing", SUCCESSOR_CLAIM_WAIT.as_millis());
            return;
        }
    }
}

/// The release at once: the term node still at this term's `version` (no
/// safe claim came since ours), then the delete of our node.
fn release_ops(shared: &ElectionState, node: &str, version: i32) -> [Op; 2] {
    [
        Op::Check {
            path: crate::elector::registry::term_path(&shared.config.path),
            version,
        },
        Op::Delete {
            path: node.to_owned(),
            version: -1,
        },
    ]
}

/// `sync(path)` then `exists(path)`: an answer the leader stands behind (see
/// lease.rs), with the time the sync was sent.
pub(super) fn synced_exists(zk: &ZooKeeper, path: &str) -> Answer {
    let sent = BootInstant::now();
    (sent, zk.sync(path).and_then(|()| zk.exists(path, false)))
}

/// One renewal (see lease.rs): `sync` then `exists` on our node, pipelined;
/// the exists answer counts only after a successful sync, and extends the
/// lease from the time the sync was sent.
fn renew(shared: &Arc<ElectionState>, zk: &ZooKeeper, node: &str, sid: i64) {
    if shared.held().is_none() {
        return;
    }
    let weak = Arc::downgrade(shared);
    let no_watch: Option<fn(WatchedEvent)> = None;
    let _ = synced_exists_async(zk, node, no_watch, move |sent, r| {
        if let (Ok(Some(stat)), Some(s)) = (r, weak.upgrade()) {
            if stat.ephemeral_owner == sid {
                s.renew_lease(sent);
            }
        }
    });
}

/// `sync` then `exists` on `node`, pipelined, never blocking the caller:
/// `done` gets, on the completion thread, when the sync was sent and the
/// exists answer, which counts only after a successful sync (see
/// lease.rs). With `watch`, the exists also sets it. An error returned
/// here means `done` is never called.
fn synced_exists_async(
    zk: &ZooKeeper,
    node: &str,
    watch: Option<impl FnMut(WatchedEvent) + Send + 'static>,
    done: impl FnOnce(BootInstant, Result<Option<Stat>>) + Send + 'static,
) -> Result<()> {
    let sent = BootInstant::now();
    let synced: Arc<Mutex<Option<Result<()>>>> = Arc::default();
    let sync_done = synced.clone();
    zk.async_sync(node, move |r| *sync_done.lock() = Some(r.map(|_| ())))?;
    // Completions come in request order: the sync's has run before this one.
    let exists_done = move |r: Result<Option<Stat>>| {
        let sync = synced
            .lock()
            .take()
            .unwrap_or(Err(Error::Zk(ErrorCode::SystemError)));
        done(sent, sync.and(r));
    };
    match watch {
        Some(watch) => zk.awexists_watching(node, watch, exists_done),
        None => zk.aexists(node, exists_done),
    }
}
