//! Asynchronous calls (`zoo_acreate`, `zoo_aget`, …): the request is queued
//! at once and a completion closure runs on the C completion thread, so many
//! requests can be in flight on one handle. [`pending`] turns a completion
//! into a [`Pending`] value to wait for, or to `.await` (see
//! [`AsyncZooKeeper`](crate::AsyncZooKeeper) for the future-returning view).

use super::callback::{self, complete, take_completion};
use super::oneshot;
use super::raw::{data_from_c, string_from_c, strings_from_c, CAcl};
use crate::error::{check, Error, Result};
use crate::types::{Acl, CreateMode, Stat};
use crate::validate::{c_path, check_data};
use crate::ZooKeeper;
use std::future::Future;
use std::os::raw::{c_char, c_int, c_void};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

/// The result of an async call: wait for it ([`Pending::wait`],
/// [`Pending::wait_timeout`]), look at it ([`Pending::try_take`]), or
/// `.await` it: `Pending` is a [`Future`] woken by the C completion itself,
/// so it works under any executor (tokio's multi-thread runtime, a plain
/// `block_on`) and needs none. `Send + 'static` when `T` is `Send`.
///
/// The call was queued before this value existed: dropping it does not
/// cancel the call (a dropped create may still create its node); the
/// completion still arrives later and frees its context. When the handle
/// closes first, the result is [`ErrorCode::Closing`](crate::ErrorCode::Closing)
/// (the call may or may not have been applied).
#[derive(Debug)]
#[must_use = "the call is queued either way; its result is lost unless awaited or waited for"]
pub struct Pending<T> {
    rx: oneshot::Receiver<T>,
}

/// A completion closure and the [`Pending`] it fills:
/// `let (done, result) = pending(); zk.aget("/x", done)?; result.wait()`.
pub fn pending<T: Send + 'static>() -> (impl FnOnce(Result<T>) + Send + 'static, Pending<T>) {
    let (tx, rx) = oneshot::channel();
    (move |r| tx.send(r), Pending { rx })
}

impl<T> Pending<T> {
    /// A result known before any call was queued (an invalid argument, a
    /// closed handle): the future is ready at once.
    pub(crate) fn ready(value: Result<T>) -> Pending<T> {
        Pending {
            rx: oneshot::ready(value),
        }
    }

    /// The `Pending` of a receiver made elsewhere (a watch's).
    pub(crate) fn from_receiver(rx: oneshot::Receiver<T>) -> Pending<T> {
        Pending { rx }
    }

    /// A sender and the `Pending` it fills, for results made in Rust (not
    /// by a C completion).
    pub(crate) fn channel() -> (oneshot::Sender<T>, Pending<T>) {
        let (tx, rx) = oneshot::channel();
        (tx, Pending { rx })
    }

    /// Blocks until the completion runs.
    ///
    /// From a callback (the C completion thread, which alone can run the
    /// completion waited for) it would wait for itself forever: refused with
    /// [`Error::CalledFromCallback`] without blocking (the call itself stays
    /// in flight; its result is lost with this value). In a callback, use
    /// [`Pending::try_take`] or chain work in the completion closure. Do not
    /// call it from async code either (it blocks the executor's thread):
    /// `.await` instead.
    pub fn wait(self) -> Result<T> {
        refuse_in_callback("Pending::wait")?;
        self.rx.wait_until(None).unwrap_or(Err(Error::Closed))
    }

    /// Like `wait`, giving up after `timeout` (the call stays in flight).
    /// From a callback: [`Error::CalledFromCallback`] at once, like `wait`
    /// (the result stays available to `try_take`).
    pub fn wait_timeout(&self, timeout: Duration) -> Result<T> {
        refuse_in_callback("Pending::wait_timeout")?;
        let deadline = Instant::now().checked_add(timeout);
        self.rx
            .wait_until(deadline)
            .unwrap_or(Err(Error::Timeout("waiting for an async completion")))
    }

    /// The result if the completion already ran (once: later calls give
    /// [`Error::Closed`]).
    pub fn try_take(&self) -> Option<Result<T>> {
        self.rx.try_take()
    }

    /// Whether the completion ran, askable from another thread (the C
    /// client's completion thread) while this `Pending` stays with its
    /// owner.
    pub(crate) fn done_probe(&self) -> impl Fn() -> bool + Send + Sync + 'static
    where
        T: Send + 'static,
    {
        self.rx.done_probe()
    }
}

/// Ready once the completion ran, with its result. Polling again after
/// `Ready` gives [`Error::Closed`] (never a panic).
impl<T> Future for Pending<T> {
    type Output = Result<T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<T>> {
        self.rx.poll(cx)
    }
}

/// [`Error::CalledFromCallback`] on a thread running a zkha callback: a wait
/// there would block the only thread able to end it.
pub(crate) fn refuse_in_callback(what: &'static str) -> Result<()> {
    if callback::in_callback() {
        return Err(Error::CalledFromCallback(what));
    }
    Ok(())
}

fn status(rc: c_int) -> Result<()> {
    check(rc)
}

// Completion trampolines: one per C completion signature.

pub(crate) extern "C" fn void_done(rc: c_int, data: *const c_void) {
    // SAFETY: data is a CompletionContext<()> from new_completion, called once.
    if let Some(ctx) = unsafe { take_completion::<()>(data) } {
        complete(ctx, status(rc));
    }
}

pub(crate) extern "C" fn string_done(rc: c_int, value: *const c_char, data: *const c_void) {
    // SAFETY: data is a CompletionContext<String>, called once.
    if let Some(ctx) = unsafe { take_completion::<String>(data) } {
        complete(ctx, status(rc).map(|_| string_from_c(value)));
    }
}

pub(crate) extern "C" fn stat_done(rc: c_int, stat: *const zk_sys::Stat, data: *const c_void) {
    // SAFETY: data is a CompletionContext<Stat>, called once; stat is valid
    // (or NULL) during the call.
    if let Some(ctx) = unsafe { take_completion::<Stat>(data) } {
        let r = status(rc).map(|_| {
            // SAFETY: C passes a valid Stat (or NULL) for this call.
            unsafe { stat.as_ref() }
                .copied()
                .map(Stat::from)
                .unwrap_or_default()
        });
        complete(ctx, r);
    }
}

pub(crate) extern "C" fn exists_done(rc: c_int, stat: *const zk_sys::Stat, data: *const c_void) {
    // SAFETY: data is a CompletionContext<Option<Stat>>, called once.
    if let Some(ctx) = unsafe { take_completion::<Option<Stat>>(data) } {
        let r = match rc {
            zk_sys::ZNONODE => Ok(None),
            // SAFETY: stat is valid (or NULL) during the call.
            _ => status(rc).map(|_| unsafe { stat.as_ref() }.copied().map(Stat::from)),
        };
        complete(ctx, r);
    }
}

pub(crate) extern "C" fn data_done(
    rc: c_int,
    value: *const c_char,
    len: c_int,
    stat: *const zk_sys::Stat,
    data: *const c_void,
) {
    // SAFETY: data is a CompletionContext<(Vec<u8>, Stat)>, called once;
    // value (len bytes) and stat are valid during the call.
    if let Some(ctx) = unsafe { take_completion::<(Vec<u8>, Stat)>(data) } {
        let r = status(rc).map(|_| {
            // SAFETY: C passes a valid Stat (or NULL) for this call.
            let stat = unsafe { stat.as_ref() }
                .copied()
                .map(Stat::from)
                .unwrap_or_default();
            (data_from_c(value, len), stat)
        });
        complete(ctx, r);
    }
}

pub(crate) extern "C" fn strings_done(
    rc: c_int,
    strings: *const zk_sys::String_vector,
    data: *const c_void,
) {
    // SAFETY: data is a CompletionContext<Vec<String>>, called once; the
    // vector is valid (C frees it) during the call.
    if let Some(ctx) = unsafe { take_completion::<Vec<String>>(data) } {
        let r = status(rc).map(|_| {
            // SAFETY: C passes a valid vector (or NULL) for this call.
            unsafe { strings.as_ref() }
                .map(strings_from_c)
                .unwrap_or_default()
        });
        complete(ctx, r);
    }
}

impl ZooKeeper {
    /// Queues a call: `f` gets the live handle and the context pointer; on
    /// a failure to queue, the context is freed and the error returned.
    pub(crate) fn submit<T: 'static>(
        &self,
        done: Box<dyn FnOnce(Result<T>) + Send>,
        keep: Option<callback::Keep>,
        f: impl FnOnce(*mut zk_sys::zhandle_t, *mut c_void) -> c_int,
    ) -> Result<()> {
        let zh = self.handle()?;
        let ctx = callback::new_completion::<T>(done, self.registry(), keep);
        let rc = f(zh.0, ctx);
        if rc != zk_sys::ZOK {
            callback::discard_completion::<T>(ctx);
        }
        check(rc)
    }

    /// `zoo_acreate`: `done` gets the created path.
    pub fn acreate(
        &self,
        path: &str,
        data: &[u8],
        acl: &[Acl],
        mode: CreateMode,
        done: impl FnOnce(Result<String>) + Send + 'static,
    ) -> Result<()> {
        let cpath = c_path(path, mode.is_sequential())?;
        check_data(data)?;
        if mode.ttl() > 0 {
            return Err(Error::invalid(
                crate::error::Argument::Other,
                "TTL modes have no async create in this C client; use create",
            ));
        }
        let mut cacl = CAcl::new(acl)?;
        let vector = cacl.vector();
        self.submit::<String>(Box::new(done), None, |zh, ctx| {
            // SAFETY: live handle; path, data and ACL are serialized by C
            // before it returns; our trampoline with its context.
            unsafe {
                zk_sys::zoo_acreate(
                    zh,
                    cpath.as_ptr(),
                    data.as_ptr() as *const c_char,
                    data.len() as c_int,
                    &vector,
                    mode.raw(),
                    Some(string_done),
                    ctx,
                )
            }
        })
    }

    /// `zoo_adelete`.
    pub fn adelete(
        &self,
        path: &str,
        version: i32,
        done: impl FnOnce(Result<()>) + Send + 'static,
    ) -> Result<()> {
        let cpath = c_path(path, false)?;
        self.submit::<()>(Box::new(done), None, |zh, ctx| {
            // SAFETY: live handle, valid path; our trampoline with its context.
            unsafe { zk_sys::zoo_adelete(zh, cpath.as_ptr(), version, Some(void_done), ctx) }
        })
    }

    /// `zoo_aexists` (no watch): `done` gets the Stat or `None`.
    pub fn aexists(
        &self,
        path: &str,
        done: impl FnOnce(Result<Option<Stat>>) + Send + 'static,
    ) -> Result<()> {
        let cpath = c_path(path, false)?;
        self.submit::<Option<Stat>>(Box::new(done), None, |zh, ctx| {
            // SAFETY: live handle, valid path; our trampoline with its context.
            unsafe { zk_sys::zoo_aexists(zh, cpath.as_ptr(), 0, Some(exists_done), ctx) }
        })
    }

    /// `zoo_aget` (no watch): `done` gets the whole value and its Stat.
    pub fn aget(
        &self,
        path: &str,
        done: impl FnOnce(Result<(Vec<u8>, Stat)>) + Send + 'static,
    ) -> Result<()> {
        let cpath = c_path(path, false)?;
        self.submit::<(Vec<u8>, Stat)>(Box::new(done), None, |zh, ctx| {
            // SAFETY: live handle, valid path; our trampoline with its context.
            unsafe { zk_sys::zoo_aget(zh, cpath.as_ptr(), 0, Some(data_done), ctx) }
        })
    }

    /// `zoo_aset`: `done` gets the new Stat.
    pub fn aset(
        &self,
        path: &str,
        data: &[u8],
        version: i32,
        done: impl FnOnce(Result<Stat>) + Send + 'static,
    ) -> Result<()> {
        let cpath = c_path(path, false)?;
        check_data(data)?;
        self.submit::<Stat>(Box::new(done), None, |zh, ctx| {
            // SAFETY: live handle, valid path and data (serialized before
            // return); our trampoline with its context.
            unsafe {
                zk_sys::zoo_aset(
                    zh,
                    cpath.as_ptr(),
                    data.as_ptr() as *const c_char,
                    data.len() as c_int,
                    version,
                    Some(stat_done),
                    ctx,
                )
            }
        })
    }

    /// `zoo_aget_children` (no watch).
    pub fn aget_children(
        &self,
        path: &str,
        done: impl FnOnce(Result<Vec<String>>) + Send + 'static,
    ) -> Result<()> {
        let cpath = c_path(path, false)?;
        self.submit::<Vec<String>>(Box::new(done), None, |zh, ctx| {
            // SAFETY: live handle, valid path; our trampoline with its context.
            unsafe { zk_sys::zoo_aget_children(zh, cpath.as_ptr(), 0, Some(strings_done), ctx) }
        })
    }

    /// `zoo_async`: flush the channel between this client and the leader for `path`.
    pub fn async_sync(
        &self,
        path: &str,
        done: impl FnOnce(Result<String>) + Send + 'static,
    ) -> Result<()> {
        let cpath = c_path(path, false)?;
        self.submit::<String>(Box::new(done), None, |zh, ctx| {
            // SAFETY: live handle, valid path; our trampoline with its context.
            unsafe { zk_sys::zoo_async(zh, cpath.as_ptr(), Some(string_done), ctx) }
        })
    }
}
