//! What a new master of `zkha run` does before its command runs: read the
//! breadcrumb its predecessor left, fence that predecessor if it did not
//! leave cleanly (`--fence-cmd`), and write its own breadcrumb.
//!
//! It runs on a thread of its own (a fence may take seconds): the election
//! goes on meanwhile, and a mastership lost during the fence is noticed
//! before the breadcrumb is claimed.

use super::breadcrumb::{self, Breadcrumb, ClaimError, ReadError};
use super::fence;
use super::history::record::{self as history, Record};
use std::time::{Duration, Instant};
use zkha::elector::FencingToken;
use zkha::{Acl, ZooKeeper};

/// The outcome of a takeover.
#[derive(Debug)]
pub enum Claim {
    /// The breadcrumb names this mastership now (after a fence, if one was
    /// needed): the command may start.
    Done { session: i64, token: FencingToken },
    /// The fence failed: the command must not start.
    FenceFailed(String),
    /// The breadcrumb could not be read or written.
    Failed(String),
    /// Mastership ended before the breadcrumb was claimed.
    Lost,
}

/// This candidate, as its breadcrumb describes it.
pub struct Successor<'a> {
    /// The election path (the breadcrumb is beside it).
    pub path: &'a str,
    /// `<path> on <hosts>`: the prefix of the log lines.
    pub label: &'a str,
    pub data: &'a [u8],
    pub acl: &'a [Acl],
    /// `--fence-cmd` and `--fence-timeout`.
    pub fence: Option<&'a (String, Duration)>,
    /// When this mastership began, ms since the epoch.
    pub since_ms: i64,
    /// Its name in the registry, if registered (for the history).
    pub name: Option<String>,
}

/// How often a new master re-reads its predecessor's breadcrumb while it
/// waits for the predecessor's word.
const WORD_POLL: Duration = Duration::from_millis(10);

impl Successor<'_> {
    /// Claims the breadcrumb for `token` of `session`, after its
    /// predecessor's word or fence, unless `still_master` says the
    /// mastership ended meanwhile.
    ///
    /// A predecessor that did not leave cleanly (its breadcrumb not clean,
    /// naming a session that is neither `session` nor one of
    /// `my_past_sessions`, the sessions of this process's own past
    /// masterships whose command it saw gone) may still be running its
    /// command: its node was deleted from outside and it is about to notice
    /// (it then stops its command and marks its breadcrumb clean), or it is
    /// cut off. So this waits until the breadcrumb says clean, re-reading it
    /// every few ms, or until `lease` has passed since this call (the last
    /// master's lease, renewed only while the leader counted its session,
    /// ends at most `lease`, half its session timeout, after its node went:
    /// before this mastership began). Only then, still not clean, is it
    /// fenced (`--fence-cmd`), or warned about. The claim itself succeeds
    /// only while `session` still holds its node (see
    /// [`breadcrumb::claim`]); a claim that lost a race with another write
    /// to the breadcrumb reads it again and goes on from there.
    pub fn take_over_within(
        &self,
        zk: &ZooKeeper,
        session: i64,
        token: FencingToken,
        lease: Duration,
        my_past_sessions: &[i64],
        still_master: impl Fn() -> bool,
    ) -> Claim {
        let word_until = Instant::now() + lease;
        let mut told_waiting = false;
        // The predecessor waited for (session, token) and whether it was
        // fenced already (a lost race reads again: no second fence of one).
        let mut waited_for: Option<(i64, i64)> = None;
        let mut fenced: Option<(i64, i64)> = None;
        loop {
            if !still_master() {
                return Claim::Lost;
            }
            let (prev, version) = match breadcrumb::read(zk, self.path) {
                Ok(Some((b, v))) => (Some(b), Some(v)),
                Ok(None) => (None, None),
                // Damaged: nothing says the last master left cleanly. Fenced
                // with empty details, then overwritten.
                Err(ReadError::Malformed { version, .. }) => (
                    Some(Breadcrumb {
                        data: Vec::new(),
                        session: 0,
                        token: 0,
                        since_ms: 0,
                        clean: false,
                        left: None,
                    }),
                    Some(version),
                ),
                Err(e) => return Claim::Failed(format!("cannot read the breadcrumb: {e}")),
            };
            if let (Some(p), Some(who)) = (&prev, waited_for) {
                // Clean, or (after a crash) its command said gone.
                if (p.clean || p.left.is_some()) && (p.session, p.token) == who {
                    log::info!(target: "zkha", "{}: the last master ({}) says its command is gone ({})", self.label, describe(p), p.left.as_deref().unwrap_or("clean"));
                    waited_for = None;
                }
            }
            if let Some(prev) = prev
                .as_ref()
                .filter(|p| breadcrumb::needs_fence(Some(p), session, my_past_sessions))
            {
                let who = describe(prev);
                let left = word_until.saturating_duration_since(Instant::now());
                // A crashed master whose watchdog said its command is gone
                // (`mark_gone`) is fenced at once: no lease to wait out.
                if !left.is_zero() && prev.left.is_none() {
                    if !told_waiting {
                        log::warn!(target: "zkha", "{}: waiting up to {} ms for the last master ({who}) to say its command is gone", self.label, lease.as_millis());
                        told_waiting = true;
                    }
                    waited_for = Some((prev.session, prev.token));
                    std::thread::sleep(left.min(WORD_POLL));
                    continue;
                }
                if fenced != Some((prev.session, prev.token)) {
                    match self.fence {
                        Some((cmd, timeout)) => {
                            log::warn!(target: "zkha", "{}: the last master ({who}) did not leave cleanly: fencing it (--fence-cmd)", self.label);
                            let out = fence::run_fence(cmd, self.path, prev, *timeout);
                            if !out.ok {
                                return Claim::FenceFailed(format!(
                                    "fencing {who}: {}",
                                    out.description
                                ));
                            }
                            log::info!(target: "zkha", "{}: fenced the last master ({who}): {} after {} ms", self.label, out.description, out.elapsed.as_millis());
                        }
                        None => {
                            log::warn!(target: "zkha", "{}: the last master ({who}) did not leave cleanly, and there is no --fence-cmd to fence it", self.label);
                        }
                    }
                    fenced = Some((prev.session, prev.token));
                }
            }
            if !still_master() {
                return Claim::Lost;
            }
            let mine = Breadcrumb {
                data: self.data.to_vec(),
                session,
                token: token.value(),
                since_ms: self.since_ms,
                clean: false,
                left: None,
            };
            let records = self.records(zk, prev.as_ref(), &mine, my_past_sessions);
            match breadcrumb::claim(zk, self.path, self.acl, &mine, version, &records) {
                Ok(()) => return Claim::Done { session, token },
                Err(ClaimError::NotMaster(why)) => {
                    log::warn!(target: "zkha", "{}: not claiming the breadcrumb: {why}", self.label);
                    return Claim::Lost;
                }
                Err(ClaimError::Raced(code)) => {
                    log::info!(target: "zkha", "{}: the breadcrumb was written meanwhile ({code}): reading it again", self.label);
                }
                Err(e) => {
                    return Claim::Failed(format!(
                        "cannot write the breadcrumb {}: {e}",
                        breadcrumb::breadcrumb_path(self.path)
                    ))
                }
            }
        }
    }
}

impl Successor<'_> {
    /// What the history must say once `mine` is claimed: how `prev` (the
    /// breadcrumb found, if it is another mastership's) ended, then this
    /// mastership running.
    fn records(
        &self,
        zk: &ZooKeeper,
        prev: Option<&Breadcrumb>,
        mine: &Breadcrumb,
        my_past_sessions: &[i64],
    ) -> Vec<Record> {
        let mut records = Vec::new();
        // A damaged breadcrumb (token 0) names nobody; our own (a restart
        // with --session-file) is the same mastership.
        if let Some(p) = prev.filter(|p| p.token != 0 && p.token != mine.token) {
            let alive = !p.clean && self.session_alive(zk, p);
            let how = history::predecessor_end(p, mine.session, my_past_sessions, alive);
            records.push(Record::of(p, None).ended(&how, self.since_ms));
        }
        records.push(Record::of(mine, self.name.clone()));
        records
    }

    /// Whether an unclean predecessor's session still lives: its registry
    /// node (its name from its history record) is still its session's.
    fn session_alive(&self, zk: &ZooKeeper, p: &Breadcrumb) -> bool {
        let name = match history::read(zk, self.path) {
            Ok(Some((records, _))) => records
                .into_iter()
                .find(|r| r.token == p.token)
                .and_then(|r| r.name),
            _ => None,
        };
        name.is_some_and(|name| {
            let node = format!(
                "{}/{name}",
                zkha::elector::registry::candidates_path(self.path)
            );
            matches!(zk.exists(&node, false), Ok(Some(stat)) if stat.ephemeral_owner == p.session)
        })
    }
}

/// "data 10.0.0.1, session 0x…, token 7".
fn describe(b: &Breadcrumb) -> String {
    format!(
        "data {}, session {:#x}, token {}",
        String::from_utf8_lossy(&b.data),
        b.session,
        b.token
    )
}

impl Claim {
    /// Records a claim in `claimed` (session, token) as soon as it is made,
    /// on the succession thread: a graceful end that comes before the main
    /// loop reads the outcome (a SIGTERM a moment after the claim) must
    /// still find it, to mark the breadcrumb clean.
    pub fn mark(self, claimed: &parking_lot::Mutex<Option<(i64, i64)>>) -> Claim {
        if let Claim::Done { session, token } = &self {
            *claimed.lock() = Some((*session, token.value()));
        }
        self
    }
}
