//! `zkha run`: run a command only while this process is master.
//!
//! The command starts when this candidate becomes master, with ZKHA_TOKEN
//! (the fencing token) and ZKHA_PATH in its environment, in a process group
//! of its own. When mastership ends (resign, step-down after a partition,
//! node lost, expiry, shutdown) the group gets SIGTERM, then SIGKILL after
//! the grace period, and the command is gone before the node is released or
//! the session can expire: in the safe profile no other candidate can win
//! while it still runs. If zkha itself dies, even by SIGKILL, the command
//! gets SIGKILL too (PR_SET_PDEATHSIG).

use super::candidate::ElectionArgs;
use super::common::{exit, LogArgs};
use super::signals;
use clap::{Args, ValueEnum};
use parking_lot::Mutex;
use std::os::unix::process::{CommandExt, ExitStatusExt};
use std::process::{Child, Command, ExitStatus};
use std::sync::Arc;
use std::time::{Duration, Instant};
use zkha::elector::{Candidate, Elector, FencingToken, LostReason};

/// What to do when the command exits by itself while master.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum OnExit {
    /// Leave the election and exit with the command's status.
    Exit,
    /// Give up mastership, stay a candidate; run it again if elected again.
    Resign,
    /// Start the command again at once (still master).
    Restart,
}

/// `zkha run` arguments.
#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub election: ElectionArgs,
    #[command(flatten)]
    pub log: LogArgs,
    /// Time the command gets after SIGTERM before SIGKILL, in ms.
    #[arg(long, default_value_t = 300)]
    pub grace: u64,
    /// When the command exits by itself while master.
    #[arg(long, value_enum, default_value_t = OnExit::Exit)]
    pub on_exit: OnExit,
    /// The command and its arguments (after `--`).
    #[arg(last = true, required = true, value_name = "CMD")]
    pub command: Vec<String>,
}

struct Supervisor {
    command: Vec<String>,
    path: String,
    grace: Duration,
    child: Mutex<Option<Child>>,
    start_error: Mutex<Option<String>>,
}

impl Supervisor {
    fn start(&self, token: FencingToken) {
        let mut slot = self.child.lock();
        if slot.is_some() {
            return;
        }
        let mut cmd = Command::new(&self.command[0]);
        cmd.args(&self.command[1..])
            .env("ZKHA_TOKEN", token.value().to_string())
            .env("ZKHA_PATH", &self.path)
            .process_group(0);
        match zkha::child::spawn_tied_to_process(cmd) {
            Ok(child) => {
                log::info!(target: "zkha", "master: started {:?} (pid {}, token {})", self.command, child.id(), token.value());
                *slot = Some(child);
            }
            Err(e) => {
                log::error!(target: "zkha", "cannot start {:?}: {e}", self.command);
                *self.start_error.lock() = Some(format!("cannot start {:?}: {e}", self.command[0]));
            }
        }
    }

    /// SIGTERM to the command's group, SIGKILL after the grace period;
    /// returns once it is gone.
    fn stop(&self, why: &str) -> Option<ExitStatus> {
        let mut child = self.child.lock().take()?;
        let pgid = child.id() as i32;
        log::warn!(target: "zkha", "{why}: stopping {:?} (pid {pgid})", self.command);
        // SAFETY: signals the process group we created for our child.
        unsafe { libc::kill(-pgid, libc::SIGTERM) };
        let deadline = Instant::now() + self.grace;
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                // SAFETY: as above; leftovers of the group go too.
                unsafe { libc::kill(-pgid, libc::SIGKILL) };
                return Some(status);
            }
            if Instant::now() >= deadline {
                // SAFETY: as above.
                unsafe { libc::kill(-pgid, libc::SIGKILL) };
                return child.wait().ok();
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// The command's status if it exited by itself.
    fn exited(&self) -> Option<ExitStatus> {
        let mut slot = self.child.lock();
        let status = slot.as_mut()?.try_wait().ok()??;
        *slot = None;
        Some(status)
    }
}

/// Runs on the election thread: the command is gone before the election
/// goes on (and before the node is released).
impl Candidate for Supervisor {
    fn on_became_master(&self, token: FencingToken) {
        self.start(token);
    }
    fn on_lost_master(&self, reason: LostReason) {
        self.stop(&format!("lost mastership ({reason:?})"));
    }
}

fn code_of(status: ExitStatus) -> u8 {
    match (status.code(), status.signal()) {
        (Some(c), _) => c.clamp(0, 255) as u8,
        (None, Some(sig)) => (128 + sig).clamp(0, 255) as u8,
        _ => exit::ERROR,
    }
}

pub fn run(args: RunArgs) -> Result<u8, Box<dyn std::error::Error>> {
    let mut config = args.election.config();
    config.log_to_rust = args.log.apply()?;
    config.validate()?;
    let sup = Arc::new(Supervisor {
        command: args.command.clone(),
        path: config.path.clone(),
        grace: Duration::from_millis(args.grace),
        child: Mutex::new(None),
        start_error: Mutex::new(None),
    });
    signals::install(&[libc::SIGINT, libc::SIGTERM, libc::SIGUSR1]);
    let elector = Arc::new(Elector::start(config, sup.clone())?);
    // The run loop (S4) on its own thread: in the seed profile it is where
    // the election happens.
    let runner = {
        let e = elector.clone();
        std::thread::Builder::new()
            .name("zkha-run-loop".into())
            .spawn(move || e.run())?
    };
    let control = elector.control();
    let code = loop {
        match signals::take() {
            Some(libc::SIGUSR1) => {
                if let Err(e) = control.resign() {
                    log::error!(target: "zkha", "resign: {e}");
                }
            }
            Some(sig) => {
                log::warn!(target: "zkha", "signal {sig}: leaving");
                sup.stop("interrupted");
                break 128 + sig as u8;
            }
            None => {}
        }
        if let Some(e) = sup.start_error.lock().take() {
            eprintln!("zkha: {e}");
            break exit::CANNOT_START;
        }
        if let Some(status) = sup.exited() {
            log::warn!(target: "zkha", "{:?} exited: {status}", args.command);
            match args.on_exit {
                OnExit::Exit => break code_of(status),
                OnExit::Resign => {
                    if let Err(e) = control.resign() {
                        log::error!(target: "zkha", "resign: {e}");
                    }
                }
                OnExit::Restart => {
                    if let Some(token) = elector.token() {
                        sup.start(token);
                    }
                }
            }
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    control.stop();
    let _ = runner.join();
    // Last reference: shuts the election down (the command is already gone).
    drop(Arc::try_unwrap(elector).ok());
    Ok(code)
}
