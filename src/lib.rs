//! zkha: ZooKeeper master/standby failover for Rust, built on the official
//! Apache ZooKeeper C client (through [`zk_sys`]), able to contend with C/C++
//! processes of the classic design for the same master znode.
//!
//! - [`ZooKeeper`]: a safe handle, call for call like the C API, with its
//!   watcher callbacks, client ids, and async calls;
//! - [`AsyncZooKeeper`]: the same session's calls as futures (`.await`),
//!   runtime-agnostic (tokio or a plain `block_on`), see [`Pending`];
//! - [`elector`]: master/standby election, seed and safe profiles, with a
//!   future for "until master" and a stream of mastership changes;
//! - [`logging`]: the C client's process-wide log level and stream, and a
//!   bridge into the `log` crate;
//! - [`net`]: this host's address, the seed design's node data.
//!
//! The real ZooKeeper servers the tests, examples and benchmark run against
//! (`TestingServer`, `TestingCluster`, `TcpProxy`) are in the workspace crate
//! `zkha-testing`, a dev-dependency: a crate using zkha as a library builds
//! no test kit and no C++.

#![warn(missing_docs)]

// CLOCK_BOOTTIME (the lease's clock), pidfd and /proc: Linux only.
#[cfg(not(target_os = "linux"))]
compile_error!("zkha supports Linux only: the lease counts on CLOCK_BOOTTIME, and zkha run uses pidfd and /proc");

mod client;
pub mod clock;
pub mod elector;
pub mod error;
pub mod logging;
pub mod net;
pub mod types;
pub mod validate;

pub use client::secure;
pub use client::{
    in_callback, pending, AsyncZooKeeper, HostResolution, Op, OpResult, Pending, WatcherType,
    ZooKeeper, ZooKeeperBuilder, ZOO_NO_LOG_CLIENTENV, ZOO_READONLY,
};
pub use error::{Error, ErrorCode, Result};
pub use types::{Acl, ClientId, CreateMode, EventType, Id, Perms, Stat, State, WatchedEvent};

pub use zk_sys;

/// The linked ZooKeeper C client's version (`ZOO_VERSION` of its headers,
/// e.g. `"3.8.0"`), as zk-sys reported it to build.rs
/// (`DEP_ZOOKEEPER_MT_VERSION`).
pub const C_CLIENT_VERSION: &str = include_str!(concat!(env!("OUT_DIR"), "/c_client_version"));

/// Whether the linked C client has mutual TLS (`zookeeper_init_ssl`; zkha's
/// feature `ssl` builds the bundled client so): cfg `zk_tls`, without which
/// [`ZooKeeperBuilder::tls`] does not compile and a [`secure::Security`]
/// with TLS is refused. A program that needs TLS can say so at compile
/// time: `const _: () = assert!(zkha::HAS_TLS, "build zkha with feature ssl");`.
pub const HAS_TLS: bool = cfg!(zk_tls);

/// Whether the linked C client has SASL (`zookeeper_init_sasl`; zkha's
/// feature `sasl`): cfg `zk_sasl`, as [`HAS_TLS`] for TLS.
pub const HAS_SASL: bool = cfg!(zk_sasl);

/// For the workspace's own crates only (the `zkha` command, its tests, the
/// examples, the benchmark): clock and test hooks a library user does not
/// need. Not part of the API: no semver promise, it may change or go in
/// any release.
#[doc(hidden)]
pub mod __private {
    use crate::elector::{Elector, ElectorConfig};
    use crate::logging::LogLevel;
    use std::time::Duration;

    /// Milliseconds on CLOCK_MONOTONIC, the clock of a trace line's `t`
    /// (comparable across processes on one machine, C++'s steady_clock).
    pub fn monotonic_ms() -> f64 {
        crate::clock::monotonic_ms()
    }

    /// One C client log line, split: `(level, "function@line: message")`.
    pub fn parse_c_log_line(line: &str) -> Option<(LogLevel, &str)> {
        crate::logging::parse_c_log_line(line)
    }

    /// Node watch notifications `elector` has received so far (the herd
    /// effect of watch mode, its absence in sequence mode).
    pub fn watch_notifications(elector: &Elector) -> u64 {
        elector.watch_notifications()
    }

    /// Test hook: a pause between opening a session and publishing its
    /// handle (to reproduce CONNECTED arriving first). Zero in real use.
    pub fn set_test_publish_delay(config: &mut ElectorConfig, delay: Duration) {
        config.test_publish_delay = delay;
    }

    /// Test hook: a pause before each claim of the master node (safe
    /// profile), after a `test_claim_delay` trace line. Zero in real use.
    pub fn set_test_claim_delay(config: &mut ElectorConfig, delay: Duration) {
        config.test_claim_delay = delay;
    }
}

/// README.md's Rust examples, run as doctests (`cargo test --doc`, in
/// `make test`) against the test kit's server.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
