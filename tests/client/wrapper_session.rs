//! Sessions, client ids, watchers, close and raw-handle sharing.

use crate::common;

use common::example;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use zkha::{
    Acl, ClientId, CreateMode, Error, ErrorCode, EventType, State, WatchedEvent, WatcherType,
    ZooKeeper,
};
use zkha_testing::{unique_path, TestingServer};

const WAIT: Duration = Duration::from_secs(20);

fn server() -> &'static TestingServer {
    zkha::logging::set_debug_level(zkha::logging::LogLevel::Error);
    TestingServer::shared().unwrap()
}

/// A handle whose global watcher sends every event to a channel.
fn watched(
    hosts: &str,
    timeout_ms: i32,
    id: Option<ClientId>,
) -> (ZooKeeper, mpsc::Receiver<WatchedEvent>) {
    let (tx, rx) = mpsc::channel();
    let tx = Mutex::new(tx);
    let zk = ZooKeeper::init(
        hosts,
        move |e| drop(tx.lock().unwrap().send(e)),
        timeout_ms,
        id,
        0,
    )
    .unwrap();
    (zk, rx)
}

fn next_session_event(rx: &mpsc::Receiver<WatchedEvent>) -> WatchedEvent {
    loop {
        let e = rx.recv_timeout(WAIT).expect("no event");
        if e.event_type == EventType::Session {
            return e;
        }
    }
}

#[test]
fn init_returns_before_connecting_and_reports_connected() {
    let (zk, rx) = watched(server().connect_string(), 4000, None);
    let e = next_session_event(&rx);
    assert_eq!(
        (e.event_type, e.state, e.path.as_str()),
        (EventType::Session, State::Connected, "")
    );
    assert_eq!(zk.state().unwrap(), State::Connected);
    assert_eq!(zk.recv_timeout().unwrap(), 4000);
    assert!(!zk.is_unrecoverable().unwrap());
    assert_eq!(zk.current_server().unwrap(), server().connect_string());
    assert_ne!(zk.client_id().unwrap().id, 0);
    zk.set_servers(server().connect_string()).unwrap();
    assert!(matches!(
        zk.set_servers("h:1/chroot"),
        Err(Error::InvalidArgument { .. })
    ));
}

#[test]
fn init_failure_carries_errno() {
    // Nothing resolves: the C client returns NULL with errno set.
    match ZooKeeper::builder("nonexistent.invalid:2181").init() {
        Err(Error::Init(e)) => assert!(e.raw_os_error().is_some(), "{e:?}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn bad_input_is_rejected_before_c() {
    for hosts in ["", "h", "h:0", "a:1,,b:2", "h:1\0"] {
        assert!(
            matches!(
                ZooKeeper::builder(hosts).init(),
                Err(Error::InvalidArgument {
                    argument: zkha::error::Argument::Hosts,
                    ..
                })
            ),
            "{hosts:?}"
        );
    }
    for ms in [0, -5] {
        assert!(matches!(
            ZooKeeper::builder("127.0.0.1:2181")
                .session_timeout_ms(ms)
                .init(),
            Err(Error::InvalidArgument {
                argument: zkha::error::Argument::Timeout,
                ..
            })
        ));
    }
    assert!(matches!(
        ZooKeeper::builder("127.0.0.1:2181").flags(64).init(),
        Err(Error::InvalidArgument {
            argument: zkha::error::Argument::Other,
            ..
        })
    ));
    let zk = ZooKeeper::builder(server().connect_string())
        .connect(WAIT)
        .unwrap();
    for path in ["", "x", "/a/", "/a//b", "/a\0b", "/."] {
        assert!(
            matches!(
                zk.exists(path, false),
                Err(Error::InvalidArgument {
                    argument: zkha::error::Argument::Path,
                    ..
                })
            ),
            "{path:?}"
        );
        assert!(matches!(
            zk.create(path, b"", &Acl::open_unsafe(), CreateMode::Persistent),
            Err(Error::InvalidArgument { .. })
        ));
    }
}

#[test]
fn global_watcher_sees_node_events_with_c_values() {
    let (zk, rx) = watched(server().connect_string(), 10_000, None);
    next_session_event(&rx);
    let path = unique_path("gw");
    assert_eq!(zk.exists(&path, true).unwrap(), None);
    let other = ZooKeeper::builder(server().connect_string())
        .connect(WAIT)
        .unwrap();
    other
        .create(&path, b"1", &Acl::open_unsafe(), CreateMode::Persistent)
        .unwrap();
    let e = rx.recv_timeout(WAIT).unwrap();
    assert_eq!(
        (e.event_type, e.state, e.path.clone()),
        (EventType::Created, State::Connected, path.clone())
    );
    assert_eq!(e.event_type.raw(), zk_sys::consts::ZOO_CREATED_EVENT);
    zk.get(&path, true).unwrap();
    zk.get_children(&path, true).unwrap();
    other
        .create(
            &format!("{path}/kid"),
            b"",
            &Acl::open_unsafe(),
            CreateMode::Persistent,
        )
        .unwrap();
    let e = rx.recv_timeout(WAIT).unwrap();
    assert_eq!(
        (e.event_type, e.path.clone()),
        (EventType::Child, path.clone())
    );
    other.set(&path, b"2", -1).unwrap();
    let e = rx.recv_timeout(WAIT).unwrap();
    assert_eq!(
        (e.event_type, e.path.clone()),
        (EventType::Changed, path.clone())
    );
    // One-shot: a second change is not reported.
    other.set(&path, b"3", -1).unwrap();
    assert!(rx.recv_timeout(Duration::from_millis(300)).is_err());
}

#[test]
fn path_watchers_fire_once_and_are_freed() {
    let zk = ZooKeeper::builder(server().connect_string())
        .connect(WAIT)
        .unwrap();
    let other = ZooKeeper::builder(server().connect_string())
        .connect(WAIT)
        .unwrap();
    let path = unique_path("pw");
    let (tx, rx) = mpsc::channel::<(&str, WatchedEvent)>();
    let t = Mutex::new(tx.clone());
    assert_eq!(
        zk.wexists(&path, move |e| drop(t.lock().unwrap().send(("exists", e))))
            .unwrap(),
        None
    );
    assert_eq!(zk.outstanding_callbacks(), 1);
    other
        .create(&path, b"a", &Acl::open_unsafe(), CreateMode::Persistent)
        .unwrap();
    let (who, e) = rx.recv_timeout(WAIT).unwrap();
    assert_eq!(
        (who, e.event_type, e.path.as_str()),
        ("exists", EventType::Created, path.as_str())
    );

    let t = Mutex::new(tx.clone());
    assert_eq!(
        zk.wget(&path, move |e| drop(t.lock().unwrap().send(("get", e))))
            .unwrap()
            .0,
        b"a"
    );
    let t = Mutex::new(tx.clone());
    zk.wget_children(&path, move |e| {
        drop(t.lock().unwrap().send(("children", e)))
    })
    .unwrap();
    let t = Mutex::new(tx.clone());
    let (kids, stat) = zk
        .wget_children2(&path, move |e| {
            drop(t.lock().unwrap().send(("children2", e)))
        })
        .unwrap();
    assert!(kids.is_empty());
    assert_eq!(stat.num_children, 0);
    // A watcher's context is freed just after its last call returns.
    assert!(common::eventually(WAIT, || zk.outstanding_callbacks() == 3));
    other
        .create(
            &format!("{path}/k"),
            b"",
            &Acl::open_unsafe(),
            CreateMode::Persistent,
        )
        .unwrap();
    let mut got = [
        rx.recv_timeout(WAIT).unwrap(),
        rx.recv_timeout(WAIT).unwrap(),
    ];
    got.sort_by_key(|(w, _)| *w);
    assert_eq!(got[0].0, "children");
    assert_eq!(got[1].0, "children2");
    assert!(got.iter().all(|(_, e)| e.event_type == EventType::Child));
    other.set(&path, b"b", -1).unwrap();
    let (who, e) = rx.recv_timeout(WAIT).unwrap();
    assert_eq!((who, e.event_type), ("get", EventType::Changed));
    assert!(
        common::eventually(WAIT, || zk.outstanding_callbacks() == 0),
        "fired watchers must be freed"
    );

    // A failed call registers nothing and keeps nothing.
    assert_eq!(
        zk.wget("/zkha-missing-node", |_| {}).unwrap_err().code(),
        Some(ErrorCode::NoNode)
    );
    assert_eq!(zk.outstanding_callbacks(), 0);

    // Watchers still set at close are freed by close.
    zk.wexists(&format!("{path}/never"), |_| {}).unwrap();
    assert_eq!(zk.outstanding_callbacks(), 1);
    zk.close().unwrap();
    assert_eq!(zk.outstanding_callbacks(), 0);
}

#[test]
fn remove_all_watches_silences_path_watchers_until_close() {
    let zk = ZooKeeper::builder(server().connect_string())
        .connect(WAIT)
        .unwrap();
    let path = unique_path("rw");
    zk.create(&path, b"", &Acl::open_unsafe(), CreateMode::Persistent)
        .unwrap();
    let (tx, rx) = mpsc::channel();
    let tx = Mutex::new(tx);
    zk.wget(&path, move |e| drop(tx.lock().unwrap().send(e)))
        .unwrap();
    zk.remove_all_watches(&path, WatcherType::Any, false)
        .unwrap();
    zk.set(&path, b"changed", -1).unwrap();
    // The C client drops removed watchers without a NOTWATCHING call.
    assert!(rx.recv_timeout(Duration::from_millis(300)).is_err());
    assert_eq!(
        zk.remove_all_watches(&path, WatcherType::Data, false)
            .unwrap_err()
            .code(),
        Some(ErrorCode::NoWatcher)
    );
    // Its context is freed at close.
    assert_eq!(zk.outstanding_callbacks(), 1);
    zk.close().unwrap();
    assert_eq!(zk.outstanding_callbacks(), 0);
}

#[test]
fn a_panicking_watcher_is_caught_and_the_handle_goes_on() {
    let calls = Arc::new(AtomicUsize::new(0));
    let c = calls.clone();
    let zk = ZooKeeper::builder(server().connect_string())
        .watcher(move |_| {
            c.fetch_add(1, Ordering::SeqCst);
            panic!("user bug in the global watcher");
        })
        .connect(WAIT)
        .unwrap();
    let path = unique_path("panic");
    zk.wexists(&path, |_| panic!("user bug in a path watcher"))
        .unwrap();
    zk.create(&path, b"", &Acl::open_unsafe(), CreateMode::Persistent)
        .unwrap();
    zk.aget(&path, |_| panic!("user bug in a completion"))
        .unwrap();
    zk.sync(&path).unwrap();
    assert!(calls.load(Ordering::SeqCst) >= 1);
    // Still fully usable.
    assert_eq!(zk.get(&path, false).unwrap().0, b"");
    assert_eq!(zk.outstanding_callbacks(), 0);
}

#[test]
fn close_from_inside_a_watcher_is_deferred_and_safe() {
    let zk = Arc::new(
        ZooKeeper::builder(server().connect_string())
            .connect(WAIT)
            .unwrap(),
    );
    let path = unique_path("selfclose");
    let (tx, rx) = mpsc::channel();
    let tx = Mutex::new(tx);
    let me = zk.clone();
    zk.wexists(&path, move |_| {
        let first = me.close();
        let second = me.close();
        // Synchronous calls from the callback thread get an error, never a hang.
        let after = me.exists("/", false).map(|_| ());
        drop(tx.lock().unwrap().send((
            first,
            matches!(second, Err(Error::Closed)),
            matches!(after, Err(Error::Closed)),
        )));
    })
    .unwrap();
    let other = ZooKeeper::builder(server().connect_string())
        .connect(WAIT)
        .unwrap();
    let id = zk.client_id().unwrap().id;
    other
        .create(&path, b"", &Acl::open_unsafe(), CreateMode::Persistent)
        .unwrap();
    let (first, second_refused, after_refused) = rx.recv_timeout(WAIT).unwrap();
    assert!(first.is_ok(), "{first:?}");
    assert!(second_refused && after_refused);
    assert!(zk.is_closed());
    // The session really ends: an ephemeral of it would go; check the server
    // no longer lists it.
    let gone = (0..100).any(|_| {
        std::thread::sleep(Duration::from_millis(50));
        !server()
            .four_letter_word("cons")
            .unwrap()
            .contains(&format!("sid=0x{id:x}"))
    });
    assert!(gone, "session 0x{id:x} still open after a deferred close");
}

#[test]
fn client_id_reattaches_across_processes_and_expires_when_dead() {
    let dir = std::env::temp_dir().join(format!("zkha-resume-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("id");
    let path = unique_path("resume");
    let run = |mode: &str| {
        std::process::Command::new(example("keep_the_session_across_restarts"))
            .args(["--hosts", server().connect_string(), "--path", &path, mode])
            .arg(&file)
            .output()
            .unwrap()
    };
    // A process creates its ephemeral node and dies without closing.
    let saved = run("--save");
    assert!(
        saved.status.success(),
        "{}",
        String::from_utf8_lossy(&saved.stderr)
    );
    let id: ClientId = std::fs::read_to_string(&file).unwrap().parse().unwrap();

    // Its session is still alive: this process reattaches to it.
    let (zk, rx) = watched(server().connect_string(), 10_000, Some(id));
    let e = next_session_event(&rx);
    assert_eq!(e.state, State::Connected);
    assert_eq!(
        zk.client_id().unwrap().id,
        id.id,
        "a new session instead of the saved one"
    );
    let (data, stat) = zk.get(&path, false).unwrap();
    assert_eq!(
        stat.ephemeral_owner, id.id,
        "the ephemeral node changed hands"
    );
    assert_eq!(data.last(), Some(&0u8), "seed data ends with NUL");
    zk.close().unwrap();

    // Closed, the id is dead: C reports SESSION/EXPIRED (S3, F2).
    let (dead, rx) = watched(server().connect_string(), 10_000, Some(id));
    let e = next_session_event(&rx);
    assert_eq!(
        (e.event_type, e.state),
        (EventType::Session, State::Expired)
    );
    assert_eq!(e.state.raw(), -112);
    assert!(dead.is_unrecoverable().unwrap());
    assert_eq!(dead.state().unwrap(), State::Expired);
    assert!(matches!(
        dead.wait_connected(WAIT),
        Err(Error::Zk(ErrorCode::SessionExpired))
    ));
    // An unrecoverable handle refuses calls at once (C's ZINVALIDSTATE).
    assert_eq!(
        dead.get(&path, false).unwrap_err().code(),
        Some(ErrorCode::InvalidState)
    );
    // An async call C refuses at once returns the error, and its completion
    // closure (and whatever it holds) is freed, not leaked.
    let held = Arc::new(());
    let inside = held.clone();
    let refused = dead.aget(&path, move |_| drop(inside));
    assert_eq!(refused.unwrap_err().code(), Some(ErrorCode::InvalidState));
    assert_eq!(Arc::strong_count(&held), 1, "the completion closure leaked");
    // And the example's own resume now fails with a clear error.
    let resumed = run("--resume");
    assert!(!resumed.status.success());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_resume_example_reattaches() {
    let dir = std::env::temp_dir().join(format!("zkha-resume2-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("id");
    let path = unique_path("resume2");
    let run = |mode: &str| {
        std::process::Command::new(example("keep_the_session_across_restarts"))
            .args(["--hosts", server().connect_string(), "--path", &path, mode])
            .arg(&file)
            .output()
            .unwrap()
    };
    assert!(run("--save").status.success());
    let out = run("--resume");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("still owned by it"), "{text}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_handle_made_by_c_can_be_used_from_rust() {
    let hosts = std::ffi::CString::new(server().connect_string()).unwrap();
    // SAFETY: C-side creation of a handle without a watcher, as C++ code would.
    let raw = unsafe {
        zk_sys::zookeeper_init(
            hosts.as_ptr(),
            None,
            10_000,
            std::ptr::null(),
            std::ptr::null_mut(),
            0,
        )
    };
    assert!(!raw.is_null());
    {
        // SAFETY: raw stays live until zookeeper_close below.
        let borrowed = unsafe { ZooKeeper::borrow_raw(raw) };
        borrowed.wait_connected(WAIT).unwrap();
        assert_eq!(borrowed.as_raw(), raw);
        let path = unique_path("shared");
        borrowed
            .create(
                &path,
                b"from rust",
                &Acl::open_unsafe(),
                CreateMode::Ephemeral,
            )
            .unwrap();
        assert!(
            matches!(borrowed.close(), Err(Error::InvalidArgument { .. })),
            "a borrowed handle must not be closed from Rust"
        );
        // SAFETY: live handle; the session is the C side's.
        let cid = unsafe { (*zk_sys::zoo_client_id(raw)).client_id };
        assert_eq!(borrowed.get(&path, false).unwrap().1.ephemeral_owner, cid);
    }
    // Dropping the borrowed value left the handle open for its C owner.
    // SAFETY: live handle.
    assert_eq!(
        unsafe { zk_sys::zoo_state(raw) },
        zk_sys::consts::ZOO_CONNECTED_STATE
    );
    // SAFETY: its owner closes it, once.
    let owned = unsafe { ZooKeeper::from_raw(raw) };
    owned.close().unwrap();
}

/// What one probe saw: `call <id> <type>`, `drop <id>`, in order.
type ProbeLog = Arc<Mutex<Vec<String>>>;

/// Logs its drop: the closure (or context) holding it was freed.
struct DropProbe {
    name: String,
    log: ProbeLog,
}

impl Drop for DropProbe {
    fn drop(&mut self) {
        self.log.lock().unwrap().push(format!("drop {}", self.name));
    }
}

/// Dropping the last reference to a handle inside one of its own path
/// watchers. Two watchers on one path fire on the same event, delivered by C
/// one after the other on the completion thread. The first called takes the
/// last reference into its own state, so the handle is dropped when that
/// watcher's context is freed, just after its call, on the completion thread,
/// while C has still to call the second watcher. Both watchers must be called
/// once and freed once, after their call; the session must really close
/// (its global watcher context freed, the server no longer listing it).
/// Run under valgrind by scripts/valgrind-tests: no invalid access.
#[test]
fn last_reference_dropped_in_a_path_watcher_is_safe() {
    for owned in [false, true] {
        let log: ProbeLog = Arc::default();
        let global_probe = DropProbe {
            name: "global".into(),
            log: log.clone(),
        };
        let zk = ZooKeeper::builder(server().connect_string())
            .watcher(move |_| {
                let _ = &global_probe;
            })
            .connect(WAIT)
            .unwrap();
        let id = zk.client_id().unwrap().id;
        let path = unique_path("lastref");
        // The only reference to the handle, once the watchers are set.
        let slot: Arc<Mutex<Option<Box<dyn std::any::Any + Send>>>> = Arc::default();
        for w in 0..2 {
            let slot = slot.clone();
            let log = log.clone();
            let probe = DropProbe {
                name: format!("w{w}"),
                log: log.clone(),
            };
            let mut mine: Option<Box<dyn std::any::Any + Send>> = None;
            zk.wexists(&path, move |e| {
                let _ = &probe;
                log.lock()
                    .unwrap()
                    .push(format!("call w{w} {:?}", e.event_type));
                if e.event_type != EventType::Session && mine.is_none() {
                    // Kept in this watcher's state: dropped with its context.
                    mine = slot.lock().unwrap().take();
                }
            })
            .unwrap();
        }
        let holder: Box<dyn std::any::Any + Send> = if owned {
            Box::new(zk)
        } else {
            Box::new(Arc::new(zk))
        };
        *slot.lock().unwrap() = Some(holder);
        let other = ZooKeeper::builder(server().connect_string())
            .connect(WAIT)
            .unwrap();
        other
            .create(&path, b"", &Acl::open_unsafe(), CreateMode::Persistent)
            .unwrap();
        assert!(
            common::eventually(WAIT, || log
                .lock()
                .unwrap()
                .contains(&"drop global".to_string())),
            "owned={owned}: the handle was not closed: {:?}",
            log.lock().unwrap()
        );
        assert!(slot.lock().unwrap().is_none(), "no watcher took the handle");
        let log = log.lock().unwrap().clone();
        for w in ["w0", "w1"] {
            let calls: Vec<usize> = (0..log.len())
                .filter(|&i| log[i].starts_with(&format!("call {w} ")))
                .collect();
            let drops: Vec<usize> = (0..log.len())
                .filter(|&i| log[i] == format!("drop {w}"))
                .collect();
            assert_eq!(calls.len(), 1, "owned={owned}: {w} called once: {log:?}");
            assert_eq!(log[calls[0]], format!("call {w} Created"), "{log:?}");
            assert_eq!(drops.len(), 1, "owned={owned}: {w} freed once: {log:?}");
            assert!(
                calls[0] < drops[0],
                "owned={owned}: {w} freed before C called it: {log:?}"
            );
        }
        let gone = common::eventually(WAIT, || {
            !server()
                .four_letter_word("cons")
                .unwrap()
                .contains(&format!("sid=0x{id:x}"))
        });
        assert!(gone, "owned={owned}: session 0x{id:x} still open");
    }
}

/// `Pending::wait` (and `wait_timeout`) on the completion thread would wait
/// for a completion only that thread can deliver: refused with
/// `Error::CalledFromCallback`, from a path watcher and from a completion.
#[test]
fn pending_wait_in_a_callback_is_refused() {
    let zk = Arc::new(
        ZooKeeper::builder(server().connect_string())
            .connect(WAIT)
            .unwrap(),
    );
    let path = unique_path("waitcb");
    let (tx, rx) = mpsc::channel::<(&str, zkha::Result<()>)>();
    let me = zk.clone();
    let t = Mutex::new(tx.clone());
    zk.wexists(&path, move |e| {
        if e.event_type == EventType::Session {
            return;
        }
        let (done, result) = zkha::pending::<Option<zkha::Stat>>();
        let queued = me.aexists("/", done);
        let t = t.lock().unwrap();
        drop(t.send(("watcher: queued", queued)));
        let timed = result.wait_timeout(Duration::from_secs(2)).map(|_| ());
        drop(t.send(("watcher: wait_timeout", timed)));
        drop(t.send(("watcher: wait", result.wait().map(|_| ()))));
    })
    .unwrap();
    let t = Mutex::new(tx);
    let me = zk.clone();
    zk.aexists("/", move |_| {
        let (done, result) = zkha::pending::<Option<zkha::Stat>>();
        let queued = me.aexists("/", done);
        let t = t.lock().unwrap();
        drop(t.send(("completion: queued", queued)));
        drop(t.send(("completion: wait", result.wait().map(|_| ()))));
    })
    .unwrap();
    ZooKeeper::builder(server().connect_string())
        .connect(WAIT)
        .unwrap()
        .create(&path, b"", &Acl::open_unsafe(), CreateMode::Persistent)
        .unwrap();
    let mut got = std::collections::BTreeMap::new();
    while got.len() < 5 {
        match rx.recv_timeout(WAIT) {
            Ok((what, r)) => drop(got.insert(what, r)),
            Err(_) => {
                // The completion thread is stuck: closing would join it forever.
                std::mem::forget(zk);
                panic!("a wait() inside a callback hung the completion thread; got {got:?}");
            }
        }
    }
    for (what, r) in &got {
        if what.ends_with("queued") {
            assert!(r.is_ok(), "{what}: {r:?}");
        } else {
            assert!(
                matches!(r, Err(Error::CalledFromCallback(_))),
                "{what}: {r:?}"
            );
        }
    }
    // The handle goes on: the refused waits' calls still complete.
    assert!(common::eventually(WAIT, || zk.outstanding_callbacks() == 0));
    assert!(zk.exists(&path, false).unwrap().is_some());
}

#[test]
fn a_thread_that_completed_calls_at_close_is_no_callback_thread_after() {
    // close() completes the calls C dropped with ZCLOSING itself, on the
    // closing thread, inside the callback mark; the mark must end with
    // them, or that thread's later sync calls would be refused.
    //
    // C leaves them to the closing thread when its completion thread has
    // already left (it leaves at the first empty queue after close began),
    // which happens when answers are still streaming in at close. A pump
    // thread keeps them streaming: with calls sent in one batch, a fast
    // server had answered them all before close (and under valgrind, no
    // round of twenty ever took the path).
    let hosts = server().connect_string();
    let me = std::thread::current().id();
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    let (mut rounds, mut on_this_thread) = (0, 0);
    while on_this_thread == 0 && std::time::Instant::now() < deadline {
        rounds += 1;
        let zk = Arc::new(ZooKeeper::builder(hosts).connect(WAIT).unwrap());
        let seen = Arc::new(Mutex::new(Vec::new()));
        let pump = {
            let (zk, seen) = (zk.clone(), seen.clone());
            std::thread::spawn(move || {
                let mut submitted = 0;
                loop {
                    // At most 300 in flight, as a busy client would have.
                    while submitted - seen.lock().unwrap().len() > 300 {
                        std::thread::yield_now();
                    }
                    let seen = seen.clone();
                    let r = zk.aget("/", move |_| {
                        seen.lock()
                            .unwrap()
                            .push((std::thread::current().id(), zkha::in_callback()));
                    });
                    match r {
                        Ok(()) => submitted += 1,
                        Err(Error::Closed) => return submitted,
                        Err(e) => panic!("aget: {e}"),
                    }
                }
            })
        };
        assert!(
            common::eventually(WAIT, || seen.lock().unwrap().len() >= 50),
            "answers are flowing before close"
        );
        zk.close().unwrap();
        let submitted = pump.join().unwrap();
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), submitted, "every call completes exactly once");
        assert!(
            seen.iter().all(|(_, inside)| *inside),
            "callbacks run marked"
        );
        on_this_thread += seen.iter().filter(|(t, _)| *t == me).count();
        assert!(!zkha::in_callback(), "the closing thread is still marked");
    }
    assert!(
        on_this_thread > 0,
        "in {rounds} closes, close() never completed a call on its own thread: the path under test never ran"
    );
    eprintln!("close() completed {on_this_thread} calls on its own thread in round {rounds}");
    let other = ZooKeeper::builder(hosts).connect(WAIT).unwrap();
    other.sync("/").unwrap();
}
