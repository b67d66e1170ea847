//! Chaos scenarios for the safe profile, shared by `examples/chaos.rs`
//! (`make chaos`, everything) and `tests/chaos_fast.rs` (the fast ones, in
//! `make test`).
//!
//! Candidates are `zkha run` processes (safe profile) supervising
//! `examples/chaos_worker.rs`, a command that knows nothing of zkha and
//! appends `<monotonic_ms> <token> <pid> start|tick|stop` to one file per
//! candidate every 15 ms while it runs. Two checkers judge each scenario:
//!
//! - **black box** (the commands' files, what a user of `zkha run` sees): a
//!   command is alive from its first line to its last; two commands writing
//!   in the same interval are an overlap, and tokens, in the order commands
//!   started, never go down. A gap of more than [`FREEZE_GAP_MS`] in one
//!   command's lines means it was itself frozen (SIGSTOP of the whole
//!   master); lines it writes on waking, carrying an older token than a
//!   command that started meanwhile, for at most [`STALE_MAX_MS`] (its
//!   supervisor woke too and stops it within its grace period), are stale
//!   work that the token fences off: counted (`stale`) and reported, not an
//!   overlap. A command that ran on without a gap while another wrote is
//!   always an overlap.
//! - **trace** (the candidates' own JSON traces): a mastership runs from
//!   `became_master` to its last `work` line. `lost_master`'s `t` and
//!   `valid_until` are not used: they are the candidate's own claim.
//!
//! A command may be a tree of processes (the families of [`Family`]: a
//! child in a session of its own, a daemon, background jobs in groups of
//! their own): every process of it writes to its candidate's file with its
//! own pid and the pid of the tree's root as a fifth field. The black box
//! compares every process with every process of another tree: a command's
//! tree must never write after another command started.
//!
//! One clock for all: CLOCK_MONOTONIC, one machine. K (overlaps) is what
//! both checkers find, added. A scenario also fails (an entry in
//! [`Stats::errors`]) when a fault could not be injected, when nobody was
//! master, when a standby had no watch on the node before a fault (the
//! server's own `wchc` list), when an expected takeover by another candidate
//! did not come within [`Scene::takeover_bound`] (derived from the session
//! timeout: a standby that never set its watch never takes over), or when a
//! command outlived its supervisor. `failovers` counts faults after which another
//! candidate became master and started its command.
#![allow(dead_code)]

use std::collections::BTreeSet;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use zkha::clock::monotonic_ms;
use zkha_testing::{ProxyMode, TcpProxy, TestingCluster, TestingServer};

/// A gap in one command's lines longer than this (it writes every 15 ms)
/// means the command itself was frozen.
pub const FREEZE_GAP_MS: f64 = 250.0;
/// A command whose last line is younger than this, and not `stop`, is alive.
const LIVE_MS: f64 = 300.0;
/// `zkha run --grace` (its default).
const GRACE_MS: u64 = 300;
/// How long a command woken from a freeze may write with an older token
/// before it counts as an overlap: its supervisor woke with it and has its
/// grace period (SIGTERM, then SIGKILL) to stop it.
pub const STALE_MAX_MS: f64 = GRACE_MS as f64 + FREEZE_GAP_MS;

/// What a scenario did and found.
#[derive(Debug, Default, Clone)]
pub struct Stats {
    /// Faults injected (and checked to have been injected).
    pub faults: usize,
    /// Faults after which another candidate became master and ran its command.
    pub failovers: usize,
    /// Overlapping masterships by the candidates' traces.
    pub trace_overlaps: usize,
    /// Overlapping commands by their own files.
    pub blackbox_overlaps: usize,
    /// The longest black-box overlap, in ms.
    pub max_overlap_ms: f64,
    /// Tokens going down (both checkers).
    pub token_regressions: usize,
    /// Stale lines after a command's own freeze, fenced by an older token.
    pub stale: usize,
    /// The longest time from a fault to the takeover it should cause, in ms.
    pub max_takeover_ms: f64,
    /// What went wrong besides overlaps (a fault not injected, no master, no
    /// takeover, a command outliving its supervisor, …).
    pub errors: Vec<String>,
}

impl Stats {
    /// K: what both checkers found.
    pub fn overlaps(&self) -> usize {
        self.trace_overlaps + self.blackbox_overlaps
    }

    /// Nothing went wrong.
    pub fn ok(&self) -> bool {
        self.overlaps() == 0 && self.token_regressions == 0 && self.errors.is_empty()
    }
}

impl std::ops::AddAssign for Stats {
    fn add_assign(&mut self, o: Stats) {
        self.faults += o.faults;
        self.failovers += o.failovers;
        self.trace_overlaps += o.trace_overlaps;
        self.blackbox_overlaps += o.blackbox_overlaps;
        self.max_overlap_ms = self.max_overlap_ms.max(o.max_overlap_ms);
        self.token_regressions += o.token_regressions;
        self.stale += o.stale;
        self.max_takeover_ms = self.max_takeover_ms.max(o.max_takeover_ms);
        self.errors.extend(o.errors);
    }
}

/// Where scenarios find their programs and put their files.
pub struct Chaos {
    pub zkha: PathBuf,
    pub worker: PathBuf,
    pub dir: PathBuf,
    pub session_ms: u64,
    /// Print a line per round (`make chaos`).
    pub verbose: bool,
    scenes: usize,
    /// Whether `zkha run` has `--stop-timeout` (asked once).
    stop_timeout_flag: Option<bool>,
}

/// One `zkha run` process and the files it (and its command) write.
pub struct Cand {
    pub child: Child,
    pub name: String,
    pub trace: PathBuf,
    pub work: PathBuf,
    /// Killed or waited for: no signals to it any more.
    pub ended: bool,
    /// Its stderr, when it is a pipe this program reads ([`StderrMode::Stalled`]).
    pub stderr: Option<StderrPipe>,
}

/// One line of a trace.
#[derive(Debug, Clone)]
struct Ev {
    t: f64,
    event: String,
    token: Option<i64>,
    /// `connected`: the session id.
    session: Option<i64>,
    /// `lost_master`: why.
    reason: Option<String>,
}

fn events(trace: &Path) -> Vec<Ev> {
    let mut evs: Vec<Ev> = std::fs::read_to_string(trace)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .map(|v| Ev {
            t: v["t"].as_f64().unwrap_or(0.0),
            event: v["event"].as_str().unwrap_or_default().to_owned(),
            token: v["token"].as_i64(),
            session: v["session"]
                .as_str()
                .and_then(|x| x.strip_prefix("0x"))
                .and_then(|x| u64::from_str_radix(x, 16).ok())
                .map(|x| x as i64),
            reason: v["reason"].as_str().map(str::to_owned),
        })
        .collect();
    // Two threads write a trace; each line's time is taken before the write.
    evs.sort_by(|a, b| a.t.total_cmp(&b.t));
    evs
}

/// One command process: the lines it wrote.
#[derive(Debug, Clone)]
pub struct CmdRun {
    pub cand: String,
    pub pid: u32,
    /// `None` if its token was not a number.
    pub token: Option<i64>,
    pub first: f64,
    pub last: f64,
    /// Wrote `stop` (SIGTERM from its supervisor).
    pub stopped: bool,
    /// The pid of its tree's root (its own pid for the command itself).
    pub tree: u32,
    /// When it wrote `term` (`--slow-stop`: SIGTERM came, it stops later).
    pub term: Option<f64>,
    /// Line times.
    times: Vec<f64>,
}

impl CmdRun {
    fn is_live(&self, now: f64) -> bool {
        !self.stopped && now - self.last < LIVE_MS
    }
}

/// The runs in a command file, in order of their first line.
pub fn runs(work: &Path, cand: &str) -> Vec<CmdRun> {
    let text = std::fs::read_to_string(work).unwrap_or_default();
    let mut out: Vec<CmdRun> = Vec::new();
    for line in text.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        // A process the command started adds its tree's root pid.
        let (t, token, pid, kind, tree) = match f[..] {
            [t, token, pid, kind] => (t, token, pid, kind, None),
            [t, token, pid, kind, tree] => (t, token, pid, kind, Some(tree)),
            _ => continue,
        };
        let (Ok(t), Ok(pid)) = (t.parse::<f64>(), pid.parse::<u32>()) else {
            continue;
        };
        let tree = match tree.map(str::parse::<u32>) {
            None => pid,
            Some(Ok(tree)) => tree,
            Some(Err(_)) => continue,
        };
        let run = match out.iter_mut().rposition(|r| r.pid == pid) {
            Some(i) => &mut out[i],
            None => {
                out.push(CmdRun {
                    cand: cand.to_owned(),
                    pid,
                    token: token.parse().ok(),
                    first: t,
                    last: t,
                    stopped: false,
                    tree,
                    term: None,
                    times: Vec::new(),
                });
                out.last_mut().unwrap()
            }
        };
        run.first = run.first.min(t);
        run.last = run.last.max(t);
        run.times.push(t);
        match kind {
            "stop" => run.stopped = true,
            "term" => run.term = Some(run.term.map_or(t, |x: f64| x.min(t))),
            _ => {}
        }
    }
    out.sort_by(|a, b| a.first.total_cmp(&b.first));
    out
}

/// Whether `pid` is a chaos_worker still running (not a zombie).
pub fn command_alive(pid: u32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    let state = stat
        .rsplit_once(')')
        .and_then(|(_, rest)| rest.trim_start().chars().next());
    if matches!(state, Some('Z' | 'X') | None) {
        return false;
    }
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .is_ok_and(|c| String::from_utf8_lossy(&c).contains("chaos_worker"))
}

/// Sends `sig` to `pid`; an error if it did not arrive.
/// The parent of `pid` (from /proc), e.g. the watchdog `zkha run` starts
/// its command under.
pub fn parent_of(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // pid (comm) state ppid …: comm may hold spaces, so split after ')'.
    stat.rsplit_once(')')?
        .1
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// Every process of a master frozen as a whole: `zkha run`, its command's
/// watchdog (when it is a process of its own) and the command.
fn whole_master(zkha: u32, command: u32) -> Vec<u32> {
    let mut pids = vec![zkha];
    if let Some(wd) = parent_of(command).filter(|&p| p != zkha && p > 1) {
        pids.push(wd);
    }
    pids.push(command);
    pids
}

pub fn signal_pid(pid: u32, sig: i32) -> Result<(), String> {
    // SAFETY: kill(2) on a pid of a process this program started (a
    // `zkha run` child or the command it started); no memory is involved.
    if unsafe { libc::kill(pid as i32, sig) } == 0 {
        Ok(())
    } else {
        Err(format!(
            "signal {sig} to pid {pid}: {}",
            std::io::Error::last_os_error()
        ))
    }
}

pub fn wait_until(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + timeout;
    while Instant::now() < end {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    f()
}

impl Cand {
    fn events(&self) -> Vec<Ev> {
        events(&self.trace)
    }

    pub fn runs(&self) -> Vec<CmdRun> {
        runs(&self.work, &self.name)
    }

    pub fn count(&self, event: &str) -> usize {
        self.events().iter().filter(|e| e.event == event).count()
    }

    /// Master now, by its own trace.
    pub fn is_master_by_trace(&self) -> bool {
        let last =
            self.events().into_iter().rev().find(|e| {
                e.event == "became_master" || e.event == "lost_master" || e.event == "exit"
            });
        !self.ended && last.is_some_and(|e| e.event == "became_master")
    }

    /// Its command, if one is writing now.
    pub fn live_run(&self) -> Option<CmdRun> {
        let now = monotonic_ms();
        self.runs().into_iter().rev().find(|r| r.is_live(now))
    }

    /// Its current session, by its trace's last `connected` line.
    pub fn session(&self) -> Option<i64> {
        self.events()
            .iter()
            .rev()
            .find(|e| e.event == "connected")
            .and_then(|e| e.session)
    }

    /// Became master after `t` (by its trace) and started a command after `t`.
    fn took_over_since(&self, t: f64) -> Option<f64> {
        let became = self
            .events()
            .iter()
            .any(|e| e.event == "became_master" && e.t > t);
        let run = self.runs().into_iter().find(|r| r.first > t)?;
        became.then_some(run.first)
    }

    pub fn signal(&self, sig: i32) -> Result<(), String> {
        if self.ended {
            return Err(format!("{} has already ended", self.name));
        }
        signal_pid(self.child.id(), sig).map_err(|e| format!("{}: {e}", self.name))
    }

    /// SIGKILL; an error if it was not running.
    pub fn kill(&mut self) -> Result<(), String> {
        if self.ended || !matches!(self.child.try_wait(), Ok(None)) {
            return Err(format!("{} is not running", self.name));
        }
        self.ended = true;
        let killed = self.child.kill();
        let _ = self.child.wait();
        killed.map_err(|e| format!("SIGKILL of {}: {e}", self.name))
    }
}

impl Drop for Cand {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A fault injected at `at` on the master `victim` (if it hit a master).
#[derive(Debug, Clone)]
struct Fault {
    at: f64,
    victim: Option<String>,
}

/// One scenario: its candidates, faults and errors.
pub struct Scene {
    zkha: PathBuf,
    worker: PathBuf,
    pub dir: PathBuf,
    pub label: String,
    pub session_ms: u64,
    /// `--poll-interval` of the candidates spawned from now on (100 ms: in
    /// the safe profile's watch mode, how often a master writes `work`).
    pub poll_ms: u64,
    /// How the candidates spawned from now on and their commands are set up.
    pub setup: Setup,
    verbose: bool,
    pub cands: Vec<Cand>,
    faults: Vec<Fault>,
    /// When candidates were retired: a takeover after that is no failover.
    retired: Vec<f64>,
    pub errors: Vec<String>,
    takeovers: Vec<f64>,
    serial: usize,
    t0: f64,
}

impl Chaos {
    pub fn new(zkha: PathBuf, worker: PathBuf, dir: PathBuf, session_ms: u64) -> Chaos {
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("chaos directory");
        Chaos {
            zkha,
            worker,
            dir,
            session_ms,
            verbose: false,
            scenes: 0,
            stop_timeout_flag: None,
        }
    }

    /// A new scenario with its own directory.
    pub fn scene(&mut self, label: &str) -> Scene {
        self.scenes += 1;
        let dir = self.dir.join(format!("{:02}-{label}", self.scenes));
        std::fs::create_dir_all(&dir).expect("scenario directory");
        Scene {
            zkha: self.zkha.clone(),
            worker: self.worker.clone(),
            dir,
            label: label.to_owned(),
            session_ms: self.session_ms,
            poll_ms: 100,
            setup: Setup::default(),
            verbose: self.verbose,
            cands: Vec::new(),
            faults: Vec::new(),
            retired: Vec::new(),
            errors: Vec::new(),
            takeovers: Vec::new(),
            serial: 0,
            t0: monotonic_ms(),
        }
    }
}

impl Scene {
    /// How long after a fault that ends the master's session another
    /// candidate must have taken over: the session expires at most `T` plus
    /// a tick after the server last heard from the master, the standby's
    /// watch fires then. Three `T` and two seconds leave room for a loaded
    /// machine; a standby without a watch never takes over.
    pub fn takeover_bound(&self) -> Duration {
        Duration::from_millis(self.session_ms * 3 + 2000)
    }

    pub fn note(&self, msg: &str) {
        if self.verbose {
            eprintln!(
                "chaos: [{} +{:.1}s] {msg}",
                self.label,
                (monotonic_ms() - self.t0) / 1000.0
            );
        }
    }

    pub fn error(&mut self, msg: impl Into<String>) {
        let msg = msg.into();
        eprintln!("chaos: [{}] ERROR: {msg}", self.label);
        self.errors.push(msg);
    }

    /// Starts a `zkha run` candidate; returns its index.
    pub fn spawn(&mut self, hosts: &str, path: &str, extra: &[&str]) -> usize {
        self.serial += 1;
        let name = format!("c{}", self.serial);
        let cand = self.start(&name, hosts, path, extra);
        self.cands.push(cand);
        self.cands.len() - 1
    }

    /// Starts candidate `i` again (same name and files) after it ended.
    pub fn respawn(&mut self, i: usize, hosts: &str, path: &str, extra: &[&str]) {
        let name = self.cands[i].name.clone();
        self.cands[i] = self.start(&name, hosts, path, extra);
    }

    fn start(&self, name: &str, hosts: &str, path: &str, extra: &[&str]) -> Cand {
        let trace = self.dir.join(format!("{name}.trace"));
        let work = self.dir.join(format!("{name}.work"));
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join(format!("{name}.log")))
            .expect("candidate log");
        let setup = &self.setup;
        let (stderr, pipe) = match setup.stderr {
            StderrMode::Log => (Stdio::from(log), None),
            StderrMode::Stalled => {
                let (pipe, end) = StderrPipe::start(log).expect("stderr pipe");
                (Stdio::from(end), Some(pipe))
            }
            StderrMode::Broken => {
                // The read end is closed before zkha run starts: every
                // write to its stderr fails with EPIPE.
                let (r, w) = pipe().expect("stderr pipe");
                drop(r);
                (Stdio::from(w), None)
            }
        };
        // The command: the worker, or a shell running it as two background
        // jobs (each in a process group of its own).
        let mut command: Vec<std::ffi::OsString> = Vec::new();
        if setup.jobs {
            command.extend(["sh".into(), "-c".into(), JOBS_SCRIPT.into()]);
        }
        command.push(self.worker.clone().into());
        if !setup.jobs {
            command.extend(setup.worker_args.iter().map(Into::into));
        }
        command.push(work.clone().into());
        let n: usize = name.trim_start_matches('c').parse().unwrap_or(0);
        let child = Command::new(&self.zkha)
            .env("RUST_LOG", "zkha=info,warn")
            .envs(setup.env.iter().map(|(k, v)| (k, v)))
            .args(["run", "--hosts", hosts, "--path", path])
            .args(["--profile", "safe"])
            .args(["--session-timeout", &self.session_ms.to_string()])
            .args(["--poll-interval", &self.poll_ms.to_string()])
            .args(["--grace", &GRACE_MS.to_string()])
            .args(["--data", &format!("10.9.0.{}", n % 250)])
            .arg("--trace")
            .arg(&trace)
            .args(["--name", name])
            .args(&setup.zkha_args)
            .args(extra)
            .arg("--")
            .args(&command)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(stderr)
            .spawn()
            .expect("spawn zkha run");
        Cand {
            child,
            name: name.to_owned(),
            trace,
            work,
            ended: false,
            stderr: pipe,
        }
    }

    /// Records a fault injected at `at` (taken just before it) on `victim`.
    pub fn fault(&mut self, at: f64, victim: usize, what: &str) {
        self.faults.push(Fault {
            at,
            victim: Some(self.cands[victim].name.clone()),
        });
        self.note(&format!("fault: {what} ({})", self.cands[victim].name));
    }

    /// Records a fault with no master to hit (the server down at start):
    /// it counts no failover.
    pub fn fault_without_master(&mut self, at: f64, what: &str) {
        self.faults.push(Fault { at, victim: None });
        self.note(&format!("fault: {what}"));
    }

    /// Waits until exactly one candidate is master by its trace with its
    /// command writing, and no other command writes; an error otherwise.
    pub fn one_master(&mut self, timeout: Duration, when: &str) -> Option<usize> {
        let mut found = None;
        let cands = &self.cands;
        wait_until(timeout, || {
            let live: Vec<usize> = (0..cands.len())
                .filter(|&i| !cands[i].ended && cands[i].live_run().is_some())
                .collect();
            found = match live[..] {
                [i] if cands[i].is_master_by_trace() => Some(i),
                _ => None,
            };
            found.is_some()
        });
        if found.is_none() {
            self.error(format!(
                "{when}: no single master running its command within {timeout:?}"
            ));
        }
        found
    }

    /// Waits until a candidate other than `victim` became master after `at`
    /// and started its command, within [`Scene::takeover_bound`]; an error
    /// otherwise.
    pub fn wait_takeover(&mut self, victim: usize, at: f64, when: &str) -> Option<usize> {
        self.wait_takeover_within(victim, at, Duration::ZERO, when)
    }

    /// [`wait_takeover`](Self::wait_takeover) with `extra` time on top of
    /// [`Scene::takeover_bound`] (a planned stop that may take that long).
    pub fn wait_takeover_within(
        &mut self,
        victim: usize,
        at: f64,
        extra: Duration,
        when: &str,
    ) -> Option<usize> {
        let bound = self.takeover_bound() + extra;
        let found = self.takeover_within(victim, at, bound);
        if found.is_none() {
            let name = self.cands[victim].name.clone();
            self.error(format!(
                "{when}: no takeover from {name} by another candidate within {bound:?} \
                 (does the standby watch the node?)"
            ));
        }
        found
    }

    /// Waits up to `bound` until a candidate other than `victim` became
    /// master after `at` and started its command; no error if none did.
    pub fn takeover_within(&mut self, victim: usize, at: f64, bound: Duration) -> Option<usize> {
        let name = self.cands[victim].name.clone();
        let mut found = None;
        let cands = &self.cands;
        wait_until(bound, || {
            found = cands
                .iter()
                .enumerate()
                .filter(|(_, c)| c.name != name)
                .find_map(|(i, c)| c.took_over_since(at).map(|t| (i, t)));
            found.is_some()
        });
        let (i, t) = found?;
        self.takeovers.push(t - at);
        self.note(&format!(
            "{} took over from {name} {:.0} ms after the fault",
            self.cands[i].name,
            t - at
        ));
        Some(i)
    }

    /// Waits until every running candidate but the master `m` has a watch on
    /// `path` on the server at `address` (by the server's own `wchc`); an
    /// error otherwise: a standby without a watch would not take over.
    pub fn wait_standbys_watch(&mut self, address: &str, path: &str, m: usize, when: &str) -> bool {
        let cands = &self.cands;
        let standbys: Vec<usize> = (0..cands.len())
            .filter(|&i| i != m && !cands[i].ended)
            .collect();
        let unwatched = || -> Vec<String> {
            let watches =
                zkha_testing::data_watches(address, Duration::from_secs(2)).unwrap_or_default();
            standbys
                .iter()
                .filter(|&&i| {
                    !cands[i].session().is_some_and(|sid| {
                        watches
                            .get(&sid)
                            .is_some_and(|paths| paths.iter().any(|p| p == path))
                    })
                })
                .map(|&i| cands[i].name.clone())
                .collect()
        };
        let ok = wait_until(Duration::from_secs(15), || unwatched().is_empty());
        if !ok {
            let names = unwatched();
            self.error(format!(
                "{when}: standbys {names:?} have no watch on {path} (the server's wchc)"
            ));
        }
        ok
    }

    /// Waits until no command of candidate `i` runs (its last line is `stop`,
    /// or its process is gone); an error otherwise.
    pub fn wait_command_gone(&mut self, i: usize, timeout: Duration, when: &str) -> bool {
        let c = &self.cands[i];
        let gone = wait_until(timeout, || {
            c.runs().iter().all(|r| r.stopped || !command_alive(r.pid))
        });
        if !gone {
            let name = c.name.clone();
            self.error(format!(
                "{when}: the command of {name} still runs {timeout:?} later"
            ));
        }
        gone
    }

    /// Ends candidate `i` for good (SIGCONT, SIGTERM, waits for it to leave).
    pub fn retire(&mut self, i: usize) -> Result<(), String> {
        self.retired.push(monotonic_ms());
        let c = &mut self.cands[i];
        c.signal(libc::SIGCONT)?;
        c.signal(libc::SIGTERM)?;
        let left = wait_until(Duration::from_secs(10), || {
            !matches!(c.child.try_wait(), Ok(None))
        });
        c.ended = true;
        if left {
            Ok(())
        } else {
            let _ = c.child.kill();
            let _ = c.child.wait();
            Err(format!("{} did not leave within 10 s of SIGTERM", c.name))
        }
    }

    /// Waits until no candidate's command runs; an error otherwise.
    pub fn wait_no_command(&mut self, timeout: Duration, when: &str) -> bool {
        let cands = &self.cands;
        let gone = wait_until(timeout, || {
            cands
                .iter()
                .flat_map(|c| c.runs())
                .all(|r| r.stopped || !command_alive(r.pid))
        });
        if !gone {
            let running: Vec<String> = cands
                .iter()
                .flat_map(|c| c.runs())
                .filter(|r| !r.stopped && command_alive(r.pid))
                .map(|r| r.cand)
                .collect();
            self.error(format!(
                "{when}: commands of {running:?} still run {timeout:?} later"
            ));
        }
        gone
    }

    /// Ends every candidate (SIGTERM), checks no command outlived its
    /// supervisor, and runs both checkers.
    pub fn finish(mut self) -> Stats {
        let mut errors = Vec::new();
        for c in self.cands.iter_mut().filter(|c| !c.ended) {
            // A candidate nobody stopped must still be running.
            if let Ok(Some(status)) = c.child.try_wait() {
                errors.push(format!("{} exited by itself ({status})", c.name));
                c.ended = true;
                continue;
            }
            if let Err(e) = c
                .signal(libc::SIGCONT)
                .and_then(|()| c.signal(libc::SIGTERM))
            {
                errors.push(e);
            }
        }
        for c in self.cands.iter_mut().filter(|c| !c.ended) {
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline && matches!(c.child.try_wait(), Ok(None)) {
                std::thread::sleep(Duration::from_millis(10));
            }
            if matches!(c.child.try_wait(), Ok(None)) {
                errors.push(format!("{} did not leave within 10 s of SIGTERM", c.name));
                let _ = c.child.kill();
                let _ = c.child.wait();
            }
            c.ended = true;
        }
        let all_runs: Vec<CmdRun> = self.cands.iter().flat_map(|c| c.runs()).collect();
        // The supervisors are gone: so must their commands be (a killed
        // supervisor's command dies of PR_SET_PDEATHSIG at once).
        std::thread::sleep(Duration::from_millis(100));
        for r in &all_runs {
            if command_alive(r.pid) {
                errors.push(format!(
                    "the command of {} (pid {}) outlived its supervisor",
                    r.cand, r.pid
                ));
                let _ = signal_pid(r.pid, libc::SIGKILL);
            }
        }
        for e in errors {
            self.error(e);
        }
        // Each command ran with a token its candidate's trace shows.
        let mut token_errors = Vec::new();
        for c in &self.cands {
            let tokens: BTreeSet<i64> = c
                .events()
                .iter()
                .filter(|e| e.event == "became_master")
                .filter_map(|e| e.token)
                .collect();
            for r in c.runs() {
                match r.token {
                    Some(t) if tokens.contains(&t) => {}
                    t => {
                        token_errors.push(format!(
                            "the command of {} (pid {}) ran with token {t:?}, \
                             not one its trace shows ({tokens:?})",
                            c.name, r.pid
                        ));
                    }
                }
            }
        }
        for e in token_errors {
            self.error(e);
        }
        let t0 = self.t0;
        let label = self.label.clone();
        let traces: Vec<(String, PathBuf)> = self
            .cands
            .iter()
            .map(|c| (c.name.clone(), c.trace.clone()))
            .collect();
        let (trace_overlaps, trace_regressions) = trace_check(&traces, t0, &label);
        let bb = blackbox_check(&all_runs, t0, &label);
        let failovers = self.failovers(&all_runs);
        let mut stats = Stats {
            faults: self.faults.len(),
            failovers,
            trace_overlaps,
            blackbox_overlaps: bb.overlaps,
            max_overlap_ms: bb.max_overlap_ms,
            token_regressions: trace_regressions + bb.regressions,
            stale: bb.stale,
            max_takeover_ms: self.takeovers.iter().copied().fold(0.0, f64::max),
            errors: Vec::new(),
        };
        if stats.faults == 0 {
            self.error("no fault was injected");
        }
        stats.errors = std::mem::take(&mut self.errors)
            .into_iter()
            .map(|e| format!("{label}: {e}"))
            .collect();
        stats
    }

    /// Faults after which a candidate other than the victim became master
    /// and started its command (before the next fault or retirement).
    fn failovers(&self, all_runs: &[CmdRun]) -> usize {
        let mut faults = self.faults.clone();
        faults.sort_by(|a, b| a.at.total_cmp(&b.at));
        let traces: Vec<(String, Vec<f64>)> = self
            .cands
            .iter()
            .map(|c| {
                let became = c
                    .events()
                    .iter()
                    .filter(|e| e.event == "became_master")
                    .map(|e| e.t)
                    .collect();
                (c.name.clone(), became)
            })
            .collect();
        (0..faults.len())
            .filter(|&k| {
                let f = &faults[k];
                let Some(victim) = &f.victim else {
                    return false;
                };
                let end = faults
                    .get(k + 1)
                    .map(|n| n.at)
                    .into_iter()
                    .chain(self.retired.iter().copied().filter(|&r| r > f.at))
                    .fold(f64::INFINITY, f64::min);
                let within = |t: f64| t > f.at && t < end;
                traces.iter().any(|(name, became)| {
                    name != victim
                        && became.iter().any(|&t| within(t))
                        && all_runs.iter().any(|r| r.cand == *name && within(r.first))
                })
            })
            .count()
    }
}

/// Masterships by the traces: `became_master` to the last `work` line
/// before the next `lost_master`/`exit`/`became_master` (or the trace's end).
/// `traces`: (candidate, trace file). Returns (overlaps, token regressions).
pub fn trace_check(traces: &[(String, PathBuf)], t0: f64, label: &str) -> (usize, usize) {
    // (start, end, token, candidate)
    let mut spans: Vec<(f64, f64, i64, String)> = Vec::new();
    for (name, trace) in traces {
        let mut open: Option<(f64, f64, i64)> = None;
        for e in events(trace) {
            match e.event.as_str() {
                "became_master" => {
                    if let Some((s, last, tok)) = open.take() {
                        spans.push((s, last, tok, name.clone()));
                    }
                    open = Some((e.t, e.t, e.token.unwrap_or(i64::MIN)));
                }
                "work" => {
                    if let Some(o) = open.as_mut() {
                        o.1 = e.t;
                    }
                }
                "lost_master" | "exit" => {
                    if let Some((s, last, tok)) = open.take() {
                        spans.push((s, last, tok, name.clone()));
                    }
                }
                _ => {}
            }
        }
        if let Some((s, last, tok)) = open {
            spans.push((s, last, tok, name.clone()));
        }
    }
    spans.sort_by(|a, b| a.0.total_cmp(&b.0));
    let mut overlaps = 0;
    for (i, a) in spans.iter().enumerate() {
        for b in &spans[i + 1..] {
            if a.3 != b.3 && b.0 <= a.1 {
                eprintln!(
                    "chaos: [{label}] TRACE OVERLAP: {} master [{:.0}, {:.0}] ms and {} [{:.0}, {:.0}] ms",
                    a.3,
                    a.0 - t0,
                    a.1 - t0,
                    b.3,
                    b.0 - t0,
                    b.1 - t0
                );
                overlaps += 1;
            }
        }
    }
    let mut regressions = 0;
    let mut max = i64::MIN;
    for s in &spans {
        if s.2 < max {
            eprintln!(
                "chaos: [{label}] TRACE TOKEN REGRESSION: {} became master with {} after {max}",
                s.3, s.2
            );
            regressions += 1;
        }
        max = max.max(s.2);
    }
    (overlaps, regressions)
}

/// What the black-box checker found.
#[derive(Debug, Default)]
pub struct BlackBox {
    pub overlaps: usize,
    pub max_overlap_ms: f64,
    pub regressions: usize,
    pub stale: usize,
}

/// A stretch of one command's lines without a freeze gap.
struct Segment<'a> {
    run: &'a CmdRun,
    first: f64,
    last: f64,
    /// Began after a gap: the command was frozen and woke up.
    after_freeze: bool,
}

fn segments(run: &CmdRun) -> Vec<Segment<'_>> {
    let mut out = Vec::new();
    let mut times = run.times.clone();
    times.sort_by(f64::total_cmp);
    let mut start = 0;
    for i in 1..=times.len() {
        if i == times.len() || times[i] - times[i - 1] > FREEZE_GAP_MS {
            out.push(Segment {
                run,
                first: times[start],
                last: times[i - 1],
                after_freeze: start > 0,
            });
            start = i;
        }
    }
    out
}

/// The black-box checker over every command of a scenario.
pub fn blackbox_check(runs: &[CmdRun], t0: f64, label: &str) -> BlackBox {
    let mut found = BlackBox::default();
    let segs: Vec<Segment> = runs.iter().flat_map(segments).collect();
    // Overlap per pair of commands: (pid, pid) -> ms.
    let mut pairs: std::collections::BTreeMap<(u32, u32), f64> = Default::default();
    for (i, a) in segs.iter().enumerate() {
        for b in &segs[i + 1..] {
            // One command's own processes (one tree) may write together.
            if a.run.pid == b.run.pid || (a.run.cand == b.run.cand && a.run.tree == b.run.tree) {
                continue;
            }
            let (from, to) = (a.first.max(b.first), a.last.min(b.last));
            if from > to {
                continue;
            }
            // Stale work of a command that was itself frozen, with an older
            // token than the one that ran meanwhile, stopped by its
            // supervisor (which woke with it) within the grace period:
            // fenced off.
            let older = |x: &Segment, y: &Segment| {
                x.after_freeze
                    && x.last - x.first <= STALE_MAX_MS
                    && matches!((x.run.token, y.run.token), (Some(p), Some(q)) if p < q)
            };
            if older(a, b) || older(b, a) {
                let (s, o) = if older(a, b) { (a, b) } else { (b, a) };
                eprintln!(
                    "chaos: [{label}] stale (fenced): {} (pid {}, token {:?}) woke from a freeze and wrote \
                     [{:.0}, {:.0}] ms while {} (pid {}, token {:?}) ran",
                    s.run.cand,
                    s.run.pid,
                    s.run.token,
                    s.first - t0,
                    s.last - t0,
                    o.run.cand,
                    o.run.pid,
                    o.run.token
                );
                found.stale += 1;
                continue;
            }
            let key = (a.run.pid.min(b.run.pid), a.run.pid.max(b.run.pid));
            let ms = pairs.entry(key).or_insert(0.0);
            *ms += to - from;
            eprintln!(
                "chaos: [{label}] BLACK-BOX OVERLAP: {} (pid {}, token {:?}) wrote [{:.0}, {:.0}] ms and {} \
                 (pid {}, token {:?}) wrote [{:.0}, {:.0}] ms: both for {:.0} ms",
                a.run.cand,
                a.run.pid,
                a.run.token,
                a.first - t0,
                a.last - t0,
                b.run.cand,
                b.run.pid,
                b.run.token,
                b.first - t0,
                b.last - t0,
                to - from
            );
        }
    }
    found.overlaps = pairs.len();
    found.max_overlap_ms = pairs.values().copied().fold(0.0, f64::max);
    let mut sorted: Vec<&CmdRun> = runs.iter().collect();
    sorted.sort_by(|a, b| a.first.total_cmp(&b.first));
    let mut max: Option<i64> = None;
    for r in sorted {
        match (r.token, max) {
            (None, _) => {
                eprintln!(
                    "chaos: [{label}] BLACK-BOX: the command of {} (pid {}) had no token",
                    r.cand, r.pid
                );
                found.regressions += 1;
            }
            (Some(t), Some(m)) if t < m => {
                eprintln!(
                    "chaos: [{label}] BLACK-BOX TOKEN REGRESSION: {} (pid {}) started with token {t} after {m}",
                    r.cand, r.pid
                );
                found.regressions += 1;
            }
            (Some(t), _) => max = Some(max.map_or(t, |m| m.max(t))),
        }
    }
    found
}

impl Chaos {
    fn unique(&self, name: &str) -> String {
        format!("{}/m", zkha_testing::unique_path(name))
    }

    /// SIGKILL of the master's `zkha run` (its command dies with it, by
    /// PR_SET_PDEATHSIG); another candidate must take over; a fresh
    /// candidate replaces the dead one.
    pub fn kill_master(&mut self, hosts: &str, rounds: usize) -> Stats {
        self.kill_master_over(hosts, hosts, &[], rounds, "sigkill")
    }

    /// [`kill_master`](Self::kill_master) with `flags` for every candidate
    /// (e.g. `--tls-ca … --tls-cert … --tls-key …` for a TLS-only server);
    /// `probe` is where the server answers four-letter words (a TLS-only
    /// test server's plaintext probe port).
    pub fn kill_master_over(
        &mut self,
        hosts: &str,
        probe: &str,
        flags: &[String],
        rounds: usize,
        label: &str,
    ) -> Stats {
        let mut s = self.scene(label);
        let path = self.unique("chaos-kill");
        let extra: Vec<&str> = flags.iter().map(String::as_str).collect();
        s.spawn(hosts, &path, &extra);
        s.spawn(hosts, &path, &extra);
        for round in 1..=rounds {
            let when = format!("round {round}");
            let Some(m) = s.one_master(Duration::from_secs(30), &when) else {
                break;
            };
            if !s.wait_standbys_watch(probe, &path, m, &when) {
                break;
            }
            let at = monotonic_ms();
            if let Err(e) = s.cands[m].kill() {
                s.error(format!("{when}: {e}"));
                break;
            }
            s.fault(at, m, "SIGKILL of zkha run");
            s.spawn(hosts, &path, &extra);
            if !s.wait_command_gone(m, Duration::from_secs(2), &when) {
                break;
            }
            if s.wait_takeover(m, at, &when).is_none() {
                break;
            }
        }
        s.finish()
    }

    /// SIGSTOP of the master's `zkha run` alone (its command runs on), past
    /// the session timeout: another candidate takes over; the stopped
    /// supervisor stays stopped one session timeout more, then SIGCONT; it must
    /// stop its command.
    pub fn stop_supervisor(&mut self, hosts: &str, rounds: usize) -> Stats {
        self.pause(hosts, rounds, false)
    }

    /// SIGSTOP of the whole master (`zkha run` and its command) past the
    /// session timeout, then SIGCONT of both.
    pub fn pause_master(&mut self, hosts: &str, rounds: usize) -> Stats {
        self.pause(hosts, rounds, true)
    }

    fn pause(&mut self, hosts: &str, rounds: usize, whole: bool) -> Stats {
        let mut s = self.scene(if whole {
            "sigstop-whole"
        } else {
            "sigstop-zkha-run"
        });
        let path = self.unique("chaos-pause");
        s.spawn(hosts, &path, &[]);
        s.spawn(hosts, &path, &[]);
        let after = Duration::from_millis(self.session_ms);
        let gone_within = Duration::from_millis(self.session_ms + GRACE_MS + 2000);
        for round in 1..=rounds {
            let when = format!("round {round}");
            let Some(m) = s.one_master(Duration::from_secs(30), &when) else {
                break;
            };
            if !s.wait_standbys_watch(hosts, &path, m, &when) {
                break;
            }
            let Some(run) = s.cands[m].live_run() else {
                s.error(format!("{when}: the master's command stopped writing"));
                break;
            };
            // The whole master: zkha run, the watchdog and the command, as a
            // frozen machine would be; nothing on the client side can fence
            // then, and stale work must carry an older token.
            let frozen = if whole {
                whole_master(s.cands[m].child.id(), run.pid)
            } else {
                vec![s.cands[m].child.id()]
            };
            let at = monotonic_ms();
            let stopped = s.cands[m].signal(libc::SIGSTOP).and_then(|()| {
                frozen[1..]
                    .iter()
                    .try_for_each(|&p| signal_pid(p, libc::SIGSTOP))
            });
            if let Err(e) = stopped {
                s.error(format!("{when}: {e}"));
                break;
            }
            s.fault(
                at,
                m,
                if whole {
                    "SIGSTOP of zkha run and its command"
                } else {
                    "SIGSTOP of zkha run alone"
                },
            );
            let took = s.wait_takeover(m, at, &when);
            if took.is_some() {
                std::thread::sleep(after);
            }
            // The frozen watchdog and command may be gone by now (killed
            // while stopped): only zkha run itself must still be there.
            let resumed = s.cands[m].signal(libc::SIGCONT).map(|()| {
                for &p in &frozen[1..] {
                    let _ = signal_pid(p, libc::SIGCONT);
                }
            });
            if let Err(e) = resumed {
                s.error(format!("{when}: {e}"));
                break;
            }
            if took.is_none() || !s.wait_command_gone(m, gone_within, &when) {
                break;
            }
        }
        s.finish()
    }

    /// Partitions of the master's client link through per-candidate proxies,
    /// in turn: blackhole until another candidate took over (and half a
    /// session timeout more), connection resets, latency near the renewal
    /// period (T/5 each way) for 2T.
    pub fn partition(&mut self, server: &str, rounds: usize) -> Stats {
        let mut s = self.scene("partitions");
        let path = self.unique("chaos-part");
        let proxies: Vec<TcpProxy> = match (0..3).map(|_| TcpProxy::start(server)).collect() {
            Ok(p) => p,
            Err(e) => {
                s.error(format!("proxy: {e}"));
                return s.finish();
            }
        };
        for p in &proxies {
            s.spawn(&p.connect_string(), &path, &[]);
        }
        let t = self.session_ms;
        for round in 1..=rounds {
            let when = format!("round {round}");
            let Some(m) = s.one_master(Duration::from_secs(30), &when) else {
                break;
            };
            if !s.wait_standbys_watch(server, &path, m, &when) {
                break;
            }
            let proxy = &proxies[m];
            let at = monotonic_ms();
            match round % 3 {
                1 => {
                    proxy.set_mode(ProxyMode::Blackhole);
                    // The injection, checked: nothing comes back through it.
                    let probe = zkha_testing::four_letter_word(
                        &proxy.connect_string(),
                        "ruok",
                        Duration::from_millis(500),
                    );
                    if matches!(&probe, Ok(a) if !a.is_empty()) {
                        proxy.set_mode(ProxyMode::Pass);
                        s.error(format!("{when}: the blackhole let {probe:?} through"));
                        break;
                    }
                    s.fault(at, m, "blackhole of the master's link");
                    let took = s.wait_takeover(m, at, &when);
                    if took.is_some() {
                        std::thread::sleep(Duration::from_millis(t / 2));
                    }
                    proxy.set_mode(ProxyMode::Pass);
                    if took.is_none() {
                        break;
                    }
                }
                2 => {
                    let before = s.cands[m].count("connected");
                    proxy.reset_all();
                    s.fault(at, m, "reset of the master's connections");
                    // The injection, checked: the master's client reconnected.
                    let c = &s.cands[m];
                    if !wait_until(Duration::from_millis(t * 3), || {
                        c.count("connected") > before
                    }) {
                        s.error(format!(
                            "{when}: the master did not reconnect after the reset"
                        ));
                        break;
                    }
                }
                _ => {
                    let delay = Duration::from_millis(t / 5);
                    proxy.set_delay(delay);
                    proxy.set_mode(ProxyMode::Delay);
                    // The injection, checked: an answer takes two delays.
                    let sent = Instant::now();
                    let probe = zkha_testing::four_letter_word(
                        &proxy.connect_string(),
                        "ruok",
                        Duration::from_millis(t * 2),
                    );
                    if !matches!(&probe, Ok(a) if a.starts_with("imok"))
                        || sent.elapsed() < delay * 2
                    {
                        proxy.set_mode(ProxyMode::Pass);
                        s.error(format!(
                            "{when}: the delay was not applied ({probe:?} in {:?})",
                            sent.elapsed()
                        ));
                        break;
                    }
                    s.fault(at, m, "latency of T/5 each way on the master's link");
                    std::thread::sleep(Duration::from_millis(t * 2));
                    proxy.set_mode(ProxyMode::Pass);
                }
            }
            std::thread::sleep(Duration::from_millis(t));
        }
        s.finish()
    }

    /// The master's link refuses and resets every connection: its C client
    /// reports the disconnection at once, so the master must step down on
    /// its own disconnect timer (F1, `T/4` later: `lost_master` reason
    /// `disconnected`), before its lease (`T/2` after the last renewal)
    /// would have ended it (`lease_expired`). Then a standby takes over.
    pub fn refused_connections(&mut self, server: &str, rounds: usize) -> Stats {
        let mut s = self.scene("refused");
        let path = self.unique("chaos-refused");
        let proxies: Vec<TcpProxy> = match (0..2).map(|_| TcpProxy::start(server)).collect() {
            Ok(p) => p,
            Err(e) => {
                s.error(format!("proxy: {e}"));
                return s.finish();
            }
        };
        for p in &proxies {
            s.spawn(&p.connect_string(), &path, &[]);
        }
        for round in 1..=rounds {
            let when = format!("round {round}");
            let Some(m) = s.one_master(Duration::from_secs(30), &when) else {
                break;
            };
            if !s.wait_standbys_watch(server, &path, m, &when) {
                break;
            }
            let at = monotonic_ms();
            proxies[m].set_mode(ProxyMode::Reset);
            s.fault(at, m, "every connection of the master refused");
            let took = s.wait_takeover(m, at, &when);
            let why = s.cands[m]
                .events()
                .into_iter()
                .find(|e| e.event == "lost_master" && e.t >= at)
                .map(|e| e.reason.unwrap_or_default());
            proxies[m].set_mode(ProxyMode::Pass);
            if why.as_deref() != Some("disconnected") {
                s.error(format!(
                    "{when}: the master stepped down by {why:?}, not by its disconnect timer"
                ));
                break;
            }
            if took.is_none() {
                break;
            }
            std::thread::sleep(Duration::from_millis(self.session_ms));
        }
        s.finish()
    }

    /// A master restarted within the session timeout with its saved session
    /// keeps mastership: no failover, the same token.
    pub fn restart_with_saved_session(&mut self, hosts: &str) -> Stats {
        let mut s = self.scene("resume");
        let path = self.unique("chaos-resume");
        let file = s.dir.join("session");
        let f = file.to_str().expect("utf-8 path").to_owned();
        let a = s.spawn(hosts, &path, &["--session-file", &f]);
        let b;
        'run: {
            if s.one_master(Duration::from_secs(30), "start").is_none() {
                break 'run;
            }
            b = s.spawn(hosts, &path, &[]);
            let cb = &s.cands[b];
            if !wait_until(Duration::from_secs(30), || cb.count("create") > 0) {
                s.error("the standby never tried to create the node");
                break 'run;
            }
            let token = s.cands[a].live_run().and_then(|r| r.token);
            let at = monotonic_ms();
            if let Err(e) = s.cands[a].kill() {
                s.error(e);
                break 'run;
            }
            s.fault(at, a, "SIGKILL, then a restart with the saved session");
            s.respawn(a, hosts, &path, &["--session-file", &f]);
            let ca = &s.cands[a];
            let back = wait_until(Duration::from_millis(s.session_ms * 3), || {
                ca.runs()
                    .iter()
                    .any(|r| r.first > at && r.is_live(monotonic_ms()))
            });
            if !back {
                s.error("the restarted master did not run its command again");
                break 'run;
            }
            let again = s.cands[a].live_run().and_then(|r| r.token);
            if again != token {
                s.error(format!("the token changed: {token:?} then {again:?}"));
            }
            // Past the old session's timeout: still no takeover.
            std::thread::sleep(Duration::from_millis(s.session_ms));
            if s.cands[b].count("became_master") != 0 {
                s.error("the standby took over although the session was kept");
            }
        }
        s.finish()
    }

    /// Candidates started while the server is down; it comes up later.
    pub fn server_down_at_start(&mut self) -> Stats {
        let mut s = self.scene("server-down-at-start");
        let server = match TestingServer::start() {
            Ok(server) => server,
            Err(e) => {
                s.error(format!("server: {e}"));
                return s.finish();
            }
        };
        let hosts = server.connect_string().to_owned();
        let at = monotonic_ms();
        server.stop();
        if server.is_running() {
            s.error("the server did not stop");
            return s.finish();
        }
        let path = self.unique("chaos-down");
        for _ in 0..3 {
            s.spawn(&hosts, &path, &[]);
        }
        s.fault_without_master(at, "server down at start");
        std::thread::sleep(Duration::from_millis(1500));
        match server.restart() {
            Ok(()) => {
                s.one_master(Duration::from_secs(30), "after the server came up");
            }
            Err(e) => s.error(format!("restart of the server: {e}")),
        }
        s.finish()
    }

    /// Ensemble faults on a 3-member `TestingCluster`, `rounds` times: kill
    /// the leader, kill a follower, lose quorum (two members killed: the
    /// master must stop its command) and regain it. After each, a master
    /// must run its command again.
    pub fn ensemble(&mut self, rounds: usize) -> Stats {
        let mut s = self.scene("ensemble");
        let cluster = match TestingCluster::start() {
            Ok(c) => c,
            Err(e) => {
                s.error(format!("ensemble: {e}"));
                return s.finish();
            }
        };
        let hosts = cluster.connect_string();
        let path = self.unique("chaos-ens");
        for _ in 0..3 {
            s.spawn(&hosts, &path, &[]);
        }
        let settle = Duration::from_secs(60);
        let t = self.session_ms;
        'rounds: for round in 1..=rounds {
            macro_rules! check {
                ($what:expr, $e:expr) => {
                    match $e {
                        Ok(v) => v,
                        Err(e) => {
                            s.error(format!("round {round}: {}: {e}", $what));
                            break 'rounds;
                        }
                    }
                };
            }
            // The leader.
            let Some(m) = s.one_master(settle, &format!("round {round}")) else {
                break;
            };
            let l = check!("no leader", cluster.wait_for_leader(settle));
            let at = monotonic_ms();
            check!("kill of the leader", cluster.kill(l));
            s.fault(at, m, &format!("kill of the leader (member {l})"));
            check!("no new leader", cluster.wait_for_leader(settle));
            if s.one_master(settle, &format!("round {round}, leader killed"))
                .is_none()
            {
                break;
            }
            check!("restart of the old leader", cluster.restart(l));
            // A follower.
            let l = check!("no leader", cluster.wait_for_leader(settle));
            let f = (l + 1) % cluster.len();
            let Some(m) = s.one_master(settle, &format!("round {round}")) else {
                break;
            };
            let at = monotonic_ms();
            check!("kill of a follower", cluster.kill(f));
            s.fault(at, m, &format!("kill of a follower (member {f})"));
            if s.one_master(settle, &format!("round {round}, follower killed"))
                .is_none()
            {
                break;
            }
            check!("restart of the follower", cluster.restart(f));
            // Quorum lost (two of three down), then regained.
            let Some(m) = s.one_master(settle, &format!("round {round}")) else {
                break;
            };
            let (a, b) = (round % 3, (round + 1) % 3);
            let at = monotonic_ms();
            check!("kill for quorum loss", cluster.kill(a));
            s.fault(at, m, &format!("quorum lost: member {a} killed"));
            let at = monotonic_ms();
            check!("kill for quorum loss", cluster.kill(b));
            s.fault(at, m, &format!("quorum lost: member {b} killed"));
            // Without a quorum nobody may run: the master stops its command.
            let gone_within = Duration::from_millis(t * 3 + GRACE_MS + 2000);
            if !s.wait_no_command(gone_within, &format!("round {round}, quorum lost")) {
                break;
            }
            // Restarting one restores a quorum (restart waits until it serves).
            check!("restart after quorum loss", cluster.restart(a));
            check!("restart after quorum loss", cluster.restart(b));
            if s.one_master(settle, &format!("round {round}, quorum regained"))
                .is_none()
            {
                break;
            }
        }
        let stats = s.finish();
        drop(cluster);
        stats
    }
}

/// A fault between the members of a partitionable ensemble
/// ([`TestingCluster::with_partitions`]), with the master's `zkha run`
/// connected only to follower F and the standby only to the leader.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemberFault {
    /// F cut off from the other members, silently (bytes dropped): F serves
    /// its clients from its own state until it notices, after about
    /// `syncLimit` ticks; the master's session expires at the leader after
    /// T, and the standby takes over.
    IsolateFollowerBlackhole,
    /// F's links to the other members reset: F stops serving at once.
    IsolateFollowerReset,
    /// The leader's JVM frozen (SIGSTOP) for 2T: the others elect a new
    /// leader; the standby (connected to the old leader only) is stuck. No
    /// takeover is required.
    PauseLeader,
}

impl MemberFault {
    pub const ALL: [MemberFault; 3] = [
        MemberFault::IsolateFollowerBlackhole,
        MemberFault::IsolateFollowerReset,
        MemberFault::PauseLeader,
    ];

    fn what(self) -> &'static str {
        match self {
            MemberFault::IsolateFollowerBlackhole => {
                "the master's follower isolated from the ensemble (blackhole)"
            }
            MemberFault::IsolateFollowerReset => {
                "the master's follower isolated from the ensemble (resets)"
            }
            MemberFault::PauseLeader => "the leader's JVM paused (SIGSTOP)",
        }
    }
}

impl Chaos {
    /// Member partitions, `rounds` times each of `kinds`, on one 3-member
    /// ensemble whose member links go through proxies. Each round: a fresh
    /// path, the master connected to a follower F only, the standby to the
    /// leader only, then the fault; after it, the ensemble is healed and
    /// must serve again on every member.
    pub fn member_partitions(&mut self, rounds: usize, kinds: &[MemberFault]) -> Stats {
        let mut s = self.scene("member-partitions");
        let cluster = match TestingCluster::with_partitions(3, Default::default()) {
            Ok(c) => c,
            Err(e) => {
                s.error(format!("partitionable ensemble: {e}"));
                return s.finish();
            }
        };
        let t = self.session_ms;
        let settle = Duration::from_secs(60);
        let mut n = 0;
        'rounds: for _ in 0..rounds {
            for &kind in kinds {
                n += 1;
                let when = format!("round {n} ({kind:?})");
                macro_rules! check {
                    ($what:expr, $e:expr) => {
                        match $e {
                            Ok(v) => v,
                            Err(e) => {
                                s.error(format!("{when}: {}: {e}", $what));
                                break 'rounds;
                            }
                        }
                    };
                }
                let l = check!("no leader", cluster.wait_for_leader(settle));
                let f = (l + 1 + n % 2) % cluster.len();
                let (l_addr, f_addr) = (
                    check!("address", cluster.address(l)).to_owned(),
                    check!("address", cluster.address(f)).to_owned(),
                );
                let path = self.unique("chaos-member");
                let a = s.spawn(&f_addr, &path, &[]);
                if s.one_master(settle, &when) != Some(a) {
                    s.error(format!(
                        "{when}: the candidate on the follower is not master"
                    ));
                    break;
                }
                let b = s.spawn(&l_addr, &path, &[]);
                // The standby found the node taken and set its watch.
                if !s.wait_standbys_watch(&l_addr, &path, a, &when) {
                    break;
                }
                let at = monotonic_ms();
                match kind {
                    MemberFault::IsolateFollowerBlackhole | MemberFault::IsolateFollowerReset => {
                        let mode = if kind == MemberFault::IsolateFollowerReset {
                            ProxyMode::Reset
                        } else {
                            ProxyMode::Blackhole
                        };
                        check!("isolate", cluster.isolate(f, mode));
                        s.fault(at, a, kind.what());
                        let took = s.wait_takeover(a, at, &when);
                        // The cut-off master must stop (F leaves the quorum
                        // after syncLimit ticks at the latest).
                        let gone = s.wait_command_gone(a, settle, &when);
                        check!("heal", cluster.heal(f));
                        if took.is_none() || !gone {
                            break 'rounds;
                        }
                    }
                    MemberFault::PauseLeader => {
                        check!("pause of the leader", cluster.pause(l));
                        s.fault(at, a, kind.what());
                        std::thread::sleep(Duration::from_millis(t * 2));
                        check!("resume of the leader", cluster.resume(l));
                    }
                }
                // Healed: every member serves again, and a master runs.
                let all_serve = wait_until(settle, || {
                    (0..cluster.len()).all(|i| {
                        matches!(
                            cluster.mode(i),
                            Ok(Some(
                                zkha_testing::ServerMode::Leader
                                    | zkha_testing::ServerMode::Follower
                            ))
                        )
                    })
                });
                if !all_serve {
                    s.error(format!(
                        "{when}: the ensemble did not serve again after healing"
                    ));
                    break;
                }
                if s.one_master(settle, &format!("{when}, healed")).is_none() {
                    break;
                }
                for i in [a, b] {
                    if let Err(e) = s.retire(i) {
                        s.error(format!("{when}: {e}"));
                        break 'rounds;
                    }
                }
            }
        }
        let stats = s.finish();
        drop(cluster);
        stats
    }
}

/// `sh -c` script of [`Setup::jobs`] (`$0` the worker, `$1` its file): the
/// worker as two background jobs, each in a process group of its own, as a
/// job-control shell (`sh -m`, `set -m`) puts them. The jobs do it
/// themselves (`chaos_worker --job`): `-m` needs a terminal (without one,
/// dash and bash turn job control off; with one, a shell in a background
/// process group stops itself).
const JOBS_SCRIPT: &str =
    "CHAOS_TREE=$$; export CHAOS_TREE; \"$0\" --job \"$1\" & \"$0\" --job \"$1\" & wait";

/// Where a candidate's stderr goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StderrMode {
    /// Its log file (`<name>.log`).
    #[default]
    Log,
    /// A pipe this program copies into the log file until told to stop
    /// reading ([`StderrPipe`]).
    Stalled,
    /// A pipe whose read end is closed before zkha run starts (EPIPE).
    Broken,
}

/// How the candidates and their commands are set up ([`Scene::setup`]).
#[derive(Debug, Clone, Default)]
pub struct Setup {
    /// chaos_worker's options before its file (`--setsid`, `--daemonize`, …).
    pub worker_args: Vec<String>,
    /// The command is `sh -c` running the worker as two background jobs
    /// ([`JOBS_SCRIPT`]; `worker_args` are not used then).
    pub jobs: bool,
    pub stderr: StderrMode,
    /// Environment of `zkha run` (over `RUST_LOG=zkha=info,warn`).
    pub env: Vec<(String, String)>,
    /// Options of `zkha run`.
    pub zkha_args: Vec<String>,
}

/// A pipe, both ends close-on-exec: (read, write).
fn pipe() -> std::io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: pipe2 writes two new descriptors into our array.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: both descriptors are new and ours alone from here on.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// A candidate's stderr as a pipe: a thread copies it into the candidate's
/// log until [`pause`](Self::pause); [`fill`](Self::fill) then leaves no
/// room in it, so that `zkha run`'s next write to stderr blocks.
pub struct StderrPipe {
    /// This program's copy of the write end (to fill the pipe).
    write: Option<OwnedFd>,
    paused: Arc<AtomicBool>,
    /// The reader saw `paused` and reads no more.
    parked: Arc<AtomicBool>,
    done: Arc<AtomicBool>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl StderrPipe {
    /// The pipe and the write end for the child's stderr.
    fn start(log: std::fs::File) -> std::io::Result<(StderrPipe, OwnedFd)> {
        let (r, w) = pipe()?;
        let end = w.try_clone()?;
        let paused = Arc::new(AtomicBool::new(false));
        let parked = Arc::new(AtomicBool::new(false));
        let done = Arc::new(AtomicBool::new(false));
        let (p, k, d) = (paused.clone(), parked.clone(), done.clone());
        let thread = std::thread::spawn(move || {
            use std::io::{Read, Write};
            let (mut r, mut log) = (std::fs::File::from(r), log);
            let mut buf = vec![0u8; 1 << 16];
            while !d.load(Ordering::SeqCst) {
                if p.load(Ordering::SeqCst) {
                    k.store(true, Ordering::SeqCst);
                    std::thread::sleep(Duration::from_millis(5));
                    continue;
                }
                let mut fd = libc::pollfd {
                    fd: r.as_raw_fd(),
                    events: libc::POLLIN,
                    revents: 0,
                };
                // SAFETY: one pollfd of ours, for 20 ms at most.
                if unsafe { libc::poll(&mut fd, 1, 20) } <= 0 {
                    continue;
                }
                match r.read(&mut buf) {
                    // Every writer is gone.
                    Ok(0) => return,
                    Ok(n) => {
                        let _ = log.write_all(&buf[..n]);
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        Ok((
            StderrPipe {
                write: Some(w),
                paused,
                parked,
                done,
                thread: Some(thread),
            },
            end,
        ))
    }

    /// Stops reading: once this returns, nobody reads the pipe.
    pub fn pause(&self) -> Result<(), String> {
        self.paused.store(true, Ordering::SeqCst);
        if wait_until(Duration::from_secs(5), || {
            self.parked.load(Ordering::SeqCst)
        }) {
            Ok(())
        } else {
            Err("the stderr reader did not stop reading".into())
        }
    }

    /// Reads again.
    pub fn resume(&self) {
        self.parked.store(false, Ordering::SeqCst);
        self.paused.store(false, Ordering::SeqCst);
    }

    /// Writes into the (paused) pipe until a non-blocking write finds no
    /// room left; returns the bytes written.
    pub fn fill(&self) -> Result<usize, String> {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let w = self.write.as_ref().ok_or("the stderr pipe is closed")?;
        // An open file description of our own: O_NONBLOCK on the one zkha
        // run shares would make its writes fail instead of blocking.
        let f = std::fs::OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(format!("/proc/self/fd/{}", w.as_raw_fd()))
            .map_err(|e| format!("reopening the stderr pipe: {e}"))?;
        let mut total = 0;
        // Whole pages while they fit (a write up to PIPE_BUF is all or
        // nothing), then byte by byte.
        for chunk in [4096, 1] {
            let bytes = vec![b'~'; chunk];
            loop {
                match (&f).write(&bytes) {
                    Ok(n) => total += n,
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                    Err(e) => return Err(format!("filling the stderr pipe: {e}")),
                }
                if total > 64 << 20 {
                    return Err("the stderr pipe never filled (is it read?)".into());
                }
            }
        }
        Ok(total)
    }

    /// Ends the reader thread and drops this program's write end.
    pub fn close(&mut self) {
        self.done.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.write = None;
    }
}

impl Drop for StderrPipe {
    fn drop(&mut self) {
        self.close();
    }
}

/// Whether process `pid` is gone (reaped, or a zombie).
fn process_gone(pid: u32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return true;
    };
    let state = stat
        .rsplit_once(')')
        .and_then(|(_, rest)| rest.trim_start().chars().next());
    matches!(state, Some('Z' | 'X') | None)
}

/// The `zkha-watchdog` child of the `zkha run` process `zkha` (argv[0]
/// `zkha-watchdog`, or the `__watchdog` subcommand), by its parent in
/// `/proc/<pid>/stat`.
pub fn watchdog_of(zkha: u32) -> Option<u32> {
    std::fs::read_dir("/proc")
        .ok()?
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| parent_of(pid) == Some(zkha) && !process_gone(pid))
        .find(|&pid| {
            let argv = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let mut args = argv.split(|&b| b == 0);
            args.next() == Some(b"zkha-watchdog".as_slice())
                || args.any(|a| a == b"__watchdog".as_slice())
        })
}

/// SIGKILL of the watchdog of the `zkha run` process `zkha`; checked: it
/// died.
fn kill_watchdog(zkha: u32) -> Result<(), String> {
    let wd = watchdog_of(zkha).ok_or_else(|| format!("no zkha-watchdog child of pid {zkha}"))?;
    signal_pid(wd, libc::SIGKILL)?;
    if wait_until(Duration::from_secs(2), || process_gone(wd)) {
        Ok(())
    } else {
        Err(format!("the watchdog (pid {wd}) survived SIGKILL"))
    }
}

/// How long a `--slow-stop` command takes to stop after SIGTERM: longer
/// than the session timeout (2000 ms in the chaos scenarios).
pub const SLOW_STOP_MS: u64 = 5000;
/// `zkha run --stop-timeout` for the slow-stop family: more than it needs.
const SLOW_STOP_TIMEOUT_MS: u64 = 10_000;
/// `zkha run --stop-timeout` for the other families (when zkha run has the
/// flag): how long a process that ignores SIGTERM holds a planned stop up.
const STOP_TIMEOUT_MS: u64 = 2000;

/// The scenario families of issue 22: commands and surroundings that real
/// deployments have. In each, two candidates whose commands have the
/// family's shape; each round, the fault on the master, a takeover by the
/// other candidate, the master's whole command tree gone (a process of it
/// still alive 2 s after the takeover is an error, and is killed so that
/// the next round can run), a master that left replaced by a fresh
/// candidate. Judged as every scenario: a command's tree must never write
/// after another command started (the black box), masterships must not
/// overlap (the traces).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// `chaos_worker --setsid`: the command's child leaves for a session of
    /// its own and ignores SIGTERM. Fault: SIGTERM to the master's `zkha
    /// run` (odd rounds) or SIGKILL of it (even rounds).
    Setsid,
    /// `chaos_worker --daemonize`: the command double-forks a daemon and
    /// exits 0 at once; the daemon is the work. Fault: SIGTERM or SIGKILL
    /// of `zkha run`, as [`Family::Setsid`].
    Daemonize,
    /// `sh -c` with two background jobs in process groups of their own
    /// ([`JOBS_SCRIPT`]). Fault: SIGTERM or SIGKILL of `zkha run`.
    JobControl,
    /// `zkha run` at `RUST_LOG=debug` and `--zk-log-level debug`, its stderr
    /// a pipe; fault: nobody reads it any more and it is full (checked: a
    /// non-blocking write finds no room). In odd rounds that is all: the
    /// master may keep its mastership (zkha must not stall on its stderr)
    /// or lose it (then the old command must be gone before the takeover);
    /// in even rounds `zkha run` is SIGSTOPped as well until the standby
    /// took over (its watchdog, with the same full stderr, must have killed
    /// the command by then). The pipe is read again after the round; the
    /// old master goes on as a candidate.
    StalledStderr,
    /// `zkha run`'s stderr a pipe whose read end was closed before it
    /// started (EPIPE), the command with a child in its own group
    /// (`--child`). Fault: SIGTERM or SIGKILL of `zkha run`.
    BrokenStderr,
    /// SIGKILL of the master's `zkha-watchdog` (checked: it died) while the
    /// command has a child (`--setsid` and `--child` by turns, per
    /// candidate). `zkha run` must kill the rest and treat it as a crash.
    WatchdogKilled,
    /// `chaos_worker --slow-stop 5000`, `zkha run --stop-timeout 10000`:
    /// SIGTERM to the master's `zkha run`, a planned stop. The standby may
    /// start only after the old command's last line, and the old command
    /// gets its full time: it writes `term`, then `stop` 5 s later (a
    /// command without its `stop` line was killed early: an error).
    SlowStop,
    /// The master's node deleted by another ZooKeeper client (checked: the
    /// delete succeeded), the command slow to stop (`--slow-stop 5000`: a
    /// SIGTERM and `--grace` would leave it writing beside the new master).
    /// The old command must be gone before the new one writes; the old
    /// master stays a candidate.
    NodeDeleted,
}

impl Family {
    pub const ALL: [Family; 8] = [
        Family::Setsid,
        Family::Daemonize,
        Family::JobControl,
        Family::StalledStderr,
        Family::BrokenStderr,
        Family::WatchdogKilled,
        Family::SlowStop,
        Family::NodeDeleted,
    ];

    /// Its name in `make chaos`'s summary (`CHAOS_ONLY` matches it).
    pub fn name(self) -> &'static str {
        match self {
            Family::Setsid => {
                "setsid: the command's child in a session of its own, deaf to SIGTERM; \
                 SIGTERM or SIGKILL to zkha run"
            }
            Family::Daemonize => {
                "daemonize: the command double-forks a daemon and exits 0; \
                 SIGTERM or SIGKILL to zkha run"
            }
            Family::JobControl => {
                "job control: background jobs in process groups of their own; \
                 SIGTERM or SIGKILL to zkha run"
            }
            Family::StalledStderr => {
                "stalled stderr: zkha run's stderr full, nobody reading (debug logs), \
                 every other time zkha run stopped until the takeover"
            }
            Family::BrokenStderr => {
                "broken stderr: EPIPE on zkha run's stderr, the command has a child; \
                 SIGTERM or SIGKILL to zkha run"
            }
            Family::WatchdogKilled => {
                "watchdog killed: SIGKILL to zkha-watchdog while the command has children"
            }
            Family::SlowStop => {
                "slow stop: SIGTERM to zkha run, the command needs 5 s to stop \
                 (--stop-timeout 10000)"
            }
            Family::NodeDeleted => "node deleted: the master's node deleted from outside",
        }
    }

    /// Its scenario directory's name.
    fn label(self) -> &'static str {
        match self {
            Family::Setsid => "setsid",
            Family::Daemonize => "daemonize",
            Family::JobControl => "job-control",
            Family::StalledStderr => "stalled-stderr",
            Family::BrokenStderr => "broken-stderr",
            Family::WatchdogKilled => "watchdog-killed",
            Family::SlowStop => "slow-stop",
            Family::NodeDeleted => "node-deleted",
        }
    }
}

impl Scene {
    /// Waits until candidate `i`'s command has `writers` processes writing,
    /// one of them not the command itself if `descendant`; an error
    /// otherwise.
    pub fn wait_writers(&mut self, i: usize, writers: usize, descendant: bool, when: &str) -> bool {
        let c = &self.cands[i];
        let ok = wait_until(Duration::from_secs(10), || {
            let now = monotonic_ms();
            let live: Vec<CmdRun> = c.runs().into_iter().filter(|r| r.is_live(now)).collect();
            live.len() >= writers && (!descendant || live.iter().any(|r| r.tree != r.pid))
        });
        if !ok {
            let name = c.name.clone();
            self.error(format!(
                "{when}: the command of {name} never had {writers} processes writing \
                 (descendants: {descendant})"
            ));
        }
        ok
    }

    /// Waits until every process of candidate `i`'s commands is gone (wrote
    /// `stop`, or died); otherwise an error, and SIGKILL of those left so
    /// that the next rounds can run.
    pub fn wait_tree_gone(&mut self, i: usize, timeout: Duration, when: &str) -> bool {
        let c = &self.cands[i];
        let left = || -> Vec<u32> {
            c.runs()
                .into_iter()
                .filter(|r| !r.stopped && command_alive(r.pid))
                .map(|r| r.pid)
                .collect()
        };
        if wait_until(timeout, || left().is_empty()) {
            return true;
        }
        let (pids, name) = (left(), c.name.clone());
        for &p in &pids {
            let _ = signal_pid(p, libc::SIGKILL);
        }
        self.error(format!(
            "{when}: processes {pids:?} of {name}'s command still ran {timeout:?} later \
             (SIGKILLed by the scenario)"
        ));
        false
    }

    /// Waits until candidate `i`'s `zkha run` has exited (it is `ended`
    /// then, its stderr reader closed).
    pub fn wait_exit(&mut self, i: usize, timeout: Duration) -> bool {
        let c = &mut self.cands[i];
        let left = wait_until(timeout, || !matches!(c.child.try_wait(), Ok(None)));
        if left {
            c.ended = true;
            if let Some(p) = c.stderr.as_mut() {
                p.close();
            }
        }
        left
    }

    /// Stops reading candidate `i`'s stderr and fills the pipe (checked: a
    /// non-blocking write found no room); with `stop`, SIGSTOP of its `zkha
    /// run` too.
    fn stall_stderr(&mut self, i: usize, stop: bool) -> Result<(), String> {
        let c = &self.cands[i];
        let pipe = c.stderr.as_ref().ok_or("no stderr pipe")?;
        pipe.pause()?;
        pipe.fill()?;
        if stop {
            c.signal(libc::SIGSTOP)?;
        }
        Ok(())
    }

    /// The slow-stop family's check on candidate `i`'s command: it got
    /// SIGTERM (`term`) and its full time (`stop`, written only after
    /// [`SLOW_STOP_MS`]).
    fn check_slow_stop(&mut self, i: usize, when: &str) {
        let c = &self.cands[i];
        let name = c.name.clone();
        let runs = c.runs();
        match runs.iter().rev().find(|r| r.term.is_some()) {
            None => self.error(format!(
                "{when}: the command of {name} never wrote `term`: no SIGTERM reached it"
            )),
            Some(r) if !r.stopped => {
                let after = r.last - r.term.unwrap_or(r.last);
                self.error(format!(
                    "{when}: the command of {name} (pid {}) was killed {after:.0} ms after \
                     SIGTERM, before its {SLOW_STOP_MS} ms stop",
                    r.pid
                ));
            }
            Some(_) => {}
        }
    }
}

impl Chaos {
    /// Whether this `zkha run` has `--stop-timeout` (asked once, by `--help`).
    fn has_stop_timeout(&mut self) -> bool {
        let zkha = &self.zkha;
        *self.stop_timeout_flag.get_or_insert_with(|| {
            Command::new(zkha)
                .args(["run", "--help"])
                .output()
                .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).contains("--stop-timeout"))
        })
    }

    /// One [`Family`], `rounds` faults.
    pub fn family(&mut self, hosts: &str, family: Family, rounds: usize) -> Stats {
        let stop_timeout = self.has_stop_timeout();
        let t = self.session_ms;
        let mut s = self.scene(family.label());
        let path = self.unique(&format!("chaos-{}", family.label()));
        // The master's command at work: how many of its processes write,
        // and whether one of them is not the command itself.
        let (writers, descendant) = match family {
            Family::Setsid | Family::JobControl | Family::BrokenStderr | Family::WatchdogKilled => {
                (2, true)
            }
            Family::Daemonize => (1, true),
            Family::StalledStderr | Family::SlowStop | Family::NodeDeleted => (1, false),
        };
        let mut setup = Setup::default();
        match family {
            Family::Setsid => setup.worker_args = vec!["--setsid".into()],
            Family::Daemonize => setup.worker_args = vec!["--daemonize".into()],
            Family::JobControl => setup.jobs = true,
            Family::StalledStderr => {
                setup.stderr = StderrMode::Stalled;
                setup.env = vec![("RUST_LOG".into(), "debug".into())];
                setup.zkha_args = vec!["--zk-log-level".into(), "debug".into()];
            }
            Family::BrokenStderr => {
                setup.stderr = StderrMode::Broken;
                setup.worker_args = vec!["--child".into()];
            }
            // Set per candidate (below).
            Family::WatchdogKilled => {}
            Family::SlowStop => {
                setup.worker_args = vec!["--slow-stop".into(), SLOW_STOP_MS.to_string()]
            }
            // A command slow to stop: SIGTERM and a grace would leave it
            // running beside the new master; the lost node must end it at once.
            Family::NodeDeleted => {
                setup.worker_args = vec!["--slow-stop".into(), SLOW_STOP_MS.to_string()]
            }
        }
        let stop_ms = if family == Family::SlowStop {
            SLOW_STOP_TIMEOUT_MS
        } else {
            STOP_TIMEOUT_MS
        };
        if stop_timeout {
            setup.zkha_args.push("--stop-timeout".into());
            setup.zkha_args.push(stop_ms.to_string());
        } else if family == Family::SlowStop {
            s.error("zkha run has no --stop-timeout: its candidates run without it");
        }
        s.setup = setup;
        let admin = match family {
            Family::NodeDeleted => {
                match zkha::ZooKeeper::builder(hosts).connect(Duration::from_secs(30)) {
                    Ok(zk) => Some(zk),
                    Err(e) => {
                        s.error(format!("a client to delete the node: {e}"));
                        return s.finish();
                    }
                }
            }
            _ => None,
        };
        let spawn = |s: &mut Scene| {
            if family == Family::WatchdogKilled {
                let shape = if s.cands.len().is_multiple_of(2) {
                    "--setsid"
                } else {
                    "--child"
                };
                s.setup.worker_args = vec![shape.into()];
            }
            s.spawn(hosts, &path, &[]);
        };
        spawn(&mut s);
        spawn(&mut s);
        // A planned stop may hold the mastership up to the stop timeout.
        let planned = Duration::from_millis(stop_ms);
        for round in 1..=rounds {
            let when = format!("round {round}");
            let Some(m) = s.one_master(Duration::from_secs(30), &when) else {
                break;
            };
            if !s.wait_standbys_watch(hosts, &path, m, &when) {
                break;
            }
            if !s.wait_writers(m, writers, descendant, &when) {
                break;
            }
            let kill = round.is_multiple_of(2);
            // A full stderr alone need not cost the mastership (zkha must
            // not stall on it); if it does, the checks below hold.
            let takeover_optional = family == Family::StalledStderr && !kill;
            // zkha run was asked to stop: it must leave by itself.
            let mut stopped = false;
            let at = monotonic_ms();
            let injected = match family {
                Family::Setsid | Family::Daemonize | Family::JobControl | Family::BrokenStderr
                    if kill =>
                {
                    s.cands[m].kill().map(|()| "SIGKILL of zkha run")
                }
                Family::Setsid
                | Family::Daemonize
                | Family::JobControl
                | Family::BrokenStderr
                | Family::SlowStop => {
                    stopped = true;
                    s.cands[m]
                        .signal(libc::SIGTERM)
                        .map(|()| "SIGTERM to zkha run (a planned stop)")
                }
                Family::StalledStderr if kill => s
                    .stall_stderr(m, true)
                    .map(|()| "zkha run's stderr full, nobody reading, and zkha run SIGSTOPped"),
                Family::StalledStderr => s
                    .stall_stderr(m, false)
                    .map(|()| "zkha run's stderr full, nobody reading"),
                Family::WatchdogKilled => kill_watchdog(s.cands[m].child.id())
                    .map(|()| "SIGKILL of zkha-watchdog (the command has a child)"),
                Family::NodeDeleted => admin
                    .as_ref()
                    .expect("admin client")
                    .delete(&path, -1)
                    .map_err(|e| format!("delete of {path}: {e}"))
                    .map(|()| "the master's node deleted from outside"),
            };
            let what = match injected {
                Ok(what) => what,
                Err(e) => {
                    s.error(format!("{when}: {e}"));
                    break;
                }
            };
            s.fault(at, m, what);
            let took = if takeover_optional {
                s.takeover_within(m, at, Duration::from_millis(t * 2 + 1000))
            } else {
                let extra = if stopped { planned } else { Duration::ZERO };
                s.wait_takeover_within(m, at, extra, &when)
            };
            if family == Family::StalledStderr && kill {
                // SIGSTOPped until the takeover: only its watchdog ran.
                if let Err(e) = s.cands[m].signal(libc::SIGCONT) {
                    s.error(format!("{when}: {e}"));
                    break;
                }
            }
            // A correct zkha has stopped the whole tree before the
            // takeover; 2 s leave room for a loaded machine.
            let gone_within = if took.is_some() {
                Duration::from_secs(2)
            } else {
                planned + Duration::from_secs(2)
            };
            if took.is_some() || !takeover_optional {
                s.wait_tree_gone(m, gone_within, &when);
            }
            match family {
                Family::SlowStop => s.check_slow_stop(m, &when),
                Family::StalledStderr => {
                    // Read again: the old master goes on as a candidate.
                    if let Some(p) = s.cands[m].stderr.as_ref() {
                        p.resume();
                    }
                }
                _ => {}
            }
            if stopped && !s.wait_exit(m, planned + Duration::from_secs(10)) {
                let name = s.cands[m].name.clone();
                s.error(format!("{when}: {name} did not leave after SIGTERM"));
                let _ = s.cands[m].kill();
            }
            if family == Family::WatchdogKilled {
                // Its command crashed: by --on-exit exit (the default), it
                // leaves; it may also stay a candidate.
                s.wait_exit(m, Duration::from_secs(2));
            }
            if matches!(family, Family::NodeDeleted | Family::StalledStderr) {
                // The old master stays a candidate: its command did not end
                // by itself, zkha ended it.
                if let Ok(Some(status)) = s.cands[m].child.try_wait() {
                    let name = s.cands[m].name.clone();
                    s.error(format!(
                        "{when}: {name} exited ({status}) after the fault instead of \
                         staying a candidate"
                    ));
                    s.cands[m].ended = true;
                }
            }
            if s.cands[m].ended {
                spawn(&mut s);
            }
            if took.is_none() && !takeover_optional {
                break;
            }
        }
        drop(admin);
        s.finish()
    }
}
