//! Processes seen from outside: alive, parents, signals, watchdogs, waiting.

use std::time::{Duration, Instant};

/// Milliseconds on CLOCK_MONOTONIC: the clock of a `zkha run` trace line's
/// `t` and of the worker's lines, comparable across processes on one
/// machine. The harness reads it itself (the library keeps its clock
/// helpers private), the same way zkha does.
pub fn monotonic_ms() -> f64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes into the timespec we own.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as f64 * 1000.0 + ts.tv_nsec as f64 / 1_000_000.0
}

/// Whether `pid` is a chaos_worker still running (not a zombie).
pub fn command_alive(pid: u32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return false;
    };
    let state = stat
        .rsplit_once(')')
        .and_then(|(_, rest)| rest.trim_start().chars().next());
    if matches!(state, Some('Z' | 'X') | None) {
        return false;
    }
    std::fs::read(format!("/proc/{pid}/cmdline"))
        .is_ok_and(|c| String::from_utf8_lossy(&c).contains("chaos_worker"))
}

/// Sends `sig` to `pid`; an error if it did not arrive.
/// The parent of `pid` (from /proc), e.g. the watchdog `zkha run` starts
/// its command under.
pub fn parent_of(pid: u32) -> Option<u32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // pid (comm) state ppid …: comm may hold spaces, so split after ')'.
    stat.rsplit_once(')')?
        .1
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// Every process of a master frozen as a whole: `zkha run`, its command's
/// watchdog (when it is a process of its own) and the command.
pub(crate) fn whole_master(zkha: u32, command: u32) -> Vec<u32> {
    let mut pids = vec![zkha];
    if let Some(wd) = parent_of(command).filter(|&p| p != zkha && p > 1) {
        pids.push(wd);
    }
    pids.push(command);
    pids
}

pub fn signal_pid(pid: u32, sig: i32) -> Result<(), String> {
    // SAFETY: kill(2) on a pid of a process this program started (a
    // `zkha run` child or the command it started); no memory is involved.
    if unsafe { libc::kill(pid as i32, sig) } == 0 {
        Ok(())
    } else {
        Err(format!(
            "signal {sig} to pid {pid}: {}",
            std::io::Error::last_os_error()
        ))
    }
}

pub fn wait_until(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let end = Instant::now() + timeout;
    while Instant::now() < end {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    f()
}

/// Whether process `pid` is gone (reaped, or a zombie).
pub(crate) fn process_gone(pid: u32) -> bool {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return true;
    };
    let state = stat
        .rsplit_once(')')
        .and_then(|(_, rest)| rest.trim_start().chars().next());
    matches!(state, Some('Z' | 'X') | None)
}

/// The `zkha-watchdog` child of the `zkha run` process `zkha` (argv[0]
/// `zkha-watchdog`, or the `__watchdog` subcommand), by its parent in
/// `/proc/<pid>/stat`.
pub fn watchdog_of(zkha: u32) -> Option<u32> {
    std::fs::read_dir("/proc")
        .ok()?
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| parent_of(pid) == Some(zkha) && !process_gone(pid))
        .find(|&pid| {
            let argv = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let mut args = argv.split(|&b| b == 0);
            args.next() == Some(b"zkha-watchdog".as_slice())
                || args.any(|a| a == b"__watchdog".as_slice())
        })
}

/// SIGKILL of the watchdog of the `zkha run` process `zkha`; checked: it
/// died.
pub(crate) fn kill_watchdog(zkha: u32) -> Result<(), String> {
    let wd = watchdog_of(zkha).ok_or_else(|| format!("no zkha-watchdog child of pid {zkha}"))?;
    signal_pid(wd, libc::SIGKILL)?;
    if wait_until(Duration::from_secs(2), || process_gone(wd)) {
        Ok(())
    } else {
        Err(format!("the watchdog (pid {wd}) survived SIGKILL"))
    }
}

/// After SIGTERM: waits up to 10 s for `child` (named `name`) to exit, and
/// kills it otherwise. Its exit status, or the error line saying it did not
/// leave.
pub(crate) fn leave_or_kill(
    child: &mut std::process::Child,
    name: &str,
) -> Result<Option<std::process::ExitStatus>, String> {
    let left = wait_until(Duration::from_secs(10), || {
        !matches!(child.try_wait(), Ok(None))
    });
    if left {
        Ok(child.try_wait().ok().flatten())
    } else {
        let _ = child.kill();
        let _ = child.wait();
        Err(format!("{name} did not leave within 10 s of SIGTERM"))
    }
}
