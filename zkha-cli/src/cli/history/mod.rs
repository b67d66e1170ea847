//! `zkha history`: the masterships of an election, past and present, as
//! the record kept in ZooKeeper says ([`record`]: its format, and the
//! writes the breadcrumb's own writes carry).

pub mod record;

use super::common::{exit, utc};
use clap::Args;
use record::{history_path, read, Record, KEEP};
use serde_json::{json, Map, Value};
use zkha::elector::registry;
use zkha::ErrorCode;

#[derive(Debug, Args)]
pub struct HistoryArgs {
    #[command(flatten)]
    pub target: super::common::ObserveArgs,
    /// Print a JSON array (newest first) instead of text: each mastership's
    /// token, name (null when unknown), data, session, from_ms/from,
    /// to_ms/to (null while running), and ended (running, resigned,
    /// switchover, crashed, ...).
    #[arg(long)]
    pub json: bool,
    /// Show at most this many masterships (the newest).
    #[arg(long, default_value_t = KEEP as u32, value_parser = clap::value_parser!(u32).range(1..))]
    pub limit: u32,
    #[command(flatten)]
    pub credentials: super::common::CredentialArgs,
}

/// A record as shown: its end, `running` for the current master's,
/// `unconfirmed` for one that ended without a word and whose successor
/// has not recorded it yet.
fn shown_end(r: &Record, master_token: Option<i64>) -> String {
    match &r.ended {
        Some(e) => e.clone(),
        None if master_token == Some(r.token) => "running".into(),
        None => "unconfirmed".into(),
    }
}

/// `zkha history`.
pub fn run(args: HistoryArgs) -> Result<u8, Box<dyn std::error::Error>> {
    let zk = args.credentials.connect(&args.target)?;
    let path = &args.target.path;
    let node = history_path(path);
    let refused = |e: zkha::Error, node: &str| -> Box<dyn std::error::Error> {
        if e.code() == Some(ErrorCode::NoAuth) {
            format!(
                "not authorized to read {node}: the election's nodes (its master node, its breadcrumb and {}) have the election's ACL: give this command the election's credentials (--digest, --digest-file or ZKHA_DIGEST, as the candidates have them)",
                registry::root(path)
            )
            .into()
        } else {
            format!("cannot read {node}: {e}").into()
        }
    };
    let mut records = read(&zk, path)
        .map_err(|e| refused(e, &node))?
        .map(|(r, _)| r)
        .unwrap_or_default();
    // The breadcrumb names the current (or last) master even when its
    // record is not there (claimed before this version, or no PATH.zkha).
    let crumb = match super::breadcrumb::read(&zk, path) {
        Ok(found) => found.map(|(b, _)| b),
        Err(super::breadcrumb::ReadError::Zk(e)) => {
            return Err(refused(e, &super::breadcrumb::breadcrumb_path(path)))
        }
        Err(_) => None,
    };
    if let Some(b) = crumb.filter(|b| b.token != 0) {
        let r = Record::of(&b, None);
        let r = match (&b.left, b.clean) {
            // Marked clean where no history could be written: the end
            // is known, not when.
            (Some(why), true) => Record {
                ended: Some(why.clone()),
                ..r
            },
            _ => r,
        };
        if !records.iter().any(|x| x.token == r.token) {
            records.push(r);
        }
    }
    let master_token = zkha::elector::read_master(&zk, path, args.target.sequence)
        .ok()
        .flatten()
        .map(|m| m.token)
        .or_else(|| {
            // Protected: `exists` needs no permission.
            zk.exists(path, false)
                .ok()
                .flatten()
                .filter(|s| s.ephemeral_owner != 0)
                .map(|s| s.czxid)
        });
    records.sort_by_key(|r| std::cmp::Reverse(r.token));
    records.truncate(args.limit as usize);
    let _ = zk.close();
    if args.json {
        let array: Vec<Value> = records
            .iter()
            .map(|r| {
                let mut v = r.to_value();
                let o: &mut Map<String, Value> = v.as_object_mut().expect("an object");
                o.insert("ended".into(), json!(shown_end(r, master_token)));
                o.insert("from".into(), json!(utc(r.from_ms)));
                o.insert("to".into(), json!(r.to_ms.map(utc)));
                v
            })
            .collect();
        println!("{}", Value::Array(array));
        return Ok(exit::OK);
    }
    if records.is_empty() {
        println!("no masterships recorded on {path} ({node})");
        return Ok(exit::OK);
    }
    for r in &records {
        println!(
            "{} token {:#x}  {} (data {}, session {:#x})  from {}  to {}",
            shown_end(r, master_token),
            r.token,
            r.name.as_deref().unwrap_or("-"),
            r.data,
            r.session,
            utc(r.from_ms),
            r.to_ms.map_or("-".to_owned(), utc),
        );
    }
    Ok(exit::OK)
}
