//! `zkha candidate`: one election candidate as a process, with a trace;
//! what the fidelity and mixed-process tests (and the demo) run.

use super::signals;
use clap::Args;
use std::sync::Arc;
use std::time::Duration;
use zkha::elector::{Elector, Profile};

/// The election's flags live in [`super::flags`]; re-exported here, where
/// `run` has imported them from.
use super::flags::ElectionArgs;

/// `zkha candidate` arguments.
#[derive(Debug, Args)]
pub struct CandidateArgs {
    #[command(flatten)]
    pub election: ElectionArgs,
    #[command(flatten)]
    pub log: super::common::LogArgs,
    /// Leave after this many ms (default: run until SIGINT/SIGTERM).
    #[arg(long)]
    pub run_for: Option<u64>,
}

pub fn run(args: CandidateArgs) -> Result<u8, Box<dyn std::error::Error>> {
    let mut config = args.election.config()?;
    config.log_to_rust = args.log.apply()?;
    super::flags::validate(&args.election, &config)?;
    // Test hook (F3's fidelity test): a pause before each claim.
    if let Some(ms) = std::env::var("ZKHA_TEST_CLAIM_DELAY_MS")
        .ok()
        .and_then(|v| v.parse::<u64>().ok())
    {
        zkha::__private::set_test_claim_delay(&mut config, Duration::from_millis(ms));
    }
    let is_seed = matches!(config.profile, Profile::Seed);
    let elector = Elector::start(config, Arc::new(()))?;
    let (stopper, resigner) = (elector.control(), elector.control());
    // SIGINT/SIGTERM: leave; SIGUSR1: resign (stay a candidate).
    signals::dispatch(
        move || stopper.stop(),
        move || {
            if let Err(e) = resigner.resign() {
                log::error!(target: "zkha", "resign: {e}");
            }
        },
    );
    if let Some(ms) = args.run_for {
        let stopper = elector.control();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(ms));
            stopper.stop();
        });
    }
    elector.run();
    if elector.gave_up() {
        // The design's exit after its re-init limit (S3, F2).
        elector.shutdown();
        return Ok(3);
    }
    log::info!(target: "zkha", "leaving the election ({})", if is_seed { "seed" } else { "safe" });
    elector.shutdown();
    Ok(0)
}
