//! One cell, a mode at one size: the graceful failovers and the idle load
//! on one population, the crash failovers on another.

use super::population::Population;
use super::server::{mntr, server_cpu_ms, zxid};
use super::{Error, ScaleOptions, CPU_WINDOW};
use crate::{percentile, wait_until, Jitter, Options};
use serde_json::{json, Map, Value};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use zkha::__private::monotonic_ms;
use zkha::{Acl, CreateMode, ZooKeeper};
use zkha_testing::{ProxyMode, TestingServer};

pub(super) fn sorted(mut v: Vec<f64>) -> Vec<f64> {
    v.sort_by(f64::total_cmp);
    v
}

/// Creates the election's parent (the seed never creates parents, S6).
pub(super) fn new_path(zk: &ZooKeeper, mode: &str, n: usize, kind: &str) -> Result<String, Error> {
    let parent = format!("/bench-scale-{}-{mode}-{n}-{kind}", std::process::id());
    // Retried: on a loaded machine a call may time out (its outcome then
    // unknown, hence NODEEXISTS is fine too).
    let end = Instant::now() + Duration::from_secs(60);
    loop {
        match zk.create(&parent, b"", &Acl::open_unsafe(), CreateMode::Persistent) {
            Ok(_) => break,
            Err(e) if e.code() == Some(zkha::ErrorCode::NodeExists) => break,
            Err(e) if Instant::now() < end => {
                eprintln!("bench: scale: creating {parent}: {e}; again");
                std::thread::sleep(Duration::from_millis(500));
            }
            Err(e) => return Err(format!("creating {parent}: {e}").into()),
        }
    }
    Ok(if mode == "sequence" {
        parent
    } else {
        format!("{parent}/m")
    })
}

/// What every cell works with.
pub(super) struct Ctx<'a> {
    pub(super) o: &'a Options,
    pub(super) s: &'a ScaleOptions,
    pub(super) hosts: &'a str,
    pub(super) server: &'a TestingServer,
    /// For the election parents.
    pub(super) zk: &'a ZooKeeper,
    /// The server JVM's.
    pub(super) pid: u32,
}

pub(super) fn start<'a>(
    cx: &Ctx<'a>,
    mode: &'a str,
    n: usize,
    path: String,
    proxied: bool,
) -> Result<Population<'a>, Error> {
    let mut p = Population {
        mode,
        hosts: cx.hosts,
        path,
        session_ms: cx.o.session_ms,
        proxied,
        wins: Arc::new(Mutex::new(Vec::new())),
        members: Vec::with_capacity(n),
        next_id: 0,
        expiries: 0,
    };
    for _ in 0..n {
        p.add()?;
        // The seed's run loops poll once a second from their start: spread
        // their phases over the second, as independent processes would be.
        if mode == "seed" {
            std::thread::sleep(Duration::from_millis(1000 / n as u64));
        }
    }
    p.settle(cx.server, "start")?;
    Ok(p)
}

/// Graceful failovers, notifications, CPU and the idle load of one (mode, N).
pub(super) fn graceful_and_idle(
    cx: &Ctx,
    mode: &str,
    n: usize,
) -> Result<Map<String, Value>, Error> {
    let (s, server, pid) = (cx.s, cx.server, cx.pid);
    let t_start = Instant::now();
    let mut pop = start(cx, mode, n, new_path(cx.zk, mode, n, "g")?, false)?;
    let started_s = t_start.elapsed().as_secs_f64();

    // Idle: nobody fails over; the seed's standbys keep polling, the safe
    // master renews its lease.
    let (z0, p0, c0) = (
        zxid(server)?,
        mntr(server, "zk_packets_received")?,
        server_cpu_ms(pid)?,
    );
    let t0 = Instant::now();
    std::thread::sleep(Duration::from_secs(s.idle_s));
    let (z1, p1, c1) = (
        zxid(server)?,
        mntr(server, "zk_packets_received")?,
        server_cpu_ms(pid)?,
    );
    let idle = t0.elapsed().as_secs_f64();
    let idle_writes = (z1 - z0) as f64 / idle;
    let idle_packets = (p1 - p0) / idle;
    let idle_cpu_per_s = (c1 - c0) / idle;

    let mut jitter = Jitter(0x9e37_79b9_7f4a_7c15 ^ n as u64 ^ mode.len() as u64);
    let mut latencies = Vec::with_capacity(s.graceful);
    let mut notes = Vec::with_capacity(s.graceful);
    let (mut cpu, mut window_s) = (0.0, 0.0);
    let mut failed = 0;
    for i in 0..s.graceful {
        // The seed's standbys poll once a second: a random phase against
        // their cycle (the others wait on watches; a short pause).
        let pause = if mode == "seed" {
            100 + jitter.next_u64() % 1000
        } else {
            50
        };
        std::thread::sleep(Duration::from_millis(pause));
        let m = pop.masters();
        let [old] = m[..] else {
            return Err(
                format!("scale {mode}/{n}: masters {m:?} before failover {}", i + 1).into(),
            );
        };
        let old_id = pop.members[old].id;
        let before = pop.notifications();
        let (cpu0, w0) = (server_cpu_ms(pid)?, Instant::now());
        let t0 = monotonic_ms();
        // On a busy machine a 1 s session may blip: the seed's synchronous
        // delete can time out, or the resigned master win again before a
        // standby polls. Such a round is counted, not measured, and the
        // next one starts from whoever is master then.
        let resigned = pop.members[old].elector.resign();
        let mut won = None;
        if resigned.is_err()
            || !wait_until(Duration::from_secs(10), || {
                won = pop.won_after(old_id, t0);
                won.is_some()
            })
        {
            eprintln!(
                "bench: scale {mode}/{n}: graceful failover {} failed ({}), not counted",
                i + 1,
                match &resigned {
                    Err(e) => format!("resign: {e}"),
                    Ok(()) => "no takeover by another candidate in 10 s".into(),
                }
            );
            failed += 1;
            if resigned.is_err() {
                // It may still hold the node without knowing (the delete's
                // outcome is unknown): it leaves, its session with it.
                let gone = pop.members.swap_remove(old);
                let _ = gone.retire().join();
                pop.add()?;
            }
            pop.settle(server, &format!("after failed failover {}", i + 1))?;
            continue;
        }
        latencies.push(won.unwrap_or(t0) - t0);
        // The server's share: the delete, the notifications, the standbys'
        // creates and new watches, done within CPU_WINDOW of the takeover.
        // Read before settling, whose `wchc` dumps cost the server too.
        std::thread::sleep(CPU_WINDOW);
        cpu += server_cpu_ms(pid)? - cpu0;
        window_s += w0.elapsed().as_secs_f64();
        pop.settle(server, &format!("graceful failover {}", i + 1))?;
        notes.push((pop.notifications() - before) as f64);
    }
    let per = latencies.len().max(1) as f64;
    pop.retire_all();
    let l = sorted(latencies);
    let mut out = Map::new();
    out.insert("graceful_p50_ms".into(), json!(percentile(&l, 50.0)));
    out.insert("graceful_p99_ms".into(), json!(percentile(&l, 99.0)));
    out.insert("graceful_n".into(), json!(l.len()));
    out.insert("graceful_failed".into(), json!(failed));
    out.insert("graceful_samples_ms".into(), json!(l));
    out.insert(
        "notifications_per_failover".into(),
        json!(notes.iter().sum::<f64>() / per),
    );
    out.insert("idle_server_requests_per_s".into(), json!(idle_writes));
    out.insert("idle_packets_received_per_s".into(), json!(idle_packets));
    out.insert("idle_server_cpu_ms_per_s".into(), json!(idle_cpu_per_s));
    out.insert("server_cpu_ms_per_failover".into(), json!(cpu / per));
    // The same, less what the server spends idle over as long (the seed's
    // polls, pings): what the failovers themselves cost.
    out.insert(
        "server_cpu_ms_per_failover_above_idle".into(),
        json!((cpu - idle_cpu_per_s * window_s) / per),
    );
    out.insert("start_s".into(), json!(started_s));
    out.insert("expiries_graceful_phase".into(), json!(pop.expiries));
    Ok(out)
}

/// Crash failovers of one (mode, N): every candidate behind its own proxy.
pub(super) fn crashes(cx: &Ctx, mode: &str, n: usize) -> Result<Map<String, Value>, Error> {
    let (o, s, server) = (cx.o, cx.s, cx.server);
    let mut pop = start(cx, mode, n, new_path(cx.zk, mode, n, "c")?, true)?;
    let mut jitter = Jitter(0x2545_f491_4f6c_dd1d ^ n as u64 ^ mode.len() as u64);
    let mut latencies = Vec::with_capacity(s.crashes);
    let mut failed = 0;
    let mut retired = Vec::new();
    for i in 0..s.crashes {
        let pause = if mode == "seed" {
            100 + jitter.next_u64() % 1000
        } else {
            100 + jitter.next_u64() % 300
        };
        std::thread::sleep(Duration::from_millis(pause));
        let m = pop.masters();
        let [old] = m[..] else {
            return Err(format!("scale {mode}/{n}: masters {m:?} before crash {}", i + 1).into());
        };
        let old_id = pop.members[old].id;
        let t0 = monotonic_ms();
        if let Some(p) = &pop.members[old].proxy {
            p.set_mode(ProxyMode::Blackhole);
        }
        let mut won = None;
        if wait_until(Duration::from_millis(o.session_ms * 4 + 15_000), || {
            won = pop.won_after(old_id, t0);
            won.is_some()
        }) {
            latencies.push(won.unwrap_or(t0) - t0);
        } else {
            eprintln!(
                "bench: scale {mode}/{n}: no takeover in crash {}, not counted",
                i + 1
            );
            failed += 1;
        }
        // The crashed candidate leaves (its connection attempts refused, so
        // its close is quick) and a fresh one takes its place.
        let gone = pop.members.swap_remove(old);
        if let Some(p) = &gone.proxy {
            p.set_mode(ProxyMode::Reset);
        }
        retired.push(gone.retire());
        pop.add()?;
        pop.settle(server, &format!("crash {}", i + 1))?;
    }
    pop.retire_all();
    let expiries = pop.expiries;
    for h in retired {
        let _ = h.join();
    }
    let l = sorted(latencies);
    let mut out = Map::new();
    out.insert("crash_p50_ms".into(), json!(percentile(&l, 50.0)));
    out.insert("crash_max_ms".into(), json!(l.last().copied()));
    out.insert("crash_n".into(), json!(l.len()));
    out.insert("crash_failed".into(), json!(failed));
    out.insert("crash_samples_ms".into(), json!(l));
    out.insert("expiries_crash_phase".into(), json!(expiries));
    Ok(out)
}
