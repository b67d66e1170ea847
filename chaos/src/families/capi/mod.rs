//! The capi family (issue 27): the classic design rewritten on zkha's C
//! API (`examples/seed_on_capi.cpp`, linked against this build's
//! libzkha.so, compiled here at run time with the C++ compiler) contends
//! with a Rust safe candidate (`zkha run` supervising a shell loop) for one
//! master node, under faults, judged by side effects alone.
//!
//! Every contender appends `work NAME TOKEN MS` to ONE shared work log
//! (O_APPEND, a line per write) every 100 ms while it is master: the C++
//! program from its run loop (`zkha_elector_is_master`, its token), the
//! Rust candidate's command with `$ZKHA_TOKEN`. Each contender connects
//! through a `TcpProxy` of its own to a server of the family's own.
//!
//! Each round on a fresh path, by turns: a C++ master with a C++ and a
//! Rust standby; a C++ master with a Rust standby alone (C++ → Rust); a
//! Rust master with two C++ standbys (Rust → C++). The master is started
//! first and is master before the others start; once the standbys watch
//! the node, the round's fault ([`CapiFault`]) on the master, then a
//! takeover by another contender must come (an error otherwise). A C++
//! master is stopped whole (SIGSTOP of its process, elector and run loop);
//! a Rust master's `zkha run` is stopped alone (its elector; its command's
//! watchdog is what stops the command in time).
//!
//! Judged (`judge.rs`) from the log in append order: once a term's line is
//! in it, no line of an earlier term may follow (O, overlaps: fails the
//! run); a new term's token is larger than every one before it. Each term
//! seen is checked against the master node's czxid (and its data, the
//! contender's name) while it holds the node.

mod judge;

use crate::process::leave_or_kill;
use crate::*;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;
use zkha::{Acl, CreateMode, ZooKeeper};
use zkha_testing::{ProxyMode, TcpProxy, TestingServer};

/// The fault of a capi round, on the master.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CapiFault {
    /// SIGKILL of the master (its session lingers until it expires).
    Kill,
    /// SIGSTOP of the master past the session timeout, until another took
    /// over, then SIGCONT.
    Stop,
    /// The master's link blackholed past the session timeout, until
    /// another took over, then healed.
    Blackhole,
    /// SIGTERM: a graceful exit (the C++ program frees its elector, which
    /// releases the node; `zkha run` stops its command and releases it).
    Term,
}

impl CapiFault {
    pub const ALL: [CapiFault; 4] = [
        CapiFault::Kill,
        CapiFault::Stop,
        CapiFault::Blackhole,
        CapiFault::Term,
    ];

    fn what(self) -> &'static str {
        match self {
            CapiFault::Kill => "SIGKILL of the master",
            CapiFault::Stop => "SIGSTOP of the master past the session timeout, then SIGCONT",
            CapiFault::Blackhole => "the master's link blackholed past the session timeout",
            CapiFault::Term => "SIGTERM: the master leaves gracefully",
        }
    }
}

/// The session timeout: the C++ program asks for 5000 ms
/// (`zookeeper_init`); the Rust candidates are given the same.
const SESSION_MS: u64 = 5000;

/// The Rust candidate's command (`$0` its name, `$1` the work log): a line
/// every 100 ms with `$ZKHA_TOKEN` and the time (CLOCK_BOOTTIME in ms,
/// from /proc/uptime), each line one write (dash's printf) in O_APPEND.
const RUST_WORK: &str = "while :; do printf 'work %s %s %s\\n' \"$0\" \"$ZKHA_TOKEN\" \
     \"$(awk '{printf \"%d\", $1 * 1000}' /proc/uptime)\" >> \"$1\"; sleep 0.1; done";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Cpp,
    Rust,
}

impl Kind {
    /// A clean exit after SIGTERM: the C++ program's 0; `zkha run`'s
    /// 128 + 15 (documented: interrupted by SIGTERM).
    fn clean(self, status: std::process::ExitStatus) -> bool {
        match self {
            Kind::Cpp => status.success(),
            Kind::Rust => status.code() == Some(128 + libc::SIGTERM),
        }
    }

    fn of(name: &str) -> Kind {
        if name.starts_with("rust") {
            Kind::Rust
        } else {
            Kind::Cpp
        }
    }
}

/// One contender.
struct Contender {
    name: String,
    kind: Kind,
    child: Child,
    proxy: TcpProxy,
    ended: bool,
}

/// The family's state.
struct Family {
    s: Scene,
    server: TestingServer,
    admin: Arc<ZooKeeper>,
    zkha: PathBuf,
    example: PathBuf,
    lib_dir: PathBuf,
    contenders: Vec<Contender>,
    path: String,
    dir: PathBuf,
    log: PathBuf,
    serial: usize,
    cs: CapiStats,
}

/// Where the C client's headers are and its defines, from the build
/// script output of zkha-capi in `lib_dir/build/` (the newest).
fn zk_headers(lib_dir: &Path) -> Result<(String, String), String> {
    let build = lib_dir.join("build");
    let mut found: Option<(std::time::SystemTime, String, String)> = None;
    for entry in std::fs::read_dir(&build).map_err(|e| format!("{}: {e}", build.display()))? {
        let Ok(entry) = entry else { continue };
        if !entry
            .file_name()
            .to_string_lossy()
            .starts_with("zkha-capi-")
        {
            continue;
        }
        let output = entry.path().join("output");
        let Ok(text) = std::fs::read_to_string(&output) else {
            continue;
        };
        let value = |key: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(&format!("cargo:rustc-env={key}=")))
                .map(str::to_owned)
        };
        let (Some(include), Some(defines)) =
            (value("ZKHA_CAPI_ZK_INCLUDE"), value("ZKHA_CAPI_ZK_DEFINES"))
        else {
            continue;
        };
        let when = std::fs::metadata(&output)
            .and_then(|m| m.modified())
            .unwrap_or(std::time::UNIX_EPOCH);
        if found.as_ref().is_none_or(|(w, _, _)| when > *w) {
            found = Some((when, include, defines));
        }
    }
    found
        .map(|(_, i, d)| (i, d))
        .ok_or_else(|| format!("no build of zkha-capi in {}", build.display()))
}

/// Compiles examples/seed_on_capi.cpp against zkha.h and the C client's
/// headers, linked with `lib_dir`'s libzkha.so alone (as zkha-capi's
/// tests do), into `out`.
pub fn compile_example(lib_dir: &Path, out: &Path) -> Result<PathBuf, String> {
    if !lib_dir.join("libzkha.so").exists() {
        return Err(format!(
            "no libzkha.so in {}: build it first (`cargo build -p zkha-capi`)",
            lib_dir.display()
        ));
    }
    let (zk_include, defines) = zk_headers(lib_dir)?;
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let source = root.join("examples/seed_on_capi.cpp");
    std::fs::create_dir_all(out).map_err(|e| format!("{}: {e}", out.display()))?;
    let exe = out.join("seed_on_capi");
    let mut cmd = Command::new(std::env::var("CXX").unwrap_or_else(|_| "c++".into()));
    cmd.args([
        "-std=c++17",
        "-Wall",
        "-Wextra",
        "-Werror",
        "-O1",
        "-DTHREADED",
    ]);
    for define in defines.split_whitespace() {
        cmd.arg(format!("-D{define}"));
    }
    cmd.arg(format!("-I{}", root.join("zkha-capi/include").display()))
        .arg(format!("-I{zk_include}"))
        .arg(&source)
        .arg("-o")
        .arg(&exe)
        .arg(format!("-L{}", lib_dir.display()))
        .arg(format!("-Wl,-rpath,{}", lib_dir.display()))
        .args(["-lzkha", "-lpthread", "-ldl"]);
    let status = cmd
        .status()
        .map_err(|e| format!("running the C++ compiler: {e}"))?;
    if !status.success() {
        return Err(format!("compiling {} failed: {cmd:?}", source.display()));
    }
    Ok(exe)
}

impl Chaos {
    /// The capi family, a round per fault of `kinds`: the C++ example on
    /// `lib_dir`'s libzkha.so (compiled here) and `zkha run` contending.
    pub fn capi_with(&mut self, lib_dir: &Path, kinds: &[CapiFault]) -> Stats {
        let mut s = self.scene("capi");
        s.session_ms = SESSION_MS;
        let example = match compile_example(lib_dir, &s.dir.join("bin")) {
            Ok(exe) => exe,
            Err(e) => {
                s.error(e);
                return s.finish();
            }
        };
        let server = match TestingServer::start() {
            Ok(server) => server,
            Err(e) => {
                s.error(format!("server: {e}"));
                return s.finish();
            }
        };
        let admin =
            match ZooKeeper::builder(server.connect_string()).connect(Duration::from_secs(30)) {
                Ok(zk) => Arc::new(zk),
                Err(e) => {
                    s.error(format!("a client of the harness: {e}"));
                    return s.finish();
                }
            };
        let mut f = Family {
            s,
            server,
            admin,
            zkha: self.zkha.clone(),
            example,
            lib_dir: lib_dir.to_owned(),
            contenders: Vec::new(),
            path: String::new(),
            dir: PathBuf::new(),
            log: PathBuf::new(),
            serial: 0,
            cs: CapiStats::default(),
        };
        for (k, &kind) in kinds.iter().enumerate() {
            if !f.round(k + 1, kind) {
                break;
            }
        }
        let Family {
            mut s,
            server,
            admin,
            cs,
            ..
        } = f;
        drop(admin);
        if cs.rounds < kinds.len() {
            s.error(format!("{} of {} rounds judged", cs.rounds, kinds.len()));
        }
        if kinds.len() >= 3 && (cs.cpp_to_rust == 0 || cs.rust_to_cpp == 0) {
            s.error(format!(
                "handovers: {} C++ to Rust, {} Rust to C++ (both directions must occur)",
                cs.cpp_to_rust, cs.rust_to_cpp
            ));
        }
        let mut stats = s.finish();
        stats.failovers = cs.takeovers;
        stats.blackbox_overlaps += cs.overlaps;
        stats.token_regressions += cs.regressions;
        stats.capi = cs;
        drop(server);
        stats
    }
}

/// A term found in the log: who, its token.
struct Next {
    name: String,
    token: i64,
}

impl Family {
    /// One round; false: stop here.
    fn round(&mut self, k: usize, kind: CapiFault) -> bool {
        let when = format!("round {k} ({kind:?})");
        // By turns: C++ master with C++ and Rust standbys; C++ master with
        // a Rust standby; Rust master with two C++ standbys.
        let shape: &[Kind] = match (k - 1) % 3 {
            0 => &[Kind::Cpp, Kind::Cpp, Kind::Rust],
            1 => &[Kind::Cpp, Kind::Rust],
            _ => &[Kind::Rust, Kind::Cpp, Kind::Cpp],
        };
        let base = zkha_testing::unique_path("chaos-capi");
        self.path = format!("{base}/m");
        self.dir = self.s.dir.join(format!("round-{k:02}"));
        self.log = self.dir.join("work");
        let _ = std::fs::create_dir_all(&self.dir);
        if let Err(e) = self
            .admin
            .create(&base, b"", &Acl::open_unsafe(), CreateMode::Persistent)
        {
            self.s.error(format!("{when}: the parent node: {e}"));
            return false;
        }
        self.contenders.clear();
        let first = self.spawn(shape[0]);
        let Some(m_token) = self.wait_term(first, 0, Duration::from_secs(30)) else {
            self.s.error(format!(
                "{when}: {} never became master and worked",
                self.contenders[first].name
            ));
            self.end_round(&when);
            return false;
        };
        for &kind in &shape[1..] {
            self.spawn(kind);
        }
        if !self.wait_ready(shape.len(), &when) {
            self.end_round(&when);
            return false;
        }
        std::thread::sleep(Duration::from_millis(300));
        let victim = self.contenders[first].name.clone();
        self.check_node(&victim, m_token, &when);
        let names: Vec<&str> = self.contenders.iter().map(|c| c.name.as_str()).collect();
        self.s.note(&format!(
            "{} master (token {m_token}), standbys {}",
            victim,
            names[1..].join(", ")
        ));
        let at = monotonic_ms();
        self.s.faults.push(crate::scene::Fault {
            at,
            victim: Some(victim.clone()),
        });
        self.s.note(&format!("fault: {} ({victim})", kind.what()));
        let next = match self.strike(kind, first, m_token, at, &when) {
            Ok(next) => next,
            Err(e) => {
                self.s.error(format!("{when}: {e}"));
                self.end_round(&when);
                return false;
            }
        };
        match &next {
            Some(n) if n.name != victim => {
                self.cs.takeovers += 1;
                match (Kind::of(&victim), Kind::of(&n.name)) {
                    (Kind::Cpp, Kind::Rust) => self.cs.cpp_to_rust += 1,
                    (Kind::Rust, Kind::Cpp) => self.cs.rust_to_cpp += 1,
                    (Kind::Cpp, Kind::Cpp) => self.cs.cpp_to_cpp += 1,
                    (Kind::Rust, Kind::Rust) => self.cs.rust_to_rust += 1,
                }
                if Kind::of(&victim) == Kind::Cpp {
                    self.cs.cpp_masters_faulted += 1;
                }
                self.s.note(&format!(
                    "{} master (token {}) after the fault",
                    n.name, n.token
                ));
            }
            Some(n) => self.s.error(format!(
                "{when}: {} took the node back (token {}), no takeover by another",
                n.name, n.token
            )),
            None => self.s.error(format!(
                "{when}: no takeover (no term above token {m_token} in the work log) \
                 within {:?} of the fault",
                self.s.takeover_bound()
            )),
        }
        // Let the new master work a while.
        std::thread::sleep(Duration::from_millis(500));
        self.end_round(&when);
        self.judge(&when);
        true
    }

    /// Starts a contender of `kind` through a proxy of its own; its index.
    fn spawn(&mut self, kind: Kind) -> usize {
        self.serial += 1;
        let name = match kind {
            Kind::Cpp => format!("cpp-{}", self.serial),
            Kind::Rust => format!("rust-{}", self.serial),
        };
        let proxy = TcpProxy::start(self.server.connect_string()).expect("proxy");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join(format!("{name}.log")))
            .expect("contender log");
        let out = log.try_clone().expect("contender log");
        let hosts = proxy.connect_string();
        let child = match kind {
            Kind::Cpp => Command::new(&self.example)
                .args([&hosts, &self.path, &name])
                .arg(&self.log)
                .env("LD_LIBRARY_PATH", &self.lib_dir)
                .stdin(Stdio::null())
                .stdout(Stdio::from(out))
                .stderr(Stdio::from(log))
                .spawn()
                .expect("spawn seed_on_capi"),
            Kind::Rust => Command::new(&self.zkha)
                .env("RUST_LOG", "zkha=info,warn")
                .args(["run", "--hosts", &hosts, "--path", &self.path])
                .args(["--profile", "safe"])
                .args(["--session-timeout", &SESSION_MS.to_string()])
                .args(["--poll-interval", "250"])
                .args(["--data", &name, "--name", &name])
                .args(["--", "sh", "-c", RUST_WORK, &name])
                .arg(&self.log)
                .stdin(Stdio::null())
                .stdout(Stdio::from(out))
                .stderr(Stdio::from(log))
                .spawn()
                .expect("spawn zkha run"),
        };
        self.contenders.push(Contender {
            name,
            kind,
            child,
            proxy,
            ended: false,
        });
        self.contenders.len() - 1
    }

    fn verdict(&self) -> judge::Verdict {
        judge::judge(&std::fs::read_to_string(&self.log).unwrap_or_default())
    }

    /// The first term in the log with a token above `above`.
    fn next_term(&self, above: i64) -> Option<Next> {
        self.verdict()
            .terms
            .into_iter()
            .find(|t| t.token > above)
            .map(|t| Next {
                name: t.name,
                token: t.token,
            })
    }

    /// Waits until contender `i` worked with a token above `above`: it.
    fn wait_term(&self, i: usize, above: i64, timeout: Duration) -> Option<i64> {
        let mut found = None;
        let name = &self.contenders[i].name;
        wait_until(timeout, || {
            found = self
                .next_term(above)
                .filter(|n| n.name == *name)
                .map(|n| n.token);
            found.is_some()
        });
        found
    }

    /// Waits up to the takeover bound for a term above `token` (the fault
    /// at `at`), and checks it against the node.
    fn wait_next(&mut self, token: i64, at: f64, when: &str) -> Option<Next> {
        let mut found = None;
        wait_until(self.s.takeover_bound(), || {
            found = self.next_term(token);
            found.is_some()
        });
        if let Some(n) = &found {
            self.s.takeovers.push(monotonic_ms() - at);
            self.check_node(&n.name, n.token, when);
        }
        found
    }

    /// The master node is `name`'s, its czxid `token` (when `name` still
    /// holds it: its data is its name).
    fn check_node(&mut self, name: &str, token: i64, when: &str) {
        let Ok((data, stat)) = self.admin.get(&self.path, false) else {
            return;
        };
        let holder = String::from_utf8_lossy(&data);
        if holder.trim_end_matches('\0') != name {
            return;
        }
        if stat.czxid == token {
            self.cs.czxid_checked += 1;
        } else {
            self.s.error(format!(
                "{when}: {name} works with token {token}, its node's czxid is {}",
                stat.czxid
            ));
        }
    }

    /// Waits until every standby watches the master node (the server's
    /// `wchc`: sessions other than the master's watching the path).
    fn wait_ready(&mut self, n: usize, when: &str) -> bool {
        let (zk, path, probe) = (
            &self.admin,
            &self.path,
            self.server.probe_address().to_owned(),
        );
        let watching = || {
            let owner = zk
                .exists(path, false)
                .ok()
                .flatten()
                .map_or(0, |s| s.ephemeral_owner);
            zkha_testing::data_watches(&probe, Duration::from_secs(2))
                .unwrap_or_default()
                .iter()
                .filter(|(sid, paths)| **sid != owner && paths.iter().any(|p| p == path))
                .count()
        };
        if wait_until(Duration::from_secs(20), || watching() >= n - 1) {
            return true;
        }
        let w = watching();
        self.s.error(format!(
            "{when}: {w} of {} standbys watching the master node",
            n - 1
        ));
        false
    }

    fn signal(&self, i: usize, sig: i32) -> Result<(), String> {
        signal_pid(self.contenders[i].child.id(), sig)
    }

    /// Strikes `kind` on master `m` (token `token`, at `at`) and waits for
    /// the next term.
    fn strike(
        &mut self,
        kind: CapiFault,
        m: usize,
        token: i64,
        at: f64,
        when: &str,
    ) -> Result<Option<Next>, String> {
        // Past the session timeout (the master's session expired).
        let past = at + SESSION_MS as f64 + 300.0;
        let next = match kind {
            CapiFault::Kill => {
                self.signal(m, libc::SIGKILL)?;
                let next = self.wait_next(token, at, when);
                let c = &mut self.contenders[m];
                let _ = c.child.wait();
                c.ended = true;
                next
            }
            CapiFault::Term => {
                self.signal(m, libc::SIGTERM)?;
                let next = self.wait_next(token, at, when);
                let c = &mut self.contenders[m];
                let left = wait_until(Duration::from_secs(10), || {
                    !matches!(c.child.try_wait(), Ok(None))
                });
                c.ended = true;
                match c.child.try_wait() {
                    Ok(Some(status)) if c.kind.clean(status) => {}
                    other => {
                        if !left {
                            let _ = c.child.kill();
                            let _ = c.child.wait();
                        }
                        let name = c.name.clone();
                        self.s.error(format!(
                            "{when}: {name} after SIGTERM: {other:?} (not a clean exit)"
                        ));
                    }
                }
                next
            }
            CapiFault::Stop => {
                self.signal(m, libc::SIGSTOP)?;
                let next = self.wait_next(token, at, when);
                while monotonic_ms() < past {
                    std::thread::sleep(Duration::from_millis(20));
                }
                self.signal(m, libc::SIGCONT)?;
                std::thread::sleep(Duration::from_millis(1500));
                next
            }
            CapiFault::Blackhole => {
                self.contenders[m].proxy.set_mode(ProxyMode::Blackhole);
                let next = self.wait_next(token, at, when);
                while monotonic_ms() < past {
                    std::thread::sleep(Duration::from_millis(20));
                }
                self.contenders[m].proxy.set_mode(ProxyMode::Pass);
                std::thread::sleep(Duration::from_millis(1500));
                next
            }
        };
        Ok(next)
    }

    /// Ends every contender of the round: SIGCONT, SIGTERM (a clean exit,
    /// [`Kind::clean`]), SIGKILL after 10 s (an error).
    fn end_round(&mut self, when: &str) {
        for c in self.contenders.iter() {
            c.proxy.set_mode(ProxyMode::Pass);
        }
        for c in self.contenders.iter().filter(|c| !c.ended) {
            let _ = signal_pid(c.child.id(), libc::SIGCONT);
            let _ = signal_pid(c.child.id(), libc::SIGTERM);
        }
        let mut errors = Vec::new();
        for c in self.contenders.iter_mut().filter(|c| !c.ended) {
            c.ended = true;
            match leave_or_kill(&mut c.child, &c.name) {
                Err(e) => errors.push(format!("{when}: {e}")),
                Ok(Some(status)) if !c.kind.clean(status) => errors.push(format!(
                    "{when}: {} ({:?}) exited with {status}",
                    c.name, c.kind
                )),
                Ok(_) => {}
            }
        }
        for e in errors {
            self.s.error(e);
        }
    }

    /// Judges the round's work log and counts.
    fn judge(&mut self, when: &str) {
        let v = self.verdict();
        for b in v.bad.iter().take(5) {
            self.s
                .error(format!("{when}: the work log: not understood: {b:?}"));
        }
        self.cs.rounds += 1;
        self.cs.lines += v.lines;
        self.cs.terms += v.terms.len();
        self.cs.overlaps += v.overlaps.len();
        self.cs.regressions += v.regressions;
        for (early, late) in &v.overlaps {
            let name = |t: i64| {
                v.terms
                    .iter()
                    .find(|x| x.token == t)
                    .map_or("?", |x| x.name.as_str())
            };
            self.s.error(format!(
                "{when}: OVERLAP: a line of {} (token {early}) after a line of {} \
                 (token {late}) in the work log",
                name(*early),
                name(*late)
            ));
        }
        let terms: Vec<String> = v
            .terms
            .iter()
            .map(|t| format!("{} {} ({} lines)", t.name, t.token, t.lines))
            .collect();
        self.s.note(&format!(
            "judged: {} lines, terms {}, {} overlaps",
            v.lines,
            terms.join(" -> "),
            v.overlaps.len()
        ));
    }
}
