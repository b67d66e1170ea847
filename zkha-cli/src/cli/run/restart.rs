//! `--on-exit restart`: when a command that exited by itself starts again,
//! and when its quick exits in a row make the master resign instead.

use std::time::{Duration, Instant};

/// `--on-exit restart`: the first restart waits this long, each quick
/// exit after it twice as long (at most [`RESTART_MAX`]); after
/// [`CRASH_LOOP`] quick exits in a row the master resigns, so that a
/// standby gets its chance.
const RESTART_FIRST: Duration = Duration::from_millis(100);
const RESTART_MAX: Duration = Duration::from_secs(5);
const CRASH_LOOP: u32 = 5;
/// A command that ran this long before it exited did not crash-loop.
const QUICK_EXIT: Duration = Duration::from_secs(10);

/// Quick exits in a row, and when the next start is due.
#[derive(Debug, Default)]
pub(super) struct Restarts {
    quick_exits: u32,
    at: Option<Instant>,
}

impl Restarts {
    /// The command exited by itself after running `ran_for`: schedules its
    /// restart, or returns `true` (a crash loop: the master is to resign).
    pub(super) fn after_exit(
        &mut self,
        ran_for: Option<Duration>,
        label: &str,
        command: &[String],
    ) -> bool {
        let quick = ran_for.is_some_and(|d| d < QUICK_EXIT);
        self.quick_exits = if quick { self.quick_exits + 1 } else { 0 };
        if self.quick_exits >= CRASH_LOOP {
            log::error!(target: "zkha", "{label}: {command:?} exited {} times within {} s of starting: resigning, so that a standby can try", self.quick_exits, QUICK_EXIT.as_secs());
            self.quick_exits = 0;
            true
        } else {
            let wait = RESTART_FIRST
                .saturating_mul(1 << self.quick_exits.min(16))
                .min(RESTART_MAX);
            log::info!(target: "zkha", "{label}: restarting {command:?} in {} ms", wait.as_millis());
            self.at = Some(Instant::now() + wait);
            false
        }
    }

    /// Whether a scheduled restart is due now (once).
    pub(super) fn due(&mut self) -> bool {
        if self.at.is_some_and(|t| Instant::now() >= t) {
            self.at = None;
            return true;
        }
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quick_exits_back_off_then_resign() {
        let mut r = Restarts::default();
        let cmd = ["true".to_owned()];
        let quick = Some(Duration::from_millis(1));
        for _ in 1..CRASH_LOOP {
            assert!(!r.after_exit(quick, "t", &cmd));
            assert!(r.at.is_some());
        }
        assert!(r.after_exit(quick, "t", &cmd));
        assert_eq!(r.quick_exits, 0);
        // A long run resets the count.
        r.quick_exits = 3;
        assert!(!r.after_exit(Some(QUICK_EXIT), "t", &cmd));
        assert_eq!(r.quick_exits, 0);
        r.at = Some(Instant::now());
        assert!(r.due());
        assert!(!r.due());
    }
}
