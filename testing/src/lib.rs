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
mod error;
mod member;
mod process;
pub mod programs;
mod proxy;
mod server;

pub use c_trace::CTrace;
pub use child::spawn_tied_to_process;
pub use cluster::TestingCluster;
pub use error::Error;
pub use member::{four_letter_word, Mode};
pub use proxy::{ProxyMode, TcpProxy};
pub use server::TestingServer;

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// How to run the server JVMs. `Default` gives fast test settings.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// ZooKeeper's `tickTime`, in ms (default 200). Sessions are negotiated
    /// between `min_session_timeout_ms` and `max_session_timeout_ms`.
    pub tick_time_ms: u32,
    /// Lowest session timeout granted (default: two ticks, ZooKeeper's rule).
    pub min_session_timeout_ms: Option<u32>,
    /// Highest session timeout granted (default 60 000 ms, so the seed
    /// design's 5 000 ms request is honoured unchanged).
    pub max_session_timeout_ms: u32,
    /// How long to wait for a member to serve requests (default 60 s).
    pub start_timeout: Duration,
    /// The `java` launcher (default: `$JAVA_HOME/bin/java` if set, else `java`).
    pub java: PathBuf,
    /// The server classpath (default Debian's: `/etc/zookeeper/conf` and
    /// `/usr/share/java/zookeeper.jar`).
    pub classpath: Vec<PathBuf>,
    /// JVM heap limit in MiB (default 256).
    pub heap_mb: u32,
    /// Extra `key=value` lines for every member's config.
    pub extra_config: Vec<(String, String)>,
    /// JVM options besides the heap (default: a fast start, C1 only, serial
    /// GC, for tests; benchmarks may prefer full JIT).
    pub jvm_args: Vec<String>,
    /// ZooKeeper's `initLimit`, in ticks: how long a follower may take to
    /// connect to and sync with a new leader. 0 (the default) derives it from
    /// the tick: 20 s worth, at least 10 ticks (100 at the default tick).
    pub init_limit: u32,
    /// ZooKeeper's `syncLimit`, in ticks: how long a follower and its leader
    /// go without hearing from each other before they part (a follower cut
    /// off leaves the quorum after about `sync_limit * tick_time_ms`). 0 (the
    /// default) derives it from the tick: 5 s worth, at least 5 ticks (25 at
    /// the default tick). Partition tests set it small.
    pub sync_limit: u32,
}

impl ServerConfig {
    /// The `initLimit` written to zoo.cfg (see [`ServerConfig::init_limit`]).
    pub fn init_limit_ticks(&self) -> u32 {
        match self.init_limit {
            0 => (20_000 / self.tick_time_ms.max(1)).max(10),
            n => n,
        }
    }

    /// The `syncLimit` written to zoo.cfg (see [`ServerConfig::sync_limit`]).
    pub fn sync_limit_ticks(&self) -> u32 {
        match self.sync_limit {
            0 => (5_000 / self.tick_time_ms.max(1)).max(5),
            n => n,
        }
    }
}

impl Default for ServerConfig {
    fn default() -> Self {
        let java = std::env::var_os("JAVA_HOME")
            .map(|home| PathBuf::from(home).join("bin/java"))
            .filter(|p| p.is_file())
            .unwrap_or_else(|| PathBuf::from("java"));
        ServerConfig {
            tick_time_ms: 200,
            min_session_timeout_ms: None,
            max_session_timeout_ms: 60_000,
            start_timeout: Duration::from_secs(60),
            java,
            classpath: vec![
                PathBuf::from("/etc/zookeeper/conf"),
                PathBuf::from("/usr/share/java/zookeeper.jar"),
            ],
            heap_mb: 256,
            extra_config: Vec::new(),
            jvm_args: vec![
                "-XX:+UseSerialGC".into(),
                "-XX:TieredStopAtLevel=1".into(),
                "-Xss512k".into(),
            ],
            init_limit: 0,
            sync_limit: 0,
        }
    }
}

/// A znode path unique to this process and call, for tests sharing one
/// server: `/zkha-test-<pid>-<n>-<name>`.
pub fn unique_path(name: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("/zkha-test-{}-{}-{}", std::process::id(), n, name)
}
