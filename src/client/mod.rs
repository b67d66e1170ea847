//! The ZooKeeper client: a safe handle over the C client's `zhandle_t`, call
//! for call like the C API, with its callbacks, async calls and futures.
//!
//! One job per file, each layer on the one below:
//! - `handle.rs`: the raw handle's lifecycle (the only caller of
//!   `zookeeper_init*`/`zookeeper_close`), the close protocol, raw access;
//! - `builder.rs`: [`ZooKeeperBuilder`], `init`, `connect`;
//! - `session.rs`: state, session id and timeout, servers, `add_auth`;
//! - `ops.rs`: blocking node operations; `watch.rs`: the `zoo_w*` calls;
//! - `read_buffer.rs`: the per-thread buffer blocking reads hand to C;
//! - `callback.rs`: the C trampolines, callback contexts and their registry;
//!   `ptr_hash.rs`: the registry's hash of context addresses;
//! - `raw.rs`: conversions of C results and arguments;
//! - `async_ops.rs`, `async_watch.rs`, `multi.rs`: the `zoo_a*` calls;
//! - `oneshot.rs`, `future.rs`: [`Pending`] and [`AsyncZooKeeper`];
//! - `secure.rs`: TLS files and SASL credentials, checked before C;
//!   `sasl.rs`: the Cyrus SASL callbacks of a SASL session;
//! - `resolution.rs`: [`HostResolution`], how often C resolves the hosts.

mod async_ops;
mod async_watch;
mod builder;
pub(crate) mod callback;
mod future;
mod handle;
mod multi;
mod oneshot;
mod ops;
mod ptr_hash;
mod raw;
mod read_buffer;
mod resolution;
#[cfg(zk_sasl)]
mod sasl;
pub mod secure;
mod session;
mod watch;

pub use async_ops::{pending, Pending};
pub(crate) use async_watch::duplicate as duplicate_error;
pub use builder::{ZooKeeperBuilder, ZOO_NO_LOG_CLIENTENV, ZOO_READONLY};
pub use callback::in_callback;
pub use future::AsyncZooKeeper;
pub use handle::ZooKeeper;
pub use multi::{Op, OpResult};
pub use resolution::HostResolution;
pub use watch::WatcherType;
