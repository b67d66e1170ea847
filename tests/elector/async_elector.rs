//! The elector from async code, against a real server: `until_master()`
//! and the `changes()` streams, with two electors failing over (a resign,
//! then a shutdown), under tokio's multi-thread runtime and a plain
//! `block_on`.

use futures::StreamExt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use zkha::elector::{Elector, ElectorConfig, LostReason, MasterChange, MasterChanges};
use zkha::Error;
use zkha_testing::{unique_path, ProxyMode, TcpProxy, TestingServer};

const LONG: Duration = Duration::from_secs(30);

fn config(path: &str, ip: &str) -> ElectorConfig {
    zkha::logging::set_debug_level(zkha::logging::LogLevel::Error);
    let hosts = TestingServer::shared().unwrap().connect_string();
    let mut c = ElectorConfig::new(hosts, path);
    c.data = zkha::net::seed_text_data(ip);
    c.poll_interval = Duration::from_millis(100);
    c.session_timeout = Duration::from_millis(4000);
    c
}

async fn within<F: Future>(what: &str, f: F) -> F::Output {
    tokio::time::timeout(LONG, f)
        .await
        .unwrap_or_else(|_| panic!("deadline passed waiting for {what}"))
}

async fn next(what: &str, s: &mut MasterChanges) -> Option<MasterChange> {
    within(what, s.next()).await
}

fn token_of(change: Option<MasterChange>) -> zkha::elector::FencingToken {
    match change {
        Some(MasterChange::BecameMaster(t)) => t,
        other => panic!("expected BecameMaster, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn until_master_and_change_streams_follow_a_failover() {
    let path = format!("{}/test", unique_path("async-elect"));
    // Subscribed before anything happens: two subscribers on `a`.
    let a = Arc::new(Elector::start(config(&path, "10.0.0.1"), Arc::new(())).unwrap());
    let mut a1 = a.changes();
    let mut a2 = a.changes();
    let ta = within("a to win", a.until_master()).await.unwrap().token();
    assert_eq!(a.token(), Some(ta));

    let b = Elector::start(config(&path, "10.0.0.2"), Arc::new(())).unwrap();
    let mut b1 = b.changes();
    let b_master = tokio::spawn(b.control().until_master());

    // Every subscriber of `a` sees the same first change.
    assert_eq!(token_of(next("a1", &mut a1).await), ta);
    assert_eq!(token_of(next("a2", &mut a2).await), ta);
    assert!(!b_master.is_finished() && !b.is_master(), "two masters");

    // Failover 1: a resigns, b takes over with a greater token.
    a.resign().unwrap();
    let tb = within("b to take over", b_master)
        .await
        .unwrap()
        .unwrap()
        .token();
    assert!(tb > ta, "fencing tokens must grow: {ta:?} then {tb:?}");
    assert_eq!(
        next("a1", &mut a1).await,
        Some(MasterChange::LostMaster(LostReason::Resigned))
    );
    assert_eq!(
        next("a2", &mut a2).await,
        Some(MasterChange::LostMaster(LostReason::Resigned))
    );
    assert_eq!(token_of(next("b1", &mut b1).await), tb);
    // A late subscriber starts with the current state.
    let mut b2 = b.changes();
    assert_eq!(b2.try_next(), Some(MasterChange::BecameMaster(tb)));
    assert_eq!(b2.try_next(), None);

    // Failover 2: b shuts down (on a blocking thread: it joins the
    // election thread), a wins again.
    let a_master = a.until_master();
    tokio::task::spawn_blocking(move || b.shutdown())
        .await
        .unwrap();
    let ta2 = within("a to win again", a_master).await.unwrap().token();
    assert!(ta2 > tb, "{tb:?} then {ta2:?}");
    assert_eq!(token_of(next("a1", &mut a1).await), ta2);
    assert_eq!(token_of(next("a2", &mut a2).await), ta2);
    // b's streams: lost by shutdown, then the end.
    assert_eq!(
        next("b1", &mut b1).await,
        Some(MasterChange::LostMaster(LostReason::Shutdown))
    );
    assert_eq!(next("b1 end", &mut b1).await, None);
    assert_eq!(
        next("b2", &mut b2).await,
        Some(MasterChange::LostMaster(LostReason::Shutdown))
    );
    assert_eq!(next("b2 end", &mut b2).await, None);
    // A dropped subscriber does not hold anything up.
    drop(a2);

    // A standby's "until master" ends with an error when its elector shuts
    // down instead of hanging.
    let c = Elector::start(config(&path, "10.0.0.3"), Arc::new(())).unwrap();
    let c_master = tokio::spawn(c.control().until_master());
    let mut c1 = c.changes();
    tokio::task::spawn_blocking(move || c.shutdown())
        .await
        .unwrap();
    assert!(matches!(
        within("c's until_master", c_master).await.unwrap(),
        Err(Error::Stopped)
    ));
    assert_eq!(next("c1 end", &mut c1).await, None, "c never was master");

    let a = Arc::try_unwrap(a).unwrap_or_else(|_| panic!("a is still shared"));
    tokio::task::spawn_blocking(move || a.shutdown())
        .await
        .unwrap();
    assert_eq!(
        next("a1", &mut a1).await,
        Some(MasterChange::LostMaster(LostReason::Shutdown))
    );
    assert_eq!(next("a1 end", &mut a1).await, None);
}

/// Cut off from ZooKeeper, the master steps down on its own (lease or
/// disconnection, F1) and says so on the stream; a new `until_master`
/// stays pending while cut off (its lease cannot be renewed) and resolves
/// once the link is back and mastership is proved again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partition_shows_on_the_stream_and_until_master_waits_for_a_valid_lease() {
    let path = format!("{}/test", unique_path("async-elect-cut"));
    let proxy = TcpProxy::start(TestingServer::shared().unwrap().connect_string()).unwrap();
    let mut c = config(&path, "10.0.0.1");
    c.hosts = proxy.connect_string();
    let e = Elector::start(c, Arc::new(())).unwrap();
    let mut changes = e.changes();
    let t1 = within("the first win", e.until_master())
        .await
        .unwrap()
        .token();
    assert_eq!(token_of(next("became", &mut changes).await), t1);

    proxy.set_mode(ProxyMode::Blackhole);
    match next("the step-down", &mut changes).await {
        Some(MasterChange::LostMaster(
            LostReason::LeaseExpired | LostReason::Disconnected | LostReason::SessionExpired,
        )) => {}
        other => panic!("expected a step-down for the partition, got {other:?}"),
    }
    assert!(!e.is_master());
    let mut again = e.until_master();
    assert!(
        futures::poll!(&mut again).is_pending(),
        "until_master resolved while cut off"
    );

    proxy.set_mode(ProxyMode::Pass);
    let t2 = within("mastership after the partition", again)
        .await
        .unwrap()
        .token();
    // The same node kept by a surviving session (F3), or a new one.
    assert!(t2 >= t1, "{t1:?} then {t2:?}");
    assert_eq!(token_of(next("became again", &mut changes).await), t2);
    tokio::task::spawn_blocking(move || e.shutdown())
        .await
        .unwrap();
}

/// No runtime: `until_master` and a change stream under a plain
/// `block_on`, on its own thread with a deadline.
#[test]
fn until_master_under_a_plain_block_on() {
    let path = format!("{}/test", unique_path("async-elect-block"));
    let a = Elector::start(config(&path, "10.0.0.1"), Arc::new(())).unwrap();
    let (until, mut changes) = (a.until_master(), a.changes());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let r = futures::executor::block_on(async {
            let token = until.await?.token();
            Ok::<_, Error>((token, changes.next().await))
        });
        drop(tx.send(r));
    });
    let (token, first) = rx.recv_timeout(LONG).expect("deadline").unwrap();
    assert_eq!(first, Some(MasterChange::BecameMaster(token)));
    assert_eq!(a.token(), Some(token));
}
