//! One failover cell: a peer's graceful or crash failovers in one round,
//! with where a graceful failover's time went (its steps).

use super::peer::{events, ready, reap, spawn, Cand, Ev};
use crate::{median, wait_until, Jitter, Options};
use std::time::Duration;
use zkha::__private::monotonic_ms;
use zkha::{Acl, CreateMode, ZooKeeper};

/// Where a graceful failover's time went: ms after the SIGTERM at which the
/// old master said `lost_master` (it saw the stop), said `exit` (its
/// session close returned), and the standby's last `create` before it
/// became master (the create's answer reached the election thread).
pub(super) const STEPS: [&str; 3] = ["lost_master", "exit", "create"];

/// One cell's samples in one round: latencies, and for each of [`STEPS`]
/// the times after t0 where the traces have them.
pub(super) struct CellRound {
    pub(super) samples: Vec<f64>,
    /// Per step, per sample (None: not in the traces).
    pub(super) steps: Vec<Vec<Option<f64>>>,
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
pub(super) fn cell(
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
pub(super) fn pace_spread(o: &Options, peer: &str) -> u64 {
    if matches!(peer, "seed" | "cpp_peer") {
        o.phase_ms.max(1000)
    } else {
        o.phase_ms.max(1)
    }
}
pub(super) const PACE_MIN_MS: u64 = 150;
