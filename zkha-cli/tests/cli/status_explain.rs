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
