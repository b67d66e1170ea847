//! Chaos scenarios for the safe profile, shared by `examples/chaos.rs`
//! (`make chaos`, everything) and `tests/chaos_fast.rs` (the fast ones, in
//! `make test`). Candidates are `zkha candidate` processes writing traces;
//! after each scenario a checker asserts that no two safe masterships
//! overlapped in time (one clock: CLOCK_MONOTONIC, one machine) and that
//! fencing tokens never went down.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use zkha::elector::trace::monotonic_ms;
use zkha::testing::{ProxyMode, TcpProxy, TestingCluster, TestingServer};

/// What a scenario did and found.
#[derive(Debug, Default, Clone, Copy)]
pub struct Stats {
    pub faults: usize,
    pub failovers: usize,
    pub overlaps: usize,
    pub token_regressions: usize,
}

impl std::ops::AddAssign for Stats {
    fn add_assign(&mut self, o: Stats) {
        self.faults += o.faults;
        self.failovers += o.failovers;
        self.overlaps += o.overlaps;
        self.token_regressions += o.token_regressions;
    }
}

/// Runs scenarios: where the `zkha` binary is, where traces go.
pub struct Chaos {
    pub zkha: PathBuf,
    pub dir: PathBuf,
    pub session_ms: u64,
    serial: usize,
}

pub struct Cand {
    pub child: Child,
    pub trace: PathBuf,
    pub name: String,
    /// When it was killed or stopped for good (no work after this).
    pub ended: Option<f64>,
}

struct Ev {
    t: f64,
    event: String,
    token: Option<i64>,
    valid_until: Option<f64>,
}

fn events(trace: &Path) -> Vec<Ev> {
    std::fs::read_to_string(trace)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .map(|v| Ev {
            t: v["t"].as_f64().unwrap_or(0.0),
            event: v["event"].as_str().unwrap_or_default().to_owned(),
            token: v["token"].as_i64(),
            valid_until: v["valid_until"].as_f64(),
        })
        .collect()
}

pub fn wait_until(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + timeout;
    while Instant::now() < end {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    f()
}

impl Cand {
    pub fn count(&self, event: &str) -> usize {
        events(&self.trace)
            .iter()
            .filter(|e| e.event == event)
            .count()
    }

    /// Master now, by its own trace.
    pub fn is_master(&self) -> bool {
        let evs = events(&self.trace);
        let last = evs
            .iter()
            .rev()
            .find(|e| e.event == "became_master" || e.event == "lost_master" || e.event == "exit");
        self.ended.is_none() && last.is_some_and(|e| e.event == "became_master")
    }

    pub fn signal(&self, sig: i32) {
        // SAFETY: signals our own child process.
        unsafe { libc::kill(self.child.id() as i32, sig) };
    }

    pub fn kill(&mut self) {
        self.ended = Some(monotonic_ms());
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Cand {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Chaos {
    pub fn new(zkha: PathBuf, dir: PathBuf, session_ms: u64) -> Chaos {
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Chaos {
            zkha,
            dir,
            session_ms,
            serial: 0,
        }
    }

    pub fn spawn(&mut self, hosts: &str, path: &str, extra: &[&str]) -> Cand {
        self.serial += 1;
        let name = format!("c{}", self.serial);
        let trace = self.dir.join(format!("{name}.trace"));
        let log = std::fs::File::create(self.dir.join(format!("{name}.log"))).unwrap();
        let child = Command::new(&self.zkha)
            .env("RUST_LOG", "zkha=info,warn")
            .args([
                "candidate",
                "--hosts",
                hosts,
                "--path",
                path,
                "--profile",
                "safe",
            ])
            .args([
                "--session-timeout",
                &self.session_ms.to_string(),
                "--poll-interval",
                "100",
            ])
            .args(["--data", &format!("10.9.0.{}", self.serial % 250)])
            .arg("--trace")
            .arg(&trace)
            .args(["--name", &name])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn zkha candidate");
        Cand {
            child,
            trace,
            name,
            ended: None,
        }
    }

    /// Waits until exactly one candidate is master (by their traces).
    pub fn one_master<'a>(&self, cands: &'a [Cand], timeout: Duration) -> Option<&'a Cand> {
        let mut found = None;
        wait_until(timeout, || {
            let masters: Vec<&Cand> = cands.iter().filter(|c| c.is_master()).collect();
            found = (masters.len() == 1).then(|| masters[0]);
            found.is_some()
        });
        found
    }

    /// The invariant over every candidate of a scenario.
    pub fn check(&self, cands: &[Cand]) -> Stats {
        let now = monotonic_ms();
        let mut spans: Vec<(f64, f64, i64, String)> = Vec::new();
        let mut became: usize = 0;
        for c in cands {
            let mut start: Option<(f64, i64)> = None;
            for e in events(&c.trace) {
                match e.event.as_str() {
                    "became_master" => {
                        became += 1;
                        start = start.or(Some((e.t, e.token.unwrap_or(0))));
                    }
                    "lost_master" | "exit" => {
                        if let Some((s, tok)) = start.take() {
                            let end = e.valid_until.unwrap_or(e.t).min(e.t);
                            // A mastership whose lease had already run out
                            // when it began never allowed any work.
                            if end > s {
                                spans.push((s, end, tok, c.name.clone()));
                            }
                        }
                    }
                    _ => {}
                }
            }
            if let Some((s, tok)) = start {
                spans.push((s, c.ended.unwrap_or(now), tok, c.name.clone()));
            }
        }
        spans.sort_by(|a, b| a.0.total_cmp(&b.0));
        let mut overlaps = 0;
        for (i, a) in spans.iter().enumerate() {
            for b in &spans[i + 1..] {
                if a.3 != b.3 && b.0 < a.1 {
                    eprintln!(
                        "chaos: OVERLAP {} [{:.0}, {:.0}] and {} [{:.0}, {:.0}]",
                        a.3, a.0, a.1, b.3, b.0, b.1
                    );
                    overlaps += 1;
                }
            }
        }
        let token_regressions = spans.windows(2).filter(|w| w[1].2 < w[0].2).count();
        Stats {
            faults: 0,
            failovers: became.saturating_sub(1),
            overlaps,
            token_regressions,
        }
    }

    fn unique(&self, name: &str) -> String {
        zkha::testing::unique_path(name)
    }

    /// SIGKILL the master `rounds` times; a new candidate replaces it.
    pub fn kill_master(&mut self, hosts: &str, rounds: usize) -> Stats {
        let path = format!("{}/m", self.unique("chaos-kill"));
        let mut cands = vec![self.spawn(hosts, &path, &[]), self.spawn(hosts, &path, &[])];
        let mut faults = 0;
        for _ in 0..rounds {
            let i = cands.iter().position(|c| c.is_master()).or_else(|| {
                self.one_master(&cands, Duration::from_secs(30))
                    .map(|m| cands.iter().position(|c| c.name == m.name).unwrap())
            });
            let Some(i) = i else { break };
            cands[i].kill();
            faults += 1;
            let fresh = self.spawn(hosts, &path, &[]);
            cands.push(fresh);
            let alive: Vec<&Cand> = cands.iter().filter(|c| c.ended.is_none()).collect();
            wait_until(Duration::from_secs(30), || {
                alive.iter().any(|c| c.is_master())
            });
        }
        self.finish(cands, faults)
    }

    /// SIGSTOP the master past the session timeout (a long GC-like pause),
    /// then SIGCONT: it must not count as master once its lease is gone.
    pub fn pause_master(&mut self, hosts: &str, rounds: usize) -> Stats {
        let path = format!("{}/m", self.unique("chaos-pause"));
        let cands = vec![self.spawn(hosts, &path, &[]), self.spawn(hosts, &path, &[])];
        let mut faults = 0;
        for _ in 0..rounds {
            let Some(m) = self.one_master(&cands, Duration::from_secs(30)) else {
                break;
            };
            let others_before: usize = cands
                .iter()
                .filter(|c| c.name != m.name)
                .map(|c| c.count("became_master"))
                .sum();
            m.signal(libc::SIGSTOP);
            faults += 1;
            // Someone else wins after the paused master's session expires.
            wait_until(Duration::from_millis(self.session_ms * 3 + 5000), || {
                cands
                    .iter()
                    .filter(|c| c.name != m.name)
                    .map(|c| c.count("became_master"))
                    .sum::<usize>()
                    > others_before
            });
            m.signal(libc::SIGCONT);
            std::thread::sleep(Duration::from_millis(self.session_ms));
        }
        self.finish(cands, faults)
    }

    /// Partitions the master from the server through per-candidate proxies:
    /// blackhole past the timeout, connection resets, added latency.
    pub fn partition(&mut self, server: &str, rounds: usize) -> Stats {
        let path = format!("{}/m", self.unique("chaos-part"));
        let proxies: Vec<TcpProxy> = (0..3).map(|_| TcpProxy::start(server).unwrap()).collect();
        let cands: Vec<Cand> = proxies
            .iter()
            .map(|p| self.spawn(&p.connect_string(), &path, &[]))
            .collect::<Vec<_>>();
        let mut faults = 0;
        for round in 0..rounds {
            let Some(m) = self.one_master(&cands, Duration::from_secs(30)) else {
                break;
            };
            let i = cands.iter().position(|c| c.name == m.name).unwrap();
            match round % 3 {
                0 => {
                    proxies[i].set_mode(ProxyMode::Blackhole);
                    std::thread::sleep(Duration::from_millis(self.session_ms * 3 / 2));
                    proxies[i].set_mode(ProxyMode::Pass);
                }
                1 => proxies[i].reset_all(),
                _ => {
                    // Added latency: a third of the session timeout each way.
                    proxies[i].set_delay(Duration::from_millis(self.session_ms / 3));
                    proxies[i].set_mode(ProxyMode::Delay);
                    std::thread::sleep(Duration::from_millis(self.session_ms * 2));
                    proxies[i].set_mode(ProxyMode::Pass);
                }
            }
            faults += 1;
            std::thread::sleep(Duration::from_millis(self.session_ms));
        }
        self.finish(cands, faults)
    }

    /// A master restarted within the session timeout with its saved session
    /// keeps mastership: no failover, the same token.
    pub fn restart_with_saved_session(&mut self, hosts: &str) -> (Stats, bool) {
        let path = format!("{}/m", self.unique("chaos-resume"));
        let file = self.dir.join(format!("session-{}", self.serial + 1));
        let f = file.to_str().unwrap().to_owned();
        let mut a = self.spawn(hosts, &path, &["--session-file", &f]);
        let a_won = wait_until(Duration::from_secs(30), || a.is_master());
        let b = self.spawn(hosts, &path, &[]);
        wait_until(Duration::from_secs(30), || b.count("create") > 0);
        let mut cands = vec![];
        let kept = a_won && {
            let token = events(&a.trace)
                .iter()
                .find(|e| e.event == "became_master")
                .and_then(|e| e.token);
            a.kill();
            let a2 = self.spawn(hosts, &path, &["--session-file", &f]);
            let ok = wait_until(Duration::from_secs(10), || a2.is_master());
            let same = events(&a2.trace)
                .iter()
                .find(|e| e.event == "became_master")
                .and_then(|e| e.token)
                == token;
            std::thread::sleep(Duration::from_millis(self.session_ms));
            let no_failover = b.count("became_master") == 0;
            cands.push(a2);
            ok && same && no_failover
        };
        cands.push(a);
        cands.push(b);
        (self.finish(cands, 1), kept)
    }

    /// Ensemble faults: kill the leader, a follower, lose and regain quorum.
    pub fn ensemble(&mut self) -> Stats {
        let cluster = TestingCluster::start().expect("ensemble");
        let hosts = cluster.connect_string();
        let path = format!("{}/m", self.unique("chaos-ens"));
        let cands: Vec<Cand> = (0..3).map(|_| self.spawn(&hosts, &path, &[])).collect();
        let mut faults = 0;
        let settle = Duration::from_millis(self.session_ms * 2);
        self.one_master(&cands, Duration::from_secs(60));
        // The leader.
        if let Ok(l) = cluster.leader() {
            cluster.kill(l).unwrap();
            faults += 1;
            cluster.wait_for_leader(Duration::from_secs(60)).ok();
            std::thread::sleep(settle);
            cluster.restart(l).ok();
        }
        // A follower.
        if let Ok(l) = cluster.wait_for_leader(Duration::from_secs(60)) {
            let f = (l + 1) % cluster.len();
            cluster.kill(f).unwrap();
            faults += 1;
            std::thread::sleep(settle);
            cluster.restart(f).ok();
        }
        // Quorum lost (two of three down), then regained.
        cluster.kill(0).unwrap();
        cluster.kill(1).unwrap();
        faults += 2;
        std::thread::sleep(Duration::from_millis(self.session_ms * 2));
        // With the third member up, restarting one restores a quorum.
        cluster.restart(0).ok();
        cluster.restart(1).ok();
        self.one_master(&cands, Duration::from_secs(60));
        std::thread::sleep(settle);
        let s = self.finish(cands, faults);
        drop(cluster);
        s
    }

    /// Candidates started while the server is down; it comes up later.
    pub fn server_down_at_start(&mut self) -> Stats {
        let server = TestingServer::start().expect("server");
        let hosts = server.connect_string().to_owned();
        server.stop();
        let path = format!("{}/m", self.unique("chaos-down"));
        let cands: Vec<Cand> = (0..3).map(|_| self.spawn(&hosts, &path, &[])).collect();
        std::thread::sleep(Duration::from_millis(1500));
        server.restart().expect("restart");
        self.one_master(&cands, Duration::from_secs(30));
        self.finish(cands, 1)
    }

    fn finish(&self, mut cands: Vec<Cand>, faults: usize) -> Stats {
        // Graceful exits end open masterships in the traces.
        for c in cands.iter().filter(|c| c.ended.is_none()) {
            c.signal(libc::SIGCONT);
            c.signal(libc::SIGTERM);
        }
        for c in cands.iter_mut().filter(|c| c.ended.is_none()) {
            let end = Instant::now() + Duration::from_secs(10);
            while Instant::now() < end && matches!(c.child.try_wait(), Ok(None)) {
                std::thread::sleep(Duration::from_millis(10));
            }
        }
        let mut s = self.check(&cands);
        s.faults = faults;
        s
    }
}
