//! zkha's secrets stay zkha's: `ZKHA_SASL_PASSWORD` and `ZKHA_DIGEST` never
//! reach the command, a readiness or health check or a fence (each writes its `env` to a
//! file); the digest credentials can be given without the command line,
//! which every user sees in `ps` (`--digest-file FILE`, `ZKHA_DIGEST`),
//! against a real server with a creator-only ACL.

use crate::cli_kit;
use crate::common;

use cli_kit::{dir, hosts, zkha};
use common::eventually;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Child, Stdio};
use std::time::Duration;
use zkha::{Acl, CreateMode, ErrorCode, ZooKeeper};
use zkha_testing::unique_path;

const LONG: Duration = Duration::from_secs(30);
const PASSWORD: &str = "sasl-Pw-8d1f";
const DIGEST_SECRET: &str = "dig-Pw-3c7e";

fn connect() -> ZooKeeper {
    common::quiet_c_log();
    ZooKeeper::builder(hosts()).connect(LONG).unwrap()
}

fn term(p: &mut Child) {
    // SAFETY: a child of ours, not reaped yet.
    unsafe { libc::kill(p.id() as i32, libc::SIGTERM) };
    p.wait().unwrap();
}

fn read(file: &Path) -> String {
    std::fs::read_to_string(file).unwrap_or_default()
}

/// `sh -c` text writing the environment into `out` whole (renamed into
/// place once written).
fn env_into(out: &Path) -> String {
    format!("env > {0}.tmp; mv {0}.tmp {0}", out.display())
}

/// `zkha run` with both secrets in its environment.
fn run_with_secrets(path: &str, extra: &[&str], command: &str, d: &Path) -> Child {
    zkha()
        .args([
            "run",
            "--hosts",
            hosts(),
            "--path",
            path,
            "--data",
            "10.0.0.1",
        ])
        .args(["--session-timeout", "4000"])
        .args(extra)
        .args(["--", "sh", "-c", command])
        .env("ZKHA_SASL_PASSWORD", PASSWORD)
        .env("ZKHA_DIGEST", format!("ha:{DIGEST_SECRET}"))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(d.join("stderr")).unwrap())
        .spawn()
        .unwrap()
}

/// Waits for `file`, then checks it holds an environment without zkha's
/// secrets (and with `ZKHA_PATH`, so it is the child's own).
fn assert_no_secrets(who: &str, file: &Path, path: &str) {
    assert!(
        eventually(LONG, || file.exists()),
        "the {who} never wrote its environment ({})",
        file.display()
    );
    let env = read(file);
    let leaked: Vec<&str> = env
        .lines()
        .filter(|l| {
            l.starts_with("ZKHA_SASL_PASSWORD=")
                || l.starts_with("ZKHA_DIGEST=")
                || l.contains(PASSWORD)
                || l.contains(DIGEST_SECRET)
        })
        .collect();
    assert!(
        leaked.is_empty(),
        "the {who} inherited zkha's secrets: {leaked:?}"
    );
    if !who.ends_with(" check") {
        assert!(
            env.lines().any(|l| l == format!("ZKHA_PATH={path}")),
            "not the {who}'s environment:\n{env}"
        );
    }
}

#[test]
fn checks_and_fences_never_see_zkha_secrets() {
    let d = dir("secrets-hooks");
    let (ready, health, fence, started) = (
        d.join("ready.env"),
        d.join("health.env"),
        d.join("fence.env"),
        d.join("up"),
    );
    let path = format!("{}/m", unique_path("secrets-hooks"));
    // The last master did not leave cleanly: the new one runs its fence.
    let zk = connect();
    let parent = path.rsplit_once('/').unwrap().0;
    zk.create(parent, b"", &Acl::open_unsafe(), CreateMode::Persistent)
        .unwrap();
    zk.create(
        &format!("{path}.breadcrumb"),
        br#"{"data": "10.0.0.9\u0000", "session": "0x5eed0000beef", "token": 2, "since_ms": 1, "clean": false}"#,
        &Acl::open_unsafe(),
        CreateMode::Persistent,
    )
    .unwrap();
    let _ = zk.close();
    let ready_cmd = env_into(&ready);
    let health_cmd = env_into(&health);
    let fence_cmd = env_into(&fence);
    let mut run = run_with_secrets(
        &path,
        &[
            "--ready-cmd",
            &ready_cmd,
            "--ready-interval",
            "100",
            "--health-cmd",
            &health_cmd,
            "--health-interval",
            "100",
            "--fence-cmd",
            &fence_cmd,
        ],
        &format!("touch {}; exec sleep 60", started.display()),
        &d,
    );
    assert!(
        eventually(LONG, || started.exists()),
        "never master: {}",
        read(&d.join("stderr"))
    );
    assert_no_secrets("readiness check", &ready, &path);
    assert_no_secrets("health check", &health, &path);
    assert_no_secrets("fencing hook", &fence, &path);
    term(&mut run);
}

#[test]
fn the_command_never_sees_zkha_secrets() {
    let d = dir("secrets-command");
    let out = d.join("command.env");
    let path = format!("{}/m", unique_path("secrets-command"));
    let mut run = run_with_secrets(
        &path,
        &[],
        &format!("{}; exec sleep 60", env_into(&out)),
        &d,
    );
    assert_no_secrets("command", &out, &path);
    term(&mut run);
}

/// The node is protected by `ha:SECRET`'s digest: a stranger cannot read
/// it, its owner with that secret can.
fn assert_protected_by(path: &str, secret: &str) {
    let stranger = connect();
    assert_eq!(
        stranger.get(path, false).unwrap_err().code(),
        Some(ErrorCode::NoAuth),
        "a stranger read the node: not the creator-only ACL of --digest"
    );
    let owner = connect();
    owner
        .add_auth("digest", format!("ha:{secret}").as_bytes())
        .unwrap();
    let (data, _) = owner.get(path, false).expect("the owner reads its node");
    assert_eq!(data, b"10.0.0.1\0");
    let _ = (stranger.close(), owner.close());
}

fn master_node_exists(path: &str) -> bool {
    let zk = connect();
    let found = zk.exists(path, false).is_ok_and(|s| s.is_some());
    let _ = zk.close();
    found
}

#[test]
fn digest_file_keeps_the_secret_out_of_the_command_line() {
    let d = dir("digest-file");
    let file = d.join("digest");
    let secret = "fileS3cret-77";
    std::fs::write(&file, format!("ha:{secret}\n")).unwrap();
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let path = format!("{}/m", unique_path("digest-file"));
    let mut run = zkha()
        .args([
            "run",
            "--hosts",
            hosts(),
            "--path",
            &path,
            "--data",
            "10.0.0.1",
        ])
        .arg("--digest-file")
        .arg(&file)
        .args(["--", "sleep", "60"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(d.join("stderr")).unwrap())
        .spawn()
        .unwrap();
    assert!(
        eventually(LONG, || master_node_exists(&path)),
        "never master: {}",
        read(&d.join("stderr"))
    );
    let argv = std::fs::read(format!("/proc/{}/cmdline", run.id())).unwrap();
    assert!(
        !String::from_utf8_lossy(&argv).contains(secret),
        "the secret is on the command line"
    );
    assert_protected_by(&path, secret);
    // `status` reads the protected node with the same file.
    let status = zkha()
        .args(["status", "--hosts", hosts(), "--path", &path, "--json"])
        .arg("--digest-file")
        .arg(&file)
        .output()
        .unwrap();
    let out = String::from_utf8_lossy(&status.stdout);
    assert!(
        status.status.success() && out.contains("10.0.0.1"),
        "status --digest-file: {out} {}",
        String::from_utf8_lossy(&status.stderr)
    );
    term(&mut run);
}

#[test]
fn digest_from_the_environment() {
    let d = dir("digest-env");
    let secret = "envS3cret-41";
    let path = format!("{}/m", unique_path("digest-env"));
    let mut run = zkha()
        .args([
            "run",
            "--hosts",
            hosts(),
            "--path",
            &path,
            "--data",
            "10.0.0.1",
        ])
        .env("ZKHA_DIGEST", format!("ha:{secret}"))
        .args(["--", "sleep", "60"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(d.join("stderr")).unwrap())
        .spawn()
        .unwrap();
    assert!(
        eventually(LONG, || master_node_exists(&path)),
        "never master: {}",
        read(&d.join("stderr"))
    );
    assert_protected_by(&path, secret);
    term(&mut run);
}

#[test]
fn a_bad_digest_file_is_refused_naming_it() {
    let d = dir("digest-file-bad");
    let write = |name: &str, text: &str, mode: u32| {
        let f = d.join(name);
        std::fs::write(&f, text).unwrap();
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(mode)).unwrap();
        f
    };
    let cases = [
        (d.join("missing"), "No such file or directory"),
        (
            write("open", "ha:pw\n", 0o644),
            "is readable by group or others",
        ),
        (write("empty", "\n", 0o600), "is empty"),
        (
            write("nocolon", "hapw\n", 0o600),
            "expected digest credentials user:password",
        ),
        (
            write("twolines", "ha:pw\nmore\n", 0o600),
            "more than one line",
        ),
    ];
    for (file, expected) in cases {
        let out = zkha()
            .args(["run", "--hosts", "127.0.0.1:1", "--path", "/x/m"])
            .arg("--digest-file")
            .arg(&file)
            .args(["--", "true"])
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.code() == Some(2)
                && err.contains(&format!("--digest-file {}", file.display()))
                && err.contains(expected),
            "{}: exit {:?}, expected {expected:?}: {err}",
            file.display(),
            out.status.code()
        );
        assert!(!err.contains("pw"), "the secret in an error: {err}");
    }
}
