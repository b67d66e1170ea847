//! Health checks for `zkha run` (`--health-cmd`): a thread runs the check
//! command every interval and keeps a verdict, which the run loop reads to
//! leave the contention when the service it guards is unhealthy (a master
//! that cannot serve must not keep the lock, as Hadoop's ZKFC does) and to
//! rejoin it after one passing check.
//!
//! The check is `sh -c CMD` with stdin null and stdout/stderr inherited
//! (its output goes to zkha's log stream), without zkha's secrets
//! (ZKHA_SASL_PASSWORD, ZKHA_DIGEST) or any descriptor above 2 (zkha's
//! ZooKeeper socket, the C client's self-pipe), in a process group of its own so
//! that a check still running at its timeout is killed whole: `sh` and
//! whatever it started. The kill is sent before `sh` is reaped, so the group
//! id cannot have been reused by then. The checker never runs two checks at
//! once: the interval is measured from start to start, and a check that
//! outlasts it is followed by the next at once.
//!
//! This module only checks and reports; leaving and rejoining the
//! contention is the run loop's (src/cli/run.rs).

mod check;
mod checker;

pub use checker::{Health, HealthChecker};

use clap::Args;
use std::sync::Arc;
use std::time::Duration;
use zkha::error::Argument;

/// The longest interval or timeout, in ms (one hour): longer is a typo.
pub const MAX_MS: u64 = 3_600_000;
/// The most consecutive failures that may be asked for.
pub const MAX_FAILURES: u32 = 1000;

/// `zkha run`'s health-check flags.
#[derive(Debug, Args)]
pub struct HealthArgs {
    /// A health check, run with `sh -c` every --health-interval; exit status
    /// 0 means healthy. After --health-failures failures in a row the
    /// candidate leaves the contention (a master first stops its command);
    /// one passing check brings it back. Without it: always healthy.
    #[arg(long, value_name = "CMD")]
    pub health_cmd: Option<String>,
    /// Time between the starts of two checks, in ms.
    #[arg(long, value_name = "MS", default_value_t = 1000)]
    pub health_interval: u64,
    /// A check still running after this many ms is killed (its whole
    /// process group) and counts as a failure.
    #[arg(long, value_name = "MS", default_value_t = 2000)]
    pub health_timeout: u64,
    /// Consecutive failed checks that make the candidate unhealthy.
    #[arg(long, value_name = "N", default_value_t = 3)]
    pub health_failures: u32,
}

impl HealthArgs {
    /// Checks the flags, naming the flag and in the unit the user typed.
    pub fn validate(&self) -> Result<(), zkha::Error> {
        if let Some(cmd) = &self.health_cmd {
            if cmd.trim().is_empty() {
                // `sh -c ""` exits 0: an empty check would always pass.
                return Err(zkha::Error::InvalidArgument {
                    argument: Argument::Other,
                    reason: format!("--health-cmd {cmd:?}: empty command"),
                });
            }
        }
        check_ms("--health-interval", self.health_interval)?;
        check_ms("--health-timeout", self.health_timeout)?;
        if self.health_failures == 0 || self.health_failures > MAX_FAILURES {
            return Err(zkha::Error::InvalidArgument {
                argument: Argument::Other,
                reason: format!(
                    "--health-failures {}: must be 1 to {MAX_FAILURES}",
                    self.health_failures
                ),
            });
        }
        Ok(())
    }

    /// Starts a checker from the flags, `None` without `--health-cmd`.
    /// `label` as in [`HealthChecker::start`]. Call [`validate`] first.
    ///
    /// [`validate`]: HealthArgs::validate
    pub fn start(&self, label: String) -> std::io::Result<Option<Arc<HealthChecker>>> {
        let Some(cmd) = &self.health_cmd else {
            return Ok(None);
        };
        HealthChecker::start(
            cmd.clone(),
            Duration::from_millis(self.health_interval),
            Duration::from_millis(self.health_timeout),
            self.health_failures,
            label,
        )
        .map(Some)
    }
}

/// A flag in ms that must be 1 to [`MAX_MS`].
fn check_ms(flag: &str, ms: u64) -> Result<(), zkha::Error> {
    if ms == 0 || ms > MAX_MS {
        return Err(zkha::Error::InvalidArgument {
            argument: Argument::Timeout,
            reason: format!("{flag} {ms}: must be 1 to {MAX_MS} (ms)"),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::checker::tests::wait_for;
    use super::*;

    fn args(cmd: Option<&str>, interval: u64, timeout: u64, failures: u32) -> HealthArgs {
        HealthArgs {
            health_cmd: cmd.map(str::to_owned),
            health_interval: interval,
            health_timeout: timeout,
            health_failures: failures,
        }
    }

    fn invalid(a: HealthArgs) -> String {
        match a.validate() {
            Err(e @ zkha::Error::InvalidArgument { .. }) => e.to_string(),
            other => panic!("expected InvalidArgument, got {other:?}"),
        }
    }

    #[test]
    fn validate_names_the_flag_and_unit() {
        assert!(args(Some("true"), 1000, 2000, 3).validate().is_ok());
        assert!(args(None, 1, MAX_MS, 1000).validate().is_ok());
        assert!(args(Some("true"), MAX_MS, 1, 1).validate().is_ok());

        let e = invalid(args(None, 0, 2000, 3));
        assert!(
            e.contains("--health-interval 0: must be 1 to 3600000 (ms)"),
            "{e}"
        );
        let e = invalid(args(None, MAX_MS + 1, 2000, 3));
        assert!(
            e.contains("--health-interval 3600001: must be 1 to 3600000 (ms)"),
            "{e}"
        );
        let e = invalid(args(None, 1000, 0, 3));
        assert!(
            e.contains("--health-timeout 0: must be 1 to 3600000 (ms)"),
            "{e}"
        );
        let e = invalid(args(None, 1000, u64::MAX, 3));
        assert!(
            e.contains(&format!(
                "--health-timeout {}: must be 1 to 3600000 (ms)",
                u64::MAX
            )),
            "{e}"
        );
        let e = invalid(args(None, 1000, 2000, 0));
        assert!(e.contains("--health-failures 0: must be 1 to 1000"), "{e}");
        let e = invalid(args(None, 1000, 2000, 1001));
        assert!(
            e.contains("--health-failures 1001: must be 1 to 1000"),
            "{e}"
        );
        let e = invalid(args(Some("  "), 1000, 2000, 3));
        assert!(e.contains("--health-cmd \"  \": empty command"), "{e}");
    }

    #[test]
    fn flags_parse_with_their_defaults() {
        use clap::Parser;
        #[derive(Debug, Parser)]
        struct Cli {
            #[command(flatten)]
            health: HealthArgs,
        }
        let cli = Cli::try_parse_from(["zkha"]).unwrap();
        assert_eq!(cli.health.health_cmd, None);
        assert_eq!(
            (
                cli.health.health_interval,
                cli.health.health_timeout,
                cli.health.health_failures
            ),
            (1000, 2000, 3)
        );
        assert!(cli.health.start("x".into()).unwrap().is_none());
        let cli = Cli::try_parse_from([
            "zkha",
            "--health-cmd",
            "true",
            "--health-interval",
            "10",
            "--health-timeout",
            "500",
            "--health-failures",
            "2",
        ])
        .unwrap();
        assert_eq!(cli.health.health_cmd.as_deref(), Some("true"));
        let h = cli.health.start("x".into()).unwrap().expect("a checker");
        assert!(wait_for(|| h.state() == Health::Healthy));
    }
}
