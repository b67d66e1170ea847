//! The command `zkha run` supervises in the chaos scenarios (`make chaos`,
//! `tests/chaos_fast.rs`): it knows nothing of zkha and only proves, from
//! the outside, when it was alive.
//!
//! `chaos_worker FILE` appends one line to FILE at start, then one every
//! 15 ms while it runs, and a last one as soon as SIGTERM arrives (then
//! exits 0):
//!
//! ```text
//! <monotonic_ms> <token> <pid> start|tick|stop
//! ```
//!
//! `monotonic_ms` is CLOCK_MONOTONIC in ms (comparable across processes on
//! one machine), `token` is `ZKHA_TOKEN` ("-" if unset). Each line is one
//! `write` on a file opened for appending. Killed by SIGKILL (its supervisor
//! died: PR_SET_PDEATHSIG), it just stops writing.

use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use zkha::elector::trace::monotonic_ms;

static TERM: AtomicBool = AtomicBool::new(false);

extern "C" fn on_term(_sig: libc::c_int) {
    TERM.store(true, Ordering::SeqCst);
}

fn main() {
    let Some(path) = std::env::args_os().nth(1) else {
        eprintln!("usage: chaos_worker FILE");
        std::process::exit(2);
    };
    let token = std::env::var("ZKHA_TOKEN").unwrap_or_else(|_| "-".into());
    // SAFETY: the handler only stores to an atomic (async-signal-safe).
    let old = unsafe {
        libc::signal(
            libc::SIGTERM,
            on_term as extern "C" fn(libc::c_int) as libc::sighandler_t,
        )
    };
    if old == libc::SIG_ERR {
        eprintln!("chaos_worker: cannot handle SIGTERM");
        std::process::exit(1);
    }
    let mut file = match std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&path)
    {
        Ok(f) => f,
        Err(e) => {
            eprintln!("chaos_worker: {}: {e}", path.to_string_lossy());
            std::process::exit(1);
        }
    };
    let pid = std::process::id();
    let mut line = |kind: &str| {
        let text = format!("{:.3} {token} {pid} {kind}\n", monotonic_ms());
        if let Err(e) = file.write_all(text.as_bytes()) {
            eprintln!("chaos_worker: {}: {e}", path.to_string_lossy());
            std::process::exit(1);
        }
    };
    line("start");
    loop {
        if TERM.load(Ordering::SeqCst) {
            line("stop");
            return;
        }
        line("tick");
        // Not std::thread::sleep, which sleeps on after a signal: SIGTERM
        // ends this nanosleep at once, so `stop` is written when it came.
        let nap = libc::timespec {
            tv_sec: 0,
            tv_nsec: 15_000_000,
        };
        // SAFETY: nanosleep reads the timespec we own; no remainder wanted.
        unsafe { libc::nanosleep(&nap, std::ptr::null_mut()) };
    }
}
