//! [`Mastership`]: one term of mastership that the caller holds, from
//! [`Elector::until_master`](super::Elector::until_master) or
//! [`Elector::wait_for_mastership`](super::Elector::wait_for_mastership).
//!
//! Why a guard: with hooks, the node is released only after
//! `on_lost_master` returns, so work is stopped first. Async work runs in
//! tasks the elector cannot wait for, so the guard is what it waits for: on
//! a resign or a shutdown the loss fires first ([`Mastership::lost`]), and
//! the node is released once every guard of that term is dropped, or when
//! the lease would have ended (then the lease decides: the work was told,
//! and its guard says invalid). Under a lapse (renewals stop: cut off,
//! paused) the loss fires [`loss_margin`] before the lease ends, so the
//! work has that long to stop while the lease still covers it.
//!
//! A term lives in the election state (`shared.rs`) while it lasts; the
//! loss marks it lost and wakes every waiter (tasks and threads).

use super::candidate::{FencingToken, LostReason};
use super::fenced::Fenced;
use super::lease::lease_length;
use super::shared::ElectionState;
use super::term::Term;
use crate::clock::BootInstant;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

/// How long before the lease ends a lapsing mastership is given up (the
/// loss fires): a tenth of the lease, so that work told of the loss still
/// stops inside the lease.
pub fn loss_margin(negotiated_ms: i32) -> Duration {
    lease_length(negotiated_ms) / 10
}

/// Waits, on the election thread, until every guard of `term` is dropped or
/// `until` (the lease's end; `None`: no lease, then up to `bound`): the node
/// is released only then. The loss has fired already.
pub(crate) fn wait_for_guards(
    shared: &ElectionState,
    term: &Arc<Term>,
    until: Option<BootInstant>,
    bound: Duration,
) {
    // Our reference only: `term` (the state dropped its own at the loss).
    if term.guards(1) == 0 {
        return;
    }
    let end =
        Instant::now() + until.map_or(bound, |u| u.saturating_duration_since(BootInstant::now()));
    log::debug!(target: "zkha", "{}: waiting for {} guard(s) of the term to be dropped before the node is released", shared.config.path, term.guards(1));
    let mut inner = shared.inner.lock();
    while term.guards(1) > 0 && Instant::now() < end {
        let next = end.min(Instant::now() + Duration::from_millis(20));
        shared.changed.wait_until(&mut inner, next);
    }
    if term.guards(1) > 0 {
        log::warn!(target: "zkha", "{}: {} guard(s) of the ended term still held when its lease ended: releasing the node (the guards say invalid)", shared.config.path, term.guards(1));
    }
}

/// A guard of the current term, while master and the lease holds.
pub(crate) fn current(shared: &Arc<ElectionState>) -> Option<Mastership> {
    let term = shared.term()?;
    (shared.token().is_some()).then(|| Mastership::new(term, shared.clone()))
}

/// One term of mastership, held: its token, whether it still holds, how
/// long the lease has left, a future for its end, and writes fenced by
/// ZooKeeper ([`Mastership::fenced`]).
///
/// While a guard is held, a resign or a shutdown does not release the
/// node: it tells the guard ([`lost`](Mastership::lost) resolves,
/// [`is_valid`](Mastership::is_valid) turns false) and waits for every
/// guard of the term to be dropped, at most until the lease would have
/// ended. So drop the guard when the work has stopped:
///
/// ```no_run
/// # async fn work(_: zkha::elector::FencingToken) {}
/// # async fn f(elector: &zkha::elector::Elector) -> zkha::Result<()> {
/// let master = elector.until_master().await?;
/// tokio::select! {
///     reason = master.lost() => println!("lost: {reason}"),
///     _ = work(master.token()) => {}
/// }
/// drop(master); // the node can go now
/// # Ok(()) }
/// ```
///
/// Cloning gives another guard of the same term.
#[derive(Clone)]
pub struct Mastership {
    term: Arc<Term>,
    shared: Arc<ElectionState>,
}

impl Mastership {
    pub(crate) fn new(term: Arc<Term>, shared: Arc<ElectionState>) -> Mastership {
        Mastership { term, shared }
    }

    /// The fencing token of this term.
    pub fn token(&self) -> FencingToken {
        self.term.token
    }

    /// Whether this term still holds: not lost, and (safe profile) its
    /// lease has more than [`loss_margin`] left.
    pub fn is_valid(&self) -> bool {
        self.term.lost().is_none() && self.remaining().is_none_or(|r| !r.is_zero())
    }

    /// Safe profile: how long this term may still work, by the lease's own
    /// clock (CLOCK_BOOTTIME, which counts through suspend): the lease
    /// left less [`loss_margin`], zero once lost. `None` in the seed
    /// profile, which has no lease.
    pub fn remaining(&self) -> Option<Duration> {
        if self.term.lost().is_some() {
            return Some(Duration::ZERO);
        }
        let (lease, negotiated) = {
            let inner = self.shared.inner.lock();
            (inner.lease_until, inner.negotiated_ms)
        };
        let lease = lease?;
        Some(
            lease
                .saturating_duration_since(BootInstant::now())
                .saturating_sub(loss_margin(negotiated)),
        )
    }

    /// Why this term ended, once it has.
    pub fn lost_reason(&self) -> Option<LostReason> {
        self.term.lost()
    }

    /// A future that resolves when this term ends, with the reason: on any
    /// loss, and under a lapse [`loss_margin`] before the lease ends. Any
    /// executor; cancellation-safe.
    pub fn lost(&self) -> Lost {
        Lost {
            term: self.term.clone(),
        }
    }

    /// Blocks until this term ends (with the reason) or `timeout` passes
    /// (`None`).
    pub fn wait_lost(&self, timeout: Duration) -> Option<LostReason> {
        let deadline = Instant::now() + timeout;
        let mut lost = self.term.lost.lock();
        while lost.is_none() {
            if self.term.cv.wait_until(&mut lost, deadline).timed_out() {
                break;
            }
        }
        lost.clone()
    }

    /// Writes fenced by ZooKeeper: one `multi` that first checks this
    /// term's version of the term node, so it fails as a whole once
    /// another term began (see [`Fenced`]).
    pub fn fenced(&self) -> Fenced {
        Fenced::new(self.shared.clone(), self.term.clone())
    }
}

impl Drop for Mastership {
    fn drop(&mut self) {
        // The election may be waiting for the last guard (a release).
        if self.term.lost().is_some() {
            self.shared.wake();
        }
    }
}

impl std::fmt::Debug for Mastership {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mastership")
            .field("token", &self.term.token)
            .field("lost", &self.term.lost())
            .finish()
    }
}

/// The end of a term: from [`Mastership::lost`].
#[must_use = "futures do nothing unless polled"]
pub struct Lost {
    term: Arc<Term>,
}

impl Future for Lost {
    type Output = LostReason;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<LostReason> {
        {
            let mut wakers = self.term.wakers.lock();
            if !wakers.iter().any(|w| w.will_wake(cx.waker())) {
                wakers.push(cx.waker().clone());
            }
        }
        match self.term.lost() {
            Some(reason) => Poll::Ready(reason),
            None => Poll::Pending,
        }
    }
}

impl std::fmt::Debug for Lost {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lost").finish_non_exhaustive()
    }
}
