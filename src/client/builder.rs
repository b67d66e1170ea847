//! [`ZooKeeperBuilder`]: the checked arguments of `zookeeper_init2`, and
//! `connect` (init, then wait until connected). The handle itself is created
//! in `handle.rs`.

use super::handle::InitArgs;
use crate::error::{Argument, Error, Result};
use crate::types::{ClientId, WatchedEvent};
use crate::validate::{c_text, check_hosts, check_timeout_ms};
use crate::ZooKeeper;
use std::time::Duration;

/// `zookeeper_init` flag: allow connecting to read-only servers.
pub const ZOO_READONLY: i32 = 1;
/// `zookeeper_init` flag: do not log the client environment at init.
pub const ZOO_NO_LOG_CLIENTENV: i32 = 2;

/// Options for [`ZooKeeper::builder`]: the arguments of `zookeeper_init2`.
pub struct ZooKeeperBuilder {
    hosts: String,
    recv_timeout_ms: i64,
    client_id: Option<ClientId>,
    watcher: Option<Box<dyn Fn(WatchedEvent) + Send + Sync>>,
    log_to_rust: bool,
    flags: i32,
}

impl ZooKeeperBuilder {
    /// Requested session timeout (default 5000 ms, the seed design's, S1).
    pub fn session_timeout(mut self, timeout: Duration) -> Self {
        self.recv_timeout_ms = i64::try_from(timeout.as_millis()).unwrap_or(i64::MAX);
        self
    }

    /// Requested session timeout in milliseconds (must be positive).
    pub fn session_timeout_ms(mut self, ms: i64) -> Self {
        self.recv_timeout_ms = ms;
        self
    }

    /// Reattach to this session (`clientid` argument).
    pub fn client_id(mut self, id: ClientId) -> Self {
        self.client_id = Some(id);
        self
    }

    /// The global watcher, called on the C completion thread.
    pub fn watcher(mut self, watcher: impl Fn(WatchedEvent) + Send + Sync + 'static) -> Self {
        self.watcher = Some(Box::new(watcher));
        self
    }

    /// Route this handle's C log lines into the `log` crate (target
    /// "zookeeper"), installed at init through `zookeeper_init2` so no line
    /// escapes to the log stream. The level filter stays `set_debug_level`'s.
    pub fn log_to_rust(mut self, on: bool) -> Self {
        self.log_to_rust = on;
        self
    }

    /// `zookeeper_init` flags: 0, [`ZOO_READONLY`], [`ZOO_NO_LOG_CLIENTENV`].
    pub fn flags(mut self, flags: i32) -> Self {
        self.flags = flags;
        self
    }

    /// `zookeeper_init2`: returns at once, before the session is established.
    pub fn init(self) -> Result<ZooKeeper> {
        ZooKeeper::init_inner(self)
    }

    /// `init`, then wait until connected.
    pub fn connect(self, timeout: Duration) -> Result<ZooKeeper> {
        let zk = self.init()?;
        zk.wait_connected(timeout)?;
        Ok(zk)
    }
}

impl ZooKeeper {
    /// Options for a new handle, starting from the seed design's values.
    pub fn builder(hosts: &str) -> ZooKeeperBuilder {
        ZooKeeperBuilder {
            hosts: hosts.to_owned(),
            recv_timeout_ms: 5000,
            client_id: None,
            watcher: None,
            log_to_rust: false,
            flags: 0,
        }
    }

    /// `zookeeper_init(hosts, watcher, recv_timeout, clientid, context, flags)`,
    /// returning at once like C. The watcher gets every event of the session
    /// and of `watch = true` calls, with exactly the C values. An OS failure
    /// (C's NULL return) is [`Error::Init`] with `errno`.
    pub fn init(
        hosts: &str,
        watcher: impl Fn(WatchedEvent) + Send + Sync + 'static,
        recv_timeout_ms: i32,
        client_id: Option<ClientId>,
        flags: i32,
    ) -> Result<ZooKeeper> {
        let mut b = Self::builder(hosts)
            .watcher(watcher)
            .session_timeout_ms(recv_timeout_ms.into())
            .flags(flags);
        b.client_id = client_id;
        b.init()
    }

    fn init_inner(b: ZooKeeperBuilder) -> Result<ZooKeeper> {
        check_hosts(&b.hosts)?;
        let timeout = check_timeout_ms(b.recv_timeout_ms, "session timeout")?;
        if b.flags & !(ZOO_READONLY | ZOO_NO_LOG_CLIENTENV) != 0 {
            return Err(Error::invalid(
                Argument::Other,
                format!("unknown zookeeper_init flags {:#x}", b.flags),
            ));
        }
        let hosts = c_text(&b.hosts, Argument::Hosts)?;
        ZooKeeper::open(InitArgs {
            hosts: &hosts,
            watcher: b.watcher,
            recv_timeout_ms: timeout,
            client_id: b.client_id,
            flags: b.flags,
            log_to_rust: b.log_to_rust,
        })
    }
}
