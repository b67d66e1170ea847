//! [`ZooKeeperBuilder`]: the checked arguments of `zookeeper_init2`, and
//! `connect` (init, then wait until connected). The handle itself is created
//! in `handle.rs`.

use super::handle::InitArgs;
use super::resolution::HostResolution;
use super::secure::{Sasl, SaslAvailable, Secret, Security, Tls, TlsAvailable};
use crate::error::{Argument, Error, Result};
use crate::types::{ClientId, WatchedEvent};
use crate::validate::{c_text, check_hosts, check_timeout_ms};
use crate::ZooKeeper;
use std::path::Path;
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
    security: Security,
    host_resolution: HostResolution,
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

    /// Mutual TLS (`zookeeper_init_ssl`, feature `ssl`): the CA (PEM) the
    /// servers' certificates must chain to, this client's certificate and
    /// private key (PEM), and the key's password if it is encrypted. Each
    /// path is checked (a readable file, no comma: the C client splits its
    /// argument on commas) before C sees it. The C client does not check the
    /// server's host name against its certificate, only the CA.
    ///
    /// Only where the linked C client has TLS (zkha's feature `ssl`; see
    /// [`HAS_TLS`](crate::HAS_TLS)): elsewhere a call does not compile
    /// (the bound [`TlsAvailable`] is not met, and the error says why).
    ///
    #[cfg_attr(zk_tls, doc = "```no_run")]
    #[cfg_attr(not(zk_tls), doc = "```compile_fail,E0277")]
    /// # fn main() -> zkha::Result<()> {
    /// let zk = zkha::ZooKeeper::builder("zk1:2281")
    ///     .tls("/etc/zk/ca.pem", "/etc/zk/client.pem", "/etc/zk/client.key", None)
    ///     .connect(std::time::Duration::from_secs(10))?;
    /// # Ok(()) }
    /// ```
    pub fn tls(
        mut self,
        ca: impl AsRef<Path> + TlsAvailable,
        cert: impl AsRef<Path>,
        key: impl AsRef<Path>,
        key_password: Option<Secret>,
    ) -> Self {
        self.security.tls = Some(Tls {
            ca: ca.as_ref().to_path_buf(),
            cert: cert.as_ref().to_path_buf(),
            key: key.as_ref().to_path_buf(),
            key_password,
        });
        self
    }

    /// SASL (`zookeeper_init_sasl`, feature `sasl`) with `mechanism`
    /// (`DIGEST-MD5`, `PLAIN`, `GSSAPI`; see [`Sasl`]), `user` and
    /// `password` (read it with [`Secret::from_file`] or from the
    /// environment, never from a command line). Service `zookeeper`,
    /// server name `zk-sasl-md5` (ZooKeeper's); [`security`](Self::security)
    /// sets others. The process needs Cyrus SASL's mechanism plugins
    /// (Debian: libsasl2-modules).
    ///
    /// Only where the linked C client has SASL (zkha's feature `sasl`; see
    /// [`HAS_SASL`](crate::HAS_SASL)): elsewhere a call does not compile
    /// (the bound [`SaslAvailable`] is not met, and the error says why).
    ///
    #[cfg_attr(zk_sasl, doc = "```no_run")]
    #[cfg_attr(not(zk_sasl), doc = "```compile_fail,E0277")]
    /// # fn main() -> zkha::Result<()> {
    /// use zkha::secure::Secret;
    /// let zk = zkha::ZooKeeper::builder("zk1:2181")
    ///     .sasl("DIGEST-MD5", "svc", Secret::new("pw"))
    ///     .connect(std::time::Duration::from_secs(10))?;
    /// # Ok(()) }
    /// ```
    pub fn sasl(
        mut self,
        mechanism: impl AsRef<str> + SaslAvailable,
        user: &str,
        password: Secret,
    ) -> Self {
        self.security.sasl = Some(Sasl::new(mechanism.as_ref(), user, password));
        self
    }

    /// When the C client resolves the host names again while connected
    /// (default: before every pass of its I/O loop, as C does). A window
    /// such as `HostResolution::AtMostEvery(Duration::from_secs(1))` saves
    /// about 20 system calls per request; see [`HostResolution`]. Checked
    /// before the handle is created, set right after `zookeeper_init`.
    pub fn host_resolution(mut self, resolution: HostResolution) -> Self {
        self.host_resolution = resolution;
        self
    }

    /// TLS and SASL settings at once (replacing any set before).
    pub fn security(mut self, security: Security) -> Self {
        self.security = security;
        self
    }

    /// `zookeeper_init2` (`zookeeper_init_ssl` / `zookeeper_init_sasl` with
    /// TLS / SASL): returns at once, before the session is established.
    pub fn init(self) -> Result<ZooKeeper> {
        ZooKeeper::init_inner(self)
    }

    /// `init`, then wait until connected. With TLS or SASL a failure is
    /// typed and comes within `timeout` (the C client itself would retry a
    /// refused handshake forever, silently): [`Error::Tls`] when a server
    /// accepts TCP connections but no TLS session came, [`Error::SaslAuth`]
    /// when the server rejected the credentials (AUTH_FAILED) or no
    /// authenticated session came; when no server accepts a TCP connection
    /// at all it stays [`Error::Timeout`]. The handle is closed.
    pub fn connect(self, timeout: Duration) -> Result<ZooKeeper> {
        let security = self.security.clone();
        let hosts = self.hosts.clone();
        let zk = self.init()?;
        match zk.wait_connected(timeout) {
            Ok(()) => Ok(zk),
            Err(e) => {
                drop(zk);
                Err(secure_failure(&security, &hosts, timeout, e))
            }
        }
    }
}

/// The typed error of a secure session that did not connect: what was
/// tried and the likely causes; never a secret.
fn secure_failure(security: &Security, hosts: &str, timeout: Duration, e: Error) -> Error {
    if security.is_plain() {
        return e;
    }
    let timed_out = matches!(e, Error::Timeout(_));
    if timed_out && !any_tcp_answer(hosts) {
        // Unreachable: not a TLS or SASL matter; the plain timeout says so.
        return e;
    }
    if let Some(tls) = &security.tls {
        if timed_out {
            return Error::Tls(format!(
                "a server of {hosts} accepts connections but no TLS session came within \
                 {timeout:?}: the server refused the handshake or this client's certificate \
                 ({}; it must be signed by a CA the server trusts), or its certificate is not \
                 signed by {}",
                tls.cert.display(),
                tls.ca.display()
            ));
        }
    }
    if let Some(sasl) = &security.sasl {
        if matches!(e, Error::Zk(crate::ErrorCode::AuthFailed)) {
            return Error::SaslAuth(format!(
                "the server rejected {} credentials of user {:?} (AUTH_FAILED)",
                sasl.mechanism, sasl.user
            ));
        }
        if timed_out {
            return Error::SaslAuth(format!(
                "a server of {hosts} accepts connections but no authenticated session came \
                 within {timeout:?} ({} as user {:?}): the server does not offer the mechanism, \
                 or requires TLS",
                sasl.mechanism, sasl.user
            ));
        }
    }
    e
}

impl ZooKeeper {
    /// Options for a new handle, starting from the seed design's values
    /// (plaintext: TLS and SASL only where the builder is told so).
    pub fn builder(hosts: &str) -> ZooKeeperBuilder {
        ZooKeeperBuilder {
            hosts: hosts.to_owned(),
            recv_timeout_ms: 5000,
            client_id: None,
            watcher: None,
            log_to_rust: false,
            flags: 0,
            security: Security::default(),
            host_resolution: HostResolution::default(),
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
        b.security.check()?;
        b.host_resolution.delay_ms()?;
        let hosts = c_text(&b.hosts, Argument::Hosts)?;
        let resolution = b.host_resolution;
        let zk = ZooKeeper::open(InitArgs {
            hosts: &hosts,
            watcher: b.watcher,
            recv_timeout_ms: timeout,
            client_id: b.client_id,
            flags: b.flags,
            log_to_rust: b.log_to_rust,
            security: &b.security,
        })?;
        if resolution != HostResolution::EveryPass {
            // (Checked above: C can only refuse a value below -1.)
            zk.set_host_resolution(resolution)?;
        }
        Ok(zk)
    }
}

/// Whether any server of the connect string accepts a TCP connection: tells
/// a refused TLS session from an unreachable ensemble.
fn any_tcp_answer(hosts: &str) -> bool {
    use std::net::{TcpStream, ToSocketAddrs};
    let list = hosts.split('/').next().unwrap_or("");
    list.split(',').any(|host| {
        host.trim().to_socket_addrs().is_ok_and(|mut addrs| {
            addrs.any(|a| TcpStream::connect_timeout(&a, Duration::from_secs(1)).is_ok())
        })
    })
}
