//! A 3-member ensemble: the client survives losing its server, leaders change.

mod common;

use common::RawSession;
use std::time::Duration;
use zk_sys::consts::*;
use zkha::testing::{Mode, TestingCluster};

#[test]
fn ensemble_session_and_ephemeral_survive_losing_the_connected_member() {
    let cluster = TestingCluster::start().unwrap();
    assert_eq!(cluster.len(), 3);
    let leader = cluster.leader().unwrap();
    assert_eq!(cluster.mode(leader).unwrap(), Some(Mode::Leader));
    let followers = (0..3)
        .filter(|&i| cluster.mode(i).unwrap() == Some(Mode::Follower))
        .count();
    assert_eq!(followers, 2);

    let s = RawSession::connect(&cluster.connect_string(), 10_000);
    let session = s.client_id().client_id;
    let data = b"10.0.0.1\0";
    s.create("/master", b"", ZOO_PERSISTENT).unwrap();
    s.create("/master/test", data, ZOO_EPHEMERAL).unwrap();

    let before = s.current_server();
    let victim = cluster
        .index_of(&before)
        .expect("current server is a member");
    let seen = s.events().len();
    cluster.kill(victim).unwrap();
    assert!(!cluster.is_running(victim).unwrap());

    let lost = s
        .wait_for_after(
            seen,
            ZOO_SESSION_EVENT,
            ZOO_CONNECTING_STATE,
            Duration::from_secs(20),
        )
        .expect("no SESSION/CONNECTING after the member died");
    s.wait_for_after(
        lost,
        ZOO_SESSION_EVENT,
        ZOO_CONNECTED_STATE,
        Duration::from_secs(30),
    )
    .expect("no reconnect to another member");
    let after = s.current_server();
    assert_ne!(after, before, "reconnected to the killed member?");
    assert_eq!(s.client_id().client_id, session, "session id changed");
    let (got, stat) = s.get("/master/test").unwrap();
    assert_eq!(got, data);
    assert_eq!(stat.ephemeralOwner, session);

    // The killed member comes back with its data; then the leader goes and a
    // new one is elected among the others.
    cluster.restart(victim).unwrap();
    let leader = cluster.wait_for_leader(Duration::from_secs(30)).unwrap();
    cluster.kill(leader).unwrap();
    let new_leader = cluster.wait_for_leader(Duration::from_secs(60)).unwrap();
    assert_ne!(new_leader, leader);
    assert!(cluster.address(7).is_err());
}
