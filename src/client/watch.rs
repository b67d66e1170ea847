//! Blocking calls that set a one-shot watcher of their own (`zoo_wexists`,
//! `zoo_wget`, `zoo_wget_children*`) and `zoo_remove_all_watches`. The
//! watcher runs on the C completion thread (see `callback.rs`).

use super::callback;
use super::ops::{exists_result, Children};
use crate::error::{check, Result};
use crate::types::{Stat, WatchedEvent};
use crate::validate::c_path;
use crate::ZooKeeper;
use std::os::raw::c_int;

/// Which watches `remove_all_watches` removes (`ZooWatcherType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WatcherType {
    /// ZWATCHTYPE_CHILD.
    Children,
    /// ZWATCHTYPE_DATA.
    Data,
    /// ZWATCHTYPE_ANY.
    Any,
}

impl WatcherType {
    fn raw(self) -> zk_sys::ZooWatcherType {
        match self {
            WatcherType::Children => zk_sys::ZWATCHTYPE_CHILD,
            WatcherType::Data => zk_sys::ZWATCHTYPE_DATA,
            WatcherType::Any => zk_sys::ZWATCHTYPE_ANY,
        }
    }
}

impl ZooKeeper {
    /// `zoo_wexists`: like `exists`, with a one-shot watcher of its own. It
    /// is called on session events while set, and last on the node event.
    pub fn wexists(
        &self,
        path: &str,
        watcher: impl FnMut(WatchedEvent) + Send + 'static,
    ) -> Result<Option<Stat>> {
        let cpath = c_path(path, false)?;
        let mut stat = zk_sys::Stat::default();
        let zh = self.handle()?;
        let ctx = callback::new_watch(Box::new(watcher), self.registry());
        // SAFETY: live handle, valid path, our trampoline with its context.
        let rc = unsafe {
            zk_sys::zoo_wexists(
                zh.0,
                cpath.as_ptr(),
                Some(callback::path_watcher),
                ctx,
                &mut stat,
            )
        };
        // C registers the watch only when the call succeeds (ZOK: data watch,
        // ZNONODE: exists watch).
        if rc != zk_sys::ZOK && rc != zk_sys::ZNONODE {
            callback::discard_watch(ctx);
        }
        exists_result(rc, stat)
    }

    /// `zoo_wget`: like `get`, with a one-shot watcher of its own.
    pub fn wget(
        &self,
        path: &str,
        watcher: impl FnMut(WatchedEvent) + Send + 'static,
    ) -> Result<(Vec<u8>, Stat)> {
        let mut watcher: Option<callback::PathWatcher> = Some(Box::new(watcher));
        let registry = self.registry().cloned();
        self.get_inner(path, move |zh, cpath, buf, len, stat| {
            // A retry for a larger value re-registers the same watcher.
            let ctx = match watcher.take() {
                Some(w) => callback::new_watch(w, registry.as_ref()),
                None => std::ptr::null_mut(),
            };
            // SAFETY: (caller) live handle, valid path, buffer and Stat;
            // our trampoline with its context.
            let rc = unsafe {
                zk_sys::zoo_wget(zh, cpath, Some(callback::path_watcher), ctx, buf, len, stat)
            };
            if rc != zk_sys::ZOK && !ctx.is_null() {
                callback::discard_watch(ctx);
            }
            rc
        })
    }

    /// `zoo_wget_children`: with a one-shot watcher of its own.
    pub fn wget_children(
        &self,
        path: &str,
        watcher: impl FnMut(WatchedEvent) + Send + 'static,
    ) -> Result<Vec<String>> {
        self.children(
            path,
            Children::Watch {
                watcher: Box::new(watcher),
                stat: false,
            },
        )
        .map(|(c, _)| c)
    }

    /// `zoo_wget_children2`: with a one-shot watcher, and the parent's Stat.
    pub fn wget_children2(
        &self,
        path: &str,
        watcher: impl FnMut(WatchedEvent) + Send + 'static,
    ) -> Result<(Vec<String>, Stat)> {
        self.children(
            path,
            Children::Watch {
                watcher: Box::new(watcher),
                stat: true,
            },
        )
    }

    /// `zoo_remove_all_watches`: removes the watches of `kind` on `path`
    /// (`local`: even without a server). The C client calls removed watchers
    /// no more (no NOTWATCHING event), so their closures are freed at close.
    pub fn remove_all_watches(&self, path: &str, kind: WatcherType, local: bool) -> Result<()> {
        let cpath = c_path(path, false)?;
        let zh = self.handle()?;
        // SAFETY: live handle, valid path.
        check(unsafe {
            zk_sys::zoo_remove_all_watches(zh.0, cpath.as_ptr(), kind.raw(), local as c_int)
        })
    }
}
