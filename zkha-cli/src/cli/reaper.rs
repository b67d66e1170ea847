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
/// the command name, which may hold spaces and parentheses). A read of
/// every process on the host: only where the kernel lists no children
/// ([`children_listed`]).
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

/// Whether the kernel lists each task's children
/// (`/proc/<pid>/task/<tid>/children`, CONFIG_PROC_CHILDREN, on in
/// Debian's and most distributions' kernels). Where it does, a walk of
/// the command's tree reads only the tree's own processes; where it does
/// not, it reads every process on the host (`parents`), which takes
/// milliseconds on a busy host: time a stop's SIGTERM waits for before
/// the command's exit can be seen.
fn children_listed() -> bool {
    static LISTED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *LISTED.get_or_init(|| std::path::Path::new("/proc/thread-self/children").exists())
}

/// The children of `pid` as the kernel lists them: those of each of its
/// threads (a child's parent is the thread that forked it, or the one an
/// orphan was re-parented to). A process gone meanwhile has none.
fn listed_children(pid: i32) -> Vec<i32> {
    let mut out = Vec::new();
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return out;
    };
    for task in tasks.flatten() {
        let mut file = task.path();
        file.push("children");
        if let Ok(list) = std::fs::read_to_string(file) {
            out.extend(
                list.split_whitespace()
                    .filter_map(|c| c.parse::<i32>().ok()),
            );
        }
    }
    out
}

/// The children of `pid`.
pub fn children_of(pid: i32) -> Vec<i32> {
    if children_listed() {
        return listed_children(pid);
    }
    parents()
        .into_iter()
        .filter(|&(_, p)| p == pid)
        .map(|(c, _)| c)
        .collect()
}

/// Every descendant of `pid` (not `pid` itself), parents before children.
pub fn descendants_of(pid: i32) -> Vec<i32> {
    descendants_of_all(&[pid])
}

/// Every descendant of each of `roots` (not the roots), parents before
/// children.
fn descendants_of_all(roots: &[i32]) -> Vec<i32> {
    if !children_listed() {
        return descendants_in(&parents(), roots);
    }
    let mut out: Vec<i32> = Vec::new();
    let mut frontier: Vec<i32> = roots.to_vec();
    while let Some(p) = frontier.pop() {
        for c in listed_children(p) {
            if !out.contains(&c) && !roots.contains(&c) {
                out.push(c);
                frontier.push(c);
            }
        }
    }
    out
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

/// Records `pid`, a child already running, as a helper (see
/// [`spawn_helper`]): a watchdog whose command is gone, reaped aside.
/// Call it while the child is still known by other means (the
/// supervisor's slot, under its lock), so no sweep sees it unknown.
pub fn keep_as_helper(pid: i32) -> Helper {
    HELPERS.lock().insert(pid);
    Helper(pid)
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
        let strays: Vec<i32> = children_of(me)
            .into_iter()
            .filter(|c| !helpers.contains(c) && !keep.contains(c))
            .collect();
        drop(helpers);
        if strays.is_empty() {
            return killed.len();
        }
        let mut all = descendants_of_all(&strays);
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

/// In the forked child before exec (async-signal-safe: open, write,
/// close): moves the calling process into the cgroup whose `cgroup.procs`
/// is `procs`. A failure is not fatal: the subreaper still contains the
/// command.
pub fn join_cgroup(procs: &std::ffi::CStr) {
    // SAFETY: a NUL-terminated path we own; plain syscalls on a descriptor
    // opened here.
    unsafe {
        let fd = libc::open(procs.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
        if fd >= 0 {
            libc::write(fd, b"0".as_ptr().cast(), 1);
            libc::close(fd);
        }
    }
}

/// This process's cgroup v2 directory: its `0::` line in
/// `/proc/self/cgroup`, under the cgroup2 mount of `/proc/self/mountinfo`.
fn own_cgroup_dir() -> Option<std::path::PathBuf> {
    let mine = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    let rel = mine.lines().find_map(|l| l.strip_prefix("0::"))?.trim();
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    let mount = mountinfo.lines().find_map(|l| {
        let (pre, post) = l.split_once(" - ")?;
        if post.starts_with("cgroup2 ") {
            pre.split_whitespace().nth(4).map(str::to_owned)
        } else {
            None
        }
    })?;
    Some(std::path::Path::new(&mount).join(rel.trim_start_matches('/')))
}

/// A cgroup v2 of the command's own, where the watchdog's cgroup can have
/// children (systemd's `Delegate=yes`, or root on a cgroup2 mount): the
/// command joins it before exec, so every process it starts is in it
/// whatever it does, and `cgroup.kill` ends them all at once. Without one,
/// containment rests on the subreaper alone.
pub struct CommandCgroup {
    dir: std::path::PathBuf,
    /// `<dir>/cgroup.procs`, for the child to join before exec.
    procs: std::ffi::CString,
}

impl CommandCgroup {
    /// Creates `zkha-cmd-<pid>` under this process's cgroup v2; `None`
    /// where there is no cgroup2 mount or it is not writable.
    pub fn create() -> Option<CommandCgroup> {
        // Test-only: the subreaper alone (tests/cli/containment.rs), which
        // a cgroup would otherwise hide.
        if std::env::var_os("ZKHA_TEST_NO_CGROUP").is_some() {
            return None;
        }
        let base = own_cgroup_dir()?;
        // SAFETY: getpid is always safe.
        let me = unsafe { libc::getpid() };
        // One left by an earlier watchdog with this pid: emptied first.
        CommandCgroup::clean_up_after(me);
        let dir = base.join(format!("zkha-cmd-{me}"));
        std::fs::create_dir(&dir).ok()?;
        let procs = dir.join("cgroup.procs");
        if std::fs::metadata(&procs).is_err() {
            let _ = std::fs::remove_dir(&dir);
            return None;
        }
        let procs = std::ffi::CString::new(procs.into_os_string().into_encoded_bytes()).ok()?;
        Some(CommandCgroup { dir, procs })
    }

    pub fn path(&self) -> &std::path::Path {
        &self.dir
    }

    /// What the forked child calls before exec to join the cgroup (see
    /// [`join_cgroup`]).
    pub fn procs_file(&self) -> std::ffi::CString {
        self.procs.clone()
    }

    /// The processes in the cgroup now.
    pub fn members(&self) -> Vec<i32> {
        std::fs::read_to_string(self.dir.join("cgroup.procs"))
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.trim().parse().ok())
            .collect()
    }

    /// SIGKILL to every process in it (`cgroup.kill`, Linux 5.14+; else
    /// each listed process).
    pub fn kill(&self) {
        if std::fs::write(self.dir.join("cgroup.kill"), "1").is_err() {
            signal_each(&self.members(), libc::SIGKILL);
        }
    }

    /// Removes the cgroup (it must be empty): false if it is not.
    pub fn remove(&self) -> bool {
        std::fs::remove_dir(&self.dir).is_ok()
    }

    /// The cgroup a killed watchdog `pid` left: kills what is in it and
    /// removes it (from `zkha run`, which found the watchdog dead).
    pub fn clean_up_after(watchdog: i32) {
        let Some(base) = own_cgroup_dir() else {
            return;
        };
        let dir = base.join(format!("zkha-cmd-{watchdog}"));
        if dir.exists() {
            let procs = dir.join("cgroup.procs").into_os_string();
            if let Ok(procs) = std::ffi::CString::new(procs.into_encoded_bytes()) {
                let cg = CommandCgroup { dir, procs };
                cg.kill();
                for _ in 0..100 {
                    if cg.members().is_empty() && cg.remove() {
                        break;
                    }
                    std::thread::sleep(std::time::Duration::from_millis(10));
                }
            }
        }
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

    /// The kernel's lists of children find the same tree as a read of
    /// every process's parent: a shell forked from this test's thread (not
    /// the process's main thread: every thread's list counts) and the two
    /// `sleep`s it started.
    #[test]
    fn the_kernels_lists_of_children_find_the_whole_tree() {
        assert!(
            children_listed(),
            "this kernel lists no children: the walk reads every process"
        );
        let mut sh = std::process::Command::new("sh")
            .args(["-c", "sleep 30 & sleep 30 & wait"])
            .spawn()
            .unwrap();
        let (me, shell) = (std::process::id() as i32, sh.id() as i32);
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        let mut sleeps = descendants_of(shell);
        while sleeps.len() < 2 && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(10));
            sleeps = descendants_of(shell);
        }
        let (mine, children) = (descendants_of(me), children_of(me));
        let mut by_parents = descendants_in(&parents(), &[shell]);
        let _ = sh.kill();
        // Only what the full read shows as the shell's (never a pid the
        // walk under test made up: 0 or -1 would be a process group, or
        // every process), and never below 2 (`signal_each`).
        signal_each(&by_parents, libc::SIGKILL);
        let _ = sh.wait();
        sleeps.sort();
        by_parents.sort();
        assert_eq!(sleeps.len(), 2, "the shell's two sleeps: {sleeps:?}");
        assert_eq!(sleeps, by_parents);
        assert!(
            children.contains(&shell),
            "{children:?} lacks the shell {shell}"
        );
        for pid in sleeps.iter().chain([&shell]) {
            assert!(mine.contains(pid), "{mine:?} lacks {pid}");
        }
    }

    #[test]
    fn descendants_are_found_through_every_generation() {
        let parents: BTreeMap<i32, i32> = [(10, 1), (11, 10), (12, 11), (13, 1), (14, 12)].into();
        let mut d = descendants_in(&parents, &[10]);
        d.sort();
        assert_eq!(d, vec![11, 12, 14]);
        assert!(descendants_in(&parents, &[13]).is_empty());
    }
}
