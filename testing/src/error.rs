use std::fmt;
use std::io;
use std::path::PathBuf;

/// Why a testing server could not be started or controlled.
#[derive(Debug)]
pub enum Error {
    /// The `java` launcher was not found.
    JavaMissing(PathBuf),
    /// A classpath entry of the server (Debian's zookeeper package) is missing.
    ServerMissing(PathBuf),
    /// The server did not answer in time; carries the end of its log.
    StartTimeout {
        /// The member's client address.
        address: String,
        /// The last lines of the member's log.
        log_tail: String,
    },
    /// The server process exited while starting; carries the end of its log.
    Exited {
        /// The member's client address.
        address: String,
        /// The exit status as text.
        status: String,
        /// The last lines of the member's log.
        log_tail: String,
    },
    /// No member reports itself as leader.
    NoLeader,
    /// A member index out of range.
    NoSuchMember(usize),
    /// A member that is not running was to be paused or resumed.
    NotRunning(String),
    /// Links between members were to be cut in a cluster whose members
    /// talk directly (not started with `TestingCluster::with_partitions`).
    NoProxies,
    /// An invalid configuration value.
    InvalidConfig(String),
    /// An I/O error (temporary directory, ports, process control).
    Io(io::Error),
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::JavaMissing(java) => write!(
                f,
                "cannot run `{}`: Java is needed for the ZooKeeper server; run `make setup` \
                 (installs Debian's zookeeper package and its Java runtime)",
                java.display()
            ),
            Error::ServerMissing(path) => write!(
                f,
                "{} is missing: the ZooKeeper server comes from Debian's zookeeper package; \
                 run `make setup` (or `apt-get install zookeeper`)",
                path.display()
            ),
            Error::StartTimeout { address, log_tail } => write!(
                f,
                "ZooKeeper at {address} did not start serving in time; end of its log:\n{log_tail}"
            ),
            Error::Exited {
                address,
                status,
                log_tail,
            } => write!(
                f,
                "ZooKeeper at {address} exited while starting ({status}); end of its log:\n{log_tail}"
            ),
            Error::NoLeader => write!(f, "no ensemble member reports itself as leader"),
            Error::NoSuchMember(i) => write!(f, "no ensemble member with index {i}"),
            Error::NotRunning(address) => write!(f, "ZooKeeper at {address} is not running"),
            Error::NoProxies => write!(
                f,
                "this cluster's members talk directly; start it with \
                 TestingCluster::with_partitions to cut links between them"
            ),
            Error::InvalidConfig(why) => write!(f, "invalid testing server config: {why}"),
            Error::Io(e) => write!(f, "testing server I/O error: {e}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Self {
        Error::Io(e)
    }
}
