//! `zkha switchover` and `zkha resign` against a real server and real
//! `zkha run` candidates, judged by their commands' own log (`start <name>
//! <pid> <token> <path>`, `stop <name>`): a switchover makes its target
//! master and only it, `--to any` picks the ready standby with the highest
//! priority, a resign hands over without signals, each refusal says why
//! and writes nothing, a target that dies ends in a non-zero exit after
//! `--timeout` with the normal election resumed, and without the
//! election's credentials nothing is read or written.

use crate::cli_kit;
use crate::common;

use cli_kit::{dir, hosts, lines, worker, zkha};
use common::eventually;
use std::path::Path;
use std::process::{Child, Output, Stdio};
use std::sync::Arc;
use std::time::Duration;
use zkha::elector::registry::{self, ControlOp};
use zkha::ZooKeeper;
use zkha_testing::unique_path;

const LONG: Duration = Duration::from_secs(30);

/// A candidate process; killed (SIGKILL: its watchdog ends the command)
/// should the test end without stopping it.
struct Cand(Child);

impl Drop for Cand {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// `zkha run --name NAME` with `worker(NAME)` as its command.
fn run(path: &str, name: &str, log: &Path, extra: &[&str]) -> Cand {
    run_cmd(path, name, &worker(name, log), extra)
}

fn run_cmd(path: &str, name: &str, cmd: &[String], extra: &[&str]) -> Cand {
    Cand(
        zkha()
            .args(["run", "--hosts", hosts(), "--path", path])
            .args(["--name", name, "--data", &format!("10.0.0.{name}")])
            .args(if extra.contains(&"--session-timeout") {
                &[][..]
            } else {
                &["--session-timeout", "4000"][..]
            })
            .args(extra)
            .arg("--")
            .args(cmd)
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

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// SIGTERM and wait.
fn term(p: &mut Cand) {
    // SAFETY: a child of ours, not reaped yet.
    unsafe { libc::kill(p.0.id() as i32, libc::SIGTERM) };
    let _ = p.0.wait();
}

fn connect() -> ZooKeeper {
    ZooKeeper::builder(hosts()).connect(LONG).unwrap()
}

/// The names registered on `path`, sorted.
fn registered(zk: &ZooKeeper, path: &str) -> Vec<String> {
    registry::read_candidates(zk, path)
        .map(|c| c.into_iter().map(|c| c.name).collect())
        .unwrap_or_default()
}

fn wait_registered(zk: &ZooKeeper, path: &str, names: &[&str]) {
    assert!(
        eventually(LONG, || registered(zk, path) == names),
        "registered on {path}: {:?}, not {names:?}",
        registered(zk, path)
    );
}

/// The `start` lines' names, tokens, in order.
fn starts(log: &Path) -> Vec<(String, i64)> {
    lines(log)
        .iter()
        .filter_map(|l| {
            let w: Vec<&str> = l.split(' ').collect();
            (w.first() == Some(&"start")).then(|| (w[1].to_owned(), w[3].parse().unwrap()))
        })
        .collect()
}

fn count(log: &Path, prefix: &str) -> usize {
    lines(log).iter().filter(|l| l.starts_with(prefix)).count()
}

/// The control node's operation and version.
fn control(zk: &ZooKeeper, path: &str) -> (ControlOp, i32) {
    let (op, stat) = registry::read_control(zk, path).unwrap().unwrap();
    (op, stat.version)
}

/// The registry name of the master node's owner.
fn master_name(zk: &ZooKeeper, path: &str) -> Option<String> {
    let m = zkha::elector::read_master(zk, path, false).ok()??;
    registry::read_candidates(zk, path)
        .ok()?
        .into_iter()
        .find(|c| c.session == m.session)
        .map(|c| c.name)
}

#[test]
fn a_switchover_makes_its_target_master_and_only_it() {
    let d = dir("switchover");
    let log = d.join("cmds.log");
    let path = format!("{}/m", unique_path("switchover"));
    let zk = connect();
    let mut a = run(&path, "a", &log, &[]);
    assert!(eventually(LONG, || count(&log, "start a") == 1));
    let mut b = run(&path, "b", &log, &[]);
    let mut c = run(&path, "c", &log, &["--priority", "500"]);
    wait_registered(&zk, &path, &["a", "b", "c"]);

    let out = zkha_out("switchover", &path, &["--to", "b"]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}{}", stderr(&out));
    assert!(
        text.contains("asking a to hand over to b (timeout "),
        "{text}"
    );
    assert!(text.contains("a released "), "{text}");
    assert!(text.contains("b is master (token "), "{text}");
    // Done means done: b's session holds the node as zkha exits.
    assert_eq!(master_name(&zk, &path).as_deref(), Some("b"));
    assert!(eventually(LONG, || count(&log, "start b") == 1));
    // The claim cleared the control node.
    assert_eq!(control(&zk, &path).0, ControlOp::None);
    // Only b, although c is preferred (priority 500), and after a's stop.
    std::thread::sleep(Duration::from_millis(1500));
    let all = lines(&log);
    let s = starts(&log);
    assert_eq!(
        s.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(),
        ["a", "b"],
        "{all:?}"
    );
    assert!(s[1].1 > s[0].1, "tokens grow: {all:?}");
    let stop_a = all.iter().position(|l| l == "stop a").expect("a stopped");
    let start_b = all.iter().position(|l| l.starts_with("start b")).unwrap();
    assert!(stop_a < start_b, "a's command ended before b's: {all:?}");
    // The text of the token printed is b's.
    assert!(text.contains(&format!("(token {} (", s[1].1)), "{text}");
    for p in [&mut a, &mut b, &mut c] {
        term(p);
    }
}

#[test]
fn to_any_picks_the_ready_standby_with_the_highest_priority() {
    let d = dir("switchover-any");
    let log = d.join("cmds.log");
    let path = format!("{}/m", unique_path("switchover-any"));
    let zk = connect();
    let mut a = run(&path, "a", &log, &[]);
    assert!(eventually(LONG, || count(&log, "start a") == 1));
    let mut b = run(&path, "b", &log, &["--priority", "50"]);
    let mut c = run(&path, "c", &log, &["--priority", "300"]);
    let mut d2 = run(&path, "d", &log, &["--priority", "300"]);
    let mut z = run(&path, "z", &log, &["--priority", "0"]);
    // A ready-looking entry whose candidate is not ready: a library
    // candidate of the same election (zkha run's --ready-cmd keeps an
    // unready candidate out of the registry).
    let unready = library_candidate(&path, "u", 900, false);
    wait_registered(&zk, &path, &["a", "b", "c", "d", "u", "z"]);

    let out = zkha_out("switchover", &path, &["--to", "any"]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}{}", stderr(&out));
    assert!(
        text.contains("any: c (priority 300, the ready standby with the highest priority)"),
        "ties by name, the unready u and the never-master z left out: {text}"
    );
    assert!(text.contains("asking a to hand over to c"), "{text}");
    assert!(eventually(LONG, || count(&log, "start c") == 1));
    std::thread::sleep(Duration::from_millis(1000));
    let s = starts(&log);
    assert_eq!(
        s.iter().map(|(n, _)| n.as_str()).collect::<Vec<_>>(),
        ["a", "c"],
        "{:?}",
        lines(&log)
    );
    assert_eq!(master_name(&zk, &path).as_deref(), Some("c"));
    drop(unready);
    for p in [&mut a, &mut b, &mut c, &mut d2, &mut z] {
        term(p);
    }
}

/// A safe-profile candidate of the library, in this process, registered
/// as `name` (the elector stops when dropped).
fn library_candidate(path: &str, name: &str, priority: u32, ready: bool) -> zkha::elector::Elector {
    let mut config = zkha::elector::ElectorConfig::new(hosts(), path);
    config.name = Some(name.into());
    config.data = format!("10.0.0.{name}\0").into_bytes();
    config.priority = priority;
    config.ready = ready;
    config.session_timeout = Duration::from_millis(4000);
    zkha::elector::Elector::start(config, Arc::new(())).unwrap()
}

#[test]
fn refusals_say_why_and_write_nothing() {
    let d = dir("switchover-refused");
    let log = d.join("cmds.log");
    let path = format!("{}/m", unique_path("switchover-refused"));
    let zk = connect();
    let mut a = run(&path, "a", &log, &[]);
    assert!(eventually(LONG, || count(&log, "start a") == 1));
    let mut z = run(&path, "z", &log, &["--priority", "0"]);
    let unready = library_candidate(&path, "u", 100, false);
    wait_registered(&zk, &path, &["a", "u", "z"]);
    let before = control(&zk, &path);
    assert_eq!(before.0, ControlOp::None);

    for (to, code, says) in [
        (
            "nope",
            6,
            format!("refused: no candidate named \"nope\" is registered on {path} (registered: a, u, z)"),
        ),
        (
            "z",
            6,
            "refused: \"z\" cannot become master: it has priority 0 (never master)".into(),
        ),
        (
            "a",
            6,
            format!("refused: \"a\" is already master of {path}"),
        ),
        (
            "u",
            6,
            "refused: \"u\" cannot become master: it is not ready".into(),
        ),
        ("any", 6, "refused: --to any: no ready standby".into()),
        ("a/b", 2, "candidate name \"a/b\"".into()),
    ] {
        let out = zkha_out("switchover", &path, &["--to", to]);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(code), "--to {to}: {err}");
        assert!(err.contains(&says), "--to {to}: {err}");
        assert!(stdout(&out).is_empty(), "--to {to}: {}", stdout(&out));
        assert_eq!(control(&zk, &path), before, "--to {to} wrote");
    }
    // A bad --timeout is a usage error.
    let out = zkha_out("switchover", &path, &["--to", "u", "--timeout", "0"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("--timeout 0"), "{}", stderr(&out));
    // Nothing moved.
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        starts(&log).len(),
        1,
        "only a ever started: {:?}",
        lines(&log)
    );
    assert_eq!(count(&log, "stop a"), 0, "{:?}", lines(&log));
    assert_eq!(master_name(&zk, &path).as_deref(), Some("a"));
    drop(unready);
    term(&mut z);
    term(&mut a);

    // Nobody master: nobody to ask (exit 4).
    assert!(eventually(LONG, || master_name(&zk, &path).is_none()));
    for cmd in ["switchover", "resign"] {
        let extra: &[&str] = if cmd == "resign" { &[] } else { &["--to", "z"] };
        let out = zkha_out(cmd, &path, extra);
        assert_eq!(out.status.code(), Some(4), "{cmd}: {}", stderr(&out));
        assert!(
            stderr(&out).contains("nobody is master"),
            "{}",
            stderr(&out)
        );
    }
}

#[test]
fn a_master_that_is_not_a_registered_safe_candidate_is_refused() {
    let d = dir("switchover-seed");
    let log = d.join("cmds.log");
    let path = format!("{}/m", unique_path("switchover-seed"));
    let zk = connect();
    // The seed profile, as the C++ design: it does not register (nor
    // create the parent).
    zk.create(
        path.rsplit_once('/').unwrap().0,
        b"",
        &zkha::Acl::open_unsafe(),
        zkha::CreateMode::Persistent,
    )
    .unwrap();
    let mut s = run(&path, "s", &log, &["--profile", "seed", "--settle", "0"]);
    assert!(eventually(LONG, || count(&log, "start s") == 1));
    let mut b = run(&path, "b", &log, &[]);
    wait_registered(&zk, &path, &["b"]);
    let before = control(&zk, &path);
    for (cmd, extra) in [("switchover", &["--to", "b"][..]), ("resign", &[][..])] {
        let out = zkha_out(cmd, &path, extra);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(6), "{cmd}: {err}");
        assert!(
            err.contains("the master is not a registered zkha safe-profile candidate (seed profile or a C++ process of the classic design?)"),
            "{cmd}: {err}"
        );
        assert!(
            err.contains("a candidate that is not a zkha safe-profile candidate (a seed-profile or C++ process) polls and can win any race"),
            "{cmd}: {err}"
        );
        assert_eq!(control(&zk, &path), before, "{cmd} wrote");
    }
    // status says so too.
    let out = zkha_out("status", &path, &["--explain"]);
    let text = stdout(&out);
    assert!(
        text.contains("  candidate: none: the master is not a registered zkha safe-profile candidate (seed profile or a C++ process of the classic design?)"),
        "{text}"
    );
    let j: serde_json::Value =
        serde_json::from_slice(&zkha_out("status", &path, &["--json"]).stdout).unwrap();
    assert_eq!(j["master_registered"], false, "{j}");
    assert!(j["master_candidate"].is_null(), "{j}");
    assert_eq!(j["candidates"][0]["name"], "b", "{j}");
    assert_eq!(j["candidates"][0]["master"], false, "{j}");
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(count(&log, "stop s"), 0, "{:?}", lines(&log));
    assert_eq!(count(&log, "start b"), 0, "{:?}", lines(&log));
    term(&mut b);
    term(&mut s);
}

#[test]
fn a_target_that_dies_ends_in_a_timeout_and_the_election_resumes() {
    let d = dir("switchover-dies");
    let log = d.join("cmds.log");
    let path = format!("{}/m", unique_path("switchover-dies"));
    let zk = connect();
    // a's command takes 2 s to stop (a planned stop may take up to
    // --stop-timeout): time for b to die meanwhile.
    let slow = format!(
        "echo start a $$ $ZKHA_TOKEN $ZKHA_PATH >> {log}; trap 'sleep 2; echo stop a >> {log}; exit 0' TERM; while true; do sleep 0.02; done",
        log = log.display()
    );
    let mut a = run_cmd(
        &path,
        "a",
        &["sh".into(), "-c".into(), slow],
        &["--stop-timeout", "20000"],
    );
    assert!(eventually(LONG, || count(&log, "start a") == 1));
    // b's session outlives b by 10 s: its entry still looks ready when it
    // is already dead.
    let mut b = run(&path, "b", &log, &["--session-timeout", "10000"]);
    let mut c = run(&path, "c", &log, &[]);
    wait_registered(&zk, &path, &["a", "b", "c"]);

    let switchover = zkha()
        .args(["switchover", "--hosts", hosts(), "--path", &path])
        .args(["--to", "b", "--timeout", "4000"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // b dies right away.
    b.0.kill().unwrap();
    b.0.wait().unwrap();
    // While it is in force, another operation is refused.
    assert!(
        eventually(LONG, || matches!(
            control(&zk, &path).0,
            ControlOp::Switchover { .. }
        )),
        "the switchover never wrote the control node"
    );
    let out = zkha_out("switchover", &path, &["--to", "c"]);
    assert_eq!(out.status.code(), Some(6), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("refused: another operation is in force on")
            && stderr(&out).contains("switchover to \"b\" (timeout 6000 ms, asked by "),
        "{}",
        stderr(&out)
    );
    let out = switchover.wait_with_output().unwrap();
    let (text, err) = (stdout(&out), stderr(&out));
    assert_eq!(out.status.code(), Some(7), "{text}{err}");
    assert!(
        text.contains("asking a to hand over to b (timeout 4000 ms)..."),
        "{text}"
    );
    assert!(
        err.contains("the switchover to b did not complete within 4000 ms"),
        "{err}"
    );
    assert!(
        err.contains("was reset: the normal election resumes"),
        "{err}"
    );
    // The normal election resumes: a or c is master again, b never.
    assert!(
        eventually(LONG, || starts(&log).len() == 2),
        "nobody took over after the timeout: {:?}",
        lines(&log)
    );
    let s = starts(&log);
    assert_ne!(s[1].0, "b", "{:?}", lines(&log));
    assert!(s[1].1 > s[0].1, "{:?}", lines(&log));
    assert_eq!(count(&log, "start b"), 0, "{:?}", lines(&log));
    term(&mut a);
    term(&mut c);
}

#[test]
fn resign_hands_over_to_another_candidate_without_signals() {
    let d = dir("resign");
    let log = d.join("cmds.log");
    let path = format!("{}/m", unique_path("resign"));
    let zk = connect();
    let mut a = run(&path, "a", &log, &[]);
    assert!(eventually(LONG, || count(&log, "start a") == 1));
    let mut b = run(&path, "b", &log, &[]);
    wait_registered(&zk, &path, &["a", "b"]);
    let token_a = starts(&log)[0].1;

    let out = zkha_out("resign", &path, &[]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{text}{}", stderr(&out));
    assert!(
        text.contains(&format!("asking a (token {token_a}) to resign (timeout ")),
        "{text}"
    );
    assert!(text.contains("a released "), "{text}");
    assert!(text.contains("b is master (token "), "{text}");
    assert!(eventually(LONG, || count(&log, "start b") == 1));
    let all = lines(&log);
    let s = starts(&log);
    assert!(s[1].1 > token_a, "{all:?}");
    let stop_a = all.iter().position(|l| l == "stop a").expect("a stopped");
    let start_b = all.iter().position(|l| l.starts_with("start b")).unwrap();
    assert!(stop_a < start_b, "{all:?}");
    // a stays a candidate.
    assert_eq!(registered(&zk, &path), ["a", "b"]);
    term(&mut b);
    assert!(
        eventually(LONG, || count(&log, "start a") == 2),
        "a is still a candidate: {:?}",
        lines(&log)
    );
    term(&mut a);
}

#[test]
fn without_the_election_credentials_nothing_is_read_or_written() {
    let d = dir("switchover-digest");
    let log = d.join("cmds.log");
    let path = format!("{}/m", unique_path("switchover-digest"));
    let digest = ["--digest", "ha:s3cret"];
    let mut a = run(&path, "a", &log, &digest);
    assert!(eventually(LONG, || count(&log, "start a") == 1));
    let mut b = run(&path, "b", &log, &digest);
    let zk = connect();
    zk.add_auth("digest", b"ha:s3cret").unwrap();
    wait_registered(&zk, &path, &["a", "b"]);
    let before = control(&zk, &path);

    for (cmd, extra) in [("switchover", &["--to", "b"][..]), ("resign", &[][..])] {
        let out = zkha_out(cmd, &path, extra);
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(1), "{cmd}: {err}");
        assert!(
            err.contains(&format!("not authorized to read {path}"))
                && err.contains("give this command the election's credentials (--digest"),
            "{cmd}: {err}"
        );
        assert_eq!(control(&zk, &path), before, "{cmd} wrote");
    }
    // Wrong credentials: the same.
    let out = zkha_out("switchover", &path, &["--to", "b", "--digest", "ha:wrong"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    assert!(stderr(&out).contains("not authorized"), "{}", stderr(&out));
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(count(&log, "start b"), 0, "{:?}", lines(&log));
    assert_eq!(count(&log, "stop a"), 0, "{:?}", lines(&log));

    // With them (from an owner-only file): done.
    let file = d.join("digest");
    std::fs::write(&file, "ha:s3cret\n").unwrap();
    std::fs::set_permissions(&file, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let out = zkha_out(
        "switchover",
        &path,
        &["--to", "b", "--digest-file", file.to_str().unwrap()],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    assert!(eventually(LONG, || count(&log, "start b") == 1));
    term(&mut a);
    term(&mut b);
}
