//! Chaos scenarios for the safe profile, shared by the `chaos` binary
//! (`src/bin/chaos.rs`: `make chaos`, everything) and zkha-cli's
//! `tests/chaos_fast.rs` (the fast ones, in `make test`).
//!
//! Candidates are `zkha run` processes (safe profile) supervising
//! `chaos_worker` (`src/bin/chaos_worker.rs`), a command that knows nothing of zkha and
//! appends `<monotonic_ms> <token> <pid> start|tick|stop` to one file per
//! candidate every 15 ms while it runs. Two checkers judge each scenario:
//!
//! - **black box** (the commands' files, what a user of `zkha run` sees): a
//!   command is alive from its first line to its last; two commands writing
//!   in the same interval are an overlap, and tokens, in the order commands
//!   started, never go down. A gap of more than [`FREEZE_GAP_MS`] in one
//!   command's lines means it was itself frozen (SIGSTOP of the whole
//!   master); lines it writes on waking, carrying an older token than a
//!   command that started meanwhile, for at most [`STALE_MAX_MS`] (its
//!   supervisor woke too and stops it within its grace period), are stale
//!   work that the token fences off: counted (`stale`) and reported, not an
//!   overlap. A command that ran on without a gap while another wrote is
//!   always an overlap.
//! - **trace** (the candidates' own JSON traces): a mastership runs from
//!   `became_master` to its last `work` line. `lost_master`'s `t` and
//!   `valid_until` are not used: they are the candidate's own claim.
//!
//! A command may be a tree of processes (the families of [`Family`]: a
//! child in a session of its own, a daemon, background jobs in groups of
//! their own): every process of it writes to its candidate's file with its
//! own pid and the pid of the tree's root as a fifth field. The black box
//! compares every process with every process of another tree: a command's
//! tree must never write after another command started.
//!
//! One clock for all: CLOCK_MONOTONIC, one machine. K (overlaps) is what
//! both checkers find, added. A scenario also fails (an entry in
//! [`Stats::errors`]) when a fault could not be injected, when nobody was
//! master, when a standby had no watch on the node before a fault (the
//! server's own `wchc` list), when an expected takeover by another candidate
//! did not come within [`Scene::takeover_bound`] (derived from the session
//! timeout: a standby that never set its watch never takes over), or when a
//! command outlived its supervisor. `failovers` counts faults after which another
//! candidate became master and started its command.
//!
//! The modules: [`Stats`] (what a scenario found), `runs` (what traces and
//! commands wrote), `process` (processes seen from outside), `cand` (one
//! candidate), `scene` (a scenario: spawn, fault, wait, [`Scene::finish`]),
//! [`checkers`] (trace and black box), `scenarios` (by where the fault is:
//! processes, network, servers, members) and `families` (the commands and
//! surroundings of issue 22, their stderr pipe, their rounds; and
//! `families/switchover/`, `zkha switchover` under faults, issue 24, with
//! its own judge of who won and its counts, [`SwitchoverStats`]; and
//! `families/pause/`, `zkha pause` under faults and the ensemble's
//! maintenance, issue 25, judged by the pause's deadline, [`PauseStats`];
//! and `families/guard/`, the library's `Mastership` guard and `fenced()`
//! writes from tokio workers (`src/bin/guard_worker.rs`, no `zkha run`),
//! issue 26, judged by the order ZooKeeper committed their writes and by
//! the black-box checker on their work lines, [`GuardStats`]; and
//! `families/capi/`, the C++ example on zkha's C API
//! (`examples/seed_on_capi.cpp`, on libzkha.so) contending with `zkha run`,
//! issue 27, judged by one shared work log in append order, [`CapiStats`]).

mod cand;
pub mod checkers;
mod families;
mod process;
mod runs;
mod scenarios;
mod scene;
mod stats;

pub use cand::Cand;
pub use checkers::blackbox::{blackbox_check, BlackBox};
pub use checkers::trace::trace_check;
pub use families::capi::{compile_example, CapiFault};
pub use families::guard::GuardFault;
pub use families::pause::PauseFault;
pub use families::stderr::StderrPipe;
pub use families::switchover::SwitchoverFault;
pub use families::{Family, Setup, StderrMode, SLOW_STOP_MS};
pub use process::{command_alive, monotonic_ms, parent_of, signal_pid, wait_until, watchdog_of};
pub use runs::{runs, CmdRun};
pub use scenarios::MemberFault;
pub use scene::{Chaos, Scene};
pub use stats::{CapiStats, GuardStats, PauseStats, Stats, SwitchoverStats};

// The harness's own items, for its modules (`use crate::*`).
use families::stderr::pipe;
use families::{JOBS_SCRIPT, SLOW_STOP_TIMEOUT_MS, STOP_TIMEOUT_MS};
use process::{kill_watchdog, whole_master};
use runs::{events, Ev};

/// A gap in one command's lines longer than this (it writes every 15 ms)
/// means the command itself was frozen.
pub const FREEZE_GAP_MS: f64 = 250.0;
/// A command whose last line is younger than this, and not `stop`, is alive.
pub(crate) const LIVE_MS: f64 = 300.0;
/// `zkha run --grace` (its default).
pub(crate) const GRACE_MS: u64 = 300;
/// How long a command woken from a freeze may write with an older token
/// before it counts as an overlap: its supervisor woke with it and has its
/// grace period (SIGTERM, then SIGKILL) to stop it.
pub const STALE_MAX_MS: f64 = GRACE_MS as f64 + FREEZE_GAP_MS;
