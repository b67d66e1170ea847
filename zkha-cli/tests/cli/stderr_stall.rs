//! zkha's own stderr never blocks and never panics: with its stderr a pipe
//! nobody reads (a stalled log shipper) or a pipe whose reader is gone
//! (`2>&1 | head`), `zkha run` still becomes master, runs its command,
//! stops it on SIGTERM and exits 128+15; killed, its watchdog still stops
//! the command with SIGTERM. Judged by the command's own file (start and
//! stop lines), with every log line on (`RUST_LOG=debug`, the C client at
//! `--zk-log-level debug`) and a pipe of one page, so that it fills fast.

use crate::cli_kit;
use crate::common;

use cli_kit::{dir, hosts, lines, worker, zkha};
use common::eventually;
use std::io::{PipeReader, PipeWriter, Read};
use std::os::fd::AsRawFd;
use std::path::Path;
use std::process::{Child, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use zkha_testing::unique_path;

const LONG: Duration = Duration::from_secs(30);
/// "A few seconds": what zkha run may take to stop its command and exit.
const FEW: Duration = Duration::from_secs(10);

/// A pipe of one page (4096 bytes, PIPE_BUF): a few dozen log lines fill it.
fn small_pipe() -> (PipeReader, PipeWriter) {
    let (r, w) = std::io::pipe().unwrap();
    // SAFETY: fcntl(2) on a descriptor we own.
    let size = unsafe { libc::fcntl(w.as_raw_fd(), libc::F_SETPIPE_SZ, 4096) };
    assert_eq!(size, 4096, "F_SETPIPE_SZ");
    (r, w)
}

/// Bytes waiting in the pipe.
fn queued(r: &PipeReader) -> i32 {
    let mut n: libc::c_int = 0;
    // SAFETY: FIONREAD writes one int into `n`.
    unsafe { libc::ioctl(r.as_raw_fd(), libc::FIONREAD, &mut n) };
    n
}

fn run(path: &str, log: &Path, stderr: PipeWriter) -> Child {
    zkha()
        .env("RUST_LOG", "debug")
        .args([
            "run",
            "--hosts",
            hosts(),
            "--path",
            path,
            "--data",
            "10.0.0.1",
        ])
        .args(["--session-timeout", "4000", "--zk-log-level", "debug"])
        .arg("--")
        .args(quiet_worker(log))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(stderr)
        .spawn()
        .unwrap()
}

/// [`worker`] with its own stderr on /dev/null: the test is about zkha's
/// stderr, and `sh` itself would write to (and block on, or die of SIGPIPE
/// on) the shared one when it gets SIGTERM.
fn quiet_worker(log: &Path) -> Vec<String> {
    let mut cmd = worker("a", log);
    cmd[2] = format!("exec 2>/dev/null; {}", cmd[2]);
    cmd
}

/// Reads (and keeps) the pipe on a thread until `stall` is set; from then
/// on nobody reads it (the caller keeps its own end open). `resume` starts
/// reading again.
struct Reader {
    stall: Arc<AtomicBool>,
    text: Arc<parking_lot::Mutex<String>>,
    pipe: PipeReader,
}

impl Reader {
    fn start(pipe: PipeReader) -> Reader {
        let r = Reader {
            stall: Arc::new(AtomicBool::new(false)),
            text: Arc::default(),
            pipe,
        };
        r.resume();
        r
    }

    fn resume(&self) {
        self.stall.store(false, Ordering::SeqCst);
        let (stall, text) = (self.stall.clone(), self.text.clone());
        let mut pipe = self.pipe.try_clone().unwrap();
        std::thread::spawn(move || {
            let mut buf = [0u8; 512];
            while !stall.load(Ordering::SeqCst) {
                match pipe.read(&mut buf) {
                    Ok(0) | Err(_) => return,
                    Ok(n) => text.lock().push_str(&String::from_utf8_lossy(&buf[..n])),
                }
            }
        });
    }

    /// Stops reading and waits until the pipe is (about) full: fewer bytes
    /// free than a C client debug line needs.
    fn stall_until_full(&self) {
        self.stall.store(true, Ordering::SeqCst);
        assert!(
            eventually(LONG, || queued(&self.pipe) >= 4096 - 200),
            "the pipe never filled: {} bytes queued",
            queued(&self.pipe)
        );
    }
}

/// Waits up to [`FEW`] for `p` to exit.
fn exit_within_few(p: &mut Child) -> Option<std::process::ExitStatus> {
    let end = Instant::now() + FEW;
    while Instant::now() < end {
        if let Some(status) = p.try_wait().unwrap() {
            return Some(status);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    None
}

/// The command's pid, from its `start a <pid> ...` line.
fn command_pid(log: &Path) -> Option<i32> {
    lines(log)
        .iter()
        .find_map(|l| l.strip_prefix("start a ")?.split(' ').next()?.parse().ok())
}

/// After a failure: unblock and end everything the test started.
fn clean_up(p: &mut Child, reader: Option<&Reader>, log: &Path) {
    if let Some(r) = reader {
        r.resume();
    }
    let _ = p.kill();
    let _ = p.wait();
    if let Some(pid) = command_pid(log) {
        // SAFETY: the command's process group (its pid), started for us.
        unsafe { libc::kill(-pid, libc::SIGKILL) };
    }
}

fn sigterm(p: &Child) {
    // SAFETY: a child of ours, not reaped yet.
    unsafe { libc::kill(p.id() as i32, libc::SIGTERM) };
}

#[test]
fn a_stalled_stderr_never_holds_up_zkha_run() {
    let d = dir("stderr-stalled");
    let log = d.join("cmds.log");
    let path = format!("{}/m", unique_path("stderr-stalled"));
    let (r, w) = small_pipe();
    let mut p = run(&path, &log, w);
    let reader = Reader::start(r);
    assert!(
        eventually(LONG, || lines(&log)
            .iter()
            .any(|l| l.starts_with("start a"))),
        "never master"
    );
    reader.stall_until_full();
    // A renewal or two with the pipe full.
    std::thread::sleep(Duration::from_millis(1500));
    sigterm(&p);
    let status = exit_within_few(&mut p);
    let stopped = lines(&log).contains(&"stop a".to_owned());
    if status.is_none() || !stopped {
        clean_up(&mut p, Some(&reader), &log);
    }
    assert!(
        stopped,
        "the command was not stopped within {FEW:?} of SIGTERM with zkha's stderr full: {:?}",
        lines(&log)
    );
    let status = status.unwrap_or_else(|| {
        panic!("zkha run did not exit within {FEW:?} of SIGTERM with its stderr full")
    });
    assert_eq!(status.code(), Some(143), "{status}");
}

#[test]
fn once_stderr_is_read_again_the_dropped_lines_are_counted() {
    let d = dir("stderr-resumed");
    let log = d.join("cmds.log");
    let path = format!("{}/m", unique_path("stderr-resumed"));
    let (r, w) = small_pipe();
    let mut p = run(&path, &log, w);
    let reader = Reader::start(r);
    assert!(
        eventually(LONG, || lines(&log)
            .iter()
            .any(|l| l.starts_with("start a"))),
        "never master"
    );
    reader.stall_until_full();
    std::thread::sleep(Duration::from_millis(1500));
    reader.resume();
    let said = eventually(LONG, || {
        reader
            .text
            .lock()
            .contains("log lines dropped (stderr was full or closed)")
    });
    sigterm(&p);
    if exit_within_few(&mut p).is_none() {
        clean_up(&mut p, Some(&reader), &log);
    }
    assert!(
        said,
        "zkha never said it dropped lines; the tail of what it wrote:\n{}",
        tail(&reader.text.lock())
    );
}

fn tail(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(5)..].join("\n")
}

#[test]
fn a_closed_stderr_never_stops_zkha_run() {
    let d = dir("stderr-closed");
    let log = d.join("cmds.log");
    let path = format!("{}/m", unique_path("stderr-closed"));
    let (r, w) = small_pipe();
    drop(r);
    let mut p = run(&path, &log, w);
    assert!(
        eventually(LONG, || lines(&log)
            .iter()
            .any(|l| l.starts_with("start a"))),
        "never master (zkha run: {:?})",
        p.try_wait()
    );
    std::thread::sleep(Duration::from_millis(1000));
    assert!(
        p.try_wait().unwrap().is_none(),
        "zkha run ended with a closed stderr: {:?}",
        p.try_wait()
    );
    sigterm(&p);
    let status = exit_within_few(&mut p);
    if status.is_none() {
        clean_up(&mut p, None, &log);
    }
    let status = status.expect("zkha run did not exit within a few seconds of SIGTERM");
    assert_eq!(
        status.code(),
        Some(143),
        "{status} (101: a panic on the closed stderr)"
    );
    assert!(
        lines(&log).contains(&"stop a".to_owned()),
        "the command was not stopped with SIGTERM: {:?}",
        lines(&log)
    );
}

#[test]
fn with_a_closed_stderr_a_killed_zkha_still_has_its_command_stopped() {
    let d = dir("stderr-closed-crash");
    let log = d.join("cmds.log");
    let path = format!("{}/m", unique_path("stderr-closed-crash"));
    let (r, w) = small_pipe();
    drop(r);
    let mut p = run(&path, &log, w);
    assert!(
        eventually(LONG, || lines(&log)
            .iter()
            .any(|l| l.starts_with("start a"))),
        "never master"
    );
    // zkha dies; its watchdog must stop the command (SIGTERM first), not
    // panic writing its note to the closed stderr.
    p.kill().unwrap();
    p.wait().unwrap();
    let stopped = eventually(FEW, || lines(&log).contains(&"stop a".to_owned()));
    if !stopped {
        clean_up(&mut p, None, &log);
    }
    assert!(
        stopped,
        "the watchdog never sent the command SIGTERM: {:?}",
        lines(&log)
    );
}
