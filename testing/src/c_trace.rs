//! Drives `c/zk_trace.c` (a plain C client built by build.rs against the
//! same library) over its stdin/stdout protocol, so a test can run one
//! scenario through the C client and through zkha and compare them.

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A running `zk_trace` ([`programs::zk_trace`](crate::programs::zk_trace)):
/// commands go to its stdin, one answer line comes back for each, and its
/// watcher's `event TYPE STATE PATH` lines are collected apart. The process
/// is told to quit (then killed) on drop.
pub struct CTrace {
    child: Child,
    stdin: ChildStdin,
    replies: mpsc::Receiver<String>,
    events: Arc<Mutex<Vec<String>>>,
}

impl CTrace {
    /// Starts `zk_trace HOSTS TIMEOUT_MS [LOG_LEVEL LOG_FILE]`; the commands
    /// are listed at the top of `c/zk_trace.c`.
    ///
    /// # Panics
    /// If the program cannot be started (a test fixture, not an API).
    pub fn spawn(args: &[&str]) -> CTrace {
        let mut child = Command::new(crate::programs::zk_trace())
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("cannot start zk_trace");
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, replies) = mpsc::channel();
        let events = Arc::new(Mutex::new(Vec::new()));
        let ev = events.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if line.starts_with("event ") {
                    ev.lock().unwrap().push(line);
                } else if tx.send(line).is_err() {
                    break;
                }
            }
        });
        CTrace {
            child,
            stdin,
            replies,
            events,
        }
    }

    /// Sends one command and returns its one-line answer.
    ///
    /// # Panics
    /// If no answer comes within 30 s.
    pub fn cmd(&mut self, line: &str) -> String {
        writeln!(self.stdin, "{line}").unwrap();
        self.stdin.flush().unwrap();
        self.replies
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|_| panic!("zk_trace did not answer {line:?}"))
    }

    /// The watcher calls seen so far, as `event TYPE STATE PATH` lines (PATH
    /// `-` when empty), in order.
    pub fn events(&self) -> Vec<String> {
        self.events.lock().unwrap().clone()
    }
}

impl Drop for CTrace {
    fn drop(&mut self) {
        let _ = writeln!(self.stdin, "quit");
        let _ = self.stdin.flush();
        for _ in 0..100 {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
