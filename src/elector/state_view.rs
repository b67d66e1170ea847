//! The elector's state as a value ([`ElectorState`]) and a watch of it
//! ([`StateWatch`]), like `tokio::sync::watch`: a late subscriber reads
//! the current state first, so it never misses a loss, where a change
//! stream (`changes.rs`) only tells what happened after it subscribed.

use super::candidate::FencingToken;
use super::mastership::loss_margin;
use super::shared::ElectionState;
use crate::clock::BootInstant;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

/// The session, as the elector sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Connection {
    /// No session connected yet (or a new one after an expiry).
    Connecting,
    /// Connected.
    Connected,
    /// Connected before, not now: the C client is reconnecting.
    Disconnected,
    /// The session expired (a new one is being opened).
    Expired,
    /// The elector is stopped.
    Closed,
}

/// The elector's state at one moment.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ElectorState {
    /// The token while master (and, in the safe profile, the lease holds).
    pub master: Option<FencingToken>,
    /// Safe profile, while master: how long the term may still work (the
    /// lease left less [`loss_margin`]); `None` otherwise.
    pub lease_remaining: Option<Duration>,
    /// The session.
    pub connection: Connection,
}

impl ElectorState {
    pub(crate) fn of(shared: &ElectionState) -> ElectorState {
        let stopped = shared.stopping() || shared.changes.ended();
        let inner = shared.inner.lock();
        let master = if stopped {
            None
        } else {
            inner
                .master
                .filter(|_| inner.lease_until.is_none_or(|u| BootInstant::now() < u))
        };
        let lease_remaining = master.and(inner.lease_until).map(|u| {
            u.saturating_duration_since(BootInstant::now())
                .saturating_sub(loss_margin(inner.negotiated_ms))
        });
        let connection = if stopped {
            Connection::Closed
        } else if inner.connected {
            Connection::Connected
        } else if inner.expired {
            Connection::Expired
        } else if inner.disconnected_at.is_some() {
            Connection::Disconnected
        } else {
            Connection::Connecting
        };
        ElectorState {
            master,
            lease_remaining,
            connection,
        }
    }
}

/// A watch of the elector's state: [`borrow`](StateWatch::borrow) reads it
/// now, [`changed`](StateWatch::changed) waits until the role or the
/// connection changes after the last read. From
/// [`Elector::watch_state`](super::Elector::watch_state).
#[derive(Clone)]
pub struct StateWatch {
    shared: Arc<ElectionState>,
    seen: u64,
}

impl StateWatch {
    pub(crate) fn new(shared: Arc<ElectionState>) -> StateWatch {
        let seen = shared.changes.version();
        StateWatch { shared, seen }
    }

    /// The state now (marks it seen).
    pub fn borrow(&mut self) -> ElectorState {
        self.seen = self.shared.changes.version();
        ElectorState::of(&self.shared)
    }

    /// Resolves (with the new state) once the role or the connection
    /// changed since the last [`borrow`](StateWatch::borrow) or
    /// `changed`; [`Error::Stopped`](crate::Error::Stopped) once the
    /// elector is stopped and that was seen.
    pub fn changed(&mut self) -> Changed<'_> {
        Changed { watch: self }
    }
}

impl std::fmt::Debug for StateWatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StateWatch")
            .field("seen", &self.seen)
            .finish()
    }
}

/// From [`StateWatch::changed`].
#[must_use = "futures do nothing unless polled"]
pub struct Changed<'a> {
    watch: &'a mut StateWatch,
}

impl Future for Changed<'_> {
    type Output = crate::Result<ElectorState>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let shared = self.watch.shared.clone();
        shared.changes.wait(cx.waker());
        let now = shared.changes.version();
        if now != self.watch.seen {
            self.watch.seen = now;
            return Poll::Ready(Ok(ElectorState::of(&shared)));
        }
        if shared.changes.ended() {
            return Poll::Ready(Err(crate::Error::Stopped));
        }
        Poll::Pending
    }
}
