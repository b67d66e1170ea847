//! A new master's claim of the breadcrumb, before it starts its command:
//! written only while its session still holds the master node of its
//! term, and conditioned on the version read before fencing, so that a
//! deposed master or the loser of a race never writes it.

use super::record::{breadcrumb_path, Breadcrumb};
use crate::cli::history::record::{self as history, Record};
use std::fmt;
use zkha::{Acl, CreateMode, ErrorCode, Op, OpResult, ZooKeeper};

/// Why [`claim`] did not write the breadcrumb.
#[derive(Debug)]
pub enum ClaimError {
    /// The session no longer holds the master node as the token says (the
    /// node was deleted, or is another session's or another term's): a
    /// deposed master never wins the breadcrumb. Says what was found.
    NotMaster(String),
    /// Another write to the breadcrumb came first (`BadVersion`,
    /// `NodeExists`, or `NoNode` for a deleted one): read it again.
    Raced(ErrorCode),
    /// ZooKeeper refused or failed the read or the write.
    Zk(zkha::Error),
    /// Internal to [`claim`]: the history could not be created, its parent
    /// `PATH.zkha` being absent.
    NoHistory,
}

impl fmt::Display for ClaimError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClaimError::NotMaster(what) => write!(f, "no longer master: {what}"),
            ClaimError::Raced(code) => write!(f, "written meanwhile by another master ({code})"),
            ClaimError::Zk(e) => write!(f, "{e}"),
            ClaimError::NoHistory => write!(f, "no registry node to keep a history in"),
        }
    }
}

impl std::error::Error for ClaimError {}

impl From<zkha::Error> for ClaimError {
    fn from(e: zkha::Error) -> ClaimError {
        ClaimError::Zk(e)
    }
}

/// The master node `session` holds as `token` (its czxid), with its data
/// version: `path` itself, or in sequence mode (where `path` is the
/// election parent, a persistent node) its lowest candidate. `Err`
/// (`NotMaster`) if the node is gone or is not that session's term.
pub fn own_node(
    zk: &ZooKeeper,
    path: &str,
    session: i64,
    token: i64,
) -> Result<(String, i32), ClaimError> {
    let gone = || ClaimError::NotMaster(format!("{path} is gone"));
    let stat = zk.exists(path, false)?.ok_or_else(gone)?;
    let (node, stat) = if stat.ephemeral_owner != 0 {
        (path.to_owned(), stat)
    } else {
        let lowest = zkha::elector::read_master(zk, path, true)?.ok_or_else(gone)?;
        let stat = zk.exists(&lowest.path, false)?.ok_or_else(gone)?;
        (lowest.path, stat)
    };
    if stat.ephemeral_owner != session || stat.czxid != token {
        return Err(ClaimError::NotMaster(format!(
            "{node} is held by session {:#x} (token {}), not {session:#x} (token {token})",
            stat.ephemeral_owner, stat.czxid
        )));
    }
    Ok((node, stat.version))
}

/// Writes this master's breadcrumb, `clean: false` whatever `mine.clean`
/// says: created if `version` is `None` (none was read), else set
/// conditioned on `version` (the one read before fencing), so that two
/// masters racing cannot both claim it silently: the loser gets
/// [`ClaimError::Raced`]. And only while `mine.session` still holds the
/// master node of term `mine.token`: the write is one `multi` with a
/// `check` of that node at the version just read, so a node deleted (or
/// written) between the read and the write fails it too. A deposed master
/// gets [`ClaimError::NotMaster`]. (A check is by data version only, and a
/// node deleted and created again by another session has version 0 again:
/// the read of its owner and czxid is what tells the terms apart; the
/// check closes the window after it but for a node deleted and re-created
/// within that one round trip, where the breadcrumb's version still makes
/// the two claims exclusive: the new master's fails `Raced`, reads again
/// and finds this one as its predecessor.) `acl`: the election node's.
///
/// `records`: what the history (`PATH.zkha/history`, see
/// [`crate::cli::history`]) must say once this claim is made (the
/// predecessor's end, this mastership running), merged in by the same
/// `multi`, conditioned on the history's version: the breadcrumb and the
/// history change together or not at all (a history written meanwhile is
/// a lost race: [`ClaimError::Raced`]). Without `PATH.zkha` (no registry)
/// the breadcrumb is claimed without a history.
pub fn claim(
    zk: &ZooKeeper,
    path: &str,
    acl: &[Acl],
    mine: &Breadcrumb,
    version: Option<i32>,
    records: &[Record],
) -> Result<(), ClaimError> {
    // The history's read goes with own_node's: no round trip of its own.
    let history_read = if records.is_empty() {
        None
    } else {
        Some(history::read_later(zk, path)?)
    };
    let (master_node, master_version) = own_node(zk, path, mine.session, mine.token)?;
    let history = match history_read {
        Some(read) => history::write_op(path, acl, read.wait()?, records),
        None => None,
    };
    match claim_with(
        zk,
        path,
        acl,
        mine,
        version,
        &master_node,
        master_version,
        history,
    ) {
        // PATH.zkha is absent: no history to keep.
        Err(ClaimError::NoHistory) => claim_with(
            zk,
            path,
            acl,
            mine,
            version,
            &master_node,
            master_version,
            None,
        ),
        other => other,
    }
}

#[allow(clippy::too_many_arguments)]
fn claim_with(
    zk: &ZooKeeper,
    path: &str,
    acl: &[Acl],
    mine: &Breadcrumb,
    version: Option<i32>,
    master_node: &str,
    master_version: i32,
    history: Option<Op>,
) -> Result<(), ClaimError> {
    let node = breadcrumb_path(path);
    let bytes = Breadcrumb {
        clean: false,
        left: None,
        ..mine.clone()
    }
    .to_json();
    let write = match version {
        None => Op::Create {
            path: node,
            data: bytes,
            acl: acl.to_vec(),
            mode: CreateMode::Persistent,
        },
        Some(v) => Op::Set {
            path: node,
            data: bytes,
            version: v,
        },
    };
    let check = Op::Check {
        path: master_node.to_owned(),
        version: master_version,
    };
    let creates_history = matches!(history, Some(Op::Create { .. }));
    let mut ops = vec![check, write];
    ops.extend(history);
    match zk.multi(&ops) {
        Ok(_) => Ok(()),
        Err(zkha::Error::Multi { code, results }) => match results.as_slice() {
            [OpResult::Error(c), ..] if *c != ErrorCode::RuntimeInconsistency => {
                Err(ClaimError::NotMaster(format!("{master_node}: {c}")))
            }
            [_, OpResult::Error(
                c @ (ErrorCode::BadVersion | ErrorCode::NodeExists | ErrorCode::NoNode),
            ), ..] => Err(ClaimError::Raced(*c)),
            [_, _, OpResult::Error(ErrorCode::NoNode)] if creates_history => {
                Err(ClaimError::NoHistory)
            }
            [_, _, OpResult::Error(
                c @ (ErrorCode::BadVersion | ErrorCode::NodeExists | ErrorCode::NoNode),
            )] => Err(ClaimError::Raced(*c)),
            _ => Err(ClaimError::Zk(zkha::Error::Multi { code, results })),
        },
        Err(e) => Err(e.into()),
    }
}
