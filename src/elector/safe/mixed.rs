//! What a mixed fleet (zkha beside C/C++ processes of the classic design,
//! docs/migrating-from-cpp.md) must be told, seen from a safe candidate:
//!
//! - a master that is not a registered zkha candidate, whose data is a
//!   prefix of ours: such a process compares prefixes (F4), and would take
//!   our node, once we win, for its own;
//! - the election path as a persistent node (a sequence-mode election's
//!   parent, or made by hand): no candidate of the classic design, nor of
//!   watch or poll mode, can ever create the master node there;
//! - missing parents about to be created with an ACL that is not open:
//!   processes without the election's credentials (the design's peers use
//!   `OPEN_ACL_UNSAFE` without auth, S5) could no longer create the master
//!   node under them.
//!
//! Each is said once (per holder, per elector), as a warning with what to
//! do; none stops the election. The last other master seen is kept
//! ([`SeenMaster`]) so that a successor can tell whether its predecessor
//! could have left a breadcrumb.

use crate::elector::registry;
use crate::elector::shared::ElectionState;
use crate::elector::AclChoice;
use crate::types::Stat;
use crate::ZooKeeper;

/// The last master other than this candidate that it saw hold the node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeenMaster {
    /// The node's data, exactly.
    pub data: Vec<u8>,
    /// Its session (the node's ephemeral owner; 0 for a persistent node).
    pub session: i64,
    /// Its token (the node's czxid).
    pub token: i64,
    /// Whether its session had registered as a zkha safe-profile
    /// candidate: only those write breadcrumbs and obey the control node.
    pub registered: bool,
}

/// The data without the design's trailing NUL.
fn text(data: &[u8]) -> &[u8] {
    data.strip_suffix(&[0]).unwrap_or(data)
}

/// Whether a process of the classic design holding `theirs` would take a
/// node holding `ours` for its own (F4: it compares only as many bytes as
/// its own data has).
pub(crate) fn prefix_clash(theirs: &[u8], ours: &[u8]) -> bool {
    let (t, o) = (text(theirs), text(ours));
    !t.is_empty() && t.len() < o.len() && o.starts_with(t)
}

/// A new holder of the master node was seen (`stat`): kept, and what a
/// mixed fleet must know about it said once. Blocking reads (the data,
/// the registry), on the election thread, once per holder.
pub(super) fn new_holder(shared: &ElectionState, zk: &ZooKeeper, stat: &Stat) {
    let cfg = &shared.config;
    if stat.ephemeral_owner == 0 {
        log::error!(target: "zkha", "{} on {}: the election path is a persistent node (a sequence-mode election's parent, or made by hand): no candidate of the classic design, and none in watch or poll mode, can create the master node there; run every candidate in sequence mode (--sequence), or give this election another path", cfg.path, cfg.hosts);
    }
    let data = match zk.get(&cfg.path, false) {
        Ok((data, _)) => data,
        // Gone already, or not readable (its ACL): nothing to say.
        Err(_) => return,
    };
    let registered = registry::read_candidates(zk, &cfg.path)
        .map(|c| c.iter().any(|e| e.session == stat.ephemeral_owner))
        .unwrap_or(false);
    if !registered && stat.ephemeral_owner != 0 && prefix_clash(&data, &cfg.data) {
        log::warn!(target: "zkha", "{} on {}: the master node is held by a process that is not a zkha safe-profile candidate, with data {:?}, a prefix of this candidate's {:?}: a process of the classic design compares prefixes (F4) and would take this candidate's node for its own once it is master (two masters). Give the hosts data that are not prefixes of one another, or move that process to zkha", cfg.path, cfg.hosts, String::from_utf8_lossy(text(&data)), String::from_utf8_lossy(text(&cfg.data)));
    }
    *shared.seen_master.lock() = Some(SeenMaster {
        data,
        session: stat.ephemeral_owner,
        token: stat.czxid,
        registered,
    });
}

/// Before the first registration: missing parents about to be created
/// with an ACL that is not open are said once.
pub(super) fn check_parents(shared: &ElectionState, zk: &ZooKeeper) {
    let cfg = &shared.config;
    if !cfg.create_parents || matches!(cfg.acl, AclChoice::Open) {
        return;
    }
    let Some(parent) = cfg
        .path
        .rsplit_once('/')
        .map(|(p, _)| p)
        .filter(|p| !p.is_empty())
    else {
        return;
    };
    if let Ok(None) = zk.exists(parent, false) {
        log::warn!(target: "zkha", "{} on {}: creating the missing parent {parent} with the election's ACL ({:?}): processes without the election's credentials, such as C/C++ peers of the classic design (OPEN_ACL_UNSAFE, no auth), cannot create the master node under it, nor can other services use it. Create the parents yourself with the ACL they need, or give every candidate the credentials", cfg.path, cfg.hosts, cfg.acl);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_strict_prefix_of_ours_clashes() {
        assert!(prefix_clash(b"10.0.0.1\0", b"10.0.0.12\0"));
        assert!(prefix_clash(b"10.0.0.1", b"10.0.0.12\0"));
        assert!(!prefix_clash(b"10.0.0.12\0", b"10.0.0.1\0"));
        assert!(!prefix_clash(b"10.0.0.1\0", b"10.0.0.1\0"));
        assert!(!prefix_clash(b"10.0.0.2\0", b"10.0.0.12\0"));
        assert!(!prefix_clash(b"\0", b"10.0.0.1\0"));
    }
}
