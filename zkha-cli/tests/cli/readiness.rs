//! `zkha run --ready-cmd` against a real server, judged by what the
//! commands did (their start/stop lines): a candidate joins the election
//! only once ready, a standby that is not ready leaves it and comes back
//! once ready, and a master that is not ready keeps mastership (and its
//! command) but says so.

use crate::cli_kit::{dir, lines, worker};
use crate::common::eventually;
use crate::operator::{count, free_port, master_data, metric, run, scrape, term, LONG};
use std::time::Duration;
use zkha_testing::unique_path;

#[test]
fn a_candidate_that_is_not_ready_never_runs_its_command_while_a_ready_one_is_master() {
    let d = dir("ready-never");
    let log = d.join("cmds.log");
    let path = format!("{}/m", unique_path("ready-never"));
    // Alone, and first: without its check, a would be master at once.
    let mut a = run(
        &path,
        "10.0.0.1",
        &worker("a", &log),
        &["--ready-cmd", "false", "--ready-interval", "100"],
    );
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(
        master_data(&path),
        None,
        "a candidate that is not ready took the node"
    );
    let mut b = run(
        &path,
        "10.0.0.2",
        &worker("b", &log),
        &["--ready-cmd", "true", "--ready-interval", "100"],
    );
    assert!(
        eventually(LONG, || count(&log, "start b") == 1),
        "the ready candidate never became master"
    );
    assert_eq!(master_data(&path).as_deref(), Some("10.0.0.2"));
    std::thread::sleep(Duration::from_millis(1000));
    term(&mut b);
    // b gone, a still not ready: nobody takes over.
    std::thread::sleep(Duration::from_millis(1000));
    assert_eq!(master_data(&path), None);
    let err = term(&mut a);
    assert_eq!(count(&log, "start a"), 0, "{:?}", lines(&log));
    assert!(
        err.contains("not ready"),
        "a never said it is not ready: {err}"
    );
}

#[test]
fn a_master_that_is_not_ready_keeps_mastership_and_a_standby_that_is_not_ready_leaves() {
    let d = dir("ready-master");
    let log = d.join("cmds.log");
    let marker = d.join("ready");
    std::fs::write(&marker, "").unwrap();
    let path = format!("{}/m", unique_path("ready-master"));
    let check = format!("test -e {}", marker.display());
    let port = free_port();
    let addr = format!("127.0.0.1:{port}");
    let ready = [
        "--ready-cmd",
        &check,
        "--ready-interval",
        "100",
        "--ready-failures",
        "2",
        "--metrics-addr",
        &addr,
    ];
    let mut a = run(&path, "10.0.0.1", &worker("a", &log), &ready);
    assert!(eventually(LONG, || count(&log, "start a") == 1));
    let mut b = run(
        &path,
        "10.0.0.2",
        &worker("b", &log),
        &["--ready-cmd", "true", "--ready-interval", "100"],
    );
    let ready_is = |v: f64| scrape(port).is_some_and(|m| metric(&m, "zkha_ready") == Some(v));
    assert!(eventually(LONG, || ready_is(1.0)), "{:?}", scrape(port));

    // The master's host is no longer ready: it says so, and keeps
    // mastership and its command.
    std::fs::remove_file(&marker).unwrap();
    assert!(eventually(LONG, || ready_is(0.0)), "{:?}", scrape(port));
    std::thread::sleep(Duration::from_millis(1000));
    assert_eq!(count(&log, "stop a"), 0, "{:?}", lines(&log));
    assert_eq!(count(&log, "start b"), 0, "{:?}", lines(&log));
    assert_eq!(master_data(&path).as_deref(), Some("10.0.0.1"));
    let m = scrape(port).unwrap();
    assert_eq!(metric(&m, "zkha_is_master"), Some(1.0), "{m}");
    // Liveness is another matter: not checked, fine.
    assert_eq!(metric(&m, "zkha_health_ok"), Some(1.0), "{m}");

    // Once a standby (a resign), it leaves the election: b takes over.
    // SAFETY: a child of ours, not reaped yet.
    unsafe { libc::kill(a.id() as i32, libc::SIGUSR1) };
    assert!(
        eventually(LONG, || count(&log, "start b") == 1),
        "b never took over: {:?}",
        lines(&log)
    );
    let order = lines(&log);
    let stop_a = order.iter().position(|l| l == "stop a");
    let start_b = order.iter().position(|l| l.starts_with("start b"));
    assert!(
        stop_a.is_some() && stop_a < start_b,
        "a's command must be gone before b's starts: {order:?}"
    );
    // b goes: a, out of the election, does not take over.
    term(&mut b);
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(master_data(&path), None, "{:?}", lines(&log));
    assert_eq!(count(&log, "start a"), 1, "{:?}", lines(&log));

    // Ready again: a joins and, alone, is master once more.
    std::fs::write(&marker, "").unwrap();
    assert!(
        eventually(LONG, || count(&log, "start a") == 2),
        "a never came back into the election: {:?}",
        lines(&log)
    );
    assert!(eventually(LONG, || ready_is(1.0)), "{:?}", scrape(port));
    term(&mut a);
}
