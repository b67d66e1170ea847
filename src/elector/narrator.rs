//! The narrator's thread: one per elector, woken by the same events as the
//! election, it tells the connection's changes as they happen and, as a
//! standby, names the master (a ZooKeeper read, so on this thread only,
//! never on the election's). What is said, and what has been, is
//! [`Narration`](super::narration::Narration)'s.

use super::shared::ElectionState;
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

/// How often the narrator looks without being woken (the seed profile's
/// watcher wakes nobody on a disconnection).
const LOOK_EVERY: Duration = Duration::from_millis(200);

/// How often a standby reads who is master without being woken.
const REREAD_MASTER: Duration = Duration::from_secs(5);

/// How long after a wake the standby reads who is master. Not at once: a
/// wake is most often the master's node going, and a read sent then would
/// queue on the session just ahead of the takeover's create, delaying it
/// (issue 13: the handover floor). By now the takeover is over, and the
/// read names the new master, not the gap.
const NAME_AFTER_WAKE: Duration = Duration::from_millis(50);

/// As a standby, names the master once per master.
fn name_master(shared: &ElectionState) {
    if !shared.narration.standby() || shared.held().is_some() {
        return;
    }
    let Ok(found) = shared.current_master() else {
        return;
    };
    shared.narration.master_is(found);
}

/// Starts the narrator's thread: it says "connecting", then watches the
/// elector until it closes. It holds the elector weakly.
pub(crate) fn spawn(shared: &Arc<ElectionState>) {
    shared.narration.connecting(&shared.config);
    let weak = Arc::downgrade(shared);
    let _ = std::thread::Builder::new()
        .name("zkha-narrator".into())
        .spawn(move || narrate(weak));
}

fn narrate(weak: Weak<ElectionState>) {
    let (mut seen, mut woken) = (0, true);
    let mut read_at: Option<Instant> = None;
    // A read due after a wake (see NAME_AFTER_WAKE).
    let mut name_at: Option<Instant> = None;
    loop {
        let Some(shared) = weak.upgrade() else { return };
        if shared.stopping() || shared.closed.load(std::sync::atomic::Ordering::Acquire) {
            return;
        }
        shared.narration.observe(shared.look());
        // Who is master is read again after a wake (a watch fired, the
        // session changed) or every few seconds (poll mode wakes nobody).
        if woken {
            name_at.get_or_insert(Instant::now() + NAME_AFTER_WAKE);
        }
        let due = name_at.is_some_and(|t| Instant::now() >= t);
        if due || read_at.is_none_or(|t| t.elapsed() >= REREAD_MASTER) {
            (read_at, name_at) = (Some(Instant::now()), None);
            name_master(&shared);
        }
        let mut inner = shared.inner.lock();
        if inner.wake == seen {
            let wait = name_at.map_or(LOOK_EVERY, |t| {
                t.saturating_duration_since(Instant::now()).min(LOOK_EVERY)
            });
            shared.changed.wait_for(&mut inner, wait);
        }
        woken = inner.wake != seen;
        seen = inner.wake;
    }
}
