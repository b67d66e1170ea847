//! [`UntilMaster`]: a future for "until master", ready once this candidate
//! is master with a valid lease. It looks at the [`ElectionState`] when
//! polled and is woken through its change hub (`changes.rs`); no timer, no
//! task of its own.

use super::mastership::Mastership;
use super::shared::ElectionState;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

/// A future ready once this candidate is master with a valid lease, with a
/// guard of that term ([`Mastership`]): from
/// [`Elector::until_master`](super::Elector::until_master). It looks at the
/// state when polled and is woken by every change and lease renewal, so it
/// does not resolve on a lease that has run out. Any executor, no timer of
/// its own (wrap it in your runtime's timeout for one).
///
/// Errors: [`Error::Stopped`](crate::Error::Stopped) once the elector is
/// stopped or shut down; the error itself when the election meets one that
/// will not go away by itself (not authorized, a missing parent, TLS or
/// SASL refused: the election keeps retrying, an administrator may fix
/// it); [`Error::Timeout`](crate::Error::Timeout) when no session could be
/// connected for [`ElectorConfig::unreachable_after`](super::ElectorConfig::unreachable_after).
///
/// Cancellation-safe: dropping it before it resolves leaves nothing behind
/// (no guard is made until it resolves, and its waker is withdrawn).
/// In the seed profile the election happens in [`Elector::run`](super::Elector::run)
/// (S4): it must be running, on a thread of its own, for this to resolve.
#[must_use = "futures do nothing unless polled"]
pub struct UntilMaster {
    pub(crate) shared: Arc<ElectionState>,
    pub(crate) waker: Option<Waker>,
}

impl std::future::Future for UntilMaster {
    type Output = crate::Result<Mastership>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        // Register first, then look: a change between the two wakes us.
        self.shared.changes.wait(cx.waker());
        self.waker = Some(cx.waker().clone());
        let shared = &self.shared;
        if let Some(guard) = super::mastership::current(shared) {
            self.withdraw();
            return Poll::Ready(Ok(guard));
        }
        if shared.changes.ended() || shared.stopping() {
            self.withdraw();
            return Poll::Ready(Err(crate::Error::Stopped));
        }
        if let Some(e) = shared.blocking_error() {
            self.withdraw();
            return Poll::Ready(Err(e));
        }
        Poll::Pending
    }
}

impl UntilMaster {
    fn withdraw(&mut self) {
        if let Some(w) = self.waker.take() {
            self.shared.changes.forget(&w);
        }
    }
}

impl Drop for UntilMaster {
    fn drop(&mut self) {
        self.withdraw();
    }
}

impl std::fmt::Debug for UntilMaster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UntilMaster").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::elector::ElectorConfig;
    use std::future::Future;

    /// Dropped before it resolved, the future leaves no waker behind (and
    /// made no guard: nothing holds a release back).
    #[test]
    fn a_dropped_until_master_leaves_nothing_behind() {
        let config = ElectorConfig::new("127.0.0.1:1", "/cancel/m");
        let shared = ElectionState::new(config, Arc::new(())).unwrap();
        let mut fut = UntilMaster {
            shared: shared.clone(),
            waker: None,
        };
        let waker = Waker::noop();
        let mut cx = Context::from_waker(waker);
        assert!(Pin::new(&mut fut).poll(&mut cx).is_pending());
        assert_eq!(shared.changes.waiting(), 1);
        drop(fut);
        assert_eq!(shared.changes.waiting(), 0, "a waker was left behind");
        assert!(shared.term().is_none());
    }
}
