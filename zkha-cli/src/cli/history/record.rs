//! The masterships of an election, past and present: the record kept in
//! ZooKeeper (`PATH.zkha/history`) and `zkha history`, which shows it.
//!
//! The node is persistent, with the election's ACL, beside the registry
//! (`PATH.zkha`, see `zkha::elector::registry`). Its data is JSON lines,
//! oldest first, at most [`KEEP`] of them: one record a mastership, keyed by
//! its fencing token (the master node's czxid, unique to a mastership):
//! `{"token": N, "name": "…"|null, "data": "…", "session": "0x…",
//! "from_ms": N, "to_ms": N|null, "ended": "…"|null}`.
//!
//! Who writes it, always in the same `multi` as a write of the breadcrumb
//! (see [`super::breadcrumb`]), every write conditioned on the version
//! read:
//!
//! - a new master, when it claims the breadcrumb: its own record (`ended`
//!   null: running), and its predecessor's end (how the breadcrumb and
//!   the succession say it ended: `crashed` for an unclean one, …);
//! - a master that leaves cleanly, when it marks its breadcrumb clean: its
//!   own end (`resigned`, `switchover`, …), so that the last mastership
//!   is there even before a successor comes.
//!
//! So a record changes only together with the breadcrumb, and the
//! breadcrumb's version makes each transition happen once: a crash before
//! the `multi` leaves neither written (the next master still finds the
//! unclean breadcrumb and records the end), a crash after it leaves both.
//! A record is updated in place by token, never appended twice; the first
//! end written wins (a successor finding a clean end recorded leaves it).

use crate::cli::breadcrumb::record::Breadcrumb;
use serde_json::{json, Value};
use zkha::elector::registry;
use zkha::{Acl, CreateMode, ErrorCode, Op, ZooKeeper};

/// The most records the node keeps (the oldest go first).
pub const KEEP: usize = 100;

/// The most characters of a master's data a record keeps.
const MAX_DATA: usize = 256;

/// `PATH.zkha/history`.
pub fn history_path(path: &str) -> String {
    format!("{}/history", registry::root(path))
}

/// One mastership.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    /// Its fencing token (the master node's czxid).
    pub token: i64,
    /// The master's name in the registry, when known.
    pub name: Option<String>,
    /// The master's node data, as text (the trailing NUL dropped).
    pub data: String,
    /// The master's session.
    pub session: i64,
    /// When it became master, ms since the epoch.
    pub from_ms: i64,
    /// When it ended (for a crash: when the next master took over).
    pub to_ms: Option<i64>,
    /// How it ended; `None` while running (or not recorded yet).
    pub ended: Option<String>,
}

impl Record {
    /// The record of the mastership `b` describes, running.
    pub fn of(b: &Breadcrumb, name: Option<String>) -> Record {
        Record {
            token: b.token,
            name,
            data: b.data_text().chars().take(MAX_DATA).collect(),
            session: b.session,
            from_ms: b.since_ms,
            to_ms: None,
            ended: None,
        }
    }

    /// The same, ended at `to_ms` as `how`.
    pub fn ended(self, how: &str, to_ms: i64) -> Record {
        Record {
            to_ms: Some(to_ms),
            ended: Some(how.to_owned()),
            ..self
        }
    }

    pub(super) fn to_value(&self) -> Value {
        json!({
            "token": self.token,
            "name": self.name,
            "data": self.data,
            "session": format!("{:#x}", self.session),
            "from_ms": self.from_ms,
            "to_ms": self.to_ms,
            "ended": self.ended,
        })
    }

    fn from_value(v: &Value) -> Option<Record> {
        let o = v.as_object()?;
        let text = |k: &str| o.get(k).and_then(Value::as_str).map(str::to_owned);
        let session = text("session")?;
        Some(Record {
            token: o.get("token")?.as_i64()?,
            name: text("name"),
            data: text("data").unwrap_or_default(),
            session: u64::from_str_radix(session.strip_prefix("0x")?, 16).ok()? as i64,
            from_ms: o.get("from_ms")?.as_i64()?,
            to_ms: o.get("to_ms").and_then(Value::as_i64),
            ended: text("ended"),
        })
    }
}

/// The node's data: one JSON line a record, oldest first.
pub fn encode(records: &[Record]) -> Vec<u8> {
    let mut out = Vec::new();
    for r in records {
        out.extend(serde_json::to_vec(&r.to_value()).expect("a JSON value always serialises"));
        out.push(b'\n');
    }
    out
}

/// Parses the node's data; lines that are not records are skipped.
pub fn decode(bytes: &[u8]) -> Vec<Record> {
    String::from_utf8_lossy(bytes)
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter_map(|v| Record::from_value(&v))
        .collect()
}

/// Merges `new` into `records` by token: a record already ended stays as
/// it is (the first end written wins); one running takes `new`'s end and
/// keeps its name unless it had none; an unknown token is appended. Then
/// only the newest [`KEEP`] stay. Whether anything changed.
pub fn upsert(records: &mut Vec<Record>, new: &Record) -> bool {
    let changed = match records.iter_mut().find(|r| r.token == new.token) {
        Some(r) if r.ended.is_some() => false,
        Some(_) if new.ended.is_none() => false,
        Some(r) => {
            r.ended = new.ended.clone();
            r.to_ms = new.to_ms;
            if r.name.is_none() {
                r.name = new.name.clone();
            }
            true
        }
        None => {
            records.push(new.clone());
            true
        }
    };
    if records.len() > KEEP {
        let extra = records.len() - KEEP;
        records.drain(..extra);
    }
    changed
}

/// The history node as read: its records and version (`None`: no node).
pub fn read(zk: &ZooKeeper, path: &str) -> zkha::Result<Option<(Vec<Record>, i32)>> {
    match zk.get(&history_path(path), false) {
        Ok((bytes, stat)) => Ok(Some((decode(&bytes), stat.version))),
        Err(e) if e.code() == Some(ErrorCode::NoNode) => Ok(None),
        Err(e) => Err(e),
    }
}

/// A read of the history sent and not yet answered (see [`read_later`]).
pub struct PendingRead(zkha::Pending<(Vec<u8>, zkha::Stat)>);

impl PendingRead {
    /// Its answer, as [`read`]'s.
    pub fn wait(self) -> zkha::Result<Option<(Vec<Record>, i32)>> {
        match self.0.wait() {
            Ok((bytes, stat)) => Ok(Some((decode(&bytes), stat.version))),
            Err(e) if e.code() == Some(ErrorCode::NoNode) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// Sends the read of the history without waiting for it: the requests
/// sent after it on the same session go in the same round trip (a claim
/// on a slow link takes no longer for the history).
pub fn read_later(zk: &ZooKeeper, path: &str) -> zkha::Result<PendingRead> {
    let (done, answer) = zkha::pending();
    zk.aget(&history_path(path), done)?;
    Ok(PendingRead(answer))
}

/// The write that merges `new` into the history, to go in the same
/// `multi` as a breadcrumb write: a set conditioned on the version read, or
/// the node's creation (with `acl`, the election's) if there was none.
/// `None` when nothing changes. A create fails `NoNode` when `PATH.zkha`
/// is absent (no registered candidate ever wrote it): the caller writes
/// the breadcrumb without the history then.
pub fn write_op(
    path: &str,
    acl: &[Acl],
    current: Option<(Vec<Record>, i32)>,
    new: &[Record],
) -> Option<Op> {
    let (mut records, version) = match current {
        Some((r, v)) => (r, Some(v)),
        None => (Vec::new(), None),
    };
    let mut changed = false;
    for r in new {
        changed |= upsert(&mut records, r);
    }
    if !changed {
        return None;
    }
    let (node, data) = (history_path(path), encode(&records));
    Some(match version {
        Some(version) => Op::Set {
            path: node,
            data,
            version,
        },
        None => Op::Create {
            path: node,
            data,
            acl: acl.to_vec(),
            mode: CreateMode::Persistent,
        },
    })
}

/// Tests: merges `new` into the history on its own (no breadcrumb), by
/// [`write_op`] as the breadcrumb writes do, retrying on
/// `BadVersion` / `NodeExists`; `Ok(false)` when `PATH.zkha` is absent.
#[cfg(test)]
pub fn append(zk: &ZooKeeper, path: &str, acl: &[Acl], new: &[Record]) -> zkha::Result<bool> {
    loop {
        let Some(op) = write_op(path, acl, read(zk, path)?, new) else {
            return Ok(true);
        };
        let result = match op {
            Op::Set {
                path,
                data,
                version,
            } => zk.set(&path, &data, version),
            Op::Create {
                path,
                data,
                acl,
                mode,
            } => zk.create(&path, &data, &acl, mode).map(drop),
            _ => unreachable!("write_op sets or creates"),
        };
        match result {
            Ok(()) => return Ok(true),
            Err(e)
                if matches!(
                    e.code(),
                    Some(ErrorCode::BadVersion | ErrorCode::NodeExists)
                ) =>
            {
                continue
            }
            Err(e)
                if e.code() == Some(ErrorCode::NoNode)
                    && zk.exists(&registry::root(path), false)?.is_none() =>
            {
                return Ok(false)
            }
            Err(e) if e.code() == Some(ErrorCode::NoNode) => continue,
            Err(e) => return Err(e),
        }
    }
}

/// How a predecessor whose breadcrumb a new master found ended, from what
/// the breadcrumb says and what the new master knows: its clean word
/// (`left`: resigned, switchover, unhealthy, exited, stopped, node_lost);
/// unclean, the word it left after the fact (`lapsed`, `expired`);
/// `lapsed` for this very session (this process lost mastership on its
/// lease, cut off, and won again with the same session); `expired` for a
/// past session of this process (it lost its session and won again with a
/// new one); `lapsed` when its session still lives (`alive`: its registry
/// node is there: it lost the node on its lease, cut off); and otherwise
/// `crashed` (killed, frozen, cut off until its session expired: fenced,
/// if there is a fence).
pub fn predecessor_end(
    prev: &Breadcrumb,
    my_session: i64,
    my_past_sessions: &[i64],
    alive: bool,
) -> String {
    if prev.clean {
        return prev.left.clone().unwrap_or_else(|| "resigned".into());
    }
    match prev.left.as_deref() {
        Some("lapsed" | "lease_expired" | "disconnected") => "lapsed".into(),
        Some("expired") => "expired".into(),
        _ if prev.session == my_session => "lapsed".into(),
        _ if my_past_sessions.contains(&prev.session) => "expired".into(),
        _ if alive => "lapsed".into(),
        _ => "crashed".into(),
    }
}

/// `zkha history` arguments.
#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;
    use zkha_testing::{unique_path, TestingServer};

    fn rec(token: i64, ended: Option<&str>) -> Record {
        Record {
            token,
            name: Some(format!("c{token}")),
            data: "10.0.0.1".into(),
            session: -2,
            from_ms: token * 10,
            to_ms: ended.map(|_| token * 10 + 5),
            ended: ended.map(str::to_owned),
        }
    }

    #[test]
    fn lines_round_trip_and_bad_lines_are_skipped() {
        let records = vec![rec(1, Some("resigned")), rec(2, None)];
        let mut bytes = encode(&records);
        assert_eq!(decode(&bytes), records);
        bytes.extend(b"{oops\n[1]\n");
        assert_eq!(decode(&bytes), records);
    }

    #[test]
    fn upsert_keeps_the_first_end_and_never_duplicates() {
        let mut records = vec![rec(1, None)];
        assert!(!upsert(&mut records, &rec(1, None)), "running again");
        assert!(upsert(
            &mut records,
            &Record {
                name: None,
                ..rec(1, Some("crashed"))
            }
        ));
        assert_eq!(records, vec![rec(1, Some("crashed"))], "name kept");
        assert!(
            !upsert(&mut records, &rec(1, Some("resigned"))),
            "first end wins"
        );
        assert!(upsert(&mut records, &rec(2, None)));
        assert_eq!(records.len(), 2);
    }

    #[test]
    fn predecessor_ends() {
        let b = |clean, left: Option<&str>| Breadcrumb {
            data: b"x".to_vec(),
            session: 5,
            token: 9,
            since_ms: 1,
            clean,
            left: left.map(str::to_owned),
        };
        assert_eq!(
            predecessor_end(&b(true, Some("switchover")), 7, &[], false),
            "switchover"
        );
        assert_eq!(predecessor_end(&b(true, None), 7, &[], false), "resigned");
        assert_eq!(predecessor_end(&b(false, None), 7, &[], false), "crashed");
        assert_eq!(
            predecessor_end(&b(false, Some("the watchdog was killed")), 7, &[], false),
            "crashed"
        );
        assert_eq!(predecessor_end(&b(false, None), 7, &[5], false), "expired");
        assert_eq!(predecessor_end(&b(false, None), 7, &[], true), "lapsed");
        assert_eq!(predecessor_end(&b(false, None), 5, &[5], false), "lapsed");
        assert_eq!(
            predecessor_end(&b(false, Some("lease_expired")), 7, &[], false),
            "lapsed"
        );
    }

    /// The append against a real server: bounded to the newest KEEP,
    /// in order, each token once, with the ACL given; concurrent writers
    /// lose nothing (BadVersion retried).
    #[test]
    fn append_is_bounded_ordered_and_loses_nothing_against_a_server() {
        let server = TestingServer::shared().unwrap();
        let connect = || {
            ZooKeeper::builder(server.connect_string())
                .connect(Duration::from_secs(30))
                .unwrap()
        };
        let zk = connect();
        let path = unique_path("history");
        let acl = Acl::open_unsafe();
        // No PATH.zkha: nothing written, no error.
        assert!(!append(&zk, &path, &acl, &[rec(1, None)]).unwrap());
        assert!(read(&zk, &path).unwrap().is_none());
        zk.create(&registry::root(&path), b"", &acl, CreateMode::Persistent)
            .unwrap();
        // Two writers at once, 30 tokens each (each started, then ended):
        // BadVersion retried, nothing lost, nothing twice.
        let writers: Vec<_> = (0..2)
            .map(|w| {
                let (zk, path) = (connect(), path.clone());
                std::thread::spawn(move || {
                    for i in 0..30 {
                        let t = 1 + w + 2 * i;
                        append(&zk, &path, &Acl::open_unsafe(), &[rec(t, None)]).unwrap();
                        append(&zk, &path, &Acl::open_unsafe(), &[rec(t, Some("resigned"))])
                            .unwrap();
                    }
                })
            })
            .collect();
        for w in writers {
            w.join().unwrap();
        }
        let (records, _) = read(&zk, &path).unwrap().unwrap();
        let mut tokens: Vec<i64> = records.iter().map(|r| r.token).collect();
        tokens.sort();
        assert_eq!(
            tokens,
            (1..=60).collect::<Vec<_>>(),
            "none lost, none twice"
        );
        // 70 more, one by one: the newest KEEP stay, in order.
        for t in 61..=130 {
            append(&zk, &path, &acl, &[rec(t, None)]).unwrap();
            append(&zk, &path, &acl, &[rec(t, Some("resigned"))]).unwrap();
        }
        let (records, _) = read(&zk, &path).unwrap().unwrap();
        assert_eq!(records.len(), KEEP, "bounded");
        let tokens: Vec<i64> = records.iter().map(|r| r.token).collect();
        assert_eq!(
            tokens[30..],
            (61..=130).collect::<Vec<_>>()[..],
            "oldest go first"
        );
        let mut unique = tokens.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), KEEP, "no duplicate");
        assert!(records
            .iter()
            .all(|r| r.ended.as_deref() == Some("resigned")));
        let (got_acl, _) = zk.get_acl(&history_path(&path)).unwrap();
        assert_eq!(got_acl, acl);
        // Appending an end already recorded changes nothing.
        let (_, v) = read(&zk, &path).unwrap().unwrap();
        append(&zk, &path, &acl, &[rec(130, Some("crashed"))]).unwrap();
        assert_eq!(read(&zk, &path).unwrap().unwrap().1, v);
    }
}
