//! One pause round judged from the commands' own files alone: when the
//! master's command last wrote, and when the next mastership's command
//! (another candidate's, or the master's own with another token) first
//! wrote, against the pause's deadline counted from just before `zkha
//! pause` ran.

use crate::*;

/// How long after the deadline a cut-off master's command may still write:
/// its supervisor (or watchdog) acts at the deadline, less the drift bound
/// (1 %), counted from its acknowledgement's send, which came after the
/// ask; the command writes every 15 ms and `stop` on SIGTERM.
pub(crate) const STOP_SLACK_MS: f64 = 300.0;

/// What the round did, on CLOCK_MONOTONIC (ms).
#[derive(Debug, Clone)]
pub(crate) struct Facts {
    /// The master's name and its command's token.
    pub(crate) master: String,
    pub(crate) token: i64,
    /// Just before `zkha pause` ran.
    pub(crate) asked: f64,
    pub(crate) length_ms: f64,
    pub(crate) session_ms: f64,
    /// When the fault cut the master off (blackhole, SIGSTOP), if it did.
    pub(crate) cut: Option<f64>,
    /// Just before a `zkha resume` ran that the master acknowledged.
    pub(crate) resumed: Option<f64>,
}

impl Facts {
    pub(crate) fn deadline(&self) -> f64 {
        self.asked + self.length_ms
    }
}

/// The round's verdict.
#[derive(Debug, Clone, Default)]
pub(crate) struct Judged {
    /// The next mastership: who, its command's first line, its token.
    pub(crate) next: Option<(String, f64, Option<i64>)>,
    /// Why the next mastership came too early, if it did.
    pub(crate) early: Option<String>,
    /// The master's command's last line.
    pub(crate) master_last: Option<f64>,
    /// Cut off: whether the master's command ran past the cut plus the
    /// session timeout (its lease without the pause).
    pub(crate) kept_past_lease: Option<bool>,
    /// Cut off: why the master's command stopped too late, if it did.
    pub(crate) late_stop: Option<String>,
}

/// Judges a round from every command run of its candidates.
pub(crate) fn judge(runs: &[CmdRun], f: &Facts) -> Judged {
    let is_master = |r: &CmdRun| r.cand == f.master && r.token == Some(f.token);
    let master_last = runs
        .iter()
        .filter(|r| is_master(r) && r.first <= f.asked)
        .map(|r| r.last)
        .reduce(f64::max);
    let next = runs
        .iter()
        .filter(|r| r.first > f.asked && !is_master(r))
        .min_by(|a, b| a.first.total_cmp(&b.first))
        .map(|r| (r.cand.clone(), r.first, r.token));
    let deadline = f.deadline();
    let early = next.as_ref().and_then(|(who, first, token)| {
        let released = f.resumed.is_some_and(|r| *first > r);
        (*first < deadline && !released).then(|| {
            format!(
                "{who} started its command (token {token:?}) {:.0} ms after zkha pause --for {:.0}ms \
                 ran, {:.0} ms before the pause's deadline{}",
                first - f.asked,
                f.length_ms,
                deadline - first,
                if f.resumed.is_some() {
                    " and before the acknowledged resume"
                } else {
                    ""
                }
            )
        })
    });
    let (mut kept_past_lease, mut late_stop) = (None, None);
    if let (Some(cut), Some(last)) = (f.cut, master_last) {
        kept_past_lease = Some(last >= cut + f.session_ms);
        if last > deadline + STOP_SLACK_MS {
            late_stop = Some(format!(
                "{}'s command (token {}) wrote {:.0} ms after the pause's deadline \
                 (cut off {:.0} ms after zkha pause ran)",
                f.master,
                f.token,
                last - deadline,
                cut - f.asked
            ));
        }
    }
    Judged {
        next,
        early,
        master_last,
        kept_past_lease,
        late_stop,
    }
}

/// The judge on runs made up here: what it must call early or late and
/// what it must not.
#[cfg(test)]
mod tests {
    use super::*;

    fn run(cand: &str, pid: u32, token: i64, first: f64, last: f64) -> CmdRun {
        CmdRun {
            cand: cand.into(),
            pid,
            token: Some(token),
            first,
            last,
            stopped: true,
            tree: pid,
            term: None,
            times: vec![first, last],
        }
    }

    fn facts(cut: Option<f64>, resumed: Option<f64>) -> Facts {
        // Paused at 1000 for 6 s: the deadline is 7000.
        Facts {
            master: "a".into(),
            token: 10,
            asked: 1000.0,
            length_ms: 6000.0,
            session_ms: 2000.0,
            cut,
            resumed,
        }
    }

    #[test]
    fn a_standby_before_the_deadline_is_early_unless_a_resume_was_acknowledged() {
        let runs = [
            run("a", 1, 10, 0.0, 2000.0),
            run("b", 2, 20, 5000.0, 9000.0),
        ];
        let j = judge(&runs, &facts(None, None));
        assert!(
            j.early.as_deref().is_some_and(|e| e.contains("b started")),
            "{j:?}"
        );
        assert_eq!(j.next.as_ref().map(|n| n.0.as_str()), Some("b"));
        // After an acknowledged resume: released.
        assert!(judge(&runs, &facts(None, Some(4000.0))).early.is_none());
        // A resume after the start does not excuse it.
        assert!(judge(&runs, &facts(None, Some(5500.0))).early.is_some());
        // After the deadline: fine.
        let runs = [
            run("a", 1, 10, 0.0, 6900.0),
            run("b", 2, 20, 7100.0, 9000.0),
        ];
        assert!(judge(&runs, &facts(None, None)).early.is_none());
        // The master's own new mastership (another token) counts too.
        let runs = [
            run("a", 1, 10, 0.0, 3000.0),
            run("a", 3, 30, 3500.0, 9000.0),
        ];
        assert!(judge(&runs, &facts(None, None)).early.is_some());
    }

    #[test]
    fn a_cut_off_master_must_outlive_its_lease_and_stop_by_the_deadline() {
        // Cut at 1500 with T = 2000: its lease would have ended by 3500.
        let runs = [run("a", 1, 10, 0.0, 6950.0)];
        let j = judge(&runs, &facts(Some(1500.0), None));
        assert_eq!(j.kept_past_lease, Some(true));
        assert!(j.late_stop.is_none(), "{j:?}");
        assert_eq!(j.master_last, Some(6950.0));
        let j = judge(&[run("a", 1, 10, 0.0, 2500.0)], &facts(Some(1500.0), None));
        assert_eq!(j.kept_past_lease, Some(false));
        let j = judge(&[run("a", 1, 10, 0.0, 7400.0)], &facts(Some(1500.0), None));
        assert!(
            j.late_stop
                .as_deref()
                .is_some_and(|l| l.contains("400 ms after")),
            "{j:?}"
        );
        // Not cut off: neither is judged.
        let j = judge(&[run("a", 1, 10, 0.0, 9400.0)], &facts(None, None));
        assert!(j.kept_past_lease.is_none() && j.late_stop.is_none());
    }
}
