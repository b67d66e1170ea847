//! Scale with candidates: N in-process electors (one session each) contend
//! for one path, in watch mode and sequence mode (safe profile) and with the
//! seed's polling (`Profile::Seed`: every standby retries a create each poll
//! interval). For each mode and N:
//!
//! - graceful failover: the master resigns (its node is deleted at once);
//!   latency from the `resign()` call to another candidate's
//!   `on_became_master`, both on CLOCK_MONOTONIC;
//! - watch notifications per graceful failover, summed over all candidates
//!   (`Elector::watch_notifications`, delta from before the resign until the
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

use crate::{percentile, wait_until, Jitter, Options};
use serde_json::{json, Map, Value};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use zkha::clock::monotonic_ms;
use zkha::elector::{Candidate, Elector, ElectorConfig, FencingToken, Mode};
use zkha::{Acl, CreateMode, ZooKeeper};
use zkha_testing::{ProxyMode, TcpProxy, TestingServer};

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

/// When each candidate became master: (candidate id, CLOCK_MONOTONIC ms).
type Wins = Arc<Mutex<Vec<(usize, f64)>>>;

/// The hooks of one candidate: it notes when it became master. Runs on the
/// C client's completion thread; the lock is held for a push only.
struct Probe {
    id: usize,
    wins: Wins,
    /// Its session expired (not one of the crashes, which this process
    /// never hears of: the crashed candidate is cut off until it leaves).
    expired: Arc<AtomicBool>,
}

impl Candidate for Probe {
    fn on_became_master(&self, _token: FencingToken) {
        let t = monotonic_ms();
        if let Ok(mut w) = self.wins.lock() {
            w.push((self.id, t));
        }
    }

    fn on_zookeeper_expired(&self) {
        self.expired.store(true, Ordering::Relaxed);
    }
}

struct Member {
    id: usize,
    elector: Arc<Elector>,
    /// The seed's run loop, where its election happens (S4).
    runner: Option<JoinHandle<()>>,
    /// Crash population only: this candidate's own way to the server.
    proxy: Option<TcpProxy>,
    expired: Arc<AtomicBool>,
}

impl Member {
    /// Stops the elector and closes its session (on a background thread
    /// when the caller should not wait for it).
    fn retire(self) -> JoinHandle<()> {
        std::thread::spawn(move || {
            self.elector.stop();
            if let Some(r) = self.runner {
                let _ = r.join();
            }
            drop(self.elector);
            drop(self.proxy);
        })
    }
}

/// One election: its path, its candidates, and how to add one.
struct Population<'a> {
    mode: &'a str,
    hosts: &'a str,
    path: String,
    session_ms: u64,
    proxied: bool,
    wins: Wins,
    members: Vec<Member>,
    next_id: usize,
    /// Sessions that expired on their own (the machine too busy to ping in
    /// time), and the seed candidates replaced for it.
    expiries: usize,
}

impl Population<'_> {
    fn add(&mut self) -> Result<(), Error> {
        let id = self.next_id;
        self.next_id += 1;
        let proxy = if self.proxied {
            Some(TcpProxy::start(self.hosts)?)
        } else {
            None
        };
        let hosts = proxy
            .as_ref()
            .map(|p| p.connect_string())
            .unwrap_or_else(|| self.hosts.to_owned());
        let mut c = if self.mode == "seed" {
            let mut c = ElectorConfig::seed(&hosts, &self.path);
            // The 2 s sleep after winning (S5) only delays the winner's work,
            // which is not measured here; without it the next round starts
            // sooner.
            c.settle_delay = Duration::ZERO;
            c
        } else {
            let mut c = ElectorConfig::new(&hosts, &self.path);
            c.mode = if self.mode == "sequence" {
                Mode::Sequence
            } else {
                Mode::Watch
            };
            c
        };
        c.session_timeout = Duration::from_millis(self.session_ms);
        c.data = zkha::net::seed_text_data(&format!("scale-{id}"));
        // Long enough for another candidate to win the race (the seed's
        // standbys poll once a second), short enough that the resigned
        // candidate is back in line soon.
        c.resign_backoff = if self.mode == "seed" {
            c.poll_interval * 3 / 2
        } else {
            Duration::from_millis(200)
        };
        // The C client's lines go to the `log` crate, which this binary does
        // not print: a crashed candidate's reconnection errors stay quiet.
        c.log_to_rust = true;
        let expired = Arc::new(AtomicBool::new(false));
        let elector = Arc::new(Elector::start(
            c,
            Arc::new(Probe {
                id,
                wins: self.wins.clone(),
                expired: expired.clone(),
            }),
        )?);
        let runner = (self.mode == "seed").then(|| {
            let e = elector.clone();
            std::thread::spawn(move || e.run())
        });
        self.members.push(Member {
            id,
            elector,
            runner,
            proxy,
            expired,
        });
        Ok(())
    }

    fn masters(&self) -> Vec<usize> {
        (0..self.members.len())
            .filter(|i| self.members[*i].elector.is_master())
            .collect()
    }

    fn notifications(&self) -> u64 {
        self.members
            .iter()
            .map(|m| m.elector.watch_notifications())
            .sum()
    }

    /// Settled: every candidate has a session, exactly one is master, and
    /// (watch, sequence) every standby has its watch registered on the
    /// server under the path. The seed sets no watches: every standby polls.
    fn settled(&self, server: &TestingServer) -> bool {
        if self.members.iter().any(|m| m.elector.session_id() == 0) || self.masters().len() != 1 {
            return false;
        }
        if self.mode == "seed" {
            return true;
        }
        let watches = server.data_watches().unwrap_or_default();
        let under = |p: &String| p == &self.path || p.starts_with(&format!("{}/", self.path));
        self.members
            .iter()
            .filter(|m| !m.elector.is_master())
            .all(|m| {
                watches
                    .get(&m.elector.session_id())
                    .is_some_and(|paths| paths.iter().any(under))
            })
    }

    /// Counts the sessions that expired since the last look. The seed
    /// profile never recovers from an expiry (it re-inits with the dead
    /// session's id, F2): such a candidate is replaced by a fresh one.
    fn tend(&mut self) -> Result<(), Error> {
        let mut i = 0;
        while i < self.members.len() {
            if self.members[i].expired.swap(false, Ordering::Relaxed) {
                self.expiries += 1;
                if self.mode == "seed" {
                    let gone = self.members.swap_remove(i);
                    let _ = gone.retire().join();
                    self.add()?;
                    continue;
                }
            }
            i += 1;
        }
        Ok(())
    }

    fn settle(&mut self, server: &TestingServer, what: &str) -> Result<(), Error> {
        let end = Instant::now() + Duration::from_secs(60);
        while Instant::now() < end {
            self.tend()?;
            if self.settled(server) {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Err(format!(
            "scale {}/{}: {what}: not settled in 60 s (masters {:?}, {} without a session)",
            self.mode,
            self.members.len(),
            self.masters(),
            self.members
                .iter()
                .filter(|m| m.elector.session_id() == 0)
                .count()
        )
        .into())
    }

    /// The first win by another candidate than `old` at or after `t0`.
    fn won_after(&self, old: usize, t0: f64) -> Option<f64> {
        self.wins
            .lock()
            .ok()?
            .iter()
            .find(|(id, t)| *id != old && *t >= t0)
            .map(|(_, t)| *t)
    }

    fn retire_all(&mut self) {
        let handles: Vec<JoinHandle<()>> = self.members.drain(..).map(Member::retire).collect();
        for h in handles {
            let _ = h.join();
        }
    }
}

/// The server's last zxid (`srvr`): one per committed write transaction,
/// error transactions (a create that failed with NODEEXISTS) included.
fn zxid(server: &TestingServer) -> Result<i64, Error> {
    let text = server.four_letter_word("srvr")?;
    text.lines()
        .find_map(|l| l.strip_prefix("Zxid: 0x"))
        .and_then(|h| i64::from_str_radix(h.trim(), 16).ok())
        .ok_or_else(|| "srvr: no Zxid line".into())
}

/// A `mntr` counter.
fn mntr(server: &TestingServer, key: &str) -> Result<f64, Error> {
    let text = server.four_letter_word("mntr")?;
    text.lines()
        .find_map(|l| {
            let (k, v) = l.split_once('\t')?;
            (k == key).then(|| v.trim().parse().ok())?
        })
        .ok_or_else(|| format!("mntr: no {key}").into())
}

/// The server JVM's CPU time so far (user + system), in ms.
fn server_cpu_ms(pid: u32) -> Result<f64, Error> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the command name (in parentheses, which may hold spaces):
    // state is field 3, utime 14, stime 15.
    let rest = stat
        .rsplit_once(')')
        .map(|(_, r)| r)
        .ok_or("unreadable /proc/PID/stat")?;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| -> Result<f64, Error> {
        Ok(f.get(i - 3).ok_or("short /proc/PID/stat")?.parse::<f64>()?)
    };
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as f64;
    Ok((ticks(14)? + ticks(15)?) * 1000.0 / hz)
}

/// Lets this process open a descriptor per session, proxy socket and pipe
/// of 2 × 200 candidates: the soft open-file limit goes up to the hard one.
fn raise_fd_limit() {
    let mut l = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit with a valid pointer to a local rlimit.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut l) == 0 && l.rlim_cur < l.rlim_max {
            l.rlim_cur = l.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &l);
        }
    }
}

fn sorted(mut v: Vec<f64>) -> Vec<f64> {
    v.sort_by(f64::total_cmp);
    v
}

/// Creates the election's parent (the seed never creates parents, S6).
fn new_path(zk: &ZooKeeper, mode: &str, n: usize, kind: &str) -> Result<String, Error> {
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
struct Ctx<'a> {
    o: &'a Options,
    s: &'a ScaleOptions,
    hosts: &'a str,
    server: &'a TestingServer,
    /// For the election parents.
    zk: &'a ZooKeeper,
    /// The server JVM's.
    pid: u32,
}

fn start<'a>(
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
fn graceful_and_idle(cx: &Ctx, mode: &str, n: usize) -> Result<Map<String, Value>, Error> {
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
fn crashes(cx: &Ctx, mode: &str, n: usize) -> Result<Map<String, Value>, Error> {
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
