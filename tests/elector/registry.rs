//! The candidates' registry and the control node (`zkha::elector::registry`)
//! in-process, against the shared server: every safe candidate registers
//! (name, data, priority, readiness, role, session), names are unique,
//! readiness and priority 0 keep a candidate from taking over, a ready
//! higher priority is preferred when the master goes, a switchover lets
//! only its target win (and the winner's claim resets the control node), a
//! resign names the master by its token, the election's ACL keeps out
//! whoever lacks its credentials, a standby's claim goes with its watch on
//! the master node (not after a change of the control node, except for a
//! switchover's target), and a stopping master closes its session only
//! after its successor's claim. Judged by the master node's owner, the
//! electors' own hooks and the registry as an admin session reads it.

use crate::common;

use common::eventually;
use parking_lot::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use zkha::elector::registry::{self, CandidateEntry, ControlOp, Role};
use zkha::elector::{AclChoice, Auth, Candidate, Elector, ElectorConfig, FencingToken, LostReason};
use zkha::{Acl, CreateMode, Error, ErrorCode, ZooKeeper};
use zkha_testing::{unique_path, TestingServer};

const LONG: Duration = Duration::from_secs(30);

fn hosts() -> &'static str {
    common::fail_fast();
    TestingServer::shared().unwrap().connect_string()
}

/// What a candidate was told.
#[derive(Default)]
struct Rec {
    became: AtomicUsize,
    lost: Mutex<Vec<LostReason>>,
    errors: Mutex<Vec<Option<ErrorCode>>>,
    handovers: Mutex<Vec<String>>,
}

impl Rec {
    fn became(&self) -> usize {
        self.became.load(Ordering::SeqCst)
    }
}

impl Candidate for Rec {
    fn on_became_master(&self, _token: FencingToken) {
        self.became.fetch_add(1, Ordering::SeqCst);
    }
    fn on_lost_master(&self, reason: LostReason) {
        self.lost.lock().push(reason);
    }
    fn on_error(&self, error: &Error) {
        self.errors.lock().push(error.code());
    }
    fn on_handover_requested(&self, why: &str) -> bool {
        self.handovers.lock().push(why.to_owned());
        true
    }
}

/// A safe candidate named `name` (data `10.0.0.<n>`), fast polls.
fn config(path: &str, name: Option<&str>, data: &str) -> ElectorConfig {
    zkha::logging::set_debug_level(zkha::logging::LogLevel::Warn);
    let mut c = ElectorConfig::new(hosts(), path);
    c.data = zkha::net::seed_text_data(data);
    c.name = name.map(str::to_owned);
    c.poll_interval = Duration::from_millis(100);
    c.session_timeout = Duration::from_millis(4000);
    c
}

fn start(c: ElectorConfig) -> (Elector, Arc<Rec>) {
    let r = Arc::new(Rec::default());
    (Elector::start(c, r.clone()).unwrap(), r)
}

fn admin() -> ZooKeeper {
    ZooKeeper::builder(hosts()).connect(LONG).unwrap()
}

fn entries(zk: &ZooKeeper, path: &str) -> Vec<CandidateEntry> {
    registry::read_candidates(zk, path).unwrap()
}

fn entry(zk: &ZooKeeper, path: &str, name: &str) -> Option<CandidateEntry> {
    entries(zk, path).into_iter().find(|e| e.name == name)
}

/// `(name, role)` of every registered candidate, by name.
fn roles(zk: &ZooKeeper, path: &str) -> Vec<(String, Role)> {
    entries(zk, path)
        .into_iter()
        .map(|e| (e.name, e.role))
        .collect()
}

fn owned(list: &[(&str, Role)]) -> Vec<(String, Role)> {
    list.iter().map(|(n, r)| ((*n).to_owned(), *r)).collect()
}

/// The session that owns the master node, if any.
fn master_owner(zk: &ZooKeeper, path: &str) -> Option<i64> {
    zk.exists(path, false).unwrap().map(|s| s.ephemeral_owner)
}

/// Writes `op` to the control node, version-checked, as `zkha switchover`
/// would.
fn write_control(zk: &ZooKeeper, path: &str, op: &ControlOp) {
    let (_, stat) = registry::read_control(zk, path).unwrap().unwrap();
    zk.set(&registry::control_path(path), &op.encode(), stat.version)
        .unwrap();
}

fn control_data(zk: &ZooKeeper, path: &str) -> Vec<u8> {
    zk.get(&registry::control_path(path), false).unwrap().0
}

/// Waits until the registry shows `master` as master, then a little more:
/// the standbys see the new master and the new master's own writes are
/// answered. The tests of the designed behaviour go through this before an
/// event; the `fault_*` tests below run without it, and caught two faults
/// of the library that it used to hide (now fixed): a standby whose
/// deferral did not see the last master deferred no more (or claimed as
/// the master it saw went), and a shutdown while a write was in flight
/// left the node to the session's expiry.
fn settle(zk: &ZooKeeper, path: &str, master: &str) {
    assert!(
        eventually(LONG, || entry(zk, path, master)
            .is_some_and(|e| e.role == Role::Master)),
        "{master} never showed as master: {:?}",
        entries(zk, path)
    );
    std::thread::sleep(Duration::from_millis(300));
}

/// Asserts for `d` that `f` keeps holding.
fn holds_for(d: Duration, mut f: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + d;
    while Instant::now() < end {
        if !f() {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    f()
}

#[test]
fn every_candidate_registers_its_entry_and_role_and_leaves_with_its_session() {
    let path = format!("{}/m", unique_path("reg-entries"));
    let zk = admin();
    let mut ca = config(&path, Some("a"), "10.0.0.1");
    ca.stop_timeout = Duration::from_millis(1500);
    let (a, _) = start(ca);
    assert!(a.wait_until_master(LONG));
    let mut cb = config(&path, Some("b"), "10.0.0.2");
    cb.priority = 70;
    let (b, _) = start(cb);
    let want = owned(&[("a", Role::Master), ("b", Role::Standby)]);
    assert!(
        eventually(LONG, || roles(&zk, &path) == want),
        "{:?}",
        entries(&zk, &path)
    );
    let list = entries(&zk, &path);
    let (ea, eb) = (&list[0], &list[1]);
    assert_eq!(
        (ea.data.as_slice(), ea.priority, ea.ready, ea.session),
        (&b"10.0.0.1\0"[..], 100, true, a.session_id())
    );
    assert_eq!(
        (eb.data.as_slice(), eb.priority, eb.ready, eb.session),
        (&b"10.0.0.2\0"[..], 70, true, b.session_id())
    );
    assert_eq!(
        (ea.data_text(), eb.data_text()),
        ("10.0.0.1".into(), "10.0.0.2".into())
    );
    assert_eq!((ea.stop_timeout_ms, eb.stop_timeout_ms), (1500, 0));
    assert!(ea.session != 0 && ea.session != eb.session);
    assert_eq!((ea.profile.as_str(), eb.profile.as_str()), ("safe", "safe"));
    assert_eq!(ea.version, env!("CARGO_PKG_VERSION"));
    assert!(!ea.yielding && !eb.yielding);
    assert_eq!((a.name(), b.name()), (Some("a".into()), Some("b".into())));
    // The elector reads the same registry with its own session.
    let seen: Vec<(String, i64)> = b
        .candidates()
        .unwrap()
        .into_iter()
        .map(|e| (e.name, e.session))
        .collect();
    assert_eq!(
        seen,
        [("a".into(), a.session_id()), ("b".into(), b.session_id())]
    );

    // A handover: the roles follow, and `since` moves.
    let since_b = eb.since_ms;
    a.resign().unwrap();
    assert!(b.wait_until_master(LONG));
    let want = owned(&[("a", Role::Standby), ("b", Role::Master)]);
    assert!(
        eventually(LONG, || roles(&zk, &path) == want),
        "{:?}",
        entries(&zk, &path)
    );
    assert!(entry(&zk, &path, "b").unwrap().since_ms >= since_b);

    // Shut down: its entry goes with its session; a takes over again.
    b.shutdown();
    assert!(
        eventually(LONG, || roles(&zk, &path) == owned(&[("a", Role::Master)])),
        "{:?}",
        entries(&zk, &path)
    );
    assert!(a.is_master());
    assert_eq!(entry(&zk, &path, "a").unwrap().session, a.session_id());
    a.shutdown();
    assert!(
        eventually(LONG, || entries(&zk, &path).is_empty()),
        "{:?}",
        entries(&zk, &path)
    );
}

#[test]
fn default_names_are_the_data_made_unique() {
    let path = format!("{}/m", unique_path("reg-default-names"));
    let zk = admin();
    let (one, _) = start(config(&path, None, "10.0.0.7"));
    assert!(eventually(LONG, || one.name().is_some()));
    let (two, _) = start(config(&path, None, "10.0.0.7"));
    assert!(eventually(LONG, || entries(&zk, &path).len() == 2));
    assert_eq!(one.name().as_deref(), Some("10.0.0.7"));
    assert_eq!(two.name().as_deref(), Some("10.0.0.7-2"));
    let list = entries(&zk, &path);
    let got: Vec<(&str, &[u8], i64)> = list
        .iter()
        .map(|e| (e.name.as_str(), e.data.as_slice(), e.session))
        .collect();
    assert_eq!(
        got,
        [
            ("10.0.0.7", &b"10.0.0.7\0"[..], one.session_id()),
            ("10.0.0.7-2", &b"10.0.0.7\0"[..], two.session_id()),
        ]
    );
}

#[test]
fn a_name_another_live_candidate_holds_ends_the_candidacy() {
    let path = format!("{}/m", unique_path("reg-dup"));
    let zk = admin();
    let (first, _) = start(config(&path, Some("dup"), "10.0.0.1"));
    assert!(first.wait_until_master(LONG));
    let mut c = config(&path, Some("dup"), "10.0.0.2");
    c.session_timeout = Duration::from_millis(2000);
    let started = Instant::now();
    let (second, rec) = start(c);
    assert!(
        eventually(LONG, || second.failure().is_some()),
        "the duplicate name was never refused"
    );
    let waited = started.elapsed();
    let failure = second.failure().unwrap();
    assert!(
        failure.contains("\"dup\" is taken") && failure.contains(&path),
        "{failure}"
    );
    // It waited for a crashed predecessor's session to go first.
    assert!(
        waited >= Duration::from_millis(2000),
        "refused after {waited:?}, before the session timeout"
    );
    // The entry stays the first one's; the second was never master, not
    // even once the first is gone.
    let e = entry(&zk, &path, "dup").unwrap();
    assert_eq!(e.session, first.session_id());
    assert_eq!(e.data_text(), "10.0.0.1");
    first.shutdown();
    assert!(holds_for(Duration::from_millis(1500), || !second
        .is_master()
        && master_owner(&zk, &path).is_none()));
    assert_eq!(rec.became(), 0);
    assert!(
        rec.errors.lock().contains(&None),
        "the refusal (an invalid-argument error) was not reported: {:?}",
        rec.errors.lock()
    );
}

#[test]
fn a_candidate_that_is_not_ready_registers_but_never_takes_over_until_ready() {
    let path = format!("{}/m", unique_path("reg-ready"));
    let zk = admin();
    let mut c = config(&path, Some("slow"), "10.0.0.1");
    c.ready = false;
    let (slow, slow_rec) = start(c);
    assert!(eventually(LONG, || entry(&zk, &path, "slow").is_some()));
    let e = entry(&zk, &path, "slow").unwrap();
    assert_eq!(
        (e.ready, e.role, e.session),
        (false, Role::Standby, slow.session_id())
    );
    // Alone: still never master.
    assert!(
        holds_for(Duration::from_secs(3), || !slow.is_master()
            && master_owner(&zk, &path).is_none()),
        "a candidate that is not ready took over, alone"
    );
    // Another, ready, is master; it leaves: still not.
    let (fast, _) = start(config(&path, Some("fast"), "10.0.0.2"));
    assert!(fast.wait_until_master(LONG));
    settle(&zk, &path, "fast");
    let fast_session = fast.session_id();
    fast.shutdown();
    assert!(
        holds_for(Duration::from_millis(1500), || !slow.is_master()
            && master_owner(&zk, &path).is_none()),
        "a candidate that is not ready took over once the master left: slow master {}, node owner {:x?} (slow 0x{:x}, fast 0x{fast_session:x}), slow told became {}",
        slow.is_master(),
        master_owner(&zk, &path),
        slow.session_id(),
        slow_rec.became()
    );
    assert_eq!(slow_rec.became(), 0);

    // Ready: it takes over, and says so in the registry.
    slow.set_ready(true);
    assert!(slow.wait_until_master(LONG), "ready, it never took over");
    assert!(eventually(LONG, || entry(&zk, &path, "slow")
        .is_some_and(|e| e.ready && e.role == Role::Master)));

    // A master set unready stays master (through the Control handle too).
    slow.control().set_ready(false);
    assert!(
        eventually(LONG, || entry(&zk, &path, "slow").is_some_and(|e| !e.ready)),
        "{:?}",
        entries(&zk, &path)
    );
    let owner = slow.session_id();
    assert!(holds_for(Duration::from_millis(1500), || slow.is_master()
        && master_owner(&zk, &path) == Some(owner)));
    assert_eq!(entry(&zk, &path, "slow").unwrap().role, Role::Master);
    assert_eq!(slow_rec.became(), 1);
    assert!(slow_rec.lost.lock().is_empty());
}

#[test]
fn priority_zero_registers_and_never_becomes_master() {
    let path = format!("{}/m", unique_path("reg-prio0"));
    let zk = admin();
    let mut c = config(&path, Some("never"), "10.0.0.1");
    c.priority = 0;
    let (never, rec) = start(c);
    assert!(eventually(LONG, || entry(&zk, &path, "never").is_some()));
    let e = entry(&zk, &path, "never").unwrap();
    assert_eq!(
        (e.priority, e.ready, e.role, e.session),
        (0, true, Role::Standby, never.session_id())
    );
    assert!(
        holds_for(Duration::from_secs(3), || !never.is_master()
            && master_owner(&zk, &path).is_none()),
        "priority 0 took over, alone"
    );
    // Readiness does not change it.
    never.set_ready(false);
    never.set_ready(true);
    assert!(holds_for(Duration::from_millis(1000), || !never.is_master()));
    assert_eq!(rec.became(), 0);
}

#[test]
fn a_ready_higher_priority_wins_when_the_master_goes_and_a_lower_one_when_it_is_not_ready() {
    let path = format!("{}/m", unique_path("reg-prio"));
    let zk = admin();
    let mut ch = config(&path, Some("high"), "10.0.0.1");
    ch.priority = 100;
    let (high, high_rec) = start(ch);
    assert!(high.wait_until_master(LONG));
    let mut cl = config(&path, Some("low"), "10.0.0.2");
    cl.priority = 50;
    let (low, low_rec) = start(cl);
    assert!(eventually(LONG, || entry(&zk, &path, "low").is_some()));

    // A round: a third master (priority 1000) takes over from `high` (a
    // resign), `high` is a ready standby again, then the third goes: both
    // standbys see the node go; `high` must win.
    let third = |round: usize| {
        let mut c = config(&path, Some("third"), "10.0.0.3");
        c.priority = 1000;
        let (t, _) = start(c);
        assert!(
            eventually(LONG, || entry(&zk, &path, "third").is_some()),
            "round {round}: the third never registered"
        );
        t
    };
    let rounds = 20;
    let started = Instant::now();
    for round in 0..rounds {
        assert!(high.is_master(), "round {round}");
        let t = third(round);
        settle(&zk, &path, "high");
        high.resign().unwrap();
        assert!(
            t.wait_until_master(LONG),
            "round {round}: the third never took over"
        );
        assert!(
            eventually(LONG, || entry(&zk, &path, "high")
                .is_some_and(|e| e.ready && !e.yielding && e.role == Role::Standby)),
            "round {round}: {:?}",
            entries(&zk, &path)
        );
        settle(&zk, &path, "third");
        t.shutdown();
        assert!(
            eventually(LONG, || high.is_master() || low.is_master()),
            "round {round}: nobody took over"
        );
        assert!(
            high.is_master() && !low.is_master(),
            "round {round}: the lower priority won while the higher was ready"
        );
        assert_eq!(master_owner(&zk, &path), Some(high.session_id()));
    }
    eprintln!(
        "priority deferral: {rounds} rounds in {} ms",
        started.elapsed().as_millis()
    );
    assert_eq!(low_rec.became(), 0, "the lower priority was master");
    assert!(eventually(LONG, || high_rec.became() == rounds + 1));

    // `high` not ready: `low` does not wait for it.
    let t = third(rounds);
    settle(&zk, &path, "high");
    high.resign().unwrap();
    assert!(t.wait_until_master(LONG));
    high.set_ready(false);
    assert!(eventually(LONG, || entry(&zk, &path, "high")
        .is_some_and(|e| !e.ready && !e.yielding)));
    settle(&zk, &path, "third");
    t.shutdown();
    let gone = Instant::now();
    assert!(
        low.wait_until_master(LONG),
        "the lower priority never took over from a master that went while the higher was not ready"
    );
    let took = gone.elapsed();
    assert!(!high.is_master());
    assert_eq!(master_owner(&zk, &path), Some(low.session_id()));
    // Without a ready better candidate there is no deferral (2 polls: 200 ms).
    assert!(took < Duration::from_millis(1500), "took {took:?}");
}

/// The names, electors and recorders of a switchover test.
struct Field {
    names: Vec<&'static str>,
    electors: Vec<Elector>,
    recs: Vec<Arc<Rec>>,
}

impl Field {
    fn master(&self) -> Option<usize> {
        self.electors.iter().position(Elector::is_master)
    }

    fn became(&self) -> Vec<usize> {
        self.recs.iter().map(|r| r.became()).collect()
    }

    fn index(&self, name: &str) -> usize {
        self.names.iter().position(|n| *n == name).unwrap()
    }
}

fn field(path: &str, names: &[&'static str]) -> Field {
    let zk = admin();
    let mut electors = Vec::new();
    let mut recs = Vec::new();
    for (i, n) in names.iter().enumerate() {
        let (e, r) = start(config(path, Some(n), &format!("10.0.1.{}", i + 1)));
        if i == 0 {
            assert!(e.wait_until_master(LONG));
        }
        electors.push(e);
        recs.push(r);
    }
    assert!(eventually(LONG, || entries(&zk, path).len() == names.len()));
    Field {
        names: names.to_vec(),
        electors,
        recs,
    }
}

#[test]
fn a_switchover_lets_only_its_target_win_and_the_claim_resets_the_control_node() {
    let path = format!("{}/m", unique_path("reg-switch"));
    let zk = admin();
    let f = field(&path, &["a", "b", "c", "d"]);
    assert_eq!(f.master(), Some(0));
    assert!(control_data(&zk, &path).is_empty());
    for (round, target) in ["b", "c", "d", "b", "a", "c"].into_iter().enumerate() {
        let before = f.became();
        let old = f.master().unwrap();
        let t = f.index(target);
        write_control(
            &zk,
            &path,
            &ControlOp::Switchover {
                to: target.into(),
                timeout: Duration::from_secs(20),
                by: "test".into(),
            },
        );
        // The master is told, resigns, and only the target takes over.
        assert!(
            f.electors[t].wait_until_master(LONG),
            "round {round}: {target} never took over"
        );
        let mut want = before.clone();
        want[t] += 1;
        // (The hook runs just after mastership shows.)
        assert!(
            eventually(LONG, || f.became() == want),
            "round {round}: another won first: {:?} -> {:?}",
            before,
            f.became()
        );
        assert_eq!(master_owner(&zk, &path), Some(f.electors[t].session_id()));
        // The winner's claim reset the control node.
        assert!(
            control_data(&zk, &path).is_empty(),
            "round {round}: the control node still says {:?}",
            String::from_utf8_lossy(&control_data(&zk, &path))
        );
        let told = f.recs[old].handovers.lock().last().cloned();
        assert!(
            told.as_deref()
                .is_some_and(|w| w.contains(&format!("switchover to \"{target}\""))),
            "round {round}: the old master was not told: {told:?}"
        );
        assert_eq!(
            f.recs[old].lost.lock().last(),
            Some(&LostReason::Resigned),
            "round {round}"
        );
        // Nobody else takes over afterwards either.
        assert!(holds_for(Duration::from_millis(300), || f.master() == Some(t)));
    }
    assert!(
        eventually(LONG, || roles(&zk, &path)
            == owned(&[
                ("a", Role::Standby),
                ("b", Role::Standby),
                ("c", Role::Master),
                ("d", Role::Standby)
            ])),
        "{:?}",
        entries(&zk, &path)
    );
}

#[test]
fn a_switchover_to_nobody_holds_everyone_back_for_its_timeout() {
    let path = format!("{}/m", unique_path("reg-switch-none"));
    let zk = admin();
    let f = field(&path, &["a", "b", "c"]);
    let before = f.became();
    let timeout = Duration::from_secs(2);
    write_control(
        &zk,
        &path,
        &ControlOp::Switchover {
            to: "nobody-has-this-name".into(),
            timeout,
            by: "test".into(),
        },
    );
    assert!(
        eventually(LONG, || master_owner(&zk, &path).is_none()),
        "the master was not told to hand over"
    );
    let gone = Instant::now();
    assert!(
        holds_for(timeout - Duration::from_millis(300), || master_owner(
            &zk, &path
        )
        .is_none()),
        "a candidate took over during the switchover, after {:?}: {:?}",
        gone.elapsed(),
        entries(&zk, &path)
    );
    assert_eq!(f.became(), before);
    // Then the election resumes, and the winner's claim clears the node.
    assert!(
        eventually(LONG, || f.master().is_some()),
        "nobody took over after the switchover's timeout"
    );
    let after = gone.elapsed();
    assert!(after >= timeout - Duration::from_millis(300), "{after:?}");
    assert!(after < timeout + Duration::from_secs(5), "{after:?}");
    assert!(control_data(&zk, &path).is_empty());
    assert_eq!(
        f.became().iter().sum::<usize>(),
        before.iter().sum::<usize>() + 1
    );
}

#[test]
fn a_resign_names_the_master_by_its_token() {
    let path = format!("{}/m", unique_path("reg-resign"));
    let zk = admin();
    // The master keeps `Candidate`'s default `on_handover_requested`
    // (resign at once): `Hooks` does not override it.
    let lost: Arc<Mutex<Vec<LostReason>>> = Arc::default();
    let seen = lost.clone();
    let hooks = zkha::elector::Hooks::new().on_lost_master(move |r| seen.lock().push(r));
    let a = Elector::start(config(&path, Some("a"), "10.0.0.1"), Arc::new(hooks)).unwrap();
    assert!(a.wait_until_master(LONG));
    let (b, _) = start(config(&path, Some("b"), "10.0.0.2"));
    assert!(eventually(LONG, || entries(&zk, &path).len() == 2));
    let token = a.token().unwrap().czxid;
    // Another token (an older master's, say): not this master's business.
    write_control(
        &zk,
        &path,
        &ControlOp::Resign {
            token: token - 1,
            by: "test".into(),
        },
    );
    assert!(
        holds_for(Duration::from_millis(1500), || a.is_master()
            && !b.is_master()),
        "a resign with another token moved the master"
    );
    assert!(lost.lock().is_empty());
    write_control(
        &zk,
        &path,
        &ControlOp::Resign {
            token,
            by: "operator".into(),
        },
    );
    assert!(
        b.wait_until_master(LONG),
        "a was told to resign and did not"
    );
    assert!(!a.is_master());
    assert_eq!(*lost.lock(), [LostReason::Resigned]);
    assert!(control_data(&zk, &path).is_empty(), "b's claim reset it");
    // The resign was about a's token only: b stays.
    assert!(holds_for(Duration::from_millis(1500), || b.is_master()));
}

#[test]
fn a_candidate_without_the_elections_credentials_never_registers_nor_wins() {
    let top = unique_path("reg-acl");
    let zk = admin();
    // An open parent: only the registry's ACL (and the master node's) stand
    // in an outsider's way.
    zk.create(&top, b"", &Acl::open_unsafe(), CreateMode::Persistent)
        .unwrap();
    let path = format!("{top}/m");
    let secured = |name: &str, data: &str, credential: &[u8]| {
        let mut c = config(&path, Some(name), data);
        c.auth = Some(Auth {
            scheme: "digest".into(),
            credential: credential.to_vec(),
        });
        c.acl = AclChoice::CreatorAll;
        c
    };
    // The registry is the election's: only its credentials read it.
    let reader = admin();
    reader.add_auth("digest", b"ha:s3cret").unwrap();
    let (owner, _) = start(secured("owner", "10.0.0.1", b"ha:s3cret"));
    assert!(owner.wait_until_master(LONG));
    assert!(eventually(LONG, || entry(&reader, &path, "owner").is_some()));
    assert_eq!(
        registry::read_candidates(&zk, &path).unwrap_err().code(),
        Some(ErrorCode::NoAuth),
        "the registry is readable without the election's credentials"
    );
    let (anon, anon_rec) = start(config(&path, Some("anon"), "10.0.0.2"));
    let (wrong, wrong_rec) = start(secured("wrong", "10.0.0.3", b"ha:wrong"));
    assert!(
        eventually(LONG, || anon_rec
            .errors
            .lock()
            .contains(&Some(ErrorCode::NoAuth))
            && wrong_rec.errors.lock().contains(&Some(ErrorCode::NoAuth))),
        "NoAuth was not reported: anon {:?}, wrong {:?}",
        anon_rec.errors.lock(),
        wrong_rec.errors.lock()
    );
    // Retried, never registered, never master, even once the master is gone.
    owner.shutdown();
    assert!(
        holds_for(Duration::from_secs(2), || !anon.is_master()
            && !wrong.is_master()
            && master_owner(&zk, &path).is_none()),
        "an outsider took over: {:?}",
        zk.exists(&path, false)
    );
    assert!(
        entries(&reader, &path).is_empty(),
        "{:?}",
        entries(&reader, &path)
    );
    assert_eq!((anon_rec.became(), wrong_rec.became()), (0, 0));
    assert_eq!((anon.name(), wrong.name()), (None, None));
    for r in [&anon_rec, &wrong_rec] {
        let errors = r.errors.lock();
        assert!(
            errors.iter().all(|e| *e == Some(ErrorCode::NoAuth)),
            "{errors:?}"
        );
        assert!(errors.len() >= 2, "not retried: {errors:?}");
    }
}

// Faults of the library found by these tests, each reproduced as the
// behaviour it should have; each failed before its fix (steer.rs: a standby
// that sees a master waits for it to go instead of claiming, and a deferral
// starts afresh once a claim changed the control node; sequence mode:
// resets its deferral behind a predecessor and yields after a resign;
// steering.rs: a shutdown waits for registry writes in flight).

#[test]
fn fault_watch_mode_a_50_whose_gate_saw_the_master_never_claims_as_it_goes() {
    // high (100) and low (50) settled as standbys behind a master m (1000).
    // low's gate runs (a readiness change wakes it) just as m leaves: it
    // sees m's node, goes to its claim, and the claim lands after the
    // node went. It must not win while high is ready.
    let path = format!("{}/m", unique_path("fault-toctou"));
    let zk = admin();
    let mk = |name: &str, priority: u32| {
        let mut c = config(&path, Some(name), "10.0.0.9");
        c.priority = priority;
        start(c)
    };
    let (high, _) = mk("high", 100);
    assert!(high.wait_until_master(LONG));
    let (low, low_rec) = mk("low", 50);
    for round in 0..40 {
        let (m, _) = mk("m", 1000);
        assert!(eventually(LONG, || entry(&zk, &path, "m").is_some()));
        let current = if high.is_master() { &high } else { &low };
        current.resign().unwrap();
        assert!(m.wait_until_master(LONG), "round {round}");
        settle(&zk, &path, "m");
        low.set_ready(false);
        low.set_ready(true);
        m.shutdown();
        assert!(eventually(LONG, || high.is_master() || low.is_master()));
        assert_eq!(
            low_rec.became(),
            0,
            "round {round}: low (50) took over while high (100) was ready"
        );
        settle(&zk, &path, "high");
    }
}

#[test]
fn fault_sequence_mode_defers_to_a_ready_better_candidate_every_time() {
    let parent = unique_path("fault-seq-defer");
    let zk = admin();
    let mk = |name: &str, priority: u32| {
        let mut c = config(&parent, Some(name), "10.0.0.9");
        c.mode = zkha::elector::Mode::Sequence;
        c.priority = priority;
        start(c)
    };
    let queued = |n: usize| {
        eventually(LONG, || {
            zk.get_children(&parent, false).map_or(0, |k| k.len()) == n
        })
    };
    // The queue: x1 (1000), low (50), high (100). x1 goes: low, at the
    // head, steps back for high.
    let (x1, _) = mk("x1", 1000);
    assert!(x1.wait_until_master(LONG));
    let (low, low_rec) = mk("low", 50);
    assert!(queued(2));
    let (high, _) = mk("high", 100);
    assert!(queued(3));
    x1.shutdown();
    assert!(eventually(LONG, || high.is_master() || low.is_master()));
    assert!(high.is_master(), "the first time: low (50) won");
    // Again, a while later: x2 (1000) queues behind low, high resigns to
    // the back of the queue: low, at the head, must step back again.
    std::thread::sleep(Duration::from_millis(1000));
    let (x2, _) = mk("x2", 1000);
    assert!(queued(3));
    assert!(eventually(LONG, || entry(&zk, &parent, "x2").is_some()));
    high.resign().unwrap();
    assert!(eventually(LONG, || !high.is_master()));
    assert!(eventually(LONG, || x2.is_master()
        || low.is_master()
        || high.is_master()));
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        low_rec.became(),
        0,
        "the second time: low (50) won while x2 (1000) and high (100) are ready: {:?}",
        roles(&zk, &parent)
    );
}

#[test]
fn fault_sequence_mode_a_resigning_preferred_master_hands_over() {
    // Watch mode hands over (the resigning master is `yielding`); sequence
    // mode should too.
    for mode in [zkha::elector::Mode::Watch, zkha::elector::Mode::Sequence] {
        let parent = unique_path("fault-seq-resign");
        let mk = |name: &str, priority: u32| {
            let mut c = config(&parent, Some(name), "10.0.0.9");
            c.mode = mode;
            c.priority = priority;
            start(c)
        };
        let (high, high_rec) = mk("high", 100);
        assert!(high.wait_until_master(LONG));
        let (low, low_rec) = mk("low", 50);
        let zk = admin();
        assert!(eventually(LONG, || entry(&zk, &parent, "low").is_some()));
        std::thread::sleep(Duration::from_millis(300));
        high.resign().unwrap();
        std::thread::sleep(Duration::from_millis(1500));
        assert!(
            low.is_master() && low_rec.became() == 1 && high_rec.became() == 1,
            "{mode:?}: after high resigned: high master {} (became {}), low master {} (became {})",
            high.is_master(),
            high_rec.became(),
            low.is_master(),
            low_rec.became()
        );
    }
}

#[test]
fn fault_a_master_shut_down_right_after_winning_releases_its_node_at_once() {
    let zk = admin();
    let mut lingered = Vec::new();
    for i in 0..80 {
        let path = format!("{}/m", unique_path("fault-shutdown"));
        let (e, _) = start(config(&path, Some("m"), "10.0.0.2"));
        assert!(e.wait_until_master(LONG));
        if i % 2 == 1 {
            // Past the first re-arm's answer: the release is sent without
            // waiting, ahead of the close (hold.rs, release_before_close).
            std::thread::sleep(Duration::from_millis(30));
        }
        e.shutdown();
        let gone = Instant::now();
        while master_owner(&zk, &path).is_some() && gone.elapsed() < Duration::from_secs(6) {
            std::thread::sleep(Duration::from_millis(5));
        }
        if gone.elapsed() > Duration::from_secs(1) {
            lingered.push((i, gone.elapsed()));
        }
    }
    assert!(
        lingered.is_empty(),
        "the node outlived a graceful shutdown by about the session timeout (4 s): {lingered:?}"
    );
}

/// The `create` lines of a trace file, as (rc, sent by the master node's
/// watch), in order.
fn traced_claims(trace: &std::path::Path) -> Vec<(i64, bool)> {
    std::fs::read_to_string(trace)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|v| v["event"] == "create")
        .map(|v| (v["rc"].as_i64().unwrap_or(-999), v["sent_by"] == "watch"))
        .collect()
}

#[test]
fn a_standbys_claim_goes_with_the_master_nodes_watch_unless_the_control_node_changed() {
    // safe/ahead.rs: a standby waiting on another's master node, whose gate
    // would say go, has that node's watch send its claim. Judged by the
    // standbys' traces, the master node's owner and czxid.
    let path = format!("{}/m", unique_path("reg-ahead"));
    let zk = admin();
    let dir = std::env::temp_dir().join(format!("zkha-ahead-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let traced = |name: &'static str| {
        let trace = dir.join(format!("{name}.trace"));
        let _ = std::fs::remove_file(&trace);
        let mut c = config(&path, Some(name), "10.0.0.7");
        c.trace = Some(trace.clone());
        let (e, _) = start(c);
        (e, trace)
    };
    let (a, a_trace) = traced("a");
    assert!(a.wait_until_master(LONG));
    let (b, b_trace) = traced("b");
    let (c, c_trace) = traced("c");
    assert!(eventually(LONG, || entries(&zk, &path).len() == 3));
    settle(&zk, &path, "a");

    // A resign: a standby's claim goes with the watch, and wins with the
    // created node's czxid as its token.
    let mut by_watch = 0;
    for round in 0..6 {
        let master = [&a, &b, &c].into_iter().find(|e| e.is_master()).unwrap();
        master.resign().unwrap();
        assert!(
            eventually(LONG, || [&a, &b, &c]
                .iter()
                .any(|e| e.is_master() && e.session_id() != master.session_id())),
            "round {round}: nobody took over"
        );
        let winner = [&a, &b, &c].into_iter().find(|e| e.is_master()).unwrap();
        let node = zk.exists(&path, false).unwrap().expect("no master node");
        assert_eq!(node.ephemeral_owner, winner.session_id(), "round {round}");
        assert_eq!(winner.token().unwrap().czxid, node.czxid, "round {round}");
        let name = winner.name().unwrap();
        let trace = dir.join(format!("{name}.trace"));
        if traced_claims(&trace).last() == Some(&(0, true)) {
            by_watch += 1;
        }
        settle(&zk, &path, &name);
    }
    // (A standby whose last look was a yield after its own resign waits
    // on the node without a claim ready: most rounds, not every one.)
    assert!(
        by_watch >= 3,
        "{by_watch} of 6 handovers were claimed by the watch"
    );

    // Switchovers: the control node changed under the standbys' claims
    // ready, so a non-target sends none, and the target readies its claim
    // again, as the target, and has it sent by the watch.
    let traces = [
        ("a", &a, &a_trace),
        ("b", &b, &b_trace),
        ("c", &c, &c_trace),
    ];
    let mut target_by_watch = 0;
    for (round, to) in ["c", "a", "b", "c"].into_iter().enumerate() {
        let master = traces.iter().find(|(_, e, _)| e.is_master()).unwrap().0;
        if master == to {
            continue;
        }
        let before: Vec<usize> = traces
            .iter()
            .map(|(_, _, t)| traced_claims(t).len())
            .collect();
        write_control(
            &zk,
            &path,
            &ControlOp::Switchover {
                to: to.into(),
                timeout: Duration::from_secs(20),
                by: "test".into(),
            },
        );
        let (_, target, _) = traces.iter().find(|(n, _, _)| *n == to).unwrap();
        assert!(
            target.wait_until_master(LONG),
            "round {round}: {to} never took over"
        );
        settle(&zk, &path, to);
        for (k, (name, _, trace)) in traces.iter().enumerate() {
            let claims = traced_claims(trace);
            let ahead: Vec<_> = claims[before[k]..].iter().filter(|(_, w)| *w).collect();
            if *name == to {
                if claims.last() == Some(&(0, true)) {
                    target_by_watch += 1;
                }
            } else {
                assert!(
                    ahead.is_empty(),
                    "round {round}: {name} sent a claim with its watch during a switchover to {to}: {ahead:?}"
                );
            }
        }
    }
    eprintln!("claims by the watch: {by_watch} of 6 resigns, {target_by_watch} switchover targets");
    assert!(
        target_by_watch >= 2,
        "only {target_by_watch} switchover targets claimed with their watch"
    );
    for e in [a, b, c] {
        e.shutdown();
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_stopping_master_closes_its_session_only_after_its_successors_claim() {
    // hold.rs, let_the_successor_claim: the close (a write) is held back
    // until the successor's claim is committed, so it never sits between
    // the release and that claim. Seen from outside: when shutdown()
    // returns, the successor's node is there already.
    let path = format!("{}/m", unique_path("successor-first"));
    let zk = admin();
    let (mut master, _) = start(config(&path, Some("m0"), "10.0.0.3"));
    assert!(master.wait_until_master(LONG));
    let mut there_at_close = 0;
    let rounds = 10;
    for round in 1..=rounds {
        let (standby, _) = start(config(&path, Some(&format!("m{round}")), "10.0.0.3"));
        assert!(eventually(LONG, || entries(&zk, &path).len() == 2));
        settle(&zk, &path, &master.name().unwrap());
        let successor = standby.session_id();
        master.shutdown();
        if master_owner(&zk, &path) == Some(successor) {
            there_at_close += 1;
        }
        assert!(standby.wait_until_master(LONG), "round {round}");
        master = standby;
    }
    master.shutdown();
    // (A loaded machine may let the 50 ms bound pass now and then.)
    assert!(
        there_at_close >= rounds - 2,
        "the successor's node was there at the close in only {there_at_close} of {rounds} handovers"
    );
}
