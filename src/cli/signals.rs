//! Signals as flags polled by ordinary threads: SIGINT/SIGTERM end the
//! program, SIGUSR1 asks to resign. signal-hook installs the handlers (they
//! only set an atomic flag, which is all a handler may safely do); the
//! threads that act on them poll `take`, except `dispatch`'s, which sleeps
//! on a self-pipe the handlers also write to, and so acts at once.

use parking_lot::Mutex;
use std::io::Read;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// The flag of each installed signal, by signal number.
static FLAGS: Mutex<Vec<(i32, Arc<AtomicBool>)>> = Mutex::new(Vec::new());

/// Installs a flag-setting handler for each of `signals` (a real handler,
/// not SIG_IGN: a command started later must not inherit an ignored signal).
pub fn install(signals: &[i32]) {
    let mut flags = FLAGS.lock();
    for &sig in signals {
        if flags.iter().any(|(s, _)| *s == sig) {
            continue;
        }
        let flag = Arc::new(AtomicBool::new(false));
        // Only SIGKILL/SIGSTOP-like signals are refused: a programming error.
        signal_hook::flag::register(sig, flag.clone())
            .unwrap_or_else(|e| panic!("cannot handle signal {sig}: {e}"));
        flags.push((sig, flag));
    }
    flags.sort_by_key(|(s, _)| *s);
}

/// Takes one pending signal, if any (lowest number first).
pub fn take() -> Option<i32> {
    FLAGS
        .lock()
        .iter()
        .find(|(_, flag)| flag.swap(false, Ordering::SeqCst))
        .map(|(sig, _)| *sig)
}

/// Installs SIGINT/SIGTERM/SIGUSR1 and runs `on_stop` / `on_resign` on a
/// helper thread as they arrive.
///
/// The thread sleeps in a read of a socket that the handlers also write a
/// byte to (signal-hook's self-pipe, async-signal-safe), so it acts on a
/// signal at once: a graceful handover starts when SIGTERM arrives, not up
/// to a polling period later (which was 10 ms, half of it on average, more
/// than the whole handover takes). The flags still say which signal came.
pub fn dispatch(on_stop: impl Fn() + Send + 'static, on_resign: impl Fn() + Send + 'static) {
    let signals = [libc::SIGINT, libc::SIGTERM, libc::SIGUSR1];
    // The flags first: a handler runs its actions in registration order, so
    // a flag is set before the byte that wakes the thread is written.
    install(&signals);
    let wake = wake_on(&signals);
    std::thread::Builder::new()
        .name("zkha-signals".into())
        .spawn(move || loop {
            match take() {
                Some(libc::SIGUSR1) => on_resign(),
                Some(_) => {
                    on_stop();
                    return;
                }
                None => wait_for_signal(wake.as_ref()),
            }
        })
        .expect("cannot start the signal thread");
}

/// The read end of a socket pair the handlers of `signals` write a byte
/// to; None if it cannot be set up (then the thread polls).
fn wake_on(signals: &[i32]) -> Option<UnixStream> {
    let (read, write) = UnixStream::pair().ok()?;
    for &sig in signals {
        signal_hook::low_level::pipe::register(sig, write.try_clone().ok()?).ok()?;
    }
    // Still wakes now and then: a safety net, never the normal path.
    read.set_read_timeout(Some(POLL_FALLBACK)).ok()?;
    Some(read)
}

/// Without the wake socket, how often the flags are polled; with it, the
/// longest sleep between two looks at them.
const POLL_FALLBACK: Duration = Duration::from_millis(100);

/// Sleeps until a signal's byte arrives (or the fallback period passes).
fn wait_for_signal(wake: Option<&UnixStream>) {
    match wake {
        Some(mut r) => {
            let mut buf = [0u8; 16];
            // Timeouts and interruptions just mean: look at the flags again.
            let _ = r.read(&mut buf);
        }
        None => std::thread::sleep(Duration::from_millis(10)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_raised_signal_is_taken_once_lowest_first() {
        install(&[libc::SIGUSR2, libc::SIGWINCH]);
        assert_eq!(take(), None);
        // SAFETY: raises signals whose handlers we just installed.
        unsafe {
            libc::raise(libc::SIGWINCH);
            libc::raise(libc::SIGUSR2);
        }
        assert_eq!(take(), Some(libc::SIGUSR2));
        assert_eq!(take(), Some(libc::SIGWINCH));
        assert_eq!(take(), None);
    }

    /// The wake socket of `dispatch` gets a byte when one of its signals
    /// arrives (SIGURG: ignored by default, and used by no other test).
    #[test]
    fn a_signal_writes_to_the_wake_socket() {
        let mut r = wake_on(&[libc::SIGURG]).expect("the wake socket");
        r.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        // SAFETY: raises a signal whose handler (a socket write) we just
        // installed.
        unsafe { libc::raise(libc::SIGURG) };
        let mut buf = [0u8; 16];
        let n = r.read(&mut buf).expect("a byte within the deadline");
        assert!(n >= 1);
    }
}
