//! What `zkha run` logs at the default level (no RUST_LOG, `--zk-log-level
//! warn`): one line per change of state, each naming the path and the
//! hosts, not the C client's lines every 100 ms while ZooKeeper is down.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use zkha_testing::{unique_path, TestingServer};

/// A `zkha run` whose stderr lines are collected as they come.
struct Run {
    child: Child,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Run {
    fn start(hosts: &str, path: &str, data: &str, extra: &[&str], cmd: &[&str]) -> Run {
        let bin =
            std::env::var_os("ZKHA_TEST_BIN").unwrap_or_else(|| env!("CARGO_BIN_EXE_zkha").into());
        let mut child = Command::new(bin)
            .env_remove("RUST_LOG")
            .args(["run", "--hosts", hosts, "--path", path, "--data", data])
            .args(extra)
            .arg("--")
            .args(cmd)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let (out, sink) = (child.stderr.take().unwrap(), lines.clone());
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        Run { child, lines }
    }

    fn lines(&self) -> Vec<String> {
        self.lines.lock().unwrap().clone()
    }

    /// Waits until the `n`-th line containing `needle` (1-based) has come;
    /// its index.
    fn wait_for(&self, needle: &str, n: usize, deadline: Instant) -> usize {
        loop {
            let lines = self.lines();
            let found: Vec<usize> = (0..lines.len())
                .filter(|&i| lines[i].contains(needle))
                .collect();
            if found.len() >= n {
                return found[n - 1];
            }
            assert!(
                Instant::now() < deadline,
                "no line #{n} with {needle:?} in time; got:\n{}",
                lines.join("\n")
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGTERM, then waits for the exit; all lines.
    fn finish(mut self) -> Vec<String> {
        // SAFETY: signals our own child.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        let deadline = Instant::now() + Duration::from_secs(20);
        while self.child.try_wait().unwrap().is_none() {
            assert!(
                Instant::now() < deadline,
                "zkha run did not leave on SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        // Let the reader take the last lines.
        std::thread::sleep(Duration::from_millis(200));
        self.lines()
    }
}

impl Drop for Run {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const SERVICE: &[&str] = &[
    "sh",
    "-c",
    "trap 'exit 0' TERM; while true; do sleep 0.05; done",
];

fn count(lines: &[String], needle: &str) -> usize {
    lines.iter().filter(|l| l.contains(needle)).count()
}

#[test]
fn a_six_second_outage_under_a_master_logs_a_few_lines_in_order() {
    let server = TestingServer::start().unwrap();
    let hosts = server.connect_string().to_owned();
    let path = format!("{}/m", unique_path("narration-outage"));
    let run = Run::start(
        &hosts,
        &path,
        "10.9.8.7",
        &["--session-timeout", "2000"],
        SERVICE,
    );
    let long = Instant::now() + Duration::from_secs(30);
    run.wait_for("became master", 1, long);
    let first_start = run.wait_for(": started ", 1, long);

    server.stop();
    std::thread::sleep(Duration::from_secs(6));
    server.restart().unwrap();
    let long = Instant::now() + Duration::from_secs(30);
    let second_start = run.wait_for(": started ", 2, long);
    let lines = run.finish();
    let outage = &lines[first_start + 1..=second_start];
    let text = outage.join("\n");
    eprintln!("the outage's lines:\n{text}");
    assert!(
        outage.len() <= 20,
        "{} lines for a 6 s outage:\n{text}",
        outage.len()
    );
    // Every zkha line names the path and the hosts.
    for l in outage.iter().filter(|l| l.contains(" zkha]")) {
        assert!(
            l.contains(&format!("{path} on {hosts}")),
            "no path and hosts in {l:?}"
        );
    }
    // What happened, in order. The command is stopped either by zkha
    // stepping down (disconnected) or, first, by its watchdog when the lease
    // ran out (lease_expired): both are told before the loss is.
    let order = [
        "ZooKeeper unreachable",
        "lost master (",
        "connected",
        "became master",
        ": started ",
    ];
    let mut at = 0;
    let mut found = Vec::new();
    for step in order {
        match outage[at..].iter().position(|l| l.contains(step)) {
            Some(i) => at += i + 1,
            None => panic!("no {step:?} after line {at} of:\n{text}"),
        }
        found.push(at - 1);
    }
    let stopped = outage
        .iter()
        .position(|l| l.contains("stopped"))
        .unwrap_or(usize::MAX);
    assert!(
        found[0] < stopped && stopped < found[3],
        "the command is not stopped in between:\n{text}"
    );
    // Involuntary loss: WARN.
    assert!(
        outage
            .iter()
            .any(|l| l.contains("WARN") && l.contains("lost master (")),
        "{text}"
    );
}

#[test]
fn unreachable_hosts_at_start_up_give_one_line_not_a_flood() {
    let path = format!("{}/m", unique_path("narration-unreachable"));
    let run = Run::start("127.0.0.1:1", &path, "10.9.8.7", &[], SERVICE);
    let start = Instant::now();
    run.wait_for(
        "ZooKeeper unreachable (connection refused)",
        1,
        start + Duration::from_secs(10),
    );
    // The C client retries about every 100 ms meanwhile: 5 s is ~100 lines
    // without collapsing.
    std::thread::sleep(Duration::from_secs(5));
    let lines = run.finish();
    let text = lines.join("\n");
    assert_eq!(count(&lines, "ZooKeeper unreachable"), 1, "{text}");
    assert_eq!(count(&lines, "still unreachable"), 0, "{text}");
    assert!(lines.len() <= 8, "{} lines:\n{text}", lines.len());
    assert!(
        lines[0].contains("connecting") && lines[0].contains(&format!("{path} on 127.0.0.1:1")),
        "{text}"
    );
}

#[test]
fn unreachable_hosts_get_a_reminder_every_30_s() {
    let path = format!("{}/m", unique_path("narration-reminder"));
    let run = Run::start("127.0.0.1:1", &path, "10.9.8.7", &[], SERVICE);
    let first = Instant::now();
    run.wait_for("ZooKeeper unreachable", 1, first + Duration::from_secs(10));
    run.wait_for(
        "ZooKeeper still unreachable after 30 s (connection refused)",
        1,
        first + Duration::from_secs(45),
    );
    let lines = run.finish();
    let text = lines.join("\n");
    assert_eq!(count(&lines, "still unreachable"), 1, "{text}");
    // The C client's lines are summarised at most once per 10 s each.
    let c_lines = count(&lines, " zookeeper]");
    assert!(
        c_lines <= 12,
        "{c_lines} C client lines in about 30 s:\n{text}"
    );
    assert!(lines.iter().any(|l| l.contains("(repeated ")), "{text}");
}

#[test]
fn zk_log_level_debug_shows_every_line() {
    let path = format!("{}/m", unique_path("narration-debug"));
    let run = Run::start(
        "127.0.0.1:1",
        &path,
        "10.9.8.7",
        &["--zk-log-level", "debug"],
        SERVICE,
    );
    // The C client retries about every 100 ms; each retry logs the refusal.
    let deadline = Instant::now() + Duration::from_secs(20);
    run.wait_for("Connection refused", 5, deadline);
    let lines = run.finish();
    assert!(
        !lines.iter().any(|l| l.contains("(repeated ")),
        "{}",
        lines.join("\n")
    );
}

#[test]
fn a_standby_names_its_master_within_a_second() {
    let server = TestingServer::shared().unwrap();
    let hosts = server.connect_string();
    let path = format!("{}/m", unique_path("narration-standby"));
    let master = Run::start(hosts, &path, "10.1.1.1", &[], SERVICE);
    let at = master.wait_for(
        "became master (token ",
        1,
        Instant::now() + Duration::from_secs(30),
    );
    let line = &master.lines()[at];
    let token = line
        .split("token ")
        .nth(1)
        .unwrap()
        .trim_end_matches(')')
        .to_owned();
    let started = Instant::now();
    let standby = Run::start(hosts, &path, "10.2.2.2", &[], SERVICE);
    let i = standby.wait_for("standby; master is", 1, started + Duration::from_secs(1));
    let said = &standby.lines()[i];
    assert!(
        said.contains("\"10.1.1.1\"") && said.contains(&format!("token {token}")),
        "{said}"
    );
    assert!(said.contains(&format!("{path} on {hosts}")), "{said}");
    drop(standby.finish());
    drop(master.finish());
}

#[test]
fn a_command_exiting_0_under_on_exit_exit_logs_no_warning() {
    let server = TestingServer::shared().unwrap();
    let path = format!("{}/m", unique_path("narration-exit0"));
    let mut run = Run::start(
        server.connect_string(),
        &path,
        "10.9.8.7",
        &[],
        &["sh", "-c", "sleep 0.2"],
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    let status = loop {
        if let Some(s) = run.child.try_wait().unwrap() {
            break s;
        }
        assert!(
            Instant::now() < deadline,
            "zkha run did not end with its command"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(status.code(), Some(0));
    run.wait_for(
        "exited (exit status: 0)",
        1,
        Instant::now() + Duration::from_secs(5),
    );
    let lines = run.lines();
    let text = lines.join("\n");
    assert!(
        lines
            .iter()
            .any(|l| l.contains("INFO") && l.contains("exited (exit status: 0)")),
        "{text}"
    );
    assert!(
        !lines
            .iter()
            .any(|l| l.contains("WARN") || l.contains("ERROR")),
        "{text}"
    );
}

/// Ends session `id` from a second handle on it (Curator's KillSession).
/// Taking the session over drops its owner's connection, and the owner may
/// take it back before the twin's close is sent (then C sends no close, and
/// the session lives on): so until a handle on `id` finds it expired.
fn end_session(hosts: &str, id: zkha::ClientId, deadline: Instant) {
    loop {
        match zkha::ZooKeeper::builder(hosts)
            .client_id(id)
            .connect(Duration::from_secs(10))
        {
            Err(zkha::Error::Zk(zkha::ErrorCode::SessionExpired)) => return,
            // (Whether it ended the session is what the next round finds.)
            Ok(twin) => {
                let _ = twin.close();
            }
            Err(e) => panic!("a second handle on session {:#x}: {e}", id.id),
        }
        assert!(
            Instant::now() < deadline,
            "session {:#x} still alive",
            id.id
        );
    }
}

#[test]
fn an_expired_session_is_said_once_then_a_new_session_is_master() {
    let server = TestingServer::shared().unwrap();
    let hosts = server.connect_string();
    let path = format!("{}/m", unique_path("narration-expired"));
    let file = std::env::temp_dir().join(format!("zkha-narration-{}.session", std::process::id()));
    let _ = std::fs::remove_file(&file);
    let file_arg = file.to_str().unwrap();
    let extra = ["--session-timeout", "4000", "--session-file", file_arg];
    let run = Run::start(hosts, &path, "10.9.8.7", &extra, SERVICE);
    let long = Instant::now() + Duration::from_secs(30);
    run.wait_for(": started ", 1, long);
    // Another handle on the same session closes it: the server expires it.
    zkha::logging::set_debug_level(zkha::logging::LogLevel::Warn);
    let id: zkha::ClientId = std::fs::read_to_string(&file)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    end_session(hosts, id, long);
    let expired = run.wait_for(&format!("session {:#x} expired", id.id), 1, long);
    let again = run.wait_for("became master", 2, long);
    run.wait_for(": started ", 2, long);
    let lines = run.finish();
    let _ = std::fs::remove_file(&file);
    let text = lines.join("\n");
    eprintln!("the expiry's lines:\n{text}");
    assert!(lines[expired].contains("WARN"), "{text}");
    assert_eq!(
        count(&lines, " expired: opening a new session"),
        1,
        "{text}"
    );
    let lost = lines
        .iter()
        .position(|l| l.contains("lost master ("))
        .unwrap();
    assert!(lines[lost].contains("WARN"), "{text}");
    let new_session = (expired..again).find(|&i| {
        lines[i].contains("connected (session") && !lines[i].contains(&format!("{:#x}", id.id))
    });
    assert!(
        new_session.is_some(),
        "no new session between expiry and mastership:\n{text}"
    );
}
