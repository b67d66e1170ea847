//! The load balancers' endpoints of `--metrics-addr`: `/master`,
//! `/standby` and `/health`, each 200 or 503 with a line saying why, from
//! a [`Snapshot`] of what the run loop set. Pure functions: the server
//! (`server.rs`) takes the snapshot and writes the answer.

use super::registry::Snapshot;
use std::time::Duration;

/// `/health` fails once the main loop has not turned for this long (it
/// turns every 10 ms; a planned stop of the command, which the loop waits
/// for, counts as not turning).
pub const LOOP_STALE: Duration = Duration::from_secs(5);

/// An endpoint's answer: 200 (`true`) or 503, and its body.
pub type Verdict = (bool, String);

/// The answer of `path`, if it is one of the three endpoints.
pub fn answer(path: &str, s: &Snapshot) -> Option<Verdict> {
    match path {
        "/master" => Some(master(s)),
        "/standby" => Some(standby(s)),
        "/health" => Some(health(s)),
        _ => None,
    }
}

/// 200 only while this candidate is master with a lease not run out and
/// its command runs (started, no stop of it begun).
fn master(s: &Snapshot) -> Verdict {
    if !s.is_master {
        return (false, "not master\n".into());
    }
    if !s.command_running {
        return (
            false,
            "master, but the command is not running (not started yet, being stopped, or ended)\n"
                .into(),
        );
    }
    match s.lease_left {
        Some(left) if left.is_zero() => (false, "master, but the lease has run out\n".into()),
        Some(left) => (
            true,
            format!(
                "master: the command runs; the lease has {} ms left\n",
                left.as_millis()
            ),
        ),
        // Only the seed profile runs a command without a lease.
        None => (
            true,
            "master: the command runs (no lease: seed profile)\n".into(),
        ),
    }
}

/// 200 while this candidate is in the election (session connected, ready,
/// so contending) and not master.
fn standby(s: &Snapshot) -> Verdict {
    if s.is_master {
        return (false, "master, not a standby\n".into());
    }
    if !s.session_connected {
        return (
            false,
            "not in the election: the ZooKeeper session is not connected\n".into(),
        );
    }
    if !s.ready {
        return (
            false,
            "not ready: a standby that does not contend (--ready-cmd)\n".into(),
        );
    }
    (true, "standby: in the election, not master\n".into())
}

/// 200 while zkha's main loop turned within [`LOOP_STALE`] and the
/// ZooKeeper session is connected (as of that turn).
fn health(s: &Snapshot) -> Verdict {
    let Some(age) = s.loop_age else {
        return (false, "zkha's main loop has not started\n".into());
    };
    if age > LOOP_STALE {
        return (
            false,
            format!(
                "zkha's main loop has not turned for {} ms\n",
                age.as_millis()
            ),
        );
    }
    if !s.session_connected {
        return (false, "the ZooKeeper session is not connected\n".into());
    }
    (
        true,
        format!(
            "ok: the main loop turned {} ms ago; the session is connected\n",
            age.as_millis()
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn master_running() -> Snapshot {
        Snapshot {
            is_master: true,
            command_running: true,
            lease_left: Some(Duration::from_millis(1500)),
            session_connected: true,
            ready: true,
            loop_age: Some(Duration::from_millis(3)),
        }
    }

    fn code(path: &str, s: &Snapshot) -> bool {
        answer(path, s).unwrap().0
    }

    #[test]
    fn master_needs_mastership_a_running_command_and_a_lease() {
        let s = master_running();
        assert_eq!(
            answer("/master", &s).unwrap(),
            (
                true,
                "master: the command runs; the lease has 1500 ms left\n".into()
            )
        );
        assert!(!code("/standby", &s));
        for (bad, says) in [
            (
                Snapshot {
                    is_master: false,
                    command_running: false,
                    ..s
                },
                "not master",
            ),
            (
                Snapshot {
                    command_running: false,
                    ..s
                },
                "the command is not running",
            ),
            (
                Snapshot {
                    lease_left: Some(Duration::ZERO),
                    ..s
                },
                "the lease has run out",
            ),
        ] {
            let (ok, body) = answer("/master", &bad).unwrap();
            assert!(!ok, "{bad:?}");
            assert!(body.contains(says), "{body}");
        }
        // The seed profile has no lease.
        let (ok, body) = answer(
            "/master",
            &Snapshot {
                lease_left: None,
                ..s
            },
        )
        .unwrap();
        assert!(ok && body.contains("seed profile"), "{body}");
    }

    #[test]
    fn standby_needs_the_election_and_readiness() {
        let s = Snapshot {
            is_master: false,
            command_running: false,
            lease_left: None,
            ..master_running()
        };
        assert!(code("/standby", &s));
        assert!(!code("/master", &s));
        assert!(!code(
            "/standby",
            &Snapshot {
                session_connected: false,
                ..s
            }
        ));
        assert!(!code("/standby", &Snapshot { ready: false, ..s }));
    }

    #[test]
    fn health_needs_a_turning_loop_and_a_session() {
        let s = master_running();
        assert!(code("/health", &s));
        for bad in [
            Snapshot {
                loop_age: None,
                ..s
            },
            Snapshot {
                loop_age: Some(LOOP_STALE + Duration::from_millis(1)),
                ..s
            },
            Snapshot {
                session_connected: false,
                ..s
            },
        ] {
            assert!(!code("/health", &bad), "{bad:?}");
        }
        assert!(answer("/metrics", &s).is_none());
    }
}
