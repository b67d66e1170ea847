//! The running command's liveness (`--health-cmd`): a check that runs only
//! while this candidate is master and its command runs. A checker starts
//! with each start of the command (its first check after
//! `--health-start-period`) and is stopped (joined, a check in progress
//! killed) as soon as the command is being stopped or has ended, so no
//! check runs on a standby, and each mastership (each restart of the
//! command) starts a fresh checker, start period included.
//!
//! When the checker says unhealthy (`--health-failures` failures in a row)
//! the main loop stops the command (a planned stop, `--stop-timeout`, still
//! master) and resigns, staying a candidate: the breadcrumb says `"left":
//! "unhealthy"` and `zkha_lost_master_total{reason="unhealthy"}` counts it.
//! `zkha_health_ok` is 0 from then until the command is gone, 1 otherwise.

use crate::cli::health::{CheckSpec, HealthArgs, HealthChecker};
use std::sync::Arc;

/// `--health-cmd` and its timing, for each start of the command.
pub(super) struct Liveness {
    /// Changed by a reload (SIGHUP): from the command's next start.
    spec: parking_lot::Mutex<Option<CheckSpec>>,
    /// `<path> on <hosts>`, for the checker's log lines.
    label: String,
}

impl Liveness {
    /// From the (checked) flags.
    pub(super) fn new(args: &HealthArgs, label: String) -> Liveness {
        Liveness {
            spec: parking_lot::Mutex::new(args.spec()),
            label,
        }
    }

    /// New settings (a reload): they apply from the command's next start.
    pub(super) fn set(&self, args: &HealthArgs) {
        *self.spec.lock() = args.spec();
    }

    /// A checker for a command that starts now; `None` without
    /// `--health-cmd`, or when its thread cannot be started (an error line:
    /// the command runs unchecked rather than not at all).
    pub(super) fn start(&self) -> Option<Arc<HealthChecker>> {
        let spec = self.spec.lock().clone()?;
        match HealthChecker::start(spec, self.label.clone()) {
            Ok(checker) => Some(checker),
            Err(e) => {
                log::error!(target: "zkha", "{}: cannot start the health check: {e}: the command runs without one", self.label);
                None
            }
        }
    }
}

/// Stops a command's checker, if it had one: joins its thread, a check in
/// progress killed. Called off the slot lock (it waits for the thread).
pub(super) fn stop(checker: Option<Arc<HealthChecker>>) {
    if let Some(checker) = checker {
        checker.stop();
    }
}
