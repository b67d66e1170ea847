//! The safe profile's sessions: each opened fresh (F2: a dead handle is
//! closed, never reused), except a saved one resumed once at start; then
//! connected, its id and negotiated timeout read, saved, and authenticated
//! before the election uses it. The global watcher lives here: it records
//! the session's state and wakes the election, never blocking the C
//! completion thread.

use super::wait::{report, until_connected, wake_count, End};
use crate::elector::shared::ElectionState;
use crate::error::{Error, ErrorCode, Result};
use crate::types::{ClientId, EventType, State, WatchedEvent};
use crate::ZooKeeper;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Weak};
use std::time::Instant;

/// The client id saved in `file`, if any and well-formed.
pub(super) fn saved(file: &std::path::Path) -> Option<ClientId> {
    let text = std::fs::read_to_string(file).ok()?;
    match text.trim().parse() {
        Ok(id) => Some(id),
        Err(e) => {
            log::warn!(target: "zkha", "ignoring session file {}: {e}", file.display());
            None
        }
    }
}

/// Saves the session's client id (a secret: owner-only permissions).
fn save_session(file: &std::path::Path, id: ClientId) {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = file.with_extension("tmp");
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)
        .and_then(|mut f| writeln!(f, "{id}"))
        .and_then(|_| std::fs::rename(&tmp, file));
    if let Err(e) = written {
        log::warn!(target: "zkha", "cannot save the session to {}: {e}", file.display());
    }
}

/// Opens a session (resuming `resume`, if given) and publishes its handle.
pub(super) fn open(
    shared: &Arc<ElectionState>,
    resume: Option<ClientId>,
) -> Result<Arc<ZooKeeper>> {
    shared.trace_init(resume.map_or(0, |id| id.id));
    let weak = Arc::downgrade(shared);
    let mut builder = ZooKeeper::elector_builder(&shared.config)
        .session_timeout(shared.config.session_timeout)
        .watcher(move |e| on_session_event(&weak, e))
        .log_to_rust(shared.config.log_to_rust);
    if let Some(id) = resume {
        builder = builder.client_id(id);
    }
    let zk = Arc::new(builder.init()?);
    test_hook_publish_delay(shared);
    let mut inner = shared.inner.lock();
    inner.zk = Some(zk.clone());
    // The session's events may already have arrived (CONNECTED can come
    // before this point): keep what they said; the election thread reads
    // the session id and timeout from the handle itself (`refresh`).
    if !inner.connected {
        inner.expired = false;
        inner.disconnected_at = None;
    }
    Ok(zk)
}

/// On the caller's handle: publishes it as the election's session (it is
/// never closed by the elector) and reads its state.
pub(super) fn adopt(shared: &Arc<ElectionState>, zk: &Arc<ZooKeeper>) {
    shared.trace_init(0);
    {
        let mut inner = shared.inner.lock();
        inner.zk = Some(zk.clone());
        inner.expired = false;
        inner.disconnected_at = None;
    }
    super::given::follow_given(shared, zk);
}

/// Test hook: widens the window in which CONNECTED can arrive before the
/// handle is published (not part of the election: excluded from mutation
/// testing by its name).
fn test_hook_publish_delay(shared: &ElectionState) {
    if !shared.config.test_publish_delay.is_zero() {
        std::thread::sleep(shared.config.test_publish_delay);
    }
}

/// Reads the session id and negotiated timeout from the handle: called by
/// the election thread once connected (the C client keeps both from the
/// first connection on), so a CONNECTED event that arrived before the
/// handle was published, and saw neither, is harmless.
fn refresh(shared: &ElectionState, zk: &ZooKeeper) {
    if let Ok(id) = zk.client_id() {
        shared.session.store(id.id, Ordering::Release);
    }
    if let Ok(t) = zk.recv_timeout() {
        shared.inner.lock().negotiated_ms = t;
    }
}

/// The global watcher: records the session state and wakes the election.
fn on_session_event(weak: &Weak<ElectionState>, e: WatchedEvent) {
    let Some(shared) = weak.upgrade() else { return };
    if e.event_type != EventType::Session {
        return;
    }
    match e.state {
        State::Connected | State::ReadOnly => {
            let id = {
                let mut inner = shared.inner.lock();
                inner.connected = true;
                inner.disconnected_at = None;
                // For the trace only: the election thread stores the session
                // id and timeout itself once it sees the connection
                // (`refresh`), published handle or not.
                inner
                    .zk
                    .as_ref()
                    .map_or(0, |z| z.client_id().map_or(0, |c| c.id))
            };
            shared.trace_connected(id);
            shared.candidate.on_zookeeper_connected(&e.path);
        }
        State::Expired | State::AuthFailed => {
            {
                let mut inner = shared.inner.lock();
                inner.connected = false;
                inner.expired = true;
            }
            if e.state == State::Expired {
                shared.trace_expired();
                shared.candidate.on_zookeeper_expired();
            } else {
                report(&shared, &Error::Zk(ErrorCode::AuthFailed));
            }
        }
        _ => {
            let mut inner = shared.inner.lock();
            if inner.connected {
                inner.connected = false;
                inner.disconnected_at = Some(Instant::now());
            }
        }
    }
    shared.changes.bump();
    shared.wake();
}

/// Waits until the new session is connected, then makes it the election's:
/// its id and timeout read, saved to the session file, its auth added.
/// Otherwise says how this session's contention ends.
pub(super) fn establish(shared: &ElectionState, zk: &ZooKeeper) -> Result<(), End> {
    let mut seen = wake_count(shared);
    until_connected(shared, &mut seen)?;
    refresh(shared, zk);
    if let (Some(file), Ok(id)) = (&shared.config.session_file, zk.client_id()) {
        save_session(file, id);
    }
    if let Some(auth) = &shared.config.auth {
        if let Err(e) = zk.add_auth(&auth.scheme, &auth.credential) {
            report(shared, &e);
            return Err(End::SessionDead);
        }
    }
    Ok(())
}
