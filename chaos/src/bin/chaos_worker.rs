//! The command `zkha run` supervises in the chaos scenarios (`make chaos`,
//! zkha-cli's `tests/chaos_fast.rs`): it knows nothing of zkha and only proves, from
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
//!
//! Options (before FILE) give it the shapes real commands have; without
//! them it behaves as above. Every process it starts besides itself writes
//! to the same FILE with its own pid and a fifth field, the pid of the
//! worker zkha started (the command's tree):
//! `<monotonic_ms> <token> <pid> <kind> <tree>`.
//!
//! - `--child`: a child of itself in the same process group, that stops on
//!   SIGTERM as the worker does (but has no PR_SET_PDEATHSIG).
//! - `--setsid`: a child of itself in a session of its own (setsid) that
//!   ignores SIGTERM: only SIGKILL ends it.
//! - `--daemonize`: writes `start`, double-forks (fork, setsid, fork) a
//!   daemon that works as the worker does (stdio on /dev/null), and exits 0
//!   at once, like `nginx` with `daemon on`.
//! - `--job`: puts itself in a process group of its own first (what a
//!   job-control shell does to a background job); its tree is the
//!   `CHAOS_TREE` environment variable (the shell's pid).
//! - `--slow-stop MS`: on SIGTERM, writes `term`, goes on writing `tick`
//!   for MS ms, then writes `stop` and exits: a command slow to stop.
//!
//! Processes it starts also end by themselves once FILE is gone (their
//! scenario was cleaned up) or after ten minutes, so that none can outlive
//! a test run for long.

use std::ffi::OsString;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use zkha_chaos::monotonic_ms;

static TERM: AtomicBool = AtomicBool::new(false);

extern "C" fn on_term(_sig: libc::c_int) {
    TERM.store(true, Ordering::SeqCst);
}

/// What shape of command to be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Plain,
    Child,
    Setsid,
    Daemonize,
    Job,
}

/// The longest a process the worker started runs.
const DESCENDANT_MAX_MS: f64 = 600_000.0;

/// Where lines go, and how they are labelled.
struct Out {
    file: std::fs::File,
    path: OsString,
    token: String,
    /// The tree's root pid, for every process but the root itself.
    tree: Option<u32>,
}

impl Out {
    fn line(&mut self, kind: &str) {
        let pid = std::process::id();
        let text = match self.tree {
            None => format!("{:.3} {} {pid} {kind}\n", monotonic_ms(), self.token),
            Some(tree) => format!("{:.3} {} {pid} {kind} {tree}\n", monotonic_ms(), self.token),
        };
        if let Err(e) = self.file.write_all(text.as_bytes()) {
            eprintln!("chaos_worker: {}: {e}", self.path.to_string_lossy());
            std::process::exit(1);
        }
    }
}

/// Sleeps 15 ms, or less if a signal comes.
fn nap() {
    // Not std::thread::sleep, which sleeps on after a signal: SIGTERM
    // ends this nanosleep at once, so `stop` is written when it came.
    let nap = libc::timespec {
        tv_sec: 0,
        tv_nsec: 15_000_000,
    };
    // SAFETY: nanosleep reads the timespec we own; no remainder wanted.
    unsafe { libc::nanosleep(&nap, std::ptr::null_mut()) };
}

/// Writes `tick` every 15 ms until SIGTERM (unless `ignore_term`), then
/// `stop` (after `slow_stop` ms of `tick`s, if given) and exits 0. A
/// descendant (`out.tree` set) also ends once FILE is gone or after
/// [`DESCENDANT_MAX_MS`].
fn work(out: &mut Out, slow_stop: Option<f64>, ignore_term: bool) -> ! {
    let began = monotonic_ms();
    let mut n: u64 = 0;
    loop {
        if !ignore_term && TERM.load(Ordering::SeqCst) {
            if let Some(ms) = slow_stop {
                out.line("term");
                let until = monotonic_ms() + ms;
                while monotonic_ms() < until {
                    out.line("tick");
                    nap();
                }
            }
            out.line("stop");
            std::process::exit(0);
        }
        out.line("tick");
        nap();
        n += 1;
        if out.tree.is_some()
            && n.is_multiple_of(64)
            && (!std::path::Path::new(&out.path).exists()
                || monotonic_ms() - began > DESCENDANT_MAX_MS)
        {
            std::process::exit(0);
        }
    }
}

/// fork(2); exits 1 if it fails.
fn fork() -> libc::pid_t {
    // SAFETY: the worker is single-threaded, so the child may go on running
    // Rust code after fork.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        eprintln!("chaos_worker: fork: {}", std::io::Error::last_os_error());
        std::process::exit(1);
    }
    pid
}

/// setsid(2); exits 1 if it fails.
fn new_session() {
    // SAFETY: setsid takes no arguments and touches no memory of ours.
    if unsafe { libc::setsid() } < 0 {
        eprintln!("chaos_worker: setsid: {}", std::io::Error::last_os_error());
        std::process::exit(1);
    }
}

fn usage() -> ! {
    eprintln!("usage: chaos_worker [--child|--setsid|--daemonize|--job] [--slow-stop MS] FILE");
    std::process::exit(2);
}

fn main() {
    let mut mode = Mode::Plain;
    let mut slow_stop = None;
    let mut path = None;
    let mut args = std::env::args_os().skip(1);
    while let Some(a) = args.next() {
        match a.to_str() {
            Some("--child") => mode = Mode::Child,
            Some("--setsid") => mode = Mode::Setsid,
            Some("--daemonize") => mode = Mode::Daemonize,
            Some("--job") => mode = Mode::Job,
            Some("--slow-stop") => {
                let ms = args.next().and_then(|v| v.to_str()?.parse::<u64>().ok());
                match ms {
                    Some(ms) => slow_stop = Some(ms as f64),
                    None => usage(),
                }
            }
            _ if path.is_none() => path = Some(a),
            _ => usage(),
        }
    }
    let Some(path) = path else { usage() };
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
    if mode == Mode::Job {
        // SAFETY: setpgid on ourselves, no memory involved.
        if unsafe { libc::setpgid(0, 0) } != 0 {
            eprintln!("chaos_worker: setpgid: {}", std::io::Error::last_os_error());
            std::process::exit(1);
        }
    }
    let file = match std::fs::OpenOptions::new()
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
    let root = std::process::id();
    let tree = match mode {
        Mode::Job => Some(
            std::env::var("CHAOS_TREE")
                .ok()
                .and_then(|t| t.parse().ok())
                .unwrap_or(root),
        ),
        _ => None,
    };
    let mut out = Out {
        file,
        path,
        token,
        tree,
    };
    out.line("start");
    match mode {
        Mode::Plain | Mode::Job => work(&mut out, slow_stop, false),
        Mode::Child => {
            if fork() == 0 {
                out.tree = Some(root);
                out.line("start");
                work(&mut out, None, false);
            }
            work(&mut out, slow_stop, false)
        }
        Mode::Setsid => {
            if fork() == 0 {
                new_session();
                // SAFETY: sets SIGTERM's disposition; no memory involved.
                unsafe { libc::signal(libc::SIGTERM, libc::SIG_IGN) };
                out.tree = Some(root);
                out.line("start");
                work(&mut out, None, true);
            }
            work(&mut out, slow_stop, false)
        }
        Mode::Daemonize => {
            let first = fork();
            if first == 0 {
                new_session();
                if fork() != 0 {
                    std::process::exit(0);
                }
                // The daemon: stdio on /dev/null, as daemon(3) does.
                if let Ok(null) = std::fs::OpenOptions::new()
                    .read(true)
                    .write(true)
                    .open("/dev/null")
                {
                    use std::os::fd::AsRawFd;
                    for fd in 0..3 {
                        // SAFETY: dup2 of a descriptor we own onto stdio.
                        unsafe { libc::dup2(null.as_raw_fd(), fd) };
                    }
                }
                out.tree = Some(root);
                out.line("start");
                work(&mut out, slow_stop, false);
            }
            let mut status = 0;
            // SAFETY: waits for our own child, into a local.
            unsafe { libc::waitpid(first, &mut status, 0) };
            std::process::exit(0);
        }
    }
}
