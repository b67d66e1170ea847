//! The C client's logging (S9): level and stream are process-wide, as in C;
//! a per-handle bridge routes a handle's lines into the `log` crate,
//! collapsing repeats (see [`set_repeat_window`]) except at the debug level.

mod handoff;
mod reason;
mod repeats;

pub use reason::last_unreachable_reason;

/// Waits until the C client's log lines bridged so far (`log_to_rust`)
/// have reached the `log` crate's logger, or `timeout` has passed; whether
/// they all did. The bridge hands lines to a logging thread of its own (a
/// logger blocked on a full stderr must not stall the C client), so a line
/// reaches the logger a moment after the C client wrote it: call this before
/// reading what was logged, or before the process exits.
pub fn flush_bridge(timeout: std::time::Duration) -> bool {
    handoff::flush(timeout)
}
pub use repeats::{set_window as set_repeat_window, window as repeat_window};

use crate::error::{Argument, Error, Result};
use crate::validate::c_text;
use std::ffi::CStr;
use std::os::raw::c_char;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

/// `ZooLogLevel`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    /// ZOO_LOG_LEVEL_ERROR.
    Error,
    /// ZOO_LOG_LEVEL_WARN.
    Warn,
    /// ZOO_LOG_LEVEL_INFO (the C client's default).
    Info,
    /// ZOO_LOG_LEVEL_DEBUG.
    Debug,
}

impl LogLevel {
    /// The C value.
    pub fn raw(self) -> zk_sys::ZooLogLevel {
        match self {
            LogLevel::Error => zk_sys::ZOO_LOG_LEVEL_ERROR,
            LogLevel::Warn => zk_sys::ZOO_LOG_LEVEL_WARN,
            LogLevel::Info => zk_sys::ZOO_LOG_LEVEL_INFO,
            LogLevel::Debug => zk_sys::ZOO_LOG_LEVEL_DEBUG,
        }
    }

    /// The `log` crate level C lines of this level are given.
    pub fn to_log(self) -> log::Level {
        match self {
            LogLevel::Error => log::Level::Error,
            LogLevel::Warn => log::Level::Warn,
            LogLevel::Info => log::Level::Info,
            LogLevel::Debug => log::Level::Debug,
        }
    }
}

impl std::str::FromStr for LogLevel {
    type Err = Error;
    fn from_str(s: &str) -> Result<LogLevel> {
        match s.to_ascii_lowercase().as_str() {
            "error" => Ok(LogLevel::Error),
            "warn" | "warning" => Ok(LogLevel::Warn),
            "info" => Ok(LogLevel::Info),
            "debug" => Ok(LogLevel::Debug),
            _ => Err(Error::invalid(
                Argument::Other,
                format!("log level {s:?}: expected error, warn, info or debug"),
            )),
        }
    }
}

/// The C level is DEBUG: the bridge passes every line, for whoever debugs
/// the C client.
static DEBUGGING: AtomicBool = AtomicBool::new(false);

/// `zoo_set_debug_level`: the C client's log level, for the whole process.
/// At [`LogLevel::Debug`] the bridge passes every line (no collapsing).
pub fn set_debug_level(level: LogLevel) {
    DEBUGGING.store(level == LogLevel::Debug, Ordering::Relaxed);
    // SAFETY: sets a process-wide int in the C client.
    unsafe { zk_sys::zoo_set_debug_level(level.raw()) };
}

/// Where the C client writes log lines of handles without a log callback.
#[derive(Debug, Clone, Copy)]
pub enum LogStream<'a> {
    /// Standard error (the C default).
    Stderr,
    /// Append to this file (created if missing).
    File(&'a Path),
}

/// Streams handed to C: never closed, since a C thread may be writing to
/// one while another replaces it (`zoo_set_log_stream` takes no lock).
static STREAMS: Mutex<Vec<usize>> = Mutex::new(Vec::new());

/// `zoo_set_log_stream`: the C client's log stream, for the whole process.
/// Each file opened here stays open for the life of the process.
pub fn set_log_stream(stream: LogStream<'_>) -> Result<()> {
    let fp = match stream {
        LogStream::Stderr => std::ptr::null_mut(),
        LogStream::File(path) => {
            let text = path.to_str().ok_or_else(|| {
                Error::invalid(Argument::Other, format!("log file {path:?} is not UTF-8"))
            })?;
            let cpath = c_text(text, Argument::Other)?;
            // SAFETY: valid C strings.
            let fp = unsafe { libc::fopen(cpath.as_ptr(), c"a".as_ptr()) };
            if fp.is_null() {
                return Err(Error::Init(std::io::Error::last_os_error()));
            }
            STREAMS
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(fp as usize);
            fp
        }
    };
    // SAFETY: fp is NULL (C then uses stderr) or an open FILE* that is never closed.
    unsafe { zk_sys::zoo_set_log_stream(fp as *mut zk_sys::FILE) };
    Ok(())
}

/// One C log line, split: `(level, "function@line: message")` (the
/// workspace's tests reach it through `zkha::__private`).
pub(crate) fn parse_c_log_line(line: &str) -> Option<(LogLevel, &str)> {
    for (tag, level) in [
        (":ZOO_ERROR@", LogLevel::Error),
        (":ZOO_WARN@", LogLevel::Warn),
        (":ZOO_INFO@", LogLevel::Info),
        (":ZOO_DEBUG@", LogLevel::Debug),
    ] {
        if let Some(i) = line.find(tag) {
            return Some((level, line[i + tag.len()..].trim_end()));
        }
    }
    None
}

/// The `log_callback_fn` installed by `ZooKeeper::builder(..).log_to_rust(true)`.
/// It runs on the C client's threads (its I/O thread among them), so it
/// never calls the logger itself: the line is handed to a logging thread
/// of its own (`handoff.rs`), dropped and counted if that thread is behind,
/// so a logger blocked on a full stderr never stalls the C client.
/// A line repeated within the window (same function and message, numbers
/// aside) is counted, not logged, and summarised once the window ends: see
/// [`set_repeat_window`]. Lines written by `zoo_set_log_stream` to a file
/// do not come here and are never collapsed (S9).
pub(crate) extern "C" fn log_bridge(message: *const c_char) {
    let _ = std::panic::catch_unwind(|| {
        if message.is_null() {
            return;
        }
        // SAFETY: C passes a NUL-terminated line valid during the call.
        let line = unsafe { CStr::from_ptr(message) }.to_string_lossy();
        match parse_c_log_line(&line) {
            Some((level, rest)) => {
                reason::note(rest);
                let text = if DEBUGGING.load(Ordering::Relaxed) {
                    Some(rest.to_owned())
                } else {
                    repeats::admit(rest)
                };
                if let Some(text) = text {
                    handoff::send(level.to_log(), text);
                }
            }
            None => handoff::send(log::Level::Info, line.trim_end().to_owned()),
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_c_log_lines() {
        let line = "2026-11-25 08:00:00,123:4242(0x7f00aa):ZOO_WARN@handle_socket_error_msg@2232: Socket [127.0.0.1:1] zk retcode=-4\n";
        let (level, rest) = parse_c_log_line(line).unwrap();
        assert_eq!(level, LogLevel::Warn);
        assert_eq!(
            rest,
            "handle_socket_error_msg@2232: Socket [127.0.0.1:1] zk retcode=-4"
        );
        assert!(parse_c_log_line("no level here").is_none());
        assert_eq!("DEBUG".parse::<LogLevel>().unwrap(), LogLevel::Debug);
        assert!("loud".parse::<LogLevel>().is_err());
    }
}
