//! What a candidate sees of the election: the [`Candidate`] hooks (or
//! [`Hooks`], the same as closures), the [`FencingToken`] it works under,
//! and the [`LostReason`] it stops for. A leaf: it uses no other elector
//! module (only the crate's clock, for the lease's end).

use crate::clock::BootInstant;
use crate::error::Error;

/// Proof of mastership handed to the work (F5): the master node's creation
/// zxid, which grows with every new master, so a resource can refuse a
/// stale master's writes. The seed design has none (0).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct FencingToken {
    /// The node's czxid.
    pub czxid: i64,
    /// The node's sequence number, in sequence mode.
    pub sequence: Option<i64>,
}

impl FencingToken {
    /// The token as one number (the czxid).
    pub fn value(&self) -> i64 {
        self.czxid
    }
}

/// Writes the token as one number (the czxid, in decimal), as
/// [`FencingToken::value`] gives it: what `ZKHA_TOKEN` holds.
impl std::fmt::Display for FencingToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.czxid)
    }
}

/// Why mastership ended.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum LostReason {
    /// `resign()` was called.
    Resigned,
    /// Cut off from ZooKeeper long enough that the session might expire
    /// soon: stepped down on our own timer after the C client reported the
    /// disconnection (F1).
    Disconnected,
    /// The lease ran out: no renewal proved in time that the leader still
    /// counts the session (a follower cut off from its leader, added
    /// latency, or this process paused). See [`lease`](super::lease).
    LeaseExpired,
    /// The session expired.
    SessionExpired,
    /// The master node was deleted or taken by another session.
    NodeLost,
    /// The elector is shutting down.
    Shutdown,
}

impl LostReason {
    /// The reason as one stable lowercase word: `resigned`,
    /// `disconnected`, `lease_expired`, `expired` (the session),
    /// `node_lost`, `shutdown`. The trace's `lost_master` line and
    /// `zkha run`'s `zkha_lost_master_total{reason}` metric use these
    /// words, as does [`Display`](std::fmt::Display).
    pub fn as_str(&self) -> &'static str {
        match self {
            LostReason::Resigned => "resigned",
            LostReason::Disconnected => "disconnected",
            LostReason::LeaseExpired => "lease_expired",
            LostReason::SessionExpired => "expired",
            LostReason::NodeLost => "node_lost",
            LostReason::Shutdown => "shutdown",
        }
    }
}

/// Writes [`LostReason::as_str`]'s word (`lease_expired`, `node_lost`, …).
impl std::fmt::Display for LostReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The hooks of the C++ design, plus mastership changes. All default to
/// nothing; `do_work` is called by the run loop while master.
pub trait Candidate: Send + Sync + 'static {
    /// SESSION/CONNECTED (S2), with the event's path (empty for session events).
    fn on_zookeeper_connected(&self, _path: &str) {}
    /// SESSION/EXPIRED (S2, S3).
    fn on_zookeeper_expired(&self) {}
    /// This candidate became master.
    fn on_became_master(&self, _token: FencingToken) {}
    /// This candidate stopped being master.
    fn on_lost_master(&self, _reason: LostReason) {}
    /// One unit of work, every poll interval while master (S4).
    fn do_work(&self, _token: FencingToken) {}
    /// A real error (not "someone else is master"), reported (F7).
    fn on_error(&self, _error: &Error) {}
    /// Safe profile: the lease now runs until `until`, an instant on
    /// CLOCK_BOOTTIME (see [`lease`](super::lease)).
    /// Called on the C client's completion thread at every renewal, also
    /// just before `on_became_master`: it must not block (`zkha run` writes
    /// the deadline, [`BootInstant::as_nanos`], to its watchdog's pipe).
    fn on_lease_extended(&self, _until: BootInstant) {}
    /// Safe profile, while master: a maintenance pause (`zkha pause`) began
    /// (`pause` is its end: mastership, and the lease, now last until then
    /// even if this process is cut off from ZooKeeper) or ended (`None`:
    /// resumed, or its deadline passed). `lease` is when the lease ends
    /// now: later than before when a pause begins, and possibly earlier
    /// when it ends (`zkha run` hands it to its watchdog either way).
    /// Called on the election thread: must not block. By default, a pause
    /// that begins is told as a lease extension.
    fn on_pause(&self, pause: Option<BootInstant>, lease: BootInstant) {
        if pause.is_some() {
            self.on_lease_extended(lease);
        }
    }
    /// Safe profile, while master: an operator asked this master to hand
    /// over (`zkha switchover` to another candidate, or `zkha resign`);
    /// `why` says which, and who asked. Return true (the default) to
    /// resign at once, as [`Elector::resign`](super::Elector::resign)
    /// does; false to resign yourself once your work has stopped (the
    /// lease is renewed meanwhile, so a long stop stays covered). Called
    /// on the election thread: must not block.
    fn on_handover_requested(&self, _why: &str) -> bool {
        true
    }
}

/// A candidate with no hooks.
impl Candidate for () {}

type Hook<A> = Option<Box<dyn Fn(A) + Send + Sync>>;
type ErrorHook = Option<Box<dyn Fn(&Error) + Send + Sync>>;

/// The [`Candidate`] hooks as closures, for callers who prefer them to a
/// trait implementation: `Hooks::new().do_work(|token| …).on_lost_master(|why| …)`.
#[derive(Default)]
pub struct Hooks {
    connected: Hook<&'static str>,
    expired: Hook<()>,
    became: Hook<FencingToken>,
    lost: Hook<LostReason>,
    work: Hook<FencingToken>,
    error: ErrorHook,
    lease: Hook<BootInstant>,
}

impl Hooks {
    /// No hooks yet.
    pub fn new() -> Hooks {
        Hooks::default()
    }

    /// SESSION/CONNECTED (S2).
    pub fn on_zookeeper_connected(mut self, f: impl Fn() + Send + Sync + 'static) -> Self {
        self.connected = Some(Box::new(move |_| f()));
        self
    }

    /// SESSION/EXPIRED (S2, S3).
    pub fn on_zookeeper_expired(mut self, f: impl Fn() + Send + Sync + 'static) -> Self {
        self.expired = Some(Box::new(move |_| f()));
        self
    }

    /// Became master.
    pub fn on_became_master(mut self, f: impl Fn(FencingToken) + Send + Sync + 'static) -> Self {
        self.became = Some(Box::new(f));
        self
    }

    /// Stopped being master.
    pub fn on_lost_master(mut self, f: impl Fn(LostReason) + Send + Sync + 'static) -> Self {
        self.lost = Some(Box::new(f));
        self
    }

    /// One unit of work while master (S4).
    pub fn do_work(mut self, f: impl Fn(FencingToken) + Send + Sync + 'static) -> Self {
        self.work = Some(Box::new(f));
        self
    }

    /// A real error (F7).
    pub fn on_error(mut self, f: impl Fn(&Error) + Send + Sync + 'static) -> Self {
        self.error = Some(Box::new(f));
        self
    }

    /// The lease was extended (on the completion thread: must not block).
    pub fn on_lease_extended(mut self, f: impl Fn(BootInstant) + Send + Sync + 'static) -> Self {
        self.lease = Some(Box::new(f));
        self
    }
}

impl Candidate for Hooks {
    fn on_zookeeper_connected(&self, _path: &str) {
        if let Some(f) = &self.connected {
            f("");
        }
    }
    fn on_zookeeper_expired(&self) {
        if let Some(f) = &self.expired {
            f(());
        }
    }
    fn on_became_master(&self, token: FencingToken) {
        if let Some(f) = &self.became {
            f(token);
        }
    }
    fn on_lost_master(&self, reason: LostReason) {
        if let Some(f) = &self.lost {
            f(reason);
        }
    }
    fn do_work(&self, token: FencingToken) {
        if let Some(f) = &self.work {
            f(token);
        }
    }
    fn on_error(&self, error: &Error) {
        if let Some(f) = &self.error {
            f(error);
        }
    }
    fn on_lease_extended(&self, until: BootInstant) {
        if let Some(f) = &self.lease {
            f(until);
        }
    }
}
