//! Who is master, read by any client: [`MasterInfo`], [`read_master`],
//! [`read_queue`], and the sequence mode's queue (the ephemeral-sequential
//! election nodes `<session>-n_<seq>` under the parent, lowest sequence, the
//! master, first).
//!
//! A leaf: the safe profile (`safe/contend.rs`, contending in sequence
//! mode) and the election state (`shared.rs`, `current_master`) both use
//! it, and it uses no other elector module.

use crate::error::{ErrorCode, Result};
use crate::ZooKeeper;

/// What the master node says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MasterInfo {
    /// The node's path (in sequence mode, the lowest child).
    pub path: String,
    /// The node's data (the seed's: IP text + NUL).
    pub data: Vec<u8>,
    /// The holder's session id (the node's ephemeralOwner).
    pub session: i64,
    /// When the node was created, ms since the epoch.
    pub since_ms: i64,
    /// The node's czxid (the holder's fencing token).
    pub token: i64,
    /// Whether the holder is this candidate, by the profile's rule.
    pub is_me: bool,
}

impl MasterInfo {
    /// The data as text without the trailing NUL (the IP, for seed data).
    pub fn data_text(&self) -> String {
        let d = self.data.strip_suffix(&[0]).unwrap_or(&self.data);
        String::from_utf8_lossy(d).into_owned()
    }
}

/// Reads one election node (`is_me` false).
fn read_node(zk: &ZooKeeper, path: &str) -> Result<Option<MasterInfo>> {
    match zk.get(path, false) {
        Ok((data, stat)) => Ok(Some(MasterInfo {
            path: path.to_owned(),
            data,
            session: stat.ephemeral_owner,
            since_ms: stat.ctime,
            token: stat.czxid,
            is_me: false,
        })),
        Err(e) if e.code() == Some(ErrorCode::NoNode) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Who is master of `path`, read by any client (`is_me` is false). In
/// sequence mode (`sequence`), the lowest candidate under `path`.
pub fn read_master(zk: &ZooKeeper, path: &str, sequence: bool) -> Result<Option<MasterInfo>> {
    if !sequence {
        return read_node(zk, path);
    }
    // The lowest may vanish between listing and reading: take the next.
    for node in read_queue_paths(zk, path)? {
        if let Some(info) = read_node(zk, &node)? {
            return Ok(Some(info));
        }
    }
    Ok(None)
}

/// Sequence mode: every candidate under `parent`, lowest (the master) first.
pub fn read_queue(zk: &ZooKeeper, parent: &str) -> Result<Vec<MasterInfo>> {
    let mut out = Vec::new();
    for node in read_queue_paths(zk, parent)? {
        if let Some(info) = read_node(zk, &node)? {
            out.push(info);
        }
    }
    Ok(out)
}

fn read_queue_paths(zk: &ZooKeeper, parent: &str) -> Result<Vec<String>> {
    match candidates(zk, parent) {
        Ok(kids) => Ok(kids.into_iter().map(|k| format!("{parent}/{k}")).collect()),
        Err(e) if e.code() == Some(ErrorCode::NoNode) => Ok(Vec::new()),
        Err(e) => Err(e),
    }
}

/// Sequence numbers are the last 10 digits of a sequential node's name.
pub(crate) fn sequence_of(name: &str) -> Option<i64> {
    let digits = name.get(name.len().checked_sub(10)?..)?;
    // Digits only: i64's parser would also take a sign.
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// Children of `parent` that are election nodes, lowest sequence first.
pub(crate) fn candidates(zk: &ZooKeeper, parent: &str) -> Result<Vec<String>> {
    let mut kids: Vec<String> = zk
        .get_children(parent, false)?
        .into_iter()
        .filter(|k| k.contains("-n_") && sequence_of(k).is_some())
        .collect();
    kids.sort_by_key(|k| sequence_of(k));
    Ok(kids)
}

#[cfg(test)]
mod tests {
    use super::sequence_of;

    #[test]
    fn sequence_is_the_last_ten_digits() {
        assert_eq!(sequence_of("0000000042"), Some(42));
        assert_eq!(sequence_of("n_0000000000"), Some(0));
        // The form this profile creates: `<session hex>-n_<seq>`.
        assert_eq!(sequence_of("00000100000abcde-n_0000000007"), Some(7));
        assert_eq!(sequence_of("0123456789abcdef-n_0000012345"), Some(12345));
        // Digits in the session prefix do not count.
        assert_eq!(sequence_of("9999999999999999-n_0000000001"), Some(1));
    }

    #[test]
    fn large_sequences() {
        // ZooKeeper's counter is an int: its largest value, and beyond.
        assert_eq!(sequence_of("abc-n_2147483647"), Some(i64::from(i32::MAX)));
        assert_eq!(sequence_of("abc-n_9999999999"), Some(9_999_999_999));
        assert!(sequence_of("a-n_2147483647") > sequence_of("a-n_0000000009"));
    }

    #[test]
    fn too_short_or_not_digits() {
        for bad in [
            "",
            "n_",
            "n_123",
            "123456789",
            "x-n_00000000a1",
            "x-n_000000000x",
            "x-n_ 000000001",
            "x-n_0000000001 ",
            "x-n_00000é001",
            // A sign is no digit (i64's parser would take it).
            "x-n_+000000001",
            "x-n_-000000001",
            "é00000000",
            // The last 10 bytes start inside a character: no panic.
            "xé000000000",
        ] {
            assert_eq!(sequence_of(bad), None, "{bad:?}");
        }
    }
}
