//! `zkha pause` and `zkha resume`, run as an operator runs them (straight
//! to the ensemble, not through any candidate's proxies), with when each
//! was run and what it said.

use crate::*;
use std::path::Path;
use std::process::Command;

/// One `zkha pause` or `zkha resume`: when it was run and returned
/// (CLOCK_MONOTONIC ms), its exit code and what it printed.
#[derive(Debug, Clone)]
pub(crate) struct Asked {
    pub(crate) at: f64,
    pub(crate) returned: f64,
    pub(crate) code: Option<i32>,
    pub(crate) said: String,
}

impl Asked {
    /// Exit 0 and the master's acknowledgement reported.
    pub(crate) fn acknowledged(&self) -> bool {
        self.code == Some(0) && self.said.contains("acknowledged")
    }
}

/// Runs `zkha <what> --hosts <hosts> --path <path> <extra>`.
pub(crate) fn zkha(
    zkha: &Path,
    what: &str,
    hosts: &str,
    path: &str,
    extra: &[&str],
) -> Result<Asked, String> {
    let at = monotonic_ms();
    let out = Command::new(zkha)
        .env("RUST_LOG", "zkha=info,warn")
        .args([what, "--hosts", hosts, "--path", path])
        .args(extra)
        .output()
        .map_err(|e| format!("zkha {what}: {e}"))?;
    let returned = monotonic_ms();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
    .trim()
    .to_owned();
    Ok(Asked {
        at,
        returned,
        code: out.status.code(),
        said,
    })
}
