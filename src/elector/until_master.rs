//! [`UntilMaster`]: a future for "until master", ready once this candidate
//! is master with a valid lease. It looks at the [`ElectionState`] when
//! polled and is woken through its change hub (`changes.rs`); no timer, no
//! task of its own.

use super::candidate::FencingToken;
use super::shared::ElectionState;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

/// A future ready once this candidate is master with a valid lease, with
/// its fencing token: the async [`Elector::wait_until_master`](super::Elector::wait_until_master),
/// from [`Elector::until_master`](super::Elector::until_master). It looks
/// at the state when polled and is woken by every change and lease
/// renewal, so it does not resolve on a lease that has run out. With no
/// timeout of its own: wrap it in your runtime's (`tokio::time::timeout`).
/// Once the elector is stopped or shut down (it will not become master any
/// more) it resolves with [`Error::Closed`](crate::Error::Closed).
/// In the seed profile the election happens in [`Elector::run`](super::Elector::run)
/// (S4): it must be running, on a thread of its own, for this to resolve.
#[must_use = "futures do nothing unless polled"]
pub struct UntilMaster {
    pub(crate) shared: Arc<ElectionState>,
}

impl std::future::Future for UntilMaster {
    type Output = crate::Result<FencingToken>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let shared = &self.shared;
        // Register first, then look: a change between the two wakes us.
        shared.changes.wait(cx.waker());
        if let Some(token) = shared.token() {
            return Poll::Ready(Ok(token));
        }
        if shared.changes.ended() || shared.stopping() {
            return Poll::Ready(Err(crate::Error::Closed));
        }
        Poll::Pending
    }
}

impl std::fmt::Debug for UntilMaster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UntilMaster").finish_non_exhaustive()
    }
}
