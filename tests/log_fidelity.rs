//! S9: with the same debug level and log stream, a C program and the Rust
//! wrapper write the same C-library log lines for the same scenario; and the
//! log bridge takes a handle's lines, all of them, into the `log` crate.
//! (One test in its own binary: level and stream are process-wide.)

mod common;

use std::path::Path;
use std::sync::Mutex;
use std::time::Duration;
use zkha::__private::parse_c_log_line;
use zkha::logging::{set_debug_level, set_log_stream, LogLevel, LogStream};
use zkha::{Acl, CreateMode, ZooKeeper};
use zkha_testing::{CTrace, TestingServer};

const WAIT: Duration = Duration::from_secs(30);

/// A C log line without what differs between runs: timestamp, pid, thread
/// id (the prefix) and pointers / session ids (hex numbers).
fn normalize(line: &str) -> Option<String> {
    let (level, rest) = parse_c_log_line(line)?;
    let mut out = format!("{level:?} ");
    let mut chars = rest.chars().peekable();
    while let Some(ch) = chars.next() {
        if ch == '0' && chars.peek() == Some(&'x') {
            chars.next();
            while chars.peek().is_some_and(|c| c.is_ascii_hexdigit()) {
                chars.next();
            }
            out.push_str("0x*");
        } else {
            out.push(ch);
        }
    }
    Some(out)
}

fn lines(file: &Path) -> Vec<String> {
    std::fs::read_to_string(file)
        .unwrap()
        .lines()
        .filter_map(normalize)
        .collect()
}

struct Capture(Mutex<Vec<(String, log::Level, String)>>);

impl log::Log for Capture {
    fn enabled(&self, _: &log::Metadata) -> bool {
        true
    }
    fn log(&self, r: &log::Record) {
        self.0
            .lock()
            .unwrap()
            .push((r.target().to_owned(), r.level(), r.args().to_string()));
    }
    fn flush(&self) {}
}

#[test]
fn c_and_rust_write_the_same_log_lines_and_the_bridge_takes_them() {
    let server = TestingServer::shared().unwrap();
    let hosts = server.connect_string();
    let dir = std::env::temp_dir().join(format!("zkha-logfid-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (c_file, r_file, bridge_file) = (
        dir.join("c.log"),
        dir.join("rust.log"),
        dir.join("bridge.log"),
    );
    let path = zkha_testing::unique_path("logfid");

    // C: level INFO (3), stream to c.log.
    {
        let mut c = CTrace::spawn(&[hosts, "5000", "3", c_file.to_str().unwrap()]);
        assert_eq!(c.cmd("init"), "init ok");
        assert_eq!(c.cmd("wait_connected"), "connected");
        assert_eq!(c.cmd(&format!("create_eph {path} 10.0.0.1")), "rc 0");
        assert_eq!(c.cmd("close"), "rc 0");
    }
    // Rust: the same level, stream and calls.
    set_debug_level(LogLevel::Info);
    set_log_stream(LogStream::File(&r_file)).unwrap();
    let zk = ZooKeeper::init(hosts, |_| {}, 5000, None, 0).unwrap();
    zk.wait_connected(WAIT).unwrap();
    zk.create(
        &path,
        b"10.0.0.1\0",
        &Acl::open_unsafe(),
        CreateMode::Ephemeral,
    )
    .unwrap();
    zk.close().unwrap();

    let (c_lines, r_lines) = (lines(&c_file), lines(&r_file));
    assert_eq!(c_lines, r_lines, "C and Rust log lines differ");
    for needle in [
        "Initiating client connection",
        "session establishment complete",
        "Closing zookeeper sessionId",
    ] {
        assert!(
            c_lines.iter().any(|l| l.contains(needle)),
            "no {needle:?} in {c_lines:#?}"
        );
    }

    // The bridge: a handle made with log_to_rust sends every line of its own
    // to `log` (target "zookeeper"), none to the stream.
    static CAPTURE: Capture = Capture(Mutex::new(Vec::new()));
    log::set_logger(&CAPTURE).unwrap();
    log::set_max_level(log::LevelFilter::Trace);
    set_log_stream(LogStream::File(&bridge_file)).unwrap();
    let zk = ZooKeeper::builder(hosts)
        .log_to_rust(true)
        .connect(WAIT)
        .unwrap();
    zk.close().unwrap();
    assert!(
        zkha::logging::flush_bridge(WAIT),
        "the bridged lines never reached the logger"
    );
    set_log_stream(LogStream::Stderr).unwrap();
    set_debug_level(LogLevel::Warn);
    let captured = CAPTURE.0.lock().unwrap().clone();
    let zk_lines: Vec<_> = captured
        .iter()
        .filter(|(t, _, _)| t == "zookeeper")
        .collect();
    assert!(
        zk_lines
            .iter()
            .any(|(_, l, m)| *l == log::Level::Info && m.contains("Initiating client connection")),
        "{captured:#?}"
    );
    assert!(
        zk_lines
            .iter()
            .any(|(_, _, m)| m.contains("Client environment:zookeeper.version")),
        "the environment lines escaped the bridge"
    );
    let leaked = std::fs::read_to_string(&bridge_file).unwrap();
    assert!(
        leaked.is_empty(),
        "lines reached the stream despite the bridge:\n{leaked}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
