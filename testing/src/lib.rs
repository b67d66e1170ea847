//! zkha's test kit: real ZooKeeper servers for tests, demos and benchmarks,
//! and the C/C++ programs built against zk-sys's C client.
//!
//! A workspace crate of its own, so that a crate using zkha as a library
//! builds none of it: zkha's tests, examples and benchmark take it as a
//! dev-dependency, and only the `zkha` command (its `cli` feature: `zkha demo`,
//! `zkha server`) needs it at run time. It does not depend on zkha.
//!
//! [`TestingServer`] (standalone) and [`TestingCluster`] (an ensemble, 3 members
//! by default) are named after Apache Curator's test harness. They run Debian's
//! ZooKeeper 3.8 server (`apt-get install zookeeper`, or `make setup`) as
//! `java … org.apache.zookeeper.server.quorum.QuorumPeerMain <cfg>` on free
//! 127.0.0.1 ports, each member with a private temporary directory holding its
//! config, data and log. A small `tickTime` (200 ms by default) lets sessions
//! as short as 400 ms be negotiated, so expiry tests are fast.
//!
//! No server outlives its owner: dropping a server kills it and removes its
//! directory; a server still running when the process exits normally (for
//! example the [`TestingServer::shared`] one) is killed by an `atexit` hook; and
//! every server gets `PR_SET_PDEATHSIG(SIGKILL)` from a spawner thread that
//! lives as long as the process, so even a test binary killed by a signal takes
//! its servers with it. Directories left by such a kill are swept the next
//! time a server starts.
//!
//! [`TestingCluster::with_partitions`] puts [`TcpProxy`]s on every link between
//! members, so that a member can be cut off ([`TestingCluster::isolate`],
//! [`ProxyMode::Partition`]) while clients still reach it, and
//! [`TestingCluster::pause`] freezes a member's JVM (SIGSTOP).
//!
//! [`ServerConfig::security`] starts TLS-only or SASL-only servers and
//! ensembles ([`Security`]; TLS needs feature `secure`, which generates the
//! certificates with rcgen).
//!
//! [`programs`] gives the paths of the C++ reference peer of the seed design
//! and of a plain C client (driven by [`CTrace`]), both compiled by this
//! crate's build script against the very C library zk-sys links.
//!
//! ```no_run
//! use zkha_testing::TestingServer;
//! let server = TestingServer::start()?;
//! println!("ZooKeeper at {}", server.connect_string());
//! # Ok::<(), zkha_testing::Error>(())
//! ```

#![warn(missing_docs)]

mod c_trace;
mod child;
mod cluster;
mod config;
mod error;
mod member;
mod paths;
mod process;
pub mod programs;
mod proxy;
mod secure;
mod server;

pub use c_trace::CTrace;
pub use child::spawn_tied_to_process;
pub use cluster::TestingCluster;
pub use config::ServerConfig;
pub use error::Error;
pub use member::{data_watches, four_letter_word, ServerMode};
pub use paths::unique_path;
pub use proxy::{ProxyMode, Tap, TapChunk, TcpProxy};
pub use secure::{SaslUsers, Security};
#[cfg(feature = "secure")]
pub use secure::{TlsAuthority, TlsClientFiles};
pub use server::TestingServer;
