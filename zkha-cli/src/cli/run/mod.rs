//! `zkha run`: run a command only while this process is master.
//!
//! The command starts when this candidate becomes master, with ZKHA_TOKEN
//! (the fencing token) and ZKHA_PATH in its environment, in a process group
//! of its own. When mastership ends (resign, step-down after a partition,
//! node lost, expiry, shutdown) the group gets SIGTERM, then SIGKILL after
//! the grace period, and the command is gone before the node is released or
//! the session can expire: in the safe profile no other candidate can win
//! while it still runs. The command runs under a watchdog process
//! (`cli/watchdog/`) that holds the lease deadline itself, so a stalled or
//! dead zkha cannot leave it running past the lease; if zkha dies, the
//! watchdog stops the command and (`--on-crash handover`) ends the session
//! so a standby takes over at once.
//!
//! One job per file: the flags' checks (`checks.rs`); the supervisor's
//! state and the command's start (`supervisor.rs`), the watchdog process it
//! runs under (`watchdog_child.rs`), its stop and its own end (`stop.rs`);
//! the election's hooks (`hooks.rs`); a mastership's breadcrumb
//! (`breadcrumbs.rs`); the main loop (`main_loop.rs`, with readiness,
//! `--ready-cmd`) with `--on-exit restart`'s rule (`restart.rs`); the
//! running command's liveness, `--health-cmd` (`liveness.rs`); systemd's
//! notifications (`notify.rs`); the session timeout checked against the
//! ensemble's settings at start-up (`ensemble_check.rs`).

mod breadcrumbs;
mod checks;
mod ensemble_check;
mod hooks;
mod liveness;
mod main_loop;
mod notify;
mod registry_gauge;
mod reload;
mod restart;
mod running;
mod stop;
mod supervisor;
mod watchdog_child;

use super::common::LogArgs;
use super::contention::Contention;
use super::fence::FenceArgs;
use super::flags::ElectionArgs;
use super::health::{HealthArgs, HealthChecker, ReadyArgs};
use super::metrics::{Metrics, MetricsServer};
use super::signals;
use super::watchdog::OnCrash;
use clap::{Args, ValueEnum};
use main_loop::MainLoop;
use notify::Systemd;
use restart::Restarts;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;
use supervisor::Supervisor;

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

/// Reads `run`'s arguments again, from the same command line and
/// `--config` file as at start-up (SIGHUP, `reload.rs`); `Err` says why not.
pub type Reread = dyn Fn() -> Result<RunArgs, String>;

/// `zkha run` arguments.
#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub election: ElectionArgs,
    #[command(flatten)]
    pub log: LogArgs,
    /// Time the command gets after SIGTERM before SIGKILL when the lease is
    /// about to run out (zkha could not renew it, or mastership was lost
    /// without warning), in ms: a short kill margin inside the lease.
    #[arg(long, default_value_t = 300)]
    pub grace: u64,
    /// Time the command gets to shut down after SIGTERM on a planned end
    /// (SIGTERM or SIGINT to zkha, a resign, a failing --health-cmd), in
    /// ms. Mastership is held and renewed meanwhile, so no standby starts
    /// before the command (and everything it started) is gone; SIGKILL only
    /// then. Should a renewal fail meanwhile, the lease ends it sooner.
    #[arg(long, default_value_t = 30_000)]
    pub stop_timeout: u64,
    /// When the command exits by itself while master.
    #[arg(long, value_enum, default_value_t = OnExit::Exit)]
    pub on_exit: OnExit,
    /// If zkha itself dies while master, its watchdog kills the command and
    /// then either ends the session so a standby takes over at once
    /// (handover), or keeps it for a restart with --session-file (hold).
    /// Default: handover, or hold when --session-file is given.
    #[arg(long, value_enum)]
    pub on_crash: Option<OnCrash>,
    // The checks' flags are boxed: they keep `run`'s arguments, and so the
    // commands' enum, from growing large (clippy::large_enum_variant).
    #[command(flatten)]
    pub ready: Box<ReadyArgs>,
    #[command(flatten)]
    pub health: Box<HealthArgs>,
    #[command(flatten)]
    pub fence: FenceArgs,
    /// Serve Prometheus metrics at http://HOST:PORT/metrics (zkha_is_master,
    /// zkha_lease_remaining_seconds, ...), and for load balancers /master
    /// (200 only while master under a valid lease with the command running),
    /// /standby and /health (else 503): a loopback address
    /// (127.0.0.1:9464, [::1]:9464, localhost:9464) or an explicit address
    /// of this host, never the wildcard. Not served when absent.
    #[arg(long, value_name = "HOST:PORT", value_parser = super::metrics::parse_metrics_addr)]
    pub metrics_addr: Option<SocketAddr>,
    /// The command and its arguments (after `--`).
    #[arg(last = true, required = true, value_name = "CMD")]
    pub command: Vec<String>,
}

/// `zkha run`: checks the flags, serves the metrics, joins the election
/// (after a passing readiness check, with one), runs the main loop until a
/// signal, an error or `--on-exit exit` ends it; its exit code.
pub fn run(args: RunArgs, reread: &Reread) -> Result<u8, Box<dyn std::error::Error>> {
    // Should the watchdog be killed, what its command started comes here
    // (instead of init) to be killed: see `reaper.rs`.
    super::reaper::become_subreaper()
        .map_err(|e| format!("cannot become a child subreaper (PR_SET_CHILD_SUBREAPER): {e}"))?;
    let config = checks::checked_config(&args)?;
    // The session timeout against each member's settings (`conf`), on a
    // thread of its own: logged when the members answer.
    ensemble_check::start(&config);
    let metrics = Metrics::new();
    let _metrics_server = match args.metrics_addr {
        Some(addr) => {
            let server = MetricsServer::start(addr, metrics.clone())
                .map_err(|e| format!("--metrics-addr {addr}: cannot serve the metrics: {e}"))?;
            log::info!(target: "zkha", "{} on {}: metrics at http://{}/metrics", config.path, config.hosts, server.local_addr());
            Some(server)
        }
        None => None,
    };
    let sup = Arc::new(Supervisor::new(&args, &config, metrics.clone()));
    let label = format!("{} on {}", sup.path, sup.hosts);
    let ready = match args.ready.spec() {
        Some(spec) => Some(HealthChecker::start(spec, label.clone())?),
        None => None,
    };
    metrics.set_ready(ready.is_none());
    signals::install(&[libc::SIGINT, libc::SIGTERM, libc::SIGUSR1, libc::SIGHUP]);
    let contention = Arc::new(Contention::new(config, sup.clone()));
    match &ready {
        // Seed: joins once a check passed (see the main loop).
        Some(_) if !sup.registers => {
            log::info!(target: "zkha", "{label}: joining the election after a passing readiness check");
        }
        // Safe: registered at once, as not ready until a check passes.
        _ => *sup.control.lock() = Some(contention.join()?),
    }
    // zkha_candidates, zkha_ready_standbys: read from the registry.
    let _registry_gauge =
        registry_gauge::RegistryGauge::start(contention.clone(), metrics.clone())?;
    // systemd (Type=notify): READY=1 and STATUS= from a thread, WATCHDOG=1
    // from the main loop.
    let systemd = Systemd::start(&sup, &contention)?;
    let mut main_loop = MainLoop {
        args: &args,
        sup,
        contention,
        ready,
        metrics,
        systemd,
        label,
        back_off: args.fence.backoff(),
        back_off_until: Instant::now(),
        succession: None,
        restarts: Restarts::default(),
        strays_reaped: Instant::now(),
        checked_session: None,
        reread,
        applied: None,
    };
    let code = main_loop.run()?;
    main_loop.finish();
    Ok(code)
}
