//! A switchover round's fault: struck at once ([`Family::strike`]), then
//! what follows it ([`Family::follow`]: resumes, heals, restarts, the next
//! master waited for).

use super::ask::Asked;
use super::{Family, SwitchoverFault};
use crate::*;
use std::time::Duration;
use zkha_testing::ProxyMode;

/// The round's candidates: the master asked to hand over, the target, the
/// third one.
#[derive(Debug, Clone, Copy)]
pub(super) struct Roles {
    pub(super) m: usize,
    pub(super) target: usize,
    pub(super) third: usize,
}

impl Roles {
    /// The candidate a fault hits (the master for the server's restart).
    pub(super) fn victim(self, kind: SwitchoverFault) -> usize {
        match kind {
            SwitchoverFault::KillTarget
            | SwitchoverFault::RestartTarget
            | SwitchoverFault::StopTarget
            | SwitchoverFault::BlackholeTarget => self.target,
            SwitchoverFault::KillThird | SwitchoverFault::StopThird => self.third,
            _ => self.m,
        }
    }
}

/// How long a stopped or cut-off target or third candidate stays so: past
/// its session timeout.
fn away(t: Duration) -> Duration {
    t + Duration::from_secs(1)
}

/// How long [`SwitchoverFault::RefuseMaster`] refuses: past the disconnect
/// timer (T/4), within the session.
const REFUSED_FOR: Duration = Duration::from_millis(1000);

impl Family {
    /// The fault itself, at once.
    pub(super) fn strike(&mut self, kind: SwitchoverFault, victim: usize) -> Result<(), String> {
        let c = &mut self.s.cands[victim];
        match kind {
            SwitchoverFault::None | SwitchoverFault::RefuseMaster => Ok(()),
            SwitchoverFault::KillMaster
            | SwitchoverFault::KillTarget
            | SwitchoverFault::RestartTarget
            | SwitchoverFault::KillThird => c.kill(),
            SwitchoverFault::StopMaster
            | SwitchoverFault::StopTarget
            | SwitchoverFault::StopThird => c.signal(libc::SIGSTOP),
            SwitchoverFault::BlackholeMaster | SwitchoverFault::BlackholeTarget => {
                self.proxies[victim].set_mode(ProxyMode::Blackhole);
                Ok(())
            }
            SwitchoverFault::ResetMaster => {
                self.proxies[victim].reset_all();
                Ok(())
            }
            SwitchoverFault::ServerRestart => {
                self.server.kill();
                if self.server.is_running() {
                    Err("the server survived SIGKILL".into())
                } else {
                    Ok(())
                }
            }
        }
    }

    /// What follows the fault, until the next master is known (or the
    /// bound passed); false: stop here.
    pub(super) fn follow(
        &mut self,
        kind: SwitchoverFault,
        when: &str,
        roles: Roles,
        asked: &Asked,
        old: i64,
        refused_at: f64,
    ) -> bool {
        let t = Duration::from_millis(self.s.session_ms);
        let victim = roles.victim(kind);
        let resumed = match kind {
            SwitchoverFault::RestartTarget => {
                std::thread::sleep(Duration::from_secs(1));
                self.respawn(victim);
                Ok(())
            }
            SwitchoverFault::StopTarget | SwitchoverFault::StopThird => {
                std::thread::sleep(away(t));
                self.s.cands[victim].signal(libc::SIGCONT)
            }
            SwitchoverFault::BlackholeTarget => {
                std::thread::sleep(away(t));
                self.proxies[victim].set_mode(ProxyMode::Pass);
                Ok(())
            }
            SwitchoverFault::RefuseMaster => {
                let left = REFUSED_FOR.as_millis() as f64 - (monotonic_ms() - refused_at);
                std::thread::sleep(Duration::from_millis(left.max(0.0) as u64));
                self.proxies[victim].set_mode(ProxyMode::Pass);
                Ok(())
            }
            SwitchoverFault::ServerRestart => {
                std::thread::sleep(Duration::from_millis(500));
                self.server.restart().map_err(|e| format!("restart: {e}"))
            }
            _ => Ok(()),
        };
        if let Err(e) = resumed {
            self.s.error(format!("{when}: {e}"));
            return false;
        }
        let came = self.wait_next(asked, old);
        match kind {
            SwitchoverFault::StopMaster => {
                if came {
                    std::thread::sleep(t);
                }
                if let Err(e) = self.s.cands[victim].signal(libc::SIGCONT) {
                    self.s.error(format!("{when}: {e}"));
                    return false;
                }
                let gone = t + Duration::from_millis(GRACE_MS + 2000);
                self.s.wait_command_gone(victim, gone, when)
            }
            SwitchoverFault::BlackholeMaster => {
                if came {
                    std::thread::sleep(t / 2);
                }
                self.proxies[victim].set_mode(ProxyMode::Pass);
                true
            }
            _ => true,
        }
    }

    /// Waits until a mastership above `old` shows (the master node; the
    /// commands' files every quarter second, should the harness's own
    /// client be cut off), up to the timeout and a takeover bound after
    /// the request.
    pub(super) fn wait_next(&self, asked: &Asked, old: i64) -> bool {
        let end = asked.at + (self.timeout + self.s.takeover_bound()).as_millis() as f64;
        let (nodes, cands) = (&self.nodes, &self.s.cands);
        let mut looks = 0u32;
        wait_until(
            Duration::from_millis((end - monotonic_ms()).max(0.0) as u64),
            || {
                looks += 1;
                nodes.max_token().is_some_and(|t| t > old)
                    || (looks.is_multiple_of(12)
                        && cands
                            .iter()
                            .flat_map(|c| c.runs())
                            .any(|r| r.token.is_some_and(|t| t > old)))
            },
        )
    }
}
