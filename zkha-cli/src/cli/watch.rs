//! `zkha watch`: one line per change of master, with timestamps.

use super::common::{now_ms, utc};
use super::signals;
use super::status::describe;
use clap::Args;
use std::sync::mpsc;
use std::time::Duration;
use zkha::elector::{read_master, MasterInfo};

/// `zkha watch` arguments.
#[derive(Debug, Args)]
pub struct WatchArgs {
    #[command(flatten)]
    pub target: super::common::ObserveArgs,
    /// Exit after printing this many lines (default: until interrupted).
    #[arg(long)]
    pub count: Option<u64>,
}

fn same_holder(a: &Option<MasterInfo>, b: &Option<MasterInfo>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => a.path == b.path && a.session == b.session && a.token == b.token,
        (None, None) => true,
        _ => false,
    }
}

pub fn run(args: WatchArgs) -> Result<u8, Box<dyn std::error::Error>> {
    signals::install(&[libc::SIGINT, libc::SIGTERM]);
    let zk = args.target.connect()?;
    let (tx, rx) = mpsc::channel::<()>();
    let notify = move || {
        let tx = tx.clone();
        move |_: zkha::WatchedEvent| {
            let _ = tx.send(());
        }
    };
    let mut shown: Option<Option<MasterInfo>> = None;
    let mut lines = 0u64;
    loop {
        // Arm a watch, then read: a change after the read wakes us.
        // A watch that could not be set (a connection loss, say) would never
        // fire: then look again after a short pause instead of waiting.
        let armed = if args.target.sequence {
            zk.wget_children(&args.target.path, notify()).is_ok()
        } else {
            zk.wexists(&args.target.path, notify()).is_ok()
        };
        let now = read_master(&zk, &args.target.path, args.target.sequence)?;
        if shown.as_ref().is_none_or(|s| !same_holder(s, &now)) {
            let stamp = utc(now_ms());
            match &now {
                Some(m) => println!("{stamp} master: {}", describe(m)),
                None => println!("{stamp} no master"),
            }
            lines += 1;
            shown = Some(now);
            if args.count.is_some_and(|c| lines >= c) {
                return Ok(0);
            }
        }
        // Wait for the watch, checking for SIGINT/SIGTERM meanwhile.
        loop {
            if signals::take().is_some() {
                return Ok(0);
            }
            match rx.recv_timeout(Duration::from_millis(100)) {
                Ok(()) => break,
                Err(mpsc::RecvTimeoutError::Timeout) if armed => continue,
                Err(mpsc::RecvTimeoutError::Timeout) => break,
                Err(mpsc::RecvTimeoutError::Disconnected) => return Ok(1),
            }
        }
    }
}
