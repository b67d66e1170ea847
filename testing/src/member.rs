//! One ZooKeeper server process: its config, directory, JVM and state.

use super::process::{self, TempDir};
use super::{Error, ServerConfig};
use std::fmt::Write as _;
use std::fs;
use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// What a member says of itself in its `srvr` answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerMode {
    /// A single server.
    Standalone,
    /// The ensemble's leader.
    Leader,
    /// An ensemble follower.
    Follower,
    /// An observer.
    Observer,
    /// Running but not serving (no quorum, electing).
    NotServing,
}

/// Sends a ZooKeeper four-letter word (`ruok`, `srvr`, `stat`, `mntr`, …) to
/// `address` and returns the whole answer.
pub fn four_letter_word(address: &str, word: &str, timeout: Duration) -> io::Result<String> {
    let addr: SocketAddr = address.parse().map_err(|_| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("bad address {address}"),
        )
    })?;
    let mut stream = TcpStream::connect_timeout(&addr, timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    stream.write_all(word.as_bytes())?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer)?;
    Ok(answer)
}

/// The data watches the server at `address` holds, by session (`wchc`):
/// session id -> watched paths. A session with no watch is absent.
pub fn data_watches(
    address: &str,
    timeout: Duration,
) -> io::Result<std::collections::HashMap<i64, Vec<String>>> {
    Ok(parse_wchc(&four_letter_word(address, "wchc", timeout)?))
}

/// `wchc`'s answer: a `0x<session>` line, then one tab-indented path per
/// watch of that session.
fn parse_wchc(text: &str) -> std::collections::HashMap<i64, Vec<String>> {
    let mut out: std::collections::HashMap<i64, Vec<String>> = Default::default();
    let mut session = None;
    for line in text.lines() {
        if let Some(hex) = line.strip_prefix("0x") {
            session = u64::from_str_radix(hex.trim(), 16).ok().map(|s| s as i64);
            if let Some(s) = session {
                out.entry(s).or_default();
            }
        } else if let (Some(s), Some(path)) = (session, line.strip_prefix('\t')) {
            out.entry(s).or_default().push(path.trim().to_owned());
        }
    }
    out
}

/// What the server at `address` says its mode is (`srvr`), or `None` when it
/// does not answer.
pub(crate) fn mode_of(address: &str) -> Option<ServerMode> {
    let answer = four_letter_word(address, "srvr", Duration::from_secs(2)).ok()?;
    Some(
        match answer
            .lines()
            .find_map(|l| l.strip_prefix("Mode: "))
            .map(str::trim)
        {
            Some("standalone") => ServerMode::Standalone,
            Some("leader") => ServerMode::Leader,
            Some("follower") => ServerMode::Follower,
            Some("observer") => ServerMode::Observer,
            _ => ServerMode::NotServing,
        },
    )
}

/// Ports of one member: clients, quorum peers, leader election.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Ports {
    /// The plaintext client port: the clients' port, or with
    /// [`Security::Tls`](crate::Security) the kit's own probe port.
    pub client: u16,
    /// The `secureClientPort` of a TLS-only member (allocated always).
    pub secure: u16,
    pub peer: u16,
    pub election: u16,
}

/// How one member reaches another: the quorum and election ports of a
/// `server.N=127.0.0.1:<quorum>:<election>` line (the member's real ports,
/// or proxies in front of them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PeerPorts {
    pub quorum: u16,
    pub election: u16,
}

impl Ports {
    /// The member's own quorum and election ports.
    pub(crate) fn peer(&self) -> PeerPorts {
        PeerPorts {
            quorum: self.peer,
            election: self.election,
        }
    }

    pub(crate) fn allocate() -> io::Result<Ports> {
        Ok(Ports {
            client: process::free_port()?,
            secure: process::free_port()?,
            peer: process::free_port()?,
            election: process::free_port()?,
        })
    }
}

#[derive(Debug)]
pub(crate) struct Member {
    pub ports: Ports,
    config: ServerConfig,
    dir: TempDir,
    child: Option<Child>,
    /// Stopped by SIGSTOP ([`Member::pause`]) and not continued since.
    paused: bool,
}

impl Member {
    /// Writes the member's config; does not start it. `ensemble` is how this
    /// member reaches each member, itself included (its own entry must be
    /// its real ports, which it binds), in id order; empty for a standalone
    /// server.
    pub(crate) fn new(
        id: u32,
        ports: Ports,
        ensemble: &[PeerPorts],
        config: &ServerConfig,
    ) -> Result<Member, Error> {
        check_installation(config)?;
        let dir = TempDir::new(&format!("zk{id}"))?;
        let data = dir.path().join("data");
        fs::create_dir_all(&data)?;
        let tick = config.tick_time_ms;
        let min = config.min_session_timeout_ms.unwrap_or(2 * tick);
        let mut cfg = String::new();
        let _ = writeln!(cfg, "tickTime={tick}");
        let _ = writeln!(cfg, "initLimit={}", config.init_limit_ticks());
        let _ = writeln!(cfg, "syncLimit={}", config.sync_limit_ticks());
        let _ = writeln!(cfg, "dataDir={}", data.display());
        let _ = writeln!(cfg, "clientPort={}", ports.client);
        let _ = writeln!(cfg, "clientPortAddress=127.0.0.1");
        let _ = writeln!(cfg, "minSessionTimeout={min}");
        let _ = writeln!(cfg, "maxSessionTimeout={}", config.max_session_timeout_ms);
        let _ = writeln!(cfg, "admin.enableServer=false");
        let _ = writeln!(cfg, "4lw.commands.whitelist=*");
        let _ = writeln!(cfg, "maxClientCnxns=0");
        // ZooKeeper 3.8's default, written out: with reconfig off, the
        // addresses of this file are the only ones a member uses (a leader's
        // NEWLEADER config and peers' election configs are ignored), which
        // TestingCluster::with_partitions relies on.
        let _ = writeln!(cfg, "reconfigEnabled=false");
        for (i, p) in ensemble.iter().enumerate() {
            let _ = writeln!(
                cfg,
                "server.{}=127.0.0.1:{}:{}",
                i + 1,
                p.quorum,
                p.election
            );
        }
        write_security(&mut cfg, id, &ports, dir.path(), config)?;
        for (k, v) in &config.extra_config {
            let _ = writeln!(cfg, "{k}={v}");
        }
        fs::write(dir.path().join("zoo.cfg"), cfg)?;
        if !ensemble.is_empty() {
            fs::write(data.join("myid"), format!("{id}\n"))?;
        }
        Ok(Member {
            ports,
            config: config.clone(),
            dir,
            child: None,
            paused: false,
        })
    }

    /// The plaintext client port's address: where the kit probes the
    /// member (four-letter words).
    pub(crate) fn address(&self) -> String {
        format!("127.0.0.1:{}", self.ports.client)
    }

    /// The address clients are given: the secure port of a TLS-only
    /// member, else the client port.
    pub(crate) fn client_address(&self) -> String {
        match self.config.security {
            #[cfg(feature = "secure")]
            crate::Security::Tls(_) => format!("127.0.0.1:{}", self.ports.secure),
            _ => self.address(),
        }
    }

    pub(crate) fn dir(&self) -> &Path {
        self.dir.path()
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("server.log")
    }

    /// Starts the JVM (no-op if running); does not wait for it to serve.
    pub(crate) fn spawn(&mut self) -> Result<(), Error> {
        if self.is_running() {
            return Ok(());
        }
        let log = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())?;
        let mut classpath = self.config.classpath.clone();
        // Route the server's own log (slf4j) into server.log when Debian's
        // log4j binding is installed; otherwise it logs nothing.
        let binding = [
            Path::new("/usr/share/java/slf4j-log4j12.jar"),
            Path::new("/usr/share/java/log4j-1.2.jar"),
        ];
        let with_log = binding.iter().all(|p| p.is_file());
        if with_log {
            classpath.extend(binding.iter().map(|p| p.to_path_buf()));
        }
        #[cfg(feature = "secure")]
        if matches!(self.config.security, crate::Security::Tls(_)) {
            // Netty's codec classes: Debian's zookeeper.jar manifest lists
            // netty's buffer, handler and transport jars, not this one, and
            // without it every TLS connection dies with NoClassDefFoundError
            // (io/netty/handler/codec/ByteToMessageDecoder).
            classpath.push(PathBuf::from(NETTY_CODEC_JAR));
        }
        let classpath = std::env::join_paths(&classpath)
            .map_err(|e| Error::InvalidConfig(format!("classpath: {e}")))?;
        let mut cmd = Command::new(&self.config.java);
        cmd.arg(format!("-Xmx{}m", self.config.heap_mb))
            .args(&self.config.jvm_args)
            .arg(format!("-Dzookeeper.log.dir={}", self.dir().display()))
            .arg("-Dzookeeper.root.logger=INFO,CONSOLE")
            .arg("-Dzookeeper.jmx.log4j.disable=true")
            // TTL nodes (CreateMode::PersistentWithTtl) need extended types.
            .arg("-Dzookeeper.extendedTypesEnabled=true")
            .args(self.security_jvm_args())
            .arg("-cp")
            .arg(classpath)
            .arg("org.apache.zookeeper.server.quorum.QuorumPeerMain")
            .arg(self.dir().join("zoo.cfg"))
            .current_dir(self.dir())
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log);
        let child = crate::child::spawn_tied_to_process(cmd).map_err(|e| {
            if e.kind() == io::ErrorKind::NotFound {
                Error::JavaMissing(self.config.java.clone())
            } else {
                Error::Io(e)
            }
        })?;
        process::register_pid(child.id());
        self.child = Some(child);
        self.paused = false;
        Ok(())
    }

    /// JVM options of a secure member: the JAAS file of a SASL-only one.
    fn security_jvm_args(&self) -> Vec<String> {
        match self.config.security {
            crate::Security::Sasl(_) => vec![format!(
                "-Djava.security.auth.login.config={}",
                self.dir().join("jaas.conf").display()
            )],
            _ => Vec::new(),
        }
    }

    pub(crate) fn is_running(&mut self) -> bool {
        match &mut self.child {
            Some(child) => matches!(child.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// The member's `srvr` mode, or `None` when it does not answer at all.
    pub(crate) fn mode(&self) -> Option<ServerMode> {
        mode_of(&self.address())
    }

    /// Waits until the member serves clients (`srvr` reports a mode).
    pub(crate) fn wait_serving(&mut self, deadline: Instant) -> Result<ServerMode, Error> {
        loop {
            if let Some(mode) = self.mode().filter(|m| *m != ServerMode::NotServing) {
                return Ok(mode);
            }
            if let Some(child) = &mut self.child {
                if let Ok(Some(status)) = child.try_wait() {
                    process::unregister_pid(child.id());
                    self.child = None;
                    return Err(Error::Exited {
                        address: self.address(),
                        status: status.to_string(),
                        log_tail: self.log_tail(),
                    });
                }
            }
            if Instant::now() >= deadline {
                return Err(Error::StartTimeout {
                    address: self.address(),
                    log_tail: self.log_tail(),
                });
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// SIGTERM, then SIGKILL if still alive after `grace`; waits for the exit.
    pub(crate) fn stop(&mut self, grace: Duration) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        // SAFETY: signals our own child, which we have not reaped yet.
        unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
        if std::mem::take(&mut self.paused) {
            // A stopped JVM acts on the SIGTERM only once continued.
            // SAFETY: as above.
            unsafe { libc::kill(child.id() as i32, libc::SIGCONT) };
        }
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                process::unregister_pid(child.id());
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
        process::unregister_pid(child.id());
    }

    /// SIGKILL (a crash) and wait for the exit.
    pub(crate) fn kill(&mut self) {
        self.paused = false;
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
            process::unregister_pid(child.id());
        }
    }

    pub(crate) fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// SIGSTOP, then waits (up to `timeout`) until the kernel reports the
    /// process stopped, so the caller knows the JVM no longer runs.
    pub(crate) fn pause(&mut self, timeout: Duration) -> Result<(), Error> {
        let pid = self.live_pid()?;
        // SAFETY: signals our own live child, which we have not reaped.
        if unsafe { libc::kill(pid as i32, libc::SIGSTOP) } != 0 {
            return Err(Error::Io(io::Error::last_os_error()));
        }
        self.paused = true;
        let deadline = Instant::now() + timeout;
        loop {
            match process_state(pid) {
                Some('T') | Some('t') => return Ok(()),
                _ if Instant::now() >= deadline => {
                    return Err(Error::Io(io::Error::new(
                        io::ErrorKind::TimedOut,
                        format!("ZooKeeper at {} (pid {pid}) did not stop", self.address()),
                    )))
                }
                _ => std::thread::sleep(Duration::from_millis(5)),
            }
        }
    }

    /// SIGCONT (after [`pause`](Self::pause)).
    pub(crate) fn resume(&mut self) -> Result<(), Error> {
        let pid = self.live_pid()?;
        // SAFETY: signals our own live child, which we have not reaped.
        if unsafe { libc::kill(pid as i32, libc::SIGCONT) } != 0 {
            return Err(Error::Io(io::Error::last_os_error()));
        }
        self.paused = false;
        Ok(())
    }

    pub(crate) fn is_paused(&self) -> bool {
        self.paused
    }

    fn live_pid(&mut self) -> Result<u32, Error> {
        if !self.is_running() {
            return Err(Error::NotRunning(self.address()));
        }
        self.pid().ok_or_else(|| Error::NotRunning(self.address()))
    }

    pub(crate) fn log_tail(&self) -> String {
        let text = fs::read_to_string(self.log_path()).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(25)..].join("\n")
    }
}

impl Drop for Member {
    fn drop(&mut self) {
        self.kill();
    }
}

/// The state letter of `/proc/<pid>/stat` (`R`, `S`, `T` for stopped, …).
fn process_state(pid: u32) -> Option<char> {
    let stat = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // "pid (comm) S ...": comm may hold spaces and parentheses.
    stat[stat.rfind(')')? + 1..].trim_start().chars().next()
}

/// Netty's codec jar in Debian (package libnetty-java), needed for TLS.
#[cfg(feature = "secure")]
const NETTY_CODEC_JAR: &str = "/usr/share/java/netty-codec.jar";

/// The zoo.cfg lines (and files) of a TLS-only or SASL-only member.
fn write_security(
    cfg: &mut String,
    id: u32,
    ports: &Ports,
    dir: &Path,
    config: &ServerConfig,
) -> Result<(), Error> {
    let _ = (id, ports);
    match &config.security {
        crate::Security::Plain => {}
        #[cfg(feature = "secure")]
        crate::Security::Tls(ca) => {
            if !Path::new(NETTY_CODEC_JAR).is_file() {
                return Err(Error::ServerMissing(PathBuf::from(NETTY_CODEC_JAR)));
            }
            let keystore = ca.server_keystore(dir, id)?;
            let _ = writeln!(cfg, "secureClientPort={}", ports.secure);
            let _ = writeln!(cfg, "secureClientPortAddress=127.0.0.1");
            let _ = writeln!(
                cfg,
                "serverCnxnFactory=org.apache.zookeeper.server.NettyServerCnxnFactory"
            );
            let _ = writeln!(cfg, "ssl.keyStore.location={}", keystore.display());
            let _ = writeln!(cfg, "ssl.keyStore.type=PEM");
            let _ = writeln!(cfg, "ssl.trustStore.location={}", ca.ca_file().display());
            let _ = writeln!(cfg, "ssl.trustStore.type=PEM");
            let _ = writeln!(cfg, "ssl.clientAuth=need");
        }
        crate::Security::Sasl(users) => {
            if users.0.is_empty() {
                return Err(Error::InvalidConfig(
                    "a SASL-only server needs at least one user".into(),
                ));
            }
            fs::write(dir.join("jaas.conf"), users.jaas())?;
            let _ = writeln!(
                cfg,
                "authProvider.1=org.apache.zookeeper.server.auth.SASLAuthenticationProvider"
            );
            let _ = writeln!(cfg, "sessionRequireClientSASLAuth=true");
        }
    }
    Ok(())
}

fn check_installation(config: &ServerConfig) -> Result<(), Error> {
    if config.tick_time_ms == 0 {
        return Err(Error::InvalidConfig("tick_time_ms must be positive".into()));
    }
    let min = config
        .min_session_timeout_ms
        .unwrap_or(2 * config.tick_time_ms);
    if min > config.max_session_timeout_ms {
        return Err(Error::InvalidConfig(format!(
            "min_session_timeout_ms {min} exceeds max_session_timeout_ms {}",
            config.max_session_timeout_ms
        )));
    }
    if config.java.components().count() > 1 && !config.java.is_file() {
        return Err(Error::JavaMissing(config.java.clone()));
    }
    if config.java.components().count() == 1 && !in_path(&config.java) {
        return Err(Error::JavaMissing(config.java.clone()));
    }
    for entry in &config.classpath {
        if !entry.exists() {
            return Err(Error::ServerMissing(entry.clone()));
        }
    }
    Ok(())
}

fn in_path(program: &Path) -> bool {
    std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|dir| dir.join(program).is_file()))
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::parse_wchc;

    #[test]
    fn wchc_answers_are_read_by_session() {
        let w = parse_wchc("0x1000a2b3c0000\n\t/a/master\n\t/b\n0x2\n\t/c\n0xzz\n\t/lost\n");
        assert_eq!(w[&0x1000a2b3c0000], vec!["/a/master", "/b"]);
        assert_eq!(w[&2], vec!["/c"]);
        assert_eq!(w.len(), 2, "{w:?}");
    }
}
