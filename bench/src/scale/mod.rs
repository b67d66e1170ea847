//! Scale with candidates: N in-process electors (one session each) contend
//! for one path, in watch mode and sequence mode (safe profile) and with the
//! seed's polling (`Profile::Seed`: every standby retries a create each poll
//! interval). For each mode and N:
//!
//! - graceful failover: the master resigns (its node is deleted at once);
//!   latency from the `resign()` call to another candidate's
//!   `on_became_master`, both on CLOCK_MONOTONIC;
//! - watch notifications per graceful failover, summed over all candidates
//!   (`zkha::__private::watch_notifications`, delta from before the resign until the
//!   election has settled again);
//! - the server's CPU time (utime + stime of the JVM, from /proc) across the
//!   graceful failovers, per failover;
//! - idle load: the server's write transactions per second while nothing
//!   happens (zxid delta from `srvr`: a failed create is an error
//!   transaction with a zxid of its own, a read or a ping is not), packets
//!   received per second (`mntr`, pings included), and CPU per second;
//! - crash failover: a second population, each candidate behind its own TCP
//!   proxy; the master's proxy turns into a black hole (its session is not
//!   closed, the server hears nothing more from it) and the latency runs
//!   until another candidate's `on_became_master`, about the session
//!   timeout. The crashed candidate is then replaced by a fresh one, so N
//!   stays N.
//!
//! Nothing here is asserted: the figures go to results.json under `scale`.

mod cells;
mod population;
mod server;

use crate::Options;
use cells::{crashes, graceful_and_idle, Ctx};
use serde_json::{Map, Value};
use server::raise_fd_limit;
use std::time::{Duration, Instant};
use zkha::ZooKeeper;
use zkha_testing::TestingServer;

/// The three ways standbys wait, as named in results.json.
pub const MODES: [&str; 3] = ["watch", "sequence", "seed"];

/// How long after a takeover the server's CPU time is read: the failover's
/// work (a herd's creates and new watches) is done by then.
const CPU_WINDOW: Duration = Duration::from_millis(300);

/// How much to run; from the command line (`--scale`, `--scale-*`).
#[derive(Debug, Clone)]
pub struct ScaleOptions {
    /// Candidate counts (default 10, 50, 200).
    pub sizes: Vec<usize>,
    /// Graceful failovers per mode and size (default 20).
    pub graceful: usize,
    /// Crash failovers per mode and size (default 5).
    pub crashes: usize,
    /// Seconds of idle measurement per mode and size (default 5).
    pub idle_s: u64,
    /// Modes to run (default all).
    pub modes: Vec<String>,
}

impl ScaleOptions {
    /// Reads `--scale 10,50,200`, `--scale-failovers N`, `--scale-crashes N`,
    /// `--scale-idle S` and `--scale-modes watch,sequence,seed` from the
    /// arguments; a bad value is an error naming the option.
    pub fn from_args(args: &[String]) -> Result<ScaleOptions, String> {
        let opt = |name: &str| {
            args.iter()
                .position(|a| a == name)
                .and_then(|i| args.get(i + 1))
                .cloned()
        };
        let num = |name: &str, default: usize| -> Result<usize, String> {
            match opt(name) {
                None => Ok(default),
                Some(v) => v
                    .parse::<usize>()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or_else(|| format!("{name} wants a positive number, got {v:?}")),
            }
        };
        let sizes = match opt("--scale") {
            None => vec![10, 50, 200],
            Some(v) => v
                .split(',')
                .map(|s| s.trim().parse::<usize>().ok().filter(|n| *n >= 2))
                .collect::<Option<Vec<_>>>()
                .ok_or_else(|| {
                    format!(
                        "--scale wants candidate counts of at least 2, comma-separated, got {v:?}"
                    )
                })?,
        };
        let modes: Vec<String> = match opt("--scale-modes") {
            None => MODES.iter().map(|m| m.to_string()).collect(),
            Some(v) => v.split(',').map(str::to_owned).collect(),
        };
        if let Some(bad) = modes.iter().find(|m| !MODES.contains(&m.as_str())) {
            return Err(format!(
                "--scale-modes: unknown mode {bad:?} (known: {})",
                MODES.join(", ")
            ));
        }
        Ok(ScaleOptions {
            sizes,
            graceful: num("--scale-failovers", 20)?,
            crashes: num("--scale-crashes", 5)?,
            idle_s: num("--scale-idle", 5)? as u64,
            modes,
        })
    }
}

type Error = Box<dyn std::error::Error>;

/// Every mode at every size; the `scale` object of results.json:
/// `{mode: {N: {graceful_p50_ms, …}}}`.
pub fn run(o: &Options, s: &ScaleOptions, server: &TestingServer) -> Result<Value, Error> {
    raise_fd_limit();
    let hosts = server.connect_string();
    let pid = server.pid().ok_or("the server has no pid")?;
    let zk = ZooKeeper::builder(hosts).connect(Duration::from_secs(30))?;
    let cx = Ctx {
        o,
        s,
        hosts,
        server,
        zk: &zk,
        pid,
    };
    let mut out = Map::new();
    for mode in MODES.iter().filter(|m| s.modes.iter().any(|x| x == *m)) {
        let mut per = Map::new();
        for &n in &s.sizes {
            eprintln!(
                "bench: scale {mode}/{n}: {} graceful, {} crash failovers, {} s idle",
                s.graceful, s.crashes, s.idle_s
            );
            let t = Instant::now();
            let mut cell = graceful_and_idle(&cx, mode, n)?;
            cell.extend(crashes(&cx, mode, n)?);
            eprintln!(
                "bench: scale {mode}/{n}: graceful p50 {:.1} ms, crash p50 {:.0} ms, {:.1} notifications/failover, \
                 idle {:.1} writes/s, {:.1} ms server CPU/failover, {} unplanned expiries ({:.0} s)",
                cell["graceful_p50_ms"].as_f64().unwrap_or(f64::NAN),
                cell["crash_p50_ms"].as_f64().unwrap_or(f64::NAN),
                cell["notifications_per_failover"].as_f64().unwrap_or(f64::NAN),
                cell["idle_server_requests_per_s"].as_f64().unwrap_or(f64::NAN),
                cell["server_cpu_ms_per_failover"].as_f64().unwrap_or(f64::NAN),
                cell["expiries_graceful_phase"].as_u64().unwrap_or(0)
                    + cell["expiries_crash_phase"].as_u64().unwrap_or(0),
                t.elapsed().as_secs_f64()
            );
            per.insert(n.to_string(), Value::Object(cell));
        }
        out.insert((*mode).into(), Value::Object(per));
    }
    Ok(Value::Object(out))
}

#[cfg(test)]
mod tests {
    use super::server::server_cpu_ms;
    use super::*;

    fn args(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn scale_options_default_and_parse() {
        let d = ScaleOptions::from_args(&[]).unwrap();
        assert_eq!(d.sizes, vec![10, 50, 200]);
        assert_eq!((d.graceful, d.crashes, d.idle_s), (20, 5, 5));
        assert_eq!(d.modes, vec!["watch", "sequence", "seed"]);
        let o = ScaleOptions::from_args(&args(&[
            "--scale",
            "3,7",
            "--scale-failovers",
            "4",
            "--scale-modes",
            "seed",
        ]))
        .unwrap();
        assert_eq!(o.sizes, vec![3, 7]);
        assert_eq!(o.graceful, 4);
        assert_eq!(o.modes, vec!["seed"]);
    }

    #[test]
    fn scale_options_refuse_bad_values_naming_the_option() {
        for (a, name) in [
            (args(&["--scale", "10,x"]), "--scale"),
            (args(&["--scale", "1"]), "--scale"),
            (args(&["--scale-crashes", "0"]), "--scale-crashes"),
            (args(&["--scale-modes", "poll"]), "--scale-modes"),
        ] {
            let e = ScaleOptions::from_args(&a).unwrap_err();
            assert!(e.contains(name), "{a:?}: {e}");
        }
    }

    #[test]
    fn cpu_time_of_this_process_is_read_and_grows() {
        let pid = std::process::id();
        let before = server_cpu_ms(pid).unwrap();
        assert!(before >= 0.0);
        // Busy until the kernel has counted a tick more (10 ms), within a
        // deadline: a niced process on a busy machine may wait for its turn.
        let end = Instant::now() + Duration::from_secs(20);
        let mut after = before;
        while after <= before && Instant::now() < end {
            let spin = Instant::now() + Duration::from_millis(20);
            while Instant::now() < spin {
                std::hint::spin_loop();
            }
            after = server_cpu_ms(pid).unwrap();
        }
        assert!(after > before, "{before} -> {after}");
    }
}
