//! systemd's notify protocol for `zkha run` (`Type=notify`): `READY=1` once
//! the candidate has joined the election, `STATUS=` as its role changes,
//! `WATCHDOG=1` while the run loop is alive (`WatchdogSec=`).
//!
//! The protocol is one datagram per message on the Unix socket named by
//! `NOTIFY_SOCKET` (a path, or `@name` for an abstract socket), so no
//! library is needed. Sends never block (a full socket drops the message),
//! and a socket that cannot be reached is a warning, never an error: zkha
//! elects the same with or without systemd.

use std::os::linux::net::SocketAddrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// The environment variables of the protocol, which a child must not
/// inherit: the readiness and the watchdog are zkha's, not its command's.
pub const ENV: [&str; 3] = ["NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"];

/// A connection to systemd's notify socket.
#[derive(Debug)]
pub struct Notifier {
    socket: UnixDatagram,
    addr: SocketAddr,
    /// The text of `NOTIFY_SOCKET`, for messages.
    name: String,
    /// A failed send was warned about: later ones are debug lines (a
    /// watchdog ping every few seconds must not fill the log).
    warned: AtomicBool,
}

impl Notifier {
    /// From `NOTIFY_SOCKET`; `None` when it is unset or empty (not under
    /// systemd), or unusable (warned).
    pub fn from_env() -> Option<Notifier> {
        let name = std::env::var_os("NOTIFY_SOCKET")?;
        let name = name.to_string_lossy().into_owned();
        if name.is_empty() {
            return None;
        }
        match Notifier::new(&name) {
            Ok(n) => Some(n),
            Err(e) => {
                log::warn!(target: "zkha", "NOTIFY_SOCKET {name:?}: {e}: no readiness or watchdog notifications to systemd");
                None
            }
        }
    }

    /// A notifier for `name`: a path, or `@name` for an abstract socket.
    pub fn new(name: &str) -> std::io::Result<Notifier> {
        let addr = address(name)?;
        let socket = UnixDatagram::unbound()?;
        socket.set_nonblocking(true)?;
        Ok(Notifier {
            socket,
            addr,
            name: name.to_owned(),
            warned: AtomicBool::new(false),
        })
    }

    /// Sends one message (`KEY=value` lines); never blocks. Whether it was
    /// sent.
    pub fn send(&self, message: &str) -> bool {
        match self.socket.send_to_addr(message.as_bytes(), &self.addr) {
            Ok(_) => true,
            Err(e) => {
                let first = message.lines().next().unwrap_or("");
                if self.warned.swap(true, Ordering::Relaxed) {
                    log::debug!(target: "zkha", "NOTIFY_SOCKET {:?}: cannot send {first:?}: {e}", self.name);
                } else {
                    log::warn!(target: "zkha", "NOTIFY_SOCKET {:?}: cannot send {first:?}: {e} (systemd is not told; further failures at debug level)", self.name);
                }
                false
            }
        }
    }
}

/// `NOTIFY_SOCKET`'s value as a socket address.
fn address(name: &str) -> std::io::Result<SocketAddr> {
    match name.strip_prefix('@') {
        Some(abstract_name) => SocketAddr::from_abstract_name(abstract_name.as_bytes()),
        None if name.starts_with('/') => SocketAddr::from_pathname(name),
        None => Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            "neither an absolute path nor an abstract name (@name)",
        )),
    }
}

/// How often to send `WATCHDOG=1`: half of `WATCHDOG_USEC`, as systemd
/// advises; `None` when no watchdog is asked of this process (unset, 0,
/// unparsable (warned), or `WATCHDOG_PID` names another process).
pub fn watchdog_interval() -> Option<Duration> {
    let usec = std::env::var("WATCHDOG_USEC").ok()?;
    let pid = std::env::var("WATCHDOG_PID").ok();
    interval_of(&usec, pid.as_deref(), std::process::id())
}

fn interval_of(usec: &str, pid: Option<&str>, me: u32) -> Option<Duration> {
    if let Some(pid) = pid {
        if pid.trim().parse::<u32>().ok() != Some(me) {
            log::debug!(target: "zkha", "WATCHDOG_PID {pid:?} is not this process ({me}): no watchdog pings");
            return None;
        }
    }
    match usec.trim().parse::<u64>() {
        Ok(0) => None,
        Ok(us) => Some(Duration::from_micros(us) / 2),
        Err(_) => {
            log::warn!(target: "zkha", "WATCHDOG_USEC {usec:?} is not a number of microseconds: no watchdog pings");
            None
        }
    }
}

/// The `STATUS=` text of a master.
pub fn master_status(since: &str, token: i64) -> String {
    format!("master since {since}, token {token}")
}

/// The `STATUS=` text of a standby; `master` is the holder's data and
/// token, if anyone holds the node.
pub fn standby_status(master: Option<(&str, i64)>) -> String {
    match master {
        Some((data, token)) => format!("standby; master is {data:?} (token {token})"),
        None => "standby; no master".to_owned(),
    }
}

/// One `STATUS=` message: a line break would end the value early.
pub fn status_message(text: &str) -> String {
    format!("STATUS={}", text.replace(['\n', '\r'], " "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watchdog_interval_is_half_of_usec_for_this_process_only() {
        assert_eq!(
            interval_of("500000", None, 7),
            Some(Duration::from_millis(250))
        );
        assert_eq!(
            interval_of("3000000", Some("7"), 7),
            Some(Duration::from_millis(1500))
        );
        assert_eq!(interval_of("3000000", Some("8"), 7), None);
        assert_eq!(interval_of("0", None, 7), None);
        assert_eq!(interval_of("soon", None, 7), None);
    }

    #[test]
    fn addresses_are_paths_or_abstract_names() {
        let a = address("@zkha-test").unwrap();
        assert_eq!(a.as_abstract_name(), Some(&b"zkha-test"[..]));
        let p = address("/run/systemd/notify").unwrap();
        assert_eq!(
            p.as_pathname(),
            Some(std::path::Path::new("/run/systemd/notify"))
        );
        assert!(address("relative").is_err());
        assert!(address("").is_err());
    }

    #[test]
    fn a_missing_socket_is_a_failed_send_not_a_panic() {
        let n = Notifier::new("/nonexistent-dir-zkha/notify").unwrap();
        assert!(!n.send("READY=1"));
        assert!(!n.send("WATCHDOG=1"));
    }

    #[test]
    fn a_message_reaches_a_bound_socket() {
        let dir = std::env::temp_dir().join(format!("zkha-sd-unit-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("notify");
        let rx = UnixDatagram::bind(&path).unwrap();
        rx.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let n = Notifier::new(path.to_str().unwrap()).unwrap();
        assert!(n.send("READY=1\nSTATUS=standby; no master"));
        let mut buf = [0u8; 256];
        let len = rx.recv(&mut buf).unwrap();
        assert_eq!(&buf[..len], b"READY=1\nSTATUS=standby; no master");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn a_message_reaches_an_abstract_socket() {
        let name = format!("zkha-sd-unit-{}", std::process::id());
        let rx = UnixDatagram::bind_addr(&SocketAddr::from_abstract_name(name.as_bytes()).unwrap())
            .unwrap();
        rx.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        let n = Notifier::new(&format!("@{name}")).unwrap();
        assert!(n.send("WATCHDOG=1"));
        let mut buf = [0u8; 64];
        let len = rx.recv(&mut buf).unwrap();
        assert_eq!(&buf[..len], b"WATCHDOG=1");
    }

    #[test]
    fn status_texts() {
        assert_eq!(
            status_message(&master_status("2026-01-01 00:00:00.000 UTC", 42)),
            "STATUS=master since 2026-01-01 00:00:00.000 UTC, token 42"
        );
        assert_eq!(
            standby_status(Some(("10.0.0.1", 4))),
            "standby; master is \"10.0.0.1\" (token 4)"
        );
        assert_eq!(standby_status(None), "standby; no master");
        assert_eq!(status_message("a\nREADY=1"), "STATUS=a READY=1");
    }
}
