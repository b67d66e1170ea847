//! The seed profile used as a library (`Elector` with `Profile::Seed`): its
//! one addition to the design, `resign`, hands over to a standby and keeps
//! the resigner out of the contention for `resign_backoff`.

use crate::common;

use common::eventually;
use parking_lot::Mutex;
use std::sync::Arc;
use std::time::Duration;
use zkha::elector::{Candidate, Elector, ElectorConfig, FencingToken, LostReason};
use zkha::{Acl, CreateMode, ZooKeeper};
use zkha_testing::{unique_path, TestingServer};

const LONG: Duration = Duration::from_secs(30);

/// Both candidates' events, in the order they happened.
type Log = Arc<Mutex<Vec<String>>>;

struct Recorder {
    who: &'static str,
    log: Log,
}

impl Candidate for Recorder {
    fn on_became_master(&self, token: FencingToken) {
        self.log
            .lock()
            .push(format!("{} master {}", self.who, token.value()));
    }
    fn on_lost_master(&self, reason: LostReason) {
        self.log
            .lock()
            .push(format!("{} lost {reason:?}", self.who));
    }
}

fn start(config: ElectorConfig, who: &'static str, log: &Log) -> Arc<Elector> {
    let e = Arc::new(
        Elector::start(
            config,
            Arc::new(Recorder {
                who,
                log: log.clone(),
            }),
        )
        .unwrap(),
    );
    let runner = e.clone();
    // The seed's election happens in its run loop (S4).
    std::thread::spawn(move || runner.run());
    e
}

#[test]
fn a_seed_resign_hands_over_and_stays_out_for_the_backoff() {
    let hosts = TestingServer::shared().unwrap().connect_string();
    let zk = ZooKeeper::builder(hosts).connect(LONG).unwrap();
    // The seed never creates parents (S6).
    let parent = unique_path("seed-resign");
    zk.create(&parent, b"", &Acl::open_unsafe(), CreateMode::Persistent)
        .unwrap();
    let path = format!("{parent}/m");
    let config = |data: &str, poll_ms: u64| {
        let mut c = ElectorConfig::seed(hosts, &path);
        c.settle_delay = Duration::ZERO;
        c.data = zkha::net::seed_text_data(data);
        c.poll_interval = Duration::from_millis(poll_ms);
        c.resign_backoff = Duration::from_secs(3);
        c
    };
    let log: Log = Arc::default();
    // A polls fast, B slowly: without the backoff, A would take the node
    // back long before B's next poll.
    let a = start(config("10.0.0.1", 20), "a", &log);
    assert!(eventually(LONG, || a.is_master()), "a never became master");
    let b = start(config("10.0.0.2", 300), "b", &log);
    std::thread::sleep(Duration::from_millis(700));
    assert!(!b.is_master(), "b is master while a is");
    a.resign().expect("resign");
    assert!(!a.is_master(), "a is still master after resigning");
    assert!(
        eventually(LONG, || b.is_master()),
        "b never took over: {:?}",
        log.lock()
    );
    let (data, _) = zk.get(&path, false).unwrap();
    assert_eq!(data, zkha::net::seed_text_data("10.0.0.2"));
    let events = log.lock().clone();
    let resigned = events
        .iter()
        .position(|e| e == "a lost Resigned")
        .unwrap_or_else(|| panic!("a's resign was not reported: {events:?}"));
    assert_eq!(
        events[resigned + 1..].first().map(String::as_str),
        Some(
            events
                .iter()
                .find(|e| e.starts_with("b master"))
                .unwrap()
                .as_str()
        ),
        "the next master after a's resign must be b: {events:?}"
    );
    a.stop();
    b.stop();
}

/// CI's fidelity run (`fidelity_session_expiry`): the seed's CONNECTED came
/// before `zookeeper_init` had returned the handle to it, so it never
/// learnt its session (no `connected` trace, session id 0) and, on expiry,
/// re-initialised with no clientid instead of the dead one (S3/F2). The
/// test hook holds the handle back so that CONNECTED comes first.
#[test]
fn a_seed_whose_connected_comes_before_its_handle_still_knows_its_session() {
    let hosts = TestingServer::shared().unwrap().connect_string();
    let zk = ZooKeeper::builder(hosts).connect(LONG).unwrap();
    let parent = unique_path("seed-connected-first");
    zk.create(&parent, b"", &Acl::open_unsafe(), CreateMode::Persistent)
        .unwrap();
    let path = format!("{parent}/m");
    let mut c = ElectorConfig::seed(hosts, &path);
    c.settle_delay = Duration::ZERO;
    c.data = zkha::net::seed_text_data("10.0.0.1");
    c.poll_interval = Duration::from_millis(20);
    zkha::__private::set_test_publish_delay(&mut c, Duration::from_millis(500));
    let log: Log = Arc::default();
    let a = start(c, "a", &log);
    assert!(eventually(LONG, || a.is_master()), "a never became master");
    let (_, stat) = zk.get(&path, false).unwrap();
    assert_ne!(a.session_id(), 0, "the seed never learnt its session");
    assert_eq!(stat.ephemeral_owner, a.session_id());
    a.stop();
}
