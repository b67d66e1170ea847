//! Candidates as processes (`zkha candidate`, the C++ `seed_peer`) and their
//! JSON-lines traces, for the fidelity, mixed and flaw tests.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// One trace line.
#[derive(Debug, Clone)]
pub struct Ev {
    pub t: f64,
    pub who: String,
    pub event: String,
    pub rc: Option<i64>,
    pub reason: Option<String>,
    pub clientid: Option<String>,
    pub session: Option<String>,
    pub token: Option<i64>,
}

impl Ev {
    /// What fidelity compares: the event, its rc and reason.
    pub fn kind(&self) -> String {
        let mut k = self.event.clone();
        if let Some(rc) = self.rc {
            k.push_str(&format!(" rc={rc}"));
        }
        if let Some(r) = &self.reason {
            k.push_str(&format!(" reason={r}"));
        }
        k
    }
}

pub fn read_trace(path: &Path) -> Vec<Ev> {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let v: serde_json::Value =
                serde_json::from_str(l).unwrap_or_else(|e| panic!("bad trace line {l:?}: {e}"));
            let s = |k: &str| v.get(k).and_then(|x| x.as_str()).map(str::to_owned);
            Ev {
                t: v["t"].as_f64().expect("t"),
                who: s("who").unwrap_or_default(),
                event: s("event").expect("event"),
                rc: v.get("rc").and_then(|x| x.as_i64()),
                reason: s("reason"),
                clientid: s("clientid"),
                session: s("session"),
                token: v.get("token").and_then(|x| x.as_i64()),
            }
        })
        .collect()
}

/// CLOCK_MONOTONIC now, in ms (the traces' clock).
pub fn now_ms() -> f64 {
    zkha::__private::monotonic_ms()
}

/// A private directory for one test's traces and logs.
pub fn work_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("zkha-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// A candidate process and its trace.
pub struct Proc {
    pub child: Child,
    pub trace: PathBuf,
    pub stderr: PathBuf,
    pub name: String,
}

impl Proc {
    pub fn events(&self) -> Vec<Ev> {
        read_trace(&self.trace)
    }

    /// Events of `kind` (an event name, or `event rc=N` / `event
    /// reason=R`); `waiting` counts a standby's look at another's node:
    /// `create rc=-110` (seed, C++) or `standby` (safe: it waits without a
    /// create).
    pub fn count(&self, kind: &str) -> usize {
        self.events()
            .iter()
            .filter(|e| {
                e.kind() == kind
                    || e.event == kind
                    || (kind == "waiting" && (e.kind() == "create rc=-110" || e.event == "standby"))
            })
            .count()
    }

    /// Waits until the trace holds `n` events of `kind` (an event name, or
    /// `event rc=N` / `event reason=R`).
    pub fn wait_for(&self, kind: &str, n: usize, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while self.count(kind) < n {
            // (Counted again: the event may have been written just before
            // the process ended.)
            if let Some(end) = self.ended().filter(|_| self.count(kind) < n) {
                panic!(
                    "{}: {end} before {n}x {kind:?}; trace: {:#?}\nstderr tail: {}",
                    self.name,
                    self.events().iter().map(Ev::kind).collect::<Vec<_>>(),
                    self.stderr_tail()
                );
            }
            assert!(
                Instant::now() < deadline,
                "{}: no {n}x {kind:?} within {timeout:?}; trace: {:#?}\nstderr tail: {}",
                self.name,
                self.events().iter().map(Ev::kind).collect::<Vec<_>>(),
                self.stderr_tail()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// How the process ended ("exited with 3", "killed by signal 11"), if
    /// it has; the child stays unreaped, so `wait`/`term` still work.
    fn ended(&self) -> Option<String> {
        // SAFETY: a zeroed siginfo_t is a valid out-parameter; WNOWAIT
        // leaves the child waitable, WNOHANG returns at once.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: waits (without reaping) on our own child, writing `info`.
        let rc = unsafe {
            libc::waitid(
                libc::P_PID,
                self.child.id(),
                &mut info,
                libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
            )
        };
        // SAFETY: waitid filled `info` (si_pid 0 means the child still runs).
        let (pid, code, status) = unsafe { (info.si_pid(), info.si_code, info.si_status()) };
        if rc != 0 || pid == 0 {
            return None;
        }
        Some(if code == libc::CLD_EXITED {
            format!("exited with {status}")
        } else {
            format!("killed by signal {status}")
        })
    }

    pub fn stderr_text(&self) -> String {
        std::fs::read_to_string(&self.stderr).unwrap_or_default()
    }

    fn stderr_tail(&self) -> String {
        let t = self.stderr_text();
        let lines: Vec<&str> = t.lines().collect();
        lines[lines.len().saturating_sub(10)..].join("\n")
    }

    /// SIGTERM and wait for a graceful exit; returns the exit code.
    pub fn term(&mut self) -> Option<i32> {
        // SAFETY: signals our own child process.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        self.wait(Duration::from_secs(15))
    }

    /// SIGKILL (a crash); returns the monotonic time just before the kill.
    pub fn kill9(&mut self) -> f64 {
        let t = now_ms();
        let _ = self.child.kill();
        let _ = self.child.wait();
        t
    }

    pub fn wait(&mut self, timeout: Duration) -> Option<i32> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.code();
            }
            if Instant::now() >= deadline {
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!("{} did not exit in {timeout:?}", self.name);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Which implementation of the seed design.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Impl {
    /// testing/cpp/seed_peer.cpp (`zkha_testing::programs::seed_peer`)
    Cpp,
    /// `zkha candidate --profile seed`
    RustSeed,
    /// `zkha candidate --profile safe`
    RustSafe,
}

/// Options of one candidate process.
pub struct Spec<'a> {
    pub hosts: &'a str,
    pub path: &'a str,
    pub data: &'a str,
    pub session_ms: u64,
    pub interval_ms: u64,
    pub reinit_limit: Option<u32>,
    pub extra: &'a [&'a str],
}

pub fn spawn(which: Impl, spec: &Spec, dir: &Path, name: &str) -> Proc {
    spawn_with_env(which, spec, dir, name, &[])
}

/// [`spawn`] with extra environment variables for the candidate (test
/// hooks such as `ZKHA_TEST_CLAIM_DELAY_MS`).
pub fn spawn_with_env(
    which: Impl,
    spec: &Spec,
    dir: &Path,
    name: &str,
    env: &[(&str, &str)],
) -> Proc {
    let trace = dir.join(format!("{name}.trace"));
    let stderr = dir.join(format!("{name}.stderr"));
    let err = std::fs::File::create(&stderr).unwrap();
    let mut cmd = match which {
        Impl::Cpp => {
            let mut c = Command::new(zkha_testing::programs::seed_peer());
            c.args([spec.hosts, spec.path, spec.data])
                .arg(spec.session_ms.to_string())
                .arg(spec.interval_ms.to_string())
                .args(["--trace", trace.to_str().unwrap(), "--name", name]);
            if let Some(n) = spec.reinit_limit {
                c.args(["--reinit-limit", &n.to_string()]);
            }
            c
        }
        Impl::RustSeed | Impl::RustSafe => {
            let mut c = Command::new(env!("CARGO_BIN_EXE_zkha"));
            c.env("RUST_LOG", "zkha=debug,warn")
                .args([
                    "candidate",
                    "--hosts",
                    spec.hosts,
                    "--path",
                    spec.path,
                    "--data",
                    spec.data,
                ])
                .args([
                    "--profile",
                    if which == Impl::RustSeed {
                        "seed"
                    } else {
                        "safe"
                    },
                ])
                .args(["--session-timeout", &spec.session_ms.to_string()])
                .args(["--poll-interval", &spec.interval_ms.to_string()])
                .args(["--trace", trace.to_str().unwrap(), "--name", name]);
            if let Some(n) = spec.reinit_limit {
                c.args(["--reinit-limit", &n.to_string()]);
            }
            c
        }
    };
    cmd.args(spec.extra);
    cmd.envs(env.iter().copied());
    let child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(err)
        .spawn()
        .expect("spawn candidate");
    Proc {
        child,
        trace,
        stderr,
        name: name.to_owned(),
    }
}

/// A mastership as the trace shows it: `[start, end)`, `end` the first
/// lost_master / exit after it, or `end_if_open`.
pub fn masterships(events: &[Ev], end_if_open: f64) -> Vec<(f64, f64)> {
    let mut out = Vec::new();
    let mut start = None;
    for e in events {
        match e.event.as_str() {
            "became_master" if start.is_none() => start = Some(e.t),
            "lost_master" | "exit" => {
                if let Some(s) = start.take() {
                    out.push((s, e.t));
                }
            }
            _ => {}
        }
    }
    if let Some(s) = start {
        out.push((s, end_if_open));
    }
    out
}

/// Pairs of overlapping masterships across candidates: `(who a, who b, overlap ms)`.
pub fn overlaps(all: &[(String, Vec<(f64, f64)>)]) -> Vec<(String, String, f64)> {
    let mut out = Vec::new();
    for (i, (a, ia)) in all.iter().enumerate() {
        for (b, ib) in &all[i + 1..] {
            for &(s1, e1) in ia {
                for &(s2, e2) in ib {
                    let o = e1.min(e2) - s1.max(s2);
                    if o > 0.0 {
                        out.push((a.clone(), b.clone(), o));
                    }
                }
            }
        }
    }
    out
}
