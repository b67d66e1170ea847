//! Faults on the master's processes: SIGKILL of `zkha run` (also over
//! mutual TLS), SIGSTOP of `zkha run` alone or of the whole master.

use crate::*;
use std::time::Duration;

impl Chaos {
    pub(crate) fn unique(&self, name: &str) -> String {
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

    pub(crate) fn pause(&mut self, hosts: &str, rounds: usize, whole: bool) -> Stats {
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
}
