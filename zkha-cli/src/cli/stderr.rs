//! zkha's own diagnostics on standard error, written so that they never
//! block and never panic: a stalled reader (a log shipper, journald, a
//! `| logger` pipeline that hangs, a terminal after Ctrl-S) or a closed one
//! (`2>&1 | head`) must not stall the election, the renewals or a kill, as
//! `eprintln!` (blocks on a full pipe, panics on EPIPE) would.
//!
//! Every `log` line of zkha goes here (main.rs gives env_logger a
//! [`NonBlockingStderr`]), and so do the C client's lines bridged into
//! `log`; [`line`] is for the rest (`eprintln!`'s replacement).
//!
//! How, by what descriptor 2 is (`fstat`, once):
//! - a pipe, FIFO or terminal: a private open file description of it,
//!   `open("/proc/self/fd/2", O_WRONLY|O_NONBLOCK|O_CLOEXEC|O_NOCTTY)`, so
//!   that `O_NONBLOCK` is ours alone (the command shares descriptor 2 and
//!   keeps its blocking writes). A line is at most [`MAX_LINE`] bytes, so a
//!   write to a pipe is atomic (`PIPE_BUF`): whole or `EAGAIN`. If that
//!   open fails (no reader left: ENXIO; a pipe of another user: EACCES),
//!   descriptor 2 itself, only when `poll` says it has room;
//! - a socket (journald's stream): `send(MSG_DONTWAIT|MSG_NOSIGNAL)`;
//! - a regular file or anything else: descriptor 2 itself (a file's writes
//!   do not wait for a reader; a private description would have its own
//!   offset and overwrite the file from its start).
//!
//! A line that cannot be written now (EAGAIN, EPIPE, any error) is dropped
//! whole and counted; once writing works again one line says so first:
//! `zkha: N log lines dropped (stderr was full or closed)`. The tail of a
//! line only partly taken (a terminal or a socket may take part of it) is
//! kept and finished before anything else, so no two lines are ever mixed.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::sync::{Mutex, MutexGuard};

/// The longest line written, newline included: `PIPE_BUF`, so that a write
/// to a pipe is atomic. Longer lines are cut, ending in `…`.
pub const MAX_LINE: usize = 4096;

/// Writes `text` and a newline, never blocking; see the module doc.
pub fn line(text: &str) {
    let mut buf = Vec::with_capacity(text.len() + 1);
    buf.extend_from_slice(text.as_bytes());
    buf.push(b'\n');
    write_record(&buf);
}

/// What env_logger writes to: `Target::Pipe(Box::new(NonBlockingStderr))`.
/// Each `write` is one record (env_logger writes a record with one
/// `write_all`): written whole, or dropped whole. Never an error.
#[derive(Debug, Clone, Copy, Default)]
pub struct NonBlockingStderr;

impl io::Write for NonBlockingStderr {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        write_record(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// How descriptor 2 is written.
#[derive(Debug)]
enum Sink {
    /// A private non-blocking description of the pipe, FIFO or terminal.
    Private(OwnedFd),
    /// Descriptor 2, written only when `poll` says it has room.
    Polled,
    /// Descriptor 2 is a socket: `send` with `MSG_DONTWAIT`.
    Socket,
    /// Descriptor 2 as it is (a regular file, /dev/null...).
    Plain,
    /// Descriptor 2 is not open.
    Closed,
}

#[derive(Debug)]
struct State {
    sink: Option<Sink>,
    /// Lines dropped since the last one written.
    dropped: u64,
    /// The unwritten end of a line only partly written.
    tail: Vec<u8>,
}

static STATE: Mutex<State> = Mutex::new(State {
    sink: None,
    dropped: 0,
    tail: Vec::new(),
});

fn state() -> MutexGuard<'static, State> {
    // A panic while held cannot leave the state inconsistent in a way
    // that matters (at worst a miscount): go on.
    STATE.lock().unwrap_or_else(|e| e.into_inner())
}

/// Writes one record (ends in a newline, or is given one when cut).
fn write_record(record: &[u8]) {
    let record = cut(record);
    let mut s = state();
    let sink = s.sink.get_or_insert_with(open_sink);
    if matches!(sink, Sink::Closed) {
        s.dropped += 1;
        return;
    }
    let mut tail = std::mem::take(&mut s.tail);
    if !tail.is_empty() {
        match attempt(s.sink.as_ref(), &tail) {
            Ok(n) if n == tail.len() => tail.clear(),
            Ok(n) => {
                tail.drain(..n);
                s.tail = tail;
                s.dropped += 1;
                return;
            }
            Err(_) => {
                // Cannot finish it: the reader is gone or stalled. Keep it
                // (a stream must not get half a line glued to the next).
                s.tail = tail;
                s.dropped += 1;
                return;
            }
        }
    }
    if s.dropped > 0 {
        let note = format!(
            "zkha: {} log lines dropped (stderr was full or closed)\n",
            s.dropped
        );
        match attempt(s.sink.as_ref(), note.as_bytes()) {
            Ok(n) => {
                s.dropped = 0;
                if n < note.len() {
                    s.tail = note.as_bytes()[n..].to_vec();
                    s.dropped = 1;
                    return;
                }
            }
            Err(_) => {
                s.dropped += 1;
                return;
            }
        }
    }
    match attempt(s.sink.as_ref(), &record) {
        Ok(n) if n < record.len() => s.tail = record[n..].to_vec(),
        Ok(_) => {}
        Err(_) => s.dropped += 1,
    }
}

/// At most [`MAX_LINE`] bytes, ending in a newline.
fn cut(record: &[u8]) -> std::borrow::Cow<'_, [u8]> {
    if record.len() <= MAX_LINE && record.ends_with(b"\n") {
        return record.into();
    }
    const MARK: &[u8] = "…\n".as_bytes();
    let mut out = record.to_vec();
    if out.len() > MAX_LINE {
        out.truncate(MAX_LINE - MARK.len());
        // Do not end inside a UTF-8 sequence.
        while out.last().is_some_and(|b| b & 0xc0 == 0x80) {
            out.pop();
        }
        if out.last().is_some_and(|b| *b >= 0xc0) {
            out.pop();
        }
        out.extend_from_slice(MARK);
    } else {
        out.push(b'\n');
    }
    out.into()
}

/// What descriptor 2 is, and how to write it.
fn open_sink() -> Sink {
    // SAFETY: fstat fills the struct we pass; descriptor 2 is an integer.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    if unsafe { libc::fstat(2, &mut st) } != 0 {
        return Sink::Closed;
    }
    match st.st_mode & libc::S_IFMT {
        libc::S_IFSOCK => Sink::Socket,
        libc::S_IFIFO | libc::S_IFCHR => {
            // SAFETY: open(2) with a NUL-terminated path literal.
            let fd = unsafe {
                libc::open(
                    c"/proc/self/fd/2".as_ptr(),
                    libc::O_WRONLY | libc::O_NONBLOCK | libc::O_CLOEXEC | libc::O_NOCTTY,
                )
            };
            if fd >= 0 {
                // SAFETY: a new descriptor, ours alone from here on.
                Sink::Private(unsafe { OwnedFd::from_raw_fd(fd) })
            } else {
                Sink::Polled
            }
        }
        _ => Sink::Plain,
    }
}

/// One try at writing `bytes`, never blocking (but for [`Sink::Plain`]):
/// how many were taken, or the error (EAGAIN: no room now).
fn attempt(sink: Option<&Sink>, bytes: &[u8]) -> io::Result<usize> {
    let written = match sink {
        Some(Sink::Private(fd)) => raw_write(fd.as_raw_fd(), bytes),
        Some(Sink::Plain) => {
            // A regular file: write it all (short writes only on a full
            // disk, which the next call reports).
            let mut done = 0;
            while done < bytes.len() {
                match raw_write(2, &bytes[done..]) {
                    Ok(0) => break,
                    Ok(n) => done += n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) if done == 0 => return Err(e),
                    Err(_) => break,
                }
            }
            Ok(done)
        }
        Some(Sink::Polled) => {
            let mut pfd = libc::pollfd {
                fd: 2,
                events: libc::POLLOUT,
                revents: 0,
            };
            // SAFETY: poll(2) on one pollfd we own, timeout 0: no waiting.
            let ready = unsafe { libc::poll(&mut pfd, 1, 0) };
            if ready == 1 && pfd.revents & libc::POLLOUT != 0 && pfd.revents & libc::POLLERR == 0 {
                // Room for PIPE_BUF bytes: a line no longer does not wait
                // (unless another writer fills the pipe in between).
                raw_write(2, bytes)
            } else {
                Err(io::ErrorKind::WouldBlock.into())
            }
        }
        Some(Sink::Socket) => {
            // SAFETY: send(2) from a slice we own, its length; no signal
            // (MSG_NOSIGNAL), no waiting (MSG_DONTWAIT).
            let n = unsafe {
                libc::send(
                    2,
                    bytes.as_ptr().cast(),
                    bytes.len(),
                    libc::MSG_DONTWAIT | libc::MSG_NOSIGNAL,
                )
            };
            if n < 0 {
                Err(io::Error::last_os_error())
            } else {
                Ok(n as usize)
            }
        }
        Some(Sink::Closed) | None => Err(io::ErrorKind::BrokenPipe.into()),
    };
    match written {
        // A signal before anything was written: one more try.
        Err(e) if e.kind() == io::ErrorKind::Interrupted => attempt(sink, bytes),
        other => other,
    }
}

fn raw_write(fd: RawFd, bytes: &[u8]) -> io::Result<usize> {
    // SAFETY: write(2) from a slice we own, its length. SIGPIPE is ignored
    // by the Rust runtime, so a closed reader is EPIPE, not a signal.
    let n = unsafe { libc::write(fd, bytes.as_ptr().cast(), bytes.len()) };
    if n < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(n as usize)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_lines_are_cut_to_an_atomic_pipe_write() {
        assert_eq!(&*cut(b"abc\n"), b"abc\n");
        assert_eq!(&*cut(b"abc"), b"abc\n");
        let long = "é".repeat(MAX_LINE);
        let out = cut(long.as_bytes());
        assert!(out.len() <= MAX_LINE, "{}", out.len());
        let text = std::str::from_utf8(&out).expect("still UTF-8");
        assert!(text.ends_with("é…\n"), "{:?}", &text[text.len() - 10..]);
    }
}
