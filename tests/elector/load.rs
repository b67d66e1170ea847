//! Load: 50 candidates on one path, in watch mode and in sequence mode,
//! with repeated failovers: always exactly one master once settled (every
//! standby back waiting on its watch); in sequence mode a failover wakes
//! about one candidate (no herd effect). Watch mode wakes every standby: the
//! count is printed for comparison, not asserted (it is not a goal).

use crate::common;

use common::eventually;
use std::sync::Arc;
use std::time::Duration;
use zkha::elector::{Elector, ElectorConfig, Mode};
use zkha_testing::{unique_path, TestingServer};

const N: usize = 50;
const FAILOVERS: usize = 5;
const SETTLE: Duration = Duration::from_secs(60);

fn masters(e: &[Elector]) -> Vec<usize> {
    e.iter()
        .enumerate()
        .filter(|(_, e)| e.is_master())
        .map(|(i, _)| i)
        .collect()
}

/// The standbys not yet waiting on a watch under `path` (their create or
/// queue entry done, their watch registered on the server).
fn not_waiting(server: &TestingServer, electors: &[Elector], path: &str) -> Vec<usize> {
    let watches = server.data_watches().unwrap_or_default();
    let under = |p: &String| p == path || p.starts_with(&format!("{path}/"));
    electors
        .iter()
        .enumerate()
        .filter(|(_, e)| !e.is_master())
        .filter(|(_, e)| {
            !watches
                .get(&e.session_id())
                .is_some_and(|paths| paths.iter().any(under))
        })
        .map(|(i, _)| i)
        .collect()
}

/// Waits until there is exactly one master and every standby waits on its
/// watch: a settled election, where nobody else can become master.
fn settle(server: &TestingServer, electors: &[Elector], path: &str, what: &str) {
    assert!(
        eventually(SETTLE, || masters(electors).len() == 1
            && not_waiting(server, electors, path).is_empty()),
        "{what}: not settled: masters {:?}, standbys not waiting {:?}",
        masters(electors),
        not_waiting(server, electors, path)
    );
    assert_eq!(
        masters(electors).len(),
        1,
        "{what}: two masters once settled"
    );
}

/// Starts N candidates, then resigns the master FAILOVERS times; returns
/// the watch notifications per failover.
fn run(mode: Mode) -> f64 {
    zkha::logging::set_debug_level(zkha::logging::LogLevel::Error);
    let server = TestingServer::shared().unwrap();
    let hosts = server.connect_string();
    let path = unique_path(if mode == Mode::Sequence {
        "load-seq"
    } else {
        "load-watch"
    });
    let path = if mode == Mode::Sequence {
        path
    } else {
        format!("{path}/m")
    };
    let electors: Vec<Elector> = (0..N)
        .map(|i| {
            let mut c = ElectorConfig::new(hosts, &path);
            c.mode = mode;
            c.data = zkha::net::seed_text_data(&format!("10.1.0.{i}"));
            c.session_timeout = Duration::from_millis(10_000);
            Elector::start(c, Arc::new(())).unwrap()
        })
        .collect();
    assert!(
        eventually(SETTLE, || electors.iter().all(|e| e.session_id() != 0)),
        "not all connected"
    );
    settle(server, &electors, &path, "start");
    let before: u64 = electors
        .iter()
        .map(zkha::__private::watch_notifications)
        .sum();
    let mut seen_masters = Vec::new();
    for round in 0..FAILOVERS {
        let old = masters(&electors)[0];
        seen_masters.push(old);
        electors[old].resign().unwrap();
        assert!(
            eventually(SETTLE, || {
                let m = masters(&electors);
                m.len() == 1 && m[0] != old
            }),
            "round {round}: no single new master: {:?}",
            masters(&electors)
        );
        settle(server, &electors, &path, &format!("round {round}"));
        assert_ne!(
            masters(&electors)[0],
            old,
            "round {round}: the resigned master is master again"
        );
    }
    let after: u64 = electors
        .iter()
        .map(zkha::__private::watch_notifications)
        .sum();
    eprintln!("{mode:?} mode: masters in turn {seen_masters:?}");
    (after - before) as f64 / FAILOVERS as f64
}

#[test]
fn load_50_candidates_sequence_mode_wakes_about_one() {
    let per = run(Mode::Sequence);
    eprintln!("sequence mode: {per:.1} watch notifications per failover");
    // The successor's predecessor watch, and the resigning master's own node watch.
    assert!(
        per <= 4.0,
        "herd effect in sequence mode: {per:.1} notifications per failover"
    );
    assert!(per >= 1.0, "no notification at all? {per}");
}

#[test]
fn load_50_candidates_watch_mode_elects_one() {
    let per = run(Mode::Watch);
    // Every standby watches the one node, so each failover wakes them all:
    // shown for comparison with sequence mode, not a goal to assert.
    eprintln!("watch mode: {per:.1} watch notifications per failover");
}
