//! The guard family's worker (`chaos/src/families/guard/`): a tokio
//! service with one [`Elector`] (safe profile, a session of its own) that
//! works only while it holds its [`Mastership`], and writes through
//! [`Mastership::fenced`].
//!
//! ```text
//! guard_worker --hosts H --path P --name NAME --session-ms T --file F
//!              --work W --record R [--hold-ms X]
//! ```
//! Each term: `master NAME TOKEN T_MS` into its own file F; then every
//! 20 ms, until the guard's `lost()` fires: `work NAME TOKEN T_MS` appended
//! to the shared work file W (the plain side effect), then a fenced `set`
//! of the record node R with `NAME TOKEN SEQ`, its outcome into F:
//! `ok NAME TOKEN SEQ MZXID T_SENT T_DONE` (MZXID from the set's Stat),
//! `fenced NAME TOKEN SEQ T_SENT T_DONE` (refused: `Error::NotMaster`) or
//! `error NAME TOKEN SEQ T_SENT T_DONE WHAT`. A write is always waited
//! for, never abandoned (its outcome is what the judge reads). At the loss:
//! `lost NAME TOKEN REASON T_MS`; then, for `--hold-ms` X (0), it keeps the
//! guard and goes on trying fenced writes (no work: every one must be
//! refused), then drops the guard: `drop NAME TOKEN T_MS` (a resign or a
//! shutdown releases the node only then). Times on CLOCK_MONOTONIC, ms.
//!
//! Commands: SIGUSR1 resigns (`Elector::resign`); SIGTERM (or its stdin
//! closed: the family is gone) shuts the elector down
//! (`Elector::shutdown_async`, after the term's guard is dropped) and
//! exits 0 after `exit NAME T_MS`. The signals are taken by a thread of its
//! own (`sigwait`), blocked everywhere else.

use std::io::Write as _;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use zkha::elector::{Elector, ElectorConfig, Mastership};
use zkha::{Error, OpResult};
use zkha_chaos::monotonic_ms;

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// How often a master works and writes.
const EVERY: Duration = Duration::from_millis(20);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cmd {
    Resign,
    Shutdown,
}

struct Options {
    hosts: String,
    path: String,
    name: String,
    session_ms: u64,
    file: PathBuf,
    work: PathBuf,
    record: String,
    hold: Duration,
}

fn options() -> Result<Options, BoxError> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let opt = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
            .ok_or_else(|| format!("{name} is required"))
    };
    Ok(Options {
        hosts: opt("--hosts")?,
        path: opt("--path")?,
        name: opt("--name")?,
        session_ms: opt("--session-ms")?.parse()?,
        file: opt("--file")?.into(),
        work: opt("--work")?.into(),
        record: opt("--record")?,
        hold: Duration::from_millis(opt("--hold-ms").ok().map_or(Ok(0), |h| h.parse())?),
    })
}

/// One line appended with one `write` (O_APPEND: lines of several
/// processes never interleave).
fn append(file: &PathBuf, line: &str) {
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(file)
        .expect("guard_worker: its file");
    f.write_all(format!("{line}\n").as_bytes())
        .expect("guard_worker: a line");
}

fn now() -> String {
    format!("{:.1}", monotonic_ms())
}

/// Blocks SIGTERM, SIGUSR1 and SIGINT in this thread (and so in every
/// thread started after: the runtime's, the elector's, the C client's) and
/// starts the thread that takes them with `sigwait`.
fn signals(tx: mpsc::UnboundedSender<Cmd>) {
    // SAFETY: sigset_t is plain data, initialised by sigemptyset before any
    // use; pthread_sigmask changes this thread's mask only, before any
    // other thread of the program exists.
    let set = unsafe {
        let mut set: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut set);
        libc::sigaddset(&mut set, libc::SIGTERM);
        libc::sigaddset(&mut set, libc::SIGUSR1);
        libc::sigaddset(&mut set, libc::SIGINT);
        libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
        set
    };
    std::thread::spawn(move || loop {
        let mut sig: libc::c_int = 0;
        // SAFETY: `set` is an initialised sigset_t owned by this closure;
        // sigwait writes the signal number into `sig`, which we own.
        if unsafe { libc::sigwait(&set, &mut sig) } != 0 {
            continue;
        }
        let cmd = if sig == libc::SIGUSR1 {
            Cmd::Resign
        } else {
            Cmd::Shutdown
        };
        if tx.send(cmd).is_err() {
            return;
        }
    });
}

/// Stdin closed (the family is gone): shut down.
fn stdin_watch(tx: mpsc::UnboundedSender<Cmd>) {
    std::thread::spawn(move || {
        let mut sink = Vec::new();
        let _ = std::io::Read::read_to_end(&mut std::io::stdin(), &mut sink);
        let _ = tx.send(Cmd::Shutdown);
    });
}

fn main() {
    let o = match options() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("guard_worker: {e}");
            std::process::exit(2);
        }
    };
    let (tx, rx) = mpsc::unbounded_channel();
    signals(tx.clone());
    stdin_watch(tx);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_time()
        .build()
        .expect("tokio runtime");
    match runtime.block_on(run(o, rx)) {
        Ok(()) => std::process::exit(0),
        Err(e) => {
            eprintln!("guard_worker: {e}");
            std::process::exit(1);
        }
    }
}

struct Worker {
    o: Options,
    seq: u64,
}

impl Worker {
    fn line(&self, text: &str) {
        append(&self.o.file, text);
    }

    /// One fenced write of the record, its outcome into the worker's file.
    async fn write(&mut self, master: &Mastership) {
        self.seq += 1;
        let (name, token, seq) = (&self.o.name, master.token(), self.seq);
        let data = format!("{name} {token} {seq}");
        let sent = now();
        let result = master
            .fenced()
            .set(&self.o.record, data.as_bytes(), -1)
            .send()
            .await;
        let done = now();
        let line = match result {
            Ok(results) => match results.first() {
                Some(OpResult::Set { stat }) => {
                    format!("ok {name} {token} {seq} {} {sent} {done}", stat.mzxid)
                }
                other => {
                    format!("error {name} {token} {seq} {sent} {done} no Set result: {other:?}")
                }
            },
            Err(Error::NotMaster { .. }) => format!("fenced {name} {token} {seq} {sent} {done}"),
            Err(e) => format!(
                "error {name} {token} {seq} {sent} {done} {}",
                e.to_string().replace('\n', " ")
            ),
        };
        self.line(&line);
    }
}

async fn run(o: Options, mut rx: mpsc::UnboundedReceiver<Cmd>) -> Result<(), BoxError> {
    zkha::logging::set_debug_level(zkha::logging::LogLevel::Error);
    let config = ElectorConfig::builder(&o.hosts, &o.path)
        .data(zkha::net::seed_text_data(&o.name))
        .session_timeout(Duration::from_millis(o.session_ms))
        .poll_interval(Duration::from_millis(100))
        .name(&o.name)
        .build()?;
    let mut elector = Some(Elector::start(config, Arc::new(()))?);
    let mut w = Worker { o, seq: 0 };
    // Set once the shutdown was asked for: awaited after the last guard.
    let mut shutdown = None;
    while shutdown.is_none() {
        let Some(e) = elector.as_ref() else { break };
        let master = tokio::select! {
            m = e.until_master() => m?,
            cmd = rx.recv() => {
                match cmd {
                    Some(Cmd::Resign) => { let _ = e.resign(); }
                    Some(Cmd::Shutdown) | None => {
                        shutdown = elector.take().map(Elector::shutdown_async);
                    }
                }
                continue;
            }
        };
        let token = master.token();
        let name = w.o.name.clone();
        w.line(&format!("master {name} {token} {}", now()));
        let mut tick = tokio::time::interval(EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let reason = loop {
            tokio::select! {
                biased;
                reason = master.lost() => break reason,
                cmd = rx.recv() => match cmd {
                    Some(Cmd::Resign) => {
                        if let Some(e) = elector.as_ref() {
                            let _ = e.resign();
                        }
                    }
                    // The loss comes first (the shutdown waits for the
                    // guard), then the guard is dropped below.
                    Some(Cmd::Shutdown) | None => {
                        if shutdown.is_none() {
                            shutdown = elector.take().map(Elector::shutdown_async);
                        }
                    }
                },
                _ = tick.tick() => {
                    append(&w.o.work, &format!("work {name} {token} {}", now()));
                    w.write(&master).await;
                }
            }
        };
        w.line(&format!("lost {name} {token} {reason} {}", now()));
        // Held a while after the loss: the node stays until the drop; the
        // writes tried meanwhile must all be refused.
        let until = tokio::time::Instant::now() + w.o.hold;
        while tokio::time::Instant::now() < until {
            tokio::time::sleep(EVERY).await;
            w.write(&master).await;
        }
        drop(master);
        w.line(&format!("drop {name} {token} {}", now()));
    }
    if let Some(done) = shutdown {
        done.await?;
    } else if let Some(e) = elector.take() {
        e.shutdown_async().await?;
    }
    w.line(&format!("exit {} {}", w.o.name, now()));
    Ok(())
}
