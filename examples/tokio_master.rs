//! An async master/standby loop on tokio with the guard form: wait to
//! become master (`Elector::until_master` gives a `Mastership`), work
//! until the guard's `lost()` fires, and do the work's writes through
//! `Mastership::fenced()`, which ZooKeeper itself refuses once the term is
//! over. The node is released only once the guard is dropped.
//!
//! ```text
//! tokio_master --hosts H --path P --name NAME [--terms N] [--resign-after K] [--work-ms MS]
//! ```
//! Each term: print `NAME: standby`, wait for mastership, print
//! `NAME: master token=T`, then every `--work-ms` (100) write `NAME T n`
//! into the record node `P-work` (fenced), print `NAME: work token=T n=i`,
//! and after `--resign-after` (5) writes resign so a standby takes over;
//! print `NAME: lost REASON` when the term ends. After `--terms` (1)
//! terms, leave the election and exit.
//!
//! Fencing: each write is one multi that checks this term's version of
//! the election's term node and sets the record: a master whose term is
//! over (it missed its demotion) gets `Error::NotMaster` and writes
//! nothing, whoever is master now.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;
use zkha::elector::{Elector, ElectorConfig, Mastership};
use zkha::{CreateMode, Error, ErrorCode};

type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("tokio_master: {e}");
            ExitCode::FAILURE
        }
    }
}

struct Options {
    hosts: String,
    path: String,
    name: String,
    terms: u32,
    resign_after: u32,
    work: Duration,
}

fn options() -> Result<Options, BoxError> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let opt = |name: &str| {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .cloned()
    };
    Ok(Options {
        hosts: opt("--hosts").ok_or("--hosts H is required")?,
        path: opt("--path").ok_or("--path P is required")?,
        name: opt("--name").unwrap_or_else(|| "candidate".into()),
        terms: opt("--terms").map(|t| t.parse()).transpose()?.unwrap_or(1),
        resign_after: opt("--resign-after")
            .map(|t| t.parse())
            .transpose()?
            .unwrap_or(5),
        work: Duration::from_millis(
            opt("--work-ms")
                .map(|t| t.parse())
                .transpose()?
                .unwrap_or(100),
        ),
    })
}

async fn run() -> Result<(), BoxError> {
    let o = options()?;
    zkha::logging::set_debug_level(zkha::logging::LogLevel::Error);
    let mut config = ElectorConfig::new(&o.hosts, &o.path);
    config.data = zkha::net::seed_text_data(&o.name);
    config.poll_interval = Duration::from_millis(100);
    let elector = Elector::start(config, Arc::new(()))?;
    let record = format!("{}-work", o.path);

    for _ in 0..o.terms {
        println!("{}: standby", o.name);
        let master = elector.until_master().await?;
        println!("{}: master token={}", o.name, master.token());
        let mut done = 0;
        let mut tick = tokio::time::interval(o.work);
        loop {
            tokio::select! {
                reason = master.lost() => {
                    println!("{}: lost {reason:?}", o.name);
                    break;
                }
                _ = tick.tick() => {
                    if done == o.resign_after {
                        continue; // resigned: waiting for the loss
                    }
                    if !fenced_write(&master, &record, &o.name).await? {
                        println!("{}: fenced", o.name);
                        continue;
                    }
                    done += 1;
                    println!("{}: work token={} n={done}", o.name, master.token());
                    if done == o.resign_after {
                        elector.resign()?;
                    }
                }
            }
        }
        // The work has stopped: the node may go now.
        drop(master);
    }
    // Shutting down joins the election thread: on a thread of its own.
    elector.shutdown_async().await?;
    Ok(())
}

/// Writes `NAME TOKEN` into `record` (made on the first write), fenced by
/// the term; false when the term is over (nothing written).
async fn fenced_write(master: &Mastership, record: &str, name: &str) -> Result<bool, BoxError> {
    let text = format!("{name} {}", master.token());
    let set = master
        .fenced()
        .set(record, text.as_bytes(), -1)
        .send()
        .await;
    let written = match set {
        Err(e) if e.code() == Some(ErrorCode::NoNode) => {
            let create =
                master
                    .fenced()
                    .create(record, text.as_bytes(), None, CreateMode::Persistent);
            match create.send().await {
                // Made meanwhile by another writer: set it.
                Err(e) if e.code() == Some(ErrorCode::NodeExists) => {
                    master
                        .fenced()
                        .set(record, text.as_bytes(), -1)
                        .send()
                        .await
                }
                other => other,
            }
        }
        other => other,
    };
    match written {
        Ok(_) => Ok(true),
        Err(Error::NotMaster { .. }) => Ok(false),
        Err(e) => Err(e.into()),
    }
}
