//! Async reads that also set a one-shot watch (`zoo_awexists`,
//! `zoo_awget`, `zoo_awget_children`), for
//! [`AsyncZooKeeper::wexists`](crate::AsyncZooKeeper::wexists) and its
//! siblings: the read's result and the watch's event as two futures.
//!
//! Contexts: the read's completion context is freed once as every
//! completion is (callback.rs). The watch context is handed to C with the
//! call, but the C client registers the watch only when the answer says so
//! (`ZOK`, and `ZNONODE` for exists); otherwise C never calls it, and the
//! completion frees it (`forget_watch`), unless close's settle took it first.

use super::async_ops::{data_done, exists_done, strings_done};
use super::callback::{self, PathWatcher};
use super::oneshot;
use crate::error::{check, Error, ErrorCode, Result};
use crate::types::{EventType, Stat, State, WatchedEvent};
use crate::validate::c_path;
use crate::ZooKeeper;
use parking_lot::Mutex;
use std::os::raw::{c_char, c_int, c_void};
use std::sync::Arc;

/// A read's completion closure.
type Done<T> = Box<dyn FnOnce(Result<T>) + Send>;

type WatchSender = Arc<Mutex<Option<oneshot::Sender<WatchedEvent>>>>;

/// The watcher half: sends the node event (the watch's last call) or the
/// session's end; session events in between (disconnected, connected
/// again) leave the watch set and are not sent.
fn watcher(tx: WatchSender) -> PathWatcher {
    Box::new(move |event: WatchedEvent| {
        let end = match (event.event_type, event.state) {
            (EventType::Session, State::Expired) => Some(Err(Error::Zk(ErrorCode::SessionExpired))),
            (EventType::Session, State::AuthFailed) => Some(Err(Error::Zk(ErrorCode::AuthFailed))),
            (EventType::Session, _) => None,
            _ => Some(Ok(event)),
        };
        if let Some(r) = end {
            if let Some(tx) = tx.lock().take() {
                tx.send(r);
            }
        }
    })
}

/// The same error again, for the watch future of a call that failed.
pub(crate) fn duplicate(e: &Error) -> Error {
    match e {
        Error::Zk(c) => Error::Zk(*c),
        Error::InvalidArgument { argument, reason } => Error::InvalidArgument {
            argument: *argument,
            reason: reason.clone(),
        },
        Error::Init(io) => Error::Init(std::io::Error::new(io.kind(), io.to_string())),
        Error::Closed => Error::Closed,
        Error::Timeout(w) => Error::Timeout(w),
        Error::Multi { code, results } => Error::Multi {
            code: *code,
            results: results.clone(),
        },
        Error::CalledFromCallback(w) => Error::CalledFromCallback(w),
        Error::Tls(w) => Error::Tls(w.clone()),
        Error::SaslAuth(w) => Error::SaslAuth(w.clone()),
        Error::Stopped => Error::Stopped,
        Error::Thread(io) => Error::Thread(std::io::Error::new(io.kind(), io.to_string())),
        Error::NotMaster { token } => Error::NotMaster { token: *token },
        Error::Op { op, path, code } => Error::Op {
            op,
            path: path.clone(),
            code: *code,
        },
    }
}

impl ZooKeeper {
    /// Queues a watched read: `call` gets the live handle, the path, the
    /// watch context and the completion context. The C client registers
    /// the watch only for the answers `registers` accepts; after any other,
    /// the completion frees the watch context before calling `done`.
    fn submit_watched<T: Send + 'static>(
        &self,
        path: &str,
        watch: PathWatcher,
        done: Done<T>,
        registers: fn(&Result<T>) -> bool,
        call: impl FnOnce(*mut zk_sys::zhandle_t, *const c_char, *mut c_void, *mut c_void) -> c_int,
    ) -> Result<()> {
        let cpath = c_path(path, false)?;
        let zh = self.handle()?;
        let registry = self.registry().cloned();
        let wctx = callback::new_watch(watch, registry.as_ref());
        let watch = wctx as usize;
        let completion: Done<T> = Box::new(move |r: Result<T>| {
            if !registers(&r) {
                callback::forget_watch(registry.as_ref(), watch as *mut c_void);
            }
            done(r);
        });
        let cctx = callback::new_completion::<T>(completion, self.registry(), None);
        let rc = call(zh.0, cpath.as_ptr(), wctx, cctx);
        if rc != zk_sys::ZOK {
            // Neither context reached C: the completion is dropped uncalled
            // (a watch sender it holds with it), the watch freed here.
            callback::discard_completion::<T>(cctx);
            callback::discard_watch(wctx);
        }
        check(rc)
    }

    /// [`submit_watched`](Self::submit_watched) with the watch as a
    /// one-shot receiver: it gets the node event, or the read's error when
    /// the read set no watch.
    fn submit_oneshot_watched<T: Send + 'static>(
        &self,
        path: &str,
        done: Done<T>,
        registers: fn(&Result<T>) -> bool,
        call: impl FnOnce(*mut zk_sys::zhandle_t, *const c_char, *mut c_void, *mut c_void) -> c_int,
    ) -> Result<oneshot::Receiver<WatchedEvent>> {
        let (tx, rx) = oneshot::channel();
        let tx: WatchSender = Arc::new(Mutex::new(Some(tx)));
        let unset = tx.clone();
        let done: Done<T> = Box::new(move |r: Result<T>| {
            if !registers(&r) {
                if let (Err(e), Some(tx)) = (&r, unset.lock().take()) {
                    tx.send(Err(duplicate(e)));
                }
            }
            done(r);
        });
        self.submit_watched(path, watcher(tx), done, registers, call)
            .map(|()| rx)
    }

    /// `zoo_awexists` with a watcher of the caller's (called on session
    /// events while set, last on the node event, as for
    /// [`wexists`](ZooKeeper::wexists)): the elector's non-blocking re-arm.
    pub(crate) fn awexists_watching(
        &self,
        path: &str,
        watcher: impl FnMut(WatchedEvent) + Send + 'static,
        done: impl FnOnce(Result<Option<Stat>>) + Send + 'static,
    ) -> Result<()> {
        self.submit_watched(
            path,
            Box::new(watcher),
            Box::new(done),
            Result::is_ok,
            |zh, p, w, c| {
                // SAFETY: as in awexists.
                unsafe {
                    zk_sys::zoo_awexists(
                        zh,
                        p,
                        Some(callback::path_watcher),
                        w,
                        Some(exists_done),
                        c,
                    )
                }
            },
        )
    }

    /// `zoo_awexists`: `done` gets the Stat or `None`; the watch is set
    /// either way (a data watch, or an exists watch for no node).
    pub(crate) fn awexists(
        &self,
        path: &str,
        done: Done<Option<Stat>>,
    ) -> Result<oneshot::Receiver<WatchedEvent>> {
        self.submit_oneshot_watched(path, done, Result::is_ok, |zh, p, w, c| {
            // SAFETY: live handle, valid path; our trampolines with their
            // contexts (the watch one freed as the module doc says).
            unsafe {
                zk_sys::zoo_awexists(zh, p, Some(callback::path_watcher), w, Some(exists_done), c)
            }
        })
    }

    /// `zoo_awget`: the watch is set only if the node exists.
    pub(crate) fn awget(
        &self,
        path: &str,
        done: Done<(Vec<u8>, Stat)>,
    ) -> Result<oneshot::Receiver<WatchedEvent>> {
        self.submit_oneshot_watched(path, done, Result::is_ok, |zh, p, w, c| {
            // SAFETY: as in awexists.
            unsafe { zk_sys::zoo_awget(zh, p, Some(callback::path_watcher), w, Some(data_done), c) }
        })
    }

    /// `zoo_awget_children`: the watch is set only if the node exists.
    pub(crate) fn awget_children(
        &self,
        path: &str,
        done: Done<Vec<String>>,
    ) -> Result<oneshot::Receiver<WatchedEvent>> {
        self.submit_oneshot_watched(path, done, Result::is_ok, |zh, p, w, c| {
            // SAFETY: as in awexists.
            unsafe {
                zk_sys::zoo_awget_children(
                    zh,
                    p,
                    Some(callback::path_watcher),
                    w,
                    Some(strings_done),
                    c,
                )
            }
        })
    }
}
