//! The scripted scenarios, in order, each on the fleet the one before left,
//! each bounded by its own timeout (derived from the poll, the settle and
//! the session timeout). Each records [`Finding`]s for the S/F lines.

pub use super::command::Scenario;
use super::fleet::{Fleet, Kind};
use super::judge::{self, Finding, SLACK_MS};
use super::wire::Wire;
use std::time::Duration;

/// How one scenario went.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub scenario: Scenario,
    /// Ran to its end (else: why it stopped).
    pub error: Option<String>,
    pub seconds: f64,
    pub notes: Vec<String>,
}

type Step = Result<(), String>;

pub struct Script<'a> {
    pub fleet: &'a mut Fleet,
    pub findings: Vec<Finding>,
    notes: Vec<String>,
}

fn ms(d: f64) -> Duration {
    Duration::from_millis(d.max(0.0) as u64)
}

impl<'a> Script<'a> {
    pub fn new(fleet: &'a mut Fleet) -> Self {
        Script {
            fleet,
            findings: Vec::new(),
            notes: Vec::new(),
        }
    }

    pub fn run(&mut self, s: Scenario) -> Outcome {
        let t0 = self.fleet.now();
        self.notes.clear();
        let r = match s {
            Scenario::Cold => self.cold(),
            Scenario::Contenders => self.contenders(),
            Scenario::Graceful => self.graceful(),
            Scenario::Kill => self.kill(),
            Scenario::Expiry => self.expiry(),
            Scenario::Restart => self.restart(),
            Scenario::Partition => self.partition(),
        };
        Outcome {
            scenario: s,
            error: r.err(),
            seconds: (self.fleet.now() - t0) / 1000.0,
            notes: std::mem::take(&mut self.notes),
        }
    }

    fn find(&mut self, line: &'static str, scenario: &'static str, ok: Option<bool>, text: String) {
        self.findings.push(Finding::new(line, scenario, ok, text));
    }

    fn poll(&self) -> f64 {
        self.fleet.poll_ms as f64
    }

    fn settle(&self) -> f64 {
        self.fleet.settle_ms as f64
    }

    fn name(&self, i: usize) -> String {
        self.fleet.instances[i].name.clone()
    }

    /// The negotiated session timeout of instance `i` (its latest session),
    /// else the expected one.
    fn session_of(&self, i: usize) -> (i64, f64, Vec<u8>) {
        let inst = &self.fleet.instances[i];
        let last = inst.events().into_iter().rev().find_map(|e| match e {
            Wire::Connected {
                session,
                timeout,
                passwd,
                ..
            } if timeout > 0 => Some((session, timeout as f64, passwd)),
            _ => None,
        });
        last.unwrap_or((0, self.fleet.session_ms as f64, Vec::new()))
    }

    /// Waits until instance `i` has a session.
    fn wait_session(&mut self, i: usize, timeout: Duration) -> Step {
        let name = self.name(i);
        self.fleet
            .wait_for(timeout, |f| {
                (!f.instances[i].sessions().is_empty() || !f.instances[i].alive()).then_some(())
            })
            .ok_or_else(|| format!("{name} did not connect within {timeout:?}"))?;
        if let Some((_, how)) = &self.fleet.instances[i].ended {
            return Err(format!("{name} {how} before it connected"));
        }
        Ok(())
    }

    /// Waits for a master other than `not` (by the role source); its time.
    fn wait_master(&mut self, not: Option<usize>, timeout: Duration) -> Option<(usize, f64)> {
        self.fleet.wait_for(timeout, |f| {
            f.master()
                .filter(|&m| Some(m) != not && f.instances[m].alive())
                .map(|m| (m, f.now()))
        })
    }

    /// A legacy master and at least `standbys` live legacy standbys
    /// (started as needed, given time to connect and look at the node).
    fn ensure(&mut self, standbys: usize) -> Result<usize, String> {
        if !self.fleet.parent_exists() {
            self.fleet.create_parent().map_err(|e| e.to_string())?;
        }
        while self.fleet.live_legacy().len() < standbys + 1 {
            let i = self.fleet.spawn_legacy().map_err(|e| e.to_string())?;
            self.wait_session(i, Duration::from_secs(15))?;
            let cmd = self.fleet.instances[i].command.join(" ");
            self.notes.push(format!("started {}: {cmd}", self.name(i)));
        }
        let wait = ms(self.poll() * 2.0 + self.settle() + SLACK_MS + 10_000.0);
        let m = self
            .wait_master(None, wait)
            .ok_or_else(|| format!("no master within {wait:?}"))?
            .0;
        if self.fleet.instances[m].kind != Kind::Legacy {
            // A zkha seed candidate left over holds the node: stop it.
            self.fleet.signal(m, libc::SIGTERM);
            self.fleet.wait_end(m, Duration::from_secs(5));
            return self.ensure(standbys);
        }
        // The standbys have had a poll or two to look at the node.
        std::thread::sleep(ms(self.poll() * 2.0));
        Ok(m)
    }

    /// Cold start: S6 (the parent missing), then S1 (session) and S5
    /// (node bytes, ephemeral, flags, ACL), F7 and F10.
    fn cold(&mut self) -> Step {
        const SC: &str = "cold";
        let missing = !self.fleet.parent_exists();
        let i = self.fleet.spawn_legacy().map_err(|e| e.to_string())?;
        let name = self.name(i);
        self.wait_session(i, Duration::from_secs(15))?;
        let evs = self.fleet.instances[i].events();
        if let Some(Wire::Connect {
            session, timeout, ..
        }) = evs.iter().find(|e| matches!(e, Wire::Connect { .. }))
        {
            let want = self.fleet.session_ms as i32;
            let (sess, negotiated, _) = self.session_of(i);
            self.find(
                "S1",
                SC,
                Some(*session == 0 && *timeout == want),
                format!(
                    "{name}'s first connect: clientid {:#x}{}, requested timeout {timeout} ms{}; \
                     session {sess:#x}, negotiated {negotiated:.0} ms",
                    session,
                    if *session == 0 {
                        " (NULL)"
                    } else {
                        " (not NULL)"
                    },
                    if *timeout == want {
                        String::new()
                    } else {
                        format!(" (expected {want}: --session-timeout)")
                    }
                ),
            );
        }
        if missing {
            // S6: the parent missing, the design's create fails (ZNONODE)
            // and nobody creates the parent; F7: those failures are quiet.
            let t = self.fleet.now();
            std::thread::sleep(ms(self.poll() * 3.0 + 300.0));
            let t_end = self.fleet.now();
            let evs = self.fleet.instances[i].events();
            let creates: Vec<(String, Option<i32>)> = evs
                .iter()
                .filter_map(|e| match e {
                    Wire::Create { path, rc, .. } => Some((path.clone(), *rc)),
                    _ => None,
                })
                .collect();
            let nonode = creates.iter().filter(|c| c.1 == Some(-101)).count();
            let parent_made = creates.iter().any(|c| c.0 == self.fleet.parent);
            let master = self.fleet.node().ok().flatten().is_some();
            if creates.is_empty() {
                self.notes.push(format!(
                    "{name} made no create while the parent was missing"
                ));
            } else {
                self.find(
                    "S6",
                    SC,
                    Some(nonode > 0 && !parent_made && !master),
                    format!(
                        "parent {} missing: {name}'s {} create(s) of {} failed with ZNONODE (-101){}{}",
                        self.fleet.parent,
                        nonode,
                        self.fleet.path,
                        if parent_made { "; it created the parent itself" } else { "" },
                        if master { "; yet the node exists" } else { "" }
                    ),
                );
            }
            if nonode >= 3 {
                let lines = self.fleet.instances[i].line_count(t, t_end);
                self.find(
                    "F7",
                    SC,
                    Some(lines <= 1),
                    format!(
                        "{nonode} creates failed with ZNONODE (a real error, not \"someone else is master\") \
                         and {name} wrote {lines} line(s) meanwhile"
                    ),
                );
            }
            self.fleet.create_parent().map_err(|e| e.to_string())?;
        }
        let t_parent = self.fleet.now();
        let wait = ms(self.poll() + self.settle() + SLACK_MS + 10_000.0);
        let (m, t_m) = self
            .wait_master(None, wait)
            .ok_or_else(|| format!("no master within {wait:?} of the parent's creation"))?;
        if m != i {
            return Err(format!("{} became master, not {name}", self.name(m)));
        }
        if missing {
            let bound = self.poll() + SLACK_MS;
            self.findings.push(judge::takeover_finding(
                "S6",
                SC,
                format!("{name} master once the parent existed"),
                t_m - t_parent,
                bound,
                "one poll + slack",
            ));
        }
        self.notes.push(format!(
            "{name} master {:.0} ms after it started",
            t_m - self.fleet.instances[i].started
        ));
        if let super::command::RoleFrom::Log(re) = &self.fleet.role {
            if let Some(l) = self.fleet.instances[i].matching(re, 0.0).first() {
                self.notes.push(format!("{name}'s role line: {:?}", l.text));
            }
        }
        // S5: the node as the server keeps it.
        let node = self
            .fleet
            .wait_for(Duration::from_secs(5), |f| f.node().ok().flatten())
            .ok_or("the master node is missing (role from the log: check the pattern)")?;
        let (sess, _, _) = self.session_of(i);
        let data = self.fleet.instances[i].data.clone();
        self.findings
            .push(judge::data_finding(&name, &data, &node.data));
        self.find(
            "S5",
            SC,
            Some(node.owner == sess && sess != 0),
            format!(
                "ephemeralOwner {:#x}{}",
                node.owner,
                if node.owner == sess {
                    format!(" = {name}'s session")
                } else if node.owner == 0 {
                    ": not ephemeral".into()
                } else {
                    format!(": not {name}'s session {sess:#x}")
                }
            ),
        );
        let won = self.fleet.instances[i]
            .events()
            .into_iter()
            .find_map(|e| match e {
                Wire::Create {
                    path,
                    flags,
                    acl,
                    rc: Some(0),
                    ..
                } if path.starts_with(&self.fleet.path) => Some((flags, acl)),
                _ => None,
            });
        if let Some((flags, acl)) = won {
            self.findings
                .extend(judge::create_findings(&name, flags, &acl));
        }
        Ok(())
    }

    /// Several contenders: exactly one master; the standbys poll (S4) or
    /// watch (S8); the master creates nothing more (S5); a zkha seed
    /// candidate among them.
    fn contenders(&mut self) -> Step {
        const SC: &str = "contenders";
        let m = self.ensure(0)?;
        let mut new = Vec::new();
        for _ in 0..2 {
            new.push(self.fleet.spawn_legacy().map_err(|e| e.to_string())?);
        }
        let seed = self.fleet.spawn_seed().map_err(|e| e.to_string())?;
        for &i in new.iter().chain([&seed]) {
            self.wait_session(i, Duration::from_secs(15))?;
        }
        let window = (self.poll() * 6.0).max(2000.0);
        let t0 = self.fleet.now();
        let mut masters = Vec::new();
        let mut none = 0;
        while self.fleet.now() - t0 < window {
            match self.fleet.master() {
                Some(x) => {
                    if !masters.contains(&x) {
                        masters.push(x);
                    }
                }
                None => none += 1,
            }
            self.fleet.reap();
            std::thread::sleep(Duration::from_millis(50));
        }
        let t1 = self.fleet.now();
        let names: Vec<String> = masters.iter().map(|&x| self.name(x)).collect();
        self.find(
            "S4",
            SC,
            Some(masters == [m] && none == 0),
            format!(
                "{} contenders ({} legacy, 1 zkha seed) for {:.1} s: master {}{}",
                self.fleet.instances.iter().filter(|i| i.alive()).count(),
                self.fleet.live_legacy().len(),
                window / 1000.0,
                if names.is_empty() {
                    "none".into()
                } else {
                    names.join(", then ")
                },
                if none > 0 {
                    format!(" ({none} looks found none)")
                } else {
                    String::new()
                }
            ),
        );
        // The master's creates during the window (the design: none).
        let path = self.fleet.path.clone();
        let creates_in = |f: &Fleet, i: usize| -> Vec<f64> {
            f.instances[i]
                .events()
                .iter()
                .filter_map(|e| match e {
                    Wire::Create { t, path: p, .. }
                        if *t >= t0 && *t <= t1 && p.starts_with(&path) =>
                    {
                        Some(*t)
                    }
                    _ => None,
                })
                .collect()
        };
        let mc = creates_in(self.fleet, m).len();
        self.find(
            "S5",
            SC,
            Some(mc == 0),
            format!(
                "{} (master) sent {mc} create(s) in {:.1} s (the design: none while master)",
                self.name(m),
                window / 1000.0
            ),
        );
        let mut polled = 0;
        let mut watched = Vec::new();
        for &i in &new {
            let name = self.name(i);
            let ts = creates_in(self.fleet, i);
            let watches = self.fleet.instances[i]
                .events()
                .iter()
                .filter(|e| matches!(e, Wire::Watch { t, path: p, .. } if *t >= t0 && *t <= t1 && p.starts_with(&path)))
                .count();
            if watches > 0 {
                watched.push(format!("{name}: {watches} watch(es) set on the path"));
            }
            if ts.len() >= 3 {
                polled += 1;
                let intervals: Vec<f64> = ts.windows(2).map(|w| w[1] - w[0]).collect();
                self.findings
                    .push(judge::poll_finding(&name, &intervals, self.poll()));
                self.find(
                    "F6",
                    SC,
                    Some(true),
                    format!(
                        "{name} (standby) wrote {} creates in {:.1} s",
                        ts.len(),
                        window / 1000.0
                    ),
                );
            } else if watches == 0 {
                self.find(
                    "S4",
                    SC,
                    Some(false),
                    format!(
                        "{name} (standby) sent {} create(s) and set no watch in {:.1} s",
                        ts.len(),
                        window / 1000.0
                    ),
                );
            }
        }
        let mut s8 = Finding::new(
            "S8",
            SC,
            Some(true),
            if watched.is_empty() {
                "not used: the standbys poll (S4)".into()
            } else {
                format!("used: {}", watched.join("; "))
            },
        );
        s8.variant = Some(if watched.is_empty() { "poll" } else { "watch" });
        self.findings.push(s8);
        if polled == 0 && !watched.is_empty() {
            self.find(
                "F6",
                SC,
                Some(false),
                "the standbys watch instead of polling".into(),
            );
        }
        let seed_creates = creates_in(self.fleet, seed).len();
        self.notes.push(format!(
            "{} (zkha seed profile) stood by beside them: {seed_creates} create(s)",
            self.name(seed)
        ));
        self.fleet.signal(seed, libc::SIGTERM);
        self.fleet.wait_end(seed, Duration::from_secs(5));
        Ok(())
    }

    /// Graceful exit (SIGTERM): the node goes, a standby takes over within
    /// poll + settle + slack.
    fn graceful(&mut self) -> Step {
        const SC: &str = "graceful";
        let m = self.ensure(1)?;
        let name = self.name(m);
        let t0 = self.fleet.now();
        self.fleet.signal(m, libc::SIGTERM);
        let gone = self
            .fleet
            .wait_for(ms(self.fleet.session_ms as f64 + 10_000.0), |f| {
                let n = f.node().ok()?;
                (n.is_none() || n.and_then(|n| f.node_owner(&n)) != Some(m)).then(|| f.now())
            });
        let wait = ms(self.poll() + self.settle() + SLACK_MS + 10_000.0);
        let Some((w, t1)) = self.wait_master(Some(m), wait) else {
            return Err(format!("no takeover within {wait:?} of {name}'s SIGTERM"));
        };
        let how = self.fleet.wait_end(m, Duration::from_secs(10));
        let bound = self.poll() + self.settle() + SLACK_MS;
        self.findings.push(judge::takeover_finding(
            "S4",
            SC,
            format!(
                "{name} SIGTERM -> {} master{}",
                self.name(w),
                gone.map(|g| format!(" (node gone after {:.0} ms)", g - t0))
                    .unwrap_or_default()
            ),
            t1 - t0,
            bound,
            &format!(
                "poll {:.0} + settle {:.0} + slack {SLACK_MS:.0}",
                self.poll(),
                self.settle()
            ),
        ));
        self.notes.push(format!("{name} {how}"));
        Ok(())
    }

    /// SIGKILL: the node outlives the master by the session timeout; a
    /// standby takes over within timeout + poll + settle + slack.
    fn kill(&mut self) -> Step {
        const SC: &str = "kill";
        let m = self.ensure(1)?;
        let name = self.name(m);
        let (_, timeout, _) = self.session_of(m);
        let t0 = self.fleet.now();
        self.fleet.kill(m);
        let gone = self
            .fleet
            .wait_for(ms(timeout + 10_000.0), |f| {
                let n = f.node().ok()?;
                (n.is_none() || n.and_then(|n| f.node_owner(&n)) != Some(m)).then(|| f.now())
            })
            .ok_or("the node outlived the killed master's session by 10 s")?;
        let wait = ms(self.poll() + self.settle() + SLACK_MS + 10_000.0);
        let (w, t1) = self
            .wait_master(Some(m), wait)
            .ok_or_else(|| format!("no takeover within {wait:?} of the node's deletion"))?;
        self.find(
            "S5",
            SC,
            Some(gone - t0 <= timeout + SLACK_MS),
            format!(
                "the node outlived {name}'s SIGKILL by {:.0} ms (its session timeout {timeout:.0} ms): ephemeral",
                gone - t0
            ),
        );
        let bound = timeout + self.poll() + self.settle() + SLACK_MS;
        self.findings.push(judge::takeover_finding(
            "S4",
            SC,
            format!("{name} SIGKILL -> {} master", self.name(w)),
            t1 - t0,
            bound,
            &format!(
                "session {timeout:.0} + poll {:.0} + settle {:.0} + slack {SLACK_MS:.0}",
                self.poll(),
                self.settle()
            ),
        ));
        Ok(())
    }

    /// What instance `i` did after its session `old` was declared expired
    /// (from `since`): S3 and F2. Ends it if it is left useless.
    fn after_expiry(&mut self, i: usize, old: i64, since: f64, sc: &'static str) -> Step {
        let name = self.name(i);
        // The server's "expired" answer to the old session.
        let wait = ms(self.poll() * 3.0 + 5000.0);
        let expired_at = self.fleet.wait_for(wait, |f| {
            f.instances[i].events().iter().find_map(|e| match e {
                Wire::Connected { t, timeout: 0, .. } if *t >= since => Some(*t),
                _ => None,
            })
        });
        let Some(t_exp) = expired_at else {
            self.notes.push(format!(
                "{name} was not told its session expired within {wait:?}"
            ));
            return Ok(());
        };
        // Its next connects: with the old id (the design), a new session,
        // or none; or it exits (the design's alternative).
        let wait = ms((self.poll() * 3.0).max(3000.0));
        let _ = self.fleet.wait_for(wait, |f| {
            let connects = f.instances[i]
                .events()
                .iter()
                .filter(|e| matches!(e, Wire::Connect { t, .. } if *t > t_exp))
                .count();
            (connects >= 3 || !f.instances[i].alive()).then_some(())
        });
        let evs = self.fleet.instances[i].events();
        let after: Vec<&Wire> = evs.iter().filter(|e| e.t() > t_exp).collect();
        let same = after
            .iter()
            .filter(|e| matches!(e, Wire::Connect { session, .. } if *session == old))
            .count();
        let fresh = after
            .iter()
            .filter(|e| matches!(e, Wire::Connect { session: 0, .. }))
            .count();
        let again = after
            .iter()
            .filter(|e| matches!(e, Wire::Connected { timeout: 0, .. }))
            .count();
        let ended = self.fleet.instances[i].ended.clone();
        let (ok, text) = if same > 0 {
            (
                true,
                format!("{name} re-initialised with the old clientid {old:#x} ({same} connect(s) with it after the expiry)"),
            )
        } else if fresh > 0 {
            (
                true,
                format!("{name} re-initialised with a new session (clientid NULL), not the old id: F2 avoided"),
            )
        } else if let Some((_, how)) = &ended {
            (true, format!("{name} {how} after the expiry: the design's alternative (exit, let a supervisor restart it)"))
        } else {
            (
                false,
                format!(
                    "{name} made no new connection within {:.1} s of its session's expiry and kept running: no re-init",
                    (self.fleet.now() - t_exp) / 1000.0
                ),
            )
        };
        self.find("S3", sc, Some(ok), text);
        if same > 0 {
            self.find(
                "F2",
                sc,
                Some(again > 0),
                format!(
                    "the server answered {name}'s re-inits with the dead id: expired {again} more time(s)"
                ),
            );
        } else if fresh > 0 {
            self.find(
                "F2",
                sc,
                Some(false),
                format!("{name} opened a new session"),
            );
        }
        // A binary stuck on a dead id (or with a dead handle) is of no
        // more use: replaced by the next scenario's `ensure`.
        if self.fleet.instances[i].alive() && (same > 0 && again > 0 || !ok) {
            self.fleet.kill(i);
            self.notes
                .push(format!("{name} killed (useless after the expiry)"));
        }
        Ok(())
    }

    /// Session expiry from outside: the master's proxy is cut, its session
    /// closed by another handle (its id and password), the proxy restored:
    /// the binary learns of the expiry and re-initialises (S3, F2).
    fn expiry(&mut self) -> Step {
        const SC: &str = "expiry";
        let m = self.ensure(1)?;
        let name = self.name(m);
        let (old, _, passwd) = self.session_of(m);
        let passwd: [u8; 16] = passwd
            .try_into()
            .map_err(|_| format!("{name}'s session password was not seen"))?;
        self.fleet.cut(m, true);
        let closed = self.fleet.close_session(old, passwd);
        let t0 = self.fleet.now();
        // The design re-inits at once; give the node a moment to go.
        std::thread::sleep(Duration::from_millis(200));
        self.fleet.cut(m, false);
        closed.map_err(|e| format!("could not end {name}'s session {old:#x}: {e}"))?;
        self.notes
            .push(format!("{name}'s session {old:#x} ended from outside"));
        self.after_expiry(m, old, t0, SC)?;
        let wait = ms(self.poll() + self.settle() + SLACK_MS + 5000.0);
        if let Some((w, _)) = self.wait_master(None, wait) {
            self.notes
                .push(format!("{} master after the expiry", self.name(w)));
        }
        Ok(())
    }

    /// The server stopped and started again: every instance reconnects to
    /// its own session (S2: only CONNECTED/EXPIRED matter, the rest is
    /// ignored), one master after.
    fn restart(&mut self) -> Step {
        const SC: &str = "restart";
        let m = self.ensure(1)?;
        let before: Vec<(usize, i64)> = self
            .fleet
            .live_legacy()
            .into_iter()
            .map(|i| (i, self.session_of(i).0))
            .collect();
        let t0 = self.fleet.now();
        self.fleet.server.stop();
        self.fleet
            .server
            .restart()
            .map_err(|e| format!("the server did not start again: {e}"))?;
        let t_up = self.fleet.now();
        self.notes.push(format!(
            "server down for {:.1} s (master {})",
            (t_up - t0) / 1000.0,
            self.name(m)
        ));
        let wait = ms(self.fleet.session_ms as f64 + 10_000.0);
        let _ = self.fleet.wait_for(wait, |f| {
            before
                .iter()
                .all(|&(i, s)| {
                    !f.instances[i].alive()
                        || f.instances[i]
                            .sessions()
                            .iter()
                            .any(|x| x.0 > t0 && x.1 == s)
                })
                .then_some(())
        });
        for &(i, s) in &before {
            let name = self.name(i);
            let inst = &self.fleet.instances[i];
            let back = inst.sessions().iter().any(|x| x.0 > t0 && x.1 == s);
            let fresh = inst
                .events()
                .iter()
                .any(|e| matches!(e, Wire::Connect { t, session: 0, .. } if *t > t0));
            let text = match (&inst.ended, back, fresh) {
                (Some((_, how)), _, _) => format!("{name} {how} across the restart"),
                (None, true, false) => format!("{name} reconnected to its session {s:#x}"),
                (None, _, true) => format!("{name} opened a new session across the restart"),
                (None, false, false) => format!("{name} did not reconnect within {wait:?}"),
            };
            self.find("S2", SC, Some(inst.ended.is_none() && back && !fresh), text);
        }
        let wait = ms(self.poll() + self.settle() + SLACK_MS + 5000.0);
        match self.wait_master(None, wait) {
            Some((w, _)) => {
                let claims = self.fleet.claims().len();
                let one = matches!(self.fleet.role, super::command::RoleFrom::Node) || claims <= 1;
                self.find(
                    "S2",
                    SC,
                    Some(one),
                    format!(
                        "after the restart: {} master{}",
                        self.name(w),
                        if one {
                            String::new()
                        } else {
                            format!(" ({claims} instances claim it)")
                        }
                    ),
                );
            }
            None => self.find(
                "S2",
                SC,
                Some(false),
                format!("no master within {wait:?} of the restart"),
            ),
        }
        Ok(())
    }

    /// A partition of the master: its proxy blackholed past its session
    /// timeout, until a standby has taken over; then restored. F1 (what
    /// the cut-off instance claims meanwhile), then S3/F2 as it learns.
    fn partition(&mut self) -> Step {
        const SC: &str = "partition";
        let m = self.ensure(1)?;
        let name = self.name(m);
        let (old, timeout, _) = self.session_of(m);
        let t0 = self.fleet.now();
        self.fleet.cut(m, true);
        let wait = ms(timeout + self.poll() + self.settle() + SLACK_MS + 10_000.0);
        let taken = self.fleet.wait_for(wait, |f| {
            let n = f.node().ok()??;
            let o = f.node_owner(&n)?;
            (o != m).then(|| (o, f.now()))
        });
        let Some((w, t_b)) = taken else {
            self.fleet.cut(m, false);
            return Err(format!("no takeover within {wait:?} of cutting {name} off"));
        };
        // Two masters, if the cut-off one still acts as one.
        std::thread::sleep(ms(self.poll().max(1000.0)));
        let t_r = self.fleet.now();
        let inst = &self.fleet.instances[m];
        let alive = inst.alive();
        let fresh = inst
            .events()
            .iter()
            .any(|e| matches!(e, Wire::Connect { t, session: 0, .. } if *t > t0 && *t < t_r));
        let closed = inst
            .events()
            .iter()
            .any(|e| matches!(e, Wire::Close { t, .. } if *t > t0 && *t < t_r));
        let kept = format!(
            "{name} (master, cut off at {:.1} s) {} while {} held the node for {:.0} ms",
            t0 / 1000.0,
            if !alive {
                "exited".to_owned()
            } else if fresh || closed {
                "gave its session up (a close or a new session)".to_owned()
            } else {
                "kept its process and its old session".to_owned()
            },
            self.name(w),
            t_r - t_b
        );
        match &self.fleet.role {
            super::command::RoleFrom::Node => {
                self.find("F1", SC, None, kept);
            }
            super::command::RoleFrom::Log(re) => {
                let claim = inst.matching(re, 0.0).into_iter().rfind(|l| l.t < t_b);
                let shown = alive && !fresh && !closed && claim.is_some();
                self.find(
                    "F1",
                    SC,
                    Some(shown),
                    match claim {
                        Some(l) if shown => format!(
                            "{kept}; its claim {:?} (at {:.1} s) stood: two masters",
                            l.text,
                            l.t / 1000.0
                        ),
                        _ => kept,
                    },
                );
            }
        }
        self.fleet.cut(m, false);
        if self.fleet.instances[m].alive() {
            self.after_expiry(m, old, t_r, SC)?;
        }
        Ok(())
    }
}
