//! Master/standby election on one ZooKeeper path, in two profiles:
//!
//! - [`Profile::Seed`] reproduces the C++ design (docs/design.md, S1–S9) exactly,
//!   flaws included, for drop-in replacement and fidelity tests;
//! - [`Profile::Safe`] (the default) keeps the node's path and bytes (IP +
//!   NUL, ephemeral), so it contends with seed processes, and fixes F1–F10:
//!   watches instead of polling (F6), steps down on its own timer when cut off
//!   (F1), replaces an expired handle with a fresh session (F2), recognises
//!   its own node by session owner after an ambiguous create (F3, F4), hands
//!   the work a fencing token (F5), reports real errors (F7), and can protect
//!   the node with a creator-only ACL and digest auth (F10).
//!
//! ```no_run
//! use std::sync::Arc;
//! use zkha::elector::{Candidate, Elector, ElectorConfig, FencingToken};
//!
//! struct Service;
//! impl Candidate for Service {
//!     fn do_work(&self, token: FencingToken) {
//!         println!("working as master, token {}", token.value());
//!     }
//! }
//! let elector = Elector::start(ElectorConfig::new("127.0.0.1:2181", "/master/test"), Arc::new(Service))?;
//! elector.run(); // S4: every poll interval, do_work while master; returns after stop()
//! # Ok::<(), zkha::Error>(())
//! ```
//!
//! From async code (any executor; no runtime needed): [`Elector::until_master`]
//! is a future for "until master" that gives a [`Mastership`], a guard of
//! the term (its token, a `lost()` future, the lease left, writes fenced
//! by ZooKeeper; the node is released on a resign only once every guard is
//! dropped); [`Elector::watch_state`] a view of the state a late reader
//! cannot miss a loss in; [`Elector::changes`] a `Stream` of
//! [`MasterChange`]s, one queue per subscriber. All are also on
//! [`Control`], which tasks can own.
//!
//! ```
//! use futures::StreamExt;
//! use std::sync::Arc;
//! use zkha::elector::{Elector, ElectorConfig, MasterChange};
//!
//! let server = zkha_testing::TestingServer::shared()?;
//! let path = format!("{}/master", zkha_testing::unique_path("doc-elector"));
//! let elector = Elector::start(ElectorConfig::new(server.connect_string(), &path), Arc::new(()))?;
//! let mut changes = elector.changes();
//! futures::executor::block_on(async {
//!     let master = elector.until_master().await?;
//!     assert_eq!(changes.next().await, Some(MasterChange::BecameMaster(master.token())));
//!     Ok::<_, zkha::Error>(())
//! })?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod candidate;
mod changes;
mod config;
mod config_builder;
mod fenced;
pub mod lease;
mod master;
mod mastership;
mod narration;
mod narrator;
pub mod registry;
mod safe;
mod seed;
mod session_builder;
mod session_lock;
mod shared;
mod state_view;
mod steering;
mod term;
pub(crate) mod trace;
mod until_master;

pub use candidate::{Candidate, FencingToken, Hooks, LostReason};
pub use changes::{MasterChange, MasterChanges};
pub use config::{AclChoice, Auth, ElectorConfig, Mode, Profile};
pub use config_builder::ElectorConfigBuilder;
pub use fenced::Fenced;
pub use lease::step_down_after;
pub use master::{read_master, read_queue, MasterInfo};
pub use mastership::{loss_margin, Lost, Mastership};
pub use safe::mixed::SeenMaster;
pub use session_builder::sasl_acl;
pub use session_lock::lock_path as session_lock_path;
pub use state_view::{Changed, Connection, ElectorState, StateWatch};
pub use until_master::UntilMaster;

use crate::clock::BootInstant;
use crate::error::{Error, Result};
use shared::ElectionState;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

/// One candidate in the election for a master path.
pub struct Elector {
    shared: Arc<ElectionState>,
    thread: Option<JoinHandle<()>>,
    /// Safe profile with a session file: this elector's use of it (see
    /// [`session_lock_path`]), given up after the shutdown.
    _session_lock: Option<session_lock::SessionFileLock>,
}

impl Elector {
    /// Checks the configuration and joins the election: the seed profile
    /// opens its session (S1) and elects from the run loop (S4); the safe
    /// profile elects on a background thread at once.
    ///
    /// A session file is this process's alone: another process (or another
    /// elector of this one) using it is an error naming the file, and the
    /// holder's pid. Its lock, an exclusive `flock` on `FILE.lock`
    /// ([`session_lock_path`]), is held until this process exits.
    pub fn start(config: ElectorConfig, candidate: Arc<dyn Candidate>) -> Result<Elector> {
        config.validate()?;
        let session_lock = match (&config.profile, &config.session_file) {
            (Profile::Safe, Some(file)) => Some(session_lock::lock(file)?),
            _ => None,
        };
        let shared = ElectionState::new(config, candidate)?;
        narrator::spawn(&shared);
        let thread = match shared.config.profile {
            Profile::Seed => {
                seed::start(&shared)?;
                None
            }
            Profile::Safe => {
                let s = shared.clone();
                Some(
                    std::thread::Builder::new()
                        .name("zkha-elector".into())
                        .spawn(move || safe::run(s))
                        .map_err(Error::Thread)?,
                )
            }
        };
        Ok(Elector {
            shared,
            thread,
            _session_lock: session_lock,
        })
    }

    /// The safe profile on a session the caller owns, e.g. a handle shared
    /// with C/C++ code ([`ZooKeeper::borrow_raw`](crate::ZooKeeper::borrow_raw)),
    /// so that a service already connected runs one session, not two.
    ///
    /// - Watcher events stay the caller's: its global watcher receives
    ///   every event as before. The elector looks at the session's state
    ///   itself (every 50 ms) and sets its own watches on its nodes.
    /// - The elector never closes the handle. Stopping it releases the
    ///   master node (if held) and deletes its registry entry, since the
    ///   session lives on.
    /// - After an expiry (or an authentication failure) the candidacy
    ///   ends: the loss is reported, the elector stops, and
    ///   [`failure`](Elector::failure) says why. Re-initialising is the
    ///   caller's: a new handle, and a new elector on it.
    /// - The handle must be connected, or connect, to the ensemble of
    ///   `config.hosts` (which is only checked for form here); its auth is
    ///   the caller's, plus `config.auth`, added once connected.
    ///
    /// Safe profile only (the seed design re-inits its own handle, S3), in
    /// watch or poll mode (a queue node of sequence mode would outlive the
    /// elector on a session that lives on), and without a session file
    /// (the caller owns the session).
    pub fn start_with_handle(
        zk: Arc<crate::ZooKeeper>,
        config: ElectorConfig,
        candidate: Arc<dyn Candidate>,
    ) -> Result<Elector> {
        config.validate()?;
        if config.profile != Profile::Safe {
            return Err(Error::invalid(
                crate::error::Argument::Other,
                "an elector on the caller's handle needs the safe profile: the seed design re-inits its own handle (S3)",
            ));
        }
        if config.session_file.is_some() {
            return Err(Error::invalid(
                crate::error::Argument::Other,
                "an elector on the caller's handle cannot keep a session file: the session is the caller's",
            ));
        }
        if config.mode == Mode::Sequence {
            return Err(Error::invalid(
                crate::error::Argument::Other,
                "an elector on the caller's handle runs in watch or poll mode: a sequence-mode queue node would outlive it on the caller's session",
            ));
        }
        let shared = ElectionState::new(config, candidate)?;
        *shared.given.lock() = Some(zk);
        narrator::spawn(&shared);
        let s = shared.clone();
        let thread = std::thread::Builder::new()
            .name("zkha-elector".into())
            .spawn(move || safe::run(s))
            .map_err(Error::Thread)?;
        Ok(Elector {
            shared,
            thread: Some(thread),
            _session_lock: None,
        })
    }

    /// The run loop (S4) on the calling thread, until [`stop`](Self::stop):
    /// every poll interval, `do_work(token)` while master. In the seed
    /// profile it is also where the election happens (try to create the
    /// node when not master).
    pub fn run(&self) {
        match self.shared.config.profile {
            Profile::Seed => seed::run_loop(&self.shared),
            Profile::Safe => safe::work_loop(&self.shared),
        }
    }

    /// Whether this candidate is master now (non-blocking). In the safe
    /// profile, only while its lease holds: a master that cannot renew (cut
    /// off, or this process paused) says "not master" the moment the lease
    /// runs out, even before the election thread has noticed.
    pub fn is_master(&self) -> bool {
        self.shared.token().is_some()
    }

    /// The fencing token while master (and, in the safe profile, while the
    /// lease holds).
    pub fn token(&self) -> Option<FencingToken> {
        self.shared.token()
    }

    /// Safe profile: when the current lease ends, an instant on
    /// CLOCK_BOOTTIME; `None` when not master.
    pub fn lease_deadline(&self) -> Option<BootInstant> {
        self.shared
            .lease_until()
            .filter(|_| self.shared.token().is_some())
    }

    /// Waits until master (with a valid lease) or `timeout`; returns
    /// whether master.
    pub fn wait_until_master(&self, timeout: Duration) -> bool {
        self.shared.wait_until_master(timeout)
    }

    /// A future ready once master with a valid lease, with the fencing
    /// token: the async form of [`wait_until_master`](Self::wait_until_master)
    /// (no timeout of its own; an error once the elector stops). See
    /// [`UntilMaster`].
    pub fn until_master(&self) -> UntilMaster {
        UntilMaster {
            shared: self.shared.clone(),
            waker: None,
        }
    }

    /// The blocking form of [`until_master`](Elector::until_master): a
    /// guard of the current term once master with a valid lease, `Ok(None)`
    /// after `timeout`, and the same errors.
    pub fn wait_for_mastership(&self, timeout: Duration) -> Result<Option<Mastership>> {
        wait_for_mastership(&self.shared, timeout)
    }

    /// A guard of the current term, if master with a valid lease now.
    pub fn mastership(&self) -> Option<Mastership> {
        mastership::current(&self.shared)
    }

    /// The state now: role and token, the lease left, the connection.
    pub fn state(&self) -> ElectorState {
        ElectorState::of(&self.shared)
    }

    /// A watch of the state (see [`StateWatch`]): a late subscriber reads
    /// the current state first, so it never misses a loss.
    pub fn watch_state(&self) -> StateWatch {
        StateWatch::new(self.shared.clone())
    }

    /// A stream of this candidate's mastership changes (became master with
    /// its token, lost with the reason), starting with the current state if
    /// master; each call is a new subscriber that gets every change. See
    /// [`MasterChanges`].
    pub fn changes(&self) -> MasterChanges {
        self.shared.subscribe()
    }

    /// Gives up mastership gracefully: the node is deleted at once so a
    /// standby takes over, and this candidate stays a standby for
    /// `resign_backoff`. Not master: nothing happens. In the safe profile a
    /// resign holds through a disconnection: the node is deleted once the
    /// session is back (or goes with it).
    pub fn resign(&self) -> Result<()> {
        resign(&self.shared)
    }

    /// Who is master now, as the node says (data, holder session, since
    /// when, token), and whether it is this candidate (seed: by comparing
    /// data prefixes, as the design does, F4; safe: by session owner).
    pub fn current_master(&self) -> Result<Option<MasterInfo>> {
        self.shared.current_master()
    }

    /// Node watch notifications this candidate has received so far (to see
    /// the herd effect of watch mode, and its absence in sequence mode;
    /// the workspace's tests and benchmark reach it through
    /// `zkha::__private`).
    pub(crate) fn watch_notifications(&self) -> u64 {
        self.shared
            .notifications
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// This candidate's current session id (0 before the first connection).
    pub fn session_id(&self) -> i64 {
        self.shared.session_id()
    }

    /// This candidate's current session id and password (a secret: it
    /// grants the session), e.g. to end the session from outside in tests.
    /// Hidden: for `zkha run`'s watchdog handover and the tests, not part
    /// of the API (the password must not travel further than it must).
    #[doc(hidden)]
    pub fn client_id(&self) -> Option<crate::types::ClientId> {
        self.shared.zk().and_then(|zk| zk.client_id().ok())
    }

    /// The session this candidate contends with (`None` between sessions),
    /// for the caller's own writes tied to its mastership, such as a
    /// fencing breadcrumb: they succeed only while this session lives.
    pub fn zookeeper(&self) -> Option<Arc<crate::ZooKeeper>> {
        self.shared.zk()
    }

    /// Asks the run loop and the election to end (returns at once).
    pub fn stop(&self) {
        self.shared.request_stop();
    }

    /// Safe profile: whether this candidate may take over (its readiness),
    /// published in its registry entry ([`registry`]). An unready standby
    /// stays registered (and visible) but does not contend; a master that
    /// turns unready stays master. Takes effect at once.
    pub fn set_ready(&self, ready: bool) {
        self.shared.set_ready(ready);
    }

    /// Safe profile: this candidate's name in the registry, once
    /// registered.
    pub fn name(&self) -> Option<String> {
        self.shared.steering.name.lock().clone()
    }

    /// Safe profile: what ended this candidacy, if something did: its name
    /// is held by another live candidate, or the registry refuses it (the
    /// election's ACL). The elector has stopped then.
    pub fn failure(&self) -> Option<String> {
        self.shared.steering.fatal.lock().clone()
    }

    /// Every registered candidate of this election, read with this
    /// candidate's session (not connected: [`Error::Closed`]).
    pub fn candidates(&self) -> Result<Vec<registry::CandidateEntry>> {
        let zk = self.shared.zk().ok_or(Error::Closed)?;
        registry::read_candidates(&zk, &self.shared.config.path)
    }

    /// The operation in force on this election's control node (a
    /// switchover, a resign, a pause, a resume; [`registry::ControlOp::None`]
    /// when none or no node), read with this candidate's session.
    pub fn control_op(&self) -> Result<registry::ControlOp> {
        let zk = self.shared.zk().ok_or(Error::Closed)?;
        Ok(registry::read_control(&zk, &self.shared.config.path)?
            .map_or(registry::ControlOp::None, |(op, _)| op))
    }

    /// Safe profile, master: the end of the maintenance pause this master
    /// acknowledged, while it lasts (mastership holds until then even
    /// when cut off from ZooKeeper).
    pub fn paused_until(&self) -> Option<BootInstant> {
        self.shared.paused_until()
    }

    /// Safe profile: the last master other than this candidate that it saw
    /// hold the node, with whether it was a registered zkha candidate
    /// (only those leave breadcrumbs and obey the control node).
    pub fn last_seen_master(&self) -> Option<SeenMaster> {
        self.shared.seen_master.lock().clone()
    }

    /// Seed profile: whether the re-init limit (`reinit_limit`) ended the
    /// candidacy. The design exits the process with code 3 there; the
    /// library stops the elector instead and leaves the exit to the caller.
    pub fn gave_up(&self) -> bool {
        self.shared
            .gave_up
            .load(std::sync::atomic::Ordering::Acquire)
    }

    /// A handle that can stop this elector, or make it resign, from
    /// elsewhere (a signal thread, another component).
    pub fn control(&self) -> Control {
        Control(self.shared.clone())
    }

    /// Leaves the election: stops, releases mastership (the node goes with
    /// the session), closes every session. Blocks until done: it joins the
    /// election thread, and a master waits for its guards (at most until
    /// its lease ends), then, its node released, up to 50 ms more for a
    /// successor's claim to be committed before it closes its session
    /// (its close would otherwise be a write in that claim's way). In async code use
    /// [`shutdown_async`](Elector::shutdown_async); dropping the elector
    /// does the same as this, blocking too.
    pub fn shutdown(mut self) {
        self.shutdown_inner();
    }

    /// [`shutdown`](Elector::shutdown) on a thread of its own: a future
    /// that resolves once it is done, so that no executor thread blocks.
    /// Any executor.
    pub fn shutdown_async(self) -> crate::Pending<()> {
        let (done, finished) = crate::pending::<()>();
        let spawned = std::thread::Builder::new()
            .name("zkha-shutdown".into())
            .spawn(move || {
                self.shutdown();
                done(Ok(()));
            });
        match spawned {
            Ok(_) => finished,
            // No thread: done here, blocking (the elector went with the
            // closure, which shut it down as it was dropped).
            Err(e) => {
                log::warn!(target: "zkha", "cannot start a shutdown thread ({e}): shut down on the caller's thread");
                crate::Pending::ready(Ok(()))
            }
        }
    }

    fn shutdown_inner(&mut self) {
        self.shared.request_stop();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.shared.close_all();
    }
}

impl Drop for Elector {
    fn drop(&mut self) {
        self.shutdown_inner();
    }
}

fn wait_for_mastership(
    shared: &Arc<ElectionState>,
    timeout: Duration,
) -> Result<Option<Mastership>> {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        if let Some(guard) = mastership::current(shared) {
            return Ok(Some(guard));
        }
        if shared.changes.ended() || shared.stopping() {
            return Err(Error::Stopped);
        }
        if let Some(e) = shared.blocking_error() {
            return Err(e);
        }
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            return Ok(None);
        }
        shared.wait_until_master(left.min(Duration::from_millis(50)));
    }
}

fn resign(shared: &ElectionState) -> Result<()> {
    match shared.config.profile {
        Profile::Seed => seed::resign(shared),
        Profile::Safe => {
            shared.request_resign();
            Ok(())
        }
    }
}

/// Stops an elector, or makes it resign, from another thread. Holding one
/// does not keep the elector alive: its owner still shuts it down.
#[derive(Clone)]
pub struct Control(Arc<ElectionState>);

impl Control {
    /// Same as [`Elector::stop`].
    pub fn stop(&self) {
        self.0.request_stop();
    }

    /// Same as [`Elector::resign`].
    pub fn resign(&self) -> Result<()> {
        resign(&self.0)
    }

    /// Same as [`Elector::until_master`].
    pub fn until_master(&self) -> UntilMaster {
        UntilMaster {
            shared: self.0.clone(),
            waker: None,
        }
    }

    /// Same as [`Elector::wait_for_mastership`].
    pub fn wait_for_mastership(&self, timeout: Duration) -> Result<Option<Mastership>> {
        wait_for_mastership(&self.0, timeout)
    }

    /// Same as [`Elector::mastership`].
    pub fn mastership(&self) -> Option<Mastership> {
        mastership::current(&self.0)
    }

    /// Same as [`Elector::state`].
    pub fn state(&self) -> ElectorState {
        ElectorState::of(&self.0)
    }

    /// Same as [`Elector::watch_state`].
    pub fn watch_state(&self) -> StateWatch {
        StateWatch::new(self.0.clone())
    }

    /// Same as [`Elector::changes`].
    pub fn changes(&self) -> MasterChanges {
        self.0.subscribe()
    }

    /// Same as [`Elector::token`].
    pub fn token(&self) -> Option<FencingToken> {
        self.0.token()
    }

    /// Same as [`Elector::zookeeper`].
    pub fn zookeeper(&self) -> Option<Arc<crate::ZooKeeper>> {
        self.0.zk()
    }

    /// Same as [`Elector::client_id`].
    #[doc(hidden)]
    pub fn client_id(&self) -> Option<crate::types::ClientId> {
        self.0.zk().and_then(|zk| zk.client_id().ok())
    }

    /// Same as [`Elector::set_ready`].
    pub fn set_ready(&self, ready: bool) {
        self.0.set_ready(ready);
    }
}
