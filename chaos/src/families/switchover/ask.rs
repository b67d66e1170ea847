//! Asking for a switchover (the real `zkha switchover`, or its protocol
//! written directly while the command is missing), and the master node as
//! ZooKeeper itself shows it.

use crate::*;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use zkha::elector::registry::{self, ControlOp};
use zkha::{ErrorCode, ZooKeeper};

type Shared<T> = Arc<std::sync::Mutex<T>>;

/// One mastership as ZooKeeper showed it: the master node's czxid (the
/// fencing token), its owner session, its `ctime` (the server's clock, ms
/// since the epoch) and when the harness first saw it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Seen {
    pub(crate) czxid: i64,
    pub(crate) owner: i64,
    pub(crate) ctime_ms: i64,
    pub(crate) at: f64,
}

/// A client of the harness's own polling the master node every 10 ms: a
/// node lives at least until its owner's session ends (a session timeout
/// for a killed owner), so no mastership goes unseen.
pub(crate) struct NodeLog {
    stop: Arc<AtomicBool>,
    seen: Shared<Vec<Seen>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl NodeLog {
    pub(crate) fn start(zk: Arc<ZooKeeper>, path: &str) -> NodeLog {
        let stop = Arc::new(AtomicBool::new(false));
        let seen: Shared<Vec<Seen>> = Default::default();
        let (st, log, path) = (stop.clone(), seen.clone(), path.to_owned());
        let thread = std::thread::spawn(move || {
            while !st.load(Ordering::SeqCst) {
                let at = monotonic_ms();
                if let Ok(Some(stat)) = zk.exists(&path, false) {
                    let mut log = log.lock().unwrap_or_else(|e| e.into_inner());
                    if log.last().is_none_or(|l| l.czxid != stat.czxid) {
                        log.push(Seen {
                            czxid: stat.czxid,
                            owner: stat.ephemeral_owner,
                            ctime_ms: stat.ctime,
                            at,
                        });
                    }
                }
                std::thread::sleep(Duration::from_millis(10));
            }
        });
        NodeLog {
            stop,
            seen,
            thread: Some(thread),
        }
    }

    /// Every mastership seen so far, in order.
    pub(crate) fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The highest token seen so far.
    pub(crate) fn max_token(&self) -> Option<i64> {
        self.seen().iter().map(|s| s.czxid).max()
    }
}

impl Drop for NodeLog {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// Now on the realtime clock, ms since the epoch (the clock of a node's
/// `ctime`, on this one machine).
pub(crate) fn wall_clock_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// A switchover asked for: when (taken just before the request, on both
/// clocks), and the `zkha switchover` process if the real command asked.
pub(crate) struct Asked {
    pub(crate) at: f64,
    pub(crate) wall_ms: i64,
    pub(crate) child: Option<Child>,
    pub(crate) log: PathBuf,
    /// The command's exit code, once it exited (`Some(None)`: by a signal).
    pub(crate) exit: Option<Option<i32>>,
}

/// Whether this `zkha` has the `switchover` command.
pub(crate) fn has_switchover(zkha: &Path) -> bool {
    Command::new(zkha)
        .args(["switchover", "--help"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .output()
        .is_ok_and(|o| o.status.success() && String::from_utf8_lossy(&o.stdout).contains("--to"))
}

/// The control node's version (`None`: not readable now).
fn control_version(zk: &ZooKeeper, path: &str) -> Option<(ControlOp, i32)> {
    registry::read_control(zk, path)
        .ok()
        .flatten()
        .map(|(op, stat)| (op, stat.version))
}

/// Asks for a switchover of election `path` to `to`, for `timeout`: with
/// `zkha` (the real command, its output in `log`) if given, or by writing
/// the operation the command writes, with a version-checked set.
pub(crate) fn ask(
    zk: &ZooKeeper,
    zkha: Option<(&Path, &str)>,
    path: &str,
    to: &str,
    timeout: Duration,
    log: PathBuf,
) -> Result<Asked, String> {
    let before = control_version(zk, path);
    match &before {
        None => return Err("the control node cannot be read".into()),
        Some((ControlOp::None, _)) => {}
        // The command judges an operation left there itself (it replaces
        // a stale one); the harness clears the control node after every
        // round, so this is one left meanwhile.
        Some((op, _)) if zkha.is_none() => {
            return Err(format!("an operation is already in force: {op:?}"))
        }
        Some(_) => {}
    }
    let (at, wall_ms) = (monotonic_ms(), wall_clock_ms());
    let Some((zkha, hosts)) = zkha else {
        let by = format!("zkha-chaos (pid {})", std::process::id());
        let op = ControlOp::Switchover {
            to: to.to_owned(),
            timeout,
            by,
        };
        let data = op.encode();
        let control = registry::control_path(path);
        // Through connection losses: a set whose answer was lost may have
        // been applied (then the operation is there, or was already acted
        // on: the version moved on).
        let done = Asked {
            at,
            wall_ms,
            child: None,
            log,
            exit: None,
        };
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        let mut version = before.map(|(_, v)| v).unwrap_or(0);
        while std::time::Instant::now() < deadline {
            match zk.set(&control, &data, version) {
                Ok(()) => return Ok(done),
                Err(e) if e.code() == Some(ErrorCode::BadVersion) => {
                    return match control_version(zk, path) {
                        Some((now, _)) if now == op => Ok(done),
                        now => Err(format!("the control node changed under the set: {now:?}")),
                    };
                }
                Err(_) => {
                    std::thread::sleep(Duration::from_millis(50));
                    match control_version(zk, path) {
                        Some((now, _)) if now == op => return Ok(done),
                        Some((_, v)) => version = v,
                        None => {}
                    }
                }
            }
        }
        return Err("the switchover could not be written within 10 s".into());
    };
    let out = std::fs::File::create(&log).map_err(|e| format!("{}: {e}", log.display()))?;
    let err = out.try_clone().map_err(|e| e.to_string())?;
    let mut child = Command::new(zkha)
        .env("RUST_LOG", "zkha=info,warn")
        .args(["switchover", "--hosts", hosts, "--path", path, "--to", to])
        .args(["--timeout", &timeout.as_millis().to_string()])
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .map_err(|e| format!("zkha switchover: {e}"))?;
    // Written once the control node's version moved (the target may have
    // acted on it already: moved twice). Looked at every millisecond, so
    // that the fault comes during the handover, which takes tens of ms:
    // the request counts from just before the last look that still found
    // the old version (the write came after it, the command's own timeout
    // counts from after the write).
    let v0 = before.map(|(_, v)| v);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let (mut at, mut wall_ms) = (at, wall_ms);
    let moved = loop {
        let (look_at, look_wall) = (monotonic_ms(), wall_clock_ms());
        match control_version(zk, path) {
            Some((_, v)) if Some(v) != v0 => break true,
            Some(_) => (at, wall_ms) = (look_at, look_wall),
            None => {}
        }
        if std::time::Instant::now() > deadline || !matches!(child.try_wait(), Ok(None)) {
            break control_version(zk, path).is_some_and(|(_, v)| Some(v) != v0);
        }
        std::thread::sleep(Duration::from_millis(1));
    };
    if !moved {
        let status = child.try_wait();
        if status.as_ref().is_ok_and(|s| s.is_none()) {
            let _ = child.kill();
            let _ = child.wait();
        }
        let said = std::fs::read_to_string(&log).unwrap_or_default();
        return Err(format!(
            "zkha switchover --to {to} wrote nothing ({status:?}): {}",
            said.trim()
        ));
    }
    Ok(Asked {
        at,
        wall_ms,
        child: Some(child),
        log,
        exit: None,
    })
}
