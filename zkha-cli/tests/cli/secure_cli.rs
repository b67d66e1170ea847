//! `zkha` against the test kit's TLS-only and SASL-only servers: `run`
//! becomes master over mutual TLS and over SASL DIGEST-MD5; refusals (an
//! untrusted certificate, a wrong password) end the command with a non-zero
//! exit within 15 s and a message that says why; a password file others can
//! read is refused, naming it; the password never shows in logs or traces.

use crate::common;
use crate::secure_kit;

use common::eventually;
use secure_kit::{sasl_server, tls_server, ALICE_PW, BOB_PW};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};
use zkha::secure::Secret;
use zkha::{ErrorCode, ZooKeeper};
use zkha_testing::{unique_path, TlsClientFiles};

const LONG: Duration = Duration::from_secs(30);
/// The bound for a refusal to be reported.
const REFUSAL: Duration = Duration::from_secs(15);

fn zkha() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_zkha"));
    c.env("RUST_LOG", "trace").env_remove("ZKHA_SASL_PASSWORD");
    c
}

fn work_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("zkha-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn tls_flags(files: &TlsClientFiles) -> Vec<String> {
    vec![
        "--tls-ca".into(),
        files.ca.display().to_string(),
        "--tls-cert".into(),
        files.cert.display().to_string(),
        "--tls-key".into(),
        files.key.display().to_string(),
    ]
}

/// A password file with `mode`.
fn password_file(dir: &Path, name: &str, password: &str, mode: u32) -> PathBuf {
    let file = dir.join(name);
    std::fs::write(&file, format!("{password}\n")).unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(mode)).unwrap();
    file
}

/// A `zkha run` child, killed (SIGTERM, then reaped) on drop.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        // SAFETY: signals our own child process.
        unsafe { libc::kill(self.0.id() as i32, libc::SIGTERM) };
        let _ = self.0.wait();
    }
}

fn run(hosts: &str, path: &str, flags: &[String], trace: &Path, stderr: &Path) -> Running {
    Running(
        zkha()
            .args([
                "run", "--hosts", hosts, "--path", path, "--data", "10.9.8.7",
            ])
            .args(flags)
            .arg("--trace")
            .arg(trace)
            .args(["--", "sleep", "60"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(stderr).unwrap())
            .spawn()
            .unwrap(),
    )
}

fn became_master(trace: &Path) -> bool {
    eventually(LONG, || {
        std::fs::read_to_string(trace)
            .unwrap_or_default()
            .contains("became_master")
    })
}

/// Runs `cmd` to its end, which must come within [`REFUSAL`].
fn finishes_in_time(mut cmd: Command) -> Output {
    let started = Instant::now();
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let ended = eventually(REFUSAL, || child.try_wait().unwrap().is_some());
    if !ended {
        let _ = child.kill();
    }
    let out = child.wait_with_output().unwrap();
    assert!(ended, "still running after {:?}", started.elapsed());
    out
}

#[test]
fn run_over_mutual_tls_becomes_master_and_writes_ip_nul() {
    let (server, ca) = tls_server();
    let dir = work_dir("tls-run");
    let path = format!("{}/master", unique_path("cli-tls"));
    let files = ca.client("zkha-run").unwrap();
    let (trace, err) = (dir.join("trace"), dir.join("stderr"));
    let _run = run(
        server.connect_string(),
        &path,
        &tls_flags(&files),
        &trace,
        &err,
    );
    assert!(
        became_master(&trace),
        "no mastership; stderr:\n{}",
        std::fs::read_to_string(&err).unwrap_or_default()
    );
    // An independent TLS client (its own certificate) reads IP + NUL.
    let reader_files = ca.client("reader").unwrap();
    let reader = ZooKeeper::builder(server.connect_string())
        .tls(
            &reader_files.ca,
            &reader_files.cert,
            &reader_files.key,
            None,
        )
        .connect(LONG)
        .unwrap();
    assert_eq!(reader.get(&path, false).unwrap().0, b"10.9.8.7\0");
    // zkha status over TLS names the master.
    let out = zkha()
        .args([
            "status",
            "--hosts",
            server.connect_string(),
            "--path",
            &path,
        ])
        .args(tls_flags(&files))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("10.9.8.7"),
        "{out:?}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn status_with_an_untrusted_certificate_fails_in_time_saying_so() {
    let (server, ca) = tls_server();
    let files = ca.untrusted_client("stranger").unwrap();
    let mut cmd = zkha();
    cmd.args([
        "status",
        "--hosts",
        server.connect_string(),
        "--path",
        "/any",
    ])
    .args(tls_flags(&files));
    let out = finishes_in_time(cmd);
    assert_ne!(out.status.code(), Some(0), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("TLS"), "{stderr}");
    assert!(stderr.contains("certificate"), "{stderr}");
}

#[test]
fn run_over_sasl_becomes_master_with_a_protected_node() {
    let server = sasl_server();
    let dir = work_dir("sasl-run");
    let top = unique_path("cli-sasl");
    let parent = format!("{top}/grp");
    let path = format!("{parent}/master");
    let pw = password_file(&dir, "alice.pw", ALICE_PW, 0o600);
    let (trace, err) = (dir.join("trace"), dir.join("stderr"));
    let flags: Vec<String> = [
        "--sasl-mech",
        "DIGEST-MD5",
        "--sasl-user",
        "alice",
        "--sasl-password-file",
        pw.to_str().unwrap(),
        "--zk-log-level",
        "debug",
    ]
    .map(String::from)
    .to_vec();
    let running = run(server.connect_string(), &path, &flags, &trace, &err);
    assert!(
        became_master(&trace),
        "no mastership; stderr:\n{}",
        std::fs::read_to_string(&err).unwrap_or_default()
    );
    // Bob is authenticated too, but the node is alice's: he can neither
    // overwrite nor delete it, nor the parents zkha created.
    let bob = ZooKeeper::builder(server.connect_string())
        .sasl("DIGEST-MD5", "bob", Secret::new(BOB_PW))
        .connect(LONG)
        .unwrap();
    assert_eq!(
        bob.set(&path, b"bob\0", -1).unwrap_err().code(),
        Some(ErrorCode::NoAuth)
    );
    assert_eq!(
        bob.delete(&path, -1).unwrap_err().code(),
        Some(ErrorCode::NoAuth)
    );
    // (Deleting the parent takes DELETE on its own parent, also zkha's.)
    assert_eq!(
        bob.delete(&parent, -1).unwrap_err().code(),
        Some(ErrorCode::NoAuth)
    );
    // status, with the password from the environment.
    let out = zkha()
        .args([
            "status",
            "--hosts",
            server.connect_string(),
            "--path",
            &path,
        ])
        .args([
            "--sasl-mech",
            "DIGEST-MD5",
            "--sasl-user",
            "alice",
            "--json",
        ])
        .env("ZKHA_SASL_PASSWORD", ALICE_PW)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let status_text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(status_text.contains("10.9.8.7"), "{status_text}");
    drop(running);
    // The password is in none of the logs, traces or outputs.
    for text in [
        std::fs::read_to_string(&trace).unwrap(),
        std::fs::read_to_string(&err).unwrap(),
        status_text,
    ] {
        assert!(!text.contains(ALICE_PW), "the password leaked:\n{text}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn run_with_a_wrong_password_fails_in_time_naming_authentication() {
    let server = sasl_server();
    let dir = work_dir("sasl-wrong");
    let pw = password_file(&dir, "wrong.pw", "not-alices-password", 0o600);
    let mut cmd = zkha();
    cmd.args(["run", "--hosts", server.connect_string(), "--path"])
        .arg(format!("{}/master", unique_path("cli-sasl-wrong")))
        .args(["--sasl-mech", "DIGEST-MD5", "--sasl-user", "alice"])
        .arg("--sasl-password-file")
        .arg(&pw)
        .args(["--", "sleep", "60"]);
    let out = finishes_in_time(cmd);
    assert_ne!(out.status.code(), Some(0), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("authentication"), "{stderr}");
    assert!(!stderr.contains("not-alices-password"), "{stderr}");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_password_file_others_can_read_is_refused_by_name() {
    let server = sasl_server();
    let dir = work_dir("sasl-mode");
    let pw = password_file(&dir, "shared.pw", ALICE_PW, 0o644);
    for sub in ["run", "status"] {
        let mut cmd = zkha();
        cmd.args([sub, "--hosts", server.connect_string(), "--path", "/m"])
            .args(["--sasl-mech", "DIGEST-MD5", "--sasl-user", "alice"])
            .arg("--sasl-password-file")
            .arg(&pw);
        if sub == "run" {
            cmd.args(["--", "true"]);
        }
        let out = finishes_in_time(cmd);
        assert_eq!(out.status.code(), Some(2), "{sub}: {out:?}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(pw.to_str().unwrap()), "{sub}: {stderr}");
        assert!(stderr.contains("group or others"), "{sub}: {stderr}");
        assert!(!stderr.contains(ALICE_PW), "{sub}: {stderr}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The C++ peer and `zkha candidate` (safe), given their secure flags,
/// contend for one node on `hosts`: C++ -> Rust -> C++, read by `reader`
/// (bytes IP + NUL), never two masters.
fn mixed_handover(
    hosts: &str,
    reader: &ZooKeeper,
    cpp_flags: &[String],
    rust_flags: &[String],
    name: &str,
) {
    use common::election::{masterships, now_ms, overlaps, spawn, Impl, Spec};
    let dir = common::election::work_dir(name);
    let parent = unique_path(name);
    let path = format!("{parent}/master");
    // The seed design needs the parent (S6).
    reader
        .create(
            &parent,
            b"",
            &zkha::Acl::open_unsafe(),
            zkha::CreateMode::Persistent,
        )
        .unwrap();
    let candidate = |which: Impl, data: &str, flags: &[String], name: &str| {
        let extra: Vec<&str> = flags.iter().map(String::as_str).collect();
        let spec = Spec {
            hosts,
            path: &path,
            data,
            session_ms: 2000,
            interval_ms: 200,
            reinit_limit: None,
            extra: &extra,
        };
        spawn(which, &spec, &dir, name)
    };
    let mut cpp = candidate(Impl::Cpp, "10.0.0.1", cpp_flags, "cpp");
    cpp.wait_for("became_master", 1, LONG);
    let mut rust = candidate(Impl::RustSafe, "10.0.0.2", rust_flags, "rust");
    assert_eq!(reader.get(&path, false).unwrap().0, b"10.0.0.1\0");
    assert!(eventually(LONG, || rust.count("connected") >= 1));
    // C++ -> Rust. (A killed peer's mastership ends at the kill: it leaves
    // no trace of its end.)
    let cpp_killed = cpp.kill9();
    rust.wait_for("became_master", 1, LONG);
    assert_eq!(reader.get(&path, false).unwrap().0, b"10.0.0.2\0");
    // Rust -> C++ (a new C++ peer).
    let mut cpp2 = candidate(Impl::Cpp, "10.0.0.3", cpp_flags, "cpp2");
    assert!(eventually(LONG, || cpp2.count("connected") >= 1));
    rust.term();
    cpp2.wait_for("became_master", 1, LONG);
    assert_eq!(reader.get(&path, false).unwrap().0, b"10.0.0.3\0");
    let end = now_ms();
    let all: Vec<(String, Vec<(f64, f64)>)> = vec![
        ("cpp".to_owned(), masterships(&cpp.events(), cpp_killed)),
        ("rust".to_owned(), masterships(&rust.events(), end)),
        ("cpp2".to_owned(), masterships(&cpp2.events(), end)),
    ];
    assert!(
        overlaps(&all).is_empty(),
        "two masters: {:?}",
        overlaps(&all)
    );
    cpp2.term();
}

#[test]
fn mixed_cpp_and_rust_over_tls_hand_the_node_over() {
    let (server, ca) = tls_server();
    let files = ca.client("reader").unwrap();
    let reader = ZooKeeper::builder(server.connect_string())
        .tls(&files.ca, &files.cert, &files.key, None)
        .connect(LONG)
        .unwrap();
    // The C++ peer and `zkha candidate` get the same certificate flags.
    mixed_handover(
        server.connect_string(),
        &reader,
        &tls_flags(&ca.client("cpp").unwrap()),
        &tls_flags(&ca.client("rust").unwrap()),
        "tls-mixed",
    );
}

#[test]
fn mixed_cpp_and_rust_over_sasl_hand_the_node_over() {
    let server = sasl_server();
    let dir = work_dir("sasl-mixed-pw");
    let pw = password_file(&dir, "alice.pw", ALICE_PW, 0o600);
    let flags: Vec<String> = [
        "--sasl-mech",
        "DIGEST-MD5",
        "--sasl-user",
        "alice",
        "--sasl-password-file",
        pw.to_str().unwrap(),
    ]
    .map(String::from)
    .to_vec();
    // Alice reads: the Rust candidate's node is hers alone (sasl:alice).
    let reader = ZooKeeper::builder(server.connect_string())
        .sasl("DIGEST-MD5", "alice", Secret::new(ALICE_PW))
        .connect(LONG)
        .unwrap();
    mixed_handover(
        server.connect_string(),
        &reader,
        &flags,
        &flags,
        "sasl-mixed",
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn demo_over_tls_shows_failovers() {
    let (server, ca) = tls_server();
    let files = ca.client("demo").unwrap();
    let out = zkha()
        .env("RUST_LOG", "warn")
        .args([
            "demo",
            "--session-timeout",
            "2000",
            "--hosts",
            server.connect_string(),
        ])
        .args(tls_flags(&files))
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{text}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for needle in ["became MASTER", "--> crash (SIGKILL)", "Failover latency"] {
        assert!(text.contains(needle), "no {needle:?} in:\n{text}");
    }
    // The flags need --hosts: the embedded server is plaintext.
    let out = zkha()
        .args(["demo"])
        .args(tls_flags(&files))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("--hosts"));
}

/// The command lines of `pid`'s children (from /proc), arguments joined by
/// spaces.
fn children_cmdlines(pid: u32) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // After the command name in parentheses: state, then the parent.
        let parent = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1).map(str::to_owned));
        if parent == Some(pid.to_string()) {
            if let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) {
                found.push(String::from_utf8_lossy(&cmdline).replace('\0', " "));
            }
        }
    }
    found
}

/// `zkha run` a becomes master over `flags` with a long session; b waits.
/// a's watchdog got the flags (`shown`, never `secret`) on its command line;
/// a is killed, its watchdog reattaches a's session over the same TLS / SASL
/// settings and closes it, and b takes over.
fn killed_run_hands_its_session_over(
    hosts: &str,
    name: &str,
    flags: &[String],
    shown: &str,
    secret: Option<&str>,
) {
    let dir = work_dir(name);
    let path = format!("{}/master", unique_path(name));
    // A long session: without the handover, b would wait for it to expire.
    let mut with_timeout = flags.to_vec();
    with_timeout.extend(["--session-timeout".to_owned(), "30000".to_owned()]);
    let (trace_a, err_a) = (dir.join("a.trace"), dir.join("a.stderr"));
    let (trace_b, err_b) = (dir.join("b.trace"), dir.join("b.stderr"));
    let mut a = run(hosts, &path, &with_timeout, &trace_a, &err_a);
    assert!(became_master(&trace_a), "a never became master");
    let deadline = Instant::now() + LONG;
    let watchdog = loop {
        let children = children_cmdlines(a.0.id());
        if let Some(w) = children.into_iter().find(|c| c.contains("__watchdog")) {
            break w;
        }
        assert!(Instant::now() < deadline, "a started no watchdog");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(
        watchdog.contains(shown),
        "{shown} not handed over: {watchdog}"
    );
    if let Some(secret) = secret {
        assert!(!watchdog.contains(secret), "a secret on argv: {watchdog}");
    }
    let _b = run(hosts, &path, &with_timeout, &trace_b, &err_b);
    assert!(eventually(LONG, || std::fs::read_to_string(&trace_b)
        .unwrap_or_default()
        .contains("connected")));
    a.0.kill().unwrap();
    a.0.wait().unwrap();
    // The watchdog reattached a's session and closed it: b takes over well
    // before a's 30 s session could have expired.
    assert!(
        became_master(&trace_b),
        "b never took over; a's stderr:\n{}",
        std::fs::read_to_string(&err_a).unwrap_or_default()
    );
    let a_err = std::fs::read_to_string(&err_a).unwrap();
    assert!(
        a_err.contains("the master node is released"),
        "the watchdog did not close a's session:\n{a_err}"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_killed_run_over_tls_hands_its_session_over() {
    let (server, ca) = tls_server();
    let files = ca.client("handover").unwrap();
    let key = files.key.display().to_string();
    killed_run_hands_its_session_over(
        server.connect_string(),
        "cli-tls-handover",
        &tls_flags(&files),
        &key,
        None,
    );
}

#[test]
fn a_killed_run_over_sasl_hands_its_session_over() {
    let dir = work_dir("sasl-handover-pw");
    // The watchdog reads the password from this file when it hands over
    // (ZKHA_SASL_PASSWORD is not set for these runs).
    let pw = password_file(&dir, "alice.pw", ALICE_PW, 0o600);
    let pw = pw.to_str().unwrap();
    let flags: Vec<String> = [
        "--sasl-mech",
        "DIGEST-MD5",
        "--sasl-user",
        "alice",
        "--sasl-password-file",
        pw,
    ]
    .map(String::from)
    .to_vec();
    killed_run_hands_its_session_over(
        sasl_server().connect_string(),
        "cli-sasl-handover",
        &flags,
        pw,
        Some(ALICE_PW),
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
