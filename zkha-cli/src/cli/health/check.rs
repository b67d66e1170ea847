//! One run of the health check: `sh -c CMD` in a process group of its own,
//! without zkha's secrets or descriptors, waited for up to its timeout, and
//! its whole group killed if it is still running then (or on a stop); the
//! outcome in words, for the log and `last_outcome`.

use crate::cli::{child_fds, reaper, secure};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

/// How often a running check is looked at (exit, timeout, stop).
const POLL: Duration = Duration::from_millis(5);

/// How one check ended.
pub(super) enum Outcome {
    Passed(String),
    Failed(String),
    /// Stopped while running: killed and reaped, not counted.
    Stopped,
}

/// Runs `cmd` once, to its end, its `timeout` or a stop. Between two looks
/// at the running check, `stop_or_wait(until)` says whether to stop now
/// (true: the check is killed and reaped, [`Outcome::Stopped`]), or waits
/// until `until` at most, or a stop, whichever comes first (false).
pub(super) fn run(
    cmd: &str,
    timeout: Duration,
    mut stop_or_wait: impl FnMut(Instant) -> bool,
) -> Outcome {
    let mut command = Command::new("sh");
    command
        .arg("-c")
        .arg(cmd)
        .stdin(Stdio::null())
        .process_group(0);
    secure::remove_secrets(&mut command);
    // SAFETY: runs in the forked child before exec; close_from is
    // async-signal-safe and allocates nothing.
    unsafe {
        command.pre_exec(|| {
            // None of zkha's descriptors (its ZooKeeper socket, the C
            // client's self-pipe) reaches the check.
            child_fds::close_from(3);
            Ok(())
        });
    }
    // Recorded as a helper until reaped: never mistaken for an orphan
    // of a killed watchdog (`reaper.rs`).
    let child = reaper::spawn_helper(&mut command);
    let (mut child, _helper) = match child {
        Ok(c) => c,
        Err(e) => return Outcome::Failed(format!("cannot start sh: {e}")),
    };
    let deadline = Instant::now() + timeout;
    loop {
        match child.try_wait() {
            Ok(Some(status)) => return judge(status),
            Ok(None) => {}
            Err(e) => {
                // Cannot happen for our own unreaped child; kill and
                // reap it rather than lose track of it.
                kill_and_reap(&mut child);
                return Outcome::Failed(format!("cannot wait for sh: {e}"));
            }
        }
        let now = Instant::now();
        if now >= deadline {
            kill_and_reap(&mut child);
            return Outcome::Failed(format!(
                "timed out after {} ms (killed)",
                timeout.as_millis()
            ));
        }
        if stop_or_wait((now + POLL).min(deadline)) {
            kill_and_reap(&mut child);
            return Outcome::Stopped;
        }
    }
}

/// Passed on exit status 0; anything else fails.
fn judge(status: ExitStatus) -> Outcome {
    match (status.code(), status.signal()) {
        (Some(0), _) => Outcome::Passed("exit status 0".into()),
        (Some(code), _) => Outcome::Failed(format!("exit status {code}")),
        (None, Some(sig)) => Outcome::Failed(format!("killed by signal {sig}")),
        (None, None) => Outcome::Failed(format!("{status}")),
    }
}

/// SIGKILLs the check's whole process group, then reaps `sh`. The group id
/// is `sh`'s pid (`process_group(0)`), which stays taken until `sh` is
/// reaped here, so the kill cannot reach a group that reused the id. What
/// `sh` started is killed too; being orphaned, it is reaped by init.
fn kill_and_reap(child: &mut Child) {
    let Ok(pgid) = libc::pid_t::try_from(child.id()) else {
        // Not a pid (cannot happen on Linux): kill `sh` alone.
        let _ = child.kill();
        let _ = child.wait();
        return;
    };
    // SAFETY: kill(2) takes plain integers; `-pgid` names the group of our
    // own child, which is not reaped yet (see above). An error (ESRCH: the
    // group is already gone) is harmless.
    unsafe { libc::kill(-pgid, libc::SIGKILL) };
    // Blocks only until the SIGKILLed `sh` is dead; it reaps it.
    let _ = child.wait();
}
