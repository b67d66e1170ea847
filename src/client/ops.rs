//! Blocking node operations on a [`ZooKeeper`], call for call like C
//! (`zoo_create`, `zoo_get`, `zoo_set`, …). The calls that set a watcher of
//! their own are in `watch.rs`.

use super::callback;
use super::raw::{acl_from_c, strings_from_c, CAcl};
use super::read_buffer::{copy_read_buffer, with_read_buffer, DEFAULT_READ};
use crate::error::{check, Argument, Error, Result};
use crate::types::{Acl, CreateMode, Stat};
use crate::validate::{c_path, check_data};
use crate::ZooKeeper;
use std::ffi::CStr;
use std::os::raw::{c_char, c_int};
use std::sync::mpsc;

impl ZooKeeper {
    /// `zoo_create` (or `zoo_create_ttl`): returns the created path (with
    /// the sequence suffix for sequential modes).
    pub fn create(&self, path: &str, data: &[u8], acl: &[Acl], mode: CreateMode) -> Result<String> {
        self.create_inner(path, data, acl, mode, None)
    }

    /// `zoo_create2` (or `zoo_create2_ttl`): the created path and its Stat.
    pub fn create2(
        &self,
        path: &str,
        data: &[u8],
        acl: &[Acl],
        mode: CreateMode,
    ) -> Result<(String, Stat)> {
        let mut stat = zk_sys::Stat::default();
        let p = self.create_inner(path, data, acl, mode, Some(&mut stat))?;
        Ok((p, stat.into()))
    }

    fn create_inner(
        &self,
        path: &str,
        data: &[u8],
        acl: &[Acl],
        mode: CreateMode,
        stat: Option<&mut zk_sys::Stat>,
    ) -> Result<String> {
        let cpath = c_path(path, mode.is_sequential())?;
        check_data(data)?;
        let ttl = mode.ttl();
        if matches!(
            mode,
            CreateMode::PersistentWithTtl { .. } | CreateMode::PersistentSequentialWithTtl { .. }
        ) && ttl <= 0
        {
            return Err(Error::invalid(
                Argument::Timeout,
                format!("TTL must be positive, got {ttl} ms"),
            ));
        }
        let mut cacl = CAcl::new(acl)?;
        let vector = cacl.vector();
        let mut out = vec![0 as c_char; path.len() + 32];
        let zh = self.handle()?;
        let value = data.as_ptr() as *const c_char;
        let len = data.len() as c_int;
        // SAFETY: live handle; valid path, `len` bytes of data, ACL vector and
        // output buffer of the given size, all alive during the call.
        let rc = unsafe {
            match (stat, ttl > 0) {
                (None, false) => zk_sys::zoo_create(
                    zh.0,
                    cpath.as_ptr(),
                    value,
                    len,
                    &vector,
                    mode.raw(),
                    out.as_mut_ptr(),
                    out.len() as c_int,
                ),
                (None, true) => zk_sys::zoo_create_ttl(
                    zh.0,
                    cpath.as_ptr(),
                    value,
                    len,
                    &vector,
                    mode.raw(),
                    ttl,
                    out.as_mut_ptr(),
                    out.len() as c_int,
                ),
                (Some(s), false) => zk_sys::zoo_create2(
                    zh.0,
                    cpath.as_ptr(),
                    value,
                    len,
                    &vector,
                    mode.raw(),
                    out.as_mut_ptr(),
                    out.len() as c_int,
                    s,
                ),
                (Some(s), true) => zk_sys::zoo_create2_ttl(
                    zh.0,
                    cpath.as_ptr(),
                    value,
                    len,
                    &vector,
                    mode.raw(),
                    ttl,
                    out.as_mut_ptr(),
                    out.len() as c_int,
                    s,
                ),
            }
        };
        check(rc)?;
        // SAFETY: on success C wrote a NUL-terminated path into `out`.
        Ok(unsafe { CStr::from_ptr(out.as_ptr()) }
            .to_string_lossy()
            .into_owned())
    }

    /// `zoo_delete`; `version` -1 matches any version.
    pub fn delete(&self, path: &str, version: i32) -> Result<()> {
        let cpath = c_path(path, false)?;
        let zh = self.handle()?;
        // SAFETY: live handle, valid path.
        check(unsafe { zk_sys::zoo_delete(zh.0, cpath.as_ptr(), version) })
    }

    /// `zoo_exists`: the Stat, or `None` for no node. `watch` sets a watch
    /// reported to the global watcher.
    pub fn exists(&self, path: &str, watch: bool) -> Result<Option<Stat>> {
        let cpath = c_path(path, false)?;
        let mut stat = zk_sys::Stat::default();
        let zh = self.handle()?;
        // SAFETY: live handle, valid path and Stat out-parameter.
        let rc = unsafe { zk_sys::zoo_exists(zh.0, cpath.as_ptr(), watch as c_int, &mut stat) };
        exists_result(rc, stat)
    }

    /// `zoo_get`: the whole value (any size up to the server's limit; never
    /// truncated) and its Stat.
    pub fn get(&self, path: &str, watch: bool) -> Result<(Vec<u8>, Stat)> {
        self.get_inner(path, |zh, cpath, buf, len, stat| {
            // SAFETY: (caller) live handle, valid path, buffer and Stat.
            unsafe { zk_sys::zoo_get(zh, cpath, watch as c_int, buf, len, stat) }
        })
    }

    pub(in crate::client) fn get_inner(
        &self,
        path: &str,
        mut call: impl FnMut(
            *mut zk_sys::zhandle_t,
            *const c_char,
            *mut c_char,
            *mut c_int,
            *mut zk_sys::Stat,
        ) -> c_int,
    ) -> Result<(Vec<u8>, Stat)> {
        let cpath = c_path(path, false)?;
        let zh = self.handle()?;
        let mut want = DEFAULT_READ;
        loop {
            let mut stat = zk_sys::Stat::default();
            let (rc, len) = with_read_buffer(want, |buf, cap| {
                let mut len = cap;
                let rc = call(zh.0, cpath.as_ptr(), buf, &mut len, &mut stat);
                (rc, len)
            });
            check(rc)?;
            // A server allowing values beyond the buffer: read again, bigger.
            if stat.dataLength as usize > want {
                want = stat.dataLength as usize;
                continue;
            }
            return Ok((copy_read_buffer(len), stat.into()));
        }
    }

    /// `zoo_set`; `version` -1 matches any version.
    pub fn set(&self, path: &str, data: &[u8], version: i32) -> Result<()> {
        let cpath = c_path(path, false)?;
        check_data(data)?;
        let zh = self.handle()?;
        // SAFETY: live handle, valid path and `data.len()` bytes.
        check(unsafe {
            zk_sys::zoo_set(
                zh.0,
                cpath.as_ptr(),
                data.as_ptr() as *const c_char,
                data.len() as c_int,
                version,
            )
        })
    }

    /// `zoo_set2`: like `set`, returning the new Stat.
    pub fn set2(&self, path: &str, data: &[u8], version: i32) -> Result<Stat> {
        let cpath = c_path(path, false)?;
        check_data(data)?;
        let mut stat = zk_sys::Stat::default();
        let zh = self.handle()?;
        // SAFETY: live handle, valid path, data and Stat out-parameter.
        check(unsafe {
            zk_sys::zoo_set2(
                zh.0,
                cpath.as_ptr(),
                data.as_ptr() as *const c_char,
                data.len() as c_int,
                version,
                &mut stat,
            )
        })?;
        Ok(stat.into())
    }

    /// `zoo_get_children`.
    pub fn get_children(&self, path: &str, watch: bool) -> Result<Vec<String>> {
        self.children(path, Children::Plain { watch, stat: false })
            .map(|(c, _)| c)
    }

    /// `zoo_get_children2`: the children and the parent's Stat.
    pub fn get_children2(&self, path: &str, watch: bool) -> Result<(Vec<String>, Stat)> {
        self.children(path, Children::Plain { watch, stat: true })
    }

    pub(in crate::client) fn children(
        &self,
        path: &str,
        call: Children,
    ) -> Result<(Vec<String>, Stat)> {
        let cpath = c_path(path, false)?;
        let mut v = zk_sys::String_vector::default();
        let mut stat = zk_sys::Stat::default();
        let zh = self.handle()?;
        let (zh, p) = (zh.0, cpath.as_ptr());
        // SAFETY: (all four calls) live handle (guard held), valid path,
        // vector and Stat out-parameters; our trampoline with its context.
        let rc = match call {
            Children::Plain { watch, stat: false } => unsafe {
                zk_sys::zoo_get_children(zh, p, watch as c_int, &mut v)
            },
            // SAFETY: as above.
            Children::Plain { watch, stat: true } => unsafe {
                zk_sys::zoo_get_children2(zh, p, watch as c_int, &mut v, &mut stat)
            },
            Children::Watch {
                watcher,
                stat: with_stat,
            } => {
                let ctx = callback::new_watch(watcher, self.registry());
                let w: zk_sys::watcher_fn = Some(callback::path_watcher);
                let rc = if with_stat {
                    // SAFETY: as above, with our trampoline and its context.
                    unsafe { zk_sys::zoo_wget_children2(zh, p, w, ctx, &mut v, &mut stat) }
                } else {
                    // SAFETY: as above, with our trampoline and its context.
                    unsafe { zk_sys::zoo_wget_children(zh, p, w, ctx, &mut v) }
                };
                if rc != zk_sys::ZOK {
                    callback::discard_watch(ctx);
                }
                rc
            }
        };
        check(rc)?;
        let children = strings_from_c(&v);
        // SAFETY: C allocated the vector's contents on success; freed once.
        unsafe { zk_sys::deallocate_String_vector(&mut v) };
        Ok((children, stat.into()))
    }

    /// `zoo_get_acl`: the node's ACL and Stat.
    pub fn get_acl(&self, path: &str) -> Result<(Vec<Acl>, Stat)> {
        let cpath = c_path(path, false)?;
        let mut v = zk_sys::ACL_vector::default();
        let mut stat = zk_sys::Stat::default();
        let zh = self.handle()?;
        // SAFETY: live handle, valid path, vector and Stat out-parameters.
        check(unsafe { zk_sys::zoo_get_acl(zh.0, cpath.as_ptr(), &mut v, &mut stat) })?;
        let acl = acl_from_c(&v);
        // SAFETY: C allocated the vector's contents on success; freed once.
        unsafe { zk_sys::deallocate_ACL_vector(&mut v) };
        Ok((acl, stat.into()))
    }

    /// `zoo_set_acl`; `version` is the ACL version (-1: any).
    pub fn set_acl(&self, path: &str, version: i32, acl: &[Acl]) -> Result<()> {
        let cpath = c_path(path, false)?;
        let mut cacl = CAcl::new(acl)?;
        let vector = cacl.vector();
        let zh = self.handle()?;
        // SAFETY: live handle, valid path and ACL vector.
        check(unsafe { zk_sys::zoo_set_acl(zh.0, cpath.as_ptr(), version, &vector) })
    }

    /// `zoo_async` (sync): waits until the server the client is connected to
    /// has caught up with the leader for `path`. From a callback:
    /// [`Error::CalledFromCallback`]; use [`ZooKeeper::async_sync`] there.
    pub fn sync(&self, path: &str) -> Result<()> {
        let (tx, rx) = mpsc::sync_channel::<Result<String>>(1);
        super::async_ops::refuse_in_callback("sync")?;
        self.async_sync(path, move |r| drop(tx.send(r)))?;
        rx.recv().unwrap_or(Err(Error::Closed)).map(|_| ())
    }
}

/// Which `zoo_get_children*` call `children` makes.
pub(in crate::client) enum Children {
    Plain {
        watch: bool,
        stat: bool,
    },
    Watch {
        watcher: callback::PathWatcher,
        stat: bool,
    },
}

pub(in crate::client) fn exists_result(rc: c_int, stat: zk_sys::Stat) -> Result<Option<Stat>> {
    match rc {
        zk_sys::ZOK => Ok(Some(stat.into())),
        zk_sys::ZNONODE => Ok(None),
        rc => check(rc).map(|_| None),
    }
}
