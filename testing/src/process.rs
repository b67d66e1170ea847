//! Process plumbing for testing servers: the process-exit reaper, private
//! temporary directories and free ports.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::io;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{SystemTime, UNIX_EPOCH};

/// Live server processes and directories, cleaned up at process exit for
/// servers never dropped (statics such as the shared server).
struct ProcessRegistry {
    pids: HashSet<i32>,
    dirs: HashMap<PathBuf, ()>,
}

fn registry() -> &'static Mutex<ProcessRegistry> {
    static REGISTRY: OnceLock<Mutex<ProcessRegistry>> = OnceLock::new();
    REGISTRY.get_or_init(|| {
        extern "C" fn reap_at_exit() {
            // No panic may unwind out of an atexit handler.
            let _ = std::panic::catch_unwind(|| {
                let Ok(reg) = registry().lock() else { return };
                for &pid in &reg.pids {
                    // SAFETY: kill/waitpid on our own child pids; no memory is touched.
                    unsafe {
                        libc::kill(pid, libc::SIGKILL);
                        libc::waitpid(pid, std::ptr::null_mut(), 0);
                    }
                }
                for dir in reg.dirs.keys() {
                    let _ = fs::remove_dir_all(dir);
                }
            });
        }
        // SAFETY: registers a plain extern "C" fn with no captured state.
        unsafe { libc::atexit(reap_at_exit) };
        Mutex::new(ProcessRegistry {
            pids: HashSet::new(),
            dirs: HashMap::new(),
        })
    })
}

pub(crate) fn register_pid(pid: u32) {
    registry()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .pids
        .insert(pid as i32);
}

pub(crate) fn unregister_pid(pid: u32) {
    registry()
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .pids
        .remove(&(pid as i32));
}

/// A private directory under `$TMPDIR/zkha-testing`, removed on drop (or at
/// process exit). Directories of dead processes are swept when one is made.
#[derive(Debug)]
pub(crate) struct TempDir {
    path: PathBuf,
}

impl TempDir {
    pub(crate) fn new(label: &str) -> io::Result<TempDir> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let base = std::env::temp_dir().join("zkha-testing");
        fs::create_dir_all(&base)?;
        sweep_dead(&base);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let path = base.join(format!(
            "{}-{}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed),
            nanos,
            label
        ));
        fs::create_dir(&path)?;
        registry()
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .dirs
            .insert(path.clone(), ());
        Ok(TempDir { path })
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.path);
        registry()
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .dirs
            .remove(&self.path);
    }
}

/// Removes directories whose owning process (the name's first field) is gone.
fn sweep_dead(base: &Path) {
    let Ok(entries) = fs::read_dir(base) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.split('-').next())
            .and_then(|p| p.parse::<i32>().ok())
        else {
            continue;
        };
        // SAFETY: signal 0 only checks that the pid exists.
        let alive = unsafe { libc::kill(pid, 0) } == 0
            || io::Error::last_os_error().raw_os_error() != Some(libc::ESRCH);
        if !alive {
            let _ = fs::remove_dir_all(entry.path());
        }
    }
}

/// A TCP port on 127.0.0.1 that was free a moment ago and that this process
/// has not handed out before.
pub(crate) fn free_port() -> io::Result<u16> {
    static GIVEN: Mutex<Vec<u16>> = Mutex::new(Vec::new());
    for _ in 0..100 {
        let port = TcpListener::bind(("127.0.0.1", 0))?.local_addr()?.port();
        let mut given = GIVEN.lock().unwrap_or_else(|e| e.into_inner());
        if !given.contains(&port) {
            given.push(port);
            return Ok(port);
        }
    }
    Err(io::Error::other("no free 127.0.0.1 port found"))
}
