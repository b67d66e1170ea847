//! The sessions an elector opens: `ZooKeeper::builder(hosts)` with the TLS
//! files or SASL credentials of its config ([`ElectorConfig::security`]),
//! for the first session and each one after an expiry, in both profiles.
//! Secrets stay inside [`Security`](crate::secure::Security), whose `Debug`
//! hides them.

use super::config::{AclChoice, ElectorConfig};
use crate::types::{Acl, Id, Perms};
use crate::{ZooKeeper, ZooKeeperBuilder};

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
    /// The builder of an elector's sessions: its hosts and its TLS / SASL
    /// settings.
    pub(crate) fn elector_builder(config: &ElectorConfig) -> ZooKeeperBuilder {
        ZooKeeper::builder(&config.hosts).security(config.security.clone())
    }
}
