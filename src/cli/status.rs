//! `zkha status`: who is master (and, in sequence mode, who is queued).

use super::common::{exit, now_ms, utc};
use clap::Args;
use std::time::Duration;
use zkha::elector::{read_master, read_queue, MasterInfo};
use zkha::ZooKeeper;

/// `zkha status` arguments.
#[derive(Debug, Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub log: super::common::LogArgs,
    /// ZooKeeper connect string.
    #[arg(long)]
    pub hosts: String,
    /// The master znode (with --sequence: the election parent).
    #[arg(long)]
    pub path: String,
    /// The election uses sequence mode: show the queue of candidates.
    #[arg(long)]
    pub sequence: bool,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
    /// How long to try to reach ZooKeeper, in ms.
    #[arg(long, default_value_t = 10_000)]
    pub connect_timeout: u64,
    /// Digest credentials `user:password` to read a protected node.
    #[arg(long)]
    pub digest: Option<String>,
}

/// The holder of a node we may not read (creator-only ACL): what `exists`,
/// which needs no permission, tells.
fn protected(zk: &ZooKeeper, path: &str) -> zkha::Result<Option<MasterInfo>> {
    Ok(zk.exists(path, false)?.map(|stat| MasterInfo {
        path: path.to_owned(),
        data: Vec::new(),
        session: stat.ephemeral_owner,
        since_ms: stat.ctime,
        token: stat.czxid,
        is_me: false,
    }))
}

fn json_str(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn json(m: &MasterInfo) -> String {
    let ip = m.data_text().parse::<std::net::IpAddr>().ok();
    format!(
        "{{\"path\":{},\"data\":{},\"ip\":{},\"session\":\"{:#x}\",\"since_ms\":{},\"since\":{},\"token\":{}}}",
        json_str(&m.path),
        json_str(&m.data_text()),
        ip.map_or("null".into(), |ip| json_str(&ip.to_string())),
        m.session,
        m.since_ms,
        json_str(&utc(m.since_ms)),
        m.token
    )
}

/// One line describing a holder.
pub fn describe(m: &MasterInfo) -> String {
    let age = (now_ms() - m.since_ms) as f64 / 1000.0;
    format!(
        "{} (session {:#x}, since {}, {age:.1} s ago, token {:#x})",
        m.data_text(),
        m.session,
        utc(m.since_ms),
        m.token
    )
}

pub fn run(args: StatusArgs) -> Result<u8, Box<dyn std::error::Error>> {
    zkha::validate::check_path(&args.path, false)?;
    let bridge = args.log.apply()?;
    let zk = ZooKeeper::builder(&args.hosts)
        .log_to_rust(bridge)
        .connect(Duration::from_millis(args.connect_timeout))?;
    if let Some(d) = &args.digest {
        zk.add_auth("digest", d.as_bytes())?;
    }
    let (master, hidden) = match read_master(&zk, &args.path, args.sequence) {
        Ok(m) => (m, false),
        Err(e) if e.code() == Some(zkha::ErrorCode::NoAuth) && !args.sequence => {
            (protected(&zk, &args.path)?, true)
        }
        Err(e) => return Err(e.into()),
    };
    let queue = if args.sequence {
        read_queue(&zk, &args.path)?
    } else {
        Vec::new()
    };
    if args.json {
        let queue_json: Vec<String> = queue.iter().map(json).collect();
        println!(
            "{{\"path\":{},\"master\":{},\"protected\":{hidden},\"queue\":[{}]}}",
            json_str(&args.path),
            master.as_ref().map_or("null".into(), json),
            queue_json.join(",")
        );
    } else {
        match &master {
            Some(m) if hidden => println!(
                "master of {}: <data protected by the node's ACL; use --digest> {}",
                args.path,
                describe(m)
            ),
            Some(m) => println!("master of {}: {}", args.path, describe(m)),
            None => println!("nobody is master of {}", args.path),
        }
        for (i, c) in queue.iter().enumerate().skip(1) {
            println!("  standby #{i}: {} ({})", describe(c), c.path);
        }
    }
    Ok(if master.is_some() {
        exit::OK
    } else {
        exit::NO_MASTER
    })
}
