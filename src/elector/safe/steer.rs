//! The safe profile and the candidates' registry (`registry.rs`):
//! registering on each session ([`register`]), deciding whether this
//! candidate may try to become master now ([`Gate`]: readiness, priority
//! 0, a switchover to another, a higher-priority ready candidate), and the
//! claim that makes the decision atomic ([`claim_ops`]): the create of the
//! master node (or, in sequence mode, the check of our queue node) goes in
//! one `multi` with a reset of the control node at the version read, so an
//! operation written after the read makes the claim fail instead of being
//! missed.

use super::ahead::{self, Armed, ClaimAhead, Sent, StillGo};
use super::wait::{after_error, code, until_connected, wait, End, Next};
use crate::client::Pending;
use crate::elector::registry::{self, CandidateEntry, ControlOp};
use crate::elector::shared::ElectionState;
use crate::error::{Error, ErrorCode, Result};
use crate::types::{CreateMode, EventType, Stat, WatchedEvent};
use crate::{Op, OpResult, ZooKeeper};
use parking_lot::{Condvar, Mutex};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// How long a candidate waits, with the master node gone, for a ready
/// candidate of higher priority to take over before it tries itself: two
/// poll intervals (a poll-mode candidate tries once per interval).
pub(super) fn defer_window(poll: Duration) -> Duration {
    poll.saturating_mul(2)
}

/// Registers this candidate on `zk` (connected): the registry's layout,
/// then its ephemeral node under a unique name. A name another live
/// candidate holds is waited for (a crashed predecessor's session expires)
/// up to the session timeout, then it ends the candidacy, an error the
/// caller sees ([`Elector::failure`](crate::elector::Elector::failure)). A
/// registry this candidate may not write (the election's ACL) is reported
/// and retried, like any real error (F7).
pub(super) fn register(
    shared: &Arc<ElectionState>,
    zk: &Arc<ZooKeeper>,
    seen: &mut u64,
) -> std::result::Result<(), End> {
    let st = &shared.steering;
    if !st.enabled {
        return Ok(());
    }
    let cfg = &shared.config;
    let acl = cfg.acl_list();
    let explicit = cfg.name.clone();
    let mut suffix = 1u32;
    let mut conflict_since: Option<Instant> = None;
    loop {
        until_connected(shared, seen)?;
        let name = match &explicit {
            Some(n) => n.clone(),
            None if suffix == 1 => registry::default_name(&cfg.data),
            None => format!("{}-{suffix}", registry::default_name(&cfg.data)),
        };
        let node = format!("{}/{name}", registry::candidates_path(&cfg.path));
        let attempt = register_once(shared, zk, &acl, &node, &name)
            .map(|r| r.map(|holder| (name, node, holder)));
        match attempt {
            Ok(None) => {}
            Ok(Some((name, node, None))) => {
                *st.name.lock() = Some(name.clone());
                st.registered(node.clone(), zk.clone());
                st.publish(cfg, shared.role());
                log::info!(target: "zkha", "{} on {}: registered as candidate {name:?} (priority {}{})", cfg.path, cfg.hosts, cfg.priority, if cfg.priority == 0 { ", never master" } else { "" });
                return Ok(());
            }
            Ok(Some((name, _, Some(holder)))) => {
                if explicit.is_none() {
                    // The default name is made unique.
                    suffix += 1;
                    continue;
                }
                let since = *conflict_since.get_or_insert_with(|| {
                    log::warn!(target: "zkha", "{} on {}: the candidate name {name:?} is held by session 0x{:x}: waiting up to the session timeout for it to go (a crashed predecessor's session expires)", cfg.path, cfg.hosts, holder.ephemeral_owner);
                    Instant::now()
                });
                if since.elapsed() > cfg.session_timeout + Duration::from_secs(1) {
                    let e = Error::invalid(
                        crate::error::Argument::Other,
                        format!(
                            "candidate name {name:?} is taken on {}: another live candidate (session 0x{:x}) registered it; give each candidate its own name",
                            cfg.path, holder.ephemeral_owner
                        ),
                    );
                    return Err(fail(shared, e));
                }
                wait(
                    shared,
                    seen,
                    Some(Instant::now() + Duration::from_millis(200)),
                );
            }
            Err(e) => {
                if code(&e) == Some(ErrorCode::NoAuth) {
                    // Said with its context, then reported and retried like
                    // any real error (F7): an administrator may fix the ACL.
                    log::error!(target: "zkha", "{} on {}: cannot register as a candidate under {}: not authorized; the registry has the election's ACL: this candidate needs the election's credentials", cfg.path, cfg.hosts, registry::root(&cfg.path));
                }
                if let Next::End(end) = after_error(shared, seen, &e) {
                    return Err(end);
                }
            }
        }
    }
}

/// One try, in one round trip: the registry's layout and our node, the
/// creates pipelined (and the missing parents first, when the candidate
/// creates them). `Ok(None)`: look again (our node went meanwhile);
/// `Ok(Some(None))`: registered; `Ok(Some(Some(stat)))`: the name is held
/// by the session of `stat`.
fn register_once(
    shared: &ElectionState,
    zk: &ZooKeeper,
    acl: &[crate::types::Acl],
    node: &str,
    name: &str,
) -> Result<Option<Option<Stat>>> {
    let cfg = &shared.config;
    // With missing parents created, they go first, in the same round trip.
    let mut nodes = if cfg.create_parents {
        registry::layout_with_parents(&cfg.path)
    } else {
        registry::layout(&cfg.path)
    };
    let data = shared.steering.entry(cfg, name, shared.role()).encode();
    nodes.push((node.to_owned(), data, CreateMode::Ephemeral));
    let mut sent = registry::send_creates(zk, &nodes, acl);
    let Some(mine) = sent.pop() else {
        return Ok(None);
    };
    if let Some(Err(e)) = registry::settle(sent).into_iter().find(Result::is_err) {
        let _ = mine.and_then(|p| p.wait());
        return Err(e);
    }
    match mine.and_then(|p| p.wait()) {
        Ok(_) => Ok(Some(None)),
        Err(e) if code(&e) == Some(ErrorCode::NodeExists) => match zk.exists(node, false)? {
            // Ours: a create whose answer was lost.
            Some(s) if s.ephemeral_owner == shared.session_id() => Ok(Some(None)),
            Some(s) => Ok(Some(Some(s))),
            None => Ok(None),
        },
        Err(e) => Err(e),
    }
}

/// Ends the candidacy with `e`: reported, kept for the caller, the elector
/// stopped.
fn fail(shared: &Arc<ElectionState>, e: Error) -> End {
    super::wait::report(shared, &e);
    *shared.steering.fatal.lock() = Some(e.to_string());
    shared.request_stop();
    End::Stop
}

/// Whether this candidate may try to become master now.
pub(super) enum Gate {
    /// Try; the claim resets the control node at this version (`None`:
    /// there is none to reset: not registering).
    Go(Option<i32>),
    /// Not now: look again at this instant at the latest (or on a wake).
    Hold(Instant),
    /// Another candidate's master node is there: wait for it to go, no
    /// claim (a claim sent now could win the instant it goes, ahead of a
    /// better candidate).
    Taken,
}

/// What the gate remembers between two looks.
#[derive(Default)]
pub(super) struct Gatekeeper {
    /// The control node's change seen (its mzxid), and when it was first
    /// seen: an operation holds for its length from then, on this host's
    /// clock.
    op_seen: Option<(i64, Instant)>,
    /// Since when the master node is gone while a better candidate is
    /// ready, and the control node's version then: every claim resets the
    /// control node, so a new version means a master came (and went) in
    /// between, and the wait starts afresh.
    defer_since: Option<(Instant, i32)>,
    /// The last reason given for holding (said once in the log).
    said: Option<String>,
    /// The session whose master node was last found (traced once).
    taken_by: Option<i64>,
    /// The control node as last read, kept fresh by a watch.
    control: Arc<ControlCache>,
    /// The registry as last read, each part with its watch.
    registry: RegistryCache,
    /// The watch on the master node that the contention waits on fired
    /// (the node went, or changed) since the last look.
    master_fired: Arc<AtomicBool>,
}

/// The control node as last read, re-read by its watch as soon as it
/// changes (from the completion thread, without waking the election), so
/// that the gate's look costs no round trip. A stale copy is harmless: the
/// claim resets the node at the version read, so a claim made on it fails
/// (`BadVersion`) and the gate reads again ([`Gatekeeper::control_changed`]).
#[derive(Default)]
struct ControlCache {
    slot: Mutex<ControlSlot>,
    answered: Condvar,
    /// The claim the master node's watch may send when the node goes
    /// (`ahead.rs`), told of every new copy.
    ahead: Arc<ClaimAhead>,
}

#[derive(Default)]
struct ControlSlot {
    /// Reads sent: only the latest one's answer is kept.
    sent: u64,
    /// The read whose answer `read` holds.
    answered: u64,
    /// The latest read's answer (`None`: in flight, or not asked).
    read: Option<Result<(Vec<u8>, Stat)>>,
    /// A watch is set on the node (set by a read, spent when it fires).
    armed: bool,
}

/// Reads the control node again, and sets its watch unless one is set.
/// The watch, when it fires, reads it again (and so on while the session
/// lasts). Asynchronous: the answer lands in the cache.
fn refresh_control(zk: &Arc<ZooKeeper>, path: &str, cache: &Arc<ControlCache>) {
    let (read, arm) = {
        let mut s = cache.slot.lock();
        s.sent += 1;
        s.read = None;
        let arm = !s.armed;
        s.armed = true;
        (s.sent, arm)
    };
    let settle = move |cache: &ControlCache, r: Result<(Vec<u8>, Stat)>| {
        let mut s = cache.slot.lock();
        if s.sent == read {
            s.answered = read;
            s.read = Some(r);
            cache.answered.notify_all();
            drop(s);
            cache.ahead.control_news();
        }
    };
    if arm {
        let (weak, again, at) = (Arc::downgrade(zk), cache.clone(), path.to_owned());
        let unarmed = cache.clone();
        let watched = zk.awexists_watching(
            path,
            move |e: WatchedEvent| {
                if e.event_type == EventType::Session {
                    return;
                }
                again.slot.lock().armed = false;
                if let Some(zk) = weak.upgrade() {
                    // A failure lands in the cache: the next look reads.
                    refresh_control(&zk, &at, &again);
                }
            },
            move |r| {
                if r.is_err() {
                    unarmed.slot.lock().armed = false;
                }
            },
        );
        if let Err(e) = watched {
            cache.slot.lock().armed = false;
            settle(cache, Err(e));
            return;
        }
    }
    let done = cache.clone();
    if let Err(e) = zk.aget(path, move |r| settle(&done, r)) {
        settle(cache, Err(e));
    }
}

impl ControlCache {
    /// The control node's data and Stat: the cached copy, or (none yet, or
    /// the last read failed) a read, waited for. An error is given once;
    /// the next look reads again.
    fn read(self: &Arc<Self>, zk: &Arc<ZooKeeper>, path: &str) -> Result<(Vec<u8>, Stat)> {
        let needs_read = {
            let s = self.slot.lock();
            match &s.read {
                Some(Ok(_)) => false,
                Some(Err(_)) => true,
                None => s.answered == s.sent,
            }
        };
        if needs_read {
            refresh_control(zk, path, self);
        }
        let mut s = self.slot.lock();
        while s.answered != s.sent {
            self.answered.wait(&mut s);
        }
        match s.read.take() {
            Some(Ok(read)) => {
                let copy = read.clone();
                s.read = Some(Ok(read));
                Ok(copy)
            }
            Some(Err(e)) => Err(e),
            None => Err(Error::Zk(ErrorCode::ConnectionLoss)),
        }
    }

    /// The copy, if one is there (no read): the node's data and Stat, and
    /// a check that it is still the same copy (no read of the node sent
    /// since, none forgotten), askable from another thread.
    fn cached(self: &Arc<Self>) -> Option<(Vec<u8>, Stat, StillGo)> {
        let s = self.slot.lock();
        let Some(Ok((data, stat))) = &s.read else {
            return None;
        };
        if s.answered != s.sent {
            return None;
        }
        let (cache, read) = (self.clone(), s.sent);
        let same = move || {
            let s = cache.slot.lock();
            s.sent == read && matches!(s.read, Some(Ok(_)))
        };
        Some((data.clone(), *stat, Box::new(same)))
    }

    /// Forget the copy: the next look reads the node again.
    fn forget(&self) {
        let mut s = self.slot.lock();
        if s.answered == s.sent {
            s.read = None;
        }
    }
}

/// An entry's read in flight, and the watch it sets.
type EntryAsked = (Pending<(Vec<u8>, Stat)>, Pending<WatchedEvent>);

/// What the gate knows of one other candidate's registry entry.
struct Known {
    entry: CandidateEntry,
    /// The watch set when it was read: `None` once it fired with a change
    /// of data (the same node: its priority, fixed for its life, still
    /// holds; its readiness may not).
    watch: Option<Pending<WatchedEvent>>,
}

/// The candidates' registry as last read: the names (with the watch on
/// the list) and each other candidate's entry (with the watch on it). Only
/// what changed is read again, in the same round trip as the master node.
#[derive(Default)]
struct RegistryCache {
    names: Option<(Vec<String>, Pending<WatchedEvent>)>,
    entries: HashMap<String, Known>,
}

/// Whether one entry may hold a better candidate than `mine`: `Some(true)`
/// it does, `Some(false)` it cannot, `None` it must be read to know.
fn better_than(k: &Known, mine: u32) -> Option<bool> {
    let e = &k.entry;
    if e.priority <= mine {
        // The same node keeps its priority: never better.
        return Some(false);
    }
    k.watch.is_some().then_some(e.ready && !e.yielding)
}

impl RegistryCache {
    /// Takes the news the watches brought: a list that changed is
    /// forgotten, and so is an entry whose node went (or whose watch
    /// failed); a changed entry loses its watch.
    fn take_news(&mut self) {
        if let Some((_, w)) = &self.names {
            if w.try_take().is_some() {
                self.names = None;
            }
        }
        self.entries
            .retain(|_, k| match k.watch.as_ref().map(Pending::try_take) {
                Some(Some(Ok(ev))) if ev.event_type == EventType::Changed => {
                    k.watch = None;
                    true
                }
                Some(Some(_)) => false,
                _ => true,
            });
    }

    /// Sends a read (with a watch) of `name`'s entry.
    fn ask_entry(zk: &ZooKeeper, dir: &str, name: &str) -> Result<EntryAsked> {
        let (done, read) = crate::client::pending::<(Vec<u8>, Stat)>();
        let watch = zk.awget(&format!("{dir}/{name}"), Box::new(done))?;
        Ok((read, Pending::from_receiver(watch)))
    }

    fn settle_entry(&mut self, name: String, asked: EntryAsked) -> Result<()> {
        match asked.0.wait() {
            Ok((data, stat)) => {
                let entry = CandidateEntry::decode(&name, &data, stat.ephemeral_owner);
                self.entries.insert(
                    name,
                    Known {
                        entry,
                        watch: Some(asked.1),
                    },
                );
                Ok(())
            }
            // Gone between the list and the read.
            Err(e) if code(&e) == Some(ErrorCode::NoNode) => {
                self.entries.remove(&name);
                Ok(())
            }
            Err(e) => {
                self.entries.remove(&name);
                Err(e)
            }
        }
    }
}

impl Gatekeeper {
    /// A claim failed on the control node's version: read it again.
    pub(super) fn control_changed(&self) {
        self.control.forget();
    }

    /// The master node's watch, for a standby about to wait on it: raises
    /// the flag the next look reads (the node went: claim at once when no
    /// candidate could be preferred), and sends the claim
    /// [`arm_ahead`](Self::arm_ahead) readied when the node is deleted.
    pub(super) fn master_watcher(
        &self,
        shared: &Arc<ElectionState>,
    ) -> impl FnMut(WatchedEvent) + Send + 'static {
        ahead::watcher(
            shared,
            self.master_fired.clone(),
            self.control.ahead.clone(),
        )
    }

    /// About to wait for another's master node to go (its watch set by
    /// [`master_watcher`](Self::master_watcher)): when a look made the
    /// moment it goes would say go without a read ([`gate`](Self::gate)'s
    /// claim at once, or a switchover to this candidate), the claim is
    /// readied for the watch to send, with what must still hold then.
    pub(super) fn arm_ahead(&mut self, shared: &Arc<ElectionState>, zk: &Arc<ZooKeeper>) {
        if let Some((version, still_go)) = self.go_when_master_goes(shared) {
            let cfg = &shared.config;
            let create = Op::Create {
                path: cfg.path.clone(),
                data: cfg.data.clone(),
                acl: cfg.acl_list(),
                mode: CreateMode::Ephemeral,
            };
            self.control.ahead.arm(Armed {
                ops: claim_ops(shared, Some(version), create),
                still_go,
                zk: Arc::downgrade(zk),
                shared: Arc::downgrade(shared),
            });
        }
    }

    /// Woken while waiting on the master node: when only news of the
    /// control node woke it (the node's watch has not fired), the claim is
    /// readied again for the new copy and the wait goes on (true).
    pub(super) fn rearm_after_news(
        &mut self,
        shared: &Arc<ElectionState>,
        zk: &Arc<ZooKeeper>,
    ) -> bool {
        if !self.control.ahead.woken_by_news()
            || self.master_fired.load(Ordering::Acquire)
            || shared.stopping()
            || shared.inner.lock().resign
        {
            return false;
        }
        self.arm_ahead(shared, zk);
        true
    }

    /// The wait on the master node is over: a claim not sent by now is not.
    pub(super) fn disarm_ahead(&self) {
        self.control.ahead.disarm();
        self.control.ahead.woken_by_news();
    }

    /// The claim the master node's watch sent, if it did: this look's
    /// outcome is its answer (the look it stands for is over).
    pub(super) fn take_ahead(&mut self) -> Option<Sent> {
        let sent = self.control.ahead.take_sent()?;
        self.master_fired.store(false, Ordering::Release);
        self.said = None;
        Some(sent)
    }

    /// What [`arm_ahead`](Self::arm_ahead) asks: the control node's
    /// version to reset, and the checks for when the node goes. Reads
    /// nothing: only the copies the watches keep.
    fn go_when_master_goes(&mut self, shared: &ElectionState) -> Option<(i32, StillGo)> {
        let st = &shared.steering;
        let cfg = &shared.config;
        if !st.enabled
            || cfg.priority == 0
            || !st.ready()
            || cfg.mode != crate::elector::Mode::Watch
            || !cfg.test_claim_delay.is_zero()
        {
            return None;
        }
        let (data, stat, same_control) = self.control.cached()?;
        let me = st.name.lock().clone().unwrap_or_default();
        let now = Instant::now();
        match self.held_back(&ControlOp::decode(&data), &stat, &me, now) {
            // The switchover's target: nobody else's turn, while it lasts.
            Some((true, until)) => {
                let still = move || Instant::now() < until && same_control();
                return Some((stat.version, Box::new(still)));
            }
            Some((false, _)) => return None,
            None => {}
        }
        // As the gate's claim at once: every other candidate known, none
        // preferred, and the watches that would say otherwise unfired.
        let reg = &mut self.registry;
        reg.take_news();
        let (listed, names_watch) = reg.names.as_ref()?;
        let mine = cfg.priority;
        let mut probes: Vec<Box<dyn Fn() -> bool + Send + Sync>> =
            vec![Box::new(names_watch.done_probe())];
        for name in listed.iter().chain(reg.entries.keys()) {
            if *name == me {
                continue;
            }
            let known = reg.entries.get(name)?;
            if better_than(known, mine) != Some(false) {
                return None;
            }
            if let Some(w) = &known.watch {
                if known.entry.priority > mine {
                    probes.push(Box::new(w.done_probe()));
                }
            }
        }
        let still = move || same_control() && !probes.iter().any(|fired| fired());
        Some((stat.version, Box::new(still)))
    }

    /// One look: readiness, priority 0, the control node, the registry.
    pub(super) fn gate(&mut self, shared: &ElectionState, zk: &Arc<ZooKeeper>) -> Result<Gate> {
        let st = &shared.steering;
        if !st.enabled {
            return Ok(Gate::Go(None));
        }
        let cfg = &shared.config;
        let now = Instant::now();
        let look_again = now + cfg.poll_interval;
        if cfg.priority == 0 {
            return Ok(self.hold(shared, look_again, "priority 0: never master".into()));
        }
        if !st.ready() {
            return Ok(self.hold(shared, look_again, "not ready".into()));
        }
        let master_went = self.master_fired.swap(false, Ordering::AcqRel);
        // The control node: kept read by its watch (no round trip), read
        // now only when it has never been, or its read failed.
        let (op, stat) = match self.control.read(zk, &registry::control_path(&cfg.path)) {
            Ok((data, stat)) => (ControlOp::decode(&data), stat),
            Err(e) if code(&e) == Some(ErrorCode::NoNode) => {
                // Deleted from outside: made again.
                registry::ensure_layout(zk, &cfg.path, &cfg.acl_list(), cfg.create_parents)?;
                return Ok(Gate::Hold(now));
            }
            Err(e) => return Err(e),
        };
        let me = st.name.lock().clone().unwrap_or_default();
        match self.held_back(&op, &stat, &me, now) {
            Some((true, _)) => {
                // The target: nobody else may win meanwhile, no deferral.
                self.said = None;
                return Ok(Gate::Go(Some(stat.version)));
            }
            Some((false, until)) => {
                let why = match &op {
                    ControlOp::Switchover { to, .. } => {
                        format!("a switchover to {to:?} is in progress")
                    }
                    ControlOp::Pause { length, by, .. } => format!(
                        "paused by {by} (for {} ms from when this candidate saw it)",
                        length.as_millis()
                    ),
                    ControlOp::Resume { length, .. } => format!(
                        "resumed, until the paused master acknowledges it (at most {} ms from when this candidate saw it)",
                        length.as_millis()
                    ),
                    _ => String::new(),
                };
                return Ok(self.hold(shared, until.min(look_again), why));
            }
            None => {}
        }
        // The registry, as far as its watches say it is unchanged; what
        // changed is read again in the master node's round trip.
        let plain = cfg.mode != crate::elector::Mode::Sequence;
        let dir = registry::candidates_path(&cfg.path);
        let reg = &mut self.registry;
        reg.take_news();
        let relist = reg.names.is_none();
        let mine = cfg.priority;
        // Entries to read: unknown ones, those whose readiness matters and
        // may have changed, and (the list changed: a name may now be
        // another node's) every one without a watch.
        let listed: Vec<String> = reg
            .names
            .as_ref()
            .map(|(n, _)| n.clone())
            .unwrap_or_default();
        let stale: Vec<String> = listed
            .iter()
            .chain(reg.entries.keys())
            .filter(|n| **n != me)
            .filter(|n| match reg.entries.get(*n) {
                None => true,
                Some(k) => better_than(k, mine).is_none() || (relist && k.watch.is_none()),
            })
            .cloned()
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        let known_better = reg
            .entries
            .values()
            .any(|k| k.entry.name != me && better_than(k, mine) == Some(true));
        if plain && master_went && !relist && stale.is_empty() && !known_better {
            // The master node just went (its watch fired) and no candidate
            // could be preferred: claim at once. A node that is there
            // after all makes the claim fail (NodeExists), harmlessly.
            self.said = None;
            return Ok(Gate::Go(Some(stat.version)));
        }
        // One round trip: the master node (plain modes), the list if it
        // changed, the entries to read again.
        let (done, master) = crate::client::pending::<Option<Stat>>();
        let master = if plain {
            zk.aexists(&cfg.path, done).map(|()| Some(master))
        } else {
            Ok(None)
        };
        let names = if relist {
            let (done, read) = crate::client::pending::<Vec<String>>();
            Some(
                zk.awget_children(&dir, Box::new(done))
                    .map(|w| (read, Pending::from_receiver(w))),
            )
        } else {
            None
        };
        let asked: Vec<_> = stale
            .iter()
            .map(|n| (n.clone(), RegistryCache::ask_entry(zk, &dir, n)))
            .collect();
        let master_there = match master? {
            Some(m) => m.wait()?,
            None => None,
        };
        if let Some(listing) = names {
            let (read, watch) = listing?;
            match read.wait() {
                Ok(mut n) => {
                    n.sort();
                    reg.names = Some((n, watch));
                }
                // No registry yet: nobody else.
                Err(e) if code(&e) == Some(ErrorCode::NoNode) => {}
                Err(e) => return Err(e),
            }
        }
        for (name, a) in asked {
            reg.settle_entry(name, a?)?;
        }
        // Names first seen in the new list: read too.
        if let Some(listed) = reg.names.as_ref().map(|(n, _)| n.clone()) {
            let new: Vec<String> = listed
                .iter()
                .filter(|n| **n != me && !reg.entries.contains_key(*n))
                .cloned()
                .collect();
            let asked: Vec<_> = new
                .into_iter()
                .map(|n| {
                    let a = RegistryCache::ask_entry(zk, &dir, &n);
                    (n, a)
                })
                .collect();
            for (name, a) in asked {
                reg.settle_entry(name, a?)?;
            }
            // Only the listed names count.
            reg.entries.retain(|n, _| listed.contains(n));
        } else {
            reg.entries.clear();
        }
        // A better candidate goes first, for a while, once the master is
        // gone: only then is it its turn.
        if let Some(master) = master_there {
            self.defer_since = None;
            if master.ephemeral_owner == shared.session_id() {
                // Ours (a claim whose answer was lost): the claim finds it.
                return Ok(Gate::Go(Some(stat.version)));
            }
            if self.taken_by != Some(master.ephemeral_owner) {
                self.taken_by = Some(master.ephemeral_owner);
                shared.trace_standby(master.ephemeral_owner);
                super::mixed::new_holder(shared, zk, &master);
            }
            return Ok(Gate::Taken);
        }
        let better = self
            .registry
            .entries
            .values()
            .map(|k| &k.entry)
            .filter(|c| c.name != me && c.ready && !c.yielding && c.priority > cfg.priority)
            .max_by_key(|c| c.priority)
            .cloned();
        if let Some(b) = better {
            let since = match self.defer_since {
                Some((since, version)) if version == stat.version => since,
                _ => {
                    self.defer_since = Some((now, stat.version));
                    now
                }
            };
            let ends = since + defer_window(cfg.poll_interval);
            if now < ends {
                let why = format!(
                    "{:?} (priority {}) is ready and preferred: waiting up to {} ms for it to take over",
                    b.name,
                    b.priority,
                    defer_window(cfg.poll_interval).as_millis()
                );
                return Ok(self.hold(shared, ends.min(now + Duration::from_millis(100)), why));
            }
        }
        self.said = None;
        Ok(Gate::Go(Some(stat.version)))
    }

    /// An operation in force that holds candidates back (a switchover, a
    /// pause, a resume not yet acknowledged): whether this candidate is
    /// the one it lets through (a switchover's target), and until when it
    /// holds, on this host's clock, from when this change of the node was
    /// first seen (its mzxid: a node deleted and made again starts its
    /// versions afresh). A pause's master counts from before the change
    /// was made (its acknowledgement's send), so it is done before any
    /// candidate's count ends.
    fn held_back(
        &mut self,
        op: &ControlOp,
        stat: &Stat,
        me: &str,
        now: Instant,
    ) -> Option<(bool, Instant)> {
        let length = op.holds_for()?;
        let first = match self.op_seen {
            Some((z, t)) if z == stat.mzxid => t,
            _ => {
                self.op_seen = Some((stat.mzxid, now));
                now
            }
        };
        let ends = first + length;
        let target = matches!(op, ControlOp::Switchover { to, .. } if to == me);
        (now < ends).then_some((target, ends))
    }

    fn hold(&mut self, shared: &ElectionState, until: Instant, why: String) -> Gate {
        if self.said.as_deref() != Some(why.as_str()) {
            log::info!(target: "zkha", "{} on {}: not taking over: {why}", shared.config.path, shared.config.hosts);
            self.said = Some(why);
        }
        Gate::Hold(until)
    }

    /// The master node is someone else's: a later deferral starts afresh.
    pub(super) fn master_seen(&mut self) {
        self.defer_since = None;
    }
}

/// The claim: `first` (the create of the master node, or the check of our
/// queue node) with, when registering, a reset of the control node at the
/// version the gate read.
pub(super) fn claim_ops(shared: &ElectionState, control: Option<i32>, first: Op) -> Vec<Op> {
    match control {
        Some(version) => vec![
            first,
            Op::Set {
                path: registry::control_path(&shared.config.path),
                data: Vec::new(),
                version,
            },
            // A new term: the term node's version counts them (fenced
            // writes check it, `fenced.rs`).
            Op::Set {
                path: registry::term_path(&shared.config.path),
                data: Vec::new(),
                version: -1,
            },
        ],
        None => vec![first],
    }
}

/// The term node's version a winning claim set (its last operation).
pub(super) fn term_version_of(results: &[OpResult]) -> Option<i32> {
    match results.get(2) {
        Some(OpResult::Set { stat }) => Some(stat.version),
        _ => None,
    }
}

/// The zxid of a winning claim's multi (one transaction: every node it
/// created has it as its czxid), as the term node's set reports it (its
/// mzxid).
pub(super) fn claim_zxid(results: &[OpResult]) -> Option<i64> {
    match results.get(2) {
        Some(OpResult::Set { stat }) => Some(stat.mzxid),
        _ => None,
    }
}

/// A failed claim: the code of the operation that failed (`claim_ops`'
/// first operation is index 0), or the whole multi's code when no
/// operation's own is known (the connection was lost).
pub(super) fn claim_failure(e: &Error) -> (Option<usize>, Option<ErrorCode>) {
    if let Error::Multi { results, code } = e {
        let failed = results.iter().enumerate().find_map(|(i, r)| match r {
            OpResult::Error(c) if *c != ErrorCode::RuntimeInconsistency => Some((i, *c)),
            _ => None,
        });
        return match failed {
            Some((i, c)) => (Some(i), Some(c)),
            None => (None, Some(*code)),
        };
    }
    (None, e.code())
}

/// While master: the control node's operation, if it asks this master
/// (named `me`, holding `czxid`) to hand over; `None` otherwise.
pub(super) fn asked_to_hand_over(op: &ControlOp, me: &str, czxid: i64) -> Option<String> {
    match op {
        ControlOp::Switchover { to, by, .. } if to != me => {
            Some(format!("switchover to {to:?} (asked by {by})"))
        }
        ControlOp::Resign { token, by } if *token == czxid => {
            Some(format!("resign (asked by {by})"))
        }
        _ => None,
    }
}

/// Just resigned (staying out for a moment) or back: republished.
pub(super) fn set_yielding(shared: &ElectionState, yielding: bool) {
    if shared.steering.set_yielding(yielding) {
        shared.steering.publish(&shared.config, shared.role());
    }
}
