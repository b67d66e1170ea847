//! The breadcrumb of a mastership, from `zkha run`'s side (see
//! `cli/breadcrumb.rs` and `cli/succession.rs`): a new master's succession
//! (its predecessor fenced if it has to be, then the breadcrumb claimed) on
//! a thread of its own, and the clean mark at a graceful end.

use super::supervisor::Supervisor;
use crate::cli::breadcrumb::{self, mark_ahead};
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

    /// A planned stop begins: the reads of the clean mark go out now, so
    /// that the mark is sent without waiting for them once the command has
    /// stopped (`breadcrumb::mark_ahead`).
    pub(super) fn prefetch_mark(&self) {
        let Some((session, token)) = *self.claimed.lock() else {
            return;
        };
        if self
            .mark_ahead
            .lock()
            .as_ref()
            .is_some_and(|p| p.is_for(session, token))
        {
            return;
        }
        let zk = self.control.lock().as_ref().and_then(Control::zookeeper);
        let Some(zk) = zk.filter(|zk| matches!(zk.state(), Ok(State::Connected))) else {
            return;
        };
        if let Ok(p) = mark_ahead::prefetch(&zk, &self.path, session, token) {
            *self.mark_ahead.lock() = Some(p);
        }
    }

    /// A graceful end: marks the breadcrumb clean. With its reads
    /// prefetched, the mark is sent without waiting for its answer (the
    /// node's release follows it on the same session, so the next master
    /// reads it clean); any failure of that falls back to the blocking
    /// mark, on a thread of its own.
    pub(super) fn mark_clean(&self, why: &str) {
        let Some((session, token)) = self.claimed.lock().take() else {
            return;
        };
        let ahead = self.mark_ahead.lock().take();
        let zk = self.control.lock().as_ref().and_then(Control::zookeeper);
        let Some(zk) = zk.filter(|zk| matches!(zk.state(), Ok(State::Connected))) else {
            log::warn!(target: "zkha", "{} on {}: not connected: the breadcrumb stays unclean, the next master will fence this one", self.path, self.hosts);
            return;
        };
        let label = format!("{} on {}", self.path, self.hosts);
        if let Some(pre) = ahead.filter(|p| p.is_for(session, token)) {
            let (weak, path, said, label2) = (
                Arc::downgrade(&zk),
                self.path.clone(),
                why.to_owned(),
                label.clone(),
            );
            let sent = mark_ahead::send_clean(&zk, &self.path, why, pre, move |r| match r {
                Ok(()) => {
                    log::info!(target: "zkha", "{label2}: left cleanly ({said}; breadcrumb marked clean)")
                }
                // The session closed before the answer was seen: the write
                // went before the close (in order), its outcome unknown here.
                Err(e) if e.code() == Some(zkha::ErrorCode::Closing) => {
                    log::debug!(target: "zkha", "{label2}: the session closed before the clean mark's answer")
                }
                // Looked at again and written by the blocking mark, off the
                // completion thread (it waits for answers).
                Err(e) => {
                    log::debug!(target: "zkha", "{label2}: the clean mark sent ahead failed ({e}): marking it again");
                    let _ = std::thread::Builder::new()
                        .name("zkha-mark".into())
                        .spawn(move || {
                            if let Some(zk) = weak.upgrade() {
                                report_mark(
                                    &label2,
                                    &said,
                                    breadcrumb::mark_clean(&zk, &path, session, token, &said),
                                );
                            }
                        });
                }
            });
            match sent {
                Ok(mark_ahead::Sent::InFlight) => return,
                Ok(mark_ahead::Sent::Settled(done)) => return report_mark(&label, why, Ok(done)),
                Ok(mark_ahead::Sent::Blocking) | Err(_) => {}
            }
        }
        report_mark(
            &label,
            why,
            breadcrumb::mark_clean(&zk, &self.path, session, token, why),
        );
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
                // Copied out: a guard in the call's arguments would be held
                // through the whole takeover and `mark` (which takes
                // `claimed`), while `on_lost_master` takes `claimed` and
                // then `past_sessions`: a deadlock, found by make chaos (a
                // master that lost by expiry, won again and was stopped
                // during its succession never exited).
                let past = sup.past_sessions.lock().clone();
                Successor {
                    path: &sup.path,
                    label: &format!("{} on {}", sup.path, sup.hosts),
                    data: &sup.data,
                    acl: &sup.acl,
                    fence: sup.fence.as_ref(),
                    since_ms: sup.master_since_ms.load(Ordering::Acquire),
                    name: contention.elector().and_then(|e| e.name()),
                }
                .take_over_within(&zk, session, token, lease, &past, || {
                    contention.token() == Some(token)
                })
                .mark(&sup.claimed)
            })
            .map(Some)
    }
}

/// Says how a clean mark went.
fn report_mark(label: &str, why: &str, result: zkha::Result<bool>) {
    match result {
        Ok(true) => {
            log::info!(target: "zkha", "{label}: left cleanly ({why}; breadcrumb marked clean)")
        }
        Ok(false) => {
            log::debug!(target: "zkha", "{label}: the breadcrumb names another master")
        }
        Err(e) => {
            log::warn!(target: "zkha", "{label}: cannot mark the breadcrumb clean ({e}): the next master will fence this one")
        }
    }
}
