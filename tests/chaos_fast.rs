//! The fast chaos scenarios, in `make test` (all of them: `make chaos`): no
//! two safe masterships overlap, tokens never go down, a quick restart with
//! the saved session keeps mastership.

#[path = "chaos/mod.rs"]
mod chaos;

use chaos::Chaos;
use zkha::testing::TestingServer;

fn chaos(name: &str) -> Chaos {
    zkha::logging::set_debug_level(zkha::logging::LogLevel::Error);
    let dir = std::env::temp_dir().join(format!("zkha-chaos-{name}-{}", std::process::id()));
    Chaos::new(env!("CARGO_BIN_EXE_zkha").into(), dir, 2000)
}

fn hosts() -> &'static str {
    TestingServer::shared().unwrap().connect_string()
}

#[test]
fn chaos_sigkill_of_the_master() {
    let s = chaos("kill").kill_master(hosts(), 2);
    assert_eq!(s.faults, 2);
    assert!(s.failovers >= 2, "{s:?}");
    assert_eq!((s.overlaps, s.token_regressions), (0, 0), "{s:?}");
}

#[test]
fn chaos_sigstop_past_the_session_timeout() {
    let s = chaos("pause").pause_master(hosts(), 1);
    assert_eq!(s.faults, 1);
    assert!(
        s.failovers >= 1,
        "nobody took over from the paused master: {s:?}"
    );
    assert_eq!((s.overlaps, s.token_regressions), (0, 0), "{s:?}");
}

#[test]
fn chaos_partition_of_the_master() {
    let s = chaos("part").partition(hosts(), 3);
    assert_eq!(s.faults, 3);
    assert_eq!((s.overlaps, s.token_regressions), (0, 0), "{s:?}");
}

#[test]
fn chaos_restart_with_the_saved_session_keeps_mastership() {
    let (s, kept) = chaos("resume").restart_with_saved_session(hosts());
    assert!(
        kept,
        "a quick restart with the saved session must keep mastership, without failover"
    );
    assert_eq!((s.overlaps, s.token_regressions), (0, 0), "{s:?}");
}
