//! SIGINT/SIGTERM as a flag that a thread turns into a callback (signal
//! handlers themselves may only store to an atomic).

use std::sync::atomic::{AtomicI32, Ordering};
use std::time::Duration;

static RECEIVED: AtomicI32 = AtomicI32::new(0);

extern "C" fn on_signal(sig: libc::c_int) {
    RECEIVED.store(sig, Ordering::SeqCst);
}

/// Installs the handlers; `then(signal)` runs on a helper thread once one
/// of them arrives.
pub fn on_termination(then: impl FnOnce(i32) + Send + 'static) {
    for sig in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: installs an async-signal-safe handler (one atomic store).
        unsafe { libc::signal(sig, on_signal as *const () as libc::sighandler_t) };
    }
    std::thread::Builder::new()
        .name("zkha-signals".into())
        .spawn(move || loop {
            let sig = RECEIVED.load(Ordering::SeqCst);
            if sig != 0 {
                then(sig);
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        })
        .expect("cannot start the signal thread");
}
