//! systemd (Type=notify) for `zkha run`: READY=1 and STATUS= from a thread
//! of their own (naming a standby's master is a ZooKeeper read), WATCHDOG=1
//! from the main loop, so the pings stop if it stalls; STOPPING=1 when it
//! ends.
//!
//! READY=1 means "started and deciding": it does not wait for ZooKeeper.
//! While the first session cannot connect, STATUS= says so
//! (`connecting to …: ZooKeeper unreachable (…)`), so that `systemctl
//! start` returns and `systemctl status` tells why, instead of systemd
//! timing the start out and restarting zkha in a loop.

use super::supervisor::Supervisor;
use crate::cli::contention::Contention;
use crate::cli::systemd::{self, Notifier};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// `zkha run`'s link to systemd, when started under it (`NOTIFY_SOCKET`).
pub(super) struct Systemd {
    notifier: Arc<Notifier>,
    /// WATCHDOG=1's interval, when systemd watches (`WATCHDOG_USEC`).
    watchdog_every: Option<Duration>,
    /// When WATCHDOG=1 was last sent.
    pinged: Instant,
    /// Cleared to end the status thread.
    notifying: Arc<AtomicBool>,
    /// The thread that sends READY=1 and STATUS= (`tell_systemd`).
    status_thread: JoinHandle<()>,
}

impl Systemd {
    /// Starts the status thread and sends the first WATCHDOG=1; `None`
    /// when not started by systemd.
    pub(super) fn start(
        sup: &Arc<Supervisor>,
        contention: &Arc<Contention>,
    ) -> std::io::Result<Option<Systemd>> {
        let notifier = Notifier::from_env().map(Arc::new);
        // Read (and a bad WATCHDOG_USEC warned about) with or without a
        // notifier.
        let watchdog_every = systemd::watchdog_interval();
        let Some(notifier) = notifier else {
            return Ok(None);
        };
        let pinged = Instant::now();
        let notifying = Arc::new(AtomicBool::new(true));
        let (n, s, c, on) = (
            notifier.clone(),
            sup.clone(),
            contention.clone(),
            notifying.clone(),
        );
        let status_thread = std::thread::Builder::new()
            .name("zkha-systemd".into())
            .spawn(move || tell_systemd(&n, &s, &c, &on))?;
        if watchdog_every.is_some() {
            notifier.send("WATCHDOG=1");
        }
        Ok(Some(Systemd {
            notifier,
            watchdog_every,
            pinged,
            notifying,
            status_thread,
        }))
    }

    /// WATCHDOG=1, when its interval has passed (each turn of the main loop).
    pub(super) fn ping_if_due(&mut self) {
        if let Some(every) = self.watchdog_every {
            if self.pinged.elapsed() >= every {
                self.pinged = Instant::now();
                self.notifier.send("WATCHDOG=1");
            }
        }
    }

    /// STOPPING=1: `zkha run` is ending. The status thread says nothing
    /// more (leaving the election is not news for systemd).
    pub(super) fn stopping(&self) {
        self.notifying.store(false, Ordering::Release);
        self.notifier.send("STOPPING=1");
    }

    /// Ends the status thread.
    pub(super) fn stop(self) {
        self.notifying.store(false, Ordering::Release);
        let _ = self.status_thread.join();
    }
}

/// How often the systemd thread looks at the role, and how often a
/// standby rereads who is master without a change of its own role.
const NOTIFY_LOOK: Duration = Duration::from_millis(100);
const NOTIFY_REREAD: Duration = Duration::from_secs(2);

/// Without a reason from the C client (a refused connection is reported at
/// once), how long the first connection may take before it is called
/// unreachable (the log's narration waits as long).
const SLOW_CONNECT: Duration = Duration::from_secs(2);

/// STATUS= while the first session cannot connect: the C client's latest
/// reason, else after [`SLOW_CONNECT`] "no answer"; `None` before either.
fn connecting_status(hosts: &str, reason: Option<String>, trying_for: Duration) -> Option<String> {
    let why = match reason {
        Some(r) => r,
        None if trying_for >= SLOW_CONNECT => "no answer".to_owned(),
        None => return None,
    };
    Some(format!(
        "connecting to {hosts}: ZooKeeper unreachable ({why})"
    ))
}

/// systemd's READY=1 and STATUS=, until `on` is cleared. READY=1 goes once
/// the candidate has started its election: at the first of connected and
/// either master or a standby that knows its master (a new master's node
/// may take a moment), out of the election or registered and not ready
/// (saying why), or unable to connect (saying why: the start must not wait
/// for ZooKeeper).
fn tell_systemd(n: &Notifier, sup: &Supervisor, elector: &Contention, on: &AtomicBool) {
    let mut ready = false;
    let mut said = String::new();
    let mut seen_changes = u64::MAX;
    let mut read_at: Option<Instant> = None;
    let started = Instant::now();
    while on.load(Ordering::Acquire) {
        let changes = sup.role_changes.load(Ordering::Acquire);
        let since_ms = sup.master_since_ms.load(Ordering::Acquire);
        let status = if !elector.joined() {
            Some(format!("out of the election: {}", sup.out_because.lock()))
        } else if let Some(token) = elector.token() {
            // (0: on_became_master has not run yet; the next look tells.)
            // A master that is not ready keeps mastership: STATUS= says so.
            (since_ms != 0).then(|| {
                let status =
                    systemd::master_status(&crate::cli::common::utc(since_ms), token.value());
                match sup.not_ready.lock().as_deref() {
                    Some(why) => format!("{status}; {why}"),
                    None => status,
                }
            })
        } else if let Some(why) = sup.not_ready.lock().as_deref().filter(|_| sup.registers) {
            // Registered, not contending: up, and says why.
            Some(format!("standby, not contending: {why}"))
        } else if !sup.joined.load(Ordering::Acquire) {
            // Never connected yet (the reasons noted are this session's: no
            // other ZooKeeper handle comes before the first connection).
            let reason = zkha::logging::last_unreachable_reason().1;
            connecting_status(&sup.hosts, reason, started.elapsed())
        } else if changes != seen_changes
            || !ready
            || read_at.is_none_or(|t| t.elapsed() >= NOTIFY_REREAD)
        {
            read_at = Some(Instant::now());
            match elector.current_master() {
                Ok(Some(m)) if !m.is_me => Some(systemd::standby_status(Some((
                    m.data_text().as_str(),
                    m.token,
                )))),
                // Ours, but not yet master (settling) or its lease lapsed:
                // the next look tells.
                Ok(Some(_)) => None,
                // Nobody: a standby about to try; ready once someone holds it.
                Ok(None) if ready => Some(systemd::standby_status(None)),
                Ok(None) => None,
                Err(e) => {
                    log::debug!(target: "zkha", "{} on {}: systemd status: cannot read the master: {e}", sup.path, sup.hosts);
                    None
                }
            }
        } else {
            None
        };
        seen_changes = changes;
        if !on.load(Ordering::Acquire) {
            break;
        }
        if let Some(status) = status {
            if !ready {
                // Once, sent or not: an unreachable socket was warned about.
                ready = true;
                if n.send(&format!("READY=1\n{}", systemd::status_message(&status))) {
                    log::debug!(target: "zkha", "{} on {}: told systemd READY=1 ({status})", sup.path, sup.hosts);
                }
                said = status;
            } else if status != said && n.send(&systemd::status_message(&status)) {
                said = status;
            }
        }
        std::thread::sleep(NOTIFY_LOOK);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connecting_says_why_once_there_is_a_reason_or_it_takes_long() {
        let hosts = "zk1:2181,zk2:2181";
        assert_eq!(
            connecting_status(hosts, None, Duration::from_millis(500)),
            None
        );
        assert_eq!(
            connecting_status(hosts, Some("connection refused".into()), Duration::ZERO).as_deref(),
            Some("connecting to zk1:2181,zk2:2181: ZooKeeper unreachable (connection refused)")
        );
        assert_eq!(
            connecting_status(hosts, None, SLOW_CONNECT).as_deref(),
            Some("connecting to zk1:2181,zk2:2181: ZooKeeper unreachable (no answer)")
        );
    }
}
