//! The safe profile: the seed's node (same path, same bytes, ephemeral), with
//! the design's flaws fixed. One election thread per elector; session events
//! and watches only wake it, so the C completion thread never blocks.

use super::candidate::{FencingToken, LostReason};
use super::config::Mode;
use super::lease::{boot_ms, renew_every, step_down_after};
use super::master::{candidates, sequence_of};
use super::shared::ElectionState;
use crate::error::{Error, ErrorCode, Result};
use crate::types::{Acl, ClientId, CreateMode, EventType, State, WatchedEvent};
use crate::ZooKeeper;
use parking_lot::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

/// How a session's contention ended.
enum End {
    /// The session is unusable (expired, auth failed): open a new one (F2).
    SessionDead,
    /// The elector is stopping.
    Stop,
}

pub(crate) fn run(shared: Arc<ElectionState>) {
    // A saved session is tried once, at start; after that, fresh ones (F2).
    let mut resume = shared
        .config
        .session_file
        .as_deref()
        .and_then(saved_session);
    while !shared.stopping() {
        let zk = match new_session(&shared, resume.take()) {
            Ok(zk) => zk,
            Err(e) => {
                report(&shared, &e);
                shared.sleep(shared.config.poll_interval);
                continue;
            }
        };
        let end = contend(&shared, &zk);
        if let End::SessionDead = end {
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

/// The client id saved in `file`, if any and well-formed.
fn saved_session(file: &std::path::Path) -> Option<ClientId> {
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

fn new_session(shared: &Arc<ElectionState>, resume: Option<ClientId>) -> Result<Arc<ZooKeeper>> {
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
                super::narrator::expired(&shared);
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
    shared.wake();
}

/// F7: a real error, told apart from "someone else is master".
fn report(shared: &ElectionState, e: &Error) {
    log::error!(target: "zkha", "election on {}: {e}", shared.config.path);
    shared.trace_error(e);
    shared.candidate.on_error(e);
}

fn wake_count(shared: &ElectionState) -> u64 {
    shared.inner.lock().wake
}

/// Waits for a wake (a watch, a session change, resign, stop), `limit`, or
/// the F1 step-down deadline (stepping down when it passes).
fn wait(shared: &ElectionState, seen: &mut u64, limit: Option<Instant>) {
    let mut inner = shared.inner.lock();
    loop {
        if inner.wake != *seen || shared.stopping() || inner.resign {
            *seen = inner.wake;
            return;
        }
        let mut deadline = limit;
        // The lease ran out (say the process was paused): stop at once.
        if inner.master.is_some() && inner.lease_until > 0.0 {
            let left = inner.lease_until - boot_ms();
            if left <= 0.0 {
                drop(inner);
                shared.lost_master(LostReason::LeaseExpired);
                return;
            }
            let at = Instant::now() + Duration::from_secs_f64(left / 1000.0);
            deadline = Some(deadline.map_or(at, |d| d.min(at)));
        }
        if inner.master.is_some() && !inner.connected {
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
fn waker(
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

fn code(e: &Error) -> Option<ErrorCode> {
    e.code()
}

fn is_session_dead(e: &Error) -> bool {
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

fn is_transient(e: &Error) -> bool {
    matches!(
        code(e),
        Some(ErrorCode::ConnectionLoss | ErrorCode::OperationTimeout | ErrorCode::SessionMoved)
    )
}

/// Waits until connected; otherwise says how this session's contention ends.
fn until_connected(shared: &ElectionState, seen: &mut u64) -> Result<(), End> {
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
                return Ok(());
            }
        }
        wait(shared, seen, None);
    }
}

fn contend(shared: &Arc<ElectionState>, zk: &Arc<ZooKeeper>) -> End {
    let mut seen = wake_count(shared);
    if let Err(end) = until_connected(shared, &mut seen) {
        return end;
    }
    refresh(shared, zk);
    if let (Some(file), Ok(id)) = (&shared.config.session_file, zk.client_id()) {
        save_session(file, id);
    }
    if let Some(auth) = &shared.config.auth {
        if let Err(e) = zk.add_auth(&auth.scheme, &auth.credential) {
            report(shared, &e);
            return End::SessionDead;
        }
    }
    match shared.config.mode {
        Mode::Sequence => contend_sequence(shared, zk),
        Mode::Watch | Mode::Poll => contend_plain(shared, zk),
    }
}

/// What to do after an operation failed.
enum Next {
    Retry,
    End(End),
}

/// Common handling of a failed call: wait out disconnections, end dead
/// sessions, report and pace real errors.
fn after_error(shared: &ElectionState, seen: &mut u64, e: &Error) -> Next {
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

/// Creates the missing ancestors of `path`, with the node's own ACL: in
/// ZooKeeper deleting a node needs DELETE on its parent, so a creator-only
/// node under an open parent could still be deleted by anyone (F10).
fn ensure_parents(zk: &ZooKeeper, path: &str, acl: &[Acl]) -> Result<()> {
    let mut at = 0;
    while let Some(i) = path[at + 1..].find('/') {
        let prefix = &path[..at + 1 + i];
        match zk.create(prefix, b"", acl, CreateMode::Persistent) {
            Ok(_) => {}
            Err(e) if code(&e) == Some(ErrorCode::NodeExists) => {}
            Err(e) => return Err(e),
        }
        at += 1 + i;
    }
    Ok(())
}

/// Watch and poll modes: one node, whoever creates it is master.
fn contend_plain(shared: &Arc<ElectionState>, zk: &Arc<ZooKeeper>) -> End {
    let cfg = &shared.config;
    let path = cfg.path.as_str();
    let acl = cfg.acl_list();
    let mut seen = wake_count(shared);
    let mut yield_until: Option<Instant> = None;
    loop {
        if let Err(end) = until_connected(shared, &mut seen) {
            return end;
        }
        // After resigning, let another candidate take over first.
        if let Some(until) = yield_until {
            if Instant::now() < until {
                let before = wake_count(shared);
                seen = before;
                match zk.wexists(path, waker(shared, None)) {
                    Ok(Some(stat)) if stat.ephemeral_owner != shared.session_id() => {
                        yield_until = None
                    }
                    _ => wait(shared, &mut seen, Some(until)),
                }
                continue;
            }
            yield_until = None;
        }
        // A create is a write: the leader commits it, so its success is
        // leader-proved (see lease.rs).
        let sent = boot_ms();
        let created = zk.create2(path, &cfg.data, &acl, CreateMode::Ephemeral);
        shared.trace_create(created.as_ref().err().and_then(code).map_or(0, |c| c.raw()));
        let outcome = match created {
            Ok((_, stat)) => hold(
                shared,
                zk,
                path,
                FencingToken {
                    czxid: stat.czxid,
                    sequence: None,
                },
                sent,
            ),
            Err(e) if code(&e) == Some(ErrorCode::NodeExists) => {
                // F3/F4: is the existing node ours (an ambiguous create that
                // the server applied)? Decided by session owner, never data.
                seen = wake_count(shared);
                let watched = if cfg.mode == Mode::Watch {
                    zk.wexists(path, waker(shared, None))
                } else {
                    zk.exists(path, false)
                };
                match watched {
                    Ok(Some(stat)) if stat.ephemeral_owner == shared.session_id() => {
                        // Ours: ask again through the leader for the lease.
                        match synced_exists(zk, path) {
                            (sent, Ok(Some(stat)))
                                if stat.ephemeral_owner == shared.session_id() =>
                            {
                                hold(
                                    shared,
                                    zk,
                                    path,
                                    FencingToken {
                                        czxid: stat.czxid,
                                        sequence: None,
                                    },
                                    sent,
                                )
                            }
                            (_, Ok(_)) => Held::Lost,
                            (_, Err(e)) => match after_error(shared, &mut seen, &e) {
                                Next::Retry => Held::Lost,
                                Next::End(end) => return end,
                            },
                        }
                    }
                    Ok(Some(_)) => {
                        // Someone else is master: not an error.
                        let limit =
                            (cfg.mode == Mode::Poll).then(|| Instant::now() + cfg.poll_interval);
                        wait(shared, &mut seen, limit);
                        Held::Lost
                    }
                    Ok(None) => Held::Lost,
                    Err(e) => match after_error(shared, &mut seen, &e) {
                        Next::Retry => Held::Lost,
                        Next::End(end) => return end,
                    },
                }
            }
            Err(e) if code(&e) == Some(ErrorCode::NoNode) && cfg.create_parents => {
                match ensure_parents(zk, path, &acl) {
                    Ok(()) => Held::Lost,
                    Err(e) => match after_error(shared, &mut seen, &e) {
                        Next::Retry => Held::Lost,
                        Next::End(end) => return end,
                    },
                }
            }
            Err(e) => match after_error(shared, &mut seen, &e) {
                Next::Retry => Held::Lost,
                Next::End(end) => return end,
            },
        };
        match outcome {
            Held::Lost => {}
            Held::Resigned => yield_until = Some(Instant::now() + cfg.resign_backoff),
            Held::End(end) => return end,
        }
    }
}

/// How holding mastership ended.
enum Held {
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
fn hold(
    shared: &Arc<ElectionState>,
    zk: &Arc<ZooKeeper>,
    node: &str,
    token: FencingToken,
    sent: f64,
) -> Held {
    let held = hold_inner(shared, zk, node, token, sent);
    // A resign request is about this mastership only.
    shared.inner.lock().resign = false;
    held
}

fn hold_inner(
    shared: &Arc<ElectionState>,
    zk: &Arc<ZooKeeper>,
    node: &str,
    token: FencingToken,
    sent: f64,
) -> Held {
    let sid = shared.session_id();
    // The lease runs from when the proof was asked for, not when it came: an
    // answer that waited out a pause of this process proves nothing now.
    shared.renew_lease(sent);
    if !shared.lease_valid() {
        shared.inner.lock().lease_until = 0.0;
        return Held::Lost;
    }
    // Asked to stop meanwhile: do not start a mastership (the node goes
    // with the session at shutdown).
    if shared.stopping() {
        return Held::End(End::Stop);
    }
    shared.became_master(token);
    let renew_every = renew_every(shared.inner.lock().negotiated_ms);
    let mut next_renew = Instant::now() + renew_every;
    let fired = Arc::new(AtomicBool::new(true));
    let mut seen = wake_count(shared);
    // The re-arm's answer, left here by the completion thread.
    let answer: Arc<Mutex<Option<Answer>>> = Arc::default();
    let mut rearming = false;
    loop {
        // (Re-)arm the watch on our node when the last one fired, and check
        // the node is still ours, through the leader. Asked without
        // blocking: a link that goes silent meanwhile must still end the
        // mastership when the lease ends (`wait`), not when the C client
        // gives the request up (2T/3 later, or never).
        if !rearming && fired.swap(false, Ordering::AcqRel) {
            seen = wake_count(shared);
            let slot = answer.clone();
            let weak = Arc::downgrade(shared);
            let watch = waker(shared, Some(fired.clone()));
            let asked = synced_exists_async(zk, node, Some(watch), move |sent, r| {
                *slot.lock() = Some((sent, r));
                if let Some(s) = weak.upgrade() {
                    s.wake();
                }
            });
            match asked {
                Ok(()) => rearming = true,
                Err(e) => *answer.lock() = Some((boot_ms(), Err(e))),
            }
        }
        let answered = answer.lock().take();
        if let Some((sent, answered)) = answered {
            rearming = false;
            match answered {
                Ok(Some(stat)) if stat.ephemeral_owner == sid => {
                    shared.renew_lease(sent);
                    if shared.held().is_none() && !shared.lease_valid() {
                        // A stale answer (we were paused): ask again later.
                        shared.inner.lock().lease_until = 0.0;
                    } else if shared.held().is_none() {
                        // Reconnected in time after stepping down: the node
                        // never left us, so no one else can have won.
                        shared.became_master(token);
                    }
                }
                Ok(_) => {
                    shared.lost_master(LostReason::NodeLost);
                    return Held::Lost;
                }
                Err(e) => {
                    fired.store(true, Ordering::Release);
                    if is_session_dead(&e) {
                        return Held::End(End::SessionDead);
                    }
                    if !is_transient(&e) {
                        report(shared, &e);
                    }
                }
            }
        }
        wait(shared, &mut seen, Some(next_renew));
        if shared.stopping() {
            return Held::End(End::Stop);
        }
        if Instant::now() >= next_renew {
            next_renew = Instant::now() + renew_every;
            renew(shared, zk, node, sid);
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
            return Held::End(End::SessionDead);
        }
        if resign {
            // Stop working first, then let the node go at once.
            shared.lost_master(LostReason::Resigned);
            return match release(shared, zk, node, sid, &mut seen) {
                Ok(()) => Held::Resigned,
                Err(end) => Held::End(end),
            };
        }
        if connected && shared.held().is_none() {
            // Back after a step-down: check the node again.
            fired.store(true, Ordering::Release);
        }
    }
}

/// Resigning: deletes our node, through disconnections, so that the resign
/// holds (after a reconnection the node must not be found ours again).
/// Only our own node is deleted: its owner is checked and its version given.
fn release(
    shared: &ElectionState,
    zk: &ZooKeeper,
    node: &str,
    sid: i64,
    seen: &mut u64,
) -> Result<(), End> {
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

/// `sync(path)` then `exists(path)`: an answer the leader stands behind (see
/// lease.rs), with the time the sync was sent.
fn synced_exists(zk: &ZooKeeper, path: &str) -> (f64, Result<Option<crate::types::Stat>>) {
    let sent = boot_ms();
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

/// A synced read's answer: when its sync was sent (CLOCK_BOOTTIME ms), and
/// the exists answer (or the sync's error).
type Answer = (f64, Result<Option<crate::types::Stat>>);

/// `sync` then `exists` on `node`, pipelined, never blocking the caller:
/// `done` gets, on the completion thread, when the sync was sent and the
/// exists answer, which counts only after a successful sync (see
/// lease.rs). With `watch`, the exists also sets it. An error returned
/// here means `done` is never called.
fn synced_exists_async(
    zk: &ZooKeeper,
    node: &str,
    watch: Option<impl FnMut(WatchedEvent) + Send + 'static>,
    done: impl FnOnce(f64, Result<Option<crate::types::Stat>>) + Send + 'static,
) -> Result<()> {
    let sent = boot_ms();
    let synced: Arc<Mutex<Option<Result<()>>>> = Arc::default();
    let sync_done = synced.clone();
    zk.async_sync(node, move |r| *sync_done.lock() = Some(r.map(|_| ())))?;
    // Completions come in request order: the sync's has run before this one.
    let exists_done = move |r: Result<Option<crate::types::Stat>>| {
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

/// Sequence mode: ephemeral-sequential children `<session>-n_<seq>` under
/// the path; the lowest is master; each candidate watches its predecessor
/// only. The session prefix finds our node again after an ambiguous create.
fn contend_sequence(shared: &Arc<ElectionState>, zk: &Arc<ZooKeeper>) -> End {
    let cfg = &shared.config;
    let parent = cfg.path.as_str();
    let acl = cfg.acl_list();
    let prefix = format!("{:016x}-n_", shared.session_id() as u64);
    let mut mine: Option<String> = None;
    let mut seen = wake_count(shared);
    macro_rules! on_err {
        ($e:expr) => {
            match after_error(shared, &mut seen, &$e) {
                Next::Retry => continue,
                Next::End(end) => return end,
            }
        };
    }
    loop {
        if let Err(end) = until_connected(shared, &mut seen) {
            return end;
        }
        let kids = match candidates(zk, parent) {
            Ok(k) => k,
            Err(e) if code(&e) == Some(ErrorCode::NoNode) => {
                let made = if cfg.create_parents {
                    ensure_parents(zk, &format!("{parent}/x"), &acl).map(|_| ())
                } else {
                    Err(e)
                };
                if let Err(e) = made {
                    on_err!(e);
                }
                continue;
            }
            Err(e) => on_err!(e),
        };
        // Ours: the node we created if it is still there, else (after an
        // ambiguous create) the one that bears our session's prefix.
        mine = mine
            .filter(|m| kids.contains(m))
            .or_else(|| kids.iter().find(|k| k.starts_with(&prefix)).cloned());
        let Some(me) = mine.clone() else {
            let created = zk.create(
                &format!("{parent}/{prefix}"),
                &cfg.data,
                &acl,
                CreateMode::EphemeralSequential,
            );
            shared.trace_create(created.as_ref().err().and_then(code).map_or(0, |c| c.raw()));
            match created {
                Ok(path) => mine = path.rsplit('/').next().map(str::to_owned),
                Err(e) => on_err!(e),
            }
            continue;
        };
        let pos = kids.iter().position(|k| *k == me).unwrap_or(0);
        let my_path = format!("{parent}/{me}");
        if pos == 0 {
            let (sent, answer) = synced_exists(zk, &my_path);
            let stat = match answer {
                Ok(Some(s)) => s,
                Ok(None) => {
                    mine = None;
                    continue;
                }
                Err(e) => on_err!(e),
            };
            let token = FencingToken {
                czxid: stat.czxid,
                sequence: sequence_of(&me),
            };
            match hold(shared, zk, &my_path, token, sent) {
                Held::Lost => mine = None,
                Held::Resigned => mine = None, // rejoin at the back of the queue
                Held::End(end) => return end,
            }
            continue;
        }
        // Watch only the predecessor (no herd effect).
        let pred = format!("{parent}/{}", kids[pos - 1]);
        seen = wake_count(shared);
        match zk.wexists(&pred, waker(shared, None)) {
            Ok(None) => continue,
            Ok(Some(_)) => wait(shared, &mut seen, None),
            Err(e) => on_err!(e),
        }
    }
}
