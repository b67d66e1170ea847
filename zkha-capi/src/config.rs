//! `zkha_config`: what an elector is told. Every setter checks the whole
//! configuration with its change and keeps the change only if it passes,
//! so a bad value is refused at the call that gives it.

use crate::error::{
    c_str, guard, opt_c_str, out_ptr, Failure, ZKHA_ERR_INVALID, ZKHA_ERR_NULL, ZKHA_OK,
};
use std::os::raw::{c_char, c_int};
use std::path::PathBuf;
use std::time::Duration;
use zkha::elector::{AclChoice, Auth, ElectorConfig, Mode};
use zkha::secure::{Sasl, Secret, Tls};

/// The safe profile (the default): lease, fencing token, stop before
/// release; the design's flaws fixed.
pub const ZKHA_PROFILE_SAFE: c_int = 0;
/// The seed profile: the classic C++ design, flaws included.
pub const ZKHA_PROFILE_SEED: c_int = 1;

/// Standbys watch the master node (the safe profile's default).
pub const ZKHA_MODE_WATCH: c_int = 0;
/// Standbys try to create the node every poll interval (the seed's only mode).
pub const ZKHA_MODE_POLL: c_int = 1;
/// Ephemeral-sequential children under the path; the lowest wins (safe only).
pub const ZKHA_MODE_SEQUENCE: c_int = 2;

/// An elector's configuration (opaque). Made by `zkha_config_new`, freed
/// by `zkha_config_free`; the start functions copy it, so it may be freed
/// (or changed for another elector) right after.
pub struct zkha_config {
    pub(crate) inner: ElectorConfig,
}

/// Borrows a config.
///
/// # Safety
/// `config` is NULL or a live `zkha_config` (not freed).
pub(crate) unsafe fn config_ref<'a>(
    config: *const zkha_config,
) -> Result<&'a zkha_config, Failure> {
    // SAFETY: the caller's contract: NULL or live.
    unsafe { config.as_ref() }.ok_or_else(|| Failure::new(ZKHA_ERR_NULL, "config is NULL"))
}

/// Applies a change to a copy, checks it, and keeps it only if it passes.
///
/// # Safety
/// `config` is NULL or a live `zkha_config` not used by another thread
/// during the call.
unsafe fn change(
    config: *mut zkha_config,
    edit: impl FnOnce(&mut ElectorConfig),
) -> Result<c_int, Failure> {
    // SAFETY: the caller's contract: NULL or live, and ours alone now.
    let config =
        unsafe { config.as_mut() }.ok_or_else(|| Failure::new(ZKHA_ERR_NULL, "config is NULL"))?;
    let mut next = config.inner.clone();
    edit(&mut next);
    next.validate()?;
    config.inner = next;
    Ok(ZKHA_OK)
}

fn millis(ms: u32) -> Duration {
    Duration::from_millis(u64::from(ms))
}

/// Makes a configuration for the master node `path` (e.g. "/master/test")
/// on the ensemble `hosts` (e.g. "10.0.0.1:2181,10.0.0.2:2181"), with the
/// defaults of `profile` (`ZKHA_PROFILE_SAFE` or `ZKHA_PROFILE_SEED`):
/// session timeout 5000 ms, poll interval 1000 ms, node data this host's
/// IP text and a NUL; safe: watch mode, priority 100, missing parents
/// created; seed: poll mode, a 2000 ms settle delay, the parent must exist.
/// The C client's log lines go to its own stream (stderr unless the
/// program set another with `zoo_set_log_stream`). On success `*out` is a
/// new config the caller frees with `zkha_config_free`; on failure `*out`
/// is left alone.
///
/// Errors: `ZKHA_ERR_NULL`, `ZKHA_ERR_UTF8`, `ZKHA_ERR_HOSTS` (empty or
/// malformed), `ZKHA_ERR_PATH` (not absolute, "/", a trailing '/'),
/// `ZKHA_ERR_INVALID` (an unknown profile).
///
/// # Safety
/// `hosts` and `path` are NULL or NUL-terminated strings; `out` is NULL or
/// writable.
#[no_mangle]
pub unsafe extern "C" fn zkha_config_new(
    hosts: *const c_char,
    path: *const c_char,
    profile: c_int,
    out: *mut *mut zkha_config,
) -> c_int {
    guard("zkha_config_new", || {
        let out = out_ptr(out, "out")?;
        // SAFETY: NUL-terminated or NULL, by the caller's contract.
        let hosts = unsafe { c_str(hosts, "hosts") }?;
        // SAFETY: as above.
        let path = unsafe { c_str(path, "path") }?;
        let mut inner = match profile {
            ZKHA_PROFILE_SAFE => ElectorConfig::new(hosts, path),
            ZKHA_PROFILE_SEED => ElectorConfig::seed(hosts, path),
            other => {
                return Err(Failure::new(
                    ZKHA_ERR_INVALID,
                    format!("unknown profile {other} (ZKHA_PROFILE_SAFE or ZKHA_PROFILE_SEED)"),
                ))
            }
        };
        inner.log_to_rust = false;
        inner.validate()?;
        let config = Box::new(zkha_config { inner });
        // SAFETY: `out` is not NULL and writable by the caller's contract.
        unsafe { *out = Box::into_raw(config) };
        Ok(ZKHA_OK)
    })
}

/// Frees a config made by `zkha_config_new`. NULL is ignored. Electors
/// started from it are not affected (they hold a copy).
///
/// # Safety
/// `config` is NULL or a live config, freed once, not in use by another
/// thread.
#[no_mangle]
pub unsafe extern "C" fn zkha_config_free(config: *mut zkha_config) {
    guard("zkha_config_free", || {
        if !config.is_null() {
            // SAFETY: made by Box::into_raw in zkha_config_new, freed once
            // (the caller's contract).
            drop(unsafe { Box::from_raw(config) });
        }
        Ok(ZKHA_OK)
    });
}

/// The master node's data (`len` bytes at `data`, copied; `len` 0 for
/// none, and then `data` may be NULL). Errors: `ZKHA_ERR_NULL`,
/// `ZKHA_ERR_DATA` (too large).
///
/// # Safety
/// `config` is NULL or live; `data` points to `len` readable bytes (or
/// `len` is 0).
#[no_mangle]
pub unsafe extern "C" fn zkha_config_set_data(
    config: *mut zkha_config,
    data: *const u8,
    len: usize,
) -> c_int {
    guard("zkha_config_set_data", || {
        let bytes = if len == 0 {
            Vec::new()
        } else if data.is_null() {
            return Err(Failure::new(
                ZKHA_ERR_NULL,
                "data is NULL with a non-zero len",
            ));
        } else {
            // SAFETY: `len` readable bytes at `data`, by the caller's contract.
            unsafe { std::slice::from_raw_parts(data, len) }.to_vec()
        };
        // SAFETY: the caller's contract on `config`.
        unsafe { change(config, |c| c.data = bytes) }
    })
}

/// The requested session timeout (default 5000 ms; the server may
/// negotiate it). Errors: `ZKHA_ERR_BAD_TIMEOUT` (0, or too large).
///
/// # Safety
/// `config` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn zkha_config_set_session_timeout_ms(
    config: *mut zkha_config,
    ms: u32,
) -> c_int {
    guard("zkha_config_set_session_timeout_ms", || {
        // SAFETY: the caller's contract on `config`.
        unsafe { change(config, |c| c.session_timeout = millis(ms)) }
    })
}

/// The poll interval (default 1000 ms): in poll mode the create retry
/// interval. Errors: `ZKHA_ERR_BAD_TIMEOUT` (0).
///
/// # Safety
/// `config` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn zkha_config_set_poll_interval_ms(
    config: *mut zkha_config,
    ms: u32,
) -> c_int {
    guard("zkha_config_set_poll_interval_ms", || {
        // SAFETY: the caller's contract on `config`.
        unsafe { change(config, |c| c.poll_interval = millis(ms)) }
    })
}

/// After a resign, how long this candidate stays out of the race so that
/// another takes over (default 1000 ms; 0 competes again at once).
///
/// # Safety
/// `config` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn zkha_config_set_resign_backoff_ms(
    config: *mut zkha_config,
    ms: u32,
) -> c_int {
    guard("zkha_config_set_resign_backoff_ms", || {
        // SAFETY: the caller's contract on `config`.
        unsafe { change(config, |c| c.resign_backoff = millis(ms)) }
    })
}

/// How standbys wait: `ZKHA_MODE_WATCH`, `ZKHA_MODE_POLL` or
/// `ZKHA_MODE_SEQUENCE`. Errors: `ZKHA_ERR_INVALID` (an unknown mode, or
/// one the profile rules out: the seed profile only polls).
///
/// # Safety
/// `config` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn zkha_config_set_mode(config: *mut zkha_config, mode: c_int) -> c_int {
    guard("zkha_config_set_mode", || {
        let mode = match mode {
            ZKHA_MODE_WATCH => Mode::Watch,
            ZKHA_MODE_POLL => Mode::Poll,
            ZKHA_MODE_SEQUENCE => Mode::Sequence,
            other => {
                return Err(Failure::new(
                    ZKHA_ERR_INVALID,
                    format!("unknown mode {other}"),
                ))
            }
        };
        // SAFETY: the caller's contract on `config`.
        unsafe { change(config, |c| c.mode = mode) }
    })
}

/// Safe profile: this candidate's name in the election's registry (unique
/// on the path; default: the data's text, made unique) and in traces.
/// Errors: `ZKHA_ERR_NULL`, `ZKHA_ERR_UTF8`, `ZKHA_ERR_INVALID` (not a
/// valid name).
///
/// # Safety
/// `config` is NULL or live; `name` is NULL or NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn zkha_config_set_name(
    config: *mut zkha_config,
    name: *const c_char,
) -> c_int {
    guard("zkha_config_set_name", || {
        // SAFETY: NUL-terminated or NULL, by the caller's contract.
        let name = unsafe { c_str(name, "name") }?.to_owned();
        // SAFETY: the caller's contract on `config`.
        unsafe { change(config, |c| c.name = Some(name)) }
    })
}

/// Safe profile: the priority (default 100, at most 1000000; higher is
/// preferred when the master goes; 0 never becomes master). Errors:
/// `ZKHA_ERR_INVALID` (too high, or the seed profile).
///
/// # Safety
/// `config` is NULL or live.
#[no_mangle]
pub unsafe extern "C" fn zkha_config_set_priority(
    config: *mut zkha_config,
    priority: u32,
) -> c_int {
    guard("zkha_config_set_priority", || {
        // SAFETY: the caller's contract on `config`.
        unsafe { change(config, |c| c.priority = priority) }
    })
}

/// Safe profile: digest authentication ("user:password", added to every
/// session before it competes) and a creator-only ACL on the master node,
/// so that only these credentials can touch it. Errors: `ZKHA_ERR_NULL`,
/// `ZKHA_ERR_UTF8`, `ZKHA_ERR_AUTH` (no ':'), `ZKHA_ERR_INVALID` (the
/// seed profile, which uses no auth).
///
/// # Safety
/// `config` is NULL or live; `user_password` is NULL or NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn zkha_config_set_digest(
    config: *mut zkha_config,
    user_password: *const c_char,
) -> c_int {
    guard("zkha_config_set_digest", || {
        // SAFETY: NUL-terminated or NULL, by the caller's contract.
        let credential = unsafe { c_str(user_password, "user_password") }?
            .as_bytes()
            .to_vec();
        // SAFETY: the caller's contract on `config`.
        unsafe {
            change(config, |c| {
                c.auth = Some(Auth {
                    scheme: "digest".into(),
                    credential,
                });
                c.acl = AclChoice::CreatorAll;
            })
        }
    })
}

/// Mutual TLS for the sessions the elector opens (to the ensemble's
/// secureClientPort): PEM files of the CA, this client's certificate and
/// key, and the key's password (NULL if not encrypted). The files are
/// checked now (readable regular files; no ',' in a path). Not with SASL.
/// Needs a library built with TLS (`make capi` builds it so; otherwise
/// `ZKHA_ERR_AUTH` says so). Not used by `zkha_elector_start_on_handle`
/// (the handle is the caller's). Errors: `ZKHA_ERR_NULL`, `ZKHA_ERR_UTF8`,
/// `ZKHA_ERR_AUTH`.
///
/// # Safety
/// `config` is NULL or live; the strings are NULL or NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn zkha_config_set_tls(
    config: *mut zkha_config,
    ca_file: *const c_char,
    cert_file: *const c_char,
    key_file: *const c_char,
    key_password: *const c_char,
) -> c_int {
    guard("zkha_config_set_tls", || {
        // SAFETY (all four): NUL-terminated or NULL, by the caller's contract.
        let ca = PathBuf::from(unsafe { c_str(ca_file, "ca_file") }?);
        // SAFETY: as above.
        let cert = PathBuf::from(unsafe { c_str(cert_file, "cert_file") }?);
        // SAFETY: as above.
        let key = PathBuf::from(unsafe { c_str(key_file, "key_file") }?);
        // SAFETY: as above.
        let key_password = unsafe { opt_c_str(key_password, "key_password") }?.map(Secret::new);
        // SAFETY: the caller's contract on `config`.
        unsafe {
            change(config, |c| {
                c.security.tls = Some(Tls {
                    ca,
                    cert,
                    key,
                    key_password,
                });
            })
        }
    })
}

/// SASL for the sessions the elector opens: the mechanism (e.g.
/// "DIGEST-MD5"), user, password, and optionally the service (NULL:
/// "zookeeper") and server name (NULL: "zk-sasl-md5", ZooKeeper's
/// DIGEST-MD5 server name; for GSSAPI, the servers' host name). Not with
/// TLS. Needs a library built with SASL (`make capi` builds it so;
/// otherwise `ZKHA_ERR_AUTH` says so). Not used by
/// `zkha_elector_start_on_handle`. Errors: `ZKHA_ERR_NULL`,
/// `ZKHA_ERR_UTF8`, `ZKHA_ERR_AUTH`. The password is never part of a
/// message.
///
/// # Safety
/// `config` is NULL or live; the strings are NULL or NUL-terminated.
#[no_mangle]
pub unsafe extern "C" fn zkha_config_set_sasl(
    config: *mut zkha_config,
    mechanism: *const c_char,
    user: *const c_char,
    password: *const c_char,
    service: *const c_char,
    host: *const c_char,
) -> c_int {
    guard("zkha_config_set_sasl", || {
        // SAFETY (all five): NUL-terminated or NULL, by the caller's contract.
        let mechanism = unsafe { c_str(mechanism, "mechanism") }?;
        // SAFETY: as above.
        let user = unsafe { c_str(user, "user") }?;
        // SAFETY: as above.
        let password = Secret::new(unsafe { c_str(password, "password") }?);
        // SAFETY: as above.
        let service = unsafe { opt_c_str(service, "service") }?;
        // SAFETY: as above.
        let host = unsafe { opt_c_str(host, "host") }?;
        let mut sasl = Sasl::new(mechanism, user, password);
        if let Some(service) = service {
            sasl.service = service.to_owned();
        }
        if let Some(host) = host {
            sasl.host = host.to_owned();
        }
        // SAFETY: the caller's contract on `config`.
        unsafe {
            change(config, |c| {
                c.security.sasl = Some(sasl);
            })
        }
    })
}
