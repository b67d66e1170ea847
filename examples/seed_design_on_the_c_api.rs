//! The seed design's three steps (docs/design.md S1, S2, S5), written against the
//! wrapper call for call, as a C++ developer would recognise them:
//!
//! 1. `zookeeper_init(hosts, watcher, 5000, NULL, this, 0)` — returns at once;
//! 2. the global watcher: SESSION+CONNECTED → `on_zookeeper_connected(path)`,
//!    SESSION+EXPIRED → `on_zookeeper_expired()`, anything else ignored;
//! 3. `change_to_master()`: `zoo_create(path, ip, strlen(ip)+1,
//!    &ZOO_OPEN_ACL_UNSAFE, ZOO_EPHEMERAL, NULL, 0)`.
//!
//! Run: `cargo run --example seed_design_on_the_c_api [-- --hosts H --path /master/test]`
//! (without --hosts it starts an embedded ZooKeeper server).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;
use zkha::{Acl, CreateMode, EventType, State, ZooKeeper};

/// The design's process-wide failure counter (S5): log failures 1, 601, …
static FAILURES: AtomicU64 = AtomicU64::new(0);

struct Master {
    zk: ZooKeeper,
    path: String,
    ip: String,
    is_master: AtomicBool,
}

impl Master {
    /// S5. Any error means "not master"; DEBUG log on failures 1, 601, 1201, …
    fn change_to_master(&self) -> bool {
        let mut data = self.ip.clone().into_bytes();
        data.push(0); // strlen(ip) + 1: the trailing NUL is part of the node data
        match self.zk.create(
            &self.path,
            &data,
            &Acl::open_unsafe(),
            CreateMode::Ephemeral,
        ) {
            Ok(_) => {
                FAILURES.store(0, Ordering::Relaxed);
                self.is_master.store(true, Ordering::Relaxed);
                println!("INFO  become master[{}]", self.path);
                true
            }
            Err(e) => {
                let n = FAILURES.fetch_add(1, Ordering::Relaxed);
                if n.is_multiple_of(600) {
                    let rc = e.code().map_or(0, |c| c.raw());
                    println!(
                        "DEBUG become master[{}] failed: ({rc}){}",
                        self.path,
                        e.code().map(|c| c.zerror()).unwrap_or_default()
                    );
                }
                false
            }
        }
    }
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let opt = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let path = opt("--path").unwrap_or_else(|| "/master/test".into());
    let embedded;
    let hosts = match opt("--hosts") {
        Some(h) => h,
        None => {
            embedded = zkha_testing::TestingServer::start()?;
            embedded.connect_string().to_owned()
        }
    };
    zkha::logging::set_debug_level(zkha::logging::LogLevel::Warn);

    // S1 + S2: the watcher only forwards the two events the design handles.
    let (tx, rx) = mpsc::channel();
    let tx = Mutex::new(tx);
    let zk = ZooKeeper::init(
        &hosts,
        move |event| match (event.event_type, event.state) {
            (EventType::Session, State::Connected) => drop(tx.lock().unwrap().send("connected")),
            (EventType::Session, State::Expired) => drop(tx.lock().unwrap().send("expired")),
            _ => {} // every other event is ignored by the design
        },
        5000,
        None,
        0,
    )?;
    // A non-NULL handle is not a connection: wait for SESSION/CONNECTED.
    match rx.recv_timeout(Duration::from_secs(30))? {
        "connected" => println!("on_zookeeper_connected({path})"),
        other => return Err(format!("session {other} before connecting").into()),
    }
    // S6: the parent must exist; the design never creates it (we do, for the demo).
    if let Some(i) = path.rfind('/').filter(|&i| i > 0) {
        let _ = zk.create(&path[..i], b"", &Acl::open_unsafe(), CreateMode::Persistent);
    }
    let master = Arc::new(Master {
        zk,
        path,
        ip: zkha::net::primary_ip().to_string(),
        is_master: AtomicBool::new(false),
    });
    let won = master.change_to_master();
    let again = master.change_to_master(); // a second try: ZNODEEXISTS, logged (failure #1)
    let (data, stat) = master.zk.get(&master.path, false)?;
    println!(
        "master: {won}, second try: {again}, node data {:?}, owner is us: {}",
        String::from_utf8_lossy(&data),
        stat.ephemeral_owner == master.zk.client_id()?.id
    );
    println!(
        "is_master flag: {}",
        master.is_master.load(Ordering::Relaxed)
    );
    Ok(())
}
