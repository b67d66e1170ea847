//! The elector's own account in the log (target `zkha`): one line per
//! change of state, each naming the path and the ZooKeeper addresses, so an
//! operator reads what happened, in order, without the C client's chatter:
//! connecting, connected (session, negotiated timeout), standby with who is
//! master, ZooKeeper unreachable (with the C client's reason) and a reminder
//! every 30 s while it lasts, reconnected, session expired, became master
//! (token), lost master (reason, how long it lasted).
//!
//! Levels: INFO for normal life (connected, standby, became master, a resign
//! or shutdown); WARN for what happens to us (unreachable, expired, an
//! involuntary loss of mastership); ERROR for what needs a person (auth
//! failed).
//!
//! Mastership lines are written where mastership changes (`shared.rs`),
//! after any connection change not yet told, so the order is always right;
//! connection and standby lines come from a small thread per elector
//! ([`spawn`]) woken by the same events as the election. The narration's
//! state lives in the elector's [`Trace`](super::trace::Trace), the other
//! record of the same events.

use super::candidate::{FencingToken, LostReason};
use super::shared::ElectionState;
use super::trace::Value;
use crate::logging::last_unreachable_reason;
use crate::types::State;
use parking_lot::Mutex;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

/// How often "still unreachable" is repeated while ZooKeeper stays away.
pub const REMINDER: Duration = Duration::from_secs(30);

/// Without a reason from the C client, how long connecting may take before
/// it is called unreachable.
const SLOW_CONNECT: Duration = Duration::from_secs(2);

/// How often the narrator looks without being woken (the seed profile's
/// watcher wakes nobody on a disconnection).
const LOOK_EVERY: Duration = Duration::from_millis(200);

/// How often a standby reads who is master without being woken.
const REREAD_MASTER: Duration = Duration::from_secs(5);

/// How long after a wake the standby reads who is master. Not at once: a
/// wake is most often the master's node going, and a read sent then would
/// queue on the session just ahead of the takeover's create, delaying it
/// (issue 13: the handover floor). By now the takeover is over, and the
/// read names the new master, not the gap.
const NAME_AFTER_WAKE: Duration = Duration::from_millis(50);

/// What the log has said so far.
#[derive(Default)]
pub struct Narration {
    said: Mutex<Said>,
}

#[derive(Default)]
struct Said {
    /// The handle narrated (its address): a new one is a new session.
    handle: usize,
    /// When connecting with this handle began.
    started: Option<Instant>,
    /// The C client's reason count when the current attempt began.
    reasons: u64,
    connected: bool,
    session: i64,
    /// When the connection was lost (or the attempt began, if never).
    down_since: Option<Instant>,
    /// When "unreachable" (or its reminder) was last said for this outage.
    down_said: Option<Instant>,
    /// The session whose expiry was said.
    expired: i64,
    auth_failed: bool,
    /// The seed's missing parent was said.
    parent_missing: bool,
    master_since: Option<Instant>,
    /// The other master named as a standby: (token, session).
    standby_of: Option<(i64, i64)>,
}

impl std::fmt::Debug for Narration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Narration")
    }
}

/// `/path on host:port,…`: where every line is about.
fn at(shared: &ElectionState) -> String {
    format!("{} on {}", shared.config.path, shared.config.hosts)
}

/// The state of the current handle, read without blocking.
struct Look {
    handle: usize,
    state: Option<State>,
    expired: bool,
    session: i64,
    timeout: i32,
}

fn look(shared: &ElectionState) -> Look {
    let (zk, expired) = {
        let inner = shared.inner.lock();
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

/// Says "connecting" (once, at start).
pub(crate) fn connecting(shared: &ElectionState) {
    let c = &shared.config;
    log::info!(target: "zkha", "{}: connecting (session timeout {} ms, {} profile)", at(shared), c.session_timeout.as_millis(), format!("{:?}", c.profile).to_lowercase());
}

/// Tells any change of the connection not told yet.
pub(crate) fn observe(shared: &ElectionState) {
    let look = look(shared);
    let mut said = shared.trace.narration.said.lock();
    let now = Instant::now();
    if look.handle != said.handle && look.handle != 0 {
        said.handle = look.handle;
        said.started = Some(now);
        said.reasons = last_unreachable_reason().0;
        said.connected = false;
        said.down_since = None;
        said.down_said = None;
        said.auth_failed = false;
    }
    match look.state {
        Some(State::Connected | State::ReadOnly) if !said.connected => {
            if said.session != 0 && look.session == said.session {
                let down = said.down_since.map_or(0.0, |t| t.elapsed().as_secs_f64());
                log::info!(target: "zkha", "{}: reconnected after {down:.1} s (session {:#x})", at(shared), look.session);
            } else {
                log::info!(target: "zkha", "{}: connected (session {:#x}, timeout {} ms)", at(shared), look.session, look.timeout);
            }
            said.connected = true;
            said.session = look.session;
            said.reasons = last_unreachable_reason().0;
            said.down_since = None;
            said.down_said = None;
        }
        Some(State::Connected | State::ReadOnly) => {}
        Some(State::AuthFailed) => {
            said.connected = false;
            if !said.auth_failed {
                said.auth_failed = true;
                log::error!(target: "zkha", "{}: authentication failed (check the credentials): opening a new session", at(shared));
            }
        }
        state if state == Some(State::Expired) || look.expired => {
            said.connected = false;
            if said.session != 0 && said.expired != said.session {
                said.expired = said.session;
                log::warn!(target: "zkha", "{}: session {:#x} expired: opening a new session", at(shared), said.session);
            }
        }
        _ => unreachable_now(shared, &mut said, now),
    }
}

/// Not connected: says so when it starts, then every [`REMINDER`].
fn unreachable_now(shared: &ElectionState, said: &mut Said, now: Instant) {
    let (count, reason) = last_unreachable_reason();
    let fresh = count > said.reasons;
    let why = match (fresh, reason) {
        (true, Some(r)) => r,
        _ => "no answer".to_owned(),
    };
    if said.connected {
        said.connected = false;
        said.down_since = Some(now);
    }
    match said.down_said {
        None => {
            let since = said.down_since.or(said.started).unwrap_or(now);
            if said.down_since.is_some() || fresh || now.duration_since(since) >= SLOW_CONNECT {
                said.down_since = Some(since);
                said.down_said = Some(now);
                log::warn!(target: "zkha", "{}: ZooKeeper unreachable ({why}): retrying, reminder every {} s", at(shared), REMINDER.as_secs());
            }
        }
        Some(last) if now.duration_since(last) >= REMINDER => {
            said.down_said = Some(now);
            let down = said
                .down_since
                .map_or(0, |t| now.duration_since(t).as_secs());
            log::warn!(target: "zkha", "{}: ZooKeeper still unreachable after {down} s ({why}): retrying", at(shared));
        }
        Some(_) => {}
    }
}

/// Writes the `expired` trace line and says it at once (on the completion
/// thread, before a new session can replace the handle).
pub(crate) fn expired(shared: &ElectionState) {
    shared.trace.emit("expired", &[]);
    observe(shared);
}

/// Writes the `became_master` trace line and says it.
pub(crate) fn became_master(
    shared: &ElectionState,
    fields: &[(&str, Value<'_>)],
    token: FencingToken,
) {
    shared.trace.emit("became_master", fields);
    observe(shared);
    let mut said = shared.trace.narration.said.lock();
    said.master_since = Some(Instant::now());
    said.standby_of = None;
    match token.sequence {
        Some(seq) => {
            log::info!(target: "zkha", "{}: became master (token {}, sequence {seq})", at(shared), token.value())
        }
        None => {
            log::info!(target: "zkha", "{}: became master (token {})", at(shared), token.value())
        }
    }
}

/// Says mastership ended, why, and how long it lasted: WARN when it was
/// taken from us, INFO for a resign or a shutdown.
pub(crate) fn lost_master(shared: &ElectionState, reason: &LostReason) {
    observe(shared);
    let held = shared.trace.narration.said.lock().master_since.take();
    let lasted = held.map_or(0.0, |t| t.elapsed().as_secs_f64());
    let level = match reason {
        LostReason::Resigned | LostReason::Shutdown => log::Level::Info,
        _ => log::Level::Warn,
    };
    log::log!(target: "zkha", level, "{}: lost master ({}) after {lasted:.1} s as master", at(shared), reason.as_str());
}

/// As a standby, names the master once per master (a ZooKeeper read: on
/// the narrator's thread only).
fn name_master(shared: &ElectionState) {
    {
        let said = shared.trace.narration.said.lock();
        if !said.connected || said.master_since.is_some() || shared.held().is_some() {
            return;
        }
    }
    let Ok(found) = shared.current_master() else {
        return;
    };
    let mut said = shared.trace.narration.said.lock();
    match found {
        Some(m) if !m.is_me => {
            if said.standby_of != Some((m.token, m.session)) && said.master_since.is_none() {
                said.standby_of = Some((m.token, m.session));
                log::info!(target: "zkha", "{}: standby; master is {:?} (token {}, session {:#x})", at(shared), m.data_text(), m.token, m.session);
            }
        }
        Some(_) => {}
        None => said.standby_of = None,
    }
}

/// Starts the narrator's thread: it says "connecting", then watches the
/// elector until it closes. It holds the elector weakly.
pub(crate) fn spawn(shared: &Arc<ElectionState>) {
    connecting(shared);
    let weak = Arc::downgrade(shared);
    let _ = std::thread::Builder::new()
        .name("zkha-narrator".into())
        .spawn(move || narrate(weak));
}

fn narrate(weak: Weak<ElectionState>) {
    let (mut seen, mut woken) = (0, true);
    let mut read_at: Option<Instant> = None;
    // A read due after a wake (see NAME_AFTER_WAKE).
    let mut name_at: Option<Instant> = None;
    loop {
        let Some(shared) = weak.upgrade() else { return };
        if shared.stopping() || shared.closed.load(std::sync::atomic::Ordering::Acquire) {
            return;
        }
        observe(&shared);
        // Who is master is read again after a wake (a watch fired, the
        // session changed) or every few seconds (poll mode wakes nobody).
        if woken {
            name_at.get_or_insert(Instant::now() + NAME_AFTER_WAKE);
        }
        let due = name_at.is_some_and(|t| Instant::now() >= t);
        if due || read_at.is_none_or(|t| t.elapsed() >= REREAD_MASTER) {
            (read_at, name_at) = (Some(Instant::now()), None);
            name_master(&shared);
        }
        let mut inner = shared.inner.lock();
        if inner.wake == seen {
            let wait = name_at.map_or(LOOK_EVERY, |t| {
                t.saturating_duration_since(Instant::now()).min(LOOK_EVERY)
            });
            shared.changed.wait_for(&mut inner, wait);
        }
        woken = inner.wake != seen;
        seen = inner.wake;
    }
}

/// Writes the `create` trace line; a missing parent in the seed profile,
/// which never creates it (S6), needs a person: ERROR, once until a create
/// gets past it. (The design's own DEBUG line, S5, stays as it is.)
pub(crate) fn created(shared: &ElectionState, rc: i32) {
    shared
        .trace
        .emit("create", &[("rc", Value::Int(rc.into()))]);
    let missing = rc == crate::error::ErrorCode::NoNode.raw();
    let mut said = shared.trace.narration.said.lock();
    if missing && !said.parent_missing && shared.config.profile == super::config::Profile::Seed {
        log::error!(target: "zkha", "{}: the parent node is missing; the seed profile does not create it (S6, docs/design.md#s6): create it, or use the safe profile", at(shared));
    }
    said.parent_missing = missing;
}
