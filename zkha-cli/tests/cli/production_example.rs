//! The README's production example, run as written: the block under the
//! `<!-- production-example: … -->` comment of README.md is read at run
//! time, a fixed list of substitutions makes it a test host's (the test
//! server for the ZooKeeper hosts, a unique path, a per-host drain file and
//! ports, a real small HTTP service for `/usr/local/bin/my-service`), and
//! `sh -c "exec …"` runs it. A substitution whose target is no longer in
//! the block fails the test, so the README cannot drift from what is
//! tested.
//!
//! The service (`zkha-cli/tests/fixtures/my-service.py`) answers GET
//! /healthz (500 while its host's `sick` file exists) and logs its starts
//! (with ZKHA_TOKEN), its stops and each /healthz request to one file
//! shared by the hosts: the scenarios are judged by what the services did,
//! from outside.

use crate::cli_kit::{dir, hosts, zkha};
use crate::common::eventually;
use crate::operator::{free_port, metric, scrape};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use zkha_testing::unique_path;

/// Long enough for the block's own timing: a 5 s start period, then three
/// failed checks a second apart, then a handover.
const LONG: Duration = Duration::from_secs(60);

const MARKER: &str = "<!-- production-example:";

/// The example as the README has it: the lines of the ```sh block that
/// follows the marker comment.
fn readme_block() -> String {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md"))
        .expect("README.md");
    let after = readme
        .split_once(MARKER)
        .unwrap_or_else(|| panic!("README.md has no {MARKER} comment"))
        .1;
    let body = after
        .split_once("```sh\n")
        .expect("a ```sh block after the marker")
        .1;
    body.split_once("```")
        .expect("the block's closing ```")
        .0
        .to_owned()
}

/// One host of a test: its name, files and ports.
struct Host {
    name: &'static str,
    drain: PathBuf,
    sick: PathBuf,
    port: u16,
    metrics: u16,
    stderr: PathBuf,
}

/// One scenario: its directory, its election path, the services' log.
struct Example {
    dir: PathBuf,
    path: String,
    log: PathBuf,
}

impl Example {
    fn new(name: &str) -> Example {
        let dir = dir(name);
        let log = dir.join("services.log");
        Example {
            path: format!("{}/master", unique_path(name)),
            dir,
            log,
        }
    }

    fn host(&self, name: &'static str) -> Host {
        Host {
            name,
            drain: self.dir.join(format!("{name}.drain")),
            sick: self.dir.join(format!("{name}.sick")),
            port: free_port(),
            metrics: free_port(),
            stderr: self.dir.join(format!("{name}.stderr")),
        }
    }

    /// The block with this host's values, by the fixed substitutions.
    fn script(&self, host: &Host) -> String {
        let bin = std::env::var("ZKHA_TEST_BIN")
            .unwrap_or_else(|_| env!("CARGO_BIN_EXE_zkha").to_owned());
        let service = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/my-service.py");
        substitute(
            &readme_block(),
            &[
                ("zkha run ", format!("exec '{bin}' run ")),
                ("zk1:2181,zk2:2181,zk3:2181", hosts().to_owned()),
                ("/services/my-service/master", self.path.clone()),
                (
                    "/etc/zkha/my-service.drain",
                    host.drain.display().to_string(),
                ),
                ("8080", host.port.to_string()),
                ("127.0.0.1:9464", format!("127.0.0.1:{}", host.metrics)),
                ("/usr/local/bin/my-service", format!("python3 '{service}'")),
            ],
        )
    }

    /// Runs the example for `host`.
    fn start(&self, host: &Host) -> Running {
        let child = Command::new("sh")
            .arg("-c")
            .arg(self.script(host))
            .env("RUST_LOG", "info")
            .env("MY_SERVICE_NAME", host.name)
            .env("MY_SERVICE_LOG", &self.log)
            .env("MY_SERVICE_SICK", &host.sick)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&host.stderr).unwrap())
            .spawn()
            .unwrap();
        Running(child)
    }

    /// The services' log lines, split in words.
    fn events(&self) -> Vec<Vec<String>> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .map(|l| l.split(' ').map(str::to_owned).collect())
            .collect()
    }

    /// How many times `what` (start, stop) was logged by `name`.
    fn count(&self, what: &str, name: &str) -> usize {
        self.events()
            .iter()
            .filter(|e| e.len() >= 2 && e[0] == what && e[1] == name)
            .count()
    }

    fn starts(&self) -> usize {
        self.events().iter().filter(|e| e[0] == "start").count()
    }

    /// The /healthz requests of zkha's check (curl's) that `name` answered
    /// with `code`.
    fn checks(&self, name: &str, code: &str) -> usize {
        self.events()
            .iter()
            .filter(|e| {
                e.len() >= 4
                    && e[0] == "healthz"
                    && e[1] == name
                    && e[2] == code
                    && e[3].starts_with("curl/")
            })
            .count()
    }

    /// Never two services at once: each start comes while none runs, each
    /// stop is the running one's.
    fn assert_never_both(&self) {
        let mut running: Option<String> = None;
        for e in self.events() {
            match e[0].as_str() {
                "start" => {
                    assert!(
                        running.is_none(),
                        "{} started while {running:?} ran: {}",
                        e[1],
                        self.text()
                    );
                    running = Some(e[1].clone());
                }
                "stop" => {
                    assert_eq!(running.as_deref(), Some(e[1].as_str()), "{}", self.text());
                    running = None;
                }
                _ => {}
            }
        }
    }

    /// The log and both hosts' stderr, for a failure's message.
    fn text(&self) -> String {
        let mut out = std::fs::read_to_string(&self.log).unwrap_or_default();
        for h in ["a", "b"] {
            let err = std::fs::read_to_string(self.dir.join(format!("{h}.stderr")));
            out.push_str(&format!("\n--- {h}'s zkha:\n{}", err.unwrap_or_default()));
        }
        out
    }

    /// The host whose service started first, and the other.
    fn master_and_standby<'h>(&self, a: &'h Host, b: &'h Host) -> (&'h Host, &'h Host) {
        assert!(
            eventually(LONG, || self.starts() == 1),
            "no service started: {}",
            self.text()
        );
        if self.count("start", "a") == 1 {
            (a, b)
        } else {
            (b, a)
        }
    }

    /// Whether anybody is master (`zkha status`: 0 yes, 4 nobody).
    fn anybody_master(&self) -> bool {
        let out = zkha()
            .args(["status", "--hosts", hosts(), "--path", &self.path])
            .output()
            .unwrap();
        match out.status.code() {
            Some(0) => true,
            Some(4) => false,
            other => panic!("zkha status: {other:?}"),
        }
    }
}

/// Replaces every target of `subs` in `block` at once (a replacement is
/// never searched again), each of which must be there.
fn substitute(block: &str, subs: &[(&str, String)]) -> String {
    for (from, _) in subs {
        assert!(
            block.contains(from),
            "the README's production example no longer contains {from:?}: \
             update it, or this test's substitutions (zkha-cli/tests/cli/production_example.rs)\n{block}"
        );
    }
    let mut out = String::new();
    let mut rest = block;
    while !rest.is_empty() {
        match subs.iter().find(|(from, _)| rest.starts_with(from)) {
            Some((from, to)) => {
                out.push_str(to);
                rest = &rest[from.len()..];
            }
            None => {
                let c = rest.chars().next().unwrap();
                out.push(c);
                rest = &rest[c.len_utf8()..];
            }
        }
    }
    out
}

/// A running example (`sh` exec'd into `zkha run`): SIGTERMed, then
/// killed, when dropped.
struct Running(Child);

impl Running {
    /// SIGTERM; its exit code within the deadline.
    fn term(&mut self) -> Option<i32> {
        // SAFETY: signals our own child process, not reaped yet.
        unsafe { libc::kill(self.0.id() as i32, libc::SIGTERM) };
        let end = Instant::now() + LONG;
        while Instant::now() < end {
            if let Some(s) = self.0.try_wait().unwrap() {
                return s.code();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }

    fn running(&mut self) -> bool {
        self.0.try_wait().unwrap().is_none()
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if self.running() {
            self.term();
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// GET /healthz on a host's service port: its status code, `None` if
/// nothing listens.
fn healthz(port: u16) -> Option<u16> {
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    s.write_all(
        b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nUser-Agent: zkha-test\r\nConnection: close\r\n\r\n",
    )
    .ok()?;
    let mut reply = String::new();
    s.read_to_string(&mut reply).ok()?;
    reply.split(' ').nth(1)?.parse().ok()
}

fn metric_of(host: &Host, name: &str) -> Option<f64> {
    metric(&scrape(host.metrics)?, name)
}

#[test]
fn production_example_block_has_every_substitution_target() {
    // Cheap and without a server: the README block and the substitutions
    // agree (the scenarios below fail the same way, later).
    let e = Example::new("prod-block");
    let script = e.script(&e.host("a"));
    assert!(script.starts_with("exec '"), "{script}");
    for gone in ["zk1:2181", "/etc/zkha", "8080", "9464", "/usr/local/bin"] {
        assert!(!script.contains(gone), "{gone} left in:\n{script}");
    }
    let drift =
        std::panic::catch_unwind(|| substitute("zkha run --hosts h", &[("--path", String::new())]));
    assert!(drift.is_err(), "a missing target must fail");
}

#[test]
fn production_example_elects_exactly_one_master_whose_service_answers() {
    let e = Example::new("prod-one");
    let (a, b) = (e.host("a"), e.host("b"));
    let _ra = e.start(&a);
    let _rb = e.start(&b);
    let (master, standby) = e.master_and_standby(&a, &b);
    assert!(
        eventually(LONG, || healthz(master.port) == Some(200)),
        "the master's service does not answer: {}",
        e.text()
    );
    assert_eq!(healthz(standby.port), None, "the standby's service runs");
    // Past the start period (5 s), zkha's own checks reach the service
    // and pass; nothing changes.
    assert!(
        eventually(LONG, || e.checks(master.name, "200") >= 2),
        "zkha's health check never reached the service: {}",
        e.text()
    );
    assert_eq!(e.starts(), 1, "{}", e.text());
    assert_eq!(e.count("stop", master.name), 0, "{}", e.text());
    assert_eq!(e.checks(standby.name, "200"), 0, "{}", e.text());
    // The metrics agree.
    assert_eq!(metric_of(master, "zkha_is_master"), Some(1.0));
    assert_eq!(metric_of(master, "zkha_health_ok"), Some(1.0));
    assert_eq!(metric_of(master, "zkha_ready"), Some(1.0));
    assert_eq!(metric_of(standby, "zkha_is_master"), Some(0.0));
    assert_eq!(metric_of(standby, "zkha_ready"), Some(1.0));
    e.assert_never_both();
}

#[test]
fn production_example_hands_over_when_the_masters_service_is_sick() {
    let e = Example::new("prod-sick");
    let (a, b) = (e.host("a"), e.host("b"));
    let mut ra = e.start(&a);
    let mut rb = e.start(&b);
    let (master, standby) = e.master_and_standby(&a, &b);
    std::fs::write(&master.sick, "").unwrap();
    assert!(
        eventually(LONG, || e.count("start", standby.name) == 1),
        "the standby's service never started: {}",
        e.text()
    );
    // One start each, the sick one stopped before the other started.
    e.assert_never_both();
    assert_eq!(e.count("start", master.name), 1, "{}", e.text());
    assert_eq!(e.count("stop", master.name), 1, "{}", e.text());
    // Stopped for its failed checks (--health-failures' default: 3).
    assert!(e.checks(master.name, "500") >= 3, "{}", e.text());
    assert!(
        eventually(LONG, || healthz(standby.port) == Some(200)),
        "{}",
        e.text()
    );
    assert_eq!(healthz(master.port), None, "the sick service still runs");
    // The old master is still a candidate, and says why it left.
    let old = if master.name == "a" { &mut ra } else { &mut rb };
    assert!(old.running(), "the old master's zkha ended: {}", e.text());
    let m = scrape(master.metrics).unwrap();
    assert!(
        m.lines()
            .any(|l| l.starts_with("zkha_lost_master_total{reason=\"unhealthy\"} 1")),
        "{m}"
    );
}

#[test]
fn production_example_never_elects_a_drained_standby() {
    let e = Example::new("prod-drain");
    let (a, b) = (e.host("a"), e.host("b"));
    let mut ra = e.start(&a);
    let mut rb = e.start(&b);
    let (master, standby) = e.master_and_standby(&a, &b);
    // The standby's host is drained: it leaves the election.
    std::fs::write(&standby.drain, "").unwrap();
    assert!(
        eventually(LONG, || metric_of(standby, "zkha_ready") == Some(0.0)),
        "the drained standby never said it is not ready: {}",
        e.text()
    );
    std::thread::sleep(Duration::from_millis(500));
    // The master leaves: nobody takes over.
    let leaving = if master.name == "a" { &mut ra } else { &mut rb };
    assert_eq!(leaving.term(), Some(128 + libc::SIGTERM), "{}", e.text());
    assert_eq!(e.count("stop", master.name), 1, "{}", e.text());
    std::thread::sleep(Duration::from_millis(3000));
    assert!(!e.anybody_master(), "{}", e.text());
    assert_eq!(e.count("start", standby.name), 0, "{}", e.text());
    // Undrained: it joins, and takes over.
    std::fs::remove_file(&standby.drain).unwrap();
    assert!(
        eventually(LONG, || e.count("start", standby.name) == 1),
        "the undrained standby never took over: {}",
        e.text()
    );
    assert!(
        eventually(LONG, || healthz(standby.port) == Some(200)),
        "{}",
        e.text()
    );
    e.assert_never_both();
}

/// The fixture is where the substitution says.
#[test]
fn production_example_service_fixture_exists() {
    let service = Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/my-service.py"
    ));
    assert!(service.is_file(), "{}", service.display());
}
