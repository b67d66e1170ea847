//! The safe profile contending on a connected session: in watch and poll
//! modes for the one node (whoever creates it is master; an existing node
//! is told ours or not by its session owner, never its data, F3/F4), in
//! sequence mode for the head of a queue of nodes (each candidate watches
//! its predecessor only). A node won is held by [`hold`](super::hold).

use super::ahead::Sent;
use super::hold::{hold, synced_exists, Held};
use super::steer::{self, claim_failure, claim_ops, Gate, Gatekeeper};
use super::wait::{after_error, code, until_connected, wait, wake_count, waker, End, Next};
use crate::clock::BootInstant;
use crate::elector::candidate::FencingToken;
use crate::elector::config::Mode;
use crate::elector::master::{candidates, sequence_of};
use crate::elector::shared::ElectionState;
use crate::error::{Error, ErrorCode, Result};
use crate::types::{Acl, CreateMode, Stat};
use crate::{Op, ZooKeeper};
use std::sync::Arc;
use std::time::Instant;

/// Registers in the candidates' registry, then contends on `zk`
/// (connected) until its contention ends.
pub(super) fn contend(shared: &Arc<ElectionState>, zk: &Arc<ZooKeeper>) -> End {
    let mut seen = wake_count(shared);
    super::mixed::check_parents(shared, zk);
    if let Err(end) = steer::register(shared, zk, &mut seen) {
        return end;
    }
    let end = match shared.config.mode {
        Mode::Sequence => contend_sequence(shared, zk),
        Mode::Watch | Mode::Poll => contend_plain(shared, zk),
    };
    shared.steering.unregistered();
    end
}

/// Creates the missing ancestors of `path`, with the node's own ACL: in
/// ZooKeeper deleting a node needs DELETE on its parent, so a creator-only
/// node under an open parent could still be deleted by anyone (F10).
fn ensure_parents(zk: &ZooKeeper, path: &str, acl: &[Acl]) -> Result<()> {
    let mut at = 0;
    while let Some(i) = path[at + 1..].find('/') {
        let prefix = &path[..at + 1 + i];
        match zk.create(prefix, b"", acl, CreateMode::Persistent) {
            Ok(_) => {}
            Err(e) if code(&e) == Some(ErrorCode::NodeExists) => {}
            Err(e) => return Err(e),
        }
        at += 1 + i;
    }
    Ok(())
}

/// A failed call in the plain modes: contend again, or the session's end.
fn retry_or_end(shared: &ElectionState, seen: &mut u64, e: &Error) -> Held {
    match after_error(shared, seen, e) {
        Next::Retry => Held::Lost,
        Next::End(end) => Held::End(end),
    }
}

/// The plain modes' token: the node's czxid.
fn plain_token(stat: &Stat) -> FencingToken {
    FencingToken {
        czxid: stat.czxid,
        sequence: None,
    }
}

/// Watch and poll modes: one node, whoever creates it is master.
fn contend_plain(shared: &Arc<ElectionState>, zk: &Arc<ZooKeeper>) -> End {
    let cfg = &shared.config;
    let acl = cfg.acl_list();
    let mut seen = wake_count(shared);
    let mut yield_until: Option<Instant> = None;
    let mut gate = Gatekeeper::default();
    loop {
        // The master node's watch sent our claim as the node went
        // (`ahead.rs`): its answer is this look's outcome.
        let outcome = if let Some(ahead) = gate.take_ahead() {
            log::debug!(target: "zkha", "{}: the claim went with the master node's watch", cfg.path);
            claim_answered(shared, zk, &acl, ahead, &mut gate, &mut seen)
        } else {
            if let Err(end) = until_connected(shared, &mut seen) {
                return end;
            }
            // After resigning, let another candidate take over first.
            if let Some(until) = yield_until {
                if Instant::now() < until {
                    if !yielding(shared, zk, until, &mut seen) {
                        yield_until = None;
                        steer::set_yielding(shared, false);
                    }
                    continue;
                }
                yield_until = None;
                steer::set_yielding(shared, false);
            }
            // Ready, not held back by a switchover or a better candidate?
            let control = match gate.gate(shared, zk) {
                Ok(Gate::Go(control)) => control,
                Ok(Gate::Hold(until)) => {
                    wait(shared, &mut seen, Some(until));
                    continue;
                }
                Ok(Gate::Taken) => {
                    gate.master_seen();
                    if let Held::End(end) = node_exists(shared, zk, &mut seen, Some(&mut gate)) {
                        return end;
                    }
                    continue;
                }
                Err(e) => match retry_or_end(shared, &mut seen, &e) {
                    Held::End(end) => return end,
                    _ => continue,
                },
            };
            match control {
                None => create_plain(shared, zk, &acl, &mut seen),
                Some(version) => claim_plain(shared, zk, &acl, version, &mut gate, &mut seen),
            }
        };
        match outcome {
            Held::Lost => {}
            Held::Resigned => {
                yield_until = Some(Instant::now() + cfg.resign_backoff);
                steer::set_yielding(shared, true);
            }
            Held::End(end) => return end,
        }
    }
}

/// Not registering: the master node's plain create (a create is a write:
/// the leader commits it, so its success is leader-proved, see lease.rs).
fn create_plain(
    shared: &Arc<ElectionState>,
    zk: &Arc<ZooKeeper>,
    acl: &[Acl],
    seen: &mut u64,
) -> Held {
    let cfg = &shared.config;
    let path = cfg.path.as_str();
    let sent = BootInstant::now();
    let created = zk.create2(path, &cfg.data, acl, CreateMode::Ephemeral);
    shared.trace_create(created.as_ref().err().and_then(code).map_or(0, |c| c.raw()));
    match created {
        Ok((_, stat)) => hold(shared, zk, path, plain_token(&stat), sent),
        Err(e) if code(&e) == Some(ErrorCode::NodeExists) => node_exists(shared, zk, seen, None),
        Err(e) if code(&e) == Some(ErrorCode::NoNode) && cfg.create_parents => {
            match ensure_parents(zk, path, acl) {
                Ok(()) => Held::Lost,
                Err(e) => retry_or_end(shared, seen, &e),
            }
        }
        Err(e) => retry_or_end(shared, seen, &e),
    }
}

/// The claim: the create of the master node with the control node's reset
/// at `version`, in one multi (`steer.rs`); then the node, proved ours
/// through the leader, is held.
fn claim_plain(
    shared: &Arc<ElectionState>,
    zk: &Arc<ZooKeeper>,
    acl: &[Acl],
    version: i32,
    gate: &mut Gatekeeper,
    seen: &mut u64,
) -> Held {
    let cfg = &shared.config;
    let path = cfg.path.as_str();
    let create = Op::Create {
        path: path.to_owned(),
        data: cfg.data.clone(),
        acl: acl.to_vec(),
        mode: CreateMode::Ephemeral,
    };
    if !cfg.test_claim_delay.is_zero() {
        shared.trace_test_claim_delay();
        std::thread::sleep(cfg.test_claim_delay);
    }
    let sent = BootInstant::now();
    let (done, answer) = crate::client::pending::<Vec<crate::OpResult>>();
    if let Err(e) = zk.amulti(&claim_ops(shared, Some(version), create), done) {
        return retry_or_end(shared, seen, &e);
    }
    let claim = Sent {
        sent,
        answer,
        by_watch: false,
    };
    claim_answered(shared, zk, acl, claim, gate, seen)
}

/// A claim's answer (sent here, or by the master node's watch): the node,
/// ours, is held; or why not.
///
/// The claim is a write, so its success is leader-proved (lease.rs): the
/// lease runs from when it was sent, as a create's does. Its answer is the
/// whole proof: the node was created in this session, and the token (the
/// node's czxid) is the multi's zxid, which the term node's set reports as
/// its mzxid, so no read of the node follows.
fn claim_answered(
    shared: &Arc<ElectionState>,
    zk: &Arc<ZooKeeper>,
    acl: &[Acl],
    claim: Sent,
    gate: &mut Gatekeeper,
    seen: &mut u64,
) -> Held {
    let cfg = &shared.config;
    let path = cfg.path.as_str();
    let Sent {
        sent,
        answer,
        by_watch,
    } = claim;
    match answer.wait() {
        Ok(results) => {
            shared.inner.lock().term_version = steer::term_version_of(&results);
            shared.trace_claim(0, by_watch);
            let token = match steer::claim_zxid(&results) {
                Some(czxid) => FencingToken {
                    czxid,
                    sequence: None,
                },
                // Not reported (never seen): read the node.
                None => match zk.exists(path, false) {
                    Ok(Some(stat)) if stat.ephemeral_owner == shared.session_id() => {
                        plain_token(&stat)
                    }
                    Ok(_) => return Held::Lost,
                    Err(e) => return retry_or_end(shared, seen, &e),
                },
            };
            hold(shared, zk, path, token, sent)
        }
        Err(e) => match claim_failure(&e) {
            (Some(0), Some(ErrorCode::NodeExists)) => {
                shared.trace_claim(ErrorCode::NodeExists.raw(), by_watch);
                gate.master_seen();
                node_exists(shared, zk, seen, Some(gate))
            }
            (Some(0), Some(ErrorCode::NoNode)) if cfg.create_parents => {
                shared.trace_claim(ErrorCode::NoNode.raw(), by_watch);
                match ensure_parents(zk, path, acl) {
                    Ok(()) => Held::Lost,
                    Err(e) => retry_or_end(shared, seen, &e),
                }
            }
            // No term node (a registry made by an older zkha): made, and
            // look again.
            (Some(2), Some(ErrorCode::NoNode)) => {
                let _ = crate::elector::registry::ensure_layout(zk, path, acl, cfg.create_parents);
                Held::Lost
            }
            // The control node changed since the gate read it (or went):
            // look again, reading it. (Traced for a claim the watch sent,
            // which checks that the copy it was armed with is unchanged.)
            (Some(1), c) => {
                if by_watch {
                    shared.trace_claim(c.map_or(0, ErrorCode::raw), true);
                }
                gate.control_changed();
                Held::Lost
            }
            (_, Some(c)) => {
                shared.trace_claim(c.raw(), by_watch);
                retry_or_end(shared, seen, &crate::error::Error::Zk(c))
            }
            (_, None) => retry_or_end(shared, seen, &e),
        },
    }
}

/// Resigned, before `until`: waits for another candidate's node (true: keep
/// yielding; false: someone else took over).
fn yielding(shared: &Arc<ElectionState>, zk: &ZooKeeper, until: Instant, seen: &mut u64) -> bool {
    *seen = wake_count(shared);
    match zk.wexists(&shared.config.path, waker(shared, None)) {
        Ok(Some(stat)) if stat.ephemeral_owner != shared.session_id() => false,
        _ => {
            wait(shared, seen, Some(until));
            true
        }
    }
}

/// The node exists. F3/F4: is it ours (an ambiguous create that the server
/// applied)? Decided by session owner, never data. Someone else's: wait
/// for it to go (watch mode) or for the next poll. With the `gate`
/// (registering), the watch is its [`Gatekeeper::master_watcher`], and
/// the claim it may send is readied for the wait.
fn node_exists(
    shared: &Arc<ElectionState>,
    zk: &Arc<ZooKeeper>,
    seen: &mut u64,
    mut gate: Option<&mut Gatekeeper>,
) -> Held {
    let cfg = &shared.config;
    let path = cfg.path.as_str();
    *seen = wake_count(shared);
    let watched = match (&gate, cfg.mode) {
        (Some(g), Mode::Watch) => zk.wexists(path, g.master_watcher(shared)),
        (None, Mode::Watch) => zk.wexists(path, waker(shared, None)),
        _ => zk.exists(path, false),
    };
    match watched {
        Ok(Some(stat)) if stat.ephemeral_owner == shared.session_id() => {
            // Ours: ask again through the leader for the lease.
            match synced_exists(zk, path) {
                (sent, Ok(Some(stat))) if stat.ephemeral_owner == shared.session_id() => {
                    hold(shared, zk, path, plain_token(&stat), sent)
                }
                (_, Ok(_)) => Held::Lost,
                (_, Err(e)) => retry_or_end(shared, seen, &e),
            }
        }
        Ok(Some(_)) => {
            // Someone else is master: not an error.
            let limit = (cfg.mode == Mode::Poll).then(|| Instant::now() + cfg.poll_interval);
            if let Some(g) = gate.as_deref_mut() {
                g.arm_ahead(shared, zk);
            }
            wait(shared, seen, limit);
            // News of the control node (a switchover to us): the claim is
            // readied again, and the node still waited on.
            while gate
                .as_deref_mut()
                .is_some_and(|g| g.rearm_after_news(shared, zk))
            {
                wait(shared, seen, limit);
            }
            if let Some(g) = gate {
                g.disarm_ahead();
            }
            Held::Lost
        }
        Ok(None) => Held::Lost,
        Err(e) => retry_or_end(shared, seen, &e),
    }
}

/// Sequence mode: ephemeral-sequential children `<session>-n_<seq>` under
/// the path; the lowest is master; each candidate watches its predecessor
/// only. The session prefix finds our node again after an ambiguous create.
fn contend_sequence(shared: &Arc<ElectionState>, zk: &Arc<ZooKeeper>) -> End {
    let mut queue = Queue {
        parent: shared.config.path.clone(),
        acl: shared.config.acl_list(),
        prefix: format!("{:016x}-n_", shared.session_id() as u64),
        mine: None,
        gate: Gatekeeper::default(),
        yield_until: None,
    };
    let mut seen = wake_count(shared);
    loop {
        if let Err(end) = until_connected(shared, &mut seen) {
            return end;
        }
        let failed = match queue.pass(shared, zk, &mut seen) {
            Ok(None) => continue,
            Ok(Some(end)) => return end,
            Err(e) => e,
        };
        if let Next::End(end) = after_error(shared, &mut seen, &failed) {
            return end;
        }
    }
}

/// This session's place in the sequence mode's queue.
struct Queue {
    parent: String,
    acl: Vec<Acl>,
    /// `<session>-n_`: the names of this session's nodes begin so.
    prefix: String,
    /// Our node's name, once created (or found again).
    mine: Option<String>,
    gate: Gatekeeper,
    /// Resigned: published as yielding until then.
    yield_until: Option<Instant>,
}

impl Queue {
    /// One look at the queue: join it, lead it, or wait for the
    /// predecessor. `Ok(None)`: look again; `Ok(Some(end))`: the session's
    /// contention ended; an error is the caller's to judge.
    fn pass(
        &mut self,
        shared: &Arc<ElectionState>,
        zk: &Arc<ZooKeeper>,
        seen: &mut u64,
    ) -> Result<Option<End>> {
        let parent = self.parent.as_str();
        let kids = match candidates(zk, parent) {
            Ok(k) => k,
            Err(e) if code(&e) == Some(ErrorCode::NoNode) => {
                if !shared.config.create_parents {
                    return Err(e);
                }
                ensure_parents(zk, &format!("{parent}/x"), &self.acl)?;
                return Ok(None);
            }
            Err(e) => return Err(e),
        };
        // Ours: the node we created if it is still there, else (after an
        // ambiguous create) the one that bears our session's prefix.
        self.mine = self
            .mine
            .take()
            .filter(|m| kids.contains(m))
            .or_else(|| kids.iter().find(|k| k.starts_with(&self.prefix)).cloned());
        if self.yield_until.is_some_and(|t| Instant::now() >= t) {
            self.yield_until = None;
            steer::set_yielding(shared, false);
        }
        // Not ready, or never master: out of the queue.
        let st = &shared.steering;
        if st.enabled && (shared.config.priority == 0 || !st.ready()) {
            if let Some(me) = self.mine.take() {
                self.step_out(zk, &me)?;
            }
            if let Gate::Hold(until) = self.gate.gate(shared, zk)? {
                wait(shared, seen, Some(until));
            }
            return Ok(None);
        }
        let Some(me) = self.mine.clone() else {
            let created = zk.create(
                &format!("{parent}/{}", self.prefix),
                &shared.config.data,
                &self.acl,
                CreateMode::EphemeralSequential,
            );
            shared.trace_create(created.as_ref().err().and_then(code).map_or(0, |c| c.raw()));
            self.mine = created?.rsplit('/').next().map(str::to_owned);
            return Ok(None);
        };
        let pos = kids.iter().position(|k| *k == me).unwrap_or(0);
        if pos == 0 {
            return match self.gate.gate(shared, zk)? {
                Gate::Go(control) => self.lead(shared, zk, &me, control),
                // Not in sequence mode (the gate reads no master node).
                Gate::Taken => Ok(None),
                Gate::Hold(until) => {
                    // Held back at the head (a switchover to another, a
                    // better candidate ready): to the back of the queue,
                    // after the hold.
                    self.step_out(zk, &me)?;
                    self.mine = None;
                    wait(shared, seen, Some(until));
                    Ok(None)
                }
            };
        }
        // Someone else is ahead: a later deferral starts afresh.
        self.gate.master_seen();
        // Watch only the predecessor (no herd effect).
        let pred = format!("{parent}/{}", kids[pos - 1]);
        *seen = wake_count(shared);
        if zk.wexists(&pred, waker(shared, None))?.is_some() {
            // Until the predecessor goes (or our yielding ends).
            wait(shared, seen, self.yield_until);
        }
        Ok(None)
    }

    /// At the head of the queue: our node, proved through the leader, is
    /// held; afterwards we join again.
    fn lead(
        &mut self,
        shared: &Arc<ElectionState>,
        zk: &Arc<ZooKeeper>,
        me: &str,
        control: Option<i32>,
    ) -> Result<Option<End>> {
        let my_path = format!("{}/{me}", self.parent);
        if control.is_some() {
            // The claim: our node still there, the control node unchanged.
            let check = Op::Check {
                path: my_path.clone(),
                version: 0,
            };
            match zk.multi(&claim_ops(shared, control, check)) {
                Ok(results) => {
                    shared.inner.lock().term_version = steer::term_version_of(&results);
                }
                Err(e) => {
                    return match claim_failure(&e) {
                        (Some(0), Some(ErrorCode::NoNode)) => {
                            self.mine = None;
                            Ok(None)
                        }
                        (Some(1), _) => Ok(None),
                        // No term node (an older zkha's registry): made.
                        (Some(2), Some(ErrorCode::NoNode)) => {
                            let cfg = &shared.config;
                            crate::elector::registry::ensure_layout(
                                zk,
                                &cfg.path,
                                &cfg.acl_list(),
                                cfg.create_parents,
                            )?;
                            Ok(None)
                        }
                        _ => Err(e),
                    };
                }
            }
        }
        let (sent, answer) = synced_exists(zk, &my_path);
        let Some(stat) = answer? else {
            self.mine = None;
            return Ok(None);
        };
        let token = FencingToken {
            czxid: stat.czxid,
            sequence: sequence_of(me),
        };
        match hold(shared, zk, &my_path, token, sent) {
            Held::Lost => self.mine = None,
            Held::Resigned => {
                // Rejoin at the back of the queue, yielding for a moment: a
                // lower priority ahead must not wait for us (`steer.rs`).
                self.mine = None;
                self.yield_until = Some(Instant::now() + shared.config.resign_backoff);
                steer::set_yielding(shared, true);
            }
            Held::End(end) => return Ok(Some(end)),
        }
        Ok(None)
    }

    /// Leaves the queue: deletes our node `me` (gone already: fine).
    fn step_out(&self, zk: &ZooKeeper, me: &str) -> Result<()> {
        match zk.delete(&format!("{}/{me}", self.parent), -1) {
            Err(e) if code(&e) != Some(ErrorCode::NoNode) => Err(e),
            _ => Ok(()),
        }
    }
}
