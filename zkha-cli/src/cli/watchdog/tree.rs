//! The command as the watchdog holds it: its first process (the leader of
//! a process group of its own) and everything it started, which stays below
//! this subreaper (and in the command's cgroup, where one could be made).
//! How it is started, signalled (each process once), reaped, and its
//! cgroup removed.

use super::status::Status;
use std::io;
use std::os::unix::process::CommandExt;
use std::process::Command;
use std::time::Duration;

/// The command: its first process (and group leader) and everything it
/// started, which stays below this subreaper.
pub(super) struct Tree {
    pgid: i32,
    me: i32,
    /// The first process's wait status, once it exited.
    pub(super) first: Option<i32>,
    /// The command's own cgroup, where one could be made.
    cgroup: Option<crate::cli::reaper::CommandCgroup>,
}

impl Tree {
    /// Starts `command` (its first process leads a process group of its
    /// own, in `cgroup` if there is one) and says `started <pgid>`; `None`
    /// (`error ...` said) if it cannot start.
    pub(super) fn start(
        command: &[String],
        cgroup: Option<crate::cli::reaper::CommandCgroup>,
        status: &mut Status,
    ) -> Option<Tree> {
        let mut cmd = Command::new(&command[0]);
        cmd.args(&command[1..]).process_group(0);
        // The watchdog keeps the secrets for a handover; the command never
        // gets them.
        crate::cli::secure::remove_secrets(&mut cmd);
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
                    crate::cli::reaper::join_cgroup(p);
                }
                // No descriptor of zkha's (its ZooKeeper socket, the C
                // client's self-pipe, these pipes) reaches the command.
                crate::cli::child_fds::close_from(3);
                Ok(())
            });
        }
        let child = match cmd.spawn() {
            Ok(c) => c,
            Err(e) => {
                status.say(&format!("error cannot start {:?}: {e}", command[0]));
                return None;
            }
        };
        let tree = Tree {
            pgid: child.id() as i32,
            me,
            first: None,
            cgroup,
        };
        // Reaped by `Tree::reap` (waitpid(-1)), not through `child`.
        drop(child);
        status.say(&format!("started {}", tree.pgid));
        Some(tree)
    }

    /// Every process of the command alive now (not yet reaped).
    pub(super) fn members(&self) -> Vec<i32> {
        crate::cli::reaper::descendants_of(self.me)
    }

    /// Signals the process group, then every descendant that left it
    /// (setsid, setpgid): each process gets the signal once (a second
    /// SIGTERM means "force quit" to many programs).
    pub(super) fn signal(&self, sig: libc::c_int) {
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
        crate::cli::reaper::signal_each(&outside, sig);
    }

    /// Once every process is gone: the cgroup goes too.
    pub(super) fn remove_cgroup(&self) {
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
    pub(super) fn reap(&mut self) -> bool {
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
