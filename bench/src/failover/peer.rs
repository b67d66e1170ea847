//! The candidates of a failover cell: one process per peer, spawned with a
//! trace file, and the trace's events read back.

use crate::{zkha_bin, Options};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub(super) struct Cand {
    pub(super) child: Child,
    pub(super) trace: PathBuf,
}

pub(super) struct Ev {
    pub(super) t: f64,
    pub(super) event: String,
    pub(super) rc: Option<i64>,
}

pub(super) fn events(trace: &Path) -> Vec<Ev> {
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

pub(super) fn spawn(
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
pub(super) fn ready(peer: &str, c: &Cand) -> bool {
    let evs = events(&c.trace);
    match peer {
        "kazoo" => evs.iter().any(|e| e.event == "standby"),
        "sequence" => evs.iter().any(|e| e.event == "create" && e.rc == Some(0)),
        // A safe standby that finds another's master node says `standby`
        // and waits without a create.
        _ => evs
            .iter()
            .any(|e| e.event == "create" || e.event == "standby"),
    }
}

pub(super) fn reap(c: &mut Cand) {
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
