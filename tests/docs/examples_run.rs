//! The examples run, against a real server, and do what they say.

use crate::common;

use common::example;
use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};
use zkha_testing::{unique_path, TestingServer};

#[test]
fn seed_design_on_the_c_api_example_becomes_master_with_ip_and_nul() {
    let server = TestingServer::shared().unwrap();
    let path = format!("{}/test", unique_path("seedex"));
    let out = Command::new(example("seed_design_on_the_c_api"))
        .args(["--hosts", server.connect_string(), "--path", &path])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        text.contains(&format!("on_zookeeper_connected({path})")),
        "{text}"
    );
    assert!(
        text.contains(&format!("INFO  become master[{path}]")),
        "{text}"
    );
    assert!(
        text.contains(&format!(
            "DEBUG become master[{path}] failed: (-110)node exists"
        )),
        "{text}"
    );
    assert!(text.contains("master: true, second try: false"), "{text}");
    assert!(
        text.contains("\\0\", owner is us: true"),
        "data must end with NUL: {text}"
    );
}

/// The minimal example, against the shared server: every step it shows,
/// in order, and the watch fired by its own change.
#[test]
fn minimal_example_creates_gets_watches_and_closes() {
    let server = TestingServer::shared().unwrap();
    let out = Command::new(example("minimal"))
        .args(["--hosts", server.connect_string()])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let path = format!("/zkha-minimal-{}", out_pid(&text));
    let want = [
        format!("connected to {}", server.connect_string()),
        format!("created {path}"),
        "got \"hello\" (version 0)".to_owned(),
        format!("watch fired: Changed on {path}"),
        "closed".to_owned(),
    ];
    assert_eq!(text.lines().collect::<Vec<_>>(), want, "{text}");
    // The ephemeral node went with the session.
    let zk = zkha::ZooKeeper::builder(server.connect_string())
        .connect(Duration::from_secs(30))
        .unwrap();
    assert_eq!(
        zk.exists(&path, false).unwrap(),
        None,
        "{path} outlived its session"
    );
}

/// The pid in the minimal example's node name (`created /zkha-minimal-<pid>`).
fn out_pid(text: &str) -> u32 {
    text.lines()
        .find_map(|l| l.strip_prefix("created /zkha-minimal-"))
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no created line: {text}"))
}

#[test]
fn leak_soak_example_leaves_no_callback_context() {
    let server = TestingServer::shared().unwrap();
    let out = Command::new(example("leak_soak"))
        .args([
            "--hosts",
            server.connect_string(),
            "--ops",
            "1000",
            "--cycles",
            "5",
        ])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text}");
    assert!(
        // 100 from the operations, 2 from each of the 10 default cycles that
        // drop the last reference inside a watcher.
        text.contains("soak: 1000 operations, 5 cycles, 120 watcher calls"),
        "{text}"
    );
}

/// Waits for an example to exit (killed past a minute); panics unless it
/// succeeded.
fn wait_success(child: &mut std::process::Child, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what} did not finish in time");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{what}: {status}");
}

/// The master token of one `tokio_master` run, after checking its whole
/// term: standby, master, `works` fenced writes with that token, lost by
/// resigning.
fn async_term(out: &str, name: &str, works: u32) -> i64 {
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.first(), Some(&&*format!("{name}: standby")), "{out}");
    let token: i64 = lines
        .get(1)
        .and_then(|l| l.strip_prefix(&*format!("{name}: master token=")))
        .unwrap_or_else(|| panic!("no master line: {out}"))
        .parse()
        .unwrap();
    let want: Vec<String> = (1..=works)
        .map(|n| format!("{name}: work token={token} n={n}"))
        .chain([format!("{name}: lost Resigned")])
        .collect();
    assert_eq!(lines[2..], want, "{out}");
    token
}

/// The tokio example: two async candidates on one path fail over. A wins,
/// writes 8 fenced records and resigns; B, started once A is master, takes
/// over with a greater token, writes 3 and resigns; the record holds B's
/// last write.
#[test]
fn tokio_master_example_fails_over_under_tokio() {
    zkha::logging::set_debug_level(zkha::logging::LogLevel::Warn);
    let server = TestingServer::shared().unwrap();
    let path = format!("{}/test", unique_path("asyncex"));
    let start = |name: &str, works: &str| {
        Command::new(example("tokio_master"))
            .args(["--hosts", server.connect_string(), "--path", &path])
            .args(["--name", name, "--resign-after", works, "--work-ms", "100"])
            .stdout(Stdio::piped())
            .spawn()
            .unwrap()
    };
    // Each stdout read to its end on a thread of its own.
    let read_all = |child: &mut std::process::Child| {
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            while out.read_line(&mut line).unwrap_or(0) > 0 {
                if tx.send(std::mem::take(&mut line)).is_err() {
                    break;
                }
            }
        });
        rx
    };
    let mut a = start("A", "8");
    let a_lines = read_all(&mut a);
    // B joins once A is master.
    let mut a_out = String::new();
    while !a_out.contains("A: master token=") {
        let line = a_lines
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|e| panic!("A never became master ({e}): {a_out}"));
        a_out.push_str(&line);
    }
    let mut b = start("B", "3");
    let b_lines = read_all(&mut b);
    wait_success(&mut b, "tokio_master B");
    wait_success(&mut a, "tokio_master A");
    a_out.extend(a_lines.iter());
    let b_out: String = b_lines.iter().collect();
    let ta = async_term(&a_out, "A", 8);
    let tb = async_term(&b_out, "B", 3);
    assert!(
        tb > ta,
        "tokens must grow across the failover: {ta} then {tb}"
    );

    let zk = zkha::ZooKeeper::builder(server.connect_string())
        .connect(Duration::from_secs(30))
        .unwrap();
    let (record, _) = zk.get(&format!("{path}-work"), false).unwrap();
    assert_eq!(record, format!("B {tb}").into_bytes());
}
