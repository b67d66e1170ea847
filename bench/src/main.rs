//! `make bench`: failover latency and client throughput of zkha, side by
//! side with its peers (the C++ reference peer, raw C, a pure-Rust client,
//! kazoo), all against the same real ZooKeeper server in one run. Writes
//! BENCHMARKS.md, BENCHMARKS.svg and target/bench/results.json.
//!
//! Speed is reported as ratios to peers measured in the same run, never
//! asserted.

mod failover;
mod memory;
mod report;
mod scale;
mod scale_report;
mod throughput;

use serde_json::json;
use std::path::PathBuf;
use std::time::Duration;
use zkha_testing::{ServerConfig, TestingServer};

pub struct Options {
    pub failovers: usize,
    pub ops: usize,
    pub window: usize,
    pub rounds: usize,
    pub session_ms: u64,
    pub python: PathBuf,
    pub out_dir: PathBuf,
    pub root: PathBuf,
    /// Failover peers to run (default: all).
    pub peers: Vec<String>,
}

fn usage() -> ! {
    eprintln!(
        "usage: zkha-bench [--failovers N (50)] [--ops N (20000)] [--window N (1000)] [--rounds N (3)]\n\
         \x20                 [--session-timeout MS (1000)] [--python PATH] [--out DIR (target/bench)] [--only throughput|failover|scale]\n\
         \x20                 [--peers safe,run,sequence,seed,cpp_peer,kazoo (all)]\n\
         \x20                 [--scale 10,50,200] [--scale-failovers N (20)] [--scale-crashes N (5)] [--scale-idle S (5)]\n\
         \x20                 [--scale-modes watch,sequence,seed (all)]"
    );
    std::process::exit(2)
}

fn main() {
    if memory::child_mode().is_some() {
        return;
    }
    let args: Vec<String> = std::env::args().skip(1).collect();
    let opt = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    let num = |name: &str, default: usize| -> usize {
        opt(name)
            .map(|v| v.parse().unwrap_or_else(|_| usage()))
            .unwrap_or(default)
    };
    if args.iter().any(|a| a == "--help" || a == "-h") {
        usage();
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let o = Options {
        failovers: num("--failovers", 50),
        ops: num("--ops", 20_000),
        window: num("--window", 1000),
        rounds: num("--rounds", 3),
        session_ms: num("--session-timeout", 1000) as u64,
        python: opt("--python")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("python3")),
        out_dir: opt("--out")
            .map(PathBuf::from)
            .unwrap_or_else(|| root.join("target/bench")),
        root: root.clone(),
        peers: opt("--peers")
            .map(|p| p.split(',').map(str::to_owned).collect())
            .unwrap_or_else(|| failover::PEERS.iter().map(|p| p.to_string()).collect()),
    };
    if let Some(bad) = o
        .peers
        .iter()
        .find(|p| !failover::PEERS.contains(&p.as_str()))
    {
        eprintln!(
            "zkha-bench: unknown peer {bad:?} (known: {})",
            failover::PEERS.join(", ")
        );
        std::process::exit(2);
    }
    if o.failovers == 0 || o.ops == 0 || o.window == 0 || o.rounds == 0 || o.session_ms < 400 {
        eprintln!("zkha-bench: counts must be positive and the session timeout at least 400 ms");
        std::process::exit(2);
    }
    let only = opt("--only");
    let scale = scale::ScaleOptions::from_args(&args).unwrap_or_else(|e| {
        eprintln!("zkha-bench: {e}");
        std::process::exit(2)
    });
    if let Err(e) = run(&o, &scale, only.as_deref()) {
        eprintln!("zkha-bench: {e}");
        std::process::exit(1);
    }
}

fn run(
    o: &Options,
    scale: &scale::ScaleOptions,
    only: Option<&str>,
) -> Result<(), Box<dyn std::error::Error>> {
    std::fs::create_dir_all(&o.out_dir)?;
    zkha::logging::set_debug_level(zkha::logging::LogLevel::Error);
    eprintln!("bench: starting ZooKeeper (Debian's 3.8, tickTime 50 ms, full JIT)");
    // Full JIT and a larger heap: the server should not be the bottleneck;
    // a 50 ms tick: sessions expire on tick boundaries, and a coarse tick
    // would add up to a tick to every crash takeover.
    let server = TestingServer::with_config(ServerConfig {
        tick_time_ms: 50,
        heap_mb: 1024,
        jvm_args: vec!["-XX:+UseParallelGC".into()],
        ..ServerConfig::default()
    })?;
    let hosts = server.connect_string().to_owned();
    let version = server
        .four_letter_word("srvr")?
        .lines()
        .find_map(|l| l.strip_prefix("Zookeeper version: "))
        .map(|v| v.split(['-', ',']).next().unwrap_or(v).to_owned())
        .unwrap_or_default();
    let mut results = json!({
        "date": report::date_utc(),
        "server_version": version,
        "session_timeout_ms": o.session_ms,
        "tick_time_ms": 50,
        "machine": report::machine(),
        "failover": {},
        "throughput": {},
        "memory": {},
        "scale": {},
    });
    if only.is_none() || only == Some("throughput") {
        results["throughput"] = throughput::run(o, &hosts)?;
        results["memory"] = memory::run(o, &hosts)?;
    }
    if only.is_none() || only == Some("failover") {
        results["failover"] = failover::run(o, &hosts)?;
    }
    if only.is_none() || only == Some("scale") {
        results["scale"] = scale::run(o, scale, &server)?;
    }
    let path = o.out_dir.join("results.json");
    std::fs::write(&path, serde_json::to_string_pretty(&results)?)?;
    eprintln!("bench: wrote {}", path.display());
    if only.is_none() {
        report::write(o, &results)?;
    } else if only == Some("scale") {
        scale_report::write_partial(o, &results)?;
    }
    drop(server);
    Ok(())
}

/// Percentile (nearest rank) of sorted samples.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil().max(1.0) as usize;
    sorted[rank.min(sorted.len()) - 1]
}

/// The median of unsorted samples.
pub fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    percentile(&s, 50.0)
}

/// The zkha binary next to this one (`cargo build --bin zkha` in the same profile).
pub fn zkha_bin() -> PathBuf {
    let me = std::env::current_exe().expect("current exe");
    me.with_file_name("zkha")
}

pub fn wait_until(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let end = std::time::Instant::now() + timeout;
    while std::time::Instant::now() < end {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    f()
}
