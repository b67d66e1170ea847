//! `zkha run`'s succession against a real server, judged by the files the
//! commands and fences write: a master that wins again with a new session
//! does not fence itself; a new master waits for its predecessor's word (a
//! clean breadcrumb) at most half the session timeout before it fences and
//! starts; the session file belongs to one `zkha run` at a time, and never
//! together with `--on-crash handover`.

use crate::cli_kit;
use crate::common;

use cli_kit::{dir, hosts, lines, zkha};
use common::eventually;
use std::io::Read;
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};
use zkha::{Acl, CreateMode, ZooKeeper};
use zkha_testing::unique_path;

const LONG: Duration = Duration::from_secs(30);

fn run(path: &str, data: &str, session_ms: u64, cmd: &[String], extra: &[&str]) -> Child {
    zkha()
        .args(["run", "--hosts", hosts(), "--path", path, "--data", data])
        .args(["--session-timeout", &session_ms.to_string()])
        .args(extra)
        .arg("--")
        .args(cmd)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// SIGTERM, wait, and what it wrote to stderr.
fn term(p: &mut Child) -> String {
    // SAFETY: a child of ours, not reaped yet.
    unsafe { libc::kill(p.id() as i32, libc::SIGTERM) };
    p.wait().unwrap();
    let mut err = String::new();
    p.stderr.take().unwrap().read_to_string(&mut err).unwrap();
    err
}

fn count(log: &Path, word: &str) -> usize {
    lines(log)
        .iter()
        .filter(|l| l.split(' ').next() == Some(word))
        .count()
}

/// A command that logs `start <name> <ms since the epoch>` and, on
/// SIGTERM, `stop <name>`.
fn stamped_worker(name: &str, log: &Path) -> Vec<String> {
    let script = format!(
        "echo start {name} $(date +%s%3N) >> {log}; trap 'echo stop {name} >> {log}; exit 0' TERM; while true; do sleep 0.02; done",
        log = log.display()
    );
    vec!["sh".into(), "-c".into(), script]
}

/// A fence that logs `fence <prev session> <ms since the epoch>`.
fn stamped_fence(log: &Path) -> String {
    format!(
        "echo fence $ZKHA_PREV_SESSION $(date +%s%3N) >> {}",
        log.display()
    )
}

/// The ms stamp of the first line starting with `prefix`.
fn stamp(log: &Path, prefix: &str) -> Option<i64> {
    lines(log)
        .iter()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
}

fn connect() -> ZooKeeper {
    ZooKeeper::builder(hosts()).connect(LONG).unwrap()
}

/// Ends session `id`: taking it over drops its owner's connection, and the
/// owner may take it back before the twin's close is sent, so until a
/// handle on `id` finds it expired.
fn end_session(id: zkha::ClientId) {
    let deadline = Instant::now() + LONG;
    loop {
        match ZooKeeper::builder(hosts())
            .client_id(id)
            .connect(Duration::from_secs(10))
        {
            Err(zkha::Error::Zk(zkha::ErrorCode::SessionExpired)) => return,
            Ok(twin) => {
                let _ = twin.close();
            }
            Err(e) => panic!("a second handle on session {:#x}: {e}", id.id),
        }
        assert!(
            Instant::now() < deadline,
            "session {:#x} still alive",
            id.id
        );
    }
}

fn saved_session(file: &Path) -> zkha::ClientId {
    std::fs::read_to_string(file)
        .unwrap()
        .trim()
        .parse()
        .unwrap()
}

#[test]
fn a_master_back_with_a_new_session_does_not_fence_itself() {
    let d = dir("succ-self");
    let log = d.join("cmds.log");
    let session = d.join("session");
    let path = format!("{}/m", unique_path("succ-self"));
    let f = stamped_fence(&log);
    let sf = session.display().to_string();
    let mut a = run(
        &path,
        "10.0.0.1",
        4000,
        &stamped_worker("a", &log),
        &["--fence-cmd", &f, "--session-file", &sf],
    );
    assert!(
        eventually(LONG, || count(&log, "start") == 1),
        "a never started: {:?}",
        lines(&log)
    );
    let first = saved_session(&session);
    // Its session ends under it: it stops its command, opens a new session
    // and wins again. The breadcrumb (not clean) names its old session,
    // whose command it saw gone: nothing to fence.
    end_session(first);
    assert!(
        eventually(LONG, || count(&log, "start") == 2),
        "a never came back: {:?}",
        lines(&log)
    );
    let all = lines(&log);
    let err = term(&mut a);
    assert_eq!(count(&log, "fence"), 0, "it fenced itself: {all:?}\n{err}");
    assert!(
        !err.contains("waiting up to"),
        "it waited for itself:\n{err}"
    );
    assert_ne!(saved_session(&session).id, first.id, "a new session");
}

/// A breadcrumb, not clean, naming the live session of `owner`.
fn unclean_breadcrumb(owner: &ZooKeeper, path: &str) {
    let parent = path.rsplit_once('/').unwrap().0;
    owner
        .create(parent, b"", &Acl::open_unsafe(), CreateMode::Persistent)
        .unwrap();
    let crumb = serde_json::json!({
        "data": "10.0.0.9\u{0}",
        "session": format!("{:#x}", owner.client_id().unwrap().id),
        "token": 1,
        "since_ms": 1,
        "clean": false,
    });
    owner
        .create(
            &format!("{path}.breadcrumb"),
            crumb.to_string().as_bytes(),
            &Acl::open_unsafe(),
            CreateMode::Persistent,
        )
        .unwrap();
}

/// When the master node was created, ms since the epoch (the server's
/// clock: this host's).
fn node_ctime(zk: &ZooKeeper, path: &str) -> i64 {
    zk.exists(path, false).unwrap().unwrap().ctime
}

#[test]
fn a_new_master_waits_half_the_session_timeout_for_an_unclean_predecessor() {
    let d = dir("succ-wait");
    let log = d.join("cmds.log");
    let path = format!("{}/m", unique_path("succ-wait"));
    // The last master: a live session that never says its command is gone
    // (partitioned, say).
    let old = connect();
    unclean_breadcrumb(&old, &path);
    let session_ms = 4000;
    let f = stamped_fence(&log);
    let mut b = run(
        &path,
        "10.0.0.2",
        session_ms,
        &stamped_worker("b", &log),
        &["--fence-cmd", &f],
    );
    assert!(
        eventually(LONG, || count(&log, "start") == 1),
        "b never started: {:?}",
        lines(&log)
    );
    let became = node_ctime(&old, &path);
    let started = stamp(&log, "start b").unwrap();
    let fenced = stamp(&log, "fence").expect("still not clean: fenced");
    let err = term(&mut b);
    let lease = (session_ms / 2) as i64;
    // The old master's lease ends at most T/2 after its node went, before
    // b's node was created: b's fence and command come after that.
    assert!(
        fenced >= became + lease && started >= fenced,
        "b became master at {became}, fenced at {fenced} (+{} ms), started at {started} (+{} ms): \
         not {lease} ms later\n{err}",
        fenced - became,
        started - became
    );
    assert!(
        err.contains(&format!(
            "waiting up to {lease} ms for the last master (data 10.0.0.9"
        )),
        "{err}"
    );
    let _ = old.close();
}

#[test]
fn a_new_master_starts_as_soon_as_its_predecessor_says_its_command_is_gone() {
    let d = dir("succ-word");
    let log = d.join("cmds.log");
    let path = format!("{}/m", unique_path("succ-word"));
    let old = connect();
    unclean_breadcrumb(&old, &path);
    let session_ms = 8000;
    let f = stamped_fence(&log);
    let mut c = run(
        &path,
        "10.0.0.3",
        session_ms,
        &stamped_worker("c", &log),
        &["--fence-cmd", &f],
    );
    assert!(
        eventually(LONG, || old.exists(&path, false).unwrap().is_some()),
        "c never became master"
    );
    std::thread::sleep(Duration::from_millis(300));
    // The old master's command is gone: it marks its breadcrumb clean.
    let node = format!("{path}.breadcrumb");
    let (bytes, stat) = old.get(&node, false).unwrap();
    let mut crumb: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    crumb["clean"] = true.into();
    crumb["left"] = "node_lost".into();
    old.set(&node, crumb.to_string().as_bytes(), stat.version)
        .unwrap();
    assert!(
        eventually(LONG, || count(&log, "start") == 1),
        "c never started: {:?}",
        lines(&log)
    );
    let became = node_ctime(&old, &path);
    let started = stamp(&log, "start c").unwrap();
    let err = term(&mut c);
    assert_eq!(count(&log, "fence"), 0, "{:?}\n{err}", lines(&log));
    // It did not wait out the whole T/2 (4 s) once the word came.
    assert!(
        started < became + (session_ms / 2) as i64,
        "c became master at {became} and started {} ms later\n{err}",
        started - became
    );
    let _ = old.close();
}

#[test]
fn on_crash_handover_with_a_session_file_is_refused() {
    let d = dir("succ-handover-file");
    let log = d.join("cmds.log");
    let session = d.join("session");
    let path = format!("{}/m", unique_path("succ-handover-file"));
    let out = zkha()
        .args(["run", "--hosts", hosts(), "--path", &path])
        .args(["--session-file", session.to_str().unwrap()])
        .args(["--on-crash", "handover", "--"])
        .args(["sh", "-c", &format!("echo ran >> {}", log.display())])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("--on-crash handover") && err.contains("--session-file"),
        "{err}"
    );
    assert!(lines(&log).is_empty(), "the command ran");
}

#[test]
fn two_runs_with_one_session_file_are_never_both_master() {
    let d = dir("succ-one-file");
    let log = d.join("cmds.log");
    let session = d.join("session");
    let path = format!("{}/m", unique_path("succ-one-file"));
    let sf = session.display().to_string();
    let mut a = run(
        &path,
        "10.0.0.1",
        4000,
        &stamped_worker("a", &log),
        &["--session-file", &sf],
    );
    assert!(eventually(LONG, || count(&log, "start") == 1));
    let mut b = run(
        &path,
        "10.0.0.2",
        4000,
        &stamped_worker("b", &log),
        &["--session-file", &sf],
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    let status = loop {
        if let Some(status) = b.try_wait().unwrap() {
            break Some(status);
        }
        if Instant::now() > deadline {
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let all = lines(&log);
    let b_err = match status {
        Some(_) => {
            let mut err = String::new();
            b.stderr.take().unwrap().read_to_string(&mut err).unwrap();
            err
        }
        None => term(&mut b),
    };
    let a_err = term(&mut a);
    assert!(
        !all.iter().any(|l| l.starts_with("start b")),
        "both ran: {all:?}\n{b_err}"
    );
    let status = status.expect("the second zkha run is still running after 10 s");
    assert!(!status.success(), "{status}\n{b_err}");
    assert!(
        b_err.contains(&format!(
            "session file {sf} is in use by another process (pid {})",
            a.id()
        )),
        "{b_err}\n(a: {a_err})"
    );
}
