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
    /// Raw-C handover floor samples, split over the rounds.
    pub floor_samples: usize,
    /// The random wait before each failover spans 150 ms + [0, this) ms
    /// (the pollers always get their whole 1 s cycle).
    pub phase_ms: u64,
    pub session_ms: u64,
    pub python: PathBuf,
    pub out_dir: PathBuf,
    pub root: PathBuf,
    /// Failover peers to run (default: all).
    pub peers: Vec<String>,
    /// Failover kinds to run: graceful, crash (default: both).
    pub kinds: Vec<String>,
    /// Where BENCHMARKS.md/svg go: the repository root for the full run,
    /// the output directory for `--quick`.
    pub md_dir: PathBuf,
    /// `--quick`: fewer samples (said on the page).
    pub quick: bool,
}

fn usage() -> ! {
    eprintln!(
        "usage: zkha-bench [--failovers N (50)] [--ops N (12000)] [--window N (1000)] [--rounds N (5)]\n\
         \x20                 [--floor-samples N (200)] [--phase-ms MS (1000)]\n\
         \x20                 [--session-timeout MS (1000)] [--python PATH] [--out DIR (target/bench)] [--only throughput|failover|scale]\n\
         \x20                 [--peers safe,run,sequence,seed,cpp_peer,kazoo,switchover (all)]\n\
         \x20                 [--kinds graceful,crash (both)] [--quick] [--report-only]\n\
         \x20                 [--scale 10,50,200] [--scale-failovers N (20)] [--scale-crashes N (5)] [--scale-idle S (5)]\n\
         \x20                 [--scale-modes watch,sequence,seed (all)]\n\
         Rounds alternate every client (throughput) and every failover peer with the raw-C floor (failover); --ops is\n\
         per round, --failovers and --floor-samples are split over the rounds. The full run writes BENCHMARKS.md/svg\n\
         at the repository root. --quick (`make bench-quick`): fewer samples by default (--failovers 6 --ops 1000\n\
         --rounds 3 --floor-samples 60 --phase-ms 100), no scale run, everything written to --out (default\n\
         target/bench-quick), never to the repository root. --report-only: BENCHMARKS.md/svg written again from\n\
         --out's results.json, nothing measured."
    );
    std::process::exit(2)
}

fn main() {
    if memory::child_mode().is_some() || failover::stop_probe_mode().is_some() {
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
    let quick = args.iter().any(|a| a == "--quick");
    // (full run, --quick)
    let dflt = |full: usize, q: usize| if quick { q } else { full };
    let out_dir = opt("--out").map(PathBuf::from).unwrap_or_else(|| {
        root.join(if quick {
            "target/bench-quick"
        } else {
            "target/bench"
        })
    });
    let o = Options {
        failovers: num("--failovers", dflt(50, 6)),
        ops: num("--ops", dflt(12_000, 1000)),
        window: num("--window", 1000),
        rounds: num("--rounds", dflt(5, 3)),
        floor_samples: num("--floor-samples", dflt(200, 60)),
        phase_ms: num("--phase-ms", dflt(1000, 100)) as u64,
        session_ms: num("--session-timeout", 1000) as u64,
        python: opt("--python")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from("python3")),
        kinds: opt("--kinds")
            .map(|p| p.split(',').map(str::to_owned).collect())
            .unwrap_or_else(|| vec!["graceful".into(), "crash".into()]),
        md_dir: if quick { out_dir.clone() } else { root.clone() },
        out_dir,
        quick,
        root: root.clone(),
        peers: opt("--peers")
            .map(|p| p.split(',').map(str::to_owned).collect())
            .unwrap_or_else(|| failover::PEERS.iter().map(|p| p.to_string()).collect()),
    };
    if let Some(bad) = o
        .kinds
        .iter()
        .find(|k| !["graceful", "crash"].contains(&k.as_str()))
    {
        eprintln!("zkha-bench: unknown failover kind {bad:?} (known: graceful, crash)");
        std::process::exit(2);
    }
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
    if o.failovers == 0
        || o.ops == 0
        || o.window == 0
        || o.rounds == 0
        || o.floor_samples == 0
        || o.session_ms < 400
    {
        eprintln!("zkha-bench: counts must be positive and the session timeout at least 400 ms");
        std::process::exit(2);
    }
    let only = opt("--only");
    // The page again from a run's results.json (after a change of the
    // report's text), nothing measured.
    if args.iter().any(|a| a == "--report-only") {
        let read = std::fs::read_to_string(o.out_dir.join("results.json"))
            .map_err(|e| e.to_string())
            .and_then(|t| serde_json::from_str(&t).map_err(|e| e.to_string()))
            .and_then(|r| report::write(&o, &r).map_err(|e| e.to_string()));
        if let Err(e) = read {
            eprintln!("zkha-bench: --report-only: {e}");
            std::process::exit(1);
        }
        return;
    }
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
        "load_average_before": report::load_average(),
        "floors": {},
        "failover": {},
        "throughput": {},
        "memory": {},
        "scale": {},
    });
    if only.is_none() || only == Some("throughput") {
        results["throughput"] = throughput::run(o, &hosts)?;
        results["throughput_ratios"] = report::throughput_ratios(&results["throughput"]);
        results["memory"] = memory::run(o, &hosts)?;
    }
    if only.is_none() || only == Some("failover") {
        let (cells, floors) = failover::run(o, &hosts)?;
        results["failover"] = cells;
        results["floors"] = floors;
    }
    // The scale run takes minutes: not in --quick's three.
    // A scale run that fails (200 processes on a small machine) does not
    // throw the rest away: the page is written without it, then the error.
    let mut scale_failed = None;
    if (only.is_none() && !o.quick) || only == Some("scale") {
        match scale::run(o, scale, &server) {
            Ok(s) => results["scale"] = s,
            Err(e) => {
                eprintln!("zkha-bench: the scale run failed: {e}; writing the rest");
                results["scale_error"] = json!(e.to_string());
                scale_failed = Some(e);
            }
        }
    }
    results["load_average_after"] = report::load_average();
    let path = o.out_dir.join("results.json");
    std::fs::write(&path, serde_json::to_string_pretty(&results)?)?;
    eprintln!("bench: wrote {}", path.display());
    if only.is_none() {
        report::write(o, &results)?;
    } else if only == Some("scale") {
        scale_report::write_partial(o, &results)?;
    }
    drop(server);
    match scale_failed {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// Percentile (nearest rank) of sorted samples.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil().max(1.0) as usize;
    sorted[rank.min(sorted.len()) - 1]
}

/// xorshift64: a reproducible phase jitter for the failover cells and the
/// scale run (`c/raw_c_handover.c` has the same generator in C).
pub struct Jitter(pub u64);

impl Jitter {
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
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
