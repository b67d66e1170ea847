//! The breadcrumb of a mastership, from `zkha run`'s side (see
//! `cli/breadcrumb.rs` and `cli/succession.rs`): a new master's succession
//! (its predecessor fenced if it has to be, then the breadcrumb claimed) on
//! a thread of its own, and the clean mark at a graceful end.

use super::supervisor::Supervisor;
use crate::cli::breadcrumb;
use crate::cli::contention::Contention;
use crate::cli::succession::{Claim, Successor};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;
use zkha::elector::{Control, FencingToken};
use zkha::State;

impl Supervisor {
    /// A graceful end of the mastership whose breadcrumb this candidate
    /// wrote: marks it clean, so that the next master does not fence this
    /// one. Only on a live session (a dead link would block the election
    /// thread; an unmarked breadcrumb only costs the next master a fence).
    /// After a crash of the watchdog: the breadcrumb says the command is
    /// gone, not clean (see `breadcrumb::mark_gone`).
    pub(super) fn mark_gone(&self, why: &str) {
        let Some((session, token)) = self.claimed.lock().take() else {
            return;
        };
        let zk = self.control.lock().as_ref().and_then(Control::zookeeper);
        let Some(zk) = zk.filter(|zk| matches!(zk.state(), Ok(State::Connected))) else {
            return;
        };
        if let Err(e) = breadcrumb::mark_gone(&zk, &self.path, session, token, why) {
            log::warn!(target: "zkha", "{} on {}: cannot say in the breadcrumb that the command is gone ({e})", self.path, self.hosts);
        }
    }

    pub(super) fn mark_clean(&self, why: &str) {
        let Some((session, token)) = self.claimed.lock().take() else {
            return;
        };
        let zk = self.control.lock().as_ref().and_then(Control::zookeeper);
        let Some(zk) = zk.filter(|zk| matches!(zk.state(), Ok(State::Connected))) else {
            log::warn!(target: "zkha", "{} on {}: not connected: the breadcrumb stays unclean, the next master will fence this one", self.path, self.hosts);
            return;
        };
        match breadcrumb::mark_clean(&zk, &self.path, session, token, why) {
            Ok(true) => {
                log::info!(target: "zkha", "{} on {}: left cleanly ({why}; breadcrumb marked clean)", self.path, self.hosts)
            }
            Ok(false) => {
                log::debug!(target: "zkha", "{} on {}: the breadcrumb names another master", self.path, self.hosts)
            }
            Err(e) => {
                log::warn!(target: "zkha", "{} on {}: cannot mark the breadcrumb clean ({e}): the next master will fence this one", self.path, self.hosts)
            }
        }
    }

    /// Starts the succession of the mastership `token` (see
    /// `succession.rs`); `None` if that mastership already ended.
    pub(super) fn succeed(
        self: &Arc<Self>,
        contention: &Arc<Contention>,
        token: FencingToken,
    ) -> std::io::Result<Option<std::thread::JoinHandle<Claim>>> {
        let zk = self.control.lock().as_ref().and_then(Control::zookeeper);
        let Some((zk, session)) = zk.and_then(|zk| {
            let id = zk.client_id().ok()?.id;
            Some((zk, id))
        }) else {
            return Ok(None);
        };
        // A predecessor that was not a zkha safe-profile candidate (a C/C++
        // process of the design, the seed profile) wrote no breadcrumb:
        // said, since the fence below can only be aimed at the last one
        // that did.
        let seen = contention.elector().and_then(|e| e.last_seen_master());
        if let Some(m) = seen.filter(|m| !m.registered && m.token != token.czxid) {
            log::warn!(target: "zkha", "{} on {}: the master before this one (data {:?}, token {}) was not a zkha safe-profile candidate (a C/C++ process of the classic design, or the seed profile): it leaves no breadcrumb, so --fence-cmd cannot reach its work; a breadcrumb found now names an older zkha master", self.path, self.hosts, String::from_utf8_lossy(m.data.strip_suffix(&[0]).unwrap_or(&m.data)), m.token);
        }
        // The predecessor's lease, at most: half the session timeout.
        let negotiated = zk.recv_timeout().map_or(0, |ms| ms.max(0) as u64);
        let lease = Duration::from_millis(negotiated.max(self.session_timeout_ms) / 2);
        let (sup, contention) = (self.clone(), contention.clone());
        std::thread::Builder::new()
            .name("zkha-succession".into())
            .spawn(move || {
                Successor {
                    path: &sup.path,
                    label: &format!("{} on {}", sup.path, sup.hosts),
                    data: &sup.data,
                    acl: &sup.acl,
                    fence: sup.fence.as_ref(),
                    since_ms: sup.master_since_ms.load(Ordering::Acquire),
                    name: contention.elector().and_then(|e| e.name()),
                }
                .take_over_within(
                    &zk,
                    session,
                    token,
                    lease,
                    &sup.past_sessions.lock().clone(),
                    || contention.token() == Some(token),
                )
                .mark(&sup.claimed)
            })
            .map(Some)
    }
}
