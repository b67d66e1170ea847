//! S2: the Rust global watcher sees exactly what a C watcher sees — the same
//! events, values, order and number — for one scenario observed by both: a
//! plain C client (testing/c/zk_trace.c) and the wrapper, in parallel.

use crate::common;

use common::eventually;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use zkha::{Acl, ClientId, CreateMode, ZooKeeper};
use zkha_testing::{CTrace, TestingServer};

const WAIT: Duration = Duration::from_secs(30);

fn line(e: &zkha::WatchedEvent) -> String {
    let path = if e.path.is_empty() { "-" } else { &e.path };
    format!("event {} {} {}", e.event_type.raw(), e.state.raw(), path)
}

/// Ends the session `id` from another connection (Curator's KillSession).
fn kill_session(hosts: &str, id: ClientId) {
    let killer = ZooKeeper::builder(hosts)
        .client_id(id)
        .session_timeout_ms(4000)
        .connect(WAIT)
        .unwrap();
    assert_eq!(killer.client_id().unwrap().id, id.id);
    killer.close().unwrap();
}

#[test]
fn fidelity_rust_watcher_sees_what_a_c_watcher_sees() {
    zkha::logging::set_debug_level(zkha::logging::LogLevel::Error);
    let server = TestingServer::start().unwrap();
    let hosts = server.connect_string().to_owned();

    let mut c = CTrace::spawn(&[&hosts, "4000"]);
    assert_eq!(c.cmd("init"), "init ok");
    assert_eq!(c.cmd("wait_connected"), "connected");

    let rust_events = Arc::new(Mutex::new(Vec::new()));
    let rec = rust_events.clone();
    let rust = ZooKeeper::init(
        &hosts,
        move |e| rec.lock().unwrap().push(line(&e)),
        4000,
        None,
        0,
    )
    .unwrap();
    rust.wait_connected(WAIT).unwrap();
    let rust_seen = || rust_events.lock().unwrap().clone();

    let driver = ZooKeeper::builder(&hosts).connect(WAIT).unwrap();
    let open = Acl::open_unsafe();
    let p = "/fid";
    let kid = "/fid/c";

    // Both observe: the same calls with watch = 1.
    let both = |c: &mut CTrace, cmds: &[(&str, &str)]| {
        for (op, path) in cmds {
            let c_rc = c.cmd(&format!("{op} {path}"));
            let r_rc = match *op {
                // The wrapper's Ok(None) is C's ZNONODE.
                "exists" => match rust.exists(path, true) {
                    Ok(None) => Err(zkha::Error::Zk(zkha::ErrorCode::NoNode)),
                    other => other.map(|_| ()),
                },
                "get" => rust.get(path, true).map(|_| ()),
                "children" => rust.get_children(path, true).map(|_| ()),
                _ => unreachable!(),
            };
            let r_rc = r_rc.err().and_then(|e| e.code()).map_or(0, |c| c.raw());
            assert_eq!(
                c_rc,
                format!("rc {r_rc}"),
                "{op} {path}: C and Rust disagree"
            );
        }
    };
    // Waits until both sides have seen `expected` (as their newest events).
    let settle = |c: &CTrace, expected: &str| {
        let ok = eventually(WAIT, || {
            c.events().iter().filter(|e| e.as_str() == expected).count()
                == rust_seen()
                    .iter()
                    .filter(|e| e.as_str() == expected)
                    .count()
                && c.events().len() == rust_seen().len()
                && c.events().last().map(String::as_str) == Some(expected)
        });
        assert!(
            ok,
            "waiting for {expected}:\nC:    {:?}\nRust: {:?}",
            c.events(),
            rust_seen()
        );
    };

    both(&mut c, &[("exists", p)]);
    driver
        .create(p, b"1", &open, CreateMode::Persistent)
        .unwrap();
    settle(&c, "event 1 3 /fid");
    both(&mut c, &[("get", p), ("children", p)]);
    driver.set(p, b"2", -1).unwrap();
    settle(&c, "event 3 3 /fid");
    driver
        .create(kid, b"", &open, CreateMode::Persistent)
        .unwrap();
    settle(&c, "event 4 3 /fid");
    both(&mut c, &[("exists", kid), ("children", p), ("get", p)]);
    driver.delete(kid, -1).unwrap();
    settle(&c, "event 4 3 /fid");
    driver.delete(p, -1).unwrap();
    settle(&c, "event 2 3 /fid");

    // Server restart: CONNECTING, then CONNECTED again; watches survive.
    both(&mut c, &[("exists", p)]);
    server.stop();
    settle(&c, "event -1 1 -");
    server.restart().unwrap();
    settle(&c, "event -1 3 -");
    driver.wait_connected(WAIT).unwrap();
    driver
        .create(p, b"3", &open, CreateMode::Persistent)
        .unwrap();
    settle(&c, "event 1 3 /fid");

    // Session expiry, each session ended from another connection.
    let c_id: ClientId = c
        .cmd("clientid")
        .strip_prefix("clientid ")
        .unwrap()
        .parse()
        .unwrap();
    kill_session(&hosts, c_id);
    kill_session(&hosts, rust.client_id().unwrap());
    settle(&c, "event -1 -112 -");

    let (c_events, r_events) = (c.events(), rust_seen());
    assert_eq!(
        c_events, r_events,
        "the C and Rust watchers saw different sequences"
    );
    for kind in [
        "event 1 3",
        "event 2 3",
        "event 3 3",
        "event 4 3",
        "event -1 1 -",
        "event -1 3 -",
        "event -1 -112 -",
    ] {
        assert!(
            c_events.iter().any(|e| e.starts_with(kind)),
            "scenario missed {kind}: {c_events:?}"
        );
    }
    assert!(rust.is_unrecoverable().unwrap());
    eprintln!("both saw {} events: {c_events:?}", c_events.len());
}
