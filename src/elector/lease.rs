//! The safe profile's lease: how long a master may act on its last proof of
//! mastership, and why that is safe.
//!
//! # The promise
//!
//! While a safe master's lease holds, no other candidate can have become
//! master: the node is ours and our session is alive at the one server that
//! can end it, the leader. Work (`do_work`, `zkha run`'s command) stops when
//! the lease runs out, whether or not this process still hears from
//! ZooKeeper.
//!
//! # The renewal: only the leader can extend it
//!
//! A renewal sent at `s` (our clock) is `sync(path)` followed by
//! `exists(path)` on the same connection, and counts only if the sync
//! succeeded and the node's `ephemeralOwner` is our session. A follower
//! answers reads and client pings from its own state, even when it has been
//! cut off from the leader (for up to `syncLimit × tickTime`): a plain read
//! proves nothing about the leader. A `sync` is forwarded to the leader; the
//! leader checks the session (`PrepRequestProcessor` refuses a sync of an
//! expired or closing session) and answers through the follower, and the
//! follower delivers the `exists` only after the sync and after every
//! transaction the leader committed before it (so an expiry's deletion of our
//! node would show). A successful renewal therefore proves that at some
//! moment `l ≥ s` the leader still counted the session, and that the
//! follower's link to the leader carried our request at `l`.
//!
//! # The bound
//!
//! Let `T` be the negotiated session timeout and `t` the servers' tickTime.
//! The leader expires the session at `E = touch + T`, rounded *up* to the
//! next tick (the rounding only delays expiry), where `touch` is the last
//! time it heard of the session. Through a follower it hears of it in the
//! follower's answers to the leader's pings, sent every `t/2`, which carry
//! every session the follower saw a packet from since the previous answer.
//! Our client sends the follower a packet at least every `T/5` (renewals
//! every `T/5`; the C client's own pings every `T/3` when idle). Let `X` be
//! the last moment the leader hears from the follower (the cut). Our last
//! successful renewal was sent at `s ≤ X`. The last packet of ours that the
//! follower received before `X − t/2 − δ` (`δ`: one member-to-member round
//! trip) was reported to the leader before `X`, and it was sent after
//! `s − T/5 − t/2 − δ`; so `E ≥ s + 0.8·T − t/2 − δ`. A connection straight
//! to the leader is the simpler case (`E ≥ s + T`), and a newly elected
//! leader starts every session's clock afresh at its election (`E ≥ X + T`).
//!
//! The lease ends at `s + (T/2)·(1 − ρ)`, with `ρ` a bound on the clock-rate
//! difference between this machine and the leader ([`DRIFT`], 1%, far above
//! real quartz drift). It is safe while `0.3·T ≥ t/2 + δ`, which holds for
//! `T ≥ 2t` (ZooKeeper's own minimum session timeout) as long as `δ ≤ t/10`,
//! and with room to spare for usual settings (`T = 10 t`: `δ ≤ 2.5 t`).
//!
//! `syncLimit` enters in two places. An isolated follower keeps answering
//! reads and pings for `syncLimit × tickTime`: harmless here, since renewals
//! need the leader. A deposed leader cut off from its quorum keeps answering
//! syncs until it notices, also after `syncLimit × tickTime` without acks,
//! while the majority elects a new leader after the same timeout; the new
//! leader starts our session's clock at its election, so the assumption is
//! that the old leader steps down within `T/2` of the new one's election.
//!
//! # What the lease does not cover
//!
//! A process that is paused (SIGSTOP, swapping, a debugger) cannot stop its
//! work on time: `zkha run` therefore runs the command under a watchdog
//! process that holds the deadline itself (on CLOCK_BOOTTIME) and kills the
//! command before the lease ends. If the watchdog is paused too, nothing on
//! the client side can help; the fencing token (the node's czxid) is what
//! lets the protected resource refuse a stale master.

use crate::clock::BootInstant;
use std::time::Duration;

/// Bound on the clock-rate difference between this machine and the leader
/// (1%): the lease is shortened by this fraction.
pub const DRIFT: f64 = 0.01;

/// How long one renewal, sent at `s`, keeps the lease: `(T/2)·(1 − ρ)`.
pub fn lease_length(negotiated_ms: i32) -> Duration {
    let ns = f64::from(negotiated_ms.max(0)) * 1_000_000.0 / 2.0 * (1.0 - DRIFT);
    Duration::from_nanos(ns.round() as u64)
}

/// When the lease proved by an answer to a request sent at `sent` ends.
pub fn lease_until(sent: BootInstant, negotiated_ms: i32) -> BootInstant {
    sent + lease_length(negotiated_ms)
}

/// How often a master renews: `T/5`, so that a lease of `T/2` survives one
/// lost or slow renewal, and the follower hears from us often (see the
/// bound above).
pub fn renew_every(negotiated_ms: i32) -> Duration {
    Duration::from_millis((negotiated_ms.max(5) / 5) as u64)
}

/// F1, the second line of defence: how long after the C client reports a
/// disconnection a master steps down even if its lease is longer. The C
/// client reports a disconnection at most `2T/3` after it last heard from
/// the server; `T/4` after that is still before the server may expire the
/// session (`T`).
pub fn step_down_after(negotiated_ms: i32) -> Duration {
    Duration::from_millis((negotiated_ms.max(1) as u64) / 4)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lease_is_half_the_session_less_drift() {
        let ms = Duration::from_millis;
        assert_eq!(lease_length(2000), ms(990));
        assert_eq!(lease_length(5000), ms(2475));
        assert_eq!(lease_length(0), Duration::ZERO);
        assert_eq!(lease_length(-5), Duration::ZERO);
        let sent = BootInstant::from_nanos(100_000_000);
        assert_eq!(
            lease_until(sent, 2000),
            BootInstant::from_nanos(1_090_000_000)
        );
    }

    #[test]
    fn the_bound_holds_for_the_smallest_sessions() {
        // T = 2t, δ = t/10: E ≥ s + 0.8T − t/2 − δ must not be before the
        // lease's end.
        for t in [50.0f64, 200.0, 2000.0] {
            let session = 2.0 * t;
            let earliest_expiry = 0.8 * session - t / 2.0 - t / 10.0;
            let lease = lease_length(session as i32).as_secs_f64() * 1000.0;
            assert!(lease <= earliest_expiry + 1e-9, "t={t}");
        }
    }

    #[test]
    fn renewals_and_step_down() {
        assert_eq!(renew_every(2000), Duration::from_millis(400));
        assert_eq!(renew_every(5000), Duration::from_millis(1000));
        assert_eq!(renew_every(0), Duration::from_millis(1));
        // Several renewals fit in one lease.
        assert!(renew_every(2000) * 2 < lease_length(2000));
        assert_eq!(step_down_after(2000), Duration::from_millis(500));
        assert_eq!(step_down_after(0), Duration::ZERO);
    }
}
