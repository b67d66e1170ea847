//! A scenario (a [`Scene`]): candidates spawned, faults noted, takeovers
//! waited for, then judged by both checkers ([`Scene::finish`]).

use crate::*;
use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Where scenarios find their programs and put their files.
pub struct Chaos {
    pub zkha: PathBuf,
    pub worker: PathBuf,
    pub dir: PathBuf,
    pub session_ms: u64,
    /// Print a line per round (`make chaos`).
    pub verbose: bool,
    pub(crate) scenes: usize,
    /// Whether `zkha run` has `--stop-timeout` (asked once).
    pub(crate) stop_timeout_flag: Option<bool>,
    /// The switchover family writes its operations on the control node
    /// itself even when `zkha switchover` exists (the protocol alone).
    pub switchover_direct: bool,
}

/// A fault injected at `at` on the master `victim` (if it hit a master).
#[derive(Debug, Clone)]
pub(crate) struct Fault {
    pub(crate) at: f64,
    pub(crate) victim: Option<String>,
}

/// One scenario: its candidates, faults and errors.
pub struct Scene {
    pub(crate) zkha: PathBuf,
    pub(crate) worker: PathBuf,
    pub dir: PathBuf,
    pub label: String,
    pub session_ms: u64,
    /// `--poll-interval` of the candidates spawned from now on (100 ms: in
    /// the safe profile's watch mode, how often a master writes `work`).
    pub poll_ms: u64,
    /// How the candidates spawned from now on and their commands are set up.
    pub setup: Setup,
    pub(crate) verbose: bool,
    pub cands: Vec<Cand>,
    pub(crate) faults: Vec<Fault>,
    /// When candidates were retired: a takeover after that is no failover.
    pub(crate) retired: Vec<f64>,
    pub errors: Vec<String>,
    pub(crate) takeovers: Vec<f64>,
    pub(crate) serial: usize,
    pub(crate) t0: f64,
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
            switchover_direct: false,
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

    pub(crate) fn start(&self, name: &str, hosts: &str, path: &str, extra: &[&str]) -> Cand {
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
        c.ended = true;
        crate::process::leave_or_kill(&mut c.child, &c.name).map(drop)
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
            switchover: SwitchoverStats::default(),
            pause: PauseStats::default(),
            guard: GuardStats::default(),
            capi: CapiStats::default(),
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
    pub(crate) fn failovers(&self, all_runs: &[CmdRun]) -> usize {
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
