//! `systemctl reload` (SIGHUP): `zkha run --config FILE` reads its file
//! again. What can change while running changes at once: the readiness
//! check (`ready-*`: the checker restarts with the new settings) and the
//! liveness check (`health-*`: from the command's next start). Everything
//! else (hosts, path, timeouts, the command, the fence, metrics...) is
//! fixed for the life of the process: a change there is said, one line per
//! setting, as needing a restart, and the running values stay.
//!
//! The file is read as at start-up (`config_file::expand` of the same
//! command line, then clap): a file that no longer parses is an error line
//! and nothing changes.

use super::RunArgs;

/// What a re-read of the file says.
pub(super) struct Reread {
    /// The new arguments (the readiness and liveness checks' settings
    /// are compared by the main loop, with those it applied last).
    pub args: RunArgs,
    /// Settings that differ from the running ones but need a restart.
    pub need_restart: Vec<&'static str>,
}

/// Reads the configuration again from the process's own command line, and
/// compares it with `old`. `Err`: why not (no `--config`, a bad file).
pub(super) fn reread(old: &RunArgs) -> Result<Reread, String> {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    let expanded =
        crate::cli::config_file::expand(<crate::Cli as clap::CommandFactory>::command(), args)
            .map_err(|e| e.to_string())?;
    if expanded.origin.is_none() {
        return Err("started without --config: there is no file to read again".into());
    }
    let cli = <crate::Cli as clap::Parser>::try_parse_from(&expanded.args).map_err(|e| {
        e.render()
            .to_string()
            .lines()
            .next()
            .unwrap_or_default()
            .to_owned()
    })?;
    let crate::Command::Run(run) = cli.command else {
        return Err("the command line is not zkha run's".into());
    };
    Ok(compare(old, run.run))
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
