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
}

impl Stats {
    /// K: what both checkers found.
    pub fn overlaps(&self) -> usize {
        self.trace_overlaps + self.blackbox_overlaps
    }

    /// Nothing went wrong.
    pub fn ok(&self) -> bool {
        self.overlaps() == 0 && self.token_regressions == 0 && self.errors.is_empty()
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
    }
}
