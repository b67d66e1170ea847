//! Faults around the servers: a restart with the saved session, a server
//! down at start, an ensemble's leader, follower and quorum.

use crate::*;
use std::time::Duration;
use zkha_testing::{TestingCluster, TestingServer};

impl Chaos {
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
            if !wait_until(Duration::from_secs(30), || {
                cb.count("create") + cb.count("standby") > 0
            }) {
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
