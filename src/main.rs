//! The `zkha` command-line tool.

mod cli {
    pub mod candidate;
    pub mod demo;
    pub mod signals;
}

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// ZooKeeper master/standby failover on the official C client.
#[derive(Parser)]
#[command(name = "zkha", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the demo: an embedded ZooKeeper server (or --hosts), one master
    /// node in the seed design's format, printed back.
    Demo {
        /// Use this ZooKeeper ensemble instead of an embedded server.
        #[arg(long)]
        hosts: Option<String>,
        /// The master znode (its parent is created if missing).
        #[arg(long, default_value = "/master/test")]
        path: String,
    },
    /// Join an election as one candidate until interrupted, writing a trace.
    Candidate(cli::candidate::CandidateArgs),
    /// Run an embedded ZooKeeper server (Debian's) on a free 127.0.0.1 port
    /// until interrupted; prints its connect string.
    Server {
        /// Print `java-pid <pid> <connect string>` instead of the connect string.
        #[arg(long)]
        print_pid: bool,
    },
}

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Demo { hosts, path } => cli::demo::run(hosts.as_deref(), &path),
        Command::Candidate(args) => cli::candidate::run(args),
        Command::Server { print_pid } => serve(print_pid),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("zkha: {e}");
            ExitCode::FAILURE
        }
    }
}

fn serve(print_pid: bool) -> Result<(), Box<dyn std::error::Error>> {
    let server = zkha::testing::TestingServer::start()?;
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
