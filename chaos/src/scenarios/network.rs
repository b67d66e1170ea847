//! Faults on the master's client link: partitions through a proxy, refused
//! connections.

use crate::*;
use std::time::{Duration, Instant};
use zkha_testing::{ProxyMode, TcpProxy};

impl Chaos {
    /// Partitions of the master's client link through per-candidate proxies,
    /// in turn: blackhole until another candidate took over (and half a
    /// session timeout more), connection resets, latency near the renewal
    /// period (T/5 each way) for 2T.
    pub fn partition(&mut self, server: &str, rounds: usize) -> Stats {
        let mut s = self.scene("partitions");
        let path = self.unique("chaos-part");
        let proxies: Vec<TcpProxy> = match (0..3).map(|_| TcpProxy::start(server)).collect() {
            Ok(p) => p,
            Err(e) => {
                s.error(format!("proxy: {e}"));
                return s.finish();
            }
        };
        for p in &proxies {
            s.spawn(&p.connect_string(), &path, &[]);
        }
        let t = self.session_ms;
        for round in 1..=rounds {
            let when = format!("round {round}");
            let Some(m) = s.one_master(Duration::from_secs(30), &when) else {
                break;
            };
            if !s.wait_standbys_watch(server, &path, m, &when) {
                break;
            }
            let proxy = &proxies[m];
            let at = monotonic_ms();
            match round % 3 {
                1 => {
                    proxy.set_mode(ProxyMode::Blackhole);
                    // The injection, checked: nothing comes back through it.
                    let probe = zkha_testing::four_letter_word(
                        &proxy.connect_string(),
                        "ruok",
                        Duration::from_millis(500),
                    );
                    if matches!(&probe, Ok(a) if !a.is_empty()) {
                        proxy.set_mode(ProxyMode::Pass);
                        s.error(format!("{when}: the blackhole let {probe:?} through"));
                        break;
                    }
                    s.fault(at, m, "blackhole of the master's link");
                    let took = s.wait_takeover(m, at, &when);
                    if took.is_some() {
                        std::thread::sleep(Duration::from_millis(t / 2));
                    }
                    proxy.set_mode(ProxyMode::Pass);
                    if took.is_none() {
                        break;
                    }
                }
                2 => {
                    let before = s.cands[m].count("connected");
                    proxy.reset_all();
                    s.fault(at, m, "reset of the master's connections");
                    // The injection, checked: the master's client reconnected.
                    let c = &s.cands[m];
                    if !wait_until(Duration::from_millis(t * 3), || {
                        c.count("connected") > before
                    }) {
                        s.error(format!(
                            "{when}: the master did not reconnect after the reset"
                        ));
                        break;
                    }
                }
                _ => {
                    let delay = Duration::from_millis(t / 5);
                    proxy.set_delay(delay);
                    proxy.set_mode(ProxyMode::Delay);
                    // The injection, checked: an answer takes two delays.
                    let sent = Instant::now();
                    let probe = zkha_testing::four_letter_word(
                        &proxy.connect_string(),
                        "ruok",
                        Duration::from_millis(t * 2),
                    );
                    if !matches!(&probe, Ok(a) if a.starts_with("imok"))
                        || sent.elapsed() < delay * 2
                    {
                        proxy.set_mode(ProxyMode::Pass);
                        s.error(format!(
                            "{when}: the delay was not applied ({probe:?} in {:?})",
                            sent.elapsed()
                        ));
                        break;
                    }
                    s.fault(at, m, "latency of T/5 each way on the master's link");
                    std::thread::sleep(Duration::from_millis(t * 2));
                    proxy.set_mode(ProxyMode::Pass);
                }
            }
            std::thread::sleep(Duration::from_millis(t));
        }
        s.finish()
    }

    /// The master's link refuses and resets every connection: its C client
    /// reports the disconnection at once, so the master must step down on
    /// its own disconnect timer (F1, `T/4` later: `lost_master` reason
    /// `disconnected`), before its lease (`T/2` after the last renewal)
    /// would have ended it (`lease_expired`). Then a standby takes over.
    pub fn refused_connections(&mut self, server: &str, rounds: usize) -> Stats {
        let mut s = self.scene("refused");
        let path = self.unique("chaos-refused");
        let proxies: Vec<TcpProxy> = match (0..2).map(|_| TcpProxy::start(server)).collect() {
            Ok(p) => p,
            Err(e) => {
                s.error(format!("proxy: {e}"));
                return s.finish();
            }
        };
        for p in &proxies {
            s.spawn(&p.connect_string(), &path, &[]);
        }
        for round in 1..=rounds {
            let when = format!("round {round}");
            let Some(m) = s.one_master(Duration::from_secs(30), &when) else {
                break;
            };
            if !s.wait_standbys_watch(server, &path, m, &when) {
                break;
            }
            let at = monotonic_ms();
            proxies[m].set_mode(ProxyMode::Reset);
            s.fault(at, m, "every connection of the master refused");
            let took = s.wait_takeover(m, at, &when);
            let why = s.cands[m]
                .events()
                .into_iter()
                .find(|e| e.event == "lost_master" && e.t >= at)
                .map(|e| e.reason.unwrap_or_default());
            proxies[m].set_mode(ProxyMode::Pass);
            if why.as_deref() != Some("disconnected") {
                s.error(format!(
                    "{when}: the master stepped down by {why:?}, not by its disconnect timer"
                ));
                break;
            }
            if took.is_none() {
                break;
            }
            std::thread::sleep(Duration::from_millis(self.session_ms));
        }
        s.finish()
    }
}
