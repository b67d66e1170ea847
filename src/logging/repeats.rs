//! Collapses the C client's repeated log lines. While ZooKeeper is down the
//! C client logs the same pair of lines (`check_events … Connection
//! refused`, `zookeeper_interest … Delaying connection`) about every 100 ms;
//! the bridge passes the first of each, counts the rest, and says how many
//! there were at most once per window.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The window in ms; 0: every line passes.
static WINDOW_MS: AtomicU64 = AtomicU64::new(10_000);

/// Lines seen per key (function + message with the numbers left out).
static SEEN: Mutex<Option<HashMap<String, Seen>>> = Mutex::new(None);

/// Keys kept at most: a C client that logs ever-new texts cannot grow the
/// table without bound (it starts afresh, letting first lines through again).
const MAX_KEYS: usize = 256;

/// One kind of line: when its window began and how many repeats it held.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Seen {
    since: Instant,
    repeats: u64,
}

/// What to do with a line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Log it as it is.
    Pass,
    /// A repeat inside the window: count it, log nothing.
    Hold,
    /// Log it with the count of the window just ended.
    Summary { repeats: u64, secs: u64 },
}

/// Sets the window (`None` or zero: every line passes).
pub fn set_window(window: Option<Duration>) {
    let ms = window.map_or(0, |w| w.as_millis().min(u64::MAX as u128) as u64);
    WINDOW_MS.store(ms, Ordering::Relaxed);
}

/// The window, `None` when every line passes.
pub fn window() -> Option<Duration> {
    match WINDOW_MS.load(Ordering::Relaxed) {
        0 => None,
        ms => Some(Duration::from_millis(ms)),
    }
}

/// The line's kind: its text without digits and without `0x…` numbers, so
/// that line numbers, ports, errnos, session ids and times do not count.
pub(crate) fn key(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '0' && chars.peek() == Some(&'x') {
            chars.next();
            while chars.peek().is_some_and(char::is_ascii_hexdigit) {
                chars.next();
            }
        } else if !c.is_ascii_digit() {
            out.push(c);
        }
    }
    out
}

/// The rule, for one kind of line seen before (`prev`) or not.
pub(crate) fn judge(prev: Option<Seen>, now: Instant, window: Duration) -> (Verdict, Seen) {
    let fresh = Seen {
        since: now,
        repeats: 0,
    };
    match prev {
        None => (Verdict::Pass, fresh),
        Some(s) if now.duration_since(s.since) < window => (
            Verdict::Hold,
            Seen {
                repeats: s.repeats + 1,
                ..s
            },
        ),
        Some(s) if s.repeats == 0 => (Verdict::Pass, fresh),
        Some(s) => (
            Verdict::Summary {
                repeats: s.repeats,
                secs: now.duration_since(s.since).as_secs(),
            },
            fresh,
        ),
    }
}

/// The text to log for `text` (`function@line: message`), if any.
pub(crate) fn admit(text: &str) -> Option<String> {
    let Some(window) = window() else {
        return Some(text.to_owned());
    };
    let k = key(text);
    let verdict = {
        let mut guard = SEEN.lock().unwrap_or_else(|e| e.into_inner());
        let table = guard.get_or_insert_with(HashMap::new);
        if table.len() >= MAX_KEYS && !table.contains_key(&k) {
            table.clear();
        }
        let (verdict, seen) = judge(table.get(&k).copied(), Instant::now(), window);
        table.insert(k, seen);
        verdict
    };
    match verdict {
        Verdict::Pass => Some(text.to_owned()),
        Verdict::Hold => None,
        Verdict::Summary { repeats, secs } => {
            Some(format!("{text} (repeated {repeats} times in {secs} s)"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_do_not_make_a_new_kind() {
        let a = "check_events@2985: Socket [127.0.0.1:40123] zk retcode=-4, errno=111(Connection refused): server refused to accept the client";
        let b = "check_events@2990: Socket [127.0.0.1:1] zk retcode=-4, errno=111(Connection refused): server refused to accept the client";
        assert_eq!(key(a), key(b));
        assert_eq!(
            key("session 0x100ab2f0 expired"),
            key("session 0x7 expired")
        );
        assert_ne!(key(a), key("zookeeper_interest@2561: Delaying connection"));
    }

    #[test]
    fn first_passes_repeats_are_held_then_summarised_once_per_window() {
        let w = Duration::from_secs(10);
        let t0 = Instant::now();
        let (v, mut s) = judge(None, t0, w);
        assert_eq!(v, Verdict::Pass);
        for i in 1..=57u64 {
            let (v, next) = judge(Some(s), t0 + Duration::from_millis(100 * i), w);
            assert_eq!(v, Verdict::Hold);
            s = next;
        }
        let (v, s) = judge(Some(s), t0 + Duration::from_secs(10), w);
        assert_eq!(
            v,
            Verdict::Summary {
                repeats: 57,
                secs: 10
            }
        );
        // A line that comes back after a quiet window is a first one again.
        let (v, _) = judge(Some(s), t0 + Duration::from_secs(60), w);
        assert_eq!(v, Verdict::Pass);
    }
}
