//! [`Fenced`]: writes to ZooKeeper that fail, atomically, once their term
//! of mastership is over.
//!
//! Why not check the master node: a `check` compares a data version only,
//! and an ephemeral node created again (by another session, at the same
//! path) starts again at version 0, so "the master node at the version I
//! saw" can hold for the wrong master. Instead every claim of the safe
//! profile sets the term node, `P.zkha/term` (persistent, beside the
//! election, `registry.rs`), in the same transaction that creates the
//! master node, so the term node's version grows by one with every new
//! term and never goes back. A fenced write is one `multi`: a check of the
//! term node at this term's version, then the caller's operations. A
//! deposed master's write fails as a whole, whoever holds the node now.
//!
//! The limits: this fences writes to ZooKeeper only. For other resources
//! the fencing token (the master node's czxid) is what they compare; it
//! grows with every new master node, but only a resource that remembers
//! the largest token it has seen can refuse a stale one.

use super::registry::term_path;
use super::shared::ElectionState;
use super::term::Term;
use crate::error::{Error, ErrorCode};
use crate::types::{Acl, CreateMode};
use crate::{Op, OpResult, Pending};
use std::sync::Arc;

/// A fenced transaction under construction: from
/// [`Mastership::fenced`](super::Mastership::fenced). Add operations, then
/// [`send`](Fenced::send) it (a future, or `.wait()` to block).
///
/// The result lists the caller's operations only (the term check first is
/// left out). A write of a term that is over fails with
/// [`Error::NotMaster`] and applies nothing.
#[must_use = "a fenced transaction does nothing until sent"]
pub struct Fenced {
    shared: Arc<ElectionState>,
    term: Arc<Term>,
    ops: Vec<Op>,
}

impl Fenced {
    pub(crate) fn new(shared: Arc<ElectionState>, term: Arc<Term>) -> Fenced {
        Fenced {
            shared,
            term,
            ops: Vec::new(),
        }
    }

    /// Creates `path` with `data` (the election's ACL when `acl` is
    /// `None`).
    pub fn create(
        mut self,
        path: &str,
        data: &[u8],
        acl: Option<Vec<Acl>>,
        mode: CreateMode,
    ) -> Self {
        let acl = acl.unwrap_or_else(|| self.shared.config.acl_list());
        self.ops.push(Op::Create {
            path: path.to_owned(),
            data: data.to_vec(),
            acl,
            mode,
        });
        self
    }

    /// Sets `path`'s data (at `version`; -1: any).
    pub fn set(mut self, path: &str, data: &[u8], version: i32) -> Self {
        self.ops.push(Op::Set {
            path: path.to_owned(),
            data: data.to_vec(),
            version,
        });
        self
    }

    /// Deletes `path` (at `version`; -1: any).
    pub fn delete(mut self, path: &str, version: i32) -> Self {
        self.ops.push(Op::Delete {
            path: path.to_owned(),
            version,
        });
        self
    }

    /// Checks that `path` has `version`.
    pub fn check(mut self, path: &str, version: i32) -> Self {
        self.ops.push(Op::Check {
            path: path.to_owned(),
            version,
        });
        self
    }

    /// Sends the transaction on the election's session: a future of the
    /// caller's operations' results (`.wait()` blocks for them instead).
    /// [`Error::NotMaster`] when this term is over (said at once when it is
    /// known here already, or by the server's check), the transaction's
    /// own error otherwise.
    pub fn send(self) -> Pending<Vec<OpResult>> {
        let token = self.term.token;
        let refuse = move || Error::NotMaster { token: token.czxid };
        let Some(version) = self.term.term_version else {
            return Pending::ready(Err(refuse()));
        };
        if self.term.lost().is_some() {
            return Pending::ready(Err(refuse()));
        }
        let Some(zk) = self.shared.zk() else {
            return Pending::ready(Err(refuse()));
        };
        let mut ops = Vec::with_capacity(self.ops.len() + 1);
        ops.push(Op::Check {
            path: term_path(&self.shared.config.path),
            version,
        });
        ops.extend(self.ops);
        let (done, result) = crate::pending::<Vec<OpResult>>();
        let sent = zk.amulti(&ops, move |r| {
            done(match r {
                Ok(mut results) => {
                    results.remove(0);
                    Ok(results)
                }
                // The term check failed: another term began (or the node
                // went): nothing was applied.
                Err(Error::Multi { results, .. })
                    if matches!(
                        results.first(),
                        Some(OpResult::Error(ErrorCode::BadVersion | ErrorCode::NoNode))
                    ) =>
                {
                    Err(refuse())
                }
                Err(Error::Multi { code, mut results }) => {
                    if !results.is_empty() {
                        results.remove(0);
                    }
                    Err(Error::Multi { code, results })
                }
                Err(e) => Err(e),
            })
        });
        match sent {
            Ok(()) => result,
            Err(e) => Pending::ready(Err(e)),
        }
    }
}

impl std::fmt::Debug for Fenced {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fenced")
            .field("token", &self.term.token)
            .field("ops", &self.ops.len())
            .finish()
    }
}
