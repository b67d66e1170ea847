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

struct State<T> {
    value: Option<Result<T>>,
    /// The sender sent or was dropped: no value will come after this.
    done: bool,
    waker: Option<Waker>,
}

struct Slot<T> {
    state: Mutex<State<T>>,
    ready: Condvar,
}

/// The sending half: sends once; dropped unsent, the receiver gets
/// [`Error::Closed`].
pub(crate) struct Sender<T>(Option<Arc<Slot<T>>>);

/// The receiving half.
pub(crate) struct Receiver<T>(Arc<Slot<T>>);

pub(crate) fn channel<T>() -> (Sender<T>, Receiver<T>) {
    let slot = Arc::new(Slot {
        state: Mutex::new(State {
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
    fn take(state: &mut State<T>) -> Option<Result<T>> {
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
}

impl<T> std::fmt::Debug for Receiver<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Receiver")
            .field("done", &self.is_done())
            .finish()
    }
}
