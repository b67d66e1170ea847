//! The claim sent ahead: a standby that waits for another's master node to
//! go, and whose gate would then say go without reading anything, has the
//! node's watch send its claim, on the C client's completion thread, as
//! the raw C standby creates from its watcher. The election thread, woken
//! by the same watch, takes the claim's answer over as if it had sent the
//! claim itself (`contend.rs`).
//!
//! Why: the election thread's wake-up and the gate's look no longer sit
//! between the node's deletion and the claim; they happen while the claim
//! is on the wire. It is the same claim (`steer.rs` `claim_ops`: the
//! create, the control node's reset at the version the gate read, the
//! term), so ZooKeeper decides it as before; only who sends it changes.
//! What the gate would have checked is checked again when the watch fires
//! (still ready, not stopping or resigning, the control node's copy
//! unchanged, no registry watch fired, a switchover to us still in force):
//! any doubt, and the watch only wakes the election thread, as before.
//!
//! Never blocks the completion thread: the checks read atomics and
//! short-held locks, and the claim is an asynchronous call.

use super::wait::waker;
use crate::client::Pending;
use crate::clock::BootInstant;
use crate::elector::shared::ElectionState;
use crate::types::{EventType, WatchedEvent};
use crate::{Op, OpResult, ZooKeeper};
use parking_lot::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};

/// A check asked again on the completion thread when the node goes.
pub(super) type StillGo = Box<dyn Fn() -> bool + Send>;

/// One standby's claim ahead: armed while its election thread waits on
/// the master node's watch, sent by that watch, taken back by the thread.
#[derive(Default)]
pub(super) struct ClaimAhead {
    state: Mutex<State>,
    /// An armed claim was dropped for news of the control node, and the
    /// election thread woken to ready it again ([`control_news`](Self::control_news)).
    news_woke: AtomicBool,
}

#[derive(Default)]
enum State {
    #[default]
    Idle,
    Armed(Armed),
    Sent(Sent),
}

/// A claim ready to go: its operations, and what must still hold.
pub(super) struct Armed {
    pub(super) ops: Vec<Op>,
    pub(super) still_go: StillGo,
    pub(super) zk: Weak<ZooKeeper>,
    /// The election, to wake on news of the control node.
    pub(super) shared: Weak<ElectionState>,
}

/// A claim sent: when (the lease runs from then), its answer, and whether
/// the master node's watch sent it.
pub(super) struct Sent {
    pub(super) sent: BootInstant,
    pub(super) answer: Pending<Vec<OpResult>>,
    pub(super) by_watch: bool,
}

impl ClaimAhead {
    /// Ready for the watch (the election thread, about to wait).
    pub(super) fn arm(&self, armed: Armed) {
        let mut state = self.state.lock();
        if matches!(*state, State::Idle) {
            *state = State::Armed(armed);
        }
    }

    /// The wait is over: a claim not sent is not sent later (a claim sent
    /// stays, for [`take_sent`](Self::take_sent)).
    pub(super) fn disarm(&self) {
        let mut state = self.state.lock();
        if matches!(*state, State::Armed(_)) {
            *state = State::Idle;
        }
    }

    /// The claim the watch sent, if it did.
    pub(super) fn take_sent(&self) -> Option<Sent> {
        let mut state = self.state.lock();
        match std::mem::take(&mut *state) {
            State::Sent(sent) => Some(sent),
            other => {
                *state = other;
                None
            }
        }
    }

    /// On the completion thread, a new copy of the control node read (a
    /// switchover, say): an armed claim, made for the old copy, is dropped,
    /// and the election thread woken to ready one for the new copy (the
    /// switchover's target gets its claim ahead too).
    pub(super) fn control_news(&self) {
        let armed = {
            let mut state = self.state.lock();
            match std::mem::take(&mut *state) {
                State::Armed(armed) => armed,
                other => {
                    *state = other;
                    return;
                }
            }
        };
        self.news_woke.store(true, Ordering::Release);
        if let Some(s) = armed.shared.upgrade() {
            s.wake();
        }
    }

    /// Whether [`control_news`](Self::control_news) woke the election
    /// thread since the last call.
    pub(super) fn woken_by_news(&self) -> bool {
        self.news_woke.swap(false, Ordering::AcqRel)
    }

    /// On the completion thread, the master node gone: sends the armed
    /// claim if everything the gate checked still holds.
    fn fire(&self, shared: &ElectionState) {
        let mut state = self.state.lock();
        let State::Armed(armed) = std::mem::take(&mut *state) else {
            return;
        };
        let go = !shared.stopping()
            && !shared.inner.lock().resign
            && shared.steering.ready()
            && (armed.still_go)();
        let Some(zk) = armed.zk.upgrade().filter(|_| go) else {
            return;
        };
        let sent = BootInstant::now();
        let (done, answer) = crate::client::pending::<Vec<OpResult>>();
        if zk.amulti(&armed.ops, done).is_ok() {
            *state = State::Sent(Sent {
                sent,
                answer,
                by_watch: true,
            });
        }
    }
}

/// The master node's watch of a standby that may claim ahead: raises
/// `fired` and wakes the election thread (as [`waker`]), sending the armed
/// claim first when the node was deleted.
pub(super) fn watcher(
    shared: &Arc<ElectionState>,
    fired: Arc<AtomicBool>,
    ahead: Arc<ClaimAhead>,
) -> impl FnMut(WatchedEvent) + Send + 'static {
    let weak = Arc::downgrade(shared);
    let mut wake = waker(shared, Some(fired));
    move |e: WatchedEvent| {
        if e.event_type == EventType::Deleted {
            if let Some(s) = weak.upgrade() {
                ahead.fire(&s);
            }
        }
        wake(e);
    }
}
