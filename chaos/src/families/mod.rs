//! The families of commands and surroundings (issue 22): their shapes and
//! setups.

/// `sh -c` script of [`Setup::jobs`] (`$0` the worker, `$1` its file): the
/// worker as two background jobs, each in a process group of its own, as a
/// job-control shell (`sh -m`, `set -m`) puts them. The jobs do it
/// themselves (`chaos_worker --job`): `-m` needs a terminal (without one,
/// dash and bash turn job control off; with one, a shell in a background
/// process group stops itself).
pub(crate) const JOBS_SCRIPT: &str =
    "CHAOS_TREE=$$; export CHAOS_TREE; \"$0\" --job \"$1\" & \"$0\" --job \"$1\" & wait";

/// Where a candidate's stderr goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum StderrMode {
    /// Its log file (`<name>.log`).
    #[default]
    Log,
    /// A pipe this program copies into the log file until told to stop
    /// reading ([`StderrPipe`]).
    Stalled,
    /// A pipe whose read end is closed before zkha run starts (EPIPE).
    Broken,
}

/// How the candidates and their commands are set up ([`Scene::setup`]).
#[derive(Debug, Clone, Default)]
pub struct Setup {
    /// chaos_worker's options before its file (`--setsid`, `--daemonize`, …).
    pub worker_args: Vec<String>,
    /// The command is `sh -c` running the worker as two background jobs
    /// ([`JOBS_SCRIPT`]; `worker_args` are not used then).
    pub jobs: bool,
    pub stderr: StderrMode,
    /// Environment of `zkha run` (over `RUST_LOG=zkha=info,warn`).
    pub env: Vec<(String, String)>,
    /// Options of `zkha run`.
    pub zkha_args: Vec<String>,
}

/// How long a `--slow-stop` command takes to stop after SIGTERM: longer
/// than the session timeout (2000 ms in the chaos scenarios).
pub const SLOW_STOP_MS: u64 = 5000;
/// `zkha run --stop-timeout` for the slow-stop family: more than it needs.
pub(crate) const SLOW_STOP_TIMEOUT_MS: u64 = 10_000;
/// `zkha run --stop-timeout` for the other families (when zkha run has the
/// flag): how long a process that ignores SIGTERM holds a planned stop up.
pub(crate) const STOP_TIMEOUT_MS: u64 = 2000;

/// The scenario families of issue 22: commands and surroundings that real
/// deployments have. In each, two candidates whose commands have the
/// family's shape; each round, the fault on the master, a takeover by the
/// other candidate, the master's whole command tree gone (a process of it
/// still alive 2 s after the takeover is an error, and is killed so that
/// the next round can run), a master that left replaced by a fresh
/// candidate. Judged as every scenario: a command's tree must never write
/// after another command started (the black box), masterships must not
/// overlap (the traces).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Family {
    /// `chaos_worker --setsid`: the command's child leaves for a session of
    /// its own and ignores SIGTERM. Fault: SIGTERM to the master's `zkha
    /// run` (odd rounds) or SIGKILL of it (even rounds).
    Setsid,
    /// `chaos_worker --daemonize`: the command double-forks a daemon and
    /// exits 0 at once; the daemon is the work. Fault: SIGTERM or SIGKILL
    /// of `zkha run`, as [`Family::Setsid`].
    Daemonize,
    /// `sh -c` with two background jobs in process groups of their own
    /// ([`JOBS_SCRIPT`]). Fault: SIGTERM or SIGKILL of `zkha run`.
    JobControl,
    /// `zkha run` at `RUST_LOG=debug` and `--zk-log-level debug`, its stderr
    /// a pipe; fault: nobody reads it any more and it is full (checked: a
    /// non-blocking write finds no room). In odd rounds that is all: the
    /// master may keep its mastership (zkha must not stall on its stderr)
    /// or lose it (then the old command must be gone before the takeover);
    /// in even rounds `zkha run` is SIGSTOPped as well until the standby
    /// took over (its watchdog, with the same full stderr, must have killed
    /// the command by then). The pipe is read again after the round; the
    /// old master goes on as a candidate.
    StalledStderr,
    /// `zkha run`'s stderr a pipe whose read end was closed before it
    /// started (EPIPE), the command with a child in its own group
    /// (`--child`). Fault: SIGTERM or SIGKILL of `zkha run`.
    BrokenStderr,
    /// SIGKILL of the master's `zkha-watchdog` (checked: it died) while the
    /// command has a child (`--setsid` and `--child` by turns, per
    /// candidate). `zkha run` must kill the rest and treat it as a crash.
    WatchdogKilled,
    /// `chaos_worker --slow-stop 5000`, `zkha run --stop-timeout 10000`:
    /// SIGTERM to the master's `zkha run`, a planned stop. The standby may
    /// start only after the old command's last line, and the old command
    /// gets its full time: it writes `term`, then `stop` 5 s later (a
    /// command without its `stop` line was killed early: an error).
    SlowStop,
    /// The master's node deleted by another ZooKeeper client (checked: the
    /// delete succeeded), the command slow to stop (`--slow-stop 5000`: a
    /// SIGTERM and `--grace` would leave it writing beside the new master).
    /// The old command must be gone before the new one writes; the old
    /// master stays a candidate.
    NodeDeleted,
}

impl Family {
    pub const ALL: [Family; 8] = [
        Family::Setsid,
        Family::Daemonize,
        Family::JobControl,
        Family::StalledStderr,
        Family::BrokenStderr,
        Family::WatchdogKilled,
        Family::SlowStop,
        Family::NodeDeleted,
    ];

    /// Its name in `make chaos`'s summary (`CHAOS_ONLY` matches it).
    pub fn name(self) -> &'static str {
        match self {
            Family::Setsid => {
                "setsid: the command's child in a session of its own, deaf to SIGTERM; \
                 SIGTERM or SIGKILL to zkha run"
            }
            Family::Daemonize => {
                "daemonize: the command double-forks a daemon and exits 0; \
                 SIGTERM or SIGKILL to zkha run"
            }
            Family::JobControl => {
                "job control: background jobs in process groups of their own; \
                 SIGTERM or SIGKILL to zkha run"
            }
            Family::StalledStderr => {
                "stalled stderr: zkha run's stderr full, nobody reading (debug logs), \
                 every other time zkha run stopped until the takeover"
            }
            Family::BrokenStderr => {
                "broken stderr: EPIPE on zkha run's stderr, the command has a child; \
                 SIGTERM or SIGKILL to zkha run"
            }
            Family::WatchdogKilled => {
                "watchdog killed: SIGKILL to zkha-watchdog while the command has children"
            }
            Family::SlowStop => {
                "slow stop: SIGTERM to zkha run, the command needs 5 s to stop \
                 (--stop-timeout 10000)"
            }
            Family::NodeDeleted => "node deleted: the master's node deleted from outside",
        }
    }

    /// Its scenario directory's name.
    pub(crate) fn label(self) -> &'static str {
        match self {
            Family::Setsid => "setsid",
            Family::Daemonize => "daemonize",
            Family::JobControl => "job-control",
            Family::StalledStderr => "stalled-stderr",
            Family::BrokenStderr => "broken-stderr",
            Family::WatchdogKilled => "watchdog-killed",
            Family::SlowStop => "slow-stop",
            Family::NodeDeleted => "node-deleted",
        }
    }
}

pub(crate) mod capi;
pub(crate) mod guard;
pub(crate) mod pause;
pub(crate) mod run;
pub mod stderr;
pub(crate) mod switchover;
