//! The command while it runs, as `zkha run` sees it: its watchdog process,
//! what the watchdog said back on the status pipe, and how it is to be
//! stopped. A leaf: the supervisor holds one, the stop and spawn paths
//! fill it.

use crate::cli::health::HealthChecker;
use std::process::Child;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// How a running command is to be stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Stop {
    /// A planned end while still master (SIGTERM to zkha, a resign, a
    /// failing `--health-cmd`): SIGTERM, `--stop-timeout`, then SIGKILL;
    /// mastership is renewed meanwhile.
    Planned,
    /// Mastership ended while the lease may still run (a disconnection):
    /// SIGTERM, then SIGKILL after `--grace`, never past the lease.
    Lost,
    /// The lease is over (the node is gone or another's, the session
    /// expired): SIGKILL now.
    Kill,
}

/// The running command: its watchdog process and the pipes to it.
pub(super) struct Running {
    /// The watchdog (`zkha __watchdog`), parent of the command.
    pub(super) watchdog: Child,
    /// Its status pipe (read end, non-blocking).
    pub(super) status: std::fs::File,
    /// Status text not yet split into lines.
    pub(super) pending: String,
    /// The command's process group, once the watchdog said `started`.
    pub(super) pgid: Option<i32>,
    /// The watchdog stopped the command because the lease ran out.
    pub(super) lapsed: bool,
    /// The command could not be started.
    pub(super) error: Option<String>,
    /// The session id was handed over (for `--on-crash handover`).
    pub(super) session_sent: bool,
    /// Processes of the command that outlived SIGKILL (the watchdog's
    /// latest count).
    pub(super) survivors: usize,
    /// A stop is under way: its caller reaps the watchdog and judges the
    /// end (see `Supervisor::stop`).
    pub(super) stopping: bool,
    /// `<path> on <hosts>`: the prefix of the log lines said for it.
    pub(super) label: String,
    /// The watchdog said every process of the command is gone, with the
    /// command's exit code (its own exit status, to come).
    pub(super) gone: Option<u8>,
    /// Its liveness check (`--health-cmd`), started with it; taken and
    /// stopped when it stops or ends (`liveness.rs`).
    pub(super) liveness: Option<Arc<HealthChecker>>,
}

impl Running {
    /// Reads what the watchdog said so far.
    pub(super) fn read_status(&mut self) {
        use std::io::Read;
        let mut buf = [0u8; 1024];
        while let Ok(n) = self.status.read(&mut buf) {
            if n == 0 {
                break;
            }
            self.pending.push_str(&String::from_utf8_lossy(&buf[..n]));
        }
        while let Some(i) = self.pending.find('\n') {
            let line: String = self.pending.drain(..=i).collect();
            let line = line.trim_end();
            match line.split_once(' ').unwrap_or((line, "")) {
                ("started", pid) => self.pgid = pid.parse().ok(),
                ("lapsed", _) => self.lapsed = true,
                ("error", text) => self.error = Some(text.to_owned()),
                ("gone", code) => self.gone = code.parse().ok(),
                ("survivors", n) => self.survivors = n.parse().unwrap_or(0),
                ("contained", how) => {
                    // Once per process: the same each time.
                    static SAID: AtomicBool = AtomicBool::new(false);
                    let level = if SAID.swap(true, Ordering::AcqRel) {
                        log::Level::Debug
                    } else {
                        log::Level::Info
                    };
                    log::log!(target: "zkha", level, "{}: commands are contained by: {how}{}", self.label, if how.starts_with("cgroup") { " and the subreaper" } else { " (no writable cgroup v2 directory)" });
                }
                ("log", rest) => {
                    let (level, text) = rest.split_once(' ').unwrap_or(("info", rest));
                    let level = match level {
                        "error" => log::Level::Error,
                        "warn" => log::Level::Warn,
                        _ => log::Level::Info,
                    };
                    log::log!(target: "zkha", level, "{}: watchdog: {text}", self.label);
                }
                _ => {}
            }
        }
    }
}
