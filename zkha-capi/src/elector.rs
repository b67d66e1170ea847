//! `zkha_elector`: one candidate, on its own session or on the caller's
//! `zhandle_t*`.

use crate::callbacks::{in_callback_of, zkha_became_master_fn, zkha_lost_master_fn, CCandidate};
use crate::config::{config_ref, zkha_config};
use crate::error::{
    guard, out_ptr, Failure, ZKHA_ERR_INIT, ZKHA_ERR_IN_CALLBACK, ZKHA_ERR_NOT_MASTER,
    ZKHA_ERR_NULL, ZKHA_OK,
};
use std::os::raw::{c_int, c_void};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;
use zkha::elector::{Candidate, Elector, ElectorConfig, Profile};
use zkha::ZooKeeper;

/// The C client's handle, `struct _zhandle` (opaque here): `zookeeper.h`'s
/// `zhandle_t` is `typedef struct _zhandle zhandle_t`, so a `zhandle_t *`
/// is passed as is.
pub struct _zhandle {
    _opaque: [u8; 0],
}

/// An elector (opaque). Made by `zkha_elector_start` or
/// `zkha_elector_start_on_handle`, freed by `zkha_elector_free`.
pub struct zkha_elector {
    /// Shared with the seed profile's run thread.
    elector: Arc<Elector>,
    /// The seed profile's run loop (its election), on a thread of ours;
    /// None in the safe profile (its election thread is zkha's own).
    run: Mutex<Option<JoinHandle<()>>>,
    /// The callbacks' elector id (`callbacks::in_callback_of`).
    id: usize,
}

static NEXT_ID: AtomicUsize = AtomicUsize::new(1);

/// Borrows an elector.
///
/// # Safety
/// `elector` is NULL or live (not freed).
unsafe fn elector_ref<'a>(elector: *const zkha_elector) -> Result<&'a zkha_elector, Failure> {
    // SAFETY: the caller's contract: NULL or live.
    unsafe { elector.as_ref() }.ok_or_else(|| Failure::new(ZKHA_ERR_NULL, "elector is NULL"))
}

/// Starts an elector with `start`, wraps it and hands it to `*out`.
fn start(
    config: &ElectorConfig,
    became: zkha_became_master_fn,
    lost: zkha_lost_master_fn,
    user_data: *mut c_void,
    out: *mut *mut zkha_elector,
    start: impl FnOnce(ElectorConfig, Arc<dyn Candidate>) -> zkha::Result<Elector>,
) -> Result<c_int, Failure> {
    let out = out_ptr(out, "out")?;
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    let candidate = Arc::new(CCandidate::new(id, became, lost, user_data));
    let elector = Arc::new(start(config.clone(), candidate)?);
    // The seed profile elects from its run loop (S4), which runs on a
    // thread of ours: its election thread.
    let run = if config.profile == Profile::Seed {
        let e = elector.clone();
        let thread = std::thread::Builder::new()
            .name("zkha-seed".into())
            .spawn(move || e.run())
            .map_err(|e| {
                Failure::new(
                    ZKHA_ERR_INIT,
                    format!("cannot start the election thread: {e}"),
                )
            })?;
        Some(thread)
    } else {
        None
    };
    let handle = Box::new(zkha_elector {
        elector,
        run: Mutex::new(run),
        id,
    });
    // SAFETY: `out` is not NULL (checked) and writable (the caller's
    // contract).
    unsafe { *out = Box::into_raw(handle) };
    Ok(ZKHA_OK)
}

/// Starts an elector on sessions of its own: the safe profile opens its
/// session and elects on zkha's election thread at once (and replaces an
/// expired session itself); the seed profile does as the design does, on a
/// thread of zkha's. Returns once started, not once connected or master
/// (see `zkha_elector_wait_master`). The config is copied: free it when
/// you like. `became` and `lost` may be NULL; `user_data` is handed back to
/// them as is and must stay valid until `zkha_elector_free` returns. On
/// success `*out` is the elector, which the caller frees with
/// `zkha_elector_free`.
///
/// Errors: `ZKHA_ERR_NULL`, the configuration's errors, `ZKHA_ERR_INIT`.
///
/// # Safety
/// `config` is NULL or live; `out` is NULL or writable; the callbacks and
/// `user_data` as above.
#[no_mangle]
pub unsafe extern "C" fn zkha_elector_start(
    config: *const zkha_config,
    became: zkha_became_master_fn,
    lost: zkha_lost_master_fn,
    user_data: *mut c_void,
    out: *mut *mut zkha_elector,
) -> c_int {
    guard("zkha_elector_start", || {
        // SAFETY: the caller's contract: NULL or live.
        let config = unsafe { config_ref(config) }?;
        start(&config.inner, became, lost, user_data, out, Elector::start)
    })
}

/// Starts a safe-profile elector on the caller's own ZooKeeper handle
/// (from `zookeeper_init*` of the same C client: see the header's
/// preamble), so the program and the elector share one session:
///
/// - the handle stays the caller's: its watcher keeps receiving every
///   event, and zkha never closes it. Free the elector (which releases the
///   master node if held, and its registry entry) BEFORE
///   `zookeeper_close(zh)`;
/// - the elector follows the session's state itself; the config's hosts
///   are only checked for form (the handle's own servers are used), and
///   its TLS/SASL settings are not used (the handle's are); digest auth,
///   if set, is added to the handle once connected;
/// - after the session expires (or its authentication fails) the elector
///   reports the loss (`lost` with `ZKHA_LOST_SESSION_EXPIRED` if master)
///   and stops: `zkha_elector_wait_master` then fails with
///   `ZKHA_ERR_STOPPED`. Re-initialising is the caller's: free the
///   elector, close the handle, make a new handle and a new elector.
///
/// Errors: `ZKHA_ERR_NULL` (`zh` too), the configuration's errors,
/// `ZKHA_ERR_INVALID` (the seed profile, which re-inits its own handle),
/// `ZKHA_ERR_INIT`.
///
/// # Safety
/// `zh` is NULL or a live handle that stays open until
/// `zkha_elector_free` returns; the rest as for `zkha_elector_start`.
#[no_mangle]
pub unsafe extern "C" fn zkha_elector_start_on_handle(
    zh: *mut _zhandle,
    config: *const zkha_config,
    became: zkha_became_master_fn,
    lost: zkha_lost_master_fn,
    user_data: *mut c_void,
    out: *mut *mut zkha_elector,
) -> c_int {
    guard("zkha_elector_start_on_handle", || {
        if zh.is_null() {
            return Err(Failure::new(ZKHA_ERR_NULL, "zh is NULL"));
        }
        // SAFETY: the caller's contract: NULL or live.
        let config = unsafe { config_ref(config) }?;
        // SAFETY: `zh` is a live handle that the caller keeps open until
        // the elector is freed (its contract above); borrowed, never
        // closed by zkha.
        let zk = Arc::new(unsafe { ZooKeeper::borrow_raw(zh.cast()) });
        start(
            &config.inner,
            became,
            lost,
            user_data,
            out,
            |config, candidate| Elector::start_with_handle(zk, config, candidate),
        )
    })
}

/// Whether this candidate is master now: 1 yes, 0 no (in the safe
/// profile, only while its lease holds), or a negative error
/// (`ZKHA_ERR_NULL`). Never blocks.
///
/// # Safety
/// `elector` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn zkha_elector_is_master(elector: *const zkha_elector) -> c_int {
    guard("zkha_elector_is_master", || {
        // SAFETY: the caller's contract: NULL or live.
        let e = unsafe { elector_ref(elector) }?;
        Ok(c_int::from(e.elector.is_master()))
    })
}

/// The fencing token of the current term into `*token` (the master node's
/// czxid: it grows with every new master, so a resource can refuse a
/// deposed master's writes; 0 in the seed profile). Errors:
/// `ZKHA_ERR_NULL`, `ZKHA_ERR_NOT_MASTER`. Never blocks.
///
/// # Safety
/// `elector` is NULL or live; `token` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn zkha_elector_token(
    elector: *const zkha_elector,
    token: *mut i64,
) -> c_int {
    guard("zkha_elector_token", || {
        // SAFETY: the caller's contract: NULL or live.
        let e = unsafe { elector_ref(elector) }?;
        let out = out_ptr(token, "token")?;
        let value = e
            .elector
            .token()
            .ok_or_else(|| Failure::new(ZKHA_ERR_NOT_MASTER, "not master"))?;
        // SAFETY: not NULL (checked), writable by the caller's contract.
        unsafe { *out = value.value() };
        Ok(ZKHA_OK)
    })
}

/// Safe profile: how long the current lease still holds, in ms, into
/// `*ms` (mastership is certain only until then without a renewal; zkha
/// steps down before it runs out). The seed profile has no lease: -1
/// while master. Errors: `ZKHA_ERR_NULL`, `ZKHA_ERR_NOT_MASTER`. Never
/// blocks.
///
/// # Safety
/// `elector` is NULL or live; `ms` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn zkha_elector_lease_remaining_ms(
    elector: *const zkha_elector,
    ms: *mut i64,
) -> c_int {
    guard("zkha_elector_lease_remaining_ms", || {
        // SAFETY: the caller's contract: NULL or live.
        let e = unsafe { elector_ref(elector) }?;
        let out = out_ptr(ms, "ms")?;
        let state = e.elector.state();
        if state.master.is_none() {
            return Err(Failure::new(ZKHA_ERR_NOT_MASTER, "not master"));
        }
        let left = state
            .lease_remaining
            .map_or(-1, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        // SAFETY: not NULL (checked), writable by the caller's contract.
        unsafe { *out = left };
        Ok(ZKHA_OK)
    })
}

/// This candidate's current session id into `*session_id` (0 before its
/// first connection). On the caller's handle, the handle's session.
/// Errors: `ZKHA_ERR_NULL`.
///
/// # Safety
/// `elector` is NULL or live; `session_id` is NULL or writable.
#[no_mangle]
pub unsafe extern "C" fn zkha_elector_session_id(
    elector: *const zkha_elector,
    session_id: *mut i64,
) -> c_int {
    guard("zkha_elector_session_id", || {
        // SAFETY: the caller's contract: NULL or live.
        let e = unsafe { elector_ref(elector) }?;
        let out = out_ptr(session_id, "session_id")?;
        // SAFETY: not NULL (checked), writable by the caller's contract.
        unsafe { *out = e.elector.session_id() };
        Ok(ZKHA_OK)
    })
}

/// Waits up to `timeout_ms` until master (with a valid lease): 1 master,
/// 0 not yet, or a negative error: `ZKHA_ERR_STOPPED` (stopped, or its
/// candidacy ended: the message says why), `ZKHA_ERR_TIMEOUT` (the
/// ensemble stayed unreachable for 30 s), `ZKHA_ERR_TLS`,
/// `ZKHA_ERR_SASL`, or the C client's code when ZooKeeper refuses the
/// election's operations (e.g. `ZNOAUTH`: the node's ACL). The seed
/// profile reports no such errors, as the design does not (it keeps
/// polling: 0). Blocks the calling thread; do not call it from a callback
/// (refused: it would wait for its own thread).
///
/// # Safety
/// `elector` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn zkha_elector_wait_master(
    elector: *const zkha_elector,
    timeout_ms: u32,
) -> c_int {
    guard("zkha_elector_wait_master", || {
        // SAFETY: the caller's contract: NULL or live.
        let e = unsafe { elector_ref(elector) }?;
        if in_callback_of(e.id) {
            return Err(Failure::new(
                ZKHA_ERR_IN_CALLBACK,
                "called from this elector's own callback, whose thread it would wait for",
            ));
        }
        let timeout = Duration::from_millis(u64::from(timeout_ms));
        match e.elector.wait_for_mastership(timeout) {
            Ok(Some(_term)) => Ok(1),
            Ok(None) => Ok(0),
            Err(err) => {
                let mut failure = Failure::from(err);
                if let Some(why) = e.elector.failure() {
                    failure.message = format!("{}: {why}", failure.message);
                }
                Err(failure)
            }
        }
    })
}

/// Gives up mastership gracefully: the master node is deleted so that a
/// standby takes over, and this candidate stays out of the race for the
/// resign backoff (`zkha_config_set_resign_backoff_ms`). Not master:
/// nothing happens. Returns at once (`lost` follows with
/// `ZKHA_LOST_RESIGNED`). May be called from a callback. Errors:
/// `ZKHA_ERR_NULL`, the C client's code (seed profile).
///
/// # Safety
/// `elector` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn zkha_elector_resign(elector: *const zkha_elector) -> c_int {
    guard("zkha_elector_resign", || {
        // SAFETY: the caller's contract: NULL or live.
        let e = unsafe { elector_ref(elector) }?;
        e.elector.resign()?;
        Ok(ZKHA_OK)
    })
}

/// Asks the elector to stop (returns at once): it leaves the election,
/// stepping down if master (`lost` with `ZKHA_LOST_SHUTDOWN`). It still
/// has to be freed. May be called from a callback. Errors: `ZKHA_ERR_NULL`.
///
/// # Safety
/// `elector` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn zkha_elector_stop(elector: *const zkha_elector) -> c_int {
    guard("zkha_elector_stop", || {
        // SAFETY: the caller's contract: NULL or live.
        let e = unsafe { elector_ref(elector) }?;
        e.elector.stop();
        Ok(ZKHA_OK)
    })
}

/// Stops the elector (if not yet), waits for its election thread, releases
/// the master node if held, closes its own sessions (never the caller's
/// handle) and frees it. Blocks until done; no callback of it runs after
/// it returns (`lost` with `ZKHA_LOST_SHUTDOWN` may run before, possibly
/// on this thread). NULL is ignored (`ZKHA_OK`). Refused with
/// `ZKHA_ERR_IN_CALLBACK` (nothing freed) when called from this elector's
/// own callback.
///
/// # Safety
/// `elector` is NULL or live, freed once, with no other call on it in
/// progress or to come.
#[no_mangle]
pub unsafe extern "C" fn zkha_elector_free(elector: *mut zkha_elector) -> c_int {
    guard("zkha_elector_free", || {
        if elector.is_null() {
            return Ok(ZKHA_OK);
        }
        {
            // SAFETY: live (the caller's contract).
            let e = unsafe { &*elector };
            if in_callback_of(e.id) {
                return Err(Failure::new(
                    ZKHA_ERR_IN_CALLBACK,
                    "called from this elector's own callback: free it from another thread \
                     (zkha_elector_stop may be called here)",
                ));
            }
        }
        // SAFETY: made by Box::into_raw in `start`, freed once (the
        // caller's contract).
        let e = unsafe { Box::from_raw(elector) };
        e.elector.stop();
        let run = e.run.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(thread) = run {
            let _ = thread.join();
        }
        // The last reference (the run thread's went with it): shuts the
        // elector down, blocking until done.
        drop(e);
        Ok(ZKHA_OK)
    })
}
