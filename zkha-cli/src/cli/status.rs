//! `zkha status`: who is master (and, in sequence mode, who is queued);
//! with `--explain` or `--json`, also whether the node is protected by an
//! ACL, the fencing breadcrumb (whether the last master left cleanly), the
//! candidates' registry (every safe-profile candidate, and whether the
//! master is one of them) and the operation in force on the control node.

use super::breadcrumb::{self, Breadcrumb, ReadError};
use super::common::{exit, now_ms, utc};
use super::switchover::{describe_op, in_force, master_entry, NOT_REGISTERED};
use clap::Args;
use zkha::elector::registry::{self, CandidateEntry, ControlOp};
use zkha::elector::{read_master, read_queue, MasterInfo};
use zkha::{Acl, ErrorCode, Id, Perms, Stat, ZooKeeper};

/// `zkha status` arguments.
#[derive(Debug, Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub target: super::common::ObserveArgs,
    /// Print JSON instead of text: the holder, the queue, the node's ACL,
    /// the fencing breadcrumb (PATH.breadcrumb: the last master, and
    /// whether it left cleanly; null when there is none), the registered
    /// candidates and the operation on the control node.
    #[arg(long, conflicts_with = "explain")]
    pub json: bool,
    /// Explain, one fact a line: the holder (data, session, token, since
    /// when, its registered candidate), the queue in sequence mode, whether
    /// the node is protected by an ACL, the fencing breadcrumb
    /// (PATH.breadcrumb: whether the last master left cleanly, or a new
    /// master will fence it), every registered candidate (PATH.zkha) and
    /// the operation on the control node.
    #[arg(long)]
    pub explain: bool,
    #[command(flatten)]
    pub credentials: super::common::CredentialArgs,
}

/// The holder of a node we may not read (creator-only ACL): what `exists`,
/// which needs no permission, tells.
fn protected(zk: &ZooKeeper, path: &str) -> zkha::Result<Option<MasterInfo>> {
    Ok(zk.exists(path, false)?.map(|stat| MasterInfo {
        path: path.to_owned(),
        data: Vec::new(),
        session: stat.ephemeral_owner,
        since_ms: stat.ctime,
        token: stat.czxid,
        is_me: false,
    }))
}

fn json_str(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// The node's bytes exactly, as lowercase hex (the text form drops the
/// design's trailing NUL, S5).
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn json(m: &MasterInfo) -> String {
    let ip = m.data_text().parse::<std::net::IpAddr>().ok();
    format!(
        "{{\"path\":{},\"data\":{},\"data_hex\":{},\"data_nul\":{},\"ip\":{},\"session\":\"{:#x}\",\"since_ms\":{},\"since\":{},\"token\":{}}}",
        json_str(&m.path),
        json_str(&m.data_text()),
        json_str(&hex(&m.data)),
        m.data.last() == Some(&0),
        ip.map_or("null".into(), |ip| json_str(&ip.to_string())),
        m.session,
        m.since_ms,
        json_str(&utc(m.since_ms)),
        m.token
    )
}

/// One line describing a holder.
pub fn describe(m: &MasterInfo) -> String {
    let age = (now_ms() - m.since_ms) as f64 / 1000.0;
    format!(
        "{} (session {:#x}, since {}, {age:.1} s ago, token {:#x})",
        m.data_text(),
        m.session,
        utc(m.since_ms),
        m.token
    )
}

/// What the node's ACL says about who may touch it.
#[derive(Debug)]
enum AclView {
    /// The ACL as read.
    Read(Vec<Acl>),
    /// Reading the ACL itself needs credentials (READ or ADMIN): protected.
    Unreadable,
    /// The node is gone (nobody holds it).
    NoNode,
    /// The read failed otherwise (the error's text).
    Unknown(String),
}

impl AclView {
    fn of(zk: &ZooKeeper, path: &str) -> AclView {
        match zk.get_acl(path) {
            Ok((acl, _)) => AclView::Read(acl),
            Err(e) if e.code() == Some(ErrorCode::NoAuth) => AclView::Unreadable,
            Err(e) if e.code() == Some(ErrorCode::NoNode) => AclView::NoNode,
            Err(e) => AclView::Unknown(e.to_string()),
        }
    }

    /// Open: `world:anyone` may do everything (the seed design's ACL, F10).
    /// `None` when not known.
    fn open(&self) -> Option<bool> {
        match self {
            AclView::Read(acl) => Some(
                acl.iter()
                    .any(|a| a.id == Id::anyone() && a.perms.contains(Perms::ALL)),
            ),
            AclView::Unreadable => Some(false),
            AclView::NoNode | AclView::Unknown(_) => None,
        }
    }

    /// The `acl:` line of `--explain`.
    fn explain(&self) -> String {
        match self {
            AclView::Read(acl) if self.open() == Some(true) => format!(
                "open: world:anyone may do anything (entries: {})",
                entries_text(acl)
            ),
            AclView::Read(acl) => format!("protected: {}", entries_text(acl)),
            AclView::Unreadable => {
                "protected: even its ACL is not readable without credentials (--digest)".into()
            }
            AclView::NoNode => "no node".into(),
            AclView::Unknown(e) => format!("unknown ({e})"),
        }
    }

    fn json(&self, node: &str) -> String {
        let open = self.open().map_or("null".to_owned(), |o| o.to_string());
        let (readable, entries) = match self {
            AclView::Read(acl) => (
                "true",
                format!(
                    "[{}]",
                    acl.iter()
                        .map(|a| format!(
                            "{{\"scheme\":{},\"id\":{},\"perms\":{}}}",
                            json_str(&a.id.scheme),
                            json_str(&a.id.id),
                            json_str(&perms_text(a.perms))
                        ))
                        .collect::<Vec<_>>()
                        .join(",")
                ),
            ),
            AclView::Unreadable => ("false", "null".to_owned()),
            AclView::NoNode | AclView::Unknown(_) => ("null", "null".to_owned()),
        };
        let error = match self {
            AclView::Unknown(e) => json_str(e),
            _ => "null".into(),
        };
        format!(
            "{{\"node\":{},\"open\":{open},\"readable\":{readable},\"entries\":{entries},\"error\":{error}}}",
            json_str(node)
        )
    }
}

/// Permission bits as ZooKeeper's CLI writes them: `cdrwa`.
fn perms_text(p: Perms) -> String {
    [
        (Perms::CREATE, 'c'),
        (Perms::DELETE, 'd'),
        (Perms::READ, 'r'),
        (Perms::WRITE, 'w'),
        (Perms::ADMIN, 'a'),
    ]
    .iter()
    .filter(|(bit, _)| p.contains(*bit))
    .map(|(_, c)| *c)
    .collect()
}

fn entries_text(acl: &[Acl]) -> String {
    acl.iter()
        .map(|a| format!("{}:{}={}", a.id.scheme, a.id.id, perms_text(a.perms)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The fencing breadcrumb, as `status` found it.
#[derive(Debug)]
enum BreadcrumbView {
    /// None yet: no master has claimed it (or the path was never used).
    Absent,
    /// Read and understood.
    Read(Breadcrumb),
    /// Its ACL (the election node's) hides it: --digest.
    Unreadable,
    /// It exists but is not a breadcrumb (what is wrong): a new master
    /// fences.
    Malformed(String),
    /// The read failed otherwise (the error's text): unknown.
    Error(String),
}

impl BreadcrumbView {
    fn of(zk: &ZooKeeper, path: &str) -> BreadcrumbView {
        match breadcrumb::read(zk, path) {
            Ok(None) => BreadcrumbView::Absent,
            Ok(Some((b, _))) => BreadcrumbView::Read(b),
            Err(ReadError::Zk(e)) if e.code() == Some(ErrorCode::NoAuth) => {
                BreadcrumbView::Unreadable
            }
            Err(e @ ReadError::Malformed { .. }) => BreadcrumbView::Malformed(e.to_string()),
            Err(ReadError::Zk(e)) => BreadcrumbView::Error(e.to_string()),
        }
    }

    /// The `breadcrumb:` lines of `--explain`; `holder`: the current
    /// master's session, whose own breadcrumb is not clean while it runs.
    fn explain(&self, node: &str, holder: Option<i64>) -> Vec<String> {
        let b = match self {
            BreadcrumbView::Absent => {
                return vec![format!(
                    "breadcrumb: {node}: none (no master has claimed it; nothing to fence)"
                )]
            }
            BreadcrumbView::Unreadable => {
                return vec![format!(
                    "breadcrumb: {node}: protected by its ACL (use --digest)"
                )]
            }
            BreadcrumbView::Malformed(e) => {
                return vec![format!(
                    "breadcrumb: {node}: NOT clean: unreadable ({e}); a new master will fence"
                )]
            }
            BreadcrumbView::Error(e) => return vec![format!("breadcrumb: {node}: unknown ({e})")],
            BreadcrumbView::Read(b) => b,
        };
        let state = if b.clean {
            match &b.left {
                Some(why) => format!("clean: the last master left cleanly ({why}; no fence)"),
                None => "clean: the last master exited or resigned cleanly (no fence)".into(),
            }
        } else if holder == Some(b.session) {
            "the current master's (marked clean when it exits or resigns)".into()
        } else {
            "NOT clean: its session ended without a clean exit, a new master will fence it".into()
        };
        let age = (now_ms() - b.since_ms) as f64 / 1000.0;
        vec![
            format!("breadcrumb: {node}: {state}"),
            format!("  data: {:?}", b.data_text()),
            format!("  session: {:#x}", b.session),
            format!("  token: {} ({:#x})", b.token, b.token),
            format!("  since: {} ({age:.1} s ago)", utc(b.since_ms)),
        ]
    }

    /// `null` when there is none.
    fn json(&self, node: &str) -> String {
        match self {
            BreadcrumbView::Absent => "null".into(),
            BreadcrumbView::Read(b) => format!(
                "{{\"path\":{},\"clean\":{},\"left\":{},\"data\":{},\"session\":\"{:#x}\",\"token\":{},\"since_ms\":{},\"since\":{},\"readable\":true,\"error\":null}}",
                json_str(node),
                b.clean,
                b.left.as_deref().map_or("null".into(), json_str),
                json_str(&b.data_text()),
                b.session,
                b.token,
                b.since_ms,
                json_str(&utc(b.since_ms)),
            ),
            BreadcrumbView::Unreadable
            | BreadcrumbView::Malformed(_)
            | BreadcrumbView::Error(_) => {
                let (clean, readable, error) = match self {
                    BreadcrumbView::Malformed(e) => ("false", "true", json_str(e)),
                    BreadcrumbView::Error(e) => ("null", "null", json_str(e)),
                    _ => ("null", "false", "null".to_owned()),
                };
                format!(
                    "{{\"path\":{},\"clean\":{clean},\"left\":null,\"data\":null,\"session\":null,\"token\":null,\"since_ms\":null,\"since\":null,\"readable\":{readable},\"error\":{error}}}",
                    json_str(node)
                )
            }
        }
    }
}

/// The candidates' registry and the control node, as `status` found them.
#[derive(Debug)]
enum RegistryView {
    /// Read: the candidates (empty: nobody registered) and the control
    /// node (`None`: none, or empty).
    Read {
        candidates: Vec<CandidateEntry>,
        control: Option<(ControlOp, Stat)>,
    },
    /// The election's ACL hides them: --digest.
    Unreadable(String),
    /// The read failed otherwise (the error's text).
    Error(String),
}

impl RegistryView {
    fn of(zk: &ZooKeeper, path: &str) -> RegistryView {
        let read = registry::read_candidates(zk, path)
            .map_err(|e| (registry::candidates_path(path), e))
            .and_then(|candidates| {
                registry::read_control(zk, path)
                    .map(|control| RegistryView::Read {
                        candidates,
                        control: control.filter(|(op, _)| *op != ControlOp::None),
                    })
                    .map_err(|e| (registry::control_path(path), e))
            });
        match read {
            Ok(view) => view,
            Err((node, e)) if e.code() == Some(ErrorCode::NoAuth) => RegistryView::Unreadable(node),
            Err((node, e)) => RegistryView::Error(format!("{node}: {e}")),
        }
    }

    fn candidates(&self) -> Option<&[CandidateEntry]> {
        match self {
            RegistryView::Read { candidates, .. } => Some(candidates),
            _ => None,
        }
    }

    /// The registered candidate holding the master node: `Some(None)` when
    /// the master is not one, `None` when unknown (nobody is master, the
    /// registry is unreadable).
    fn master_candidate(&self, master: Option<&MasterInfo>) -> Option<Option<&CandidateEntry>> {
        let m = master?;
        Some(master_entry(self.candidates()?, m).filter(|c| c.profile == "safe"))
    }

    /// The `candidates:` and `control:` lines of `--explain`.
    fn explain(&self, path: &str, master: Option<&MasterInfo>) -> Vec<String> {
        let dir = registry::candidates_path(path);
        let control_node = registry::control_path(path);
        let (candidates, control) = match self {
            RegistryView::Read {
                candidates,
                control,
            } => (candidates, control),
            RegistryView::Unreadable(node) => {
                return vec![format!(
                    "candidates: {node}: protected by the election's ACL (use --digest)"
                )]
            }
            RegistryView::Error(e) => return vec![format!("candidates: unknown ({e})")],
        };
        let mut out = Vec::new();
        if candidates.is_empty() {
            out.push(format!(
                "candidates: none registered under {dir} (no zkha safe-profile candidate)"
            ));
        } else {
            out.push(format!(
                "candidates: {} registered under {dir}",
                candidates.len()
            ));
        }
        for c in candidates {
            let is_master = master.is_some_and(|m| m.session == c.session);
            let age = (now_ms() - c.since_ms) as f64 / 1000.0;
            out.push(format!(
                "  {}: {}{}, priority {}{}, {}{}, data {:?}, session {:#x}, profile {}, version {}, since {} ({age:.1} s ago), stop timeout {} ms",
                c.name,
                c.role.as_str(),
                if is_master { " (holds the master node)" } else { "" },
                c.priority,
                if c.priority == 0 { " (never master)" } else { "" },
                if c.ready { "ready" } else { "NOT ready" },
                if c.yielding { ", yielding (just resigned)" } else { "" },
                c.data_text(),
                c.session,
                c.profile,
                c.version,
                utc(c.since_ms),
                c.stop_timeout_ms,
            ));
        }
        match control {
            None => out.push(format!("control: {control_node}: none")),
            Some((op, stat)) => {
                let state = if in_force(op, stat, master.map(|m| m.token)) {
                    "in force"
                } else {
                    "stale (no longer in force; the next claim clears it)"
                };
                out.push(format!(
                    "control: {control_node}: {}: {state}",
                    describe_op(op, stat)
                ));
            }
        }
        out
    }

    /// `"candidates"`, `"control"`: `null` when unreadable; `control`
    /// `null` also when there is no operation.
    fn json(&self, path: &str, master: Option<&MasterInfo>) -> (String, String) {
        let RegistryView::Read {
            candidates,
            control,
        } = self
        else {
            return ("null".into(), "null".into());
        };
        let entries: Vec<String> = candidates
            .iter()
            .map(|c| {
                format!(
                    "{{\"name\":{},\"data\":{},\"priority\":{},\"ready\":{},\"role\":{},\"yielding\":{},\"profile\":{},\"version\":{},\"since_ms\":{},\"since\":{},\"stop_timeout_ms\":{},\"session\":\"{:#x}\",\"master\":{}}}",
                    json_str(&c.name),
                    json_str(&c.data_text()),
                    c.priority,
                    c.ready,
                    json_str(c.role.as_str()),
                    c.yielding,
                    json_str(&c.profile),
                    json_str(&c.version),
                    c.since_ms,
                    json_str(&utc(c.since_ms)),
                    c.stop_timeout_ms,
                    c.session,
                    master.is_some_and(|m| m.session == c.session),
                )
            })
            .collect();
        let control = match control {
            None => "null".to_owned(),
            Some((op, stat)) => {
                let (name, to, timeout, token, by) = match op {
                    ControlOp::Switchover { to, timeout, by } => (
                        "switchover",
                        json_str(to),
                        timeout.as_millis().to_string(),
                        "null".to_owned(),
                        by,
                    ),
                    ControlOp::Resign { token, by } => (
                        "resign",
                        "null".to_owned(),
                        "null".to_owned(),
                        token.to_string(),
                        by,
                    ),
                    ControlOp::Pause { length, by, acked } => (
                        "pause",
                        "null".to_owned(),
                        length.as_millis().to_string(),
                        acked.map_or("null".to_owned(), |a| a.to_string()),
                        by,
                    ),
                    ControlOp::Resume { length, by, acked } => (
                        "resume",
                        "null".to_owned(),
                        length.as_millis().to_string(),
                        acked.to_string(),
                        by,
                    ),
                    ControlOp::None => unreachable!("filtered out"),
                };
                format!(
                    "{{\"path\":{},\"op\":{},\"to\":{to},\"timeout_ms\":{timeout},\"token\":{token},\"by\":{},\"since_ms\":{},\"since\":{},\"in_force\":{}}}",
                    json_str(&registry::control_path(path)),
                    json_str(name),
                    json_str(by),
                    stat.mtime,
                    json_str(&utc(stat.mtime)),
                    in_force(op, stat, master.map(|m| m.token)),
                )
            }
        };
        (format!("[{}]", entries.join(",")), control)
    }
}

/// `--explain`: one fact a line.
fn explain(
    path: &str,
    sequence: bool,
    master: Option<&MasterInfo>,
    hidden: bool,
    queue: &[MasterInfo],
    reg: &RegistryView,
) {
    println!(
        "path: {path}{}",
        if sequence {
            " (sequence mode: the election parent)"
        } else {
            ""
        }
    );
    match master {
        Some(m) => {
            if hidden {
                println!("holder: <data protected by the node's ACL; use --digest>");
            } else {
                println!("holder: {:?}", m.data_text());
                println!(
                    "  bytes: {} ({} bytes{})",
                    hex(&m.data),
                    m.data.len(),
                    if m.data.last() == Some(&0) {
                        ", ending with the design's NUL"
                    } else {
                        ", no trailing NUL: not the classic design's data (S5)"
                    }
                );
            }
            println!("  session: {:#x}", m.session);
            println!("  token: {} ({:#x}, the node's czxid)", m.token, m.token);
            let age = (now_ms() - m.since_ms) as f64 / 1000.0;
            println!("  since: {} ({age:.1} s ago)", utc(m.since_ms));
            println!("  node: {}", m.path);
            match reg.master_candidate(master) {
                Some(Some(c)) => println!(
                    "  candidate: {} (registered, profile {})",
                    c.name, c.profile
                ),
                Some(None) => println!("  candidate: none: {NOT_REGISTERED}"),
                None => println!("  candidate: unknown (the registry is not readable)"),
            }
        }
        None => println!("holder: nobody"),
    }
    if sequence {
        match queue.len() {
            0 => println!("queue: empty"),
            n => println!("queue: {n} candidate(s), lowest sequence first"),
        }
        for (i, c) in queue.iter().enumerate() {
            let role = if i == 0 { "master" } else { "standby" };
            println!("  #{i} {role}: {} ({})", describe(c), c.path);
        }
    }
}

pub fn run(args: StatusArgs) -> Result<u8, Box<dyn std::error::Error>> {
    let zk = args.credentials.connect(&args.target)?;
    let (master, hidden) = match read_master(&zk, &args.target.path, args.target.sequence) {
        Ok(m) => (m, false),
        Err(e) if e.code() == Some(zkha::ErrorCode::NoAuth) && !args.target.sequence => {
            (protected(&zk, &args.target.path)?, true)
        }
        Err(e) => return Err(e.into()),
    };
    let queue = if args.target.sequence {
        read_queue(&zk, &args.target.path)?
    } else {
        Vec::new()
    };
    // Whose ACL: the master node; in sequence mode the holder's node, or the
    // election parent when nobody holds one.
    let acl_node = match (&master, args.target.sequence) {
        (Some(m), true) => m.path.clone(),
        _ => args.target.path.clone(),
    };
    let acl = if args.json || args.explain {
        AclView::of(&zk, &acl_node)
    } else {
        AclView::NoNode
    };
    let crumb = if args.json || args.explain {
        BreadcrumbView::of(&zk, &args.target.path)
    } else {
        BreadcrumbView::Absent
    };
    let crumb_node = breadcrumb::breadcrumb_path(&args.target.path);
    let reg = if args.json || args.explain {
        RegistryView::of(&zk, &args.target.path)
    } else {
        RegistryView::Error("not read".into())
    };
    if args.json {
        let queue_json: Vec<String> = queue.iter().map(json).collect();
        let (candidates, control) = reg.json(&args.target.path, master.as_ref());
        let (registered, holder) = match reg.master_candidate(master.as_ref()) {
            Some(Some(c)) => ("true".to_owned(), json_str(&c.name)),
            Some(None) => ("false".to_owned(), "null".to_owned()),
            None => ("null".to_owned(), "null".to_owned()),
        };
        println!(
            "{{\"path\":{},\"sequence\":{},\"master\":{},\"protected\":{hidden},\"queue\":[{}],\"acl\":{},\"breadcrumb\":{},\"master_registered\":{registered},\"master_candidate\":{holder},\"candidates\":{candidates},\"control\":{control}}}",
            json_str(&args.target.path),
            args.target.sequence,
            master.as_ref().map_or("null".into(), json),
            queue_json.join(","),
            acl.json(&acl_node),
            crumb.json(&crumb_node)
        );
    } else if args.explain {
        explain(
            &args.target.path,
            args.target.sequence,
            master.as_ref(),
            hidden,
            &queue,
            &reg,
        );
        println!("acl of {acl_node}: {}", acl.explain());
        for line in crumb.explain(&crumb_node, master.as_ref().map(|m| m.session)) {
            println!("{line}");
        }
        for line in reg.explain(&args.target.path, master.as_ref()) {
            println!("{line}");
        }
    } else {
        match &master {
            Some(m) if hidden => println!(
                "master of {}: <data protected by the node's ACL; use --digest> {}",
                args.target.path,
                describe(m)
            ),
            Some(m) => println!("master of {}: {}", args.target.path, describe(m)),
            None => println!("nobody is master of {}", args.target.path),
        }
        for (i, c) in queue.iter().enumerate().skip(1) {
            println!("  standby #{i}: {} ({})", describe(c), c.path);
        }
    }
    Ok(if master.is_some() {
        exit::OK
    } else {
        exit::NO_MASTER
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_strings_are_escaped() {
        let nasty = "q\"b\\n\nt\tc\u{1}d\u{7f}é\u{1F600}/";
        let quoted = json_str(nasty);
        assert_eq!(
            quoted,
            "\"q\\\"b\\\\n\\u000at\\u0009c\\u0001d\u{7f}é\u{1F600}/\""
        );
        let back: serde_json::Value = serde_json::from_str(&quoted).unwrap();
        assert_eq!(back, serde_json::Value::String(nasty.to_owned()));
    }

    #[test]
    fn acl_views() {
        let open = AclView::Read(Acl::open_unsafe());
        assert_eq!(open.open(), Some(true));
        assert!(open.explain().starts_with("open"), "{}", open.explain());
        let read_only = AclView::Read(Acl::read_unsafe());
        assert_eq!(read_only.open(), Some(false));
        assert_eq!(read_only.explain(), "protected: world:anyone=r");
        let creator = AclView::Read(vec![Acl {
            perms: Perms::ALL,
            id: Id {
                scheme: "digest".into(),
                id: "ha:x\"y".into(),
            },
        }]);
        assert_eq!(creator.explain(), "protected: digest:ha:x\"y=cdrwa");
        let j: serde_json::Value = serde_json::from_str(&creator.json("/m")).unwrap();
        assert_eq!(j["open"], false);
        assert_eq!(j["entries"][0]["id"], "ha:x\"y");
        assert_eq!(j["entries"][0]["perms"], "cdrwa");
        assert_eq!(AclView::Unreadable.open(), Some(false));
        let j: serde_json::Value =
            serde_json::from_str(&AclView::Unknown("boom \"x\"".into()).json("/m")).unwrap();
        assert_eq!(j["open"], serde_json::Value::Null);
        assert_eq!(j["error"], "boom \"x\"");
        assert_eq!(perms_text(Perms::READ | Perms::ADMIN), "ra");
    }

    /// A breadcrumb written by `claim` (as `zkha run` does), then marked
    /// clean, as `status` shows it.
    #[test]
    fn shows_a_claimed_breadcrumb() {
        let server = zkha_testing::TestingServer::shared().unwrap();
        let zk = ZooKeeper::builder(server.connect_string())
            .connect(std::time::Duration::from_secs(30))
            .unwrap();
        let path = zkha_testing::unique_path("status-claim");
        let node = breadcrumb::breadcrumb_path(&path);
        assert!(matches!(
            BreadcrumbView::of(&zk, &path),
            BreadcrumbView::Absent
        ));
        assert_eq!(BreadcrumbView::Absent.json(&node), "null");
        let mine = Breadcrumb {
            data: b"10.0.0.4\0".to_vec(),
            session: 0xabc,
            token: 77,
            since_ms: 1_700_000_000_000,
            clean: false,
            left: None,
        };
        breadcrumb::write_for_test(&zk, &path, &Acl::open_unsafe(), &mine);
        let view = BreadcrumbView::of(&zk, &path);
        let lines = view.explain(&node, None);
        assert!(lines[0].contains("NOT clean"), "{lines:?}");
        assert_eq!(lines[1], "  data: \"10.0.0.4\"");
        assert_eq!(lines[2], "  session: 0xabc");
        assert_eq!(lines[3], "  token: 77 (0x4d)");
        let own = view.explain(&node, Some(0xabc));
        assert!(own[0].contains("the current master's"), "{own:?}");
        let j: serde_json::Value = serde_json::from_str(&view.json(&node)).unwrap();
        assert_eq!(j["path"], node.as_str());
        assert_eq!(j["clean"], false);
        assert_eq!(j["data"], "10.0.0.4");
        assert_eq!(j["session"], "0xabc");
        assert_eq!(j["token"], 77);
        assert_eq!(j["since_ms"], 1_700_000_000_000i64);

        assert!(breadcrumb::mark_clean(&zk, &path, 0xabc, 77, "resigned").unwrap());
        let view = BreadcrumbView::of(&zk, &path);
        let lines = view.explain(&node, None);
        assert!(lines[0].contains(": clean: "), "{lines:?}");
        assert!(lines[0].contains("(resigned; no fence)"), "{lines:?}");
        let j: serde_json::Value = serde_json::from_str(&view.json(&node)).unwrap();
        assert_eq!(j["clean"], true);
        assert_eq!(j["left"], "resigned");

        // Hidden by its ACL: said so, not an error.
        let hidden = zkha_testing::unique_path("status-claim-acl");
        let none = [Acl {
            perms: Perms::WRITE,
            id: Id::anyone(),
        }];
        breadcrumb::write_for_test(&zk, &hidden, &none, &mine);
        let view = BreadcrumbView::of(&zk, &hidden);
        assert!(matches!(view, BreadcrumbView::Unreadable), "{view:?}");
        let j: serde_json::Value = serde_json::from_str(&view.json(&node)).unwrap();
        assert_eq!(j["readable"], false);
        assert!(j["clean"].is_null());
    }
}
