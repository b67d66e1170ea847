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
//! (`narrator.rs`) woken by the same events as the election. [`Narration`]
//! is what the log has said so far; the elector's state
//! (`ElectionState`) owns it, beside the trace, the other record of the same
//! events. This file knows nothing of that state: it is told what the
//! connection looks like ([`Look`]).

use super::candidate::{FencingToken, LostReason};
use super::config::{ElectorConfig, Profile};
use super::master::MasterInfo;
use crate::logging::last_unreachable_reason;
use crate::types::State;
use parking_lot::Mutex;
use std::time::{Duration, Instant};

/// How often "still unreachable" is repeated while ZooKeeper stays away.
pub const REMINDER: Duration = Duration::from_secs(30);

/// Without a reason from the C client, how long connecting may take before
/// it is called unreachable.
const SLOW_CONNECT: Duration = Duration::from_secs(2);

/// What the log has said so far, for one elector.
pub(crate) struct Narration {
    /// `/path on host:port,…`: where every line is about.
    at: String,
    /// The seed profile (which never creates a missing parent, S6).
    seed: bool,
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

/// The state of the current handle, read without blocking (by
/// `ElectionState::look`).
pub(crate) struct Look {
    /// The handle's address (0: none).
    pub handle: usize,
    pub state: Option<State>,
    /// The election saw the session expire (or its auth fail).
    pub expired: bool,
    pub session: i64,
    /// The negotiated session timeout, ms.
    pub timeout: i32,
}

impl Narration {
    /// Nothing said yet about the election `config` describes.
    pub(crate) fn new(config: &ElectorConfig) -> Narration {
        Narration {
            at: format!("{} on {}", config.path, config.hosts),
            seed: config.profile == Profile::Seed,
            said: Mutex::default(),
        }
    }

    /// Says "connecting" (once, at start).
    pub(crate) fn connecting(&self, c: &ElectorConfig) {
        log::info!(target: "zkha", "{}: connecting (session timeout {} ms, {} profile)", self.at, c.session_timeout.as_millis(), format!("{:?}", c.profile).to_lowercase());
    }

    /// Tells any change of the connection not told yet.
    pub(crate) fn observe(&self, look: Look) {
        let at = &self.at;
        let mut said = self.said.lock();
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
                    log::info!(target: "zkha", "{at}: reconnected after {down:.1} s (session {:#x})", look.session);
                } else {
                    log::info!(target: "zkha", "{at}: connected (session {:#x}, timeout {} ms)", look.session, look.timeout);
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
                    log::error!(target: "zkha", "{at}: authentication failed (check the credentials): opening a new session");
                }
            }
            state if state == Some(State::Expired) || look.expired => {
                said.connected = false;
                if said.session != 0 && said.expired != said.session {
                    said.expired = said.session;
                    log::warn!(target: "zkha", "{at}: session {:#x} expired: opening a new session", said.session);
                }
            }
            _ => self.unreachable_now(&mut said, now),
        }
    }

    /// Not connected: says so when it starts, then every [`REMINDER`].
    fn unreachable_now(&self, said: &mut Said, now: Instant) {
        let at = &self.at;
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
                    log::warn!(target: "zkha", "{at}: ZooKeeper unreachable ({why}): retrying, reminder every {} s", REMINDER.as_secs());
                }
            }
            Some(last) if now.duration_since(last) >= REMINDER => {
                said.down_said = Some(now);
                let down = said
                    .down_since
                    .map_or(0, |t| now.duration_since(t).as_secs());
                log::warn!(target: "zkha", "{at}: ZooKeeper still unreachable after {down} s ({why}): retrying");
            }
            Some(_) => {}
        }
    }

    /// Says mastership began (after any connection change not yet told).
    pub(crate) fn became_master(&self, look: Look, token: FencingToken) {
        self.observe(look);
        let at = &self.at;
        let mut said = self.said.lock();
        said.master_since = Some(Instant::now());
        said.standby_of = None;
        match token.sequence {
            Some(seq) => {
                log::info!(target: "zkha", "{at}: became master (token {}, sequence {seq})", token.value())
            }
            None => {
                log::info!(target: "zkha", "{at}: became master (token {})", token.value())
            }
        }
    }

    /// Says mastership ended, why, and how long it lasted: WARN when it was
    /// taken from us, INFO for a resign or a shutdown.
    pub(crate) fn lost_master(&self, look: Look, reason: &LostReason) {
        self.observe(look);
        let held = self.said.lock().master_since.take();
        let lasted = held.map_or(0.0, |t| t.elapsed().as_secs_f64());
        let level = match reason {
            LostReason::Resigned | LostReason::Shutdown => log::Level::Info,
            _ => log::Level::Warn,
        };
        log::log!(target: "zkha", level, "{}: lost master ({}) after {lasted:.1} s as master", self.at, reason.as_str());
    }

    /// Whether a standby should name the master: connected and not master
    /// (as far as the log has said).
    pub(crate) fn standby(&self) -> bool {
        let said = self.said.lock();
        said.connected && said.master_since.is_none()
    }

    /// As a standby, names the master `found`, once per master.
    pub(crate) fn master_is(&self, found: Option<MasterInfo>) {
        let mut said = self.said.lock();
        match found {
            Some(m) if !m.is_me => {
                if said.standby_of != Some((m.token, m.session)) && said.master_since.is_none() {
                    said.standby_of = Some((m.token, m.session));
                    log::info!(target: "zkha", "{}: standby; master is {:?} (token {}, session {:#x})", self.at, m.data_text(), m.token, m.session);
                }
            }
            Some(_) => {}
            None => said.standby_of = None,
        }
    }

    /// A create's result `rc`: a missing parent in the seed profile, which
    /// never creates it (S6), needs a person: ERROR, once until a create
    /// gets past it. (The design's own DEBUG line, S5, stays as it is.)
    pub(crate) fn created(&self, rc: i32) {
        let missing = rc == crate::error::ErrorCode::NoNode.raw();
        let mut said = self.said.lock();
        if missing && !said.parent_missing && self.seed {
            log::error!(target: "zkha", "{}: the parent node is missing; the seed profile does not create it (S6, docs/design.md#s6): create it, or use the safe profile", self.at);
        }
        said.parent_missing = missing;
    }
}
