//! How the servers' JVMs are run: tick, session bounds, Java, classpath,
//! heap, and the ensemble's init/sync limits.

use crate::Security;
use std::path::PathBuf;
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
    /// Plaintext (default), TLS-only or SASL-only clients (see [`Security`]).
    pub security: Security,
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
            security: Security::Plain,
        }
    }
}
