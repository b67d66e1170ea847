//! The `zkha` command-line tool.

mod cli {
    pub mod breadcrumb;
    pub mod candidate;
    pub mod child_fds;
    pub mod common;
    pub mod completions;
    pub mod config_file;
    pub mod conform;
    pub mod contention;
    pub mod demo;
    pub mod fence;
    pub mod flags;
    pub mod health;
    pub mod history;
    pub mod metrics;
    pub mod narrate;
    pub mod pause;
    pub mod reaper;
    pub mod run;
    pub mod secure;
    pub mod signals;
    pub mod status;
    pub mod stderr;
    pub mod succession;
    pub mod switchover;
    pub mod systemd;
    pub mod watch;
    pub mod watchdog;
}

use clap::{CommandFactory, Parser, Subcommand};
use cli::common::exit;
use std::process::ExitCode;

const AFTER_HELP: &str = "\
Examples:
  zkha demo                                   # embedded ZooKeeper, three candidates, failovers
  zkha run --hosts 127.0.0.1:2181 --path /master/test -- ./my-service --flag
  zkha run --config /etc/zkha/run.toml --data 10.0.0.7  # flags from a TOML file
  zkha status --hosts 127.0.0.1:2181 --path /master/test --json
  zkha watch --hosts 127.0.0.1:2181 --path /master/test
  zkha switchover --hosts 127.0.0.1:2181 --path /master/test --to b  # planned handover

Exit codes:
  0  done (status: someone is master)
  1  runtime error (ZooKeeper unreachable, I/O)
  2  bad usage or input
  3  seed profile: session re-init limit reached
  4  status: nobody is master (switchover, resign: nobody to ask)
  5  run: the command could not be started
  6  switchover, resign: refused, nothing written
  7  switchover, resign: not done within --timeout (the control node was reset)
  8  conform: a behaviour S1-S9 of the design failed
  run --on-exit exit: the command's own exit code, or 128+N if it died of signal N;
  run interrupted by SIGINT/SIGTERM: 128+N

Secure ensembles: --tls-ca/--tls-cert/--tls-key (mutual TLS), --sasl-mech/--sasl-user
with --sasl-password-file FILE (owner-only) or ZKHA_SASL_PASSWORD (SASL).

Logs: RUST_LOG (e.g. RUST_LOG=zkha=debug); the C client's own lines at
--zk-log-level, through the same logger (target \"zookeeper\") or into --zk-log-file.";

/// ZooKeeper master/standby failover on the official ZooKeeper C client.
/// `zkha run --help`'s epilogue: the signals and the environment.
const RUN_AFTER_HELP: &str = "\
Signals (to zkha run):
  SIGTERM, SIGINT  planned stop: the command gets SIGTERM from the watchdog while this
                   candidate is still master, and up to --stop-timeout to end; then zkha
                   leaves the election (exit 128+N)
  SIGUSR1          resign: stop the command the same way, release the node, stay a candidate
                   (`systemctl kill -s USR1` signals every process of the unit: prefer
                   `zkha resign`, or `zkha switchover --to NAME`)
  SIGHUP           reload (`systemctl reload`): --config's file read again; the readiness
                   check restarts with its new settings, the health check takes them from
                   the command's next start; any other change is logged as needing a restart

The command's environment:
  ZKHA_TOKEN       the fencing token of this mastership (the master node's czxid)
  ZKHA_PATH        the election path
  (ZKHA_SASL_PASSWORD and ZKHA_DIGEST are never passed on)";

#[derive(Parser)]
#[command(name = "zkha", version, about, after_help = AFTER_HELP)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run CMD only while this process is master (SIGTERM, then SIGKILL, when
    /// mastership ends).
    #[command(after_help = RUN_AFTER_HELP)]
    Run(cli::config_file::RunCommand),
    /// Show who is master (and the queue in sequence mode).
    Status(cli::status::StatusArgs),
    /// Print a line each time the master changes.
    Watch(cli::watch::WatchArgs),
    /// Planned handover: ask the master (a registered safe-profile
    /// candidate) to hand over to the candidate named by --to, and wait
    /// until it is master.
    Switchover(cli::switchover::SwitchoverArgs),
    /// Past masterships, newest first: who, from when to when, and how
    /// each ended (PATH.zkha/history).
    History(cli::history::HistoryArgs),
    /// Maintenance: no candidate takes over for --for (the master, once it
    /// has acknowledged, keeps its command through a ZooKeeper outage
    /// until then); `zkha resume` ends it.
    Pause(cli::pause::PauseArgs),
    /// End a maintenance pause: standbys may take over again once the
    /// master has acknowledged the resume (or the pause's time is up).
    Resume(cli::pause::ResumeArgs),
    /// Ask the master (a registered safe-profile candidate) to resign, and
    /// wait until a master (another, if one is ready) holds the node.
    Resign(cli::switchover::ResignArgs),
    /// Show failover live: three candidates (two Rust, one C++), resign,
    /// crash, and a latency summary. Without --hosts, on an embedded server.
    Demo(cli::demo::DemoArgs),
    /// One election candidate with a trace (for tests and experiments);
    /// SIGUSR1 resigns, SIGINT/SIGTERM leave.
    Candidate(cli::candidate::CandidateArgs),
    /// Check a legacy binary of the classic design: run it as candidates
    /// on an embedded server through scripted scenarios; report S1-S9 and
    /// F1-F10 (exit 0 when every observable S line passes).
    Conform(cli::conform::ConformArgs),
    /// Run an embedded ZooKeeper server (Debian's) on a free 127.0.0.1 port
    /// until interrupted; prints its connect string.
    Server {
        /// Print `java-pid <pid> <connect string>` instead of the connect string.
        #[arg(long)]
        print_pid: bool,
    },
    /// Print a shell completion script (bash: source it, or install it as
    /// /usr/share/bash-completion/completions/zkha).
    Completions(cli::completions::CompletionsArgs),
    /// Print the manual page (roff): zkha(1), or one command's
    /// zkha-COMMAND(1); --dir writes them all (`zkha man | man -l -`).
    Man(cli::completions::ManArgs),
    /// Internal: the watchdog `zkha run` starts its command under.
    #[command(name = "__watchdog", hide = true)]
    Watchdog(cli::watchdog::WatchdogArgs),
}

fn main() -> ExitCode {
    init_logger();
    // `run --config FILE`: the file's settings become flags before clap
    // parses (the command line overrides them).
    let expanded = match cli::config_file::expand(Cli::command(), std::env::args_os().collect()) {
        Ok(expanded) => expanded,
        Err(e) => {
            cli::stderr::line(&format!("zkha: {e}"));
            return ExitCode::from(exit::USAGE);
        }
    };
    let cli = match Cli::try_parse_from(&expanded.args) {
        Ok(cli) => cli,
        Err(e) => {
            // --help and --version are not errors.
            let code = if e.use_stderr() {
                exit::USAGE
            } else {
                exit::OK
            };
            if e.use_stderr() {
                // Rendered plain: a usage error must not block on a full
                // stderr either.
                let text = e.render().to_string();
                cli::stderr::line(text.trim_end_matches('\n'));
            } else {
                let _ = e.print();
            }
            if let (true, Some(origin)) = (e.use_stderr(), &expanded.origin) {
                cli::stderr::line(&format!("zkha: {}", origin.note()));
            }
            return ExitCode::from(code);
        }
    };
    let result = match cli.command {
        Command::Run(args) => {
            cli::run::run(args.run, &reread_run).map_err(|e| match &expanded.origin {
                Some(origin) => origin.attribute(e),
                None => e,
            })
        }
        Command::Status(args) => cli::status::run(args),
        Command::Watch(args) => cli::watch::run(args),
        Command::Switchover(args) => cli::switchover::switchover(args),
        Command::Resign(args) => cli::switchover::resign(args),
        Command::Pause(args) => cli::pause::pause(args),
        Command::Resume(args) => cli::pause::resume(args),
        Command::History(args) => cli::history::run(args),
        Command::Demo(args) => cli::demo::run(args).map(|_| exit::OK),
        Command::Candidate(args) => cli::candidate::run(args),
        Command::Conform(args) => cli::conform::run(args),
        Command::Server { print_pid } => serve(print_pid).map(|_| exit::OK),
        Command::Completions(args) => cli::completions::completions(args, Cli::command()),
        Command::Man(args) => cli::completions::man(args, Cli::command()),
        Command::Watchdog(args) => cli::watchdog::run(args),
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            cli::stderr::line(&format!("zkha: {e}"));
            let usage = matches!(
                e.downcast_ref::<zkha::Error>(),
                Some(zkha::Error::InvalidArgument { .. })
            ) || e.is::<cli::config_file::FromFile>();
            ExitCode::from(if usage { exit::USAGE } else { exit::ERROR })
        }
    }
}

/// `RUST_LOG` (default `info`) and `RUST_LOG_STYLE`, written through
/// [`cli::stderr::NonBlockingStderr`]: no log line (zkha's own, or the C
/// client's bridged into `log`) ever blocks on a full stderr or panics on
/// a closed one. Colours on a terminal, as env_logger's own stderr target.
/// Panic messages go the same way.
fn init_logger() {
    use std::io::IsTerminal;
    let mut builder =
        env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info"));
    builder.target(env_logger::Target::Pipe(Box::new(
        cli::stderr::NonBlockingStderr,
    )));
    if std::env::var_os("RUST_LOG_STYLE").is_none() && std::io::stderr().is_terminal() {
        builder.write_style(env_logger::WriteStyle::Always);
    }
    builder.init();
    // A panic's message too: the default hook writes to stderr blocking.
    std::panic::set_hook(Box::new(|info| {
        let thread = std::thread::current();
        let name = thread.name().unwrap_or("<unnamed>");
        let mut text = format!("zkha: thread '{name}' {info}");
        let trace = std::backtrace::Backtrace::capture();
        if trace.status() == std::backtrace::BacktraceStatus::Captured {
            text.push_str(&format!("\n{trace}"));
        }
        cli::stderr::line(&text);
    }));
}

fn serve(print_pid: bool) -> Result<(), Box<dyn std::error::Error>> {
    let server = zkha_testing::TestingServer::start()?;
    if print_pid {
        println!(
            "java-pid {} {}",
            server.pid().unwrap_or(0),
            server.connect_string()
        );
    } else {
        println!("{}", server.connect_string());
    }
    // Until a signal ends the process; the server dies with it (PDEATHSIG).
    loop {
        std::thread::park();
    }
}

/// `zkha run`'s arguments read again from this process's own command line
/// and its `--config` file, as `main` read them (SIGHUP: `systemctl
/// reload`). `Err`: why not (no `--config`, a file that no longer parses).
fn reread_run() -> Result<cli::run::RunArgs, String> {
    let expanded = cli::config_file::expand(Cli::command(), std::env::args_os().collect())
        .map_err(|e| e.to_string())?;
    if expanded.origin.is_none() {
        return Err("started without --config: there is no file to read again".into());
    }
    let cli = Cli::try_parse_from(&expanded.args).map_err(|e| {
        e.render()
            .to_string()
            .lines()
            .next()
            .unwrap_or_default()
            .to_owned()
    })?;
    match cli.command {
        Command::Run(run) => Ok(run.run),
        _ => Err("the command line is not zkha run's".into()),
    }
}
