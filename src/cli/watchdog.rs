//! The fence that does not need zkha's threads: `zkha run` starts its
//! command under this small process (`zkha __watchdog`, the same binary),
//! which holds the lease deadline itself on CLOCK_BOOTTIME (it keeps
//! counting through suspend) and kills the command's process group so that
//! it is dead when the lease ends, whatever happens to `zkha run`: stopped
//! by SIGSTOP, blocked writing to a full pipe, swapped out, or dead.
//!
//! Protocol, one line each, on the control pipe from `zkha run`:
//! - `extend <ns>`: the lease now ends at `<ns>` on CLOCK_BOOTTIME;
//! - `session <client id>`: the session to end if `zkha run` dies
//!   (`--on-crash handover`); sent over the pipe, never on argv (a secret);
//! - `stop`: mastership ended: SIGTERM, SIGKILL after the grace, exit.
//!
//! End of file on the control pipe without `stop` means `zkha run` died
//! (panic, SIGKILL, OOM kill): the watchdog kills and reaps the group and
//! then, with `handover`, attaches to the saved session and closes it, so
//! the master node goes at once and a standby takes over in milliseconds
//! instead of a session timeout. With `hold` it leaves the session for a
//! restarted `zkha run --session-file` to reattach.
//!
//! Back on the status pipe: `started <pid>`, `lapsed` (the deadline came
//! without an extension), `error <text>` (the command could not start).
//! The watchdog's exit status is the command's (128+N for signal N).

use super::common::exit;
use clap::{Args, ValueEnum};
use std::io::{self, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Command, ExitStatus};
use std::time::Duration;

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

/// Nanoseconds on CLOCK_BOOTTIME.
pub use zkha::clock::boot_ns;

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

fn code_of(status: ExitStatus) -> u8 {
    match (status.code(), status.signal()) {
        (Some(c), _) => c.clamp(0, 255) as u8,
        (None, Some(sig)) => (128 + sig).clamp(0, 255) as u8,
        _ => exit::ERROR,
    }
}

fn set_cloexec(fd: RawFd) {
    // SAFETY: fcntl on a descriptor we were handed; failure leaves it as is.
    unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
}

fn say(status: &mut Option<std::fs::File>, line: &str) {
    if let Some(f) = status {
        if f.write_all(format!("{line}\n").as_bytes()).is_err() {
            *status = None;
        }
    }
}

/// What the command's group is being put through.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Phase {
    /// Running under the lease.
    Running,
    /// SIGTERM sent; SIGKILL at this instant (ns).
    Terminating(u64),
    /// SIGKILL sent; waiting for the exit.
    Killed,
}

pub fn run(args: WatchdogArgs) -> Result<u8, Box<dyn std::error::Error>> {
    // zkha run decides; a terminal's SIGINT or a stray SIGTERM must not take
    // the fence away (a handler, not SIG_IGN: the command must not inherit it).
    super::signals::install(&[libc::SIGINT, libc::SIGTERM, libc::SIGHUP]);
    set_cloexec(args.ctl_fd);
    set_cloexec(args.status_fd);
    // SAFETY: zkha run handed us these two descriptors, open, for us alone.
    let ctl = unsafe { OwnedFd::from_raw_fd(args.ctl_fd) };
    // SAFETY: as above.
    let mut status = Some(unsafe { std::fs::File::from_raw_fd(args.status_fd) });
    let grace = Duration::from_millis(args.grace);

    let mut cmd = Command::new(&args.command[0]);
    cmd.args(&args.command[1..]).process_group(0);
    // SAFETY: getpid is always safe to call.
    let me = unsafe { libc::getpid() };
    // SAFETY: runs in the forked child before exec; only async-signal-safe
    // calls (prctl, getppid, raise).
    unsafe {
        cmd.pre_exec(move || {
            // If the watchdog itself is killed, the command must not run on
            // unfenced.
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(io::Error::last_os_error());
            }
            if libc::getppid() != me {
                libc::raise(libc::SIGKILL);
            }
            Ok(())
        });
    }
    let mut child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            say(
                &mut status,
                &format!("error cannot start {:?}: {e}", args.command[0]),
            );
            return Ok(exit::CANNOT_START);
        }
    };
    let pgid = child.id() as i32;
    say(&mut status, &format!("started {pgid}"));
    // SAFETY: pidfd_open on our own child's pid, which we have not reaped.
    let pidfd = unsafe { libc::syscall(libc::SYS_pidfd_open, pgid, 0) } as RawFd;
    // SAFETY: a new descriptor we own from here on.
    let pidfd = (pidfd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(pidfd) });
    // SAFETY: creates a timer descriptor that we own from here on.
    let tfd = unsafe { libc::timerfd_create(libc::CLOCK_BOOTTIME, libc::TFD_CLOEXEC) };
    if tfd < 0 {
        return Err(io::Error::last_os_error().into());
    }
    // SAFETY: as above.
    let timer = unsafe { OwnedFd::from_raw_fd(tfd) };

    let signal = |sig: i32| {
        // SAFETY: signals the process group we created for the command.
        unsafe { libc::kill(-pgid, sig) };
    };
    let mut deadline = args.deadline_ns;
    let mut phase = Phase::Running;
    let mut session: Option<String> = None;
    let mut crashed = false;
    let mut ctl_open = true;
    let mut buf = Vec::<u8>::new();
    let exit_status = loop {
        if let Ok(Some(st)) = child.try_wait() {
            break st;
        }
        let now = boot_ns();
        // What is due now, and when the next step is.
        let next = match phase {
            Phase::Running => match kill_schedule(deadline, grace) {
                Some((term, kill)) if now >= term => {
                    eprintln!(
                        "zkha watchdog: the lease runs out in {} ms without renewal: stopping the command",
                        deadline.saturating_sub(now) / 1_000_000
                    );
                    say(&mut status, "lapsed");
                    signal(libc::SIGTERM);
                    phase = Phase::Terminating(kill);
                    continue;
                }
                Some((term, _)) => Some(term),
                None => None,
            },
            Phase::Terminating(kill) if now >= kill => {
                signal(libc::SIGKILL);
                phase = Phase::Killed;
                continue;
            }
            Phase::Terminating(kill) => Some(kill),
            Phase::Killed => None,
        };
        arm(&timer, next);
        let mut fds = vec![libc::pollfd {
            fd: timer.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        }];
        if ctl_open {
            fds.push(libc::pollfd {
                fd: ctl.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            });
        }
        if let Some(p) = &pidfd {
            fds.push(libc::pollfd {
                fd: p.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            });
        }
        // Without a pidfd (old kernels), look at the child every 20 ms.
        let timeout = if pidfd.is_some() { -1 } else { 20 };
        // SAFETY: fds is a valid array of pollfd of the given length.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, timeout) };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e.into());
        }
        if fds[0].revents != 0 {
            let mut expirations = [0u8; 8];
            // SAFETY: reads the timer's 8-byte counter into our buffer.
            unsafe { libc::read(timer.as_raw_fd(), expirations.as_mut_ptr().cast(), 8) };
        }
        if ctl_open && fds[1].revents != 0 {
            let mut chunk = [0u8; 4096];
            // SAFETY: reads into our buffer, at most its length.
            let got =
                unsafe { libc::read(ctl.as_raw_fd(), chunk.as_mut_ptr().cast(), chunk.len()) };
            if got <= 0 {
                if got < 0 && io::Error::last_os_error().kind() == io::ErrorKind::Interrupted {
                    continue;
                }
                // zkha run is gone (it holds the pipe until it has reaped us).
                ctl_open = false;
                crashed = true;
                if phase == Phase::Running {
                    eprintln!("zkha watchdog: zkha run is gone: stopping the command");
                    signal(libc::SIGTERM);
                    phase = Phase::Terminating(stop_deadline(deadline, grace));
                }
                continue;
            }
            buf.extend_from_slice(&chunk[..got as usize]);
            while let Some(i) = buf.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = buf.drain(..=i).collect();
                let line = String::from_utf8_lossy(&line[..line.len() - 1]).into_owned();
                let (word, rest) = line.split_once(' ').unwrap_or((line.as_str(), ""));
                match word {
                    "extend" if phase == Phase::Running => {
                        if let Ok(ns) = rest.parse::<u64>() {
                            deadline = deadline.max(ns);
                        }
                    }
                    "session" => session = Some(rest.to_owned()),
                    "stop" if phase == Phase::Running => {
                        signal(libc::SIGTERM);
                        phase = Phase::Terminating(stop_deadline(deadline, grace));
                    }
                    _ => {}
                }
            }
        }
    };
    // Leftovers of the group (the command's own children) go too.
    signal(libc::SIGKILL);
    if crashed && args.on_crash == OnCrash::Handover {
        if let Some(id) = session.as_deref().and_then(|s| s.parse().ok()) {
            handover(&args, id);
        }
    }
    drop(ctl);
    Ok(code_of(exit_status))
}

/// When a command told to stop now gets SIGKILL: after the grace, but never
/// later than the lease allows.
fn stop_deadline(deadline: u64, grace: Duration) -> u64 {
    let kill = boot_ns() + grace.as_nanos() as u64;
    kill_schedule(deadline, grace).map_or(kill, |(_, k)| kill.min(k))
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

/// Ends the dead `zkha run`'s session: attach with its client id and close,
/// so the ephemeral master node goes now instead of after a timeout. Over
/// the run's TLS / SASL settings (the password read only now).
fn handover(args: &WatchdogArgs, id: zkha::ClientId) {
    zkha::logging::set_debug_level(zkha::logging::LogLevel::Error);
    let timeout = Duration::from_millis(args.session_timeout.max(1));
    let attached = args.secure.security().and_then(|security| {
        zkha::ZooKeeper::builder(&args.hosts)
            .security(security)
            .session_timeout(timeout)
            .client_id(id)
            .init()
            .and_then(|zk| zk.wait_connected(timeout).map(|_| zk))
    });
    match attached {
        Ok(zk) => match zk.close() {
            Ok(()) => eprintln!(
                "zkha watchdog: closed session {:#x}: the master node is released",
                id.id
            ),
            Err(e) => eprintln!("zkha watchdog: closing session {:#x}: {e}", id.id),
        },
        Err(e) => eprintln!(
            "zkha watchdog: session {:#x} not reattached ({e}); it ends by itself",
            id.id
        ),
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
