//! Client throughput: synchronous create/get/set/delete and pipelined async
//! get, for raw C, the zkha wrapper, a pure-Rust client and kazoo, in
//! alternating rounds (median per cell), as ratios to raw C.

use crate::{median, Options};
use serde_json::{json, Map, Value};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use zkha::{Acl, CreateMode, ZooKeeper};

const OPS: [&str; 5] = ["create", "get", "set", "delete", "async_get"];

fn rate(n: usize, since: Instant) -> f64 {
    n as f64 / since.elapsed().as_secs_f64()
}

/// The zkha wrapper, timed exactly like raw_c_bench.c.
fn zkha_round(
    hosts: &str,
    n: usize,
    window: usize,
    prefix: &str,
) -> Result<Value, Box<dyn std::error::Error>> {
    let zk = ZooKeeper::builder(hosts)
        .session_timeout_ms(10_000)
        .connect(Duration::from_secs(30))?;
    let open = Acl::open_unsafe();
    let value = [b'v'; 100];
    zk.create(prefix, b"", &open, CreateMode::Persistent)?;
    let paths: Vec<String> = (0..n).map(|i| format!("{prefix}/n{i}")).collect();
    let mut r = Map::new();
    let t = Instant::now();
    for p in &paths {
        zk.create(p, &value, &open, CreateMode::Persistent)?;
    }
    r.insert("create".into(), json!(rate(n, t)));
    let t = Instant::now();
    for p in &paths {
        zk.get(p, false)?;
    }
    r.insert("get".into(), json!(rate(n, t)));
    let t = Instant::now();
    for p in &paths {
        zk.set(p, &value, -1)?;
    }
    r.insert("set".into(), json!(rate(n, t)));
    let in_flight = Arc::new((parking_lot_free::Gate::default(), AtomicUsize::new(0)));
    let t = Instant::now();
    for p in &paths {
        in_flight.0.acquire(window);
        let f = in_flight.clone();
        zk.aget(p, move |res| {
            if res.is_err() {
                f.1.fetch_add(1, Ordering::Relaxed);
            }
            f.0.release();
        })?;
    }
    in_flight.0.drain();
    r.insert("async_get".into(), json!(rate(n, t)));
    let t = Instant::now();
    for p in &paths {
        zk.delete(p, -1)?;
    }
    r.insert("delete".into(), json!(rate(n, t)));
    zk.delete(prefix, -1)?;
    if in_flight.1.load(Ordering::Relaxed) > 0 {
        return Err("async gets failed".into());
    }
    Ok(Value::Object(r))
}

/// A counting gate for the async window (std only).
mod parking_lot_free {
    use std::sync::{Condvar, Mutex};

    #[derive(Default)]
    pub struct Gate {
        n: Mutex<usize>,
        cv: Condvar,
    }

    impl Gate {
        pub fn acquire(&self, max: usize) {
            let mut n = self.n.lock().unwrap();
            while *n >= max {
                n = self.cv.wait(n).unwrap();
            }
            *n += 1;
        }
        pub fn release(&self) {
            *self.n.lock().unwrap() -= 1;
            self.cv.notify_all();
        }
        pub fn drain(&self) {
            let mut n = self.n.lock().unwrap();
            while *n > 0 {
                n = self.cv.wait(n).unwrap();
            }
        }
    }
}

/// The pure-Rust `zookeeper` crate (synchronous API only: no pipelining).
fn pure_rust_round(
    hosts: &str,
    n: usize,
    prefix: &str,
) -> Result<Value, Box<dyn std::error::Error>> {
    use zookeeper::{Acl as RAcl, CreateMode as RMode, WatchedEvent, Watcher, ZooKeeper as RZk};
    struct Quiet;
    impl Watcher for Quiet {
        fn handle(&self, _: WatchedEvent) {}
    }
    let zk = RZk::connect(hosts, Duration::from_secs(10), Quiet)?;
    let open = RAcl::open_unsafe().clone();
    let value = vec![b'v'; 100];
    zk.create(prefix, vec![], open.clone(), RMode::Persistent)?;
    let paths: Vec<String> = (0..n).map(|i| format!("{prefix}/n{i}")).collect();
    let mut r = Map::new();
    let t = Instant::now();
    for p in &paths {
        zk.create(p, value.clone(), open.clone(), RMode::Persistent)?;
    }
    r.insert("create".into(), json!(rate(n, t)));
    let t = Instant::now();
    for p in &paths {
        zk.get_data(p, false)?;
    }
    r.insert("get".into(), json!(rate(n, t)));
    let t = Instant::now();
    for p in &paths {
        zk.set_data(p, value.clone(), None)?;
    }
    r.insert("set".into(), json!(rate(n, t)));
    r.insert("async_get".into(), Value::Null);
    let t = Instant::now();
    for p in &paths {
        zk.delete(p, None)?;
    }
    r.insert("delete".into(), json!(rate(n, t)));
    zk.delete(prefix, None)?;
    zk.close()?;
    Ok(Value::Object(r))
}

fn external(cmd: &mut Command) -> Result<Value, Box<dyn std::error::Error>> {
    let out = cmd.output()?;
    if !out.status.success() {
        return Err(format!("{cmd:?} failed: {}", String::from_utf8_lossy(&out.stderr)).into());
    }
    Ok(serde_json::from_slice(&out.stdout)?)
}

pub fn run(o: &Options, hosts: &str) -> Result<Value, Box<dyn std::error::Error>> {
    // ZKHA_BENCH_CLIENTS=raw_c,zkha runs some clients only: a quick A/B of
    // a change to zkha's layer (the report needs all four).
    let only = std::env::var("ZKHA_BENCH_CLIENTS").ok();
    let clients: Vec<&str> = ["raw_c", "zkha", "pure_rust", "kazoo"]
        .into_iter()
        .filter(|c| {
            only.as_deref()
                .is_none_or(|o| o.split(',').any(|x| x == *c))
        })
        .collect();
    let mut samples: Map<String, Value> = Map::new();
    let mut all: Vec<(String, Vec<Value>)> = clients
        .iter()
        .map(|c| (c.to_string(), Vec::new()))
        .collect();
    let (n, w) = (o.ops, o.window);
    // kazoo (Python) is much slower: fewer ops keep the run short, the rate
    // is per second either way.
    let n_kazoo = (n / 4).max(100);
    for round in 1..=o.rounds {
        for (client, rounds) in all.iter_mut() {
            let prefix = format!("/bench-{client}-{}-{round}", std::process::id());
            eprintln!("bench: throughput round {round}/{}: {client}", o.rounds);
            let r = match client.as_str() {
                "raw_c" => external(Command::new(env!("ZKHA_RAW_C_BENCH")).args([
                    hosts,
                    &n.to_string(),
                    &w.to_string(),
                    &prefix,
                ]))?,
                "zkha" => zkha_round(hosts, n, w, &prefix)?,
                "pure_rust" => pure_rust_round(hosts, n, &prefix)?,
                _ => external(
                    Command::new(&o.python)
                        .arg(o.root.join("bench/py/kazoo_throughput.py"))
                        .args([hosts, &n_kazoo.to_string(), &w.to_string(), &prefix]),
                )?,
            };
            rounds.push(r);
        }
    }
    for (client, rounds) in &all {
        let mut cell = Map::new();
        for op in OPS {
            let v: Vec<f64> = rounds.iter().filter_map(|r| r[op].as_f64()).collect();
            cell.insert(
                op.into(),
                if v.is_empty() {
                    Value::Null
                } else {
                    json!(median(&v))
                },
            );
        }
        // Each round's figures too: ratios are taken round by round
        // (report::throughput_ratios).
        cell.insert("rounds".into(), json!(rounds));
        samples.insert(client.clone(), Value::Object(cell));
    }
    Ok(Value::Object(samples))
}
