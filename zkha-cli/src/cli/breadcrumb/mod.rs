//! The fencing breadcrumb of `zkha run`: a persistent node beside the
//! master node naming the last master (its data, session and token), so
//! that a new master can tell whether its predecessor left cleanly.
//!
//! The master node is ephemeral: once its session is gone, so is every
//! trace of who held it. The breadcrumb outlives it. A master claims it
//! (`clean: false`) before starting its command and marks it clean when it
//! exits or resigns gracefully; a breadcrumb still not clean when a new
//! master takes over means the old one's session ended some other way
//! (expired: killed, partitioned, stalled), and its command may still be
//! running somewhere: the new master runs the fencing hook first
//! (`--fence-cmd`, see [`super::fence`]).
//!
//! The node is `PATH.breadcrumb` (for `/ux/m`: `/ux/m.breadcrumb`; in
//! sequence mode `PATH` is the election parent, so the breadcrumb is its
//! sibling, never one of the queue's children). Its data is JSON:
//! `{"data": "…", "session": "0x…", "token": N, "since_ms": N, "clean": B}`,
//! with `"data_hex"` in place of `"data"` when the master's data is not
//! UTF-8.

pub mod mark_ahead;
pub(crate) mod record;
mod takeover;

pub use record::{breadcrumb_path, Breadcrumb};
pub use takeover::{claim, ClaimError};

use crate::cli::common;
use crate::cli::history::record as history;
use std::fmt;
use zkha::elector::registry;
use zkha::{ErrorCode, Op, OpResult, ZooKeeper};

/// Why a breadcrumb could not be read.
#[derive(Debug)]
pub enum ReadError {
    /// ZooKeeper refused or failed the read (e.g. `NoAuth`).
    Zk(zkha::Error),
    /// The node exists but its data is not a breadcrumb (written by
    /// something else, or damaged). Treat it as not clean: fence. Its
    /// version lets [`claim`] overwrite it.
    Malformed {
        /// The breadcrumb node.
        node: String,
        /// Its version, for a conditional [`claim`].
        version: i32,
        /// What is wrong with its data.
        reason: String,
    },
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReadError::Zk(e) => write!(f, "{e}"),
            ReadError::Malformed { node, reason, .. } => {
                write!(f, "breadcrumb {node} is not a breadcrumb: {reason}")
            }
        }
    }
}

impl std::error::Error for ReadError {}

impl From<zkha::Error> for ReadError {
    fn from(e: zkha::Error) -> ReadError {
        ReadError::Zk(e)
    }
}

/// The breadcrumb and its version (for a conditional [`claim`]), `None` if
/// there is none.
pub fn read(zk: &ZooKeeper, path: &str) -> Result<Option<(Breadcrumb, i32)>, ReadError> {
    let node = breadcrumb_path(path);
    match zk.get(&node, false) {
        Ok((bytes, stat)) => match Breadcrumb::from_json(&bytes) {
            Ok(b) => Ok(Some((b, stat.version))),
            Err(reason) => Err(ReadError::Malformed {
                node,
                version: stat.version,
                reason,
            }),
        },
        Err(e) if e.code() == Some(ErrorCode::NoNode) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Whether a new master must fence before it starts its command: a
/// predecessor's breadcrumb that is not clean and is not this session's
/// own (a master that restarts with `--session-file` keeps its session and
/// its mastership: nothing to fence), nor one of `my_past_sessions`: the
/// sessions of this process's own past masterships whose command it saw
/// gone (a master whose session expired and that wins again with a new
/// one must not fence itself).
pub fn needs_fence(prev: Option<&Breadcrumb>, my_session: i64, my_past_sessions: &[i64]) -> bool {
    prev.is_some_and(|b| {
        !b.clean && b.session != my_session && !my_past_sessions.contains(&b.session)
    })
}

/// Tests only: writes `b` as the breadcrumb of `path` (created, or
/// overwritten whatever its version), with no master behind it and no
/// check of one, unlike [`claim`].
#[cfg(test)]
pub fn write_for_test(zk: &ZooKeeper, path: &str, acl: &[zkha::Acl], b: &Breadcrumb) {
    let node = breadcrumb_path(path);
    match zk.create(&node, &b.to_json(), acl, zkha::CreateMode::Persistent) {
        Err(e) if e.code() == Some(ErrorCode::NodeExists) => zk
            .set(&node, &b.to_json(), -1)
            .expect("overwrite the breadcrumb"),
        created => drop(created.expect("create the breadcrumb")),
    }
}

/// How many times [`mark_clean`] re-reads after a concurrent write.
const MARK_ATTEMPTS: usize = 5;

/// On a graceful exit or resign: marks the breadcrumb clean, saying `why`
/// it left, only if it still names this session and token (a later
/// master's is left alone).
/// Returns whether it is now marked clean by us (true also if it already
/// was). A breadcrumb that is absent or not a breadcrumb is not ours:
/// `false`.
pub fn mark_clean(
    zk: &ZooKeeper,
    path: &str,
    session: i64,
    token: i64,
    why: &str,
) -> zkha::Result<bool> {
    mark(zk, path, session, token, why, true)
}

/// After a crash (zkha or its watchdog killed): says that the command and
/// everything it started are gone (`left`), without marking it clean: the
/// next master still fences this host (its other resources may be in any
/// state), but need not wait out this master's lease for its word. Only
/// for this session and token, as [`mark_clean`].
pub fn mark_gone(
    zk: &ZooKeeper,
    path: &str,
    session: i64,
    token: i64,
    why: &str,
) -> zkha::Result<bool> {
    mark(zk, path, session, token, why, false)
}

/// The word of a master that has left: `left = why`, and `clean` if `clean`.
/// A clean end goes in the history (`PATH.zkha/history`, see
/// [`crate::cli::history`]) in the same `multi`, conditioned on the
/// history's version as the breadcrumb's on its own: both or neither. (An
/// unclean one is the next master's to record: it knows whether it fenced.)
fn mark(
    zk: &ZooKeeper,
    path: &str,
    session: i64,
    token: i64,
    why: &str,
    clean: bool,
) -> zkha::Result<bool> {
    for _ in 0..MARK_ATTEMPTS {
        // A clean end goes in the history: its read goes with the
        // breadcrumb's, in one round trip.
        let history_read = if clean {
            Some(history::read_later(zk, path)?)
        } else {
            None
        };
        let (mut b, version) = match read(zk, path) {
            Ok(Some(found)) => found,
            Ok(None) | Err(ReadError::Malformed { .. }) => return Ok(false),
            Err(ReadError::Zk(e)) => return Err(e),
        };
        if b.session != session || b.token != token {
            return Ok(false);
        }
        if b.clean || (!clean && b.left.is_some()) {
            return Ok(true);
        }
        b.clean = clean;
        b.left = Some(why.to_owned());
        let history = if let Some(history_read) = history_read {
            let ended = history::Record::of(&b, None).ended(why, common::now_ms());
            let current = history_read.wait()?;
            // A history to create gets the breadcrumb's ACL (the
            // election's).
            let acl = match current {
                Some(_) => Vec::new(),
                None => zk.get_acl(&breadcrumb_path(path))?.0,
            };
            history::write_op(path, &acl, current, &[ended])
        } else {
            None
        };
        let set = Op::Set {
            path: breadcrumb_path(path),
            data: b.to_json(),
            version,
        };
        let has_history = history.is_some();
        let result = match history {
            Some(h) => zk.multi(&[set, h]).map(drop),
            None => zk.set(&breadcrumb_path(path), &b.to_json(), version),
        };
        match result {
            Ok(()) => return Ok(true),
            // Written in between (by a new master?): look again.
            Err(e) if e.code() == Some(ErrorCode::BadVersion) => continue,
            Err(e) if e.code() == Some(ErrorCode::NoNode) && !has_history => return Ok(false),
            Err(zkha::Error::Multi { code, results }) => match results.as_slice() {
                [OpResult::Error(ErrorCode::BadVersion), ..] => continue,
                [OpResult::Error(ErrorCode::NoNode), ..] => return Ok(false),
                // The history written meanwhile: look again.
                [_, OpResult::Error(ErrorCode::BadVersion | ErrorCode::NodeExists)] => continue,
                // No PATH.zkha (no registry), or the history deleted
                // meanwhile: mark the breadcrumb alone, or look again.
                [_, OpResult::Error(ErrorCode::NoNode)] => {
                    if zk.exists(&registry::root(path), false)?.is_none() {
                        return match zk.set(&breadcrumb_path(path), &b.to_json(), version) {
                            Ok(()) => Ok(true),
                            Err(e) if e.code() == Some(ErrorCode::BadVersion) => continue,
                            Err(e) if e.code() == Some(ErrorCode::NoNode) => Ok(false),
                            Err(e) => Err(e),
                        };
                    }
                    continue;
                }
                _ => return Err(zkha::Error::Multi { code, results }),
            },
            Err(e) => return Err(e),
        }
    }
    Err(zkha::Error::Zk(ErrorCode::BadVersion))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;
    use std::time::Duration;
    use zkha::{Acl, CreateMode};
    use zkha_testing::{unique_path, TestingServer};

    fn crumb(data: &[u8], session: i64, token: i64, clean: bool) -> Breadcrumb {
        Breadcrumb {
            data: data.to_vec(),
            session,
            token,
            since_ms: 1_700_000_000_123,
            clean,
            left: None,
        }
    }

    #[test]
    fn path_is_beside_the_node() {
        assert_eq!(breadcrumb_path("/ux/m"), "/ux/m.breadcrumb");
        assert_eq!(breadcrumb_path("/election"), "/election.breadcrumb");
    }

    #[test]
    fn json_round_trips_text_and_binary_data() {
        let text = crumb(b"10.0.0.7\0", 0x1234_5678_9abc, 42, false);
        let j: Value = serde_json::from_slice(&text.to_json()).unwrap();
        assert_eq!(j["data"], "10.0.0.7\0");
        assert!(j.get("data_hex").is_none(), "{j}");
        assert_eq!(j["session"], "0x123456789abc");
        assert_eq!(j["token"], 42);
        assert_eq!(j["since_ms"], 1_700_000_000_123i64);
        assert_eq!(j["clean"], false);
        assert_eq!(Breadcrumb::from_json(&text.to_json()).unwrap(), text);
        assert_eq!(text.data_text(), "10.0.0.7");

        // Not UTF-8: hex; a negative session id (server id >= 128) too.
        let binary = crumb(&[0xff, 0x00, 0x7f], -2, i64::MAX, true);
        let j: Value = serde_json::from_slice(&binary.to_json()).unwrap();
        assert_eq!(j["data_hex"], "ff007f");
        assert!(j.get("data").is_none(), "{j}");
        assert_eq!(j["session"], "0xfffffffffffffffe");
        assert_eq!(Breadcrumb::from_json(&binary.to_json()).unwrap(), binary);
    }

    #[test]
    fn bad_json_is_an_error_naming_the_fault() {
        let good = r#""session":"0x1","token":1,"since_ms":2,"clean":true"#;
        let cases = [
            ("nope".to_owned(), "not JSON"),
            ("[1]".to_owned(), "not a JSON object"),
            (format!("{{{good}}}"), "no \"data\""),
            (format!(r#"{{"data":"a","data_hex":"61",{good}}}"#), "both"),
            (format!(r#"{{"data_hex":"6",{good}}}"#), "not hex"),
            (format!(r#"{{"data_hex":"zz",{good}}}"#), "not hex"),
            (format!(r#"{{"data":1,{good}}}"#), "not a string"),
            (
                r#"{"data":"a","session":"12","token":1,"since_ms":2,"clean":true}"#.into(),
                "\"session\"",
            ),
            (
                r#"{"data":"a","session":"0x1","token":"1","since_ms":2,"clean":true}"#.into(),
                "\"token\"",
            ),
            (
                r#"{"data":"a","session":"0x1","token":1,"clean":true}"#.into(),
                "\"since_ms\"",
            ),
            (
                r#"{"data":"a","session":"0x1","token":1,"since_ms":2,"clean":1}"#.into(),
                "\"clean\"",
            ),
        ];
        for (input, expected) in cases {
            let e = Breadcrumb::from_json(input.as_bytes()).unwrap_err();
            assert!(e.contains(expected), "{input}: {e}");
        }
        let ok = format!(r#"{{"data_hex":"61","future":[],{good}}}"#);
        assert_eq!(
            Breadcrumb::from_json(ok.as_bytes()).unwrap(),
            Breadcrumb {
                data: b"a".to_vec(),
                session: 1,
                token: 1,
                since_ms: 2,
                clean: true,
                left: None,
            }
        );
    }

    #[test]
    fn needs_fence_only_for_an_unclean_other_session() {
        let me = 7;
        assert!(!needs_fence(None, me, &[]), "no breadcrumb: first master");
        assert!(
            !needs_fence(Some(&crumb(b"x", 3, 1, true)), me, &[]),
            "clean"
        );
        assert!(
            needs_fence(Some(&crumb(b"x", 3, 1, false)), me, &[]),
            "unclean"
        );
        assert!(
            !needs_fence(Some(&crumb(b"x", me, 1, false)), me, &[]),
            "my own session's (a restart with --session-file)"
        );
        assert!(!needs_fence(Some(&crumb(b"x", me, 1, true)), me, &[]));
        // This process's own past mastership (an expired session), its
        // command seen gone: no fence; another host's still is.
        assert!(!needs_fence(Some(&crumb(b"x", 5, 1, false)), me, &[4, 5]));
        assert!(needs_fence(Some(&crumb(b"x", 3, 1, false)), me, &[4, 5]));
    }

    fn connect() -> ZooKeeper {
        let server = TestingServer::shared().unwrap();
        ZooKeeper::builder(server.connect_string())
            .connect(Duration::from_secs(30))
            .unwrap()
    }

    #[test]
    fn claim_read_and_mark_clean_against_a_server() {
        let zk = connect();
        let parent = unique_path("breadcrumb");
        zk.create(&parent, b"", &Acl::open_unsafe(), CreateMode::Persistent)
            .unwrap();
        let path = format!("{parent}/m");
        let node = breadcrumb_path(&path);
        assert!(read(&zk, &path).unwrap().is_none());

        // First claim, by the master A, creates it, clean: false and no
        // reason to have left, even if asked otherwise.
        let a = connect();
        let (sa, ta) = hold(&a, &path, b"10.0.0.1\0");
        let first = Breadcrumb {
            left: Some("resigned".into()),
            ..crumb(b"10.0.0.1\0", sa, ta, true)
        };
        claim(&a, &path, &Acl::open_unsafe(), &first, None, &[]).unwrap();
        let (got, v1) = read(&zk, &path).unwrap().unwrap();
        assert_eq!(
            got,
            Breadcrumb {
                clean: false,
                left: None,
                ..first.clone()
            }
        );
        let stat = zk.exists(&node, false).unwrap().unwrap();
        assert_eq!(stat.ephemeral_owner, 0, "persistent");
        assert_eq!(stat.version, v1);
        // A second create loses to it.
        let e = claim(&a, &path, &Acl::open_unsafe(), &first, None, &[]).unwrap_err();
        assert!(
            matches!(e, ClaimError::Raced(ErrorCode::NodeExists)),
            "{e:?}"
        );

        // A successor B claims it with the version it read; a claim
        // holding the same (now stale) version fails with BadVersion.
        a.delete(&path, -1).unwrap();
        let b = connect();
        let (sb, tb) = hold(&b, &path, b"10.0.0.2\0");
        let second = crumb(b"10.0.0.2\0", sb, tb, false);
        claim(&b, &path, &Acl::open_unsafe(), &second, Some(v1), &[]).unwrap();
        let racer = crumb(b"10.0.0.3\0", sb, tb, false);
        let e = claim(&b, &path, &Acl::open_unsafe(), &racer, Some(v1), &[]).unwrap_err();
        assert!(
            matches!(e, ClaimError::Raced(ErrorCode::BadVersion)),
            "{e:?}"
        );
        let (got, v2) = read(&zk, &path).unwrap().unwrap();
        assert_eq!(got, second);
        assert_ne!(v2, v1);

        // The first master, exiting late, does not mark the successor's.
        assert!(!mark_clean(&zk, &path, sa, ta, "resigned").unwrap());
        // Its session but another token (an earlier term) neither.
        assert!(!mark_clean(&zk, &path, sb, tb - 1, "resigned").unwrap());
        let (got, v) = read(&zk, &path).unwrap().unwrap();
        assert!(!got.clean);
        assert_eq!(v, v2, "left alone: not written at all");
        // Its own: marked, and nothing else changed.
        assert!(mark_clean(&zk, &path, sb, tb, "resigned").unwrap());
        let (got, _) = read(&zk, &path).unwrap().unwrap();
        assert_eq!(
            got,
            Breadcrumb {
                clean: true,
                left: Some("resigned".into()),
                ..second.clone()
            }
        );
        assert!(
            mark_clean(&zk, &path, sb, tb, "resigned").unwrap(),
            "already clean"
        );

        // No breadcrumb: nothing to mark.
        assert!(!mark_clean(&zk, &format!("{parent}/other"), sb, tb, "resigned").unwrap());
    }

    /// A session holding `node` (ephemeral, as the elector creates it):
    /// the session and its fencing token (the node's czxid).
    fn hold(zk: &ZooKeeper, node: &str, data: &[u8]) -> (i64, i64) {
        zk.create(node, data, &Acl::open_unsafe(), CreateMode::Ephemeral)
            .unwrap();
        let stat = zk.exists(node, false).unwrap().unwrap();
        (zk.client_id().unwrap().id, stat.czxid)
    }

    #[test]
    fn a_deposed_master_cannot_claim() {
        let operator = connect();
        let parent = unique_path("breadcrumb-deposed");
        operator
            .create(&parent, b"", &Acl::open_unsafe(), CreateMode::Persistent)
            .unwrap();
        let path = format!("{parent}/m");
        // A predecessor's unclean breadcrumb, read by the master D.
        let prev = crumb(b"10.0.0.9\0", 0x99, 9, false);
        write_for_test(&operator, &path, &Acl::open_unsafe(), &prev);
        let d = connect();
        let (d_session, d_token) = hold(&d, &path, b"10.0.0.1\0");
        let (_, version) = read(&d, &path).unwrap().unwrap();
        let mine = crumb(b"10.0.0.1\0", d_session, d_token, false);

        // Deleted from outside, not yet taken: D is no master.
        operator.delete(&path, -1).unwrap();
        let r = claim(&d, &path, &Acl::open_unsafe(), &mine, Some(version), &[]);
        assert!(r.is_err(), "a master whose node is gone claimed: {r:?}");
        assert!(matches!(r, Err(ClaimError::NotMaster(_))), "{r:?}");

        // Taken by another session (same path, same data version 0):
        // still not D's.
        let n = connect();
        let (n_session, n_token) = hold(&n, &path, b"10.0.0.2\0");
        let r = claim(&d, &path, &Acl::open_unsafe(), &mine, Some(version), &[]);
        assert!(r.is_err(), "a deposed master claimed: {r:?}");
        let Err(ClaimError::NotMaster(why)) = r else {
            panic!("{r:?}")
        };
        assert!(why.contains(&format!("{n_session:#x}")), "{why}");
        assert_eq!(read(&d, &path).unwrap().unwrap(), (prev, version));
        // The new master's own claim goes through.
        let theirs = crumb(b"10.0.0.2\0", n_session, n_token, false);
        claim(&n, &path, &Acl::open_unsafe(), &theirs, Some(version), &[]).unwrap();
        assert_eq!(read(&d, &path).unwrap().unwrap().0, theirs);
        for zk in [operator, d, n] {
            let _ = zk.close();
        }
    }

    #[test]
    fn sequence_mode_claims_only_while_lowest() {
        let operator = connect();
        let parent = unique_path("breadcrumb-seq");
        operator
            .create(&parent, b"", &Acl::open_unsafe(), CreateMode::Persistent)
            .unwrap();
        let d = connect();
        let d_node = d
            .create(
                &format!("{parent}/d-n_"),
                b"d",
                &Acl::open_unsafe(),
                CreateMode::EphemeralSequential,
            )
            .unwrap();
        let d_token = d.exists(&d_node, false).unwrap().unwrap().czxid;
        let d_session = d.client_id().unwrap().id;
        let mine = crumb(b"d", d_session, d_token, false);
        claim(&d, &parent, &Acl::open_unsafe(), &mine, None, &[]).unwrap();
        let (_, version) = read(&d, &parent).unwrap().unwrap();
        // Deleted from outside; another candidate is lowest now.
        operator.delete(&d_node, -1).unwrap();
        let n = connect();
        n.create(
            &format!("{parent}/n-n_"),
            b"n",
            &Acl::open_unsafe(),
            CreateMode::EphemeralSequential,
        )
        .unwrap();
        let r = claim(&d, &parent, &Acl::open_unsafe(), &mine, Some(version), &[]);
        assert!(matches!(r, Err(ClaimError::NotMaster(_))), "{r:?}");
        for zk in [operator, d, n] {
            let _ = zk.close();
        }
    }

    #[test]
    fn a_crashed_master_says_gone_but_stays_to_be_fenced() {
        let operator = connect();
        let path = unique_path("breadcrumb-gone");
        let d = connect();
        let (d_session, d_token) = hold(&d, &path, b"d");
        claim(
            &d,
            &path,
            &Acl::open_unsafe(),
            &crumb(b"d", d_session, d_token, false),
            None,
            &[],
        )
        .unwrap();
        assert!(mark_gone(&d, &path, d_session, d_token, "crashed").unwrap());
        let (b, _) = read(&operator, &path).unwrap().unwrap();
        assert!(!b.clean, "gone is not clean");
        assert_eq!(b.left.as_deref(), Some("crashed"));
        assert!(needs_fence(Some(&b), d_session + 1, &[]), "still fenced");
        // A clean mark stays clean: a later `gone` does not undo it.
        assert!(mark_clean(&d, &path, d_session, d_token, "resigned").unwrap());
        assert!(mark_gone(&d, &path, d_session, d_token, "crashed").unwrap());
        assert!(read(&operator, &path).unwrap().unwrap().0.clean);
        // Another's breadcrumb is left alone.
        assert!(!mark_gone(&d, &path, d_session, d_token + 1, "crashed").unwrap());
        for zk in [operator, d] {
            let _ = zk.close();
        }
    }

    #[test]
    fn an_old_master_marks_only_its_own_breadcrumb_after_losing_its_node() {
        let operator = connect();
        let path = unique_path("breadcrumb-node-lost");
        let d = connect();
        let (d_session, d_token) = hold(&d, &path, b"d");
        claim(
            &d,
            &path,
            &Acl::open_unsafe(),
            &crumb(b"d", d_session, d_token, false),
            None,
            &[],
        )
        .unwrap();
        // Its node deleted from outside, its session alive: once its
        // command is gone it says so, although no longer master.
        operator.delete(&path, -1).unwrap();
        assert!(mark_clean(&d, &path, d_session, d_token, "node_lost").unwrap());
        let (b, v) = read(&operator, &path).unwrap().unwrap();
        assert!(b.clean);
        assert_eq!(b.left.as_deref(), Some("node_lost"));
        // Its next term is deposed too, but a new master claimed first:
        // that breadcrumb is left alone.
        let (_, d_token2) = hold(&d, &path, b"d");
        claim(
            &d,
            &path,
            &Acl::open_unsafe(),
            &crumb(b"d", d_session, d_token2, false),
            Some(v),
            &[],
        )
        .unwrap();
        let (_, v) = read(&operator, &path).unwrap().unwrap();
        operator.delete(&path, -1).unwrap();
        let n = connect();
        let (n_session, n_token) = hold(&n, &path, b"n");
        let theirs = crumb(b"n", n_session, n_token, false);
        claim(&n, &path, &Acl::open_unsafe(), &theirs, Some(v), &[]).unwrap();
        assert!(!mark_clean(&d, &path, d_session, d_token2, "node_lost").unwrap());
        assert_eq!(read(&operator, &path).unwrap().unwrap().0, theirs);
        for zk in [operator, d, n] {
            let _ = zk.close();
        }
    }

    #[test]
    fn a_damaged_breadcrumb_is_a_typed_error_with_its_version() {
        let zk = connect();
        let path = unique_path("breadcrumb-bad");
        let node = breadcrumb_path(&path);
        zk.create(&node, b"{oops", &Acl::open_unsafe(), CreateMode::Persistent)
            .unwrap();
        let version = match read(&zk, &path) {
            Err(e @ ReadError::Malformed { .. }) => {
                assert!(e.to_string().contains(&node), "{e}");
                let ReadError::Malformed { version, .. } = e else {
                    unreachable!()
                };
                version
            }
            other => panic!("{other:?}"),
        };
        assert!(
            !mark_clean(&zk, &path, 1, 1, "resigned").unwrap(),
            "not ours"
        );
        // The version lets a new master overwrite it.
        let (session, token) = hold(&zk, &path, b"me");
        let mine = crumb(b"me", session, token, false);
        claim(&zk, &path, &Acl::open_unsafe(), &mine, Some(version), &[]).unwrap();
        assert_eq!(read(&zk, &path).unwrap().unwrap().0, mine);
    }

    #[test]
    fn the_acl_given_is_the_nodes() {
        let zk = connect();
        let path = unique_path("breadcrumb-acl");
        let (session, token) = hold(&zk, &path, b"x");
        claim(
            &zk,
            &path,
            &Acl::read_unsafe(),
            &crumb(b"x", session, token, false),
            None,
            &[],
        )
        .unwrap();
        let (acl, _) = zk.get_acl(&breadcrumb_path(&path)).unwrap();
        assert_eq!(acl, Acl::read_unsafe());
        // Read-only for anyone: marking it clean is refused (typed, no panic).
        let e = mark_clean(&zk, &path, session, token, "resigned").unwrap_err();
        assert_eq!(e.code(), Some(ErrorCode::NoAuth));
    }
}
