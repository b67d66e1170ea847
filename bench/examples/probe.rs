//! Per-operation cost probe (issue 13, item 3), run by `bench/probe.sh`
//! under `strace -f -c` and `perf stat`: N gets of one node by one client,
//! nothing else, so that a run with N ops minus a run with 0 ops gives
//! syscalls, context switches and CPU time per op, independent of load.
//!
//! usage: probe server                          (start the bench's server, print its
//!                                              connect string, run until stdin closes)
//!        probe CLIENT OP N WINDOW HOSTS PATH   (CLIENT = zkha | pure_rust;
//!                                              OP = get | async_get)
//!
//! Raw C is probed by `raw_c_bench HOSTS probe OP N WINDOW PATH`, the same loop.

use std::io::Read;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

type Res<T> = Result<T, Box<dyn std::error::Error>>;

fn server() -> Res<()> {
    use zkha_testing::{ServerConfig, TestingServer};
    // The settings of `make bench` (bench/src/main.rs).
    let server = TestingServer::with_config(ServerConfig {
        tick_time_ms: 50,
        heap_mb: 1024,
        jvm_args: vec!["-XX:+UseParallelGC".into()],
        ..ServerConfig::default()
    })?;
    println!("{}", server.connect_string());
    let _ = std::io::stdin().read_to_end(&mut Vec::new());
    Ok(())
}

/// A window of async calls in flight (like raw_c_bench.c's mutex + cond).
#[derive(Default)]
struct Window {
    n: Mutex<usize>,
    cv: Condvar,
}

impl Window {
    fn acquire(&self, max: usize) {
        let mut n = self.n.lock().unwrap();
        while *n >= max {
            n = self.cv.wait(n).unwrap();
        }
        *n += 1;
    }
    fn release(&self) {
        *self.n.lock().unwrap() -= 1;
        self.cv.notify_all();
    }
    fn drain(&self) {
        let mut n = self.n.lock().unwrap();
        while *n > 0 {
            n = self.cv.wait(n).unwrap();
        }
    }
}

fn zkha_probe(op: &str, n: usize, window: usize, hosts: &str, path: &str) -> Res<()> {
    use zkha::{Acl, CreateMode, ZooKeeper};
    zkha::logging::set_debug_level(zkha::logging::LogLevel::Error);
    let zk = ZooKeeper::builder(hosts)
        .session_timeout_ms(10_000)
        .connect(Duration::from_secs(30))?;
    zk.create(
        path,
        &[b'v'; 100],
        &Acl::open_unsafe(),
        CreateMode::Persistent,
    )?;
    let w = Arc::new(Window::default());
    for _ in 0..n {
        if op == "get" {
            zk.get(path, false)?;
            continue;
        }
        w.acquire(window);
        let w = w.clone();
        zk.aget(path, move |r| {
            if r.is_err() {
                std::process::exit(1);
            }
            w.release();
        })?;
    }
    w.drain();
    zk.delete(path, -1)?;
    zk.close()?;
    Ok(())
}

fn pure_rust_probe(op: &str, n: usize, hosts: &str, path: &str) -> Res<()> {
    use zookeeper::{Acl, CreateMode, WatchedEvent, Watcher, ZooKeeper};
    struct Quiet;
    impl Watcher for Quiet {
        fn handle(&self, _: WatchedEvent) {}
    }
    if op != "get" {
        return Err("the pure-Rust crate has no async API".into());
    }
    let zk = ZooKeeper::connect(hosts, Duration::from_secs(10), Quiet)?;
    zk.create(
        path,
        vec![b'v'; 100],
        Acl::open_unsafe().clone(),
        CreateMode::Persistent,
    )?;
    for _ in 0..n {
        zk.get_data(path, false)?;
    }
    zk.delete(path, None)?;
    zk.close()?;
    Ok(())
}

fn main() -> Res<()> {
    let a: Vec<String> = std::env::args().skip(1).collect();
    match a.as_slice() {
        [s] if s == "server" => server(),
        [client, op, n, window, hosts, path] => {
            let (n, window) = (n.parse()?, window.parse()?);
            match client.as_str() {
                "zkha" => zkha_probe(op, n, window, hosts, path),
                "pure_rust" => pure_rust_probe(op, n, hosts, path),
                _ => Err(format!("unknown client {client}").into()),
            }
        }
        _ => Err("usage: probe server | probe CLIENT OP N WINDOW HOSTS PATH".into()),
    }
}
