//! The scratch dependent scripts/package-check builds from the unpacked
//! .crate files: connects to the ZooKeeper server given as the first
//! argument, creates the design's ephemeral master node with this process's
//! data, reads it back, and checks that it belongs to this session and goes
//! away with it. Exits non-zero, saying why, on any difference.

use std::time::Duration;
use zkha::logging::LogLevel;
use zkha::{Acl, CreateMode, ErrorCode, ZooKeeper};

const PARENT: &str = "/zkha-check";
const MASTER: &str = "/zkha-check/master";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let hosts = std::env::args()
        .nth(1)
        .ok_or("usage: zkha-package-check <host:port>")?;
    // The C client logs every connect at INFO; errors are enough here.
    zkha::logging::set_debug_level(LogLevel::Error);
    let timeout = Duration::from_secs(30);
    let zk = ZooKeeper::builder(&hosts).connect(timeout)?;
    match zk.create(PARENT, b"", &Acl::open_unsafe(), CreateMode::Persistent) {
        Err(e) if e.code() == Some(ErrorCode::NodeExists) => {}
        other => {
            other?;
        }
    }
    let data = format!("package-check pid {}", std::process::id());
    let created = zk.create(
        MASTER,
        data.as_bytes(),
        &Acl::open_unsafe(),
        CreateMode::Ephemeral,
    )?;
    let (read, stat) = zk.get(MASTER, false)?;
    let session = zk.client_id()?.id;
    if created != MASTER || read != data.as_bytes() || stat.ephemeral_owner != session {
        return Err(format!(
            "created {created:?}, read {:?} owned by {:#x}; expected {MASTER:?}, {data:?} owned by {session:#x}",
            String::from_utf8_lossy(&read),
            stat.ephemeral_owner
        )
        .into());
    }
    zk.close()?;
    // The node was ephemeral: another session no longer sees it.
    let other = ZooKeeper::builder(&hosts).connect(timeout)?;
    if let Some(stat) = other.exists(MASTER, false)? {
        return Err(format!(
            "{MASTER} outlived its session (owner {:#x})",
            stat.ephemeral_owner
        )
        .into());
    }
    other.close()?;
    println!("package-check: created {MASTER} = {data:?} (ephemeral, session {session:#x}), read it back, gone after close");
    Ok(())
}
