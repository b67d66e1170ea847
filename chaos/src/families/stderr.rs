//! A candidate's stderr as a pipe this program reads, stalls or breaks.

use crate::*;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// A pipe, both ends close-on-exec: (read, write).
pub(crate) fn pipe() -> std::io::Result<(OwnedFd, OwnedFd)> {
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: pipe2 writes two new descriptors into our array.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: both descriptors are new and ours alone from here on.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// A candidate's stderr as a pipe: a thread copies it into the candidate's
/// log until [`pause`](Self::pause); [`fill`](Self::fill) then leaves no
/// room in it, so that `zkha run`'s next write to stderr blocks.
pub struct StderrPipe {
    /// This program's copy of the write end (to fill the pipe).
    pub(crate) write: Option<OwnedFd>,
    pub(crate) paused: Arc<AtomicBool>,
    /// The reader saw `paused` and reads no more.
    pub(crate) parked: Arc<AtomicBool>,
    pub(crate) done: Arc<AtomicBool>,
    pub(crate) thread: Option<std::thread::JoinHandle<()>>,
}

impl StderrPipe {
    /// The pipe and the write end for the child's stderr.
    pub(crate) fn start(log: std::fs::File) -> std::io::Result<(StderrPipe, OwnedFd)> {
        let (r, w) = pipe()?;
        let end = w.try_clone()?;
        let paused = Arc::new(AtomicBool::new(false));
        let parked = Arc::new(AtomicBool::new(false));
        let done = Arc::new(AtomicBool::new(false));
        let (p, k, d) = (paused.clone(), parked.clone(), done.clone());
        let thread = std::thread::spawn(move || {
            use std::io::{Read, Write};
            let (mut r, mut log) = (std::fs::File::from(r), log);
            let mut buf = vec![0u8; 1 << 16];
            while !d.load(Ordering::SeqCst) {
                if p.load(Ordering::SeqCst) {
                    k.store(true, Ordering::SeqCst);
                    std::thread::sleep(Duration::from_millis(5));
                    continue;
                }
                let mut fd = libc::pollfd {
                    fd: r.as_raw_fd(),
                    events: libc::POLLIN,
                    revents: 0,
                };
                // SAFETY: one pollfd of ours, for 20 ms at most.
                if unsafe { libc::poll(&mut fd, 1, 20) } <= 0 {
                    continue;
                }
                match r.read(&mut buf) {
                    // Every writer is gone.
                    Ok(0) => return,
                    Ok(n) => {
                        let _ = log.write_all(&buf[..n]);
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        Ok((
            StderrPipe {
                write: Some(w),
                paused,
                parked,
                done,
                thread: Some(thread),
            },
            end,
        ))
    }

    /// Stops reading: once this returns, nobody reads the pipe.
    pub fn pause(&self) -> Result<(), String> {
        self.paused.store(true, Ordering::SeqCst);
        if wait_until(Duration::from_secs(5), || {
            self.parked.load(Ordering::SeqCst)
        }) {
            Ok(())
        } else {
            Err("the stderr reader did not stop reading".into())
        }
    }

    /// Reads again.
    pub fn resume(&self) {
        self.parked.store(false, Ordering::SeqCst);
        self.paused.store(false, Ordering::SeqCst);
    }

    /// Writes into the (paused) pipe until a non-blocking write finds no
    /// room left; returns the bytes written.
    pub fn fill(&self) -> Result<usize, String> {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let w = self.write.as_ref().ok_or("the stderr pipe is closed")?;
        // An open file description of our own: O_NONBLOCK on the one zkha
        // run shares would make its writes fail instead of blocking.
        let f = std::fs::OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(format!("/proc/self/fd/{}", w.as_raw_fd()))
            .map_err(|e| format!("reopening the stderr pipe: {e}"))?;
        let mut total = 0;
        // Whole pages while they fit (a write up to PIPE_BUF is all or
        // nothing), then byte by byte.
        for chunk in [4096, 1] {
            let bytes = vec![b'~'; chunk];
            loop {
                match (&f).write(&bytes) {
                    Ok(n) => total += n,
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                    Err(e) => return Err(format!("filling the stderr pipe: {e}")),
                }
                if total > 64 << 20 {
                    return Err("the stderr pipe never filled (is it read?)".into());
                }
            }
        }
        Ok(total)
    }

    /// Ends the reader thread and drops this program's write end.
    pub fn close(&mut self) {
        self.done.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.write = None;
    }
}

impl Drop for StderrPipe {
    fn drop(&mut self) {
        self.close();
    }
}
