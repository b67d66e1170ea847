//! Signals as flags polled by ordinary threads (a handler may only store to
//! an atomic): SIGINT/SIGTERM end the program, SIGUSR1 asks to resign.

use std::sync::atomic::{AtomicU64, Ordering};

static PENDING: AtomicU64 = AtomicU64::new(0);

extern "C" fn on_signal(sig: libc::c_int) {
    PENDING.fetch_or(1 << sig, Ordering::SeqCst);
}

/// Installs the handler for `signals`.
pub fn install(signals: &[i32]) {
    for &sig in signals {
        // SAFETY: installs an async-signal-safe handler (one atomic or).
        unsafe { libc::signal(sig, on_signal as *const () as libc::sighandler_t) };
    }
}

/// Takes one pending signal, if any (lowest number first).
pub fn take() -> Option<i32> {
    let pending = PENDING.load(Ordering::SeqCst);
    if pending == 0 {
        return None;
    }
    let sig = pending.trailing_zeros() as i32;
    PENDING.fetch_and(!(1 << sig), Ordering::SeqCst);
    Some(sig)
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
