//! `zkha run --priority` against a real server, judged from outside by
//! which command ran (each command logs its own start with its token):
//! with priorities 100/50/0, over 100 crash failovers (SIGKILL of the
//! master's `zkha run`; its watchdog stops the command and ends the
//! session), 100 wins every time it is registered and ready, 0 never; and
//! priority 0 alone never starts its command, while it is registered.
//!
//! With a, b and c alone every crash leaves one candidate that may take
//! over, so the first test cannot see the 50 beat the 100; the second (a
//! second 100, d) makes each crash a contest between a ready 100 and the
//! ready 50.

use crate::cli_kit::{dir, hosts, lines, zkha};
use crate::common::eventually;
use std::fs::OpenOptions;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};
use zkha::elector::registry::{self, CandidateEntry, Role};
use zkha::ZooKeeper;
use zkha_testing::unique_path;

const LONG: Duration = Duration::from_secs(30);

/// A command that logs `<name> start <token>` on start and `<name> stop`
/// on SIGTERM.
fn command(name: &str, log: &Path) -> Vec<String> {
    let script = format!(
        "echo {name} start $ZKHA_TOKEN >> {log}; trap 'echo {name} stop >> {log}; exit 0' TERM; while true; do sleep 0.02; done",
        log = log.display()
    );
    vec!["sh".into(), "-c".into(), script]
}

/// One `zkha run` candidate: its flags, its process while it runs.
struct Cand {
    name: &'static str,
    priority: u32,
    data: &'static str,
    child: Option<Child>,
}

impl Cand {
    fn spawn(&mut self, path: &str, d: &Path, log: &Path) {
        // Each incarnation's stderr appended to one file (never a pipe that
        // nobody reads: a full pipe would stall zkha).
        let err = OpenOptions::new()
            .create(true)
            .append(true)
            .open(stderr_file(d, self.name))
            .unwrap();
        let child = zkha()
            .args(["run", "--hosts", hosts(), "--path", path])
            .args(["--data", self.data, "--name", self.name])
            .args(["--priority", &self.priority.to_string()])
            .args(["--session-timeout", "2000", "--poll-interval", "100"])
            .arg("--")
            .args(command(self.name, log))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(err)
            .spawn()
            .unwrap();
        self.child = Some(child);
    }

    /// SIGKILL: a crash of `zkha run` (its watchdog survives it).
    fn crash(&mut self) {
        let mut child = self.child.take().unwrap();
        child.kill().unwrap();
        child.wait().unwrap();
    }

    /// SIGTERM and wait.
    fn term(&mut self) {
        if let Some(mut child) = self.child.take() {
            // SAFETY: a child of ours, not reaped yet.
            unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
            child.wait().unwrap();
        }
    }
}

impl Drop for Cand {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn stderr_file(d: &Path, name: &str) -> PathBuf {
    d.join(format!("{name}.stderr"))
}

/// The names whose command started, in order.
fn starts(log: &Path) -> Vec<String> {
    lines(log)
        .iter()
        .filter_map(|l| {
            let mut w = l.split_whitespace();
            let (name, what) = (w.next()?, w.next()?);
            (what == "start").then(|| name.to_owned())
        })
        .collect()
}

fn registered(zk: &ZooKeeper, path: &str) -> Vec<CandidateEntry> {
    registry::read_candidates(zk, path).unwrap_or_default()
}

fn tail(d: &Path, name: &str) -> String {
    let text = std::fs::read_to_string(stderr_file(d, name)).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(8)..].join("\n")
}

/// Candidates on one path, their commands' log, an admin session.
struct Field {
    d: PathBuf,
    log: PathBuf,
    path: String,
    zk: ZooKeeper,
    cands: Vec<Cand>,
}

impl Field {
    fn new(test: &str) -> Field {
        let d = dir(test);
        Field {
            log: d.join("cmds.log"),
            path: format!("{}/m", unique_path(test)),
            zk: ZooKeeper::builder(hosts()).connect(LONG).unwrap(),
            d,
            cands: Vec::new(),
        }
    }

    fn index(&self, name: &str) -> usize {
        self.cands.iter().position(|c| c.name == name).unwrap()
    }

    fn priority(&self, name: &str) -> u32 {
        self.cands[self.index(name)].priority
    }

    fn registered(&self) -> Vec<CandidateEntry> {
        registered(&self.zk, &self.path)
    }

    fn starts(&self) -> Vec<String> {
        starts(&self.log)
    }

    /// Starts candidate `name` and waits until it is registered, ready, as
    /// a standby or master.
    fn spawn(&mut self, name: &'static str, priority: u32, data: &'static str) {
        self.cands.push(Cand {
            name,
            priority,
            data,
            child: None,
        });
        self.respawn(name);
    }

    fn respawn(&mut self, name: &str) {
        let i = self.index(name);
        self.cands[i].spawn(&self.path, &self.d, &self.log);
        assert!(
            eventually(LONG, || self
                .registered()
                .iter()
                .any(|e| e.name == name && e.ready)),
            "{name} never registered: {:?}\n{}",
            self.registered(),
            tail(&self.d, name)
        );
    }

    /// `rounds` crash failovers: the master (the last command started) has
    /// its `zkha run` SIGKILLed; the next command to start must be one of
    /// the highest priority among the standbys registered and ready at the
    /// crash, never priority 0; the crashed master's command was stopped
    /// before; the crashed candidate comes back with the same flags.
    /// Returns how many takeovers each priority made.
    fn crash_failovers(&mut self, rounds: usize) -> std::collections::BTreeMap<u32, usize> {
        let started = Instant::now();
        let mut slowest = Duration::ZERO;
        let mut wins = std::collections::BTreeMap::new();
        for round in 0..rounds {
            let before = self.starts();
            let master = before.last().unwrap().clone();
            // The best standby registered and ready as the master crashes.
            let best = self
                .registered()
                .iter()
                .filter(|e| e.name != master && e.ready && e.role == Role::Standby)
                .map(|e| e.priority)
                .max()
                .unwrap();
            assert!(best > 0, "round {round}: nobody may take over");
            let crashed = Instant::now();
            let i = self.index(&master);
            self.cands[i].crash();
            assert!(
                eventually(LONG, || self.starts().len() > before.len()),
                "round {round}: nobody took over from {master}: {:?}\n{}",
                last_lines(&self.log),
                tail(&self.d, &master)
            );
            slowest = slowest.max(crashed.elapsed());
            let next = self.starts()[before.len()].clone();
            assert_ne!(
                self.priority(&next),
                0,
                "round {round}: priority 0 ({next}) started its command"
            );
            assert_eq!(
                self.priority(&next),
                best,
                "round {round}: {master} crashed while a candidate of priority {best} was registered and ready, and {next} (priority {}) took over: {:?}",
                self.priority(&next),
                last_lines(&self.log)
            );
            *wins.entry(best).or_insert(0) += 1;
            // The crashed master's command was stopped before the next one
            // started (its watchdog stops it, then ends the session).
            let all = lines(&self.log);
            let stop = all.iter().rposition(|l| *l == format!("{master} stop"));
            let next_start = all
                .iter()
                .rposition(|l| l.starts_with(&format!("{next} start")));
            assert!(
                stop.is_some() && stop < next_start,
                "round {round}: {master}'s command was not stopped before {next}'s started: {:?}",
                last_lines(&self.log)
            );
            // Back with the same flags, as a registered standby.
            self.respawn(&master);
        }
        let total = started.elapsed();
        eprintln!(
            "{}: {rounds} crash failovers in {} ms ({} ms a round, slowest takeover {} ms); takeovers by priority: {wins:?}",
            self.path,
            total.as_millis(),
            total.as_millis() / rounds as u128,
            slowest.as_millis()
        );
        let all = self.starts();
        assert_eq!(all.len(), rounds + 1, "{all:?}");
        wins
    }
}

impl Drop for Field {
    fn drop(&mut self) {
        for c in &mut self.cands {
            c.term();
        }
    }
}

fn last_lines(log: &Path) -> Vec<String> {
    let all = lines(log);
    all[all.len().saturating_sub(6)..].to_vec()
}

#[test]
fn over_100_crash_failovers_100_wins_whenever_registered_and_0_never() {
    let mut f = Field::new("priorities");
    // c first: alone, it does not start; then b takes over; then a.
    f.spawn("c", 0, "10.0.0.3");
    f.spawn("b", 50, "10.0.0.2");
    assert!(
        eventually(LONG, || f.starts() == ["b"]),
        "b never started: {:?}",
        lines(&f.log)
    );
    f.spawn("a", 100, "10.0.0.1");
    let seen: Vec<(String, u32, bool, Role)> = f
        .registered()
        .into_iter()
        .map(|e| (e.name, e.priority, e.ready, e.role))
        .collect();
    assert_eq!(
        seen,
        [
            ("a".into(), 100, true, Role::Standby),
            ("b".into(), 50, true, Role::Master),
            ("c".into(), 0, true, Role::Standby)
        ]
    );
    // Crashes of b hand over to a (registered and ready), crashes of a to
    // b (a is down): they alternate, c never starts.
    let wins = f.crash_failovers(100);
    assert_eq!(wins, [(50, 50), (100, 50)].into(), "{:?}", f.starts());
    let all = f.starts();
    assert!(!all.iter().any(|s| s == "c"), "{all:?}");
    assert!(
        all.windows(2).all(|w| w[0] != w[1]),
        "not alternating: {all:?}"
    );
}

#[test]
fn when_the_master_crashes_a_ready_100_always_beats_a_ready_50() {
    // With a, b and c alone, a crash always leaves one candidate that may
    // take over. Here a second 100 (d) is master whenever a is not: each
    // crash leaves a 100 and the 50 both ready as standbys, and the 50
    // must give way every time.
    let mut f = Field::new("priorities-contest");
    f.spawn("c", 0, "10.0.0.3");
    f.spawn("d", 100, "10.0.0.4");
    assert!(
        eventually(LONG, || f.starts() == ["d"]),
        "d never started: {:?}",
        lines(&f.log)
    );
    f.spawn("b", 50, "10.0.0.2");
    f.spawn("a", 100, "10.0.0.1");
    let wins = f.crash_failovers(100);
    assert_eq!(wins, [(100, 100)].into(), "{:?}", f.starts());
    let all = f.starts();
    assert!(
        !all.iter().any(|s| s == "b" || s == "c"),
        "the 50 or the 0 started: {all:?}"
    );
}

#[test]
fn priority_0_alone_is_registered_and_never_starts_its_command() {
    let d = dir("priority-0");
    let log = d.join("cmds.log");
    let path = format!("{}/m", unique_path("cli-priority-0"));
    let zk = ZooKeeper::builder(hosts()).connect(LONG).unwrap();
    let mut c = Cand {
        name: "c",
        priority: 0,
        data: "10.0.0.3",
        child: None,
    };
    c.spawn(&path, &d, &log);
    assert!(
        eventually(LONG, || registered(&zk, &path)
            .iter()
            .any(|e| e.name == "c")),
        "c never registered: {}",
        tail(&d, "c")
    );
    let e = registered(&zk, &path).remove(0);
    assert_eq!(
        (e.name.as_str(), e.priority, e.ready, e.role, e.data_text()),
        ("c", 0, true, Role::Standby, "10.0.0.3".into())
    );
    let until = Instant::now() + Duration::from_secs(4);
    while Instant::now() < until {
        assert!(
            lines(&log).is_empty(),
            "priority 0 started its command: {:?}",
            lines(&log)
        );
        assert!(
            zk.exists(&path, false).unwrap().is_none(),
            "priority 0 took the master node"
        );
        assert_eq!(registered(&zk, &path).len(), 1);
        std::thread::sleep(Duration::from_millis(50));
    }
    c.term();
    assert!(lines(&log).is_empty(), "{:?}", lines(&log));
    assert!(eventually(LONG, || registered(&zk, &path).is_empty()));
}
