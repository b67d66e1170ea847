//! The future-returning API against a real server, under tokio's
//! multi-thread runtime and under a plain `block_on` (no runtime): the
//! calls, their errors, close, and dropping futures before they complete.

use futures::FutureExt;
use std::future::Future;
use std::time::Duration;
use zkha::{
    pending, Acl, AsyncZooKeeper, CreateMode, Error, ErrorCode, EventType, Op, OpResult, Pending,
    WatchedEvent, ZooKeeper,
};
use zkha_testing::{unique_path, ProxyMode, TcpProxy, TestingServer};

const LONG: Duration = Duration::from_secs(30);

fn connect_to(hosts: &str) -> ZooKeeper {
    zkha::logging::set_debug_level(zkha::logging::LogLevel::Error);
    ZooKeeper::builder(hosts)
        .session_timeout_ms(10_000)
        .connect(LONG)
        .unwrap()
}

fn connect() -> ZooKeeper {
    connect_to(TestingServer::shared().unwrap().connect_string())
}

/// `block_on(f)` on its own thread, with a deadline: a future that is
/// never woken fails the test instead of hanging it.
fn block_on_within<F: Future + Send + 'static>(f: F) -> F::Output
where
    F::Output: Send,
{
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || drop(tx.send(futures::executor::block_on(f))));
    rx.recv_timeout(LONG)
        .expect("a future was never woken (deadline passed)")
}

/// `f` under tokio, with a deadline.
async fn within<F: Future>(f: F) -> F::Output {
    tokio::time::timeout(LONG, f)
        .await
        .expect("a future was never woken (deadline passed)")
}

fn code<T: std::fmt::Debug>(r: zkha::Result<T>) -> ErrorCode {
    match r {
        Err(e) => e
            .code()
            .unwrap_or_else(|| panic!("not a ZooKeeper error code: {e}")),
        Ok(v) => panic!("expected an error, got {v:?}"),
    }
}

/// Every call once, with its result checked; the same body runs under
/// tokio and under `block_on`.
async fn exercise(zk: AsyncZooKeeper, base: String) {
    let open = Acl::open_unsafe();
    assert_eq!(
        zk.create(&base, b"root", &open, CreateMode::Persistent)
            .await
            .unwrap(),
        base
    );
    let child = format!("{base}/a");
    zk.create(&child, b"v0", &open, CreateMode::Persistent)
        .await
        .unwrap();
    let seq = zk
        .create(
            &format!("{base}/s-"),
            b"",
            &open,
            CreateMode::EphemeralSequential,
        )
        .await
        .unwrap();
    assert!(seq.starts_with(&format!("{base}/s-")) && seq.len() > base.len() + 3);

    let (data, stat) = zk.get(&child).await.unwrap();
    assert_eq!((data.as_slice(), stat.version), (&b"v0"[..], 0));
    let stat = zk.set(&child, b"v1", 0).await.unwrap();
    assert_eq!((stat.version, stat.data_length), (1, 2));
    assert_eq!(zk.exists(&child).await.unwrap(), Some(stat));
    assert_eq!(zk.exists(&format!("{base}/none")).await.unwrap(), None);
    let mut kids = zk.get_children(&base).await.unwrap();
    kids.sort();
    assert_eq!(kids.len(), 2);
    assert_eq!(kids[0], "a");
    zk.sync(&base).await.unwrap();

    // Server errors map as in the blocking calls.
    assert_eq!(
        code(zk.get(&format!("{base}/none")).await),
        ErrorCode::NoNode
    );
    assert_eq!(
        code(zk.create(&child, b"", &open, CreateMode::Persistent).await),
        ErrorCode::NodeExists
    );
    assert_eq!(code(zk.set(&child, b"x", 7).await), ErrorCode::BadVersion);
    assert_eq!(code(zk.delete(&base, -1).await), ErrorCode::NotEmpty);
    assert_eq!(
        code(zk.get_children(&format!("{base}/none")).await),
        ErrorCode::NoNode
    );

    // Multi: applied together, or refused with per-operation results.
    let results = zk
        .multi(&[
            Op::Create {
                path: format!("{base}/m"),
                data: b"m".to_vec(),
                acl: open.clone(),
                mode: CreateMode::Persistent,
            },
            Op::Delete {
                path: child.clone(),
                version: 1,
            },
        ])
        .await
        .unwrap();
    assert_eq!(results.len(), 2);
    assert!(matches!(&results[0], OpResult::Create { path } if *path == format!("{base}/m")));
    match zk
        .multi(&[Op::Check {
            path: base.clone(),
            version: 99,
        }])
        .await
    {
        Err(Error::Multi { code, results }) => {
            assert_eq!(code, ErrorCode::BadVersion);
            assert_eq!(results, [OpResult::Error(ErrorCode::BadVersion)]);
        }
        other => panic!("{other:?}"),
    }

    // Bad input: a typed error, ready at once (nothing was queued).
    let bad = zk.get("no-leading-slash");
    assert!(matches!(
        bad.now_or_never(),
        Some(Err(Error::InvalidArgument { .. }))
    ));
    assert!(matches!(
        zk.create(
            &format!("{base}/t"),
            b"",
            &open,
            CreateMode::PersistentWithTtl { ttl_ms: 1000 }
        )
        .now_or_never(),
        Some(Err(Error::InvalidArgument { .. }))
    ));

    zk.delete(&format!("{base}/m"), 0).await.unwrap();
    zk.delete(&seq, -1).await.unwrap();
    zk.delete(&base, -1).await.unwrap();
    assert_eq!(zk.exists(&base).await.unwrap(), None);
    assert_eq!(zk.outstanding_callbacks(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_and_errors_under_tokio() {
    let zk = connect().into_async();
    within(exercise(zk.clone(), unique_path("async-tokio"))).await;

    // Many requests in flight from tasks on every worker: each future is
    // woken by its own completion.
    let base = unique_path("async-tasks");
    within(zk.create(&base, b"", &Acl::open_unsafe(), CreateMode::Persistent))
        .await
        .unwrap();
    let tasks: Vec<_> = (0..64)
        .map(|i| {
            let zk = zk.clone();
            let path = format!("{base}/n{i}");
            tokio::spawn(async move {
                zk.create(
                    &path,
                    i.to_string().as_bytes(),
                    &Acl::open_unsafe(),
                    CreateMode::Persistent,
                )
                .await?;
                zk.get(&path).await
            })
        })
        .collect();
    for (i, t) in tasks.into_iter().enumerate() {
        let (data, _) = within(t).await.unwrap().unwrap();
        assert_eq!(data, i.to_string().into_bytes());
    }
    assert_eq!(within(zk.get_children(&base)).await.unwrap().len(), 64);
}

/// Connecting without blocking: ready once connected; bad hosts are a
/// ready typed error; a server that never answers ends in a timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_is_a_future_too() {
    let server = TestingServer::shared().unwrap();
    let zk = within(AsyncZooKeeper::connect(
        ZooKeeper::builder(server.connect_string()),
        LONG,
    ))
    .await
    .unwrap();
    assert_eq!(
        zk.blocking().state().unwrap(),
        zkha::State::Connected,
        "ready only once connected"
    );
    assert!(within(zk.exists("/")).await.unwrap().is_some());

    assert!(matches!(
        AsyncZooKeeper::connect(ZooKeeper::builder(""), LONG).now_or_never(),
        Some(Err(Error::InvalidArgument { .. }))
    ));

    let proxy = TcpProxy::start(server.connect_string()).unwrap();
    proxy.set_mode(ProxyMode::Blackhole);
    let r = within(AsyncZooKeeper::connect(
        ZooKeeper::builder(&proxy.connect_string()),
        Duration::from_millis(500),
    ))
    .await;
    assert!(matches!(r, Err(Error::Timeout(_))), "{r:?}");
}

#[test]
fn calls_and_errors_under_a_plain_block_on() {
    let zk = connect().into_async();
    block_on_within(exercise(zk, unique_path("async-block-on")));
}

/// Requests are queued when the method is called, not when the future is
/// first polled: a create that is never polled still reaches the server,
/// before a later call.
#[test]
fn calls_are_queued_at_once_not_on_first_poll() {
    let zk = connect().into_async();
    let base = unique_path("async-order");
    let open = Acl::open_unsafe();
    let create = zk.create(&base, b"first", &open, CreateMode::Persistent);
    let set = zk.set(&base, b"second", 0);
    let get = zk.get(&base);
    // Awaited in reverse order: the server saw create, set, get.
    let (data, stat) = block_on_within(get).unwrap();
    assert_eq!((data.as_slice(), stat.version), (&b"second"[..], 1));
    // Both earlier answers came before the get's (one connection, in order).
    assert_eq!(set.now_or_never().map(|r| r.unwrap().version), Some(1));
    assert_eq!(create.now_or_never().map(Result::unwrap), Some(base));
}

/// Dropping futures does not cancel their requests, and each completion
/// still frees its context: 200 creates, every other future dropped at
/// once; all 200 nodes exist, and nothing is left outstanding once the
/// last (kept) future resolves.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_futures_still_complete_and_free_their_contexts() {
    let zk = connect().into_async();
    let base = unique_path("async-drop");
    let open = Acl::open_unsafe();
    within(zk.create(&base, b"", &open, CreateMode::Persistent))
        .await
        .unwrap();
    let mut kept = Vec::new();
    for i in 0..200 {
        let f = zk.create(
            &format!("{base}/n{i:03}"),
            b"",
            &open,
            CreateMode::Persistent,
        );
        if i % 2 == 1 {
            kept.push(f);
        } // else: dropped here, still in flight
    }
    for f in kept {
        within(f).await.unwrap();
    }
    // The C client completes in order: the last kept one (n199) came last.
    assert_eq!(zk.outstanding_callbacks(), 0);
    let mut kids = within(zk.get_children(&base)).await.unwrap();
    kids.sort();
    let want: Vec<String> = (0..200).map(|i| format!("n{i:03}")).collect();
    assert_eq!(kids, want, "a dropped create must still create its node");
}

/// Closing with requests in flight (the server never answers: its link is
/// blackholed): kept futures resolve with `ErrorCode::Closing`, a timed-out
/// and many dropped ones are freed too (nothing outstanding), and none of
/// the creates happened, dropped or not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_completes_pending_futures_with_closing_and_frees_dropped_ones() {
    let server = TestingServer::shared().unwrap();
    let direct = connect().into_async();
    let proxy = TcpProxy::start(server.connect_string()).unwrap();
    let zk = connect_to(&proxy.connect_string()).into_async();
    let base = unique_path("async-close");
    let open = Acl::open_unsafe();
    within(zk.create(&base, b"", &open, CreateMode::Persistent))
        .await
        .unwrap();

    proxy.set_mode(ProxyMode::Blackhole);
    let mut kept: Vec<Pending<String>> = Vec::new();
    for i in 0..100 {
        let f = zk.create(&format!("{base}/n{i}"), b"", &open, CreateMode::Persistent);
        if i % 4 == 0 {
            kept.push(f);
        }
    }
    let get = zk.get(&base);
    let (wget, wget_watch) = zk.wget(&base);
    // A future dropped by a timeout, as `select!`/`timeout` do.
    let timed = tokio::time::timeout(Duration::from_millis(50), zk.get(&base)).await;
    assert!(timed.is_err(), "no answer can come through a blackhole");
    assert!(zk.outstanding_callbacks() >= 104);

    // Close on a blocking thread (it joins the C client's threads).
    let closer = zk.clone();
    within(tokio::task::spawn_blocking(move || closer.close()))
        .await
        .unwrap()
        .unwrap();
    for f in kept {
        assert_eq!(code(within(f).await), ErrorCode::Closing);
    }
    assert_eq!(code(within(get).await), ErrorCode::Closing);
    // A watched read in flight: no answer, so no watch; both say Closing.
    assert_eq!(code(within(wget).await), ErrorCode::Closing);
    assert_eq!(code(within(wget_watch).await), ErrorCode::Closing);
    assert_eq!(
        zk.outstanding_callbacks(),
        0,
        "a context outlived the close"
    );
    // After close: ready at once with Closed.
    assert!(matches!(
        zk.get(&base).now_or_never(),
        Some(Err(Error::Closed))
    ));

    proxy.set_mode(ProxyMode::Pass);
    assert_eq!(
        within(direct.get_children(&base)).await.unwrap(),
        Vec::<String>::new(),
        "nothing passed the blackhole"
    );
}

/// Watched reads: the read's result, then the watch's node event as a
/// second future (session events in between are not sent). A read that
/// sets no watch (ZNONODE for get) gives its error to both and frees the
/// watch context; a dropped watch future leaves the watch to fire and be
/// freed; close ends a watch still set with `Error::Closed`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watches_are_futures_of_their_node_event() {
    let zk = connect().into_async();
    let other = connect().into_async();
    let base = unique_path("async-watch");
    let open = Acl::open_unsafe();
    within(zk.create(&base, b"v0", &open, CreateMode::Persistent))
        .await
        .unwrap();
    let event = |t: EventType, path: &str| WatchedEvent {
        event_type: t,
        state: zkha::State::Connected,
        path: path.to_owned(),
    };

    // get + data watch: fires on the change, not before.
    let (got, mut changed) = zk.wget(&base);
    assert_eq!(within(got).await.unwrap().0, b"v0");
    assert!(futures::poll!(&mut changed).is_pending(), "fired early");
    within(other.set(&base, b"v1", -1)).await.unwrap();
    assert_eq!(
        within(changed).await.unwrap(),
        event(EventType::Changed, &base)
    );

    // exists on no node + exists watch: fires on creation.
    let child = format!("{base}/c");
    let (none, created) = zk.wexists(&child);
    assert_eq!(within(none).await.unwrap(), None);
    let (kids, kids_changed) = zk.wget_children(&base);
    assert!(within(kids).await.unwrap().is_empty());
    within(other.create(&child, b"", &open, CreateMode::Persistent))
        .await
        .unwrap();
    assert_eq!(
        within(created).await.unwrap(),
        event(EventType::Created, &child)
    );
    assert_eq!(
        within(kids_changed).await.unwrap(),
        event(EventType::Child, &base)
    );

    // No node for get: no watch set; both futures get ZNONODE, nothing kept.
    let (missing, no_watch) = zk.wget(&format!("{base}/none"));
    assert_eq!(code(within(missing).await), ErrorCode::NoNode);
    assert_eq!(code(within(no_watch).await), ErrorCode::NoNode);
    assert_eq!(zk.outstanding_callbacks(), 0, "the unset watch was kept");

    // A dropped watch future: the watch still fires and is freed.
    let (got, dropped) = zk.wget(&child);
    within(got).await.unwrap();
    drop(dropped);
    assert_eq!(zk.outstanding_callbacks(), 1, "the watch is set");
    within(other.delete(&child, -1)).await.unwrap();
    within(async {
        while zk.outstanding_callbacks() != 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await;

    // Bad input: both ready with the error.
    let (bad, bad_watch) = zk.wexists("relative");
    assert!(matches!(
        bad.now_or_never(),
        Some(Err(Error::InvalidArgument { .. }))
    ));
    assert!(matches!(
        bad_watch.now_or_never(),
        Some(Err(Error::InvalidArgument { .. }))
    ));

    // Close with a watch set: the watch future ends with Closed.
    let (got, never) = zk.wget(&base);
    within(got).await.unwrap();
    let closer = zk.clone();
    within(tokio::task::spawn_blocking(move || closer.close()))
        .await
        .unwrap()
        .unwrap();
    assert!(matches!(within(never).await, Err(Error::Closed)));
    assert_eq!(zk.outstanding_callbacks(), 0);
}

/// `Pending` from `pending()` is the same future: a completion closure
/// given to a callback-style call can be awaited, and a sender dropped
/// unsent (the closure never called) ends it with `Error::Closed`.
#[test]
fn pending_from_a_completion_closure_is_a_future() {
    let zk = connect();
    let (done, result) = pending();
    zk.aexists("/", done).unwrap();
    assert!(block_on_within(result).unwrap().is_some());

    let (done, result) = pending::<()>();
    drop(done);
    assert!(matches!(block_on_within(result), Err(Error::Closed)));
}

/// The futures are `Send + 'static`: a compile-time check that they can be
/// spawned (this function is never called).
#[allow(dead_code)]
fn futures_are_send_and_static(zk: AsyncZooKeeper) {
    fn spawnable<F: Future + Send + 'static>(_: F) {}
    spawnable(zk.get("/"));
    spawnable(zk.multi(&[]));
    spawnable(async move { zk.exists("/").await });
}
