//! `zkha run`'s operator features against a real server, as an operator
//! would see them: the fencing hook (run once after a master died, with its
//! data, before the successor's command; never after a graceful exit; a
//! failed fence keeps the command from starting), the Prometheus metrics
//! and the breadcrumb's word on how a master left. The checks are
//! `readiness.rs` (`--ready-cmd`) and `liveness.rs` (`--health-cmd`), which
//! use this file's helpers.

use crate::cli_kit;
use crate::common;

use cli_kit::{dir, hosts, lines, worker, zkha};
use common::eventually;
use std::io::{Read, Write};
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::Duration;
use zkha::ZooKeeper;
use zkha_testing::unique_path;

pub(crate) const LONG: Duration = Duration::from_secs(30);

pub(crate) fn run(path: &str, data: &str, cmd: &[String], extra: &[&str]) -> Child {
    zkha()
        .args(["run", "--hosts", hosts(), "--path", path, "--data", data])
        .args(["--session-timeout", "4000"])
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
pub(crate) fn term(p: &mut Child) -> String {
    // SAFETY: a child of ours, not reaped yet.
    unsafe { libc::kill(p.id() as i32, libc::SIGTERM) };
    p.wait().unwrap();
    let mut err = String::new();
    p.stderr.take().unwrap().read_to_string(&mut err).unwrap();
    err
}

pub(crate) fn count(log: &Path, line: &str) -> usize {
    lines(log).iter().filter(|l| l.starts_with(line)).count()
}

pub(crate) fn master_data(path: &str) -> Option<String> {
    let zk = ZooKeeper::builder(hosts()).connect(LONG).unwrap();
    let r = zk
        .get(path, false)
        .ok()
        // (zkha's data ends in a NUL, as the C++ design's does.)
        .map(|(d, _)| String::from_utf8_lossy(d.strip_suffix(b"\0").unwrap_or(&d)).into_owned());
    let _ = zk.close();
    r
}

/// The fence: logs `fence <prev data> <prev session> <prev token>`.
fn fence(log: &Path) -> String {
    format!(
        "echo fence $ZKHA_PREV_DATA $ZKHA_PREV_SESSION $ZKHA_PREV_TOKEN >> {}",
        log.display()
    )
}

#[test]
fn the_fence_runs_once_after_a_master_died_and_never_after_a_graceful_exit() {
    let d = dir("fence");
    let log = d.join("cmds.log");
    let path = format!("{}/m", unique_path("op-fence"));
    let f = fence(&log);
    let flags = ["--fence-cmd", f.as_str()];
    let mut a = run(&path, "10.0.0.1", &worker("a", &log), &flags);
    assert!(eventually(LONG, || count(&log, "start a") == 1));
    assert_eq!(
        count(&log, "fence"),
        0,
        "nobody to fence: {:?}",
        lines(&log)
    );
    let mut b = run(&path, "10.0.0.2", &worker("b", &log), &flags);
    std::thread::sleep(Duration::from_millis(500));

    // a's zkha dies; its watchdog stops the command and ends the session,
    // but nobody marked the breadcrumb clean.
    a.kill().unwrap();
    a.wait().unwrap();
    assert!(
        eventually(LONG, || count(&log, "start b") == 1),
        "b never took over: {:?}",
        lines(&log)
    );
    let all = lines(&log);
    let fences: Vec<&String> = all.iter().filter(|l| l.starts_with("fence")).collect();
    assert_eq!(fences.len(), 1, "{all:?}");
    let words: Vec<&str> = fences[0].split(' ').collect();
    assert_eq!(words[1], "10.0.0.1", "ZKHA_PREV_DATA: {all:?}");
    assert!(words[2].starts_with("0x"), "ZKHA_PREV_SESSION: {all:?}");
    // `start a <pid> <token> <path>`
    let a_token = all
        .iter()
        .find_map(|l| l.strip_prefix("start a "))
        .and_then(|rest| rest.split(' ').nth(1))
        .unwrap();
    assert_eq!(words[3], a_token, "ZKHA_PREV_TOKEN: {all:?}");
    let fenced = all.iter().position(|l| l.starts_with("fence")).unwrap();
    let b_started = all.iter().position(|l| l.starts_with("start b")).unwrap();
    assert!(
        fenced < b_started,
        "the fence ran after b's command: {all:?}"
    );

    // A graceful exit marks the breadcrumb clean: c takes over unfenced.
    let mut c = run(&path, "10.0.0.3", &worker("c", &log), &flags);
    std::thread::sleep(Duration::from_millis(500));
    term(&mut b);
    assert!(
        eventually(LONG, || count(&log, "start c") == 1),
        "c never took over"
    );
    assert_eq!(count(&log, "fence"), 1, "{:?}", lines(&log));

    // So does a resign (SIGUSR1): e takes over unfenced.
    let mut e = run(&path, "10.0.0.5", &worker("e", &log), &flags);
    std::thread::sleep(Duration::from_millis(500));
    // SAFETY: a child of ours, not reaped yet.
    unsafe { libc::kill(c.id() as i32, libc::SIGUSR1) };
    assert!(
        eventually(LONG, || count(&log, "start e") == 1),
        "e never took over"
    );
    assert_eq!(count(&log, "fence"), 1, "{:?}", lines(&log));
    term(&mut c);
    term(&mut e);
}

#[test]
fn a_failed_fence_keeps_the_command_from_starting() {
    let d = dir("fence-fails");
    let log = d.join("cmds.log");
    let path = format!("{}/m", unique_path("op-fence-fails"));
    let mut a = run(
        &path,
        "10.0.0.1",
        &worker("a", &log),
        &["--fence-cmd", "true"],
    );
    assert!(eventually(LONG, || count(&log, "start a") == 1));
    a.kill().unwrap();
    a.wait().unwrap();
    let mut b = run(
        &path,
        "10.0.0.2",
        &worker("b", &log),
        &[
            "--fence-cmd",
            &format!("echo tried-b >> {}; exit 1", log.display()),
            "--fence-backoff",
            "1000",
        ],
    );
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(count(&log, "start b"), 0, "{:?}", lines(&log));
    // Tried again after each back-off (1 s), not at once.
    let tries = count(&log, "tried-b");
    assert!(
        (1..=3).contains(&tries),
        "{tries} fences in 2.5 s: {:?}",
        lines(&log)
    );
    // A candidate whose fence works takes over in one of b's back-offs.
    let f = fence(&log);
    let mut c = run(
        &path,
        "10.0.0.3",
        &worker("c", &log),
        &["--fence-cmd", f.as_str()],
    );
    assert!(
        eventually(LONG, || count(&log, "start c") == 1),
        "c never took over: {:?}",
        lines(&log)
    );
    assert!(
        lines(&log).iter().any(|l| l.starts_with("fence 10.0.0.1 ")),
        "c fenced the dead a: {:?}",
        lines(&log)
    );
    term(&mut c);
    let err = term(&mut b);
    assert_eq!(count(&log, "start b"), 0, "{:?}", lines(&log));
    assert!(
        err.contains("--fence-cmd failed") && err.contains("data 10.0.0.1"),
        "b never said its fence of a failed: {err}"
    );
}

/// A free loopback port (the listener is dropped: a small race, only
/// with another test taking the same port in between).
pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub(crate) fn scrape(port: u16) -> Option<String> {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    s.write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .ok()?;
    let mut body = String::new();
    s.read_to_string(&mut body).ok()?;
    body.starts_with("HTTP/1.1 200").then_some(body)
}

pub(crate) fn metric(body: &str, name: &str) -> Option<f64> {
    body.lines()
        .find(|l| l.split([' ', '{']).next() == Some(name))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[test]
fn metrics_say_who_is_master() {
    let d = dir("metrics");
    let log = d.join("cmds.log");
    let path = format!("{}/m", unique_path("op-metrics"));
    let (pa, pb) = (free_port(), free_port());
    let (aa, ab) = (format!("127.0.0.1:{pa}"), format!("127.0.0.1:{pb}"));
    let mut a = run(
        &path,
        "10.0.0.1",
        &worker("a", &log),
        &["--metrics-addr", &aa],
    );
    assert!(eventually(LONG, || count(&log, "start a") == 1));
    let mut b = run(
        &path,
        "10.0.0.2",
        &worker("b", &log),
        &["--metrics-addr", &ab],
    );
    let ready = |port, master: f64| {
        scrape(port).is_some_and(|m| {
            metric(&m, "zkha_is_master") == Some(master)
                && metric(&m, "zkha_session_connected") == Some(1.0)
        })
    };
    assert!(eventually(LONG, || ready(pa, 1.0)), "{:?}", scrape(pa));
    assert!(eventually(LONG, || ready(pb, 0.0)), "{:?}", scrape(pb));
    let ma = scrape(pa).unwrap();
    assert_eq!(metric(&ma, "zkha_became_master_total"), Some(1.0), "{ma}");
    assert_eq!(metric(&ma, "zkha_command_starts_total"), Some(1.0), "{ma}");
    // No checks: healthy and ready.
    assert_eq!(metric(&ma, "zkha_health_ok"), Some(1.0), "{ma}");
    assert_eq!(metric(&ma, "zkha_ready"), Some(1.0), "{ma}");
    let lease = metric(&ma, "zkha_lease_remaining_seconds").unwrap();
    assert!(
        lease > 0.0 && lease <= 2.0,
        "lease {lease} s of a 4 s session"
    );
    let mb = scrape(pb).unwrap();
    assert_eq!(
        metric(&mb, "zkha_lease_remaining_seconds"),
        Some(0.0),
        "{mb}"
    );
    assert_eq!(metric(&mb, "zkha_became_master_total"), Some(0.0), "{mb}");

    // a resigns (SIGUSR1): the counters and gauges follow.
    // SAFETY: a child of ours, not reaped yet.
    unsafe { libc::kill(a.id() as i32, libc::SIGUSR1) };
    assert!(eventually(LONG, || ready(pb, 1.0)), "{:?}", scrape(pb));
    assert!(eventually(LONG, || ready(pa, 0.0)), "{:?}", scrape(pa));
    let ma = scrape(pa).unwrap();
    assert!(
        ma.lines()
            .any(|l| l.starts_with("zkha_lost_master_total{reason=\"resigned\"} 1")),
        "{ma}"
    );
    term(&mut a);
    term(&mut b);
}

#[test]
fn a_metrics_address_that_cannot_serve_is_a_startup_error() {
    let path = format!("{}/m", unique_path("op-metrics-bad"));
    let cmd = ["true".to_string()];
    // The wildcard is refused (loopback or an explicit address only).
    let out = zkha()
        .args(["run", "--hosts", hosts(), "--path", &path])
        .args(["--metrics-addr", "0.0.0.0:9100", "--"])
        .args(&cmd)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(err.contains("--metrics-addr"), "{err}");
    // An address in use: one line naming it, and nothing joined the election.
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let out = zkha()
        .args(["run", "--hosts", hosts(), "--path", &path])
        .args(["--metrics-addr", &addr, "--"])
        .args(&cmd)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0), "{err}");
    assert!(err.contains(&addr), "{err}");
    assert_eq!(master_data(&path), None, "it joined the election anyway");
}

/// The breadcrumb as `zkha status --json` shows it.
pub(crate) fn breadcrumb(path: &str) -> serde_json::Value {
    let out = zkha()
        .args(["status", "--hosts", hosts(), "--path", path, "--json"])
        .output()
        .unwrap();
    let j: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    j["breadcrumb"].clone()
}

#[test]
fn a_clean_breadcrumb_says_how_its_master_left() {
    let d = dir("left");
    let log = d.join("cmds.log");
    let path = format!("{}/m", unique_path("op-left"));
    // The command ends by itself (`--on-exit exit`): "exited".
    let cmd = format!("echo start a >> {}; sleep 0.3", log.display());
    let mut a = run(&path, "10.0.0.1", &["sh".into(), "-c".into(), cmd], &[]);
    let status = a.wait().unwrap();
    assert_eq!(status.code(), Some(0), "{:?}", lines(&log));
    assert_eq!(count(&log, "start a"), 1);
    let b = breadcrumb(&path);
    assert_eq!(
        (&b["clean"], &b["left"]),
        (&true.into(), &"exited".into()),
        "{b}"
    );
    // SIGTERM to zkha: "stopped".
    let mut c = run(&path, "10.0.0.3", &worker("c", &log), &[]);
    assert!(eventually(LONG, || count(&log, "start c") == 1));
    assert!(eventually(LONG, || breadcrumb(&path)["data"] == "10.0.0.3"));
    term(&mut c);
    let b = breadcrumb(&path);
    assert_eq!(
        (&b["clean"], &b["left"]),
        (&true.into(), &"stopped".into()),
        "{b}"
    );
}

#[test]
fn a_breadcrumb_it_cannot_read_stops_a_fencing_master_only() {
    let d = dir("crumb-hidden");
    let log = d.join("cmds.log");
    let path = format!("{}/m", unique_path("op-crumb-hidden"));
    // A breadcrumb only another identity may touch.
    let zk = ZooKeeper::builder(hosts()).connect(LONG).unwrap();
    zk.add_auth("digest", b"someone:else").unwrap();
    let parent = path.rsplit_once('/').unwrap().0;
    zk.create(
        parent,
        b"",
        &zkha::Acl::open_unsafe(),
        zkha::CreateMode::Persistent,
    )
    .unwrap();
    let crumb = format!("{path}.breadcrumb");
    zk.create(
        &crumb,
        b"{}",
        &zkha::Acl::creator_all(),
        zkha::CreateMode::Persistent,
    )
    .unwrap();
    // Without a fence: the command runs; the breadcrumb is only a warning.
    let mut a = run(&path, "10.0.0.1", &worker("a", &log), &[]);
    assert!(eventually(LONG, || count(&log, "start a") == 1));
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(count(&log, "stop a"), 0, "{:?}", lines(&log));
    let err = term(&mut a);
    assert!(err.contains("cannot read the breadcrumb"), "{err}");
    // With a fence: whether to fence is unknown, so the command never runs.
    let f = fence(&log);
    let mut b = run(
        &path,
        "10.0.0.2",
        &worker("b", &log),
        &["--fence-cmd", f.as_str(), "--fence-backoff", "300"],
    );
    std::thread::sleep(Duration::from_millis(2000));
    let err = term(&mut b);
    assert_eq!(count(&log, "start b"), 0, "{:?}", lines(&log));
    assert!(
        err.contains("whether the last master must be fenced is unknown"),
        "{err}"
    );
    let _ = zk.close();
}
