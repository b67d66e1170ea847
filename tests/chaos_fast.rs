//! The fast chaos scenarios, in `make test` (all of them, longer: `make
//! chaos`). Each asserts that its faults were injected, that another
//! candidate took over where it must, and that neither checker (the
//! candidates' traces, and the commands' own files: see `tests/chaos/mod.rs`)
//! found overlapping masterships or falling tokens.

#[path = "chaos/mod.rs"]
mod chaos;

use chaos::{Chaos, MemberFault, Stats};
use std::path::PathBuf;
use std::sync::OnceLock;
use zkha::testing::TestingServer;

/// `examples/chaos_worker.rs`, the command the candidates supervise, built
/// once (cargo builds examples for `cargo test`, not for `--test chaos_fast`).
fn worker() -> PathBuf {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            // target/debug/deps/<test> -> target/debug/examples/chaos_worker
            let exe = std::env::current_exe().unwrap();
            let path = exe
                .parent()
                .unwrap()
                .parent()
                .unwrap()
                .join("examples/chaos_worker");
            let ok = std::process::Command::new(env!("CARGO"))
                .args(["build", "--example", "chaos_worker"])
                .status()
                .unwrap()
                .success();
            assert!(ok && path.exists(), "cannot build examples/chaos_worker.rs");
            path
        })
        .clone()
}

fn chaos(name: &str) -> Chaos {
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
    let mut c = chaos("kill");
    let s = c.kill_master(hosts(), 2);
    assert_clean(&c, &s, 2, 2);
}

/// SIGSTOP of `zkha run` alone: its command runs on while it is stopped.
#[test]
fn chaos_sigstop_of_zkha_run_alone() {
    let mut c = chaos("stop-run");
    let s = c.stop_supervisor(hosts(), 1);
    assert_clean(&c, &s, 1, 1);
}

#[test]
fn chaos_sigstop_of_the_whole_master() {
    let mut c = chaos("pause");
    let s = c.pause_master(hosts(), 1);
    assert_clean(&c, &s, 1, 1);
}

#[test]
fn chaos_partition_of_the_master() {
    // Blackhole (a takeover), resets, latency.
    let mut c = chaos("part");
    let s = c.partition(hosts(), 3);
    assert_clean(&c, &s, 3, 1);
}

#[test]
fn chaos_restart_with_the_saved_session_keeps_mastership() {
    let mut c = chaos("resume");
    let s = c.restart_with_saved_session(hosts());
    assert_clean(&c, &s, 1, 0);
    assert_eq!(s.failovers, 0, "{s:?}");
}

/// The master's `zkha run` connected only to follower F, the standby only to
/// the leader; F cut off from the other members (blackhole).
#[test]
fn chaos_member_partition_of_the_masters_follower() {
    let mut c = chaos("member");
    let s = c.member_partitions(1, &[MemberFault::IsolateFollowerBlackhole]);
    assert_clean(&c, &s, 1, 1);
}
