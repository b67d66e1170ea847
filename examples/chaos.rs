//! `make chaos`: every chaos scenario of the safe profile against real
//! servers, then one line:
//! `chaos: <F> faults injected, <N> failovers, <K> overlapping safe masterships`
//! (exit status 0 only if K is 0 and tokens never went down).
//!
//! Run with `cargo run --release --example chaos` after `cargo build
//! --release --bin zkha` (the candidates are `zkha candidate` processes).

#[path = "../tests/chaos/mod.rs"]
mod chaos;

use chaos::{Chaos, Stats};
use zkha::testing::TestingServer;

fn main() {
    zkha::logging::set_debug_level(zkha::logging::LogLevel::Error);
    let exe = std::env::current_exe().expect("current exe");
    // target/<profile>/examples/chaos -> target/<profile>/zkha
    let zkha = exe
        .parent()
        .and_then(|p| p.parent())
        .map(|p| p.join("zkha"))
        .expect("target dir");
    if !zkha.exists() {
        eprintln!(
            "chaos: {} is missing: build it first (`cargo build --release --bin zkha`)",
            zkha.display()
        );
        std::process::exit(2);
    }
    let dir = std::env::temp_dir().join(format!("zkha-chaos-{}", std::process::id()));
    let mut c = Chaos::new(zkha, dir.clone(), 2000);
    let server = TestingServer::start().expect("server");
    let hosts = server.connect_string().to_owned();
    let mut total = Stats::default();
    let mut failed = Vec::new();
    let mut record = |name: &str, s: Stats| {
        eprintln!(
            "chaos: {name}: {} faults, {} failovers, {} overlaps, {} token regressions",
            s.faults, s.failovers, s.overlaps, s.token_regressions
        );
        total += s;
    };
    record("SIGKILL of the master", c.kill_master(&hosts, 5));
    record(
        "SIGSTOP past the session timeout",
        c.pause_master(&hosts, 3),
    );
    record(
        "partitions (blackhole, resets, latency)",
        c.partition(&hosts, 6),
    );
    let (s, kept) = c.restart_with_saved_session(&hosts);
    if !kept {
        failed.push("restart with a saved session lost mastership");
    }
    record("restart with the saved session", s);
    record("server down at start", c.server_down_at_start());
    record("ensemble: leader, follower, quorum", c.ensemble());
    let _ = std::fs::remove_dir_all(&dir);
    for f in &failed {
        eprintln!("chaos: FAILED: {f}");
    }
    let ok = total.overlaps == 0 && total.token_regressions == 0 && failed.is_empty();
    println!(
        "chaos: {} faults injected, {} failovers, {} overlapping safe masterships",
        total.faults, total.failovers, total.overlaps
    );
    std::process::exit(if ok { 0 } else { 1 });
}
