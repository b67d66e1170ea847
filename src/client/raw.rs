//! Conversions between zkha's Rust values and the C client's structs.

use crate::error::{Argument, Error};
use crate::types::{Acl, Id, Perms};
use crate::validate::c_text;
use std::ffi::{CStr, CString};
use std::os::raw::c_char;

/// An ACL list laid out for C, with the strings it points to.
pub(crate) struct CAcl {
    _strings: Vec<CString>,
    entries: Vec<zk_sys::ACL>,
}

// SAFETY: the raw pointers point into `_strings`, owned by the same value.
unsafe impl Send for CAcl {}

impl CAcl {
    pub(crate) fn new(acl: &[Acl]) -> Result<CAcl, Error> {
        if acl.is_empty() {
            return Err(Error::invalid(
                Argument::Acl,
                "empty ACL list (the server would reject it)",
            ));
        }
        let mut strings = Vec::with_capacity(acl.len() * 2);
        let mut entries = Vec::with_capacity(acl.len());
        for a in acl {
            if a.perms.0 & !Perms::ALL.0 != 0 || a.perms.0 == 0 {
                return Err(Error::invalid(
                    Argument::Acl,
                    format!("bad permission bits {:#x}", a.perms.0),
                ));
            }
            if a.id.scheme.is_empty() {
                return Err(Error::invalid(Argument::Acl, "empty ACL scheme"));
            }
            let scheme = c_text(&a.id.scheme, Argument::Acl)?;
            let id = c_text(&a.id.id, Argument::Acl)?;
            entries.push(zk_sys::ACL {
                perms: a.perms.0,
                id: zk_sys::Id {
                    scheme: scheme.as_ptr() as *mut c_char,
                    id: id.as_ptr() as *mut c_char,
                },
            });
            strings.push(scheme);
            strings.push(id);
        }
        Ok(CAcl {
            _strings: strings,
            entries,
        })
    }

    /// The C view; valid while `self` lives and is not moved... the vector's
    /// heap buffer does not move with `self`, so the pointer stays valid.
    pub(crate) fn vector(&mut self) -> zk_sys::ACL_vector {
        zk_sys::ACL_vector {
            count: self.entries.len() as i32,
            data: self.entries.as_mut_ptr(),
        }
    }
}

fn text(p: *const c_char) -> String {
    if p.is_null() {
        String::new()
    } else {
        // SAFETY: non-null NUL-terminated string owned by C for this call.
        unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
    }
}

/// Copies a C ACL list (does not free it).
pub(crate) fn acl_from_c(v: &zk_sys::ACL_vector) -> Vec<Acl> {
    if v.data.is_null() || v.count <= 0 {
        return Vec::new();
    }
    // SAFETY: C filled `count` entries at `data`.
    let entries = unsafe { std::slice::from_raw_parts(v.data, v.count as usize) };
    entries
        .iter()
        .map(|e| Acl {
            perms: Perms(e.perms),
            id: Id {
                scheme: text(e.id.scheme),
                id: text(e.id.id),
            },
        })
        .collect()
}

/// Copies a C string vector (does not free it).
pub(crate) fn strings_from_c(v: &zk_sys::String_vector) -> Vec<String> {
    if v.data.is_null() || v.count <= 0 {
        return Vec::new();
    }
    // SAFETY: C filled `count` string pointers at `data`.
    let items = unsafe { std::slice::from_raw_parts(v.data, v.count as usize) };
    items.iter().map(|&p| text(p)).collect()
}

/// Copies a C string (NULL gives an empty string).
pub(crate) fn string_from_c(p: *const c_char) -> String {
    text(p)
}

/// Copies node data as C reports it (`len < 0` or NULL: no data).
pub(crate) fn data_from_c(value: *const c_char, len: i32) -> Vec<u8> {
    if value.is_null() || len <= 0 {
        return Vec::new();
    }
    // SAFETY: C passes `len` readable bytes at `value`.
    unsafe { std::slice::from_raw_parts(value as *const u8, len as usize) }.to_vec()
}
