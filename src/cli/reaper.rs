//! Containment of everything a command starts, whatever it does with its
//! process group: processes that `setsid`, `setpgid` or double-fork
//! (daemonize) leave the group, so killing the group is not enough.
//!
//! Both `zkha run` and its watchdog are *child subreapers*
//! (`PR_SET_CHILD_SUBREAPER`): a descendant whose parent dies is re-parented
//! to the nearest of them instead of init. So every process the command
//! started stays a descendant of the watchdog (or, if the watchdog itself
//! is killed, of `zkha run`), and can be found (by walking `/proc`),
//! signalled and waited for. A process that moves itself into another
//! cgroup keeps its parent, so it is still found; one started by another
//! service manager (systemd-run, at, cron) is not a descendant and is not.
//!
//! `zkha run` also starts short helpers (health checks, fences) that must
//! not be mistaken for a dead watchdog's orphans: they are spawned through
//! [`spawn_helper`], which records their pid under a lock held across the
//! spawn, so a sweep never sees a helper it does not know.

use parking_lot::Mutex;
use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::process::{Child, Command};

/// Makes this process a child subreaper: orphaned descendants come to it.
pub fn become_subreaper() -> io::Result<()> {
    // SAFETY: prctl with an integer argument; no memory is passed.
    if unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Every process's parent, read from `/proc/<pid>/stat` (field 4, after
/// the command name, which may hold spaces and parentheses).
fn parents() -> BTreeMap<i32, i32> {
    let mut out = BTreeMap::new();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return out;
    };
    for entry in dir.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<i32>().ok())
        else {
            continue;
        };
        if let Some(ppid) = std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .ok()
            .and_then(|s| parse_ppid(&s))
        {
            out.insert(pid, ppid);
        }
    }
    out
}

/// The parent pid in a `/proc/<pid>/stat` line.
fn parse_ppid(stat: &str) -> Option<i32> {
    let rest = &stat[stat.rfind(')')? + 1..];
    rest.split_whitespace().nth(1)?.parse().ok()
}

/// The children of `pid`.
pub fn children_of(pid: i32) -> Vec<i32> {
    parents()
        .into_iter()
        .filter(|&(_, p)| p == pid)
        .map(|(c, _)| c)
        .collect()
}

/// Every descendant of `pid` (not `pid` itself), parents before children.
pub fn descendants_of(pid: i32) -> Vec<i32> {
    descendants_in(&parents(), &[pid])
}

fn descendants_in(parents: &BTreeMap<i32, i32>, roots: &[i32]) -> Vec<i32> {
    let mut out = Vec::new();
    let mut frontier: Vec<i32> = roots.to_vec();
    while let Some(p) = frontier.pop() {
        for (&c, &pp) in parents {
            if pp == p && !out.contains(&c) && !roots.contains(&c) {
                out.push(c);
                frontier.push(c);
            }
        }
    }
    out
}

/// Sends `sig` to each pid (errors ignored: a process may be gone).
pub fn signal_each(pids: &[i32], sig: libc::c_int) {
    for &pid in pids {
        if pid > 1 {
            // SAFETY: kill with a positive pid of a process we found as our
            // descendant; a stale pid only gets ESRCH.
            unsafe { libc::kill(pid, sig) };
        }
    }
}

/// The helpers (health checks, fences) `zkha run` has running now.
static HELPERS: Mutex<BTreeSet<i32>> = Mutex::new(BTreeSet::new());

/// Spawns a helper of `zkha run` and records it as such, so that
/// [`sweep_orphans`] leaves it alone until the returned [`Helper`] is
/// dropped: keep it until the child is reaped.
pub fn spawn_helper(cmd: &mut Command) -> io::Result<(Child, Helper)> {
    let mut helpers = HELPERS.lock();
    let child = cmd.spawn()?;
    let pid = child.id() as i32;
    helpers.insert(pid);
    Ok((child, Helper(pid)))
}

/// A helper's record (see [`spawn_helper`]); dropped once it is reaped.
#[must_use]
pub struct Helper(i32);

impl Drop for Helper {
    fn drop(&mut self) {
        HELPERS.lock().remove(&self.0);
    }
}

/// Kills (SIGKILL) and reaps every child of this process that is neither a
/// helper nor in `keep`, and all their descendants, until none is left:
/// what a killed watchdog leaves behind (its command's processes, re-parented
/// here). Returns how many processes were killed.
pub fn sweep_orphans(keep: &[i32]) -> usize {
    // SAFETY: getpid is always safe.
    let me = unsafe { libc::getpid() };
    let mut killed = BTreeSet::new();
    loop {
        let helpers = HELPERS.lock();
        let parents = parents();
        let strays: Vec<i32> = parents
            .iter()
            .filter(|&(c, &p)| p == me && !helpers.contains(c) && !keep.contains(c))
            .map(|(&c, _)| c)
            .collect();
        drop(helpers);
        if strays.is_empty() {
            return killed.len();
        }
        let mut all = descendants_in(&parents, &strays);
        all.extend(&strays);
        signal_each(&all, libc::SIGKILL);
        killed.extend(all);
        for pid in strays {
            let mut st = 0;
            // SAFETY: waits for our own child, which we just killed.
            unsafe { libc::waitpid(pid, &mut st, 0) };
        }
    }
}

/// Reaps, without waiting, the children of this process that are neither
/// helpers nor in `keep` and have exited (a helper's own orphans, re-parented
/// here because `zkha run` is a subreaper).
pub fn reap_strays(keep: &[i32]) {
    // SAFETY: getpid is always safe.
    let me = unsafe { libc::getpid() };
    let helpers = HELPERS.lock();
    for pid in children_of(me) {
        if helpers.contains(&pid) || keep.contains(&pid) {
            continue;
        }
        let mut st = 0;
        // SAFETY: WNOHANG on our own child: reaps it only if it has exited.
        unsafe { libc::waitpid(pid, &mut st, libc::WNOHANG) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ppid_is_read_past_a_name_with_parentheses_and_spaces() {
        assert_eq!(parse_ppid("42 (a) b) c) S 17 42 42 0"), Some(17));
        assert_eq!(parse_ppid("42 (sh) R 1 42"), Some(1));
        assert_eq!(parse_ppid("garbage"), None);
    }

    #[test]
    fn descendants_are_found_through_every_generation() {
        let parents: BTreeMap<i32, i32> =
            [(10, 1), (11, 10), (12, 11), (13, 1), (14, 12)].into();
        let mut d = descendants_in(&parents, &[10]);
        d.sort();
        assert_eq!(d, vec![11, 12, 14]);
        assert!(descendants_in(&parents, &[13]).is_empty());
    }
}
