//! `zkha demo`: failover, live. Three candidates in separate processes (two
//! Rust, one C++ reference peer) contend for one master node; the master
//! resigns, then one is killed with SIGKILL, then one exits gracefully; with
//! `--seed` the same with the seed profile's slower takeovers. A timeline is
//! printed as it happens and a latency table at the end. No process is left
//! behind.

use clap::Args;
use std::io::{BufRead, BufReader, Seek, SeekFrom};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use zkha::__private::monotonic_ms;
use zkha::{Acl, CreateMode, ZooKeeper};
use zkha_testing::TestingServer;

/// `zkha demo` arguments.
#[derive(Debug, Args)]
pub struct DemoArgs {
    #[command(flatten)]
    pub log: super::common::LogArgs,
    /// Use this ZooKeeper ensemble instead of an embedded server.
    #[arg(long)]
    pub hosts: Option<String>,
    /// With --hosts: TLS / SASL for every candidate (the C++ peer too) and
    /// the demo's own session.
    #[command(flatten)]
    pub secure: super::secure::SecureArgs,
    /// Also show the seed profile (the C++ design): slower takeovers.
    #[arg(long)]
    pub seed: bool,
    /// Session timeout of the candidates, in ms (a crash takes this long).
    #[arg(long, default_value_t = 3000)]
    pub session_timeout: u64,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    RustSafe,
    RustSeed,
    Cpp,
}

struct DemoCandidate {
    name: String,
    ip: String,
    kind: Kind,
    child: Option<Child>,
    trace: PathBuf,
    read: u64,
}

struct Demo {
    hosts: String,
    /// The TLS / SASL flags every candidate gets.
    secure: Vec<std::ffi::OsString>,
    path: String,
    dir: PathBuf,
    session_ms: u64,
    t0: f64,
    candidates: Vec<DemoCandidate>,
    results: Vec<(String, String, String, String, f64, String)>,
}

fn ts(t0: f64, t: f64) -> String {
    format!("[{:>6.2}s]", (t - t0) / 1000.0)
}

impl Demo {
    fn say(&self, msg: &str) {
        println!("{} {msg}", ts(self.t0, monotonic_ms()));
    }

    fn spawn(
        &mut self,
        name: &str,
        ip: &str,
        kind: Kind,
    ) -> Result<(), Box<dyn std::error::Error>> {
        let trace = self.dir.join(format!("{name}.trace"));
        let log = std::fs::File::create(self.dir.join(format!("{name}.log")))?;
        let timeout = self.session_ms.to_string();
        let mut cmd = match kind {
            Kind::Cpp => {
                let peer = zkha_testing::programs::seed_peer();
                if !peer.exists() {
                    return Err(format!(
                        "the C++ peer {} is missing: build with `cargo build`",
                        peer.display()
                    )
                    .into());
                }
                let mut c = Command::new(peer);
                c.args([&self.hosts, &self.path, ip, &timeout, "1000", "--trace"])
                    .arg(&trace)
                    .args(["--name", name])
                    .args(&self.secure);
                c
            }
            Kind::RustSafe | Kind::RustSeed => {
                let mut c = Command::new(std::env::current_exe()?);
                c.env("RUST_LOG", "warn")
                    .args([
                        "candidate",
                        "--hosts",
                        &self.hosts,
                        "--path",
                        &self.path,
                        "--data",
                        ip,
                    ])
                    .args([
                        "--profile",
                        if kind == Kind::RustSafe {
                            "safe"
                        } else {
                            "seed"
                        },
                    ])
                    .args(["--session-timeout", &timeout, "--trace"])
                    .arg(&trace)
                    .args(["--name", name])
                    .args(&self.secure);
                c
            }
        };
        cmd.stdin(Stdio::null()).stdout(Stdio::null()).stderr(log);
        let child = zkha_testing::spawn_tied_to_process(cmd)?;
        let what = match kind {
            Kind::RustSafe => "Rust, safe profile",
            Kind::RustSeed => "Rust, seed profile",
            Kind::Cpp => "C++ reference peer (seed design)",
        };
        self.say(&format!("start {name:<7} {ip:<11} {what}"));
        self.candidates.push(DemoCandidate {
            name: name.into(),
            ip: ip.into(),
            kind,
            child: Some(child),
            trace,
            read: 0,
        });
        Ok(())
    }

    /// Prints new trace events of every candidate; returns them as
    /// (time, name, event, reason).
    fn poll(&mut self) -> Vec<(f64, String, String)> {
        let mut out = Vec::new();
        for c in &mut self.candidates {
            let Ok(mut f) = std::fs::File::open(&c.trace) else {
                continue;
            };
            if f.seek(SeekFrom::Start(c.read)).is_err() {
                continue;
            }
            let mut reader = BufReader::new(f);
            let mut line = String::new();
            while reader.read_line(&mut line).unwrap_or(0) > 0 {
                if !line.ends_with('\n') {
                    break;
                }
                c.read += line.len() as u64;
                let field = |k: &str| {
                    let key = format!("\"{k}\":");
                    line.find(&key).map(|i| {
                        let rest = &line[i + key.len()..];
                        let end = rest.find([',', '}']).unwrap_or(rest.len());
                        rest[..end].trim_matches('"').to_owned()
                    })
                };
                let (Some(t), Some(ev)) = (
                    field("t").and_then(|t| t.parse::<f64>().ok()),
                    field("event"),
                ) else {
                    line.clear();
                    continue;
                };
                let shown = match ev.as_str() {
                    "became_master" => Some(format!("{:<7} became MASTER ({})", c.name, c.ip)),
                    "lost_master" => Some(format!(
                        "{:<7} stepped down: {}",
                        c.name,
                        field("reason").unwrap_or_default()
                    )),
                    "expired" => Some(format!("{:<7} session expired", c.name)),
                    _ => None,
                };
                if let Some(s) = shown {
                    println!("{} {s}", ts(self.t0, t));
                }
                out.push((t, c.name.clone(), ev));
                line.clear();
            }
        }
        out.sort_by(|a, b| a.0.total_cmp(&b.0));
        out
    }

    /// Waits for the next `became_master` (printing the timeline meanwhile).
    fn next_master(
        &mut self,
        timeout: Duration,
    ) -> Result<(f64, String), Box<dyn std::error::Error>> {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Some((t, name, _)) = self
                .poll()
                .into_iter()
                .find(|(_, _, e)| e == "became_master")
            {
                return Ok((t, name));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Err("no candidate became master in time".into())
    }

    fn pause(&mut self, d: Duration) {
        let end = Instant::now() + d;
        while Instant::now() < end {
            self.poll();
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn index(&self, name: &str) -> usize {
        self.candidates
            .iter()
            .position(|c| c.name == name)
            .expect("known candidate")
    }

    fn signal(&mut self, name: &str, sig: i32) {
        let i = self.index(name);
        if let Some(child) = &self.candidates[i].child {
            // SAFETY: signals our own child process.
            unsafe { libc::kill(child.id() as i32, sig) };
        }
        if sig == libc::SIGKILL {
            if let Some(mut child) = self.candidates[i].child.take() {
                let _ = child.wait();
            }
        }
    }

    /// One failover: `act` on the master, time until the next one.
    fn failover(
        &mut self,
        profile: &str,
        master: &str,
        act: &str,
        floor: &str,
    ) -> Result<String, Box<dyn std::error::Error>> {
        self.poll();
        let sig = match act {
            "resign" => libc::SIGUSR1,
            "crash (SIGKILL)" => libc::SIGKILL,
            _ => libc::SIGTERM,
        };
        self.say(&format!("--> {act}: {master}"));
        let start = monotonic_ms();
        self.signal(master, sig);
        let wait = Duration::from_millis(self.session_ms * 3 + 10_000);
        let (t, winner) = self.next_master(wait)?;
        let ms = t - start;
        self.say(&format!("    failover {master} -> {winner}: {ms:.0} ms"));
        if sig == libc::SIGTERM {
            let i = self.index(master);
            if let Some(mut c) = self.candidates[i].child.take() {
                let _ = c.wait();
            }
        }
        self.results.push((
            profile.into(),
            act.into(),
            master.into(),
            winner.clone(),
            ms,
            floor.into(),
        ));
        Ok(winner)
    }

    fn stop_all(&mut self) {
        for c in &mut self.candidates {
            if let Some(child) = &c.child {
                // SAFETY: signals our own child process.
                unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
            }
        }
        for c in &mut self.candidates {
            if let Some(mut child) = c.child.take() {
                let deadline = Instant::now() + Duration::from_secs(5);
                while Instant::now() < deadline && matches!(child.try_wait(), Ok(None)) {
                    std::thread::sleep(Duration::from_millis(20));
                }
                let _ = child.kill();
                let _ = child.wait();
            }
        }
        self.poll();
        self.candidates.clear();
    }
}

impl Drop for Demo {
    fn drop(&mut self) {
        self.stop_all();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn kind_name(k: Kind) -> &'static str {
    match k {
        Kind::RustSafe => "safe",
        Kind::RustSeed => "seed",
        Kind::Cpp => "c++",
    }
}

pub fn run(args: DemoArgs) -> Result<(), Box<dyn std::error::Error>> {
    zkha::validate::check_timeout_ms(args.session_timeout as i64, "--session-timeout")?;
    let bridge = args.log.apply()?;
    let t0 = monotonic_ms();
    let server;
    if args.secure.any() && args.hosts.is_none() {
        return Err(zkha::Error::InvalidArgument {
            argument: zkha::error::Argument::Auth,
            reason: "the TLS / SASL flags go with --hosts (the embedded server is plaintext)"
                .into(),
        }
        .into());
    }
    let security = args.secure.security()?;
    let hosts = match &args.hosts {
        Some(h) => {
            zkha::validate::check_hosts(h)?;
            h.clone()
        }
        None => {
            println!(
                "{} starting an embedded ZooKeeper server (Debian's zookeeper 3.8)",
                ts(t0, monotonic_ms())
            );
            server = TestingServer::start()?;
            server.connect_string().to_owned()
        }
    };
    let base = format!("/zkha-demo-{}", std::process::id());
    let zk = ZooKeeper::builder(&hosts)
        .security(security)
        .log_to_rust(bridge)
        .connect(Duration::from_secs(30))?;
    zk.create(&base, b"", &Acl::open_unsafe(), CreateMode::Persistent)?;
    let dir = std::env::temp_dir().join(format!("zkha-demo-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let mut demo = Demo {
        hosts: hosts.clone(),
        secure: args.secure.to_args(),
        path: format!("{base}/master"),
        dir,
        session_ms: args.session_timeout,
        t0,
        candidates: Vec::new(),
        results: Vec::new(),
    };
    println!(
        "{} ZooKeeper at {hosts}; master node {}; session timeout {} ms",
        ts(t0, monotonic_ms()),
        demo.path,
        args.session_timeout
    );
    let outcome = scenario(&mut demo, &zk, args.seed);
    demo.stop_all();
    let _ = zk.delete(&demo.path, -1);
    let _ = zk.delete(&base, -1);
    outcome?;

    println!();
    println!("Failover latency (one clock: CLOCK_MONOTONIC; from resign/exit/kill to the new master's `became master`):");
    println!(
        "  {:<7} {:<16} {:<8} {:<8} {:>10}   expected",
        "profile", "event", "from", "to", "latency"
    );
    for (profile, act, from, to, ms, floor) in &demo.results {
        println!("  {profile:<7} {act:<16} {from:<8} {to:<8} {ms:>8.0} ms   {floor}");
    }
    println!(
        "done in {:.1} s; every candidate stopped.",
        (monotonic_ms() - t0) / 1000.0
    );
    Ok(())
}

fn scenario(demo: &mut Demo, zk: &ZooKeeper, seed: bool) -> Result<(), Box<dyn std::error::Error>> {
    let t = demo.session_ms;
    println!("\n== safe profile: watch, step-down, fencing token ==");
    demo.spawn("rust-a", "127.0.0.11", Kind::RustSafe)?;
    let (_, first) = demo.next_master(Duration::from_secs(30))?;
    demo.spawn("rust-b", "127.0.0.12", Kind::RustSafe)?;
    demo.spawn("cpp-c", "127.0.0.13", Kind::Cpp)?;
    demo.pause(Duration::from_millis(1500));
    show_master(demo, zk);
    let m = demo.failover("safe", &first, "resign", "round trip + watch")?;
    demo.pause(Duration::from_millis(1500));
    let m = demo.failover(
        "safe",
        &m,
        "crash (SIGKILL)",
        &format!("session timeout {t} ms"),
    )?;
    demo.pause(Duration::from_millis(1500));
    show_master(demo, zk);
    let kind = demo.candidates[demo.index(&m)].kind;
    let floor = if kind == Kind::Cpp {
        "exit + close"
    } else {
        "round trip + watch"
    };
    demo.failover(kind_name(kind), &m, "graceful exit", floor)?;
    demo.pause(Duration::from_millis(1000));
    demo.stop_all();
    if seed {
        println!("\n== seed profile (the C++ design): poll every 1 s, 2 s settle ==");
        demo.spawn("seed-d", "127.0.0.21", Kind::RustSeed)?;
        let (_, first) = demo.next_master(Duration::from_secs(30))?;
        demo.spawn("cpp-e", "127.0.0.22", Kind::Cpp)?;
        demo.spawn("seed-f", "127.0.0.23", Kind::RustSeed)?;
        demo.pause(Duration::from_millis(1500));
        let m = demo.failover(
            "seed",
            &first,
            "graceful exit",
            "up to 1 s poll (+2 s settle)",
        )?;
        demo.pause(Duration::from_millis(2500));
        demo.failover(
            "seed",
            &m,
            "crash (SIGKILL)",
            &format!("{t} ms + up to 1 s poll (+2 s settle)"),
        )?;
        demo.pause(Duration::from_millis(1000));
        demo.stop_all();
    }
    Ok(())
}

fn show_master(demo: &Demo, zk: &ZooKeeper) {
    if let Ok(Some(m)) = zkha::elector::read_master(zk, &demo.path, false) {
        demo.say(&format!(
            "    node {}: {:?} (IP + NUL), session {:#x}, token {:#x}",
            demo.path,
            String::from_utf8_lossy(&m.data),
            m.session,
            m.token
        ));
    }
}
