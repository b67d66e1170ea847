//! Candidate names on a path are unique: a `zkha run --name` that another
//! live candidate holds is refused with a clear error and exit code 2 (after
//! waiting up to the session timeout for a crashed predecessor's session to
//! go), and it never runs its command; two candidates of one host without
//! `--name` get the data and the data made unique.

use crate::cli_kit::{dir, hosts, lines, zkha};
use crate::common::eventually;
use std::process::Stdio;
use std::time::{Duration, Instant};
use zkha::elector::registry;
use zkha::ZooKeeper;
use zkha_testing::unique_path;

const LONG: Duration = Duration::from_secs(30);

fn command(name: &str, log: &std::path::Path) -> Vec<String> {
    vec![
        "sh".into(),
        "-c".into(),
        format!("echo {name} start >> {}; exec sleep 600", log.display()),
    ]
}

fn names(zk: &ZooKeeper, path: &str) -> Vec<String> {
    registry::read_candidates(zk, path)
        .unwrap_or_default()
        .into_iter()
        .map(|c| c.name)
        .collect()
}

#[test]
fn a_name_another_live_candidate_holds_is_refused_with_exit_2() {
    let d = dir("names-taken");
    let log = d.join("commands.log");
    let path = format!("{}/m", unique_path("cli-names-taken"));
    let run = |name: &str, cmd: &str| {
        zkha()
            .args(["run", "--hosts", hosts(), "--path", &path])
            .args(["--name", name, "--session-timeout", "2000"])
            .arg("--")
            .args(command(cmd, &log))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap()
    };
    let mut first = run("web", "first");
    let admin = ZooKeeper::builder(hosts()).connect(LONG).unwrap();
    assert!(
        eventually(LONG, || names(&admin, &path) == ["web"]),
        "the first never registered: {:?}",
        names(&admin, &path)
    );
    let started = Instant::now();
    let second = run("web", "second");
    let out = second.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("candidate name \"web\" is taken")
            && err.contains("give each candidate its own name"),
        "{err}"
    );
    // It waited for a crashed predecessor's session (2 s) before refusing.
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert!(
        !lines(&log).iter().any(|l| l.starts_with("second")),
        "the refused candidate ran its command: {:?}",
        lines(&log)
    );
    assert_eq!(names(&admin, &path), ["web"]);
    let _ = first.kill();
    let _ = first.wait();
}

#[test]
fn candidates_of_one_host_without_a_name_get_the_data_made_unique() {
    let d = dir("names-default");
    let log = d.join("commands.log");
    let path = format!("{}/m", unique_path("cli-names-default"));
    let run = |cmd: &str| {
        zkha()
            .args(["run", "--hosts", hosts(), "--path", &path])
            .args(["--data", "10.9.8.7", "--session-timeout", "2000"])
            .arg("--")
            .args(command(cmd, &log))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    };
    let mut a = run("a");
    let admin = ZooKeeper::builder(hosts()).connect(LONG).unwrap();
    assert!(eventually(LONG, || names(&admin, &path).len() == 1));
    let mut b = run("b");
    assert!(
        eventually(LONG, || names(&admin, &path) == ["10.9.8.7", "10.9.8.7-2"]),
        "{:?}",
        names(&admin, &path)
    );
    for c in [&mut a, &mut b] {
        let _ = c.kill();
        let _ = c.wait();
    }
}
