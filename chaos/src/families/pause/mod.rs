//! The pause family (issue 25): `zkha pause --for L` holds every failover
//! back through ZooKeeper maintenance and faults, and a master cut off
//! during a pause stops by the pause's deadline, before anyone takes over.
//!
//! Each round on a 3-member ensemble of the family's own (tick 200 ms,
//! syncLimit 4: syncLimit × tickTime under T/2, the lease's assumption), on
//! an election path of its own: a master and one or two standbys (by turns),
//! fresh `zkha run` candidates of the safe profile supervising
//! `chaos_worker`, each reaching every member through proxies of its own;
//! a session timeout T of 2, 3 or 4 s (by turns) and a pause of
//! L = T + 3 or 4 s (longer for the ensemble's own maintenance, which a
//! resume ends). `zkha pause --for L` is run once every candidate is
//! registered and every standby watches the node; then the round's fault
//! ([`PauseFault`]); then the candidates are retired.
//!
//! Judged from the commands' own files (`judge.rs`), with `asked` the time
//! just before `zkha pause` was run: no new mastership (a command of
//! another candidate, or of the master with another token) starts before
//! `asked + L` unless a resume the master acknowledged came first (an
//! early takeover); a master cut off (its link blackholed, its `zkha run`
//! stopped) keeps its command past `cut + T`, where its lease would have
//! ended it, and stops it by `asked + L` and a small slack, and a standby
//! takes over after that; through the maintenance faults (resets, a member
//! or the whole ensemble restarted) nobody takes over at all and the
//! master's command runs throughout. Both checkers run over the whole
//! family as in every scenario (overlaps, tokens going down).

mod ask;
mod faults;
mod judge;

use crate::*;
use judge::Facts;
use std::sync::Arc;
use std::time::Duration;
use zkha::elector::registry;
use zkha::ZooKeeper;
use zkha_testing::{ServerConfig, TcpProxy, TestingCluster};

/// The fault of a pause round, struck once the pause is acknowledged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PauseFault {
    /// The master's links blackholed until a standby took over (its session
    /// expires during the pause).
    CutMaster,
    /// The master's connections closed (it reconnects within its session).
    ResetMaster,
    /// A member SIGKILLed and restarted (the leader and a follower by
    /// turns).
    MemberRestart,
    /// Every member stopped and restarted in turn, the leader last, then
    /// `zkha resume` (a rolling restart).
    RollingRestart,
    /// The whole ensemble SIGKILLed, down for 2T, restarted together, then
    /// `zkha resume`.
    EnsembleDown,
    /// SIGSTOP of the master's `zkha run` (its command and watchdog run on)
    /// past its session timeout, then SIGCONT: past the pause's deadline
    /// (the watchdog alone must stop the command by then) and within the
    /// pause, by turns.
    StopMaster,
    /// The master cut off as [`PauseFault::CutMaster`], then `zkha resume`:
    /// it cannot be acknowledged, and the standbys must hold on.
    ResumeWhileCut,
    /// `zkha resume`, acknowledged by the master, then SIGTERM to the
    /// master's `zkha run`: a standby may take over at once.
    Resume,
}

impl PauseFault {
    pub const ALL: [PauseFault; 8] = [
        PauseFault::CutMaster,
        PauseFault::MemberRestart,
        PauseFault::ResumeWhileCut,
        PauseFault::ResetMaster,
        PauseFault::StopMaster,
        PauseFault::RollingRestart,
        PauseFault::Resume,
        PauseFault::EnsembleDown,
    ];

    pub(crate) fn what(self) -> &'static str {
        match self {
            PauseFault::CutMaster => "the master's links blackholed",
            PauseFault::ResetMaster => "the master's connections reset",
            PauseFault::MemberRestart => "a member SIGKILLed and restarted",
            PauseFault::RollingRestart => {
                "every member stopped and restarted in turn, the leader last, then zkha resume"
            }
            PauseFault::EnsembleDown => {
                "the whole ensemble SIGKILLed, down for 2T, restarted, then zkha resume"
            }
            PauseFault::StopMaster => "SIGSTOP of the master's zkha run, then SIGCONT",
            PauseFault::ResumeWhileCut => "the master's links blackholed, then zkha resume",
            PauseFault::Resume => {
                "zkha resume (acknowledged), then SIGTERM to the master's zkha run"
            }
        }
    }

    /// Whether the master is cut off from ZooKeeper past its session
    /// timeout: it must keep its command past its lease, stop it by the
    /// deadline, and a standby take over after that.
    pub(crate) fn cuts_off(self) -> bool {
        matches!(
            self,
            PauseFault::CutMaster | PauseFault::StopMaster | PauseFault::ResumeWhileCut
        )
    }

    /// Maintenance the pause must ride out: nobody takes over at all.
    pub(crate) fn maintenance(self) -> bool {
        matches!(
            self,
            PauseFault::ResetMaster
                | PauseFault::MemberRestart
                | PauseFault::RollingRestart
                | PauseFault::EnsembleDown
        )
    }

    /// The pause's length for session timeout `t_ms` in the fault's
    /// `turn`-th round: a few seconds past T, longer for the ensemble's own
    /// maintenance (a resume ends it).
    fn length_ms(self, t_ms: u64, turn: usize) -> u64 {
        match self {
            PauseFault::RollingRestart => 60_000,
            PauseFault::EnsembleDown => 40_000,
            _ => t_ms + 3000 + 1000 * (turn as u64 % 2),
        }
    }
}

/// The session timeouts of the rounds, by turns.
const SESSIONS_MS: [u64; 3] = [2000, 3000, 4000];

/// One candidate's way to the ensemble: a proxy per member.
pub(crate) struct Link(pub(crate) Vec<TcpProxy>);

impl Link {
    fn hosts(&self) -> String {
        self.0
            .iter()
            .map(TcpProxy::connect_string)
            .collect::<Vec<_>>()
            .join(",")
    }

    pub(crate) fn set_mode(&self, mode: zkha_testing::ProxyMode) {
        for p in &self.0 {
            p.set_mode(mode);
        }
    }

    pub(crate) fn reset_all(&self) {
        for p in &self.0 {
            p.reset_all();
        }
    }
}

/// The family's state.
struct Family {
    s: Scene,
    cluster: TestingCluster,
    /// The candidates' links, by candidate index.
    links: Vec<Link>,
    admin: Arc<ZooKeeper>,
    zkha: std::path::PathBuf,
    /// The round's election path.
    path: String,
    /// The round's first candidate's index: the round's are those from it.
    first: usize,
    /// How many rounds each fault had so far (its variants go by turns).
    turns: std::collections::HashMap<PauseFault, usize>,
    ps: PauseStats,
}

impl Chaos {
    /// The pause family, `rounds` rounds, the faults of [`PauseFault::ALL`]
    /// in turn.
    pub fn maintenance_pause(&mut self, rounds: usize) -> Stats {
        let kinds: Vec<PauseFault> = (0..rounds)
            .map(|r| PauseFault::ALL[r % PauseFault::ALL.len()])
            .collect();
        self.maintenance_pause_with(&kinds)
    }

    /// The pause family, a round per fault of `kinds`.
    pub fn maintenance_pause_with(&mut self, kinds: &[PauseFault]) -> Stats {
        let mut s = self.scene("pause");
        let config = ServerConfig {
            tick_time_ms: 200,
            // syncLimit × tickTime under T/2 (the lease's assumption).
            sync_limit: 4,
            ..ServerConfig::default()
        };
        let cluster = match TestingCluster::with_config(3, config) {
            Ok(c) => c,
            Err(e) => {
                s.error(format!("ensemble: {e}"));
                return s.finish();
            }
        };
        // The harness's own client's C log lines (the ensemble down on
        // purpose fills them) go to a file of the scenario's.
        let zk_log = s.dir.join("harness-zk.log");
        let _ = zkha::logging::set_log_stream(zkha::logging::LogStream::File(&zk_log));
        let admin =
            match ZooKeeper::builder(&cluster.connect_string()).connect(Duration::from_secs(30)) {
                Ok(zk) => Arc::new(zk),
                Err(e) => {
                    let _ = zkha::logging::set_log_stream(zkha::logging::LogStream::Stderr);
                    s.error(format!("a client of the harness: {e}"));
                    return s.finish();
                }
            };
        let mut f = Family {
            s,
            cluster,
            links: Vec::new(),
            admin,
            zkha: self.zkha.clone(),
            path: String::new(),
            first: 0,
            turns: Default::default(),
            ps: PauseStats::default(),
        };
        for (k, &kind) in kinds.iter().enumerate() {
            f.path = self.unique("chaos-pause");
            if !f.round(k + 1, kind) {
                break;
            }
        }
        let Family {
            s,
            cluster,
            links,
            admin,
            mut ps,
            ..
        } = f;
        drop(admin);
        let _ = zkha::logging::set_log_stream(zkha::logging::LogStream::Stderr);
        let mut stats = s.finish();
        ps.faults = stats.faults;
        stats.pause = ps;
        drop(links);
        drop(cluster);
        stats
    }
}

impl Family {
    /// One round; false: stop here.
    fn round(&mut self, k: usize, kind: PauseFault) -> bool {
        let when = format!("round {k} ({kind:?})");
        // The fault's turn: its variants (and the pause's length, the
        // number of standbys) go by turns of the fault, not of the rounds.
        let turn = *self.turns.entry(kind).and_modify(|n| *n += 1).or_insert(0);
        let t_ms = SESSIONS_MS[(k - 1) % SESSIONS_MS.len()];
        let l_ms = kind.length_ms(t_ms, turn);
        self.s.session_ms = t_ms;
        self.first = self.s.cands.len();
        let standbys = 1 + (k + turn) % 2;
        // The first candidate becomes master, then the standbys join.
        let Some(first) = self.spawn() else {
            return false;
        };
        let Some(m) = self.s.one_master(Duration::from_secs(30), &when) else {
            self.retire_all(first, &when);
            return false;
        };
        for _ in 0..standbys {
            if self.spawn().is_none() {
                self.retire_all(m, &when);
                return false;
            }
        }
        let path = self.path.clone();
        if !self.wait_registered(&path, &when) || !self.wait_standbys_watch(&path, m, &when) {
            self.retire_all(m, &when);
            return false;
        }
        let Some(token) = self.s.cands[m].live_run().and_then(|r| r.token) else {
            self.s
                .error(format!("{when}: the master's command has no token"));
            self.retire_all(m, &when);
            return false;
        };
        let master = self.s.cands[m].name.clone();
        let hosts = self.cluster.connect_string();
        let length = format!("{l_ms}ms");
        let pause = match ask::zkha(&self.zkha, "pause", &hosts, &path, &["--for", &length]) {
            Ok(p) => p,
            Err(e) => {
                self.s.error(format!("{when}: {e}"));
                self.retire_all(m, &when);
                return false;
            }
        };
        self.ps.pauses += 1;
        if !pause.acknowledged() {
            self.s.error(format!(
                "{when}: the master {master} did not acknowledge zkha pause --for {length} \
                 (exit {:?}): {:?}",
                pause.code, pause.said
            ));
            self.retire_all(m, &when);
            return true;
        }
        self.ps.acknowledged += 1;
        self.s.note(&format!(
            "T {t_ms} ms, {standbys} standby(s): zkha pause --for {length} acknowledged by {master} \
             after {:.0} ms",
            pause.returned - pause.at
        ));
        let mut facts = Facts {
            master: master.clone(),
            token,
            asked: pause.at,
            length_ms: l_ms as f64,
            session_ms: t_ms as f64,
            cut: None,
            resumed: None,
        };
        if !self.strike_and_follow(kind, turn, m, &mut facts, &when) {
            self.retire_all(m, &when);
            return false;
        }
        // Let the last lines land.
        std::thread::sleep(Duration::from_millis(300));
        let j = judge::judge(&self.round_runs(), &facts);
        self.verdict(kind, m, &facts, &j, &when);
        self.retire_all(m, &when)
    }

    /// Counts and reports the round's verdict.
    fn verdict(&mut self, kind: PauseFault, m: usize, f: &Facts, j: &judge::Judged, when: &str) {
        let rel = |t: f64| t - f.deadline();
        let next = j
            .next
            .as_ref()
            .map_or("nobody took over".to_owned(), |(who, first, token)| {
                format!(
                    "{who} started (token {token:?}) {:+.0} ms from the deadline",
                    rel(*first)
                )
            });
        let last = j
            .master_last
            .map_or("never".to_owned(), |l| format!("{:+.0} ms", rel(l)));
        let running = self.s.cands[m]
            .live_run()
            .is_some_and(|r| r.token == Some(f.token));
        self.s.note(&format!(
            "{}'s command {} {last} from the pause's deadline; {next}",
            f.master,
            if running {
                "still runs at"
            } else {
                "last wrote"
            }
        ));
        if let Some(e) = &j.early {
            self.ps.early += 1;
            self.s
                .error(format!("{when}: EARLY TAKEOVER ({}): {e}", kind.what()));
        }
        if kind.cuts_off() {
            self.ps.cut_off += 1;
            match j.kept_past_lease {
                Some(true) => self.ps.kept_past_lease += 1,
                _ => self.s.error(format!(
                    "{when}: the master {} was cut off, yet its command did not run past its \
                     lease (the cut + T): last line {last} from the deadline",
                    f.master
                )),
            }
            if let Some(l) = &j.late_stop {
                self.ps.late_stops += 1;
                self.s.error(format!("{when}: LATE STOP: {l}"));
            }
            if let Some(l) = j.master_last {
                self.ps.latest_stop_ms =
                    Some(self.ps.latest_stop_ms.map_or(rel(l), |x| x.max(rel(l))));
            }
            match &j.next {
                Some((_, first, _)) => {
                    self.ps.first_takeover_ms =
                        Some(self.ps.first_takeover_ms.map_or(rel(*first), |x| x.min(rel(*first))));
                }
                None => self.s.error(format!(
                    "{when}: nobody took over from the cut-off master {} after the pause's deadline",
                    f.master
                )),
            }
        }
        if kind.maintenance() {
            if j.next.is_none() && running {
                self.ps.maintenance_kept += 1;
            } else {
                self.ps.maintenance_failovers += 1;
                self.s.error(format!(
                    "{when}: a failover under the pause ({}): {next}; the master's command {}",
                    kind.what(),
                    if running {
                        "still runs"
                    } else {
                        "no longer runs"
                    }
                ));
            }
        }
        if kind == PauseFault::Resume {
            match &j.next {
                Some((_, first, _)) if *first < f.deadline() => self.ps.released += 1,
                Some(_) => self.s.note("the standby took over only after the pause's deadline"),
                None => self.s.error(format!(
                    "{when}: nobody took over after the acknowledged resume and the master's SIGTERM"
                )),
            }
        }
    }

    /// A fresh candidate through proxies of its own, one per member.
    fn spawn(&mut self) -> Option<usize> {
        let mut proxies = Vec::new();
        for i in 0..self.cluster.len() {
            let proxy = self
                .cluster
                .address(i)
                .map_err(|e| e.to_string())
                .and_then(|a| TcpProxy::start(a).map_err(|e| e.to_string()));
            match proxy {
                Ok(p) => proxies.push(p),
                Err(e) => {
                    self.s.error(format!("proxy: {e}"));
                    return None;
                }
            }
        }
        let link = Link(proxies);
        let path = self.path.clone();
        let i = self.s.spawn(&link.hosts(), &path, &[]);
        // Indexes line up with the scene's candidates.
        while self.links.len() < i {
            self.links.push(Link(Vec::new()));
        }
        self.links.push(link);
        Some(i)
    }

    fn live(&self) -> Vec<usize> {
        (0..self.s.cands.len())
            .filter(|&i| !self.s.cands[i].ended)
            .collect()
    }

    /// Waits until every live candidate is registered and ready.
    fn wait_registered(&mut self, path: &str, when: &str) -> bool {
        let names: Vec<String> = self
            .live()
            .iter()
            .map(|&i| self.s.cands[i].name.clone())
            .collect();
        let zk = &self.admin;
        let missing = || -> Vec<String> {
            let entries = registry::read_candidates(zk, path).unwrap_or_default();
            names
                .iter()
                .filter(|n| !entries.iter().any(|e| &e.name == *n && e.ready))
                .cloned()
                .collect()
        };
        if wait_until(Duration::from_secs(15), || missing().is_empty()) {
            return true;
        }
        let m = missing();
        self.s
            .error(format!("{when}: candidates {m:?} not registered (ready)"));
        false
    }

    /// Waits until every live candidate but `m` has a watch on `path` on
    /// the member it is connected to (the members' own `wchc`).
    fn wait_standbys_watch(&mut self, path: &str, m: usize, when: &str) -> bool {
        let standbys: Vec<usize> = self.live().into_iter().filter(|&i| i != m).collect();
        let addresses: Vec<String> = (0..self.cluster.len())
            .filter_map(|i| self.cluster.address(i).ok().map(str::to_owned))
            .collect();
        let cands = &self.s.cands;
        let unwatched = || -> Vec<String> {
            let mut watches: std::collections::HashMap<i64, Vec<String>> = Default::default();
            for a in &addresses {
                for (sid, paths) in
                    zkha_testing::data_watches(a, Duration::from_secs(2)).unwrap_or_default()
                {
                    watches.entry(sid).or_default().extend(paths);
                }
            }
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
        if wait_until(Duration::from_secs(15), || unwatched().is_empty()) {
            return true;
        }
        let names = unwatched();
        self.s.error(format!(
            "{when}: standbys {names:?} have no watch on {path} (the members' wchc)"
        ));
        false
    }

    /// Ends the round's candidates (standbys first), heals their links and
    /// waits until no command runs.
    fn retire_all(&mut self, m: usize, when: &str) -> bool {
        for link in &self.links {
            link.set_mode(zkha_testing::ProxyMode::Pass);
        }
        let mut order: Vec<usize> = self.live().into_iter().filter(|&i| i != m).collect();
        if !self.s.cands[m].ended {
            order.push(m);
        }
        for i in order {
            if let Err(e) = self.s.retire(i) {
                self.s.error(format!("{when}: {e}"));
            }
        }
        let ok = self.s.wait_no_command(Duration::from_secs(10), when);
        for link in &mut self.links {
            link.0.clear();
        }
        ok
    }
}
