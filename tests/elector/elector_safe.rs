//! The safe profile in-process: hooks, resign, fencing tokens, sequence
//! mode, a fresh session after expiry (F2), reported errors (F7), and the
//! creator-only ACL (F10).

use crate::common;

use common::eventually;
use parking_lot::Mutex;
use std::sync::Arc;
use std::time::Duration;
use zkha::clock::BootInstant;
use zkha::elector::{
    AclChoice, Auth, Candidate, Elector, ElectorConfig, FencingToken, LostReason, Mode,
};
use zkha::{Acl, CreateMode, Error, ErrorCode, Op, ZooKeeper};
use zkha_testing::{unique_path, ProxyMode, TcpProxy, TestingServer};

const LONG: Duration = Duration::from_secs(30);

fn hosts() -> &'static str {
    common::fail_fast();
    TestingServer::shared().unwrap().connect_string()
}

#[derive(Default)]
struct Recorder {
    events: Mutex<Vec<String>>,
    errors: Mutex<Vec<Option<ErrorCode>>>,
}

impl Candidate for Recorder {
    fn on_zookeeper_connected(&self, _path: &str) {
        self.events.lock().push("connected".into());
    }
    fn on_zookeeper_expired(&self) {
        self.events.lock().push("expired".into());
    }
    fn on_became_master(&self, token: FencingToken) {
        self.events.lock().push(format!("master {}", token.value()));
    }
    fn on_lost_master(&self, reason: LostReason) {
        self.events.lock().push(format!("lost {reason:?}"));
    }
    fn do_work(&self, token: FencingToken) {
        self.events.lock().push(format!("work {}", token.value()));
    }
    fn on_error(&self, error: &Error) {
        self.errors.lock().push(error.code());
    }
}

fn config(path: &str, data: &str) -> ElectorConfig {
    zkha::logging::set_debug_level(zkha::logging::LogLevel::Warn);
    let mut c = ElectorConfig::new(hosts(), path);
    c.data = zkha::net::seed_text_data(data);
    c.poll_interval = Duration::from_millis(100);
    c.session_timeout = Duration::from_millis(4000);
    c
}

/// A candidate's config whose link to the server goes through a proxy of
/// its own, for cutting, delaying or resetting that link alone.
fn via_proxy(path: &str, data: &str) -> (TcpProxy, ElectorConfig) {
    let proxy = TcpProxy::start(hosts()).unwrap();
    let mut c = config(path, data);
    c.hosts = proxy.connect_string();
    (proxy, c)
}

#[test]
fn resign_hands_over_and_tokens_grow() {
    let path = format!("{}/test", unique_path("resign"));
    let ra = Arc::new(Recorder::default());
    let a = Elector::start(config(&path, "10.0.0.1"), ra.clone()).unwrap();
    assert!(a.wait_until_master(LONG));
    let ta = a.token().unwrap();
    let rb = Arc::new(Recorder::default());
    let b = Elector::start(config(&path, "10.0.0.2"), rb.clone()).unwrap();
    assert!(eventually(LONG, || b.session_id() != 0));
    assert!(
        !b.wait_until_master(Duration::from_millis(300)),
        "two masters"
    );
    let seen = b.current_master().unwrap().unwrap();
    assert_eq!(
        (seen.data.as_slice(), seen.session, seen.is_me),
        (&b"10.0.0.1\0"[..], a.session_id(), false)
    );
    assert_eq!(seen.token, ta.value());

    a.resign().unwrap();
    assert!(
        b.wait_until_master(LONG),
        "b did not take over after a resigned"
    );
    assert!(!a.is_master());
    let tb = b.token().unwrap();
    assert!(tb > ta, "fencing tokens must grow: {ta:?} then {tb:?}");
    assert!(ra.events.lock().contains(&"lost Resigned".to_string()));
    // a, resigned, backs off and stays standby behind b.
    assert!(!a.wait_until_master(Duration::from_millis(1500)));
    // The run loop works only while master, with the token.
    let stopper = b.control();
    let worker = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(350));
        stopper.stop();
    });
    b.run();
    worker.join().unwrap();
    let works: Vec<String> = rb
        .events
        .lock()
        .iter()
        .filter(|e| e.starts_with("work"))
        .cloned()
        .collect();
    assert!(
        !works.is_empty() && works.iter().all(|w| *w == format!("work {}", tb.value())),
        "{works:?}"
    );
    drop(b);
    assert!(
        a.wait_until_master(LONG),
        "a rejoins and wins once b leaves"
    );
}

#[test]
fn sequence_mode_lowest_wins_in_order() {
    let parent = unique_path("seq");
    let mk = |d: &str| {
        let mut c = config(&parent, d);
        c.mode = Mode::Sequence;
        Elector::start(c, Arc::new(())).unwrap()
    };
    let zk = ZooKeeper::builder(hosts()).connect(LONG).unwrap();
    // The queue: the owners of the election nodes, lowest sequence first.
    let queue = || -> Vec<i64> {
        let mut kids = zk.get_children(&parent, false).unwrap_or_default();
        kids.sort_by_key(|k| k[k.len().saturating_sub(10)..].to_owned());
        kids.iter()
            .filter_map(|k| zk.exists(&format!("{parent}/{k}"), false).ok().flatten())
            .map(|s| s.ephemeral_owner)
            .collect()
    };
    // Each candidate starts only once the previous one has its node: the
    // order of the queue is the order of the starts.
    let a = mk("10.0.0.1");
    assert!(a.wait_until_master(LONG));
    let b = mk("10.0.0.2");
    assert!(
        eventually(LONG, || b.session_id() != 0
            && queue() == [a.session_id(), b.session_id()]),
        "b did not queue behind a: {:?}",
        queue()
    );
    let c = mk("10.0.0.3");
    assert!(
        eventually(LONG, || c.session_id() != 0
            && queue() == [a.session_id(), b.session_id(), c.session_id()]),
        "c did not queue behind b: {:?}",
        queue()
    );
    assert!(!b.is_master() && !c.is_master());
    // `read_queue` (what `zkha status` shows) agrees: every candidate, in
    // line, with its own data.
    let line = zkha::elector::read_queue(&zk, &parent).unwrap();
    let seen: Vec<(i64, String)> = line.iter().map(|m| (m.session, m.data_text())).collect();
    assert_eq!(
        seen,
        [
            (a.session_id(), "10.0.0.1".to_owned()),
            (b.session_id(), "10.0.0.2".to_owned()),
            (c.session_id(), "10.0.0.3".to_owned()),
        ]
    );
    assert!(line.windows(2).all(|w| w[0].token < w[1].token));
    let m = c.current_master().unwrap().unwrap();
    assert_eq!(m.data_text(), "10.0.0.1");
    assert!(
        m.path.starts_with(&format!("{parent}/")) && m.path.contains("-n_"),
        "{}",
        m.path
    );
    let ta = a.token().unwrap();
    assert!(ta.sequence.is_some());
    drop(a);
    assert!(b.wait_until_master(LONG), "the next in line takes over");
    assert!(!c.is_master());
    assert!(b.token().unwrap().sequence > ta.sequence);
    b.resign().unwrap();
    assert!(c.wait_until_master(LONG));
    // b rejoined at the back of the queue.
    assert!(
        eventually(LONG, || queue() == [c.session_id(), b.session_id()]),
        "b did not rejoin behind c: {:?}",
        queue()
    );
}

#[test]
fn expired_session_is_replaced_by_a_fresh_one() {
    let path = format!("{}/test", unique_path("f2"));
    let proxy = TcpProxy::start(hosts()).unwrap();
    let rec = Arc::new(Recorder::default());
    let mut c = config(&path, "10.0.0.1");
    c.hosts = proxy.connect_string();
    c.session_timeout = Duration::from_millis(2000);
    let e = Elector::start(c, rec.clone()).unwrap();
    assert!(e.wait_until_master(LONG));
    let first = e.session_id();
    // Cut off past the session timeout: the server expires the session.
    proxy.set_mode(ProxyMode::Blackhole);
    std::thread::sleep(Duration::from_millis(3000));
    proxy.set_mode(ProxyMode::Pass);
    assert!(
        eventually(LONG, || e.session_id() != first && e.is_master()),
        "no new session / mastership: {:?}",
        rec.events.lock()
    );
    let events = rec.events.lock().clone();
    // F1 first (stepped down while cut off), then the expiry, then F2: a
    // fresh session that wins again.
    // A blackhole: the lease (T/2) runs out before the C client even
    // reports the disconnection (2T/3), so the step-down is the lease's.
    let lost = events
        .iter()
        .position(|x| x == "lost LeaseExpired" || x == "lost Disconnected")
        .expect("no step-down");
    let expired = events
        .iter()
        .position(|x| x == "expired")
        .expect("expiry not reported");
    assert!(lost < expired, "{events:?}");
    assert!(
        events[expired..].iter().any(|x| x.starts_with("master")),
        "{events:?}"
    );
}

#[test]
fn real_errors_are_reported_not_swallowed() {
    let path = format!("{}/test", unique_path("f7"));
    let rec = Arc::new(Recorder::default());
    let mut c = config(&path, "10.0.0.1");
    c.create_parents = false;
    let e = Elector::start(c, rec.clone()).unwrap();
    assert!(
        eventually(LONG, || rec
            .errors
            .lock()
            .contains(&Some(ErrorCode::NoNode))),
        "missing parent not reported"
    );
    assert!(!e.is_master());
    // With the parent there, it becomes master.
    let zk = ZooKeeper::builder(hosts()).connect(LONG).unwrap();
    zk.create(
        path.rsplit_once('/').unwrap().0,
        b"",
        &Acl::open_unsafe(),
        CreateMode::Persistent,
    )
    .unwrap();
    assert!(e.wait_until_master(LONG));
    // Someone else being master is not an error.
    let before = rec.errors.lock().len();
    let other = Elector::start(config(&path, "10.0.0.2"), rec.clone()).unwrap();
    assert!(eventually(LONG, || other.session_id() != 0));
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(rec.errors.lock().len(), before);
}

#[test]
fn creator_only_acl_protects_the_node() {
    let path = format!("{}/test", unique_path("f10"));
    let mut c = config(&path, "10.0.0.1");
    c.auth = Some(Auth {
        scheme: "digest".into(),
        credential: b"ha:s3cret".to_vec(),
    });
    c.acl = AclChoice::CreatorAll;
    let e = Elector::start(c, Arc::new(())).unwrap();
    assert!(e.wait_until_master(LONG));
    let attacker = ZooKeeper::builder(hosts()).connect(LONG).unwrap();
    assert_eq!(
        attacker.delete(&path, -1).unwrap_err().code(),
        Some(ErrorCode::NoAuth)
    );
    assert_eq!(
        attacker.set(&path, b"evil", -1).unwrap_err().code(),
        Some(ErrorCode::NoAuth)
    );
    attacker.add_auth("digest", b"ha:wrong").unwrap();
    assert_eq!(
        attacker.delete(&path, -1).unwrap_err().code(),
        Some(ErrorCode::NoAuth)
    );
    assert!(e.is_master());
    // The open-ACL node of the seed design can be deleted by anyone (F10):
    // the safe elector notices and competes again.
    let open = format!("{}/test", unique_path("f10open"));
    let e2 = Elector::start(config(&open, "10.0.0.2"), Arc::new(())).unwrap();
    assert!(e2.wait_until_master(LONG));
    let t1 = e2.token().unwrap();
    attacker.delete(&open, -1).unwrap();
    assert!(
        eventually(LONG, || e2.token().is_some_and(|t| t > t1)),
        "did not notice the deletion and win again"
    );
}

#[test]
fn bad_configuration_is_a_typed_error() {
    let mut c = ElectorConfig::new("127.0.0.1:2181", "no-slash");
    assert!(matches!(
        Elector::start(c.clone(), Arc::new(())),
        Err(Error::InvalidArgument { .. })
    ));
    c.path = "/ok".into();
    c.session_timeout = Duration::ZERO;
    assert!(matches!(
        Elector::start(c, Arc::new(())),
        Err(Error::InvalidArgument { .. })
    ));
}

#[test]
fn hooks_as_closures() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let path = format!("{}/test", unique_path("hooks"));
    let (became, worked, lost) = (
        Arc::new(AtomicUsize::new(0)),
        Arc::new(AtomicUsize::new(0)),
        Arc::new(Mutex::new(None)),
    );
    let (b, w, l) = (became.clone(), worked.clone(), lost.clone());
    let hooks = zkha::elector::Hooks::new()
        .on_became_master(move |_| {
            b.fetch_add(1, Ordering::SeqCst);
        })
        .do_work(move |_| {
            w.fetch_add(1, Ordering::SeqCst);
        })
        .on_lost_master(move |why| *l.lock() = Some(why));
    let e = Elector::start(config(&path, "10.0.0.9"), Arc::new(hooks)).unwrap();
    assert!(e.wait_until_master(LONG));
    let control = e.control();
    let stopper = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(350));
        control.stop();
    });
    e.run();
    stopper.join().unwrap();
    e.shutdown();
    assert_eq!(became.load(Ordering::SeqCst), 1);
    assert!(
        worked.load(Ordering::SeqCst) >= 2,
        "do_work ran {} times",
        worked.load(Ordering::SeqCst)
    );
    assert_eq!(*lost.lock(), Some(LostReason::Shutdown));
}

#[test]
fn connected_before_the_handle_is_published_still_knows_its_session() {
    // Race from review: CONNECTED can arrive before the new handle is
    // published, so the session id and timeout read as 0 and the elector
    // owns the node but believes someone else does (F3 again). The test
    // hook holds the handle back long enough for CONNECTED to come first.
    let path = format!("{}/m", unique_path("connected-first"));
    let mut c = config(&path, "10.0.0.1");
    zkha::__private::set_test_publish_delay(&mut c, Duration::from_millis(500));
    let rec = Arc::new(Recorder::default());
    let e = Elector::start(c, rec.clone()).unwrap();
    assert!(
        e.wait_until_master(LONG),
        "never became master: {:?}",
        rec.events.lock()
    );
    assert_ne!(e.session_id(), 0);
    let info = e.current_master().unwrap().expect("a master");
    assert!(info.is_me, "{info:?}");
    assert_eq!(info.session, e.session_id());
    // The lease runs (a negotiated timeout was read): the token holds over
    // several renewals.
    std::thread::sleep(Duration::from_millis(2500));
    assert!(e.is_master(), "{:?}", rec.events.lock());
    e.shutdown();
}

#[test]
fn a_resign_during_a_disconnection_holds_after_reconnecting() {
    // Race from review: a resign whose delete fails for connection loss
    // left the node in place; after reconnecting the elector found its own
    // node and was master again.
    let path = format!("{}/m", unique_path("resign-cut"));
    let (proxy, mut c) = via_proxy(&path, "10.0.0.1");
    c.session_timeout = Duration::from_millis(6000);
    // Long enough that becoming master again could only be the bug.
    c.resign_backoff = Duration::from_secs(120);
    let rec = Arc::new(Recorder::default());
    let e = Elector::start(c, rec.clone()).unwrap();
    assert!(e.wait_until_master(LONG), "never became master");
    let token = e.token().unwrap();
    let observer = ZooKeeper::builder(hosts()).connect(LONG).unwrap();
    assert_eq!(
        observer
            .exists(&path, false)
            .unwrap()
            .map(|s| s.ephemeral_owner),
        Some(e.session_id())
    );
    proxy.set_mode(ProxyMode::Blackhole);
    proxy.reset_all();
    assert!(
        eventually(LONG, || rec
            .events
            .lock()
            .iter()
            .any(|x| x.starts_with("lost"))
            || e.resign().is_ok() && !e.is_master()),
        "the resign was not taken"
    );
    std::thread::sleep(Duration::from_millis(300));
    proxy.set_mode(ProxyMode::Pass);
    // Back within the session: the resign is carried out, the node goes.
    assert!(
        eventually(LONG, || observer.exists(&path, false).unwrap().is_none()),
        "our node is still there after reconnecting: {:?}",
        rec.events.lock()
    );
    std::thread::sleep(Duration::from_millis(1000));
    let masters = rec
        .events
        .lock()
        .iter()
        .filter(|x| x.starts_with("master"))
        .count();
    assert_eq!(
        masters,
        1,
        "master again after resigning: {:?}",
        rec.events.lock()
    );
    assert!(!e.is_master());
    assert!(e.token().is_none(), "{token:?} still held");
    e.shutdown();
}

#[test]
fn real_errors_are_retried_every_poll_interval_not_in_a_hot_loop() {
    // F7's retry pace: a real error (here, a missing parent) is reported
    // and retried once per poll interval, never faster.
    let path = format!("{}/test", unique_path("retry-pace"));
    let errors = Arc::new(Mutex::new(Vec::<std::time::Instant>::new()));
    let seen = errors.clone();
    let mut c = config(&path, "10.0.0.1");
    c.create_parents = false;
    c.poll_interval = Duration::from_millis(250);
    let hooks =
        zkha::elector::Hooks::new().on_error(move |_| seen.lock().push(std::time::Instant::now()));
    let e = Elector::start(c, Arc::new(hooks)).unwrap();
    assert!(
        eventually(LONG, || errors.lock().len() >= 5),
        "the error was not retried: {} reports",
        errors.lock().len()
    );
    e.shutdown();
    let at = errors.lock().clone();
    for pair in at.windows(2) {
        let gap = pair[1] - pair[0];
        assert!(
            gap >= Duration::from_millis(240),
            "retried after {gap:?}, before the poll interval (250 ms)"
        );
    }
}

#[test]
fn missing_ancestors_are_created_and_existing_ones_are_no_error() {
    // The first ancestor exists, the next does not: creating the parents
    // meets NodeExists first (deterministically), which is no error.
    let top = unique_path("parents");
    let admin = ZooKeeper::builder(hosts()).connect(LONG).unwrap();
    admin
        .create(&top, b"", &Acl::open_unsafe(), CreateMode::Persistent)
        .unwrap();
    let path = format!("{top}/a/b/master");
    let r = Arc::new(Recorder::default());
    let e = Elector::start(config(&path, "10.0.0.1"), r.clone()).unwrap();
    assert!(e.wait_until_master(LONG), "errors: {:?}", r.errors.lock());
    assert!(admin
        .exists(&format!("{top}/a/b"), false)
        .unwrap()
        .is_some());
    assert_eq!(
        *r.errors.lock(),
        vec![],
        "an existing ancestor was reported as an error"
    );
}

#[test]
fn an_ancestor_it_may_not_create_is_reported_as_no_auth() {
    // Anyone may read the top node but nobody may create under it: creating
    // the election's parent fails with NoAuth, and that is what the
    // candidate is told (not a later, misleading NoNode, nor silence).
    let top = unique_path("parents-noauth");
    let admin = ZooKeeper::builder(hosts()).connect(LONG).unwrap();
    admin
        .create(&top, b"", &Acl::read_unsafe(), CreateMode::Persistent)
        .unwrap();
    let r = Arc::new(Recorder::default());
    let e = Elector::start(config(&format!("{top}/a/master"), "10.0.0.1"), r.clone()).unwrap();
    assert!(
        eventually(LONG, || !r.errors.lock().is_empty()),
        "the failure was never reported"
    );
    assert!(!e.is_master());
    assert_eq!(r.errors.lock()[0], Some(ErrorCode::NoAuth));
}

/// The sessions that watch `path`, from the server's `wchp` (a path's line,
/// then one indented line per session).
fn watchers_of(wchp: &str, path: &str) -> Vec<String> {
    wchp.lines()
        .skip_while(|l| l.trim_end() != path)
        .skip(1)
        .take_while(|l| l.starts_with(char::is_whitespace))
        .map(|l| l.trim().to_owned())
        .collect()
}

#[test]
fn a_watch_mode_standby_takes_over_by_its_watch_not_by_polling() {
    // Poll intervals of ten minutes: only the node watch (and the wake-up it
    // gives the election thread) can make the standby take over in time.
    let path = format!("{}/test", unique_path("watch-driven"));
    let slow = |data: &str| {
        let mut c = config(&path, data);
        c.poll_interval = Duration::from_secs(600);
        c
    };
    let a = Elector::start(slow("10.0.0.1"), Arc::new(())).unwrap();
    assert!(a.wait_until_master(LONG));
    let b = Elector::start(slow("10.0.0.2"), Arc::new(())).unwrap();
    assert!(eventually(LONG, || b.session_id() != 0));
    // b has tried once and watches the node (seen on the server): b's
    // session under the path's own line. (a watches its node too, to renew
    // its lease, and `<path>.zkha/control`, the registry's: neither is b's.)
    let admin = ZooKeeper::builder(hosts()).connect(LONG).unwrap();
    let b_session = format!("0x{:x}", b.session_id());
    assert!(
        eventually(LONG, || {
            TestingServer::shared()
                .unwrap()
                .four_letter_word("wchp")
                .is_ok_and(|w| watchers_of(&w, &path).contains(&b_session))
        }),
        "b never watched {path}"
    );
    assert_eq!(
        zkha::__private::watch_notifications(&b),
        0,
        "no node changed yet"
    );
    drop(a);
    assert!(
        b.wait_until_master(LONG),
        "b did not take over within {LONG:?} (its next poll is 10 minutes away)"
    );
    assert!(
        zkha::__private::watch_notifications(&b) >= 1,
        "the deletion's notification was not counted"
    );
    assert!(admin.exists(&path, false).unwrap().is_some());
}

#[test]
fn a_healthy_master_keeps_its_mastership_across_leases() {
    // The lease is (T/2)(1-1%); renewals (sync + exists, every T/5) extend
    // it. Without them a master would step down when its first lease ends
    // and win its own node back: mastership must not flap.
    let path = format!("{}/test", unique_path("renewals"));
    let r = Arc::new(Recorder::default());
    let mut c = config(&path, "10.0.0.1");
    c.session_timeout = Duration::from_millis(8000);
    let e = Elector::start(c, r.clone()).unwrap();
    assert!(e.wait_until_master(LONG));
    let first = e.lease_deadline().expect("a master has a lease");
    // One and a half leases.
    let until = std::time::Instant::now() + Duration::from_millis(6000);
    let mut later = first;
    while std::time::Instant::now() < until {
        assert!(e.is_master(), "lost mastership: {:?}", r.events.lock());
        later = later.max(e.lease_deadline().unwrap_or_default());
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(later > first, "the lease was never extended");
    let events = r.events.lock().clone();
    let changes: Vec<&String> = events
        .iter()
        .filter(|x| x.starts_with("master") || x.starts_with("lost"))
        .collect();
    assert_eq!(changes.len(), 1, "mastership flapped: {changes:?}");
}

#[test]
fn a_node_swapped_under_the_master_ends_its_mastership_at_once() {
    // Someone replaces the master's (open-ACL) node by their own in one
    // transaction. The master's watch fires and, checking the owner through
    // the leader, it steps down for NodeLost at once, not T/2 later when
    // its lease would have run out.
    let path = format!("{}/test", unique_path("swapped"));
    let r = Arc::new(Recorder::default());
    let mut c = config(&path, "10.0.0.1");
    c.session_timeout = Duration::from_millis(8000);
    let a = Elector::start(c, r.clone()).unwrap();
    assert!(a.wait_until_master(LONG));
    let intruder = ZooKeeper::builder(hosts()).connect(LONG).unwrap();
    intruder
        .multi(&[
            Op::Delete {
                path: path.clone(),
                version: -1,
            },
            Op::Create {
                path: path.clone(),
                data: b"intruder".to_vec(),
                acl: Acl::open_unsafe(),
                mode: CreateMode::Ephemeral,
            },
        ])
        .unwrap();
    assert!(
        eventually(LONG, || r
            .events
            .lock()
            .iter()
            .any(|x| x.starts_with("lost"))),
        "a never stepped down"
    );
    assert!(!a.is_master());
    let lost = r
        .events
        .lock()
        .iter()
        .find(|x| x.starts_with("lost"))
        .cloned()
        .unwrap();
    assert_eq!(lost, "lost NodeLost", "{:?}", r.events.lock());
}

#[test]
fn sequence_mode_ignores_nodes_that_are_not_candidates() {
    // The election parent also holds other nodes: a sequential one without
    // the `-n_` mark, and one with the mark but no sequence number. Neither
    // is a candidate, so neither can stand before the real one.
    let parent = unique_path("seq-foreign");
    let zk = ZooKeeper::builder(hosts()).connect(LONG).unwrap();
    zk.create(&parent, b"", &Acl::open_unsafe(), CreateMode::Persistent)
        .unwrap();
    for name in ["lock-", "x-n_"] {
        let mode = if name == "lock-" {
            CreateMode::PersistentSequential
        } else {
            CreateMode::Persistent
        };
        zk.create(&format!("{parent}/{name}"), b"", &Acl::open_unsafe(), mode)
            .unwrap();
    }
    let mut c = config(&parent, "10.0.0.1");
    c.mode = Mode::Sequence;
    let a = Elector::start(c, Arc::new(())).unwrap();
    assert!(
        a.wait_until_master(LONG),
        "a foreign node stood before the only candidate: {:?}",
        zk.get_children(&parent, false)
    );
}

#[test]
fn a_poll_mode_standby_takes_over_at_a_poll() {
    // Poll mode sets no watch: the standby must look again every poll
    // interval, or it would wait for a wake-up that never comes.
    let path = format!("{}/test", unique_path("poll-mode"));
    let poll = |data: &str| {
        let mut c = config(&path, data);
        c.mode = Mode::Poll;
        c
    };
    let a = Elector::start(poll("10.0.0.1"), Arc::new(())).unwrap();
    assert!(a.wait_until_master(LONG));
    let b = Elector::start(poll("10.0.0.2"), Arc::new(())).unwrap();
    assert!(eventually(LONG, || b.session_id() != 0));
    assert!(
        !b.wait_until_master(Duration::from_millis(300)),
        "two masters"
    );
    drop(a);
    assert!(
        b.wait_until_master(LONG),
        "the poll-mode standby never took over"
    );
    assert_eq!(
        zkha::__private::watch_notifications(&b),
        0,
        "poll mode set a watch"
    );
}

/// Packets the shared server has received from `session` over its current
/// connection (`cons` lists each connection with `recved=` and `sid=`).
fn requests_from(session: i64) -> Option<u64> {
    let cons = TestingServer::shared()
        .unwrap()
        .four_letter_word("cons")
        .unwrap();
    let sid = format!("sid=0x{:x},", session as u64);
    let line = cons.lines().find(|l| l.contains(&sid))?;
    line.split("recved=")
        .nth(1)?
        .split(',')
        .next()?
        .parse()
        .ok()
}

#[test]
fn an_idle_master_and_standby_send_a_handful_of_requests() {
    // Counted on the server: a master renews every T/5 (sync + exists, two
    // requests), a standby waits on its watch. Neither may loop: over 3 s
    // with T = 4 s each sends about ten requests (pings included), never
    // hundreds.
    let path = format!("{}/test", unique_path("request-count"));
    let a = Elector::start(config(&path, "10.0.0.1"), Arc::new(())).unwrap();
    assert!(a.wait_until_master(LONG));
    let b = Elector::start(config(&path, "10.0.0.2"), Arc::new(())).unwrap();
    assert!(eventually(LONG, || b.session_id() != 0
        && requests_from(b.session_id()).is_some()));
    let a0 = requests_from(a.session_id()).expect("the master's connection");
    let b0 = requests_from(b.session_id()).unwrap();
    std::thread::sleep(Duration::from_secs(3));
    let a1 = requests_from(a.session_id()).expect("the master's connection");
    let b1 = requests_from(b.session_id()).unwrap();
    assert!(a.is_master() && !b.is_master());
    let (master, standby) = (a1 - a0, b1 - b0);
    // At most four renewals (sync + exists) fit in 3 s, and they keep the
    // connection busy enough that no ping is needed: 6 or 8 requests. More
    // means a second request loop, such as re-arming the watch on every
    // renewal (12 in 3 s).
    assert!(
        (2..=9).contains(&master),
        "the master sent {master} requests in 3 s (renewals every 800 ms)"
    );
    assert!(standby < 60, "the standby sent {standby} requests in 3 s");
}

#[test]
fn a_disconnection_shorter_than_a_quarter_of_the_session_keeps_the_master() {
    // The disconnect timer steps down T/4 after the C client reports the
    // connection lost; reconnected before that (and within the lease), the
    // master stays master: a blip must not cost a failover.
    let path = format!("{}/m", unique_path("blip"));
    let (proxy, mut c) = via_proxy(&path, "10.0.0.1");
    c.session_timeout = Duration::from_millis(8000);
    let r = Arc::new(Recorder::default());
    let e = Elector::start(c, r.clone()).unwrap();
    assert!(e.wait_until_master(LONG));
    let connected = |r: &Recorder| {
        r.events
            .lock()
            .iter()
            .filter(|x| x.as_str() == "connected")
            .count()
    };
    assert_eq!(connected(&r), 1);
    let cut = std::time::Instant::now();
    // Drops the connection and refuses new ones for 300 ms.
    proxy.set_mode(ProxyMode::Reset);
    std::thread::sleep(Duration::from_millis(300));
    proxy.set_mode(ProxyMode::Pass);
    assert!(
        eventually(LONG, || connected(&r) == 2),
        "never reconnected: {:?}",
        r.events.lock()
    );
    // Past the moment the disconnect timer (T/4 = 2 s) would have fired.
    let past = cut + Duration::from_millis(2500);
    std::thread::sleep(past.saturating_duration_since(std::time::Instant::now()));
    assert!(e.is_master(), "{:?}", r.events.lock());
    let changes: Vec<String> = r
        .events
        .lock()
        .iter()
        .filter(|x| x.starts_with("master") || x.starts_with("lost"))
        .cloned()
        .collect();
    assert_eq!(
        changes.len(),
        1,
        "a 300 ms blip cost mastership: {changes:?}"
    );
    e.shutdown();
}

#[test]
fn sequence_mode_reports_a_parent_it_may_not_read() {
    // The election parent exists but its children may not be listed: that
    // is a real error (NoAuth) to report, not a missing parent to create
    // again and again.
    let parent = unique_path("seq-noread");
    let admin = ZooKeeper::builder(hosts()).connect(LONG).unwrap();
    let no_read = vec![Acl {
        perms: zkha::Perms::CREATE | zkha::Perms::DELETE,
        id: zkha::Id::anyone(),
    }];
    admin
        .create(&parent, b"", &no_read, CreateMode::Persistent)
        .unwrap();
    let r = Arc::new(Recorder::default());
    let mut c = config(&parent, "10.0.0.1");
    c.mode = Mode::Sequence;
    let e = Elector::start(c, r.clone()).unwrap();
    assert!(
        eventually(LONG, || !r.errors.lock().is_empty()),
        "the failure was never reported"
    );
    assert!(!e.is_master());
    assert_eq!(r.errors.lock()[0], Some(ErrorCode::NoAuth));
    e.shutdown();
}

/// Cuts `e`'s connection (its proxy blackholes from now on) and has it
/// resign meanwhile; true once the resign was taken.
fn resign_while_cut_off(proxy: &TcpProxy, e: &Elector, r: &Recorder) -> bool {
    proxy.set_mode(ProxyMode::Blackhole);
    proxy.reset_all();
    eventually(LONG, || {
        r.events.lock().iter().any(|x| x.starts_with("lost"))
            || e.resign().is_ok() && !e.is_master()
    })
}

fn count(r: &Recorder, event: &str) -> usize {
    r.events
        .lock()
        .iter()
        .filter(|x| x.as_str() == event)
        .count()
}

#[test]
fn a_resign_carried_out_after_reconnecting_leaves_a_new_masters_node_alone() {
    // A resigns while cut off; meanwhile its node is removed and B wins.
    // Back within its session, A carries out the resign: it must delete
    // only its own node, never the one B now owns at the same path.
    let path = format!("{}/m", unique_path("resign-other"));
    let (proxy, mut ca) = via_proxy(&path, "10.0.0.1");
    ca.session_timeout = Duration::from_millis(8000);
    ca.resign_backoff = Duration::from_secs(120);
    let ra = Arc::new(Recorder::default());
    let a = Elector::start(ca, ra.clone()).unwrap();
    assert!(a.wait_until_master(LONG));
    let rb = Arc::new(Recorder::default());
    let b = Elector::start(config(&path, "10.0.0.2"), rb.clone()).unwrap();
    assert!(eventually(LONG, || b.session_id() != 0));
    assert!(
        resign_while_cut_off(&proxy, &a, &ra),
        "the resign was not taken"
    );
    let admin = ZooKeeper::builder(hosts()).connect(LONG).unwrap();
    admin.delete(&path, -1).unwrap();
    assert!(b.wait_until_master(LONG), "b never took over");
    let b_node = admin.exists(&path, false).unwrap().unwrap();
    assert_eq!(b_node.ephemeral_owner, b.session_id());
    proxy.set_mode(ProxyMode::Pass);
    assert!(
        eventually(LONG, || count(&ra, "connected") == 2),
        "a never reconnected: {:?}",
        ra.events.lock()
    );
    // A's resign runs at once on reconnecting; give it a second to do harm.
    std::thread::sleep(Duration::from_secs(1));
    let now = admin.exists(&path, false).unwrap();
    assert_eq!(
        now.map(|s| s.czxid),
        Some(b_node.czxid),
        "a's late resign removed b's node: {:?}",
        ra.events.lock()
    );
    assert!(b.is_master(), "{:?}", rb.events.lock());
    assert!(!a.is_master());
}

#[test]
fn a_resign_during_a_partition_that_outlasts_the_session_ends_in_a_fresh_one() {
    // A resigns while cut off, and stays cut off until its session has
    // expired on the server: the resign cannot be carried out any more and
    // must not hold the elector. Back, A opens a fresh session (F2) and
    // contends again.
    let path = format!("{}/m", unique_path("resign-expired"));
    let (proxy, mut c) = via_proxy(&path, "10.0.0.1");
    c.resign_backoff = Duration::from_millis(200);
    let r = Arc::new(Recorder::default());
    let a = Elector::start(c, r.clone()).unwrap();
    assert!(a.wait_until_master(LONG));
    let first = a.session_id();
    assert!(
        resign_while_cut_off(&proxy, &a, &r),
        "the resign was not taken"
    );
    let observer = ZooKeeper::builder(hosts()).connect(LONG).unwrap();
    assert!(
        eventually(LONG, || observer.exists(&path, false).unwrap().is_none()),
        "the session never expired on the server"
    );
    proxy.set_mode(ProxyMode::Pass);
    assert!(
        eventually(LONG, || a.session_id() != first && a.is_master()),
        "no fresh session after the expiry: {:?}",
        r.events.lock()
    );
    assert_eq!(count(&r, "expired"), 1, "{:?}", r.events.lock());
    assert_eq!(
        observer
            .exists(&path, false)
            .unwrap()
            .map(|s| s.ephemeral_owner),
        Some(a.session_id())
    );
}

#[test]
fn a_link_slower_than_the_lease_never_makes_a_master() {
    // Every answer takes longer (2 × 1.1 s) than the lease (T/2 = 2 s):
    // the create succeeds, but a lease counted from when it was sent has
    // run out when its answer arrives, so it proves nothing. The candidate
    // must not become master on it, however often it tries; on a fast link
    // again it does.
    let path = format!("{}/m", unique_path("slow-link"));
    let (proxy, c) = via_proxy(&path, "10.0.0.1");
    let r = Arc::new(Recorder::default());
    proxy.set_delay(Duration::from_millis(1100));
    proxy.set_mode(ProxyMode::Delay);
    let a = Elector::start(c, r.clone()).unwrap();
    let observer = ZooKeeper::builder(hosts()).connect(LONG).unwrap();
    assert!(
        eventually(LONG, || a.session_id() != 0
            && observer
                .exists(&path, false)
                .unwrap()
                .is_some_and(|s| s.ephemeral_owner == a.session_id())),
        "the candidate never created its node: {:?}",
        r.events.lock()
    );
    // Three more leases' worth of answers, none of them in time.
    let until = std::time::Instant::now() + Duration::from_secs(6);
    while std::time::Instant::now() < until {
        assert!(!a.is_master());
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(
        !r.events.lock().iter().any(|x| x.starts_with("master")),
        "master on answers older than the lease: {:?}",
        r.events.lock()
    );
    proxy.set_mode(ProxyMode::Pass);
    assert!(
        a.wait_until_master(LONG),
        "never master on a fast link: {:?}",
        r.events.lock()
    );
}

#[test]
fn after_resigning_a_candidate_is_a_standby_again_once_another_is_master() {
    // The resign back-off keeps the resigner out until another candidate has
    // taken over, not for the whole back-off: once B is master, A watches
    // like any standby and takes over as soon as B resigns in turn.
    let path = format!("{}/m", unique_path("resign-back"));
    let cfg = |data: &str| {
        let mut c = config(&path, data);
        c.resign_backoff = Duration::from_secs(120);
        c
    };
    let a = Elector::start(cfg("10.0.0.1"), Arc::new(())).unwrap();
    assert!(a.wait_until_master(LONG));
    let b = Elector::start(cfg("10.0.0.2"), Arc::new(())).unwrap();
    assert!(eventually(LONG, || b.session_id() != 0));
    a.resign().unwrap();
    assert!(b.wait_until_master(LONG), "b never took over");
    b.resign().unwrap();
    assert!(
        a.wait_until_master(LONG),
        "a stayed out for its whole back-off after b took over"
    );
}

#[test]
fn read_master_tells_no_master_from_a_failed_read() {
    // No node (or no election parent) means no master: Ok(None). A node or
    // parent that may not be read is an error, never "no master" (which
    // would send an operator or a standby the wrong way).
    use zkha::elector::read_master;
    let zk = ZooKeeper::builder(hosts()).connect(LONG).unwrap();
    let top = unique_path("read-master");
    zk.create(&top, b"", &Acl::open_unsafe(), CreateMode::Persistent)
        .unwrap();
    for sequence in [false, true] {
        let missing = format!("{top}/missing");
        assert_eq!(read_master(&zk, &missing, sequence).unwrap(), None);
    }
    let no_read = vec![Acl {
        perms: zkha::Perms::CREATE | zkha::Perms::DELETE | zkha::Perms::WRITE,
        id: zkha::Id::anyone(),
    }];
    let node = format!("{top}/unreadable");
    zk.create(&node, b"10.0.0.1\0", &no_read, CreateMode::Persistent)
        .unwrap();
    assert_eq!(
        read_master(&zk, &node, false).unwrap_err().code(),
        Some(ErrorCode::NoAuth)
    );
    assert_eq!(
        read_master(&zk, &node, true).unwrap_err().code(),
        Some(ErrorCode::NoAuth)
    );
    // A readable parent whose lowest candidate may not be read.
    let parent = format!("{top}/queue");
    zk.create(&parent, b"", &Acl::open_unsafe(), CreateMode::Persistent)
        .unwrap();
    zk.create(
        &format!("{parent}/0000000000000001-n_"),
        b"10.0.0.2\0",
        &no_read,
        CreateMode::EphemeralSequential,
    )
    .unwrap();
    assert_eq!(
        read_master(&zk, &parent, true).unwrap_err().code(),
        Some(ErrorCode::NoAuth)
    );
}

/// Records when (CLOCK_BOOTTIME) and why the mastership ended.
#[derive(Default)]
struct LossClock {
    lost: Mutex<Option<(BootInstant, LostReason)>>,
}

impl Candidate for LossClock {
    fn on_lost_master(&self, reason: LostReason) {
        let now = BootInstant::now();
        self.lost.lock().get_or_insert((now, reason));
    }
}

#[test]
fn a_lease_that_runs_out_ends_the_mastership_when_it_ends() {
    // Cut off in silence (no reset), the master's renewals go unanswered;
    // its lease (T/2 after the last answered renewal was sent) ends before
    // the C client even reports the disconnection (2T/3 after it last heard
    // anything). `on_lost_master` must come when the lease ends, not at the
    // next renewal wake-up (up to T/5 later): until then the application
    // would believe it is master while `token()` already refuses.
    let path = format!("{}/m", unique_path("lease-end"));
    let (proxy, mut c) = via_proxy(&path, "10.0.0.1");
    let session = Duration::from_millis(10_000);
    c.session_timeout = session;
    let r = Arc::new(LossClock::default());
    let e = Elector::start(c, r.clone()).unwrap();
    assert!(e.wait_until_master(LONG));
    proxy.set_mode(ProxyMode::Blackhole);
    // The lease's end as last seen while master (a renewal in flight when
    // the link went silent may still extend it).
    let mut lease_end = e.lease_deadline().expect("a master has a lease");
    let deadline = std::time::Instant::now() + LONG;
    while r.lost.lock().is_none() {
        assert!(
            std::time::Instant::now() < deadline,
            "still master {LONG:?} after the link went silent"
        );
        if let Some(end) = e.lease_deadline() {
            lease_end = lease_end.max(end);
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let (at, reason) = r.lost.lock().clone().unwrap();
    proxy.set_mode(ProxyMode::Pass);
    assert_eq!(reason, LostReason::LeaseExpired);
    let late = at.saturating_duration_since(lease_end);
    assert!(
        late < session / 20,
        "on_lost_master came {late:?} after the lease ended (T = {session:?})"
    );
    e.shutdown();
}

/// CPU time (user + system) of each of this process's threads named
/// `name`, by thread id.
fn threads_cpu(name: &str) -> std::collections::HashMap<String, Duration> {
    let mut out = std::collections::HashMap::new();
    for task in std::fs::read_dir("/proc/self/task").unwrap().flatten() {
        let dir = task.path();
        let comm = std::fs::read_to_string(dir.join("comm")).unwrap_or_default();
        if comm.trim_end() != name {
            continue;
        }
        let Ok(stat) = std::fs::read_to_string(dir.join("stat")) else {
            continue;
        };
        // After the command name: state (field 3) … utime (14), stime (15).
        let rest: Vec<&str> = stat
            .rsplit_once(')')
            .unwrap()
            .1
            .split_whitespace()
            .collect();
        let ticks: u64 = rest[11].parse::<u64>().unwrap() + rest[12].parse::<u64>().unwrap();
        // SAFETY: sysconf only reads a configuration value.
        let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as u64;
        out.insert(
            task.file_name().to_string_lossy().into_owned(),
            Duration::from_millis(ticks * 1000 / hz),
        );
    }
    out
}

#[test]
fn a_cut_off_standby_waits_for_its_connection_without_spinning() {
    // Disconnected, a standby's election thread sleeps until the C client
    // is back. The disconnect timer (step down T/4 after a disconnection)
    // is a master's only: a standby that ran it would find its deadline
    // passed on every wake-up from T/4 on, and spin.
    let path = format!("{}/m", unique_path("quiet-standby"));
    let a = Elector::start(config(&path, "10.0.0.1"), Arc::new(())).unwrap();
    assert!(a.wait_until_master(LONG));
    let others: Vec<String> = threads_cpu("zkha-elector").into_keys().collect();
    let (proxy, mut c) = via_proxy(&path, "10.0.0.2");
    c.session_timeout = Duration::from_millis(8000);
    let b = Elector::start(c, Arc::new(())).unwrap();
    assert!(
        eventually(LONG, || b.session_id() != 0),
        "b never connected"
    );
    // b's election thread (and any another test started meanwhile: idle).
    let cpu = || -> Duration {
        threads_cpu("zkha-elector")
            .into_iter()
            .filter(|(tid, _)| !others.contains(tid))
            .map(|(_, t)| t)
            .sum()
    };
    // Connections reset and refused: b is disconnected at once, and stays
    // so for 5 s (T/4 = 2 s), well within its session.
    proxy.set_mode(ProxyMode::Reset);
    let before = cpu();
    std::thread::sleep(Duration::from_millis(5000));
    let spent = cpu() - before;
    proxy.set_mode(ProxyMode::Pass);
    assert!(!b.is_master() && a.is_master());
    assert!(
        spent < Duration::from_millis(500),
        "the cut-off standby's election thread used {spent:?} of CPU in 5 s"
    );
    b.shutdown();
    a.shutdown();
}

#[test]
fn a_master_that_stepped_down_while_disconnected_is_master_again_once_back() {
    // Disconnected for longer than T/4, the master steps down (F1); its node
    // never left (the session is alive), so once reconnected it is master
    // again, under the same token, and no one else could have won meanwhile.
    let path = format!("{}/m", unique_path("back-again"));
    let (proxy, mut c) = via_proxy(&path, "10.0.0.1");
    c.session_timeout = Duration::from_millis(8000);
    let r = Arc::new(Recorder::default());
    let e = Elector::start(c, r.clone()).unwrap();
    assert!(e.wait_until_master(LONG));
    let token = e.token().unwrap().value();
    // Refused for 3 s: past the disconnect timer (T/4 = 2 s), well within
    // the session.
    proxy.set_mode(ProxyMode::Reset);
    assert!(
        eventually(LONG, || !e.is_master()),
        "still master while cut off"
    );
    std::thread::sleep(Duration::from_millis(3000));
    proxy.set_mode(ProxyMode::Pass);
    assert!(
        eventually(LONG, || e.is_master()),
        "not master again after reconnecting: {:?}",
        r.events.lock()
    );
    assert_eq!(e.token().unwrap().value(), token);
    let changes = || -> Vec<String> {
        r.events
            .lock()
            .iter()
            .filter(|x| x.starts_with("master") || x.starts_with("lost"))
            .cloned()
            .collect()
    };
    // (is_master() holds from the moment the token is set; the hook runs
    // right after.)
    assert!(eventually(LONG, || changes().len() >= 3), "{:?}", changes());
    assert_eq!(
        changes(),
        [
            format!("master {token}"),
            "lost Disconnected".to_owned(),
            format!("master {token}")
        ]
    );
    e.shutdown();
}

/// CPU time the calling thread has used.
fn thread_cpu_now() -> Duration {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: writes the calling thread's CPU clock into our timespec.
    unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

#[test]
fn waiting_to_become_master_sleeps() {
    // A standby's `wait_until_master` looks again every 50 ms (a lease can
    // end without a notification) and sleeps in between.
    let path = format!("{}/m", unique_path("wait-sleeps"));
    let a = Elector::start(config(&path, "10.0.0.1"), Arc::new(())).unwrap();
    assert!(a.wait_until_master(LONG));
    let b = Elector::start(config(&path, "10.0.0.2"), Arc::new(())).unwrap();
    assert!(eventually(LONG, || b
        .current_master()
        .is_ok_and(|m| m.is_some())));
    // Who holds the node, as each sees it (safe profile: by session).
    assert!(a.current_master().unwrap().unwrap().is_me);
    assert!(!b.current_master().unwrap().unwrap().is_me);
    let before = thread_cpu_now();
    assert!(!b.wait_until_master(Duration::from_secs(2)));
    let spent = thread_cpu_now() - before;
    assert!(
        spent < Duration::from_millis(300),
        "waiting 2 s used {spent:?} of CPU"
    );
    b.shutdown();
    a.shutdown();
}

#[test]
fn a_resign_asked_while_stepped_down_holds_once_reconnected() {
    // A master cut off steps down (its lease ran out) but keeps its node
    // and session; a resign asked meanwhile (an operator's `zkha
    // switchover` reaches a master just so, as the chaos family's server
    // restarts showed) must release the node once the link is back, not be
    // dropped while mastership is taken up again on the same node.
    let path = format!("{}/test", unique_path("resign-cut-off"));
    let proxy = TcpProxy::start(hosts()).unwrap();
    let mut c = config(&path, "10.0.0.1");
    c.hosts = proxy.connect_string();
    c.session_timeout = Duration::from_millis(8000);
    // Out for long after the resign: a release is seen as the node gone.
    c.resign_backoff = Duration::from_secs(30);
    let e = Elector::start(c, Arc::new(())).unwrap();
    assert!(e.wait_until_master(LONG));
    let sid = e.session_id();
    let admin = ZooKeeper::builder(hosts()).connect(LONG).unwrap();
    proxy.set_mode(ProxyMode::Blackhole);
    // The lease (T/2) runs out well before the session could expire (T).
    assert!(
        eventually(Duration::from_secs(6), || !e.is_master()),
        "never stepped down while cut off"
    );
    e.resign().unwrap();
    proxy.set_mode(ProxyMode::Pass);
    assert!(
        eventually(LONG, || admin.exists(&path, false).unwrap().is_none()),
        "the resign asked while stepped down was dropped: the node is still {:?} (ours: 0x{sid:x}), master again: {}",
        admin.exists(&path, false).unwrap().map(|s| s.ephemeral_owner),
        e.is_master()
    );
    assert_eq!(e.session_id(), sid, "the session should have survived");
    assert!(!e.is_master());
}
