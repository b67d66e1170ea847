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

mod cell;
mod floor;
mod peer;
mod switchover;

use crate::{median, percentile, Options};
use cell::{cell, pace_spread, CellRound, PACE_MIN_MS, STEPS};
use floor::{floor_round, zkha_client_handover, FloorRound, Shape};
use serde_json::{json, Map, Value};
use std::time::Duration;
pub use switchover::stop_probe_mode;
use switchover::{switchover_cell, SwitchRound, SWITCH_STEPS};
use zkha::ZooKeeper;

/// The cells: every peer's graceful and crash failovers, and `switchover`
/// (`zkha switchover --to` the standby, between two `zkha run`; one kind).
pub const PEERS: [&str; 7] = [
    "safe",
    "run",
    "sequence",
    "seed",
    "cpp_peer",
    "kazoo",
    "switchover",
];

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
    let switch = peers.contains(&"switchover");
    let mut switch_rounds: Vec<SwitchRound> = Vec::new();
    let mut cells: Vec<((&str, bool), Vec<CellRound>)> = peers
        .iter()
        .filter(|p| **p != "switchover")
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
        if switch {
            switch_rounds.push(switchover_cell(o, hosts, &zk, count, round + 1)?);
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
    if switch {
        out.insert(
            "switchover".into(),
            json!({ "switchover": switch_json(&switch_rounds, &fr50, &fr99, floor_p50, floor_p99) }),
        );
    }
    Ok((Value::Object(out), floor))
}

/// The switchover cell's figures: latencies from the control node's write,
/// the same net of the old command's own stop (sample by sample), from the
/// command's invocation, and the ratios to each round's floor (raw, and
/// net of the stop: the target is a multiple of the floor plus the stop).
fn switch_json(rounds: &[SwitchRound], fr50: &[f64], fr99: &[f64], f50: f64, f99: f64) -> Value {
    let net_of = |r: &SwitchRound| -> Vec<f64> {
        r.samples
            .iter()
            .zip(&r.stop)
            .map(|(s, stop)| s - if stop.is_finite() { *stop } else { 0.0 })
            .collect()
    };
    let all = |f: &dyn Fn(&SwitchRound) -> Vec<f64>| -> Vec<f64> {
        sorted(
            &rounds
                .iter()
                .flat_map(f)
                .filter(|x| x.is_finite())
                .collect::<Vec<_>>(),
        )
    };
    let s = all(&|r| r.samples.clone());
    let net = all(&net_of);
    let stop = all(&|r| r.stop.clone());
    let invoked = all(&|r| r.invoked.clone());
    let (mut r50, mut r99, mut n50, mut n99, mut per_round) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for (i, r) in rounds.iter().enumerate() {
        let cs = sorted(&r.samples);
        let ns = sorted(&net_of(r));
        let (p50, p99) = (percentile(&cs, 50.0), percentile(&cs, 99.0));
        let (q50, q99) = (percentile(&ns, 50.0), percentile(&ns, 99.0));
        r50.push(p50 / fr50[i]);
        r99.push(p99 / fr99[i]);
        n50.push(q50 / fr50[i]);
        n99.push(q99 / fr99[i]);
        per_round.push(json!({
            "n": cs.len(), "p50_ms": p50, "p99_ms": p99,
            "net_p50_ms": q50, "net_p99_ms": q99,
            "p50_over_floor": p50 / fr50[i], "p99_over_floor": p99 / fr99[i],
            "net_p50_over_floor": q50 / fr50[i], "net_p99_over_floor": q99 / fr99[i],
        }));
    }
    let (s50, s99, t50, t99) = (spread(&r50), spread(&r99), spread(&n50), spread(&n99));
    // The bench's own writes after an idle spell, as the floor's close.
    let cold = all(&|r| r.cold.clone());
    let (mut c50, mut c99) = (Vec::new(), Vec::new());
    for (i, r) in rounds.iter().enumerate() {
        let cs = sorted(&r.cold);
        if !cs.is_empty() {
            c50.push(percentile(&cs, 50.0) / fr50[i]);
            c99.push(percentile(&cs, 99.0) / fr99[i]);
        }
    }
    let mut steps = Map::new();
    let mut each = Map::new();
    for (k, name) in SWITCH_STEPS.iter().enumerate() {
        let found: Vec<Option<f64>> = rounds.iter().flat_map(|r| r.steps[k].clone()).collect();
        let present: Vec<f64> = found.iter().flatten().copied().collect();
        if !present.is_empty() {
            steps.insert((*name).into(), json!(median(&present)));
        }
        each.insert((*name).into(), json!(found));
    }
    json!({
        "what": "zkha switchover --to <the standby> between two zkha run (safe, names a and b, a command that exits at once on SIGTERM): from the control node's write (the bench's own watch on it fired) to the target's became_master",
        "p50_ms": percentile(&s, 50.0),
        "p90_ms": percentile(&s, 90.0),
        "p99_ms": percentile(&s, 99.0),
        "max_ms": s.last().copied().unwrap_or(f64::NAN),
        "n": s.len(),
        "floor_ms": f50,
        "floor_p99_ms": f99,
        "p50_over_floor": s50["median"],
        "p99_over_floor": s99["median"],
        "p50_over_floor_spread": s50,
        "p99_over_floor_spread": s99,
        "net_of_stop": {
            "p50_ms": percentile(&net, 50.0),
            "p99_ms": percentile(&net, 99.0),
            "p50_over_floor_spread": t50,
            "p99_over_floor_spread": t99,
        },
        "from_a_cold_write": {
            "what": "the bench writes the control node itself (the write zkha switchover makes) after the same idle spell as the floor's close: its send to the target's became_master, net of the old command's stop",
            "n": cold.len(),
            "p50_ms": percentile(&cold, 50.0),
            "p99_ms": percentile(&cold, 99.0),
            "p50_over_floor_spread": spread(&c50),
            "p99_over_floor_spread": spread(&c99),
        },
        "command_stop": pcts(&stop),
        "from_invocation": pcts(&invoked),
        "rounds": per_round,
        "samples_ms": s,
        "samples_in_order_ms": rounds.iter().flat_map(|r| r.samples.clone()).collect::<Vec<_>>(),
        "stop_in_order_ms": rounds.iter().flat_map(|r| r.stop.clone()).collect::<Vec<_>>(),
        "steps_p50_ms": steps,
        "steps_ms": each,
    })
}
