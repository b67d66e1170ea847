//! Session queries and settings on a [`ZooKeeper`]: connection state,
//! session id and timeout, the server list and ensemble configuration,
//! authentication. Blocking calls; `add_auth` refuses the callback thread.

use super::callback;
use super::read_buffer::{copy_read_buffer, with_read_buffer, DEFAULT_READ};
use crate::error::{check, Argument, Error, ErrorCode, Result};
use crate::types::{ClientId, Stat, State};
use crate::validate::{c_text, check_hosts};
use crate::ZooKeeper;
use std::os::raw::{c_char, c_int};
use std::sync::mpsc;
use std::time::{Duration, Instant};

impl ZooKeeper {
    /// Waits until the session is connected (SESSION/CONNECTED, or READONLY).
    /// Expiry and auth failure end the wait with their error.
    pub fn wait_connected(&self, timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        loop {
            match self.state()? {
                State::Connected | State::ReadOnly => return Ok(()),
                State::Expired => return Err(Error::Zk(ErrorCode::SessionExpired)),
                State::AuthFailed => return Err(Error::Zk(ErrorCode::AuthFailed)),
                _ => {}
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(Error::Timeout("waiting for the session to connect"));
            }
            let wait = (deadline - now).min(Duration::from_millis(50));
            match &self.inner.signal {
                Some(signal) => {
                    let mut state = signal.state.lock();
                    if *state != zk_sys::consts::ZOO_CONNECTED_STATE {
                        signal.changed.wait_for(&mut state, wait);
                    }
                }
                None => std::thread::sleep(wait),
            }
        }
    }

    /// `zoo_state`.
    pub fn state(&self) -> Result<State> {
        let zh = self.handle()?;
        // SAFETY: live handle.
        Ok(State::from_raw(unsafe { zk_sys::zoo_state(zh.0) }))
    }

    /// `zoo_recv_timeout`: the negotiated session timeout, in ms, once connected.
    pub fn recv_timeout(&self) -> Result<i32> {
        let zh = self.handle()?;
        // SAFETY: live handle.
        Ok(unsafe { zk_sys::zoo_recv_timeout(zh.0) })
    }

    /// `is_unrecoverable`: the session is expired or auth failed; only a new
    /// handle helps.
    pub fn is_unrecoverable(&self) -> Result<bool> {
        let zh = self.handle()?;
        // SAFETY: live handle.
        Ok(unsafe { zk_sys::is_unrecoverable(zh.0) } == zk_sys::ZINVALIDSTATE)
    }

    /// `zoo_client_id`: the session's id and password (valid once connected).
    pub fn client_id(&self) -> Result<ClientId> {
        let zh = self.handle()?;
        // SAFETY: live handle; the struct is copied at once.
        let raw = unsafe { &*zk_sys::zoo_client_id(zh.0) };
        Ok(ClientId::from_raw(raw))
    }

    /// `zoo_get_current_server`: `host:port` being used (or tried).
    pub fn current_server(&self) -> Result<String> {
        let zh = self.handle()?;
        // SAFETY: live handle; the returned text is copied at once.
        let p = unsafe { zk_sys::zoo_get_current_server(zh.0) };
        Ok(super::raw::string_from_c(p))
    }

    /// `zoo_set_servers`: a new server list (rebalances clients).
    pub fn set_servers(&self, hosts: &str) -> Result<()> {
        check_hosts(hosts)?;
        if hosts.contains('/') {
            return Err(Error::invalid(
                Argument::Hosts,
                "set_servers takes no chroot",
            ));
        }
        let c = c_text(hosts, Argument::Hosts)?;
        let zh = self.handle()?;
        // SAFETY: live handle, valid C string.
        check(unsafe { zk_sys::zoo_set_servers(zh.0, c.as_ptr()) })
    }

    /// `zoo_add_auth`, waiting for the server's answer. With a wrong
    /// credential the server ends the session (state AUTH_FAILED). From a
    /// callback: [`Error::CalledFromCallback`] (the answer is delivered on
    /// the completion thread).
    pub fn add_auth(&self, scheme: &str, cert: &[u8]) -> Result<()> {
        if scheme.is_empty() {
            return Err(Error::invalid(Argument::Acl, "empty auth scheme"));
        }
        let cscheme = c_text(scheme, Argument::Acl)?;
        let (tx, rx) = mpsc::sync_channel::<Result<()>>(1);
        super::async_ops::refuse_in_callback("add_auth")?;
        {
            let zh = self.handle()?;
            let ctx = callback::new_completion::<()>(
                Box::new(move |r| drop(tx.send(r))),
                self.registry(),
                None,
            );
            // SAFETY: live handle, valid scheme and `cert.len()` bytes; our
            // completion trampoline with its context.
            let rc = unsafe {
                zk_sys::zoo_add_auth(
                    zh.0,
                    cscheme.as_ptr(),
                    cert.as_ptr() as *const c_char,
                    cert.len() as c_int,
                    Some(super::async_ops::void_done),
                    ctx,
                )
            };
            if rc != zk_sys::ZOK {
                callback::discard_completion::<()>(ctx);
                return check(rc);
            }
        }
        rx.recv().unwrap_or(Err(Error::Closed))
    }

    /// `zoo_getconfig`: the ensemble configuration text and its Stat.
    pub fn getconfig(&self, watch: bool) -> Result<(String, Stat)> {
        let zh = self.handle()?;
        let mut stat = zk_sys::Stat::default();
        let (rc, len) = with_read_buffer(DEFAULT_READ, |buf, cap| {
            let mut len = cap;
            // SAFETY: live handle, buffer of `len` bytes, Stat out-parameter.
            let rc =
                unsafe { zk_sys::zoo_getconfig(zh.0, watch as c_int, buf, &mut len, &mut stat) };
            (rc, len)
        });
        check(rc)?;
        Ok((
            String::from_utf8_lossy(&copy_read_buffer(len)).into_owned(),
            stat.into(),
        ))
    }
}
