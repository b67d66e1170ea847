//! `zkha run --health-cmd` (the running command's liveness) against a real
//! server, judged by what the commands and the checks did (their own lines,
//! from outside): a master whose command fails its check stops it and
//! hands over, staying a candidate; a check never runs on a standby; none
//! runs within `--health-start-period`; and the breadcrumb and the metrics
//! say why the master left.

use crate::cli_kit::{dir, hosts, lines, worker, zkha};
use crate::common::eventually;
use crate::operator::{breadcrumb, count, free_port, master_data, metric, run, scrape, term, LONG};
use std::path::Path;
use std::time::Duration;
use zkha_testing::unique_path;

/// The order of the first line starting with `a` and the first starting
/// with `b` in `log`, both present.
fn before(log: &Path, a: &str, b: &str) -> bool {
    let order = lines(log);
    let first = |p: &str| order.iter().position(|l| l.starts_with(p));
    matches!((first(a), first(b)), (Some(x), Some(y)) if x < y)
}

#[test]
fn a_master_whose_command_is_unhealthy_stops_it_and_another_takes_over() {
    let d = dir("live-handover");
    let log = d.join("cmds.log");
    let path = format!("{}/m", unique_path("live-handover"));
    // Each host's command is sick while its marker exists.
    let check = |name: &str| format!("test ! -e {}", d.join(format!("sick-{name}")).display());
    let flags = |check: &str| -> Vec<String> {
        [
            "--health-cmd",
            check,
            "--health-interval",
            "100",
            "--health-failures",
            "3",
        ]
        .map(str::to_owned)
        .to_vec()
    };
    let (ca, cb) = (check("a"), check("b"));
    let fa = flags(&ca);
    let fb = flags(&cb);
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let mut fa: Vec<&str> = fa.iter().map(String::as_str).collect();
    fa.extend(["--metrics-addr", &addr]);
    let fb: Vec<&str> = fb.iter().map(String::as_str).collect();
    let mut a = run(&path, "10.0.0.1", &worker("a", &log), &fa);
    assert!(eventually(LONG, || count(&log, "start a") == 1));
    let mut b = run(&path, "10.0.0.2", &worker("b", &log), &fb);
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(count(&log, "start b"), 0, "b started while a is master");

    // a's command turns sick: stopped, then b's starts.
    std::fs::write(d.join("sick-a"), "").unwrap();
    assert!(
        eventually(LONG, || count(&log, "start b") == 1),
        "the unhealthy master never handed over: {:?}",
        lines(&log)
    );
    assert!(
        before(&log, "stop a", "start b"),
        "a's command must be gone before b's starts: {:?}",
        lines(&log)
    );
    assert_eq!(master_data(&path).as_deref(), Some("10.0.0.2"));
    // a is still a candidate (its zkha runs), counted the loss as unhealthy
    // and, a standby now, reports healthy.
    assert!(a.try_wait().unwrap().is_none(), "a's zkha ended");
    let m = scrape(port).unwrap();
    assert!(
        m.lines()
            .any(|l| l.starts_with("zkha_lost_master_total{reason=\"unhealthy\"} 1")),
        "{m}"
    );
    assert_eq!(metric(&m, "zkha_is_master"), Some(0.0), "{m}");
    assert_eq!(metric(&m, "zkha_health_ok"), Some(1.0), "{m}");

    // a recovers, b turns sick: a wins again, with a fresh check.
    std::fs::remove_file(d.join("sick-a")).unwrap();
    std::fs::write(d.join("sick-b"), "").unwrap();
    assert!(
        eventually(LONG, || count(&log, "start a") == 2),
        "a never came back: {:?}",
        lines(&log)
    );
    assert_eq!(count(&log, "stop b"), 1, "{:?}", lines(&log));
    let all = lines(&log);
    let stop_b = all.iter().position(|l| l == "stop b");
    let start_a2 = all
        .iter()
        .enumerate()
        .filter(|(_, l)| l.starts_with("start a"))
        .nth(1)
        .map(|(i, _)| i);
    assert!(stop_b < start_a2, "both ran at once: {all:?}");
    // Healthy now: a keeps it.
    std::thread::sleep(Duration::from_millis(1000));
    assert_eq!(count(&log, "start a"), 2, "{:?}", lines(&log));
    assert_eq!(count(&log, "stop a"), 1, "{:?}", lines(&log));
    term(&mut b);
    term(&mut a);
}

#[test]
fn the_health_check_never_runs_on_a_standby() {
    let d = dir("live-standby");
    let log = d.join("cmds.log");
    let path = format!("{}/m", unique_path("live-standby"));
    let (checks_a, checks_b) = (d.join("checks-a"), d.join("checks-b"));
    let check = |f: &Path| format!("echo check >> {}", f.display());
    let (ca, cb) = (check(&checks_a), check(&checks_b));
    let mut a = run(
        &path,
        "10.0.0.1",
        &worker("a", &log),
        &["--health-cmd", &ca, "--health-interval", "50"],
    );
    assert!(eventually(LONG, || count(&log, "start a") == 1));
    let mut b = run(
        &path,
        "10.0.0.2",
        &worker("b", &log),
        &["--health-cmd", &cb, "--health-interval", "50"],
    );
    // The master checks, the standby does not.
    std::thread::sleep(Duration::from_millis(1500));
    assert!(lines(&checks_a).len() >= 5, "{:?}", lines(&checks_a));
    assert!(!checks_b.exists(), "a standby ran its health check");

    // a resigns and stays a standby: its checks stop, b's begin.
    // SAFETY: a child of ours, not reaped yet.
    unsafe { libc::kill(a.id() as i32, libc::SIGUSR1) };
    assert!(eventually(LONG, || count(&log, "start b") == 1));
    let a_checks = lines(&checks_a).len();
    assert!(
        eventually(LONG, || lines(&checks_b).len() >= 5),
        "the new master does not check: {:?}",
        lines(&checks_b)
    );
    std::thread::sleep(Duration::from_millis(1000));
    assert_eq!(
        lines(&checks_a).len(),
        a_checks,
        "a standby (a, resigned) ran its health check"
    );
    assert!(a.try_wait().unwrap().is_none(), "a's zkha ended");
    term(&mut b);
    term(&mut a);
}

/// `zkha run` alone with a command that answers only after 1 s (it writes
/// its start time, then touches `up`), and a health check that logs its
/// own time and passes once `up` exists (one failure makes it unhealthy).
/// A check that runs before the command's shell has set its trap and
/// written its start passes: on a loaded machine such a check
/// stopped the command before it could say so, again at every restart,
/// and the test waited in vain for its `stop` line (seen in CI).
fn slow_starter(d: &Path, path: &str, start_period: &str) -> std::process::Child {
    let (log, up) = (d.join("cmds.log"), d.join("up"));
    let cmd = format!(
        "trap 'echo stop >> {log}; exit 0' TERM; echo start $(date +%s%N) >> {log}; sleep 1; touch {up}; while true; do sleep 0.02; done",
        log = log.display(),
        up = up.display()
    );
    let check = format!(
        "echo check $(date +%s%N) >> {log}; grep -q '^start' {log} || exit 0; test -e {up}",
        log = log.display(),
        up = up.display()
    );
    run(
        path,
        "10.0.0.1",
        &["sh".into(), "-c".into(), cmd],
        &[
            "--health-cmd",
            &check,
            "--health-interval",
            "100",
            "--health-failures",
            "1",
            "--health-start-period",
            start_period,
        ],
    )
}

/// The ns of each line of `log` starting with `word`.
fn times(log: &Path, word: &str) -> Vec<i128> {
    lines(log)
        .iter()
        .filter_map(|l| l.strip_prefix(word)?.trim().parse().ok())
        .collect()
}

#[test]
fn the_health_start_period_is_honoured() {
    // With a start period longer than the command's start-up: no check
    // runs within it, so the slow command is never stopped.
    let d = dir("live-start-period");
    let log = d.join("cmds.log");
    let path = format!("{}/m", unique_path("live-start-period"));
    let mut a = slow_starter(&d, &path, "2000");
    assert!(eventually(LONG, || times(&log, "check").len() >= 5));
    let started = times(&log, "start");
    let checks = times(&log, "check");
    assert_eq!(started.len(), 1, "{:?}", lines(&log));
    // The command writes its time a little after zkha started the period.
    let first = (checks[0] - started[0]) / 1_000_000;
    assert!(
        first >= 1900,
        "first check {first} ms after the start: {:?}",
        lines(&log)
    );
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(count(&log, "stop"), 0, "{:?}", lines(&log));
    assert_eq!(times(&log, "start").len(), 1, "{:?}", lines(&log));
    term(&mut a);

    // The same without one: the first check fails, the command is stopped.
    let d = dir("live-no-start-period");
    let log = d.join("cmds.log");
    let path = format!("{}/m", unique_path("live-no-start-period"));
    let mut a = slow_starter(&d, &path, "0");
    assert!(
        eventually(LONG, || count(&log, "stop") >= 1),
        "the failing check did not stop the command: {:?}",
        lines(&log)
    );
    let (started, checks) = (times(&log, "start"), times(&log, "check"));
    assert!(
        (checks[0] - started[0]) / 1_000_000 < 500,
        "{:?}",
        lines(&log)
    );
    term(&mut a);
}

#[test]
fn an_unhealthy_master_says_so_in_its_breadcrumb_and_metrics() {
    // A host whose command and readiness fail together (one marker): the
    // master stops its command and resigns for the command, then, a
    // standby that is not ready, leaves the election: nobody is master and
    // the breadcrumb says why the last one left.
    let d = dir("live-says");
    let log = d.join("cmds.log");
    let marker = d.join("fine");
    std::fs::write(&marker, "").unwrap();
    let path = format!("{}/m", unique_path("live-says"));
    let check = format!("test -e {}", marker.display());
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let mut a = run(
        &path,
        "10.0.0.1",
        &worker("a", &log),
        &[
            "--health-cmd",
            &check,
            "--health-interval",
            "100",
            "--ready-cmd",
            &check,
            "--ready-interval",
            "100",
            "--metrics-addr",
            &addr,
        ],
    );
    assert!(eventually(LONG, || count(&log, "start a") == 1));
    std::fs::remove_file(&marker).unwrap();
    assert!(
        eventually(LONG, || master_data(&path).is_none()),
        "the unhealthy master kept the node"
    );
    assert_eq!(count(&log, "stop a"), 1, "{:?}", lines(&log));
    // status: the last master left cleanly, because it was unhealthy.
    let b = breadcrumb(&path);
    assert_eq!(b["clean"], true, "{b}");
    assert_eq!(b["left"], "unhealthy", "{b}");
    // The metrics: one mastership lost for it; not ready; a standby's
    // liveness is not in question.
    let m = scrape(port).unwrap();
    assert_eq!(metric(&m, "zkha_ready"), Some(0.0), "{m}");
    assert_eq!(metric(&m, "zkha_health_ok"), Some(1.0), "{m}");
    assert_eq!(metric(&m, "zkha_is_master"), Some(0.0), "{m}");
    assert!(
        m.lines()
            .any(|l| l.starts_with("zkha_lost_master_total{reason=\"unhealthy\"} 1")),
        "{m}"
    );
    // `status --explain` says it too.
    let out = zkha()
        .args(["status", "--hosts", hosts(), "--path", &path, "--explain"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("unhealthy"), "{text}");
    term(&mut a);
}
