//! Mastership changes for async code: [`MasterChanges`], a stream of
//! changes per subscriber, and the hub that feeds them and wakes the
//! "until master" futures (`until_master.rs`).
//!
//! Threads: the election (its thread, or the C completion thread) feeds
//! them from the same places that call `on_became_master` and
//! `on_lost_master`. Feeding only pushes onto each subscriber's queue and
//! wakes its task after every lock is released: it never blocks on a
//! subscriber, however slow, and runs no user code beyond the executor's
//! `wake`. Both are runtime-agnostic (no timer, no task of their own).

use super::candidate::{FencingToken, LostReason};
use futures_core::Stream;
use parking_lot::Mutex;
use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::{Arc, Weak};
use std::task::{Context, Poll, Waker};

/// One change of this candidate's mastership.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum MasterChange {
    /// It became master, with its fencing token.
    BecameMaster(FencingToken),
    /// It stopped being master, and why.
    LostMaster(LostReason),
}

#[derive(Default)]
struct Queue {
    items: VecDeque<MasterChange>,
    /// The elector shut down: the stream ends once drained.
    ended: bool,
    waker: Option<Waker>,
}

/// The subscribers of one elector.
#[derive(Default)]
pub(crate) struct Hub {
    subscribers: Mutex<Vec<Weak<Mutex<Queue>>>>,
    /// Tasks waiting for "until master" (woken at each change or renewal).
    waiters: Mutex<Vec<Waker>>,
    ended: std::sync::atomic::AtomicBool,
    /// Counts changes of the role and the connection (the state view's).
    version: std::sync::atomic::AtomicU64,
}

/// Wakers to wake once the caller released its locks.
#[must_use = "wake them after releasing the elector's lock"]
pub(crate) struct Wakeups(Vec<Waker>);

impl Wakeups {
    pub(crate) fn wake(self) {
        for w in self.0 {
            w.wake();
        }
    }
}

impl Hub {
    /// A new subscriber whose queue starts with `first` (the state at the
    /// time of subscribing, taken under the same lock as the changes).
    pub(crate) fn subscribe(&self, first: Option<MasterChange>) -> MasterChanges {
        // Under the subscribers' lock, which `end` holds while it marks the
        // end: a subscriber is either ended here or drained (and ended) there.
        let mut subs = self.subscribers.lock();
        let queue = Arc::new(Mutex::new(Queue {
            items: first.into_iter().collect(),
            ended: self.ended(),
            waker: None,
        }));
        subs.retain(|s| s.strong_count() > 0);
        subs.push(Arc::downgrade(&queue));
        MasterChanges { queue }
    }

    /// Queues `change` for every live subscriber. Called under the
    /// elector's state lock, so subscribing and changing are ordered; wake
    /// the result after releasing it.
    pub(crate) fn publish(&self, change: MasterChange) -> Wakeups {
        self.version
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        let mut wake = self.take_waiters();
        let subs: Vec<_> = {
            let mut subs = self.subscribers.lock();
            subs.retain(|s| s.strong_count() > 0);
            subs.iter().filter_map(Weak::upgrade).collect()
        };
        for queue in subs {
            let mut q = queue.lock();
            q.items.push_back(change.clone());
            wake.extend(q.waker.take());
        }
        Wakeups(wake)
    }

    /// The connection changed: the state view's waiters look again.
    pub(crate) fn bump(&self) {
        self.version
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        self.ping();
    }

    /// The state's version (see [`Hub::bump`]).
    pub(crate) fn version(&self) -> u64 {
        self.version.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Wakes the "until master" waiters (the lease was renewed, or the
    /// elector is stopping): they look at the state again.
    pub(crate) fn ping(&self) {
        Wakeups(self.take_waiters()).wake();
    }

    /// The elector shut down: streams end once drained, "until master"
    /// futures resolve with an error.
    pub(crate) fn end(&self) {
        let subs: Vec<_> = {
            let mut subs = self.subscribers.lock();
            self.ended.store(true, std::sync::atomic::Ordering::Release);
            self.version
                .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
            subs.drain(..).filter_map(|s| s.upgrade()).collect()
        };
        let mut wake = self.take_waiters();
        for queue in subs {
            let mut q = queue.lock();
            q.ended = true;
            wake.extend(q.waker.take());
        }
        Wakeups(wake).wake();
    }

    pub(crate) fn ended(&self) -> bool {
        self.ended.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Registers a task to wake at the next change.
    pub(crate) fn wait(&self, waker: &Waker) {
        let mut waiters = self.waiters.lock();
        if !waiters.iter().any(|w| w.will_wake(waker)) {
            waiters.push(waker.clone());
        }
    }

    /// Withdraws a waiter (a future dropped before it resolved).
    pub(crate) fn forget(&self, waker: &Waker) {
        self.waiters.lock().retain(|w| !w.will_wake(waker));
    }

    /// Waiters registered now (tests: nothing is left behind).
    #[cfg(test)]
    pub(crate) fn waiting(&self) -> usize {
        self.waiters.lock().len()
    }

    fn take_waiters(&self) -> Vec<Waker> {
        std::mem::take(&mut *self.waiters.lock())
    }
}

/// A stream of this candidate's mastership changes ([`MasterChange`]), from
/// [`Elector::changes`](super::Elector::changes). Each subscriber gets every
/// change, in order, from its own queue: several may be open at once, and
/// a slow one delays nobody. The first item is `BecameMaster(token)` when
/// the candidate was master at the time of subscribing; the stream ends
/// (`None`) after the elector shuts down, its last item then being
/// `LostMaster(Shutdown)` if it was master.
///
/// The queue is unbounded (changes are rare: one per election): drop a
/// stream you stop reading. A lease running out shows here when the
/// election notices (`LostMaster(LeaseExpired)`); [`Elector::is_master`](super::Elector::is_master)
/// turns false at the deadline itself.
#[must_use = "streams do nothing unless polled"]
pub struct MasterChanges {
    queue: Arc<Mutex<Queue>>,
}

impl MasterChanges {
    /// The next change if one is queued (non-blocking); `None` also once
    /// the stream has ended.
    pub fn try_next(&self) -> Option<MasterChange> {
        self.queue.lock().items.pop_front()
    }
}

impl Stream for MasterChanges {
    type Item = MasterChange;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<MasterChange>> {
        let mut q = self.queue.lock();
        if let Some(change) = q.items.pop_front() {
            return Poll::Ready(Some(change));
        }
        if q.ended {
            return Poll::Ready(None);
        }
        match &q.waker {
            Some(w) if w.will_wake(cx.waker()) => {}
            _ => q.waker = Some(cx.waker().clone()),
        }
        Poll::Pending
    }
}

impl std::fmt::Debug for MasterChanges {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let q = self.queue.lock();
        f.debug_struct("MasterChanges")
            .field("queued", &q.items.len())
            .field("ended", &q.ended)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::Wake;

    struct Count(AtomicUsize);
    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn poll(s: &mut MasterChanges, waker: &Waker) -> Poll<Option<MasterChange>> {
        Pin::new(s).poll_next(&mut Context::from_waker(waker))
    }

    const TOKEN: FencingToken = FencingToken {
        czxid: 42,
        sequence: None,
    };

    #[test]
    fn every_subscriber_gets_every_change_then_the_end() {
        let hub = Hub::default();
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(count.clone());
        let mut a = hub.subscribe(None);
        let mut b = hub.subscribe(Some(MasterChange::BecameMaster(TOKEN)));
        assert!(poll(&mut a, &waker).is_pending());
        hub.publish(MasterChange::LostMaster(LostReason::Resigned))
            .wake();
        assert_eq!(count.0.load(Ordering::SeqCst), 1, "a's task is woken");
        let dropped = hub.subscribe(None);
        drop(dropped);
        hub.publish(MasterChange::BecameMaster(TOKEN)).wake();
        assert_eq!(hub.subscribers.lock().len(), 2, "dropped ones are pruned");
        hub.end();
        let lost = MasterChange::LostMaster(LostReason::Resigned);
        let became = MasterChange::BecameMaster(TOKEN);
        for (s, want) in [
            (&mut a, vec![lost.clone(), became.clone()]),
            (&mut b, vec![became.clone(), lost, became]),
        ] {
            for w in want {
                assert_eq!(poll(s, &waker), Poll::Ready(Some(w)));
            }
            assert_eq!(poll(s, &waker), Poll::Ready(None));
        }
        let mut late = hub.subscribe(None);
        assert_eq!(
            poll(&mut late, &waker),
            Poll::Ready(None),
            "subscribed after the end"
        );
    }

    #[test]
    fn waiters_are_woken_by_pings_changes_and_the_end() {
        let hub = Hub::default();
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(count.clone());
        hub.wait(&waker);
        hub.wait(&waker); // the same task once
        hub.ping();
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
        hub.ping();
        assert_eq!(count.0.load(Ordering::SeqCst), 1, "woken once per wait");
        hub.wait(&waker);
        hub.publish(MasterChange::BecameMaster(TOKEN)).wake();
        hub.wait(&waker);
        assert!(!hub.ended());
        hub.end();
        assert!(hub.ended());
        assert_eq!(count.0.load(Ordering::SeqCst), 3);
    }
}
