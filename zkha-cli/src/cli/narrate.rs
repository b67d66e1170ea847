//! `zkha run`'s lines about its command (started, stopping, stopped,
//! exited), beside the elector's own (`zkha::elector`'s narrator): the same
//! `/path on hosts:` prefix, and levels by what they mean to an operator.

use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;

/// A command that exited by itself: INFO when it succeeded, WARN when not.
pub fn exit_level(status: ExitStatus) -> log::Level {
    if status.success() {
        log::Level::Info
    } else {
        log::Level::Warn
    }
}

/// How a command we stopped ended, in words.
pub fn stopped_text(status: Option<ExitStatus>) -> String {
    match status {
        Some(s) if s.signal() == Some(libc::SIGTERM) => "ended by SIGTERM".into(),
        Some(s) if s.signal() == Some(libc::SIGKILL) => "killed (SIGKILL)".into(),
        Some(s) => format!("{s}"),
        None => "status unknown".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn success_is_info_failure_is_warn() {
        assert_eq!(exit_level(ExitStatus::from_raw(0)), log::Level::Info);
        assert_eq!(exit_level(ExitStatus::from_raw(1 << 8)), log::Level::Warn);
        assert_eq!(
            exit_level(ExitStatus::from_raw(libc::SIGSEGV)),
            log::Level::Warn
        );
        assert_eq!(
            stopped_text(Some(ExitStatus::from_raw(libc::SIGTERM))),
            "ended by SIGTERM"
        );
        assert_eq!(stopped_text(None), "status unknown");
    }
}
