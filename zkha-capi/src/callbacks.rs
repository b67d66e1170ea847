//! The caller's became/lost-master callbacks as a [`Candidate`].

use std::cell::Cell;
use std::os::raw::{c_int, c_void};
use zkha::elector::{Candidate, FencingToken, LostReason};

/// Mastership ended: `zkha_elector_resign` was called.
pub const ZKHA_LOST_RESIGNED: c_int = 1;
/// Cut off from ZooKeeper long enough that the session might expire:
/// stepped down on zkha's own timer.
pub const ZKHA_LOST_DISCONNECTED: c_int = 2;
/// The lease ran out (no renewal in time).
pub const ZKHA_LOST_LEASE_EXPIRED: c_int = 3;
/// The session expired.
pub const ZKHA_LOST_SESSION_EXPIRED: c_int = 4;
/// The master node was deleted or taken by another session.
pub const ZKHA_LOST_NODE_LOST: c_int = 5;
/// The elector is stopping (`zkha_elector_stop`, `zkha_elector_free`).
pub const ZKHA_LOST_SHUTDOWN: c_int = 6;
/// A reason this version of the header does not name.
pub const ZKHA_LOST_OTHER: c_int = 99;

/// Called when this candidate becomes master, with its fencing token (the
/// master node's czxid; 0 in the seed profile, which has none) and the
/// `user_data` given to the start function.
// SAFETY: a type, not a call: `unsafe` because C code is behind the
// pointer; each call is justified where it is made (`Callbacks`, below:
// the caller's pointer and user_data, as the header requires).
pub type zkha_became_master_fn = Option<unsafe extern "C" fn(user_data: *mut c_void, token: i64)>;

/// Called when this candidate stops being master, with a `ZKHA_LOST_*`
/// reason and the `user_data` given to the start function.
// SAFETY: as for `zkha_became_master_fn`: the calls are justified below.
pub type zkha_lost_master_fn = Option<unsafe extern "C" fn(user_data: *mut c_void, reason: c_int)>;

/// The caller's `user_data`, handed back to its callbacks.
#[derive(Clone, Copy)]
struct UserData(*mut c_void);
// SAFETY: the header requires `user_data` to be usable from zkha's
// election thread; zkha never dereferences it, only hands it back.
unsafe impl Send for UserData {}
// SAFETY: as above.
unsafe impl Sync for UserData {}

thread_local! {
    /// The elector whose callback runs on this thread now (its id), so
    /// that `zkha_elector_free` from inside it is refused, not a deadlock.
    static IN_CALLBACK: Cell<usize> = const { Cell::new(0) };
}

/// Whether this thread is inside a callback of the elector `id`.
pub(crate) fn in_callback_of(id: usize) -> bool {
    IN_CALLBACK.with(|c| c.get() == id)
}

/// Calls the C callbacks; `id` identifies its elector.
pub(crate) struct CCandidate {
    pub(crate) id: usize,
    became: zkha_became_master_fn,
    lost: zkha_lost_master_fn,
    user_data: UserData,
}

impl CCandidate {
    pub(crate) fn new(
        id: usize,
        became: zkha_became_master_fn,
        lost: zkha_lost_master_fn,
        user_data: *mut c_void,
    ) -> CCandidate {
        CCandidate {
            id,
            became,
            lost,
            user_data: UserData(user_data),
        }
    }

    fn in_callback(&self, call: impl FnOnce()) {
        let before = IN_CALLBACK.with(|c| c.replace(self.id));
        call();
        IN_CALLBACK.with(|c| c.set(before));
    }
}

/// The `ZKHA_LOST_*` code of a reason.
pub(crate) fn lost_code(reason: &LostReason) -> c_int {
    match reason {
        LostReason::Resigned => ZKHA_LOST_RESIGNED,
        LostReason::Disconnected => ZKHA_LOST_DISCONNECTED,
        LostReason::LeaseExpired => ZKHA_LOST_LEASE_EXPIRED,
        LostReason::SessionExpired => ZKHA_LOST_SESSION_EXPIRED,
        LostReason::NodeLost => ZKHA_LOST_NODE_LOST,
        LostReason::Shutdown => ZKHA_LOST_SHUTDOWN,
        _ => ZKHA_LOST_OTHER,
    }
}

impl Candidate for CCandidate {
    fn on_became_master(&self, token: FencingToken) {
        if let Some(f) = self.became {
            // SAFETY: the caller gave a valid function pointer and
            // user_data to the start function, and keeps them valid until
            // zkha_elector_free returns (the header's rule); C does not
            // unwind (a C++ callback must not throw: the header says so).
            self.in_callback(|| unsafe { f(self.user_data.0, token.value()) });
        }
    }

    fn on_lost_master(&self, reason: LostReason) {
        if let Some(f) = self.lost {
            let code = lost_code(&reason);
            // SAFETY: as in on_became_master.
            self.in_callback(|| unsafe { f(self.user_data.0, code) });
        }
    }
}
