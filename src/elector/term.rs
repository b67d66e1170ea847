//! One term of mastership as the election state and the guards share it
//! (`mastership.rs`): its token, whether and why it ended, who waits for
//! that, and the term node's version its claim set (`fenced.rs`). A leaf:
//! it names no other module of the elector but the candidate's types.

use super::candidate::{FencingToken, LostReason};
use parking_lot::{Condvar, Mutex};
use std::sync::Arc;
use std::task::Waker;

/// One term, shared by the election state and the guards.
pub(crate) struct Term {
    pub(crate) token: FencingToken,
    pub(crate) lost: Mutex<Option<LostReason>>,
    pub(crate) wakers: Mutex<Vec<Waker>>,
    pub(crate) cv: Condvar,
    /// The version of the term node (`P.zkha/term`) this term's claim set,
    /// which fenced writes check (`None`: not known: the seed profile, or
    /// a claim without the registry).
    pub(crate) term_version: Option<i32>,
}

impl Term {
    pub(crate) fn new(token: FencingToken, term_version: Option<i32>) -> Arc<Term> {
        Arc::new(Term {
            token,
            lost: Mutex::new(None),
            wakers: Mutex::new(Vec::new()),
            cv: Condvar::new(),
            term_version,
        })
    }

    /// The term ended: every guard is told.
    pub(crate) fn end(&self, reason: LostReason) {
        {
            let mut lost = self.lost.lock();
            if lost.is_some() {
                return;
            }
            *lost = Some(reason);
            self.cv.notify_all();
        }
        for w in std::mem::take(&mut *self.wakers.lock()) {
            w.wake();
        }
    }

    pub(crate) fn lost(&self) -> Option<LostReason> {
        self.lost.lock().clone()
    }

    /// Guards still held (the election state's own reference and the
    /// caller's `extra` ones aside).
    pub(crate) fn guards(self: &Arc<Term>, extra: usize) -> usize {
        Arc::strong_count(self).saturating_sub(extra)
    }
}
