//! Signals as flags polled by ordinary threads: SIGINT/SIGTERM end the
//! program, SIGUSR1 asks to resign. signal-hook installs the handlers (they
//! only set an atomic flag, which is all a handler may safely do); the
//! threads that act on them poll `take`.

use parking_lot::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

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
                None => std::thread::sleep(std::time::Duration::from_millis(10)),
            }
        })
        .expect("cannot start the signal thread");
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
}
