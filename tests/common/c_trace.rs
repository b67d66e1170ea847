//! Drives `tests/c/zk_trace.c` (a plain C client built by build.rs against the
//! same library) over its stdin/stdout protocol.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub struct CTrace {
    child: Child,
    stdin: ChildStdin,
    replies: mpsc::Receiver<String>,
    events: Arc<Mutex<Vec<String>>>,
}

impl CTrace {
    /// `zk_trace HOSTS TIMEOUT_MS [LOG_LEVEL LOG_FILE]`.
    pub fn spawn(args: &[&str]) -> CTrace {
        let mut child = Command::new(env!("ZKHA_ZK_TRACE"))
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
    pub fn cmd(&mut self, line: &str) -> String {
        writeln!(self.stdin, "{line}").unwrap();
        self.stdin.flush().unwrap();
        self.replies
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|_| panic!("zk_trace did not answer {line:?}"))
    }

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
