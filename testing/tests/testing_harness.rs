//! The testing servers themselves: start, stop, restart, cleanup, errors;
//! the proxy; and the C client the kit builds, which the checks use to talk
//! to the servers (this crate does not depend on zkha).

use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use zkha_testing::{
    four_letter_word, programs, CTrace, Error, ProxyMode, ServerConfig, TcpProxy, TestingCluster,
    TestingServer,
};

fn pid_alive(pid: u32) -> bool {
    // SAFETY: signal 0 only probes for existence.
    unsafe { libc::kill(pid as i32, 0) == 0 }
}

/// Waits until `f` holds or `timeout` passes; returns whether it held.
fn eventually(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if f() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A connected C client (the kit's `zk_trace`) with `timeout_ms` requested.
fn c_client(hosts: &str, timeout_ms: u32) -> CTrace {
    let mut c = CTrace::spawn(&[hosts, &timeout_ms.to_string()]);
    assert_eq!(c.cmd("init"), "init ok");
    assert_eq!(c.cmd("wait_connected"), "connected");
    c
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

    let mut c = c_client(server.connect_string(), 4_000);
    assert_eq!(c.cmd("create /kept v1"), "rc 0");
    drop(c);

    server.stop();
    assert!(!server.is_running());
    assert!(four_letter_word(server.connect_string(), "ruok", Duration::from_millis(500)).is_err());
    server.restart().unwrap();
    assert!(server.is_running());
    // "v1" and its NUL, persistent (no ephemeral owner).
    let mut c = c_client(server.connect_string(), 4_000);
    assert_eq!(c.cmd("getdata /kept"), "data 763100 owner 0x0");
    drop(c);

    server.kill();
    assert!(!server.is_running());
    server.restart().unwrap();
    let mut c2 = c_client(server.connect_string(), 4_000);
    assert_eq!(c2.cmd("getdata /kept"), "data 763100 owner 0x0");
}

#[test]
fn small_tick_time_allows_short_sessions() {
    let server = TestingServer::shared().unwrap();
    let mut short = c_client(server.connect_string(), 500);
    assert_eq!(short.cmd("recv_timeout"), "timeout 500");
    // And the seed's 5000 ms is granted unchanged.
    let mut seed = c_client(server.connect_string(), 5_000);
    assert_eq!(seed.cmd("recv_timeout"), "timeout 5000");
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

/// Set in the process [`servers_die_with_a_process_killed_by_sigkill`]
/// starts: [`hold_a_server`] then holds a server instead of returning.
const HOLDER: &str = "ZKHA_TESTING_HOLD_A_SERVER";

/// Not a test of its own (ignored): the process
/// [`servers_die_with_a_process_killed_by_sigkill`] kills. With [`HOLDER`]
/// set it starts a server, prints `java-pid <pid>` and waits to be killed.
#[test]
#[ignore = "run by servers_die_with_a_process_killed_by_sigkill"]
fn hold_a_server() {
    if std::env::var_os(HOLDER).is_none() {
        return;
    }
    let server = TestingServer::start().unwrap();
    println!("java-pid {}", server.pid().unwrap());
    std::io::stdout().flush().unwrap();
    loop {
        std::thread::park();
    }
}

#[test]
fn servers_die_with_a_process_killed_by_sigkill() {
    // This test binary again, running only `hold_a_server`.
    let mut holder = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", "hold_a_server", "--ignored", "--nocapture"])
        .args(["--test-threads", "1"])
        .env(HOLDER, "1")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    // libtest's own words come first, on the same line too.
    let out = BufReader::new(holder.stdout.take().unwrap());
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let pid = out.lines().map_while(Result::ok).find_map(|l| {
            let (_, rest) = l.split_once("java-pid ")?;
            rest.trim().parse::<u32>().ok()
        });
        let _ = tx.send(pid);
    });
    // The server's start timeout is 60 s.
    let java = match rx.recv_timeout(Duration::from_secs(90)) {
        Ok(Some(pid)) => pid,
        other => {
            let _ = holder.kill();
            let _ = holder.wait();
            panic!("the holder printed no java pid: {other:?}");
        }
    };
    assert!(pid_alive(java));
    holder.kill().unwrap();
    holder.wait().unwrap();
    assert!(
        eventually(Duration::from_secs(10), || !pid_alive(java)),
        "java {java} outlived the SIGKILLed process that started it"
    );
}

#[test]
fn the_c_programs_are_built_and_run() {
    // Both were compiled by build.rs against zk-sys's C client.
    for program in [programs::seed_peer(), programs::zk_trace()] {
        assert!(program.is_file(), "{} was not built", program.display());
    }
    // Without arguments each states its usage and exits with 2.
    for program in [programs::seed_peer(), programs::zk_trace()] {
        let out = Command::new(program).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{}", program.display());
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.starts_with("usage: "), "{stderr}");
    }
}

/// The C++ reference peer's watcher can run before `zookeeper_init` has
/// returned to its caller: on a loaded machine the main thread is
/// descheduled right after the call, and the session is established first.
/// The peer once read the handle from its own (not yet set) field there and
/// died of SIGSEGV, which a fidelity test saw as "no became_master within
/// 60 s". The pause stands for that descheduling; the peer must connect,
/// contend and exit 0.
#[test]
fn the_seed_peer_survives_a_connect_that_beats_its_own_init() {
    let server = TestingServer::shared().unwrap();
    let dir = tempfile_dir("seed-peer-early-connect");
    let trace = dir.join("trace");
    let path = format!("/seed-peer-early-{}", std::process::id());
    let mut peer = Command::new(programs::seed_peer())
        .args([server.connect_string(), &path, "10.0.0.9", "5000", "100"])
        .args(["--trace", trace.to_str().unwrap()])
        .env("SEED_PEER_PAUSE_AFTER_INIT_MS", "500")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let events = || std::fs::read_to_string(&trace).unwrap_or_default();
    let done = eventually(Duration::from_secs(20), || {
        let t = events();
        t.contains("\"event\":\"connected\"") && t.contains("\"event\":\"became_master\"")
            || peer.try_wait().unwrap().is_some()
    });
    if peer.try_wait().unwrap().is_none() {
        // SAFETY: signals our own child process.
        unsafe { libc::kill(peer.id() as i32, libc::SIGTERM) };
    }
    let status = peer.wait().unwrap();
    assert_eq!(
        status.code(),
        Some(0),
        "the peer ended with {status}; trace:\n{}",
        events()
    );
    assert!(
        done,
        "no connect and mastership within 20 s; trace:\n{}",
        events()
    );
    let connected = events()
        .lines()
        .find(|l| l.contains("\"event\":\"connected\""))
        .map(str::to_owned)
        .unwrap();
    assert!(
        !connected.contains("\"session\":\"0x0\""),
        "the session id read at connect: {connected}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

fn tempfile_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("zkha-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
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

/// How long a proxy test looks for bytes that must not arrive: an
/// observation window, not a latency bound.
const QUIET: Duration = Duration::from_millis(300);

/// Accepts one connection on `listener` (non-blocking) within `within`.
fn accept_within(listener: &TcpListener, within: Duration) -> Option<TcpStream> {
    let deadline = Instant::now() + within;
    loop {
        match listener.accept() {
            Ok((s, _)) => {
                s.set_nonblocking(false).unwrap();
                return Some(s);
            }
            Err(e) if e.kind() == ErrorKind::WouldBlock && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(5))
            }
            Err(_) => return None,
        }
    }
}

/// Reads exactly `n` bytes within 10 s.
fn read_n(s: &mut TcpStream, n: usize) -> Vec<u8> {
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut buf = vec![0; n];
    s.read_exact(&mut buf).unwrap();
    buf
}

/// What a read sees within [`QUIET`]: `Ok(bytes)` (empty at EOF) or the
/// error kind (WouldBlock/TimedOut when nothing came).
fn read_quiet(s: &mut TcpStream) -> Result<Vec<u8>, ErrorKind> {
    s.set_read_timeout(Some(QUIET)).unwrap();
    let mut buf = [0; 64];
    s.read(&mut buf)
        .map(|n| buf[..n].to_vec())
        .map_err(|e| e.kind())
}

fn nothing(r: &Result<Vec<u8>, ErrorKind>) -> bool {
    matches!(r, Err(ErrorKind::WouldBlock) | Err(ErrorKind::TimedOut))
}

#[test]
fn proxy_partitions_hold_bytes_one_or_both_ways_and_reset_resets() {
    let target = TcpListener::bind("127.0.0.1:0").unwrap();
    target.set_nonblocking(true).unwrap();
    let proxy = TcpProxy::start(&target.local_addr().unwrap().to_string()).unwrap();
    assert_eq!(proxy.target(), target.local_addr().unwrap());
    let mut client = TcpStream::connect(proxy.connect_string()).unwrap();
    let mut server = accept_within(&target, Duration::from_secs(10)).unwrap();
    assert_eq!(proxy.accepted(), 1);
    client.write_all(b"a").unwrap();
    assert_eq!(read_n(&mut server, 1), b"a");

    // One way: what the client sends waits, what it receives passes.
    proxy.set_mode(ProxyMode::PartitionFrom);
    client.write_all(b"c").unwrap();
    assert!(nothing(&read_quiet(&mut server)));
    server.write_all(b"d").unwrap();
    assert_eq!(read_n(&mut client, 1), b"d");
    proxy.set_mode(ProxyMode::Pass);
    assert_eq!(read_n(&mut server, 1), b"c", "held bytes lost");

    // The other way.
    proxy.set_mode(ProxyMode::PartitionTo);
    server.write_all(b"e").unwrap();
    assert!(nothing(&read_quiet(&mut client)));
    client.write_all(b"f").unwrap();
    assert_eq!(read_n(&mut server, 1), b"f");
    proxy.set_mode(ProxyMode::Pass);
    assert_eq!(read_n(&mut client, 1), b"e", "held bytes lost");

    // Both ways: bytes and even a close wait for the partition's end, and a
    // new connection does not reach the target meanwhile.
    proxy.set_mode(ProxyMode::Partition);
    client.write_all(b"g").unwrap();
    drop(client);
    assert!(nothing(&read_quiet(&mut server)), "the close crossed");
    let mut late = TcpStream::connect(proxy.connect_string()).unwrap();
    assert!(
        accept_within(&target, QUIET).is_none(),
        "dialled during a partition"
    );
    proxy.set_mode(ProxyMode::Pass);
    assert_eq!(read_n(&mut server, 1), b"g");
    assert_eq!(
        read_quiet(&mut server),
        Ok(Vec::new()),
        "no EOF after the heal"
    );
    let mut late_server = accept_within(&target, Duration::from_secs(10)).unwrap();
    late.write_all(b"h").unwrap();
    assert_eq!(read_n(&mut late_server, 1), b"h");

    // Reset: open connections are reset (RST, not a FIN), new ones too.
    proxy.set_mode(ProxyMode::Reset);
    late.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut buf = [0; 8];
    assert_eq!(
        late.read(&mut buf).map_err(|e| e.kind()),
        Err(ErrorKind::ConnectionReset)
    );
    let mut refused = TcpStream::connect(proxy.connect_string()).unwrap();
    refused
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    assert_eq!(
        refused.read(&mut buf).map_err(|e| e.kind()),
        Err(ErrorKind::ConnectionReset)
    );
    assert!(
        accept_within(&target, QUIET).is_none(),
        "dialled in Reset mode"
    );
    assert_eq!(proxy.accepted(), 3);
    assert_eq!(proxy.mode(), ProxyMode::Reset);
}
