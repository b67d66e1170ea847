//! `zkha_candidates` and `zkha_ready_standbys`: every second, a thread of
//! its own reads the candidates' registry with this candidate's session
//! (a blocking read, so never on the main loop or the election thread)
//! and sets the two gauges, and `zkha_paused` from the control node. Out of the election, nothing is read and the
//! gauges keep their last values.

use crate::cli::contention::Contention;
use crate::cli::metrics::Metrics;
use parking_lot::{Condvar, Mutex};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;
use zkha::elector::registry::{CandidateEntry, ControlOp, Role};

/// How often the registry is read.
const EVERY: Duration = Duration::from_secs(1);

/// Registered standbys that could take over now: ready, not never-master,
/// not master.
pub(super) fn ready_standbys(entries: &[CandidateEntry]) -> usize {
    entries
        .iter()
        .filter(|c| c.role == Role::Standby && c.ready && c.priority > 0)
        .count()
}

/// The reading thread; stopped (and joined) on drop.
pub(super) struct RegistryGauge {
    stop: Arc<(Mutex<bool>, Condvar)>,
    thread: Option<JoinHandle<()>>,
}

impl RegistryGauge {
    pub(super) fn start(
        contention: Arc<Contention>,
        metrics: Arc<Metrics>,
    ) -> std::io::Result<RegistryGauge> {
        let stop = Arc::new((Mutex::new(false), Condvar::new()));
        let flag = stop.clone();
        let thread = std::thread::Builder::new()
            .name("zkha-registry".into())
            .spawn(move || loop {
                if let Some(elector) = contention.elector() {
                    if let Ok(entries) = elector.candidates() {
                        metrics.set_registry(entries.len(), ready_standbys(&entries));
                    }
                    if let Ok(op) = elector.control_op() {
                        let pause =
                            matches!(op, ControlOp::Pause { .. } | ControlOp::Resume { .. });
                        metrics.set_paused(pause || elector.paused_until().is_some());
                    }
                }
                let (lock, cv) = &*flag;
                let mut stopped = lock.lock();
                if !*stopped {
                    cv.wait_for(&mut stopped, EVERY);
                }
                if *stopped {
                    return;
                }
            })?;
        Ok(RegistryGauge {
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for RegistryGauge {
    fn drop(&mut self) {
        *self.stop.0.lock() = true;
        self.stop.1.notify_all();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(name: &str, role: Role, ready: bool, priority: u32) -> CandidateEntry {
        CandidateEntry {
            name: name.into(),
            data: Vec::new(),
            priority,
            ready,
            role,
            yielding: false,
            profile: "safe".into(),
            version: String::new(),
            since_ms: 0,
            stop_timeout_ms: 0,
            session: 0,
        }
    }

    #[test]
    fn counts_only_ready_standbys_that_may_become_master() {
        let all = [
            entry("m", Role::Master, true, 100),
            entry("a", Role::Standby, true, 50),
            entry("b", Role::Standby, false, 50),
            entry("c", Role::Standby, true, 0),
            entry("d", Role::Standby, true, 1),
        ];
        assert_eq!(ready_standbys(&all), 2);
        assert_eq!(ready_standbys(&[]), 0);
    }
}
