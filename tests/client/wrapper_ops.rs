//! Every synchronous and asynchronous operation of the wrapper, against a
//! real server.

use std::collections::HashSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use zkha::validate::MAX_DATA_LEN;
use zkha::{pending, Acl, CreateMode, Error, ErrorCode, Id, Op, OpResult, Perms, ZooKeeper};
use zkha_testing::{unique_path, ProxyMode, TcpProxy, TestingServer};

fn connect() -> ZooKeeper {
    zkha::logging::set_debug_level(zkha::logging::LogLevel::Warn);
    let server = TestingServer::shared().unwrap();
    ZooKeeper::builder(server.connect_string())
        .session_timeout_ms(10_000)
        .connect(Duration::from_secs(30))
        .unwrap()
}

fn code(e: Error) -> ErrorCode {
    e.code()
        .unwrap_or_else(|| panic!("not a ZooKeeper error code: {e}"))
}

#[test]
fn create_modes_and_stat() {
    let zk = connect();
    let open = Acl::open_unsafe();
    let base = unique_path("modes");
    assert_eq!(
        zk.create(&base, b"", &open, CreateMode::Persistent)
            .unwrap(),
        base
    );
    let (p, stat) = zk
        .create2(
            &format!("{base}/eph"),
            b"10.0.0.1\0",
            &open,
            CreateMode::Ephemeral,
        )
        .unwrap();
    assert_eq!(stat.ephemeral_owner, zk.client_id().unwrap().id);
    assert_eq!(stat.data_length, 9);
    assert_eq!(stat.version, 0);
    assert_eq!(zk.get(&p, false).unwrap().1, stat);

    let s1 = zk
        .create(
            &format!("{base}/seq-"),
            b"",
            &open,
            CreateMode::PersistentSequential,
        )
        .unwrap();
    let s2 = zk
        .create(
            &format!("{base}/seq-"),
            b"",
            &open,
            CreateMode::EphemeralSequential,
        )
        .unwrap();
    assert!(
        s1.starts_with(&format!("{base}/seq-")) && s1.len() == base.len() + 5 + 10,
        "{s1}"
    );
    assert!(s2 > s1, "sequence numbers grow: {s1} then {s2}");
    // Sequential create of "<dir>/" makes a child named by its number alone.
    let bare = zk
        .create(
            &format!("{base}/"),
            b"",
            &open,
            CreateMode::PersistentSequential,
        )
        .unwrap();
    assert_eq!(bare.len(), base.len() + 11);

    let container = format!("{base}/container");
    zk.create(&container, b"", &open, CreateMode::Container)
        .unwrap();
    let ttl = zk
        .create2(
            &format!("{base}/ttl"),
            b"t",
            &open,
            CreateMode::PersistentWithTtl { ttl_ms: 60_000 },
        )
        .unwrap();
    assert_eq!(ttl.1.data_length, 1);
    let ttl_seq = zk
        .create(
            &format!("{base}/ttlseq-"),
            b"",
            &open,
            CreateMode::PersistentSequentialWithTtl { ttl_ms: 60_000 },
        )
        .unwrap();
    assert!(ttl_seq.len() > base.len() + 8);
    assert!(matches!(
        zk.create(
            &format!("{base}/bad"),
            b"",
            &open,
            CreateMode::PersistentWithTtl { ttl_ms: 0 }
        ),
        Err(Error::InvalidArgument { .. })
    ));

    assert_eq!(
        code(
            zk.create(&base, b"", &open, CreateMode::Persistent)
                .unwrap_err()
        ),
        ErrorCode::NodeExists
    );
    assert_eq!(
        code(
            zk.create("/zkha-no-such-parent/x", b"", &open, CreateMode::Ephemeral)
                .unwrap_err()
        ),
        ErrorCode::NoNode
    );
    assert_eq!(
        code(
            zk.create(&format!("{p}/child"), b"", &open, CreateMode::Persistent)
                .unwrap_err()
        ),
        ErrorCode::NoChildrenForEphemerals
    );
}

#[test]
fn get_set_delete_and_versions() {
    let zk = connect();
    let open = Acl::open_unsafe();
    let path = unique_path("gsd");
    zk.create(&path, b"v0", &open, CreateMode::Persistent)
        .unwrap();
    zk.set(&path, b"v1", 0).unwrap();
    assert_eq!(
        code(zk.set(&path, b"v2", 0).unwrap_err()),
        ErrorCode::BadVersion
    );
    let stat = zk.set2(&path, b"v2", -1).unwrap();
    assert_eq!(stat.version, 2);
    let (data, stat2) = zk.get(&path, false).unwrap();
    assert_eq!(data, b"v2");
    assert_eq!(stat2, stat);
    assert_eq!(zk.exists(&path, false).unwrap(), Some(stat));
    // Empty data and binary data with NULs come back byte for byte.
    zk.set(&path, b"", -1).unwrap();
    assert_eq!(zk.get(&path, false).unwrap().0, b"");
    zk.set(&path, b"a\0b\0", -1).unwrap();
    assert_eq!(zk.get(&path, false).unwrap().0, b"a\0b\0");

    assert_eq!(
        code(zk.delete(&path, 0).unwrap_err()),
        ErrorCode::BadVersion
    );
    zk.delete(&path, -1).unwrap();
    assert_eq!(zk.exists(&path, false).unwrap(), None);
    assert_eq!(code(zk.get(&path, false).unwrap_err()), ErrorCode::NoNode);
    assert_eq!(code(zk.delete(&path, -1).unwrap_err()), ErrorCode::NoNode);
    assert_eq!(
        code(zk.set(&path, b"x", -1).unwrap_err()),
        ErrorCode::NoNode
    );
}

#[test]
fn large_values_are_never_truncated() {
    let zk = connect();
    let open = Acl::open_unsafe();
    let path = unique_path("large");
    // Just under the server's default jute.maxbuffer (1 MiB - 1 for the
    // whole request).
    let big: Vec<u8> = (0..1_000_000u32).map(|i| (i * 7 % 251) as u8).collect();
    zk.create(&path, &big, &open, CreateMode::Persistent)
        .unwrap();
    let (got, stat) = zk.get(&path, false).unwrap();
    assert_eq!(stat.data_length as usize, big.len());
    assert!(got == big, "value differs (got {} bytes)", got.len());
    let (done, result) = pending();
    zk.aget(&path, done).unwrap();
    assert!(result.wait().unwrap().0 == big);
    let too_big = vec![0u8; MAX_DATA_LEN + 1];
    assert!(matches!(
        zk.set(&path, &too_big, -1),
        Err(Error::InvalidArgument {
            argument: zkha::error::Argument::Data,
            ..
        })
    ));
}

#[test]
fn children_acl_multi_sync_config() {
    let zk = connect();
    let open = Acl::open_unsafe();
    let base = unique_path("kids");
    zk.create(&base, b"", &open, CreateMode::Persistent)
        .unwrap();
    for name in ["b", "a", "c"] {
        zk.create(
            &format!("{base}/{name}"),
            b"",
            &open,
            CreateMode::Persistent,
        )
        .unwrap();
    }
    let mut kids = zk.get_children(&base, false).unwrap();
    kids.sort();
    assert_eq!(kids, ["a", "b", "c"]);
    let (kids2, stat) = zk.get_children2(&base, false).unwrap();
    assert_eq!(kids2.len(), 3);
    assert_eq!(stat.num_children, 3);
    assert_eq!(code(zk.delete(&base, -1).unwrap_err()), ErrorCode::NotEmpty);

    let (acl, _) = zk.get_acl(&base).unwrap();
    assert_eq!(acl, Acl::open_unsafe());
    let read_only = Acl::read_unsafe();
    zk.set_acl(&format!("{base}/a"), -1, &read_only).unwrap();
    assert_eq!(zk.get_acl(&format!("{base}/a")).unwrap().0, read_only);
    assert_eq!(
        code(zk.set(&format!("{base}/a"), b"x", -1).unwrap_err()),
        ErrorCode::NoAuth
    );
    assert!(matches!(
        zk.set_acl(&base, -1, &[]),
        Err(Error::InvalidArgument { .. })
    ));

    let ops = vec![
        Op::Create {
            path: format!("{base}/m"),
            data: b"m".to_vec(),
            acl: open.clone(),
            mode: CreateMode::Persistent,
        },
        Op::Set {
            path: format!("{base}/b"),
            data: b"bb".to_vec(),
            version: 0,
        },
        Op::Check {
            path: format!("{base}/c"),
            version: 0,
        },
        Op::Delete {
            path: format!("{base}/c"),
            version: -1,
        },
    ];
    let results = zk.multi(&ops).unwrap();
    assert_eq!(
        results[0],
        OpResult::Create {
            path: format!("{base}/m")
        }
    );
    match &results[1] {
        OpResult::Set { stat } => assert_eq!(stat.version, 1),
        other => panic!("{other:?}"),
    }
    assert_eq!(results[2..], [OpResult::Check, OpResult::Delete]);
    assert_eq!(zk.exists(&format!("{base}/c"), false).unwrap(), None);

    // A failing multi applies nothing and reports each operation.
    let failing = vec![
        Op::Create {
            path: format!("{base}/n"),
            data: vec![],
            acl: open.clone(),
            mode: CreateMode::Persistent,
        },
        Op::Check {
            path: format!("{base}/b"),
            version: 0,
        },
    ];
    match zk.multi(&failing) {
        Err(Error::Multi { code, results }) => {
            assert_eq!(code, ErrorCode::BadVersion);
            assert_eq!(results[1], OpResult::Error(ErrorCode::BadVersion));
            assert_eq!(results[0], OpResult::RolledBack);
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(zk.exists(&format!("{base}/n"), false).unwrap(), None);
    assert!(matches!(zk.multi(&[]), Err(Error::InvalidArgument { .. })));

    zk.sync(&base).unwrap();
    // getconfig reads the server's /zookeeper/config node: the same bytes
    // and Stat as a plain get of it (or the same error).
    match (zk.getconfig(false), zk.get("/zookeeper/config", false)) {
        (Ok((text, stat)), Ok((raw, raw_stat))) => {
            assert_eq!(text.as_bytes(), raw.as_slice());
            assert_eq!(stat, raw_stat);
        }
        (Err(e), Err(raw)) => assert_eq!(code(e), code(raw)),
        other => panic!("getconfig and get of /zookeeper/config differ: {other:?}"),
    }
}

#[test]
fn digest_auth_and_creator_only_acl() {
    let owner = connect();
    owner.add_auth("digest", b"alice:secret").unwrap();
    let path = unique_path("auth");
    owner
        .create(&path, b"mine", &Acl::creator_all(), CreateMode::Persistent)
        .unwrap();
    let (acl, _) = owner.get_acl(&path).unwrap();
    assert_eq!(acl.len(), 1);
    assert_eq!(acl[0].id.scheme, "digest");
    assert!(acl[0].id.id.starts_with("alice:"));
    assert!(acl[0].perms.contains(Perms::ALL));

    let stranger = connect();
    assert_eq!(
        code(stranger.get(&path, false).unwrap_err()),
        ErrorCode::NoAuth
    );
    assert_eq!(
        code(stranger.set(&path, b"x", -1).unwrap_err()),
        ErrorCode::NoAuth
    );
    stranger.add_auth("digest", b"alice:wrong").unwrap();
    assert_eq!(
        code(stranger.get(&path, false).unwrap_err()),
        ErrorCode::NoAuth
    );
    let friend = connect();
    friend.add_auth("digest", b"alice:secret").unwrap();
    assert_eq!(friend.get(&path, false).unwrap().0, b"mine");
    assert!(matches!(
        owner.add_auth("", b"x"),
        Err(Error::InvalidArgument { .. })
    ));
    // The creator-only ACL is C's ZOO_CREATOR_ALL_ACL: ALL for ZOO_AUTH_IDS.
    // SAFETY: C's constant ACL vector and ids, never written; read only.
    let (c_acl, c_id) = unsafe {
        let v = &*std::ptr::addr_of!(zk_sys::ZOO_CREATOR_ALL_ACL);
        assert_eq!(v.count, 1);
        let a = &*v.data;
        let text =
            |p: *mut std::os::raw::c_char| std::ffi::CStr::from_ptr(p).to_str().unwrap().to_owned();
        let ids = &*std::ptr::addr_of!(zk_sys::ZOO_AUTH_IDS);
        (
            (a.perms, text(a.id.scheme), text(a.id.id)),
            (text(ids.scheme), text(ids.id)),
        )
    };
    assert_eq!(
        (Id::creator().scheme, Id::creator().id),
        c_id,
        "Id::creator is ZOO_AUTH_IDS"
    );
    let ours = &Acl::creator_all()[..];
    assert_eq!(ours.len(), 1);
    assert_eq!(
        (
            ours[0].perms.0,
            ours[0].id.scheme.clone(),
            ours[0].id.id.clone()
        ),
        c_acl
    );
}

#[test]
fn async_calls_pipeline_and_complete_once() {
    let zk = connect();
    let open = Acl::open_unsafe();
    let base = unique_path("async");
    let (done, created) = pending();
    zk.acreate(&base, b"root", &open, CreateMode::Persistent, done)
        .unwrap();
    assert_eq!(created.wait().unwrap(), base);

    let (done, set) = pending();
    zk.aset(&base, b"r2", 0, done).unwrap();
    assert_eq!(set.wait().unwrap().version, 1);
    let (done, got) = pending();
    zk.aget(&base, done).unwrap();
    assert_eq!(got.wait().unwrap().0, b"r2");
    let (done, ex) = pending();
    zk.aexists(&format!("{base}/none"), done).unwrap();
    assert_eq!(ex.wait().unwrap(), None);

    // Many requests in flight on one handle.
    let n = 2000;
    let calls = Arc::new(AtomicUsize::new(0));
    let seen = Arc::new(Mutex::new(HashSet::new()));
    let mut waits = Vec::new();
    for i in 0..n {
        let (done, p) = pending();
        let calls = calls.clone();
        let seen = seen.clone();
        zk.acreate(
            &format!("{base}/c{i}"),
            b"",
            &open,
            CreateMode::Persistent,
            move |r: zkha::Result<String>| {
                calls.fetch_add(1, Ordering::SeqCst);
                seen.lock()
                    .unwrap()
                    .insert(r.as_ref().map(|s| s.clone()).unwrap_or_default());
                done(r)
            },
        )
        .unwrap();
        waits.push(p);
    }
    for p in waits {
        p.wait().unwrap();
    }
    assert_eq!(calls.load(Ordering::SeqCst), n);
    assert_eq!(seen.lock().unwrap().len(), n);
    let (done, kids) = pending();
    zk.aget_children(&base, done).unwrap();
    assert_eq!(kids.wait().unwrap().len(), n);

    let (done, multi) = pending();
    zk.amulti(
        &[
            Op::Delete {
                path: format!("{base}/c0"),
                version: -1,
            },
            Op::Set {
                path: base.clone(),
                data: b"m".to_vec(),
                version: -1,
            },
        ],
        done,
    )
    .unwrap();
    let results = multi.wait().unwrap();
    assert_eq!(results[0], OpResult::Delete);
    let (done, del) = pending();
    zk.adelete(&format!("{base}/c1"), -1, done).unwrap();
    del.wait().unwrap();
    let (done, del) = pending();
    zk.adelete(&format!("{base}/c1"), -1, done).unwrap();
    assert_eq!(code(del.wait().unwrap_err()), ErrorCode::NoNode);
    assert_eq!(zk.outstanding_callbacks(), 0, "completion contexts leaked");
}

#[test]
fn close_completes_in_flight_calls_with_closing() {
    let zk = connect();
    let path = unique_path("closing");
    zk.create(&path, b"x", &Acl::open_unsafe(), CreateMode::Persistent)
        .unwrap();
    let n = 500;
    // Per call: how many times its completion ran, and with what.
    let outcomes: Arc<Mutex<Vec<Vec<String>>>> = Arc::new(Mutex::new(vec![Vec::new(); n]));
    for i in 0..n {
        let outcomes = outcomes.clone();
        zk.aget(&path, move |r| {
            let seen = match r {
                Ok((data, _)) => format!("ok {}", String::from_utf8_lossy(&data)),
                Err(e) => format!("err {e:?}"),
            };
            outcomes.lock().unwrap()[i].push(seen);
        })
        .unwrap();
    }
    zk.close().unwrap();
    // Every in-flight call completed exactly once, by the time close
    // returned: answered by the server (the data), or not answered and then
    // with ZCLOSING, nothing else. How many of each varies from run to run.
    let outcomes = outcomes.lock().unwrap().clone();
    let closing = format!("err {:?}", Error::Zk(ErrorCode::Closing));
    let mut closed = 0;
    for (i, calls) in outcomes.iter().enumerate() {
        assert_eq!(
            calls.len(),
            1,
            "call {i} completed {} times: {calls:?}",
            calls.len()
        );
        if calls[0] == closing {
            closed += 1;
        } else {
            assert_eq!(calls[0], "ok x", "call {i}: neither answered nor ZCLOSING");
        }
    }
    assert!(zk.is_closed());
    assert!(
        matches!(zk.close(), Err(Error::Closed)),
        "double close must be refused"
    );
    assert!(matches!(zk.get(&path, false), Err(Error::Closed)));
    assert!(matches!(zk.aget(&path, |_| {}), Err(Error::Closed)));
    assert_eq!(zk.outstanding_callbacks(), 0);
    eprintln!("{closed} of {n} in-flight gets completed with ZCLOSING");
}

/// Asserts a multi that got no answer: `Error::Multi` with a code that
/// leaves the outcome unknown, and every operation `Unknown` (never
/// `RolledBack`: the server may have applied it). Returns the code.
fn assert_unknown(what: &str, r: zkha::Result<Vec<OpResult>>, n: usize) -> ErrorCode {
    match r {
        Err(Error::Multi { code, results }) => {
            assert!(code.leaves_outcome_unknown(), "{what}: {code:?}");
            assert_eq!(results, vec![OpResult::Unknown; n], "{what} ({code:?})");
            code
        }
        other => panic!("{what}: {other:?}"),
    }
}

/// A multi whose answer never comes has an unknown outcome: every operation
/// `Unknown`, for `multi` and `amulti`, whether the connection times out,
/// is reset or the handle closes. The first case shows why: the server did
/// apply that transaction. A multi the server refuses still reports
/// `RolledBack` for the operations that did not fail.
#[test]
fn multi_without_an_answer_is_unknown_not_rolled_back() {
    let server = TestingServer::shared().unwrap();
    let direct = connect();
    let proxy = TcpProxy::start(server.connect_string()).unwrap();
    let zk = ZooKeeper::builder(&proxy.connect_string())
        .session_timeout_ms(3000)
        .connect(Duration::from_secs(30))
        .unwrap();
    let open = Acl::open_unsafe();
    let base = unique_path("multi-unknown");
    direct
        .create(&base, b"", &open, CreateMode::Persistent)
        .unwrap();
    let ops = |name: &str| {
        vec![
            Op::Create {
                path: format!("{base}/{name}"),
                data: b"m".to_vec(),
                acl: open.clone(),
                mode: CreateMode::Persistent,
            },
            Op::Set {
                path: base.clone(),
                data: name.as_bytes().to_vec(),
                version: -1,
            },
        ]
    };
    let wait = Duration::from_secs(30);

    // Requests reach the server, answers are lost: `multi` times out
    // (ZOPERATIONTIMEOUT), and yet the transaction was applied.
    proxy.set_mode(ProxyMode::DropReplies);
    let r = zk.multi(&ops("applied"));
    proxy.set_mode(ProxyMode::Pass);
    assert_unknown("multi, answer lost", r, 2);
    assert!(
        direct
            .exists(&format!("{base}/applied"), false)
            .unwrap()
            .is_some(),
        "the server applied the multi whose answer was lost"
    );

    // The same with amulti.
    zk.wait_connected(wait).unwrap();
    proxy.set_mode(ProxyMode::DropReplies);
    let (done, result) = pending();
    zk.amulti(&ops("applied-async"), done).unwrap();
    let r = result.wait_timeout(wait);
    proxy.set_mode(ProxyMode::Pass);
    assert_unknown("amulti, answer lost", r, 2);
    assert!(direct
        .exists(&format!("{base}/applied-async"), false)
        .unwrap()
        .is_some());

    // Connection reset with the request in flight (or still queued): the
    // C client reports ZCONNECTIONLOSS; here the server never saw it.
    zk.wait_connected(wait).unwrap();
    proxy.set_mode(ProxyMode::Blackhole);
    let (done, result) = pending();
    zk.amulti(&ops("reset"), done).unwrap();
    proxy.reset_all();
    let r = result.wait_timeout(wait);
    proxy.set_mode(ProxyMode::Pass);
    assert_unknown("amulti, connection reset", r, 2);
    assert_eq!(
        direct.exists(&format!("{base}/reset"), false).unwrap(),
        None
    );

    // Refused by the server: known not applied. RolledBack for the
    // operation that did not fail, sync and async alike.
    zk.wait_connected(wait).unwrap();
    let failing = vec![
        Op::Create {
            path: format!("{base}/refused"),
            data: vec![],
            acl: open.clone(),
            mode: CreateMode::Persistent,
        },
        Op::Check {
            path: base.clone(),
            version: 999,
        },
    ];
    let refused = |r: zkha::Result<Vec<OpResult>>| match r {
        Err(Error::Multi { code, results }) => {
            assert_eq!(code, ErrorCode::BadVersion);
            assert_eq!(
                results,
                [OpResult::RolledBack, OpResult::Error(ErrorCode::BadVersion)]
            );
        }
        other => panic!("{other:?}"),
    };
    refused(zk.multi(&failing));
    let (done, result) = pending();
    zk.amulti(&failing, done).unwrap();
    refused(result.wait_timeout(wait));
    assert_eq!(
        direct.exists(&format!("{base}/refused"), false).unwrap(),
        None
    );

    // Closed with an amulti in flight: ZCLOSING, every operation Unknown.
    proxy.set_mode(ProxyMode::Blackhole);
    let (done, result) = pending();
    zk.amulti(&ops("closed"), done).unwrap();
    zk.close().unwrap();
    let code = assert_unknown("amulti, handle closed", result.wait_timeout(wait), 2);
    assert_eq!(code, ErrorCode::Closing);
    assert_eq!(zk.outstanding_callbacks(), 0);
}
