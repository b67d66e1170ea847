//! Load: 50 candidates on one path, in watch mode and in sequence mode,
//! with repeated failovers: always exactly one master once settled; in
//! sequence mode a failover wakes about one candidate (no herd effect),
//! where watch mode wakes them all.

mod common;

use common::eventually;
use std::sync::Arc;
use std::time::Duration;
use zkha::elector::{Elector, ElectorConfig, Mode};
use zkha::testing::{unique_path, TestingServer};

const N: usize = 50;
const FAILOVERS: usize = 5;

fn masters(e: &[Elector]) -> Vec<usize> {
    e.iter()
        .enumerate()
        .filter(|(_, e)| e.is_master())
        .map(|(i, _)| i)
        .collect()
}

/// Starts N candidates, then resigns the master FAILOVERS times; returns
/// the watch notifications per failover.
fn run(mode: Mode) -> f64 {
    zkha::logging::set_debug_level(zkha::logging::LogLevel::Error);
    let hosts = TestingServer::shared().unwrap().connect_string();
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
    let settle = Duration::from_secs(60);
    assert!(
        eventually(settle, || electors.iter().all(|e| e.session_id() != 0)),
        "not all connected"
    );
    assert!(
        eventually(settle, || masters(&electors).len() == 1),
        "not exactly one master: {:?}",
        masters(&electors)
    );
    // Let every standby reach its wait (its create or queue entry done).
    std::thread::sleep(Duration::from_millis(1500));
    let before: u64 = electors.iter().map(Elector::watch_notifications).sum();
    for round in 0..FAILOVERS {
        let old = masters(&electors)[0];
        electors[old].resign().unwrap();
        assert!(
            eventually(settle, || {
                let m = masters(&electors);
                m.len() == 1 && m[0] != old
            }),
            "round {round}: no single new master: {:?}",
            masters(&electors)
        );
        std::thread::sleep(Duration::from_millis(500));
        assert_eq!(
            masters(&electors).len(),
            1,
            "round {round}: two masters after settling"
        );
    }
    let after: u64 = electors.iter().map(Elector::watch_notifications).sum();
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
fn load_50_candidates_watch_mode_elects_one_and_wakes_the_herd() {
    let per = run(Mode::Watch);
    eprintln!("watch mode: {per:.1} watch notifications per failover");
    assert!(
        per >= (N / 2) as f64,
        "watch mode should wake (nearly) every standby: {per:.1}"
    );
}
