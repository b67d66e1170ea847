//! The caller's handle (`Elector::start_with_handle`): its watcher is the
//! caller's, so the election looks at the session's state itself and does
//! the bookkeeping a session event would (`session.rs` does it for its own
//! sessions). A leaf of the safe profile: `wait.rs` and `session.rs` use
//! it, it uses neither.

use crate::elector::shared::ElectionState;
use crate::types::State;
use crate::ZooKeeper;
use std::time::Instant;

/// The caller's handle's state, looked at (its watcher is the caller's):
/// the same bookkeeping as `session.rs`'s `on_session_event`, and a wake on a change.
pub(super) fn follow_given(shared: &ElectionState, zk: &ZooKeeper) {
    let state = zk.state().unwrap_or(State::Expired);
    let changed = {
        let mut inner = shared.inner.lock();
        match state {
            State::Connected | State::ReadOnly if !inner.connected => {
                inner.connected = true;
                inner.disconnected_at = None;
                true
            }
            State::Expired | State::AuthFailed if !inner.expired => {
                inner.connected = false;
                inner.expired = true;
                true
            }
            State::Connecting | State::Associating | State::SslConnecting | State::NotConnected
                if inner.connected =>
            {
                inner.connected = false;
                inner.disconnected_at = Some(Instant::now());
                true
            }
            _ => false,
        }
    };
    if changed {
        match state {
            State::Connected | State::ReadOnly => {
                shared.trace_connected(zk.client_id().map_or(0, |c| c.id));
                shared.candidate.on_zookeeper_connected("");
            }
            State::Expired => {
                shared.trace_expired();
                shared.candidate.on_zookeeper_expired();
            }
            _ => {}
        }
        shared.changes.bump();
        shared.wake();
    }
}
