//! What a scenario did and found, added up over scenarios.

/// What a scenario did and found.
#[derive(Debug, Default, Clone)]
pub struct Stats {
    /// Faults injected (and checked to have been injected).
    pub faults: usize,
    /// Faults after which another candidate became master and ran its command.
    pub failovers: usize,
    /// Overlapping masterships by the candidates' traces.
    pub trace_overlaps: usize,
    /// Overlapping commands by their own files.
    pub blackbox_overlaps: usize,
    /// The longest black-box overlap, in ms.
    pub max_overlap_ms: f64,
    /// Tokens going down (both checkers).
    pub token_regressions: usize,
    /// Stale lines after a command's own freeze, fenced by an older token.
    pub stale: usize,
    /// The longest time from a fault to the takeover it should cause, in ms.
    pub max_takeover_ms: f64,
    /// What went wrong besides overlaps (a fault not injected, no master, no
    /// takeover, a command outliving its supervisor, …).
    pub errors: Vec<String>,
    /// The switchover family's own counts (zero elsewhere).
    pub switchover: SwitchoverStats,
}

/// What the switchover family (`zkha switchover --to B` under faults) did
/// and found.
#[derive(Debug, Default, Clone, Copy)]
pub struct SwitchoverStats {
    /// Faults injected during a switchover (rounds without one not counted).
    pub faults: usize,
    /// Switchovers asked for.
    pub switchovers: usize,
    /// The next master was the target.
    pub to_target: usize,
    /// The next master was another candidate, after the switchover's
    /// timeout, the target having been faulted (killed, stopped, cut off).
    pub after_timeout: usize,
    /// The next master was another candidate while the switchover was in
    /// force, or although the target was never faulted.
    pub wrong_winners: usize,
    /// The slowest switchover to the target (from the request to the
    /// target's node), in ms.
    pub slowest_to_target_ms: f64,
}

impl std::ops::AddAssign for SwitchoverStats {
    fn add_assign(&mut self, o: SwitchoverStats) {
        self.faults += o.faults;
        self.switchovers += o.switchovers;
        self.to_target += o.to_target;
        self.after_timeout += o.after_timeout;
        self.wrong_winners += o.wrong_winners;
        self.slowest_to_target_ms = self.slowest_to_target_ms.max(o.slowest_to_target_ms);
    }
}

impl Stats {
    /// K: what both checkers found.
    pub fn overlaps(&self) -> usize {
        self.trace_overlaps + self.blackbox_overlaps
    }

    /// Nothing went wrong.
    pub fn ok(&self) -> bool {
        self.overlaps() == 0
            && self.token_regressions == 0
            && self.switchover.wrong_winners == 0
            && self.errors.is_empty()
    }
}

impl std::ops::AddAssign for Stats {
    fn add_assign(&mut self, o: Stats) {
        self.faults += o.faults;
        self.failovers += o.failovers;
        self.trace_overlaps += o.trace_overlaps;
        self.blackbox_overlaps += o.blackbox_overlaps;
        self.max_overlap_ms = self.max_overlap_ms.max(o.max_overlap_ms);
        self.token_regressions += o.token_regressions;
        self.stale += o.stale;
        self.max_takeover_ms = self.max_takeover_ms.max(o.max_takeover_ms);
        self.errors.extend(o.errors);
        self.switchover += o.switchover;
    }
}
