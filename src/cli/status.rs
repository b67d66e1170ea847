//! `zkha status`: who is master (and, in sequence mode, who is queued).

use super::common::{exit, now_ms, utc};
use clap::Args;
use zkha::elector::{read_master, read_queue, MasterInfo};
use zkha::ZooKeeper;

/// `zkha status` arguments.
#[derive(Debug, Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub target: super::common::ObserveArgs,
    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
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
    let zk = args.target.connect()?;
    if let Some(d) = &args.digest {
        zk.add_auth("digest", d.as_bytes())?;
    }
    let (master, hidden) = match read_master(&zk, &args.target.path, args.target.sequence) {
        Ok(m) => (m, false),
        Err(e) if e.code() == Some(zkha::ErrorCode::NoAuth) && !args.target.sequence => {
            (protected(&zk, &args.target.path)?, true)
        }
        Err(e) => return Err(e.into()),
    };
    let queue = if args.target.sequence {
        read_queue(&zk, &args.target.path)?
    } else {
        Vec::new()
    };
    if args.json {
        let queue_json: Vec<String> = queue.iter().map(json).collect();
        println!(
            "{{\"path\":{},\"master\":{},\"protected\":{hidden},\"queue\":[{}]}}",
            json_str(&args.target.path),
            master.as_ref().map_or("null".into(), json),
            queue_json.join(",")
        );
    } else {
        match &master {
            Some(m) if hidden => println!(
                "master of {}: <data protected by the node's ACL; use --digest> {}",
                args.target.path,
                describe(m)
            ),
            Some(m) => println!("master of {}: {}", args.target.path, describe(m)),
            None => println!("nobody is master of {}", args.target.path),
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
