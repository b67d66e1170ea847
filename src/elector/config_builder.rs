//! [`ElectorConfigBuilder`]: the builder style of `ZooKeeper::builder`
//! for an elector's configuration, checked when built, so that a bad value
//! is a typed error at the place it was given rather than at `start`.

use super::config::{AclChoice, Auth, ElectorConfig, Mode, Profile};
use crate::error::Result;
use crate::secure::Security;
use std::path::PathBuf;
use std::time::Duration;

/// Builds an [`ElectorConfig`]: from [`ElectorConfig::builder`] (the safe
/// profile's defaults) or [`ElectorConfig::seed_builder`] (the design's),
/// each setter as the field it names, then [`build`](Self::build).
///
/// ```
/// use std::time::Duration;
/// use zkha::elector::{ElectorConfig, Mode};
///
/// let config = ElectorConfig::builder("zk1:2181,zk2:2181", "/orders/master")
///     .data(b"10.0.0.7\0".to_vec())
///     .session_timeout(Duration::from_secs(10))
///     .mode(Mode::Watch)
///     .name("host-a")
///     .build()?;
/// assert_eq!(config.priority, 100);
/// # Ok::<(), zkha::Error>(())
/// ```
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until built"]
pub struct ElectorConfigBuilder {
    config: ElectorConfig,
}

macro_rules! setters {
    ($( $(#[$doc:meta])* $field:ident: $ty:ty ),* $(,)?) => {
        $(
            $(#[$doc])*
            pub fn $field(mut self, value: $ty) -> Self {
                self.config.$field = value;
                self
            }
        )*
    };
}

impl ElectorConfigBuilder {
    pub(crate) fn from(config: ElectorConfig) -> ElectorConfigBuilder {
        ElectorConfigBuilder { config }
    }

    setters! {
        /// The node data (default: this host's primary IP text plus NUL).
        data: Vec<u8>,
        /// The requested session timeout (default 5 s).
        session_timeout: Duration,
        /// The poll interval (default 1 s).
        poll_interval: Duration,
        /// The settle delay before work starts (seed: 2 s).
        settle_delay: Duration,
        /// Watch, poll or sequence.
        mode: Mode,
        /// The ACL of the nodes the elector creates.
        acl: AclChoice,
        /// TLS for the sessions.
        security: Security,
        /// Create missing parents (default true; seed false).
        create_parents: bool,
        /// Seed or safe.
        profile: Profile,
        /// Seed: how many re-inits after an expiry before giving up.
        reinit_limit: Option<u32>,
        /// How long a resigned candidate stays out.
        resign_backoff: Duration,
        /// Safe: the preference among candidates (0: never master).
        priority: u32,
        /// Safe: whether this candidate may take over now.
        ready: bool,
        /// Safe: how long its planned stop may take (published).
        stop_timeout: Duration,
        /// Route the C client's lines into `log` (default true).
        log_to_rust: bool,
        /// How long the ensemble may stay unreachable before waiting
        /// callers get `Error::Timeout` (default 30 s; zero: never).
        unreachable_after: Duration,
    }

    /// Authentication added to every session (`digest`, `user:password`).
    pub fn auth(mut self, scheme: &str, credential: &[u8]) -> Self {
        self.config.auth = Some(Auth {
            scheme: scheme.to_owned(),
            credential: credential.to_vec(),
        });
        self
    }

    /// Safe: this candidate's name in the registry.
    pub fn name(mut self, name: &str) -> Self {
        self.config.name = Some(name.to_owned());
        self
    }

    /// A trace file (one line per election event).
    pub fn trace(mut self, file: impl Into<PathBuf>) -> Self {
        self.config.trace = Some(file.into());
        self
    }

    /// Safe: keep the session in this file, to resume it after a restart.
    pub fn session_file(mut self, file: impl Into<PathBuf>) -> Self {
        self.config.session_file = Some(file.into());
        self
    }

    /// The configuration, every field checked ([`ElectorConfig::validate`]).
    pub fn build(self) -> Result<ElectorConfig> {
        self.config.validate()?;
        Ok(self.config)
    }
}

impl ElectorConfig {
    /// A builder with [`ElectorConfig::new`]'s defaults (safe profile).
    pub fn builder(hosts: &str, path: &str) -> ElectorConfigBuilder {
        ElectorConfigBuilder::from(ElectorConfig::new(hosts, path))
    }

    /// A builder with [`ElectorConfig::seed`]'s defaults (the design's).
    pub fn seed_builder(hosts: &str, path: &str) -> ElectorConfigBuilder {
        ElectorConfigBuilder::from(ElectorConfig::seed(hosts, path))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_configs_are_checked() {
        let c = ElectorConfig::builder("127.0.0.1:2181", "/a/m")
            .priority(7)
            .name("x")
            .build()
            .unwrap();
        assert_eq!((c.priority, c.name.as_deref()), (7, Some("x")));
        let bad = ElectorConfig::builder("127.0.0.1:2181", "no-slash").build();
        assert!(bad.is_err());
        let bad = ElectorConfig::builder("", "/a/m").build();
        assert!(bad.is_err());
        let seed = ElectorConfig::seed_builder("127.0.0.1:2181", "/a/m")
            .build()
            .unwrap();
        assert_eq!(seed.profile, Profile::Seed);
    }
}
