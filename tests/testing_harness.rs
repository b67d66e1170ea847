//! The testing servers themselves: start, stop, restart, cleanup, errors.

mod common;

use common::{eventually, RawSession};
use std::path::PathBuf;
use std::time::Duration;
use zk_sys::consts::*;
use zkha::testing::{four_letter_word, Error, ServerConfig, TestingCluster, TestingServer};

fn pid_alive(pid: u32) -> bool {
    // SAFETY: signal 0 only probes for existence.
    unsafe { libc::kill(pid as i32, 0) == 0 }
}

#[test]
fn server_answers_and_keeps_data_across_restart() {
    let server = TestingServer::start().unwrap();
    assert_eq!(server.four_letter_word("ruok").unwrap(), "imok");
    assert!(server
        .four_letter_word("srvr")
        .unwrap()
        .contains("Mode: standalone"));
    assert_eq!(
        server.connect_string(),
        format!("127.0.0.1:{}", server.port())
    );

    let s = RawSession::connect(server.connect_string(), 4_000);
    s.create("/kept", b"v1", ZOO_PERSISTENT).unwrap();
    drop(s);

    server.stop();
    assert!(!server.is_running());
    assert!(four_letter_word(server.connect_string(), "ruok", Duration::from_millis(500)).is_err());
    server.restart().unwrap();
    assert!(server.is_running());
    let s = RawSession::connect(server.connect_string(), 4_000);
    assert_eq!(s.get("/kept").unwrap().0, b"v1");

    server.kill();
    assert!(!server.is_running());
    server.restart().unwrap();
    let s2 = RawSession::connect(server.connect_string(), 4_000);
    assert_eq!(s2.get("/kept").unwrap().0, b"v1");
}

#[test]
fn small_tick_time_allows_short_sessions() {
    let server = TestingServer::shared().unwrap();
    let s = RawSession::connect(server.connect_string(), 500);
    // SAFETY: live handle.
    let negotiated = unsafe { zk_sys::zoo_recv_timeout(s.zh) };
    assert_eq!(negotiated, 500);
    // And the seed's 5000 ms is granted unchanged.
    let seed = RawSession::connect(server.connect_string(), 5_000);
    // SAFETY: live handle.
    assert_eq!(unsafe { zk_sys::zoo_recv_timeout(seed.zh) }, 5_000);
}

#[test]
fn drop_kills_the_server_and_removes_its_directory() {
    let server = TestingServer::start().unwrap();
    let pid = server.pid().unwrap();
    let dir = server.dir();
    assert!(dir.join("zoo.cfg").is_file());
    assert!(pid_alive(pid));
    drop(server);
    assert!(!pid_alive(pid), "java {pid} outlived its TestingServer");
    assert!(!dir.exists(), "{} left behind", dir.display());
}

#[test]
fn servers_die_with_a_process_killed_by_sigkill() {
    // `zkha server` runs an embedded TestingServer until killed.
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_zkha"))
        .args(["server", "--print-pid"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stdout.take().unwrap()),
        &mut line,
    )
    .unwrap();
    // "java-pid <pid> <connect string>"
    let java: u32 = line.split_whitespace().nth(1).unwrap().parse().unwrap();
    assert!(pid_alive(java));
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        eventually(Duration::from_secs(10), || !pid_alive(java)),
        "java {java} outlived the SIGKILLed process that started it"
    );
}

#[test]
fn bad_setups_give_clear_errors() {
    let no_java = ServerConfig {
        java: PathBuf::from("/nonexistent/bin/java"),
        ..ServerConfig::default()
    };
    let e = TestingServer::with_config(no_java).unwrap_err();
    assert!(matches!(e, Error::JavaMissing(_)), "{e:?}");
    assert!(e.to_string().contains("make setup"), "{e}");

    let no_jar = ServerConfig {
        classpath: vec![PathBuf::from("/nonexistent/zookeeper.jar")],
        ..ServerConfig::default()
    };
    let e = TestingServer::with_config(no_jar).unwrap_err();
    assert!(matches!(e, Error::ServerMissing(_)), "{e:?}");
    assert!(e.to_string().contains("make setup"), "{e}");

    let zero_tick = ServerConfig {
        tick_time_ms: 0,
        ..ServerConfig::default()
    };
    assert!(matches!(
        TestingServer::with_config(zero_tick),
        Err(Error::InvalidConfig(_))
    ));
    assert!(matches!(
        TestingCluster::with_config(1, ServerConfig::default()),
        Err(Error::InvalidConfig(_))
    ));
    // A server that is not there answers nothing.
    let unused = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = unused.local_addr().unwrap().to_string();
    drop(unused);
    assert!(four_letter_word(&addr, "ruok", Duration::from_millis(500)).is_err());
}
