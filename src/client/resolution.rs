//! [`HostResolution`]: how often the C client resolves the connect string's
//! host names again while connected (`zoo_set_servers_resolution_delay`).
//!
//! By default (C's own, kept here) the C client's I/O thread resolves the
//! whole host list before every pass of its poll loop: `getaddrinfo` (a
//! netlink socket for `AI_ADDRCONFIG`), then `/dev/urandom` to reseed the
//! shuffle. That is about 20 of the 32 system calls of a synchronous get
//! (`bench/FINDINGS-c-client.md`). A window makes routine passes skip it;
//! while disconnected the client still resolves on every attempt, so a
//! reconnect sees DNS changes at once either way.

use crate::error::{check, Argument, Error, Result};
use crate::ZooKeeper;
use std::os::raw::c_int;
use std::time::Duration;

/// When the C client resolves the host names of the connect string again
/// (see the module docs). Set at init with
/// [`ZooKeeperBuilder::host_resolution`](crate::ZooKeeperBuilder::host_resolution)
/// or later with [`ZooKeeper::set_host_resolution`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HostResolution {
    /// Before every pass of the I/O loop: the C client's default (0).
    #[default]
    EveryPass,
    /// While connected, at most once per window (whole milliseconds, 1 ms
    /// to `i32::MAX` ms): a DNS change is noticed up to that late, or at
    /// the next reconnect.
    AtMostEvery(Duration),
    /// While connected, never (C's -1): only a reconnect resolves again.
    OnlyWhenReconnecting,
}

impl HostResolution {
    /// C's `delay_ms` argument, or why this value has none.
    pub(crate) fn delay_ms(self) -> Result<c_int> {
        match self {
            HostResolution::EveryPass => Ok(0),
            HostResolution::OnlyWhenReconnecting => Ok(-1),
            HostResolution::AtMostEvery(window) => {
                let ms = window.as_millis();
                let Ok(c_ms) = c_int::try_from(ms) else {
                    return Err(Error::invalid(
                        Argument::Timeout,
                        format!("host resolution window of {ms} ms is too large"),
                    ));
                };
                if ms == 0 || Duration::from_millis(ms as u64) != window {
                    return Err(Error::invalid(
                        Argument::Timeout,
                        format!(
                            "host resolution window must be whole milliseconds from 1 ms, got {window:?}"
                        ),
                    ));
                }
                Ok(c_ms)
            }
        }
    }
}

impl ZooKeeper {
    /// `zoo_set_servers_resolution_delay`: when the C client resolves the
    /// host names again from now on (see [`HostResolution`]). Safe at any
    /// time; the C client takes its own lock.
    pub fn set_host_resolution(&self, resolution: HostResolution) -> Result<()> {
        let ms = resolution.delay_ms()?;
        let zh = self.handle()?;
        // SAFETY: live handle (the read guard keeps it from being closed);
        // C stores the value under its reconfig lock.
        check(unsafe { zk_sys::zoo_set_servers_resolution_delay(zh.0, ms) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn delays_are_c_values_and_bad_windows_are_refused() {
        assert_eq!(HostResolution::EveryPass.delay_ms().unwrap(), 0);
        assert_eq!(HostResolution::OnlyWhenReconnecting.delay_ms().unwrap(), -1);
        let every = |d| HostResolution::AtMostEvery(d).delay_ms();
        assert_eq!(every(Duration::from_millis(1)).unwrap(), 1);
        assert_eq!(every(Duration::from_secs(2)).unwrap(), 2000);
        assert_eq!(
            every(Duration::from_millis(i32::MAX as u64)).unwrap(),
            i32::MAX
        );
        for (bad, reason) in [
            (Duration::ZERO, "whole milliseconds from 1 ms"),
            (Duration::from_micros(999), "whole milliseconds from 1 ms"),
            (Duration::from_micros(1500), "whole milliseconds from 1 ms"),
            (Duration::from_millis(i32::MAX as u64 + 1), "too large"),
            (Duration::MAX, "too large"),
        ] {
            let e = every(bad).unwrap_err();
            assert!(
                matches!(
                    e,
                    Error::InvalidArgument {
                        argument: Argument::Timeout,
                        ..
                    }
                ),
                "{bad:?}: {e:?}"
            );
            assert!(e.to_string().contains("host resolution window"), "{e}");
            assert!(e.to_string().contains(reason), "{bad:?}: {e}");
        }
    }
}
