//! A 3-member ensemble: the client survives losing its server, leaders change.

use crate::common;

use common::{eventually, RawSession};
use std::collections::HashSet;
use std::sync::mpsc;
use std::time::Duration;
use zk_sys::consts::*;
use zkha_testing::{Error, ProxyMode, ServerConfig, ServerMode, TestingCluster};

#[test]
fn ensemble_session_and_ephemeral_survive_losing_the_connected_member() {
    let cluster = TestingCluster::start().unwrap();
    assert_eq!(cluster.len(), 3);
    let leader = cluster.leader().unwrap();
    assert_eq!(cluster.mode(leader).unwrap(), Some(ServerMode::Leader));
    let followers = (0..3)
        .filter(|&i| cluster.mode(i).unwrap() == Some(ServerMode::Follower))
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
    // Members of a plain cluster talk directly: nothing to cut.
    assert!(!cluster.is_partitionable());
    assert!(matches!(
        cluster.isolate(0, ProxyMode::Partition),
        Err(Error::NoProxies)
    ));
    // A member that is not running cannot be paused.
    assert!(matches!(cluster.pause(leader), Err(Error::NotRunning(_))));
}

// ---------------------------------------------------------------------------
// Partitions between members (TestingCluster::with_partitions).

/// Fast partition settings: a member cut off from its leader leaves after
/// syncLimit * tickTime = 1 s.
fn partition_config() -> ServerConfig {
    ServerConfig {
        sync_limit: 5,
        init_limit: 20,
        ..ServerConfig::default()
    }
}

const WAIT: Duration = Duration::from_secs(30);

/// Whether member `i` takes part in a quorum (`srvr` says follower or leader).
fn in_quorum(cluster: &TestingCluster, i: usize) -> bool {
    matches!(
        cluster.mode(i).unwrap(),
        Some(ServerMode::Follower) | Some(ServerMode::Leader)
    )
}

fn followers_of(cluster: &TestingCluster, leader: usize) -> Vec<usize> {
    (0..cluster.len()).filter(|&i| i != leader).collect()
}

/// A ZooKeeper `create` through a client of member `i` alone.
fn write_via(cluster: &TestingCluster, i: usize, path: &str) -> Result<String, i32> {
    let s = RawSession::connect(cluster.address(i).unwrap(), 10_000);
    s.create(path, b"x", ZOO_PERSISTENT)
}

/// `server.N=127.0.0.1:<quorum>:<election>` lines of a member's zoo.cfg, by N-1.
fn config_ports(cluster: &TestingCluster, i: usize) -> (Vec<(u16, u16)>, String) {
    let text = std::fs::read_to_string(cluster.dir(i).unwrap().join("zoo.cfg")).unwrap();
    let mut servers = vec![(0, 0); cluster.len()];
    for line in text.lines() {
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let Some(n) = key.strip_prefix("server.") else {
            continue;
        };
        let n: usize = n.parse().unwrap();
        let ports: Vec<u16> = value
            .split(':')
            .skip(1)
            .map(|p| p.parse().unwrap())
            .collect();
        servers[n - 1] = (ports[0], ports[1]);
    }
    (servers, text)
}

/// Established TCP connections of a process: (local port, remote port), from
/// /proc/net/tcp{,6} and the process's socket descriptors.
fn established(pid: u32) -> Vec<(u16, u16)> {
    let inodes: HashSet<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| {
            d.flatten()
                .filter_map(|e| std::fs::read_link(e.path()).ok())
                .filter_map(|l| {
                    l.to_str()?
                        .strip_prefix("socket:[")?
                        .strip_suffix(']')
                        .map(str::to_owned)
                })
                .collect()
        })
        .unwrap_or_default();
    let mut out = Vec::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let text = std::fs::read_to_string(table).unwrap_or_default();
        for line in text.lines().skip(1) {
            let f: Vec<&str> = line.split_whitespace().collect();
            // sl local rem st tx:rx tr:when retrnsmt uid timeout inode
            if f.len() < 10 || f[3] != "01" || !inodes.contains(f[9]) {
                continue;
            }
            let port = |a: &str| u16::from_str_radix(a.rsplit(':').next().unwrap(), 16).unwrap();
            out.push((port(f[1]), port(f[2])));
        }
    }
    out
}

#[test]
fn partitioned_cluster_routes_every_member_link_through_its_own_proxies() {
    let cluster = TestingCluster::with_partitions(3, partition_config()).unwrap();
    assert!(cluster.is_partitionable());
    let n = cluster.len();
    cluster.wait_for_leader(WAIT).unwrap();

    // Each member names itself with its real ports and each peer through the
    // proxies of that ordered link, which lead to the peer's real ports.
    let views: Vec<(Vec<(u16, u16)>, String)> = (0..n).map(|i| config_ports(&cluster, i)).collect();
    let real: Vec<(u16, u16)> = (0..n).map(|i| views[i].0[i]).collect();
    let mut proxy_ports = HashSet::new();
    for (i, (view, text)) in views.iter().enumerate() {
        assert!(text.contains("reconfigEnabled=false"), "{text}");
        assert!(text.contains("syncLimit=5\n"), "{text}");
        assert!(text.contains("initLimit=20\n"), "{text}");
        for j in (0..n).filter(|&j| j != i) {
            let (q, e) = cluster.peer_proxies(i, j).unwrap();
            assert_eq!(view[j], (q.port(), e.port()), "member {i}'s entry for {j}");
            assert_eq!(q.target().port(), real[j].0);
            assert_eq!(e.target().port(), real[j].1);
            assert!(proxy_ports.insert(q.port()) && proxy_ports.insert(e.port()));
        }
    }
    assert_eq!(
        proxy_ports.len(),
        2 * n * (n - 1),
        "one proxy pair per ordered link"
    );

    // No member's JVM holds a connection to another member's JVM: every
    // quorum and election connection ends at a proxy. A member dialling one
    // of higher id gets dialled back at the election address it sent; member
    // 0 (the lowest id), restarted, dials every other member, so without the
    // proxies' rewrite of that address its links would be direct.
    cluster.kill(0).unwrap();
    cluster.restart(0).unwrap();
    let leader = cluster.wait_for_leader(WAIT).unwrap();
    let pids: Vec<u32> = (0..n).map(|i| cluster.pid(i).unwrap().unwrap()).collect();
    let mut last = (Vec::new(), 0);
    let settled = eventually(WAIT, || {
        let conns: Vec<(u16, u16)> = pids.iter().flat_map(|&p| established(p)).collect();
        let direct: Vec<(u16, u16)> = conns
            .iter()
            .filter(|(l, r)| conns.contains(&(*r, *l)))
            .copied()
            .collect();
        let via_proxy = conns
            .iter()
            .filter(|(_, r)| proxy_ports.contains(r))
            .count();
        assert!(direct.is_empty(), "JVMs connected directly: {direct:?}");
        last = (direct, via_proxy);
        // Two followers' quorum links and the three election links.
        via_proxy >= (n - 1) + n * (n - 1) / 2
    });
    assert!(settled, "peer links through proxies: {last:?}");
    let accepted: u64 = (0..n)
        .flat_map(|i| (0..n).filter(move |&j| j != i).map(move |j| (i, j)))
        .map(|(i, j)| cluster.peer_proxies(i, j).unwrap().0.accepted())
        .sum();
    assert!(
        accepted >= (n - 1) as u64,
        "quorum proxies accepted {accepted}"
    );

    // With a follower cut off, a write through the leader does not reach it,
    // though it may answer reads from its own state for a while.
    let f = followers_of(&cluster, leader)[0];
    let on_f = RawSession::connect(cluster.address(f).unwrap(), 10_000);
    let on_leader = RawSession::connect(cluster.address(leader).unwrap(), 10_000);
    // Control: before the cut, a write through the leader shows on f.
    on_leader.create("/before", b"", ZOO_PERSISTENT).unwrap();
    assert!(eventually(WAIT, || matches!(
        on_f.exists("/before"),
        Ok(Some(_))
    )));

    cluster.isolate(f, ProxyMode::Blackhole).unwrap();
    for (q, e) in (0..n)
        .filter(|&j| j != f)
        .map(|j| cluster.peer_proxies(f, j).unwrap())
    {
        assert_eq!(
            (q.mode(), e.mode()),
            (ProxyMode::Blackhole, ProxyMode::Blackhole)
        );
    }
    on_leader.create("/during", b"", ZOO_PERSISTENT).unwrap();
    // Until f leaves the quorum (and drops its clients), it must not see it.
    let mut answers = 0;
    let left = eventually(WAIT, || match on_f.exists("/during") {
        Ok(Some(_)) => panic!("the isolated follower saw a write made through the leader"),
        Ok(None) => {
            answers += 1;
            !in_quorum(&cluster, f)
        }
        Err(_) => !in_quorum(&cluster, f),
    });
    assert!(left, "the isolated follower stayed in the quorum");
    assert!(answers > 0, "the isolated follower never answered a read");

    cluster.heal(f).unwrap();
    assert!(eventually(WAIT, || cluster.mode(f).unwrap()
        == Some(ServerMode::Follower)));
    let s = RawSession::connect(cluster.address(f).unwrap(), 10_000);
    assert!(eventually(WAIT, || matches!(
        s.exists("/during"),
        Ok(Some(_))
    )));
}

#[test]
fn isolated_follower_leaves_the_quorum_and_comes_back_when_healed() {
    let cluster = TestingCluster::with_partitions(3, partition_config()).unwrap();
    let leader = cluster.wait_for_leader(WAIT).unwrap();
    let fs = followers_of(&cluster, leader);
    let (f, other) = (fs[0], fs[1]);
    assert_eq!(cluster.mode(f).unwrap(), Some(ServerMode::Follower));

    cluster.isolate(f, ProxyMode::Blackhole).unwrap();
    // After about syncLimit * tickTime it stops serving.
    assert!(
        eventually(WAIT, || !in_quorum(&cluster, f)),
        "isolated follower still in the quorum: {:?}",
        cluster.mode(f)
    );
    let srvr = cluster.four_letter_word(f, "srvr").unwrap_or_default();
    assert!(!srvr.contains("Mode: follower"), "{srvr}");
    // The other two keep their leader and take writes.
    assert_eq!(cluster.mode(leader).unwrap(), Some(ServerMode::Leader));
    assert_eq!(cluster.mode(other).unwrap(), Some(ServerMode::Follower));
    write_via(&cluster, other, "/while-cut").unwrap();
    write_via(&cluster, leader, "/while-cut-2").unwrap();
    // It does not come back on its own.
    std::thread::sleep(Duration::from_secs(2));
    assert!(!in_quorum(&cluster, f), "{:?}", cluster.mode(f));

    cluster.heal(f).unwrap();
    assert!(
        eventually(WAIT, || cluster.mode(f).unwrap()
            == Some(ServerMode::Follower)),
        "healed follower did not rejoin: {:?}",
        cluster.mode(f)
    );
    assert_eq!(cluster.leader().unwrap(), leader);
    let s = RawSession::connect(cluster.address(f).unwrap(), 10_000);
    assert!(s.exists("/while-cut").unwrap().is_some());
    assert!(s.exists("/while-cut-2").unwrap().is_some());
}

#[test]
fn isolated_leader_is_replaced_and_rejoins_as_follower() {
    let cluster = TestingCluster::with_partitions(3, partition_config()).unwrap();
    let old = cluster.wait_for_leader(WAIT).unwrap();
    cluster.isolate(old, ProxyMode::Partition).unwrap();
    // The other two elect one of them; the old leader, without a quorum,
    // stops leading.
    let mut new = None;
    let elected = eventually(WAIT, || {
        new = (0..3)
            .filter(|&i| i != old)
            .find(|&i| cluster.mode(i).unwrap() == Some(ServerMode::Leader));
        new.is_some() && !in_quorum(&cluster, old)
    });
    assert!(
        elected,
        "modes: {:?}",
        (0..3).map(|i| cluster.mode(i).unwrap()).collect::<Vec<_>>()
    );
    let new = new.unwrap();
    let follower = (0..3).find(|&i| i != old && i != new).unwrap();
    assert_eq!(cluster.mode(follower).unwrap(), Some(ServerMode::Follower));
    write_via(&cluster, follower, "/after-failover").unwrap();

    cluster.heal(old).unwrap();
    assert!(
        eventually(WAIT, || cluster.mode(old).unwrap()
            == Some(ServerMode::Follower)),
        "old leader did not rejoin: {:?}",
        cluster.mode(old)
    );
    assert_eq!(cluster.leader().unwrap(), new);
    let s = RawSession::connect(cluster.address(old).unwrap(), 10_000);
    assert!(s.exists("/after-failover").unwrap().is_some());
}

#[test]
fn paused_leader_stalls_a_write_until_resumed() {
    // A syncLimit long enough (10 s) that the followers wait for the paused
    // leader instead of electing another.
    let cluster = TestingCluster::with_config(
        3,
        ServerConfig {
            sync_limit: 50,
            ..ServerConfig::default()
        },
    )
    .unwrap();
    let leader = cluster.wait_for_leader(WAIT).unwrap();
    let f = followers_of(&cluster, leader)[0];
    let s = RawSession::connect(cluster.address(f).unwrap(), 20_000);
    s.create("/warm", b"", ZOO_PERSISTENT).unwrap();

    cluster.pause(leader).unwrap();
    assert!(cluster.is_paused(leader).unwrap());
    let (tx, rx) = mpsc::channel();
    let writer = std::thread::spawn(move || {
        let rc = s.create("/stalled", b"", ZOO_PERSISTENT);
        tx.send(rc).unwrap();
        s
    });
    // Not a latency bound: while the leader is stopped, the write cannot
    // commit, however long we look.
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(
        rx.try_recv(),
        Err(mpsc::TryRecvError::Empty),
        "a write completed while the leader was paused"
    );
    cluster.resume(leader).unwrap();
    assert!(!cluster.is_paused(leader).unwrap());
    let rc = rx
        .recv_timeout(WAIT)
        .expect("write still stalled after resume");
    assert_eq!(rc, Ok("/stalled".to_owned()));
    let s = writer.join().unwrap();
    assert!(s.exists("/stalled").unwrap().is_some());
    assert_eq!(cluster.leader().unwrap(), leader);
}

#[test]
fn one_way_and_reset_partitions_cut_a_follower_off() {
    let cluster = TestingCluster::with_partitions(3, partition_config()).unwrap();
    let leader = cluster.wait_for_leader(WAIT).unwrap();
    let f = followers_of(&cluster, leader)[0];
    // Member f plays the client of every link it is on, whichever side
    // dialled: "from f" is the client side of f -> j, the target side of j -> f.
    cluster.isolate(f, ProxyMode::PartitionFrom).unwrap();
    let (q, e) = cluster.peer_proxies(f, leader).unwrap();
    let (rq, re) = cluster.peer_proxies(leader, f).unwrap();
    assert_eq!(
        (q.mode(), e.mode()),
        (ProxyMode::PartitionFrom, ProxyMode::PartitionFrom)
    );
    assert_eq!(
        (rq.mode(), re.mode()),
        (ProxyMode::PartitionTo, ProxyMode::PartitionTo)
    );

    for mode in [
        ProxyMode::PartitionFrom,
        ProxyMode::PartitionTo,
        ProxyMode::Reset,
    ] {
        cluster.isolate(f, mode).unwrap();
        assert!(
            eventually(WAIT, || !in_quorum(&cluster, f)),
            "{mode:?}: follower still in the quorum"
        );
        assert_eq!(
            cluster.mode(leader).unwrap(),
            Some(ServerMode::Leader),
            "{mode:?}"
        );
        cluster.heal(f).unwrap();
        assert!(
            eventually(WAIT, || cluster.mode(f).unwrap()
                == Some(ServerMode::Follower)),
            "{mode:?}: healed follower did not rejoin: {:?}",
            cluster.mode(f)
        );
    }
    // A member has no link to itself; bad indexes are typed errors.
    assert!(matches!(
        cluster.cut(f, f, ProxyMode::Pass),
        Err(Error::InvalidConfig(_))
    ));
    assert!(matches!(
        cluster.isolate(9, ProxyMode::Pass),
        Err(Error::NoSuchMember(9))
    ));
}
