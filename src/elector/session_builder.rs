//! The sessions an elector opens: `ZooKeeper::builder(hosts)` plus the TLS /
//! SASL settings registered for its election with [`set_security`].
//!
//! Why a registry: [`ElectorConfig`] has no field for them yet (adding one
//! is the plan). Until then the settings are keyed by the election's
//! `(hosts, path)`, which is what identifies an election; every session the
//! elector opens (the first, and each one after an expiry) looks them up, so
//! both profiles use them. Two electors of one process on the same election
//! therefore share one identity.
//! Secrets stay inside [`Security`], whose `Debug` hides them.

use super::config::{AclChoice, ElectorConfig};
use crate::client::secure::Security;
use crate::error::Result;
use crate::types::{Acl, Id, Perms};
use crate::{ZooKeeper, ZooKeeperBuilder};
use parking_lot::Mutex;

/// `(hosts, path, security)` of every election that has settings.
static REGISTRY: Mutex<Vec<(String, String, Security)>> = Mutex::new(Vec::new());

/// Every elector of this process on `hosts` and `path` opens its sessions
/// with `security` (TLS files or SASL credentials), from its next session
/// on. Checked first ([`Security::check`]: files readable, features built).
pub fn set_security(hosts: &str, path: &str, security: Security) -> Result<()> {
    security.check()?;
    let mut registry = REGISTRY.lock();
    registry.retain(|(h, p, _)| !(h == hosts && p == path));
    if !security.is_plain() {
        registry.push((hosts.to_owned(), path.to_owned(), security));
    }
    Ok(())
}

/// Forgets the settings of `hosts` and `path` (plaintext again).
pub fn clear_security(hosts: &str, path: &str) {
    REGISTRY
        .lock()
        .retain(|(h, p, _)| !(h == hosts && p == path));
}

/// The settings registered for this election (plaintext if none).
pub(crate) fn security_for(config: &ElectorConfig) -> Security {
    REGISTRY
        .lock()
        .iter()
        .find(|(h, p, _)| *h == config.hosts && *p == config.path)
        .map(|(_, _, s)| s.clone())
        .unwrap_or_default()
}

/// The node ACL for a SASL identity: `sasl:<user>` may do everything, nobody
/// else anything (the safe profile gives the parents it creates the same
/// ACL, so nobody else can delete the node either: that takes DELETE on the
/// parent).
pub fn sasl_acl(user: &str) -> AclChoice {
    AclChoice::Custom(vec![Acl {
        perms: Perms::ALL,
        id: Id {
            scheme: "sasl".into(),
            id: user.into(),
        },
    }])
}

impl ZooKeeper {
    /// The builder of an elector's sessions: its hosts and its election's
    /// TLS / SASL settings.
    pub(crate) fn elector_builder(config: &ElectorConfig) -> ZooKeeperBuilder {
        ZooKeeper::builder(&config.hosts).security(security_for(config))
    }
}
