//! The switchover family (issue 24): `zkha switchover --to B` hands over
//! to B and only B, under faults.
//!
//! Three named `zkha run` candidates (safe profile, priorities 300, 100 and
//! 200 by spawn order, so that the target is often not the one a normal
//! election would prefer) supervise `chaos_worker`, each through a proxy of
//! its own to a server of the family's own. Each round: a single master
//! running its command, every standby watching its node and registered;
//! a standby is picked as the target and the switchover asked for (the
//! real `zkha switchover --to <target> --timeout <ms>` once the binary has
//! it, else the very operation it writes, set on the control node at the
//! version read); then, 0, 4 or 10 ms after the operation shows on the
//! control node (a handover takes 10 to 20 ms), the round's fault
//! ([`SwitchoverFault`]), or none.
//!
//! Judged from outside (`judge.rs`): the next mastership (the lowest token
//! above the old master's, by ZooKeeper's master node, the commands' files
//! and the traces) must be the target's; only when the fault hit the
//! target may it be another candidate's, and then not before the timeout
//! (each candidate holds the operation for the timeout from when it read
//! it: nobody else may win earlier). The winner's claim resets the control
//! node (checked); with the real command, its exit status must say what
//! happened (0: the target took over). Both checkers run as in every
//! scenario (overlaps, tokens going down).

mod ask;
mod faults;
mod judge;

use crate::*;
use ask::{Asked, NodeLog};
use faults::Roles;
use std::sync::Arc;
use std::time::Duration;
use zkha::elector::registry::{self, ControlOp};
use zkha::ZooKeeper;
use zkha_testing::{ProxyMode, TcpProxy, TestingServer};

/// The fault of a switchover round, injected just after the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SwitchoverFault {
    /// None: a plain switchover.
    None,
    /// SIGKILL of the master's `zkha run` (a fresh candidate joins).
    KillMaster,
    /// SIGSTOP of the master's `zkha run` alone (its command runs on) until
    /// the next master runs, then one session timeout more.
    StopMaster,
    /// The master's client link blackholed until the next master runs.
    BlackholeMaster,
    /// The master's connections closed (it reconnects within its session).
    ResetMaster,
    /// Every connection of the master refused from just before the request
    /// for a second: it steps down on its disconnect timer (T/4), keeps its
    /// session and reads the operation once back, a master again.
    RefuseMaster,
    /// SIGKILL of the target's `zkha run`, for good (a fresh candidate
    /// joins after the round).
    KillTarget,
    /// SIGKILL of the target's `zkha run`, started again 1 s later under
    /// its name.
    RestartTarget,
    /// SIGSTOP of the target's `zkha run` for a session timeout and a second.
    StopTarget,
    /// The target's client link blackholed for a session timeout and a second.
    BlackholeTarget,
    /// SIGKILL of the third candidate (a fresh one joins).
    KillThird,
    /// SIGSTOP of the third candidate for a session timeout and a second.
    StopThird,
    /// The server crashed (SIGKILL) and restarted (sessions survive).
    ServerRestart,
}

impl SwitchoverFault {
    pub const ALL: [SwitchoverFault; 13] = [
        SwitchoverFault::None,
        SwitchoverFault::KillMaster,
        SwitchoverFault::KillTarget,
        SwitchoverFault::RefuseMaster,
        SwitchoverFault::StopThird,
        SwitchoverFault::StopMaster,
        SwitchoverFault::RestartTarget,
        SwitchoverFault::BlackholeMaster,
        SwitchoverFault::StopTarget,
        SwitchoverFault::KillThird,
        SwitchoverFault::ResetMaster,
        SwitchoverFault::BlackholeTarget,
        SwitchoverFault::ServerRestart,
    ];

    pub(crate) fn what(self) -> &'static str {
        match self {
            SwitchoverFault::None => "no fault",
            SwitchoverFault::KillMaster => "SIGKILL of the master's zkha run",
            SwitchoverFault::StopMaster => "SIGSTOP of the master's zkha run",
            SwitchoverFault::BlackholeMaster => "blackhole of the master's link",
            SwitchoverFault::ResetMaster => "reset of the master's connections",
            SwitchoverFault::RefuseMaster => {
                "every connection of the master refused for 1 s from just before the request"
            }
            SwitchoverFault::KillTarget => "SIGKILL of the target's zkha run",
            SwitchoverFault::RestartTarget => {
                "SIGKILL of the target's zkha run, restarted 1 s later"
            }
            SwitchoverFault::StopTarget => "SIGSTOP of the target's zkha run for T + 1 s",
            SwitchoverFault::BlackholeTarget => "blackhole of the target's link for T + 1 s",
            SwitchoverFault::KillThird => "SIGKILL of the third candidate's zkha run",
            SwitchoverFault::StopThird => "SIGSTOP of the third candidate's zkha run for T + 1 s",
            SwitchoverFault::ServerRestart => "the server crashed and restarted",
        }
    }

    /// Whether the target itself is killed, stopped or cut off: then
    /// another candidate may win, after the timeout.
    pub(crate) fn hits_target(self) -> bool {
        matches!(
            self,
            SwitchoverFault::KillTarget
                | SwitchoverFault::RestartTarget
                | SwitchoverFault::StopTarget
                | SwitchoverFault::BlackholeTarget
                | SwitchoverFault::ServerRestart
        )
    }

    /// Whether the round leaves a consequence that plays out later (a
    /// session expiring after a stop or a cut): the next round waits for it.
    fn lingers(self) -> bool {
        !matches!(
            self,
            SwitchoverFault::None | SwitchoverFault::ResetMaster | SwitchoverFault::KillThird
        )
    }
}

/// The candidates' priorities, by spawn order.
const PRIORITIES: [u32; 3] = [300, 100, 200];
/// How long after the request shows the fault comes, by round: a
/// handover takes 10 to 20 ms here.
const DELAYS_MS: [u64; 3] = [0, 4, 10];

/// The family's state: the scene, a proxy per candidate, the server, a
/// client of its own.
struct Family {
    s: Scene,
    proxies: Vec<TcpProxy>,
    server: TestingServer,
    admin: Arc<ZooKeeper>,
    nodes: NodeLog,
    path: String,
    /// `zkha` when it has `switchover`.
    command: Option<std::path::PathBuf>,
    timeout: Duration,
    so: SwitchoverStats,
}

impl Chaos {
    /// The switchover family, `rounds` rounds, the faults of
    /// [`SwitchoverFault::ALL`] in turn.
    pub fn switchover(&mut self, rounds: usize) -> Stats {
        let kinds: Vec<SwitchoverFault> = (0..rounds)
            .map(|r| SwitchoverFault::ALL[r % SwitchoverFault::ALL.len()])
            .collect();
        self.switchover_with(&kinds)
    }

    /// The switchover family, a round per fault of `kinds`.
    pub fn switchover_with(&mut self, kinds: &[SwitchoverFault]) -> Stats {
        let mut s = self.scene("switchover");
        let server = match TestingServer::start() {
            Ok(server) => server,
            Err(e) => {
                s.error(format!("server: {e}"));
                return s.finish();
            }
        };
        // The harness's own client's C log lines (a server down on purpose
        // fills them) go to a file of the scenario's.
        let zk_log = s.dir.join("harness-zk.log");
        let _ = zkha::logging::set_log_stream(zkha::logging::LogStream::File(&zk_log));
        let admin =
            match ZooKeeper::builder(server.connect_string()).connect(Duration::from_secs(30)) {
                Ok(zk) => Arc::new(zk),
                Err(e) => {
                    s.error(format!("a client of the harness: {e}"));
                    return s.finish();
                }
            };
        let path = self.unique("chaos-switchover");
        let command =
            (!self.switchover_direct && ask::has_switchover(&self.zkha)).then(|| self.zkha.clone());
        s.note(match (&command, self.switchover_direct) {
            (Some(_), _) => "switchovers asked by `zkha switchover`",
            (None, true) => "switchovers written on the control node directly (asked to)",
            (None, false) => {
                "no `zkha switchover` in this build: switchovers written on the control node directly"
            }
        });
        let timeout = s.takeover_bound();
        let nodes = NodeLog::start(admin.clone(), &path);
        let mut f = Family {
            s,
            proxies: Vec::new(),
            server,
            admin,
            nodes,
            path,
            command,
            timeout,
            so: SwitchoverStats::default(),
        };
        let started = (0..3).all(|_| f.spawn().is_some());
        if started {
            for (k, &kind) in kinds.iter().enumerate() {
                if !f.round(k + 1, kind) {
                    break;
                }
            }
        }
        let Family {
            s,
            proxies,
            server,
            nodes,
            admin,
            mut so,
            ..
        } = f;
        drop(nodes);
        drop(admin);
        let _ = zkha::logging::set_log_stream(zkha::logging::LogStream::Stderr);
        let mut stats = s.finish();
        so.faults = stats.faults;
        stats.switchover = so;
        drop(proxies);
        drop(server);
        stats
    }
}

impl Family {
    /// A fresh candidate through a proxy of its own.
    fn spawn(&mut self) -> Option<usize> {
        let proxy = match TcpProxy::start(self.server.connect_string()) {
            Ok(p) => p,
            Err(e) => {
                self.s.error(format!("proxy: {e}"));
                return None;
            }
        };
        let priority = PRIORITIES[self.s.cands.len() % PRIORITIES.len()].to_string();
        let i = self.s.spawn(
            &proxy.connect_string(),
            &self.path,
            &["--priority", &priority],
        );
        self.proxies.push(proxy);
        Some(i)
    }

    /// Candidate `i` again, under its name, through its proxy.
    fn respawn(&mut self, i: usize) {
        let priority = PRIORITIES[i % PRIORITIES.len()].to_string();
        let hosts = self.proxies[i].connect_string();
        self.s
            .respawn(i, &hosts, &self.path, &["--priority", &priority]);
    }

    fn live(&self) -> Vec<usize> {
        (0..self.s.cands.len())
            .filter(|&i| !self.s.cands[i].ended)
            .collect()
    }

    /// Waits until every live candidate is registered and ready.
    fn wait_registered(&mut self, when: &str) -> bool {
        let names: Vec<String> = self
            .live()
            .iter()
            .map(|&i| self.s.cands[i].name.clone())
            .collect();
        let (zk, path) = (&self.admin, &self.path);
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

    /// One round; false: stop here.
    fn round(&mut self, k: usize, kind: SwitchoverFault) -> bool {
        let when = format!("round {k} ({kind:?})");
        let t = Duration::from_millis(self.s.session_ms);
        let Some(m) = self.s.one_master(Duration::from_secs(30), &when) else {
            return false;
        };
        let probe = self.server.probe_address().to_owned();
        if !self.s.wait_standbys_watch(&probe, &self.path, m, &when) || !self.wait_registered(&when)
        {
            return false;
        }
        let Some(old) = self.s.cands[m].live_run().and_then(|r| r.token) else {
            self.s
                .error(format!("{when}: the master's command has no token"));
            return false;
        };
        let standbys: Vec<usize> = self.live().into_iter().filter(|&i| i != m).collect();
        if standbys.len() < 2 {
            self.s
                .error(format!("{when}: fewer than two standbys: {standbys:?}"));
            return false;
        }
        // Not simply by turns: the master changes every round.
        let pick = k + k / 2;
        let target = standbys[pick % standbys.len()];
        let third = standbys[(pick + 1) % standbys.len()];
        let target_name = self.s.cands[target].name.clone();
        // Refused connections strike before the request: the master
        // steps down and reads the operation only once back.
        let refused_at = monotonic_ms();
        if kind == SwitchoverFault::RefuseMaster {
            self.proxies[m].set_mode(ProxyMode::Reset);
        }
        let log = self.s.dir.join(format!("switchover-{k:02}.log"));
        let hosts = self.server.connect_string().to_owned();
        let asked = ask::ask(
            &self.admin,
            self.command.as_deref().map(|z| (z, hosts.as_str())),
            &self.path,
            &target_name,
            self.timeout,
            log,
        );
        let mut asked = match asked {
            Ok(a) => a,
            Err(e) => {
                self.proxies[m].set_mode(ProxyMode::Pass);
                self.s
                    .error(format!("{when}: switchover to {target_name}: {e}"));
                return false;
            }
        };
        self.so.switchovers += 1;
        self.s.note(&format!(
            "switchover from {} to {target_name} asked (timeout {} ms)",
            self.s.cands[m].name,
            self.timeout.as_millis()
        ));
        let roles = Roles { m, target, third };
        let victim = roles.victim(kind);
        let mut at = refused_at;
        if kind != SwitchoverFault::RefuseMaster {
            std::thread::sleep(Duration::from_millis(DELAYS_MS[k % DELAYS_MS.len()]));
            at = monotonic_ms();
            if let Err(e) = self.strike(kind, victim) {
                self.s.error(format!("{when}: {}: {e}", kind.what()));
                return false;
            }
        }
        if kind != SwitchoverFault::None {
            self.s.fault(at, victim, kind.what());
        }
        if !self.follow(kind, &when, roles, &asked, old, refused_at) {
            return false;
        }
        let won = self.judge(&when, kind, roles, &mut asked, old);
        self.clear_control(&when, won, &asked);
        // Every candidate still running, or replaced: three of them.
        for i in self.live() {
            if let Ok(Some(status)) = self.s.cands[i].child.try_wait() {
                let name = self.s.cands[i].name.clone();
                self.s
                    .error(format!("{when}: {name} exited by itself ({status})"));
                self.s.cands[i].ended = true;
            }
        }
        while self.live().len() < 3 {
            if self.spawn().is_none() {
                return false;
            }
        }
        if kind.lingers() {
            std::thread::sleep(t);
        }
        true
    }

    /// The control node after the round: a claim resets it, so once
    /// another master won nothing may be left in force; nor may a
    /// `zkha switchover` that failed leave its operation behind. Cleared
    /// for the next round either way.
    fn clear_control(&mut self, when: &str, won: bool, asked: &Asked) {
        let (zk, path) = (&self.admin, &self.path);
        let read = || registry::read_control(zk, path).ok().flatten();
        let empty = |r: &Option<(ControlOp, zkha::Stat)>| matches!(r, Some((ControlOp::None, _)));
        if wait_until(Duration::from_secs(3), || empty(&read())) {
            return;
        }
        let Some((op, stat)) = read() else {
            self.s
                .error(format!("{when}: the control node cannot be read"));
            return;
        };
        let mine = asked
            .child
            .as_ref()
            .map(|c| format!("pid {}", c.id()))
            .is_some_and(
                |pid| matches!(&op, ControlOp::Switchover { by, .. } if by.ends_with(&pid)),
            );
        if won {
            self.s.error(format!(
                "{when}: the control node still holds {op:?} after the next master won \
                 (its claim resets it)"
            ));
        } else if mine && asked.exit != Some(Some(0)) {
            let said = std::fs::read_to_string(&asked.log).unwrap_or_default();
            self.s.error(format!(
                "{when}: zkha switchover exited {:?} and left its operation in force on the \
                 control node ({op:?}, version {}): {:?}",
                asked.exit.flatten(),
                stat.version,
                said.trim()
            ));
        }
        let _ = zk.set(&registry::control_path(path), b"", stat.version);
    }
}
