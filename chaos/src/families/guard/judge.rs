//! A guard round judged from its side effects alone: the workers' own
//! files (`NAME.guard`: terms, losses, drops and every fenced write's
//! outcome with the record's mzxid) and the shared work file (`work`).
//!
//! - **Deposed writes (F).** The accepted writes (`ok`) of every worker in
//!   mzxid order, the order ZooKeeper committed them: their tokens must
//!   never go down. A write with a smaller token committed after one with a
//!   larger token is a deposed master's write that ZooKeeper accepted. A
//!   write sent after its own worker was told of its term's loss and
//!   accepted all the same is one too.
//! - **Overlaps (O).** The work lines of one term (one worker, one token)
//!   are a command run for the black-box checker (`checkers/blackbox.rs`,
//!   the same definitions as every scenario: two terms working in the same
//!   interval are an overlap; a term woken from a freeze, with an older
//!   token, working at most `STALE_MAX_MS` is stale work, counted apart).
//! - **The release waits for the guard.** After a resign or a shutdown,
//!   the next term begins only after the deposed master's `drop` line
//!   (written just before its guard is dropped).

use crate::*;
use std::collections::BTreeMap;
use std::path::Path;

/// One fenced write's outcome.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Outcome {
    Ok { mzxid: i64 },
    Fenced,
    Error(String),
}

/// One fenced write, as its worker wrote it.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Write {
    pub(crate) name: String,
    pub(crate) token: i64,
    pub(crate) seq: u64,
    pub(crate) outcome: Outcome,
    pub(crate) sent: f64,
    pub(crate) done: f64,
}

/// One term of one worker.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Term {
    pub(crate) name: String,
    pub(crate) token: i64,
    /// Its `master` line.
    pub(crate) began: f64,
    /// Its `lost` line: the reason and when.
    pub(crate) lost: Option<(String, f64)>,
    /// Its `drop` line: just before the guard was dropped.
    pub(crate) dropped: Option<f64>,
}

/// What one worker's file says.
#[derive(Debug, Default)]
pub(crate) struct Sheet {
    pub(crate) terms: Vec<Term>,
    pub(crate) writes: Vec<Write>,
    /// Its `exit` line.
    pub(crate) exited: Option<f64>,
    /// Lines it could not read.
    pub(crate) bad: Vec<String>,
}

fn f(v: Option<&str>) -> Option<f64> {
    v?.parse().ok()
}

/// Reads a worker's file (`NAME.guard`).
pub(crate) fn sheet(text: &str) -> Sheet {
    let mut s = Sheet::default();
    for line in text.lines() {
        let w: Vec<&str> = line.split_whitespace().collect();
        let num = |i: usize| w.get(i).and_then(|v| v.parse::<i64>().ok());
        let ok = (|| -> Option<()> {
            match *w.first()? {
                "master" => s.terms.push(Term {
                    name: w.get(1)?.to_string(),
                    token: num(2)?,
                    began: f(w.get(3).copied())?,
                    ..Term::default()
                }),
                "lost" | "drop" => {
                    let token = num(2)?;
                    let t = s.terms.iter_mut().rev().find(|t| t.token == token)?;
                    if w[0] == "lost" {
                        t.lost = Some((w.get(3)?.to_string(), f(w.get(4).copied())?));
                    } else {
                        t.dropped = Some(f(w.get(3).copied())?);
                    }
                }
                "ok" | "fenced" | "error" => {
                    let (outcome, at) = match w[0] {
                        "ok" => (Outcome::Ok { mzxid: num(4)? }, 5),
                        "fenced" => (Outcome::Fenced, 4),
                        _ => (Outcome::Error(w.get(6..)?.join(" ")), 4),
                    };
                    s.writes.push(Write {
                        name: w.get(1)?.to_string(),
                        token: num(2)?,
                        seq: w.get(3)?.parse().ok()?,
                        outcome,
                        sent: f(w.get(at).copied())?,
                        done: f(w.get(at + 1).copied())?,
                    });
                }
                "exit" => s.exited = Some(f(w.get(2).copied())?),
                _ => return None,
            }
            Some(())
        })();
        if ok.is_none() {
            s.bad.push(line.to_owned());
        }
    }
    s
}

/// The shared work file's runs: one per (worker, token), as the black-box
/// checker's command runs (a pid of their own each: a worker's two terms
/// are two commands).
pub(crate) fn work_runs(text: &str) -> Vec<CmdRun> {
    let mut by: BTreeMap<(String, i64), Vec<f64>> = BTreeMap::new();
    for line in text.lines() {
        let w: Vec<&str> = line.split_whitespace().collect();
        if let ["work", name, token, t] = w[..] {
            if let (Ok(token), Ok(t)) = (token.parse(), t.parse()) {
                by.entry((name.to_string(), token)).or_default().push(t);
            }
        }
    }
    let mut runs: Vec<CmdRun> = by
        .into_iter()
        .enumerate()
        .map(|(i, ((cand, token), times))| {
            let first = times.iter().copied().fold(f64::INFINITY, f64::min);
            let last = times.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            CmdRun {
                cand,
                pid: i as u32 + 1,
                token: Some(token),
                first,
                last,
                stopped: true,
                tree: i as u32 + 1,
                term: None,
                times,
            }
        })
        .collect();
    runs.sort_by(|a, b| a.first.total_cmp(&b.first));
    runs
}

/// A round's verdict.
#[derive(Debug, Default)]
pub(crate) struct Judged {
    pub(crate) accepted: usize,
    pub(crate) refused: usize,
    /// Writes that failed otherwise (connection loss, an expired session).
    pub(crate) failed: usize,
    /// Deposed writes accepted, each said.
    pub(crate) deposed: Vec<String>,
    /// A stopped master's writes in flight across its stop (sent before,
    /// answered after its wake): accepted (committed before a newer term
    /// wrote, else also in `deposed`), and refused or failed.
    pub(crate) in_flight_accepted: usize,
    pub(crate) in_flight_failed: usize,
    /// Its writes sent after its wake: refused or failed, and accepted.
    pub(crate) woken_refused: usize,
    pub(crate) woken_accepted: usize,
}

/// A master stopped (SIGSTOP) and woken: its name, token, when it was
/// stopped and woken.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Stopped<'a> {
    pub(crate) name: &'a str,
    pub(crate) token: i64,
    pub(crate) stop: f64,
    pub(crate) wake: f64,
}

/// Judges a round's writes: `sheets` every worker's file; `stopped` the
/// deposed master's term stopped and woken (a SIGSTOP round).
pub(crate) fn judge_writes(sheets: &[Sheet], stopped: Option<Stopped>) -> Judged {
    let mut j = Judged::default();
    let writes: Vec<&Write> = sheets.iter().flat_map(|s| s.writes.iter()).collect();
    let mut oks: Vec<(&Write, i64)> = Vec::new();
    for w in &writes {
        match w.outcome {
            Outcome::Ok { mzxid } => {
                j.accepted += 1;
                oks.push((w, mzxid));
            }
            Outcome::Fenced => j.refused += 1,
            Outcome::Error(_) => j.failed += 1,
        }
        if let Some(st) = stopped.filter(|st| w.name == st.name && w.token == st.token) {
            let ok = matches!(w.outcome, Outcome::Ok { .. });
            if w.sent < st.stop && w.done >= st.wake {
                *(if ok {
                    &mut j.in_flight_accepted
                } else {
                    &mut j.in_flight_failed
                }) += 1;
            } else if w.sent >= st.wake {
                *(if ok {
                    &mut j.woken_accepted
                } else {
                    &mut j.woken_refused
                }) += 1;
            }
        }
    }
    // In commit order, tokens never go down.
    oks.sort_by_key(|&(_, mzxid)| mzxid);
    let mut max: Option<&Write> = None;
    for &(w, mzxid) in &oks {
        match max {
            Some(m) if w.token < m.token => j.deposed.push(format!(
                "{} (token {}) write #{} committed at mzxid {mzxid:#x} after {} (token {}) \
                 wrote #{}: a deposed master's write accepted",
                w.name, w.token, w.seq, m.name, m.token, m.seq
            )),
            Some(m) if w.token <= m.token => {}
            _ => max = Some(w),
        }
    }
    // A write sent after its own loss was told, accepted.
    for s in sheets {
        for t in &s.terms {
            let Some((reason, at)) = &t.lost else {
                continue;
            };
            for w in s
                .writes
                .iter()
                .filter(|w| w.token == t.token && w.sent > *at)
            {
                if matches!(w.outcome, Outcome::Ok { .. }) {
                    j.deposed.push(format!(
                        "{} (token {}) write #{} sent {:.0} ms after its term was lost \
                         ({reason}) and accepted",
                        w.name,
                        w.token,
                        w.seq,
                        w.sent - at
                    ));
                }
            }
        }
    }
    j
}

/// After a resign or a shutdown of `victim`'s term: the next term (a
/// larger token) must begin after the victim's guard was dropped. Why not,
/// if it did not.
pub(crate) fn release_waited(sheets: &[Sheet], victim: (&str, i64)) -> Result<(), String> {
    let terms: Vec<&Term> = sheets.iter().flat_map(|s| s.terms.iter()).collect();
    let old = terms
        .iter()
        .find(|t| t.name == victim.0 && t.token == victim.1)
        .ok_or_else(|| format!("no term {} of {}", victim.1, victim.0))?;
    let dropped = old
        .dropped
        .ok_or_else(|| format!("{} never dropped its guard of term {}", old.name, old.token))?;
    match terms
        .iter()
        .filter(|t| t.token > old.token)
        .min_by(|a, b| a.began.total_cmp(&b.began))
    {
        Some(next) if next.began < dropped => Err(format!(
            "{} became master (token {}) {:.0} ms before {} dropped its guard of term {} \
             (the node was released while the guard was held)",
            next.name,
            next.token,
            dropped - next.began,
            old.name,
            old.token
        )),
        _ => Ok(()),
    }
}

/// Reads the round's files: every `*.guard` file of `names` in `dir` and
/// the work file.
pub(crate) fn read(dir: &Path, names: &[String]) -> (Vec<Sheet>, Vec<CmdRun>) {
    let sheets = names
        .iter()
        .map(|n| {
            sheet(&std::fs::read_to_string(dir.join(format!("{n}.guard"))).unwrap_or_default())
        })
        .collect();
    let work = std::fs::read_to_string(dir.join("work")).unwrap_or_default();
    (sheets, work_runs(&work))
}

/// The judge on files made up here: what it must call a deposed write and
/// what it must not.
#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_smaller_token_committed_after_a_larger_one_is_a_deposed_write() {
        let a = sheet(
            "master a 10 100.0\n\
             ok a 10 1 500 110.0 111.0\n\
             ok a 10 2 502 130.0 131.0\n\
             lost a 10 resigned 140.0\n\
             fenced a 10 3 150.0 150.1\n\
             drop a 10 200.0\n",
        );
        let b = sheet(
            "master b 20 210.0\n\
             ok b 20 1 510 220.0 221.0\n\
             error b 20 2 240.0 245.0 connection loss\n",
        );
        let j = judge_writes(&[a, b], None);
        assert_eq!((j.accepted, j.refused, j.failed), (3, 1, 1));
        assert!(j.deposed.is_empty(), "{:?}", j.deposed);
        // a's write committed after b's: deposed.
        let a = sheet("master a 10 100.0\nok a 10 1 500 110.0 111.0\nok a 10 2 520 300.0 301.0\n");
        let b = sheet("master b 20 210.0\nok b 20 1 510 220.0 221.0\n");
        let stopped = Stopped {
            name: "a",
            token: 10,
            stop: 120.0,
            wake: 290.0,
        };
        let j = judge_writes(&[a, b], Some(stopped));
        assert_eq!(j.deposed.len(), 1, "{:?}", j.deposed);
        assert!(
            j.deposed[0].contains("token 10) write #2"),
            "{:?}",
            j.deposed
        );
        assert_eq!((j.woken_accepted, j.woken_refused), (1, 0));
        // In flight across the stop, committed before b: not deposed.
        let a = sheet("master a 10 100.0\nok a 10 1 505 115.0 295.0\nfenced a 10 2 300.0 301.0\n");
        let b = sheet("master b 20 210.0\nok b 20 1 510 220.0 221.0\n");
        let j = judge_writes(&[a, b], Some(stopped));
        assert!(j.deposed.is_empty(), "{:?}", j.deposed);
        assert_eq!((j.in_flight_accepted, j.woken_refused), (1, 1));
        // Accepted after its own loss was told, with nobody newer: deposed.
        let a = sheet("master a 10 100.0\nlost a 10 node_lost 120.0\nok a 10 1 500 130.0 131.0\n");
        assert_eq!(judge_writes(&[a], None).deposed.len(), 1);
    }

    #[test]
    fn the_next_term_must_begin_after_the_drop() {
        let a = sheet("master a 10 100.0\nlost a 10 resigned 140.0\ndrop a 10 700.0\n");
        let late = sheet("master b 20 710.0\n");
        assert!(release_waited(&[a, late], ("a", 10)).is_ok());
        let a = sheet("master a 10 100.0\nlost a 10 resigned 140.0\ndrop a 10 700.0\n");
        let early = sheet("master b 20 160.0\n");
        let e = release_waited(&[a, early], ("a", 10)).unwrap_err();
        assert!(e.contains("540 ms before"), "{e}");
    }

    #[test]
    fn work_lines_make_one_run_per_term() {
        let runs = work_runs(
            "work a 10 100.0\nwork a 10 120.0\nwork b 20 200.0\nwork a 30 300.0\nwork a 30 320.0\n",
        );
        assert_eq!(runs.len(), 3);
        assert_eq!(
            (runs[0].token, runs[0].first, runs[0].last),
            (Some(10), 100.0, 120.0)
        );
        assert_ne!(runs[0].pid, runs[2].pid);
        let bb = blackbox_check(&runs, 0.0, "test");
        assert_eq!((bb.overlaps, bb.regressions), (0, 0));
        // Two terms at once: an overlap.
        let runs = work_runs("work a 10 100.0\nwork b 20 110.0\nwork a 10 120.0\n");
        assert_eq!(blackbox_check(&runs, 0.0, "test").overlaps, 1);
    }
}
