//! No descriptor of zkha's reaches a child (the command, a health check, a
//! fence, the watchdog): [`close_from`] is called in each child's
//! `pre_exec`, between fork and exec.
//!
//! Close-on-exec where zkha opens descriptors itself is not enough: the C
//! client's self-pipe is a plain `pipe()` that no compile flag covers, its
//! socket is close-on-exec only when it was built with
//! `SOCK_CLOEXEC_ENABLED` (zk-sys's bundled build is; an installed library
//! may not be), and a descriptor zkha inherited without close-on-exec
//! would pass straight through.

use std::os::raw::{c_int, c_uint};

/// `CLOSE_RANGE_CLOEXEC` (linux/close_range.h, Linux 5.11): mark the range
/// close-on-exec instead of closing it.
const CLOSE_RANGE_CLOEXEC: c_uint = 1 << 2;

/// The most descriptors the fallback loop walks when the soft
/// `RLIMIT_NOFILE` is unlimited (the kernel's default `fs.nr_open`).
const FALLBACK_MAX: c_int = 1 << 20;

/// Every descriptor from `first` up is closed when the process execs.
/// Async-signal-safe and allocation-free: for `pre_exec`.
///
/// They are marked close-on-exec rather than closed at once: the exec
/// closes them all the same, while the standard library's own pipe (which
/// tells the parent that exec failed, and why) keeps working, so a command
/// that cannot be started is still a spawn error, not a child that exits 1.
/// A caller that hands a descriptor on (the watchdog's pipes) clears
/// `FD_CLOEXEC` on it *after* this call.
///
/// `close_range(first, ~0, CLOSE_RANGE_CLOEXEC)` (Linux 5.11); before that
/// (ENOSYS, or EINVAL for the flag on 5.9 and 5.10), `fcntl(F_SETFD)` on
/// every descriptor below the soft `RLIMIT_NOFILE` (`getrlimit` is
/// async-signal-safe).
pub fn close_from(first: c_int) {
    let first = first.max(0);
    // SAFETY: close_range(2) takes plain integers and touches only this
    // process's descriptor table; with CLOSE_RANGE_CLOEXEC it only sets a
    // flag. No memory is passed.
    let r = unsafe {
        libc::syscall(
            libc::SYS_close_range,
            first as c_uint,
            c_uint::MAX,
            CLOSE_RANGE_CLOEXEC,
        )
    };
    if r != 0 {
        mark_each(first);
    }
}

/// The fallback of [`close_from`]: `FD_CLOEXEC` on every open descriptor
/// from `first` to the soft `RLIMIT_NOFILE` (descriptors above it cannot
/// have been opened under it).
fn mark_each(first: c_int) {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct we own; async-signal-safe.
    let end = if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } == 0
        && limit.rlim_cur != libc::RLIM_INFINITY
    {
        c_int::try_from(limit.rlim_cur).unwrap_or(c_int::MAX)
    } else {
        FALLBACK_MAX
    };
    for fd in first..end {
        // SAFETY: fcntl(2) on an integer; EBADF (not open) is the usual
        // answer and harmless. Async-signal-safe.
        let flags = unsafe { libc::fcntl(fd, libc::F_GETFD) };
        if flags >= 0 && flags & libc::FD_CLOEXEC == 0 {
            // SAFETY: as above, on a descriptor that is open.
            unsafe { libc::fcntl(fd, libc::F_SETFD, flags | libc::FD_CLOEXEC) };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::{AsRawFd, OwnedFd};
    use std::os::unix::process::CommandExt;
    use std::process::{Command, Stdio};

    /// A descriptor open here without close-on-exec (as the C client's
    /// self-pipe is), and its number.
    fn inheritable() -> (OwnedFd, c_int) {
        let (r, w) = std::io::pipe().unwrap();
        drop(w);
        let fd: OwnedFd = r.into();
        let raw = fd.as_raw_fd();
        // SAFETY: clears FD_CLOEXEC on a descriptor we own.
        assert_eq!(unsafe { libc::fcntl(raw, libc::F_SETFD, 0) }, 0);
        (fd, raw)
    }

    /// The descriptors `sh` holds after exec, with `pre` run before it.
    fn child_fds(pre: fn()) -> Vec<c_int> {
        let mut cmd = Command::new("sh");
        // `ls` is a child of sh: it lists sh's table, which holds only
        // what sh inherited (the redirection is made in the child).
        cmd.args(["-c", "ls /proc/$$/fd; :"])
            .stdin(Stdio::null())
            .stderr(Stdio::null());
        // SAFETY: `pre` is close_from / mark_each, async-signal-safe.
        unsafe {
            cmd.pre_exec(move || {
                pre();
                Ok(())
            });
        }
        let out = cmd.output().unwrap();
        let mut fds: Vec<c_int> = String::from_utf8(out.stdout)
            .unwrap()
            .split_whitespace()
            .map(|s| s.parse().unwrap())
            .collect();
        fds.sort_unstable();
        fds
    }

    #[test]
    fn a_child_keeps_only_its_stdio() {
        let (_keep, raw) = inheritable();
        assert!(
            child_fds(|| {}).contains(&raw),
            "the test's own descriptor {raw} should reach a child without close_from"
        );
        assert_eq!(child_fds(|| close_from(3)), [0, 1, 2]);
    }

    #[test]
    fn the_fallback_loop_does_the_same() {
        let (_keep, raw) = inheritable();
        assert!(child_fds(|| {}).contains(&raw));
        assert_eq!(child_fds(|| mark_each(3)), [0, 1, 2]);
    }

    #[test]
    fn a_command_that_cannot_start_is_still_a_spawn_error() {
        let mut cmd = Command::new("/nonexistent/zkha-test-command");
        // SAFETY: close_from is async-signal-safe.
        unsafe {
            cmd.pre_exec(|| {
                close_from(3);
                Ok(())
            });
        }
        let e = cmd.spawn().map(|mut c| c.wait()).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::NotFound, "{e}");
    }
}
