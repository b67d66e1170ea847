//! One process per session file: a session file names a live session,
//! and two processes attached to one session would both be its master (and
//! each other's watchdog could end it under the other). The safe profile
//! takes an exclusive `flock` on the file's lock file, `FILE.lock` (the
//! session file itself is replaced by a rename at each save, so a lock on
//! it would be on an inode that is soon gone), held for the rest of the
//! process's life once taken (leaving the election and joining it again
//! leaves no gap for another process), and refuses a second process, or a
//! second elector of this process using it at the same time. The lock file
//! holds the pid of the process that has it, for the error message. It is
//! opened close-on-exec: no child (a command, a watchdog) inherits the
//! lock, so it goes with the process.

use crate::error::{Argument, Error, Result};
use std::fs::File;
use std::io::{Read, Seek, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

/// A lock this process took: kept open (and so locked) until exit.
struct Held {
    /// The lock file, canonical.
    key: PathBuf,
    _file: File,
    /// An elector is using its session file now.
    in_use: bool,
}

static HELD: Mutex<Vec<Held>> = Mutex::new(Vec::new());

fn held() -> std::sync::MutexGuard<'static, Vec<Held>> {
    HELD.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The lock file of a session file: `FILE.lock`.
pub fn lock_path(session_file: &Path) -> PathBuf {
    let mut name = session_file.as_os_str().to_owned();
    name.push(".lock");
    PathBuf::from(name)
}

/// An elector's use of its session file; ends (not the lock) when dropped.
pub(crate) struct SessionFileLock {
    key: PathBuf,
}

impl Drop for SessionFileLock {
    fn drop(&mut self) {
        if let Some(h) = held().iter_mut().find(|h| h.key == self.key) {
            h.in_use = false;
        }
    }
}

fn refuse(reason: String) -> Error {
    Error::invalid(Argument::ClientId, reason)
}

/// Takes the session file `file` for this elector: an error naming the
/// file (and the pid of the process holding it, when it can tell) if
/// another process, or another elector of this one, has it.
pub(crate) fn lock(file: &Path) -> Result<SessionFileLock> {
    let path = lock_path(file);
    let mut lock_file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .mode(0o600)
        .open(&path)
        .map_err(|e| {
            refuse(format!(
                "session file {}: cannot open its lock file {}: {e}",
                file.display(),
                path.display()
            ))
        })?;
    let key = std::fs::canonicalize(&path).unwrap_or_else(|_| path.clone());
    let mut held = held();
    if let Some(h) = held.iter_mut().find(|h| h.key == key) {
        // (The descriptor just opened goes: a flock belongs to the open
        // file description that took it, so closing another one keeps it.)
        if h.in_use {
            return Err(refuse(format!(
                "session file {} is in use by another elector of this process (pid {})",
                file.display(),
                std::process::id()
            )));
        }
        h.in_use = true;
        return Ok(SessionFileLock { key });
    }
    // SAFETY: flock on a descriptor we own and keep open.
    if unsafe { libc::flock(lock_file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        let e = std::io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::EWOULDBLOCK) {
            return Err(refuse(format!(
                "session file {}: cannot lock {}: {e}",
                file.display(),
                path.display()
            )));
        }
        let mut text = String::new();
        let _ = lock_file.read_to_string(&mut text);
        let holder = match text.trim().parse::<u32>() {
            Ok(pid) => format!("pid {pid}"),
            Err(_) => format!("it holds {}", path.display()),
        };
        return Err(refuse(format!(
            "session file {} is in use by another process ({holder})",
            file.display()
        )));
    }
    // Ours: say who has it (best effort: the lock is what counts).
    let _ = lock_file
        .set_len(0)
        .and_then(|_| lock_file.rewind())
        .and_then(|_| writeln!(lock_file, "{}", std::process::id()));
    held.push(Held {
        key: key.clone(),
        _file: lock_file,
        in_use: true,
    });
    Ok(SessionFileLock { key })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_elector_at_a_time_in_this_process_and_again_after() {
        let dir = std::env::temp_dir().join(format!("zkha-session-lock-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("session");
        assert_eq!(lock_path(&file), dir.join("session.lock"));
        let first = lock(&file).unwrap();
        let pid = std::process::id();
        assert_eq!(
            std::fs::read_to_string(lock_path(&file)).unwrap(),
            format!("{pid}\n")
        );
        let e = lock(&file)
            .err()
            .expect("a second elector at once")
            .to_string();
        assert!(
            e.contains(&format!(
                "session file {} is in use by another elector of this process (pid {pid})",
                file.display()
            )),
            "{e}"
        );
        drop(first);
        let again = lock(&file).unwrap();
        drop(again);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
