//! zk-sys against a real server: the raw C client calls the seed design makes.

use crate::common;

use common::{eventually, RawSession};
use std::time::{Duration, Instant};
use zk_sys::consts::*;
use zkha_testing::{unique_path, TestingServer};

#[test]
fn sys_smoke_ephemeral_master_node_round_trip() {
    let server = TestingServer::shared().unwrap();
    let parent = unique_path("smoke");
    let master = format!("{parent}/test");
    // 30 s sessions: a node that vanishes within seconds was removed by close,
    // not by expiry.
    let holder = RawSession::connect(server.connect_string(), 30_000);
    let events = holder.events();
    assert_eq!(
        events[0].0, ZOO_SESSION_EVENT,
        "first watcher call: {events:?}"
    );
    assert_eq!(events[0].1, ZOO_CONNECTED_STATE);
    assert_eq!(holder.state(), ZOO_CONNECTED_STATE);

    // S6: without the parent, create fails with ZNONODE.
    let data = b"127.0.0.1\0";
    assert_eq!(
        holder.create(&master, data, ZOO_EPHEMERAL),
        Err(zk_sys::ZNONODE)
    );
    holder.create(&parent, b"", ZOO_PERSISTENT).unwrap();
    // S5: the node's data is the IP text including its trailing NUL.
    assert_eq!(
        holder.create(&master, data, ZOO_EPHEMERAL),
        Ok(master.clone())
    );
    assert_eq!(
        holder.create(&master, data, ZOO_EPHEMERAL),
        Err(zk_sys::ZNODEEXISTS)
    );

    let (got, stat) = holder.get(&master).unwrap();
    assert_eq!(got, data, "node bytes differ");
    assert_eq!(stat.dataLength as usize, data.len());
    let id = holder.client_id();
    assert_ne!(id.client_id, 0);
    assert_eq!(
        stat.ephemeralOwner, id.client_id,
        "ephemeralOwner is not our session"
    );

    let other = RawSession::connect(server.connect_string(), 30_000);
    assert_ne!(other.client_id().client_id, id.client_id);
    let seen = other.get(&master).unwrap();
    assert_eq!(seen.0, data);
    assert_eq!(seen.1.ephemeralOwner, id.client_id);

    let closed_at = Instant::now();
    assert_eq!(holder.close(), zk_sys::ZOK);
    assert!(
        eventually(Duration::from_secs(5), || matches!(
            other.exists(&master),
            Ok(None)
        )),
        "ephemeral node still there {:?} after zookeeper_close",
        closed_at.elapsed()
    );
    // The parent is persistent and stays.
    assert!(other.exists(&parent).unwrap().is_some());
}
