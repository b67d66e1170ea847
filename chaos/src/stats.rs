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
    /// The pause family's own counts (zero elsewhere).
    pub pause: PauseStats,
    /// The guard family's own counts (zero elsewhere).
    pub guard: GuardStats,
    /// The capi family's own counts (zero elsewhere).
    pub capi: CapiStats,
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

/// What the pause family (`zkha pause` under faults) did and found.
#[derive(Debug, Default, Clone, Copy)]
pub struct PauseStats {
    /// Faults injected during a pause.
    pub faults: usize,
    /// `zkha pause` runs.
    pub pauses: usize,
    /// Pauses the master acknowledged (`zkha pause` exited 0 saying so).
    pub acknowledged: usize,
    /// New masterships that began before the pause's deadline (counted from
    /// just before `zkha pause` ran) without an acknowledged resume first.
    pub early: usize,
    /// Rounds whose fault cut the master off from ZooKeeper past its
    /// session timeout.
    pub cut_off: usize,
    /// Of those, masters whose command ran past the lease it would have
    /// had without the pause (the cut plus the session timeout).
    pub kept_past_lease: usize,
    /// Cut-off masters whose command ran past the pause's deadline (and a
    /// small slack).
    pub late_stops: usize,
    /// Maintenance rounds (resets, members or the whole ensemble
    /// restarted) the master rode out with nobody taking over.
    pub maintenance_kept: usize,
    /// Maintenance rounds in which another candidate took over anyway.
    pub maintenance_failovers: usize,
    /// Acknowledged resumes after which a standby took over before the
    /// pause's deadline (the master having stepped down).
    pub released: usize,
    /// The latest a cut-off master's command wrote, from the deadline (ms;
    /// negative: before it).
    pub latest_stop_ms: Option<f64>,
    /// The earliest a standby started after a cut-off master, from the
    /// deadline (ms).
    pub first_takeover_ms: Option<f64>,
}

fn max_opt(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.max(y)),
        (x, y) => x.or(y),
    }
}

fn min_opt(a: Option<f64>, b: Option<f64>) -> Option<f64> {
    match (a, b) {
        (Some(x), Some(y)) => Some(x.min(y)),
        (x, y) => x.or(y),
    }
}

impl std::ops::AddAssign for PauseStats {
    fn add_assign(&mut self, o: PauseStats) {
        self.faults += o.faults;
        self.pauses += o.pauses;
        self.acknowledged += o.acknowledged;
        self.early += o.early;
        self.cut_off += o.cut_off;
        self.kept_past_lease += o.kept_past_lease;
        self.late_stops += o.late_stops;
        self.maintenance_kept += o.maintenance_kept;
        self.maintenance_failovers += o.maintenance_failovers;
        self.released += o.released;
        self.latest_stop_ms = max_opt(self.latest_stop_ms, o.latest_stop_ms);
        self.first_takeover_ms = min_opt(self.first_takeover_ms, o.first_takeover_ms);
    }
}

/// What the guard family (the library's `Mastership` guard and its
/// `fenced()` writes, from `guard_worker` processes) did and found.
#[derive(Debug, Default, Clone, Copy)]
pub struct GuardStats {
    /// Rounds judged.
    pub rounds: usize,
    /// Fenced writes ZooKeeper accepted.
    pub accepted: usize,
    /// Fenced writes refused with `Error::NotMaster`.
    pub refused: usize,
    /// Fenced writes that failed otherwise (connection loss, an expired
    /// session).
    pub failed: usize,
    /// Accepted writes of a deposed master: a smaller token committed after
    /// a larger one, or a write sent after its own loss was told (F).
    pub deposed: usize,
    /// Terms working at the same time (the black-box checker on the work
    /// lines, O).
    pub overlaps: usize,
    /// Work of a term woken from a freeze, with an older token, within
    /// `STALE_MAX_MS` (the black-box checker's stale work).
    pub stale: usize,
    /// Faults after which another worker won the next term.
    pub takeovers: usize,
    /// Resigns and shutdowns after which the next term began only after
    /// the old guard was dropped.
    pub releases_after_drop: usize,
    /// A stopped master's writes in flight across its stop (sent before
    /// it, answered after its wake) that were accepted: committed before
    /// a newer term wrote (otherwise counted in `deposed` too).
    pub in_flight_accepted: usize,
    /// Those that were refused or failed.
    pub in_flight_failed: usize,
    /// A stopped master's writes sent after its wake: refused or failed.
    pub woken_refused: usize,
    /// Those accepted (harmless while no newer term wrote; otherwise
    /// counted in `deposed` too).
    pub woken_accepted: usize,
}

impl std::ops::AddAssign for GuardStats {
    fn add_assign(&mut self, o: GuardStats) {
        self.rounds += o.rounds;
        self.accepted += o.accepted;
        self.refused += o.refused;
        self.failed += o.failed;
        self.deposed += o.deposed;
        self.overlaps += o.overlaps;
        self.stale += o.stale;
        self.takeovers += o.takeovers;
        self.releases_after_drop += o.releases_after_drop;
        self.in_flight_accepted += o.in_flight_accepted;
        self.in_flight_failed += o.in_flight_failed;
        self.woken_refused += o.woken_refused;
        self.woken_accepted += o.woken_accepted;
    }
}

/// What the capi family (the C++ example on the C API and `zkha run`
/// contending, one shared work log) did and found.
#[derive(Debug, Default, Clone, Copy)]
pub struct CapiStats {
    /// Rounds judged.
    pub rounds: usize,
    /// Faults after which another contender took over.
    pub takeovers: usize,
    /// Takeovers by kind of the old and the new master.
    pub cpp_to_rust: usize,
    pub rust_to_cpp: usize,
    pub cpp_to_cpp: usize,
    pub rust_to_rust: usize,
    /// Of the takeovers, those whose faulted master was the C++ program.
    pub cpp_masters_faulted: usize,
    /// Work lines and terms in the logs.
    pub lines: usize,
    pub terms: usize,
    /// A line of an earlier term after a line of a later one (O).
    pub overlaps: usize,
    /// Terms that began with a smaller token than one before them.
    pub regressions: usize,
    /// Terms whose token was checked to be their node's czxid.
    pub czxid_checked: usize,
}

impl std::ops::AddAssign for CapiStats {
    fn add_assign(&mut self, o: CapiStats) {
        self.rounds += o.rounds;
        self.takeovers += o.takeovers;
        self.cpp_to_rust += o.cpp_to_rust;
        self.rust_to_cpp += o.rust_to_cpp;
        self.cpp_to_cpp += o.cpp_to_cpp;
        self.rust_to_rust += o.rust_to_rust;
        self.cpp_masters_faulted += o.cpp_masters_faulted;
        self.lines += o.lines;
        self.terms += o.terms;
        self.overlaps += o.overlaps;
        self.regressions += o.regressions;
        self.czxid_checked += o.czxid_checked;
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
            && self.pause.early == 0
            && self.guard.deposed == 0
            && self.capi.overlaps == 0
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
        self.pause += o.pause;
        self.guard += o.guard;
        self.capi += o.capi;
    }
}
