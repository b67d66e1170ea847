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
//! command could not start).
//! The watchdog's exit status is the command's (128+N for signal N).

use super::common::exit;
use clap::{Args, ValueEnum};
use std::io::{self, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::process::CommandExt;
use std::process::Command;
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

fn code_of(status: i32) -> u8 {
    if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status).clamp(0, 255) as u8
    } else if libc::WIFSIGNALED(status) {
        (128 + libc::WTERMSIG(status)).clamp(0, 255) as u8
    } else {
        exit::ERROR
    }
}

fn set_cloexec(fd: RawFd) {
    // SAFETY: fcntl on a descriptor we were handed; failure leaves it as is.
    unsafe { libc::fcntl(fd, libc::F_SETFD, libc::FD_CLOEXEC) };
}

/// The status pipe to `zkha run`, and the watchdog's own diagnostics. No
/// write here ever blocks or panics: the status pipe is non-blocking (a
/// full or closed pipe drops the line), and a diagnostic goes to `zkha run`
/// (which logs it through its non-blocking logger) while it lives, else to
/// the non-blocking stderr writer.
struct Status {
    pipe: Option<std::fs::File>,
}

impl Status {
    fn say(&mut self, line: &str) -> bool {
        let Some(f) = &mut self.pipe else {
            return false;
        };
        match f.write(format!("{line}\n").as_bytes()) {
            Ok(_) => true,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => false,
            Err(_) => {
                self.pipe = None;
                false
            }
        }
    }

    /// A diagnostic line: `zkha run` logs it at `level` (error, warn, info).
    fn diag(&mut self, level: &str, text: &str) {
        if !self.say(&format!("log {level} {text}")) {
            super::stderr::line(&format!("zkha watchdog: {text}"));
        }
    }
}

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

/// The command: its first process (and group leader) and everything it
/// started, which stays below this subreaper.
struct Tree {
    pgid: i32,
    me: i32,
    /// The first process's wait status, once it exited.
    first: Option<i32>,
    /// The command's own cgroup, where one could be made.
    cgroup: Option<super::reaper::CommandCgroup>,
}

impl Tree {
    /// Every process of the command alive now (not yet reaped).
    fn members(&self) -> Vec<i32> {
        super::reaper::descendants_of(self.me)
    }

    /// Signals the process group, then every descendant that left it
    /// (setsid, setpgid): each process gets the signal once (a second
    /// SIGTERM means "force quit" to many programs).
    fn signal(&self, sig: libc::c_int) {
        // SAFETY: signals the process group we created for the command.
        unsafe { libc::kill(-self.pgid, sig) };
        let mut outside = self.members();
        if let Some(cg) = &self.cgroup {
            if sig == libc::SIGKILL {
                cg.kill();
            } else {
                for pid in cg.members() {
                    if !outside.contains(&pid) {
                        outside.push(pid);
                    }
                }
            }
        }
        // SAFETY: getpgid takes a plain pid; a stale one gives -1.
        outside.retain(|&pid| unsafe { libc::getpgid(pid) } != self.pgid);
        super::reaper::signal_each(&outside, sig);
    }

    /// Once every process is gone: the cgroup goes too.
    fn remove_cgroup(&self) {
        if let Some(cg) = &self.cgroup {
            for _ in 0..100 {
                if cg.members().is_empty() && cg.remove() {
                    return;
                }
                cg.kill();
                std::thread::sleep(Duration::from_millis(10));
            }
        }
    }

    /// Reaps what has exited; whether nothing is left.
    fn reap(&mut self) -> bool {
        loop {
            let mut st = 0;
            // SAFETY: reaps any exited child of ours (the command's first
            // process, or an orphan re-parented to this subreaper).
            let pid = unsafe { libc::waitpid(-1, &mut st, libc::WNOHANG) };
            if pid > 0 {
                if pid == self.pgid {
                    self.first = Some(st);
                }
                continue;
            }
            if pid < 0 && io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
                continue;
            }
            // ECHILD: no child left, so no descendant either (an orphan
            // comes to us, so a live descendant means a live child).
            return pid < 0;
        }
    }
}

/// How often, once SIGKILL was sent, the survivors are killed again (a
/// fork that raced the kill) and reported.
const KILL_AGAIN: Duration = Duration::from_millis(100);
const REPORT_SURVIVORS: Duration = Duration::from_secs(1);

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
    // SIGCHLD through a signalfd: any child's exit (the command's first
    // process, or an orphan re-parented here) wakes the loop.
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
        return Err(io::Error::last_os_error().into());
    }
    // SAFETY: a new descriptor we own from here on.
    let sigchld = unsafe { OwnedFd::from_raw_fd(sigchld) };

    // A lease that ends before the command could even be stopped in time:
    // do not start it (zkha run starts it again after a renewal).
    if let Some((term, _)) = kill_schedule(args.deadline_ns, grace) {
        if boot_ns() >= term {
            status.say("lapsed");
            return Ok(exit::CANNOT_START);
        }
    }

    let mut cmd = Command::new(&args.command[0]);
    cmd.args(&args.command[1..]).process_group(0);
    // The watchdog keeps the secrets for a handover; the command never
    // gets them.
    super::secure::remove_secrets(&mut cmd);
    // SAFETY: getpid is always safe to call.
    let me = unsafe { libc::getpid() };
    let procs = cgroup.as_ref().map(|cg| cg.procs_file());
    // SAFETY: runs in the forked child before exec; only async-signal-safe
    // calls (prctl, getppid, raise, sigprocmask, close_range).
    unsafe {
        cmd.pre_exec(move || {
            // If the watchdog itself is killed, the command must not run on
            // unfenced (its descendants go to zkha run, a subreaper too).
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                return Err(io::Error::last_os_error());
            }
            if libc::getppid() != me {
                libc::raise(libc::SIGKILL);
            }
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::sigprocmask(libc::SIG_SETMASK, &set, std::ptr::null_mut());
            if let Some(p) = &procs {
                super::reaper::join_cgroup(p);
            }
            // No descriptor of zkha's (its ZooKeeper socket, the C
            // client's self-pipe, these pipes) reaches the command.
            super::child_fds::close_from(3);
            Ok(())
        });
    }
    let child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            status.say(&format!("error cannot start {:?}: {e}", args.command[0]));
            return Ok(exit::CANNOT_START);
        }
    };
    let mut tree = Tree {
        pgid: child.id() as i32,
        me,
        first: None,
        cgroup,
    };
    // Reaped by `Tree::reap` (waitpid(-1)), not through `child`.
    drop(child);
    status.say(&format!("started {}", tree.pgid));
    // SAFETY: creates a timer descriptor that we own from here on.
    let tfd = unsafe { libc::timerfd_create(libc::CLOCK_BOOTTIME, libc::TFD_CLOEXEC) };
    if tfd < 0 {
        return Err(io::Error::last_os_error().into());
    }
    // SAFETY: as above.
    let timer = unsafe { OwnedFd::from_raw_fd(tfd) };

    let mut deadline = args.deadline_ns;
    let mut phase = Phase::Running;
    let mut session: Option<String> = None;
    let mut crashed = false;
    let mut ctl_open = true;
    let mut forked_away_said = false;
    let mut killed_at = 0u64;
    let mut reported_at = 0u64;
    let mut buf = Vec::<u8>::new();
    loop {
        if tree.reap() {
            break;
        }
        if let (Some(st), false, Phase::Running) = (tree.first, forked_away_said, phase) {
            forked_away_said = true;
            let left = tree.members();
            status.say(&format!("forked {}", code_of(st)));
            status.diag(
                "info",
                &format!(
                    "{:?} exited ({}) but left {} process(es) running ({:?}): it forked away; \
                     they are the command now, and it ends when the last of them is gone",
                    args.command[0],
                    code_of(st),
                    left.len(),
                    left
                ),
            );
        }
        let now = boot_ns();
        let lease_kill = kill_schedule(deadline, grace);
        // What is due now, and when the next step is.
        let next = match phase {
            Phase::Running => match lease_kill {
                Some((term, kill)) if now >= term => {
                    // Signal first, then say so.
                    tree.signal(libc::SIGTERM);
                    phase = Phase::Terminating(kill);
                    status.say("lapsed");
                    status.diag(
                        "warn",
                        &format!(
                            "the lease runs out in {} ms without renewal: stopping the command",
                            deadline.saturating_sub(now) / 1_000_000
                        ),
                    );
                    continue;
                }
                Some((term, _)) => Some(term),
                None => None,
            },
            Phase::Terminating(stop_kill) => {
                let kill = lease_kill.map_or(stop_kill, |(_, k)| k.min(stop_kill));
                if now >= kill {
                    tree.signal(libc::SIGKILL);
                    phase = Phase::Killed;
                    killed_at = now;
                    reported_at = now;
                    continue;
                }
                Some(kill)
            }
            Phase::Killed => {
                // A process forked between the listing and the kill, or one
                // in uninterruptible sleep: kill again, and say who lives on.
                tree.signal(libc::SIGKILL);
                if now.saturating_sub(reported_at) >= REPORT_SURVIVORS.as_nanos() as u64 {
                    reported_at = now;
                    let left = tree.members();
                    status.say(&format!("survivors {}", left.len()));
                    status.diag(
                        "error",
                        &format!(
                            "{} process(es) of the command outlived SIGKILL for {} ms ({left:?}, \
                             uninterruptible sleep?): mastership is held until they are gone",
                            left.len(),
                            now.saturating_sub(killed_at) / 1_000_000
                        ),
                    );
                }
                Some(now + KILL_AGAIN.as_nanos() as u64)
            }
        };
        arm(&timer, next);
        let mut fds = vec![
            libc::pollfd {
                fd: timer.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: sigchld.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        if ctl_open {
            fds.push(libc::pollfd {
                fd: ctl.as_raw_fd(),
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
            return Err(e.into());
        }
        if fds[0].revents != 0 {
            let mut expirations = [0u8; 8];
            // SAFETY: reads the timer's 8-byte counter into our buffer.
            unsafe { libc::read(timer.as_raw_fd(), expirations.as_mut_ptr().cast(), 8) };
        }
        if fds[1].revents != 0 {
            let mut info = [0u8; 128 * 4];
            // SAFETY: drains pending signalfd_siginfo records into our buffer
            // (non-blocking); the children are reaped at the top of the loop.
            while unsafe { libc::read(sigchld.as_raw_fd(), info.as_mut_ptr().cast(), info.len()) }
                > 0
            {}
        }
        if ctl_open && fds[2].revents != 0 {
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
                    tree.signal(libc::SIGTERM);
                    phase = Phase::Terminating(stop_deadline(deadline, grace));
                    status.diag("warn", "zkha run is gone: stopping the command");
                }
                continue;
            }
            buf.extend_from_slice(&chunk[..got as usize]);
            while let Some(i) = buf.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = buf.drain(..=i).collect();
                let line = String::from_utf8_lossy(&line[..line.len() - 1]).into_owned();
                let (word, rest) = line.split_once(' ').unwrap_or((line.as_str(), ""));
                match word {
                    // Extensions count while stopping too: a planned stop
                    // holds (and renews) mastership until the command is gone.
                    "extend" => {
                        if let Ok(ns) = rest.parse::<u64>() {
                            deadline = deadline.max(ns);
                        }
                    }
                    "session" => session = Some(rest.to_owned()),
                    // `stop <ms>`: SIGTERM now, SIGKILL after <ms> (or when
                    // the lease ends, if sooner).
                    "stop" => {
                        let ms = rest.parse::<u64>().unwrap_or(args.grace);
                        let kill = boot_ns() + ms.saturating_mul(1_000_000);
                        match phase {
                            Phase::Running => {
                                tree.signal(libc::SIGTERM);
                                phase = Phase::Terminating(kill);
                            }
                            Phase::Terminating(k) if kill < k => phase = Phase::Terminating(kill),
                            _ => {}
                        }
                    }
                    // The lease ended (the node is gone or another's): no
                    // grace.
                    "kill" if phase != Phase::Killed => {
                        tree.signal(libc::SIGKILL);
                        phase = Phase::Killed;
                        killed_at = boot_ns();
                        reported_at = killed_at;
                    }
                    _ => {}
                }
            }
        }
    }
    tree.remove_cgroup();
    if crashed && args.on_crash == OnCrash::Handover {
        if let Some(id) = session.as_deref().and_then(|s| s.parse().ok()) {
            handover(&args, id, &mut status);
        }
    }
    drop(ctl);
    Ok(tree.first.map_or(exit::ERROR, code_of))
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
fn handover(args: &WatchdogArgs, id: zkha::ClientId, status: &mut Status) {
    zkha::logging::set_debug_level(zkha::logging::LogLevel::Error);
    let timeout = Duration::from_millis(args.session_timeout.max(1));
    let attached = args.secure.security().and_then(|security| {
        zkha::ZooKeeper::builder(&args.hosts)
            // The C client's lines through the non-blocking logger, never
            // a blocking fprintf to stderr.
            .log_to_rust(true)
            .security(security)
            .session_timeout(timeout)
            .client_id(id)
            .init()
            .and_then(|zk| zk.wait_connected(timeout).map(|_| zk))
    });
    match attached {
        Ok(zk) => match zk.close() {
            Ok(()) => status.diag(
                "info",
                &format!("closed session {:#x}: the master node is released", id.id),
            ),
            Err(e) => status.diag("warn", &format!("closing session {:#x}: {e}", id.id)),
        },
        Err(e) => status.diag(
            "warn",
            &format!(
                "session {:#x} not reattached ({e}); it ends by itself",
                id.id
            ),
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
