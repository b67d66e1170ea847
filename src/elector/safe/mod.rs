//! The safe profile: the seed's node (same path, same bytes, ephemeral), with
//! the design's flaws fixed. One election thread per elector; session events
//! and watches only wake it, so the C completion thread never blocks.
//!
//! The election thread goes through three phases, one file each:
//!
//! - [`session`]: a session is opened (a saved one resumed at start, fresh
//!   ones after, F2), connected, saved and authenticated;
//! - [`contend`]: on that session, contend for the node (watch and poll
//!   modes: one node; sequence mode: a queue of nodes);
//! - [`hold`]: master on our node, under the lease (`lease.rs`), until it
//!   is lost, resigned, or the session ends.
//!
//! [`steer`] is the registry's part: registering on each session, the
//! gate before a claim (readiness, priority, a switchover), the claim's
//! multi, and what asks a master to hand over. [`pause`] is a master's
//! side of a maintenance pause: it acknowledges one and then holds
//! mastership through an outage until the pause's deadline.
//!
//! [`ahead`] is a standby's claim sent by its watch on the master node as
//! the node goes, when the gate would say go without a read; the election
//! thread takes its answer over.
//!
//! [`wait`] is what all three share: waiting for the next event (stepping
//! down on the way when the lease or the F1 bound runs out) and what an
//! error means. The files depend one way: `mod.rs` → `session.rs` and
//! `contend.rs`, `contend.rs` → `hold.rs`, and each of them → `wait.rs`,
//! which uses none of them; `hold.rs` → `pause.rs` → `wait.rs`; `wait.rs` and
//! `session.rs` → `given.rs` (the caller's handle, looked at), a leaf;
//! `contend.rs` and `steer.rs` → `ahead.rs` → `wait.rs`.

mod ahead;
mod contend;
mod given;
mod hold;
pub(crate) mod mixed;
mod pause;
mod session;
mod steer;
mod wait;

use super::candidate::LostReason;
use super::shared::ElectionState;
use std::sync::Arc;
use wait::End;

/// The election thread on the caller's handle (`Elector::start_with_handle`):
/// one session, never closed here; when it expires the candidacy ends (the
/// caller owns the handle and re-initialises).
fn run_on_given(shared: &Arc<ElectionState>, zk: Arc<crate::ZooKeeper>) {
    session::adopt(shared, &zk);
    let end = match session::establish(shared, &zk) {
        Ok(()) => contend::contend(shared, &zk),
        Err(end) => end,
    };
    if let End::SessionDead = end {
        hold::ride_out_pause(shared);
        shared.lost_master(LostReason::SessionExpired);
        *shared.steering.fatal.lock() = Some(
            "the caller's session expired (or failed authentication): the elector on it has \
             stopped; make a new handle and a new elector"
                .into(),
        );
        shared.note_error(&crate::Error::Zk(crate::ErrorCode::SessionExpired));
    }
    shared.lost_master(LostReason::Shutdown);
    // The session lives on: our registry entry goes now, not with it (only
    // ours: the node's owner is checked).
    let name = shared.steering.name.lock().clone();
    if let Some(name) = name {
        let node = format!(
            "{}/{name}",
            crate::elector::registry::candidates_path(&shared.config.path)
        );
        let ours = zk
            .exists(&node, false)
            .ok()
            .flatten()
            .filter(|s| s.ephemeral_owner == shared.session_id());
        if let Some(stat) = ours {
            let _ = zk.delete(&node, stat.version);
        }
    }
    shared.steering.unregistered();
    shared.steering.drain(std::time::Duration::from_secs(1));
    shared.inner.lock().zk = None;
    shared.request_stop();
}

/// The election thread: session after session until the elector stops.
pub(crate) fn run(shared: Arc<ElectionState>) {
    let given = shared.given.lock().clone();
    if let Some(zk) = given {
        return run_on_given(&shared, zk);
    }
    // A saved session is tried once, at start; after that, fresh ones (F2).
    let mut resume = shared
        .config
        .session_file
        .as_deref()
        .and_then(session::saved);
    while !shared.stopping() {
        let zk = match session::open(&shared, resume.take()) {
            Ok(zk) => zk,
            Err(e) => {
                wait::report(&shared, &e);
                shared.sleep(shared.config.poll_interval);
                continue;
            }
        };
        let end = match session::establish(&shared, &zk) {
            Ok(()) => contend::contend(&shared, &zk),
            Err(end) => end,
        };
        if let End::SessionDead = end {
            // A paused master keeps mastership to the pause's deadline:
            // no candidate takes over before then.
            hold::ride_out_pause(&shared);
            shared.lost_master(LostReason::SessionExpired);
        }
        // F2: a dead (or finished) handle is closed, never reused. Stop
        // working before the node can go.
        shared.lost_master(LostReason::Shutdown);
        {
            let mut inner = shared.inner.lock();
            if inner.zk.as_ref().is_some_and(|z| Arc::ptr_eq(z, &zk)) {
                inner.zk = None;
            }
        }
        // A registry write still in flight first (see `Steering::drain`).
        shared.steering.drain(
            shared
                .config
                .session_timeout
                .min(std::time::Duration::from_secs(1)),
        );
        let _ = zk.close();
    }
}

/// The safe run loop (S4 without the election): work while master.
///
/// Only the election thread changes mastership; this loop merely refuses to
/// work on a lease that ran out (after a pause, say) and wakes the election
/// so that it steps down.
pub(crate) fn work_loop(shared: &ElectionState) {
    loop {
        if shared.sleep(shared.config.poll_interval) {
            return;
        }
        match shared.token() {
            Some(token) => {
                shared.trace_work();
                shared.candidate.do_work(token);
            }
            None if shared.held().is_some() => shared.wake(),
            None => {}
        }
    }
}
