//! A pause round's fault, struck once the pause is acknowledged, and what
//! follows it until the round can be judged: the next master waited for
//! (a master cut off, a resume), or the maintenance ridden out.

use super::ask::{self, Asked};
use super::judge::{judge, Facts};
use super::{Family, PauseFault};
use crate::*;
use std::time::Duration;
use zkha::elector::registry::{self, ControlOp};
use zkha_testing::ProxyMode;

/// How long `zkha resume` waits for an acknowledgement that cannot come
/// (the master cut off).
const CUT_RESUME_WAIT_MS: u64 = 2000;

fn sleep_until(at: f64) {
    let left = at - monotonic_ms();
    if left > 0.0 {
        std::thread::sleep(Duration::from_millis(left as u64));
    }
}

impl Family {
    /// Strikes `kind` on master `m` in the fault's `turn`-th round (its
    /// variants go by turns) and follows it; fills in `facts` (when the
    /// master was cut off, when an acknowledged resume ran). Errors are the
    /// scene's; false: the fault could not be struck.
    pub(super) fn strike_and_follow(
        &mut self,
        kind: PauseFault,
        turn: usize,
        m: usize,
        facts: &mut Facts,
        when: &str,
    ) -> bool {
        let t = self.s.session_ms;
        let bound = self.s.takeover_bound().as_millis() as f64;
        let hosts = self.cluster.connect_string();
        let path = self.path.clone();
        let settle = Duration::from_secs(60);
        let at = monotonic_ms();
        let struck: Result<(), String> = match kind {
            PauseFault::CutMaster => {
                self.links[m].set_mode(ProxyMode::Blackhole);
                facts.cut = Some(at);
                self.s.fault(at, m, kind.what());
                self.wait_next(facts, facts.deadline() + bound);
                Ok(())
            }
            PauseFault::ResumeWhileCut => {
                self.links[m].set_mode(ProxyMode::Blackhole);
                facts.cut = Some(at);
                self.s.fault(at, m, kind.what());
                std::thread::sleep(Duration::from_millis(300));
                let wait = CUT_RESUME_WAIT_MS.to_string();
                match ask::zkha(&self.zkha, "resume", &hosts, &path, &["--wait", &wait]) {
                    Ok(r) => {
                        self.check_unacknowledged(&r, when);
                        // The standbys hold for the length from when they
                        // saw the resume.
                        let end = facts.deadline().max(r.returned + facts.length_ms);
                        self.wait_next(facts, end + bound);
                        Ok(())
                    }
                    Err(e) => Err(e),
                }
            }
            PauseFault::ResetMaster => {
                self.links[m].reset_all();
                self.s.fault(at, m, kind.what());
                sleep_until(facts.deadline() + t as f64 + 1000.0);
                Ok(())
            }
            PauseFault::MemberRestart => (|| -> Result<(), String> {
                let leader = self
                    .cluster
                    .wait_for_leader(settle)
                    .map_err(|e| e.to_string())?;
                let i = if turn.is_multiple_of(2) {
                    leader
                } else {
                    (leader + 1) % self.cluster.len()
                };
                self.cluster.kill(i).map_err(|e| e.to_string())?;
                let role = if i == leader {
                    "the leader"
                } else {
                    "a follower"
                };
                self.s
                    .fault(at, m, &format!("{} (member {i}, {role})", kind.what()));
                std::thread::sleep(Duration::from_secs(1));
                self.cluster
                    .restart(i)
                    .map_err(|e| format!("restart: {e}"))?;
                self.cluster
                    .wait_for_leader(settle)
                    .map_err(|e| e.to_string())?;
                sleep_until(facts.deadline() + t as f64 + 1000.0);
                Ok(())
            })(),
            PauseFault::RollingRestart => (|| -> Result<(), String> {
                let leader = self
                    .cluster
                    .wait_for_leader(settle)
                    .map_err(|e| e.to_string())?;
                self.s.fault(at, m, kind.what());
                let n = self.cluster.len();
                for i in (0..n).filter(|&i| i != leader).chain([leader]) {
                    let from = monotonic_ms();
                    self.cluster.stop(i).map_err(|e| e.to_string())?;
                    std::thread::sleep(Duration::from_secs(1));
                    self.cluster
                        .restart(i)
                        .map_err(|e| format!("restart: {e}"))?;
                    self.cluster
                        .wait_for_leader(settle)
                        .map_err(|e| e.to_string())?;
                    self.s.note(&format!(
                        "member {i} restarted ({:.0} ms)",
                        monotonic_ms() - from
                    ));
                    std::thread::sleep(Duration::from_secs(1));
                }
                self.resume_after_maintenance(facts, when)
            })(),
            PauseFault::EnsembleDown => (|| -> Result<(), String> {
                let n = self.cluster.len();
                for i in 0..n {
                    self.cluster.kill(i).map_err(|e| e.to_string())?;
                }
                self.s.fault(at, m, kind.what());
                std::thread::sleep(Duration::from_millis(2 * t));
                let cluster = &self.cluster;
                let restarted: Vec<Result<(), String>> = std::thread::scope(|s| {
                    let all: Vec<_> = (0..n)
                        .map(|i| s.spawn(move || cluster.restart(i).map_err(|e| e.to_string())))
                        .collect();
                    all.into_iter()
                        .map(|h| h.join().unwrap_or_else(|_| Err("panicked".into())))
                        .collect()
                });
                restarted.into_iter().collect::<Result<Vec<()>, String>>()?;
                self.cluster
                    .wait_for_leader(settle)
                    .map_err(|e| e.to_string())?;
                self.s.note(&format!(
                    "the ensemble serves again, {:.0} ms after it went down",
                    monotonic_ms() - at
                ));
                std::thread::sleep(Duration::from_secs(2));
                self.resume_after_maintenance(facts, when)
            })(),
            PauseFault::StopMaster => (|| -> Result<(), String> {
                self.s.cands[m].signal(libc::SIGSTOP)?;
                facts.cut = Some(at);
                // Past the session timeout: within the pause, and past its
                // deadline, by turns.
                let until = if turn.is_multiple_of(2) {
                    facts.deadline() + 1000.0
                } else {
                    at + t as f64 + 1000.0
                };
                self.s.fault(
                    at,
                    m,
                    &format!(
                        "{} {:.0} ms later ({} the pause's deadline)",
                        kind.what(),
                        until - at,
                        if turn.is_multiple_of(2) {
                            "after"
                        } else {
                            "before"
                        }
                    ),
                );
                sleep_until(until);
                self.s.cands[m].signal(libc::SIGCONT)?;
                self.wait_next(facts, facts.deadline() + bound);
                Ok(())
            })(),
            PauseFault::Resume => (|| -> Result<(), String> {
                std::thread::sleep(Duration::from_millis(facts.length_ms as u64 / 4));
                let r = ask::zkha(&self.zkha, "resume", &hosts, &path, &[])?;
                if !r.acknowledged() {
                    return Err(format!(
                        "zkha resume was not acknowledged (exit {:?}): {:?}",
                        r.code, r.said
                    ));
                }
                facts.resumed = Some(r.at);
                let at = monotonic_ms();
                self.s.cands[m].signal(libc::SIGTERM)?;
                self.s.fault(at, m, kind.what());
                self.wait_next(facts, at + bound);
                Ok(())
            })(),
        };
        if let Err(e) = struck {
            self.s.error(format!("{when}: {}: {e}", kind.what()));
            return false;
        }
        true
    }

    /// `zkha resume` after the ensemble's maintenance: the master rode it
    /// out, so it must acknowledge; then a session timeout and a second
    /// more for a failover that should not come.
    fn resume_after_maintenance(&mut self, facts: &mut Facts, when: &str) -> Result<(), String> {
        let hosts = self.cluster.connect_string();
        let r = ask::zkha(&self.zkha, "resume", &hosts, &self.path, &[])?;
        if r.acknowledged() {
            facts.resumed = Some(r.at);
            self.s.note(&format!(
                "zkha resume acknowledged after {:.0} ms",
                r.returned - r.at
            ));
        } else {
            self.s.error(format!(
                "{when}: zkha resume after the maintenance was not acknowledged (exit {:?}): {:?}",
                r.code, r.said
            ));
        }
        std::thread::sleep(Duration::from_millis(self.s.session_ms + 1000));
        Ok(())
    }

    /// A resume run while the master was cut off: it must not be
    /// acknowledged, and must stay on the control node as a resume.
    fn check_unacknowledged(&mut self, r: &Asked, when: &str) {
        if r.code == Some(0) {
            self.s.error(format!(
                "{when}: zkha resume exited 0 while the master was cut off: {:?}",
                r.said
            ));
            return;
        }
        match registry::read_control(&self.admin, &self.path) {
            Ok(Some((ControlOp::Resume { .. }, _))) => self.s.note(&format!(
                "zkha resume not acknowledged (exit {:?}, as it must): the resume stays written",
                r.code
            )),
            other => self.s.error(format!(
                "{when}: after a resume nobody could acknowledge, the control node holds {other:?}"
            )),
        }
    }

    /// Waits until `end` (monotonic ms) for the next mastership's command
    /// to write (another candidate's, or the master's with a new token).
    pub(super) fn wait_next(&self, facts: &Facts, end: f64) -> bool {
        wait_until(
            Duration::from_millis((end - monotonic_ms()).max(0.0) as u64),
            || judge(&self.round_runs(), facts).next.is_some(),
        )
    }

    /// Every command run of this round's candidates.
    pub(super) fn round_runs(&self) -> Vec<CmdRun> {
        self.s.cands[self.first..]
            .iter()
            .flat_map(|c| c.runs())
            .collect()
    }
}
