//! Mixed processes: C++ seed peers and Rust candidates (both profiles)
//! contend for one master node; at most one holds it at any moment;
//! failover goes C++ -> Rust and Rust -> C++; each side reads the other's
//! bytes.

use crate::common;

use common::election::{masterships, now_ms, overlaps, spawn, work_dir, Impl, Proc, Spec};
use common::RawSession;
use std::time::{Duration, Instant};
use zkha_testing::{unique_path, CTrace, TestingServer};

const LONG: Duration = Duration::from_secs(30);

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The node as a Rust client reads it.
fn read_node(hosts: &str, path: &str) -> (Vec<u8>, i64) {
    let zk = zkha::ZooKeeper::builder(hosts).connect(LONG).unwrap();
    let (data, stat) = zk.get(path, false).unwrap();
    (data, stat.ephemeral_owner)
}

fn session_of(p: &Proc) -> String {
    p.events()
        .iter()
        .rev()
        .find_map(|e| e.session.clone())
        .expect("no session yet")
}

#[test]
fn mixed_cpp_and_rust_fail_over_both_ways() {
    let dir = work_dir("mixed");
    let hosts = TestingServer::shared().unwrap().connect_string();
    let parent = unique_path("mixed");
    RawSession::connect(hosts, 5000)
        .create(&parent, b"", zk_sys::consts::ZOO_PERSISTENT)
        .unwrap();
    let path = format!("{parent}/test");
    let spec = |data: &'static str| Spec {
        hosts,
        path: &path,
        data,
        session_ms: 4000,
        interval_ms: 500,
        reinit_limit: None,
        extra: &[],
    };

    let mut cpp_a = spawn(Impl::Cpp, &spec("10.0.0.1"), &dir, "cpp-a");
    cpp_a.wait_for("became_master", 1, LONG);
    let mut safe_b = spawn(Impl::RustSafe, &spec("10.0.0.2"), &dir, "rust-safe-b");
    let mut seed_c = spawn(Impl::RustSeed, &spec("10.0.0.3"), &dir, "rust-seed-c");
    safe_b.wait_for("waiting", 1, LONG);
    seed_c.wait_for("create rc=-110", 1, LONG);

    // Rust reads the C++ peer's node: its IP text and NUL, its session.
    let (data, owner) = read_node(hosts, &path);
    assert_eq!(data, b"10.0.0.1\0");
    assert_eq!(format!("{owner:#x}"), session_of(&cpp_a));

    // C++ -> Rust: the C++ master leaves; the safe Rust candidate, watching,
    // takes over (the seed one polls and finds it taken).
    let mut seed_c_stopped = false;
    assert_eq!(cpp_a.term(), Some(0));
    let deadline = Instant::now() + LONG;
    let winner = loop {
        if safe_b.count("became_master") > 0 {
            break "safe";
        }
        if seed_c.count("became_master") > 0 {
            break "seed";
        }
        assert!(
            Instant::now() < deadline,
            "no Rust candidate took over within {LONG:?} after the C++ master left"
        );
        std::thread::sleep(Duration::from_millis(10));
    };
    let rust_master = if winner == "safe" { &safe_b } else { &seed_c };
    // C reads the Rust master's node.
    let mut c = CTrace::spawn(&[hosts, "5000"]);
    assert_eq!(c.cmd("init"), "init ok");
    assert_eq!(c.cmd("wait_connected"), "connected");
    let seen = c.cmd(&format!("getdata {path}"));
    let want_data = if winner == "safe" {
        b"10.0.0.2\0"
    } else {
        b"10.0.0.3\0"
    };
    assert_eq!(
        seen,
        format!("data {} owner {}", hex(want_data), session_of(rust_master)),
        "C's view of the Rust master's node"
    );

    // Rust -> C++: a new C++ peer joins, the other Rust candidate leaves,
    // then the Rust master leaves; the C++ peer takes over.
    let mut cpp_d = spawn(Impl::Cpp, &spec("10.0.0.4"), &dir, "cpp-d");
    cpp_d.wait_for("create rc=-110", 1, LONG);
    if winner == "safe" {
        assert_eq!(seed_c.term(), Some(0));
        seed_c_stopped = true;
        assert_eq!(safe_b.term(), Some(0));
    } else {
        assert_eq!(safe_b.term(), Some(0));
        assert_eq!(seed_c.term(), Some(0));
    }
    cpp_d.wait_for("became_master", 1, LONG);
    let (data, owner) = read_node(hosts, &path);
    assert_eq!(data, b"10.0.0.4\0");
    assert_eq!(format!("{owner:#x}"), session_of(&cpp_d));
    let end = now_ms();
    assert_eq!(cpp_d.term(), Some(0));
    if !seed_c_stopped {
        let _ = seed_c.term();
    }

    // At most one master at any moment, across all four.
    let all: Vec<(String, Vec<(f64, f64)>)> = [&cpp_a, &safe_b, &seed_c, &cpp_d]
        .iter()
        .map(|p| (p.name.clone(), masterships(&p.events(), end)))
        .collect();
    let o = overlaps(&all);
    assert!(o.is_empty(), "two masters at once: {o:?}");
    let holders = all.iter().filter(|(_, m)| !m.is_empty()).count();
    assert!(holders >= 3, "expected three successive masters: {all:?}");
}

#[test]
fn mixed_rust_safe_and_cpp_peer_after_a_crash() {
    let dir = work_dir("mixed-crash");
    let hosts = TestingServer::shared().unwrap().connect_string();
    let parent = unique_path("mixedcrash");
    RawSession::connect(hosts, 5000)
        .create(&parent, b"", zk_sys::consts::ZOO_PERSISTENT)
        .unwrap();
    let path = format!("{parent}/test");
    let spec = |data: &'static str| Spec {
        hosts,
        path: &path,
        data,
        session_ms: 2000,
        interval_ms: 500,
        reinit_limit: None,
        extra: &[],
    };
    let mut safe = spawn(Impl::RustSafe, &spec("10.0.0.2"), &dir, "rust-safe");
    safe.wait_for("became_master", 1, LONG);
    let mut cpp = spawn(Impl::Cpp, &spec("10.0.0.1"), &dir, "cpp");
    cpp.wait_for("create rc=-110", 1, LONG);
    let observer = RawSession::connect(hosts, 5000);
    // The node of a crashed master stays, owned by its dead session, until
    // the session expires: nobody can take over before that.
    let crash = |p: &mut Proc| -> f64 {
        let session = session_of(p);
        let killed = p.kill9();
        let stat = observer
            .exists(&path)
            .unwrap()
            .unwrap_or_else(|| panic!("{}'s node vanished at its crash", p.name));
        assert_eq!(
            format!("{:#x}", stat.ephemeralOwner),
            session,
            "the node right after {}'s crash",
            p.name
        );
        killed
    };
    let first_master = |p: &Proc| {
        p.events()
            .iter()
            .find(|e| e.event == "became_master")
            .unwrap()
            .t
    };
    // Rust crashes: the C++ peer takes over once the session expires.
    let safe_killed = crash(&mut safe);
    cpp.wait_for("became_master", 1, LONG);
    assert!(
        first_master(&cpp) > safe_killed,
        "the C++ peer was master before the Rust master crashed"
    );
    let (data, owner) = read_node(hosts, &path);
    assert_eq!(data, b"10.0.0.1\0");
    assert_eq!(format!("{owner:#x}"), session_of(&cpp));
    // And back: a safe Rust candidate takes over from a crashed C++ peer.
    let mut safe2 = spawn(Impl::RustSafe, &spec("10.0.0.5"), &dir, "rust-safe-2");
    safe2.wait_for("waiting", 1, LONG);
    let cpp_killed = crash(&mut cpp);
    safe2.wait_for("became_master", 1, LONG);
    assert!(
        first_master(&safe2) > cpp_killed,
        "the Rust standby was master before the C++ master crashed"
    );
    let (data, owner) = read_node(hosts, &path);
    assert_eq!(data, b"10.0.0.5\0");
    assert_eq!(format!("{owner:#x}"), session_of(&safe2));
    let end = now_ms();
    assert_eq!(safe2.term(), Some(0));
    // One master at a time: each crashed master's time ends at its kill.
    let all = [
        (
            "rust-safe".to_owned(),
            masterships(&safe.events(), safe_killed),
        ),
        ("cpp".to_owned(), masterships(&cpp.events(), cpp_killed)),
        ("rust-safe-2".to_owned(), masterships(&safe2.events(), end)),
    ];
    assert!(
        all.iter().all(|(_, m)| m.len() == 1),
        "each was master once: {all:?}"
    );
    let o = overlaps(&all);
    assert!(o.is_empty(), "two masters at once: {o:?}");
}
