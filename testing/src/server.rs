//! A standalone ZooKeeper server (Curator's `TestingServer`).

use super::member::{four_letter_word, Member, Ports};
use super::{Error, ServerConfig};
use parking_lot::Mutex;
use std::io;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// How often a start is retried with new ports when one was taken meanwhile.
pub(crate) const PORT_RETRIES: usize = 3;

/// A standalone ZooKeeper server on a free 127.0.0.1 port, with a private
/// temporary data directory. Killed and cleaned up on drop.
#[derive(Debug)]
pub struct TestingServer {
    member: Mutex<Member>,
    /// The clients' address (the secure port of a TLS-only server).
    address: String,
    /// The plaintext port's address, for the kit's four-letter words.
    probe: String,
    port: u16,
    start_timeout: Duration,
}

impl TestingServer {
    /// Starts a server with the default (fast test) settings and waits until
    /// it serves clients.
    pub fn start() -> Result<TestingServer, Error> {
        Self::with_config(ServerConfig::default())
    }

    /// Starts a server with `config` and waits until it serves clients.
    pub fn with_config(config: ServerConfig) -> Result<TestingServer, Error> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let ports = Ports::allocate()?;
            let mut member = Member::new(1, ports, &[], &config)?;
            member.spawn()?;
            match member.wait_serving(Instant::now() + config.start_timeout) {
                Ok(_) => {
                    return Ok(TestingServer {
                        address: member.client_address(),
                        probe: member.address(),
                        port: if member.client_address() == member.address() {
                            ports.client
                        } else {
                            ports.secure
                        },
                        member: Mutex::new(member),
                        start_timeout: config.start_timeout,
                    })
                }
                Err(e) if attempt < PORT_RETRIES && is_port_clash(&e) => continue,
                Err(e) => return Err(e),
            }
        }
    }

    /// One server shared by every caller in this process, started on first
    /// use: tests isolate themselves with [`super::unique_path`] instead of
    /// paying a JVM start each. Never stop or kill it; it is killed when the
    /// process exits.
    pub fn shared() -> Result<&'static TestingServer, Error> {
        static SHARED: OnceLock<Result<TestingServer, String>> = OnceLock::new();
        SHARED
            .get_or_init(|| TestingServer::start().map_err(|e| e.to_string()))
            .as_ref()
            .map_err(|e| Error::InvalidConfig(format!("the shared server failed to start: {e}")))
    }

    /// The connect string for clients: `127.0.0.1:<port>`.
    pub fn connect_string(&self) -> &str {
        &self.address
    }

    /// Where the server answers four-letter words: the connect string,
    /// except for a TLS-only server, whose plaintext probe port this is.
    pub fn probe_address(&self) -> &str {
        &self.probe
    }

    /// The client port (a TLS-only server's secure port).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The server's private directory (config, `data/`, `server.log`).
    pub fn dir(&self) -> PathBuf {
        self.member.lock().dir().to_path_buf()
    }

    /// The JVM's pid while running.
    pub fn pid(&self) -> Option<u32> {
        self.member.lock().pid()
    }

    /// Whether the server process is alive.
    pub fn is_running(&self) -> bool {
        self.member.lock().is_running()
    }

    /// Graceful stop (SIGTERM, SIGKILL after 10 s). Data is kept for [`restart`](Self::restart).
    pub fn stop(&self) {
        self.member.lock().stop(Duration::from_secs(10));
    }

    /// Crash: SIGKILL. Data is kept for [`restart`](Self::restart).
    pub fn kill(&self) {
        self.member.lock().kill();
    }

    /// Starts the server again on the same port with the same data (sessions
    /// survive if their timeout has not passed); waits until it serves.
    pub fn restart(&self) -> Result<(), Error> {
        let mut member = self.member.lock();
        member.spawn()?;
        member.wait_serving(Instant::now() + self.start_timeout)?;
        Ok(())
    }

    /// Sends a four-letter word (`ruok`, `srvr`, `cons`, `mntr`, …).
    pub fn four_letter_word(&self, word: &str) -> io::Result<String> {
        four_letter_word(&self.probe, word, Duration::from_secs(5))
    }

    /// The data watches this server holds, by session (`wchc`).
    pub fn data_watches(&self) -> io::Result<std::collections::HashMap<i64, Vec<String>>> {
        crate::member::data_watches(&self.probe, Duration::from_secs(5))
    }
}

pub(crate) fn is_port_clash(e: &Error) -> bool {
    matches!(e, Error::Exited { log_tail, .. } if log_tail.contains("Address already in use"))
}
