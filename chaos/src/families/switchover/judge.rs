//! One switchover judged from outside: which mastership came next and
//! whose it was, by three witnesses that are not the candidates' word
//! about themselves alone: ZooKeeper's master node (its czxid, owner
//! session and `ctime`, polled by the harness), the commands' own files
//! (the token each command ran with, its first line) and the traces'
//! `became_master` lines. A mastership is its token, the master node's
//! czxid: tokens grow in the order the nodes were created, so the next
//! mastership after the request is the lowest token above the old
//! master's, whoever saw it first.

use super::ask::{Asked, Seen};
use super::faults::Roles;
use super::{Family, SwitchoverFault};
use crate::*;
use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::Duration;

/// The next mastership after a switchover was asked for.
#[derive(Debug, Clone)]
pub(crate) struct Next {
    pub(crate) token: i64,
    pub(crate) who: String,
    /// Its earliest evidence (CLOCK_MONOTONIC ms): the node seen, the
    /// command's first line, `became_master`.
    pub(crate) at: f64,
    /// Its node's `ctime` (the server's realtime clock), if the harness saw
    /// the node.
    pub(crate) ctime_ms: Option<i64>,
    /// Which witnesses saw it: `node`, `command`, `trace`.
    pub(crate) by: BTreeSet<&'static str>,
}

/// One candidate's files: its name, its trace, its command's file.
pub(crate) type Files = (String, PathBuf, PathBuf);

/// The next mastership above token `old`, by the candidates' `files` and
/// the master nodes `seen`, and what the witnesses disagree on (a token
/// owned by two candidates, a node of a session no candidate had).
pub(crate) fn next_mastership(
    files: &[Files],
    seen: &[Seen],
    old: i64,
) -> (Option<Next>, Vec<String>) {
    let mut sessions: BTreeMap<i64, String> = BTreeMap::new();
    // token -> (who, at, witness, ctime)
    type Evidence = (String, f64, &'static str, Option<i64>);
    let mut by_token: BTreeMap<i64, Vec<Evidence>> = BTreeMap::new();
    for (name, trace, work) in files {
        for e in &events(trace) {
            match (e.event.as_str(), e.session, e.token) {
                ("connected", Some(sid), _) => {
                    sessions.insert(sid, name.clone());
                }
                ("became_master", _, Some(t)) if t > old => {
                    by_token
                        .entry(t)
                        .or_default()
                        .push((name.clone(), e.t, "trace", None));
                }
                _ => {}
            }
        }
        for r in runs(work, name) {
            if let Some(t) = r.token.filter(|&t| t > old) {
                by_token
                    .entry(t)
                    .or_default()
                    .push((name.clone(), r.first, "command", None));
            }
        }
    }
    let mut odd = Vec::new();
    for s in seen.iter().filter(|s| s.czxid > old) {
        let who = match sessions.get(&s.owner) {
            Some(name) => name.clone(),
            None => {
                odd.push(format!(
                    "the master node (token {}) was owned by session 0x{:x}, no candidate's",
                    s.czxid, s.owner
                ));
                format!("session 0x{:x}", s.owner)
            }
        };
        by_token
            .entry(s.czxid)
            .or_default()
            .push((who, s.at, "node", Some(s.ctime_ms)));
    }
    let Some((&token, evidence)) = by_token.iter().next() else {
        return (None, odd);
    };
    let owners: BTreeSet<&str> = evidence.iter().map(|e| e.0.as_str()).collect();
    if owners.len() > 1 {
        odd.push(format!(
            "token {token} is claimed by {owners:?}: {evidence:?}"
        ));
    }
    // ZooKeeper's word on the owner first, then the command's.
    let who = ["node", "command", "trace"]
        .iter()
        .find_map(|w| evidence.iter().find(|e| e.2 == *w))
        .map(|e| e.0.clone())
        .unwrap_or_default();
    let next = Next {
        token,
        who,
        at: evidence.iter().map(|e| e.1).fold(f64::INFINITY, f64::min),
        ctime_ms: evidence.iter().find_map(|e| e.3),
        by: evidence.iter().map(|e| e.2).collect(),
    };
    (Some(next), odd)
}

/// How a switchover ended.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Verdict {
    /// The target became master, this many ms after the request.
    ToTarget(f64),
    /// Another candidate, after the timeout, the target faulted.
    AfterTimeout,
    /// Another candidate while the switchover was in force, or although the
    /// target was never faulted: why.
    Wrong(String),
}

/// The verdict on `next`, for a switchover to `target` asked at `at`
/// (monotonic) and `wall_ms` (realtime) for `timeout_ms`; `target_hit`:
/// the round's fault hit the target (killed, stopped, cut off).
///
/// Every candidate holds a switchover to another for the timeout from when
/// it first read it, which is after the request: a node of another
/// candidate created (its `ctime`), or any evidence of its mastership,
/// before `at + timeout` is a winner the switchover should have kept out.
pub(crate) fn verdict(
    next: &Next,
    target: &str,
    at: f64,
    wall_ms: i64,
    timeout_ms: f64,
    target_hit: bool,
) -> Verdict {
    let after = next.at - at;
    if next.who == target {
        return Verdict::ToTarget(
            next.ctime_ms
                .map_or(after, |c| (c - wall_ms) as f64)
                .min(after),
        );
    }
    let created = next.ctime_ms.map(|c| (c - wall_ms) as f64);
    let early = after < timeout_ms || created.is_some_and(|c| c < timeout_ms);
    let evidence = format!(
        "{} became master with token {} {after:.0} ms after the switchover to {target} was asked \
         (node created {}; seen by {:?}; timeout {timeout_ms:.0} ms)",
        next.who,
        next.token,
        created.map_or("unseen".to_owned(), |c| format!("{c:.0} ms after")),
        next.by,
    );
    if early {
        Verdict::Wrong(format!("while the switchover was in force: {evidence}"))
    } else if !target_hit {
        Verdict::Wrong(format!(
            "the target was never faulted, yet did not take over within the timeout: {evidence}"
        ))
    } else {
        Verdict::AfterTimeout
    }
}

impl Family {
    /// The verdict on the round (counted; violations are errors with their
    /// evidence); whether another mastership began.
    pub(super) fn judge(
        &mut self,
        when: &str,
        kind: SwitchoverFault,
        roles: Roles,
        asked: &mut Asked,
        old: i64,
    ) -> bool {
        let target = self.s.cands[roles.target].name.clone();
        // The winner's command starts a moment after its node: let the
        // witnesses catch up.
        std::thread::sleep(Duration::from_millis(500));
        let files: Vec<Files> = self
            .s
            .cands
            .iter()
            .map(|c| (c.name.clone(), c.trace.clone(), c.work.clone()))
            .collect();
        let (next, odd) = next_mastership(&files, &self.nodes.seen(), old);
        for o in odd {
            self.s.error(format!("{when}: {o}"));
        }
        let exit = asked.child.as_mut().map(|c| {
            let bound = self.timeout + Duration::from_secs(10);
            if !wait_until(bound, || !matches!(c.try_wait(), Ok(None))) {
                let _ = c.kill();
            }
            c.wait().ok().and_then(|s| s.code())
        });
        asked.exit = exit;
        let said = std::fs::read_to_string(&asked.log).unwrap_or_default();
        let said = said.trim();
        let Some(next) = next else {
            let why = self.no_next(roles.m, asked.at, old);
            self.s.error(format!(
                "{when}: no master after the switchover to {target} ({}) within {:?}: {why}; \
                 zkha switchover: {exit:?} {said:?}",
                kind.what(),
                self.timeout + self.s.takeover_bound()
            ));
            return false;
        };
        let v = verdict(
            &next,
            &target,
            asked.at,
            asked.wall_ms,
            self.timeout.as_millis() as f64,
            kind.hits_target(),
        );
        match &v {
            Verdict::ToTarget(ms) => {
                self.so.to_target += 1;
                self.so.slowest_to_target_ms = self.so.slowest_to_target_ms.max(*ms);
                self.s
                    .note(&format!("{target} took over {ms:.0} ms after the request"));
            }
            Verdict::AfterTimeout => {
                self.so.after_timeout += 1;
                self.s.note(&format!(
                    "{} took over {:.0} ms after the request, after the timeout \
                     (the target was faulted)",
                    next.who,
                    next.at - asked.at
                ));
            }
            Verdict::Wrong(why) => {
                self.so.wrong_winners += 1;
                self.s
                    .error(format!("{when}: WRONG WINNER ({}): {why}", kind.what()));
            }
        }
        // The real command says whether the target took over.
        let to_target = matches!(v, Verdict::ToTarget(_));
        match exit {
            Some(Some(0)) if !to_target => self.s.error(format!(
                "{when}: zkha switchover exited 0 but {} took over: {said:?}",
                next.who
            )),
            Some(code) if code != Some(0) && to_target => self.s.error(format!(
                "{when}: zkha switchover exited {code:?} though {target} took over: {said:?}"
            )),
            _ => {}
        }
        true
    }

    /// Why no new mastership came: the master asked to hand over kept its
    /// own (by its trace and its command's file), or nobody is master.
    fn no_next(&self, m: usize, at: f64, old: i64) -> String {
        let c = &self.s.cands[m];
        let kept = c.is_master_by_trace() && c.live_run().is_some_and(|r| r.token == Some(old));
        if !kept {
            return "nobody took over".into();
        }
        let since: Vec<String> = c
            .events()
            .iter()
            .filter(|e| e.t > at && e.event != "work" && e.event != "create")
            .map(|e| {
                format!(
                    "{} {}{} at +{:.0} ms",
                    e.event,
                    e.reason.as_deref().unwrap_or(""),
                    e.token.map_or(String::new(), |t| format!("token {t}")),
                    e.t - at
                )
            })
            .collect();
        format!(
            "the master {} KEPT its mastership (token {old}, its command running): it never \
             handed over; its trace since the request: {since:?}",
            c.name
        )
    }
}

/// The judge on files written here: what it must call a wrong winner and
/// what it must not.
#[cfg(test)]
mod tests {
    use super::*;
    use std::fmt::Write as _;
    use std::path::Path;

    const TIMEOUT: f64 = 8000.0;

    fn dir(name: &str) -> PathBuf {
        let d =
            std::env::temp_dir().join(format!("zkha-chaos-judge-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    /// A candidate's files: its session; masterships `(token, from, to)`
    /// (a `became_master` line and a command writing every 15 ms).
    fn cand(d: &Path, name: &str, session: i64, spans: &[(i64, f64, f64)]) -> Files {
        let (trace, work) = (
            d.join(format!("{name}.trace")),
            d.join(format!("{name}.work")),
        );
        let mut t = format!(
            "{{\"t\":0.0,\"who\":\"{name}\",\"pid\":1,\"event\":\"connected\",\"session\":\"0x{session:x}\"}}\n"
        );
        let mut w = String::new();
        for (pid, &(token, from, to)) in spans.iter().enumerate() {
            let _ = writeln!(
                t,
                "{{\"t\":{from:.3},\"who\":\"{name}\",\"pid\":1,\"event\":\"became_master\",\"token\":{token}}}"
            );
            let mut at = from + 5.0;
            while at <= to {
                let _ = writeln!(w, "{at:.3} {token} {} tick", 100 + pid);
                at += 15.0;
            }
        }
        std::fs::write(&trace, t).unwrap();
        std::fs::write(&work, w).unwrap();
        (name.to_owned(), trace, work)
    }

    fn judge(files: &[Files], seen: &[Seen], target: &str, hit: bool) -> Option<Verdict> {
        let (next, odd) = next_mastership(files, seen, 10);
        assert!(odd.is_empty(), "{odd:?}");
        // Asked at 1000 ms (monotonic) and at 50_000 ms (wall).
        next.map(|n| verdict(&n, target, 1000.0, 50_000, TIMEOUT, hit))
    }

    #[test]
    fn the_target_next_is_right_and_another_before_the_timeout_is_wrong() {
        let d = dir("early");
        // a: the old master (token 10), on a while longer with its token.
        let a = cand(&d, "a", 1, &[(10, 0.0, 1500.0)]);
        let b = cand(&d, "b", 2, &[(20, 1040.0, 3000.0)]);
        let c = cand(&d, "c", 3, &[]);
        let files = [a.clone(), b.clone(), c.clone()];
        assert_eq!(
            judge(&files, &[], "b", false),
            Some(Verdict::ToTarget(40.0))
        );
        // c won instead, 3 s after the request: wrong, fault or not.
        let c = cand(&d, "c", 3, &[(20, 4000.0, 5000.0)]);
        let b = cand(&d, "b", 2, &[(30, 6000.0, 7000.0)]);
        for hit in [false, true] {
            let v = judge(&[a.clone(), b.clone(), c.clone()], &[], "b", hit);
            assert!(
                matches!(&v, Some(Verdict::Wrong(w)) if w.contains("in force") && w.contains("c became master with token 20")),
                "{v:?}"
            );
        }
        // Nobody new: no verdict (the round reports it).
        assert_eq!(judge(&[a], &[], "b", false), None);
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn another_after_the_timeout_is_right_only_when_the_target_was_hit() {
        let d = dir("late");
        let a = cand(&d, "a", 1, &[(10, 0.0, 1500.0)]);
        let c = cand(&d, "c", 3, &[(20, 9100.0, 9500.0)]);
        let files = [a, c];
        assert_eq!(judge(&files, &[], "b", true), Some(Verdict::AfterTimeout));
        let v = judge(&files, &[], "b", false);
        assert!(
            matches!(&v, Some(Verdict::Wrong(w)) if w.contains("never faulted")),
            "{v:?}"
        );
        // Its command started late, but ZooKeeper created its node early
        // (ctime 2 s after the request): wrong.
        let seen = [Seen {
            czxid: 20,
            owner: 3,
            ctime_ms: 52_000,
            at: 9050.0,
        }];
        let v = judge(&files, &seen, "b", true);
        assert!(
            matches!(&v, Some(Verdict::Wrong(w)) if w.contains("in force")),
            "{v:?}"
        );
        let _ = std::fs::remove_dir_all(&d);
    }

    #[test]
    fn the_lowest_new_token_decides_whoever_saw_it() {
        let d = dir("token");
        // The target b claimed (token 20, seen on ZooKeeper) and died before
        // its command started; c won normally later (token 30): the target
        // was next.
        let a = cand(&d, "a", 1, &[(10, 0.0, 1500.0)]);
        let b = cand(&d, "b", 2, &[]);
        let c = cand(&d, "c", 3, &[(30, 4000.0, 5000.0)]);
        let seen = [
            Seen {
                czxid: 10,
                owner: 1,
                ctime_ms: 40_000,
                at: 0.0,
            },
            Seen {
                czxid: 20,
                owner: 2,
                ctime_ms: 50_030,
                at: 1035.0,
            },
        ];
        let files = [a.clone(), b, c.clone()];
        assert_eq!(
            judge(&files, &seen, "b", true),
            Some(Verdict::ToTarget(30.0))
        );
        // The old master's mastership again after a reconnection (its token,
        // a new command) is no new mastership.
        let a = cand(&d, "a", 1, &[(10, 0.0, 500.0), (10, 1200.0, 1500.0)]);
        let v = judge(&[a, c], &[], "b", true);
        assert!(
            matches!(&v, Some(Verdict::Wrong(w)) if w.contains("token 30")),
            "{v:?}"
        );
        // Two witnesses naming two owners of one token: said.
        let x = cand(&d, "x", 8, &[(40, 2000.0, 2100.0)]);
        let seen = [Seen {
            czxid: 40,
            owner: 9,
            ctime_ms: 51_000,
            at: 2000.0,
        }];
        let (_, odd) = next_mastership(&[x], &seen, 10);
        assert_eq!(odd.len(), 2, "{odd:?}");
        let _ = std::fs::remove_dir_all(&d);
    }
}
