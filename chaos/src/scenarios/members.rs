//! Faults between the members of an ensemble: the master's follower
//! isolated, the leader paused.

use crate::*;
use std::time::Duration;
use zkha_testing::{ProxyMode, TestingCluster};

/// A fault between the members of a partitionable ensemble
/// ([`TestingCluster::with_partitions`]), with the master's `zkha run`
/// connected only to follower F and the standby only to the leader.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MemberFault {
    /// F cut off from the other members, silently (bytes dropped): F serves
    /// its clients from its own state until it notices, after about
    /// `syncLimit` ticks; the master's session expires at the leader after
    /// T, and the standby takes over.
    IsolateFollowerBlackhole,
    /// F's links to the other members reset: F stops serving at once.
    IsolateFollowerReset,
    /// The leader's JVM frozen (SIGSTOP) for 2T: the others elect a new
    /// leader; the standby (connected to the old leader only) is stuck. No
    /// takeover is required.
    PauseLeader,
}

impl MemberFault {
    pub const ALL: [MemberFault; 3] = [
        MemberFault::IsolateFollowerBlackhole,
        MemberFault::IsolateFollowerReset,
        MemberFault::PauseLeader,
    ];

    pub(crate) fn what(self) -> &'static str {
        match self {
            MemberFault::IsolateFollowerBlackhole => {
                "the master's follower isolated from the ensemble (blackhole)"
            }
            MemberFault::IsolateFollowerReset => {
                "the master's follower isolated from the ensemble (resets)"
            }
            MemberFault::PauseLeader => "the leader's JVM paused (SIGSTOP)",
        }
    }
}

impl Chaos {
    /// Member partitions, `rounds` times each of `kinds`, on one 3-member
    /// ensemble whose member links go through proxies. Each round: a fresh
    /// path, the master connected to a follower F only, the standby to the
    /// leader only, then the fault; after it, the ensemble is healed and
    /// must serve again on every member.
    pub fn member_partitions(&mut self, rounds: usize, kinds: &[MemberFault]) -> Stats {
        let mut s = self.scene("member-partitions");
        let cluster = match TestingCluster::with_partitions(3, Default::default()) {
            Ok(c) => c,
            Err(e) => {
                s.error(format!("partitionable ensemble: {e}"));
                return s.finish();
            }
        };
        let t = self.session_ms;
        let settle = Duration::from_secs(60);
        let mut n = 0;
        'rounds: for _ in 0..rounds {
            for &kind in kinds {
                n += 1;
                let when = format!("round {n} ({kind:?})");
                macro_rules! check {
                    ($what:expr, $e:expr) => {
                        match $e {
                            Ok(v) => v,
                            Err(e) => {
                                s.error(format!("{when}: {}: {e}", $what));
                                break 'rounds;
                            }
                        }
                    };
                }
                let l = check!("no leader", cluster.wait_for_leader(settle));
                let f = (l + 1 + n % 2) % cluster.len();
                let (l_addr, f_addr) = (
                    check!("address", cluster.address(l)).to_owned(),
                    check!("address", cluster.address(f)).to_owned(),
                );
                let path = self.unique("chaos-member");
                let a = s.spawn(&f_addr, &path, &[]);
                if s.one_master(settle, &when) != Some(a) {
                    s.error(format!(
                        "{when}: the candidate on the follower is not master"
                    ));
                    break;
                }
                let b = s.spawn(&l_addr, &path, &[]);
                // The standby found the node taken and set its watch.
                if !s.wait_standbys_watch(&l_addr, &path, a, &when) {
                    break;
                }
                let at = monotonic_ms();
                match kind {
                    MemberFault::IsolateFollowerBlackhole | MemberFault::IsolateFollowerReset => {
                        let mode = if kind == MemberFault::IsolateFollowerReset {
                            ProxyMode::Reset
                        } else {
                            ProxyMode::Blackhole
                        };
                        check!("isolate", cluster.isolate(f, mode));
                        s.fault(at, a, kind.what());
                        let took = s.wait_takeover(a, at, &when);
                        // The cut-off master must stop (F leaves the quorum
                        // after syncLimit ticks at the latest).
                        let gone = s.wait_command_gone(a, settle, &when);
                        check!("heal", cluster.heal(f));
                        if took.is_none() || !gone {
                            break 'rounds;
                        }
                    }
                    MemberFault::PauseLeader => {
                        check!("pause of the leader", cluster.pause(l));
                        s.fault(at, a, kind.what());
                        std::thread::sleep(Duration::from_millis(t * 2));
                        check!("resume of the leader", cluster.resume(l));
                    }
                }
                // Healed: every member serves again, and a master runs.
                let all_serve = wait_until(settle, || {
                    (0..cluster.len()).all(|i| {
                        matches!(
                            cluster.mode(i),
                            Ok(Some(
                                zkha_testing::ServerMode::Leader
                                    | zkha_testing::ServerMode::Follower
                            ))
                        )
                    })
                });
                if !all_serve {
                    s.error(format!(
                        "{when}: the ensemble did not serve again after healing"
                    ));
                    break;
                }
                if s.one_master(settle, &format!("{when}, healed")).is_none() {
                    break;
                }
                for i in [a, b] {
                    if let Err(e) = s.retire(i) {
                        s.error(format!("{when}: {e}"));
                        break 'rounds;
                    }
                }
            }
        }
        let stats = s.finish();
        drop(cluster);
        stats
    }
}
