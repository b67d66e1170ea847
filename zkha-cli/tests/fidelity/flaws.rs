//! The seed design's flaws, shown in the seed profile and absent from the
//! safe one: F1 split brain under a partition, F3 the ambiguous-create
//! lockout, F4 the prefix compare.

use crate::common;

use common::election::{
    masterships, now_ms, overlaps, spawn, spawn_with_env, work_dir, Ev, Impl, Proc, Spec,
};
use common::{eventually, RawSession};
use std::sync::Arc;
use std::time::Duration;
use zkha::elector::{Elector, ElectorConfig};
use zkha_testing::{unique_path, ProxyMode, TcpProxy, TestingServer};

const LONG: Duration = Duration::from_secs(30);

fn hosts() -> &'static str {
    common::fail_fast();
    TestingServer::shared().unwrap().connect_string()
}

fn leak(s: String) -> &'static str {
    Box::leak(s.into_boxed_str())
}

fn session_of(p: &Proc) -> String {
    p.events()
        .iter()
        .rev()
        .find_map(|e| e.session.clone())
        .expect("no session yet")
}

fn times(p: &Proc, kind: &str) -> Vec<f64> {
    p.events()
        .iter()
        .filter(|e| e.kind() == kind || e.event == kind)
        .map(|e| e.t)
        .collect()
}

/// A (through a proxy) is master, B (direct) standby; the proxy then
/// blackholes A's traffic until B has worked as master for a while.
fn partition(which: Impl, session_ms: u64, name: &str) -> (Proc, Proc, TcpProxy) {
    let dir = work_dir(name);
    let h = hosts();
    let proxy = TcpProxy::start(h).unwrap();
    let ph = leak(proxy.connect_string());
    let parent = unique_path(name);
    RawSession::connect(h, 5000)
        .create(&parent, b"", zk_sys::consts::ZOO_PERSISTENT)
        .unwrap();
    let path = leak(format!("{parent}/test"));
    let spec = |hosts: &'static str, data: &'static str| Spec {
        hosts,
        path,
        data,
        session_ms,
        interval_ms: 250,
        reinit_limit: Some(2),
        extra: &["--settle", "0"],
    };
    let a = spawn(which, &spec(ph, "10.0.0.1"), &dir, "a");
    a.wait_for("became_master", 1, LONG);
    let b = spawn(which, &spec(h, "10.0.0.2"), &dir, "b");
    b.wait_for("waiting", 1, LONG);
    proxy.set_mode(ProxyMode::Blackhole);
    b.wait_for("work", 3, LONG);
    // Keep A cut off a little longer, then let it learn what happened.
    std::thread::sleep(Duration::from_millis(500));
    proxy.set_mode(ProxyMode::Pass);
    (a, b, proxy)
}

#[test]
fn flaw_f1_seed_shows_two_masters_under_a_partition() {
    let (mut a, mut b, _proxy) = partition(Impl::RustSeed, 2000, "f1-seed");
    let b_won = times(&b, "became_master")[0];
    // A, cut off, never learned it lost the session: it kept working while
    // B was master (F1), until it reconnected and saw EXPIRED.
    a.wait_for("expired", 1, LONG);
    let a_lost = times(&a, "lost_master")[0];
    let a_work_during_b: Vec<f64> = times(&a, "work")
        .into_iter()
        .filter(|&t| t > b_won && t < a_lost)
        .collect();
    assert!(
        !a_work_during_b.is_empty(),
        "the seed should show split brain (F1); A: {:?}",
        a.events().iter().map(Ev::kind).collect::<Vec<_>>()
    );
    let o = overlaps(&[
        ("a".into(), masterships(&a.events(), now_ms())),
        ("b".into(), masterships(&b.events(), now_ms())),
    ]);
    assert!(!o.is_empty());
    eprintln!(
        "seed: two masters for {:.0} ms, A worked {} times meanwhile",
        o[0].2,
        a_work_during_b.len()
    );
    let _ = a.wait(LONG);
    let _ = b.term();
}

#[test]
fn flaw_f1_safe_steps_down_before_anyone_else_can_win() {
    let (mut a, mut b, _proxy) = partition(Impl::RustSafe, 3000, "f1-safe");
    let b_won = times(&b, "became_master")[0];
    let lost: Vec<Ev> = a
        .events()
        .into_iter()
        .filter(|e| e.event == "lost_master")
        .collect();
    assert!(!lost.is_empty(), "A never stepped down");
    // F1: step down on its own timer: the lease (0.495·T after the last
    // renewal was sent) runs out before the C client even reports the
    // blackhole (no byte for 2/3·T), so the reason is the lease, not the
    // disconnect timer (which only starts at that report).
    assert_eq!(
        lost[0].reason.as_deref(),
        Some("lease_expired"),
        "F1: step down when the lease runs out, not on {:?}",
        lost[0].reason
    );
    assert!(
        lost[0].t < b_won,
        "A stepped down at {:.0}, after B won at {b_won:.0}",
        lost[0].t
    );
    // No work after stepping down (until A might win again).
    let a_work_after: Vec<f64> = times(&a, "work")
        .into_iter()
        .filter(|&t| t > lost[0].t && t < b_won + 2000.0)
        .collect();
    assert!(
        a_work_after.is_empty(),
        "A worked after stepping down: {a_work_after:?}"
    );
    let o = overlaps(&[
        ("a".into(), masterships(&a.events(), now_ms())),
        ("b".into(), masterships(&b.events(), now_ms())),
    ]);
    assert!(o.is_empty(), "two safe masters: {o:?}");
    eprintln!(
        "safe: A stepped down {:.0} ms before B won",
        b_won - lost[0].t
    );
    // Back, A finds its session expired and opens a new one (F2) as a
    // standby, watching B's node instead of polling (F6).
    a.wait_for("init", 2, LONG);
    a.wait_for("waiting", 1, LONG);
    let sessions: Vec<String> = a
        .events()
        .iter()
        .filter_map(|e| e.session.clone())
        .collect();
    assert!(
        sessions.len() == 2 && sessions[0] != sessions[1],
        "a fresh session after expiry: {sessions:?}"
    );
    // Cut off, A's calls fail with connection loss, and after healing with
    // an expired session: both are what a partition does, not errors to
    // report (F7 reports real errors only).
    let errors: Vec<Ev> = a
        .events()
        .into_iter()
        .filter(|e| e.event == "error")
        .collect();
    assert!(
        errors.is_empty(),
        "a partition reported as errors: {errors:?}"
    );
    let _ = b.term();
    let _ = a.term();
}

/// A's first successful create is applied by the server but its reply is
/// lost (the proxy drops replies, then resets the connection).
fn ambiguous_create(which: Impl, name: &str) -> (Proc, Proc, String, &'static str, TcpProxy) {
    let dir = work_dir(name);
    let h = hosts();
    let proxy = TcpProxy::start(h).unwrap();
    let ph = leak(proxy.connect_string());
    let parent = unique_path(name);
    let path = leak(format!("{parent}/test"));
    let spec = |hosts: &'static str, data: &'static str, extra: &'static [&'static str]| Spec {
        hosts,
        path,
        data,
        session_ms: 4000,
        interval_ms: 500,
        reinit_limit: None,
        extra,
    };
    let extra: &'static [&'static str] = if which == Impl::RustSafe {
        &["--create-parents", "false"]
    } else {
        &[]
    };
    let observer = RawSession::connect(h, 5000);
    let a = if which == Impl::RustSafe {
        // The safe profile registers first, beside the path (the registry
        // needs the parent), then claims: the parent exists, and the
        // claim waits a moment (a test hook) for the replies to be cut.
        observer
            .create(&parent, b"", zk_sys::consts::ZOO_PERSISTENT)
            .unwrap();
        let a = spawn_with_env(
            which,
            &spec(ph, "10.0.0.1", extra),
            &dir,
            "a",
            &[("ZKHA_TEST_CLAIM_DELAY_MS", "1000")],
        );
        a.wait_for("test_claim_delay", 1, LONG);
        proxy.set_mode(ProxyMode::DropReplies);
        a
    } else {
        let a = spawn(which, &spec(ph, "10.0.0.1", extra), &dir, "a");
        // The parent is missing: A polls and fails with ZNONODE...
        a.wait_for("create rc=-101", 1, LONG);
        // ...then its next create is applied, and the reply lost.
        proxy.set_mode(ProxyMode::DropReplies);
        observer
            .create(&parent, b"", zk_sys::consts::ZOO_PERSISTENT)
            .unwrap();
        a
    };
    assert!(
        eventually(LONG, || matches!(observer.exists(path), Ok(Some(_)))),
        "A's create never reached the server"
    );
    let owner = format!(
        "{:#x}",
        observer.exists(path).unwrap().unwrap().ephemeralOwner
    );
    proxy.reset_all();
    proxy.set_mode(ProxyMode::Pass);
    let b = spawn(which, &spec(h, "10.0.0.2", extra), &dir, "b");
    (a, b, owner, path, proxy)
}

#[test]
fn flaw_f3_seed_locks_everyone_out_after_an_ambiguous_create() {
    let (mut a, mut b, owner, path, _proxy) = ambiguous_create(Impl::RustSeed, "f3-seed");
    assert_eq!(owner, session_of(&a), "the node is A's");
    a.wait_for("create rc=-110", 3, LONG);
    b.wait_for("create rc=-110", 3, LONG);
    // Nobody is master, yet A's own node blocks everyone (F3).
    assert_eq!(a.count("became_master"), 0);
    assert_eq!(b.count("became_master"), 0);
    let observer = RawSession::connect(hosts(), 5000);
    let stat = observer
        .exists(path)
        .unwrap()
        .expect("A's node is still there");
    assert_eq!(
        format!("{:#x}", stat.ephemeralOwner),
        session_of(&a),
        "A's live session still holds it"
    );
    assert!(
        a.events().iter().any(|e| e.kind() == "create rc=-4"),
        "the create was ambiguous (connection loss)"
    );
    let _ = b.term();
    let _ = a.term();
}

#[test]
fn flaw_f3_safe_recognises_its_own_node() {
    let (mut a, mut b, owner, path, _proxy) = ambiguous_create(Impl::RustSafe, "f3-safe");
    a.wait_for("became_master", 1, LONG);
    assert_eq!(owner, session_of(&a));
    let kinds: Vec<String> = a.events().iter().map(Ev::kind).collect();
    let lost = kinds
        .iter()
        .position(|k| k == "create rc=-4")
        .expect("the create was not ambiguous");
    // After the ambiguous create, A's next answered create finds the node
    // (ZNODEEXISTS) and A becomes master on it, its own node: no delete and
    // re-create (no successful create) in between. (Creates lost to the
    // reconnection, rc -4 or -7, decide nothing.)
    let after: Vec<&str> = kinds[lost + 1..]
        .iter()
        .map(String::as_str)
        .filter(|k| k.starts_with("create") || *k == "became_master")
        .filter(|k| !matches!(*k, "create rc=-4" | "create rc=-7"))
        .collect();
    assert_eq!(
        after.get(..2),
        Some(&["create rc=-110", "became_master"][..]),
        "A should become master on its own existing node: {kinds:?}"
    );
    let observer = RawSession::connect(hosts(), 5000);
    assert_eq!(
        format!(
            "{:#x}",
            observer.exists(path).unwrap().unwrap().ephemeralOwner
        ),
        session_of(&a)
    );
    b.wait_for("waiting", 1, LONG);
    assert_eq!(b.count("became_master"), 0);
    let _ = b.term();
    let _ = a.term();
}

#[test]
fn flaw_f4_prefix_compare() {
    let h = hosts();
    let path = format!("{}/test", unique_path("f4"));
    // The safe master creates the parent; the seed needs it to exist (S6).
    let config = |mut c: ElectorConfig, data: &str| {
        c.data = zkha::net::seed_text_data(data);
        c
    };
    // 10.0.0.12 is master.
    let master = Elector::start(
        config(ElectorConfig::new(h, &path), "10.0.0.12"),
        Arc::new(()),
    )
    .unwrap();
    assert!(master.wait_until_master(LONG));
    // A seed candidate with 10.0.0.1 compares only strlen("10.0.0.1") bytes
    // and believes the node is its own (F4).
    let seed = Elector::start(
        config(ElectorConfig::seed(h, &path), "10.0.0.1"),
        Arc::new(()),
    )
    .unwrap();
    assert!(eventually(LONG, || seed.session_id() != 0));
    let seen = seed.current_master().unwrap().expect("a master");
    assert_eq!(seen.data_text(), "10.0.0.12");
    assert!(
        seen.is_me,
        "the seed's prefix compare should match 10.0.0.1 against 10.0.0.12"
    );
    // Only a prefix matches: 10.0.0.2 is not 10.0.0.12, even for the seed.
    let other = Elector::start(
        config(ElectorConfig::seed(h, &path), "10.0.0.2"),
        Arc::new(()),
    )
    .unwrap();
    assert!(eventually(LONG, || other.session_id() != 0));
    assert!(!other.current_master().unwrap().expect("a master").is_me);
    // The safe profile decides by session owner: not me.
    let safe = Elector::start(
        config(ElectorConfig::new(h, &path), "10.0.0.1"),
        Arc::new(()),
    )
    .unwrap();
    assert!(eventually(LONG, || safe.session_id() != 0));
    let seen = safe.current_master().unwrap().expect("a master");
    assert!(
        !seen.is_me,
        "safe must not take 10.0.0.12's node for its own"
    );
    assert_eq!(seen.session, master.session_id());
    assert!(master.current_master().unwrap().unwrap().is_me);
}
