//! An async master/standby loop on tokio: wait to become master
//! (`Elector::until_master`), work while master, stop at the first
//! `LostMaster` of the change stream (`Elector::changes`), and do the work's
//! writes with `AsyncZooKeeper`, fenced by the token.
//!
//! ```text
//! tokio_master --hosts H --path P --name NAME [--terms N] [--resign-after K] [--work-ms MS]
//! ```
//! Each term: print `NAME: standby`, wait for mastership, print
//! `NAME: master token=T`, then every `--work-ms` (100) write `NAME T n`
//! into the record node `P-work`, print `NAME: work token=T n=i`, and after
//! `--resign-after` (5) writes resign so a standby takes over; print
//! `NAME: lost REASON` when mastership ends. After `--terms` (1) terms,
//! leave the election and exit.
//!
//! Fencing: a write first reads the record and refuses (`NAME: fenced`) if
//! it holds a greater token than ours, then sets it only at the version it
//! read, so a stale master that missed its demotion cannot overwrite a newer
//! master's record.

use futures::StreamExt;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;
use zkha::elector::{Elector, ElectorConfig, FencingToken, MasterChange};
use zkha::{Acl, AsyncZooKeeper, CreateMode, ErrorCode, ZooKeeper};

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
    let zk = AsyncZooKeeper::connect(ZooKeeper::builder(&o.hosts), Duration::from_secs(30)).await?;
    let elector = Elector::start(config, Arc::new(()))?;
    let mut changes = elector.changes();
    let record = format!("{}-work", o.path);

    for _ in 0..o.terms {
        println!("{}: standby", o.name);
        let token = elector.until_master().await?;
        println!("{}: master token={}", o.name, token.value());
        let mut done = 0;
        let mut tick = tokio::time::interval(o.work);
        loop {
            tokio::select! {
                change = changes.next() => match change {
                    Some(MasterChange::LostMaster(reason)) => {
                        println!("{}: lost {reason:?}", o.name);
                        break;
                    }
                    Some(MasterChange::BecameMaster(_)) => {}
                    None => return Err("the elector shut down".into()),
                },
                _ = tick.tick() => {
                    // The lease can end between ticks: no token, no write.
                    let Some(now) = elector.token() else { continue };
                    if done == o.resign_after {
                        continue; // resigned: waiting for LostMaster
                    }
                    if !fenced_write(&zk, &record, &o.name, now).await? {
                        println!("{}: fenced", o.name);
                        continue;
                    }
                    done += 1;
                    println!("{}: work token={} n={done}", o.name, now.value());
                    if done == o.resign_after {
                        elector.resign()?;
                    }
                }
            }
        }
    }
    // Shutting down joins the election thread: off the worker threads.
    tokio::task::spawn_blocking(move || elector.shutdown()).await?;
    zk.close()?;
    Ok(())
}

/// Writes `NAME TOKEN` into `record` unless it holds a greater token;
/// false when fenced off. A concurrent writer makes the versioned set fail
/// with ZBADVERSION: then read and decide again.
async fn fenced_write(
    zk: &AsyncZooKeeper,
    record: &str,
    name: &str,
    token: FencingToken,
) -> Result<bool, BoxError> {
    let text = format!("{name} {}", token.value());
    loop {
        match zk.get(record).await {
            Ok((data, stat)) => {
                let theirs = String::from_utf8_lossy(&data)
                    .split(' ')
                    .nth(1)
                    .and_then(|t| t.parse::<i64>().ok())
                    .unwrap_or(i64::MIN);
                if theirs > token.value() {
                    return Ok(false);
                }
                match zk.set(record, text.as_bytes(), stat.version).await {
                    Ok(_) => return Ok(true),
                    Err(e) if e.code() == Some(ErrorCode::BadVersion) => continue,
                    Err(e) => return Err(e.into()),
                }
            }
            Err(e) if e.code() == Some(ErrorCode::NoNode) => {
                let create = zk.create(
                    record,
                    text.as_bytes(),
                    &Acl::open_unsafe(),
                    CreateMode::Persistent,
                );
                match create.await {
                    Ok(_) => return Ok(true),
                    Err(e) if e.code() == Some(ErrorCode::NodeExists) => continue,
                    Err(e) => return Err(e.into()),
                }
            }
            Err(e) => return Err(e.into()),
        }
    }
}
