//! The black-box checker: commands by their own files.

use crate::*;

/// What the black-box checker found.
#[derive(Debug, Default)]
pub struct BlackBox {
    pub overlaps: usize,
    pub max_overlap_ms: f64,
    pub regressions: usize,
    pub stale: usize,
}

/// A stretch of one command's lines without a freeze gap.
pub(crate) struct Segment<'a> {
    pub(crate) run: &'a CmdRun,
    pub(crate) first: f64,
    pub(crate) last: f64,
    /// Began after a gap: the command was frozen and woke up.
    pub(crate) after_freeze: bool,
}

pub(crate) fn segments(run: &CmdRun) -> Vec<Segment<'_>> {
    let mut out = Vec::new();
    let mut times = run.times.clone();
    times.sort_by(f64::total_cmp);
    let mut start = 0;
    for i in 1..=times.len() {
        if i == times.len() || times[i] - times[i - 1] > FREEZE_GAP_MS {
            out.push(Segment {
                run,
                first: times[start],
                last: times[i - 1],
                after_freeze: start > 0,
            });
            start = i;
        }
    }
    out
}

/// The black-box checker over every command of a scenario.
pub fn blackbox_check(runs: &[CmdRun], t0: f64, label: &str) -> BlackBox {
    let mut found = BlackBox::default();
    let segs: Vec<Segment> = runs.iter().flat_map(segments).collect();
    // Overlap per pair of commands: (pid, pid) -> ms.
    let mut pairs: std::collections::BTreeMap<(u32, u32), f64> = Default::default();
    for (i, a) in segs.iter().enumerate() {
        for b in &segs[i + 1..] {
            // One command's own processes (one tree) may write together.
            if a.run.pid == b.run.pid || (a.run.cand == b.run.cand && a.run.tree == b.run.tree) {
                continue;
            }
            let (from, to) = (a.first.max(b.first), a.last.min(b.last));
            if from > to {
                continue;
            }
            // Stale work of a command that was itself frozen, with an older
            // token than the one that ran meanwhile, stopped by its
            // supervisor (which woke with it) within the grace period:
            // fenced off.
            let older = |x: &Segment, y: &Segment| {
                x.after_freeze
                    && x.last - x.first <= STALE_MAX_MS
                    && matches!((x.run.token, y.run.token), (Some(p), Some(q)) if p < q)
            };
            if older(a, b) || older(b, a) {
                let (s, o) = if older(a, b) { (a, b) } else { (b, a) };
                eprintln!(
                    "chaos: [{label}] stale (fenced): {} (pid {}, token {:?}) woke from a freeze and wrote \
                     [{:.0}, {:.0}] ms while {} (pid {}, token {:?}) ran",
                    s.run.cand,
                    s.run.pid,
                    s.run.token,
                    s.first - t0,
                    s.last - t0,
                    o.run.cand,
                    o.run.pid,
                    o.run.token
                );
                found.stale += 1;
                continue;
            }
            let key = (a.run.pid.min(b.run.pid), a.run.pid.max(b.run.pid));
            let ms = pairs.entry(key).or_insert(0.0);
            *ms += to - from;
            eprintln!(
                "chaos: [{label}] BLACK-BOX OVERLAP: {} (pid {}, token {:?}) wrote [{:.0}, {:.0}] ms and {} \
                 (pid {}, token {:?}) wrote [{:.0}, {:.0}] ms: both for {:.0} ms",
                a.run.cand,
                a.run.pid,
                a.run.token,
                a.first - t0,
                a.last - t0,
                b.run.cand,
                b.run.pid,
                b.run.token,
                b.first - t0,
                b.last - t0,
                to - from
            );
        }
    }
    found.overlaps = pairs.len();
    found.max_overlap_ms = pairs.values().copied().fold(0.0, f64::max);
    let mut sorted: Vec<&CmdRun> = runs.iter().collect();
    sorted.sort_by(|a, b| a.first.total_cmp(&b.first));
    let mut max: Option<i64> = None;
    for r in sorted {
        match (r.token, max) {
            (None, _) => {
                eprintln!(
                    "chaos: [{label}] BLACK-BOX: the command of {} (pid {}) had no token",
                    r.cand, r.pid
                );
                found.regressions += 1;
            }
            (Some(t), Some(m)) if t < m => {
                eprintln!(
                    "chaos: [{label}] BLACK-BOX TOKEN REGRESSION: {} (pid {}) started with token {t} after {m}",
                    r.cand, r.pid
                );
                found.regressions += 1;
            }
            (Some(t), _) => max = Some(max.map_or(t, |m| m.max(t))),
        }
    }
    found
}
