//! Work never outlives mastership, whatever the command does (issue 22):
//! each test starts `zkha run` candidates against a real server and judges
//! by the files their commands write (one shared file per test, appended to
//! by every command, so the file's order is the order of events).
//!
//! - a node deleted from outside ends the lease at once: SIGKILL, no grace;
//! - a planned stop (SIGTERM to zkha, a resign) holds mastership until the
//!   command is gone, however long it takes within `--stop-timeout`;
//! - a command starts only under a live mastership (the test-only delay
//!   `ZKHA_TEST_START_DELAY_MS` widens the window before the start);
//! - a killed watchdog is a crash: its command's processes die, the
//!   breadcrumb stays unclean and the next master fences;
//! - `--on-exit restart` backs off and resigns, so the standby gets its turn;
//! - `--grace` is checked against the session timeout the server granted;
//! - a setsid'd worker and a daemonizing command are contained.

use crate::cli_kit;
use crate::common;

use cli_kit::{hosts, lines, worker, zkha};
use common::eventually;
use std::path::{Path, PathBuf};
use std::process::{Child, ExitStatus, Stdio};
use std::time::{Duration, Instant};
use zkha::ZooKeeper;
use zkha_testing::{unique_path, ServerConfig, TestingServer};

const LONG: Duration = Duration::from_secs(30);

/// One candidate: `zkha run --hosts H --path P --data D <extra> -- cmd`,
/// its stderr in `<dir>/<data>.err`, `env` added to its environment.
fn run_on(
    hosts: &str,
    d: &Path,
    path: &str,
    data: &str,
    cmd: &[String],
    extra: &[&str],
    env: &[(&str, &str)],
) -> Child {
    let err = std::fs::File::create(d.join(format!("{data}.err"))).unwrap();
    zkha()
        .args(["run", "--hosts", hosts, "--path", path, "--data", data])
        .args(extra)
        .arg("--")
        .args(cmd)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(err)
        .spawn()
        .unwrap()
}

fn run(d: &Path, path: &str, data: &str, cmd: &[String], extra: &[&str]) -> Child {
    let env: &[(&str, &str)] = if NO_CGROUP.get() {
        &[("ZKHA_TEST_NO_CGROUP", "1")]
    } else {
        &[]
    };
    run_on(hosts(), d, path, data, cmd, extra, env)
}

thread_local! {
    /// This test runs its candidates without a cgroup per command: the
    /// subreaper alone contains the command (where a cgroup v2 directory is
    /// writable, as here, `cgroup.kill` would otherwise hide the
    /// subreaper's faults).
    static NO_CGROUP: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Runs `test` with the subreaper alone (see [`NO_CGROUP`]).
fn by_the_subreaper_alone(test: fn()) {
    NO_CGROUP.set(true);
    test();
}

/// A scratch directory of the test's own (one per containment mode).
fn dir(name: &str) -> PathBuf {
    if NO_CGROUP.get() {
        cli_kit::dir(&format!("{name}-nocg"))
    } else {
        cli_kit::dir(name)
    }
}

/// What a candidate wrote to stderr so far.
fn stderr_of(d: &Path, data: &str) -> String {
    std::fs::read_to_string(d.join(format!("{data}.err"))).unwrap_or_default()
}

/// `sh -c text`.
fn sh(text: &str) -> Vec<String> {
    vec!["sh".into(), "-c".into(), text.into()]
}

/// Writes `text` to `<dir>/<name>` and returns its path (scripts that a
/// command starts, so that no quoting nests, and so that the cleanup finds
/// their processes by the path on their command line).
fn script(d: &Path, name: &str, text: &str) -> PathBuf {
    let p = d.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

/// Whether the binary under test knows `flag` (`zkha run --help`): with
/// `ZKHA_TEST_BIN` set to a build from before a flag existed, the test runs
/// with that build's default behaviour instead of a usage error.
fn supports(flag: &str) -> bool {
    let out = zkha().args(["run", "--help"]).output().unwrap();
    String::from_utf8_lossy(&out.stdout).contains(flag)
}

/// `--stop-timeout <ms>` where the binary has it.
fn stop_timeout(ms: &'static str) -> Vec<&'static str> {
    if supports("--stop-timeout") {
        vec!["--stop-timeout", ms]
    } else {
        vec![]
    }
}

fn signal(p: &Child, sig: i32) {
    // SAFETY: a child of ours, not reaped yet (the caller still holds it).
    unsafe { libc::kill(p.id() as i32, sig) };
}

/// Waits up to `timeout` for `p` to exit.
fn wait_for_exit(p: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(st) = p.try_wait().unwrap() {
            return Some(st);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// SIGTERM and wait (bounded: SIGKILL after a minute).
fn term(p: &mut Child) -> ExitStatus {
    signal(p, libc::SIGTERM);
    wait_for_exit(p, Duration::from_secs(60)).unwrap_or_else(|| {
        let _ = p.kill();
        p.wait().unwrap()
    })
}

fn first(all: &[String], prefix: &str) -> Option<usize> {
    all.iter().position(|l| l.starts_with(prefix))
}

fn last(all: &[String], prefix: &str) -> Option<usize> {
    all.iter().rposition(|l| l.starts_with(prefix))
}

fn count(all: &[String], prefix: &str) -> usize {
    all.iter().filter(|l| l.starts_with(prefix)).count()
}

/// The lines around `at`, for a failure message.
fn around(all: &[String], at: usize) -> String {
    let lo = at.saturating_sub(8);
    let hi = (at + 12).min(all.len());
    all[lo..hi].join(" | ")
}

fn size(f: &Path) -> u64 {
    std::fs::metadata(f).map(|m| m.len()).unwrap_or(0)
}

/// Whether `f` grows within a second (its writer lives).
fn grows(f: &Path) -> bool {
    let before = size(f);
    eventually(Duration::from_secs(1), || size(f) > before)
}

/// Whether `f` keeps its size across `window`: nothing writes it any more.
fn still(f: &Path, window: Duration) -> (bool, u64, u64) {
    let before = size(f);
    std::thread::sleep(window);
    let after = size(f);
    (before == after, before, after)
}

/// Every process's parent (`/proc/<pid>/stat`, field 4).
fn parents() -> Vec<(i32, i32)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
        if let Some(ppid) = stat
            .rsplit_once(") ")
            .and_then(|(_, r)| r.split(' ').nth(1))
            .and_then(|s| s.parse().ok())
        {
            out.push((pid, ppid));
        }
    }
    out
}

fn cmdline(pid: i32) -> Vec<String> {
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .unwrap_or_default()
        .split(|&b| b == 0)
        .filter(|s| !s.is_empty())
        .map(|s| String::from_utf8_lossy(s).into_owned())
        .collect()
}

/// Whether `pid` is a live (not zombie) process whose command line names
/// `d` (one of this test's scripts).
fn alive_in(pid: i32, d: &Path) -> bool {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let zombie = stat
        .rsplit_once(") ")
        .is_some_and(|(_, r)| r.starts_with('Z'));
    !zombie
        && cmdline(pid)
            .iter()
            .any(|a| a.contains(&*d.to_string_lossy()))
}

/// The pid a script wrote to `f` (`echo $$ > f`).
fn pid_in(f: &Path) -> Option<i32> {
    std::fs::read_to_string(f).ok()?.trim().parse().ok()
}

/// The watchdog of the `zkha run` with pid `zkha`: its child whose argv[0]
/// is `zkha-watchdog`.
fn watchdog_of(zkha: u32) -> Option<i32> {
    parents()
        .into_iter()
        .filter(|&(_, ppid)| ppid == zkha as i32)
        .map(|(pid, _)| pid)
        .find(|&pid| cmdline(pid).first().map(String::as_str) == Some("zkha-watchdog"))
}

/// Ends, whatever the test's outcome, the candidates it started (SIGKILL:
/// their watchdogs stop their commands) and the processes of its scripts
/// that escaped them (each wrote its pid to a `*.pid` file of the test's
/// directory; killed only while their command line still names it).
struct Cleanup {
    dir: PathBuf,
    children: Vec<Child>,
}

impl Cleanup {
    fn new(dir: &Path) -> Cleanup {
        Cleanup {
            dir: dir.to_owned(),
            children: Vec::new(),
        }
    }

    fn add(&mut self, c: Child) -> usize {
        self.children.push(c);
        self.children.len() - 1
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        for c in &mut self.children {
            let _ = c.kill();
            let _ = c.wait();
        }
        let Ok(entries) = std::fs::read_dir(&self.dir) else {
            return;
        };
        for e in entries.flatten() {
            if e.path().extension().is_some_and(|x| x == "pid") {
                if let Some(pid) = pid_in(&e.path()).filter(|&p| alive_in(p, &self.dir)) {
                    // SAFETY: a process of this test's own scripts (its
                    // command line names the test's directory).
                    unsafe { libc::kill(pid, libc::SIGKILL) };
                }
            }
        }
    }
}

/// Item 1: an operator deletes the master node. The standby takes over at
/// once; the old master's command, which traps SIGTERM and writes every
/// 10 ms, must be gone (SIGKILL at once, no `--grace`) before the standby's
/// command writes its first line. A grace of 400 ms (under a quarter of the
/// 4000 ms session timeout) leaves a wide window for a SIGTERM-first stop
/// to show.
#[test]
fn a_node_deleted_from_outside_kills_the_command_at_once() {
    let d = dir("contain-deleted");
    let log = d.join("cmds.log");
    let path = format!("{}/m", unique_path("contain-deleted"));
    let flags = ["--session-timeout", "4000", "--grace", "400"];
    let mut c = Cleanup::new(&d);
    let a_cmd = sh(&format!(
        "echo start a $ZKHA_TOKEN >> {l}; trap 'echo term a >> {l}' TERM; i=0; \
         while :; do i=$((i+1)); echo a $i >> {l}; sleep 0.01; done",
        l = log.display()
    ));
    let a = c.add(run(&d, &path, "10.0.0.1", &a_cmd, &flags));
    assert!(
        eventually(LONG, || count(&lines(&log), "a ") >= 5),
        "a never ran: {}",
        stderr_of(&d, "10.0.0.1")
    );
    let b = c.add(run(&d, &path, "10.0.0.2", &worker("b", &log), &flags));
    // b joins the election as a standby.
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(first(&lines(&log), "start b"), None, "b started beside a");

    delete(&path);
    assert!(
        eventually(LONG, || first(&lines(&log), "start b").is_some()),
        "b never took over: {:?}\n{}",
        lines(&log).iter().rev().take(5).collect::<Vec<_>>(),
        stderr_of(&d, "10.0.0.2")
    );
    // Whatever a's command still writes, it writes within its grace.
    std::thread::sleep(Duration::from_millis(1500));
    let all = lines(&log);
    let start_b = first(&all, "start b").unwrap();
    let late: Vec<&String> = all[start_b..]
        .iter()
        .filter(|l| l.starts_with("a ") || l.starts_with("term a"))
        .collect();
    assert!(
        late.is_empty(),
        "a's command wrote {} line(s) after b's command started (first {:?}, last {:?}): {}",
        late.len(),
        late.first(),
        late.last(),
        around(&all, start_b)
    );
    assert!(
        first(&all, "term a").is_none(),
        "a's command got SIGTERM (a grace) instead of SIGKILL: {}",
        around(&all, start_b)
    );
    term(&mut c.children[b]);
    term(&mut c.children[a]);
}

/// Deletes the master node, as an operator would.
fn delete(path: &str) {
    common::quiet_c_log();
    let zk = ZooKeeper::builder(hosts()).connect(LONG).unwrap();
    zk.delete(path, -1).unwrap();
    let _ = zk.close();
}

/// a's command, for the planned stops: on SIGTERM it goes on writing
/// `a <i>` every 10 ms for 300 lines (3 s or more), then writes `stop a`
/// and exits 0.
fn slow_stopper(log: &Path) -> Vec<String> {
    sh(&format!(
        "echo start a $ZKHA_TOKEN >> {l}; \
         trap 'i=0; while [ $i -lt 300 ]; do echo a $i >> {l}; i=$((i+1)); sleep 0.01; done; \
         echo stop a >> {l}; exit 0' TERM; \
         while :; do sleep 0.01; done",
        l = log.display()
    ))
}

/// The planned stop's verdict: a's command finished its shutdown (`stop a`
/// after 300 lines) and b's command started only after that.
fn assert_held_until_gone(log: &Path) {
    let all = lines(log);
    let stop_a = first(&all, "stop a");
    let start_b = first(&all, "start b").unwrap();
    assert!(
        stop_a.is_some(),
        "a's command never finished its shutdown (killed before it wrote `stop a`; {} of 300 lines): {}",
        count(&all, "a "),
        around(&all, start_b)
    );
    assert!(count(&all, "a ") >= 300, "{}", around(&all, start_b));
    assert!(
        stop_a < Some(start_b),
        "b's command started before a's was gone: {}",
        around(&all, start_b)
    );
}

/// Item 2: SIGTERM to the master's zkha is a planned stop. With a session
/// timeout of 2000 ms (a lease of 1 s), a command that needs 3 s and more
/// to shut down gets them (the default `--stop-timeout` is 30 s), and the
/// standby starts only after it is gone: mastership is held and renewed
/// meanwhile.
#[test]
fn sigterm_holds_mastership_until_a_slow_command_is_gone() {
    let d = dir("contain-sigterm");
    let log = d.join("cmds.log");
    let path = format!("{}/m", unique_path("contain-sigterm"));
    let flags = ["--session-timeout", "2000"];
    let mut c = Cleanup::new(&d);
    let a = c.add(run(&d, &path, "10.0.0.1", &slow_stopper(&log), &flags));
    assert!(
        eventually(LONG, || first(&lines(&log), "start a").is_some()),
        "a never ran: {}",
        stderr_of(&d, "10.0.0.1")
    );
    let b = c.add(run(&d, &path, "10.0.0.2", &worker("b", &log), &flags));
    std::thread::sleep(Duration::from_secs(1));
    let st = term(&mut c.children[a]);
    assert!(
        eventually(LONG, || first(&lines(&log), "start b").is_some()),
        "b never took over: {}",
        stderr_of(&d, "10.0.0.2")
    );
    assert_held_until_gone(&log);
    assert_eq!(st.code(), Some(128 + libc::SIGTERM), "a's zkha: {st}");
    term(&mut c.children[b]);
}

/// Item 2, by a resign (SIGUSR1): the same planned stop, and a stays a
/// candidate.
#[test]
fn a_resign_holds_mastership_until_a_slow_command_is_gone() {
    let d = dir("contain-resign");
    let log = d.join("cmds.log");
    let path = format!("{}/m", unique_path("contain-resign"));
    let flags = ["--session-timeout", "2000"];
    let mut c = Cleanup::new(&d);
    let a = c.add(run(&d, &path, "10.0.0.1", &slow_stopper(&log), &flags));
    assert!(
        eventually(LONG, || first(&lines(&log), "start a").is_some()),
        "a never ran: {}",
        stderr_of(&d, "10.0.0.1")
    );
    let b = c.add(run(&d, &path, "10.0.0.2", &worker("b", &log), &flags));
    std::thread::sleep(Duration::from_secs(1));
    signal(&c.children[a], libc::SIGUSR1);
    assert!(
        eventually(LONG, || first(&lines(&log), "start b").is_some()),
        "b never took over: {}",
        stderr_of(&d, "10.0.0.2")
    );
    assert_held_until_gone(&log);
    assert!(
        c.children[a].try_wait().unwrap().is_none(),
        "a's zkha left instead of staying a candidate: {}",
        stderr_of(&d, "10.0.0.1")
    );
    term(&mut c.children[b]);
    term(&mut c.children[a]);
}

/// Item 3: a command starts only under a live mastership. a's command
/// exits at once and `--on-exit restart` starts it again (after a back-off);
/// `ZKHA_TEST_START_DELAY_MS` makes each start wait 1.5 s before it takes
/// the slot lock. The node is deleted inside such a wait: b becomes master,
/// and a's pending start must not run the command any more.
#[test]
fn a_start_pending_when_mastership_ends_never_runs_the_command() {
    let d = dir("contain-pending");
    let log = d.join("cmds.log");
    let path = format!("{}/m", unique_path("contain-pending"));
    let mut c = Cleanup::new(&d);
    let a_cmd = sh(&format!(
        "echo start a $ZKHA_TOKEN >> {}; exit 0",
        log.display()
    ));
    let a = c.add(run_on(
        hosts(),
        &d,
        &path,
        "10.0.0.1",
        &a_cmd,
        &["--session-timeout", "4000", "--on-exit", "restart"],
        &[
            ("ZKHA_TEST_START_DELAY_MS", "1500"),
            ("RUST_LOG", "warn,zkha=debug"),
        ],
    ));
    assert!(
        eventually(LONG, || count(&lines(&log), "start a") >= 1),
        "a never ran: {}",
        stderr_of(&d, "10.0.0.1")
    );
    let b = c.add(run(
        &d,
        &path,
        "10.0.0.2",
        &worker("b", &log),
        &["--session-timeout", "4000"],
    ));
    // After the second start, the restart waits 400 ms of back-off, then
    // 1.5 s in the start: the node goes in the middle of that.
    assert!(
        eventually(LONG, || count(&lines(&log), "start a") >= 2),
        "a never restarted its command: {}",
        stderr_of(&d, "10.0.0.1")
    );
    std::thread::sleep(Duration::from_millis(1000));
    delete(&path);
    assert!(
        eventually(LONG, || first(&lines(&log), "start b").is_some()),
        "b never took over: {:?}\n{}",
        lines(&log),
        stderr_of(&d, "10.0.0.2")
    );
    // a's pending start wakes up within 1.5 s.
    std::thread::sleep(Duration::from_secs(3));
    let all = lines(&log);
    let start_b = first(&all, "start b").unwrap();
    assert!(
        last(&all, "start a") < Some(start_b),
        "a started its command after b's started: {all:?}"
    );
    // Not asserted (an older build has no hook to log it): whether the
    // delete came inside the delayed start, as intended.
    let hit = stderr_of(&d, "10.0.0.1").contains("ended before");
    eprintln!("a's pending start saw its mastership end: {hit}");
    term(&mut c.children[b]);
    term(&mut c.children[a]);
}

/// Item 4: the watchdog is SIGKILLed while its command has a child that
/// left the group (setsid). That child must die (zkha run is a subreaper,
/// and treats it as a crash), and the breadcrumb must stay unclean: the
/// successor's fence runs. a's zkha resigns and stays a candidate (or exits
/// with a failure; never as if the command had ended by itself).
#[test]
fn a_killed_watchdog_kills_what_the_command_started_and_the_successor_fences() {
    let d = dir("contain-watchdog");
    let log = d.join("cmds.log");
    let w = d.join("w.log");
    let path = format!("{}/m", unique_path("contain-watchdog"));
    let mut c = Cleanup::new(&d);
    let writer = script(
        &d,
        "writer.sh",
        &format!(
            "echo $$ > {}\nwhile :; do echo w >> {}; sleep 0.01; done\n",
            d.join("writer.pid").display(),
            w.display()
        ),
    );
    let a_cmd = sh(&format!(
        "echo start a >> {}; setsid sh {} & while :; do sleep 1; done",
        log.display(),
        writer.display()
    ));
    let fence = format!("echo fence $ZKHA_PREV_DATA >> {}", log.display());
    let flags = ["--session-timeout", "4000"];
    let a = c.add(run(&d, &path, "10.0.0.1", &a_cmd, &flags));
    assert!(
        eventually(LONG, || size(&w) > 0),
        "a's writer never ran: {}",
        stderr_of(&d, "10.0.0.1")
    );
    let b_flags = ["--session-timeout", "4000", "--fence-cmd", fence.as_str()];
    let b = c.add(run(&d, &path, "10.0.0.2", &worker("b", &log), &b_flags));
    std::thread::sleep(Duration::from_secs(2));
    let wd = watchdog_of(c.children[a].id()).expect("a's watchdog (argv[0] zkha-watchdog)");
    // SAFETY: a's watchdog, found as a child of a's zkha just now.
    unsafe { libc::kill(wd, libc::SIGKILL) };

    std::thread::sleep(Duration::from_secs(2));
    let (stopped, before, after) = still(&w, Duration::from_millis(500));
    assert!(
        stopped,
        "the setsid'd writer of a's command outlived its killed watchdog: {} grew from {before} to {after} bytes 2 s later",
        w.display()
    );
    assert!(
        eventually(LONG, || first(&lines(&log), "start b").is_some()),
        "b never took over: {:?}\n{}",
        lines(&log),
        stderr_of(&d, "10.0.0.2")
    );
    let all = lines(&log);
    let fenced = first(&all, "fence");
    assert!(
        fenced.is_some() && fenced < first(&all, "start b"),
        "b's fence did not run before its command (a's end was taken as clean): {all:?}"
    );
    assert_eq!(all[fenced.unwrap()], "fence 10.0.0.1");
    if let Some(st) = c.children[a].try_wait().unwrap() {
        assert!(
            !st.success(),
            "a's zkha took the killed watchdog for the command's clean end: {st}\n{}",
            stderr_of(&d, "10.0.0.1")
        );
    }
    term(&mut c.children[b]);
    term(&mut c.children[a]);
}

/// Item 5: `--on-exit restart` with a command that fails at once: a backs
/// off and, crash-looping, resigns; the standby becomes master within a
/// minute (an endless restart loop would keep it out for good).
#[test]
fn a_crash_looping_restart_does_not_starve_the_standby() {
    let d = dir("contain-restart");
    let log = d.join("cmds.log");
    let path = format!("{}/m", unique_path("contain-restart"));
    let mut c = Cleanup::new(&d);
    let a_cmd = sh(&format!("echo start a >> {}; exit 1", log.display()));
    let a = c.add(run(
        &d,
        &path,
        "10.0.0.1",
        &a_cmd,
        &["--session-timeout", "4000", "--on-exit", "restart"],
    ));
    assert!(
        eventually(LONG, || first(&lines(&log), "start a").is_some()),
        "a never ran: {}",
        stderr_of(&d, "10.0.0.1")
    );
    let b = c.add(run(
        &d,
        &path,
        "10.0.0.2",
        &worker("b", &log),
        &["--session-timeout", "4000"],
    ));
    let took_over = eventually(Duration::from_secs(60), || {
        first(&lines(&log), "start b").is_some()
    });
    let all = lines(&log);
    assert!(
        took_over,
        "b never became master within 60 s while a restarted its command {} times",
        count(&all, "start a")
    );
    term(&mut c.children[b]);
    term(&mut c.children[a]);
}

/// Item 6: the server grants at most 4000 ms; zkha asks 20000 ms with a
/// grace of 2000 ms (under a quarter of what it asked, not of what it got).
/// It must refuse with a usage error naming the granted timeout, and not run
/// its command.
#[test]
fn the_grace_is_checked_against_the_granted_session_timeout() {
    let server = TestingServer::with_config(ServerConfig {
        max_session_timeout_ms: 4000,
        ..Default::default()
    })
    .unwrap();
    let d = dir("contain-granted");
    let log = d.join("cmds.log");
    let path = format!("{}/m", unique_path("contain-granted"));
    let mut c = Cleanup::new(&d);
    let cmd = sh(&format!(
        "echo start a >> {}; while :; do sleep 0.05; done",
        log.display()
    ));
    let a = c.add(run_on(
        server.connect_string(),
        &d,
        &path,
        "10.0.0.1",
        &cmd,
        &["--session-timeout", "20000", "--grace", "2000"],
        &[],
    ));
    let st = wait_for_exit(&mut c.children[a], LONG);
    let err = stderr_of(&d, "10.0.0.1");
    assert_eq!(
        st.and_then(|s| s.code()),
        Some(2),
        "zkha run went on with a grace that does not fit the granted 4000 ms (status {st:?}; its command wrote {:?}): {err}",
        lines(&log)
    );
    assert!(
        err.contains("granted") && err.contains("4000"),
        "the message does not name the granted timeout: {err}"
    );
    assert_eq!(lines(&log), Vec::<String>::new(), "the command ran");
}

/// Item 7a: a worker that left the group (setsid) and ignores SIGTERM is
/// gone once zkha run has exited after SIGTERM.
#[test]
fn a_setsid_worker_is_gone_when_zkha_exits() {
    let d = dir("contain-setsid");
    let w = d.join("w.log");
    let path = format!("{}/m", unique_path("contain-setsid"));
    let mut c = Cleanup::new(&d);
    let worker = script(
        &d,
        "worker.sh",
        &format!(
            "echo $$ > {}\ntrap '' TERM\nwhile :; do echo x >> {}; sleep 0.01; done\n",
            d.join("worker.pid").display(),
            w.display()
        ),
    );
    let cmd = sh(&format!("setsid sh {} & exec sleep 1000", worker.display()));
    let mut flags = vec!["--session-timeout", "4000"];
    flags.extend(stop_timeout("1000"));
    let a = c.add(run(&d, &path, "10.0.0.1", &cmd, &flags));
    assert!(
        eventually(LONG, || size(&w) > 0) && grows(&w),
        "the worker never ran: {}",
        stderr_of(&d, "10.0.0.1")
    );
    let st = term(&mut c.children[a]);
    let (stopped, before, after) = still(&w, Duration::from_millis(500));
    assert!(
        stopped,
        "the setsid'd worker outlived zkha run ({st}): {} grew from {before} to {after} bytes after it exited",
        w.display()
    );
    let pid = pid_in(&d.join("worker.pid")).unwrap();
    assert!(!alive_in(pid, &d), "the worker (pid {pid}) lives on");
}

/// Item 7b: a command that double-forks a daemon and exits 0 at once is
/// still running while its daemon is: with `--on-exit exit`, zkha run keeps
/// running; on SIGTERM the daemon is gone before zkha run exits.
#[test]
fn a_daemonizing_command_runs_until_its_daemon_is_gone() {
    let d = dir("contain-daemon");
    let w = d.join("w.log");
    let path = format!("{}/m", unique_path("contain-daemon"));
    let mut c = Cleanup::new(&d);
    let daemon = script(
        &d,
        "daemon.sh",
        &format!(
            "echo $$ > {}\nwhile :; do echo d >> {}; sleep 0.01; done\n",
            d.join("daemon.pid").display(),
            w.display()
        ),
    );
    // Like a daemon's parent, it exits once the daemon has set itself up
    // (here: written its pid file, in a session of its own).
    let cmd = sh(&format!(
        "( setsid sh {} & ); while [ ! -s {} ]; do sleep 0.01; done; exit 0",
        daemon.display(),
        d.join("daemon.pid").display()
    ));
    let mut flags = vec!["--session-timeout", "4000", "--on-exit", "exit"];
    flags.extend(stop_timeout("5000"));
    let a = c.add(run(&d, &path, "10.0.0.1", &cmd, &flags));
    assert!(
        eventually(LONG, || size(&w) > 0),
        "the daemon never ran: {}",
        stderr_of(&d, "10.0.0.1")
    );
    std::thread::sleep(Duration::from_secs(2));
    assert!(grows(&w), "the daemon stopped by itself");
    let early = c.children[a].try_wait().unwrap();
    assert!(
        early.is_none(),
        "zkha run took the command's exit for its end while its daemon runs on ({early:?}): {}",
        stderr_of(&d, "10.0.0.1")
    );
    let st = term(&mut c.children[a]);
    let pid = pid_in(&d.join("daemon.pid")).unwrap();
    let alive = alive_in(pid, &d);
    let (stopped, before, after) = still(&w, Duration::from_millis(500));
    assert!(
        !alive && stopped,
        "the daemon (pid {pid}, alive: {alive}) outlived zkha run ({st}): {} grew from {before} to {after} bytes",
        w.display()
    );
}

/// A planned stop signals each process of the command once: the group,
/// then only the descendants that left it. A second SIGTERM means "force
/// quit" to many programs (and ran the trap twice before the fix).
#[test]
fn a_planned_stop_sends_each_process_one_sigterm() {
    let d = dir("contain-one-term");
    let f = d.join("f.log");
    let path = format!("{}/m", unique_path("contain-one-term"));
    let mut c = Cleanup::new(&d);
    let cmd = sh(&format!(
        "echo start $$ >> {f}; trap 'echo term >> {f}' TERM; while :; do sleep 0.01; done",
        f = f.display()
    ));
    let mut flags = vec!["--session-timeout", "4000"];
    flags.extend(stop_timeout("1500"));
    let a = c.add(run(&d, &path, "10.0.0.1", &cmd, &flags));
    assert!(
        eventually(LONG, || count(&lines(&f), "start") == 1),
        "the command never started: {}",
        stderr_of(&d, "10.0.0.1")
    );
    term(&mut c.children[a]);
    let all = lines(&f);
    assert_eq!(
        count(&all, "term"),
        1,
        "SIGTERM reached the command {} times: {all:?}",
        count(&all, "term")
    );
}

/// A stop's end is the stop's to judge: the command zkha kills after its
/// node was deleted is not the command's own exit (with `--on-exit exit`
/// zkha would quit, exit 137), nor a crash. The test-only
/// `ZKHA_TEST_STOP_WAIT_DELAY_MS` holds the stop before it looks at the
/// watchdog, so the main loop sees the watchdog's end first (make chaos saw
/// it in about one node-deleted round in ten).
#[test]
fn a_killed_command_after_a_lost_node_is_not_its_own_exit() {
    let d = dir("contain-stop-race");
    let log = d.join("cmds.log");
    let path = format!("{}/m", unique_path("contain-stop-race"));
    let mut c = Cleanup::new(&d);
    let a = c.add(run_on(
        hosts(),
        &d,
        &path,
        "10.0.0.1",
        &worker("a", &log),
        &["--session-timeout", "4000", "--on-exit", "exit"],
        &[("ZKHA_TEST_STOP_WAIT_DELAY_MS", "500")],
    ));
    assert!(
        eventually(LONG, || count(&lines(&log), "start a") == 1),
        "a never ran: {}",
        stderr_of(&d, "10.0.0.1")
    );
    delete(&path);
    // a loses its node, kills its command, and stays a candidate: it wins
    // the node again and starts its command a second time.
    let again = eventually(LONG, || count(&lines(&log), "start a") == 2);
    let exited = c.children[a].try_wait().unwrap();
    assert!(
        again && exited.is_none(),
        "a did not stay a candidate after its node was deleted (exit {exited:?}): {:?}\n{}",
        lines(&log),
        stderr_of(&d, "10.0.0.1")
    );
    term(&mut c.children[a]);
}

/// A watchdog that gets to start the command only after the lease it was
/// given is too near its end checks the deadline first, and does not start
/// it (the old watchdog started the command and only then saw the lease
/// end: a command running past its lease, if only for the grace). The
/// test-only `ZKHA_TEST_WATCHDOG_START_DELAY_MS` makes every watchdog that
/// late: the command never runs.
#[test]
fn a_watchdog_late_for_its_lease_never_starts_the_command() {
    let d = dir("contain-late-watchdog");
    let log = d.join("cmds.log");
    let path = format!("{}/m", unique_path("contain-late-watchdog"));
    let mut c = Cleanup::new(&d);
    // T = 2000 ms: a lease of about 1 s; the watchdog arrives 1.5 s late.
    let a = c.add(run_on(
        hosts(),
        &d,
        &path,
        "10.0.0.1",
        &worker("a", &log),
        &["--session-timeout", "2000"],
        &[("ZKHA_TEST_WATCHDOG_START_DELAY_MS", "1500")],
    ));
    // Long enough for several attempts (each renewal retries the start).
    std::thread::sleep(Duration::from_secs(5));
    let all = lines(&log);
    assert!(
        first(&all, "start a").is_none(),
        "a watchdog started its command after the lease it was given had (nearly) ended: {all:?}\n{}",
        stderr_of(&d, "10.0.0.1")
    );
    assert!(
        stderr_of(&d, "10.0.0.1").contains("lease was about to run out"),
        "zkha never said why the command did not run: {}",
        stderr_of(&d, "10.0.0.1")
    );
    term(&mut c.children[a]);
}

/// zkha holds the lease itself: with its watchdog stalled (SIGSTOP) and its
/// node deleted from outside, zkha kills the command when the lease ends,
/// before the next master (which waits up to the lease for the last
/// master's word) starts. The old last resort waited `--grace` + 2 s past
/// the stop, long after the new master had started.
#[test]
fn with_its_watchdog_stalled_zkha_kills_the_command_by_the_lease() {
    let d = dir("contain-stalled-watchdog-lease");
    let log = d.join("cmds.log");
    let path = format!("{}/m", unique_path("contain-stalled-lease"));
    let flags = ["--session-timeout", "2000", "--grace", "300"];
    let mut c = Cleanup::new(&d);
    let a_cmd = sh(&format!(
        "echo start a $ZKHA_TOKEN >> {l}; trap 'echo term a >> {l}' TERM; i=0; \
         while :; do i=$((i+1)); echo a $i >> {l}; sleep 0.01; done",
        l = log.display()
    ));
    let a = c.add(run(&d, &path, "10.0.0.1", &a_cmd, &flags));
    assert!(
        eventually(LONG, || count(&lines(&log), "a ") >= 5),
        "a never ran: {}",
        stderr_of(&d, "10.0.0.1")
    );
    let b = c.add(run(&d, &path, "10.0.0.2", &worker("b", &log), &flags));
    std::thread::sleep(Duration::from_secs(2));
    let wd = watchdog_of(c.children[a].id()).expect("a's watchdog");
    // SAFETY: a process of this test's zkha run.
    unsafe { libc::kill(wd, libc::SIGSTOP) };
    delete(&path);
    let took_over = eventually(LONG, || first(&lines(&log), "start b").is_some());
    std::thread::sleep(Duration::from_millis(1500));
    // SAFETY: as above (already gone if zkha killed it).
    unsafe { libc::kill(wd, libc::SIGKILL) };
    assert!(
        took_over,
        "b never took over: {}",
        stderr_of(&d, "10.0.0.2")
    );
    let all = lines(&log);
    let start_b = first(&all, "start b").unwrap();
    let late = all[start_b..]
        .iter()
        .filter(|l| l.starts_with("a "))
        .count();
    assert_eq!(
        late,
        0,
        "a's command wrote {late} line(s) after b's command started: {}",
        around(&all, start_b)
    );
    term(&mut c.children[b]);
    term(&mut c.children[a]);
}

#[test]
fn a_setsid_worker_is_gone_when_zkha_exits_by_the_subreaper_alone() {
    by_the_subreaper_alone(a_setsid_worker_is_gone_when_zkha_exits);
}

#[test]
fn a_daemonizing_command_runs_until_its_daemon_is_gone_by_the_subreaper_alone() {
    by_the_subreaper_alone(a_daemonizing_command_runs_until_its_daemon_is_gone);
}

#[test]
fn a_killed_watchdog_kills_what_the_command_started_by_the_subreaper_alone() {
    by_the_subreaper_alone(
        a_killed_watchdog_kills_what_the_command_started_and_the_successor_fences,
    );
}

/// A stop is over once the command's last process is gone, not once its
/// watchdog has removed its cgroup and exited (the watchdog says `gone`
/// first). The watchdog's exit is held back 3 s after that (a test hook):
/// a resign hands over while a's watchdog still lives, yet only after the
/// process a's command left running (setsid) wrote its last line; the
/// watchdog is reaped afterwards (no zombie), and a stays a candidate;
/// the stop's log line has the command's exit status, which came with
/// `gone`.
#[test]
fn a_stop_ends_when_the_commands_last_process_is_gone_not_when_its_watchdog_exits() {
    let d = dir("contain-gone");
    let log = d.join("cmds.log");
    let path = format!("{}/m", unique_path("contain-gone"));
    let mut c = Cleanup::new(&d);
    // On SIGTERM the setsid'd process writes 30 lines, 10 ms apart, then
    // `stop a`: a's command ends with it, past the first process's exit.
    let lingerer = script(
        &d,
        "lingerer.sh",
        &format!(
            "echo $$ > {pid}\n\
             trap 'i=0; while [ $i -lt 30 ]; do echo a $i >> {l}; i=$((i+1)); sleep 0.01; done; \
             echo stop a >> {l}; exit 0' TERM\n\
             while :; do sleep 0.01; done\n",
            pid = d.join("lingerer.pid").display(),
            l = log.display()
        ),
    );
    let a_cmd = sh(&format!(
        "echo start a >> {l}; setsid sh {s} & trap 'exit 3' TERM; while :; do sleep 0.01; done",
        l = log.display(),
        s = lingerer.display()
    ));
    let flags = ["--session-timeout", "2000"];
    let a = c.add(run_on(
        hosts(),
        &d,
        &path,
        "10.0.0.1",
        &a_cmd,
        &flags,
        &[
            ("ZKHA_TEST_WATCHDOG_EXIT_DELAY_MS", "3000"),
            ("RUST_LOG", "warn,zkha=info"),
        ],
    ));
    assert!(
        eventually(LONG, || pid_in(&d.join("lingerer.pid")).is_some()),
        "a's command never ran: {}",
        stderr_of(&d, "10.0.0.1")
    );
    let b = c.add(run(&d, &path, "10.0.0.2", &worker("b", &log), &flags));
    std::thread::sleep(Duration::from_secs(1));
    let wd = watchdog_of(c.children[a].id()).expect("a's watchdog (argv[0] zkha-watchdog)");
    signal(&c.children[a], libc::SIGUSR1);
    assert!(
        eventually(LONG, || first(&lines(&log), "start b").is_some()),
        "b never took over: {}",
        stderr_of(&d, "10.0.0.2")
    );
    // b's command runs, and a's watchdog (still in its 3 s) is alive: the
    // handover did not wait for its exit.
    let alive = cmdline(wd).first().map(String::as_str) == Some("zkha-watchdog");
    let all = lines(&log);
    let (stop_a, start_b) = (first(&all, "stop a"), first(&all, "start b"));
    assert!(
        stop_a.is_some() && stop_a < start_b,
        "b's command started before the last process of a's was gone: {}",
        around(&all, start_b.unwrap())
    );
    assert_eq!(count(&all, "a "), 30, "{all:?}");
    assert!(
        alive,
        "a's watchdog had exited before b took over: the stop waited for its exit, not for its `gone`"
    );
    // The command's exit status came with `gone` (its first process's).
    assert!(
        stderr_of(&d, "10.0.0.1").contains("stopped (exit status: 3)"),
        "{}",
        stderr_of(&d, "10.0.0.1")
    );
    // Reaped once it exits: neither left running nor a zombie.
    assert!(
        eventually(LONG, || !Path::new(&format!("/proc/{wd}")).exists()),
        "a's watchdog {wd} was never reaped: {:?}",
        std::fs::read_to_string(format!("/proc/{wd}/stat"))
    );
    assert!(
        c.children[a].try_wait().unwrap().is_none(),
        "a's zkha left instead of staying a candidate: {}",
        stderr_of(&d, "10.0.0.1")
    );
    term(&mut c.children[b]);
    term(&mut c.children[a]);
}
