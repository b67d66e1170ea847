//! The floors the cells are compared with: the raw-C graceful handover
//! (paced and back to back) and the same three steps through the zkha
//! client, no elector.

use super::cell::{pace_spread, PACE_MIN_MS};
use crate::{median, Options};
use serde_json::Value;
use std::process::{Command, Stdio};
use std::sync::{mpsc, Arc};
use std::time::Duration;
use zkha::__private::monotonic_ms;
use zkha::{Acl, CreateMode, EventType, ZooKeeper};

/// One round of the raw-C graceful-handover floor: `n` handovers between
/// two raw C handles (see `c/raw_c_handover.c`), with the session timeout
/// the candidates use; paced (idle before each close, as the cells) or back
/// to back.
pub(super) struct FloorRound {
    pub(super) total: Vec<f64>,
    pub(super) notify: Vec<f64>,
    pub(super) close: Vec<f64>,
}

pub(super) fn floor_round(
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
pub(super) enum Shape {
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
pub(super) fn zkha_client_handover(
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
