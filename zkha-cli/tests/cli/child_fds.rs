//! No descriptor of zkha's reaches a child: the checks, the fencing
//! hook and the master's command each list their own open descriptors
//! (`/proc/<pid>/fd`) and must hold only 0, 1 and 2: not zkha's ZooKeeper
//! socket, not the C client's self-pipe, not the watchdog's pipes.

use crate::cli_kit;
use crate::common;

use cli_kit::{dir, hosts, zkha};
use common::eventually;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::Duration;
use zkha::{Acl, CreateMode, ZooKeeper};
use zkha_testing::unique_path;

const LONG: Duration = Duration::from_secs(30);

/// A script that lists the descriptors of process `$1` into file `$2`
/// (`ls -l`, so a failure shows what each one is). It runs as a child of
/// the process it lists, with a redirection of its own, so the listed
/// process opens nothing for it; the file appears whole (renamed into
/// place). The caller must not `exec` it (`sh lsfd $$ F; :`), or `$$`
/// would be the script's own shell, holding the script open.
fn lister(d: &Path) -> PathBuf {
    let script = d.join("lsfd.sh");
    std::fs::write(
        &script,
        "exec > \"$2.tmp\"\nls -l /proc/$1/fd\nmv \"$2.tmp\" \"$2\"\n",
    )
    .unwrap();
    script
}

/// `sh -c` text that lists its own shell's descriptors into `out`.
fn list_into(script: &Path, out: &Path) -> String {
    format!("sh {} $$ {}", script.display(), out.display())
}

/// The descriptor numbers of an `ls -l /proc/PID/fd` listing.
fn fds(listing: &str) -> Vec<u32> {
    let mut fds: Vec<u32> = listing
        .lines()
        .filter(|l| l.contains(" -> "))
        .filter_map(|l| l.split(" -> ").next()?.rsplit(' ').next()?.parse().ok())
        .collect();
    fds.sort_unstable();
    fds
}

/// Waits for `file` and checks that it lists exactly 0, 1 and 2.
fn assert_only_stdio(who: &str, file: &Path) {
    assert!(
        eventually(LONG, || file.exists()),
        "the {who} never listed its descriptors ({})",
        file.display()
    );
    let listing = std::fs::read_to_string(file).unwrap();
    assert_eq!(
        fds(&listing),
        [0, 1, 2],
        "the {who} holds descriptors beyond 0, 1, 2 (zkha's leaked):\n{listing}"
    );
}

fn start(path: &str, extra: &[&str], command: &str, stderr: &Path) -> Child {
    zkha()
        .args([
            "run",
            "--hosts",
            hosts(),
            "--path",
            path,
            "--data",
            "10.0.0.1",
        ])
        .args(["--session-timeout", "4000"])
        .args(extra)
        .args(["--", "sh", "-c", command])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(stderr).unwrap())
        .spawn()
        .unwrap()
}

fn term(p: &mut Child) {
    // SAFETY: a child of ours, not reaped yet.
    unsafe { libc::kill(p.id() as i32, libc::SIGTERM) };
    p.wait().unwrap();
}

/// A breadcrumb saying the last master (a session long gone) did not leave
/// cleanly: the next master runs its fence.
fn unclean_breadcrumb(path: &str) {
    common::quiet_c_log();
    let zk = ZooKeeper::builder(hosts()).connect(LONG).unwrap();
    let parent = path.rsplit_once('/').unwrap().0;
    zk.create(parent, b"", &Acl::open_unsafe(), CreateMode::Persistent)
        .unwrap();
    let crumb = br#"{"data": "10.0.0.9\u0000", "session": "0x5eed0000dead", "token": 2, "since_ms": 1, "clean": false}"#;
    zk.create(
        &format!("{path}.breadcrumb"),
        crumb,
        &Acl::open_unsafe(),
        CreateMode::Persistent,
    )
    .unwrap();
    let _ = zk.close();
}

#[test]
fn checks_and_fences_get_no_descriptor_of_zkha() {
    let d = dir("child-fds-hooks");
    let script = lister(&d);
    let (ready, health, fence) = (
        d.join("ready.fds"),
        d.join("health.fds"),
        d.join("fence.fds"),
    );
    let path = format!("{}/m", unique_path("child-fds-hooks"));
    unclean_breadcrumb(&path);
    let ready_cmd = format!("{}; :", list_into(&script, &ready));
    let health_cmd = format!("{}; :", list_into(&script, &health));
    let fence_cmd = format!("{}; :", list_into(&script, &fence));
    let started = d.join("started");
    let mut run = start(
        &path,
        &[
            "--ready-cmd",
            &ready_cmd,
            "--ready-interval",
            "100",
            "--health-cmd",
            &health_cmd,
            "--health-interval",
            "100",
            "--fence-cmd",
            &fence_cmd,
        ],
        &format!("touch {}; exec sleep 60", started.display()),
        &d.join("stderr"),
    );
    // The fence runs once this candidate is master (after a passing
    // readiness check), and the health check while its command runs: all
    // of them while zkha's session is open.
    assert!(
        eventually(LONG, || started.exists()),
        "never master: {}",
        std::fs::read_to_string(d.join("stderr")).unwrap_or_default()
    );
    // Checks that ran while master, with everything zkha has open.
    std::fs::remove_file(&ready).unwrap_or(());
    std::fs::remove_file(&health).unwrap_or(());
    assert_only_stdio("readiness check", &ready);
    assert_only_stdio("health check", &health);
    assert_only_stdio("fencing hook", &fence);
    term(&mut run);
}

#[test]
fn the_command_gets_no_descriptor_of_zkha() {
    let d = dir("child-fds-command");
    let script = lister(&d);
    let listing = d.join("command.fds");
    let path = format!("{}/m", unique_path("child-fds-command"));
    let mut run = start(
        &path,
        &[],
        &format!("{}; exec sleep 60", list_into(&script, &listing)),
        &d.join("stderr"),
    );
    assert_only_stdio("command", &listing);
    term(&mut run);
}
