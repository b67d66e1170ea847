//! `zkha history` against a real server and real `zkha run` candidates:
//! each way a mastership ends (a resign, a switchover, an unhealthy
//! command, a crash: SIGKILL of zkha run) leaves its record, in order,
//! newest first, with the tokens the commands were given; the current
//! master is `running`; a last master that stopped with no successor yet
//! is there too; `--json` parses; without the election's credentials the
//! history is refused, naming the node. (The bound, 100 records, is
//! tested against a real server by the history module's own test.)

use crate::cli_kit;
use crate::common;

use cli_kit::{dir, hosts, lines, worker, zkha};
use common::eventually;
use serde_json::Value;
use std::path::Path;
use std::process::{Child, Output, Stdio};
use std::time::Duration;
use zkha::elector::registry;
use zkha::ZooKeeper;
use zkha_testing::unique_path;

const LONG: Duration = Duration::from_secs(30);

/// A `zkha run` candidate, killed if the test ends without stopping it.
struct Cand(Child);

impl Drop for Cand {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `zkha run --name NAME` with `worker(NAME)` as its command.
fn run(path: &str, name: &str, log: &Path, extra: &[&str]) -> Cand {
    Cand(
        zkha()
            .args(["run", "--hosts", hosts(), "--path", path])
            .args(["--name", name, "--data", &format!("10.0.0.{name}")])
            .args(["--session-timeout", "4000"])
            .args(extra)
            .arg("--")
            .args(worker(name, log))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    )
}

fn zkha_out(cmd: &str, path: &str, extra: &[&str]) -> Output {
    zkha()
        .args([cmd, "--hosts", hosts(), "--path", path])
        .args(extra)
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

fn term(p: &mut Cand) {
    // SAFETY: a child of ours, not reaped yet.
    unsafe { libc::kill(p.0.id() as i32, libc::SIGTERM) };
    let _ = p.0.wait();
}

fn connect() -> ZooKeeper {
    ZooKeeper::builder(hosts()).connect(LONG).unwrap()
}

fn registered(zk: &ZooKeeper, path: &str) -> Vec<String> {
    registry::read_candidates(zk, path)
        .map(|c| c.into_iter().map(|c| c.name).collect())
        .unwrap_or_default()
}

/// The `start` lines' names and tokens, in order.
fn starts(log: &Path) -> Vec<(String, i64)> {
    lines(log)
        .iter()
        .filter_map(|l| {
            let w: Vec<&str> = l.split(' ').collect();
            (w.first() == Some(&"start")).then(|| (w[1].to_owned(), w[3].parse().unwrap()))
        })
        .collect()
}

/// `zkha history --json`, parsed: (name, token, ended, has `to`), newest
/// first.
fn history(path: &str, extra: &[&str]) -> Vec<(String, i64, String, bool)> {
    let out = zkha_out("history", path, &[&["--json"][..], extra].concat());
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let v: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("--json does not parse ({e}): {}", text(&out)));
    v.as_array()
        .expect("an array")
        .iter()
        .map(|r| {
            assert!(r["from_ms"].is_i64(), "{r}");
            assert!(r["from"].as_str().unwrap().ends_with(" UTC"), "{r}");
            (
                r["name"].as_str().unwrap_or("?").to_owned(),
                r["token"].as_i64().unwrap(),
                r["ended"].as_str().unwrap().to_owned(),
                !r["to_ms"].is_null(),
            )
        })
        .collect()
}

/// The records' names and ends, newest first.
fn ends(h: &[(String, i64, String, bool)]) -> Vec<(String, String)> {
    h.iter()
        .map(|(n, _, e, _)| (n.clone(), e.clone()))
        .collect()
}

fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
    p.iter()
        .map(|(n, e)| (n.to_string(), e.to_string()))
        .collect()
}

#[test]
fn each_end_is_recorded_in_order_with_growing_tokens() {
    let d = dir("history");
    let log = d.join("cmds.log");
    let sick = d.join("sick");
    let path = format!("{}/m", unique_path("history"));
    let zk = connect();
    // a is preferred, then b, then c: who takes over is known.
    let mut a = run(&path, "a", &log, &["--priority", "300"]);
    assert!(eventually(LONG, || starts(&log).len() == 1));
    let mut b = run(&path, "b", &log, &["--priority", "200"]);
    let health = format!("test ! -e {}", sick.display());
    let mut c = run(
        &path,
        "c",
        &log,
        &[
            "--priority",
            "100",
            "--health-cmd",
            &health,
            "--health-interval",
            "100",
            "--health-failures",
            "1",
        ],
    );
    assert!(eventually(LONG, || registered(&zk, &path) == ["a", "b", "c"]));
    assert_eq!(
        ends(&history(&path, &[])),
        pairs(&[("a", "running")]),
        "the first master, running"
    );

    // 1. a resigns: b.
    let out = zkha_out("resign", &path, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(eventually(LONG, || starts(&log).len() == 2));
    // 2. switchover to c.
    let out = zkha_out("switchover", &path, &["--to", "c"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(eventually(LONG, || starts(&log).len() == 3));
    // 3. c's command turns unhealthy: a (the highest priority) again.
    std::fs::write(&sick, "").unwrap();
    assert!(eventually(LONG, || starts(&log).len() == 4));
    std::fs::remove_file(&sick).unwrap();
    // 4. a crashes (zkha run SIGKILLed: no word): b, once a's session
    // has expired.
    let _ = a.0.kill();
    let _ = a.0.wait();
    assert!(eventually(LONG, || starts(&log).len() == 5));
    let s = starts(&log);
    assert_eq!(
        s.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(),
        ["a", "b", "c", "a", "b"],
        "{:?}",
        lines(&log)
    );
    assert!(s.windows(2).all(|w| w[1].1 > w[0].1), "tokens grow: {s:?}");

    // The record is written as b claims its breadcrumb, before its
    // command starts: there now.
    let h = history(&path, &[]);
    assert_eq!(
        ends(&h),
        pairs(&[
            ("b", "running"),
            ("a", "crashed"),
            ("c", "unhealthy"),
            ("b", "switchover"),
            ("a", "resigned"),
        ]),
        "{h:?}"
    );
    let tokens: Vec<i64> = s.iter().rev().map(|(_, t)| *t).collect();
    assert_eq!(
        h.iter().map(|r| r.1).collect::<Vec<_>>(),
        tokens,
        "the commands' tokens, newest first"
    );
    assert!(!h[0].3, "running: no end time");
    assert!(h[1..].iter().all(|r| r.3), "ended: an end time: {h:?}");

    // --limit: the newest only; the text form says the same.
    assert_eq!(
        ends(&history(&path, &["--limit", "2"])),
        pairs(&[("b", "running"), ("a", "crashed")])
    );
    let out = zkha_out("history", &path, &[]);
    let t = text(&out);
    assert_eq!(out.status.code(), Some(0), "{t}");
    let first: Vec<&str> = t.lines().map(|l| l.split(' ').next().unwrap()).collect();
    assert_eq!(
        first,
        ["running", "crashed", "unhealthy", "switchover", "resigned"],
        "{t}"
    );
    assert!(
        t.lines()
            .nth(1)
            .unwrap()
            .contains(&format!("token {:#x}", s[3].1)),
        "{t}"
    );
    term(&mut b);
    term(&mut c);
}

#[test]
fn the_last_master_is_recorded_with_no_successor_and_needs_the_credentials() {
    let d = dir("history-digest");
    let log = d.join("cmds.log");
    let path = format!("{}/m", unique_path("history-digest"));
    let mut a = run(&path, "a", &log, &["--digest", "ha:s3cret"]);
    assert!(eventually(LONG, || starts(&log).len() == 1));
    let zk = connect();
    zk.add_auth("digest", b"ha:s3cret").unwrap();
    assert!(eventually(LONG, || registered(&zk, &path) == ["a"]));
    // The history has the election's ACL (the breadcrumb's).
    let node = format!("{path}.zkha/history");
    assert!(eventually(LONG, || zk
        .exists(&node, false)
        .unwrap()
        .is_some()));
    assert_eq!(
        zk.get_acl(&node).unwrap().0,
        zk.get_acl(&format!("{path}.breadcrumb")).unwrap().0
    );

    // Without the credentials, or with wrong ones: refused, naming it.
    for extra in [&[][..], &["--digest", "ha:wrong"][..]] {
        let out = zkha_out("history", &path, extra);
        let t = text(&out);
        assert_eq!(out.status.code(), Some(1), "{t}");
        assert!(
            t.contains(&format!("not authorized to read {node}"))
                && t.contains("the election's credentials (--digest"),
            "{t}"
        );
    }
    let creds = ["--digest", "ha:s3cret"];
    assert_eq!(ends(&history(&path, &creds)), pairs(&[("a", "running")]));
    // a stops (SIGTERM), nobody takes over: its own clean end is there.
    term(&mut a);
    let h = history(&path, &creds);
    assert_eq!(ends(&h), pairs(&[("a", "stopped")]), "{h:?}");
    assert_eq!(h[0].1, starts(&log)[0].1);
    assert!(h[0].3, "{h:?}");
}
