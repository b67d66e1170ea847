//! `zkha conform -- LEGACY_COMMAND ARGS`: runs a team's own binary of the
//! classic design (docs/design.md) as candidates on an embedded ZooKeeper,
//! beside zkha seed-profile candidates, through scripted scenarios, and
//! reports each behaviour S1–S9 (pass / fail / not observable, with its
//! evidence) and each flaw F1–F10 the binary shows. Exit 0 exactly when
//! every observable S line passes.
//!
//! - [`command`]: the command line, its placeholders, `--role-from`;
//! - [`fleet`]: the embedded server and the instances (each through a
//!   proxy of its own, its bytes decoded by [`wire`]);
//! - [`scenarios`]: the script;
//! - [`judge`]: the thresholds and each line's verdict;
//! - [`report`]: text and JSON.

mod command;
mod fleet;
mod judge;
mod report;
mod scenarios;
mod wire;

use clap::Args;

/// Exit code: an observable behaviour S1–S9 failed.
pub const NOT_CONFORMING: u8 = 8;

/// `zkha conform` arguments.
#[derive(Debug, Args)]
#[command(after_help = AFTER_HELP)]
pub struct ConformArgs {
    /// Print the report as JSON (the same content).
    #[arg(long)]
    pub json: bool,
    /// Scenarios to run, comma-separated (default: all): cold, contenders,
    /// graceful, kill, expiry, restart, partition.
    #[arg(long, value_name = "LIST")]
    pub scenarios: Option<String>,
    /// Where an instance's role is read from: `node` (the master node's
    /// owner session and data) or `log:REGEX` (a line of its stdout/stderr
    /// matching REGEX, e.g. log:'become master').
    #[arg(long, value_name = "node|log:REGEX", default_value = "node")]
    pub role_from: String,
    /// The poll interval the binary is expected to use, in ms (the
    /// design's 1000).
    #[arg(long, value_name = "MS", default_value_t = 1000)]
    pub poll: u64,
    /// The settle delay after becoming master, in ms (the design's 2000).
    #[arg(long, value_name = "MS", default_value_t = 2000)]
    pub settle: u64,
    /// The session timeout the binary is expected to request, in ms (the
    /// design's 5000).
    #[arg(long, value_name = "MS", default_value_t = 5000)]
    pub session_timeout: u64,
    /// The binary and its arguments; conform fills in {hosts}, {path} and
    /// {data} (10.0.0.N, one per instance).
    #[arg(last = true, value_name = "LEGACY_COMMAND")]
    pub command: Vec<String>,
    /// conform's own session's C client lines (not the instances').
    #[command(flatten)]
    pub log: super::common::LogArgs,
}

const AFTER_HELP: &str = "\
Example:
  zkha conform -- ./legacy {hosts} {path} {data}
  zkha conform --json --poll 250 --session-timeout 2000 --role-from log:'become master' \\
      -- ./legacy --zk {hosts} --node {path} --ip {data}

Exit codes: 0 every observable behaviour S1-S9 passes (the F lines never fail);
8 one failed; 2 bad usage (no command, an unknown placeholder, a bad regex);
1 a runtime error (the embedded server did not start).
See docs/c-cpp.md, \"Checking your own binary\".";

pub fn run(args: ConformArgs) -> Result<u8, Box<dyn std::error::Error>> {
    let legacy = command::Legacy::parse(&args.command)?;
    let role = command::RoleFrom::parse(&args.role_from)?;
    let scenarios = command::parse_scenarios(args.scenarios.as_deref())?;
    zkha::validate::check_timeout_ms(args.session_timeout as i64, "--session-timeout")?;
    for (v, name) in [(args.poll, "--poll"), (args.settle, "--settle")] {
        if v > 600_000 || (name == "--poll" && v == 0) {
            return Err(zkha::Error::InvalidArgument {
                argument: zkha::error::Argument::Timeout,
                reason: format!("{name} {v}: from 1 ms (0 for --settle) to 600000 ms"),
            }
            .into());
        }
    }
    let bridge = args.log.apply()?;
    if !args.json {
        eprintln!(
            "zkha conform: starting an embedded ZooKeeper; scenarios: {}",
            scenarios
                .iter()
                .map(|s| s.name())
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    let mut fleet = fleet::Fleet::start(
        legacy.clone(),
        role.clone(),
        args.poll,
        args.settle,
        args.session_timeout,
        bridge,
    )?;
    let hosts = fleet.server.connect_string().to_owned();
    let path = fleet.path.clone();
    if !scenarios.contains(&scenarios::Scenario::Cold) {
        fleet.create_parent()?;
    }
    let mut script = scenarios::Script::new(&mut fleet);
    let mut outcomes = Vec::new();
    for s in scenarios {
        let o = script.run(s);
        if !args.json {
            eprintln!(
                "zkha conform: {} {} ({:.1} s)",
                s.name(),
                o.error
                    .as_ref()
                    .map(|e| format!("failed: {e}"))
                    .unwrap_or_else(|| "done".into()),
                o.seconds
            );
        }
        let cold_failed = s == scenarios::Scenario::Cold && o.error.is_some();
        outcomes.push(o);
        if cold_failed {
            // Nothing else can be judged without a first master.
            break;
        }
    }
    let mut findings = std::mem::take(&mut script.findings);
    // S9: the C client's own lines on the binary's stderr.
    let c_line = regex::Regex::new(r"ZOO_(ERROR|WARN|INFO|DEBUG)@").expect("valid");
    let seen = fleet
        .instances
        .iter()
        .filter(|i| i.kind == fleet::Kind::Legacy)
        .find_map(|i| {
            i.lines
                .lock()
                .iter()
                .find(|l| l.stderr && c_line.is_match(&l.text))
                .map(|l| (i.name.clone(), l.text.clone()))
        });
    if let Some((name, text)) = seen {
        findings.push(judge::Finding::new(
            "S9",
            "all",
            Some(true),
            format!("the C client logs to {name}'s stderr (its default stream): {text:?}"),
        ));
    }
    let seconds = fleet.now() / 1000.0;
    fleet.stop_all();
    fleet.clean();
    let report = report::Report {
        command: legacy.words().to_vec(),
        hosts,
        path,
        role: role.describe(),
        poll_ms: args.poll,
        settle_ms: args.settle,
        session_ms: args.session_timeout,
        outcomes,
        findings,
        seconds,
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report.json())?);
    } else {
        print!("{}", report.text());
    }
    Ok(if report.conforms() {
        super::common::exit::OK
    } else {
        NOT_CONFORMING
    })
}
