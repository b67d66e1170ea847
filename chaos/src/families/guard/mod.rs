//! The guard family (issue 26): the library's `Mastership` guard and its
//! `fenced()` writes, judged from outside. No `zkha run` here: the
//! candidates are `guard_worker` processes (`src/bin/guard_worker.rs`), a
//! tokio service each with one `Elector` (safe profile, a session of its
//! own, through a `TcpProxy` of its own to a server of the family's own)
//! that, while it holds its guard, appends a `work` line to a shared file
//! and sets a shared record node (`P-record`, made by the family) through
//! `fenced()` every 20 ms, and stops at the guard's `lost()`.
//!
//! Each round on a fresh election path, two or three workers (by turns), a
//! session timeout T of 2, 3 or 4 s (by turns); once the first is master
//! and the others are registered and watch the node, the round's fault
//! ([`GuardFault`]) on the master, then the next term waited for (a larger
//! token that wrote), then every worker shut down. Judged from the side
//! effects alone (`judge.rs`): the accepted writes in commit (mzxid) order
//! never go down in token (F, deposed writes accepted: fails the run); the
//! terms' work never overlaps (O, the black-box checker's definitions:
//! fails the run); after a resign or a shutdown the next term begins only
//! after the old guard was dropped (an error otherwise).

mod judge;

use crate::process::leave_or_kill;
use crate::*;
use std::collections::HashMap;
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;
use zkha::elector::registry;
use zkha::{Acl, CreateMode, Op, ZooKeeper};
use zkha_testing::{ProxyMode, TcpProxy, TestingServer};

/// The fault of a guard round, on the master.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum GuardFault {
    /// SIGUSR1: the master resigns (`Elector::resign`); it holds its guard
    /// T/5 (at most 500 ms) after the loss every other turn, trying fenced
    /// writes.
    Resign,
    /// SIGTERM: the master shuts down (`Elector::shutdown_async`) and
    /// exits; it holds its guard after the loss every other turn.
    Shutdown,
    /// The master's proxy cut until another worker took over (its session
    /// expires), then healed: blackholed (bytes lost) and partitioned
    /// (bytes held, delivered at the heal: its queued writes arrive late)
    /// by turns.
    Partition,
    /// SIGSTOP of the master's worker past T, until another worker took
    /// over and wrote, then SIGCONT: its guard's lease lapsed while it
    /// slept, and no write of its old term may be accepted after the new
    /// master's. Its link delays every byte 40 ms from a moment before the
    /// stop, so that a write is in flight when it stops.
    Pause,
    /// The master node deleted and made again at the same path (one
    /// `multi`), ephemeral, with other data (its version starts again at
    /// 0), by the family's own session, which deletes it again a moment
    /// later so that a worker wins a new term. Every other turn the
    /// master's worker is SIGSTOPped (under T: its session lives) through
    /// all of it and woken once the new master wrote (and at least 1 s
    /// after the stop): its writes on waking must fail. Otherwise it holds
    /// its guard 1.5 s after the loss, trying fenced writes that must all
    /// be refused, through the other session's node and the new term.
    Recreate,
}

impl GuardFault {
    pub const ALL: [GuardFault; 5] = [
        GuardFault::Resign,
        GuardFault::Partition,
        GuardFault::Recreate,
        GuardFault::Shutdown,
        GuardFault::Pause,
    ];

    pub(crate) fn what(self) -> &'static str {
        match self {
            GuardFault::Resign => "SIGUSR1: the master resigns",
            GuardFault::Shutdown => "SIGTERM: the master shuts down",
            GuardFault::Partition => "the master's proxy blackholed",
            GuardFault::Pause => "SIGSTOP of the master's worker past T, then SIGCONT",
            GuardFault::Recreate => {
                "the master node deleted and made again at the same path by another session"
            }
        }
    }
}

/// How long at least a master stopped under T sleeps: past the black-box
/// checker's freeze gap, so that its work on waking is seen as woken work.
pub(crate) const STOP_MIN_MS: f64 = 1000.0;

/// How long a master whose node was made again holds its guard after the
/// loss (running variant).
const RECREATE_HOLD_MS: u64 = 1500;

/// The session timeouts of the rounds, by turns.
const SESSIONS_MS: [u64; 3] = [2000, 3000, 4000];

/// How long a master holds its guard after a resign or shutdown, on its
/// hold turns: under the lease left after the last renewal (T/2 - T/5), so
/// that the guard, not the lease, decides the release.
fn hold_ms(t_ms: u64) -> u64 {
    (t_ms / 5).min(500)
}

/// One worker.
struct Worker {
    name: String,
    child: Child,
    /// Kept open: its end tells the worker the family is gone.
    _stdin: Option<ChildStdin>,
    proxy: TcpProxy,
    ended: bool,
}

/// The family's state.
struct Family {
    s: Scene,
    server: TestingServer,
    admin: Arc<ZooKeeper>,
    worker: PathBuf,
    workers: Vec<Worker>,
    /// The round's election path, record node and directory.
    path: String,
    record: String,
    dir: PathBuf,
    serial: usize,
    turns: HashMap<GuardFault, usize>,
    gs: GuardStats,
}

impl Chaos {
    /// The guard family, a round per fault of `kinds`.
    pub fn guard_with(&mut self, kinds: &[GuardFault]) -> Stats {
        let mut s = self.scene("guard");
        let worker = self
            .worker
            .parent()
            .map(|d| d.join("guard_worker"))
            .unwrap_or_default();
        if !worker.exists() {
            s.error(format!(
                "{} is missing: build it first (`cargo build -p zkha-chaos --bins`)",
                worker.display()
            ));
            return s.finish();
        }
        let server = match TestingServer::start() {
            Ok(server) => server,
            Err(e) => {
                s.error(format!("server: {e}"));
                return s.finish();
            }
        };
        let admin =
            match ZooKeeper::builder(server.connect_string()).connect(Duration::from_secs(30)) {
                Ok(zk) => Arc::new(zk),
                Err(e) => {
                    s.error(format!("a client of the harness: {e}"));
                    return s.finish();
                }
            };
        let mut f = Family {
            s,
            server,
            admin,
            worker,
            workers: Vec::new(),
            path: String::new(),
            record: String::new(),
            dir: PathBuf::new(),
            serial: 0,
            turns: HashMap::new(),
            gs: GuardStats::default(),
        };
        for (k, &kind) in kinds.iter().enumerate() {
            if !f.round(k + 1, kind) {
                break;
            }
        }
        let Family {
            s,
            server,
            admin,
            gs,
            ..
        } = f;
        drop(admin);
        let overlaps = gs.overlaps;
        let mut stats = s.finish();
        stats.failovers = gs.takeovers;
        stats.blackbox_overlaps += overlaps;
        stats.stale += gs.stale;
        stats.guard = gs;
        drop(server);
        stats
    }
}

/// The next term after the fault: who, its token, its `master` line.
struct Next {
    name: String,
    token: i64,
    began: f64,
}

impl Family {
    /// One round; false: stop here.
    fn round(&mut self, k: usize, kind: GuardFault) -> bool {
        let when = format!("round {k} ({kind:?})");
        let turn = *self.turns.entry(kind).and_modify(|n| *n += 1).or_insert(0);
        let stopped_recreate = kind == GuardFault::Recreate && turn % 2 == 1;
        // SIGSTOP under T in the stopped variant: the longest T.
        let t_ms = if stopped_recreate {
            4000
        } else {
            SESSIONS_MS[(k - 1) % SESSIONS_MS.len()]
        };
        let hold = match kind {
            GuardFault::Resign | GuardFault::Shutdown if turn.is_multiple_of(2) => hold_ms(t_ms),
            GuardFault::Recreate if !stopped_recreate => RECREATE_HOLD_MS,
            _ => 0,
        };
        self.s.session_ms = t_ms;
        let base = zkha_testing::unique_path("chaos-guard");
        self.path = format!("{base}/m");
        self.record = format!("{}-record", self.path);
        self.dir = self.s.dir.join(format!("round-{k:02}"));
        let _ = std::fs::create_dir_all(&self.dir);
        let open = Acl::open_unsafe();
        let made = self
            .admin
            .create(&base, b"", &open, CreateMode::Persistent)
            .and_then(|_| {
                self.admin
                    .create(&self.record, b"", &open, CreateMode::Persistent)
            });
        if let Err(e) = made {
            self.s.error(format!("{when}: the record node: {e}"));
            return false;
        }
        self.workers.clear();
        let n = 2 + k % 2;
        let first = self.spawn(t_ms, hold);
        let Some((m_token, _)) = self.wait_term(first, 0, Duration::from_secs(30)) else {
            self.s.error(format!(
                "{when}: the first worker never became master and wrote"
            ));
            self.end_round(&when);
            return false;
        };
        for _ in 1..n {
            self.spawn(t_ms, hold);
        }
        if !self.wait_ready(n, &when) {
            self.end_round(&when);
            return false;
        }
        std::thread::sleep(Duration::from_millis(300));
        let victim = self.workers[first].name.clone();
        self.s.note(&format!(
            "T {t_ms} ms, {n} workers, {victim} master (token {m_token}){}",
            if hold > 0 {
                format!(", holds its guard {hold} ms after the loss")
            } else {
                String::new()
            }
        ));
        // A stopped master: when it was stopped and woken.
        let mut stopped = None;
        let at = monotonic_ms();
        let next = match self.strike(kind, turn, first, m_token, &mut stopped, &when) {
            Ok(next) => next,
            Err(e) => {
                self.s.error(format!("{when}: {e}"));
                self.end_round(&when);
                return false;
            }
        };
        match &next {
            Some(n) => {
                self.gs.takeovers += usize::from(n.name != victim);
                self.s.takeovers.push(n.began - at);
                self.s.note(&format!(
                    "{} master (token {}) after the fault",
                    n.name, n.token
                ));
            }
            None => self.s.error(format!(
                "{when}: no new term (a larger token than {m_token} that wrote) after the fault"
            )),
        }
        // Let the new master work a while.
        std::thread::sleep(Duration::from_millis(500));
        self.end_round(&when);
        self.judge(kind, &victim, m_token, stopped, &when);
        true
    }

    /// Starts a worker through a proxy of its own; its index.
    fn spawn(&mut self, t_ms: u64, hold: u64) -> usize {
        self.serial += 1;
        let name = format!("g{}", self.serial);
        let proxy = TcpProxy::start(self.server.connect_string()).expect("proxy");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join(format!("{name}.log")))
            .expect("worker log");
        let mut child = Command::new(&self.worker)
            .env("RUST_LOG", "zkha=info,warn")
            .args(["--hosts", &proxy.connect_string()])
            .args(["--path", &self.path])
            .args(["--name", &name])
            .args(["--session-ms", &t_ms.to_string()])
            .arg("--file")
            .arg(self.dir.join(format!("{name}.guard")))
            .arg("--work")
            .arg(self.dir.join("work"))
            .args(["--record", &self.record])
            .args(["--hold-ms", &hold.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::from(log))
            .spawn()
            .expect("spawn guard_worker");
        let stdin = child.stdin.take();
        self.workers.push(Worker {
            name,
            child,
            _stdin: stdin,
            proxy,
            ended: false,
        });
        self.workers.len() - 1
    }

    fn sheets(&self) -> Vec<judge::Sheet> {
        let names: Vec<String> = self.workers.iter().map(|w| w.name.clone()).collect();
        judge::read(&self.dir, &names).0
    }

    /// Waits until worker `i` began a term with a token above `above` and
    /// a write of it was accepted: its token and `master` line.
    fn wait_term(&self, i: usize, above: i64, timeout: Duration) -> Option<(i64, f64)> {
        let mut found = None;
        let name = self.workers[i].name.clone();
        wait_until(timeout, || {
            found = self
                .next_term(above)
                .filter(|n| n.name == name)
                .map(|n| (n.token, n.began));
            found.is_some()
        });
        found
    }

    /// The first term with a token above `above` one of whose writes was
    /// accepted.
    fn next_term(&self, above: i64) -> Option<Next> {
        let sheets = self.sheets();
        sheets
            .iter()
            .flat_map(|s| s.terms.iter().map(move |t| (s, t)))
            .filter(|(s, t)| {
                t.token > above
                    && s.writes.iter().any(|w| {
                        w.token == t.token && matches!(w.outcome, judge::Outcome::Ok { .. })
                    })
            })
            .min_by(|a, b| a.1.began.total_cmp(&b.1.began))
            .map(|(_, t)| Next {
                name: t.name.clone(),
                token: t.token,
                began: t.began,
            })
    }

    /// Waits until every worker is registered and ready and every standby
    /// watches the master node (the server's `wchc`: sessions other than
    /// the master's watching the path).
    fn wait_ready(&mut self, n: usize, when: &str) -> bool {
        let (zk, path, probe) = (
            &self.admin,
            &self.path,
            self.server.probe_address().to_owned(),
        );
        let registered = || {
            registry::read_candidates(zk, path)
                .unwrap_or_default()
                .iter()
                .filter(|e| e.ready)
                .count()
        };
        let watching = || {
            let owner = zk
                .exists(path, false)
                .ok()
                .flatten()
                .map_or(0, |s| s.ephemeral_owner);
            zkha_testing::data_watches(&probe, Duration::from_secs(2))
                .unwrap_or_default()
                .iter()
                .filter(|(sid, paths)| **sid != owner && paths.iter().any(|p| p == path))
                .count()
        };
        if wait_until(Duration::from_secs(15), || {
            registered() == n && watching() >= n - 1
        }) {
            return true;
        }
        let (r, w) = (registered(), watching());
        self.s.error(format!(
            "{when}: {r} of {n} workers registered and ready, {w} of {} standbys watching",
            n - 1
        ));
        false
    }

    fn signal(&self, i: usize, sig: i32) -> Result<(), String> {
        signal_pid(self.workers[i].child.id(), sig)
    }

    /// Strikes `kind` on master `m` (token `token`) and waits for the next
    /// term; `stopped`: when a stopped master was stopped and woken.
    fn strike(
        &mut self,
        kind: GuardFault,
        turn: usize,
        m: usize,
        token: i64,
        stopped: &mut Option<(f64, f64)>,
        when: &str,
    ) -> Result<Option<Next>, String> {
        let bound = self.s.takeover_bound();
        let t_ms = self.s.session_ms;
        let stopped_recreate = kind == GuardFault::Recreate && turn % 2 == 1;
        let held = kind == GuardFault::Partition && turn % 2 == 1;
        if kind == GuardFault::Pause {
            // Every write in flight for 80 ms, from a moment before the stop.
            self.workers[m].proxy.set_delay(Duration::from_millis(40));
            self.workers[m].proxy.set_mode(ProxyMode::Delay);
            std::thread::sleep(Duration::from_millis(300));
        }
        let at = monotonic_ms();
        let what = match kind {
            GuardFault::Recreate if stopped_recreate => {
                "the master node deleted and made again by another session, the master stopped"
            }
            GuardFault::Partition if held => "the master's proxy partitioned (bytes held)",
            _ => kind.what(),
        };
        self.s.faults.push(crate::scene::Fault {
            at,
            victim: Some(self.workers[m].name.clone()),
        });
        self.s
            .note(&format!("fault: {what} ({})", self.workers[m].name));
        let next = match kind {
            GuardFault::Resign => {
                self.signal(m, libc::SIGUSR1)?;
                self.wait_next(token, bound)
            }
            GuardFault::Shutdown => {
                self.signal(m, libc::SIGTERM)?;
                let next = self.wait_next(token, bound);
                let w = &mut self.workers[m];
                let left = wait_until(Duration::from_secs(10), || {
                    !matches!(w.child.try_wait(), Ok(None))
                });
                w.ended = true;
                match w.child.try_wait() {
                    Ok(Some(status)) if status.success() => {}
                    other => {
                        if !left {
                            let _ = w.child.kill();
                            let _ = w.child.wait();
                        }
                        self.s.error(format!(
                            "{when}: {} after SIGTERM: {other:?} (not a clean exit)",
                            self.workers[m].name
                        ));
                    }
                }
                next
            }
            GuardFault::Partition => {
                self.workers[m].proxy.set_mode(if held {
                    ProxyMode::Partition
                } else {
                    ProxyMode::Blackhole
                });
                let next = self.wait_next(token, bound);
                self.workers[m].proxy.set_mode(ProxyMode::Pass);
                std::thread::sleep(Duration::from_millis(1000));
                next
            }
            GuardFault::Pause => {
                self.signal(m, libc::SIGSTOP)?;
                let next = self.wait_next(token, bound);
                // Past T at least, and the new master wrote meanwhile.
                let past = at + t_ms as f64 + 300.0;
                while monotonic_ms() < past {
                    std::thread::sleep(Duration::from_millis(20));
                }
                *stopped = Some((at, monotonic_ms()));
                self.signal(m, libc::SIGCONT)?;
                std::thread::sleep(Duration::from_millis(1500));
                self.workers[m].proxy.set_mode(ProxyMode::Pass);
                next
            }
            GuardFault::Recreate => {
                if stopped_recreate {
                    self.signal(m, libc::SIGSTOP)?;
                }
                let made = self.recreate(token);
                // The running master loses its node (its writes from then on
                // refused); the standbys wait behind the other session's node.
                std::thread::sleep(Duration::from_millis(if stopped_recreate {
                    200
                } else {
                    1000
                }));
                let gone = self
                    .admin
                    .delete(&self.path, -1)
                    .map_err(|e| format!("deleting the other session's node: {e}"));
                let next = match made.and(gone) {
                    Ok(()) => {
                        // Stopped: woken within T/2 of the stop (its
                        // session lives), the new master found or not.
                        let within = if stopped_recreate {
                            Duration::from_millis(t_ms / 2)
                                .saturating_sub(Duration::from_millis((monotonic_ms() - at) as u64))
                        } else {
                            bound
                        };
                        self.wait_next(token, within)
                    }
                    Err(e) => {
                        self.s.error(format!("{when}: {e}"));
                        None
                    }
                };
                if stopped_recreate {
                    while monotonic_ms() < at + STOP_MIN_MS {
                        std::thread::sleep(Duration::from_millis(20));
                    }
                    *stopped = Some((at, monotonic_ms()));
                    self.signal(m, libc::SIGCONT)?;
                    let slept = monotonic_ms() - at;
                    self.s.note(&format!(
                        "{} woken {slept:.0} ms after SIGSTOP, {}",
                        self.workers[m].name,
                        if next.is_some() {
                            "the new master has written"
                        } else {
                            "no new master yet"
                        }
                    ));
                    // A master that won only after the wake counts too.
                    std::thread::sleep(Duration::from_millis(1500));
                    return Ok(next.or_else(|| self.wait_next(token, bound)));
                }
                next
            }
        };
        Ok(next)
    }

    /// Deletes the master node of term `token` (checked: it was that
    /// term's) and makes it again as the family's own ephemeral node with
    /// other data, in one `multi` (checked: version 0, the family's
    /// session).
    fn recreate(&self, token: i64) -> Result<(), String> {
        let zk = &self.admin;
        let stat = zk
            .exists(&self.path, false)
            .map_err(|e| format!("exists: {e}"))?
            .ok_or("no master node")?;
        if stat.czxid != token {
            return Err(format!(
                "the master node's czxid {} is not the master's token {token}",
                stat.czxid
            ));
        }
        // In one transaction: no standby can claim in between.
        zk.multi(&[
            Op::Delete {
                path: self.path.clone(),
                version: -1,
            },
            Op::Create {
                path: self.path.clone(),
                data: b"chaos-guard-other\0".to_vec(),
                acl: Acl::open_unsafe(),
                mode: CreateMode::Ephemeral,
            },
        ])
        .map_err(|e| format!("deleting the master node and making it again: {e}"))?;
        let again = zk
            .exists(&self.path, false)
            .map_err(|e| format!("exists: {e}"))?
            .ok_or("the node made again is gone")?;
        let mine = zk.client_id().map(|c| c.id).unwrap_or_default();
        if again.version != 0 || again.ephemeral_owner != mine {
            return Err(format!(
                "the node made again: version {}, owner {:#x} (the harness {mine:#x})",
                again.version, again.ephemeral_owner
            ));
        }
        Ok(())
    }

    /// Waits up to `bound` for a term with a token above `token` that
    /// wrote.
    fn wait_next(&self, token: i64, bound: Duration) -> Option<Next> {
        let mut found = None;
        wait_until(bound, || {
            found = self.next_term(token);
            found.is_some()
        });
        found
    }

    /// Ends every worker of the round: SIGCONT, SIGTERM (a clean shutdown,
    /// exit 0), SIGKILL after 10 s (an error).
    fn end_round(&mut self, when: &str) {
        for w in self.workers.iter_mut() {
            w.proxy.set_mode(ProxyMode::Pass);
        }
        for w in self.workers.iter().filter(|w| !w.ended) {
            let _ = signal_pid(w.child.id(), libc::SIGCONT);
            let _ = signal_pid(w.child.id(), libc::SIGTERM);
        }
        let mut errors = Vec::new();
        for w in self.workers.iter_mut().filter(|w| !w.ended) {
            w.ended = true;
            match leave_or_kill(&mut w.child, &w.name) {
                Err(e) => errors.push(format!("{when}: {e}")),
                Ok(Some(status)) if !status.success() => {
                    errors.push(format!("{when}: {} exited with {status}", w.name))
                }
                Ok(_) => {}
            }
        }
        for e in errors {
            self.s.error(e);
        }
    }

    /// Judges the round from its files and counts.
    fn judge(
        &mut self,
        kind: GuardFault,
        victim: &str,
        token: i64,
        stopped: Option<(f64, f64)>,
        when: &str,
    ) {
        let names: Vec<String> = self.workers.iter().map(|w| w.name.clone()).collect();
        let (sheets, runs) = judge::read(&self.dir, &names);
        for (n, s) in names.iter().zip(&sheets) {
            if !s.bad.is_empty() {
                self.s.error(format!(
                    "{when}: {n}'s file has lines not understood: {:?}",
                    s.bad
                ));
            }
            if s.exited.is_none() {
                self.s
                    .error(format!("{when}: {n} never wrote its exit line"));
            }
        }
        let j = judge::judge_writes(
            &sheets,
            stopped.map(|(stop, wake)| judge::Stopped {
                name: victim,
                token,
                stop,
                wake,
            }),
        );
        self.gs.rounds += 1;
        self.gs.accepted += j.accepted;
        self.gs.refused += j.refused;
        self.gs.failed += j.failed;
        self.gs.in_flight_accepted += j.in_flight_accepted;
        self.gs.in_flight_failed += j.in_flight_failed;
        self.gs.woken_refused += j.woken_refused;
        self.gs.woken_accepted += j.woken_accepted;
        // Each counted; the first few said.
        self.gs.deposed += j.deposed.len();
        for d in j.deposed.iter().take(5) {
            self.s.error(format!("{when}: DEPOSED WRITE ACCEPTED: {d}"));
        }
        if j.deposed.len() > 5 {
            self.s.error(format!(
                "{when}: and {} more deposed writes accepted",
                j.deposed.len() - 5
            ));
        }
        let label = format!("{}/{when}", self.s.label);
        let bb = blackbox_check(&runs, self.s.t0, &label);
        self.gs.overlaps += bb.overlaps;
        self.gs.stale += bb.stale;
        if bb.regressions > 0 {
            self.s.error(format!(
                "{when}: {} terms began with a smaller token",
                bb.regressions
            ));
        }
        if matches!(kind, GuardFault::Resign | GuardFault::Shutdown) {
            match judge::release_waited(&sheets, (victim, token)) {
                Ok(()) => self.gs.releases_after_drop += 1,
                Err(e) => self.s.error(format!("{when}: RELEASED EARLY: {e}")),
            }
        }
        self.s.note(&format!(
            "judged: {} accepted, {} refused, {} failed otherwise, {} deposed accepted, \
             {} overlaps, {} stale{}",
            j.accepted,
            j.refused,
            j.failed,
            j.deposed.len(),
            bb.overlaps,
            bb.stale,
            if stopped.is_some() {
                format!(
                    "; {victim}'s writes in flight across its stop: {} accepted (before the \
                     next term), {} failed; sent after its wake: {} refused or failed, {} accepted",
                    j.in_flight_accepted, j.in_flight_failed, j.woken_refused, j.woken_accepted
                )
            } else {
                String::new()
            }
        ));
    }
}
