//! `zkha run`'s two checks, each a command run with `sh -c` every interval
//! by a thread that keeps a verdict:
//!
//! - readiness of the host (`--ready-cmd`, [`ReadyArgs`]): run on every
//!   candidate, master included, from start to end; the run loop joins the
//!   election after a passing check and takes a standby that is not ready
//!   out of it (a master that is not ready keeps mastership: see
//!   `run/main_loop.rs`, `follow_readiness`);
//! - liveness of the running command (`--health-cmd`, [`HealthArgs`]): run
//!   only while this candidate is master and its command runs, the first
//!   after a start period; a master whose command fails it stops the
//!   command and resigns (`run/liveness.rs`).
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
//! This module only checks and reports (`check.rs` one check, `checker.rs`
//! the thread and its verdict, `flags.rs` the flags); acting on a verdict
//! is the run loop's (`cli/run/`).

mod check;
mod checker;
mod flags;

pub use checker::{CheckSpec, Health, HealthChecker, Purpose};
pub use flags::{HealthArgs, ReadyArgs};

use zkha::error::Argument;

/// The longest interval, timeout or start period, in ms (one hour): longer
/// is a typo.
pub const MAX_MS: u64 = 3_600_000;
/// The most consecutive failures that may be asked for.
pub const MAX_FAILURES: u32 = 1000;

/// A check's command: `sh -c ""` exits 0, so an empty one would always pass.
fn check_cmd(flag: &str, cmd: Option<&str>) -> Result<(), zkha::Error> {
    match cmd {
        Some(cmd) if cmd.trim().is_empty() => Err(zkha::Error::InvalidArgument {
            argument: Argument::Other,
            reason: format!("{flag} {cmd:?}: empty command"),
        }),
        _ => Ok(()),
    }
}

/// A flag in ms that must be `min` (0 or 1) to [`MAX_MS`].
fn check_ms(flag: &str, ms: u64, min: u64) -> Result<(), zkha::Error> {
    if ms < min || ms > MAX_MS {
        return Err(zkha::Error::InvalidArgument {
            argument: Argument::Timeout,
            reason: format!("{flag} {ms}: must be {min} to {MAX_MS} (ms)"),
        });
    }
    Ok(())
}

/// A count of failures in a row: 1 to [`MAX_FAILURES`].
fn check_failures(flag: &str, n: u32) -> Result<(), zkha::Error> {
    if n == 0 || n > MAX_FAILURES {
        return Err(zkha::Error::InvalidArgument {
            argument: Argument::Other,
            reason: format!("{flag} {n}: must be 1 to {MAX_FAILURES}"),
        });
    }
    Ok(())
}
