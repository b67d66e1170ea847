//! What the safe profile's phases share: how a session's contention ends
//! ([`End`]), waiting for the next event ([`wait`]: a watch, a session
//! change, resign, stop, or a deadline; stepping down when the lease or the
//! F1 bound runs out), and what an error means ([`after_error`]: wait out a
//! disconnection, end a dead session, report and pace a real one, F7).

use crate::clock::BootInstant;
use crate::elector::candidate::LostReason;
use crate::elector::lease::step_down_after;
use crate::elector::mastership::loss_margin;
use crate::elector::shared::ElectionState;
use crate::error::{Error, ErrorCode};
use crate::types::{EventType, WatchedEvent};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How a session's contention ended.
pub(super) enum End {
    /// The session is unusable (expired, auth failed): open a new one (F2).
    SessionDead,
    /// The elector is stopping.
    Stop,
}

/// F7: a real error, told apart from "someone else is master".
pub(super) fn report(shared: &ElectionState, e: &Error) {
    if code(e) == Some(ErrorCode::NoChildrenForEphemerals) {
        // Sequence mode on a path that is a master node of the classic
        // layout (a C++ process, a watch- or poll-mode candidate).
        log::error!(target: "zkha", "election on {}: the path is an ephemeral node, the master node of the classic layout (a C/C++ process of the design, or a zkha candidate in watch or poll mode): sequence mode uses the path as the parent of its queue, and the two layouts cannot share a path; run every candidate in the same layout", shared.config.path);
    }
    log::error!(target: "zkha", "election on {}: {e}", shared.config.path);
    shared.note_error(e);
    shared.trace_error(e);
    shared.candidate.on_error(e);
}

pub(super) fn wake_count(shared: &ElectionState) -> u64 {
    shared.inner.lock().wake
}

/// How often the state of a caller's handle is looked at (its watcher
/// events are the caller's).
const GIVEN_HANDLE_POLL: Duration = Duration::from_millis(50);

/// Waits for a wake (a watch, a session change, resign, stop), `limit`, or
/// the F1 step-down deadline (stepping down when it passes).
pub(super) fn wait(shared: &ElectionState, seen: &mut u64, limit: Option<Instant>) {
    let given = shared.given.lock().clone();
    let Some(zk) = given else {
        return wait_for(shared, seen, limit);
    };
    // On the caller's handle: its session's state is looked at every tick
    // (a change wakes, as a session event would).
    loop {
        super::given::follow_given(shared, &zk);
        let before = (*seen, shared.held().is_some());
        let tick = Instant::now() + GIVEN_HANDLE_POLL;
        wait_for(shared, seen, Some(limit.map_or(tick, |l| l.min(tick))));
        let resign = shared.inner.lock().resign;
        if *seen != before.0
            || shared.stopping()
            || resign
            || shared.held().is_some() != before.1
            || limit.is_some_and(|l| Instant::now() >= l)
        {
            return;
        }
    }
}

fn wait_for(shared: &ElectionState, seen: &mut u64, limit: Option<Instant>) {
    let mut inner = shared.inner.lock();
    loop {
        if inner.wake != *seen || shared.stopping() || inner.resign {
            *seen = inner.wake;
            return;
        }
        let mut deadline = limit;
        // The lease ran out (say the process was paused): stop at once.
        // Given up `loss_margin` before it ends, so that work told of the
        // loss (a guard's `lost()`) still stops inside the lease.
        if let (Some(_), Some(until)) = (inner.master, inner.lease_until) {
            let margin = loss_margin(inner.negotiated_ms);
            let left = until.saturating_duration_since(BootInstant::now());
            if left <= margin {
                drop(inner);
                shared.lost_master(LostReason::LeaseExpired);
                return;
            }
            let at = Instant::now() + (left - margin);
            deadline = Some(deadline.map_or(at, |d| d.min(at)));
        }
        // A paused master keeps mastership through the outage, to the
        // pause's deadline (the lease, extended to it, ends it then).
        let paused = inner.pause_until.is_some_and(|p| BootInstant::now() < p);
        if inner.master.is_some() && !inner.connected && !paused {
            if let Some(at) = inner.disconnected_at {
                let step_down = at + step_down_after(inner.negotiated_ms);
                if Instant::now() >= step_down {
                    drop(inner);
                    shared.lost_master(LostReason::Disconnected);
                    return;
                }
                deadline = Some(deadline.map_or(step_down, |d| d.min(step_down)));
            }
        }
        match deadline {
            Some(d) => {
                if shared.changed.wait_until(&mut inner, d).timed_out()
                    && limit.is_some_and(|l| Instant::now() >= l)
                {
                    return;
                }
            }
            None => shared.changed.wait(&mut inner),
        }
    }
}

/// A watch that only wakes the election (on the completion thread).
pub(super) fn waker(
    shared: &Arc<ElectionState>,
    fired: Option<Arc<AtomicBool>>,
) -> impl FnMut(WatchedEvent) + Send + 'static {
    let weak = Arc::downgrade(shared);
    move |e: WatchedEvent| {
        if e.event_type != EventType::Session {
            if let Some(f) = &fired {
                f.store(true, Ordering::Release);
            }
        }
        if let Some(s) = weak.upgrade() {
            if e.event_type != EventType::Session {
                s.notifications.fetch_add(1, Ordering::Relaxed);
            }
            s.wake();
        }
    }
}

pub(super) fn code(e: &Error) -> Option<ErrorCode> {
    e.code()
}

pub(super) fn is_session_dead(e: &Error) -> bool {
    matches!(e, Error::Closed)
        || matches!(
            code(e),
            Some(
                ErrorCode::SessionExpired
                    | ErrorCode::InvalidState
                    | ErrorCode::AuthFailed
                    | ErrorCode::Closing
            )
        )
}

pub(super) fn is_transient(e: &Error) -> bool {
    matches!(
        code(e),
        Some(ErrorCode::ConnectionLoss | ErrorCode::OperationTimeout | ErrorCode::SessionMoved)
    )
}

/// Waits until connected; otherwise says how this session's contention ends.
pub(super) fn until_connected(shared: &ElectionState, seen: &mut u64) -> Result<(), End> {
    let since = Instant::now();
    let bound = shared.config.unreachable_after;
    loop {
        {
            let inner = shared.inner.lock();
            if shared.stopping() {
                return Err(End::Stop);
            }
            if inner.expired {
                return Err(End::SessionDead);
            }
            if inner.connected {
                drop(inner);
                shared.clear_blocking(true);
                return Ok(());
            }
        }
        // Waiting callers are told when the ensemble stays unreachable.
        let limit = (!bound.is_zero()).then(|| since + bound);
        if limit.is_some_and(|l| Instant::now() >= l) {
            shared.note_unreachable(since.elapsed());
            wait(shared, seen, None);
        } else {
            wait(shared, seen, limit);
        }
    }
}

/// What to do after an operation failed.
pub(super) enum Next {
    Retry,
    End(End),
}

/// Common handling of a failed call: wait out disconnections, end dead
/// sessions, report and pace real errors.
pub(super) fn after_error(shared: &ElectionState, seen: &mut u64, e: &Error) -> Next {
    if shared.stopping() {
        return Next::End(End::Stop);
    }
    if is_session_dead(e) {
        return Next::End(End::SessionDead);
    }
    if is_transient(e) {
        if let Err(end) = until_connected(shared, seen) {
            return Next::End(end);
        }
        return Next::Retry;
    }
    report(shared, e);
    wait(
        shared,
        seen,
        Some(Instant::now() + shared.config.poll_interval),
    );
    Next::Retry
}
