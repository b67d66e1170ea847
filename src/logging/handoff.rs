//! The C client's log lines reach the `log` crate from a thread of their
//! own, never from the C client's threads: whatever the logger does (a
//! `write` on a full stderr pipe blocks), the C client's I/O thread, and so
//! pings, renewals and the election, go on. A bounded queue lies between;
//! when it is full, lines are dropped and counted, and the count is logged
//! with the next line that gets through.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::{Mutex, OnceLock};

/// Lines waiting for the logging thread, at most.
const QUEUE: usize = 4096;

/// The queue's sending end (behind a mutex: `SyncSender` is `Sync` only
/// in newer std, and a line is short work). `None`: the thread could not
/// be started; lines then go to the logger directly.
static QUEUE_TX: OnceLock<Option<Sender>> = OnceLock::new();

/// One line: its level and text.
type Line = (log::Level, String);
type Sender = Mutex<SyncSender<Line>>;

/// Lines dropped because the queue was full, not reported yet.
static DROPPED: AtomicU64 = AtomicU64::new(0);

fn queue() -> &'static Option<Sender> {
    QUEUE_TX.get_or_init(|| {
        let (tx, rx) = sync_channel(QUEUE);
        std::thread::Builder::new()
            .name("zkha-c-log".into())
            .spawn(move || drain(rx))
            .ok()
            .map(|_| Mutex::new(tx))
    })
}

fn drain(rx: Receiver<Line>) {
    while let Ok((level, text)) = rx.recv() {
        let dropped = DROPPED.swap(0, Ordering::Relaxed);
        if dropped > 0 {
            log::warn!(target: "zookeeper", "{dropped} C client log lines dropped: the logger was not keeping up");
        }
        log::log!(target: "zookeeper", level, "{text}");
        IN_FLIGHT.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Hands one line to the logging thread; never blocks on the logger.
pub(super) fn send(level: log::Level, text: String) {
    if !log::log_enabled!(target: "zookeeper", level) {
        return;
    }
    match queue() {
        Some(tx) => {
            let tx = tx.lock().unwrap_or_else(|e| e.into_inner());
            IN_FLIGHT.fetch_add(1, Ordering::AcqRel);
            match tx.try_send((level, text)) {
                Ok(()) => {}
                Err(TrySendError::Full(_)) | Err(TrySendError::Disconnected(_)) => {
                    IN_FLIGHT.fetch_sub(1, Ordering::AcqRel);
                    DROPPED.fetch_add(1, Ordering::Relaxed);
                }
            }
        }
        None => log::log!(target: "zookeeper", level, "{text}"),
    }
}

/// Waits until the lines handed over so far have reached the logger, or
/// `timeout` has passed; whether they all did.
pub fn flush(timeout: std::time::Duration) -> bool {
    let until = std::time::Instant::now() + timeout;
    loop {
        if IN_FLIGHT.load(Ordering::Acquire) == 0 {
            return true;
        }
        if std::time::Instant::now() >= until {
            return false;
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
}

/// Lines queued and not yet logged.
static IN_FLIGHT: AtomicU64 = AtomicU64::new(0);
