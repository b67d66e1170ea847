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
