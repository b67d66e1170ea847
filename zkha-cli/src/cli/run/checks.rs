//! `zkha run`'s flags, checked before anything starts: the election's
//! configuration, and how `--on-crash`, `--grace` and `--fence-cmd` go with
//! it.

use super::RunArgs;
use crate::cli::watchdog::OnCrash;
use zkha::elector::{ElectorConfig, Profile};

/// The election's configuration from `args`, with the C client's logging
/// applied, once every flag checked out (a bad one is an
/// [`InvalidArgument`](zkha::Error::InvalidArgument): exit code 2).
pub(super) fn checked_config(args: &RunArgs) -> Result<ElectorConfig, Box<dyn std::error::Error>> {
    let mut config = args.election.config()?;
    config.log_to_rust = args.log.apply()?;
    if config.profile == Profile::Safe {
        // Registered as not ready until the first passing readiness check;
        // the registry tells a switchover how long a handover may take.
        config.ready = args.ready.ready_cmd.is_none();
        config.stop_timeout = std::time::Duration::from_millis(args.stop_timeout);
    }
    crate::cli::flags::validate(&args.election, &config)?;
    if let (Some(OnCrash::Handover), Some(file)) = (args.on_crash, &config.session_file) {
        return Err(zkha::Error::InvalidArgument {
            argument: zkha::error::Argument::Other,
            reason: format!(
                "--on-crash handover cannot go with --session-file {}: a zkha run restarted \
                 with the session file reattaches to the session that the old one's watchdog \
                 ends (use --on-crash hold, the default with --session-file)",
                file.display()
            ),
        }
        .into());
    }
    // Checked now, not when the elector starts: with a readiness check that
    // is only after the first passing check.
    config.validate()?;
    let leased = config.profile == Profile::Safe;
    let session_ms = config.session_timeout.as_millis() as u64;
    // The command must be dead before the lease ends (half the session
    // timeout, renewed every fifth): the grace has to fit well inside.
    if leased && args.grace.saturating_mul(4) >= session_ms {
        return Err(zkha::Error::InvalidArgument {
            argument: zkha::error::Argument::Timeout,
            reason: format!(
                "--grace ({} ms) must be under a quarter of --session-timeout ({session_ms} ms): \
                 the command has to be gone before the lease (half the session timeout) ends",
                args.grace
            ),
        }
        .into());
    }
    args.ready.validate()?;
    args.health.validate()?;
    if !leased && args.fence.fence_cmd.is_some() {
        return Err(zkha::Error::InvalidArgument {
            argument: zkha::error::Argument::Other,
            reason: "--fence-cmd needs the safe profile: the seed profile leaves no breadcrumb \
                     (it reproduces the C++ design, which has none)"
                .into(),
        }
        .into());
    }
    Ok(config)
}
