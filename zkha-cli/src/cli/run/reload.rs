//! `systemctl reload` (SIGHUP): `zkha run --config FILE` reads its file
//! again. What can change while running changes at once: the readiness
//! check (`ready-*`: the checker restarts with the new settings) and the
//! liveness check (`health-*`: from the command's next start). Everything
//! else (hosts, path, timeouts, the command, the fence, metrics...) is
//! fixed for the life of the process: a change there is said, one line per
//! setting, as needing a restart, and the running values stay.
//!
//! The file is read as at start-up, by the reader `main.rs` hands to
//! `run` (`config_file::expand` of the same command line, then clap): a
//! file that no longer parses is an error line and nothing changes.

use super::RunArgs;

/// What a re-read of the file says.
pub(super) struct Reread {
    /// The new arguments (the readiness and liveness checks' settings
    /// are compared by the main loop, with those it applied last).
    pub args: RunArgs,
    /// Settings that differ from the running ones but need a restart.
    pub need_restart: Vec<&'static str>,
}

/// Which settings that need a restart differ between `old` (the running
/// ones) and `new`.
pub(super) fn compare(old: &RunArgs, new: RunArgs) -> Reread {
    let same =
        |a: &dyn std::fmt::Debug, b: &dyn std::fmt::Debug| format!("{a:?}") == format!("{b:?}");
    let mut need_restart = Vec::new();
    let fixed: [(&'static str, bool); 9] = [
        (
            "the election (hosts, path, data, profile, mode, timeouts, name, priority, credentials)",
            same(&old.election, &new.election),
        ),
        ("logging", same(&old.log, &new.log)),
        ("grace", old.grace == new.grace),
        ("stop-timeout", old.stop_timeout == new.stop_timeout),
        ("on-exit", old.on_exit == new.on_exit),
        ("on-crash", same(&old.on_crash, &new.on_crash)),
        ("the fence (fence-cmd, fence-timeout, fence-backoff)", same(&old.fence, &new.fence)),
        ("metrics-addr", old.metrics_addr == new.metrics_addr),
        ("command", old.command == new.command),
    ];
    for (name, unchanged) in fixed {
        if !unchanged {
            need_restart.push(name);
        }
    }
    Reread {
        need_restart,
        args: new,
    }
}
