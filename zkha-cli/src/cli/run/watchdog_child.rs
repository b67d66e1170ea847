//! The watchdog process `zkha run` starts its command under (`zkha
//! __watchdog`, see `cli/watchdog/`): how it is spawned, with its control
//! and status pipes, and what it says back on the status pipe.

use super::running::Running;
use super::supervisor::Supervisor;
use crate::cli::systemd;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::Command;
use zkha::elector::FencingToken;

impl Supervisor {
    /// Starts the watchdog, which starts the command.
    pub(super) fn spawn(
        &self,
        token: FencingToken,
        deadline: u64,
    ) -> std::io::Result<(Running, std::fs::File)> {
        let (ctl_r, ctl_w) = pipe()?;
        let (status_r, status_w) = pipe()?;
        set_nonblocking(&ctl_w)?;
        set_nonblocking(&status_r)?;
        let mut cmd = Command::new("/proc/self/exe");
        cmd.arg0("zkha-watchdog")
            .arg("__watchdog")
            .args(["--ctl-fd", &WATCHDOG_CTL_FD.to_string()])
            .args(["--status-fd", &WATCHDOG_STATUS_FD.to_string()])
            .args(["--grace", &self.grace.as_millis().to_string()])
            .args(["--deadline-ns", &deadline.to_string()])
            .args(["--hosts", &self.hosts])
            .args(["--session-timeout", &self.session_timeout_ms.to_string()])
            .args(["--on-crash", self.on_crash.as_str()])
            .args(&self.secure)
            .arg("--")
            .args(&self.command)
            // systemd's readiness and watchdog are zkha's: the command's
            // own notifications would confuse them.
            .env_remove(systemd::ENV[0])
            .env_remove(systemd::ENV[1])
            .env_remove(systemd::ENV[2])
            .env("ZKHA_TOKEN", token.value().to_string())
            .env("ZKHA_PATH", &self.path)
            // Its own group: a terminal's Ctrl-C / Ctrl-Z for zkha must not
            // reach the fence.
            .process_group(0);
        let (keep_r, keep_w) = (ctl_r.as_raw_fd(), status_w.as_raw_fd());
        // SAFETY: runs in the forked child before exec; fcntl, dup2 and
        // close_range are async-signal-safe. The two pipe ends we hand over
        // become descriptors 3 and 4 (dup2 clears close-on-exec); every
        // other descriptor above 2 is closed, so the watchdog (and so the
        // command) never holds zkha's ZooKeeper socket or the C client's
        // self-pipe.
        unsafe {
            cmd.pre_exec(move || {
                let r = libc::fcntl(keep_r, libc::F_DUPFD_CLOEXEC, 10);
                let w = libc::fcntl(keep_w, libc::F_DUPFD_CLOEXEC, 10);
                if r < 0
                    || w < 0
                    || libc::dup2(r, WATCHDOG_CTL_FD) < 0
                    || libc::dup2(w, WATCHDOG_STATUS_FD) < 0
                {
                    return Err(std::io::Error::last_os_error());
                }
                crate::cli::child_fds::close_from(WATCHDOG_STATUS_FD + 1);
                Ok(())
            });
        }
        let watchdog = cmd.spawn()?;
        drop((ctl_r, status_w));
        Ok((
            Running {
                watchdog,
                status: status_r.into(),
                pending: String::new(),
                pgid: None,
                lapsed: false,
                error: None,
                session_sent: false,
                survivors: 0,
                stopping: false,
                label: format!("{} on {}", self.path, self.hosts),
                gone: None,
                liveness: None,
            },
            ctl_w.into(),
        ))
    }
}

/// The descriptors the watchdog gets its control and status pipes on.
const WATCHDOG_CTL_FD: i32 = 3;
const WATCHDOG_STATUS_FD: i32 = 4;

fn pipe() -> std::io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0; 2];
    // SAFETY: pipe2 fills the two-element array we own.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: two new descriptors, owned by us from here on.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

fn set_nonblocking(fd: &OwnedFd) -> std::io::Result<()> {
    // SAFETY: fcntl on a descriptor we own.
    let flags = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFL) };
    // SAFETY: as above.
    if flags < 0
        || unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_SETFL, flags | libc::O_NONBLOCK) } < 0
    {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}
