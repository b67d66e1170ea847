//! The watchdog's status pipe to `zkha run` (`started`, `lapsed`,
//! `survivors`, `log`, `error` ... lines), and its own diagnostics.

use std::io::{self, Write};

/// The status pipe to `zkha run`, and the watchdog's own diagnostics. No
/// write here ever blocks or panics: the status pipe is non-blocking (a
/// full or closed pipe drops the line), and a diagnostic goes to `zkha run`
/// (which logs it through its non-blocking logger) while it lives, else to
/// the non-blocking stderr writer.
pub(super) struct Status {
    pub(super) pipe: Option<std::fs::File>,
}

impl Status {
    pub(super) fn say(&mut self, line: &str) -> bool {
        let Some(f) = &mut self.pipe else {
            return false;
        };
        match f.write(format!("{line}\n").as_bytes()) {
            Ok(_) => true,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => false,
            Err(_) => {
                self.pipe = None;
                false
            }
        }
    }

    /// A diagnostic line: `zkha run` logs it at `level` (error, warn, info).
    pub(super) fn diag(&mut self, level: &str, text: &str) {
        if !self.say(&format!("log {level} {text}")) {
            crate::cli::stderr::line(&format!("zkha watchdog: {text}"));
        }
    }
}
