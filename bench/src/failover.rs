//! Failover latency: two candidates of one kind contend; the master leaves
//! (SIGTERM: graceful exit, the session is closed) or crashes (SIGKILL); the
//! latency runs from that moment to the standby's `became_master` trace
//! line, both on CLOCK_MONOTONIC. Each cell repeats this `--failovers`
//! times, a fresh standby joining after each failover.

use crate::{percentile, wait_until, zkha_bin, Options};
use serde_json::{json, Map, Value};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};
use zkha::elector::trace::monotonic_ms;
use zkha::{Acl, CreateMode, ZooKeeper};

pub const PEERS: [&str; 6] = ["safe", "run", "sequence", "seed", "cpp_peer", "kazoo"];

struct Cand {
    child: Child,
    trace: PathBuf,
}

struct Ev {
    t: f64,
    event: String,
    rc: Option<i64>,
}

fn events(trace: &Path) -> Vec<Ev> {
    std::fs::read_to_string(trace)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .map(|v| Ev {
            t: v["t"].as_f64().unwrap_or(0.0),
            event: v["event"].as_str().unwrap_or_default().to_owned(),
            rc: v["rc"].as_i64(),
        })
        .collect()
}

fn spawn(
    o: &Options,
    peer: &str,
    hosts: &str,
    path: &str,
    dir: &Path,
    n: usize,
) -> Result<Cand, Box<dyn std::error::Error>> {
    let name = format!("{peer}-{n}");
    let trace = dir.join(format!("{name}.trace"));
    let t = o.session_ms.to_string();
    let mut cmd = match peer {
        "cpp_peer" => {
            let mut c = Command::new(zkha_testing::programs::seed_peer());
            c.args([hosts, path, "10.0.0.1", &t, "1000", "--trace"])
                .arg(&trace);
            c
        }
        "kazoo" => {
            let mut c = Command::new(&o.python);
            c.arg(o.root.join("bench/py/kazoo_candidate.py"))
                .args([hosts, path, &name, &t])
                .arg(&trace);
            c
        }
        // `zkha run` (safe) supervising a command: its crash is a SIGKILL of
        // zkha run itself, after which its watchdog stops the command and
        // ends the session (--on-crash handover, the default).
        "run" => {
            let mut c = Command::new(zkha_bin());
            c.env("RUST_LOG", "error")
                .args([
                    "run",
                    "--hosts",
                    hosts,
                    "--path",
                    path,
                    "--session-timeout",
                    &t,
                    "--grace",
                    "100",
                    "--trace",
                ])
                .arg(&trace)
                .args(["--", "sleep", "3600"]);
            c
        }
        _ => {
            let mut c = Command::new(zkha_bin());
            c.env("RUST_LOG", "error")
                .args([
                    "candidate",
                    "--hosts",
                    hosts,
                    "--path",
                    path,
                    "--session-timeout",
                    &t,
                    "--trace",
                ])
                .arg(&trace)
                .args(["--profile", if peer == "seed" { "seed" } else { "safe" }]);
            if peer == "sequence" {
                c.args(["--mode", "sequence"]);
            }
            c
        }
    };
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    // Tied to this process: an interrupted bench leaves no candidate behind.
    let child = zkha_testing::spawn_tied_to_process(cmd)?;
    Ok(Cand { child, trace })
}

/// Standing by: its contender node exists or its polling has begun.
fn ready(peer: &str, c: &Cand) -> bool {
    let evs = events(&c.trace);
    match peer {
        "kazoo" => evs.iter().any(|e| e.event == "standby"),
        "sequence" => evs.iter().any(|e| e.event == "create" && e.rc == Some(0)),
        _ => evs.iter().any(|e| e.event == "create"),
    }
}

fn reap(c: &mut Cand) {
    let end = Instant::now() + Duration::from_secs(10);
    while Instant::now() < end {
        if let Ok(Some(_)) = c.child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let _ = c.child.kill();
    let _ = c.child.wait();
}

fn cell(
    o: &Options,
    hosts: &str,
    peer: &str,
    crash: bool,
    zk: &ZooKeeper,
) -> Result<Vec<f64>, Box<dyn std::error::Error>> {
    let kind = if crash { "crash" } else { "graceful" };
    let dir = o.out_dir.join("failover").join(format!("{peer}-{kind}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let parent = format!("/bench-fo-{}-{peer}-{kind}", std::process::id());
    zk.create(&parent, b"", &Acl::open_unsafe(), CreateMode::Persistent)?;
    let path = if peer == "sequence" || peer == "kazoo" {
        parent.clone()
    } else {
        format!("{parent}/master")
    };
    let mut serial = 0;
    let next = |serial: &mut usize| -> Result<Cand, Box<dyn std::error::Error>> {
        *serial += 1;
        spawn(o, peer, hosts, &path, &dir, *serial)
    };
    let mut master = next(&mut serial)?;
    if !wait_until(Duration::from_secs(30), || {
        events(&master.trace)
            .iter()
            .any(|e| e.event == "became_master")
    }) {
        return Err(format!("{peer}: the first candidate never became master").into());
    }
    let mut standby = next(&mut serial)?;
    let mut samples = Vec::with_capacity(o.failovers);
    let mut jitter = Jitter(0x9e37_79b9_7f4a_7c15 ^ serial as u64 ^ peer.len() as u64);
    for i in 0..o.failovers {
        if !wait_until(Duration::from_secs(30), || ready(peer, &standby)) {
            return Err(format!("{peer}: a standby never got ready").into());
        }
        // A random phase against the pollers' 1 s cycle (otherwise every
        // sample would land at the same point of it).
        std::thread::sleep(Duration::from_millis(150 + jitter.next() % 1000));
        let t0 = monotonic_ms();
        // SAFETY: signals our own child process.
        unsafe {
            libc::kill(
                master.child.id() as i32,
                if crash { libc::SIGKILL } else { libc::SIGTERM },
            )
        };
        let mut won = None;
        let ok = wait_until(Duration::from_millis(o.session_ms * 4 + 15_000), || {
            won = events(&standby.trace)
                .iter()
                .find(|e| e.event == "became_master" && e.t >= t0)
                .map(|e| e.t);
            won.is_some()
        });
        if !ok {
            return Err(format!("{peer}/{kind}: no takeover in failover {}", i + 1).into());
        }
        samples.push(won.unwrap_or(t0) - t0);
        reap(&mut master);
        master = standby;
        standby = next(&mut serial)?;
        if (i + 1) % 10 == 0 || i + 1 == o.failovers {
            let mut s = samples.clone();
            s.sort_by(f64::total_cmp);
            eprintln!(
                "bench: failover {peer}/{kind} {}/{} (p50 so far {:.1} ms)",
                i + 1,
                o.failovers,
                percentile(&s, 50.0)
            );
        }
    }
    for c in [&mut master, &mut standby] {
        let _ = c.child.kill();
        let _ = c.child.wait();
    }
    Ok(samples)
}

/// xorshift64: a reproducible phase jitter.
struct Jitter(u64);

impl Jitter {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// One round trip plus a watch notification: from one client's create to
/// another client's watcher call, median of 200.
fn graceful_floor(hosts: &str) -> Result<f64, Box<dyn std::error::Error>> {
    let a = ZooKeeper::builder(hosts).connect(Duration::from_secs(30))?;
    let b = ZooKeeper::builder(hosts).connect(Duration::from_secs(30))?;
    let path = format!("/bench-floor-{}", std::process::id());
    let mut v = Vec::new();
    for _ in 0..200 {
        let (tx, rx) = mpsc::channel();
        b.wexists(&path, move |_| {
            let _ = tx.send(monotonic_ms());
        })?;
        let t0 = monotonic_ms();
        a.create(&path, b"", &Acl::open_unsafe(), CreateMode::Ephemeral)?;
        let t1 = rx.recv_timeout(Duration::from_secs(10))?;
        v.push(t1 - t0);
        a.delete(&path, -1)?;
    }
    v.sort_by(f64::total_cmp);
    Ok(percentile(&v, 50.0))
}

pub fn run(o: &Options, hosts: &str) -> Result<Value, Box<dyn std::error::Error>> {
    let floor_graceful = graceful_floor(hosts)?;
    eprintln!("bench: graceful floor (round trip + watch notification) {floor_graceful:.2} ms");
    let zk = ZooKeeper::builder(hosts).connect(Duration::from_secs(30))?;
    let mut out = Map::new();
    for peer in PEERS.iter().filter(|p| o.peers.iter().any(|q| q == *p)) {
        let peer = *peer;
        let mut per = Map::new();
        for crash in [false, true] {
            let kind = if crash { "crash" } else { "graceful" };
            eprintln!("bench: failover {peer}/{kind}: {} failovers", o.failovers);
            let mut s = cell(o, hosts, peer, crash, &zk)?;
            s.sort_by(f64::total_cmp);
            let floor = if crash {
                o.session_ms as f64
            } else {
                floor_graceful
            };
            per.insert(
                kind.into(),
                json!({
                    "p50_ms": percentile(&s, 50.0),
                    "p90_ms": percentile(&s, 90.0),
                    "p99_ms": percentile(&s, 99.0),
                    "max_ms": s.last().copied().unwrap_or(f64::NAN),
                    "n": s.len(),
                    "floor_ms": floor,
                    "samples_ms": s,
                }),
            );
        }
        out.insert(peer.into(), Value::Object(per));
    }
    Ok(Value::Object(out))
}
