//! What a new master of `zkha run` does before its command runs: read the
//! breadcrumb its predecessor left, fence that predecessor if it did not
//! leave cleanly (`--fence-cmd`), and write its own breadcrumb.
//!
//! It runs on a thread of its own (a fence may take seconds): the election
//! goes on meanwhile, and a mastership lost during the fence is noticed
//! before the breadcrumb is claimed.

use super::breadcrumb::{self, Breadcrumb, ReadError};
use super::fence;
use std::time::Duration;
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
}

impl Successor<'_> {
    /// Fences the predecessor if it has to be, then claims the breadcrumb
    /// for `token` of `session`, unless `still_master` says the mastership
    /// ended meanwhile.
    pub fn take_over(
        &self,
        zk: &ZooKeeper,
        session: i64,
        token: FencingToken,
        still_master: impl Fn() -> bool,
    ) -> Claim {
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
        if let Some(prev) = prev
            .as_ref()
            .filter(|p| breadcrumb::needs_fence(Some(p), session))
        {
            let who = describe(prev);
            match self.fence {
                Some((cmd, timeout)) => {
                    log::warn!(target: "zkha", "{}: the last master ({who}) did not leave cleanly: fencing it (--fence-cmd)", self.label);
                    let out = fence::run_fence(cmd, self.path, prev, *timeout);
                    if !out.ok {
                        return Claim::FenceFailed(format!("fencing {who}: {}", out.description));
                    }
                    log::info!(target: "zkha", "{}: fenced the last master ({who}): {} after {} ms", self.label, out.description, out.elapsed.as_millis());
                }
                None => {
                    log::warn!(target: "zkha", "{}: the last master ({who}) did not leave cleanly, and there is no --fence-cmd to fence it", self.label);
                }
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
        match breadcrumb::claim(zk, self.path, self.acl, &mine, version) {
            Ok(()) => Claim::Done { session, token },
            Err(e) => Claim::Failed(format!(
                "cannot write the breadcrumb {}: {e}",
                breadcrumb::breadcrumb_path(self.path)
            )),
        }
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
