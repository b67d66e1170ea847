//! The watchdog's loop: it waits on a CLOCK_BOOTTIME timer (the next step
//! of the kill schedule), on SIGCHLD (a process of the command exited) and
//! on the control pipe from `zkha run`, and puts the command's processes
//! through their phases (running, terminating, killed) until none is left.

use super::status::Status;
use super::tree::Tree;
use super::{boot_ns, kill_schedule, stop_deadline, WatchdogArgs};
use crate::cli::common::exit;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;
use std::time::Duration;

/// What the command's processes are being put through.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Phase {
    /// Running under the lease.
    Running,
    /// SIGTERM sent; SIGKILL at this instant (ns) unless the lease ends first.
    Terminating(u64),
    /// SIGKILL sent; waiting until every process is gone.
    Killed,
}

/// How often, once SIGKILL was sent, the survivors are killed again (a
/// fork that raced the kill) and reported.
const KILL_AGAIN: Duration = Duration::from_millis(100);
const REPORT_SURVIVORS: Duration = Duration::from_secs(1);

/// SIGCHLD through a signalfd: any child's exit (the command's first
/// process, or an orphan re-parented here) wakes the loop. Made before the
/// command starts (its child unblocks SIGCHLD before exec).
pub(super) fn sigchld_fd() -> io::Result<OwnedFd> {
    // SAFETY: builds a signal set we own and blocks SIGCHLD in this
    // single-threaded process (the child unblocks it before exec).
    let sigchld = unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGCHLD);
        libc::sigprocmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        libc::signalfd(-1, &set, libc::SFD_CLOEXEC | libc::SFD_NONBLOCK)
    };
    if sigchld < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: a new descriptor we own from here on.
    Ok(unsafe { OwnedFd::from_raw_fd(sigchld) })
}

/// A timer on CLOCK_BOOTTIME (it counts through suspend, as the lease does).
pub(super) fn boot_timer() -> io::Result<OwnedFd> {
    // SAFETY: creates a timer descriptor that we own from here on.
    let tfd = unsafe { libc::timerfd_create(libc::CLOCK_BOOTTIME, libc::TFD_CLOEXEC) };
    if tfd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: as above.
    Ok(unsafe { OwnedFd::from_raw_fd(tfd) })
}

/// The loop's descriptors and state.
pub(super) struct Watch<'a> {
    pub(super) tree: &'a mut Tree,
    pub(super) status: &'a mut Status,
    /// The control pipe from `zkha run` (read end).
    pub(super) ctl: &'a OwnedFd,
    pub(super) timer: &'a OwnedFd,
    pub(super) sigchld: &'a OwnedFd,
    /// The command's name, for diagnostics.
    pub(super) command: &'a str,
    /// `--grace`, and in ms (a `stop` without a number).
    pub(super) grace: Duration,
    pub(super) grace_ms: u64,
    /// The lease deadline, ns on CLOCK_BOOTTIME (0: no lease).
    pub(super) deadline: u64,
    phase: Phase,
    /// The session to end if `zkha run` dies (`session <id>`).
    pub(super) session: Option<String>,
    /// `zkha run` is gone (end of file on the control pipe).
    pub(super) crashed: bool,
    ctl_open: bool,
    forked_away_said: bool,
    killed_at: u64,
    reported_at: u64,
    /// Control text not yet split into lines.
    buf: Vec<u8>,
}

/// What the phase step found.
enum Step {
    /// The phase changed: look again at once.
    Changed,
    /// Wait until this instant (ns), or for a child or a control line.
    WakeAt(Option<u64>),
}

impl<'a> Watch<'a> {
    /// The loop for the command `args` names, from its initial deadline.
    pub(super) fn new(
        args: &'a WatchdogArgs,
        tree: &'a mut Tree,
        status: &'a mut Status,
        ctl: &'a OwnedFd,
        timer: &'a OwnedFd,
        sigchld: &'a OwnedFd,
    ) -> Watch<'a> {
        Watch {
            tree,
            status,
            ctl,
            timer,
            sigchld,
            command: &args.command[0],
            grace: Duration::from_millis(args.grace),
            grace_ms: args.grace,
            deadline: args.deadline_ns,
            phase: Phase::Running,
            session: None,
            crashed: false,
            ctl_open: true,
            forked_away_said: false,
            killed_at: 0,
            reported_at: 0,
            buf: Vec::new(),
        }
    }

    /// Until every process of the command is gone.
    pub(super) fn run(&mut self) -> io::Result<()> {
        loop {
            if self.tree.reap() {
                return Ok(());
            }
            self.say_if_forked_away();
            let next = match self.step(boot_ns()) {
                Step::Changed => continue,
                Step::WakeAt(next) => next,
            };
            arm(self.timer, next);
            let mut fds = vec![
                libc::pollfd {
                    fd: self.timer.as_raw_fd(),
                    events: libc::POLLIN,
                    revents: 0,
                },
                libc::pollfd {
                    fd: self.sigchld.as_raw_fd(),
                    events: libc::POLLIN,
                    revents: 0,
                },
            ];
            if self.ctl_open {
                fds.push(libc::pollfd {
                    fd: self.ctl.as_raw_fd(),
                    events: libc::POLLIN,
                    revents: 0,
                });
            }
            // SAFETY: fds is a valid array of pollfd of the given length.
            let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, -1) };
            if n < 0 {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                return Err(e);
            }
            if fds[0].revents != 0 {
                let mut expirations = [0u8; 8];
                // SAFETY: reads the timer's 8-byte counter into our buffer.
                unsafe { libc::read(self.timer.as_raw_fd(), expirations.as_mut_ptr().cast(), 8) };
            }
            if fds[1].revents != 0 {
                let mut info = [0u8; 128 * 4];
                // SAFETY: drains pending signalfd_siginfo records into our buffer
                // (non-blocking); the children are reaped at the top of the loop.
                while unsafe {
                    libc::read(
                        self.sigchld.as_raw_fd(),
                        info.as_mut_ptr().cast(),
                        info.len(),
                    )
                } > 0
                {}
            }
            if self.ctl_open && fds[2].revents != 0 {
                self.read_control();
            }
        }
    }

    /// The first process exited while others live on: it forked away; they
    /// are the command now (said once).
    fn say_if_forked_away(&mut self) {
        if let (Some(st), false, Phase::Running) =
            (self.tree.first, self.forked_away_said, self.phase)
        {
            self.forked_away_said = true;
            let left = self.tree.members();
            let code = exit::code_of(ExitStatus::from_raw(st));
            self.status.say(&format!("forked {code}"));
            self.status.diag(
                "info",
                &format!(
                    "{:?} exited ({}) but left {} process(es) running ({:?}): it forked away; \
                     they are the command now, and it ends when the last of them is gone",
                    self.command,
                    code,
                    left.len(),
                    left
                ),
            );
        }
    }

    /// What is due `now`, and when the next step is.
    fn step(&mut self, now: u64) -> Step {
        let lease_kill = kill_schedule(self.deadline, self.grace);
        Step::WakeAt(match self.phase {
            Phase::Running => match lease_kill {
                Some((term, kill)) if now >= term => {
                    // Signal first, then say so.
                    self.tree.signal(libc::SIGTERM);
                    self.phase = Phase::Terminating(kill);
                    self.status.say("lapsed");
                    self.status.diag(
                        "warn",
                        &format!(
                            "the lease runs out in {} ms without renewal: stopping the command",
                            self.deadline.saturating_sub(now) / 1_000_000
                        ),
                    );
                    return Step::Changed;
                }
                Some((term, _)) => Some(term),
                None => None,
            },
            Phase::Terminating(stop_kill) => {
                let kill = lease_kill.map_or(stop_kill, |(_, k)| k.min(stop_kill));
                if now >= kill {
                    self.tree.signal(libc::SIGKILL);
                    self.phase = Phase::Killed;
                    self.killed_at = now;
                    self.reported_at = now;
                    return Step::Changed;
                }
                Some(kill)
            }
            Phase::Killed => {
                // A process forked between the listing and the kill, or one
                // in uninterruptible sleep: kill again, and say who lives on.
                self.tree.signal(libc::SIGKILL);
                if now.saturating_sub(self.reported_at) >= REPORT_SURVIVORS.as_nanos() as u64 {
                    self.reported_at = now;
                    let left = self.tree.members();
                    self.status.say(&format!("survivors {}", left.len()));
                    self.status.diag(
                        "error",
                        &format!(
                            "{} process(es) of the command outlived SIGKILL for {} ms ({left:?}, \
                             uninterruptible sleep?): mastership is held until they are gone",
                            left.len(),
                            now.saturating_sub(self.killed_at) / 1_000_000
                        ),
                    );
                }
                Some(now + KILL_AGAIN.as_nanos() as u64)
            }
        })
    }

    /// Reads the control pipe and acts on each whole line (see the
    /// protocol in `mod.rs`); end of file: `zkha run` is gone.
    fn read_control(&mut self) {
        let mut chunk = [0u8; 4096];
        // SAFETY: reads into our buffer, at most its length.
        let got =
            unsafe { libc::read(self.ctl.as_raw_fd(), chunk.as_mut_ptr().cast(), chunk.len()) };
        if got <= 0 {
            if got < 0 && io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
                return;
            }
            // zkha run is gone (it holds the pipe until it has reaped us).
            self.ctl_open = false;
            self.crashed = true;
            if self.phase == Phase::Running {
                self.tree.signal(libc::SIGTERM);
                self.phase = Phase::Terminating(stop_deadline(self.deadline, self.grace));
                self.status
                    .diag("warn", "zkha run is gone: stopping the command");
            }
            return;
        }
        self.buf.extend_from_slice(&chunk[..got as usize]);
        while let Some(i) = self.buf.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = self.buf.drain(..=i).collect();
            let line = String::from_utf8_lossy(&line[..line.len() - 1]).into_owned();
            let (word, rest) = line.split_once(' ').unwrap_or((line.as_str(), ""));
            match word {
                // Extensions count while stopping too: a planned stop
                // holds (and renews) mastership until the command is gone.
                "extend" => {
                    if let Ok(ns) = rest.parse::<u64>() {
                        self.deadline = self.deadline.max(ns);
                    }
                }
                // A pause ended: the lease is the renewals' again, which
                // may end sooner than the pause did.
                "lease" => {
                    if let Ok(ns) = rest.parse::<u64>() {
                        self.deadline = ns;
                    }
                }
                "session" => self.session = Some(rest.to_owned()),
                // `stop <ms>`: SIGTERM now, SIGKILL after <ms> (or when
                // the lease ends, if sooner).
                "stop" => {
                    let ms = rest.parse::<u64>().unwrap_or(self.grace_ms);
                    let kill = boot_ns() + ms.saturating_mul(1_000_000);
                    match self.phase {
                        Phase::Running => {
                            self.tree.signal(libc::SIGTERM);
                            self.phase = Phase::Terminating(kill);
                        }
                        Phase::Terminating(k) if kill < k => self.phase = Phase::Terminating(kill),
                        _ => {}
                    }
                }
                // The lease ended (the node is gone or another's): no
                // grace.
                "kill" if self.phase != Phase::Killed => {
                    self.tree.signal(libc::SIGKILL);
                    self.phase = Phase::Killed;
                    self.killed_at = boot_ns();
                    self.reported_at = self.killed_at;
                }
                _ => {}
            }
        }
    }
}

/// Arms the timer for the absolute CLOCK_BOOTTIME instant `at` (ns), or
/// disarms it.
fn arm(timer: &OwnedFd, at: Option<u64>) {
    let at = at.map_or(0, |ns| ns.max(1));
    let spec = libc::itimerspec {
        it_interval: libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        },
        it_value: libc::timespec {
            tv_sec: (at / 1_000_000_000) as libc::time_t,
            tv_nsec: (at % 1_000_000_000) as libc::c_long,
        },
    };
    // SAFETY: sets our own timer from a spec we own; no old value wanted.
    unsafe {
        libc::timerfd_settime(
            timer.as_raw_fd(),
            libc::TFD_TIMER_ABSTIME,
            &spec,
            std::ptr::null_mut(),
        )
    };
}
