//! A population of N in-process candidates contending for one path: each
//! notes when it became master; the master resigns or is cut off.

use super::Error;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use zkha::__private::monotonic_ms;
use zkha::elector::{Candidate, Elector, ElectorConfig, FencingToken, Mode};
use zkha_testing::{TcpProxy, TestingServer};

/// When each candidate became master: (candidate id, CLOCK_MONOTONIC ms).
pub(super) type Wins = Arc<Mutex<Vec<(usize, f64)>>>;

/// The hooks of one candidate: it notes when it became master. Runs on the
/// C client's completion thread; the lock is held for a push only.
struct Probe {
    id: usize,
    wins: Wins,
    /// Its session expired (not one of the crashes, which this process
    /// never hears of: the crashed candidate is cut off until it leaves).
    expired: Arc<AtomicBool>,
}

impl Candidate for Probe {
    fn on_became_master(&self, _token: FencingToken) {
        let t = monotonic_ms();
        if let Ok(mut w) = self.wins.lock() {
            w.push((self.id, t));
        }
    }

    fn on_zookeeper_expired(&self) {
        self.expired.store(true, Ordering::Relaxed);
    }
}

pub(super) struct Member {
    pub(super) id: usize,
    pub(super) elector: Arc<Elector>,
    /// The seed's run loop, where its election happens (S4).
    pub(super) runner: Option<JoinHandle<()>>,
    /// Crash population only: this candidate's own way to the server.
    pub(super) proxy: Option<TcpProxy>,
    pub(super) expired: Arc<AtomicBool>,
}

impl Member {
    /// Stops the elector and closes its session (on a background thread
    /// when the caller should not wait for it).
    pub(super) fn retire(self) -> JoinHandle<()> {
        std::thread::spawn(move || {
            self.elector.stop();
            if let Some(r) = self.runner {
                let _ = r.join();
            }
            drop(self.elector);
            drop(self.proxy);
        })
    }
}

/// One election: its path, its candidates, and how to add one.
pub(super) struct Population<'a> {
    pub(super) mode: &'a str,
    pub(super) hosts: &'a str,
    pub(super) path: String,
    pub(super) session_ms: u64,
    pub(super) proxied: bool,
    pub(super) wins: Wins,
    pub(super) members: Vec<Member>,
    pub(super) next_id: usize,
    /// Sessions that expired on their own (the machine too busy to ping in
    /// time), and the seed candidates replaced for it.
    pub(super) expiries: usize,
}

impl Population<'_> {
    pub(super) fn add(&mut self) -> Result<(), Error> {
        let id = self.next_id;
        self.next_id += 1;
        let proxy = if self.proxied {
            Some(TcpProxy::start(self.hosts)?)
        } else {
            None
        };
        let hosts = proxy
            .as_ref()
            .map(|p| p.connect_string())
            .unwrap_or_else(|| self.hosts.to_owned());
        let mut c = if self.mode == "seed" {
            let mut c = ElectorConfig::seed(&hosts, &self.path);
            // The 2 s sleep after winning (S5) only delays the winner's work,
            // which is not measured here; without it the next round starts
            // sooner.
            c.settle_delay = Duration::ZERO;
            c
        } else {
            let mut c = ElectorConfig::new(&hosts, &self.path);
            c.mode = if self.mode == "sequence" {
                Mode::Sequence
            } else {
                Mode::Watch
            };
            c
        };
        c.session_timeout = Duration::from_millis(self.session_ms);
        c.data = zkha::net::seed_text_data(&format!("scale-{id}"));
        // Long enough for another candidate to win the race (the seed's
        // standbys poll once a second), short enough that the resigned
        // candidate is back in line soon.
        c.resign_backoff = if self.mode == "seed" {
            c.poll_interval * 3 / 2
        } else {
            Duration::from_millis(200)
        };
        // The C client's lines go to the `log` crate, which this binary does
        // not print: a crashed candidate's reconnection errors stay quiet.
        c.log_to_rust = true;
        let expired = Arc::new(AtomicBool::new(false));
        let elector = Arc::new(Elector::start(
            c,
            Arc::new(Probe {
                id,
                wins: self.wins.clone(),
                expired: expired.clone(),
            }),
        )?);
        let runner = (self.mode == "seed").then(|| {
            let e = elector.clone();
            std::thread::spawn(move || e.run())
        });
        self.members.push(Member {
            id,
            elector,
            runner,
            proxy,
            expired,
        });
        Ok(())
    }

    pub(super) fn masters(&self) -> Vec<usize> {
        (0..self.members.len())
            .filter(|i| self.members[*i].elector.is_master())
            .collect()
    }

    pub(super) fn notifications(&self) -> u64 {
        self.members
            .iter()
            .map(|m| zkha::__private::watch_notifications(&m.elector))
            .sum()
    }

    /// Settled: every candidate has a session, exactly one is master, and
    /// (watch, sequence) every standby has its watch registered on the
    /// server under the path. The seed sets no watches: every standby polls.
    pub(super) fn settled(&self, server: &TestingServer) -> bool {
        if self.members.iter().any(|m| m.elector.session_id() == 0) || self.masters().len() != 1 {
            return false;
        }
        if self.mode == "seed" {
            return true;
        }
        let watches = server.data_watches().unwrap_or_default();
        let under = |p: &String| p == &self.path || p.starts_with(&format!("{}/", self.path));
        self.members
            .iter()
            .filter(|m| !m.elector.is_master())
            .all(|m| {
                watches
                    .get(&m.elector.session_id())
                    .is_some_and(|paths| paths.iter().any(under))
            })
    }

    /// Counts the sessions that expired since the last look. The seed
    /// profile never recovers from an expiry (it re-inits with the dead
    /// session's id, F2): such a candidate is replaced by a fresh one.
    pub(super) fn tend(&mut self) -> Result<(), Error> {
        let mut i = 0;
        while i < self.members.len() {
            if self.members[i].expired.swap(false, Ordering::Relaxed) {
                self.expiries += 1;
                if self.mode == "seed" {
                    let gone = self.members.swap_remove(i);
                    let _ = gone.retire().join();
                    self.add()?;
                    continue;
                }
            }
            i += 1;
        }
        Ok(())
    }

    pub(super) fn settle(&mut self, server: &TestingServer, what: &str) -> Result<(), Error> {
        let start = Instant::now();
        let end = start + Duration::from_secs(60);
        let mut replaced = false;
        while Instant::now() < end {
            self.tend()?;
            if self.settled(server) {
                return Ok(());
            }
            // A candidate still without a session after 20 s (a seed one
            // whose expiry was never told, which it never recovers from,
            // F2; one full run was lost to it): replaced once, and counted
            // with the expiries.
            if !replaced && start.elapsed() >= Duration::from_secs(20) {
                replaced = true;
                let stuck = self.replace_sessionless()?;
                if stuck > 0 {
                    eprintln!(
                        "bench: scale {}/{}: {what}: {stuck} candidate(s) without a session for 20 s: replaced",
                        self.mode,
                        self.members.len()
                    );
                }
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Err(format!(
            "scale {}/{}: {what}: not settled in 60 s (masters {:?}, {} without a session)",
            self.mode,
            self.members.len(),
            self.masters(),
            self.members
                .iter()
                .filter(|m| m.elector.session_id() == 0)
                .count()
        )
        .into())
    }

    /// Replaces every candidate without a session by a fresh one; how
    /// many.
    fn replace_sessionless(&mut self) -> Result<usize, Error> {
        let mut stuck = 0;
        let mut i = 0;
        while i < self.members.len() {
            if self.members[i].elector.session_id() == 0 {
                let gone = self.members.swap_remove(i);
                // Not waited for: a candidate stuck connecting may take its
                // time to stop.
                drop(gone.retire());
                self.expiries += 1;
                stuck += 1;
                continue;
            }
            i += 1;
        }
        for _ in 0..stuck {
            self.add()?;
        }
        Ok(stuck)
    }

    /// The first win by another candidate than `old` at or after `t0`.
    pub(super) fn won_after(&self, old: usize, t0: f64) -> Option<f64> {
        self.wins
            .lock()
            .ok()?
            .iter()
            .find(|(id, t)| *id != old && *t >= t0)
            .map(|(_, t)| *t)
    }

    pub(super) fn retire_all(&mut self) {
        let handles: Vec<JoinHandle<()>> = self.members.drain(..).map(Member::retire).collect();
        for h in handles {
            let _ = h.join();
        }
    }
}
