//! The fast chaos scenarios, in `make test` (all of them, longer: `make
//! chaos`). Each asserts that its faults were injected, that another
//! candidate took over where it must, and that neither checker (the
//! candidates' traces, and the commands' own files: see the zkha-chaos crate,
//! `chaos/src/lib.rs`) found overlapping masterships or falling tokens.

mod common;

use std::path::PathBuf;
use std::sync::OnceLock;
use zkha_chaos::{Chaos, Family, MemberFault, Stats};
use zkha_testing::TestingServer;

/// `chaos_worker` (`chaos/src/bin/chaos_worker.rs`), the command the
/// candidates supervise, built once with `guard_worker` beside it (the guard
/// family's worker; cargo builds a dependency's library for the tests, not
/// its binaries).
fn worker() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            // target/<profile>/deps/<test> -> target/<profile>/chaos_worker
            let exe = std::env::current_exe().unwrap();
            let profile = exe.parent().unwrap().parent().unwrap();
            let path = profile.join("chaos_worker");
            let release = profile.file_name().is_some_and(|p| p == "release");
            let ok = std::process::Command::new(env!("CARGO"))
                .args(["build", "-p", "zkha-chaos", "--bin", "chaos_worker"])
                .args(["--bin", "guard_worker"])
                .args(release.then_some("--release"))
                .status()
                .unwrap()
                .success();
            assert!(
                ok && path.exists(),
                "cannot build zkha-chaos's chaos_worker"
            );
            path
        })
        .clone()
}

/// One scenario at a time: each is a fault against timing-sensitive
/// processes, and two cores shared by several scenarios (JVMs included)
/// would test the scheduler, not zkha. `make chaos` runs them in series too.
fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());
    SERIAL.lock().unwrap_or_else(|e| e.into_inner())
}

fn chaos(name: &str) -> Chaos {
    // Under mutation testing, the first failed scenario ends the binary.
    common::fail_fast();
    zkha::logging::set_debug_level(zkha::logging::LogLevel::Error);
    let dir = std::env::temp_dir().join(format!("zkha-chaos-{name}-{}", std::process::id()));
    Chaos::new(env!("CARGO_BIN_EXE_zkha").into(), worker(), dir, 2000)
}

fn hosts() -> &'static str {
    TestingServer::shared().unwrap().connect_string()
}

/// Faults injected, `failovers` takeovers by another candidate, nothing
/// wrong by either checker; then the scenario's files go (kept on failure).
fn assert_clean(c: &Chaos, s: &Stats, faults: usize, failovers: usize) {
    assert!(s.errors.is_empty(), "{:#?}", s.errors);
    assert_eq!(s.faults, faults, "{s:?}");
    assert!(s.failovers >= failovers, "too few takeovers: {s:?}");
    assert_eq!(
        (s.trace_overlaps, s.blackbox_overlaps, s.token_regressions),
        (0, 0, 0),
        "overlapping masterships (trace, black box) or falling tokens: {s:?}"
    );
    let _ = std::fs::remove_dir_all(&c.dir);
}

#[test]
fn chaos_sigkill_of_zkha_run() {
    let _serial = one_at_a_time();
    let mut c = chaos("kill");
    let s = c.kill_master(hosts(), 2);
    assert_clean(&c, &s, 2, 2);
}

/// The same over mutual TLS: `zkha run` candidates of a TLS-only server.
#[cfg(feature = "ssl")]
#[test]
fn chaos_sigkill_of_zkha_run_over_tls() {
    let _serial = one_at_a_time();
    let ca = zkha_testing::TlsAuthority::new().unwrap();
    let server = TestingServer::with_config(zkha_testing::ServerConfig {
        security: zkha_testing::Security::Tls(ca.clone()),
        ..Default::default()
    })
    .unwrap();
    let files = ca.client("chaos").unwrap();
    let flags: Vec<String> = [
        ("--tls-ca", &files.ca),
        ("--tls-cert", &files.cert),
        ("--tls-key", &files.key),
    ]
    .iter()
    .flat_map(|(flag, file)| [flag.to_string(), file.display().to_string()])
    .collect();
    let mut c = chaos("kill-tls");
    let s = c.kill_master_over(
        server.connect_string(),
        server.probe_address(),
        &flags,
        2,
        "sigkill-tls",
    );
    assert_clean(&c, &s, 2, 2);
}

/// SIGSTOP of `zkha run` alone: its command runs on while it is stopped.
#[test]
fn chaos_sigstop_of_zkha_run_alone() {
    let _serial = one_at_a_time();
    let mut c = chaos("stop-run");
    let s = c.stop_supervisor(hosts(), 1);
    assert_clean(&c, &s, 1, 1);
}

#[test]
fn chaos_sigstop_of_the_whole_master() {
    let _serial = one_at_a_time();
    let mut c = chaos("pause");
    let s = c.pause_master(hosts(), 1);
    assert_clean(&c, &s, 1, 1);
}

#[test]
fn chaos_partition_of_the_master() {
    let _serial = one_at_a_time();
    // Blackhole (a takeover), resets, latency.
    let mut c = chaos("part");
    let s = c.partition(hosts(), 3);
    assert_clean(&c, &s, 3, 1);
}

/// Every connection refused: the master steps down on its disconnect
/// timer, before its lease would end it.
#[test]
fn chaos_refused_connections_step_down_on_the_disconnect_timer() {
    let _serial = one_at_a_time();
    let mut c = chaos("refused");
    let s = c.refused_connections(hosts(), 1);
    assert_clean(&c, &s, 1, 1);
}

#[test]
fn chaos_restart_with_the_saved_session_keeps_mastership() {
    let _serial = one_at_a_time();
    let mut c = chaos("resume");
    let s = c.restart_with_saved_session(hosts());
    assert_eq!(s.failovers, 0, "files in {}: {s:?}", c.dir.display());
    assert_clean(&c, &s, 1, 0);
}

/// The master's `zkha run` connected only to follower F, the standby only to
/// the leader; F cut off from the other members (blackhole).
#[test]
fn chaos_member_partition_of_the_masters_follower() {
    let _serial = one_at_a_time();
    let mut c = chaos("member");
    let s = c.member_partitions(1, &[MemberFault::IsolateFollowerBlackhole]);
    assert_clean(&c, &s, 1, 1);
}

/// The leader's JVM paused for 2T while the master's `zkha run` is on a
/// follower: commits stall, renewals (syncs) cannot complete; no two
/// masters, whoever ends up master.
#[test]
fn chaos_member_leader_paused() {
    let _serial = one_at_a_time();
    let mut c = chaos("leader-pause");
    let s = c.member_partitions(1, &[MemberFault::PauseLeader]);
    assert_clean(&c, &s, 1, 0);
}

/// One family of commands and surroundings (`Family` in
/// zkha-chaos, issue 22), `faults` rounds, at least `failovers`
/// of them followed by a takeover, with no overlap by either checker and no
/// process of an old command left.
fn family(name: &str, family: Family, faults: usize, failovers: usize) {
    let _serial = one_at_a_time();
    let mut c = chaos(name);
    let s = c.family(hosts(), family, faults);
    assert_clean(&c, &s, faults, failovers);
}

/// The command's child leaves for a session of its own and ignores
/// SIGTERM; SIGTERM to `zkha run`, then SIGKILL of it.
#[test]
fn setsid_worker_is_contained() {
    family("setsid", Family::Setsid, 2, 2);
}

/// The command double-forks a daemon and exits 0: it runs as long as the
/// daemon does; SIGTERM to `zkha run`, then SIGKILL of it.
#[test]
fn daemonizing_command_runs_while_its_daemon_lives() {
    family("daemonize", Family::Daemonize, 2, 2);
}

/// Background jobs in process groups of their own; SIGTERM to `zkha run`,
/// then SIGKILL of it.
#[test]
fn job_control_jobs_are_contained() {
    family("jobs", Family::JobControl, 2, 2);
}

/// Nobody reads `zkha run`'s stderr (debug logs) and the pipe is full; the
/// second time `zkha run` is SIGSTOPped as well until the standby took
/// over (the first time, the master may keep its mastership).
#[test]
fn stalled_stderr_does_not_hold_up_the_stop() {
    family("stalled-stderr", Family::StalledStderr, 2, 1);
}

/// `zkha run`'s stderr gives EPIPE from the start; SIGTERM to it, then
/// SIGKILL of it, while the command has a child.
#[test]
fn broken_stderr_does_not_hold_up_the_stop() {
    family("broken-stderr", Family::BrokenStderr, 2, 2);
}

/// SIGKILL of the master's `zkha-watchdog` while its command has a child
/// (in a session of its own, then in the command's group).
#[test]
fn killed_watchdog_leaves_no_work_behind() {
    family("watchdog-killed", Family::WatchdogKilled, 2, 2);
}

/// A planned stop (SIGTERM to `zkha run`) of a command that needs 5 s to
/// stop, T = 2 s, `--stop-timeout 10000`: it gets its 5 s, and the standby
/// starts after it is gone.
#[test]
fn slow_stop_gets_its_time_in_a_planned_handover() {
    family("slow-stop", Family::SlowStop, 1, 1);
}

/// The master's node deleted by another client: the old command is gone
/// before the new one writes.
#[test]
fn node_deleted_from_outside_ends_the_lease() {
    family("node-deleted", Family::NodeDeleted, 2, 2);
}

/// `zkha switchover --to <standby>` (issue 24) with three named
/// candidates, four rounds: no fault, the master's `zkha run` killed, the
/// target's stopped past its session timeout, the third candidate's
/// killed. The next master is the target every time (the stopped one
/// once back, or another only after the timeout), judged by ZooKeeper's
/// master node, the commands' files and the traces; no overlap.
#[test]
fn switchover_hands_over_to_the_target_only_under_faults() {
    use zkha_chaos::SwitchoverFault as F;
    let _serial = one_at_a_time();
    let mut c = chaos("switchover");
    let s = c.switchover_with(&[F::None, F::KillMaster, F::StopTarget, F::KillThird]);
    let so = s.switchover;
    assert_eq!(
        (
            so.switchovers,
            so.wrong_winners,
            so.to_target + so.after_timeout
        ),
        (4, 0, 4),
        "files in {}: {so:?} {s:?}",
        c.dir.display()
    );
    assert!(so.to_target >= 3, "{so:?}");
    assert_clean(&c, &s, 3, 1);
}

/// `zkha pause` (issue 25) on a 3-member ensemble, three rounds: the
/// master's links blackholed during the pause, the same and then a `zkha
/// resume` nobody can acknowledge, a member killed and restarted. Judged
/// by the commands' own files: no new master before the pause's deadline
/// (counted from just before `zkha pause` ran); the cut-off master's
/// command past its lease and stopped by the deadline, a standby after it;
/// through the member's restart nobody takes over; no overlap.
#[test]
fn pause_holds_failover_back_and_a_cut_off_master_stops_by_the_deadline() {
    use zkha_chaos::PauseFault as F;
    let _serial = one_at_a_time();
    let mut c = chaos("pause");
    let s = c.maintenance_pause_with(&[F::CutMaster, F::ResumeWhileCut, F::MemberRestart]);
    let p = s.pause;
    assert_eq!(
        (
            p.pauses,
            p.acknowledged,
            p.early,
            p.cut_off,
            p.kept_past_lease,
            p.late_stops,
            p.maintenance_kept
        ),
        (3, 3, 0, 2, 2, 0, 1),
        "files in {}: {p:?} {s:?}",
        c.dir.display()
    );
    assert_clean(&c, &s, 3, 2);
}

/// The library's `Mastership` guard and `fenced()` writes (issue 26) from
/// tokio workers (`guard_worker`), four rounds: the master node deleted and
/// made again at the same path by another session (the master running and
/// holding its guard, trying writes; then the master stopped through it
/// and woken once the new master wrote), SIGSTOP of the master past T, a
/// resign with the guard held. Judged from the side effects: the accepted
/// writes in commit order never go down in token (no deposed write
/// accepted), no two terms working at once, the node released only after
/// the guard's drop.
#[test]
fn guard_no_fenced_write_of_a_deposed_master_is_accepted() {
    use zkha_chaos::GuardFault as F;
    let _serial = one_at_a_time();
    let mut c = chaos("guard");
    let s = c.guard_with(&[F::Recreate, F::Recreate, F::Pause, F::Resign]);
    let g = s.guard;
    assert_eq!(
        (g.rounds, g.deposed, g.overlaps, g.releases_after_drop),
        (4, 0, 0, 1),
        "files in {}: {g:?} {s:?}",
        c.dir.display()
    );
    assert!(g.accepted > 0 && g.refused > 0, "{g:?}");
    assert_clean(&c, &s, 4, 3);
}

/// This build's libzkha.so (the C API, zkha-capi), built once for the capi
/// family with this test's features (cargo builds no cdylib of a crate this
/// test does not depend on): the directory holding it, target/<profile>/.
fn capi_lib_dir() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let exe = std::env::current_exe().unwrap();
            let profile = exe.parent().unwrap().parent().unwrap().to_path_buf();
            let release = profile.file_name().is_some_and(|p| p == "release");
            let features: Vec<&str> = [
                cfg!(feature = "ssl").then_some("zkha-capi/ssl"),
                cfg!(feature = "sasl").then_some("zkha-capi/sasl"),
            ]
            .into_iter()
            .flatten()
            .collect();
            let ok = std::process::Command::new(env!("CARGO"))
                .args(["build", "-p", "zkha-capi", "--lib"])
                .args((!features.is_empty()).then(|| format!("--features={}", features.join(","))))
                .args(release.then_some("--release"))
                .status()
                .unwrap()
                .success();
            assert!(
                ok && profile.join("libzkha.so").exists(),
                "cannot build zkha-capi's libzkha.so into {}",
                profile.display()
            );
            profile
        })
        .clone()
}

/// The classic design on zkha's C API (issue 27): the C++ example
/// (examples/seed_on_capi.cpp, compiled here against libzkha.so) contends
/// with `zkha run` on one master node, three rounds: a C++ master SIGSTOPped
/// past the session timeout (a C++ or the Rust standby takes over), a C++
/// master cut off (the Rust standby takes over: C++ to Rust), a Rust master
/// SIGTERMed (a C++ standby takes over: Rust to C++). Judged by the one
/// work log they all append to: no line of an earlier term after a later
/// term's, tokens growing (each the node's czxid).
#[test]
fn capi_the_cpp_example_hands_over_to_and_from_zkha_run_without_overlap() {
    use zkha_chaos::CapiFault as F;
    let _serial = one_at_a_time();
    let lib = capi_lib_dir();
    let mut c = chaos("capi");
    let s = c.capi_with(&lib, &[F::Stop, F::Blackhole, F::Term]);
    let k = s.capi;
    assert_eq!(
        (k.rounds, k.takeovers, k.overlaps, k.regressions),
        (3, 3, 0, 0),
        "files in {}: {k:?} {s:?}",
        c.dir.display()
    );
    assert!(k.cpp_to_rust >= 1 && k.rust_to_cpp >= 1, "{k:?}");
    assert!(k.czxid_checked >= 3, "{k:?}");
    assert_clean(&c, &s, 3, 3);
}

/// The checkers themselves, on files written here: what they must see and
/// what they must not.
mod checkers {
    use std::fmt::Write as _;
    use std::path::PathBuf;
    use zkha_chaos::{blackbox_check, runs, trace_check, CmdRun};

    fn dir(name: &str) -> PathBuf {
        let d =
            std::env::temp_dir().join(format!("zkha-chaos-checker-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    /// A command file: `(pid, token, from, to)` stretches, one line every 15 ms.
    fn command(
        dir: &std::path::Path,
        cand: &str,
        stretches: &[(u32, i64, f64, f64)],
    ) -> Vec<CmdRun> {
        let mut text = String::new();
        for &(pid, token, from, to) in stretches {
            let mut t = from;
            while t <= to {
                let _ = writeln!(text, "{t:.3} {token} {pid} tick");
                t += 15.0;
            }
        }
        let path = dir.join(format!("{cand}.work"));
        std::fs::write(&path, text).unwrap();
        runs(&path, cand)
    }

    #[test]
    fn black_box_sees_two_commands_writing_at_once() {
        let d = dir("bb-overlap");
        let mut all = command(&d, "a", &[(1, 5, 0.0, 1000.0)]);
        all.extend(command(&d, "b", &[(2, 7, 500.0, 1500.0)]));
        let found = blackbox_check(&all, 0.0, "test");
        assert_eq!((found.overlaps, found.regressions, found.stale), (1, 0, 0));
        assert!(found.max_overlap_ms > 400.0, "{found:?}");
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn black_box_excuses_only_fenced_work_after_a_freeze() {
        let d = dir("bb-freeze");
        // Frozen at 300 ms, woke at 1000 ms with token 5 while token 7 ran.
        let mut all = command(&d, "a", &[(1, 5, 0.0, 300.0), (1, 5, 1000.0, 1030.0)]);
        all.extend(command(&d, "b", &[(2, 7, 900.0, 2000.0)]));
        let found = blackbox_check(&all, 0.0, "test");
        assert_eq!((found.overlaps, found.stale), (0, 1), "{found:?}");
        // Woken, but writing on for a second: its supervisor did not stop it.
        let mut all = command(&d, "a", &[(1, 5, 0.0, 300.0), (1, 5, 1000.0, 2000.0)]);
        all.extend(command(&d, "b", &[(2, 7, 900.0, 2000.0)]));
        let found = blackbox_check(&all, 0.0, "test");
        assert_eq!((found.overlaps, found.stale), (1, 0), "{found:?}");
        // The same, but never frozen: an overlap.
        let mut all = command(&d, "a", &[(1, 5, 0.0, 1030.0)]);
        all.extend(command(&d, "b", &[(2, 7, 900.0, 2000.0)]));
        assert_eq!(blackbox_check(&all, 0.0, "test").overlaps, 1);
        // Frozen, but its token is not older: an overlap and a falling token.
        let mut all = command(&d, "a", &[(1, 9, 0.0, 300.0), (1, 9, 1000.0, 1030.0)]);
        all.extend(command(&d, "b", &[(2, 7, 900.0, 2000.0)]));
        let found = blackbox_check(&all, 0.0, "test");
        assert_eq!((found.overlaps, found.regressions), (1, 1), "{found:?}");
        let _ = std::fs::remove_dir_all(&d);
    }

    /// A command's tree: its own processes may write together, but none may
    /// write after another command started, even once the command itself
    /// is gone (a child in its own session, a daemon).
    #[test]
    fn black_box_follows_a_commands_whole_tree() {
        let d = dir("bb-tree");
        let path = d.join("a.work");
        let mut text = String::new();
        // Command 1 (token 5) from 0 to 300 ms; its child 3 (tree 1) with it,
        // and its daemon 4 (tree 1) on until 1000 ms.
        for t in (0..=300).step_by(15) {
            let _ = writeln!(text, "{t}.000 5 1 tick");
            let _ = writeln!(text, "{t}.000 5 3 tick 1");
        }
        for t in (0..=1000).step_by(15) {
            let _ = writeln!(text, "{t}.000 5 4 tick 1");
        }
        std::fs::write(&path, &text).unwrap();
        let mut all = runs(&path, "a");
        assert_eq!(all.len(), 3);
        assert!(all.iter().all(|r| r.tree == 1), "{all:?}");
        // Alone, the tree overlaps nothing.
        assert_eq!(blackbox_check(&all, 0.0, "test").overlaps, 0);
        // Command 2 (token 7) from 500 ms: the daemon overlaps it.
        all.extend(command(&d, "b", &[(2, 7, 500.0, 1500.0)]));
        let found = blackbox_check(&all, 0.0, "test");
        assert_eq!((found.overlaps, found.regressions), (1, 0), "{found:?}");
        // Command 2 from 1100 ms: nothing of command 1 wrote after it started.
        all.truncate(3);
        all.extend(command(&d, "b", &[(2, 7, 1100.0, 1500.0)]));
        assert_eq!(blackbox_check(&all, 0.0, "test").overlaps, 0);
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn trace_checker_ignores_a_back_dated_valid_until() {
        let d = dir("trace");
        let a = d.join("a.trace");
        let b = d.join("b.trace");
        let line = |t: f64, ev: &str, extra: &str| {
            format!("{{\"t\":{t:.3},\"who\":\"x\",\"pid\":1,\"event\":\"{ev}\"{extra}}}\n")
        };
        let mut ta = line(0.0, "became_master", ",\"token\":5");
        for t in (100..=1000).step_by(100) {
            ta += &line(t as f64, "work", "");
        }
        // It worked until 1000 ms but claims its mastership ended at 500.
        ta += &line(
            3000.0,
            "lost_master",
            ",\"reason\":\"disconnected\",\"valid_until\":500.0",
        );
        let tb = line(800.0, "became_master", ",\"token\":7") + &line(900.0, "work", "");
        std::fs::write(&a, &ta).unwrap();
        std::fs::write(&b, &tb).unwrap();
        let traces = vec![("a".to_owned(), a.clone()), ("b".to_owned(), b.clone())];
        assert_eq!(trace_check(&traces, 0.0, "test"), (1, 0));
        // Its last work before the other won: no overlap, though its
        // lost_master line comes late (written after a pause).
        let mut ta = line(0.0, "became_master", ",\"token\":5");
        ta += &line(700.0, "work", "");
        ta += &line(
            3000.0,
            "lost_master",
            ",\"reason\":\"disconnected\",\"valid_until\":750.0",
        );
        std::fs::write(&a, &ta).unwrap();
        assert_eq!(trace_check(&traces, 0.0, "test"), (0, 0));
        let _ = std::fs::remove_dir_all(&d);
    }
}

/// A standby that does not watch the node (it polls once a minute) is
/// caught twice: the server lists no watch of its session, and it does not
/// take over within the bound.
#[test]
fn chaos_a_standby_that_does_not_watch_is_caught() {
    let _serial = one_at_a_time();
    use std::time::Duration;
    let mut c = chaos("no-watch");
    let mut s = c.scene("no-watch");
    let path = format!("{}/m", zkha_testing::unique_path("chaos-no-watch"));
    let a = s.spawn(hosts(), &path, &[]);
    assert_eq!(s.one_master(Duration::from_secs(30), "start"), Some(a));
    s.poll_ms = 60_000;
    let b = s.spawn(hosts(), &path, &["--mode", "poll"]);
    let cb = &s.cands[b];
    assert!(
        zkha_chaos::wait_until(Duration::from_secs(30), || cb.count("create")
            + cb.count("standby")
            > 0),
        "the standby never tried"
    );
    // The server's own list of watches shows it.
    assert!(!s.wait_standbys_watch(hosts(), &path, a, "test"));
    let at = zkha_chaos::monotonic_ms();
    s.cands[a].kill().unwrap();
    s.fault(at, a, "SIGKILL of zkha run");
    assert_eq!(s.wait_takeover(a, at, "test"), None);
    let st = s.finish();
    assert!(
        st.errors.iter().any(|e| e.contains("no watch on"))
            && st.errors.iter().any(|e| e.contains("no takeover")),
        "{:?}",
        st.errors
    );
    assert_eq!(
        (st.faults, st.failovers, st.overlaps()),
        (1, 0, 0),
        "{st:?}"
    );
    let _ = std::fs::remove_dir_all(&c.dir);
}
