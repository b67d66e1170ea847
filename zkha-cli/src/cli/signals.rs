//! Signals as flags polled by ordinary threads: SIGINT/SIGTERM end the
//! program, SIGUSR1 asks to resign. signal-hook installs the handlers (they
//! only set an atomic flag and write a byte to a self-pipe socket, which is
//! all a handler may safely do); the threads that act on them `take` the
//! flags, and sleep in `wait`, which the byte ends at once.

use parking_lot::Mutex;
use std::io::Read;
use std::os::unix::net::UnixStream;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// The flag of each installed signal, by signal number.
static FLAGS: Mutex<Vec<(i32, Arc<AtomicBool>)>> = Mutex::new(Vec::new());

/// The self-pipe (read end, write end) the handlers write a byte to; None
/// until the first `install`, or if it could not be made (then `wait`
/// just sleeps).
static WAKE: Mutex<Option<(UnixStream, UnixStream)>> = Mutex::new(None);

/// Installs a flag-setting handler for each of `signals` (a real handler,
/// not SIG_IGN: a command started later must not inherit an ignored signal).
pub fn install(signals: &[i32]) {
    let mut flags = FLAGS.lock();
    let mut wake = WAKE.lock();
    if wake.is_none() {
        *wake = UnixStream::pair().ok();
    }
    for &sig in signals {
        if flags.iter().any(|(s, _)| *s == sig) {
            continue;
        }
        let flag = Arc::new(AtomicBool::new(false));
        // Only SIGKILL/SIGSTOP-like signals are refused: a programming error.
        signal_hook::flag::register(sig, flag.clone())
            .unwrap_or_else(|e| panic!("cannot handle signal {sig}: {e}"));
        // After the flag: a handler runs its actions in registration order,
        // so the flag is set before the byte that wakes `wait` is written.
        if let Some((_, write)) = wake.as_ref() {
            if let Ok(w) = write.try_clone() {
                let _ = signal_hook::low_level::pipe::register(sig, w);
            }
        }
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

/// Ends the current (or next) `wait` at once, from any thread, without a
/// signal: for events the waiting thread acts on (a handover asked for by
/// the elector) that must not wait out its timeout. Never blocks (a full
/// socket already holds a wake-up); a no-op before `install`.
pub fn nudge() {
    use std::os::fd::AsRawFd;
    if let Some((_, write)) = WAKE.lock().as_ref() {
        // SAFETY: a valid socket fd owned by WAKE (locked, so not closed
        // meanwhile), a one-byte buffer that outlives the call.
        unsafe {
            libc::send(
                write.as_raw_fd(),
                [1u8].as_ptr().cast(),
                1,
                libc::MSG_DONTWAIT,
            )
        };
    }
}

/// Sleeps `timeout`, or less: until an installed signal arrives (or one
/// arrived since the last `wait`). Then `take` says which. For one waiting
/// thread per program.
pub fn wait(timeout: Duration) {
    let read = WAKE.lock().as_ref().and_then(|(r, _)| r.try_clone().ok());
    match read {
        Some(mut r) if !timeout.is_zero() && r.set_read_timeout(Some(timeout)).is_ok() => {
            let mut buf = [0u8; 16];
            // A timeout or an interruption just means: look at the flags.
            let _ = r.read(&mut buf);
        }
        _ => std::thread::sleep(timeout),
    }
}

/// Installs SIGINT/SIGTERM/SIGUSR1 and runs `on_stop` / `on_resign` on a
/// helper thread as they arrive.
///
/// The thread sleeps in `wait`, which a signal ends at once: a graceful
/// handover starts when SIGTERM arrives, not up to a polling period later
/// (it was 10 ms, 5 ms on average: more than the whole handover takes).
pub fn dispatch(on_stop: impl Fn() + Send + 'static, on_resign: impl Fn() + Send + 'static) {
    install(&[libc::SIGINT, libc::SIGTERM, libc::SIGUSR1]);
    std::thread::Builder::new()
        .name("zkha-signals".into())
        .spawn(move || loop {
            match take() {
                Some(libc::SIGUSR1) => on_resign(),
                Some(_) => {
                    on_stop();
                    return;
                }
                // Long: a signal ends it anyway.
                None => wait(Duration::from_secs(1)),
            }
        })
        .expect("cannot start the signal thread");
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The flags and the wake socket are process-wide: one test at a time.
    static SERIAL: Mutex<()> = Mutex::new(());

    /// Reads away the bytes earlier signals left in the wake socket.
    fn drain() {
        let read = WAKE.lock().as_ref().map(|(r, _)| r.try_clone().unwrap());
        if let Some(mut r) = read {
            r.set_nonblocking(true).unwrap();
            let mut buf = [0u8; 64];
            while matches!(r.read(&mut buf), Ok(n) if n > 0) {}
            r.set_nonblocking(false).unwrap();
        }
    }

    /// How long a `wait(60 s)` on another thread lasted when `wake` ran
    /// 50 ms into it (the wake socket drained first).
    fn wait_ended_by(wake: impl FnOnce()) -> Duration {
        drain();
        let waiter = std::thread::spawn(|| {
            let started = std::time::Instant::now();
            wait(Duration::from_secs(60));
            started.elapsed()
        });
        std::thread::sleep(Duration::from_millis(50));
        wake();
        waiter.join().unwrap()
    }

    #[test]
    fn a_raised_signal_is_taken_once_lowest_first() {
        let _serial = SERIAL.lock();
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

    /// `wait` returns when an installed signal arrives, long before its
    /// timeout (SIGURG: ignored by default, used by no other test; the
    /// timeout is a deadline, not a bound on the latency).
    #[test]
    fn wait_ends_when_a_signal_arrives() {
        let _serial = SERIAL.lock();
        install(&[libc::SIGURG]);
        // SAFETY: raises a signal whose handlers we just installed.
        let waited = wait_ended_by(|| unsafe {
            libc::raise(libc::SIGURG);
        });
        assert!(waited < Duration::from_secs(60), "wait ran to its timeout");
        assert_eq!(take(), Some(libc::SIGURG));
    }

    /// `nudge` ends a `wait` from another thread, with no signal taken.
    #[test]
    fn a_nudge_ends_a_wait_without_a_signal() {
        let _serial = SERIAL.lock();
        install(&[libc::SIGURG]);
        let waited = wait_ended_by(nudge);
        assert!(waited < Duration::from_secs(60), "wait ran to its timeout");
        assert_eq!(take(), None, "a nudge is not a signal");
    }
}
