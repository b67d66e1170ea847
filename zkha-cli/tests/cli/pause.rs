//! `zkha pause` and `zkha resume` against real servers and real `zkha run`
//! candidates, judged by what their commands did: each command appends
//! `start NAME MS`, then `tick NAME MS` every 50 ms while it runs, and
//! `stop NAME MS` on SIGTERM (MS: the wall clock, ms since the epoch), so
//! "no failover" and "no overlap" are read from the commands' own file.
//!
//! - A master cut off from ZooKeeper during a pause keeps its command past
//!   the session timeout, stops it by the pause's deadline, and no standby
//!   starts one before then (or before the master's last tick).
//! - A 3-member ensemble restarted member by member, and then stopped as a
//!   whole for twice the session timeout, under a pause: the master's
//!   command runs throughout, once; the standby never starts.
//! - The command's own behaviour: a resume the master acknowledges, a
//!   pause nobody acknowledged emptied at once, refusals, `status`.

use crate::cli_kit;
use crate::common;

use cli_kit::{dir, hosts, lines, zkha};
use common::eventually;
use std::path::Path;
use std::process::{Child, Output, Stdio};
use std::time::{Duration, Instant};
use zkha::elector::registry::{self, ControlOp};
use zkha::ZooKeeper;
use zkha_testing::{unique_path, ProxyMode, ServerConfig, TcpProxy, TestingCluster};

const LONG: Duration = Duration::from_secs(40);

/// A candidate process, killed (its watchdog ends the command) when the
/// test ends without stopping it.
struct Cand(Child);

impl Drop for Cand {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn ticker(name: &str, log: &Path) -> Vec<String> {
    let script = format!(
        "echo start {name} $(date +%s%3N) >> {log}; trap 'echo stop {name} $(date +%s%3N) >> {log}; exit 0' TERM; while true; do echo tick {name} $(date +%s%3N) >> {log}; sleep 0.05; done",
        log = log.display()
    );
    vec!["sh".into(), "-c".into(), script]
}

fn run(hosts: &str, path: &str, name: &str, log: &Path, session_ms: u32, stderr: &Path) -> Cand {
    Cand(
        zkha()
            .env("RUST_LOG", "info")
            .args(["run", "--hosts", hosts, "--path", path])
            .args(["--name", name, "--data", &format!("10.0.0.{name}")])
            .args(["--session-timeout", &session_ms.to_string()])
            .arg("--")
            .args(ticker(name, log))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(stderr).unwrap())
            .spawn()
            .unwrap(),
    )
}

fn cmd(hosts: &str, what: &str, path: &str, extra: &[&str]) -> Output {
    zkha()
        .args([what, "--hosts", hosts, "--path", path])
        .args(extra)
        .output()
        .unwrap()
}

fn text(o: &Output) -> String {
    format!(
        "exit {:?}\nstdout: {}\nstderr: {}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// The times of `word name` lines.
fn times(log: &Path, word: &str, name: &str) -> Vec<i64> {
    lines(log)
        .iter()
        .filter_map(|l| {
            let w: Vec<&str> = l.split(' ').collect();
            (w.len() == 3 && w[0] == word && w[1] == name).then(|| w[2].parse().ok())?
        })
        .collect()
}

/// The last time `name`'s command was seen running (a tick or its stop).
fn last_seen(log: &Path, name: &str) -> Option<i64> {
    times(log, "tick", name)
        .into_iter()
        .chain(times(log, "stop", name))
        .max()
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn registered(hosts: &str, path: &str, names: &[&str]) {
    let zk = ZooKeeper::builder(hosts).connect(LONG).unwrap();
    let got = || {
        registry::read_candidates(&zk, path)
            .map(|c| c.into_iter().map(|c| c.name).collect::<Vec<_>>())
            .unwrap_or_default()
    };
    assert!(
        eventually(LONG, || got() == names),
        "registered on {path}: {:?}, not {names:?}",
        got()
    );
}

fn control(hosts: &str, path: &str) -> ControlOp {
    let zk = ZooKeeper::builder(hosts).connect(LONG).unwrap();
    registry::read_control(&zk, path)
        .unwrap()
        .map_or(ControlOp::None, |(op, _)| op)
}

#[test]
fn a_master_cut_off_during_a_pause_keeps_its_command_to_the_deadline_and_nobody_overlaps() {
    let d = dir("pause-cut-off");
    let log = d.join("commands.log");
    let path = format!("{}/m", unique_path("pause-cut"));
    let session_ms = 4000;
    // a reaches the server through a proxy of its own, which will go silent.
    let proxy = TcpProxy::start(hosts()).unwrap();
    let _a = run(
        &proxy.connect_string(),
        &path,
        "a",
        &log,
        session_ms,
        &d.join("a.err"),
    );
    assert!(
        eventually(LONG, || !times(&log, "start", "a").is_empty()),
        "a never started its command"
    );
    let _b = run(hosts(), &path, "b", &log, session_ms, &d.join("b.err"));
    registered(hosts(), &path, &["a", "b"]);

    let length = Duration::from_secs(10);
    let asked = now_ms();
    let out = cmd(hosts(), "pause", &path, &["--for", "10s"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("a acknowledged"), "{}", text(&out));
    assert!(
        matches!(
            control(hosts(), &path),
            ControlOp::Pause { acked: Some(_), .. }
        ),
        "{:?}",
        control(hosts(), &path)
    );

    let cut = now_ms();
    proxy.set_mode(ProxyMode::Blackhole);
    assert!(
        eventually(Duration::from_secs(60), || !times(&log, "start", "b")
            .is_empty()),
        "b never took over after the pause: {:?}\na: {}\nb: {}",
        lines(&log)
            .iter()
            .filter(|l| !l.starts_with("tick"))
            .collect::<Vec<_>>(),
        std::fs::read_to_string(d.join("a.err")).unwrap_or_default(),
        std::fs::read_to_string(d.join("b.err")).unwrap_or_default()
    );
    // Let a's last ticks land.
    std::thread::sleep(Duration::from_millis(300));
    let a_last = last_seen(&log, "a").unwrap();
    let b_start = times(&log, "start", "b")[0];
    let summary = format!(
        "asked at 0, cut at {} ms, a last seen at {} ms, b started at {} ms (session {session_ms} ms, pause {} ms)",
        cut - asked,
        a_last - asked,
        b_start - asked,
        length.as_millis()
    );
    println!("{summary}");
    // Through the outage: without the pause a stops within half the
    // session timeout of its last renewal.
    assert!(
        a_last >= cut + i64::from(session_ms),
        "a's command did not outlive the session timeout: {summary}"
    );
    // By the deadline it read (counted from its acknowledgement, after
    // `asked`), give or take the tick.
    assert!(
        a_last <= asked + length.as_millis() as i64 + 1000,
        "a's command outlived the pause's deadline: {summary}"
    );
    // Nobody before the deadline, nobody while a ran.
    assert!(
        b_start >= asked + length.as_millis() as i64,
        "b took over before the pause's deadline: {summary}"
    );
    assert!(
        b_start > a_last,
        "b started while a's command ran: {summary}"
    );
    // The claim emptied the control node.
    assert_eq!(control(hosts(), &path), ControlOp::None);
}

#[test]
fn an_ensemble_restarted_member_by_member_and_stopped_whole_under_a_pause_keeps_its_master() {
    common::fail_fast();
    let config = ServerConfig {
        tick_time_ms: 200,
        // syncLimit x tickTime under T/2 (the lease's assumption).
        sync_limit: 4,
        ..ServerConfig::default()
    };
    let cluster = TestingCluster::with_config(3, config).unwrap();
    let hosts = cluster.connect_string();
    let d = dir("pause-rolling");
    let log = d.join("commands.log");
    let path = format!("{}/m", unique_path("pause-rolling"));
    let session_ms = 2000;
    let _a = run(&hosts, &path, "a", &log, session_ms, &d.join("a.err"));
    assert!(
        eventually(LONG, || !times(&log, "start", "a").is_empty()),
        "a never started its command"
    );
    let _b = run(&hosts, &path, "b", &log, session_ms, &d.join("b.err"));
    registered(&hosts, &path, &["a", "b"]);
    let out = cmd(&hosts, "pause", &path, &["--for", "2m"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));

    // Member by member, the leader last.
    let leader = cluster.leader().unwrap();
    for i in (0..3).filter(|&i| i != leader).chain([leader]) {
        cluster.stop(i).unwrap();
        std::thread::sleep(Duration::from_secs(1));
        cluster.restart(i).unwrap();
        cluster.wait_for_leader(LONG).unwrap();
        std::thread::sleep(Duration::from_secs(2));
    }
    // The whole ensemble down for twice the session timeout: without the
    // pause the master steps down a quarter of it after the disconnection.
    let down = Instant::now();
    for i in 0..3 {
        cluster.stop(i).unwrap();
    }
    std::thread::sleep(Duration::from_millis(2 * u64::from(session_ms)));
    let outage_ms = down.elapsed().as_millis();
    // Together: each waits for a quorum to serve.
    std::thread::scope(|s| {
        for i in 0..3 {
            let cluster = &cluster;
            s.spawn(move || cluster.restart(i).unwrap());
        }
    });
    cluster.wait_for_leader(LONG).unwrap();
    std::thread::sleep(Duration::from_secs(3));

    let out = cmd(&hosts, "resume", &path, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("acknowledged"), "{}", text(&out));
    assert_eq!(control(&hosts, &path), ControlOp::None);
    let events: Vec<String> = lines(&log)
        .into_iter()
        .filter(|l| !l.starts_with("tick"))
        .collect();
    assert_eq!(
        events.iter().map(|l| l.split(' ').take(2).collect::<Vec<_>>().join(" ")).collect::<Vec<_>>(),
        ["start a"],
        "a failover (or a restart of the command) under the pause, outage {outage_ms} ms: {events:?}\na: {}",
        std::fs::read_to_string(d.join("a.err")).unwrap_or_default()
    );
    // a's command ticked through the outage (no gap longer than a second
    // while the ensemble was down).
    let ticks = times(&log, "tick", "a");
    let gap = ticks.windows(2).map(|w| w[1] - w[0]).max().unwrap_or(0);
    assert!(gap < 1000, "a's command stalled for {gap} ms");
}

#[test]
fn resume_pause_refusals_and_status() {
    let d = dir("pause-cli");
    let log = d.join("commands.log");
    let path = format!("{}/m", unique_path("pause-cli"));
    // Nobody registered: no control node to write.
    let out = cmd(hosts(), "pause", &path, &["--for", "30s"]);
    assert_eq!(out.status.code(), Some(6), "{}", text(&out));
    // A length needs a unit.
    let out = cmd(hosts(), "pause", &path, &["--for", "30"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("give a unit"), "{}", text(&out));

    let _a = run(hosts(), &path, "a", &log, 4000, &d.join("a.err"));
    assert!(eventually(LONG, || !times(&log, "start", "a").is_empty()));
    let out = cmd(hosts(), "pause", &path, &["--for", "1h"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    // Shown by status (text and JSON) while in force.
    let st = cmd(hosts(), "status", &path, &["--explain"]);
    assert!(
        text(&st).contains("pause for 3600 s (acknowledged by the master"),
        "{}",
        text(&st)
    );
    let st = cmd(hosts(), "status", &path, &["--json"]);
    assert!(text(&st).contains("\"op\":\"pause\""), "{}", text(&st));
    // A switchover waits for the pause to end.
    let out = cmd(hosts(), "resign", &path, &[]);
    assert_eq!(out.status.code(), Some(6), "{}", text(&out));
    assert!(
        text(&out).contains("another operation is in force"),
        "{}",
        text(&out)
    );
    // A shorter pause over it keeps the longer length.
    let out = cmd(hosts(), "pause", &path, &["--for", "10s"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(text(&out).contains("never shortened"), "{}", text(&out));
    assert!(
        matches!(control(hosts(), &path), ControlOp::Pause { length, .. } if length == Duration::from_secs(3600))
    );
    // Resumed: the master acknowledges, the node is empty again.
    let out = cmd(hosts(), "resume", &path, &[]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        text(&out).contains("the master acknowledged"),
        "{}",
        text(&out)
    );
    assert_eq!(control(hosts(), &path), ControlOp::None);
    let out = cmd(hosts(), "resume", &path, &[]);
    assert!(text(&out).contains("is not paused"), "{}", text(&out));
    // The command ran throughout.
    assert_eq!(times(&log, "start", "a").len(), 1);
    assert!(times(&log, "stop", "a").is_empty());
}
