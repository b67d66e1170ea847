//! Running a [`Family`]: its rounds of faults and what each must leave.

use crate::*;
use std::process::Command;
use std::time::Duration;

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
    pub(crate) fn stall_stderr(&mut self, i: usize, stop: bool) -> Result<(), String> {
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
    pub(crate) fn check_slow_stop(&mut self, i: usize, when: &str) {
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
    pub(crate) fn has_stop_timeout(&mut self) -> bool {
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
