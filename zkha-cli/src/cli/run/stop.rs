//! Ending the command: a stop `zkha run` asks for (planned, lost, kill),
//! which returns only once every process of the command is gone, and an
//! end of its own (it exited, could not start, its lease lapsed, or its
//! watchdog was killed).

use super::running::Stop;
use super::supervisor::Supervisor;
use crate::cli::watchdog;
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// How a command ended by itself (not stopped by us).
pub(super) struct Exited {
    pub(super) status: ExitStatus,
    /// The watchdog stopped it: the lease ran out (zkha stalled, or could
    /// not renew in time).
    pub(super) lapsed: bool,
    /// It could not be started.
    pub(super) error: Option<String>,
    /// The watchdog itself was killed (OOM killer, a stray signal): its
    /// orphans were killed here; not a clean end.
    pub(super) watchdog_killed: bool,
}

/// How long past a stop's timeout zkha waits for the watchdog before it
/// kills the command itself (the watchdog acts first when it works).
const WATCHDOG_SLACK: Duration = Duration::from_secs(1);

impl Supervisor {
    /// Stops the command (see [`Stop`]) and returns once it is gone: its
    /// watchdog has said `gone` (or exited), which it does only when every
    /// process of the command is gone. The slot lock is not held while waiting, so a loss
    /// of mastership during a planned stop can still turn it into a kill.
    ///
    /// The watchdog holds the lease; zkha holds it too: should the watchdog
    /// not act (stopped, stalled) by the time the lease ends (or a planned
    /// stop's timeout has passed), zkha kills the command's group, the
    /// watchdog and, through its own subreaper, whatever they leave.
    /// Processes that outlive SIGKILL keep this waiting, with an error line
    /// each second: safety before availability.
    pub(super) fn stop(&self, why: &str, how: Stop) -> Option<ExitStatus> {
        let started = Instant::now();
        if how == Stop::Planned {
            // The clean mark's reads, answered while the command stops.
            self.prefetch_mark();
        }
        let timeout = match how {
            Stop::Planned => self.stop_timeout,
            Stop::Lost => self.grace,
            Stop::Kill => Duration::ZERO,
        };
        let checker = {
            let mut slot = self.slot.lock();
            // From here on the end is this stop's to reap and judge, not
            // the main loop's (`exited`): a kill of ours is not the
            // command's own exit, nor a crash.
            let running = slot.as_mut()?;
            running.stopping = true;
            self.metrics.set_command_running(false);
            match how {
                Stop::Kill => self.send("kill\n"),
                _ => self.send(&format!("stop {}\n", timeout.as_millis())),
            }
            running.liveness.take()
        };
        // No health check of a command being stopped (the stop is under
        // way already: this does not delay it).
        super::liveness::stop(checker);
        log::info!(target: "zkha", "{} on {}: stopping {:?} ({why})", self.path, self.hosts, self.command);
        // Test-only: widens the window in which the main loop could take
        // this stop's end for its own (see `exited`).
        super::supervisor::test_delay("ZKHA_TEST_STOP_WAIT_DELAY_MS");
        let mut forced = false;
        let mut said_at = Instant::now();
        // The watchdog's `gone` line or its exit wakes the loop at once (it
        // turned every 2 ms).
        let (exit_fd, status_fd) = self
            .slot
            .lock()
            .as_ref()
            .map(|r| (pidfd(r.watchdog.id()), r.status.try_clone().ok()))
            .unwrap_or_default();
        let status = loop {
            {
                let mut slot = self.slot.lock();
                // Stopped by another stop meanwhile (a planned stop turned
                // into a kill): that one reaped it.
                let running = slot.as_mut()?;
                running.read_status();
                if let Some(code) = running.gone {
                    // Every process of the command is gone: the stop is
                    // over. The watchdog's own clean-up and exit (its
                    // cgroup removed) are not waited for; it is reaped
                    // aside, and sweeps leave it alone meanwhile.
                    let running = slot.take()?;
                    *self.ctl.lock() = None;
                    reap_aside(running.watchdog);
                    break Some(ExitStatus::from_raw(i32::from(code) << 8));
                }
                match running.watchdog.try_wait() {
                    Ok(Some(status)) => {
                        running.read_status();
                        let killed_by_signal = status.signal().is_some();
                        let wd = running.watchdog.id() as i32;
                        *self.ctl.lock() = None;
                        *slot = None;
                        if killed_by_signal && !forced {
                            // Killed during the stop, not by us: a crash.
                            self.unclean.store(true, Ordering::Release);
                        }
                        if killed_by_signal || forced {
                            crate::cli::reaper::CommandCgroup::clean_up_after(wd);
                            let n = crate::cli::reaper::sweep_orphans(&[wd]);
                            if n > 0 {
                                log::error!(target: "zkha", "{} on {}: killed {n} process(es) the watchdog left", self.path, self.hosts);
                            }
                        }
                        break (!killed_by_signal).then_some(status);
                    }
                    Ok(None) => {}
                    Err(e) => {
                        log::error!(target: "zkha", "{} on {}: cannot wait for the watchdog: {e}", self.path, self.hosts);
                    }
                }
                let lease_kill = watchdog::kill_schedule(
                    if self.leased {
                        self.lease_ns.load(Ordering::Acquire)
                    } else {
                        0
                    },
                    self.grace,
                )
                .map(|(_, kill)| kill);
                let overdue = lease_kill.is_some_and(|k| watchdog::boot_ns() >= k)
                    || started.elapsed() >= timeout + WATCHDOG_SLACK;
                if overdue && !forced {
                    // The last resort: never needed while the watchdog works.
                    forced = true;
                    if let Some(pgid) = running.pgid {
                        // SAFETY: the command's own process group.
                        unsafe { libc::kill(-pgid, libc::SIGKILL) };
                    }
                    let _ = running.watchdog.kill();
                    log::error!(target: "zkha", "{} on {}: the watchdog did not stop {:?} in time: killing its process group and the watchdog", self.path, self.hosts, self.command);
                }
                if running.survivors > 0 && said_at.elapsed() >= Duration::from_secs(1) {
                    said_at = Instant::now();
                    log::error!(target: "zkha", "{} on {}: {} process(es) of {:?} outlived SIGKILL: mastership is held until they are gone", self.path, self.hosts, running.survivors, self.command);
                }
            }
            wait_for_exit(
                exit_fd.as_ref(),
                status_fd.as_ref(),
                Duration::from_millis(2),
            );
        };
        if forced {
            self.unclean.store(true, Ordering::Release);
        }
        log::info!(target: "zkha", "{} on {}: {:?} stopped ({})", self.path, self.hosts, self.command, crate::cli::narrate::stopped_text(status));
        status
    }

    /// The command's end, if it ended without being told to.
    pub(super) fn exited(&self) -> Option<Exited> {
        let mut slot = self.slot.lock();
        let running = slot.as_mut()?;
        if running.stopping {
            return None;
        }
        running.read_status();
        let status = running.watchdog.try_wait().ok()??;
        self.metrics.set_command_running(false);
        running.read_status();
        let mut running = slot.take()?;
        *self.ctl.lock() = None;
        let checker = running.liveness.take();
        // The watchdog never dies by a signal of its own accord: it was
        // killed, and whatever the command started came to us (a
        // subreaper). Kill it all before anything else happens.
        let watchdog_killed = status.signal().is_some();
        if watchdog_killed {
            crate::cli::reaper::CommandCgroup::clean_up_after(running.watchdog.id() as i32);
            let n = crate::cli::reaper::sweep_orphans(&[]);
            self.unclean.store(true, Ordering::Release);
            log::error!(target: "zkha", "{} on {}: the watchdog of {:?} was killed ({status}): killed the {n} process(es) it left; the breadcrumb stays unclean", self.path, self.hosts, self.command);
        }
        // Its health check ends with it (off the slot lock: it waits for
        // the checker's thread).
        drop(slot);
        super::liveness::stop(checker);
        Some(Exited {
            status,
            lapsed: running.lapsed,
            error: running.error,
            watchdog_killed,
        })
    }
}

/// Reaps a watchdog that said `gone` (its command is over; it is only
/// cleaning up and exiting) on a thread of its own, so no zombie is left;
/// until then it is kept as a helper, which no sweep of orphans kills.
fn reap_aside(mut watchdog: std::process::Child) {
    let helper = crate::cli::reaper::keep_as_helper(watchdog.id() as i32);
    let reaped = std::thread::Builder::new()
        .name("zkha-reap-watchdog".into())
        .spawn(move || {
            let _ = watchdog.wait();
            drop(helper);
        });
    if let Err(e) = reaped {
        log::warn!(target: "zkha", "cannot start a thread to reap the watchdog ({e}): a sweep reaps it");
    }
}

/// A pidfd of our child `pid` (not reaped yet, so the pid is still its
/// own): readable once it exits. `None` where the kernel has no pidfd
/// (before Linux 5.3): the stop then looks every 2 ms.
fn pidfd(pid: u32) -> Option<std::os::fd::OwnedFd> {
    use std::os::fd::FromRawFd;
    // SAFETY: pidfd_open takes a pid and flags and returns a new fd or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid as libc::pid_t, 0) };
    // SAFETY: a new fd of ours, owned from here on.
    (fd >= 0).then(|| unsafe { std::os::fd::OwnedFd::from_raw_fd(fd as i32) })
}

/// Waits up to `limit` for the process of `fd` to exit or for a line on
/// the watchdog's `status` pipe (at once if either is there), or sleeps
/// `limit` without a pidfd.
fn wait_for_exit(
    fd: Option<&std::os::fd::OwnedFd>,
    status: Option<&std::fs::File>,
    limit: Duration,
) {
    use std::os::fd::AsRawFd;
    let Some(fd) = fd else {
        std::thread::sleep(limit);
        return;
    };
    let mut p = [fd.as_raw_fd(), status.map_or(-1, |s| s.as_raw_fd())].map(|fd| libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    });
    // SAFETY: a valid array of two pollfd for the duration of the call (a
    // negative fd is ignored by poll).
    let n = unsafe { libc::poll(p.as_mut_ptr(), 2, limit.as_millis() as libc::c_int) };
    if n < 0 {
        // Interrupted: the loop looks again, as after a timeout.
        std::thread::sleep(Duration::from_micros(100));
    }
}
