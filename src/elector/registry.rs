//! The candidates' registry and the election's control node: what lets an
//! operator see every candidate and steer the election (a switchover to a
//! named candidate, a resign) without signals.
//!
//! Beside the election path `P` (the master node in watch and poll modes,
//! the queue's parent in sequence mode), every safe-profile candidate keeps:
//!
//! ```text
//! P.zkha                      persistent, the election's ACL
//! P.zkha/candidates           persistent, the election's ACL
//! P.zkha/candidates/<name>    ephemeral, one per candidate, on its election session
//! P.zkha/control              persistent: empty, or one operation in force
//! P.zkha/term                 persistent, empty: its version counts the terms
//! ```
//!
//! A sibling, not a child, of `P`: in sequence mode the children of `P` are
//! the queue, and the C++ design's processes read only `P` itself. Every
//! node gets the election node's ACL, so whoever cannot touch the election
//! cannot register or steer it either.
//!
//! Both kinds of data are lines of `key=value` (UTF-8, one key per line,
//! unknown keys ignored, so that a newer zkha can add some). A candidate's:
//! `name`, `data` (the election data, hex), `priority`, `ready` (0/1),
//! `role` (`master` or `standby`), `yielding` (0/1: just resigned),
//! `profile`, `version` (zkha's), `since`
//! (ms since the epoch, when the role last changed), `stop_timeout_ms`. The
//! control node's: `op=switchover` with `to` (a name), `timeout_ms` and
//! `by`; or `op=resign` with `token` (the master's czxid) and `by`; or
//! `op=pause` with `length_ms`, `by` and, once the master acknowledged it,
//! `acked` (its czxid); or `op=resume` with `length_ms`, `acked` and `by`.
//!
//! How the election obeys them (`safe/steer.rs`): every create of the
//! master node is one `multi` that also resets the control node at the
//! version the candidate read, so no candidate can win across an operation
//! it has not seen; while a switchover is in force only its target may
//! create; a master told to switch over (or to resign) stops its work and
//! releases the node.

use crate::error::{Error, ErrorCode, Result};
use crate::types::{Acl, CreateMode, Stat};
use crate::ZooKeeper;
use std::time::Duration;

/// The most bytes of a candidate's name (a znode name).
pub const MAX_NAME_LEN: usize = 200;

/// The highest `priority`.
pub const MAX_PRIORITY: u32 = 1_000_000;

/// The default priority; 0 is "never master".
pub const DEFAULT_PRIORITY: u32 = 100;

/// `P.zkha`: the registry's and control node's parent, for election path `P`.
pub fn root(path: &str) -> String {
    format!("{path}.zkha")
}

/// `P.zkha/candidates`: one ephemeral node per candidate.
pub fn candidates_path(path: &str) -> String {
    format!("{path}.zkha/candidates")
}

/// `P.zkha/control`: the operation in force (empty: none).
pub fn control_path(path: &str) -> String {
    format!("{path}.zkha/control")
}

/// `P.zkha/term`: persistent; every safe claim sets it in the same
/// transaction that creates the master node, so its version counts the
/// terms and fenced writes (`fenced.rs`) check it.
pub fn term_path(path: &str) -> String {
    format!("{path}.zkha/term")
}

/// A candidate's role, as it registered it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// Not master (in the election or not).
    Standby,
    /// Master.
    Master,
}

impl Role {
    /// `master` or `standby`.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Standby => "standby",
            Role::Master => "master",
        }
    }
}

/// One registered candidate, as its node says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CandidateEntry {
    /// Its unique name on the path (its node's name).
    pub name: String,
    /// Its election data (what it writes in the master node).
    pub data: Vec<u8>,
    /// Higher is preferred; 0 never becomes master.
    pub priority: u32,
    /// Whether it may take over now (its readiness check passes).
    pub ready: bool,
    /// Master or standby.
    pub role: Role,
    /// Just resigned: it stays out for a moment so that another takes over
    /// (a lower priority does not wait for it).
    pub yielding: bool,
    /// `safe` (the only profile that registers, today).
    pub profile: String,
    /// zkha's version.
    pub version: String,
    /// When the role last changed, ms since the epoch.
    pub since_ms: i64,
    /// How long it may take to stop its work on a planned handover, ms.
    pub stop_timeout_ms: u64,
    /// The session that registered it (its node's ephemeral owner; 0 when
    /// built locally).
    pub session: i64,
}

impl CandidateEntry {
    /// The election data as text, without the trailing NUL.
    pub fn data_text(&self) -> String {
        let d = self.data.strip_suffix(&[0]).unwrap_or(&self.data);
        String::from_utf8_lossy(d).into_owned()
    }

    /// The node's data.
    pub fn encode(&self) -> Vec<u8> {
        format!(
            "name={}\ndata={}\npriority={}\nready={}\nrole={}\nyielding={}\nprofile={}\nversion={}\nsince={}\nstop_timeout_ms={}\n",
            self.name,
            hex(&self.data),
            self.priority,
            u8::from(self.ready),
            self.role.as_str(),
            u8::from(self.yielding),
            self.profile,
            self.version,
            self.since_ms,
            self.stop_timeout_ms,
        )
        .into_bytes()
    }

    /// Parses a node's data; `session` is the node's ephemeral owner.
    /// Missing keys take neutral values (not ready, priority 0), so that a
    /// damaged entry never looks preferred.
    pub fn decode(name: &str, bytes: &[u8], session: i64) -> CandidateEntry {
        let text = String::from_utf8_lossy(bytes);
        let mut e = CandidateEntry {
            name: name.to_owned(),
            data: Vec::new(),
            priority: 0,
            ready: false,
            role: Role::Standby,
            yielding: false,
            profile: String::new(),
            version: String::new(),
            since_ms: 0,
            stop_timeout_ms: 0,
            session,
        };
        for (k, v) in pairs(&text) {
            match k {
                "data" => e.data = unhex(v).unwrap_or_default(),
                "priority" => e.priority = v.parse().unwrap_or(0),
                "ready" => e.ready = v == "1",
                "role" => {
                    e.role = if v == "master" {
                        Role::Master
                    } else {
                        Role::Standby
                    }
                }
                "yielding" => e.yielding = v == "1",
                "profile" => e.profile = v.to_owned(),
                "version" => e.version = v.to_owned(),
                "since" => e.since_ms = v.parse().unwrap_or(0),
                "stop_timeout_ms" => e.stop_timeout_ms = v.parse().unwrap_or(0),
                _ => {}
            }
        }
        e
    }
}

/// The operation in force on the control node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ControlOp {
    /// Nothing: a normal election.
    None,
    /// Only `to` may become master, for `timeout` from when a candidate
    /// first saw it; the master (if not `to`) stops and hands over.
    Switchover {
        /// The target's name.
        to: String,
        /// How long the operation holds, from when each candidate saw it.
        timeout: Duration,
        /// Who asked (free text: host and pid).
        by: String,
    },
    /// The master whose token (czxid) is `token` resigns; no target.
    Resign {
        /// The master's fencing token's czxid.
        token: i64,
        /// Who asked.
        by: String,
    },
    /// Maintenance: no candidate takes over for `length`, counted by each
    /// candidate from when it first saw this version of the node; the
    /// master keeps mastership through a ZooKeeper outage until `length`
    /// after it sent its acknowledgement (`acked`, its token's czxid),
    /// which is never later than any candidate's count.
    Pause {
        /// How long the pause lasts.
        length: Duration,
        /// Who asked.
        by: String,
        /// The czxid of the master that acknowledged it (its deadline runs
        /// from the acknowledgement's send); `None` until then.
        acked: Option<i64>,
    },
    /// A resume of a pause that master `acked` acknowledged: candidates
    /// still hold (for `length` from when they first saw it) until that
    /// master acknowledges the resume by emptying the node, because a
    /// master that never saw the resume keeps its command until its pause
    /// deadline.
    Resume {
        /// The pause's length.
        length: Duration,
        /// Who asked.
        by: String,
        /// The czxid of the master that acknowledged the pause.
        acked: i64,
    },
}

impl ControlOp {
    /// The control node's data.
    pub fn encode(&self) -> Vec<u8> {
        match self {
            ControlOp::None => Vec::new(),
            ControlOp::Switchover { to, timeout, by } => format!(
                "op=switchover\nto={to}\ntimeout_ms={}\nby={}\n",
                timeout.as_millis(),
                one_line(by)
            )
            .into_bytes(),
            ControlOp::Resign { token, by } => {
                format!("op=resign\ntoken={token}\nby={}\n", one_line(by)).into_bytes()
            }
            ControlOp::Pause { length, by, acked } => {
                let acked = acked.map(|a| format!("acked={a}\n")).unwrap_or_default();
                format!(
                    "op=pause\nlength_ms={}\n{acked}by={}\n",
                    length.as_millis(),
                    one_line(by)
                )
                .into_bytes()
            }
            ControlOp::Resume { length, by, acked } => format!(
                "op=resume\nlength_ms={}\nacked={acked}\nby={}\n",
                length.as_millis(),
                one_line(by)
            )
            .into_bytes(),
        }
    }

    /// How long the operation holds candidates back from when each first
    /// saw it (`None`: it does not hold everyone back).
    pub fn holds_for(&self) -> Option<Duration> {
        match self {
            ControlOp::Switchover { timeout, .. } => Some(*timeout),
            ControlOp::Pause { length, .. } | ControlOp::Resume { length, .. } => Some(*length),
            ControlOp::None | ControlOp::Resign { .. } => None,
        }
    }

    /// Parses the control node's data; anything not understood is
    /// [`ControlOp::None`] (an operation a candidate cannot read does not
    /// hold it back).
    pub fn decode(bytes: &[u8]) -> ControlOp {
        let text = String::from_utf8_lossy(bytes);
        let get = |key: &str| pairs(&text).find(|(k, _)| *k == key).map(|(_, v)| v);
        match get("op") {
            Some("switchover") => match (get("to"), get("timeout_ms").and_then(|t| t.parse().ok()))
            {
                (Some(to), Some(ms)) if !to.is_empty() => ControlOp::Switchover {
                    to: to.to_owned(),
                    timeout: Duration::from_millis(ms),
                    by: get("by").unwrap_or_default().to_owned(),
                },
                _ => ControlOp::None,
            },
            Some("resign") => match get("token").and_then(|t| t.parse().ok()) {
                Some(token) => ControlOp::Resign {
                    token,
                    by: get("by").unwrap_or_default().to_owned(),
                },
                None => ControlOp::None,
            },
            // A pause or resume without a readable length holds for the
            // longest a pause may last: read wrong, it must hold, not end.
            Some("pause") => ControlOp::Pause {
                length: length(get("length_ms")),
                by: get("by").unwrap_or_default().to_owned(),
                acked: get("acked").and_then(|a| a.parse().ok()),
            },
            // A resume whose master cannot be read is acknowledged by
            // nobody: it holds for its length.
            Some("resume") => ControlOp::Resume {
                length: length(get("length_ms")),
                by: get("by").unwrap_or_default().to_owned(),
                acked: get("acked").and_then(|a| a.parse().ok()).unwrap_or(0),
            },
            _ => ControlOp::None,
        }
    }
}

/// The longest a pause may last.
pub const MAX_PAUSE: Duration = Duration::from_secs(24 * 3600);

fn length(ms: Option<&str>) -> Duration {
    ms.and_then(|m| m.parse::<u64>().ok())
        .map_or(MAX_PAUSE, Duration::from_millis)
        .min(MAX_PAUSE)
}

fn pairs(text: &str) -> impl Iterator<Item = (&str, &str)> {
    text.lines().filter_map(|l| l.split_once('='))
}

fn one_line(s: &str) -> String {
    s.replace(['\n', '\r'], " ")
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// Checks a candidate's name: a znode name of 1 to [`MAX_NAME_LEN`] bytes
/// of printable ASCII without `/`, and not `.` or `..`.
pub fn validate_name(name: &str) -> Result<()> {
    let bad = |why: &str| {
        Err(Error::invalid(
            crate::error::Argument::Other,
            format!("candidate name {name:?}: {why}"),
        ))
    };
    if name.is_empty() {
        return bad("empty");
    }
    if name.len() > MAX_NAME_LEN {
        return bad(&format!("longer than {MAX_NAME_LEN} bytes"));
    }
    if name == "." || name == ".." {
        return bad("not a node name");
    }
    if let Some(c) = name.chars().find(|c| !c.is_ascii_graphic() || *c == '/') {
        return bad(&format!(
            "{c:?} is not allowed (printable ASCII without '/' or spaces)"
        ));
    }
    if name == "any" {
        return bad("\"any\" is reserved (zkha switchover --to any)");
    }
    Ok(())
}

/// The default name for election data: its text without the NUL, every
/// character that a name cannot hold replaced by `_`; `candidate` when
/// nothing is left.
pub fn default_name(data: &[u8]) -> String {
    let d = data.strip_suffix(&[0]).unwrap_or(data);
    let mut s: String = String::from_utf8_lossy(d)
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '/' {
                c
            } else {
                '_'
            }
        })
        .take(MAX_NAME_LEN - 8)
        .collect();
    if s.is_empty() || s == "." || s == ".." || s == "any" {
        s = format!("candidate{s}");
    }
    s
}

/// Creates `P.zkha`, its `candidates` and `control` (and, with `parents`,
/// the missing ancestors of `P.zkha`), each with `acl`; nodes already there
/// are kept.
pub fn ensure_layout(zk: &ZooKeeper, path: &str, acl: &[Acl], parents: bool) -> Result<()> {
    let nodes = if parents {
        layout_with_parents(path)
    } else {
        layout(path)
    };
    create_pipelined(zk, &nodes, acl).into_iter().collect()
}

/// The registry's persistent nodes, parents first.
pub(crate) fn layout(path: &str) -> Vec<(String, Vec<u8>, CreateMode)> {
    [
        root(path),
        candidates_path(path),
        control_path(path),
        term_path(path),
    ]
    .into_iter()
    .map(|p| (p, Vec::new(), CreateMode::Persistent))
    .collect()
}

/// [`layout`] preceded by every ancestor of `P.zkha` (the election path's
/// parents), for a candidate that creates missing parents: all of it can
/// be sent at once, in order.
pub(crate) fn layout_with_parents(path: &str) -> Vec<(String, Vec<u8>, CreateMode)> {
    let root = root(path);
    let mut nodes = Vec::new();
    let mut at = 0;
    while let Some(i) = root[at + 1..].find('/') {
        nodes.push((
            root[..at + 1 + i].to_owned(),
            Vec::new(),
            CreateMode::Persistent,
        ));
        at += 1 + i;
    }
    nodes.extend(layout(path));
    nodes
}

/// Creates every node of `nodes` in one round trip (the requests are
/// pipelined; the server applies them in order): each one's outcome, a
/// node already there counting as created.
pub(crate) fn create_pipelined(
    zk: &ZooKeeper,
    nodes: &[(String, Vec<u8>, CreateMode)],
    acl: &[Acl],
) -> Vec<Result<()>> {
    settle(send_creates(zk, nodes, acl))
}

/// Sends the creates of `nodes` without waiting: one pending answer each.
pub(crate) fn send_creates(
    zk: &ZooKeeper,
    nodes: &[(String, Vec<u8>, CreateMode)],
    acl: &[Acl],
) -> Vec<Result<crate::client::Pending<String>>> {
    nodes
        .iter()
        .map(|(path, data, mode)| {
            let (done, result) = crate::client::pending::<String>();
            zk.acreate(path, data, acl, *mode, done).map(|()| result)
        })
        .collect()
}

/// Waits for creates sent by [`send_creates`]; a node already there counts
/// as created.
pub(crate) fn settle(sent: Vec<Result<crate::client::Pending<String>>>) -> Vec<Result<()>> {
    sent.into_iter()
        .map(|p| match p.and_then(|p| p.wait()) {
            Ok(_) => Ok(()),
            Err(e) if e.code() == Some(ErrorCode::NodeExists) => Ok(()),
            Err(e) => Err(e),
        })
        .collect()
}

/// Every registered candidate of election path `path`, by name. An empty
/// list when nobody ever registered.
pub fn read_candidates(zk: &ZooKeeper, path: &str) -> Result<Vec<CandidateEntry>> {
    let dir = candidates_path(path);
    let mut names = match zk.get_children(&dir, false) {
        Ok(n) => n,
        Err(e) if e.code() == Some(ErrorCode::NoNode) => return Ok(Vec::new()),
        Err(e) => return Err(e),
    };
    names.sort();
    let mut out = Vec::with_capacity(names.len());
    for name in names {
        match zk.get(&format!("{dir}/{name}"), false) {
            Ok((data, stat)) => {
                out.push(CandidateEntry::decode(&name, &data, stat.ephemeral_owner))
            }
            // Gone between the list and the read.
            Err(e) if e.code() == Some(ErrorCode::NoNode) => {}
            Err(e) => return Err(e),
        }
    }
    Ok(out)
}

/// The control node's operation and its Stat (`None`: no control node).
pub fn read_control(zk: &ZooKeeper, path: &str) -> Result<Option<(ControlOp, Stat)>> {
    match zk.get(&control_path(path), false) {
        Ok((data, stat)) => Ok(Some((ControlOp::decode(&data), stat))),
        Err(e) if e.code() == Some(ErrorCode::NoNode) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Now, in ms since the epoch (the registry's `since`).
pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry() -> CandidateEntry {
        CandidateEntry {
            name: "a".into(),
            data: b"10.0.0.1\0".to_vec(),
            priority: 50,
            ready: true,
            role: Role::Master,
            yielding: false,
            profile: "safe".into(),
            version: "0.1.0".into(),
            since_ms: 1234,
            stop_timeout_ms: 30000,
            session: 0,
        }
    }

    #[test]
    fn entries_round_trip() {
        let e = entry();
        assert_eq!(CandidateEntry::decode("a", &e.encode(), 0), e);
        assert_eq!(e.data_text(), "10.0.0.1");
        let text = String::from_utf8(e.encode()).unwrap();
        assert!(text.contains("data=31302e302e302e3100\n"), "{text}");
        assert!(text.contains("ready=1\nrole=master\n"), "{text}");
        // Damaged: never preferred.
        let d = CandidateEntry::decode("x", b"garbage", 7);
        assert_eq!((d.priority, d.ready, d.session), (0, false, 7));
    }

    #[test]
    fn control_ops_round_trip() {
        let s = ControlOp::Switchover {
            to: "b".into(),
            timeout: Duration::from_millis(60000),
            by: "host\npid 1".into(),
        };
        let back = ControlOp::decode(&s.encode());
        assert_eq!(
            back,
            ControlOp::Switchover {
                to: "b".into(),
                timeout: Duration::from_millis(60000),
                by: "host pid 1".into()
            }
        );
        let r = ControlOp::Resign {
            token: 42,
            by: "x".into(),
        };
        assert_eq!(ControlOp::decode(&r.encode()), r);
        assert_eq!(ControlOp::decode(b""), ControlOp::None);
        assert_eq!(ControlOp::decode(b"op=switchover\nto=\n"), ControlOp::None);
        assert_eq!(ControlOp::decode(b"op=explode\n"), ControlOp::None);
        assert!(ControlOp::None.encode().is_empty());
        for op in [
            ControlOp::Pause {
                length: Duration::from_secs(600),
                by: "x".into(),
                acked: None,
            },
            ControlOp::Pause {
                length: Duration::from_secs(600),
                by: "x".into(),
                acked: Some(77),
            },
            ControlOp::Resume {
                length: Duration::from_secs(600),
                by: "x".into(),
                acked: 77,
            },
        ] {
            assert_eq!(ControlOp::decode(&op.encode()), op);
            assert_eq!(op.holds_for(), Some(Duration::from_secs(600)));
        }
        // A damaged pause holds for the longest, never for nothing.
        assert_eq!(
            ControlOp::decode(b"op=pause\nlength_ms=x\n").holds_for(),
            Some(MAX_PAUSE)
        );
        assert_eq!(
            ControlOp::decode(b"op=resume\n"),
            ControlOp::Resume {
                length: MAX_PAUSE,
                by: String::new(),
                acked: 0
            }
        );
        assert_eq!(r.holds_for(), None);
    }

    #[test]
    fn names_are_checked_and_defaults_made_valid() {
        assert!(validate_name("host-a.example").is_ok());
        for bad in ["", ".", "..", "a/b", "a b", "any", &"x".repeat(201)] {
            let e = validate_name(bad).unwrap_err().to_string();
            assert!(e.contains("candidate name"), "{bad:?}: {e}");
        }
        assert_eq!(default_name(b"10.0.0.1\0"), "10.0.0.1");
        assert_eq!(default_name(b"a/b c\0"), "a_b_c");
        assert_eq!(default_name(b"\0"), "candidate");
        assert_eq!(default_name(b"any"), "candidateany");
        assert!(validate_name(&default_name(&[0xff; 400])).is_ok());
    }

    #[test]
    fn paths_are_siblings() {
        assert_eq!(root("/a/master"), "/a/master.zkha");
        assert_eq!(candidates_path("/m"), "/m.zkha/candidates");
        assert_eq!(control_path("/m"), "/m.zkha/control");
    }
}
