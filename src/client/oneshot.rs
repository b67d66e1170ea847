//! A one-value channel from a completion (on the C client's completion
//! thread) to one receiver, which may await it (waker-based, under any
//! executor) or block on it (with or without a timeout).
//!
//! Why hand-written: a futures-channel oneshot has no blocking wait, and
//! [`crate::Pending`] needs both a `Future` and `wait_timeout(&self)`; one
//! mutex, one condvar and one waker slot give both, with no dependency.
//!
//! The sending side only stores the value, notifies and wakes, after
//! releasing its lock: it runs no user code and never blocks on the
//! receiver. Dropping the receiver first is fine: the value is stored and
//! freed with the slot.

use crate::error::{Error, Result};
use parking_lot::{Condvar, Mutex};
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::Instant;

struct SlotContents<T> {
    value: Option<Result<T>>,
    /// The sender sent or was dropped: no value will come after this.
    done: bool,
    waker: Option<Waker>,
}

struct Slot<T> {
    state: Mutex<SlotContents<T>>,
    ready: Condvar,
}

/// The sending half: sends once; dropped unsent, the receiver gets
/// [`Error::Closed`].
pub(crate) struct Sender<T>(Option<Arc<Slot<T>>>);

/// The receiving half.
pub(crate) struct Receiver<T>(Arc<Slot<T>>);

pub(crate) fn channel<T>() -> (Sender<T>, Receiver<T>) {
    let slot = Arc::new(Slot {
        state: Mutex::new(SlotContents {
            value: None,
            done: false,
            waker: None,
        }),
        ready: Condvar::new(),
    });
    (Sender(Some(slot.clone())), Receiver(slot))
}

/// A receiver that already holds `value` (a call refused before queueing).
pub(crate) fn ready<T>(value: Result<T>) -> Receiver<T> {
    let (tx, rx) = channel();
    tx.send(value);
    rx
}

impl<T> Sender<T> {
    pub(crate) fn send(mut self, value: Result<T>) {
        self.finish(Some(value));
    }

    fn finish(&mut self, value: Option<Result<T>>) {
        let Some(slot) = self.0.take() else { return };
        let waker = {
            let mut state = slot.state.lock();
            state.value = value;
            state.done = true;
            state.waker.take()
        };
        slot.ready.notify_all();
        if let Some(waker) = waker {
            waker.wake();
        }
    }
}

impl<T> Drop for Sender<T> {
    fn drop(&mut self) {
        self.finish(None);
    }
}

impl<T> Receiver<T> {
    /// The value once sent; [`Error::Closed`] if the sender was dropped
    /// unsent or the value was already taken.
    fn take(state: &mut SlotContents<T>) -> Option<Result<T>> {
        if state.done {
            Some(state.value.take().unwrap_or(Err(Error::Closed)))
        } else {
            None
        }
    }

    pub(crate) fn poll(&self, cx: &mut Context<'_>) -> Poll<Result<T>> {
        let mut state = self.0.state.lock();
        if let Some(r) = Self::take(&mut state) {
            return Poll::Ready(r);
        }
        match &state.waker {
            Some(w) if w.will_wake(cx.waker()) => {}
            _ => state.waker = Some(cx.waker().clone()),
        }
        Poll::Pending
    }

    /// Blocks until sent, or until `deadline` (then `None`).
    pub(crate) fn wait_until(&self, deadline: Option<Instant>) -> Option<Result<T>> {
        let mut state = self.0.state.lock();
        loop {
            if let Some(r) = Self::take(&mut state) {
                return Some(r);
            }
            match deadline {
                None => self.0.ready.wait(&mut state),
                Some(d) => {
                    if self.0.ready.wait_until(&mut state, d).timed_out() {
                        return Self::take(&mut state);
                    }
                }
            }
        }
    }

    pub(crate) fn try_take(&self) -> Option<Result<T>> {
        Self::take(&mut self.0.state.lock())
    }

    /// Whether the value came (or the sender went), taken or not.
    pub(crate) fn is_done(&self) -> bool {
        self.0.state.lock().done
    }

    /// [`is_done`](Self::is_done), askable from another thread while this
    /// receiver stays where it is.
    pub(crate) fn done_probe(&self) -> impl Fn() -> bool + Send + Sync + 'static
    where
        T: Send + 'static,
    {
        let slot = self.0.clone();
        move || slot.state.lock().done
    }
}

impl<T> std::fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Receiver")
            .field("done", &self.is_done())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::task::Wake;
    use std::time::Duration;

    struct Count(AtomicUsize);
    impl Wake for Count {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    #[test]
    fn a_send_wakes_the_polling_task_once_and_then_reads_closed() {
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(count.clone());
        let mut cx = Context::from_waker(&waker);
        let (tx, rx) = channel::<u8>();
        assert!(rx.poll(&mut cx).is_pending());
        assert!(rx.poll(&mut cx).is_pending()); // same waker: kept, not stacked
        tx.send(Ok(7));
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
        assert!(matches!(rx.poll(&mut cx), Poll::Ready(Ok(7))));
        assert!(matches!(rx.poll(&mut cx), Poll::Ready(Err(Error::Closed))));
    }

    #[test]
    fn a_sender_dropped_unsent_ends_waits_and_polls_with_closed() {
        let count = Arc::new(Count(AtomicUsize::new(0)));
        let waker = Waker::from(count.clone());
        let (tx, rx) = channel::<u8>();
        assert!(rx.poll(&mut Context::from_waker(&waker)).is_pending());
        drop(tx);
        assert_eq!(count.0.load(Ordering::SeqCst), 1);
        assert!(matches!(rx.wait_until(None), Some(Err(Error::Closed))));
    }

    #[test]
    fn a_timed_out_wait_leaves_the_value_to_come() {
        let (tx, rx) = channel::<u8>();
        let soon = Instant::now() + Duration::from_millis(10);
        assert!(rx.wait_until(Some(soon)).is_none());
        assert!(rx.try_take().is_none() && !rx.is_done());
        let sender = std::thread::spawn(move || tx.send(Ok(3)));
        assert!(matches!(rx.wait_until(None), Some(Ok(3))));
        sender.join().unwrap();
        assert!(matches!(
            ready::<u8>(Err(Error::Closed)).try_take(),
            Some(Err(Error::Closed))
        ));
    }
}
