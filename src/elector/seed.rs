//! The seed profile: the C++ design, behaviour for behaviour (docs/design.md).
//!
//! S1 `zookeeper_init(hosts, watcher, 5000, clientid, ctx, 0)`; S2 the
//! watcher dispatches SESSION+CONNECTED and SESSION+EXPIRED only; S3 on
//! expiry, `zookeeper_init` again with the previous clientid, the old handle
//! left open (F2); S4 the run loop: sleep, try to become master when not,
//! work when master; S5 `zoo_create(path, ip, strlen(ip)+1, open ACL,
//! ZOO_EPHEMERAL)`, failures logged at DEBUG on failures 1, 601, …, success
//! logged at INFO and followed by a 2 s sleep; S6 no parent creation.

use super::candidate::{FencingToken, LostReason};
use super::shared::ElectionState;
use crate::error::Result;
use crate::types::{ClientId, CreateMode, EventType, State};
use crate::validate::check_session_timeout;
use crate::ZooKeeper;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Weak};

/// The design's failure counter: shared by the whole process (S5).
static FAILURES: AtomicU64 = AtomicU64::new(0);

pub(crate) fn start(shared: &Arc<ElectionState>) -> Result<()> {
    init(shared, None)
}

/// S1: `zookeeper_init(hosts, watcher, timeout, clientid, context, 0)`.
fn init(shared: &Arc<ElectionState>, clientid: Option<ClientId>) -> Result<()> {
    shared.trace_init(clientid.map_or(0, |c| c.id));
    let weak = Arc::downgrade(shared);
    // CONNECTED can come before `zookeeper_init` has returned the handle
    // (the C design's watcher is handed it; ours reads the published one):
    // such an early CONNECTED is kept for the publication below.
    let published = Arc::new(AtomicU8::new(UNPUBLISHED));
    let seen = published.clone();
    // The timeout rule, as the safe profile's builder applies it: out of
    // range is an error, never a truncated `int`.
    let timeout = check_session_timeout(shared.config.session_timeout)?;
    // zookeeper_init (S1); with `log_to_rust`, zookeeper_init2 with the log
    // bridge, the same call plus a log callback.
    let mut builder = ZooKeeper::elector_builder(&shared.config)
        .session_timeout_ms(timeout.into())
        .watcher(move |e| watcher(&weak, &seen, e))
        .log_to_rust(shared.config.log_to_rust);
    if let Some(id) = clientid {
        builder = builder.client_id(id);
    }
    let zk = builder.init()?;
    test_hook_publish_delay(shared);
    let mut inner = shared.inner.lock();
    if let Some(old) = inner.zk.replace(Arc::new(zk)) {
        // The design never closes the old handle (F2); keep it open until
        // the elector shuts down.
        inner.abandoned.push(old);
    }
    inner.connected = false;
    drop(inner);
    if published.swap(PUBLISHED, Ordering::AcqRel) == CONNECTED_EARLY {
        on_connected(shared, "");
    }
    Ok(())
}

/// A handle's publication, as its watcher sees it: not yet published, a
/// CONNECTED came before it was (handled once it is), or published.
const UNPUBLISHED: u8 = 0;
const CONNECTED_EARLY: u8 = 1;
const PUBLISHED: u8 = 2;

/// Test hook: widens the window in which CONNECTED can arrive before the
/// handle is published (not part of the election: excluded from mutation
/// testing by its name).
fn test_hook_publish_delay(shared: &ElectionState) {
    if !shared.config.test_publish_delay.is_zero() {
        std::thread::sleep(shared.config.test_publish_delay);
    }
}

/// S2: the single global watcher.
fn watcher(weak: &Weak<ElectionState>, published: &AtomicU8, event: crate::types::WatchedEvent) {
    let Some(shared) = weak.upgrade() else { return };
    match (event.event_type, event.state) {
        // Before its handle is published: `init` says it once it is.
        (EventType::Session, State::Connected)
            if published
                .compare_exchange(
                    UNPUBLISHED,
                    CONNECTED_EARLY,
                    Ordering::AcqRel,
                    Ordering::Acquire,
                )
                .is_ok() => {}
        (EventType::Session, State::Connected) => on_connected(&shared, &event.path),
        (EventType::Session, State::Expired) => on_expired(&shared),
        _ => {} // every other event is ignored by the design
    }
}

fn on_connected(shared: &Arc<ElectionState>, path: &str) {
    shared.inner.lock().reinits = 0;
    let id = shared.zk().and_then(|zk| zk.client_id().ok());
    if let Some(id) = id {
        shared.inner.lock().last_client_id = Some(id);
        shared.session.store(id.id, Ordering::Release);
        shared.trace_connected(id.id);
    }
    shared.inner.lock().connected = true;
    shared.wake();
    shared.candidate.on_zookeeper_connected(path);
}

/// S3: re-init with the previous session's clientid. With a dead id the new
/// handle reports EXPIRED again, so this repeats (F2).
fn on_expired(shared: &Arc<ElectionState>) {
    shared.trace_expired();
    shared.candidate.on_zookeeper_expired();
    shared.lost_master(LostReason::SessionExpired);
    if shared.stopping() {
        return;
    }
    let n = {
        let mut inner = shared.inner.lock();
        inner.reinits += 1;
        inner.reinits
    };
    if let Some(limit) = shared.config.reinit_limit {
        if n > limit {
            log::error!(target: "zkha", "session expired and {limit} re-inits failed: exiting");
            shared.trace.emit(
                "exit",
                &[("reason", super::trace::Value::Str("reinit_limit"))],
            );
            // The design exits the process here (code 3); a library does
            // not: the candidacy ends, `Elector::gave_up` says so, and the
            // caller exits (`zkha candidate` with 3).
            shared
                .gave_up
                .store(true, std::sync::atomic::Ordering::Release);
            *shared.steering.fatal.lock() = Some(format!(
                "session expired and {limit} re-inits failed (reinit_limit)"
            ));
            shared.request_stop();
            return;
        }
    }
    let id = shared.inner.lock().last_client_id;
    if let Err(e) = init(shared, id) {
        log::error!(target: "zkha", "zookeeper_init failed: {e}");
        shared.trace_error(&e);
    }
}

/// S5: try to become master; `true` on success.
fn change_to_master(shared: &ElectionState) -> bool {
    let Some(zk) = shared.zk() else { return false };
    let path = &shared.config.path;
    match zk.create(
        path,
        &shared.config.data,
        &shared.config.acl_list(),
        CreateMode::Ephemeral,
    ) {
        Ok(_) => {
            shared.trace_create(0);
            FAILURES.store(0, Ordering::Relaxed);
            log::info!(target: "zkha", "become master[{path}] success");
            shared.became_master(FencingToken {
                czxid: 0,
                sequence: None,
            });
            // "so the old master can finish" (S5; F5: this guarantees nothing)
            shared.sleep(shared.config.settle_delay);
            true
        }
        Err(e) => {
            let rc = e.code().map_or(0, |c| c.raw());
            shared.trace_create(rc);
            let n = FAILURES.fetch_add(1, Ordering::Relaxed);
            if should_log_failure(n, shared.config.failure_log_every) {
                let text = e
                    .code()
                    .map(|c| c.zerror())
                    .unwrap_or_else(|| e.to_string());
                log::debug!(target: "zkha", "become master[{path}] failed: ({rc}){text}");
            }
            false
        }
    }
}

/// S5's logging rhythm: whether the failure that follows `n_before` earlier
/// ones (the process-wide count since the last success) is logged. With
/// `every` = 600 these are failures 1, 601, 1201, …
fn should_log_failure(n_before: u64, every: u64) -> bool {
    n_before.is_multiple_of(every)
}

/// S4: sleep; if not master, try to become master (skip the pass on
/// failure); then work.
pub(crate) fn run_loop(shared: &ElectionState) {
    loop {
        if shared.sleep(shared.config.poll_interval) {
            return;
        }
        let master = shared.token();
        let token = match master {
            Some(t) => t,
            None => {
                // After a resign, stay out for `resign_backoff`.
                let resigned = shared.inner.lock().resigned_at;
                if resigned.is_some_and(|at| at.elapsed() < shared.config.resign_backoff) {
                    continue;
                }
                if !change_to_master(shared) {
                    continue;
                }
                match shared.token() {
                    Some(t) => t,
                    None => continue,
                }
            }
        };
        if shared.stopping() {
            return;
        }
        shared.trace_work();
        shared.candidate.do_work(token);
    }
}

/// Not in the design: delete our node so a standby takes over at its next poll.
pub(crate) fn resign(shared: &ElectionState) -> Result<()> {
    // Stop working first, then let the node go.
    if !shared.lost_master(LostReason::Resigned) {
        return Ok(());
    }
    shared.inner.lock().resigned_at = Some(std::time::Instant::now());
    if let Some(zk) = shared.zk() {
        zk.delete(&shared.config.path, -1)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::{should_log_failure, start, ElectionState};
    use crate::elector::config::ElectorConfig;
    use crate::error::{Argument, Error};
    use std::sync::Arc;
    use std::time::Duration;

    /// S1's timeout goes to the C client as an `int`: out of the rule's
    /// range (1 ms to `i32::MAX` ms) it is a typed error, as in the safe
    /// profile, never truncated (2^32 + 5000 ms is not 5000 ms) and no
    /// session opened. Reached without `validate` (which `Elector::start`
    /// runs first) through the profile's own start.
    #[test]
    fn an_out_of_range_session_timeout_is_refused_not_truncated() {
        for ms in [0, i32::MAX as u64 + 1, (1 << 32) + 5000, u64::MAX] {
            let mut config = ElectorConfig::seed("127.0.0.1:1", "/zkha-seed-unit/m");
            config.session_timeout = Duration::from_millis(ms);
            let shared = ElectionState::new(config, Arc::new(())).unwrap();
            let e = start(&shared).unwrap_err();
            assert!(
                matches!(
                    e,
                    Error::InvalidArgument {
                        argument: Argument::Timeout,
                        ..
                    }
                ),
                "{ms} ms: {e}"
            );
            assert!(shared.zk().is_none(), "{ms} ms: a session was opened");
        }
    }

    /// The rule's edges are accepted: the handle is made (not connected:
    /// nothing listens there) and closed.
    #[test]
    fn the_rules_edges_open_a_session() {
        for ms in [1, i32::MAX as u64] {
            let mut config = ElectorConfig::seed("127.0.0.1:1", "/zkha-seed-unit/m");
            config.session_timeout = Duration::from_millis(ms);
            let shared = ElectionState::new(config, Arc::new(())).unwrap();
            start(&shared).unwrap_or_else(|e| panic!("{ms} ms: {e}"));
            assert!(shared.zk().is_some(), "{ms} ms: no session");
            shared.close_all();
        }
    }

    /// Failure number `k` (1-based) is logged?
    fn logged(k: u64, every: u64) -> bool {
        should_log_failure(k - 1, every)
    }

    #[test]
    fn failures_1_601_1201_are_logged_with_the_default_600() {
        for k in [1, 601, 1201, 1801, 600 * 1000 + 1] {
            assert!(logged(k, 600), "failure {k} should be logged");
        }
        for k in [2, 3, 599, 600, 602, 1200, 1202] {
            assert!(!logged(k, 600), "failure {k} should not be logged");
        }
        let first_1201: Vec<u64> = (1..=1201).filter(|&k| logged(k, 600)).collect();
        assert_eq!(first_1201, [1, 601, 1201]);
    }

    #[test]
    fn every_1_logs_every_failure_and_other_periods_scale() {
        assert!((1..=1000).all(|k| logged(k, 1)));
        let by_3: Vec<u64> = (1..=10).filter(|&k| logged(k, 3)).collect();
        assert_eq!(by_3, [1, 4, 7, 10]);
    }
}
