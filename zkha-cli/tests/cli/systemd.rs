//! `zkha run` under systemd's notify protocol, without systemd: a Unix
//! datagram socket of the test's own stands in for `NOTIFY_SOCKET`. READY=1
//! arrives once the candidate has joined the election, STATUS= follows the
//! role (master, standby naming its master, master again after a
//! failover), WATCHDOG=1 comes with WATCHDOG_USEC, the command does not
//! inherit the protocol's variables, and an unreachable socket is a warning.

use crate::cli_kit;
use crate::common;

use cli_kit::{dir, hosts, zkha};
use common::eventually;
use std::os::unix::net::UnixDatagram;
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};
use zkha_testing::unique_path;

const LONG: Duration = Duration::from_secs(30);

/// A `zkha run` that is stopped (SIGTERM, then SIGKILL) even when the test
/// fails half-way.
struct Run(Child);

impl Run {
    fn start(path: &str, data: &str, notify: &str, cmd: &str, stderr: &Path) -> Run {
        Run::start_with(path, data, notify, cmd, stderr, &[])
    }

    /// With `extra` flags for `run`.
    fn start_with(
        path: &str,
        data: &str,
        notify: &str,
        cmd: &str,
        stderr: &Path,
        extra: &[&str],
    ) -> Run {
        let child = zkha()
            .env("NOTIFY_SOCKET", notify)
            .env("WATCHDOG_USEC", "500000")
            .env_remove("WATCHDOG_PID")
            .args(["run", "--hosts", hosts(), "--path", path, "--data", data])
            .args(["--session-timeout", "2000"])
            .args(extra)
            .args(["--", "sh", "-c", cmd])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(stderr).unwrap())
            .spawn()
            .unwrap();
        Run(child)
    }

    /// SIGTERM; its exit code (128+15) within the deadline.
    fn term(&mut self) -> Option<i32> {
        // SAFETY: signals our own child process.
        unsafe { libc::kill(self.0.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + LONG;
        while Instant::now() < deadline {
            if let Some(s) = self.0.try_wait().unwrap() {
                return s.code();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        None
    }
}

impl Drop for Run {
    fn drop(&mut self) {
        if self.0.try_wait().ok().flatten().is_none() {
            self.term();
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}

/// A bound socket standing in for systemd's, and every line received so far.
struct Systemd {
    socket: UnixDatagram,
    name: String,
    seen: Vec<String>,
}

impl Systemd {
    fn bind(path: &Path) -> Systemd {
        let socket = UnixDatagram::bind(path).unwrap();
        Systemd {
            socket,
            name: path.to_str().unwrap().to_owned(),
            seen: Vec::new(),
        }
    }

    /// Receives until a line satisfies `want` (returning the first such
    /// line) or the deadline passes (panicking with what did arrive).
    fn wait_for(&mut self, what: &str, want: impl Fn(&str) -> bool) -> String {
        self.wait_until(what, |seen| seen.iter().find(|l| want(l)).cloned())
    }

    /// Receives until `done` finds what it wants in every line received so
    /// far, or the deadline passes (panicking with what did arrive).
    fn wait_until<T>(&mut self, what: &str, done: impl Fn(&[String]) -> Option<T>) -> T {
        let deadline = Instant::now() + LONG;
        let mut buf = [0u8; 4096];
        loop {
            if let Some(found) = done(&self.seen) {
                return found;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "no {what} within {LONG:?}; received: {:?}",
                self.seen
            );
            self.socket.set_read_timeout(Some(left)).unwrap();
            match self.socket.recv(&mut buf) {
                Ok(n) => {
                    let text = String::from_utf8(buf[..n].to_vec()).unwrap();
                    self.seen.extend(text.lines().map(str::to_owned));
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(e) => panic!("receiving {what}: {e}"),
            }
        }
    }

    /// How many times `line` arrived.
    fn count(&self, line: &str) -> usize {
        self.seen.iter().filter(|l| *l == line).count()
    }
}

#[test]
fn ready_status_and_watchdog_reach_the_notify_socket() {
    let d = dir("notify");
    let path = format!("{}/test", unique_path("systemd"));
    let mut sd_a = Systemd::bind(&d.join("a.sock"));
    let mut sd_b = Systemd::bind(&d.join("b.sock"));
    let env_seen = d.join("child-env");
    // The command records whether it inherited NOTIFY_SOCKET / WATCHDOG_USEC.
    let cmd = format!(
        "echo \"${{NOTIFY_SOCKET:-unset}} ${{WATCHDOG_USEC:-unset}}\" >> {}; exec sleep 60",
        env_seen.display()
    );

    let mut a = Run::start(&path, "10.0.0.1", &sd_a.name, &cmd, &d.join("a.err"));
    sd_a.wait_for("READY=1 from the master", |l| l == "READY=1");
    let status = sd_a.wait_for("the master's STATUS=", |l| l.starts_with("STATUS="));
    assert!(
        status.starts_with("STATUS=master since ") && status.contains(", token "),
        "the first STATUS of the only candidate: {status}"
    );
    // The token in STATUS is the one ZooKeeper gave the node (its czxid).
    let token: i64 = status.rsplit("token ").next().unwrap().parse().unwrap();
    let zk = zkha::ZooKeeper::builder(hosts()).connect(LONG).unwrap();
    let (_, stat) = zk.get(&path, false).unwrap();
    assert_eq!(token, stat.czxid, "STATUS names the node's token");
    // WATCHDOG_USEC=500000: a ping every 250 ms, again and again.
    sd_a.wait_until("three WATCHDOG=1", |seen| {
        (seen.iter().filter(|l| *l == "WATCHDOG=1").count() >= 3).then_some(())
    });

    let mut b = Run::start(&path, "10.0.0.2", &sd_b.name, &cmd, &d.join("b.err"));
    sd_b.wait_for("READY=1 from the standby", |l| l == "READY=1");
    let status_b = sd_b.wait_for("the standby's STATUS=", |l| l.starts_with("STATUS="));
    assert_eq!(
        status_b,
        format!("STATUS=standby; master is \"10.0.0.1\" (token {token})"),
        "the standby names its master"
    );

    // Failover: the standby's STATUS follows its new role.
    assert_eq!(a.term(), Some(128 + libc::SIGTERM));
    sd_a.wait_for("STOPPING=1 from the leaving master", |l| l == "STOPPING=1");
    let became = sd_b.wait_for("the new master's STATUS=", |l| {
        l.starts_with("STATUS=master since ")
    });
    assert!(!became.ends_with(&format!("token {token}")), "{became}");
    assert_eq!(
        sd_b.count("READY=1"),
        1,
        "READY=1 goes once: {:?}",
        sd_b.seen
    );
    assert_eq!(b.term(), Some(128 + libc::SIGTERM));

    // Both commands ran, neither with systemd's variables.
    let env_lines = std::fs::read_to_string(&env_seen).unwrap();
    assert_eq!(
        env_lines.lines().collect::<Vec<_>>(),
        ["unset unset", "unset unset"],
        "the commands' NOTIFY_SOCKET and WATCHDOG_USEC"
    );
    let _ = std::fs::remove_dir_all(&d);
}

#[test]
fn an_unreachable_notify_socket_is_a_warning_not_a_failure() {
    let d = dir("unreachable");
    let path = format!("{}/test", unique_path("systemd-gone"));
    let started = d.join("started");
    let gone = d.join("nobody-listens.sock");
    let err = d.join("err");
    let cmd = format!("echo $ZKHA_TOKEN > {}; exec sleep 60", started.display());
    let mut run = Run::start(&path, "10.0.0.3", gone.to_str().unwrap(), &cmd, &err);
    assert!(
        eventually(LONG, || std::fs::read_to_string(&started)
            .is_ok_and(|t| t.trim().parse::<i64>().is_ok())),
        "the command never started; zkha's stderr: {}",
        std::fs::read_to_string(&err).unwrap_or_default()
    );
    assert!(
        eventually(LONG, || std::fs::read_to_string(&err)
            .is_ok_and(|t| t.contains("WARN") && t.contains("NOTIFY_SOCKET"))),
        "no warning about the socket: {}",
        std::fs::read_to_string(&err).unwrap_or_default()
    );
    assert_eq!(run.term(), Some(128 + libc::SIGTERM));
    let _ = std::fs::remove_dir_all(&d);
}

/// A candidate that is never ready (`--ready-cmd 'exit 3'`) under
/// `profile`: READY=1 all the same (it is up), then the STATUS= lines
/// `<prefix>not ready (…)` saying why it does not compete: first waiting
/// for a passing check, then failing it.
fn never_ready_says_why(profile: &str, prefix: &str) {
    let d = dir(&format!("out-{profile}"));
    let path = format!("{}/m", unique_path(&format!("sd-out-{profile}")));
    let sock = d.join("notify.sock");
    let mut sd = Systemd::bind(&sock);
    let mut run = Run::start_with(
        &path,
        "10.0.0.1",
        &sd.name.clone(),
        "sleep 60",
        &d.join("stderr"),
        &[
            "--profile",
            profile,
            "--ready-cmd",
            "exit 3",
            "--ready-interval",
            "100",
            "--ready-failures",
            "2",
        ],
    );
    sd.wait_for("READY=1", |l| l == "READY=1");
    let waiting = format!("STATUS={prefix}not ready (waiting for a passing readiness check)");
    sd.wait_for("STATUS= saying it waits", |l| l == waiting);
    let failing = format!("STATUS={prefix}not ready (exit status 3)");
    sd.wait_for("STATUS= saying it is not ready", |l| l == failing);
    assert_eq!(run.term(), Some(128 + libc::SIGTERM));
}

#[test]
fn a_candidate_that_is_not_ready_is_ready_for_systemd_and_says_why() {
    // The safe profile registers it, not ready: it does not contend.
    never_ready_says_why("safe", "standby, not contending: ");
    // The seed profile does not register: it stays out of the election.
    never_ready_says_why("seed", "out of the election: ");
}

#[test]
fn a_master_that_is_not_ready_says_so_and_stays_master() {
    let d = dir("master-not-ready");
    let path = format!("{}/m", unique_path("sd-master-not-ready"));
    let marker = d.join("ready");
    std::fs::write(&marker, "").unwrap();
    let mut sd = Systemd::bind(&d.join("notify.sock"));
    let check = format!("test -e {}", marker.display());
    let mut run = Run::start_with(
        &path,
        "10.0.0.1",
        &sd.name.clone(),
        "exec sleep 60",
        &d.join("stderr"),
        &["--ready-cmd", &check, "--ready-interval", "100"],
    );
    let master = sd.wait_for("the master's STATUS=", |l| {
        l.starts_with("STATUS=master since ")
    });
    assert!(!master.contains("not ready"), "{master}");
    std::fs::remove_file(&marker).unwrap();
    let status = sd.wait_for("STATUS= saying the master is not ready", |l| {
        l.starts_with("STATUS=master since ") && l.contains("not ready")
    });
    assert!(
        status.starts_with(&format!("{master}; not ready (exit status 1")),
        "{status}"
    );
    // Ready again: the plain master's STATUS= once more.
    std::fs::write(&marker, "").unwrap();
    let n = sd.seen.len();
    sd.wait_until("the plain master's STATUS= again", |seen| {
        seen[n..].contains(&master).then_some(())
    });
    assert_eq!(run.term(), Some(128 + libc::SIGTERM));
}

/// The unit we ship gives zkha time to finish a planned stop: systemd's
/// `TimeoutStopSec` exceeds `--stop-timeout` (the unit's, or the default)
/// with room to leave the election, else `systemctl stop` would SIGKILL zkha
/// in the middle of its command's shutdown.
#[test]
fn the_shipped_unit_waits_longer_than_the_stop_timeout() {
    let unit =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/zkha.service"))
            .expect("docs/zkha.service");
    let setting = |key: &str| {
        unit.lines()
            .filter(|l| !l.trim_start().starts_with('#'))
            .find_map(|l| l.trim().strip_prefix(key).map(str::trim).map(str::to_owned))
    };
    let stop_sec = setting("TimeoutStopSec=").expect("TimeoutStopSec is set");
    let stop_ms: u64 = if let Some(s) = stop_sec.strip_suffix("ms") {
        s.parse().unwrap()
    } else if let Some(s) = stop_sec.strip_suffix("min") {
        s.parse::<u64>().unwrap() * 60_000
    } else {
        stop_sec.trim_end_matches('s').parse::<u64>().unwrap() * 1000
    };
    // The unit's own --stop-timeout, else zkha run's default.
    let body: String = unit
        .lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .collect::<Vec<_>>()
        .join("\n");
    let flag: u64 = body
        .split("--stop-timeout")
        .nth(1)
        .map(|rest| {
            rest.trim_start_matches(['=', ' '])
                .split(|c: char| !c.is_ascii_digit())
                .next()
                .unwrap()
                .parse()
                .unwrap()
        })
        .unwrap_or_else(default_stop_timeout);
    assert!(
        stop_ms >= flag + 5000,
        "TimeoutStopSec={stop_sec} leaves less than 5 s beyond --stop-timeout {flag} ms"
    );
}

/// `zkha run --help`'s default for --stop-timeout.
fn default_stop_timeout() -> u64 {
    let out = zkha().args(["run", "--help"]).output().unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    let at = help
        .find("--stop-timeout")
        .expect("--stop-timeout in the help");
    let rest = &help[at..];
    let d = rest.find("[default: ").expect("a default") + "[default: ".len();
    rest[d..]
        .split(']')
        .next()
        .unwrap()
        .parse()
        .expect("a number")
}
