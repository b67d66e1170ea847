//! Failover latency: two candidates of one kind contend; the master leaves
//! (SIGTERM: graceful exit, the session is closed) or crashes (SIGKILL); the
//! latency runs from that moment to the standby's `became_master` trace
//! line, both on CLOCK_MONOTONIC. Each cell repeats this `--failovers`
//! times, a fresh standby joining after each failover.
//!
//! The failovers are split into `--rounds` rounds; each round measures the
//! raw-C handover floor (`c/raw_c_handover.c`), then every peer's graceful
//! and crash cells in turn, so drift (the server's JIT and GC, other load)
//! hits the floor and every peer alike. A ratio to the floor is taken per
//! round and reported as the median over rounds with its min–max spread.
//!
//! The floor is paced like the peers: the server sits idle for the same
//! 150 ms + a random phase before each close, as before each SIGTERM of a
//! cell. Back to back, the server stays busy and the same three steps take
//! a third to a half of the time (measured too, as
//! `graceful_raw_c_back_to_back`): a floor measured that way is not one a
//! paced cell could ever reach.

use crate::{percentile, wait_until, zkha_bin, Jitter, Options};
use serde_json::{json, Map, Value};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};
use zkha::clock::monotonic_ms;
use zkha::{Acl, CreateMode, EventType, ZooKeeper};

use crate::median;

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

/// Where a graceful failover's time went: ms after the SIGTERM at which the
/// old master said `lost_master` (it saw the stop), said `exit` (its
/// session close returned), and the standby's last `create` before it
/// became master (the create's answer reached the election thread).
const STEPS: [&str; 3] = ["lost_master", "exit", "create"];

/// One cell's samples in one round: latencies, and for each of [`STEPS`]
/// the times after t0 where the traces have them.
struct CellRound {
    samples: Vec<f64>,
    /// Per step, per sample (None: not in the traces).
    steps: Vec<Vec<Option<f64>>>,
}

/// The step times of one failover (from t0), from both candidates' traces.
fn step_times(master: &Cand, standby: &Cand, t0: f64, won: f64, steps: &mut [Vec<Option<f64>>]) {
    let old = events(&master.trace);
    let new = events(&standby.trace);
    let first = |evs: &[Ev], name: &str| {
        evs.iter()
            .find(|e| e.event == name && e.t >= t0)
            .map(|e| e.t - t0)
    };
    let found = [
        first(&old, "lost_master"),
        first(&old, "exit"),
        new.iter()
            .rev()
            .find(|e| e.event == "create" && e.t >= t0 && e.t <= won)
            .map(|e| e.t - t0),
    ];
    for (v, f) in steps.iter_mut().zip(found) {
        v.push(f);
    }
}

#[allow(clippy::too_many_arguments)]
fn cell(
    o: &Options,
    hosts: &str,
    peer: &str,
    crash: bool,
    zk: &ZooKeeper,
    count: usize,
    round: usize,
) -> Result<CellRound, Box<dyn std::error::Error>> {
    let kind = if crash { "crash" } else { "graceful" };
    let dir = o
        .out_dir
        .join("failover")
        .join(format!("{peer}-{kind}-r{round}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    let parent = format!("/bench-fo-{}-{peer}-{kind}-r{round}", std::process::id());
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
    let mut samples = Vec::with_capacity(count);
    let mut steps = vec![Vec::new(); STEPS.len()];
    let mut jitter =
        Jitter(0x9e37_79b9_7f4a_7c15 ^ serial as u64 ^ peer.len() as u64 ^ (round as u64) << 32);
    for i in 0..count {
        if !wait_until(Duration::from_secs(30), || ready(peer, &standby)) {
            return Err(format!("{peer}: a standby never got ready").into());
        }
        // A random phase against the pollers' 1 s cycle (otherwise every
        // sample would land at the same point of it); the pollers always
        // get the whole cycle, the others `--phase-ms`.
        let phase = pace_spread(o, peer);
        std::thread::sleep(Duration::from_millis(
            PACE_MIN_MS + jitter.next_u64() % phase,
        ));
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
        let won = won.unwrap_or(t0);
        samples.push(won - t0);
        reap(&mut master);
        if !crash {
            step_times(&master, &standby, t0, won, &mut steps);
        }
        master = standby;
        standby = next(&mut serial)?;
    }
    eprintln!(
        "bench: failover round {round}: {peer}/{kind} n={count} p50 {:.1} ms",
        median(&samples)
    );
    for c in [&mut master, &mut standby] {
        let _ = c.child.kill();
        let _ = c.child.wait();
    }
    Ok(CellRound { samples, steps })
}

/// How long the server sits idle before each graceful stop: 150 ms plus a
/// phase drawn from `0..PACE_SPREAD` (ms). The cells and the paced floor
/// share it; the pollers get at least their whole 1 s cycle.
fn pace_spread(o: &Options, peer: &str) -> u64 {
    if matches!(peer, "seed" | "cpp_peer") {
        o.phase_ms.max(1000)
    } else {
        o.phase_ms.max(1)
    }
}
const PACE_MIN_MS: u64 = 150;

/// One round of the raw-C graceful-handover floor: `n` handovers between
/// two raw C handles (see `c/raw_c_handover.c`), with the session timeout
/// the candidates use; paced (idle before each close, as the cells) or back
/// to back.
struct FloorRound {
    total: Vec<f64>,
    notify: Vec<f64>,
    close: Vec<f64>,
}

fn floor_round(
    o: &Options,
    hosts: &str,
    round: usize,
    n: usize,
    paced: bool,
) -> Result<FloorRound, Box<dyn std::error::Error>> {
    let path = format!(
        "/bench-floor-{}-r{round}-{}",
        std::process::id(),
        if paced { "paced" } else { "hot" }
    );
    let (idle, spread) = if paced {
        (PACE_MIN_MS, pace_spread(o, "safe"))
    } else {
        (0, 0)
    };
    let out = Command::new(env!("ZKHA_RAW_C_HANDOVER"))
        .args([hosts, &path, &o.session_ms.to_string(), &n.to_string(), "3"])
        .args([idle.to_string(), spread.to_string()])
        .stdin(Stdio::null())
        .output()?;
    if !out.status.success() {
        return Err(format!(
            "raw_c_handover failed: {}",
            String::from_utf8_lossy(&out.stderr)
        )
        .into());
    }
    let v: Value = serde_json::from_slice(&out.stdout)?;
    let arr = |k: &str| -> Vec<f64> {
        v[k].as_array()
            .map(|a| a.iter().filter_map(Value::as_f64).collect())
            .unwrap_or_default()
    };
    let r = FloorRound {
        total: arr("total_ms"),
        notify: arr("notify_ms"),
        close: arr("close_ms"),
    };
    if r.total.len() != n {
        return Err(format!("raw_c_handover: {} samples, not {n}", r.total.len()).into());
    }
    eprintln!(
        "bench: failover round {round}: raw-C handover floor ({}) n={n} p50 {:.2} ms",
        if paced { "paced" } else { "back to back" },
        median(&r.total)
    );
    Ok(r)
}

/// Where the standby of [`zkha_client_handover`] creates the node.
#[derive(Clone, Copy, PartialEq)]
enum Shape {
    /// From its watcher, on the completion thread (like the raw-C floor).
    InWatcher,
    /// The watcher wakes one thread (its own condvar), which creates with a
    /// synchronous call.
    OnThread,
    /// As the safe elector's standby does: the watcher bumps a counter and
    /// `notify_all`s one parking_lot condvar on which three threads wait:
    /// the one that creates (the election thread), an idle one (the work
    /// loop) and one that reads the node on every wake (the narrator).
    SharedCondvar,
}

/// The same three steps as the raw-C floor through the zkha client, no
/// elector: where and how the standby creates the node decides what the
/// handover costs (see [`Shape`]).
fn zkha_client_handover(
    o: &Options,
    hosts: &str,
    round: usize,
    n: usize,
    shape: Shape,
) -> Result<Vec<f64>, Box<dyn std::error::Error>> {
    let path = format!(
        "/bench-zfloor-{}-r{round}-{}",
        std::process::id(),
        shape as u8
    );
    let connect = || -> Result<Arc<ZooKeeper>, zkha::Error> {
        Ok(Arc::new(
            ZooKeeper::builder(hosts)
                .session_timeout_ms(o.session_ms as i64)
                .connect(Duration::from_secs(30))?,
        ))
    };
    let open = Acl::open_unsafe();
    let mut holder = connect()?;
    holder.create(&path, b"x", &open, CreateMode::Ephemeral)?;
    let mut v = Vec::with_capacity(n);
    let warmup = 3;
    for i in 0..warmup + n {
        let standby = connect()?;
        let (done, created) = mpsc::channel::<Result<f64, zkha::Error>>();
        let mut worker = None;
        let mut others = Vec::new();
        let stat = if shape == Shape::SharedCondvar {
            // (wake count, stop), and the condvar all three wait on.
            let state = Arc::new((
                parking_lot::Mutex::new((0u64, false)),
                parking_lot::Condvar::new(),
            ));
            let s = state.clone();
            let stat = standby.wexists(&path, move |e| {
                if e.event_type == EventType::Deleted {
                    s.0.lock().0 += 1;
                    s.1.notify_all();
                }
            })?;
            // The idle waiter and the reader, each until stopped.
            for reads in [false, true] {
                let (s, zk, p) = (state.clone(), standby.clone(), path.clone());
                others.push(std::thread::spawn(move || {
                    let mut seen = 0;
                    loop {
                        {
                            let mut g = s.0.lock();
                            while g.0 == seen && !g.1 {
                                s.1.wait_for(&mut g, Duration::from_secs(1));
                            }
                            if g.1 {
                                return;
                            }
                            seen = g.0;
                        }
                        if reads {
                            let _ = zk.get(&p, false);
                        }
                    }
                }));
            }
            let (s, zk, p, acl) = (state.clone(), standby.clone(), path.clone(), open.clone());
            worker = Some(std::thread::spawn(move || {
                let deadline = std::time::Instant::now() + Duration::from_secs(30);
                {
                    let mut g = s.0.lock();
                    while g.0 == 0 {
                        if s.1.wait_until(&mut g, deadline).timed_out() {
                            return;
                        }
                    }
                }
                let r = zk.create2(&p, b"x", &acl, CreateMode::Ephemeral);
                let _ = done.send(r.map(|_| monotonic_ms()));
                s.0.lock().1 = true;
                s.1.notify_all();
            }));
            stat
        } else if shape == Shape::OnThread {
            let (fire, fired) = mpsc::channel::<()>();
            let stat = standby.wexists(&path, move |e| {
                if e.event_type == EventType::Deleted {
                    let _ = fire.send(());
                }
            })?;
            let (zk, p, acl) = (standby.clone(), path.clone(), open.clone());
            worker = Some(std::thread::spawn(move || {
                if fired.recv_timeout(Duration::from_secs(30)).is_ok() {
                    let r = zk.create2(&p, b"x", &acl, CreateMode::Ephemeral);
                    let _ = done.send(r.map(|_| monotonic_ms()));
                }
            }));
            stat
        } else {
            let (zk, p, acl) = (Arc::downgrade(&standby), path.clone(), open.clone());
            standby.wexists(&path, move |e| {
                if e.event_type != EventType::Deleted {
                    return;
                }
                if let Some(zk) = zk.upgrade() {
                    let done2 = done.clone();
                    let sent = zk.acreate(&p, b"x", &acl, CreateMode::Ephemeral, move |r| {
                        let _ = done2.send(r.map(|_| monotonic_ms()));
                    });
                    if let Err(e) = sent {
                        let _ = done.send(Err(e));
                    }
                }
            })?
        };
        if stat.is_none() {
            return Err("zkha client handover: the node is gone before the close".into());
        }
        let t0 = monotonic_ms();
        holder.close()?;
        let t1 = created.recv_timeout(Duration::from_secs(30))??;
        for w in worker.into_iter().chain(others) {
            let _ = w.join();
        }
        if i >= warmup {
            v.push(t1 - t0);
        }
        holder = standby;
    }
    holder.close()?;
    Ok(v)
}

fn sorted(v: &[f64]) -> Vec<f64> {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    s
}

fn pcts(v: &[f64]) -> Value {
    let s = sorted(v);
    json!({"p50_ms": percentile(&s, 50.0), "p99_ms": percentile(&s, 99.0), "n": s.len()})
}

/// Median and min–max of per-round ratios (NaN-free rounds only).
fn spread(ratios: &[f64]) -> Value {
    let r: Vec<f64> = ratios.iter().copied().filter(|x| x.is_finite()).collect();
    if r.is_empty() {
        return json!({ "median": Value::Null, "min": Value::Null, "max": Value::Null });
    }
    let s = sorted(&r);
    json!({ "median": median(&s), "min": s[0], "max": s[s.len() - 1] })
}

/// `count` split as evenly as possible over `rounds` (earlier rounds get
/// the remainder).
fn share(count: usize, rounds: usize, round: usize) -> usize {
    count / rounds + usize::from(round < count % rounds)
}

/// Runs every round; returns the cells (peer → kind → figures) and the
/// floors (`graceful_raw_c`, `crash_ms`).
pub fn run(o: &Options, hosts: &str) -> Result<(Value, Value), Box<dyn std::error::Error>> {
    let zk = ZooKeeper::builder(hosts).connect(Duration::from_secs(30))?;
    let peers: Vec<&str> = PEERS
        .iter()
        .copied()
        .filter(|p| o.peers.iter().any(|q| q == p))
        .collect();
    let rounds = o.rounds.min(o.failovers).max(1);
    let mut floors: Vec<FloorRound> = Vec::new();
    let mut hot_floors: Vec<FloorRound> = Vec::new();
    // The zkha client's handover: create from the watcher, on a thread.
    let (mut z_watcher, mut z_thread, mut z_shared) = (Vec::new(), Vec::new(), Vec::new());
    // (peer, crash) → one CellRound per round.
    let mut cells: Vec<((&str, bool), Vec<CellRound>)> = peers
        .iter()
        .flat_map(|p| [((*p, false), Vec::new()), ((*p, true), Vec::new())])
        .filter(|((_, crash), _)| {
            let kind = if *crash { "crash" } else { "graceful" };
            o.kinds.iter().any(|k| k == kind)
        })
        .collect();
    for round in 0..rounds {
        let n = share(o.floor_samples, rounds, round).max(1);
        floors.push(floor_round(o, hosts, round + 1, n, true)?);
        hot_floors.push(floor_round(o, hosts, round + 1, n, false)?);
        z_watcher.extend(zkha_client_handover(
            o,
            hosts,
            round + 1,
            n,
            Shape::InWatcher,
        )?);
        z_thread.extend(zkha_client_handover(
            o,
            hosts,
            round + 1,
            n,
            Shape::OnThread,
        )?);
        z_shared.extend(zkha_client_handover(
            o,
            hosts,
            round + 1,
            n,
            Shape::SharedCondvar,
        )?);
        let count = share(o.failovers, rounds, round);
        for ((peer, crash), out) in cells.iter_mut() {
            out.push(cell(o, hosts, peer, *crash, &zk, count, round + 1)?);
        }
    }
    let floor_all: Vec<f64> = sorted(
        &floors
            .iter()
            .flat_map(|f| f.total.clone())
            .collect::<Vec<_>>(),
    );
    let hot_all: Vec<f64> = sorted(
        &hot_floors
            .iter()
            .flat_map(|f| f.total.clone())
            .collect::<Vec<_>>(),
    );
    let floor_p50 = percentile(&floor_all, 50.0);
    let floor_p99 = percentile(&floor_all, 99.0);
    let floor_round_p = |p: f64| -> Vec<f64> {
        floors
            .iter()
            .map(|f| percentile(&sorted(&f.total), p))
            .collect()
    };
    let (fr50, fr99) = (floor_round_p(50.0), floor_round_p(99.0));
    let all_of = |f: fn(&FloorRound) -> &Vec<f64>| -> Vec<f64> {
        sorted(&floors.iter().flat_map(|r| f(r).clone()).collect::<Vec<_>>())
    };
    let floor = json!({
        "graceful_raw_c": {
            "p50_ms": floor_p50,
            "p90_ms": percentile(&floor_all, 90.0),
            "p99_ms": floor_p99,
            "max_ms": floor_all.last().copied().unwrap_or(f64::NAN),
            "n": floor_all.len(),
            "notify_p50_ms": percentile(&all_of(|r| &r.notify), 50.0),
            "close_p50_ms": percentile(&all_of(|r| &r.close), 50.0),
            "rounds": fr50.iter().zip(&fr99).map(|(a, b)| json!({"p50_ms": a, "p99_ms": b})).collect::<Vec<_>>(),
            "samples_ms": floor_all,
            "what": "raw C, two handles: holder's zookeeper_close (t0) -> standby's exists-watch fires -> standby's create completes (t1); the server idle before each close as before each stop in the cells",
            "idle_before_each_ms": format!("{PACE_MIN_MS}–{}", PACE_MIN_MS + pace_spread(o, "safe")),
        },
        // The same, back to back: the server kept hot (not the reference).
        "graceful_raw_c_back_to_back": {
            "p50_ms": percentile(&hot_all, 50.0),
            "p90_ms": percentile(&hot_all, 90.0),
            "p99_ms": percentile(&hot_all, 99.0),
            "n": hot_all.len(),
            "notify_p50_ms": percentile(&sorted(&hot_floors.iter().flat_map(|r| r.notify.clone()).collect::<Vec<_>>()), 50.0),
            "close_p50_ms": percentile(&sorted(&hot_floors.iter().flat_map(|r| r.close.clone()).collect::<Vec<_>>()), 50.0),
        },
        "crash_ms": o.session_ms,
        // Not floors: the same three steps through the zkha client, to see
        // what the standby's thread handoff costs (see zkha_client_handover).
        "zkha_client_handover": {
            "create_in_watcher": pcts(&z_watcher),
            "create_on_thread": pcts(&z_thread),
            "create_on_thread_shared_condvar_with_reader": pcts(&z_shared),
        },
    });
    let mut out = Map::new();
    for ((peer, crash), per_round) in &cells {
        let kind = if *crash { "crash" } else { "graceful" };
        let s = sorted(
            &per_round
                .iter()
                .flat_map(|c| c.samples.clone())
                .collect::<Vec<_>>(),
        );
        // Per-round ratios: each round's p50 (p99) over that round's floor.
        let (mut r50, mut r99) = (Vec::new(), Vec::new());
        let mut rounds_json = Vec::new();
        for (i, c) in per_round.iter().enumerate() {
            let cs = sorted(&c.samples);
            let (p50, p99) = (percentile(&cs, 50.0), percentile(&cs, 99.0));
            let (f50, f99) = if *crash {
                (o.session_ms as f64, o.session_ms as f64)
            } else {
                (fr50[i], fr99[i])
            };
            r50.push(p50 / f50);
            r99.push(p99 / f99);
            rounds_json.push(json!({"n": cs.len(), "p50_ms": p50, "p99_ms": p99, "p50_over_floor": p50 / f50, "p99_over_floor": p99 / f99}));
        }
        let (s50, s99) = (spread(&r50), spread(&r99));
        let mut v = json!({
            "p50_ms": percentile(&s, 50.0),
            "p90_ms": percentile(&s, 90.0),
            "p99_ms": percentile(&s, 99.0),
            "max_ms": s.last().copied().unwrap_or(f64::NAN),
            "n": s.len(),
            "floor_ms": if *crash { o.session_ms as f64 } else { floor_p50 },
            "floor_p99_ms": if *crash { o.session_ms as f64 } else { floor_p99 },
            "p50_over_floor": s50["median"],
            "p99_over_floor": s99["median"],
            "p50_over_floor_spread": s50,
            "p99_over_floor_spread": s99,
            "rounds": rounds_json,
            "samples_ms": s,
            "samples_in_order_ms": per_round.iter().flat_map(|c| c.samples.clone()).collect::<Vec<_>>(),
        });
        if !*crash {
            let (mut steps, mut each) = (Map::new(), Map::new());
            for (k, name) in STEPS.iter().enumerate() {
                let all: Vec<Option<f64>> =
                    per_round.iter().flat_map(|c| c.steps[k].clone()).collect();
                let found: Vec<f64> = all.iter().flatten().copied().collect();
                if !found.is_empty() {
                    steps.insert((*name).into(), json!(median(&found)));
                }
                each.insert((*name).into(), json!(all));
            }
            v["steps_p50_ms"] = Value::Object(steps);
            // In sample order (round after round), like `rounds`.
            v["steps_ms"] = Value::Object(each);
        }
        out.entry(peer.to_string())
            .or_insert_with(|| json!({}))
            .as_object_mut()
            .expect("an object")
            .insert(kind.into(), v);
    }
    Ok((Value::Object(out), floor))
}
