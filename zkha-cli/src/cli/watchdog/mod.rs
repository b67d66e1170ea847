//! The fence that does not need zkha's threads: `zkha run` starts its
//! command under this small process (`zkha __watchdog`, the same binary),
//! which holds the lease deadline itself on CLOCK_BOOTTIME (it keeps
//! counting through suspend) and kills the command's process group so that
//! it is dead when the lease ends, whatever happens to `zkha run`: stopped
//! by SIGSTOP, blocked writing to a full pipe, swapped out, or dead.
//!
//! Everything the command starts is contained: the watchdog is a child
//! subreaper (`reaper.rs`), so processes that leave the command's process
//! group (setsid, setpgid, a double fork) still come back to it when their
//! parent dies. Every stop signals the group and then each descendant, and
//! the command counts as running until the last of its processes is gone:
//! a command that daemonizes and exits 0 is still running while its
//! daemon is. Each step signals first and only then says so, and nothing
//! the watchdog writes can block it (its diagnostics go over the status
//! pipe, which is non-blocking, or to a non-blocking stderr).
//!
//! Protocol, one line each, on the control pipe from `zkha run`:
//! - `extend <ns>`: the lease now ends at `<ns>` on CLOCK_BOOTTIME (also
//!   while stopping: a planned stop holds mastership until the command is
//!   gone);
//! - `lease <ns>`: the lease now ends at `<ns>`, even if that is sooner
//!   (a maintenance pause ended: back to the renewals' lease);
//! - `session <client id>`: the session to end if `zkha run` dies
//!   (`--on-crash handover`); sent over the pipe, never on argv (a secret);
//! - `stop <ms>`: SIGTERM now, SIGKILL after `<ms>` or when the lease
//!   ends, whichever comes first; the watchdog exits once every process of
//!   the command is gone;
//! - `kill`: the lease ended (the node is gone or another's): SIGKILL now.
//!
//! End of file on the control pipe without `stop` means `zkha run` died
//! (panic, SIGKILL, OOM kill): the watchdog kills and reaps the group and
//! then, with `handover`, attaches to the saved session and closes it, so
//! the master node goes at once and a standby takes over in milliseconds
//! instead of a session timeout. With `hold` it leaves the session for a
//! restarted `zkha run --session-file` to reattach.
//!
//! Back on the status pipe: `started <pid>`, `forked <code>` (the first
//! process exited, others live on), `lapsed` (the deadline came without an
//! extension), `survivors <n>` (processes outlived SIGKILL), `log <level>
//! <text>` (a diagnostic for `zkha run` to log), `error <text>` (the
//! command could not start), `gone <code>` (every process of the command
//! is gone; what follows is the watchdog's own clean-up and exit, so a
//! stop need not wait for them).
//! The watchdog's exit status is the command's (128+N for signal N), the
//! code `gone` says.
//!
//! One job per file: the arguments, the kill schedule and the setup here;
//! the command's process tree (`tree.rs`), the status pipe (`status.rs`),
//! the loop that enforces the lease and obeys the control pipe
//! (`event_loop.rs`), and the session's handover (`handover.rs`).

mod event_loop;
mod handover;
mod status;
mod tree;

use super::common::exit;
use clap::{Args, ValueEnum};
use event_loop::Watch;
use status::Status;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;
use std::time::Duration;
use tree::Tree;

/// What the watchdog does with the session when `zkha run` dies while
/// master.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OnCrash {
    /// Kill the command, then end the session so a standby takes over at
    /// once.
    Handover,
    /// Kill the command, keep the session for a restart that reattaches
    /// with `--session-file`.
    Hold,
}

impl OnCrash {
    pub fn as_str(self) -> &'static str {
        match self {
            OnCrash::Handover => "handover",
            OnCrash::Hold => "hold",
        }
    }
}

/// Time the watchdog keeps between the command's SIGKILL and the lease's
/// end, for the kill to take effect and the group to be reaped.
pub const KILL_MARGIN: Duration = Duration::from_millis(50);

/// `zkha __watchdog` arguments (internal: `zkha run` passes them).
#[derive(Debug, Args)]
pub struct WatchdogArgs {
    /// Control pipe (read end).
    #[arg(long)]
    pub ctl_fd: RawFd,
    /// Status pipe (write end).
    #[arg(long)]
    pub status_fd: RawFd,
    /// SIGTERM → SIGKILL grace, ms.
    #[arg(long)]
    pub grace: u64,
    /// The initial lease deadline, ns on CLOCK_BOOTTIME (0: no lease).
    #[arg(long)]
    pub deadline_ns: u64,
    /// ZooKeeper hosts, for the handover.
    #[arg(long)]
    pub hosts: String,
    /// Session timeout to ask for when attaching, ms.
    #[arg(long)]
    pub session_timeout: u64,
    /// What to do with the session if `zkha run` dies.
    #[arg(long, value_enum)]
    pub on_crash: OnCrash,
    /// `zkha run`'s TLS / SASL flags, for the handover's session.
    #[command(flatten)]
    pub secure: super::secure::SecureArgs,
    /// The command.
    #[arg(last = true, required = true)]
    pub command: Vec<String>,
}

/// Nanoseconds on CLOCK_BOOTTIME: the lease's clock, the deadlines on the
/// pipe.
pub fn boot_ns() -> u64 {
    zkha::clock::BootInstant::now().as_nanos()
}

/// When, given the lease `deadline` (ns), the command gets SIGTERM and
/// SIGKILL: SIGKILL `KILL_MARGIN` before the deadline, SIGTERM `grace`
/// before that. No deadline (0): never.
pub fn kill_schedule(deadline: u64, grace: Duration) -> Option<(u64, u64)> {
    if deadline == 0 {
        return None;
    }
    let kill = deadline.saturating_sub(KILL_MARGIN.as_nanos() as u64);
    Some((kill.saturating_sub(grace.as_nanos() as u64), kill))
}

/// When a command told to stop now gets SIGKILL: after the grace, but never
/// later than the lease allows.
fn stop_deadline(deadline: u64, grace: Duration) -> u64 {
    let kill = boot_ns() + grace.as_nanos() as u64;
    kill_schedule(deadline, grace).map_or(kill, |(_, k)| kill.min(k))
}

fn set_cloexec(fd: RawFd) {
    // SAFETY: fcntl on a descriptor we were handed; failure leaves it as is.
    unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
}

fn set_nonblocking(fd: RawFd) {
    // SAFETY: fcntl on a descriptor we own; failure leaves it blocking.
    unsafe {
        let flags = libc::fcntl(fd, libc::F_GETFL);
        if flags >= 0 {
            libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK);
        }
    }
}

/// `zkha __watchdog`: starts the command and holds it to the lease until
/// every process of it is gone; the command's exit status.
pub fn run(args: WatchdogArgs) -> Result<u8, Box<dyn std::error::Error>> {
    // zkha run decides; a terminal's SIGINT or a stray SIGTERM must not take
    // the fence away (a handler, not SIG_IGN: the command must not inherit it).
    super::signals::install(&[libc::SIGINT, libc::SIGTERM, libc::SIGHUP]);
    set_cloexec(args.ctl_fd);
    set_cloexec(args.status_fd);
    // SAFETY: zkha run handed us these two descriptors, open, for us alone.
    let ctl = unsafe { OwnedFd::from_raw_fd(args.ctl_fd) };
    // SAFETY: as above.
    let status_file = unsafe { std::fs::File::from_raw_fd(args.status_fd) };
    set_nonblocking(status_file.as_raw_fd());
    let mut status = Status {
        pipe: Some(status_file),
    };
    let grace = Duration::from_millis(args.grace);
    // Everything the command starts stays below us, whatever it does with
    // its process group.
    if let Err(e) = super::reaper::become_subreaper() {
        status.say(&format!("error cannot become a subreaper: {e}"));
        return Ok(exit::CANNOT_START);
    }
    // A cgroup of the command's own where one can be made (see reaper.rs).
    let cgroup = super::reaper::CommandCgroup::create();
    match &cgroup {
        Some(cg) => status.say(&format!("contained cgroup {}", cg.path().display())),
        None => status.say("contained subreaper"),
    };
    let sigchld = event_loop::sigchld_fd()?;

    // A lease that ends before the command could even be stopped in time:
    // do not start it (zkha run starts it again after a renewal).
    // Test-only: a watchdog slow to get here (a loaded machine).
    test_delay("ZKHA_TEST_WATCHDOG_START_DELAY_MS");
    if let Some((term, _)) = kill_schedule(args.deadline_ns, grace) {
        if boot_ns() >= term {
            status.say("lapsed");
            return Ok(exit::CANNOT_START);
        }
    }

    let Some(mut tree) = Tree::start(&args.command, cgroup, &mut status) else {
        return Ok(exit::CANNOT_START);
    };
    let timer = event_loop::boot_timer()?;
    let mut watch = Watch::new(&args, &mut tree, &mut status, &ctl, &timer, &sigchld);
    watch.run()?;
    let (crashed, session) = (watch.crashed, watch.session.take());
    let code = tree
        .first
        .map_or(exit::ERROR, |st| exit::code_of(ExitStatus::from_raw(st)));
    // Every process of the command is gone (no child is left, and orphans
    // come to us): `zkha run` may let mastership go now, before this
    // process's own clean-up and exit.
    status.say(&format!("gone {code}"));
    test_delay("ZKHA_TEST_WATCHDOG_EXIT_DELAY_MS");
    tree.remove_cgroup();
    if crashed && args.on_crash == OnCrash::Handover {
        if let Some(id) = session.as_deref().and_then(|s| s.parse().ok()) {
            handover::handover(&args, id, &mut status);
        }
    }
    drop(ctl);
    Ok(code)
}

/// A test-only pause (read only by tests that widen a window): sleeps the
/// milliseconds `var` says.
fn test_delay(var: &str) {
    if let Some(ms) = std::env::var(var).ok().and_then(|v| v.parse::<u64>().ok()) {
        std::thread::sleep(Duration::from_millis(ms));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kill_schedule_ends_before_the_lease() {
        let ms = 1_000_000u64;
        assert_eq!(kill_schedule(0, Duration::from_millis(300)), None);
        assert_eq!(
            kill_schedule(1000 * ms, Duration::from_millis(300)),
            Some((650 * ms, 950 * ms))
        );
        // A grace longer than what is left: SIGTERM at once (saturating).
        assert_eq!(
            kill_schedule(100 * ms, Duration::from_millis(300)),
            Some((0, 50 * ms))
        );
    }
}
