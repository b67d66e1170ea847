//! What a safe-profile candidate keeps about its registration
//! (`registry.rs`): its readiness, its resolved name, its node, and an
//! error that ended its candidacy (a name another live candidate holds, a
//! registry it is not allowed into). The registry node's data is rewritten
//! (without blocking: the completion thread acknowledges it) whenever one
//! of its fields changes: readiness, role.
//!
//! A leaf beside `shared.rs`, which holds one; the safe profile's
//! `steer.rs` registers and obeys the control node.

use super::config::{ElectorConfig, Profile};
use super::registry::{self, CandidateEntry, Role};
use crate::ZooKeeper;
use parking_lot::Mutex;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicUsize, Ordering};
use std::sync::Arc;

/// A candidate's registration.
pub(crate) struct Steering {
    /// Whether this candidate registers at all (safe profile).
    pub enabled: bool,
    /// May it take over (its readiness)? Set by [`set_ready`](Self::set_ready).
    ready: AtomicBool,
    /// Just resigned, staying out for a moment.
    yielding: AtomicBool,
    /// When the role or readiness last changed, ms since the epoch.
    since_ms: AtomicI64,
    /// The registration: the name resolved, and the node on which session.
    node: Mutex<Option<Registered>>,
    /// The name resolved once (kept across sessions).
    pub name: Mutex<Option<String>>,
    /// What ended the candidacy, if anything did.
    pub fatal: Mutex<Option<String>>,
    /// Registry writes sent and not answered yet (see [`drain`](Self::drain)).
    in_flight: Arc<AtomicUsize>,
}

struct Registered {
    path: String,
    zk: Arc<ZooKeeper>,
}

impl Steering {
    pub(crate) fn new(config: &ElectorConfig) -> Steering {
        Steering {
            enabled: config.profile == Profile::Safe,
            ready: AtomicBool::new(config.ready),
            yielding: AtomicBool::new(false),
            since_ms: AtomicI64::new(registry::now_ms()),
            node: Mutex::new(None),
            name: Mutex::new(None),
            fatal: Mutex::new(None),
            in_flight: Arc::default(),
        }
    }

    /// Whether this candidate may take over now (readiness only; priority 0
    /// and a switchover are the election's to judge).
    pub(crate) fn ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    /// Sets readiness; whether it changed.
    pub(crate) fn set_ready(&self, ready: bool) -> bool {
        let changed = self.ready.swap(ready, Ordering::AcqRel) != ready;
        if changed {
            self.since_ms.store(registry::now_ms(), Ordering::Release);
        }
        changed
    }

    /// Sets "just resigned"; whether it changed.
    pub(crate) fn set_yielding(&self, yielding: bool) -> bool {
        self.yielding.swap(yielding, Ordering::AcqRel) != yielding
    }

    /// The role changed: `since` moves.
    pub(crate) fn role_changed(&self) {
        self.since_ms.store(registry::now_ms(), Ordering::Release);
    }

    /// The entry as it stands, for `role`.
    pub(crate) fn entry(&self, config: &ElectorConfig, name: &str, role: Role) -> CandidateEntry {
        CandidateEntry {
            name: name.to_owned(),
            data: config.data.clone(),
            priority: config.priority,
            ready: self.ready(),
            role,
            yielding: self.yielding.load(Ordering::Acquire),
            profile: "safe".into(),
            version: env!("CARGO_PKG_VERSION").into(),
            since_ms: self.since_ms.load(Ordering::Acquire),
            stop_timeout_ms: config.stop_timeout.as_millis() as u64,
            session: 0,
        }
    }

    /// Registered as `path` on `zk`.
    pub(crate) fn registered(&self, path: String, zk: Arc<ZooKeeper>) {
        *self.node.lock() = Some(Registered { path, zk });
    }

    /// Forgets the registration (its session ended).
    pub(crate) fn unregistered(&self) {
        *self.node.lock() = None;
    }

    /// Rewrites the registry node with the entry for `role` (not waiting
    /// for the answer: it must not block the election or the completion
    /// thread). The lock keeps the writes in order.
    pub(crate) fn publish(&self, config: &ElectorConfig, role: Role) {
        let node = self.node.lock();
        let Some(r) = node.as_ref() else { return };
        let Some(name) = self.name.lock().clone() else {
            return;
        };
        let data = self.entry(config, &name, role).encode();
        let path = r.path.clone();
        let logged = path.clone();
        let in_flight = self.in_flight.clone();
        in_flight.fetch_add(1, Ordering::AcqRel);
        let sent = r.zk.aset(&path, &data, -1, move |res| {
            in_flight.fetch_sub(1, Ordering::AcqRel);
            if let Err(e) = res {
                log::debug!(target: "zkha", "registry {logged}: update failed: {e}");
            }
        });
        if sent.is_err() {
            self.in_flight.fetch_sub(1, Ordering::AcqRel);
        }
    }

    /// Waits (up to `limit`) for the registry writes in flight to be
    /// answered: a handle closed with a write outstanding was seen to leave
    /// its session (and so the master node) behind until it expired, about
    /// one shutdown in twenty right after a win.
    pub(crate) fn drain(&self, limit: std::time::Duration) {
        let until = std::time::Instant::now() + limit;
        while self.in_flight.load(Ordering::Acquire) > 0 && std::time::Instant::now() < until {
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
    }
}
