//! `zkha status --explain` and `--json` against a real server: the holder
//! (data, session, token, since), the queue in sequence mode, whether the
//! node is open or protected by its ACL, and the fencing breadcrumb
//! (`PATH.breadcrumb`, written here by hand in its documented JSON).

use crate::cli_kit;
use crate::common;

use cli_kit::{hosts, zkha};
use common::eventually;
use std::process::{Output, Stdio};
use std::time::Duration;
use zkha::{Acl, CreateMode, ZooKeeper};
use zkha_testing::unique_path;

const LONG: Duration = Duration::from_secs(30);

fn status(path: &str, extra: &[&str]) -> Output {
    zkha()
        .args(["status", "--hosts", hosts(), "--path", path])
        .args(extra)
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

fn json(o: &Output) -> serde_json::Value {
    serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&o.stdout)))
}

fn connect() -> ZooKeeper {
    ZooKeeper::builder(hosts()).connect(LONG).unwrap()
}

/// The line of `out` starting with `key`.
fn line<'a>(out: &'a str, key: &str) -> &'a str {
    out.lines()
        .find(|l| l.trim_start().starts_with(key))
        .unwrap_or_else(|| panic!("no {key:?} line in:\n{out}"))
}

#[test]
fn explain_and_json_name_the_holder_of_an_open_node() {
    let parent = unique_path("status-open");
    let path = format!("{parent}/master");
    let holder = connect();
    holder
        .create(&parent, b"", &Acl::open_unsafe(), CreateMode::Persistent)
        .unwrap();
    let (_, stat) = holder
        .create2(
            &path,
            b"10.0.0.7\0",
            &Acl::open_unsafe(),
            CreateMode::Ephemeral,
        )
        .unwrap();
    let session = holder.client_id().unwrap().id;
    assert_eq!(stat.ephemeral_owner, session);

    let out = status(&path, &["--explain"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let out = text(&out);
    assert_eq!(line(&out, "holder:"), "holder: \"10.0.0.7\"", "{out}");
    assert_eq!(
        line(&out, "session:").trim(),
        format!("session: {session:#x}")
    );
    assert!(
        line(&out, "token:")
            .trim()
            .starts_with(&format!("token: {} ({:#x}", stat.czxid, stat.czxid)),
        "{out}"
    );
    assert!(line(&out, "since:").contains(" UTC ("), "{out}");
    assert!(
        line(&out, "acl of").starts_with(&format!("acl of {path}: open")),
        "{out}"
    );
    assert_eq!(
        line(&out, "breadcrumb:"),
        format!("breadcrumb: {path}.breadcrumb: none (no master has claimed it; nothing to fence)")
    );
    assert!(
        !out.contains("queue:"),
        "no queue outside sequence mode: {out}"
    );

    let out = status(&path, &["--json"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let j = json(&out);
    assert_eq!(j["master"]["data"], "10.0.0.7");
    assert_eq!(j["master"]["session"], format!("{session:#x}"));
    assert_eq!(j["master"]["token"], stat.czxid);
    assert_eq!(j["master"]["since_ms"], stat.ctime);
    assert_eq!(j["acl"]["node"], path.as_str());
    assert_eq!(j["acl"]["open"], true);
    assert_eq!(j["acl"]["entries"][0]["scheme"], "world");
    assert_eq!(j["acl"]["entries"][0]["perms"], "cdrwa");
    assert!(j["breadcrumb"].is_null(), "none yet: {j}");
    assert!(j.get("breadcrumb").is_some(), "the breadcrumb's place: {j}");

    // Nobody: exit 4, and the explanation says so.
    holder.delete(&path, -1).unwrap();
    let out = status(&path, &["--explain"]);
    assert_eq!(out.status.code(), Some(4));
    let out = text(&out);
    assert_eq!(line(&out, "holder:"), "holder: nobody");
    assert!(line(&out, "acl of").ends_with(": no node"), "{out}");
    let out = status(&path, &["--json"]);
    assert_eq!(out.status.code(), Some(4));
    let j = json(&out);
    assert!(j["master"].is_null() && j["acl"]["open"].is_null(), "{j}");
}

#[test]
fn a_creator_only_node_is_protected_and_an_open_one_is_not() {
    // `zkha run --digest` makes its node creator-only (as zkha-cli/tests/cli/security.rs).
    let path = format!("{}/master", unique_path("status-acl"));
    let mut run = zkha()
        .args(["run", "--hosts", hosts(), "--path", &path])
        .args(["--data", "10.0.0.8", "--digest", "ha:s3cret"])
        .args(["--session-timeout", "4000", "--", "sleep", "60"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let observer = connect();
    assert!(
        eventually(LONG, || observer
            .exists(&path, false)
            .is_ok_and(|s| s.is_some())),
        "zkha run never created {path}"
    );
    let stat = observer.exists(&path, false).unwrap().unwrap();

    // Without credentials: the data and the ACL itself are hidden.
    let out = status(&path, &["--explain"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let out = text(&out);
    assert!(line(&out, "holder:").contains("protected"), "{out}");
    assert!(
        line(&out, "token:").contains(&stat.czxid.to_string()),
        "{out}"
    );
    assert!(
        line(&out, "acl of").starts_with(&format!("acl of {path}: protected")),
        "{out}"
    );
    // With them: the data, and the one entry (the creator's digest identity).
    let out = status(&path, &["--explain", "--digest", "ha:s3cret"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let out = text(&out);
    assert_eq!(line(&out, "holder:"), "holder: \"10.0.0.8\"", "{out}");
    assert!(
        line(&out, "acl of").starts_with(&format!("acl of {path}: protected: digest:ha:")),
        "{out}"
    );
    assert!(line(&out, "acl of").ends_with("=cdrwa"), "{out}");
    let j = json(&status(&path, &["--json"]));
    assert_eq!(j["acl"]["open"], false);
    assert_eq!(j["acl"]["readable"], false);
    assert_eq!(j["protected"], true);
    assert_eq!(
        j["master"]["session"],
        format!("{:#x}", stat.ephemeral_owner)
    );
    let j = json(&status(&path, &["--json", "--digest", "ha:s3cret"]));
    assert_eq!(j["acl"]["open"], false);
    assert_eq!(j["acl"]["readable"], true);
    assert_eq!(j["acl"]["entries"][0]["scheme"], "digest");

    // SAFETY: signals our own child process.
    unsafe { libc::kill(run.id() as i32, libc::SIGTERM) };
    assert_eq!(run.wait().unwrap().code(), Some(128 + libc::SIGTERM));

    // The same path, now held by an open node (created in zkha's
    // creator-only parent, so with its credentials): open.
    observer.add_auth("digest", b"ha:s3cret").unwrap();
    assert!(
        eventually(LONG, || observer
            .exists(&path, false)
            .is_ok_and(|s| s.is_none())),
        "zkha run's node outlived it"
    );
    observer
        .create(
            &path,
            b"10.0.0.9\0",
            &Acl::open_unsafe(),
            CreateMode::Ephemeral,
        )
        .unwrap();
    let out = text(&status(&path, &["--explain"]));
    assert!(
        line(&out, "acl of").starts_with(&format!("acl of {path}: open")),
        "{out}"
    );
    let j = json(&status(&path, &["--json"]));
    assert_eq!(j["acl"]["open"], true);
}

#[test]
fn sequence_mode_shows_the_queue() {
    let parent = unique_path("status-seq");
    let first = connect();
    first
        .create(&parent, b"", &Acl::open_unsafe(), CreateMode::Persistent)
        .unwrap();
    let second = connect();
    let mut nodes = Vec::new();
    for (zk, data) in [(&first, "10.0.1.1"), (&second, "10.0.1.2")] {
        let id = zk.client_id().unwrap().id;
        let (node, stat) = zk
            .create2(
                &format!("{parent}/{id:016x}-n_"),
                format!("{data}\0").as_bytes(),
                &Acl::open_unsafe(),
                CreateMode::EphemeralSequential,
            )
            .unwrap();
        nodes.push((node, id, stat.czxid));
    }

    let out = status(&parent, &["--sequence", "--explain"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let out = text(&out);
    assert_eq!(line(&out, "holder:"), "holder: \"10.0.1.1\"", "{out}");
    assert_eq!(line(&out, "node:").trim(), format!("node: {}", nodes[0].0));
    assert_eq!(
        line(&out, "queue:"),
        "queue: 2 candidate(s), lowest sequence first"
    );
    let master_line = line(&out, "#0 master:");
    assert!(
        master_line.contains("10.0.1.1") && master_line.contains(&nodes[0].0),
        "{out}"
    );
    let standby = line(&out, "#1 standby:");
    assert!(
        standby.contains("10.0.1.2") && standby.contains(&nodes[1].0),
        "{out}"
    );
    assert!(
        line(&out, "acl of").starts_with(&format!("acl of {}: open", nodes[0].0)),
        "{out}"
    );

    let j = json(&status(&parent, &["--sequence", "--json"]));
    assert_eq!(j["sequence"], true);
    assert_eq!(j["master"]["session"], format!("{:#x}", nodes[0].1));
    let queue = j["queue"].as_array().unwrap();
    assert_eq!(queue.len(), 2, "{j}");
    for (q, (node, id, token)) in queue.iter().zip(&nodes) {
        assert_eq!(q["path"], node.as_str());
        assert_eq!(q["session"], format!("{id:#x}"));
        assert_eq!(q["token"], *token);
    }
    assert!(j["breadcrumb"].is_null());
}

/// The breadcrumb as `zkha run` writes it (docs: "Fencing").
fn breadcrumb_json(data: &str, session: i64, token: i64, since_ms: i64, clean: bool) -> Vec<u8> {
    serde_json::json!({
        "data": data, "session": format!("{session:#x}"), "token": token,
        "since_ms": since_ms, "clean": clean,
    })
    .to_string()
    .into_bytes()
}

#[test]
fn explain_and_json_show_the_breadcrumb() {
    let path = format!("{}/master", unique_path("status-crumb"));
    let node = format!("{path}.breadcrumb");
    let zk = connect();
    zk.create(
        path.rsplit_once('/').unwrap().0,
        b"",
        &Acl::open_unsafe(),
        CreateMode::Persistent,
    )
    .unwrap();
    // A master that is gone, without a clean exit: a new one will fence it.
    let since = 1_700_000_000_123;
    zk.create(
        &node,
        &breadcrumb_json("10.0.0.5\0", 0x5eed, 4242, since, false),
        &Acl::open_unsafe(),
        CreateMode::Persistent,
    )
    .unwrap();
    let out = status(&path, &["--explain"]);
    assert_eq!(out.status.code(), Some(4), "nobody holds it: {out:?}");
    let out = text(&out);
    assert_eq!(
        line(&out, "breadcrumb:"),
        format!(
            "breadcrumb: {node}: NOT clean: its session ended without a clean exit, \
             a new master will fence it"
        ),
        "{out}"
    );
    let after: Vec<&str> = out
        .lines()
        .skip_while(|l| !l.starts_with("breadcrumb:"))
        .collect();
    assert_eq!(after[1], "  data: \"10.0.0.5\"", "{out}");
    assert_eq!(after[2], "  session: 0x5eed", "{out}");
    assert_eq!(after[3], "  token: 4242 (0x1092)", "{out}");
    assert!(
        after[4].starts_with("  since: 2023-11-14 22:13:20.123 UTC ("),
        "the holder's time format: {out}"
    );
    let j = json(&status(&path, &["--json"]));
    let b = &j["breadcrumb"];
    assert_eq!(b["path"], node.as_str(), "{j}");
    assert_eq!(b["clean"], false);
    assert_eq!(b["data"], "10.0.0.5");
    assert_eq!(b["session"], "0x5eed");
    assert_eq!(b["token"], 4242);
    assert_eq!(b["since_ms"], since);

    // Marked clean (a graceful exit): no fence.
    zk.set(
        &node,
        &breadcrumb_json("10.0.0.5\0", 0x5eed, 4242, since, true),
        -1,
    )
    .unwrap();
    let out = text(&status(&path, &["--explain"]));
    assert_eq!(
        line(&out, "breadcrumb:"),
        format!("breadcrumb: {node}: clean: the last master exited or resigned cleanly (no fence)"),
        "{out}"
    );
    let j = json(&status(&path, &["--json"]));
    assert_eq!(j["breadcrumb"]["clean"], true, "{j}");

    // The current master's own breadcrumb is not clean while it runs: that
    // is no reason to fence, and --explain does not say it is.
    let (_, stat) = zk
        .create2(
            &path,
            b"10.0.0.6\0",
            &Acl::open_unsafe(),
            CreateMode::Ephemeral,
        )
        .unwrap();
    let session = zk.client_id().unwrap().id;
    zk.set(
        &node,
        &breadcrumb_json("10.0.0.6\0", session, stat.czxid, stat.ctime, false),
        -1,
    )
    .unwrap();
    let out = text(&status(&path, &["--explain"]));
    assert_eq!(
        line(&out, "breadcrumb:"),
        format!("breadcrumb: {node}: the current master's (marked clean when it exits or resigns)"),
        "{out}"
    );

    // Damaged: not clean (fence), with a reason, not a crash.
    zk.set(&node, b"{not json", -1).unwrap();
    let out = status(&path, &["--explain"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let out = text(&out);
    let l = line(&out, "breadcrumb:");
    assert!(
        l.starts_with(&format!("breadcrumb: {node}: NOT clean: unreadable (")),
        "{out}"
    );
    let j = json(&status(&path, &["--json"]));
    assert_eq!(j["breadcrumb"]["clean"], false, "{j}");
    assert!(
        j["breadcrumb"]["error"]
            .as_str()
            .unwrap()
            .contains("not JSON"),
        "{j}"
    );
}

/// A candidate process, killed should the test end without stopping it.
struct Cand(std::process::Child);

impl Drop for Cand {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `zkha candidate --name NAME` (safe profile: it registers).
fn candidate(path: &str, name: &str, data: &str, extra: &[&str]) -> Cand {
    Cand(
        zkha()
            .args(["candidate", "--hosts", hosts(), "--path", path])
            .args(["--name", name, "--data", data, "--session-timeout", "4000"])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    )
}

#[test]
fn explain_and_json_list_the_candidates_and_the_control_node() {
    use zkha::elector::registry::{self, ControlOp};
    let path = format!("{}/master", unique_path("status-registry"));
    let zk = connect();
    let mut a = candidate(&path, "a", "10.0.0.1", &[]);
    assert!(
        eventually(LONG, || zk.exists(&path, false).is_ok_and(|s| s.is_some())),
        "a never became master"
    );
    let mut b = candidate(&path, "b", "10.0.0.2", &["--priority", "0"]);
    assert!(eventually(LONG, || registry::read_candidates(&zk, &path)
        .is_ok_and(|c| c.len() == 2)));
    let session = zk.exists(&path, false).unwrap().unwrap().ephemeral_owner;

    let out = status(&path, &["--explain"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let out = text(&out);
    assert_eq!(
        line(&out, "candidate:").trim(),
        "candidate: a (registered, profile safe)",
        "{out}"
    );
    assert_eq!(
        line(&out, "candidates:"),
        format!("candidates: 2 registered under {path}.zkha/candidates"),
        "{out}"
    );
    assert!(
        line(&out, "a: ").starts_with(&format!(
            "  a: master (holds the master node), priority 100, ready, data \"10.0.0.1\", session {session:#x}, profile safe, version "
        )),
        "{out}"
    );
    assert!(
        line(&out, "b: ").starts_with(
            "  b: standby, priority 0 (never master), ready, data \"10.0.0.2\", session 0x"
        ),
        "{out}"
    );
    assert_eq!(
        line(&out, "control:"),
        format!("control: {path}.zkha/control: none"),
        "{out}"
    );

    let j = json(&status(&path, &["--json"]));
    assert_eq!(j["master_registered"], true, "{j}");
    assert_eq!(j["master_candidate"], "a", "{j}");
    assert!(j["control"].is_null(), "{j}");
    let c = j["candidates"].as_array().unwrap();
    assert_eq!(c.len(), 2, "{j}");
    assert_eq!(
        (&c[0]["name"], &c[0]["role"], &c[0]["master"]),
        (&"a".into(), &"master".into(), &true.into()),
        "{j}"
    );
    assert_eq!(c[0]["session"], j["master"]["session"], "{j}");
    assert_eq!(c[0]["data"], "10.0.0.1", "{j}");
    assert_eq!(c[0]["profile"], "safe", "{j}");
    assert_eq!(c[0]["ready"], true, "{j}");
    assert_eq!(
        (&c[1]["name"], &c[1]["priority"], &c[1]["master"]),
        (&"b".into(), &0.into(), &false.into()),
        "{j}"
    );
    assert!(c[1]["since"].as_str().unwrap().ends_with(" UTC"), "{j}");

    // A resign of another token: on the node, not in force.
    let control = registry::control_path(&path);
    let stale = ControlOp::Resign {
        token: 1,
        by: "the test".into(),
    };
    zk.set(&control, &stale.encode(), -1).unwrap();
    let out = text(&status(&path, &["--explain"]));
    assert!(
        line(&out, "control:").starts_with(&format!(
            "control: {control}: resign of the master with token 1 (0x1) (asked by the test at "
        )) && line(&out, "control:")
            .ends_with(": stale (no longer in force; the next claim clears it)"),
        "{out}"
    );
    let j = json(&status(&path, &["--json"]));
    let op = &j["control"];
    assert_eq!(
        (&op["op"], &op["token"], &op["in_force"], &op["by"]),
        (
            &"resign".into(),
            &1.into(),
            &false.into(),
            &"the test".into()
        ),
        "{j}"
    );
    assert!(op["to"].is_null() && op["timeout_ms"].is_null(), "{j}");
    assert_eq!(op["path"], control.as_str(), "{j}");

    // A switchover to a candidate that is not there: in force, and the
    // master hands over (to nobody, for its timeout).
    let away = ControlOp::Switchover {
        to: "nobody".into(),
        timeout: Duration::from_secs(60),
        by: "the test".into(),
    };
    zk.set(&control, &away.encode(), -1).unwrap();
    assert!(
        eventually(LONG, || zk.exists(&path, false).is_ok_and(|s| s.is_none())),
        "a never handed over"
    );
    let out = text(&status(&path, &["--explain"]));
    assert_eq!(line(&out, "holder:"), "holder: nobody", "{out}");
    assert!(
        line(&out, "control:").starts_with(&format!(
            "control: {control}: switchover to \"nobody\" (timeout 60000 ms, asked by the test at "
        )) && line(&out, "control:").ends_with(": in force"),
        "{out}"
    );
    let j = json(&status(&path, &["--json"]));
    assert_eq!(j["control"]["op"], "switchover", "{j}");
    assert_eq!(j["control"]["to"], "nobody", "{j}");
    assert_eq!(j["control"]["timeout_ms"], 60000, "{j}");
    assert_eq!(j["control"]["in_force"], true, "{j}");
    assert!(j["master_registered"].is_null(), "nobody is master: {j}");
    // Cleared: a takes over again.
    zk.set(&control, b"", -1).unwrap();
    assert!(
        eventually(LONG, || zk.exists(&path, false).is_ok_and(|s| s.is_some())),
        "a never came back"
    );
    for p in [&mut a, &mut b] {
        // SAFETY: signals our own child process.
        unsafe { libc::kill(p.0.id() as i32, libc::SIGTERM) };
        let _ = p.0.wait();
    }
}

#[test]
fn explain_and_json_say_when_the_master_is_not_a_registered_candidate() {
    use zkha::elector::registry;
    // A safe candidate registered, and a master node that is nobody's
    // registry entry (as a seed-profile or C++ process holds it).
    let parent = unique_path("status-unregistered");
    let path = format!("{parent}/master");
    let zk = connect();
    zk.create(&parent, b"", &Acl::open_unsafe(), CreateMode::Persistent)
        .unwrap();
    zk.create(
        &path,
        b"10.0.0.9\0",
        &Acl::open_unsafe(),
        CreateMode::Ephemeral,
    )
    .unwrap();
    let mut b = candidate(&path, "b", "10.0.0.2", &[]);
    assert!(eventually(LONG, || registry::read_candidates(&zk, &path)
        .is_ok_and(|c| c.len() == 1)));
    let out = status(&path, &["--explain"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let out = text(&out);
    assert_eq!(
        line(&out, "candidate:").trim(),
        "candidate: none: the master is not a registered zkha safe-profile candidate \
         (seed profile or a C++ process of the classic design?)",
        "{out}"
    );
    assert!(line(&out, "b: ").starts_with("  b: standby, "), "{out}");
    let j = json(&status(&path, &["--json"]));
    assert_eq!(j["master_registered"], false, "{j}");
    assert!(j["master_candidate"].is_null(), "{j}");
    assert_eq!(j["candidates"][0]["master"], false, "{j}");
    // Without a registry at all: an empty list, and still not registered.
    let bare = format!("{parent}/bare");
    zk.create(&bare, b"x\0", &Acl::open_unsafe(), CreateMode::Ephemeral)
        .unwrap();
    let j = json(&status(&bare, &["--json"]));
    assert_eq!(j["candidates"], serde_json::json!([]), "{j}");
    assert_eq!(j["master_registered"], false, "{j}");
    let out = text(&status(&bare, &["--explain"]));
    assert_eq!(
        line(&out, "candidates:"),
        format!("candidates: none registered under {bare}.zkha/candidates (no zkha safe-profile candidate)"),
        "{out}"
    );
    // SAFETY: signals our own child process.
    unsafe { libc::kill(b.0.id() as i32, libc::SIGTERM) };
    let _ = b.0.wait();
}

/// The node's bytes exactly (issue 28): the design's trailing NUL shows in
/// `--json`'s `data_hex`/`data_nul` and `--explain`'s `bytes:` line, and so
/// does its absence (a binary that writes the IP without it).
#[test]
fn json_and_explain_show_the_nodes_bytes_exactly() {
    let holder = connect();
    for (data, hex, nul) in [
        (&b"10.0.0.7\0"[..], "31302e302e302e3700", true),
        (&b"10.0.0.7"[..], "31302e302e302e37", false),
    ] {
        let path = unique_path("status-bytes");
        holder
            .create(&path, data, &Acl::open_unsafe(), CreateMode::Ephemeral)
            .unwrap();
        let j = json(&status(&path, &["--json"]));
        assert_eq!(j["master"]["data"], "10.0.0.7");
        assert_eq!(j["master"]["data_hex"], hex);
        assert_eq!(j["master"]["data_nul"], nul);
        let out = text(&status(&path, &["--explain"]));
        let bytes = line(&out, "bytes:");
        assert!(bytes.contains(hex), "{out}");
        assert_eq!(bytes.contains("ending with the design's NUL"), nul, "{out}");
        holder.delete(&path, -1).unwrap();
    }
}
