//! The `Mastership` guard against a real server (issue 26): the node is
//! not released while a guard of the term is held during a resign, and
//! goes at once when it drops; fenced writes of a deposed master fail,
//! also when another session re-created the master node at the same
//! path; `until_master()` resolves with a typed error on a wrong password,
//! a missing parent and an unreachable ensemble; the state view.

use std::sync::Arc;
use std::time::{Duration, Instant};
use zkha::elector::{Connection, Elector, ElectorConfig, LostReason};
use zkha::{Acl, CreateMode, Error, ErrorCode, ZooKeeper};
use zkha_testing::{unique_path, TestingServer};

const LONG: Duration = Duration::from_secs(30);

fn hosts() -> &'static str {
    TestingServer::shared().unwrap().connect_string()
}

fn config(path: &str, ip: &str) -> ElectorConfig {
    zkha::logging::set_debug_level(zkha::logging::LogLevel::Error);
    let mut c = ElectorConfig::new(hosts(), path);
    c.data = zkha::net::seed_text_data(ip);
    c.poll_interval = Duration::from_millis(100);
    c.session_timeout = Duration::from_millis(4000);
    c
}

fn connect() -> ZooKeeper {
    ZooKeeper::builder(hosts()).connect(LONG).unwrap()
}

fn owner(zk: &ZooKeeper, path: &str) -> Option<i64> {
    zk.exists(path, false).unwrap().map(|s| s.ephemeral_owner)
}

fn common_eventually(mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + LONG;
    while !f() {
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    true
}

/// The master node with this czxid is there.
fn there(zk: &ZooKeeper, path: &str, czxid: i64) -> bool {
    zk.exists(path, false)
        .unwrap()
        .is_some_and(|s| s.czxid == czxid)
}

#[test]
fn a_resign_releases_the_node_only_once_the_guard_is_dropped() {
    let path = format!("{}/m", unique_path("guard-resign"));
    let mut c = config(&path, "10.0.0.1");
    // A long lease: the wait for the guard is not cut short by it.
    c.session_timeout = Duration::from_millis(20000);
    let a = Elector::start(c, Arc::new(())).unwrap();
    let master = a.wait_for_mastership(LONG).unwrap().expect("a never won");
    // A standby, to take over the moment the node goes.
    let b = Elector::start(config(&path, "10.0.0.2"), Arc::new(())).unwrap();
    let zk = connect();
    let czxid = master.token().czxid;
    assert!(there(&zk, &path, czxid));

    a.resign().unwrap();
    // The loss is told at once...
    assert_eq!(
        master.wait_lost(Duration::from_secs(5)),
        Some(LostReason::Resigned)
    );
    assert!(!master.is_valid());
    assert!(!a.is_master());
    // ...but the node stays while the guard is held: nobody else is master.
    std::thread::sleep(Duration::from_millis(1500));
    assert!(
        there(&zk, &path, czxid),
        "the node was released while a guard was held"
    );
    assert!(!b.is_master(), "b won while a's guard was held");
    // Dropped: released at once, and b takes over.
    let dropped = Instant::now();
    drop(master);
    while there(&zk, &path, czxid) {
        assert!(
            dropped.elapsed() < Duration::from_secs(2),
            "the node was not released after the guard was dropped"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let mb = b
        .wait_for_mastership(LONG)
        .unwrap()
        .expect("b never took over");
    assert!(mb.token().czxid > czxid);
    drop(mb);
    b.shutdown();
    a.shutdown();
}

#[test]
fn a_guard_left_held_does_not_keep_the_node_past_the_lease() {
    let path = format!("{}/m", unique_path("guard-leak"));
    let a = Elector::start(config(&path, "10.0.0.1"), Arc::new(())).unwrap();
    let master = a.wait_for_mastership(LONG).unwrap().unwrap();
    let zk = connect();
    let czxid = master.token().czxid;
    a.resign().unwrap();
    // The lease (under T/2 = 2 s) decides: released though still held.
    let asked = Instant::now();
    while there(&zk, &path, czxid) {
        assert!(asked.elapsed() < Duration::from_secs(10), "never released");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(!master.is_valid());
    a.shutdown();
}

#[test]
fn fenced_writes_of_a_deposed_master_fail_even_when_the_node_is_made_again() {
    let path = format!("{}/m", unique_path("fenced"));
    let record = format!("{path}-record");
    let a = Elector::start(config(&path, "10.0.0.1"), Arc::new(())).unwrap();
    let ma = a.wait_for_mastership(LONG).unwrap().unwrap();
    ma.fenced()
        .create(&record, b"a1", None, CreateMode::Persistent)
        .send()
        .wait()
        .unwrap();
    // b waits; a resigns, b wins a new term.
    let b = Elector::start(config(&path, "10.0.0.2"), Arc::new(())).unwrap();
    let zk = connect();
    a.resign().unwrap();
    drop(ma.clone());
    let stale = ma; // a's guard of the old term, kept on purpose
    let mb = b.wait_for_mastership(LONG).unwrap().expect("b never won");
    assert!(mb.token() > stale.token());
    mb.fenced().set(&record, b"b1", -1).send().wait().unwrap();
    // The stale term's writes fail as a whole.
    match stale.fenced().set(&record, b"a2", -1).send().wait() {
        Err(Error::NotMaster { token }) => assert_eq!(token, stale.token().czxid),
        other => panic!("a deposed master's fenced write: {other:?}"),
    }
    assert_eq!(zk.get(&record, false).unwrap().0, b"b1");

    // Another session re-creates the master node at the same path (b is
    // gone): the data version of the node starts again at 0, but the term
    // node tells the terms apart.
    let b_term = mb.token();
    drop(mb);
    b.shutdown();
    drop(stale);
    a.shutdown();
    let other = connect();
    other
        .create(
            &path,
            b"10.0.0.9\0",
            &Acl::open_unsafe(),
            CreateMode::Ephemeral,
        )
        .unwrap();
    assert!(owner(&zk, &path).is_some());
    // A fresh elector (same data as a) waits behind the other session's
    // node; none of the old guards may write.
    let c = Elector::start(config(&path, "10.0.0.1"), Arc::new(())).unwrap();
    assert!(c
        .wait_for_mastership(Duration::from_millis(500))
        .unwrap()
        .is_none());
    other.close().unwrap();
    let mc = c.wait_for_mastership(LONG).unwrap().expect("c never won");
    assert!(mc.token() > b_term);
    mc.fenced().set(&record, b"c1", -1).send().wait().unwrap();
    assert_eq!(zk.get(&record, false).unwrap().0, b"c1");
    drop(mc);
    c.shutdown();
}

#[test]
fn until_master_resolves_with_typed_errors() {
    // A wrong password: the election's parent belongs to another identity.
    let base = unique_path("typed-errors");
    let zk = connect();
    zk.add_auth("digest", b"owner:secret").unwrap();
    zk.create(&base, b"", &Acl::creator_all(), CreateMode::Persistent)
        .unwrap();
    let mut c = config(&format!("{base}/m"), "10.0.0.1");
    c.auth = Some(zkha::elector::Auth {
        scheme: "digest".into(),
        credential: b"owner:wrong".to_vec(),
    });
    c.create_parents = false;
    let e = Elector::start(c, Arc::new(())).unwrap();
    let got = futures::executor::block_on(e.until_master());
    assert_eq!(
        got.as_ref().err().and_then(Error::code),
        Some(ErrorCode::NoAuth),
        "{got:?}"
    );
    e.shutdown();

    // A missing parent, without create_parents.
    let mut c = config(
        &format!("{}/absent/m", unique_path("typed-errors")),
        "10.0.0.1",
    );
    c.create_parents = false;
    let e = Elector::start(c, Arc::new(())).unwrap();
    let got = e.wait_for_mastership(LONG);
    assert_eq!(
        got.as_ref().err().and_then(Error::code),
        Some(ErrorCode::NoNode),
        "{got:?}"
    );
    e.shutdown();

    // Nobody listening: past unreachable_after.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let mut c = config("/unreachable/m", "10.0.0.1");
    c.hosts = format!("127.0.0.1:{port}");
    c.unreachable_after = Duration::from_millis(1500);
    let e = Elector::start(c, Arc::new(())).unwrap();
    assert_eq!(e.state().connection, Connection::Connecting);
    let started = Instant::now();
    let got = futures::executor::block_on(e.until_master());
    assert!(matches!(got, Err(Error::Timeout(_))), "{got:?}");
    assert!(started.elapsed() < LONG);
    e.shutdown();
}

#[test]
fn the_state_view_shows_the_role_and_a_late_reader_sees_a_loss() {
    let path = format!("{}/m", unique_path("state-view"));
    let a = Elector::start(config(&path, "10.0.0.1"), Arc::new(())).unwrap();
    let mut view = a.watch_state();
    let guard = a.wait_for_mastership(LONG).unwrap().unwrap();
    let old = guard.token();
    let now = view.borrow();
    assert_eq!(now.master, Some(guard.token()));
    assert_eq!(now.connection, Connection::Connected);
    assert!(now.lease_remaining.is_some_and(|r| r > Duration::ZERO));
    drop(guard);
    a.resign().unwrap();
    // Read after the loss: the state says so, no event needed.
    let deadline = Instant::now() + LONG;
    while a.state().master.is_some() {
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(10));
    }
    // The watch read before the loss resolves at once: the role changed.
    let changed = futures::executor::block_on(view.changed()).unwrap();
    assert_ne!(changed.master, Some(old), "the loss was missed");
    let control = a.control();
    a.shutdown();
    assert_eq!(control.state().connection, Connection::Closed);
    assert!(matches!(
        futures::executor::block_on(control.until_master()),
        Err(Error::Stopped)
    ));
}

/// The elector on a session the caller owns: one session (the master
/// node's owner is the caller's handle's), the caller's watches still
/// fire, stopping the elector releases its nodes while the session lives
/// on, and an expiry of that session ends the candidacy.
#[test]
fn an_elector_on_the_callers_handle_shares_its_session() {
    let path = format!("{}/m", unique_path("given-handle"));
    let zk = Arc::new(connect());
    let sid = zk.client_id().unwrap().id;
    let e =
        Elector::start_with_handle(zk.clone(), config(&path, "10.0.0.1"), Arc::new(())).unwrap();
    let master = e.wait_for_mastership(LONG).unwrap().expect("never won");
    assert_eq!(e.session_id(), sid);
    assert_eq!(owner(&zk, &path), Some(sid), "one session: the caller's");
    // The caller's own calls and watches on the same handle.
    let (tx, rx) = std::sync::mpsc::channel();
    let mine = format!("{path}-mine");
    zk.wexists(&mine, move |ev| {
        let _ = tx.send(ev.event_type);
    })
    .unwrap();
    zk.create(&mine, b"x", &Acl::open_unsafe(), CreateMode::Persistent)
        .unwrap();
    assert_eq!(
        rx.recv_timeout(LONG).unwrap(),
        zkha::EventType::Created,
        "the caller's watch"
    );
    // Fenced writes go through the shared session too.
    master.fenced().set(&mine, b"y", -1).send().wait().unwrap();
    drop(master);
    // Stopped: the node and the registry entry go, the session stays.
    e.shutdown();
    assert_eq!(owner(&zk, &path), None, "the master node was kept");
    let entries = zkha::elector::registry::read_candidates(&zk, &path).unwrap();
    assert!(entries.is_empty(), "registry entries left: {entries:?}");
    assert_eq!(zk.state().unwrap(), zkha::State::Connected);

    // An expiry ends the candidacy: the caller re-initialises. The caller's
    // handle goes through a proxy that turns silent past its session's
    // timeout, so the server expires the session.
    let proxy = zkha_testing::TcpProxy::start(hosts()).unwrap();
    let zk = Arc::new(
        ZooKeeper::builder(&proxy.connect_string())
            .session_timeout(Duration::from_millis(2000))
            .connect(LONG)
            .unwrap(),
    );
    let e =
        Elector::start_with_handle(zk.clone(), config(&path, "10.0.0.1"), Arc::new(())).unwrap();
    assert!(e.wait_for_mastership(LONG).unwrap().is_some());
    proxy.set_mode(zkha_testing::ProxyMode::Blackhole);
    let observer = connect();
    assert!(
        common_eventually(|| owner(&observer, &path).is_none()),
        "the cut-off session's node never went"
    );
    proxy.set_mode(zkha_testing::ProxyMode::Pass);
    let deadline = Instant::now() + LONG;
    while e.failure().is_none() {
        assert!(
            Instant::now() < deadline,
            "the elector did not notice the expiry"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(!e.is_master());
    assert!(
        e.failure().unwrap().contains("expired"),
        "{:?}",
        e.failure()
    );
    assert!(matches!(
        e.wait_for_mastership(Duration::from_millis(100)),
        Err(Error::Stopped)
    ));
    e.shutdown();

    // Not for the seed profile, nor with a session file.
    let seed = zkha::elector::ElectorConfig::seed(hosts(), &path);
    assert!(Elector::start_with_handle(zk.clone(), seed, Arc::new(())).is_err());
}
