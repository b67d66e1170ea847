//! A master under a maintenance pause (`zkha pause`, `registry.rs`): it
//! acknowledges the pause by writing its token into the control node and
//! from then on keeps mastership, through a cut-off link and even a dead
//! session, until `length` after it *sent* that write. Every other
//! candidate holds back for `length` from when it first *saw* that change
//! of the node, which comes after the write was sent, so the master is
//! done first (both clocks within the lease's drift bound, `lease.rs`).
//! A claim is a `multi` that checks the control node's version, so a
//! candidate that missed the acknowledgement cannot win on an older count.
//!
//! The pause ends on this master's side before anything that lets others
//! go is sent: at a resume, the master gives its pause up and only then
//! empties the node (an answer lost on the way cannot leave it paused
//! while the others are free); at the deadline, likewise.

use super::wait::code;
use crate::clock::BootInstant;
use crate::elector::lease::DRIFT;
use crate::elector::registry::{control_path, ControlOp};
use crate::elector::shared::ElectionState;
use crate::error::{ErrorCode, Result};
use crate::types::Stat;
use crate::ZooKeeper;
use parking_lot::Mutex;
use std::sync::Arc;
use std::time::Duration;

/// What an acknowledgement's answer said.
enum Acked {
    /// The pause is ours: it ends `length` after `sent`; the node is now at
    /// `stat`.
    Pause {
        sent: BootInstant,
        length: Duration,
        stat: Stat,
    },
    /// The write lost a race or failed: look at the node again.
    Again,
}

/// The master's side of pauses, for one mastership.
#[derive(Default)]
pub(super) struct PauseFollower {
    /// An acknowledgement is on its way.
    acking: bool,
    /// Its answer, left by the completion thread.
    answer: Arc<Mutex<Option<Acked>>>,
    /// The control node's version after our acknowledgement (to empty it
    /// at the deadline only if nobody changed it since).
    ours: Option<i32>,
}

/// How long a pause of `length` keeps the master, from its
/// acknowledgement's send: shortened by the drift bound, as the lease is.
pub(crate) fn master_part(length: Duration) -> Duration {
    length.mul_f64(1.0 - DRIFT)
}

impl PauseFollower {
    /// The control node read `op` at `stat`; we hold the node with token
    /// `czxid`. Returns whether the node must be read again (a write that
    /// could not be sent).
    pub(super) fn on_control(
        &mut self,
        shared: &Arc<ElectionState>,
        zk: &ZooKeeper,
        op: &ControlOp,
        stat: &Stat,
        czxid: i64,
    ) -> bool {
        let cfg = &shared.config;
        match op {
            ControlOp::Pause { acked, .. } if *acked == Some(czxid) => {
                // Ours already (an answer that came, or one lost on the way:
                // then this master is not paused, the safe side).
                false
            }
            ControlOp::Pause { length, by, .. } => {
                if self.acking {
                    return false;
                }
                let ack = ControlOp::Pause {
                    length: *length,
                    by: by.clone(),
                    acked: Some(czxid),
                };
                let length = *length;
                let slot = self.answer.clone();
                let weak = Arc::downgrade(shared);
                // The deadline runs from before the send.
                let sent = BootInstant::now();
                let asked = zk.aset(
                    &control_path(&cfg.path),
                    &ack.encode(),
                    stat.version,
                    move |r| {
                        *slot.lock() = Some(match r {
                            Ok(stat) => Acked::Pause { sent, length, stat },
                            Err(_) => Acked::Again,
                        });
                        if let Some(s) = weak.upgrade() {
                            s.wake();
                        }
                    },
                );
                self.acking = asked.is_ok();
                asked.is_err()
            }
            ControlOp::Resume { acked, .. } if *acked == czxid => {
                // Given up first, then said: a lost answer cannot leave
                // this master paused while the others go.
                self.give_up(shared, "resumed");
                self.empty(shared, zk, stat.version).is_err()
            }
            _ => {
                // The node no longer carries our pause (a claim after the
                // others' counts ended, or a change from outside): not
                // paused any more.
                self.give_up(shared, "the control node no longer holds it");
                false
            }
        }
    }

    /// Acts on an acknowledgement's answer, and on the deadline. Returns
    /// whether the control node must be read again.
    pub(super) fn poll(&mut self, shared: &Arc<ElectionState>, zk: &ZooKeeper) -> bool {
        let mut again = false;
        if let Some(answer) = self.answer.lock().take() {
            self.acking = false;
            match answer {
                Acked::Pause { sent, length, stat } => {
                    let until = sent + master_part(length);
                    let until = shared.paused_until().map_or(until, |u| u.max(until));
                    self.ours = Some(stat.version);
                    log::warn!(target: "zkha", "{} on {}: paused: mastership holds through a ZooKeeper outage until the pause's deadline, {} ms from now; no candidate takes over meanwhile", shared.config.path, shared.config.hosts, until.saturating_duration_since(BootInstant::now()).as_millis());
                    shared.enter_pause(until);
                }
                Acked::Again => again = true,
            }
        }
        let held = shared.inner.lock().pause_until;
        if held.is_some_and(|u| u <= BootInstant::now()) {
            self.give_up(shared, "its deadline passed");
            if let Some(version) = self.ours.take() {
                // Nobody needs to wait for a pause that is over.
                let _ = self.empty(shared, zk, version);
            }
        }
        again
    }

    fn give_up(&mut self, shared: &ElectionState, why: &str) {
        if shared.inner.lock().pause_until.is_some() {
            log::info!(target: "zkha", "{} on {}: the pause is over ({why}): mastership is the lease's again", shared.config.path, shared.config.hosts);
            shared.end_pause();
        }
        self.ours = None;
    }

    /// Empties the control node at `version` (a resume acknowledged, a
    /// pause over); a node changed meanwhile is left as it is.
    fn empty(&self, shared: &Arc<ElectionState>, zk: &ZooKeeper, version: i32) -> Result<()> {
        let path = control_path(&shared.config.path);
        let weak = Arc::downgrade(shared);
        zk.aset(&path, &[], version, move |r| {
            if let (Err(e), Some(s)) = (r, weak.upgrade()) {
                if code(&e) != Some(ErrorCode::BadVersion) {
                    log::debug!(target: "zkha", "{}: emptying the control node: {e}", s.config.path);
                }
                s.wake();
            }
        })
    }
}
