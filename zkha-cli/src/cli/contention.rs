//! `zkha run`'s place in the election, which it can leave and take again.
//!
//! A safe-profile candidate that is not ready (`--ready-cmd`) stays in the
//! election, registered as not ready (`set_ready`), and does not contend;
//! a seed-profile one (which does not register) leaves it. A candidate
//! also leaves when its fence of a predecessor failed; it comes back once
//! ready, or after the back-off. Leaving is what Hadoop's ZKFC
//! does (`quitElection`): the elector shuts down, which stops the command
//! first (as any loss of mastership does), releases the node and closes
//! the session. Coming back is a new elector, with a new session, at the
//! back of the queue.

use parking_lot::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use zkha::elector::{Candidate, Control, Elector, ElectorConfig, FencingToken, MasterInfo};

/// One stay in the election: the elector and the thread of its run loop.
struct Joined {
    elector: Arc<Elector>,
    runner: JoinHandle<()>,
}

/// The election, joined or left.
pub struct Contention {
    config: ElectorConfig,
    candidate: Arc<dyn Candidate>,
    current: Mutex<Option<Joined>>,
    /// The readiness to register with (each stay starts with it).
    ready: AtomicBool,
}

impl Contention {
    /// Not joined yet: see [`Contention::join`].
    pub fn new(config: ElectorConfig, candidate: Arc<dyn Candidate>) -> Contention {
        Contention {
            ready: AtomicBool::new(config.ready),
            config,
            candidate,
            current: Mutex::new(None),
        }
    }

    /// Joins the election (a new elector and session); the control of the
    /// elector joined. Already joined: its control.
    pub fn join(&self) -> Result<Control, Box<dyn std::error::Error>> {
        let mut current = self.current.lock();
        if let Some(j) = current.as_ref() {
            return Ok(j.elector.control());
        }
        let mut config = self.config.clone();
        config.ready = self.ready.load(Ordering::Acquire);
        let elector = Arc::new(Elector::start(config, self.candidate.clone())?);
        // The run loop (S4) on its own thread: in the seed profile it is
        // where the election happens.
        let runner = {
            let e = elector.clone();
            std::thread::Builder::new()
                .name("zkha-run-loop".into())
                .spawn(move || e.run())?
        };
        let control = elector.control();
        *current = Some(Joined { elector, runner });
        Ok(control)
    }

    /// Leaves the election: a master's command is stopped first (through
    /// `on_lost_master`), then its node is released and the session closed.
    /// Returns once all of that is done; not joined: nothing to do.
    pub fn leave(&self) {
        let Some(joined) = self.current.lock().take() else {
            return;
        };
        joined.elector.stop();
        let _ = joined.runner.join();
        // Readers hold clones only briefly (`elector()`): wait for them, so
        // that the shutdown (command stopped, node released, session
        // closed) is done here, before this returns.
        let mut elector = joined.elector;
        loop {
            match Arc::try_unwrap(elector) {
                Ok(e) => return e.shutdown(),
                Err(shared) => {
                    elector = shared;
                    std::thread::sleep(std::time::Duration::from_millis(1));
                }
            }
        }
    }

    /// Readiness: registered with it (an unready candidate stays in the
    /// election, visible, but does not contend), now and on later stays.
    pub fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::Release);
        if let Some(e) = self.elector() {
            e.set_ready(ready);
        }
    }

    /// What ended the current stay's candidacy (its name taken), if
    /// anything did.
    pub fn failure(&self) -> Option<String> {
        self.elector().and_then(|e| e.failure())
    }

    /// Whether this candidate is in the election now.
    pub fn joined(&self) -> bool {
        self.current.lock().is_some()
    }

    /// The elector of the current stay, if joined.
    pub fn elector(&self) -> Option<Arc<Elector>> {
        self.current.lock().as_ref().map(|j| j.elector.clone())
    }

    /// The fencing token while master (and the lease holds).
    pub fn token(&self) -> Option<FencingToken> {
        self.elector().and_then(|e| e.token())
    }

    /// Who is master, as read by the current elector's session.
    pub fn current_master(&self) -> zkha::Result<Option<MasterInfo>> {
        match self.elector() {
            Some(e) => e.current_master(),
            None => Err(zkha::Error::Closed),
        }
    }
}
